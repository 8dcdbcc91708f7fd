//! The STS Query API end to end (DESIGN.md §2b): the real daemon on 127.0.0.1:0 with real TLS,
//! Roles Anywhere credentials from rolegate's own client, then
//! - the official `aws-sdk-sts` + `aws-config` pointed at the daemon (GetCallerIdentity,
//!   AssumeRole chains, the 1-hour chaining cap, denials, source identity, transitive tags);
//! - raw HTTP/1.1 requests signed with `rolegate::sigv4::sign_hmac` and then corrupted, each
//!   answered with the AWS error code and status in STS error XML;
//! - a credential issued before a daemon restart still works after it (sealed tokens).

mod common;

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::types::Tag;
use common::*;
use rolegate::client::{CreateSessionParams, RolesAnywhereClient, SessionCredentials, TlsOptions};
use rolegate::config::Config;
use rolegate::identity::ClientCertificate;
use rolegate::pki::{Issued, KeyType};
use rolegate::session::{self, SessionClaimsDraft, SessionOrigin};
use rolegate::sigv4::x509::X509SigningKey;
use rolegate::sigv4::{self, HttpRequest};
use time::OffsetDateTime;

const ROLE_HOP2: &str = "arn:aws:iam::123456789012:role/hop2";
const ROLE_HOP3: &str = "arn:aws:iam::123456789012:role/hop3";
const ROLE_NEEDS_ENV: &str = "arn:aws:iam::123456789012:role/needs-env";
const ROLE_CHAINED_LONG: &str = "arn:aws:iam::123456789012:role/chained-long";
const ROLE_OUTSIDE: &str = "arn:aws:iam::123456789012:role/outside";
/// The same account in another partition: its trust policy names the app role, yet no
/// session of the `aws` partition reaches it.
const ROLE_OTHER_PARTITION: &str = "arn:aws-us-gov:iam::123456789012:role/gov";

const CHAIN_ACTIONS: &str = r#"["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]"#;

/// A trust policy letting sessions of `principal_role` assume the role, with `condition`.
fn chaining_trust(principal_role: &str, condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal_role}"}},"Action":{CHAIN_ACTIONS}{condition}}}]}}"#
    )
}

/// The roles this file chains through: app → chained → hop2 → hop3 (hop3 requires the tag
/// `team=blue` that hop 1 set as transitive), needs-env (trusts hop2 sessions carrying the
/// non-transitive tag `env` of hop 1: none do), chained-long (maximum 2 hours) and outside
/// (trusts Roles Anywhere only) and gov (another partition's, trusting the app role).
fn extra_roles() -> String {
    let chained = chaining_trust(ROLE, "");
    let hop2 = chaining_trust(ROLE_CHAINED, "");
    let hop3 = chaining_trust(
        ROLE_HOP2,
        r#","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}"#,
    );
    let needs_env = chaining_trust(
        ROLE_HOP2,
        r#","Condition":{"StringEquals":{"aws:PrincipalTag/env":"dev"}}"#,
    );
    let long = chaining_trust(ROLE, "");
    let outside = trust_policy_roles_anywhere("main", "");
    let other_partition = chaining_trust(ROLE, "");
    format!(
        r#"
[[role]]
arn = "{ROLE_CHAINED}"
trust_policy = '''{chained}'''

[[role]]
arn = "{ROLE_HOP2}"
trust_policy = '''{hop2}'''

[[role]]
arn = "{ROLE_HOP3}"
trust_policy = '''{hop3}'''

[[role]]
arn = "{ROLE_NEEDS_ENV}"
trust_policy = '''{needs_env}'''

[[role]]
arn = "{ROLE_CHAINED_LONG}"
max_session_duration = 7200
trust_policy = '''{long}'''

[[role]]
arn = "{ROLE_OUTSIDE}"
trust_policy = '''{outside}'''

[[role]]
arn = "{ROLE_OTHER_PARTITION}"
trust_policy = '''{other_partition}'''
"#
    )
}

fn setup(pki: &Pki) -> Setup<'_> {
    Setup {
        pki,
        extra_toml: extra_roles(),
        crl_pem: None,
        app_trust_condition: "",
    }
}

/// A CreateSession of ROLE through the main anchor and profile.
fn main_session_params() -> CreateSessionParams {
    CreateSessionParams {
        trust_anchor_arn: anchor_arn("main"),
        profile_arn: profile_arn("main"),
        role_arn: ROLE.to_owned(),
        duration_seconds: None,
        role_session_name: None,
        region: REGION.into(),
    }
}

/// A Roles Anywhere client of `endpoint`, trusting `ca`.
fn roles_anywhere_client(endpoint: &str, ca: &std::path::Path) -> RolesAnywhereClient {
    RolesAnywhereClient::new(
        endpoint,
        &TlsOptions {
            ca_bundle: Some(ca.to_owned()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Roles Anywhere credentials for ROLE, and the leaf's serial in hex (the session name).
async fn roles_anywhere_session(endpoint: &str, ca: &std::path::Path, leaf: &Issued) -> (SessionCredentials, String) {
    let creds = create_session(endpoint, ca, leaf, &[]).await.unwrap();
    (creds, leaf.serial_hex.clone())
}

/// A CreateSession for ROLE with `leaf` and its `chain` of intermediates.
async fn create_session(
    endpoint: &str,
    ca: &std::path::Path,
    leaf: &Issued,
    chain: &[&Issued],
) -> Result<SessionCredentials, rolegate::client::ClientError> {
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.cert_der.clone()).collect();
    roles_anywhere_client(endpoint, ca)
        .create_session(
            &main_session_params(),
            &key,
            &leaf.cert_der,
            &chain,
            cert.serial_decimal(),
            now(),
        )
        .await
}

/// Plain strings of a credential set, whatever issued it.
#[derive(Clone)]
struct Creds {
    access_key_id: String,
    secret: String,
    token: String,
}

impl From<&SessionCredentials> for Creds {
    fn from(c: &SessionCredentials) -> Self {
        Self {
            access_key_id: c.access_key_id.clone(),
            secret: c.secret_access_key.to_string(),
            token: c.session_token.to_string(),
        }
    }
}

impl From<&aws_sdk_sts::types::Credentials> for Creds {
    fn from(c: &aws_sdk_sts::types::Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id().to_owned(),
            secret: c.secret_access_key().to_owned(),
            token: c.session_token().to_owned(),
        }
    }
}

fn url(endpoint: &str) -> String {
    if endpoint.starts_with("https://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    }
}

fn host(endpoint: &str) -> &str {
    endpoint.trim_start_matches("https://").trim_end_matches('/')
}

/// An `aws-sdk-sts` client for `endpoint` signing with `c`, trusting only `ca`.
async fn sdk(endpoint: &str, ca: &std::path::Path, c: &Creds) -> aws_sdk_sts::Client {
    sts_sdk_client(&url(endpoint), ca, &c.access_key_id, &c.secret, &c.token).await
}

/// The ARN `aws-sdk-sts`'s GetCallerIdentity answers for `c` at `endpoint`.
async fn caller_arn(endpoint: &str, ca: &std::path::Path, c: &Creds) -> String {
    let me = sdk(endpoint, ca, c).await.get_caller_identity().send().await.unwrap();
    me.arn().unwrap().to_owned()
}

/// (HTTP status, AWS code, message) of STS refusing `caller` (an ARN) `action` on `resource`.
fn not_authorized(caller: &str, action: &str, resource: &str) -> (u16, String, String) {
    (
        403,
        "AccessDenied".to_owned(),
        format!("User: {caller} is not authorized to perform: {action} on resource: {resource}"),
    )
}

/// (HTTP status, AWS code, message) of an SDK failure.
fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: aws_sdk_sts::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> (u16, String, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or_default();
    let code = e.code().unwrap_or_default().to_owned();
    let message = e.message().unwrap_or_default().to_owned();
    (status, code, message)
}

#[tokio::test]
async fn aws_sdk_sts_get_caller_identity_and_two_hop_chain() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let config = Config::load(&d.dir.path().join("rolegate.toml")).unwrap();
    let leaf = Pki::client(&pki.root, "sts-client", KeyType::EcdsaP256);
    let (ra, serial) = roles_anywhere_session(&d.endpoint, &d.ca_bundle(), &leaf).await;
    let app = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(&ra)).await;

    let me = app.get_caller_identity().send().await.unwrap();
    let app_role_id = &config.role(ROLE).unwrap().role_id;
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}").as_str())
    );
    assert_eq!(me.user_id(), Some(format!("{app_role_id}:{serial}").as_str()));
    assert!(app_role_id.starts_with("AROA"), "{app_role_id}");
    assert_eq!(me.account(), Some(ACCOUNT));

    // Hop 1: app → chained, with tags (team transitive, env not).
    let hop1 = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("hop-1")
        .duration_seconds(3600)
        .tags(Tag::builder().key("team").value("blue").build().unwrap())
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .transitive_tag_keys("team")
        .send()
        .await
        .unwrap();
    let user = hop1.assumed_role_user().unwrap();
    assert_eq!(user.arn(), format!("arn:aws:sts::{ACCOUNT}:assumed-role/chained/hop-1"));
    let chained_id = &config.role(ROLE_CHAINED).unwrap().role_id;
    assert_eq!(user.assumed_role_id(), format!("{chained_id}:hop-1"));
    assert!(hop1.packed_policy_size().is_some_and(|p| (1..=100).contains(&p)));
    // Roles Anywhere set the source identity from the certificate CN; it carries forward.
    assert_eq!(hop1.source_identity(), Some("CN=sts-client"));
    let c1 = hop1.credentials().unwrap();
    assert!(c1.access_key_id().starts_with("ASIA") && c1.access_key_id().len() == 20);
    assert_eq!(c1.secret_access_key().len(), 40);
    let lifetime = c1.expiration().secs() - OffsetDateTime::now_utc().unix_timestamp();
    assert!((3500..=3600).contains(&lifetime), "{lifetime}");

    // Hop 2 with hop 1's credentials.
    let chained = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(c1)).await;
    let me1 = chained.get_caller_identity().send().await.unwrap();
    assert_eq!(me1.arn(), Some(user.arn()));
    assert_eq!(me1.user_id(), Some(user.assumed_role_id()));
    let hop2 = chained
        .assume_role()
        .role_arn(ROLE_HOP2)
        .role_session_name("hop-2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hop2.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/hop2/hop-2")
    );
    assert_eq!(hop2.source_identity(), Some("CN=sts-client"));
    assert_eq!(hop2.packed_policy_size(), None);
    let third = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(hop2.credentials().unwrap())).await;
    let me2 = third.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me2.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/hop2/hop-2").as_str())
    );

    // Hop 3: the transitive tag `team` reached the hop 2 session (hop3's trust requires it)...
    let hop3 = third
        .assume_role()
        .role_arn(ROLE_HOP3)
        .role_session_name("hop-3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hop3.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/hop3/hop-3")
    );
    // ...and the non-transitive tag `env` did not.
    let e = third
        .assume_role()
        .role_arn(ROLE_NEEDS_ENV)
        .role_session_name("needs-env")
        .send()
        .await
        .unwrap_err();
    let hop2_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/hop2/hop-2");
    assert_eq!(
        sdk_error(e),
        not_authorized(&hop2_arn, "sts:AssumeRole", ROLE_NEEDS_ENV)
    );
    // A transitive tag cannot be overridden further down the chain.
    let e = chained
        .assume_role()
        .role_arn(ROLE_HOP2)
        .role_session_name("override")
        .tags(Tag::builder().key("Team").value("red").build().unwrap())
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = sdk_error(e);
    assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"), "{message}");
    assert_eq!(
        message,
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key \
         from the calling session. Key: 'Team'."
    );
}

/// Transitive tags travel in every token down a chain: the packed size counts the inherited
/// ones with the passed ones, so a chain cannot grow its tags past what a session holds (it
/// used to, until sealing the token failed with a 500).
#[tokio::test]
async fn inherited_transitive_tags_count_in_the_packed_size() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "sts-client", KeyType::EcdsaP256);
    let (ra, _) = roles_anywhere_session(&d.endpoint, &d.ca_bundle(), &leaf).await;
    let app = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(&ra)).await;
    // 128 + 256 characters: 386 of the 2048 packed units, 19 % each.
    let tag = |n: usize| {
        let key = format!("{n}{}", "k".repeat(127));
        (Tag::builder().key(&key).value("v".repeat(256)).build().unwrap(), key)
    };
    let mut hop1 = app.assume_role().role_arn(ROLE_CHAINED).role_session_name("big-tags");
    for n in 0..4 {
        let (t, key) = tag(n);
        hop1 = hop1.tags(t).transitive_tag_keys(key);
    }
    let hop1 = hop1.send().await.unwrap();
    assert_eq!(hop1.packed_policy_size(), Some(76));
    let chained = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(hop1.credentials().unwrap())).await;

    // Two more tags are 38 % on their own, 114 % with the four the session carries: STS
    // blames the tags, all the session packs.
    let mut hop2 = chained.assume_role().role_arn(ROLE_HOP2).role_session_name("more-tags");
    for n in 4..6 {
        let (t, key) = tag(n);
        hop2 = hop2.tags(t).transitive_tag_keys(key);
    }
    let e = hop2.send().await.unwrap_err();
    assert_eq!(
        sdk_error(e),
        (
            400,
            "PackedPolicyTooLarge".to_owned(),
            "Packed size of session tags consumes 114% of allotted space.".to_owned()
        )
    );
    // One more fits: the inherited four and it, 95 %.
    let (t, key) = tag(4);
    let hop2 = chained
        .assume_role()
        .role_arn(ROLE_HOP2)
        .role_session_name("one-more")
        .tags(t)
        .transitive_tag_keys(key)
        .send()
        .await
        .unwrap();
    assert_eq!(hop2.packed_policy_size(), Some(95));
}

#[tokio::test]
async fn aws_sdk_sts_chaining_cap_denials_and_source_identity() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "sts-client", KeyType::EcdsaP256);
    let (ra, serial) = roles_anywhere_session(&d.endpoint, &d.ca_bundle(), &leaf).await;
    let app = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(&ra)).await;
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}");

    // An MFA code is refused as STS refuses one from a role session: nothing can check it.
    let mfa = "arn:aws:iam::123456789012:mfa/user";
    for (serial_number, token_code, message) in [
        (
            Some(mfa),
            Some("123456"),
            "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user. (A role session has no MFA device and rolegate verifies no MFA codes: leave SerialNumber and TokenCode out, e.g. remove mfa_serial from the AWS CLI profile.)",
        ),
        (
            Some(mfa),
            None,
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code. (A role session has no MFA device and rolegate verifies no MFA codes: leave SerialNumber and TokenCode out, e.g. remove mfa_serial from the AWS CLI profile.)",
        ),
        (
            None,
            Some("123456"),
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code. (A role session has no MFA device and rolegate verifies no MFA codes: leave SerialNumber and TokenCode out, e.g. remove mfa_serial from the AWS CLI profile.)",
        ),
    ] {
        let e = app
            .assume_role()
            .role_arn(ROLE_CHAINED)
            .role_session_name("mfa")
            .set_serial_number(serial_number.map(str::to_owned))
            .set_token_code(token_code.map(str::to_owned))
            .send()
            .await
            .unwrap_err();
        assert_eq!(sdk_error(e), (403, "AccessDenied".to_owned(), message.to_owned()));
    }

    // Role chaining is capped at one hour even when the role allows two.
    let e = app
        .assume_role()
        .role_arn(ROLE_CHAINED_LONG)
        .role_session_name("too-long")
        .duration_seconds(3601)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(e),
        (
            400,
            "ValidationError".to_owned(),
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                .to_owned()
        )
    );
    let ok = app
        .assume_role()
        .role_arn(ROLE_CHAINED_LONG)
        .role_session_name("one-hour")
        .duration_seconds(3600)
        .send()
        .await
        .unwrap();
    assert!(ok.credentials().is_some());

    // Below the AWS minimum of 900 s: the SDK does not check, the server does.
    let e = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("short")
        .duration_seconds(899)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = sdk_error(e);
    assert_eq!((status, code.as_str()), (400, "ValidationError"));

    // A role whose trust policy does not name the caller, a role that does not exist, and one
    // of another partition.
    for role in [
        ROLE_OUTSIDE,
        "arn:aws:iam::123456789012:role/nonexistent",
        ROLE_OTHER_PARTITION,
    ] {
        let e = app
            .assume_role()
            .role_arn(role)
            .role_session_name("denied")
            .send()
            .await
            .unwrap_err();
        assert_eq!(sdk_error(e), not_authorized(&caller, "sts:AssumeRole", role));
    }

    // The source identity set by Roles Anywhere may be restated but not changed.
    let same = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("same-source")
        .source_identity("CN=sts-client")
        .send()
        .await
        .unwrap();
    assert_eq!(same.source_identity(), Some("CN=sts-client"));
    let e = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("new-source")
        .source_identity("somebody-else")
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = sdk_error(e);
    assert_eq!((status, code.as_str()), (400, "ValidationError"), "{message}");
    assert_eq!(
        message,
        "The source identity is already set for this assume role session: it is 'CN=sts-client' and cannot \
         change along a role chain."
    );

    // Bad session names are validation errors with AWS's wording.
    let e = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("bad name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(e),
        (
            400,
            "ValidationError".to_owned(),
            "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*".to_owned()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Raw requests
// ---------------------------------------------------------------------------------------------

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole answer.
async fn raw(endpoint: &str, ca: &std::path::Path, head: &str, headers: &[(String, String)], body: &[u8]) -> HttpReply {
    let mut req = format!("{head} HTTP/1.1\r\n");
    for (n, v) in headers {
        req += &format!("{n}: {v}\r\n");
    }
    req += &format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len());
    https_exchange(endpoint, ca, req.as_bytes(), body).await
}

/// How to sign a raw request.
struct Signing<'a> {
    creds: &'a Creds,
    region: &'a str,
    service: &'a str,
    at: OffsetDateTime,
    payload_hash: Option<&'a str>,
    content_type: &'a str,
}

impl<'a> Signing<'a> {
    fn new(creds: &'a Creds) -> Self {
        Self {
            creds,
            region: REGION,
            service: "sts",
            at: now(),
            payload_hash: None,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
        }
    }
}

/// The headers of a form POST to `/` signed as `s` says.
fn signed_form(endpoint: &str, body: &str, s: &Signing) -> Vec<(String, String)> {
    let h = host(endpoint).to_owned();
    let content_type = s.content_type.to_owned();
    let mut headers = vec![("host".to_owned(), h), ("content-type".to_owned(), content_type)];
    if let Some(p) = s.payload_hash {
        headers.push(("x-amz-content-sha256".to_owned(), p.to_owned()));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &refs,
    };
    let payload_hash = s
        .payload_hash
        .map(str::to_owned)
        .unwrap_or_else(|| sigv4::sha256_hex(body.as_bytes()));
    let added = sigv4::sign_hmac(
        &req,
        &payload_hash,
        &s.creds.access_key_id,
        &s.creds.secret,
        Some(&s.creds.token),
        s.region,
        s.service,
        s.at,
    );
    headers.extend(added);
    headers
}

const GCI: &str = "Action=GetCallerIdentity&Version=2011-06-15";

async fn post(d_endpoint: &str, ca: &std::path::Path, body: &str, s: &Signing<'_>) -> HttpReply {
    raw(
        d_endpoint,
        ca,
        "POST /",
        &signed_form(d_endpoint, body, s),
        body.as_bytes(),
    )
    .await
}

/// Replaces the value of header `name`.
fn set(headers: &mut [(String, String)], name: &str, value: String) {
    let slot = headers.iter_mut().find(|(n, _)| n == name).unwrap();
    slot.1 = value;
}

/// Flips one character in the middle of `s` to another of the same alphabet.
fn flip_middle(s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

#[tokio::test]
async fn raw_requests_answer_aws_errors() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let ep = d.endpoint.as_str();
    let ca = d.ca_bundle();
    let leaf = Pki::client(&pki.root, "raw-client", KeyType::EcdsaP256);
    let (ra, serial) = roles_anywhere_session(ep, &ca, &leaf).await;
    let creds = Creds::from(&ra);

    // The well-signed request succeeds, with the documented XML shape.
    let ok = post(ep, &ca, GCI, &Signing::new(&creds)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("content-type"), Some("text/xml"));
    let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}");
    assert!(
        ok.body.starts_with(&format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{arn}</Arn>\n    <UserId>AROA"
        )),
        "{}",
        ok.body
    );
    assert_eq!(ok.element("Account"), Some(ACCOUNT));
    assert_eq!(ok.header("x-amzn-requestid"), ok.element("RequestId"));

    // No Authorization at all.
    let bare = vec![
        ("host".to_owned(), host(ep).to_owned()),
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let r = raw(ep, &ca, "POST /", &bare, GCI.as_bytes()).await;
    assert_eq!(
        r.assert_sts_error(403, "MissingAuthenticationToken"),
        "Request is missing Authentication Token"
    );

    // Framing a proxy in front could read otherwise (RFC 9112 §6.1, §6.3), on a keep-alive
    // request: both Transfer-Encoding and Content-Length are read by the first (the body
    // reaches the API) and the connection is closed after the answer; a coding other than
    // chunked is refused.
    let chunked = format!("{:x}\r\n{GCI}\r\n0\r\n\r\n", GCI.len());
    for (framing, code, message) in [
        (
            format!("transfer-encoding: chunked\r\ncontent-length: {}\r\n", chunked.len()),
            (403, "MissingAuthenticationToken"),
            "Request is missing Authentication Token",
        ),
        (
            "transfer-encoding: gzip, chunked\r\n".to_owned(),
            (400, "ValidationError"),
            "The request's Transfer-Encoding is not supported: send the body with chunked alone, or with Content-Length.",
        ),
    ] {
        let head = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n{framing}\r\n",
            host(ep)
        );
        let r = https_exchange(ep, &ca, head.as_bytes(), chunked.as_bytes()).await;
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.assert_sts_error(code.0, code.1), message);
    }

    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with two Host lines, is a 400 in the
    // API's format.
    let form = (
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    );
    let host_line = ("host".to_owned(), host(ep).to_owned());
    for (headers, message) in [
        (
            vec![form.clone()],
            "The request has no Host header; HTTP/1.1 requires one.",
        ),
        (
            vec![host_line.clone(), host_line, form],
            "The request has more than one Host header.",
        ),
    ] {
        let r = raw(ep, &ca, "POST /", &headers, GCI.as_bytes()).await;
        assert_eq!(r.assert_sts_error(400, "ValidationError"), message);
    }

    // Garbled Authorization.
    let mut h = signed_form(ep, GCI, &Signing::new(&creds));
    set(&mut h, "authorization", "AWS4-HMAC-SHA256 garbage".to_owned());
    raw(ep, &ca, "POST /", &h, GCI.as_bytes())
        .await
        .assert_sts_error(400, "IncompleteSignature");

    // Wrong service, wrong region in the credential scope.
    let s = Signing {
        service: "iam",
        ..Signing::new(&creds)
    };
    let m = post(ep, &ca, GCI, &s)
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");
    assert_eq!(m, "Credential should be scoped to correct service: 'sts'.");
    let s = Signing {
        region: "eu-west-1",
        ..Signing::new(&creds)
    };
    let m = post(ep, &ca, GCI, &s)
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");
    assert_eq!(
        m,
        "Credential should be scoped to a valid region, not 'eu-west-1': this endpoint's region is 'us-east-1'."
    );

    // Dates outside the 5-minute skew, past and future: the X-Amz-Date sent, then the bound it
    // is past, which is the server's time (named in the message) minus or plus 5 minutes.
    for (offset, reason, relation, sign, skew) in [
        (
            -20,
            "Signature expired",
            "is now earlier than",
            '-',
            time::Duration::minutes(-5),
        ),
        (
            20,
            "Signature not yet current",
            "is still later than",
            '+',
            time::Duration::minutes(5),
        ),
    ] {
        let s = Signing {
            at: now() + time::Duration::minutes(offset),
            ..Signing::new(&creds)
        };
        let m = post(ep, &ca, GCI, &s)
            .await
            .assert_sts_error(403, "SignatureDoesNotMatch");
        let sent = format!("{reason}: {} {relation} ", sigv4::format_amz_date(s.at));
        let (bound, server_now) = m
            .strip_prefix(&sent)
            .and_then(|rest| rest.strip_suffix(&format!(" {sign} 5 min.)")))
            .and_then(|rest| rest.split_once(" ("))
            .unwrap_or_else(|| panic!("{m:?} is not \"{sent}<bound> (<server time> {sign} 5 min.)\""));
        let server_now = sigv4::parse_amz_date(server_now).unwrap();
        assert_eq!(sigv4::parse_amz_date(bound).unwrap(), server_now + skew, "{m}");
    }

    // Wrong secret.
    let wrong = Creds {
        secret: "x".repeat(40),
        ..creds.clone()
    };
    let m = post(ep, &ca, GCI, &Signing::new(&wrong))
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");
    assert_eq!(
        m,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
         Access Key and signing method. Consult the service documentation for details."
    );

    // A body changed after signing.
    let h = signed_form(ep, GCI, &Signing::new(&creds));
    let other = "Action=GetCallerIdentity&Version=2011-06-16";
    raw(ep, &ca, "POST /", &h, other.as_bytes())
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");

    // UNSIGNED-PAYLOAD is refused: the parameters are in the body.
    let s = Signing {
        payload_hash: Some("UNSIGNED-PAYLOAD"),
        ..Signing::new(&creds)
    };
    let m = post(ep, &ca, GCI, &s)
        .await
        .assert_sts_error(400, "IncompleteSignature");
    assert_eq!(
        m,
        "This endpoint requires a signed payload; 'x-amz-content-sha256: UNSIGNED-PAYLOAD' is not accepted."
    );

    // Tampered token (one character flipped), and a token of another session.
    let tampered = Creds {
        token: flip_middle(&creds.token),
        ..creds.clone()
    };
    assert_eq!(
        post(ep, &ca, GCI, &Signing::new(&tampered))
            .await
            .assert_sts_error(403, "InvalidClientTokenId"),
        "The security token included in the request is invalid. It names token key 'k1', which this server holds, \
         but does not open with it: it was sealed under a different key with the same id, or it was truncated, \
         altered or forged. Every replica must share the same key files, and a key file must not be replaced under \
         an id it already had."
    );
    let (other_session, _) =
        roles_anywhere_session(ep, &ca, &Pki::client(&pki.root, "other", KeyType::EcdsaP256)).await;
    let mixed = Creds {
        token: other_session.session_token.to_string(),
        ..creds.clone()
    };
    post(ep, &ca, GCI, &Signing::new(&mixed))
        .await
        .assert_sts_error(403, "InvalidClientTokenId");
    // Session credentials without their token.
    let mut h = signed_form(ep, GCI, &Signing::new(&creds));
    h.retain(|(n, _)| n != "x-amz-security-token");
    raw(ep, &ca, "POST /", &h, GCI.as_bytes())
        .await
        .assert_sts_error(403, "InvalidClientTokenId");

    // An expired session, sealed with the daemon's own key ring.
    let config = Config::load(&d.dir.path().join("rolegate.toml")).unwrap();
    let role = config.role(ROLE).unwrap();
    let t = now().unix_timestamp();
    let draft = SessionClaimsDraft {
        role_arn: ROLE.to_owned(),
        role_id: role.role_id.clone(),
        session_name: "expired".into(),
        issued_at: t - 7200,
        expires_at: t - 3600,
        source_identity: None,
        tags: vec![],
        transitive_tag_keys: vec![],
        session_policies: vec![],
        policy_arns: vec![],
        origin: SessionOrigin::AssumeRole {
            source_role_arn: ROLE.to_owned(),
            source_session_name: "test".into(),
        },
        chain: None,
    };
    let (minted, _) = session::mint(&config.keyring, draft.clone(), 0).unwrap();
    let expired = Creds {
        access_key_id: minted.access_key_id.clone(),
        secret: minted.secret_access_key.to_string(),
        token: minted.session_token.clone(),
    };
    assert_eq!(
        post(ep, &ca, GCI, &Signing::new(&expired))
            .await
            .assert_sts_error(400, "ExpiredToken"),
        "The security token included in the request is expired"
    );
    // The same draft, still valid, is accepted: the expiry alone made the difference.
    let (fresh, _) = session::mint(
        &config.keyring,
        SessionClaimsDraft {
            expires_at: t + 600,
            ..draft
        },
        0,
    )
    .unwrap();
    let fresh = Creds {
        access_key_id: fresh.access_key_id.clone(),
        secret: fresh.secret_access_key.to_string(),
        token: fresh.session_token.clone(),
    };
    let r = post(ep, &ca, GCI, &Signing::new(&fresh)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.element("Arn"),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/expired").as_str())
    );

    // Unsupported Action and Version, missing Action.
    let s = Signing::new(&creds);
    let m = post(ep, &ca, "Action=AssumeRoleWithSAML&Version=2011-06-15", &s)
        .await
        .assert_sts_error(400, "InvalidAction");
    assert_eq!(
        m,
        "rolegate does not implement the STS action AssumeRoleWithSAML; it serves AssumeRole and GetCallerIdentity."
    );
    // What STS answers session credentials, which every rolegate credential is, once their
    // parameters are valid.
    // Lists GetSessionToken does not take are ignored, however written (member checks and tag
    // validation are GetFederationToken's and AssumeRole's).
    for (action, parameters) in [
        ("GetSessionToken", ""),
        (
            "GetSessionToken",
            "&Tags.member.0.Key=x&PolicyArns.member.01.arn=x&TransitiveTagKeys.1=x",
        ),
        ("GetFederationToken", "&Name=bob"),
    ] {
        let m = post(ep, &ca, &format!("Action={action}&Version=2011-06-15{parameters}"), &s)
            .await
            .assert_sts_error(403, "AccessDenied");
        assert_eq!(m, format!("Cannot call {action} with session credentials"));
    }
    for (request, want) in [
        (
            "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1&TokenCode=12",
            "2 validation errors detected: Value '1' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900; Value at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6",
        ),
        (
            "Action=GetFederationToken&Version=2011-06-15&Name=bob&PolicyArns.member.1.Arn=x",
            "Invalid parameter name PolicyArns.member.1.Arn: the members of PolicyArns are written PolicyArns.member.N.arn.",
        ),
        (
            "Action=GetFederationToken&Version=2011-06-15&DurationSeconds=129601",
            "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600",
        ),
    ] {
        let m = post(ep, &ca, request, &s)
            .await
            .assert_sts_error(400, "ValidationError");
        assert_eq!(m, want, "{request}");
    }
    // Trusted context assertions only AWS STS can open: validated, then refused (a session
    // without the identity context asked for is not what the caller wanted).
    let assume = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev-reader&RoleSessionName=ctx";
    let provider = "arn%3Aaws%3Aiam%3A%3Aaws%3AcontextProvider%2FIdentityCenter";
    let m = post(
        ep,
        &ca,
        &format!("{assume}&ProvidedContexts.member.1.ProviderArn=x&ProvidedContexts.member.1.ContextAssertion=abc"),
        &s,
    )
    .await
    .assert_sts_error(400, "ValidationError");
    assert_eq!(
        m,
        "2 validation errors detected: Value 'x' at 'providedContexts.1.member.providerArn' failed to satisfy constraint: Member must have length greater than or equal to 20; Value at 'providedContexts.1.member.contextAssertion' failed to satisfy constraint: Member must have length greater than or equal to 4"
    );
    let m = post(
        ep,
        &ca,
        &format!(
            "{assume}&ProvidedContexts.member.1.ProviderArn={provider}&ProvidedContexts.member.1.ContextAssertion=eyJhbGciOi"
        ),
        &s,
    )
    .await
    .assert_sts_error(400, "InvalidContextAssertion");
    assert_eq!(
        m,
        "rolegate cannot verify trusted context assertions (ProvidedContexts, from arn:aws:iam::aws:contextProvider/IdentityCenter): only AWS STS can; ask for the session without them."
    );
    let m = post(ep, &ca, "Action=GetSessionTokens&Version=2011-06-15", &s)
        .await
        .assert_sts_error(400, "InvalidAction");
    assert_eq!(m, "Could not find operation GetSessionTokens for version 2011-06-15");
    let m = post(ep, &ca, "Action=GetCallerIdentity&Version=2099-01-01", &s)
        .await
        .assert_sts_error(400, "InvalidAction");
    assert_eq!(m, "Could not find operation GetCallerIdentity for version 2099-01-01");
    // What has not the shape of an action or a version (a pasted secret, say) is not echoed.
    let m = post(ep, &ca, "Action=wJalrXUtnFEMI%2FK7MDENG&Version=2011-06-15", &s)
        .await
        .assert_sts_error(400, "InvalidAction");
    assert_eq!(m, "Could not find operation … for version 2011-06-15");
    // A secret key without '/' or '+' holds digits, which no action does.
    let m = post(
        ep,
        &ca,
        "Action=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY&Version=2011-06-15",
        &s,
    )
    .await
    .assert_sts_error(400, "InvalidAction");
    assert_eq!(m, "Could not find operation … for version 2011-06-15");
    let m = post(ep, &ca, "Action=GetCallerIdentity&Version=secret%2Fvalue", &s)
        .await
        .assert_sts_error(400, "InvalidAction");
    assert_eq!(m, "Could not find operation GetCallerIdentity for version …");
    let m = post(ep, &ca, "Version=2011-06-15", &s)
        .await
        .assert_sts_error(400, "MissingAction");
    assert_eq!(m, "The parameter Action is required.");
    // A body that is not form-encoded is not read for parameters, and the answer says so.
    let json = Signing {
        content_type: "application/json",
        ..Signing::new(&creds)
    };
    let m = post(ep, &ca, GCI, &json).await.assert_sts_error(400, "InvalidAction");
    assert_eq!(
        m,
        "The parameter Version is required; use 2011-06-15. The request body was not read: \
         parameters in a body need Content-Type: application/x-www-form-urlencoded."
    );

    // Malformed form bodies.
    for bad in [
        "Action=GetCallerIdentity&Version=2011-06-15&X=%zz",
        "Action=GetCallerIdentity&Version=2011-06-15&X=%C3%28",
    ] {
        let m = post(ep, &ca, bad, &s).await.assert_sts_error(400, "ValidationError");
        assert!(m.starts_with("The request parameters are not valid"), "{m}");
    }
    // AssumeRole without RoleArn.
    let m = post(ep, &ca, "Action=AssumeRole&Version=2011-06-15&RoleSessionName=x1", &s)
        .await
        .assert_sts_error(400, "ValidationError");
    assert_eq!(
        m,
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
    );

    // A body over max_body_bytes (64 KiB by default).
    let big = format!("{GCI}&Pad={}", "a".repeat(70 * 1024));
    post(ep, &ca, &big, &s)
        .await
        .assert_sts_error(413, "RequestEntityTooLarge");
}

#[tokio::test]
async fn tokens_sealed_by_a_key_outside_the_ring_are_rejected() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    // A second daemon, same PKI, whose ring holds only another key `k2`.
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &setup(&pki));
    std::fs::write(
        dir.path().join("k2.key"),
        "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("k2.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"k1\"", "\"k2\"")
        .replace("k1.key", "k2.key");
    std::fs::write(&path, text).unwrap();
    let other = start_with_config(dir, &path);

    let leaf = Pki::client(&pki.root, "two-daemons", KeyType::EcdsaP256);
    let (foreign, _) = roles_anywhere_session(&other.endpoint, &other.ca_bundle(), &leaf).await;
    let creds = Creds::from(&foreign);
    // Valid where it was issued...
    let r = post(&other.endpoint, &other.ca_bundle(), GCI, &Signing::new(&creds)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...and rejected by a daemon whose ring does not hold its key.
    post(&d.endpoint, &d.ca_bundle(), GCI, &Signing::new(&creds))
        .await
        .assert_sts_error(403, "InvalidClientTokenId");
    // The SDK sees the same answer.
    let e = sdk(&d.endpoint, &d.ca_bundle(), &creds)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(e),
        (
            403,
            "InvalidClientTokenId".to_owned(),
            "The security token included in the request is invalid. It names token key 'k2', which this server does \
             not hold: it was sealed by a replica whose key ring holds that key, or under a key removed while its \
             sessions lived, or it is no token of this deployment. Every replica must hold every key whose sessions \
             still live."
                .to_owned()
        )
    );
}

/// A CRL revoking a certificate after it got a session ends that session and every session
/// chained from it, on every API (aws-sdk-sts sees AccessDenied naming the certificate); so
/// does one revoking the intermediate CA of a session's chain. The sessions of the CA's other
/// certificates go on, and the revoked one gets no new session.
#[tokio::test]
async fn revoking_a_certificate_ends_its_sessions_and_those_chained_from_them() {
    let pki = Pki::new();
    let n = now();
    let d = start(&Setup {
        crl_pem: Some(pki.root.crl(&[], n - days(1), n + days(7)).unwrap()),
        ..setup(&pki)
    });
    let (ep, ca) = (d.endpoint.as_str(), d.ca_bundle());
    let stolen = Pki::client(&pki.root, "stolen", KeyType::EcdsaP256);
    let kept = Pki::client(&pki.root, "kept", KeyType::EcdsaP256);
    let (stolen_session, stolen_serial) = roles_anywhere_session(ep, &ca, &stolen).await;
    let (kept_session, _) = roles_anywhere_session(ep, &ca, &kept).await;
    let (stolen_session, kept_session) = (Creds::from(&stolen_session), Creds::from(&kept_session));
    let under_intermediate = Pki::client(&pki.intermediate, "under-intermediate", KeyType::EcdsaP256);
    let intermediate_session = create_session(ep, &ca, &under_intermediate, &[pki.intermediate.issued()])
        .await
        .unwrap();
    let intermediate_session = Creds::from(&intermediate_session);
    let ca_path = &ca;
    let assume_chained = |c: Creds| async move {
        sdk(ep, ca_path, &c)
            .await
            .assume_role()
            .role_arn(ROLE_CHAINED)
            .role_session_name("hop-1")
            .send()
            .await
    };
    let stolen_chained = Creds::from(
        assume_chained(stolen_session.clone())
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    );
    let hop2 = sdk(ep, &ca, &stolen_chained)
        .await
        .assume_role()
        .role_arn(ROLE_HOP2)
        .role_session_name("hop-2")
        .send()
        .await
        .unwrap();
    let stolen_hop2 = Creds::from(hop2.credentials().unwrap());
    for c in [
        &stolen_session,
        &stolen_chained,
        &stolen_hop2,
        &kept_session,
        &intermediate_session,
    ] {
        let r = post(ep, &ca, GCI, &Signing::new(c)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    let revoking = pki
        .root
        .crl(
            &[
                stolen.serial_hex.as_str(),
                pki.intermediate.issued().serial_hex.as_str(),
            ],
            n - days(1),
            n + days(7),
        )
        .unwrap();
    std::fs::write(d.dir.path().join("root.crl"), revoking).unwrap();
    d.signal("HUP");
    let refused = refused_once_reloaded(ep, &ca, &stolen_session).await;
    let message = format!(
        "The certificate this session was issued to (serial {stolen_serial}, issued by CN=test root) is revoked by a \
         CRL of trust anchor {}: its sessions, and those chained from them, have ended, and it gets no new ones.",
        anchor_arn("main")
    );
    assert_eq!(refused.assert_sts_error(403, "AccessDenied"), message);
    assert_eq!(refused.header("x-rolegate-reason"), Some("session-certificate-revoked"));
    // Every session of the chain, through the official SDK: GetCallerIdentity and AssumeRole.
    for c in [&stolen_session, &stolen_chained, &stolen_hop2] {
        let e = sdk(ep, &ca, c).await.get_caller_identity().send().await.unwrap_err();
        assert_eq!(sdk_error(e), (403, "AccessDenied".to_owned(), message.clone()));
    }
    let e = assume_chained(stolen_session.clone()).await.unwrap_err();
    assert_eq!(sdk_error(e), (403, "AccessDenied".to_owned(), message.clone()));
    let e = sdk(ep, &ca, &intermediate_session)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let intermediate_message = format!(
        "The CA certificate (serial {}, issued by CN=test root) of the chain this session was issued to is revoked \
         by a CRL of trust anchor {}: the sessions of the certificates it issued, and those chained from them, have \
         ended, and they get no new ones through it.",
        pki.intermediate.issued().serial_hex,
        anchor_arn("main")
    );
    assert_eq!(sdk_error(e), (403, "AccessDenied".to_owned(), intermediate_message));
    // The CA's other certificate keeps its session, and chains from it.
    assert_eq!(
        caller_arn(ep, &ca, &kept_session).await,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{}", kept.serial_hex)
    );
    assume_chained(kept_session.clone()).await.unwrap();
    // The revoked certificate gets no new session.
    assert_access_denied(
        create_session(ep, &ca, &stolen, &[]).await,
        REVOKED,
        "certificate-revoked",
    );
}

/// The GetCallerIdentity answer of `c`, polled until it is a refusal (after a reload).
async fn refused_once_reloaded(endpoint: &str, ca: &std::path::Path, c: &Creds) -> HttpReply {
    for _ in 0..600 {
        let r = post(endpoint, ca, GCI, &Signing::new(c)).await;
        if r.status != 200 {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the session was not refused after the reload");
}

/// In a two-tier PKI whose issuing CA is listed in the anchor's bundle (so that its own CRL is
/// consulted), paths end at the bundle's copy of the issuing CA: once the root's CRL revokes
/// it, the sessions of the certificates it issued end, their clients having sent it or not.
#[tokio::test]
async fn revoking_an_issuing_ca_of_the_bundle_ends_the_sessions_it_issued() {
    let pki = Pki::new();
    let n = now();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &Setup {
            crl_pem: Some(pki.root.crl(&[], n - days(1), n + days(7)).unwrap()),
            ..setup(&pki)
        },
    );
    let bundle = format!("{}{}", pki.root.issued().cert_pem, pki.intermediate.issued().cert_pem);
    std::fs::write(dir.path().join("ca.pem"), bundle).unwrap();
    let issuing_crl = pki.intermediate.crl(&[], n - days(1), n + days(7)).unwrap();
    std::fs::write(dir.path().join("issuing.crl"), issuing_crl).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let both = text.replacen(r#"crls = ["root.crl"]"#, r#"crls = ["root.crl", "issuing.crl"]"#, 1);
    assert_ne!(both, text);
    std::fs::write(&config, both).unwrap();
    let d = start_with_config(dir, &config);
    let (ep, ca) = (d.endpoint.as_str(), d.ca_bundle());

    let issuing = pki.intermediate.issued();
    let sent = Pki::client(&pki.intermediate, "sends-its-issuer", KeyType::EcdsaP256);
    let not_sent = Pki::client(&pki.intermediate, "sends-no-chain", KeyType::EcdsaP256);
    let direct = Pki::client(&pki.root, "issued-by-the-root", KeyType::EcdsaP256);
    let sessions = [
        create_session(ep, &ca, &sent, &[issuing]).await.unwrap(),
        create_session(ep, &ca, &not_sent, &[]).await.unwrap(),
    ]
    .map(|s| Creds::from(&s));
    let kept = Creds::from(&create_session(ep, &ca, &direct, &[]).await.unwrap());

    let revoking = pki
        .root
        .crl(&[issuing.serial_hex.as_str()], n - days(1), n + days(7))
        .unwrap();
    std::fs::write(d.dir.path().join("root.crl"), revoking).unwrap();
    d.signal("HUP");
    let message = format!(
        "The CA certificate (serial {}, issued by CN=test root) of the chain this session was issued to is revoked \
         by a CRL of trust anchor {}: the sessions of the certificates it issued, and those chained from them, have \
         ended, and they get no new ones through it.",
        issuing.serial_hex,
        anchor_arn("main")
    );
    for session in &sessions {
        let refused = refused_once_reloaded(ep, &ca, session).await;
        assert_eq!(refused.assert_sts_error(403, "AccessDenied"), message);
    }
    let r = post(ep, &ca, GCI, &Signing::new(&kept)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A role of another account than the daemon's (a configuration may hold one, with a warning).
const OTHER_ACCOUNT_ROLE: &str = "arn:aws:iam::999999999999:role/other-account";

/// The caller's own policies, beside the target's trust policy (same account): an explicit
/// Deny in them refuses whatever the trust policy grants, with every request key (session
/// name, tag keys) in context; a trust policy naming only the account needs their Allow; one
/// naming the caller's role is limited by the session's policies, one naming the session (or
/// `*` with an `aws:PrincipalArn` condition) is not.
#[tokio::test]
async fn the_callers_own_policies_bound_what_a_trust_policy_grants() {
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let caller_role = role("caller");
    let permissions = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}},
            {{"Sid":"NotThatRole","Effect":"Deny","Action":"sts:AssumeRole","Resource":"{}"}},
            {{"Sid":"NoBreakGlass","Effect":"Deny","Action":"sts:AssumeRole","Resource":"*","Condition":{{"StringEquals":{{"sts:RoleSessionName":"breakglass"}}}}}},
            {{"Sid":"NoPrivilegedTag","Effect":"Deny","Action":"sts:TagSession","Resource":"*","Condition":{{"ForAnyValue:StringEquals":{{"aws:TagKeys":"privileged"}}}}}}]}}"#,
        role("denied-target")
    );
    let extra = format!(
        r#"{extra_roles}
[[role]]
arn = "{caller_role}"
trust_policy = '''{caller_trust}'''
permission_policies = ['''{permissions}''']

[[role]]
arn = "{names_role}"
trust_policy = '''{names_role_trust}'''

[[role]]
arn = "{denied_target}"
trust_policy = '''{names_role_trust}'''

[[role]]
arn = "{names_account}"
trust_policy = '''{names_account_trust}'''

[[role]]
arn = "{names_session}"
trust_policy = '''{names_session_trust}'''

[[role]]
arn = "{names_anyone}"
trust_policy = '''{names_anyone_trust}'''

[[role]]
arn = "{no_source_identity}"
trust_policy = '''{caller_trust}'''
permission_policies = ['''{no_source_identity_permissions}''']

[[role]]
arn = "{other_account}"
trust_policy = '''{names_session_trust}'''
"#,
        extra_roles = extra_roles(),
        caller_trust = chaining_trust(ROLE, ""),
        names_role = role("names-role"),
        names_role_trust = chaining_trust(&caller_role, ""),
        denied_target = role("denied-target"),
        names_account = role("names-account"),
        names_account_trust = chaining_trust(&format!("arn:aws:iam::{ACCOUNT}:root"), ""),
        names_session = role("names-session"),
        names_session_trust = chaining_trust(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/caller/scoped"), ""),
        names_anyone = role("names-anyone"),
        names_anyone_trust = chaining_trust(
            "*",
            &format!(r#","Condition":{{"ArnEquals":{{"aws:PrincipalArn":"{caller_role}"}}}}"#)
        ),
        no_source_identity = role("no-source-identity"),
        no_source_identity_permissions = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:SetSourceIdentity","Resource":"*"}]}"#,
        other_account = OTHER_ACCOUNT_ROLE,
    );
    let pki = Pki::new();
    let d = start(&Setup {
        pki: &pki,
        extra_toml: extra,
        crl_pem: None,
        app_trust_condition: "",
    });
    let leaf = Pki::client(&pki.root, "caller-policies", KeyType::EcdsaP256);
    let (ra, _) = roles_anywhere_session(&d.endpoint, &d.ca_bundle(), &leaf).await;
    let app = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(&ra)).await;
    // A session of `caller` named `name`, with the session policy `policy` if given.
    let session = async |name: &str, policy: Option<&str>| {
        let out = app
            .assume_role()
            .role_arn(&caller_role)
            .role_session_name(name)
            .set_policy(policy.map(str::to_owned))
            .send()
            .await
            .unwrap();
        sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(out.credentials().unwrap())).await
    };
    let assume = |client: &aws_sdk_sts::Client, target: &str, name: &str| {
        client.assume_role().role_arn(role(target)).role_session_name(name)
    };
    let denied = |caller: &str, action: &str, target: &str| {
        not_authorized(
            &format!("arn:aws:sts::{ACCOUNT}:assumed-role/caller/{caller}"),
            action,
            &role(target),
        )
    };

    let c = session("cc", None).await;
    assume(&c, "names-role", "fine").send().await.unwrap();
    assume(&c, "names-account", "fine").send().await.unwrap();
    // The trust policy names the caller's role, but its permission policy denies the role.
    let e = assume(&c, "denied-target", "fine").send().await.unwrap_err();
    assert_eq!(sdk_error(e), denied("cc", "sts:AssumeRole", "denied-target"));
    // Denied by request keys: the session name, the tag keys (for sts:TagSession).
    for target in ["names-account", "names-role"] {
        let e = assume(&c, target, "breakglass").send().await.unwrap_err();
        assert_eq!(sdk_error(e), denied("cc", "sts:AssumeRole", target));
    }
    let privileged = Tag::builder().key("privileged").value("yes").build().unwrap();
    let e = assume(&c, "names-account", "tagged")
        .tags(privileged)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(e), denied("cc", "sts:TagSession", "names-account"));
    let team = Tag::builder().key("team").value("blue").build().unwrap();
    assume(&c, "names-account", "tagged").tags(team).send().await.unwrap();

    // A session whose session policy allows only s3:GetObject: not the role's or the
    // account's grant, but the grant to the session itself.
    let get_object =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let scoped = session("scoped", Some(get_object)).await;
    for target in ["names-role", "names-account"] {
        let e = assume(&scoped, target, "ss").send().await.unwrap_err();
        assert_eq!(sdk_error(e), denied("scoped", "sts:AssumeRole", target));
    }
    assume(&scoped, "names-session", "ss").send().await.unwrap();
    // `*` narrowed by `aws:PrincipalArn` to the caller's role: the session policies do not
    // limit that grant either (IAM's Principal element, "IAM role principals").
    assume(&scoped, "names-anyone", "ss").send().await.unwrap();
    // A role of another account whose trust policy names the same session: across accounts
    // the caller's own policies must allow it too, and `scoped`'s session policy does not.
    let e = scoped
        .assume_role()
        .role_arn(OTHER_ACCOUNT_ROLE)
        .role_session_name("ss")
        .send()
        .await
        .unwrap_err();
    let scoped_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/caller/scoped");
    assert_eq!(
        sdk_error(e),
        not_authorized(&scoped_arn, "sts:AssumeRole", OTHER_ACCOUNT_ROLE)
    );
    // A session policy allowing sts:AssumeRole (and sts:SetSourceIdentity, for the source
    // identity carried forward) lets the role's grant through; the session grant is
    // `scoped`'s, not this session's.
    let assume_any = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Resource":"*"}]}"#;
    let opened = session("opened", Some(assume_any)).await;
    assume(&opened, "names-role", "oo").send().await.unwrap();
    let e = assume(&opened, "names-session", "oo").send().await.unwrap_err();
    assert_eq!(sdk_error(e), denied("opened", "sts:AssumeRole", "names-session"));

    // The source identity Roles Anywhere set carries forward: a caller whose policies deny
    // sts:SetSourceIdentity cannot pass it on, though the request does not name it.
    let out = app
        .assume_role()
        .role_arn(role("no-source-identity"))
        .role_session_name("nsi")
        .send()
        .await
        .unwrap();
    let nsi = sdk(&d.endpoint, &d.ca_bundle(), &Creds::from(out.credentials().unwrap())).await;
    let e = assume(&nsi, "names-account", "nn").send().await.unwrap_err();
    let nsi_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/no-source-identity/nsi");
    assert_eq!(
        sdk_error(e),
        not_authorized(&nsi_arn, "sts:SetSourceIdentity", &role("names-account"))
    );
}

/// An IPv4 client of a dual-stack IPv6 listener is `aws:SourceIp` 127.0.0.1, not
/// `::ffff:127.0.0.1`: a trust policy conditioned on `IpAddress 127.0.0.0/8` admits it (and a
/// Deny on it would refuse it).
#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_listener_has_its_ipv4_source_ip() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &Setup {
            pki: &pki,
            extra_toml: extra_roles(),
            crl_pem: None,
            app_trust_condition: r#","IpAddress":{"aws:SourceIp":"127.0.0.0/8"}"#,
        },
    );
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(r#"listen = "127.0.0.1:0""#, r#"listen = "[::ffff:127.0.0.1]:0""#, 1),
    )
    .unwrap();
    let d = start_with_config(dir, &path);
    let port = d.endpoint.rsplit(':').next().unwrap().trim_end_matches('/');
    let endpoint = format!("https://127.0.0.1:{port}");
    let leaf = Pki::client(&pki.root, "dual-stack", KeyType::EcdsaP256);
    let (ra, serial) = roles_anywhere_session(&endpoint, &d.ca_bundle(), &leaf).await;
    assert_eq!(
        caller_arn(&endpoint, &d.ca_bundle(), &Creds::from(&ra)).await,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}")
    );
}

#[tokio::test]
async fn credentials_survive_a_daemon_restart() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &setup(&pki));
    let ca = dir.path().join("ca.pem");
    let leaf = Pki::client(&pki.root, "restart", KeyType::EcdsaP256);

    let first = start_with_config(tempfile::tempdir().unwrap(), &path);
    let (ra, serial) = roles_anywhere_session(&first.endpoint, &ca, &leaf).await;
    let app = sdk(&first.endpoint, &ca, &Creds::from(&ra)).await;
    let hop = app
        .assume_role()
        .role_arn(ROLE_CHAINED)
        .role_session_name("before-restart")
        .send()
        .await
        .unwrap();
    drop(first);

    let second = start_with_config(tempfile::tempdir().unwrap(), &path);
    assert_eq!(
        caller_arn(&second.endpoint, &ca, &Creds::from(&ra)).await,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}")
    );
    assert_eq!(
        caller_arn(&second.endpoint, &ca, &Creds::from(hop.credentials().unwrap())).await,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/chained/before-restart")
    );
}

/// A presigned `GET /?Action=GetCallerIdentity…` URL made by the official `aws-sigv4` crate.
fn presigned_get(endpoint: &str, c: &Creds, expires_in: std::time::Duration, at: std::time::SystemTime) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new(&c.access_key_id, &c.secret, Some(c.token.clone()), None, "t").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("https://{}/?{GCI}", host(endpoint));
    let headers = [("host", host(endpoint))];
    let signable =
        SignableRequest::new("GET", uri.as_str(), headers.iter().copied(), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().uri(uri.as_str()).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request.uri().path_and_query().unwrap().to_string()
}

#[tokio::test]
async fn presigned_get_urls_work_and_are_checked() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let ca = d.ca_bundle();
    let leaf = Pki::client(&pki.root, "presigned", KeyType::EcdsaP256);
    let (ra, serial) = roles_anywhere_session(&d.endpoint, &ca, &leaf).await;
    let creds = Creds::from(&ra);
    let h = vec![("host".to_owned(), host(&d.endpoint).to_owned())];

    let url = presigned_get(
        &d.endpoint,
        &creds,
        std::time::Duration::from_secs(300),
        std::time::SystemTime::now(),
    );
    let r = raw(&d.endpoint, &ca, &format!("GET {url}"), &h, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.element("Arn"),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}").as_str())
    );

    // A signed query parameter changed after presigning.
    let changed = url.replacen("Version=2011-06-15", "Version=2011-06-16", 1);
    assert_ne!(changed, url);
    raw(&d.endpoint, &ca, &format!("GET {changed}"), &h, b"")
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");
    // The presigned URL without its signature.
    let unsigned: String = url
        .split(['?', '&'])
        .filter(|p| !p.starts_with("X-Amz-Signature="))
        .collect::<Vec<_>>()
        .join("&")
        .replacen('&', "?", 1);
    raw(&d.endpoint, &ca, &format!("GET {unsigned}"), &h, b"")
        .await
        .assert_sts_error(400, "IncompleteSignature");

    // STS ignores X-Amz-Expires: a URL is good for 15 minutes after it was signed, as
    // aws-iam-authenticator's tokens (presigned for 60 s, used for 14 minutes) rely on...
    let minutes_ago = |m: u64| std::time::SystemTime::now() - std::time::Duration::from_secs(m * 60);
    let token_like = presigned_get(&d.endpoint, &creds, std::time::Duration::from_secs(60), minutes_ago(10));
    let r = raw(&d.endpoint, &ca, &format!("GET {token_like}"), &h, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Such verifiers ask for JSON: the same document, as STS writes it in JSON.
    let mut json_headers = h.clone();
    json_headers.push(("accept".to_owned(), "application/json".to_owned()));
    let r = raw(&d.endpoint, &ca, &format!("GET {token_like}"), &json_headers, b"").await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json")),
        "{}",
        r.body
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let request_id = r.header("x-amzn-requestid").unwrap();
    assert_eq!(
        v,
        serde_json::json!({"GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {
                "Account": ACCOUNT,
                "Arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial}"),
                "UserId": v["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["UserId"],
            },
            "ResponseMetadata": {"RequestId": request_id},
        }})
    );
    let user_id = v["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["UserId"]
        .as_str()
        .unwrap();
    assert!(
        user_id.starts_with("AROA") && user_id.ends_with(&format!(":{serial}")),
        "{user_id}"
    );
    let r = raw(&d.endpoint, &ca, &format!("GET {changed}"), &json_headers, b"").await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (403, Some("application/json")),
        "{}",
        r.body
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (&v["Error"]["Code"], &v["Error"]["Type"], &v["RequestId"]),
        (
            &serde_json::json!("SignatureDoesNotMatch"),
            &serde_json::json!("Sender"),
            &serde_json::json!(r.header("x-amzn-requestid").unwrap())
        ),
        "{v}"
    );
    // ...and no longer, however long it says it is good for.
    let week = std::time::Duration::from_secs(604_800);
    let stale = presigned_get(&d.endpoint, &creds, week, minutes_ago(16));
    let message = raw(&d.endpoint, &ca, &format!("GET {stale}"), &h, b"")
        .await
        .assert_sts_error(400, "RequestExpired");
    assert!(
        message.starts_with("Request has expired: it was valid until "),
        "{message}"
    );
}

/// `max_clock_skew_seconds = 60` bounds both APIs: a CreateSession signed 2 minutes in the
/// past or the future is refused (`clock-skew`, naming the 60 seconds), an STS request signed 2
/// minutes ago is `SignatureDoesNotMatch` "Signature expired" with a bound one minute before
/// the server's time; both signed 30 seconds ago are served.
#[tokio::test]
async fn a_non_default_clock_skew_bounds_create_session_and_sts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &setup(&pki));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[server]\n", "[server]\nmax_clock_skew_seconds = 60\n", 1),
    )
    .unwrap();
    let d = start_with_config(dir, &path);
    let ep = d.endpoint.as_str();
    let ca = d.ca_bundle();
    let leaf = Pki::client(&pki.root, "skewed", KeyType::EcdsaP256);
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let client = roles_anywhere_client(ep, &ca);
    let params = main_session_params();
    let whole_seconds = |t: OffsetDateTime| t.replace_nanosecond(0).unwrap();
    // The server's time named in a message lies between the moments around the request.
    let assert_server_time = |named: &str, before: OffsetDateTime, after: OffsetDateTime| {
        let server_now = sigv4::parse_amz_date(named).unwrap();
        assert!(
            whole_seconds(before) <= server_now && server_now <= after,
            "server time {named} outside [{before}, {after}]"
        );
        server_now
    };

    for offset in [-2, 2] {
        let at = now() + time::Duration::minutes(offset);
        let before = now();
        let r = client
            .create_session(&params, &key, &leaf.cert_der, &[], cert.serial_decimal(), at)
            .await;
        let after = now();
        let Err(rolegate::client::ClientError::Api {
            status,
            error_type,
            message,
        }) = r
        else {
            panic!("signed {offset} minutes off: expected a refusal, got {r:?}");
        };
        assert_eq!(
            (status, error_type.as_str()),
            (403, "AccessDeniedException"),
            "{message}"
        );
        let (text, reason) = split_reason(&message);
        assert_eq!(reason, "clock-skew");
        let sent = sigv4::format_amz_date(at);
        let prefix = format!(
            "Signature expired or not yet valid: X-Amz-Date {sent} is more than 60 seconds away from the server time "
        );
        let named = text
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(". Check the client clock."))
            .unwrap_or_else(|| panic!("{text:?} is not \"{prefix}<server time>. Check the client clock.\""));
        assert_server_time(named, before, after);
    }
    let recent = client
        .create_session(
            &params,
            &key,
            &leaf.cert_der,
            &[],
            cert.serial_decimal(),
            now() - time::Duration::seconds(30),
        )
        .await
        .unwrap();
    let creds = Creds::from(&recent);

    let s = Signing {
        at: now() - time::Duration::minutes(2),
        ..Signing::new(&creds)
    };
    let before = now();
    let m = post(ep, &ca, GCI, &s)
        .await
        .assert_sts_error(403, "SignatureDoesNotMatch");
    let after = now();
    let sent = format!(
        "Signature expired: {} is now earlier than ",
        sigv4::format_amz_date(s.at)
    );
    let (bound, named) = m
        .strip_prefix(&sent)
        .and_then(|rest| rest.strip_suffix(" - 1 min.)"))
        .and_then(|rest| rest.split_once(" ("))
        .unwrap_or_else(|| panic!("{m:?} is not \"{sent}<bound> (<server time> - 1 min.)\""));
    let server_now = assert_server_time(named, before, after);
    assert_eq!(
        sigv4::parse_amz_date(bound).unwrap(),
        server_now - time::Duration::seconds(60),
        "{m}"
    );
    // Counted as the REST refusals are: a clock to fix, not a bad signature.
    let metrics = d.metrics_text();
    let refusals = |reason: &str| {
        sample(
            &metrics,
            &format!(r#"rolegate_refusals_total{{api="sts",operation="GetCallerIdentity",reason="{reason}"}}"#),
        )
    };
    assert_eq!(refusals("clock-skew"), Some(1.0), "{metrics}");
    assert_eq!(refusals("signature"), None, "{metrics}");

    let s = Signing {
        at: now() - time::Duration::seconds(30),
        ..Signing::new(&creds)
    };
    let ok = post(ep, &ca, GCI, &s).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.element("Arn"),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{}", cert.serial_hex()).as_str())
    );
}
