//! The gRPC API `rolegate.v1` end to end: the real daemon on 127.0.0.1:0, driven by tonic
//! clients over real mTLS (rustls presenting certificates of the test PKI), with SigV4 requests
//! for VerifyRequest signed by the `aws-sigv4` crate.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use rolegate::client::TlsOptions;
use rolegate::client::grpc::{GrpcClient, SigningCredentials, signed_assume_role};
use rolegate::identity::ClientCertificate;
use rolegate::pki::{Authority, ClientSpec, Issued, KeyType};
use rolegate::proto::authorize_response::Decision;
use rolegate::proto::{
    AssumeRoleRequest, AuthorizeRequest, ContextValues, CreateSessionRequest, CreateSessionResponse, Header,
    ReloadRequest, ReloadResponse, StatusRequest, VerifyRequestRequest, VerifyRequestResponse,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tonic::Code;

const CHAINED_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"]}]}"#;
const CHAINED_PERMISSIONS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOrders","Effect":"Allow","Action":"orders:Get*","Resource":"*"},{"Sid":"NoSecrets","Effect":"Deny","Action":"orders:*","Resource":"arn:aws:orders:::secret/*"},{"Sid":"HomeRegionOnly","Effect":"Deny","Action":"orders:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}},{"Sid":"NoSecretTag","Effect":"Deny","Action":"orders:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"secret"}}}]}"#;
const API_HOST: &str = "orders.internal.example";

/// The daemon with a chained role that has permission policies, and `admin_subject` listed
/// in `[server] admin_subjects`.
fn start_grpc(pki: &Pki, admin_subject: &str) -> Daemon {
    start_grpc_with(pki, admin_subject, "")
}

/// As [`start_grpc`], with `server_lines` added to `[server]`.
fn start_grpc_with(pki: &Pki, admin_subject: &str, server_lines: &str) -> Daemon {
    // A CRL revoking nothing, for Admin.Status to report.
    start_grpc_revoking(pki, admin_subject, server_lines, &[])
}

/// As [`start_grpc_with`], the root's CRL revoking the serials `revoked` (hex).
fn start_grpc_revoking(pki: &Pki, admin_subject: &str, server_lines: &str, revoked: &[&str]) -> Daemon {
    let crl = pki.root.crl(revoked, now() - days(1), now() + days(7)).unwrap();
    start_grpc_with_crl(pki, admin_subject, server_lines, crl, "")
}

/// As [`start_grpc_with`], with the root's CRL `crl` and `anchor_lines` added to the `main`
/// trust anchor.
fn start_grpc_with_crl(pki: &Pki, admin_subject: &str, server_lines: &str, crl: String, anchor_lines: &str) -> Daemon {
    let extra_toml = format!(
        "[[role]]\narn = \"{ROLE_CHAINED}\"\nmax_session_duration = 43200\ntrust_policy = '''{CHAINED_TRUST}'''\npermission_policies = ['''{CHAINED_PERMISSIONS}''']\n"
    );
    let setup = Setup {
        pki,
        extra_toml,
        crl_pem: Some(crl),
        app_trust_condition: "",
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &setup);
    let text = std::fs::read_to_string(&path).unwrap();
    let marker = format!("account_id = \"{ACCOUNT}\"\n");
    assert!(text.contains(&marker));
    let text = text.replacen(
        &marker,
        &format!("{marker}admin_subjects = [\"{admin_subject}\"]\n{server_lines}"),
        1,
    );
    let crls = r#"crls = ["root.crl"]"#;
    assert!(text.contains(crls));
    let text = text.replacen(crls, &format!("{crls}\n{anchor_lines}"), 1);
    std::fs::write(&path, text).unwrap();
    start_with_config(dir, &path)
}

fn subject_of(leaf: &Issued) -> String {
    ClientCertificate::parse(leaf.cert_der.clone())
        .unwrap()
        .subject_string()
        .to_owned()
}

async fn connect(d: &Daemon, identity: Option<(&Issued, &[&Issued])>) -> GrpcClient {
    let client_identity = identity.map(|(leaf, chain)| {
        let mut certs = vec![CertificateDer::from(leaf.cert_der.clone())];
        certs.extend(chain.iter().map(|c| CertificateDer::from(c.cert_der.clone())));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_pkcs8_der.to_vec()));
        (certs, Arc::new(key))
    });
    let tls = TlsOptions {
        ca_bundle: Some(d.ca_bundle()),
        no_verify: false,
        client_identity,
    };
    GrpcClient::connect(&d.endpoint, &tls).await.unwrap()
}

fn create_request(profile: &str, role: &str, anchor: &str) -> CreateSessionRequest {
    CreateSessionRequest {
        trust_anchor_arn: anchor_arn(anchor),
        profile_arn: profile_arn(profile),
        role_arn: role.to_owned(),
        ..Default::default()
    }
}

async fn create(c: &GrpcClient, r: CreateSessionRequest) -> Result<CreateSessionResponse, tonic::Status> {
    c.sessions().create_session(r).await.map(tonic::Response::into_inner)
}

fn assert_status<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, message: &str) {
    match r {
        Err(s) => {
            assert_eq!(s.code(), code, "message: {}", s.message());
            assert!(s.message().contains(message), "{:?} lacks {message:?}", s.message());
        }
        Ok(v) => panic!("expected {code:?}, got {v:?}"),
    }
}

fn signing(r: &CreateSessionResponse) -> SigningCredentials {
    let c = r.credentials.as_ref().unwrap();
    SigningCredentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: c.session_token.clone(),
    }
}

/// Workload certificate (under the intermediate) with its chain.
struct Workload {
    pki: Pki,
    leaf: Issued,
    admin: Issued,
    /// A CA no trust anchor of the daemon names (the fixture's "foreign" root is an anchor).
    rogue: Authority,
}

impl Workload {
    fn new() -> Self {
        let pki = Pki::new();
        let leaf = Pki::client(&pki.intermediate, "workload-1", KeyType::EcdsaP256);
        let admin = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
        let n = now();
        let rogue = Authority::new_root("rogue root", KeyType::EcdsaP256, n - days(1), n + days(30)).unwrap();
        Self {
            pki,
            leaf,
            admin,
            rogue,
        }
    }

    fn start(&self) -> Daemon {
        start_grpc(&self.pki, &subject_of(&self.admin))
    }

    async fn workload(&self, d: &Daemon) -> GrpcClient {
        connect(d, Some((&self.leaf, &[self.pki.intermediate.issued()]))).await
    }
}

#[tokio::test]
async fn create_session_with_the_mtls_identity() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let r = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let creds = r.credentials.as_ref().unwrap();
    assert!(creds.access_key_id.starts_with("ASIA") && creds.access_key_id.len() == 20);
    assert_eq!(creds.secret_access_key.len(), 40);
    assert_eq!(r.role_arn, ROLE);
    assert_eq!(r.source_identity, "CN=workload-1");
    assert_eq!(
        r.assumed_role_arn,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{}", w.leaf.serial_hex)
    );
    assert!(
        r.subject_arn
            .starts_with("arn:aws:rolesanywhere:us-east-1:123456789012:subject/")
    );
    // Same identity and request moments later: the same credentials (shared cache with REST).
    let again = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    assert_eq!(again.credentials, r.credentials);
    // Both calls are counted on the operations listener.
    let metrics = d.metrics_text();
    assert!(
        metrics.contains(r#"rolegate_requests_total{api="grpc",operation="CreateSession",outcome="allow"} 2"#),
        "{metrics}"
    );
    // One session minted: the second answer reused it.
    assert!(
        metrics.contains(&format!("rolegate_sessions_issued_total{{role=\"{ROLE}\"}} 1")),
        "{metrics}"
    );
    // One audit event per call, with the certificate and what was issued (never the secret).
    let serial = ClientCertificate::parse(w.leaf.cert_der.clone())
        .unwrap()
        .serial_hex()
        .to_owned();
    let audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(std::time::Duration::from_secs(10)).ok())
        .find(|l| l.contains("audit") && l.contains("CreateSession") && l.contains(&creds.access_key_id))
        .expect("an audit event for the gRPC CreateSession");
    for needle in [
        serial.as_str(),
        "grpc",
        ROLE,
        "trust-anchor/main",
        "profile/main",
        "CN=workload-1",
    ] {
        assert!(audit.contains(needle), "audit event lacks {needle}: {audit}");
    }
    assert!(!audit.contains(creds.secret_access_key.as_str()));
}

#[tokio::test]
async fn create_session_errors_map_to_grpc_codes() {
    let w = Workload::new();
    let d = w.start();
    let anonymous = connect(&d, None).await;
    assert_status(
        create(&anonymous, create_request("main", ROLE, "main")).await,
        Code::Unauthenticated,
        "CreateSession needs a client certificate: connect with mTLS",
    );
    let stranger = Pki::client(&w.rogue, "stranger", KeyType::EcdsaP256);
    let untrusted = connect(&d, Some((&stranger, &[]))).await;
    // Why the certificate is refused, in the words of REST's CreateSession (DESIGN §2c).
    assert_status(
        create(&untrusted, create_request("main", ROLE, "main")).await,
        Code::PermissionDenied,
        UNKNOWN_ISSUER,
    );
    assert_status(
        create(&untrusted, create_request("main", ROLE, "nope")).await,
        Code::NotFound,
        &format!("Trust anchor {} was not found.", anchor_arn("nope")),
    );
    let n = now();
    let not_after = n - days(1);
    let expired = w
        .pki
        .root
        .client(&ClientSpec::new("old", KeyType::EcdsaP256, n - days(10), not_after))
        .unwrap();
    let expired = connect(&d, Some((&expired, &[]))).await;
    assert_status(
        create(&expired, create_request("main", ROLE, "main")).await,
        Code::PermissionDenied,
        &expired_message(not_after.unix_timestamp()),
    );
    // The mTLS chain follows the REST header's rule: each certificate once.
    let inter = w.pki.intermediate.issued();
    let repeated = connect(&d, Some((&w.leaf, &[inter, inter]))).await;
    assert_status(
        create(&repeated, create_request("main", ROLE, "main")).await,
        Code::PermissionDenied,
        "Untrusted certificate: intermediate certificate #2 repeats intermediate certificate #1; \
         send each certificate of the chain once",
    );
    let c = w.workload(&d).await;
    // Trusted by "main" but not by the anchor named in the request.
    assert_status(
        create(&c, create_request("main", ROLE, "foreign")).await,
        Code::PermissionDenied,
        UNKNOWN_ISSUER,
    );
    assert_status(
        create(&c, create_request("main", ROLE, "nope")).await,
        Code::NotFound,
        &format!("Trust anchor {} was not found.", anchor_arn("nope")),
    );
    // A profile ARN given for the trust anchor (swapped flags) is no trust anchor ARN at all.
    let mut swapped = create_request("main", ROLE, "main");
    swapped.trust_anchor_arn = profile_arn("main");
    assert_status(
        create(&c, swapped).await,
        Code::InvalidArgument,
        &format!(
            "1 validation error detected: Value '{}' at 'trustAnchorArn' failed to satisfy constraint: \
             Member must be a trust anchor ARN, arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID",
            profile_arn("main")
        ),
    );
    assert_status(
        create(&c, create_request("main", "deploy", "main")).await,
        Code::InvalidArgument,
        "1 validation error detected: Value 'deploy' at 'roleArn' failed to satisfy constraint: \
         Member must be a role ARN, arn:aws:iam::ACCOUNT:role/NAME",
    );
    assert_status(
        create(&c, create_request("main", ROLE_OTHER, "main")).await,
        Code::PermissionDenied,
        &format!(
            "Role {ROLE_OTHER} is not one of the roles of profile {}.",
            profile_arn("main")
        ),
    );
    let mut too_long = create_request("main", ROLE, "main");
    too_long.duration_seconds = Some(10_000);
    assert_status(
        create(&c, too_long).await,
        Code::InvalidArgument,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. \
         It allows at most 7200 seconds; 10000 were asked for.",
    );
    let mut no_profile = create_request("main", ROLE, "main");
    no_profile.profile_arn.clear();
    assert_status(
        create(&c, no_profile).await,
        Code::InvalidArgument,
        "Missing required parameter profileArn (field profile_arn).",
    );
    // A huge ARN is refused by its length, quoted cut: the status fits a gRPC header.
    let huge = format!("{ROLE}{}", "a".repeat(20_000));
    let chars = huge.chars().count();
    assert_status(
        create(&c, create_request("main", &huge, "main")).await,
        Code::InvalidArgument,
        &format!(
            "1 validation error detected: Value '{}…' ({chars} characters) at 'roleArn' failed to satisfy constraint: \
             Member must have length less than or equal to 1011",
            &huge[..256]
        ),
    );
}

#[tokio::test]
async fn trust_policy_denial_is_permission_denied() {
    let pki = Pki::new();
    let setup = Setup {
        pki: &pki,
        extra_toml: String::new(),
        crl_pem: None,
        app_trust_condition: r#","StringEquals":{"aws:PrincipalTag/x509Subject/CN":"someone-else"}"#,
    };
    let d = start(&setup);
    let leaf = Pki::client(&pki.root, "workload-2", KeyType::EcdsaP256);
    let c = connect(&d, Some((&leaf, &[]))).await;
    assert_status(
        create(&c, create_request("main", ROLE, "main")).await,
        Code::PermissionDenied,
        &format!(
            "The trust policy of role {ROLE} does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole"
        ),
    );
}

fn chain_request(duration: Option<u32>) -> AssumeRoleRequest {
    AssumeRoleRequest {
        role_arn: ROLE_CHAINED.to_owned(),
        role_session_name: "chained-session".to_owned(),
        duration_seconds: duration,
        ..Default::default()
    }
}

/// A session policy a token names that the configuration no longer holds (a managed policy
/// removed by a reload) stands as a Deny of everything: left out, its Deny statements would be
/// lost while the session's inline policy still allowed.
#[tokio::test]
async fn a_session_whose_managed_policy_was_removed_is_denied_everything() {
    const NO_DELETE: &str = "arn:aws:iam::123456789012:policy/no-delete";
    let w = Workload::new();
    let d = w.start();
    let config_path = d.dir.path().join("rolegate.toml");
    let without = std::fs::read_to_string(&config_path).unwrap();
    let with = format!(
        "{without}\n[[managed_policy]]\narn = \"{NO_DELETE}\"\ndocument = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}},{{\"Effect\":\"Deny\",\"Action\":\"orders:DeleteOrder\",\"Resource\":\"*\"}}]}}'''\n"
    );
    let admin = connect(&d, Some((&w.admin, &[]))).await;
    let reload = |text: String| {
        std::fs::write(&config_path, text).unwrap();
        let mut admin = admin.admin();
        async move {
            let r = admin.reload(ReloadRequest {}).await.unwrap().into_inner();
            assert!(r.reloaded, "{}", r.error);
        }
    };
    reload(with).await;

    let c = w.workload(&d).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let mut request = chain_request(None);
    request.policy = Some(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"orders:*","Resource":"*"}]}"#.to_owned(),
    );
    request.policy_arns = vec![NO_DELETE.to_owned()];
    let chained = c.assume_role(request, &signing(&session), REGION, now()).await.unwrap();
    let token = chained.credentials.unwrap().session_token;
    let decide = |action: &str| {
        let mut s = c.sessions();
        let r = AuthorizeRequest {
            session_token: token.clone(),
            action: action.to_owned(),
            resource: "arn:aws:orders:::order/1".to_owned(),
            ..Default::default()
        };
        async move { s.authorize(r).await.unwrap().into_inner().decision() }
    };
    assert_eq!(decide("orders:GetOrder").await, Decision::Allow);
    assert_eq!(decide("orders:DeleteOrder").await, Decision::ExplicitDeny);

    reload(without).await;
    assert_eq!(decide("orders:GetOrder").await, Decision::ExplicitDeny);
    assert_eq!(decide("orders:DeleteOrder").await, Decision::ExplicitDeny);
}

#[tokio::test]
async fn assume_role_with_sigv4_metadata() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let creds = signing(&session);
    // Any client can chain: the SigV4 signature, not the TLS identity, authenticates.
    let anonymous = connect(&d, None).await;
    let out = anonymous
        .assume_role(chain_request(Some(900)), &creds, REGION, now())
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_arn,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/chained/chained-session")
    );
    assert_eq!(out.source_identity, "CN=workload-1");
    let credentials = out.credentials.unwrap();
    assert!(credentials.access_key_id.starts_with("ASIA"));
    assert_eq!(out.session_token_size as usize, credentials.session_token.len());
    // STS's MinimumSessionTokenSize pads the token.
    let padded = anonymous
        .assume_role(
            AssumeRoleRequest {
                minimum_session_token_size: Some(3000),
                ..chain_request(Some(900))
            },
            &creds,
            REGION,
            now(),
        )
        .await
        .unwrap();
    let token = padded.credentials.unwrap().session_token;
    assert!((3000..=3001).contains(&token.len()), "{}", token.len());
    assert_eq!(padded.session_token_size as usize, token.len());

    assert_status(
        anonymous
            .assume_role(chain_request(Some(7200)), &creds, REGION, now())
            .await,
        Code::InvalidArgument,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    );
    // Empty required members are missing ones, as STS words it.
    let mut empty = chain_request(None);
    empty.role_arn.clear();
    assert_status(
        anonymous.assume_role(empty, &creds, REGION, now()).await,
        Code::InvalidArgument,
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null \
         (AssumeRoleRequest fields: 'roleArn' is role_arn.)",
    );
    // A gRPC client is told the proto field of each STS member named.
    let mut tagged = chain_request(None);
    tagged.tags = vec![
        rolegate::proto::Tag {
            key: "team".into(),
            value: "a".into(),
        },
        rolegate::proto::Tag {
            key: String::new(),
            value: "b".into(),
        },
    ];
    assert_status(
        anonymous.assume_role(tagged, &creds, REGION, now()).await,
        Code::InvalidArgument,
        "+ (AssumeRoleRequest fields: 'tags.2.member.key' is tags[1].key.)",
    );
    // A signature over another message does not verify for this one.
    let authority = d.endpoint.trim_start_matches("https://").to_owned();
    let mut tampered = signed_assume_role(chain_request(Some(900)), &authority, &creds, REGION, now()).unwrap();
    tampered.get_mut().role_session_name = "other-name".to_owned();
    assert_status(
        anonymous.sessions().assume_role(tampered).await,
        Code::Unauthenticated,
        "signature",
    );
    // No signature at all.
    assert_status(
        anonymous.sessions().assume_role(chain_request(None)).await,
        Code::Unauthenticated,
        "",
    );
    // The trust policy of the app role does not name the chained role's sessions.
    let chained = signing_from(&out_credentials(&anonymous, &creds).await);
    let mut back = chain_request(None);
    back.role_arn = ROLE.to_owned();
    assert_status(
        anonymous.assume_role(back, &chained, REGION, now()).await,
        Code::PermissionDenied,
        &format!("is not authorized to perform: sts:AssumeRole on resource: {ROLE}"),
    );
}

/// A request message as the bytes a client sends: one built from another `rolegate.v1`, or
/// by another protobuf library, encodes what prost would encode otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
struct RawMessage(Vec<u8>);

impl prost::Message for RawMessage {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent, never decoded.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// AssumeRole with `frames` (each a message) as the call's body, signed over `signed`.
async fn raw_assume_role(
    c: &GrpcClient,
    frames: &[Vec<u8>],
    signed: &[u8],
    creds: &SigningCredentials,
) -> Result<rolegate::proto::AssumeRoleResponse, tonic::Status> {
    use rolegate::sigv4::{HttpRequest, sha256_hex, sign_hmac};
    let authority = c.authority().to_owned();
    let headers = [("host", authority.as_str())];
    let unsigned = HttpRequest {
        method: "POST",
        path: rolegate::service::grpc::ASSUME_ROLE_PATH,
        query: "",
        headers: &headers,
    };
    let added = sign_hmac(
        &unsigned,
        &sha256_hex(signed),
        &creds.access_key_id,
        &creds.secret_access_key,
        Some(&creds.session_token),
        REGION,
        "sts",
        now(),
    );
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in added {
        let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes()).unwrap();
        metadata.insert(key, value.parse().unwrap());
    }
    let messages: Vec<RawMessage> = frames.iter().cloned().map(RawMessage).collect();
    let mut request = tonic::Request::new(tokio_stream::iter(messages));
    *request.metadata_mut() = metadata;
    let mut grpc = tonic::client::Grpc::new(c.channel());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<RawMessage, rolegate::proto::AssumeRoleResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/rolegate.v1.Sessions/AssumeRole");
    grpc.client_streaming(request, path, codec)
        .await
        .map(tonic::Response::into_inner)
}

/// The signature covers the message as the client sent it: a field this build does not know
/// and fields out of prost's order verify; a body of two messages is refused.
#[tokio::test]
async fn assume_role_signature_covers_the_message_as_sent() {
    use prost::Message;
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let creds = signing(&create(&c, create_request("main", ROLE, "main")).await.unwrap());
    let known = chain_request(Some(900)).encode_to_vec();
    // Field 15, length-delimited "v2": unknown to this build, kept in the signed bytes.
    let mut unknown_field = known.clone();
    unknown_field.extend_from_slice(b"\x7a\x02v2");
    let out = raw_assume_role(&c, std::slice::from_ref(&unknown_field), &unknown_field, &creds)
        .await
        .unwrap();
    assert!(
        out.assumed_role_arn.ends_with("/chained/chained-session"),
        "{}",
        out.assumed_role_arn
    );
    // The same fields in another order (role_session_name first).
    let reordered = [
        AssumeRoleRequest {
            role_session_name: "chained-session".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        AssumeRoleRequest {
            role_arn: chain_request(None).role_arn,
            duration_seconds: Some(900),
            ..Default::default()
        }
        .encode_to_vec(),
    ]
    .concat();
    assert_ne!(reordered, known);
    raw_assume_role(&c, std::slice::from_ref(&reordered), &reordered, &creds)
        .await
        .unwrap();
    // A signature over the re-encoding, not over what was sent, does not verify.
    assert_status(
        raw_assume_role(&c, &[unknown_field], &known, &creds).await,
        Code::Unauthenticated,
        "signature",
    );
    // Two messages in a unary call: the signature cannot cover "the" message.
    assert_status(
        raw_assume_role(&c, &[known.clone(), known.clone()], &known, &creds).await,
        Code::InvalidArgument,
        "A call of AssumeRole carries exactly one request message.",
    );
}

/// Every `rolegate.v1` call is unary: a body of two messages is refused, not answered from
/// the first (a proxy reading the last would see another request than the one decided on).
#[tokio::test]
async fn a_unary_call_of_two_messages_is_refused() {
    use prost::Message;
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let first = create_request("main", ROLE, "main").encode_to_vec();
    let second = create_request("main", "arn:aws:iam::123456789012:role/other", "main").encode_to_vec();
    for (path, operation) in [
        ("/rolegate.v1.Sessions/CreateSession", "CreateSession"),
        ("/rolegate.v1.Sessions/Authorize", "Authorize"),
    ] {
        let messages = vec![RawMessage(first.clone()), RawMessage(second.clone())];
        let mut grpc = tonic::client::Grpc::new(c.channel());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<RawMessage, rolegate::proto::CreateSessionResponse>::default();
        let answer = grpc
            .client_streaming(
                tonic::Request::new(tokio_stream::iter(messages)),
                http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .map(tonic::Response::into_inner);
        assert_status(
            answer,
            Code::InvalidArgument,
            &format!("A call of {operation} carries exactly one request message."),
        );
    }
    // One message is answered as ever.
    create(&c, create_request("main", ROLE, "main")).await.unwrap();
}

/// A method rolegate does not serve is UNIMPLEMENTED, naming the method asked for (when it
/// has a method's shape) beside the methods served: one of a service served (health's `List`,
/// which newer health clients call) as much as one of a service that is not.
#[tokio::test]
async fn an_unknown_method_is_named_with_those_served() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let served = "it serves rolegate.v1.Sessions (CreateSession, AssumeRole, VerifyRequest, Authorize), \
                  rolegate.v1.Admin (Status, Reload), grpc.health.v1.Health (Check, Watch) and server reflection \
                  (grpc.reflection.v1 and v1alpha, ServerReflectionInfo).";
    for (path, named) in [
        ("/grpc.health.v1.Health/List", " /grpc.health.v1.Health/List"),
        (
            "/rolegate.v1.Sessions/GetCallerIdentity",
            " /rolegate.v1.Sessions/GetCallerIdentity",
        ),
        ("/example.Other/Call", " /example.Other/Call"),
        // Not a method's shape: not repeated.
        ("/rolegate.v1.Sessions/Get%20Caller", ""),
    ] {
        let mut grpc = tonic::client::Grpc::new(c.channel());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<RawMessage, RawMessage>::default();
        let answer = grpc
            .unary(
                tonic::Request::new(RawMessage(Vec::new())),
                http::uri::PathAndQuery::from_maybe_shared(path).unwrap(),
                codec,
            )
            .await;
        assert_status(
            answer,
            Code::Unimplemented,
            &format!("rolegate serves no gRPC method{named}: {served}"),
        );
    }
}

/// Metadata over `max_header_bytes` is refused in gRPC's own terms (RESOURCE_EXHAUSTED, with
/// the error's name), not with the bare HTTP 431 a client reads as UNKNOWN.
#[tokio::test]
async fn oversized_metadata_is_resource_exhausted() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let mut request = tonic::Request::new(create_request("main", ROLE, "main"));
    let pad = "p".repeat(70 * 1024);
    request.metadata_mut().insert("x-pad", pad.parse().unwrap());
    let status = c.sessions().create_session(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    assert!(
        status.message().starts_with("The request's header fields take ")
            && status.message().ends_with(" bytes; at most 65536 are accepted."),
        "{}",
        status.message()
    );
    assert_eq!(
        status.metadata().get("x-amzn-errortype").unwrap(),
        "RequestEntityTooLarge"
    );
    assert!(
        status.metadata().get("x-rolegate-reason").is_some(),
        "{:?}",
        status.metadata()
    );
    // Within the limit, the call is answered.
    create(&c, create_request("main", ROLE, "main")).await.unwrap();
}

async fn out_credentials(c: &GrpcClient, creds: &SigningCredentials) -> rolegate::proto::Credentials {
    c.assume_role(chain_request(None), creds, REGION, now())
        .await
        .unwrap()
        .credentials
        .unwrap()
}

fn signing_from(c: &rolegate::proto::Credentials) -> SigningCredentials {
    SigningCredentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: c.session_token.clone(),
    }
}

/// A request to an internal API signed by the `aws-sigv4` crate, as VerifyRequest receives it.
fn aws_signed(
    creds: &SigningCredentials,
    service: &str,
    time: SystemTime,
    path_and_query: &str,
    body: &[u8],
) -> VerifyRequestRequest {
    aws_signed_body(creds, service, time, path_and_query, Some(body))
}

/// As [`aws_signed`], scoped to `region` (and VerifyRequest told so).
fn aws_signed_in_region(
    creds: &SigningCredentials,
    region: &str,
    path_and_query: &str,
    body: &[u8],
) -> VerifyRequestRequest {
    let mut r = aws_signed_scoped(
        creds,
        ("execute-api", region),
        SystemTime::now(),
        path_and_query,
        Some(body),
        false,
    );
    r.region = region.to_owned();
    r
}

/// `body: None` signs with `UNSIGNED-PAYLOAD`.
fn aws_signed_body(
    creds: &SigningCredentials,
    service: &str,
    time: SystemTime,
    path_and_query: &str,
    body: Option<&[u8]>,
) -> VerifyRequestRequest {
    aws_signed_scoped(creds, (service, REGION), time, path_and_query, body, false)
}

/// `creds` as the AWS SDK's signer takes them.
fn sdk_credentials(creds: &SigningCredentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        Some(creds.session_token.clone()),
        None,
        "test",
    )
}

/// Signed as the SDK signs for `service` in `region`; with `declare_payload`, the payload's
/// hash (or `UNSIGNED-PAYLOAD`) declared in `x-amz-content-sha256`, as S3 clients send it.
fn aws_signed_scoped(
    creds: &SigningCredentials,
    (service, region): (&str, &str),
    time: SystemTime,
    path_and_query: &str,
    body: Option<&[u8]>,
    declare_payload: bool,
) -> VerifyRequestRequest {
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = sdk_credentials(creds).into();
    let mut settings = SigningSettings::default();
    if declare_payload {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("https://{API_HOST}{path_and_query}");
    let base = [("host", API_HOST), ("content-type", "application/json")];
    let signable_body = body.map_or(SignableBody::UnsignedPayload, SignableBody::Bytes);
    let signable = SignableRequest::new("POST", &url, base.iter().copied(), signable_body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers: Vec<Header> = base
        .iter()
        .map(|(n, v)| Header {
            name: (*n).to_owned(),
            value: (*v).to_owned(),
        })
        .collect();
    headers.extend(instructions.headers().map(|(n, v)| Header {
        name: n.to_owned(),
        value: v.to_owned(),
    }));
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    VerifyRequestRequest {
        method: "POST".into(),
        path: path.into(),
        query: query.into(),
        headers,
        payload_hash: body.map_or("UNSIGNED-PAYLOAD".to_owned(), rolegate::sigv4::sha256_hex),
        service: "execute-api".into(),
        region: String::new(),
        ..Default::default()
    }
}

/// `value` percent-encoded as SigV4 encodes query values (unreserved characters kept).
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn verify(c: &GrpcClient, r: VerifyRequestRequest) -> Result<VerifyRequestResponse, tonic::Status> {
    c.sessions().verify_request(r).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn verify_request_on_aws_sigv4_signed_requests() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let creds = signing(&session);
    let body = br#"{"order":42}"#;

    let valid = verify(
        &c,
        aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42?x=1&a=b", body),
    )
    .await
    .unwrap();
    assert!(valid.valid, "{valid:?}");
    // What the signature covers, for the service to know what it may trust.
    assert_eq!(
        valid.signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
    let caller = valid.caller.unwrap();
    assert_eq!(caller.role_arn, ROLE);
    assert_eq!(caller.account, ACCOUNT);
    assert_eq!(caller.session_name, w.leaf.serial_hex);
    assert_eq!(caller.source_identity, "CN=workload-1");
    assert_eq!(caller.access_key_id, creds.access_key_id);
    assert_eq!(caller.expiration, session.credentials.as_ref().unwrap().expiration);
    assert!(
        caller
            .tags
            .iter()
            .any(|t| t.key == "x509Subject/CN" && t.value == "workload-1"),
        "{:?}",
        caller.tags
    );

    // A request signed with a wrong secret does not verify; its audit event still names the
    // key it claims, the anchor the verifying service chained to, and what it asked about.
    let forged = SigningCredentials {
        secret_access_key: "not-the-secret".to_owned(),
        ..creds.clone()
    };
    let mut asked = aws_signed(&forged, "execute-api", SystemTime::now(), "/orders/7", body);
    asked.action = Some("orders:GetOrder".to_owned());
    asked.resource = Some("arn:aws:orders:::order/7".to_owned());
    let refused = verify(&c, asked).await.unwrap();
    assert_eq!(
        (refused.valid, refused.error_code.as_str()),
        (false, "SignatureDoesNotMatch")
    );
    let audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains("audit") && l.contains("VerifyRequest") && l.contains("orders:GetOrder"))
        .expect("an audit event for the refused VerifyRequest");
    for needle in [
        format!("access_key_id=\"{}\"", creds.access_key_id),
        format!("trust_anchor=\"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/main\""),
        "resource=\"arn:aws:orders:::order/7\"".to_owned(),
    ] {
        assert!(audit.contains(&needle), "audit event lacks {needle}: {audit}");
    }

    // An unsigned payload is the S3 family's: for another service the body would go
    // unauthenticated. The platform's own service and payload_hash say so, whatever the
    // request's scope: an invalid argument, before any signature is checked.
    let mut unsigned = aws_signed_body(&creds, "s3", SystemTime::now(), "/orders/42", None);
    assert_status(
        verify(&c, unsigned.clone()).await,
        Code::InvalidArgument,
        "payload_hash UNSIGNED-PAYLOAD is accepted for the S3 family only (s3, s3-object-lambda, s3-outposts, \
         s3express), not for 'execute-api': the body would go unauthenticated; give the SHA-256 of the body.",
    );
    unsigned.payload_hash = rolegate::sigv4::sha256_hex(body);
    assert!(!verify(&c, unsigned).await.unwrap().valid);
    // An S3 request that declares UNSIGNED-PAYLOAD signed that marker, not its body: verified
    // with the marker; with the body's hash, which a platform computes for every request, it
    // is refused with what to give instead (the platform expects the body checked, and it
    // is not: valid would vouch for any body).
    let declared_unsigned = aws_signed_scoped(&creds, ("s3", REGION), SystemTime::now(), "/bucket/key", None, true);
    assert!(
        declared_unsigned
            .headers
            .iter()
            .any(|h| h.name == "x-amz-content-sha256" && h.value == "UNSIGNED-PAYLOAD"),
        "{:?}",
        declared_unsigned.headers
    );
    let with_hash = |payload_hash: String| VerifyRequestRequest {
        service: "s3".into(),
        payload_hash,
        ..declared_unsigned.clone()
    };
    let answer = verify(&c, with_hash("UNSIGNED-PAYLOAD".to_owned())).await.unwrap();
    assert!(answer.valid, "{answer:?}");
    let answer = verify(&c, with_hash(rolegate::sigv4::sha256_hex(body))).await.unwrap();
    assert_eq!(
        (answer.valid, answer.error_code.as_str(), answer.reason.as_str()),
        (
            false,
            "XAmzContentSHA256Mismatch",
            "The request declares x-amz-content-sha256: UNSIGNED-PAYLOAD: its signature does not cover the body. \
             Give payload_hash UNSIGNED-PAYLOAD to verify it as such (S3 takes any body with it; check the body \
             against any checksum header the request signed)."
        ),
    );
    // A scope the platform names that no request can be scoped to is its own mistake: an
    // invalid argument, not a client's signature that does not match.
    for (field, value, message) in [
        (
            "service",
            "*",
            "service must be a signing name as requests are scoped to it (such as execute-api: lower-case letters, digits and hyphens), of at most 64 characters.",
        ),
        (
            "service",
            "Execute-API",
            "service must be a signing name as requests are scoped to it (such as execute-api: lower-case letters, digits and hyphens), of at most 64 characters.",
        ),
        (
            "region",
            "US-EAST-1",
            "region must be a signing name as requests are scoped to it (such as us-east-1: lower-case letters, digits and hyphens), of at most 64 characters.",
        ),
    ] {
        let mut r = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
        match field {
            "service" => r.service = value.into(),
            _ => r.region = value.into(),
        }
        assert_status(verify(&c, r).await, Code::InvalidArgument, message);
    }
    // A payload hash other than the one the request declares in x-amz-content-sha256 is not
    // the signed body's: a replayer could have kept the header and changed the body.
    let mut declared = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
    declared.headers.push(Header {
        name: "X-Amz-Content-Sha256".into(),
        value: rolegate::sigv4::sha256_hex(b"another body"),
    });
    let r = verify(&c, declared).await.unwrap();
    assert_eq!(
        (r.valid, r.error_code.as_str(), r.reason.as_str()),
        (
            false,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        ),
        "{r:?}"
    );

    let mut tampered = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
    tampered.path = "/orders/43".into();
    let r = verify(&c, tampered).await.unwrap();
    assert_eq!(
        (r.valid, r.error_code.as_str()),
        (false, "SignatureDoesNotMatch"),
        "{r:?}"
    );
    assert!(r.caller.is_none());

    let mut other_body = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
    other_body.payload_hash = rolegate::sigv4::sha256_hex(b"{}");
    let r = verify(&c, other_body).await.unwrap();
    assert_eq!((r.valid, r.error_code.as_str()), (false, "SignatureDoesNotMatch"));

    let old = SystemTime::now() - Duration::from_secs(3600);
    let r = verify(&c, aws_signed(&creds, "execute-api", old, "/orders/42", body))
        .await
        .unwrap();
    assert_eq!(
        (r.valid, r.error_code.as_str()),
        (false, "SignatureDoesNotMatch"),
        "{r:?}"
    );
    assert!(r.reason.starts_with("Signature expired: "), "{}", r.reason);

    let r = verify(&c, aws_signed(&creds, "s3", SystemTime::now(), "/orders/42", body))
        .await
        .unwrap();
    assert_eq!(
        (r.valid, r.error_code.as_str()),
        (false, "SignatureDoesNotMatch"),
        "{r:?}"
    );
    assert!(r.reason.contains("execute-api"), "{}", r.reason);

    // A header HTTP could not have carried is refused, not verified.
    let mut folded = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
    folded.headers[1].value = "application/json\nx-tenant: other".into();
    assert_status(
        verify(&c, folded).await,
        Code::InvalidArgument,
        "headers[1] is no HTTP header: its name must be a token and its value free of control characters.",
    );

    // ...and so are a method and a path HTTP could not have carried.
    for (method, path, message) in [
        (
            "GE T",
            "/orders/42",
            "method is no HTTP method: it must be a token (letters, digits and !#$%&'*+-.^_`|~).",
        ),
        (
            "POST",
            "orders/42",
            "path is no HTTP path: it starts with '/' and holds no control characters, '?' or '#' (empty means '/'); \
             give the query string in query, without its '?'.",
        ),
        (
            "POST",
            "/orders/42\n",
            "path is no HTTP path: it starts with '/' and holds no control characters, '?' or '#' (empty means '/'); \
             give the query string in query, without its '?'.",
        ),
        // The request target passed whole (Go's RequestURI) could only fail the signature.
        (
            "POST",
            "/orders/42?expand=items",
            "path is no HTTP path: it starts with '/' and holds no control characters, '?' or '#' (empty means '/'); \
             give the query string in query, without its '?'.",
        ),
    ] {
        let mut r = aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body);
        (r.method, r.path) = (method.into(), path.into());
        assert_status(verify(&c, r).await, Code::InvalidArgument, message);
    }
    // The authorization question is checked whatever the signature: a platform's wrong
    // arguments are refused for a forged request as for a good one.
    for request in [
        aws_signed(&forged, "execute-api", SystemTime::now(), "/orders/42", body),
        aws_signed(&creds, "execute-api", SystemTime::now(), "/orders/42", body),
    ] {
        let mut r = request;
        r.action = Some("orders:*".to_owned());
        assert_status(
            verify(&c, r).await,
            Code::InvalidArgument,
            "The action 'orders:*' must have the form service:Action (at most 128 characters, no wildcards).",
        );
    }

    // A presigned S3 URL signs UNSIGNED-PAYLOAD whatever the body: the body's hash, which the
    // platform is told to give, stands for it.
    let presigned = {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
        let identity = sdk_credentials(&creds).into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = format!("https://{API_HOST}/bucket/key");
        let signable = SignableRequest::new(
            "PUT",
            &url,
            [("host", API_HOST)].into_iter(),
            SignableBody::UnsignedPayload,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencoding(v)))
            .collect();
        VerifyRequestRequest {
            method: "PUT".into(),
            path: "/bucket/key".into(),
            query: query.join("&"),
            headers: vec![Header {
                name: "host".into(),
                value: API_HOST.into(),
            }],
            payload_hash: rolegate::sigv4::sha256_hex(b"the object"),
            service: "s3".into(),
            ..Default::default()
        }
    };
    let r = verify(&c, presigned).await.unwrap();
    assert!(r.valid, "{r:?}");

    // Callers of VerifyRequest must present a trusted client certificate.
    let anonymous = connect(&d, None).await;
    assert_status(
        verify(
            &anonymous,
            aws_signed(&creds, "execute-api", SystemTime::now(), "/", body),
        )
        .await,
        Code::Unauthenticated,
        "VerifyRequest needs a client certificate",
    );
    let stranger = Pki::client(&w.rogue, "stranger", KeyType::EcdsaP256);
    let untrusted = connect(&d, Some((&stranger, &[]))).await;
    assert_status(
        verify(
            &untrusted,
            aws_signed(&creds, "execute-api", SystemTime::now(), "/", body),
        )
        .await,
        Code::PermissionDenied,
        "does not chain to any enabled trust anchor",
    );
    // A request that does not verify is a successful call, counted (and audited) as the
    // refusal its answer is.
    let metrics = d.metrics_text();
    for (outcome, count) in [("allow", 3), ("SignatureDoesNotMatch", 8)] {
        let sample =
            format!(r#"rolegate_requests_total{{api="grpc",operation="VerifyRequest",outcome="{outcome}"}} {count}"#);
        assert!(metrics.contains(&sample), "{sample} in\n{metrics}");
    }
}

#[tokio::test]
async fn authorize_evaluates_role_and_session_policies() {
    let w = Workload::new();
    let d = w.start();
    let c = w.workload(&d).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let chained = c
        .assume_role(chain_request(None), &signing(&session), REGION, now())
        .await
        .unwrap();
    let chained_creds = signing_from(chained.credentials.as_ref().unwrap());
    let ask = |token: &str, action: &str, resource: &str| AuthorizeRequest {
        session_token: token.to_owned(),
        action: action.to_owned(),
        resource: resource.to_owned(),
        ..Default::default()
    };
    let authorize = |r: AuthorizeRequest| {
        let mut s = c.sessions();
        async move { s.authorize(r).await.map(tonic::Response::into_inner) }
    };
    let token = chained_creds.session_token.as_str();
    let allow = authorize(ask(token, "orders:GetOrder", "arn:aws:orders:::order/1"))
        .await
        .unwrap();
    assert_eq!(allow.decision(), Decision::Allow);
    // The answer names the session the token is of, for the platform's own log.
    let caller = allow.caller.as_ref().expect("the caller");
    assert_eq!(
        (caller.role_arn.as_str(), caller.session_name.as_str()),
        (ROLE_CHAINED, "chained-session")
    );
    assert_eq!(caller.access_key_id, chained_creds.access_key_id);
    assert_eq!(
        (
            allow.policy.as_str(),
            allow.statement_index,
            allow.statement_sid.as_str()
        ),
        ("role-policy/0", 0, "ReadOrders")
    );
    let deny = authorize(ask(token, "orders:GetOrder", "arn:aws:orders:::secret/1"))
        .await
        .unwrap();
    assert_eq!(deny.decision(), Decision::ExplicitDeny);
    assert_eq!((deny.statement_index, deny.statement_sid.as_str()), (1, "NoSecrets"));
    assert!(deny.explanation.contains("explicitly denied"), "{}", deny.explanation);
    let implicit = authorize(ask(token, "orders:DeleteOrder", "arn:aws:orders:::order/1"))
        .await
        .unwrap();
    assert_eq!(
        (implicit.decision(), implicit.statement_index),
        (Decision::ImplicitDeny, -1)
    );
    // A session policy narrows the role's permissions.
    let mut narrowed = chain_request(None);
    narrowed.policy = Some(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"OnlyOne","Effect":"Allow","Action":"orders:GetOrder","Resource":"arn:aws:orders:::order/1"}]}"#
            .to_owned(),
    );
    let narrow = c
        .assume_role(narrowed, &signing(&session), REGION, now())
        .await
        .unwrap();
    let narrow_token = narrow.credentials.unwrap().session_token;
    let r = authorize(ask(&narrow_token, "orders:GetOrder", "arn:aws:orders:::order/2"))
        .await
        .unwrap();
    assert_eq!(r.decision(), Decision::ImplicitDeny);
    assert!(
        r.explanation.contains("no session policy allows it"),
        "{}",
        r.explanation
    );
    // The statements that nearly applied are named with their policy.
    assert!(
        r.explanation.ends_with(
            " Statements matching the action but not applying: session-policy/0 Statement[0] (resource does not match)."
        ),
        "{}",
        r.explanation
    );
    let r = authorize(ask(&narrow_token, "orders:GetOrder", "arn:aws:orders:::order/1"))
        .await
        .unwrap();
    assert_eq!(r.decision(), Decision::Allow);
    // Keys derived from the session cannot be supplied.
    let mut forged = ask(token, "orders:GetOrder", "*");
    forged.context.insert("aws:PrincipalArn".into(), ROLE.into());
    assert_status(
        authorize(forged).await,
        Code::InvalidArgument,
        "The context key 'aws:PrincipalArn' is derived from the session by rolegate and cannot be supplied.",
    );
    // One key in two spellings is refused, not read as one key of two values (which a
    // NotIpAddress Deny would let through).
    let mut twice = ask(token, "orders:GetOrder", "*");
    twice.context.insert("aws:SourceIp".into(), "198.51.100.7".into());
    twice.context.insert("AWS:SOURCEIP".into(), "10.1.2.3".into());
    assert_status(
        authorize(twice).await,
        Code::InvalidArgument,
        "is given twice, also as '",
    );
    assert_status(
        authorize(ask("garbage", "orders:GetOrder", "*")).await,
        Code::Unauthenticated,
        "invalid",
    );
    // Values matched against (caller-supplied) policy patterns are bounded.
    let long = format!("arn:aws:orders:::order/{}", "1".repeat(2048));
    assert_status(
        authorize(ask(token, "orders:GetOrder", &long)).await,
        Code::InvalidArgument,
        "The resource has 2071 characters; at most 2048 are accepted.",
    );

    // VerifyRequest with an action authorizes too.
    let mut vr = aws_signed(&chained_creds, "execute-api", SystemTime::now(), "/orders/1", b"");
    vr.action = Some("orders:GetOrder".into());
    vr.resource = Some("arn:aws:orders:::secret/x".into());
    let r = verify(&c, vr).await.unwrap();
    assert!(r.valid);
    assert_eq!(r.authorization.unwrap().decision(), Decision::ExplicitDeny);
    // aws:RequestedRegion is the region the request was signed for (HomeRegionOnly denies
    // any other), unless the caller says otherwise.
    let decide_in = async |region: &str, context: &[(&str, &str)]| {
        let mut vr = aws_signed_in_region(&chained_creds, region, "/orders/1", b"");
        vr.action = Some("orders:GetOrder".into());
        vr.context = context
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let r = verify(&c, vr).await.unwrap();
        assert!(r.valid, "{r:?}");
        let a = r.authorization.unwrap();
        (a.decision(), a.statement_sid)
    };
    assert_eq!(
        decide_in("eu-west-1", &[]).await,
        (Decision::ExplicitDeny, "HomeRegionOnly".to_owned())
    );
    assert_eq!(
        decide_in("us-east-1", &[]).await,
        (Decision::Allow, "ReadOrders".to_owned())
    );
    assert_eq!(
        decide_in("eu-west-1", &[("aws:requestedregion", "us-east-1")]).await,
        (Decision::Allow, "ReadOrders".to_owned())
    );
    // The region is no key of the caller's: 50 of its own are still allowed.
    let keys: Vec<String> = (0..50).map(|n| format!("orders:k{n}")).collect();
    let fifty: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    assert_eq!(
        decide_in("us-east-1", &fifty).await,
        (Decision::Allow, "ReadOrders".to_owned())
    );
    // Denying decisions are counted (and audited) as denials.
    let metrics = d.metrics_text();
    for (operation, outcome, count) in [
        ("Authorize", "allow", 2),
        ("Authorize", "AccessDenied", 3),
        ("VerifyRequest", "AccessDenied", 2),
        ("VerifyRequest", "allow", 3),
    ] {
        let sample =
            format!(r#"rolegate_requests_total{{api="grpc",operation="{operation}",outcome="{outcome}"}} {count}"#);
        assert!(metrics.contains(&sample), "{sample} in\n{metrics}");
    }

    // A multi-valued key (a request setting several tags) in context_values: a
    // ForAnyValue condition reads each value, as `simulate --context` repeated reads them.
    let tagged = |keys: &[&str]| {
        let mut r = ask(token, "orders:GetOrder", "arn:aws:orders:::order/1");
        r.context_values.insert(
            "aws:TagKeys".into(),
            ContextValues {
                values: keys.iter().map(|k| (*k).to_owned()).collect(),
            },
        );
        r
    };
    let r = authorize(tagged(&["public", "secret"])).await.unwrap();
    assert_eq!(
        (r.decision(), r.statement_sid.as_str()),
        (Decision::ExplicitDeny, "NoSecretTag")
    );
    let r = authorize(tagged(&["public", "team"])).await.unwrap();
    assert_eq!(
        (r.decision(), r.statement_sid.as_str()),
        (Decision::Allow, "ReadOrders")
    );
    let mut both = tagged(&["public"]);
    both.context.insert("aws:TagKeys".into(), "team".into());
    assert_status(
        authorize(both).await,
        Code::InvalidArgument,
        "The context key 'aws:TagKeys' is in both context and context_values.",
    );
    assert_status(
        authorize(tagged(&[])).await,
        Code::InvalidArgument,
        "The context key 'aws:TagKeys' in context_values has no values; give at least one.",
    );

    // A session policy of 300 short patterns against fifty long values of the
    // caller's: refused once the request's matching bound is spent (it took 1.5 s of a
    // worker thread), not decided on the matches made so far.
    let patterns: Vec<String> = (0..300).map(|i| format!("\"*aaaaa{i:03}\"")).collect();
    let mut dense = chain_request(None);
    dense.policy = Some(format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"orders:GetOrder","Resource":"*","Condition":{{"StringLike":{{"orders:prefix":[{}]}}}}}}]}}"#,
        patterns.join(",")
    ));
    let dense = c.assume_role(dense, &signing(&session), REGION, now()).await.unwrap();
    let dense_token = dense.credentials.unwrap().session_token;
    let prefixes = |values: Vec<String>| {
        let mut r = ask(&dense_token, "orders:GetOrder", "arn:aws:orders:::order/1");
        r.context_values
            .insert("orders:prefix".into(), ContextValues { values });
        r
    };
    let long: Vec<String> = (0..50).map(|i| format!("{}!{i:02}", "a".repeat(2045))).collect();
    assert_status(
        authorize(prefixes(long)).await,
        Code::PermissionDenied,
        "performing orders:GetOrder on arn:aws:orders:::order/1: refused undecided: matching the policies' \
         wildcard patterns against this request's values takes more work than rolegate allows one request",
    );
    let r = authorize(prefixes(vec!["x/aaaaa042".into()])).await.unwrap();
    assert_eq!(r.decision(), Decision::Allow);
    let fifty_one: Vec<String> = (0..51).map(|n| format!("k{n}")).collect();
    let fifty_one: Vec<&str> = fifty_one.iter().map(String::as_str).collect();
    assert_status(
        authorize(tagged(&fifty_one)).await,
        Code::InvalidArgument,
        "The context key 'aws:TagKeys' has 51 values; at most 50 are accepted.",
    );
    let mut vr = aws_signed(&chained_creds, "execute-api", SystemTime::now(), "/orders/1", b"");
    vr.action = Some("orders:GetOrder".into());
    vr.context_values.insert(
        "aws:TagKeys".into(),
        ContextValues {
            values: vec!["secret".into(), "public".into()],
        },
    );
    let r = verify(&c, vr).await.unwrap();
    assert_eq!(r.authorization.unwrap().decision(), Decision::ExplicitDeny);
}

/// gRPC AssumeRole draws from its access key's bucket as STS does, and only once the
/// signature proved the key: calls signed with a wrong secret spend nothing.
/// A CRL revoking a certificate after it got a session: `Sessions.Authorize` refuses that
/// session and the one chained from it (PERMISSION_DENIED, with an ErrorInfo), and answers for
/// the sessions of the CA's other certificates as before.
#[tokio::test]
async fn authorize_refuses_the_sessions_of_a_revoked_certificate() {
    let w = Workload::new();
    let d = start_grpc_revoking(&w.pki, &subject_of(&w.admin), "", &[]);
    let revoked = Pki::client(&w.pki.root, "workload-2", KeyType::EcdsaP256);
    let c = connect(&d, Some((&revoked, &[]))).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let chained = c
        .assume_role(chain_request(None), &signing(&session), REGION, now())
        .await
        .unwrap();
    let kept = create(&w.workload(&d).await, create_request("main", ROLE, "main"))
        .await
        .unwrap();
    let platform = connect(&d, Some((&w.admin, &[]))).await;
    let authorize = |token: String| {
        let mut s = platform.sessions();
        async move {
            s.authorize(AuthorizeRequest {
                session_token: token,
                action: "orders:GetOrder".to_owned(),
                resource: "arn:aws:orders:::order/1".to_owned(),
                ..Default::default()
            })
            .await
        }
    };
    let tokens = [
        signing(&session).session_token,
        chained.credentials.as_ref().unwrap().session_token.clone(),
    ];
    for token in &tokens {
        authorize(token.clone()).await.unwrap();
    }

    let crl = w
        .pki
        .root
        .crl(&[revoked.serial_hex.as_str()], now() - days(1), now() + days(7))
        .unwrap();
    std::fs::write(d.dir.path().join("root.crl"), crl).unwrap();
    d.signal("HUP");
    let mut answer = authorize(tokens[0].clone()).await;
    for _ in 0..600 {
        if answer.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = authorize(tokens[0].clone()).await;
    }
    let expected = format!(
        "The certificate this session was issued to (serial {}, issued by CN=test root) is revoked by a CRL of \
         trust anchor {}: its sessions, and those chained from them, have ended, and it gets no new ones.",
        revoked.serial_hex,
        anchor_arn("main")
    );
    for token in &tokens {
        let status = authorize(token.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{}", status.message());
        assert_eq!(
            split_reason(status.message()),
            (expected.as_str(), "session-certificate-revoked")
        );
        use tonic_types::StatusExt;
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "SESSION_CERTIFICATE_REVOKED");
    }
    authorize(signing(&kept).session_token).await.unwrap();
}

#[tokio::test]
async fn assume_role_spends_the_access_keys_bucket_once_signed() {
    let w = Workload::new();
    let d = start_grpc_with(
        &w.pki,
        &subject_of(&w.admin),
        "rate_limit_per_ip = 0\nrate_limit_per_client = 0.001\nrate_limit_per_client_burst = 2",
    );
    let c = w.workload(&d).await;
    let session = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    let mut forged = signing(&session);
    forged.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into();
    // The status code groups the signature errors; the error's name tells them apart.
    let refused = c
        .assume_role(chain_request(None), &forged, REGION, now())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(
        refused.metadata().get("x-amzn-errortype").unwrap(),
        "SignatureDoesNotMatch"
    );
    // ...and its audit reason, which clients may act on without reading the message.
    assert_eq!(refused.metadata().get("x-rolegate-reason").unwrap(), "signature");
    for _ in 0..3 {
        assert_status(
            c.assume_role(chain_request(None), &forged, REGION, now()).await,
            Code::Unauthenticated,
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    // Signed by the holder with a clock 10 minutes slow: the code STS gives, the reason REST
    // gives (a clock to fix, not a wrong key), and nothing spent either.
    let skewed = c
        .assume_role(
            chain_request(None),
            &signing(&session),
            REGION,
            now() - time::Duration::minutes(10),
        )
        .await
        .unwrap_err();
    assert_eq!(skewed.code(), Code::Unauthenticated);
    assert_eq!(
        skewed.metadata().get("x-amzn-errortype").unwrap(),
        "SignatureDoesNotMatch"
    );
    assert_eq!(skewed.metadata().get("x-rolegate-reason").unwrap(), "clock-skew");
    assert!(
        skewed.message().starts_with("Signature expired: "),
        "{}",
        skewed.message()
    );
    for _ in 0..2 {
        c.assume_role(chain_request(None), &signing(&session), REGION, now())
            .await
            .expect("the holder's tokens are all there");
    }
    let throttled = c
        .assume_role(chain_request(None), &signing(&session), REGION, now())
        .await
        .unwrap_err();
    assert_eq!(throttled.code(), Code::ResourceExhausted, "{}", throttled.message());
    assert!(
        throttled.message().contains("Rate exceeded for this access key"),
        "{}",
        throttled.message()
    );
    // When the bucket holds a token again (0.001/s: up to 1,000 s): the RetryInfo AIP-194
    // asks of a RESOURCE_EXHAUSTED to be retried, and gRFC A6's pushback, in milliseconds.
    use tonic_types::StatusExt;
    let delay = throttled
        .get_details_retry_info()
        .expect("a RetryInfo")
        .retry_delay
        .expect("a delay");
    assert!(
        delay > Duration::from_secs(900) && delay <= Duration::from_secs(1000),
        "{delay:?}"
    );
    let pushback: u64 = throttled
        .metadata()
        .get("grpc-retry-pushback-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(Duration::from_millis(pushback), delay);
}

/// `rolegate admin` with `certificate`, its key and its intermediate: exit code, stdout, stderr.
/// The endpoint is given as `host:port`, without `https://`, as credential-process takes it.
fn admin_cli(
    d: &Daemon,
    action: &str,
    certificate: &Issued,
    intermediate: Option<&Issued>,
) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("admin.pem"), dir.path().join("admin.key"));
    std::fs::write(&cert, &certificate.cert_pem).unwrap();
    std::fs::write(&key, &certificate.key_pem).unwrap();
    // Private, as `rolegate certs` writes keys (a world-readable one is warned about).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut command = std::process::Command::new(binary());
    command
        .arg("admin")
        .args(action.split(' '))
        .args([
            "--endpoint",
            d.endpoint.strip_prefix("https://").unwrap(),
            "--certificate",
        ])
        .arg(&cert)
        .arg("--private-key")
        .arg(&key)
        .arg("--ca-bundle")
        .arg(d.ca_bundle());
    if let Some(intermediate) = intermediate {
        let chain = dir.path().join("chain.pem");
        std::fs::write(&chain, &intermediate.cert_pem).unwrap();
        command.arg("--intermediates").arg(&chain);
    }
    let out = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The Admin API from the command line: status, reload, a failed reload, a caller not listed.
#[tokio::test]
async fn admin_cli_shows_status_and_reloads() {
    let w = Workload::new();
    let d = w.start();
    let (code, stdout, stderr) = admin_cli(&d, "status", &w.admin, None);
    assert_eq!(code, Some(0), "{stderr}");
    let config = d.dir.path().join("rolegate.toml");
    for line in [
        format!("rolegate {}\n", env!("CARGO_PKG_VERSION")),
        format!("configuration {}: loaded ", config.display()),
        format!("trust anchor {} (enabled)\n", anchor_arn("main")),
        format!("trust anchor {} (disabled)\n", anchor_arn("disabled")),
        format!(
            "profile {} (enabled): roles [{ROLE}], default duration 3600 s, attribute mappings x509Subject [*], x509Issuer [*], x509SAN [DNS, URI, Name/*]\n",
            profile_arn("main")
        ),
        // Settings other than the defaults are named.
        format!(
            "profile {} (enabled): roles [{ROLE}], default duration 3600 s, attribute mappings x509Subject [*], x509Issuer [*], x509SAN [DNS, URI, Name/*], role session name accepted\n",
            profile_arn("named")
        ),
        format!(
            "profile {} (enabled): roles [{ROLE}], default duration 3600 s, attribute mappings x509Subject [*], x509Issuer [*], x509SAN [DNS, URI, Name/*], instance properties required\n",
            profile_arn("props")
        ),
        format!("role {ROLE_CHAINED} ("),
        "token keys: k1 (check value 76ebd004) (active k1)\n".to_owned(),
        "cache certificates: ".to_owned(),
        "  CRL of CN=test root".to_owned(),
        " (honoured when stale)\n".to_owned(),
        "server certificate [localhost, 127.0.0.1, rolegate.test]: expires ".to_owned(),
    ] {
        assert!(stdout.contains(&line), "{line:?} not in\n{stdout}");
    }
    assert!(!stdout.contains("LAST RELOAD FAILED"), "{stdout}");

    let (code, stdout, stderr) = admin_cli(&d, "reload", &w.admin, None);
    // The load's warnings come with the answer, as logged.
    let admin_anchors_warning = format!(
        "  warning: {}: server.admin_subjects (line 9, column 18): admin_subjects are accepted from every enabled \
         trust anchor: any of their CAs can issue an admin certificate; list the operators' anchor in [server] \
         admin_trust_anchors\n",
        config.display()
    );
    assert_eq!(
        (code, stdout),
        (
            Some(0),
            format!(
                "reloaded: the new configuration is in force\n  no changes to apply (the config watch or a SIGHUP \
                 may have applied the files already)\n{admin_anchors_warning}"
            )
        ),
        "{stderr}"
    );
    // A role's revocation cut-off is shown.
    let text = std::fs::read_to_string(&config).unwrap();
    let role = format!("arn = \"{ROLE_CHAINED}\"\n");
    assert!(text.contains(&role), "{text}");
    let cut_off = format!("{role}revoke_sessions_issued_before = \"2026-01-02T03:04:05Z\"\n");
    std::fs::write(&config, text.replacen(&role, &cut_off, 1)).unwrap();
    let (code, stdout, stderr) = admin_cli(&d, "reload", &w.admin, None);
    assert_eq!(code, Some(0), "{stderr}");
    // The reload names what it changed, as its log line does.
    assert_eq!(
        stdout,
        format!(
            "reloaded: the new configuration is in force\n  \
             changed: role {ROLE_CHAINED}: sessions issued before 2026-01-02T03:04:05Z revoked\n\
             {admin_anchors_warning}"
        )
    );
    let (_, stdout, _) = admin_cli(&d, "status", &w.admin, None);
    let shown = ": max session 43200 s, sessions issued before 2026-01-02T03:04:05Z revoked\n";
    assert!(
        stdout.contains(&format!("role {ROLE_CHAINED} (")) && stdout.contains(shown),
        "{stdout}"
    );
    // (A reload may not take the cut-off back: it stays.)
    // A listen address moved: applied at the next start only, which the status says.
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = text.replacen("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"", 1);
    assert_ne!(moved, text);
    std::fs::write(&config, &moved).unwrap();
    let (code, stdout, stderr) = admin_cli(&d, "reload", &w.admin, None);
    assert_eq!(code, Some(0), "{stderr}");
    // ... and what it warned of.
    let warning = format!(
        "  warning: {}: server.listen: changed from 127.0.0.1:0 to 127.0.0.1:1: listen addresses are read at start \
         only; restart to apply it\n",
        config.display()
    );
    assert_eq!(
        stdout,
        format!(
            "reloaded: the new configuration is in force\n  changed: server.listen [127.0.0.1:0] → [127.0.0.1:1]\n\
             {admin_anchors_warning}{warning}"
        )
    );
    let (_, stdout, _) = admin_cli(&d, "status", &w.admin, None);
    assert!(
        stdout.contains(
            "  RESTART PENDING (a reload cannot apply it): server.listen 127.0.0.1:1 (started with 127.0.0.1:0)\n"
        ),
        "{stdout}"
    );
    std::fs::write(&config, "not toml [").unwrap();
    let (code, _, stderr) = admin_cli(&d, "reload", &w.admin, None);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("error: reload failed; the daemon keeps its previous configuration: ")
            && stderr.contains("rolegate.toml"),
        "{stderr}"
    );
    let (code, stdout, _) = admin_cli(&d, "status", &w.admin, None);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("  LAST RELOAD FAILED (the file on disk is not in force): "),
        "{stdout}"
    );
    // The same answer for scripts: the proto3 JSON mapping, every field present.
    let (code, stdout, stderr) = admin_cli(&d, "status --json", &w.admin, None);
    assert_eq!(code, Some(0), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["tokenKeyIds"], serde_json::json!(["k1"]));
    assert_eq!(status["activeTokenKeyId"], "k1");
    // k1.key's check value: 8 hex of SHA-256 over the label and the key, never the key.
    assert_eq!(
        status["tokenKeys"],
        serde_json::json!([{"id": "k1", "checkValue": "76ebd004"}])
    );
    assert_eq!(
        status["serverCertificate"]["names"],
        serde_json::json!(["localhost", "127.0.0.1", "rolegate.test"])
    );
    assert_eq!(status["serverCertificate"]["stagedGoesInUnix"], "0");
    let not_after = status["serverCertificate"]["notAfterUnix"].as_str().unwrap();
    assert!(not_after.parse::<i64>().unwrap() > 1_700_000_000, "{status:#}");
    let error = status["config"]["lastReloadError"].as_str().unwrap();
    assert!(error.contains("rolegate.toml"), "{status:#}");
    assert_eq!(status["config"]["path"], config.display().to_string());
    let loaded = status["config"]["loadedUnix"].as_str().unwrap();
    assert!(loaded.parse::<i64>().unwrap() > 1_700_000_000, "{status:#}");
    let main = status["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["arn"] == anchor_arn("main"))
        .unwrap();
    assert_eq!(main["enabled"], true);
    assert_eq!(main["refusesStaleCrls"], false);
    assert_eq!(main["crls"][0]["issuer"], "CN=test root");
    assert!(
        main["certificates"][0]["notAfterUnix"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    let roles: Vec<&str> = status["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["arn"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&ROLE_CHAINED), "{roles:?}");
    let caches = status["caches"].as_array().unwrap();
    assert!(
        caches
            .iter()
            .any(|c| c["name"] == "certificates" && c["entries"].as_str().is_some()),
        "{caches:?}"
    );

    let (code, stdout, stderr) = admin_cli(&d, "status", &w.leaf, Some(w.pki.intermediate.issued()));
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert!(
        stderr.starts_with(
            "error: Admin.Status: PermissionDenied: The client certificate subject 'CN=workload-1,O=Example' is not allowed to call Admin.Status: only the subjects listed in [server] admin_subjects may; list this one there if it is an administrator's. (reason: not-admin, request id: "
        ),
        "{stderr}"
    );

    // The admin's certificate with another key: said so, before any connection.
    let mismatched = Issued {
        key_pem: w.leaf.key_pem.clone(),
        key_pkcs8_der: w.leaf.key_pkcs8_der.clone(),
        ..w.admin.clone()
    };
    let (code, stdout, stderr) = admin_cli(&d, "status", &mismatched, None);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert!(
        stderr.contains("client certificate: this private key is not the key of the certificate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn admin_is_limited_to_listed_subjects() {
    let w = Workload::new();
    let d = w.start();
    let admin = connect(&d, Some((&w.admin, &[]))).await;
    let status = admin.admin().status(StatusRequest {}).await.unwrap().into_inner();
    let arns: Vec<&str> = status.anchors.iter().map(|a| a.arn.as_str()).collect();
    assert_eq!(
        arns,
        [anchor_arn("disabled"), anchor_arn("foreign"), anchor_arn("main")]
    );
    let main = &status.anchors[2];
    assert!(main.enabled && !status.anchors[0].enabled);
    assert_eq!(main.certificates.len(), 1);
    assert!(main.certificates[0].subject.contains("CN=test root"));
    assert!(main.certificates[0].not_after_unix > now().unix_timestamp());
    assert_eq!(main.crls.len(), 1);
    assert_eq!(main.crls[0].issuer, main.certificates[0].subject);
    assert!(
        !main.refuses_stale_crls,
        "a stale CRL is honoured unless the anchor says otherwise"
    );
    let next_update = main.crls[0].next_update_unix;
    assert!(next_update > now().unix_timestamp() && next_update <= (now() + days(7)).unix_timestamp());
    assert!(
        status
            .roles
            .iter()
            .any(|r| r.arn == ROLE_CHAINED && r.max_session_duration == 43200)
    );
    let main_profile = status
        .profiles
        .iter()
        .find(|p| p.arn == profile_arn("main"))
        .expect("profile main");
    assert_eq!(main_profile.duration_seconds, 3600);
    let mappings: Vec<(&str, Vec<&str>)> = main_profile
        .attribute_mappings
        .iter()
        .map(|m| {
            let specifiers = m.specifiers.iter().map(String::as_str).collect();
            (m.certificate_field.as_str(), specifiers)
        })
        .collect();
    assert_eq!(
        mappings,
        [
            ("x509Subject", vec!["*"]),
            ("x509Issuer", vec!["*"]),
            ("x509SAN", vec!["DNS", "URI", "Name/*"])
        ]
    );
    assert_eq!(
        (status.token_key_ids.as_slice(), status.active_token_key_id.as_str()),
        (&["k1".to_owned()][..], "k1")
    );
    let keys: Vec<(&str, &str)> = status
        .token_keys
        .iter()
        .map(|k| (k.id.as_str(), k.check_value.as_str()))
        .collect();
    assert_eq!(keys, [("k1", "76ebd004")]);
    let names: Vec<&str> = status.caches.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "chains",
            "credentials",
            "signing_keys",
            "certificates",
            "tokens",
            "trust_decisions"
        ]
    );
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        status.seal_claims_layout, 2,
        "the claims layout new tokens are sealed in"
    );
    let config = status.config.expect("config status");
    let config_path = d.dir.path().join("rolegate.toml");
    assert_eq!(config.path, config_path.display().to_string());
    assert_eq!(config.files.first(), Some(&config.path));
    assert!(
        config.files.iter().any(|f| f.ends_with("root.crl")),
        "{:?}",
        config.files
    );
    assert_eq!((config.watch_seconds, config.last_reload_error.as_str()), (0, ""));
    let started = config.loaded_unix;
    assert!(started <= now().unix_timestamp());

    let reloaded = admin.admin().reload(ReloadRequest {}).await.unwrap().into_inner();
    assert!(reloaded.reloaded, "{}", reloaded.error);
    std::fs::write(&config_path, "not toml [").unwrap();
    let failed = admin.admin().reload(ReloadRequest {}).await.unwrap().into_inner();
    assert!(!failed.reloaded && !failed.error.is_empty());
    // Answered, but audited and counted as the failure it is, not as an allowed reload.
    let metrics = d.metrics_text();
    for series in [
        r#"rolegate_requests_total{api="grpc",operation="Admin.Reload",outcome="allow"} 1"#,
        r#"rolegate_requests_total{api="grpc",operation="Admin.Reload",outcome="ValidationError"} 1"#,
        r#"rolegate_refusals_total{api="grpc",operation="Admin.Reload",reason="reload-failed"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }
    let after = admin.admin().status(StatusRequest {}).await.unwrap().into_inner();
    let config = after.config.expect("config status");
    assert_eq!(
        config.last_reload_error, failed.error,
        "the failure is reported until a reload succeeds"
    );
    assert!(config.loaded_unix >= started, "the successful reload's time stays");

    // A trusted workload certificate whose subject is not listed.
    let workload = w.workload(&d).await;
    assert_status(
        workload.admin().status(StatusRequest {}).await,
        Code::PermissionDenied,
        "The client certificate subject 'CN=workload-1,O=Example' is not allowed to call Admin.Status: only the subjects listed in [server] admin_subjects may; list this one there if it is an administrator's.",
    );
    assert_status(
        workload.admin().reload(ReloadRequest {}).await,
        Code::PermissionDenied,
        "admin_subjects",
    );
    // The listed subject under an untrusted CA.
    let impostor = Pki::client(&w.rogue, "ops-admin", KeyType::EcdsaP256);
    let impostor = connect(&d, Some((&impostor, &[]))).await;
    assert_status(
        impostor.admin().status(StatusRequest {}).await,
        Code::PermissionDenied,
        "does not chain to any enabled trust anchor",
    );
    assert_status(
        connect(&d, None).await.admin().reload(ReloadRequest {}).await,
        Code::Unauthenticated,
        "Admin.Reload needs a client certificate",
    );
}

/// `admin_subjects` may list a subject in RFC 4514's order (last RDN first), as `openssl x509
/// -nameopt RFC2253` prints it, as well as in certificate order.
/// An `Admin.Reload` that outlasts `request_timeout_seconds` (here: the configuration file is a
/// pipe whose writer never finishes) is answered `UNAVAILABLE`, and its audit event still names
/// the admin's certificate, as the handler's own event would have, once a chain of it has
/// verified (the handshake alone proves only the key).
#[tokio::test]
async fn a_timed_out_reload_is_audited_with_the_admin_certificate() {
    let w = Workload::new();
    // Long enough for the Status call below on a loaded machine.
    let d = start_grpc_with(&w.pki, &subject_of(&w.admin), "request_timeout_seconds = 3\n");
    let config = d.dir.path().join("rolegate.toml");
    std::fs::remove_file(&config).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&config).status().unwrap();
    assert!(made.success());
    // Held open for reading and writing: a writer is there, and never writes.
    let _writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&config)
        .unwrap();
    let admin = connect(&d, Some((&w.admin, &[]))).await;
    // Its chain verified once (a Status call); an unverified certificate is not named.
    admin.admin().status(StatusRequest {}).await.unwrap();
    assert_status(
        admin.admin().reload(ReloadRequest {}).await,
        Code::Unavailable,
        "The call was not answered within 3 seconds.",
    );
    let audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains("audit") && l.contains("Admin.Reload"))
        .expect("an audit event for the timed-out Admin.Reload");
    for needle in ["CN=ops-admin", "ServiceUnavailable"] {
        assert!(audit.contains(needle), "audit event lacks {needle}: {audit}");
    }
}

/// An Admin.Reload answered before its reload ends (`request_timeout_seconds`; a client that
/// gives up ends the call as well): the reload goes on and into force, and the reload writes
/// its audit event, with the outcome. The call's handler, which wrote it, was dropped with the
/// call, so a reload that changed the configuration left only the timeout's refusal.
#[tokio::test]
async fn a_reload_that_outlasts_its_call_is_audited_with_its_outcome() {
    use std::io::Write as _;
    let w = Workload::new();
    let d = start_grpc_with(&w.pki, &subject_of(&w.admin), "request_timeout_seconds = 1\n");
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::remove_file(&config).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&config).status().unwrap();
    assert!(made.success());
    // A writer is there and has not written yet: the reload waits for the file.
    let mut writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&config)
        .unwrap();
    let admin = connect(&d, Some((&w.admin, &[]))).await;
    assert_status(
        admin.admin().reload(ReloadRequest {}).await,
        Code::Unavailable,
        "The call was not answered within 1 seconds.",
    );
    writer.write_all(text.as_bytes()).unwrap();
    drop(writer);
    let mut audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .filter(|l| l.contains("audit") && l.contains("Admin.Reload"));
    let timed_out = audit.next().expect("the timeout's audit event");
    assert!(timed_out.contains("ServiceUnavailable"), "{timed_out}");
    let reloaded = audit.next().expect("the reload's own audit event");
    for needle in [r#"outcome="allow""#, "CN=ops-admin"] {
        assert!(reloaded.contains(needle), "audit event lacks {needle}: {reloaded}");
    }
}

/// Without `admin_subjects`, the Admin API has no admins, and a refused caller is told so, not
/// invited to list its own (a workload's) certificate.
#[tokio::test]
async fn an_admin_api_without_admins_says_so() {
    let w = Workload::new();
    let d = start_with_server_settings(&w, "");
    let workload = w.workload(&d).await;
    assert_status(
        workload.admin().status(StatusRequest {}).await,
        Code::PermissionDenied,
        "The client certificate subject 'CN=workload-1,O=Example' is not allowed to call Admin.Status: the Admin API \
         has no admins ([server] admin_subjects is empty): list the subject of a certificate kept for administration \
         there, not a workload's. (reason: not-admin",
    );
}

/// A reload cannot be called back once it runs: an Admin.Reload whose client deadline
/// (`grpc-timeout`) passes first is still answered, and audited, with its outcome. Cut at the
/// deadline, it was audited as a refused call while the reload it started went into force.
#[tokio::test]
async fn an_admin_reload_is_answered_with_its_outcome_whatever_the_deadline() {
    let w = Workload::new();
    let d = w.start();
    use http_body_util::BodyExt;
    // tonic's client gives up at its own deadline: the call is sent over a bare HTTP/2
    // connection, one empty ReloadRequest with a deadline of one nanosecond.
    let identity = (
        vec![CertificateDer::from(w.admin.cert_der.clone())],
        Arc::new(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            w.admin.key_pkcs8_der.to_vec(),
        ))),
    );
    let mut tls = rolegate::client::client_config(&TlsOptions {
        ca_bundle: Some(d.ca_bundle()),
        no_verify: false,
        client_identity: Some(identity),
    })
    .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let address = d.endpoint.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let empty_message = bytes::Bytes::from_static(&[0, 0, 0, 0, 0]);
    let hurried = http::Request::post(format!("https://{address}/rolegate.v1.Admin/Reload"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "1n")
        .body(http_body_util::Full::new(empty_message))
        .unwrap();
    let answer = sender.send_request(hurried).await.unwrap();
    assert_eq!(answer.headers().get("grpc-status"), None, "{answer:?}");
    let answered = answer.into_body().collect().await.unwrap();
    let trailers = answered.trailers().cloned().unwrap_or_default();
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.to_str().unwrap()),
        Some("0"),
        "{trailers:?}"
    );
    // One uncompressed message: a ReloadResponse that went into force.
    let framed = answered.to_bytes();
    assert_eq!(framed.first(), Some(&0), "{framed:?}");
    let length = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
    assert_eq!(framed.len(), 5 + length, "{framed:?}");
    let reloaded = <ReloadResponse as prost::Message>::decode(&framed[5..]).unwrap();
    assert!(reloaded.reloaded && reloaded.error.is_empty(), "{reloaded:?}");
    let audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains("audit") && l.contains("Admin.Reload"))
        .expect("an audit event for the Admin.Reload");
    assert!(audit.contains(r#"outcome="allow""#), "{audit}");
    assert!(!audit.contains("RequestTimeout"), "{audit}");
}

/// A refused Admin call names the caller's certificate in its audit event, as a refused
/// CreateSession does: a SIEM rule on `certificate_subject` sees who tried.
#[tokio::test]
async fn a_refused_admin_call_is_audited_with_the_callers_certificate() {
    let w = Workload::new();
    let d = w.start();
    let workload = w.workload(&d).await;
    assert_status(
        workload.admin().reload(ReloadRequest {}).await,
        Code::PermissionDenied,
        "admin_subjects",
    );
    let audit = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains("audit") && l.contains("Admin.Reload"))
        .expect("an audit event for the refused Admin.Reload");
    for needle in [
        r#"reason="not-admin""#,
        r#"certificate_subject="CN=workload-1,O=Example""#,
        r#"certificate_issuer="CN=test"#,
    ] {
        assert!(audit.contains(needle), "audit event lacks {needle}: {audit}");
    }
    assert!(!audit.contains(r#"certificate_serial="""#), "{audit}");
}

#[tokio::test]
async fn admin_subjects_are_matched_in_either_order() {
    let pki = Pki::new();
    let admin = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
    assert_eq!(subject_of(&admin), "CN=ops-admin,O=Example");
    let d = start_grpc(&pki, "O=Example,CN=ops-admin");
    let c = connect(&d, Some((&admin, &[]))).await;
    c.admin()
        .status(StatusRequest {})
        .await
        .expect("the RFC 4514 order is accepted");
    // As `openssl x509 -noout -subject` prints it, type names in lower case.
    let d = start_grpc(&pki, "subject=cn = ops-admin, o = Example");
    let c = connect(&d, Some((&admin, &[]))).await;
    c.admin()
        .status(StatusRequest {})
        .await
        .expect("OpenSSL's layout is accepted");
}

/// With `admin_trust_anchors`, an admin certificate must chain to one of the anchors listed:
/// the listed subject issued by the CA of another enabled anchor is refused.
#[tokio::test]
async fn admin_certificates_must_come_from_the_admin_trust_anchors() {
    let pki = Pki::new();
    let from_main = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
    let from_foreign = Pki::client(&pki.foreign, "ops-admin", KeyType::EcdsaP256);
    assert_eq!(subject_of(&from_main), subject_of(&from_foreign));
    let d = start_grpc_with(&pki, &subject_of(&from_main), "admin_trust_anchors = [\"foreign\"]\n");

    let pinned = connect(&d, Some((&from_foreign, &[]))).await;
    pinned.admin().status(StatusRequest {}).await.unwrap();

    let other_anchor = connect(&d, Some((&from_main, &[]))).await;
    for r in [
        other_anchor.admin().status(StatusRequest {}).await.map(|_| ()),
        other_anchor.admin().reload(ReloadRequest {}).await.map(|_| ()),
    ] {
        assert_status(
            r,
            Code::PermissionDenied,
            "The client certificate CN=ops-admin,O=Example does not chain to an enabled trust anchor of [server] admin_trust_anchors, so it cannot call Admin.",
        );
    }
    // The pin is for Admin only: workloads of the other anchor still create sessions.
    let workload = Pki::client(&pki.root, "workload-1", KeyType::EcdsaP256);
    let client = connect(&d, Some((&workload, &[]))).await;
    create(&client, create_request("main", ROLE, "main")).await.unwrap();
}

/// An admin certificate of the one admin anchor that fails its verification says why: an
/// expired certificate is told it expired, not only that it does not chain.
#[tokio::test]
async fn an_expired_admin_certificate_is_told_why() {
    let pki = Pki::new();
    let n = now();
    let expired = pki
        .root
        .client(&ClientSpec::new(
            "ops-admin",
            KeyType::EcdsaP256,
            n - days(10),
            n - days(1),
        ))
        .unwrap();
    let d = start_grpc_with(&pki, &subject_of(&expired), "admin_trust_anchors = [\"main\"]\n");
    let c = connect(&d, Some((&expired, &[]))).await;
    assert_status(
        c.admin().status(StatusRequest {}).await,
        Code::PermissionDenied,
        &format!(
            "The client certificate CN=ops-admin does not chain to an enabled trust anchor of [server] \
             admin_trust_anchors, so it cannot call Admin.Status ({})",
            expired_message((n - days(1)).unix_timestamp()).replace(
                "Untrusted certificate:",
                &format!("Untrusted certificate for trust anchor {}:", anchor_arn("main"))
            )
        ),
    );
}

/// An admin certificate its trust anchor's CRL lists is refused Admin, saying it is revoked;
/// a certificate of the same subject the CRL does not list is served.
#[tokio::test]
async fn a_revoked_admin_certificate_is_told_why() {
    let pki = Pki::new();
    let revoked = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
    let current = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
    assert_ne!(revoked.serial_hex, current.serial_hex);
    let d = start_grpc_revoking(
        &pki,
        &subject_of(&revoked),
        "admin_trust_anchors = [\"main\"]\n",
        &[revoked.serial_hex.as_str()],
    );
    let c = connect(&d, Some((&revoked, &[]))).await;
    for (operation, r) in [
        ("Status", c.admin().status(StatusRequest {}).await.map(|_| ())),
        ("Reload", c.admin().reload(ReloadRequest {}).await.map(|_| ())),
    ] {
        let status = r.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{}", status.message());
        let expected = format!(
            "The client certificate CN=ops-admin,O=Example does not chain to an enabled trust anchor of [server] \
             admin_trust_anchors, so it cannot call Admin.{operation} ({})",
            REVOKED.replace(
                "Untrusted certificate:",
                &format!("Untrusted certificate for trust anchor {}:", anchor_arn("main"))
            )
        );
        assert_eq!(
            split_reason(status.message()),
            (expected.as_str(), "certificate-revoked")
        );
        // The reason and request id also as google.rpc.ErrorInfo, for clients that read the
        // status details (Go's status.Details(), Java's StatusProto).
        use tonic_types::StatusExt;
        let info = status
            .get_details_error_info()
            .expect("an ErrorInfo in the status details");
        let request_id = status.metadata().get("x-amzn-requestid").unwrap().to_str().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("CERTIFICATE_REVOKED", "rolegate")
        );
        assert_eq!(
            (info.metadata["errorType"].as_str(), info.metadata["requestId"].as_str()),
            ("AccessDenied", request_id)
        );
    }
    let c = connect(&d, Some((&current, &[]))).await;
    c.admin().status(StatusRequest {}).await.unwrap();
}

/// An admin whose anchor refuses stale CRLs, and holds one, is refused Admin like any
/// certificate the CRL covers; the refusal says how to import the fresh CRL without the Admin
/// API (which would have been the way in).
#[tokio::test]
async fn an_admin_refused_for_a_stale_crl_is_told_how_to_reload_without_admin() {
    let pki = Pki::new();
    let admin = Pki::client(&pki.root, "ops-admin", KeyType::EcdsaP256);
    let stale = pki.root.crl(&[], now() - days(8), now() - days(1)).unwrap();
    let d = start_grpc_with_crl(
        &pki,
        &subject_of(&admin),
        "admin_trust_anchors = [\"main\"]\n",
        stale,
        "stale_crls = \"refuse\"\n",
    );
    let c = connect(&d, Some((&admin, &[]))).await;
    let status = c.admin().reload(ReloadRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{}", status.message());
    let (message, reason) = split_reason(status.message());
    assert_eq!(reason, "stale-crl");
    assert!(
        message
            .contains(&format!(
                "so it cannot call Admin.Reload (Untrusted certificate for trust anchor {}: the CRL of CN=test root, which covers",
                anchor_arn("main")
            )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "refuses stale CRLs). An anchor admins chain to refuses stale CRLs (stale_crls = \"refuse\") and holds a CRL past its \
             nextUpdate, which refuses admin certificates too: put the fresh CRL in place and reload with SIGHUP \
             (systemctl reload), the config watch (config_watch_seconds) or a restart."
        ),
        "{message}"
    );
    // The load that put the refusal in force said so.
    let warned = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains("trust_anchor[0].stale_crls"))
        .expect("a load warning that admins are locked out");
    assert!(
        warned.contains(
            "admin certificates the stale CRL of CN=test root covers are refused too: the Admin API (admin status, \
             admin reload) is closed to them until a fresh CRL is loaded by SIGHUP (systemctl reload), the config \
             watch or a restart"
        ),
        "{warned}"
    );
}

#[tokio::test]
async fn health_serves_and_reflection_lists_services() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let w = Workload::new();
    let d = w.start();
    let c = connect(&d, None).await;
    let mut health = HealthClient::new(c.channel());
    for service in ["", "rolegate.v1.Sessions", "rolegate.v1.Admin"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    // A service not reported on: Check is NOT_FOUND, naming those that are; Watch says
    // SERVICE_UNKNOWN and stays open, as the health checking protocol asks.
    let unknown = || HealthCheckRequest {
        service: "rolegate.v1.Other".into(),
    };
    assert_status(
        health.check(unknown()).await,
        Code::NotFound,
        "No health is reported for service 'rolegate.v1.Other': ask for \"\" (the server), rolegate.v1.Sessions or \
         rolegate.v1.Admin.",
    );
    let mut watch = health.watch(unknown()).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().expect("a first status");
    assert_eq!(first.status(), ServingStatus::ServiceUnknown);
    let mut reflection = ServerReflectionClient::new(c.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "rolegate.v1.Admin",
            "rolegate.v1.Sessions"
        ]
    );
    // REST still answers on the same listener.
    assert!(d.endpoint.starts_with("https://127.0.0.1:"));
}

/// The daemon of `w`'s PKI with `settings` (TOML lines) added to its `[server]` section.
fn start_with_server_settings(w: &Workload, settings: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        pki: &w.pki,
        extra_toml: String::new(),
        crl_pem: None,
        app_trust_condition: "",
    };
    let path = write_config(dir.path(), &setup);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[server]\n", &format!("[server]\n{settings}\n"), 1),
    )
    .unwrap();
    start_with_config(dir, &path)
}

/// A streaming call is a request in flight for as long as it streams: a health `Watch` outlives
/// the idle timeout (and the time a client gets to acknowledge an idle connection's GOAWAY),
/// and still gets the `NOT_SERVING` update when the daemon drains.
#[tokio::test]
async fn a_watch_stream_outlives_the_idle_timeout() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let w = Workload::new();
    let d = start_with_server_settings(&w, "idle_timeout_seconds = 2\nrequest_timeout_seconds = 1");
    let c = connect(&d, None).await;
    let mut health = HealthClient::new(c.channel());
    let mut watch = health
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status(), ServingStatus::Serving);
    // Longer than the idle timeout and the GOAWAY's acknowledgement time together.
    tokio::time::sleep(Duration::from_secs(5)).await;

    d.signal("TERM");
    let update = watch.message().await.expect("the Watch stream was cut");
    let update = update.expect("the Watch stream ended without a NOT_SERVING update");
    assert_eq!(update.status(), ServingStatus::NotServing);
}

/// SIGTERM with a 3 s delay and a 600 s grace period while a client holds an HTTP/2 connection
/// with health `Watch` streams open: `/readyz` answers 503 and the gRPC health service reports
/// `NOT_SERVING` together, then the drain starts. What the client then observes on that connection is the
/// graceful shutdown of HTTP/2: each stream already open gets the `NOT_SERVING` update, then
/// ends with UNAVAILABLE (a Watch would otherwise hold the drain for the whole grace, as long
/// as its client keeps it open); the server has sent GOAWAY, so a new `Check` is not served
/// there (hyper cancels it with "connection closed" once it has read the GOAWAY; one that
/// crossed the GOAWAY is still answered, `NOT_SERVING`) and the channel's reconnect is refused
/// (`UNAVAILABLE`, the listener is closed). The daemon exits 0, the client still holding its
/// channel, long before the grace.
#[tokio::test]
async fn health_reports_not_serving_while_draining() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let w = Workload::new();
    // The delay outlasts the test's own steps however slow the machine; a second SIGTERM ends it.
    let mut d = start_with_server_settings(&w, "shutdown_grace_seconds = 600\nshutdown_delay_seconds = 300");
    let c = connect(&d, None).await;
    let mut health = HealthClient::new(c.channel());
    let request = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let mut watches = Vec::new();
    for service in ["", "rolegate.v1.Sessions", "rolegate.v1.Admin"] {
        let mut watch = health.watch(request(service)).await.unwrap().into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status(), ServingStatus::Serving, "{service:?}");
        watches.push((service, watch));
    }
    assert_eq!(http_plain(&d.metrics, "GET", "/readyz", &[]).status, 200);

    d.signal("TERM");
    for (service, watch) in &mut watches {
        let update = watch.message().await.unwrap();
        let update = update.expect("the Watch stream ended without a NOT_SERVING update");
        assert_eq!(update.status(), ServingStatus::NotServing, "{service:?}");
    }
    // Unready for shutdown_delay_seconds (here until the second signal), then draining.
    let readyz = http_plain(&d.metrics, "GET", "/readyz", &[]);
    assert_eq!(readyz.status, 503, "{readyz:?}");
    d.signal("TERM");
    for (service, watch) in &mut watches {
        // Bounded: a stream the drain does not end would hold it for the whole grace.
        let ended = tokio::time::timeout(Duration::from_secs(60), watch.message())
            .await
            .expect("the drain ends the Watch stream")
            .expect_err("the drain ends the Watch stream with a status");
        assert_eq!(
            (ended.code(), ended.message()),
            (Code::Unavailable, "rolegate is shutting down; call another replica"),
            "{service:?}"
        );
    }

    // New calls on the open channel: never SERVING; once the GOAWAY is read, refused.
    let mut refused = None;
    for _ in 0..100 {
        match health.check(request("")).await {
            Ok(r) => assert_eq!(r.into_inner().status(), ServingStatus::NotServing),
            Err(s) if s.code() == Code::Cancelled => {}
            Err(s) if s.code() == Code::Unavailable => {
                refused = Some(s);
                break;
            }
            Err(s) => panic!("unexpected status while draining: {s:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("the channel kept being served after GOAWAY");
    assert!(refused.message().contains("Connection refused"), "{refused:?}");

    // Nothing holds the drain: the daemon exits with the client's channel still open.
    let _still_open = (watches, health, c);
    let mut exited = None;
    for _ in 0..600 {
        if let Some(status) = d.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited = exited.expect("the daemon still drains after its streams ended");
    assert!(exited.success(), "{exited:?}");
}

/// `--no-verify-ssl`: the server certificate (from a CA the client does not trust) is accepted
/// only when verification is turned off; the connection then works, mTLS included.
#[tokio::test]
async fn no_verify_accepts_an_untrusted_server_certificate() {
    let w = Workload::new();
    let d = w.start();
    let client_identity = || {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(w.leaf.key_pkcs8_der.to_vec()));
        let chain = [&w.leaf, w.pki.intermediate.issued()].map(|c| CertificateDer::from(c.cert_der.clone()));
        Some((chain.to_vec(), Arc::new(key)))
    };
    let untrusted = TlsOptions {
        ca_bundle: None,
        no_verify: false,
        client_identity: client_identity(),
    };
    let err = GrpcClient::connect(&d.endpoint, &untrusted).await.unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer")
            && err.to_string().ends_with(
                "(the server's certificate is not issued by a CA this client trusts: give that CA with --ca-bundle \
                 (AWS_CA_BUNDLE is not read, as aws_signing_helper does not read it), or check that the bundle given holds it)"
            ),
        "{err}"
    );
    let unverified = TlsOptions {
        ca_bundle: None,
        no_verify: true,
        client_identity: client_identity(),
    };
    let c = GrpcClient::connect(&d.endpoint, &unverified).await.unwrap();
    let r = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    assert_eq!(r.source_identity, "CN=workload-1");
}

/// DESIGN §1's chain length over mTLS: the handshake accepts any chain (possession of the key
/// is all it checks), so CreateSession counts the intermediates presented: a real path of 5
/// under the anchor is served, one of 6 is PermissionDenied by count.
#[tokio::test]
async fn an_mtls_chain_of_six_intermediates_is_refused() {
    assert_eq!(rolegate::identity::MAX_INTERMEDIATES, 5);
    let w = Workload::new();
    let d = w.start();
    let cas = intermediate_ladder(&w.pki.root, 6);
    // Nearest issuer first, as TLS sends a chain.
    let chain_to = |depth: usize| -> Vec<&Issued> { cas[..depth].iter().rev().map(Authority::issued).collect() };

    let five_deep = Pki::client(&cas[4], "five-deep", KeyType::EcdsaP256);
    let c = connect(&d, Some((&five_deep, &chain_to(5)))).await;
    let served = create(&c, create_request("main", ROLE, "main")).await.unwrap();
    assert!(served.credentials.is_some(), "{served:?}");

    let six_deep = Pki::client(&cas[5], "six-deep", KeyType::EcdsaP256);
    let c = connect(&d, Some((&six_deep, &chain_to(6)))).await;
    let refused = create(&c, create_request("main", ROLE, "main")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{}", refused.message());
    assert_eq!(
        split_reason(refused.message()),
        (
            "Untrusted certificate: certificate chain has 6 certificates; at most 5 are allowed",
            "untrusted-certificate"
        )
    );
}
