//! The negative-case matrix: hostile and broken requests sent over real TLS to the real daemon
//! (tests/common fixture), each asserting the exact wire error — status, `X-Amzn-ErrorType`
//! and the whole message for Roles Anywhere REST; status, `<Code>` and the whole message for
//! the STS Query API (request ids and times written as placeholders: [`normalized`]).
//!
//! Requests are signed with rolegate's own signers (`sigv4::x509::sign_request`,
//! `sigv4::sign_hmac`) and then mutated, so each case differs from an accepted request in
//! exactly the way its name says. Every table also runs an accepted control request, so a
//! case cannot pass because everything fails.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    KeyUsagePurpose, NameConstraints, SanType,
};
use rolegate::identity::ClientCertificate;
use rolegate::pki::{Authority, ClientSpec, Issued, KeyType};
use rolegate::session::{self, KeyRing, SessionClaims, SessionOrigin, TokenKey};
use rolegate::sigv4::{self, HttpRequest, x509};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The daemon's token key `k1` (tests/common writes it).
const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const HOST: &str = "localhost";
/// An account of none of the configured roles.
const OTHER_ACCOUNT: &str = "210987654321";

// ---------------------------------------------------------------------------------------------
// Raw HTTPS client: exact bytes out, status + headers + body back.

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(Result::unwrap)
        .collect()
}

async fn send(d: &Daemon, req: &Req) -> HttpReply {
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut head = format!("{} {target} HTTP/1.1\r\n", req.method);
    for (n, v) in &req.headers {
        head += &format!("{n}: {v}\r\n");
    }
    head += &format!("content-length: {}\r\nconnection: close\r\n\r\n", req.body.len());
    https_exchange(&d.endpoint, &d.ca_bundle(), head.as_bytes(), &req.body).await
}

// ---------------------------------------------------------------------------------------------
// Expectations and the table runner.

#[derive(Clone, Copy, Debug)]
enum Want {
    /// REST: status, X-Amzn-ErrorType, message (as [`normalized`]).
    Rest(u16, &'static str, &'static str),
    /// STS: status, <Code>, message (as [`normalized`]).
    Sts(u16, &'static str, &'static str),
    /// gRPC-Web's trailers-only answer: HTTP 200 with `grpc-status` and `grpc-message`
    /// (percent-decoded) in the headers, and the request's content type.
    GrpcWeb(&'static str, &'static str),
    /// Only an HTTP status (rejected before any API handler).
    Status(u16),
    /// The control: accepted.
    Ok(u16),
}

/// An error message with what changes from run to run written as placeholders: the request
/// id as `{id}`, X-Amz-Date times as `{amz-date}`, RFC 3339 times as `{time}` and other
/// eight-digit dates as `{date}`.
fn normalized(message: &str) -> String {
    static PATTERNS: std::sync::LazyLock<[(regex::Regex, &str); 4]> = std::sync::LazyLock::new(|| {
        [
            (r"request id: [0-9a-f-]{36}", "request id: {id}"),
            (r"\d{8}T\d{6}Z", "{amz-date}"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "{time}"),
            (r"\b\d{8}\b", "{date}"),
        ]
        .map(|(pattern, placeholder)| (regex::Regex::new(pattern).unwrap(), placeholder))
    });
    PATTERNS.iter().fold(message.to_owned(), |m, (pattern, placeholder)| {
        pattern.replace_all(&m, *placeholder).into_owned()
    })
}

struct Case {
    name: &'static str,
    req: Req,
    want: Want,
}

fn case(name: &'static str, req: Req, want: Want) -> Case {
    Case { name, req, want }
}

/// The sum of the daemon's `rolegate_requests_total` series: the requests an API handler
/// answered (allowed or refused).
async fn requests_answered(d: &Daemon) -> f64 {
    d.metrics_text()
        .lines()
        .filter(|l| l.starts_with("rolegate_requests_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// Every refusal names its audit reason in `x-rolegate-reason`: the one an AccessDenied
/// message ends with, where it does.
fn names_its_reason(r: &HttpReply, message: &str) -> bool {
    let Some(reason) = r.header("x-rolegate-reason").filter(|v| !v.is_empty()) else {
        return false;
    };
    match message.split_once("(reason: ") {
        Some((_, rest)) => rest.starts_with(&format!("{reason},")),
        None => true,
    }
}

/// Runs every case; fails with the list of cases whose answer differs. Then checks that the
/// daemon counted, in `rolegate_requests_total`, each case an API handler answered (all but
/// the [`Want::Status`] ones) once: no case was answered by something other than the API.
async fn run(d: &Daemon, cases: Vec<Case>) {
    let before = requests_answered(d).await;
    let mut failures = Vec::new();
    for c in &cases {
        let r = send(d, &c.req).await;
        let ok = match c.want {
            Want::Rest(status, kind, message) => {
                let got = serde_json::from_str::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                r.status == status
                    && r.header("x-amzn-errortype") == Some(kind)
                    && normalized(&got) == message
                    && r.header("x-amzn-requestid").is_some()
                    && names_its_reason(&r, &got)
            }
            Want::Sts(status, code, message) => {
                let got = unescape(r.element("Message").unwrap_or_default());
                r.status == status
                    && r.element("Code").unwrap_or_default() == code
                    && r.header("x-amzn-requestid").is_some()
                    && normalized(&got) == message
                    && names_its_reason(&r, &got)
            }
            Want::GrpcWeb(code, message) => {
                let got = percent_encoding::percent_decode_str(r.header("grpc-message").unwrap_or_default())
                    .decode_utf8_lossy()
                    .into_owned();
                r.status == 200
                    && r.header("grpc-status") == Some(code)
                    && got == message
                    && r.header("content-type")
                        .is_some_and(|t| t.starts_with("application/grpc-web"))
                    && r.header("x-amzn-requestid").is_some()
                    && r.body.is_empty()
            }
            Want::Status(status) => r.status == status,
            Want::Ok(status) => r.status == status,
        };
        if !ok {
            failures.push(format!(
                "{}: want {:?}, got {} {:?} {:?} {}",
                c.name,
                c.want,
                r.status,
                r.header("x-amzn-errortype"),
                r.element("Code").unwrap_or_default(),
                if r.body.contains("<Message>") {
                    normalized(&unescape(r.element("Message").unwrap_or_default()))
                } else {
                    r.body.chars().take(400).collect::<String>()
                }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let handled = cases.iter().filter(|c| !matches!(c.want, Want::Status(_))).count();
    assert_eq!(
        requests_answered(d).await - before,
        handled as f64,
        "rolegate_requests_total did not grow by the {handled} cases an API handler answered"
    );
}

// ---------------------------------------------------------------------------------------------
// Roles Anywhere request builders.

fn body_json(profile: &str, role: &str, anchor: &str) -> Vec<u8> {
    serde_json::json!({
        "profileArn": profile_arn(profile),
        "roleArn": role,
        "trustAnchorArn": anchor_arn(anchor),
    })
    .to_string()
    .into_bytes()
}

fn body_with(profile: &str, role: &str, key: &str, value: serde_json::Value) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&body_json(profile, role, "main")).unwrap();
    v[key] = value;
    v.to_string().into_bytes()
}

fn base_headers() -> Vec<(String, String)> {
    headers_for(HOST)
}

fn headers_for(host: &str) -> Vec<(String, String)> {
    vec![
        ("host".into(), host.into()),
        ("content-type".into(), "application/json".into()),
    ]
}

/// A correctly signed CreateSession request for `leaf` (and `chain`) at `at`.
fn ra_signed(leaf: &Issued, chain: &[Vec<u8>], body: Vec<u8>, at: OffsetDateTime) -> Req {
    let key = x509::X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    ra_signed_with(&key, leaf, chain, body, at)
}

fn ra_signed_with(
    key: &x509::X509SigningKey,
    leaf: &Issued,
    chain: &[Vec<u8>],
    body: Vec<u8>,
    at: OffsetDateTime,
) -> Req {
    ra_signed_query(key, leaf, chain, "", body, at)
}

/// [`ra_signed_with`], the query string `query` signed too (aws_signing_helper sends the ARNs
/// there).
fn ra_signed_query(
    key: &x509::X509SigningKey,
    leaf: &Issued,
    chain: &[Vec<u8>],
    query: &str,
    body: Vec<u8>,
    at: OffsetDateTime,
) -> Req {
    ra_signed_for_host(key, leaf, chain, query, body, at, HOST)
}

/// [`ra_signed_query`] signed for the server `host` (and sent with it).
fn ra_signed_for_host(
    key: &x509::X509SigningKey,
    leaf: &Issued,
    chain: &[Vec<u8>],
    query: &str,
    body: Vec<u8>,
    at: OffsetDateTime,
    host: &str,
) -> Req {
    let serial = ClientCertificate::parse(leaf.cert_der.clone())
        .map(|c| c.serial_decimal().to_owned())
        .unwrap_or_else(|_| "1".into());
    let mut headers = headers_for(host);
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let http = HttpRequest {
        method: "POST",
        path: "/sessions",
        query,
        headers: &pairs,
    };
    let added = x509::sign_request(&http, &body, key, &leaf.cert_der, chain, &serial, REGION, at).unwrap();
    headers.extend(added);
    Req {
        method: "POST",
        path: "/sessions".into(),
        query: query.to_owned(),
        headers,
        body,
    }
}

/// Signs a request over exactly `signed_names` (which may omit required headers), like a
/// hostile or broken client would.
fn ra_signed_over(leaf: &Issued, body: Vec<u8>, signed_names: &[&str], at: OffsetDateTime) -> Req {
    let key = x509::X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let serial = ClientCertificate::parse(leaf.cert_der.clone())
        .unwrap()
        .serial_decimal()
        .to_owned();
    let amz_date = sigv4::format_amz_date(at);
    let mut headers = base_headers();
    headers.push(("x-amz-date".into(), amz_date.clone()));
    headers.push(("x-amz-x509".into(), STANDARD.encode(&leaf.cert_der)));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let http = HttpRequest {
        method: "POST",
        path: "/sessions",
        query: "",
        headers: &pairs,
    };
    let creq = sigv4::canonical_request(&http, signed_names, &sigv4::sha256_hex(&body), true).unwrap();
    let label = key.algorithm().label();
    let scope = format!("{}/{REGION}/rolesanywhere/aws4_request", &amz_date[..8]);
    let sts = sigv4::string_to_sign(label, &amz_date, &scope, &creq);
    let sig = hex::encode(key.sign(sts.as_bytes()).unwrap());
    headers.push((
        "authorization".into(),
        format!(
            "{label} Credential={serial}/{scope}, SignedHeaders={}, Signature={sig}",
            signed_names.join(";")
        ),
    ));
    Req {
        method: "POST",
        path: "/sessions".into(),
        query: String::new(),
        headers,
        body,
    }
}

fn with_header(mut r: Req, name: &str, value: &str) -> Req {
    r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    r.headers.push((name.to_owned(), value.to_owned()));
    r
}

/// `r` with a second `name` header after the one it has.
fn with_second_header(mut r: Req, name: &str, value: &str) -> Req {
    r.headers.push((name.to_owned(), value.to_owned()));
    r
}

fn without_header(mut r: Req, name: &str) -> Req {
    r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    r
}

fn map_header(r: Req, name: &str, f: impl Fn(&str) -> String) -> Req {
    let v = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| f(v))
        .unwrap();
    with_header(r, name, &v)
}

fn ok_body() -> Vec<u8> {
    body_json("main", ROLE, "main")
}

// ---------------------------------------------------------------------------------------------
// Certificates.

fn leaf_params(cn: &str) -> CertificateParams {
    let n = now();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = n - days(1);
    p.not_after = n + days(30);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p
}

fn ca_params(cn: &str, constraint: BasicConstraints) -> CertificateParams {
    let n = now();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = n - days(1);
    p.not_after = n + days(60);
    p.is_ca = IsCa::Ca(constraint);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn sub_ca(parent: &Authority, params: &CertificateParams) -> Authority {
    let issued = parent.issue(params, KeyType::EcdsaP256).unwrap();
    Authority::from_pem(&issued.cert_pem, &issued.key_pem).unwrap()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    rustls_pemfile_certs(pem.as_bytes()).remove(0).to_vec()
}

/// An `Issued` for an openssl-made legacy leaf (tests/data/legacy), with its key if any.
fn legacy(name: &str, key: Option<&str>) -> Issued {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy");
    let cert_pem = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
    let key_der = match key {
        Some(k) => {
            use rustls::pki_types::pem::PemObject;
            let pem = std::fs::read(dir.join(k)).unwrap();
            rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem)
                .unwrap()
                .secret_pkcs8_der()
                .to_vec()
        }
        None => Vec::new(),
    };
    Issued {
        cert_der: pem_to_der(&cert_pem),
        cert_pem,
        key_pkcs8_der: zeroize::Zeroizing::new(key_der),
        key_pem: zeroize::Zeroizing::new(String::new()),
        serial_hex: String::new(),
    }
}

/// A request for a leaf whose key we cannot use (RSA-1024): any signature, the certificate is
/// refused first.
fn ra_unsigned_leaf(leaf: &Issued) -> Req {
    let signer = Pki::client(
        &Authority::new_root("x", KeyType::EcdsaP256, now() - days(1), now() + days(1)).unwrap(),
        "x",
        KeyType::EcdsaP256,
    );
    let key = x509::X509SigningKey::from_pkcs8_der(&signer.key_pkcs8_der).unwrap();
    ra_signed_with(&key, leaf, &[], ok_body(), now())
}

fn matrix_setup(pki: &Pki) -> Setup<'_> {
    let n = now();
    let revoked_cutoff = session::format_expiration((n + days(365)).unix_timestamp());
    let ra = |extra: &str| trust_policy_roles_anywhere("main", extra);
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let deny_wins = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]},{"Sid":"NoOne","Effect":"Deny","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let not_principal = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}},{{"Sid":"OnlyApp","Effect":"Deny","NotPrincipal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let missing_key = ra(r#","StringEquals":{"aws:PrincipalTag/x509SAN/DNS":"svc.example"}"#);
    let chain_trust = |principal: &str, extra: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]{extra}}}]}}"#
        )
    };
    let chain_deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["sts:AssumeRole","sts:TagSession"]}},{{"Effect":"Deny","Principal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let extra = format!(
        r#"
[[profile]]
id = "policies"
role_arns = ["{deny}", "{notp}", "{missing}"]

[[profile]]
id = "legacy"
role_arns = ["{legacy_role}"]

[[role]]
arn = "{legacy_role}"
trust_policy = '''{legacy_trust}'''

[[profile]]
id = "revoked"
role_arns = ["{revoked}"]

[[role]]
arn = "{deny}"
trust_policy = '''{deny_wins}'''

[[role]]
arn = "{notp}"
trust_policy = '''{not_principal}'''

[[role]]
arn = "{missing}"
trust_policy = '''{missing_key}'''

[[role]]
arn = "{revoked}"
trust_policy = '''{revoked_trust}'''
revoke_sessions_issued_before = "{revoked_cutoff}"

[[role]]
arn = "{ROLE_CHAINED}"
trust_policy = '''{chained_trust}'''

[[role]]
arn = "{chain_denied}"
trust_policy = '''{chain_denied_trust}'''

[[role]]
arn = "{chain_deny_wins}"
trust_policy = '''{chain_deny}'''

[[role]]
arn = "{chain_external}"
trust_policy = '''{chain_external_trust}'''

[[trust_anchor]]
id = "legacy"
certificates = "{legacy_ca}"

[[trust_anchor]]
id = "constrained"
certificates = "ca.pem"

[[managed_policy]]
arn = "arn:aws:iam::{ACCOUNT}:policy/read"
document = '''{read}'''

[[managed_policy]]
arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
document = '''{read}'''

[[managed_policy]]
arn = "arn:aws:iam::{OTHER_ACCOUNT}:policy/read"
document = '''{read}'''
"#,
        read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#,
        deny = role("deny-wins"),
        notp = role("not-principal"),
        missing = role("missing-key"),
        revoked = role("revoked"),
        revoked_trust = ra(""),
        legacy_role = role("legacy"),
        legacy_trust = trust_policy_roles_anywhere("legacy", ""),
        chained_trust = chain_trust(ROLE, ""),
        chain_denied = role("chain-denied"),
        chain_denied_trust = chain_trust(ROLE_OTHER, ""),
        chain_deny_wins = role("chain-deny-wins"),
        chain_external = role("chain-external"),
        chain_external_trust = chain_trust(
            ROLE,
            r#","Condition":{"StringEquals":{"sts:ExternalId":"secret-handshake"}}"#
        ),
        legacy_ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/legacy/ca.pem")
            .display(),
    );
    Setup {
        pki,
        extra_toml: extra,
        crl_pem: None,
        app_trust_condition: "",
    }
}

#[tokio::test]
async fn certificate_matrix() {
    let pki = Pki::new();
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let mut setup = matrix_setup(&pki);
    setup.crl_pem = Some(
        pki.root
            .crl(&[revoked.serial_hex.as_str()], n - days(1), n + days(7))
            .unwrap(),
    );
    let d = start(&setup);
    let body = ok_body;
    let legacy_body = || body_json("legacy", &format!("arn:aws:iam::{ACCOUNT}:role/legacy"), "legacy");

    let mut eku = leaf_params("server-eku");
    eku.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut ku = leaf_params("no-digital-signature");
    ku.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let mut ca_flag = leaf_params("ca-leaf");
    ca_flag.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_flag.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];

    // Path length: root -> int0 (pathlen 0) -> int1 -> leaf.
    let int0 = sub_ca(&pki.root, &ca_params("pathlen zero", BasicConstraints::Constrained(0)));
    let int1 = sub_ca(&int0, &ca_params("below pathlen", BasicConstraints::Unconstrained));
    let too_deep = Pki::client(&int1, "too-deep", KeyType::EcdsaP256);
    // Name constraints: the intermediate permits only *.example.com.
    let mut nc = ca_params("name constrained", BasicConstraints::Unconstrained);
    nc.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
        excluded_subtrees: vec![],
    });
    let nc_ca = sub_ca(&pki.root, &nc);
    let mut outside = leaf_params("outside");
    outside.subject_alt_names = vec![SanType::DnsName("evil.test".try_into().unwrap())];
    let nc_leaf = nc_ca.issue(&outside, KeyType::EcdsaP256).unwrap();
    // An intermediate that is not a CA.
    let mut not_ca = ca_params("not a ca", BasicConstraints::Unconstrained);
    not_ca.is_ca = IsCa::ExplicitNoCa;
    not_ca.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let not_ca_int = pki.root.issue(&not_ca, KeyType::EcdsaP256).unwrap();
    // A chain loop: X signed by Y and Y signed by X, neither under a trusted root.
    let x = Authority::new_root("loop x", KeyType::EcdsaP256, n - days(1), n + days(30)).unwrap();
    let y = Authority::new_root("loop y", KeyType::EcdsaP256, n - days(1), n + days(30)).unwrap();
    let mut xp = ca_params("loop x", BasicConstraints::Unconstrained);
    xp.distinguished_name = DistinguishedName::new();
    xp.distinguished_name.push(DnType::CommonName, "loop x");
    let x_by_y = y.issue(&xp, KeyType::EcdsaP256).unwrap();
    let y_by_x = x
        .issue(
            &ca_params("loop y", BasicConstraints::Unconstrained),
            KeyType::EcdsaP256,
        )
        .unwrap();
    let loop_leaf = Pki::client(&x, "looped", KeyType::EcdsaP256);

    let ok = Pki::client(&pki.intermediate, "fine", KeyType::EcdsaP256);
    let int_der = pki.intermediate.issued().cert_der.clone();
    let expired = pki
        .root
        .client(&ClientSpec::new(
            "expired",
            KeyType::EcdsaP256,
            n - days(10),
            n - days(1),
        ))
        .unwrap();
    let future = pki
        .root
        .client(&ClientSpec::new(
            "future",
            KeyType::EcdsaP256,
            n + days(1),
            n + days(10),
        ))
        .unwrap();
    let foreign = Pki::client(&pki.foreign, "stranger", KeyType::EcdsaP256);
    // A serial far past RFC 5280's 20 octets: its decimal form, in the signature's
    // Credential, cost time quadratic in its length before the parse refused it.
    let huge_serial = pki
        .root
        .client(&ClientSpec {
            serial: Some(vec![0x5a; 20_000]),
            ..ClientSpec::new("huge serial", KeyType::EcdsaP256, n - days(1), n + days(1))
        })
        .unwrap();
    let p384 = Pki::client(&pki.root, "p384", KeyType::EcdsaP384);
    let sha1 = legacy("sha1-leaf", Some("sha1-leaf-key.pem"));
    let rsa1024 = legacy("rsa1024-leaf", None);
    let legacy_ok = legacy("ok-leaf", Some("ok-leaf-key.pem"));
    let six: Vec<Vec<u8>> = vec![int_der.clone(); 6];

    const AD: &str = "AccessDeniedException";
    let cases = vec![
        case(
            "control: leaf under intermediate",
            ra_signed(&ok, std::slice::from_ref(&int_der), body(), n),
            Want::Ok(201),
        ),
        case(
            "control: legacy anchor sha256 leaf",
            ra_signed(&legacy_ok, &[], legacy_body(), n),
            Want::Ok(201),
        ),
        case("control: P-384 leaf", ra_signed(&p384, &[], body(), n), Want::Ok(201)),
        case(
            "EKU serverAuth only",
            ra_signed(&pki.root.issue(&eku, KeyType::EcdsaP256).unwrap(), &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate's extended key usage does not allow client authentication (clientAuth) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "KU without digitalSignature",
            ra_signed(&pki.root.issue(&ku, KeyType::EcdsaP256).unwrap(), &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: certificate lacks the digitalSignature key usage (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "leaf is a CA",
            ra_signed(&pki.root.issue(&ca_flag, KeyType::EcdsaP256).unwrap(), &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: certificate is a CA certificate (basicConstraints CA:true); use an end-entity certificate (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "path length exceeded",
            ra_signed(
                &too_deep,
                &[int1.issued().cert_der.clone(), int0.issued().cert_der.clone()],
                body(),
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate chain violates a path length or name constraint of an issuing CA (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "name constraint violated",
            ra_signed(&nc_leaf, &[nc_ca.issued().cert_der.clone()], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate chain violates a path length or name constraint of an issuing CA (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "intermediate is not a CA",
            ra_signed(
                &Pki::client(
                    &Authority::from_pem(&not_ca_int.cert_pem, &not_ca_int.key_pem).unwrap(),
                    "under-leaf",
                    KeyType::EcdsaP256,
                ),
                std::slice::from_ref(&not_ca_int.cert_der),
                body(),
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: intermediate certificate is not a CA (basicConstraints CA:true is required) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "chain loop",
            ra_signed(
                &loop_leaf,
                &[x_by_y.cert_der.clone(), y_by_x.cert_der.clone()],
                body(),
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate is not signed by a trusted certificate authority of this trust anchor (if an intermediate CA issued it, send that CA's certificate with it as the chain) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "six chain certificates",
            ra_signed(&ok, &six, body(), n),
            Want::Rest(
                403,
                AD,
                "X-Amz-X509-Chain has 6 certificates; at most 5 intermediates are allowed, plus a copy of the client certificate. (reason: chain-too-long, request id: {id})",
            ),
        ),
        case(
            "empty chain entries",
            with_header(ra_signed(&ok, &[], body(), n), "x-amz-x509-chain", ",,,"),
            Want::Rest(
                403,
                AD,
                "X-Amz-X509-Chain has an empty entry; list the base64 DER certificates separated by single commas. (reason: bad-chain, request id: {id})",
            ),
        ),
        case(
            "duplicate chain certificates",
            ra_signed(&ok, &[int_der.clone(), int_der.clone()], body(), n),
            Want::Rest(
                403,
                AD,
                "X-Amz-X509-Chain contains the same certificate more than once; send each intermediate once. (reason: chain-duplicate, request id: {id})",
            ),
        ),
        case(
            "expired",
            ra_signed(&expired, &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate has expired (notAfter {time}) (reason: certificate-expired, request id: {id})",
            ),
        ),
        case(
            "not yet valid",
            ra_signed(&future, &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate is not yet valid (notBefore {time}) (reason: certificate-not-yet-valid, request id: {id})",
            ),
        ),
        case(
            "revoked by CRL",
            ra_signed(&revoked, &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate is revoked by a CRL of the trust anchor (reason: certificate-revoked, request id: {id})",
            ),
        ),
        case(
            "untrusted root",
            ra_signed(&foreign, &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate is not signed by a trusted certificate authority of this trust anchor (if an intermediate CA issued it, send that CA's certificate with it as the chain) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "valid leaf, other anchor",
            ra_signed(
                &ok,
                std::slice::from_ref(&int_der),
                body_json("main", ROLE, "foreign"),
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: certificate is not signed by a trusted certificate authority of this trust anchor (if an intermediate CA issued it, send that CA's certificate with it as the chain) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "disabled anchor",
            ra_signed(
                &ok,
                std::slice::from_ref(&int_der),
                body_json("main", ROLE, "disabled"),
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Trust anchor arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/disabled is disabled; enable it to create sessions with it. (reason: trust-anchor-disabled, request id: {id})",
            ),
        ),
        case(
            "SHA-1 signed leaf",
            ra_signed(&sha1, &[], legacy_body(), n),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: unsupported signature algorithm sha1WithRSAEncryption; SHA-256 or stronger is required (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "RSA-1024 leaf",
            ra_unsigned_leaf(&rsa1024),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: RSA key of 1024 bits is too small; at least 2048 bits required (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "X-Amz-X509 not base64",
            with_header(ra_signed(&ok, &[], body(), n), "x-amz-x509", "%%%not-base64"),
            Want::Rest(
                403,
                AD,
                "X-Amz-X509 is not valid base64. (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "X-Amz-X509 not DER",
            with_header(
                ra_signed(&ok, &[], body(), n),
                "x-amz-x509",
                &STANDARD.encode(b"hello world"),
            ),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: malformed certificate: the DER ends before the certificate does (truncated) (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "serial number of 20,000 octets",
            ra_signed(&huge_serial, &[], body(), n),
            Want::Rest(
                403,
                AD,
                "Invalid certificate in X-Amz-X509: the serial number has 20000 octets; RFC 5280 allows at most 20 (rolegate accepts up to 30, what the session's 'ID=' source identity can hold) (reason: bad-certificate, request id: {id})",
            ),
        ),
        case(
            "X-Amz-X509-Chain not base64",
            with_header(ra_signed(&ok, &[], body(), n), "x-amz-x509-chain", "abc,@@@"),
            Want::Rest(
                403,
                AD,
                "X-Amz-X509-Chain is not a comma-separated list of base64 DER certificates. (reason: bad-chain, request id: {id})",
            ),
        ),
        case(
            "X-Amz-X509-Chain not DER",
            ra_signed(&ok, &[b"garbage".to_vec()], body(), n),
            Want::Rest(
                403,
                AD,
                "Untrusted certificate: malformed intermediate certificate #1: the DER ends before the certificate does (truncated) (reason: untrusted-certificate, request id: {id})",
            ),
        ),
        case(
            "leaf swapped after signing",
            with_header(
                ra_signed(&ok, &[], body(), n),
                "x-amz-x509",
                &STANDARD.encode(&expired.cert_der),
            ),
            Want::Rest(
                403,
                AD,
                "The Credential of the Authorization header does not name the serial number of the X-Amz-X509 certificate. (reason: serial-mismatch, request id: {id})",
            ),
        ),
    ];
    run(&d, cases).await;
}

#[tokio::test]
async fn signature_and_request_matrix() {
    let pki = Pki::new();
    let d = start(&matrix_setup(&pki));
    let n = now();
    let leaf = Pki::client(&pki.root, "signer", KeyType::EcdsaP256);
    let rsa = Pki::client(&pki.root, "signer-rsa", KeyType::Rsa2048);
    let other = Pki::client(&pki.root, "other", KeyType::EcdsaP256);
    let other_key = x509::X509SigningKey::from_pkcs8_der(&other.key_pkcs8_der).unwrap();
    let good = || ra_signed(&leaf, &[], ok_body(), n);
    let auth = |r: Req, f: &dyn Fn(&str) -> String| map_header(r, "authorization", f);
    const AD: &str = "AccessDeniedException";
    const VE: &str = "ValidationException";
    let all_signed = ["content-type", "host", "x-amz-date", "x-amz-x509"];

    let mut oversized_query = good();
    oversized_query.query = format!("x={}", "a".repeat(70 * 1024));
    let leaf_key = x509::X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let arns_query = format!(
        "profileArn={}&roleArn={ROLE}&trustAnchorArn={}",
        profile_arn("main"),
        anchor_arn("main")
    );
    let mut tampered_query = good();
    tampered_query.query = "roleArn=x".into();
    let mut get = good();
    get.method = "GET";
    let mut put_sts = good();
    (put_sts.method, put_sts.path) = ("PUT", "/".into());
    let mut elsewhere = good();
    elsewhere.path = "/nope".into();
    // An STS client whose endpoint was given the Roles Anywhere path.
    let mut sts_at_sessions = good();
    sts_at_sessions.query = "Action=GetCallerIdentity&Version=2011-06-15".into();
    let with_content_type = |content_type: &str| {
        let mut req = good();
        for (name, value) in &mut req.headers {
            if name.eq_ignore_ascii_case("content-type") {
                *value = content_type.into();
            }
        }
        req
    };
    // The accepted request, signed for (and sent to) the server by another name.
    let signing_key = x509::X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let signed_for_host = |host: &str| ra_signed_for_host(&signing_key, &leaf, &[], "", ok_body(), n, host);

    let cases = vec![
        case("control: signed request", good(), Want::Ok(201)),
        case(
            "control: RSA signed request",
            ra_signed(&rsa, &[], ok_body(), n),
            Want::Ok(201),
        ),
        case(
            "control: explicitly signed headers",
            ra_signed_over(&leaf, ok_body(), &all_signed, n),
            Want::Ok(201),
        ),
        case(
            "signed with another key",
            ra_signed_with(&other_key, &leaf, &[], ok_body(), n),
            Want::Rest(403, AD, "Signature validation failed: the request signature does not match the certificate's public key and the signed request. (reason: bad-signature, request id: {id})"),
        ),
        case(
            "RSA label on ECDSA key",
            auth(good(), &|v| v.replace("AWS4-X509-ECDSA-SHA256", "AWS4-X509-RSA-SHA256")),
            Want::Rest(
                403,
                AD,
                "The signing algorithm 'AWS4-X509-RSA-SHA256' does not match the certificate's public key type. (reason: algorithm-key-mismatch, request id: {id})",
            ),
        ),
        case(
            "ECDSA label on RSA key",
            auth(ra_signed(&rsa, &[], ok_body(), n), &|v| {
                v.replace("AWS4-X509-RSA-SHA256", "AWS4-X509-ECDSA-SHA256")
            }),
            Want::Rest(
                403,
                AD,
                "The signing algorithm 'AWS4-X509-ECDSA-SHA256' does not match the certificate's public key type. (reason: algorithm-key-mismatch, request id: {id})",
            ),
        ),
        case(
            "RSA SHA-384 label on ECDSA key: named as sent",
            auth(good(), &|v| v.replace("AWS4-X509-ECDSA-SHA256", "AWS4-X509-RSA-SHA384")),
            Want::Rest(
                403,
                AD,
                "The signing algorithm 'AWS4-X509-RSA-SHA384' does not match the certificate's public key type. (reason: algorithm-key-mismatch, request id: {id})",
            ),
        ),
        case(
            "signature of an odd number of hex digits",
            auth(good(), &|v| format!("{v}0")),
            Want::Rest(
                403,
                AD,
                "Invalid Authorization header: The Signature must be the hex-encoded signature: an even number of hexadecimal digits. (reason: bad-authorization, request id: {id})",
            ),
        ),
        case(
            "unknown algorithm label",
            auth(good(), &|v| v.replace("AWS4-X509-ECDSA-SHA256", "AWS4-X509-DSA-SHA1")),
            Want::Rest(403, AD, "Invalid Authorization header: Unsupported AWS 'algorithm': 'AWS4-X509-DSA-SHA1'. Supported are AWS4-X509-RSA-SHA256 and AWS4-X509-ECDSA-SHA256. (reason: bad-authorization, request id: {id})"),
        ),
        case(
            "HMAC label on /sessions",
            auth(good(), &|v| v.replace("AWS4-X509-ECDSA-SHA256", "AWS4-HMAC-SHA256")),
            Want::Rest(403, AD, "Invalid Authorization header: Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA256'. Supported are AWS4-X509-RSA-SHA256 and AWS4-X509-ECDSA-SHA256. (reason: bad-authorization, request id: {id})"),
        ),
        case(
            "replayed 10 minutes later",
            ra_signed(&leaf, &[], ok_body(), n - time::Duration::minutes(10)),
            Want::Rest(403, AD, "Signature expired or not yet valid: X-Amz-Date {amz-date} is more than 300 seconds away from the server time {amz-date}. Check the client clock. (reason: clock-skew, request id: {id})"),
        ),
        case(
            "signed 10 minutes in the future",
            ra_signed(&leaf, &[], ok_body(), n + time::Duration::minutes(10)),
            Want::Rest(403, AD, "Signature expired or not yet valid: X-Amz-Date {amz-date} is more than 300 seconds away from the server time {amz-date}. Check the client clock. (reason: clock-skew, request id: {id})"),
        ),
        case(
            "X-Amz-Date not the credential day",
            map_header(good(), "x-amz-date", |v| format!("2001{}", &v[4..])),
            Want::Rest(403, AD, "The Credential date {date} does not match X-Amz-Date {amz-date}. (reason: date-mismatch, request id: {id})"),
        ),
        case(
            "X-Amz-Date malformed",
            with_header(good(), "x-amz-date", "20260601T000000"),
            Want::Rest(
                403,
                AD,
                "X-Amz-Date '20260601T000000' is not in the format YYYYMMDDTHHMMSSZ. (reason: bad-date, request id: {id})",
            ),
        ),
        case(
            "X-Amz-Date not a date at all (not repeated back)",
            with_header(good(), "x-amz-date", &"yesterday".repeat(500)),
            Want::Rest(403, AD, "X-Amz-Date '…' is not in the format YYYYMMDDTHHMMSSZ. (reason: bad-date, request id: {id})"),
        ),
        case(
            "Authorization not ASCII",
            map_header(good(), "authorization", |v| {
                v.replacen("Credential=", "Credential=\u{ff11}", 1)
            }),
            Want::Rest(
                400,
                VE,
                "The Authorization header holds characters other than visible ASCII; send it as the client signed it, in ASCII.",
            ),
        ),
        case(
            "certificate header not ASCII",
            map_header(good(), "x-amz-x509", |v| format!("{v}\u{e9}")),
            Want::Rest(
                400,
                VE,
                "The X-Amz-X509 header holds characters other than visible ASCII; send it as the client signed it, in ASCII.",
            ),
        ),
        case(
            "no Authorization",
            without_header(good(), "authorization"),
            Want::Rest(403, AD, "Missing Authorization header: sign the request with AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256. (reason: missing-authorization, request id: {id})"),
        ),
        case(
            "no X-Amz-Date",
            without_header(good(), "x-amz-date"),
            Want::Rest(403, AD, "Missing X-Amz-Date header. (reason: missing-date, request id: {id})"),
        ),
        case(
            "no X-Amz-X509",
            without_header(good(), "x-amz-x509"),
            Want::Rest(403, AD, "Missing X-Amz-X509 header: send the base64 DER client certificate. (reason: missing-certificate, request id: {id})"),
        ),
        case(
            "signed header missing from request",
            without_header(good(), "content-type"),
            Want::Rest(403, AD, "Cannot build the canonical request: The request lists 'content-type' in SignedHeaders but does not carry that header. (reason: bad-signature, request id: {id})"),
        ),
        case(
            // Signed for another server (captured on its way there): not replayed to this one.
            "signed for another host",
            signed_for_host("staging.internal:8443"),
            Want::Rest(403, AD, "The request is signed for host 'staging.internal:8443', which is not a name of this server: sign it for the name you reach this server by (its certificate's names, or those of server.hostnames). (reason: wrong-host, request id: {id})"),
        ),
        case(
            "signed for this host by its address",
            signed_for_host("127.0.0.1:9999"),
            Want::Ok(201),
        ),
        case(
            "host not signed",
            ra_signed_over(&leaf, ok_body(), &["content-type", "x-amz-date", "x-amz-x509"], n),
            Want::Rest(403, AD, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization. (reason: unsigned-header, request id: {id})"),
        ),
        case(
            "X-Amz-Date not signed",
            ra_signed_over(&leaf, ok_body(), &["content-type", "host", "x-amz-x509"], n),
            Want::Rest(403, AD, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization. (reason: unsigned-header, request id: {id})"),
        ),
        case(
            "X-Amz-X509 not signed",
            ra_signed_over(&leaf, ok_body(), &["content-type", "host", "x-amz-date"], n),
            Want::Rest(403, AD, "'X-Amz-X509' must be a 'SignedHeader' in the AWS Authorization. (reason: unsigned-header, request id: {id})"),
        ),
        case(
            // Each listing would put the header's value in the canonical request again.
            "a signed header listed twice",
            ra_signed_over(
                &leaf,
                ok_body(),
                &["content-type", "host", "x-amz-date", "x-amz-x509", "x-amz-x509"],
                n,
            ),
            Want::Rest(
                403,
                AD,
                "Invalid Authorization header: SignedHeaders lists 'x-amz-x509' more than once; list each signed header once. (reason: bad-authorization, request id: {id})",
            ),
        ),
        case(
            "credential names another serial",
            auth(good(), &|v| v.replacen("Credential=", "Credential=1", 1)),
            Want::Rest(403, AD, "The Credential of the Authorization header does not name the serial number of the X-Amz-X509 certificate. (reason: serial-mismatch, request id: {id})"),
        ),
        case(
            "credential serial not decimal",
            auth(good(), &|v| v.replacen("Credential=", "Credential=ab", 1)),
            Want::Rest(403, AD, "Invalid Authorization header: Credential should start with the certificate serial number in decimal, not '…'. (reason: bad-authorization, request id: {id})"),
        ),
        case(
            "scope: other region",
            auth(good(), &|v| v.replace("/us-east-1/", "/eu-west-1/")),
            Want::Rest(403, AD, "Credential should be scoped to a valid region: 'us-east-1', not 'eu-west-1'. (reason: wrong-region, request id: {id})"),
        ),
        case(
            "scope: other service",
            auth(good(), &|v| v.replace("/rolesanywhere/", "/sts/")),
            Want::Rest(403, AD, "Credential should be scoped to correct service: 'rolesanywhere', not 'sts'. (reason: wrong-service, request id: {id})"),
        ),
        case(
            "signature not hex",
            auth(good(), &|v| format!("{}zz", v)),
            Want::Rest(403, AD, "Invalid Authorization header: The Signature must be the hex-encoded signature: an even number of hexadecimal digits. (reason: bad-authorization, request id: {id})"),
        ),
        case(
            "body changed after signing",
            Req {
                body: body_json("main", ROLE_OTHER, "main"),
                ..good()
            },
            Want::Rest(403, AD, "Signature validation failed: the request signature does not match the certificate's public key and the signed request. (reason: bad-signature, request id: {id})"),
        ),
        case(
            "query added after signing",
            tampered_query,
            Want::Rest(403, AD, "Signature validation failed: the request signature does not match the certificate's public key and the signed request. (reason: bad-signature, request id: {id})"),
        ),
        case(
            "control: ARNs in the signed query, as aws_signing_helper sends them, and agreeing with the body",
            ra_signed_query(&leaf_key, &leaf, &[], &arns_query, ok_body(), n),
            Want::Ok(201),
        ),
        case(
            "roleArn twice in the query, the values differing",
            ra_signed_query(
                &leaf_key,
                &leaf,
                &[],
                &format!("{arns_query}&roleArn={ROLE_OTHER}"),
                ok_body(),
                n,
            ),
            Want::Rest(
                400,
                VE,
                "The request gives roleArn more than once, with different values; give it once.",
            ),
        ),
        case(
            "a query value with a '%' not followed by two hexadecimal digits, the signature verifying (was read as written)",
            ra_signed_query(&leaf_key, &leaf, &[], "profileArn=%zz", ok_body(), n),
            Want::Rest(
                400,
                VE,
                "The request parameters are not valid application/x-www-form-urlencoded data: a '%' is not followed by two hexadecimal digits.",
            ),
        ),
        case(
            "a malformed query without a certificate: the missing certificate, not the query, is the answer",
            without_header(ra_signed_query(&leaf_key, &leaf, &[], "profileArn=%zz", ok_body(), n), "x-amz-x509"),
            Want::Rest(403, AD, "Missing X-Amz-X509 header: send the base64 DER client certificate. (reason: missing-certificate, request id: {id})"),
        ),
        case(
            "a query value percent-encoding bytes that are not UTF-8 (was read with a replacement character)",
            ra_signed_query(&leaf_key, &leaf, &[], "profileArn=a%FF", ok_body(), n),
            Want::Rest(
                400,
                VE,
                "The request parameters are not valid application/x-www-form-urlencoded data: a percent-encoded value is not UTF-8.",
            ),
        ),
        case(
            "roleArn in the query differing from the body's",
            ra_signed_query(&leaf_key, &leaf, &[], &format!("roleArn={ROLE_OTHER}"), ok_body(), n),
            Want::Rest(
                400,
                VE,
                "The request gives roleArn more than once, with different values; give it once.",
            ),
        ),
        case(
            "missing profileArn",
            ra_signed(&leaf, &[], br#"{"roleArn":"x","trustAnchorArn":"y"}"#.to_vec(), n),
            Want::Rest(400, VE, "Missing required parameter profileArn (query string or JSON body)."),
        ),
        case(
            "roleArn longer than the model allows",
            ra_signed(
                &leaf,
                &[],
                serde_json::to_vec(&serde_json::json!({
                    "profileArn": profile_arn("main"),
                    "roleArn": format!("{ROLE}{}", "a".repeat(2000)),
                    "trustAnchorArn": anchor_arn("main"),
                }))
                .unwrap(),
                n,
            ),
            Want::Rest(
                400,
                VE,
                format!(
                    "1 validation error detected: Value '{}…' (2034 characters) at 'roleArn' failed to satisfy constraint: Member must have length less than or equal to 1011",
                    &format!("{ROLE}{}", "a".repeat(2000))[..256]
                )
                .leak(),
            ),
        ),
        case(
            "body not JSON",
            ra_signed(&leaf, &[], b"{not json".to_vec(), n),
            Want::Rest(400, VE, "The request body is not a valid CreateSession JSON document: ?: key must be a string at line 1 column 2"),
        ),
        case(
            "durationSeconds below 900",
            ra_signed(
                &leaf,
                &[],
                body_with("main", ROLE, "durationSeconds", serde_json::json!(899)),
                n,
            ),
            Want::Rest(400, VE, "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"),
        ),
        case(
            "unknown profile",
            ra_signed(&leaf, &[], body_json("nope", ROLE, "main"), n),
            Want::Rest(404, "ResourceNotFoundException", "Profile arn:aws:rolesanywhere:us-east-1:123456789012:profile/nope was not found."),
        ),
        case("GET /sessions", get, Want::Rest(400, VE, "Use POST /sessions to create a session.")),
        case(
            "PUT / (the STS path)",
            put_sts,
            Want::Sts(400, "InvalidAction", "The STS Query API takes POST / with a form body, or GET /?Action=..."),
        ),
        case(
            "a path no API serves",
            elsewhere,
            Want::Rest(
                404,
                "ResourceNotFoundException",
                "No API at POST /nope: rolegate serves POST /sessions, the STS Query API at / and gRPC.",
            ),
        ),
        case(
            "an STS request to /sessions",
            sts_at_sessions,
            Want::Sts(
                404,
                "NoSuchEntity",
                "No STS API at POST /sessions (Roles Anywhere's CreateSession): rolegate serves the STS Query API at /, so an STS client's endpoint is https://host:port, without a path.",
            ),
        ),
        case(
            "a second Authorization header",
            with_second_header(good(), "authorization", "garbage"),
            Want::Rest(
                400,
                VE,
                "The request has more than one Authorization header; send it once.",
            ),
        ),
        case(
            "gRPC over HTTP/1.1",
            with_content_type("application/grpc+proto"),
            Want::Rest(400, VE, "gRPC needs HTTP/2; this request came over HTTP/1.1."),
        ),
        case(
            "gRPC-Web",
            with_content_type("application/grpc-web-text"),
            Want::GrpcWeb(
                "12",
                "gRPC-Web is not supported; call the gRPC API over HTTP/2 (content-type application/grpc).",
            ),
        ),
        // Not gRPC at all: the REST API reads it (and finds the signed content-type changed).
        case(
            "content-type application/grpcx",
            with_content_type("application/grpcx"),
            Want::Rest(403, AD, "Signature validation failed: the request signature does not match the certificate's public key and the signed request. (reason: bad-signature, request id: {id})"),
        ),
        case("query string over 64 KiB", oversized_query, Want::Status(431)),
        case(
            "header over 64 KiB",
            with_header(good(), "x-padding", &"p".repeat(70 * 1024)),
            Want::Status(431),
        ),
        case(
            "body over the limit",
            ra_signed(&leaf, &[], vec![b' '; 2 * 1024 * 1024], n),
            Want::Rest(413, VE, "The request body exceeds the limit of 65536 bytes."),
        ),
    ];
    run(&d, cases).await;
}

#[tokio::test]
async fn trust_policy_matrix() {
    let pki = Pki::new();
    let d = start(&matrix_setup(&pki));
    let n = now();
    let leaf = Pki::client(&pki.root, "policy-subject", KeyType::EcdsaP256);
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let req = |r: &str| ra_signed(&leaf, &[], body_json("policies", r, "main"), n);
    const AD: &str = "AccessDeniedException";
    let denied = "The trust policy of role arn:aws:iam::123456789012:role/missing-key does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole: no statement allows it with this certificate's attributes. (reason: trust-policy, request id: {id})";
    let cases = vec![
        case(
            "control: allowed role",
            ra_signed(&leaf, &[], ok_body(), n),
            Want::Ok(201),
        ),
        case(
            "explicit deny beats allow",
            req(&role("deny-wins")),
            Want::Rest(
                403,
                AD,
                "The trust policy of role arn:aws:iam::123456789012:role/deny-wins does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole: statement 1 (Sid \"NoOne\") explicitly denies it. (reason: trust-policy, request id: {id})",
            ),
        ),
        case(
            "NotPrincipal deny",
            req(&role("not-principal")),
            Want::Rest(
                403,
                AD,
                "The trust policy of role arn:aws:iam::123456789012:role/not-principal does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole: statement 1 (Sid \"OnlyApp\") explicitly denies it. (reason: trust-policy, request id: {id})",
            ),
        ),
        case(
            "condition on a missing key",
            req(&role("missing-key")),
            Want::Rest(403, AD, denied),
        ),
        case(
            "role not in profile",
            ra_signed(&leaf, &[], body_json("policies", ROLE, "main"), n),
            Want::Rest(
                403,
                AD,
                "Role arn:aws:iam::123456789012:role/app is not one of the roles of profile arn:aws:rolesanywhere:us-east-1:123456789012:profile/policies. (reason: role-not-in-profile, request id: {id})",
            ),
        ),
        case(
            "profile disabled",
            ra_signed(&leaf, &[], body_json("off", ROLE, "main"), n),
            Want::Rest(
                403,
                AD,
                "Profile arn:aws:rolesanywhere:us-east-1:123456789012:profile/off is disabled; enable it to create sessions with it. (reason: profile-disabled, request id: {id})",
            ),
        ),
    ];
    run(&d, cases).await;
}

// ---------------------------------------------------------------------------------------------
// STS: session tokens, HMAC signatures, AssumeRole policies and sizes.

fn ring(id: &str, key_b64: &str) -> KeyRing {
    KeyRing::new(id, vec![(id.to_owned(), TokenKey::from_base64(key_b64).unwrap())]).unwrap()
}

#[derive(Clone)]
struct Session {
    akid: String,
    secret: String,
    token: String,
}

fn sealed(ring: &KeyRing, role: &str, issued_at: i64, expires_at: i64) -> Session {
    let akid = session::new_access_key_id();
    let secret = session::new_secret_access_key();
    let claims = SessionClaims {
        access_key_id: akid.clone(),
        secret_access_key: secret.clone(),
        role_arn: role.to_owned(),
        role_id: session::role_id(role),
        session_name: "matrix".into(),
        issued_at,
        expires_at,
        source_identity: Some("CN=matrix".into()),
        tags: vec![],
        transitive_tag_keys: vec![],
        session_policies: vec![],
        policy_arns: vec![],
        origin: SessionOrigin::RolesAnywhere {
            trust_anchor_arn: anchor_arn("main"),
            profile_arn: profile_arn("main"),
            certificate_serial: "01".into(),
        },
        chain: None,
    };
    Session {
        akid,
        secret: secret.to_string(),
        token: session::seal(ring, &claims).unwrap(),
    }
}

/// A form POST to `/` signed for `service` in `region` at `at` with `s`'s credentials.
#[allow(clippy::too_many_arguments)]
fn sts_signed_for(
    s: &Session,
    token: Option<&str>,
    body: &str,
    service: &str,
    region: &str,
    at: OffsetDateTime,
) -> Req {
    sts_signed_for_host(s, token, body, (service, region), at, HOST)
}

/// [`sts_signed_for`] signed for the server `host` (and sent with it).
fn sts_signed_for_host(
    s: &Session,
    token: Option<&str>,
    body: &str,
    (service, region): (&str, &str),
    at: OffsetDateTime,
    host: &str,
) -> Req {
    let mut headers = vec![
        ("host".to_owned(), host.to_owned()),
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
    ];
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let http = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &pairs,
    };
    let added = sigv4::sign_hmac(
        &http,
        &sigv4::sha256_hex(body.as_bytes()),
        &s.akid,
        &s.secret,
        token,
        region,
        service,
        at,
    );
    headers.extend(added);
    Req {
        method: "POST",
        path: "/".into(),
        query: String::new(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn sts_signed(s: &Session, body: &str) -> Req {
    sts_signed_for(s, Some(&s.token), body, "sts", REGION, now())
}

const WHOAMI: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn assume(role: &str, extra: &str) -> String {
    format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=matrix{extra}",
        form(role)
    )
}

fn form(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[tokio::test]
async fn session_token_and_sts_signature_matrix() {
    let pki = Pki::new();
    let d = start(&matrix_setup(&pki));
    let n = now().unix_timestamp();
    let k1 = ring("k1", K1);
    let good = sealed(&k1, ROLE, n - 60, n + 3600);
    let other_id = sealed(&ring("k2", K1), ROLE, n - 60, n + 3600);
    let other_key = sealed(
        &ring("k1", "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ROLE,
        n - 60,
        n + 3600,
    );
    let expired = sealed(&k1, ROLE, n - 7200, n - 60);
    let revoked = sealed(&k1, &format!("arn:aws:iam::{ACCOUNT}:role/revoked"), n - 60, n + 3600);
    let unknown_role = sealed(&k1, &format!("arn:aws:iam::{ACCOUNT}:role/gone"), n - 60, n + 3600);
    let second = sealed(&k1, ROLE, n - 60, n + 3600);

    // Cut by whole base64 groups (a body of 4n characters always decodes), and to a body of
    // 4n + 1 characters (which no base64 has).
    let body_start = good.token.rfind('.').unwrap() + 1;
    let groups_end = body_start + (good.token.len() - body_start - 12) / 4 * 4;
    let truncated = good.token[..groups_end].to_owned();
    let cut_mid_character = good.token[..groups_end + 1].to_owned();
    let mut flipped = good.token.clone().into_bytes();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let key_id_swapped = good.token.replacen(".k1.", ".k9.", 1);
    let huge = format!("{}{}", good.token, "A".repeat(20_000));
    let with_token = |t: &str| sts_signed_for(&good, Some(t), WHOAMI, "sts", REGION, now());
    // The access key id of another (valid) session, with this session's token and secret.
    let borrowed = Session {
        akid: second.akid.clone(),
        secret: good.secret.clone(),
        token: good.token.clone(),
    };
    let wrong_secret = Session {
        akid: good.akid.clone(),
        secret: "x".repeat(40),
        token: good.token.clone(),
    };
    let unsigned_host = map_header(sts_signed(&good, WHOAMI), "authorization", |v| {
        v.replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    });

    const ICT: &str = "InvalidClientTokenId";
    const INVALID: &str = "The security token included in the request is invalid.";
    // A token naming k1, which the ring holds, that does not open under it (reason
    // token-key-mismatch): the same code, and what an operator must check.
    const MISMATCH: &str = "The security token included in the request is invalid. It names token key 'k1', which \
        this server holds, but does not open with it: it was sealed under a different key with the same id, or it was \
        truncated, altered or forged. Every replica must share the same key files, and a key file must not be replaced \
        under an id it already had.";
    // A token naming a key id the ring lacks (reason unknown-token-key): the id, and what to check.
    macro_rules! unknown_key {
        ($id:literal) => {
            concat!(
                "The security token included in the request is invalid. It names token key '",
                $id,
                "', which this server does not hold: it was sealed by a replica whose key ring holds that key, or \
                 under a key removed while its sessions lived, or it is no token of this deployment. Every replica \
                 must hold every key whose sessions still live."
            )
        };
    }
    const UNKNOWN_K9: &str = unknown_key!("k9");
    const UNKNOWN_K2: &str = unknown_key!("k2");
    const SDNM: &str = "SignatureDoesNotMatch";
    const SDNM_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let cases = vec![
        case("control: sealed session", sts_signed(&good, WHOAMI), Want::Ok(200)),
        // Cut by whole base64 groups: it decodes, and does not open under k1.
        case("token truncated", with_token(&truncated), Want::Sts(403, ICT, MISMATCH)),
        // Cut to a length no base64 has: not a token at all (bad-token).
        case(
            "token cut inside a base64 group",
            with_token(&cut_mid_character),
            Want::Sts(403, ICT, INVALID),
        ),
        case("token bit-flipped", with_token(&flipped), Want::Sts(403, ICT, MISMATCH)),
        case(
            "token key id renamed",
            with_token(&key_id_swapped),
            Want::Sts(403, ICT, UNKNOWN_K9),
        ),
        case(
            "token from an unknown key id",
            sts_signed(&other_id, WHOAMI),
            Want::Sts(403, ICT, UNKNOWN_K2),
        ),
        case(
            "token sealed with another key",
            sts_signed(&other_key, WHOAMI),
            Want::Sts(403, ICT, MISMATCH),
        ),
        case("token is garbage", with_token("hello"), Want::Sts(403, ICT, INVALID)),
        case("token over 16 KiB", with_token(&huge), Want::Sts(403, ICT, INVALID)),
        case(
            "no token (long-term key style)",
            sts_signed_for(&good, None, WHOAMI, "sts", REGION, now()),
            Want::Sts(
                403,
                ICT,
                "The security token included in the request is invalid. rolegate accepts only session credentials: send X-Amz-Security-Token.",
            ),
        ),
        case(
            "token expired",
            sts_signed(&expired, WHOAMI),
            Want::Sts(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
        ),
        case(
            "session revoked by revoke_sessions_issued_before",
            sts_signed(&revoked, WHOAMI),
            Want::Sts(
                403,
                "AccessDenied",
                "Sessions of role arn:aws:iam::123456789012:role/revoked issued before {time} have been revoked; get new credentials (rolegate credential-process, sidecar and update given --endpoint check theirs with the server, every minute by default, and fetch new ones; an SDK keeps credential-process's in memory until they near expiry: restart the application to renew now).",
            ),
        ),
        case(
            "token of a removed role",
            sts_signed(&unknown_role, WHOAMI),
            Want::Sts(
                403,
                ICT,
                "The security token included in the request is invalid. Its session is of role \
                 arn:aws:iam::123456789012:role/gone, which this server no longer has: get credentials for a role it has.",
            ),
        ),
        case(
            "token used with another access key id",
            sts_signed(&borrowed, WHOAMI),
            Want::Sts(403, ICT, INVALID),
        ),
        case(
            "signed with a wrong secret",
            sts_signed(&wrong_secret, WHOAMI),
            Want::Sts(403, SDNM, SDNM_MESSAGE),
        ),
        // Without its secret, a token learns nothing of its expiry, role or revocation.
        case(
            "expired token, wrong secret",
            sts_signed(
                &Session {
                    secret: "x".repeat(40),
                    ..expired.clone()
                },
                WHOAMI,
            ),
            Want::Sts(403, SDNM, SDNM_MESSAGE),
        ),
        case(
            "revoked session, wrong secret",
            sts_signed(
                &Session {
                    secret: "x".repeat(40),
                    ..revoked.clone()
                },
                WHOAMI,
            ),
            Want::Sts(403, SDNM, SDNM_MESSAGE),
        ),
        case(
            "removed role, wrong secret",
            sts_signed(
                &Session {
                    secret: "x".repeat(40),
                    ..unknown_role.clone()
                },
                WHOAMI,
            ),
            Want::Sts(403, SDNM, SDNM_MESSAGE),
        ),
        case(
            "replayed 10 minutes later",
            sts_signed_for(
                &good,
                Some(&good.token),
                WHOAMI,
                "sts",
                REGION,
                now() - time::Duration::minutes(10),
            ),
            Want::Sts(
                403,
                SDNM,
                "Signature expired: {amz-date} is now earlier than {amz-date} ({amz-date} - 5 min.)",
            ),
        ),
        case(
            "signed for another service",
            sts_signed_for(&good, Some(&good.token), WHOAMI, "iam", REGION, now()),
            Want::Sts(403, SDNM, "Credential should be scoped to correct service: 'sts'."),
        ),
        case(
            "signed for another region",
            sts_signed_for(&good, Some(&good.token), WHOAMI, "sts", "eu-west-1", now()),
            Want::Sts(
                403,
                SDNM,
                "Credential should be scoped to a valid region, not 'eu-west-1': this endpoint's region is 'us-east-1'.",
            ),
        ),
        case(
            "body changed after signing",
            Req {
                body: assume(ROLE_CHAINED, "").into_bytes(),
                ..sts_signed(&good, WHOAMI)
            },
            Want::Sts(403, SDNM, SDNM_MESSAGE),
        ),
        case(
            "signed for another host",
            sts_signed_for_host(
                &good,
                Some(&good.token),
                WHOAMI,
                ("sts", "us-east-1"),
                now(),
                "staging.internal",
            ),
            Want::Sts(
                403,
                "SignatureDoesNotMatch",
                "The request is signed for host 'staging.internal', which is not a name of this server: sign it for the name you reach this server by (its certificate's names, or those of server.hostnames).",
            ),
        ),
        case(
            "host not signed",
            unsigned_host,
            Want::Sts(
                400,
                "IncompleteSignature",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ),
        ),
        case(
            "no Authorization",
            without_header(sts_signed(&good, WHOAMI), "authorization"),
            Want::Sts(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
        ),
        case(
            // The signature covers the readable one; STS must not read the body by another.
            "an unreadable Content-Type beside the signed one",
            with_second_header(sts_signed(&good, WHOAMI), "content-type", "text/plain\u{e9}"),
            Want::Sts(
                400,
                "ValidationError",
                "The request has more than one Content-Type header; send it once.",
            ),
        ),
        case(
            "Content-Type not ASCII",
            map_header(sts_signed(&good, WHOAMI), "content-type", |v| format!("{v}\u{e9}")),
            Want::Sts(
                400,
                "ValidationError",
                "The Content-Type header holds characters other than visible ASCII; send it as the client signed it, in ASCII.",
            ),
        ),
        case(
            "a second X-Amz-Security-Token header",
            with_second_header(sts_signed(&good, WHOAMI), "x-amz-security-token", "other"),
            Want::Sts(
                400,
                "ValidationError",
                "The request has more than one X-Amz-Security-Token header; send it once.",
            ),
        ),
        case(
            "Action given twice, with different values",
            sts_signed(&good, "Action=GetCallerIdentity&Action=AssumeRole&Version=2011-06-15"),
            Want::Sts(
                400,
                "ValidationError",
                "The parameter Action is given more than once, with different values.",
            ),
        ),
        case(
            // STS takes it unsigned, so a client sends it so: it is named, not "sign it".
            "unimplemented Action sent unsigned, as STS takes it",
            without_header(
                sts_signed(
                    &good,
                    "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fapp&RoleSessionName=s&WebIdentityToken=eyJ",
                ),
                "authorization",
            ),
            Want::Sts(
                400,
                "InvalidAction",
                "rolegate does not implement the STS action AssumeRoleWithWebIdentity; it serves AssumeRole and GetCallerIdentity.",
            ),
        ),
        case(
            "another Action sent unsigned",
            without_header(
                sts_signed(&good, "Action=GetSessionToken&Version=2011-06-15"),
                "authorization",
            ),
            Want::Sts(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
        ),
        case(
            "unimplemented Action",
            sts_signed(&good, "Action=AssumeRoleWithSAML&Version=2011-06-15"),
            Want::Sts(
                400,
                "InvalidAction",
                "rolegate does not implement the STS action AssumeRoleWithSAML; it serves AssumeRole and GetCallerIdentity.",
            ),
        ),
        case(
            "GetSessionToken with session credentials",
            sts_signed(&good, "Action=GetSessionToken&Version=2011-06-15"),
            Want::Sts(
                403,
                "AccessDenied",
                "Cannot call GetSessionToken with session credentials",
            ),
        ),
        case(
            "wrong Version",
            sts_signed(&good, "Action=GetCallerIdentity&Version=2010-01-01"),
            Want::Sts(
                400,
                "InvalidAction",
                "Could not find operation GetCallerIdentity for version 2010-01-01",
            ),
        ),
    ];
    run(&d, cases).await;
}

#[tokio::test]
async fn assume_role_policy_and_size_matrix() {
    let pki = Pki::new();
    let d = start(&matrix_setup(&pki));
    let n = now().unix_timestamp();
    let caller = sealed(&ring("k1", K1), ROLE, n - 60, n + 3600);
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let ar = |r: &str, extra: &str| sts_signed(&caller, &assume(r, extra));
    let tags: String = (1..=51)
        .map(|i| format!("&Tags.member.{i}.Key=k{i}&Tags.member.{i}.Value=v"))
        .collect();
    let params: String = (1..=300).map(|i| format!("&P{i}=x")).collect();
    let arns: String = (1..=11)
        .map(|i| {
            format!(
                "&PolicyArns.member.{i}.arn={}",
                form(&format!("arn:aws:iam::{ACCOUNT}:policy/p{i}"))
            )
        })
        .collect();
    let long_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "b".repeat(4200)
    );
    let denied = |r: &str| {
        format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/app/matrix is not authorized to perform: sts:AssumeRole on resource: {r}").leak() as &'static str
    };
    const VE: &str = "ValidationError";
    const AD: &str = "AccessDenied";
    let cases = vec![
        case(
            "control: chain into a trusting role",
            ar(ROLE_CHAINED, ""),
            Want::Ok(200),
        ),
        case(
            "control: condition key present",
            ar(&role("chain-external"), "&ExternalId=secret-handshake"),
            Want::Ok(200),
        ),
        case(
            "trust policy names another principal",
            ar(&role("chain-denied"), ""),
            Want::Sts(403, AD, denied(&role("chain-denied"))),
        ),
        case(
            "explicit deny beats account allow",
            ar(&role("chain-deny-wins"), ""),
            Want::Sts(403, AD, denied(&role("chain-deny-wins"))),
        ),
        case(
            "condition on a missing key (ExternalId)",
            ar(&role("chain-external"), ""),
            Want::Sts(403, AD, denied(&role("chain-external"))),
        ),
        case(
            "condition key with another value",
            ar(&role("chain-external"), "&ExternalId=guess"),
            Want::Sts(403, AD, denied(&role("chain-external"))),
        ),
        case(
            "51 session tags",
            ar(ROLE_CHAINED, &tags),
            Want::Sts(
                400,
                VE,
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
            ),
        ),
        case(
            "more than 256 parameters",
            ar(ROLE_CHAINED, &params),
            Want::Sts(400, VE, "The request has more than 256 parameters."),
        ),
        case(
            "11 policy ARNs",
            ar(ROLE_CHAINED, &arns),
            Want::Sts(
                400,
                VE,
                "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10",
            ),
        ),
        case(
            // No model maximum on the length (2026): the packed size bounds it.
            "session policy over the packed budget",
            ar(ROLE_CHAINED, &format!("&Policy={}", form(&long_policy))),
            Want::Sts(
                400,
                "PackedPolicyTooLarge",
                "Packed policy consumes 106% of allotted space, please use smaller policy.",
            ),
        ),
        case(
            "session policy not JSON",
            ar(ROLE_CHAINED, "&Policy=%7Bnot-json"),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                "the policy document is not valid JSON: key must be a string at line 1 column 2 of the policy",
            ),
        ),
        case(
            "control: PolicyArns of the role's account and AWS managed",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&PolicyArns.member.1.arn={}&PolicyArns.member.2.arn={}",
                    form(&format!("arn:aws:iam::{ACCOUNT}:policy/read")),
                    form("arn:aws:iam::aws:policy/ReadOnlyAccess")
                ),
            ),
            Want::Ok(200),
        ),
        case(
            // "The policies must exist in the same account as the role."
            "PolicyArns of another account",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&PolicyArns.member.1.arn={}&PolicyArns.member.2.arn={}",
                    form(&format!("arn:aws:iam::{ACCOUNT}:policy/read")),
                    form(&format!("arn:aws:iam::{OTHER_ACCOUNT}:policy/read"))
                ),
            ),
            Want::Sts(
                400,
                VE,
                format!("Policy arn:aws:iam::{OTHER_ACCOUNT}:policy/read does not exist or is not attachable. rolegate attaches only policies its configuration lists as [[managed_policy]]: of the role's account, or AWS managed (arn:aws:iam::aws:policy/...).").leak(),
            ),
        ),
        case(
            "session policy with a Principal",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#
                    )
                ),
            ),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                "Statement[0].Principal: 'Principal' is not allowed in a permission or session policy (only trust policies name principals)",
            ),
        ),
        case(
            "session policy with a wildcard in a Resource's service",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:*:s3:::b/*","arn:aws:s*:::b/k"]}]}"#
                    )
                ),
            ),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                "Statement[0].Resource[1]: invalid resource 'arn:aws:s*:::b/k': Resource vendor must be fully qualified and cannot contain regexes (a wildcard may not stand for the service: name it, with one ARN per service)",
            ),
        ),
        case(
            "session policy with a pattern for a NotResource's partition",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","NotResource":"arn:aws*:s3:::b/k"}]}"#
                    )
                ),
            ),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                r#"Statement[0].NotResource: invalid resource 'arn:aws*:s3:::b/k': Partition "aws*" is not valid for resource "arn:aws*:s3:::b/k" (write the partition in full, such as aws or aws-us-gov, or "*" alone for every partition)"#,
            ),
        ),
        case(
            "session policy with a condition key twice, in two cases",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"app:k":"a","APP:K":"b"}}}]}"#
                    )
                ),
            ),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                r#"Statement[0].Condition.StringEquals.APP:K: duplicate key "APP:K": condition key names are case-insensitive, so it is the key "app:k" again; give each key once per operator"#,
            ),
        ),
        case(
            "session policy with Bool of two values",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":["true","false"]}}}]}"#
                    )
                ),
            ),
            Want::Sts(
                400,
                "MalformedPolicyDocument",
                r#"Statement[0].Condition.Bool.aws:SecureTransport: Bool takes a single value, "true" or "false", found ["true", "false"]: the condition key does not support multiple Boolean values ("true" and "false" together hold whenever the key is present: to test that, use "Null" with "false")"#,
            ),
        ),
        case(
            "control: session policy with a Resource of every partition",
            ar(
                ROLE_CHAINED,
                &format!(
                    "&Policy={}",
                    form(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:*:s3:::b/*"}]}"#
                    )
                ),
            ),
            Want::Ok(200),
        ),
        case(
            "RoleSessionName of one character",
            sts_signed(
                &caller,
                &format!(
                    "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=a",
                    form(ROLE_CHAINED)
                ),
            ),
            Want::Sts(
                400,
                VE,
                "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
            ),
        ),
        case(
            "RoleSessionName with a space",
            sts_signed(
                &caller,
                &format!(
                    "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=a%20b",
                    form(ROLE_CHAINED)
                ),
            ),
            Want::Sts(
                400,
                VE,
                r"1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*",
            ),
        ),
        case(
            "RoleArn missing",
            sts_signed(&caller, "Action=AssumeRole&Version=2011-06-15&RoleSessionName=matrix"),
            Want::Sts(
                400,
                VE,
                "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
            ),
        ),
        case(
            "DurationSeconds not a number",
            ar(ROLE_CHAINED, "&DurationSeconds=lots"),
            Want::Sts(
                400,
                VE,
                "Value 'lots' for parameter DurationSeconds is invalid: not an integer.",
            ),
        ),
        case(
            "DurationSeconds above the chaining limit",
            ar(ROLE_CHAINED, "&DurationSeconds=7200"),
            Want::Sts(
                400,
                VE,
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ),
        ),
        case(
            "DurationSeconds below 900",
            ar(ROLE_CHAINED, "&DurationSeconds=899"),
            Want::Sts(
                400,
                VE,
                "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
            ),
        ),
        case(
            "member index 0",
            ar(ROLE_CHAINED, "&Tags.member.0.Key=a&Tags.member.0.Value=b"),
            Want::Sts(
                400,
                VE,
                "Invalid parameter name Tags.member.0.Key: member indexes start at 1, with no sign or leading zero.",
            ),
        ),
        case(
            "member index with a leading zero (a second name for member 1)",
            ar(
                ROLE_CHAINED,
                "&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.01.Key=c&Tags.member.01.Value=d",
            ),
            Want::Sts(
                400,
                VE,
                "Invalid parameter name Tags.member.01.Key: member indexes start at 1, with no sign or leading zero.",
            ),
        ),
        case(
            "a PolicyArns member misspelt (its session policy would be dropped in silence)",
            ar(ROLE_CHAINED, "&PolicyArns.member.1.Arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FAWSDenyAll"),
            Want::Sts(
                400,
                VE,
                "Invalid parameter name PolicyArns.member.1.Arn: the members of PolicyArns are written PolicyArns.member.N.arn.",
            ),
        ),
        case(
            "Tags members in lower case",
            ar(ROLE_CHAINED, "&Tags.member.1.key=a&Tags.member.1.value=b"),
            Want::Sts(
                400,
                VE,
                "Invalid parameter name Tags.member.1.key: the members of Tags are written Tags.member.N.Key and Tags.member.N.Value.",
            ),
        ),
        case(
            "TransitiveTagKeys written without .member.",
            ar(ROLE_CHAINED, "&TransitiveTagKeys.1=team"),
            Want::Sts(
                400,
                VE,
                "Invalid parameter name TransitiveTagKeys.1: the members of TransitiveTagKeys are written TransitiveTagKeys.member.N.",
            ),
        ),
        case(
            "SourceIdentity changed along the chain",
            ar(ROLE_CHAINED, "&SourceIdentity=someone-else"),
            Want::Sts(
                400,
                VE,
                "The source identity is already set for this assume role session: it is 'CN=matrix' and cannot change along a role chain.",
            ),
        ),
    ];
    run(&d, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Secret hygiene: logs, key file permissions, TLS versions.

/// Starts the daemon with `RUST_LOG=debug` and `--log-format {format}`, its logs (stderr) in
/// `stderr.log` of its state folder.
fn start_logging(setup: &Setup, format: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), setup);
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = std::process::Command::new(binary())
        .args(["--log-format", format, "serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    // The log goes to stderr.log in the state folder, which the secret scan reads whole.
    adopt(dir, child, std::sync::mpsc::channel().1)
}

fn json_str(v: &serde_json::Value, path: &[&str]) -> String {
    path.iter()
        .fold(v, |v, k| match k.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*k],
        })
        .as_str()
        .unwrap()
        .to_owned()
}

/// The base64 lines inside a PEM block (long enough to be unmistakable).
fn pem_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_owned)
        .collect()
}

async fn full_scenario_secrets(format: &str) {
    let pki = Pki::new();
    let mut d = start_logging(&matrix_setup(&pki), format);
    let leaf = Pki::client(&pki.root, "hygiene", KeyType::EcdsaP256);

    let created = send(&d, &ra_signed(&leaf, &[], ok_body(), now())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let v: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let creds = |k: &str| json_str(&v, &["credentialSet", "0", "credentials", k]);
    let first = Session {
        akid: creds("accessKeyId"),
        secret: creds("secretAccessKey"),
        token: creds("sessionToken"),
    };
    assert_eq!(send(&d, &sts_signed(&first, WHOAMI)).await.status, 200);
    let chained = send(&d, &sts_signed(&first, &assume(ROLE_CHAINED, ""))).await;
    assert_eq!(chained.status, 200, "{}", chained.body);
    let second = Session {
        akid: chained.element("AccessKeyId").expect("AccessKeyId").to_owned(),
        secret: unescape(chained.element("SecretAccessKey").expect("SecretAccessKey")),
        token: unescape(chained.element("SessionToken").expect("SessionToken")),
    };
    assert_eq!(send(&d, &sts_signed(&second, WHOAMI)).await.status, 200);
    // Failures log more: a bad token, a wrong secret, a bad certificate signature.
    let truncated = &first.token[..first.token.len() - 5];
    assert_eq!(
        send(
            &d,
            &sts_signed_for(&first, Some(truncated), WHOAMI, "sts", REGION, now())
        )
        .await
        .status,
        403
    );
    let wrong = Session {
        secret: "y".repeat(40),
        ..Session {
            akid: first.akid.clone(),
            secret: String::new(),
            token: first.token.clone(),
        }
    };
    assert_eq!(send(&d, &sts_signed(&wrong, WHOAMI)).await.status, 403);
    let other = Pki::client(&pki.root, "other", KeyType::EcdsaP256);
    let other_key = x509::X509SigningKey::from_pkcs8_der(&other.key_pkcs8_der).unwrap();
    assert_eq!(
        send(&d, &ra_signed_with(&other_key, &leaf, &[], ok_body(), now()))
            .await
            .status,
        403
    );

    let log_path = d.dir.path().join("stderr.log");
    let server_key = std::fs::read_to_string(d.dir.path().join("server.key")).unwrap();
    // The daemon writes its log in batches: stop it, so the scan below reads every line the
    // seven requests caused, the last batch included.
    d.stop_and_read_log();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let decisions = logs
        .lines()
        .filter(|l| l.contains("audit") && l.contains("decision"))
        .count();
    assert_eq!(decisions, 7, "{logs}");
    // The logs are real: debug level, the audit events of this scenario, the rejected token.
    assert!(logs.contains("DEBUG"), "no debug output in {format} logs");
    assert!(logs.contains("audit"), "no audit events in {format} logs");
    assert!(logs.contains("session token rejected"), "{logs}");

    let token_key_hex = hex::encode(STANDARD.decode(K1).unwrap());
    let mut secrets: Vec<(String, String)> = vec![
        ("token key (base64)".into(), K1.into()),
        ("token key (hex)".into(), token_key_hex),
    ];
    for (who, s) in [("CreateSession", &first), ("AssumeRole", &second)] {
        secrets.push((format!("{who} secret"), s.secret.clone()));
        secrets.push((format!("{who} token"), s.token.clone()));
        // Any 32-character piece of the sealed part of the token.
        let body = s.token.rsplit('.').next().unwrap();
        for (i, chunk) in body.as_bytes().chunks(32).enumerate().filter(|(_, c)| c.len() == 32) {
            secrets.push((
                format!("{who} token piece {i}"),
                String::from_utf8(chunk.to_vec()).unwrap(),
            ));
        }
    }
    for line in pem_lines(&server_key) {
        secrets.push(("server private key".into(), line));
    }
    for line in pem_lines(&leaf.key_pem) {
        secrets.push(("client private key".into(), line));
    }
    let leaks: Vec<&str> = secrets
        .iter()
        .filter(|(_, s)| logs.contains(s.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(leaks.is_empty(), "{format} logs leak: {leaks:?}");
}

#[tokio::test]
async fn text_logs_never_contain_secrets() {
    full_scenario_secrets("text").await;
}

#[tokio::test]
async fn json_logs_never_contain_secrets() {
    full_scenario_secrets("json").await;
}

/// A configuration of `pki` (with `crl_pem` on its anchor) written to `dir`.
fn config_in(dir: &std::path::Path, pki: &Pki, crl_pem: Option<String>) -> std::path::PathBuf {
    write_config(dir, &Setup { crl_pem, ..setup(pki) })
}

/// The line of `text` on which `needle` first starts (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in the file"));
    text[..at].matches('\n').count() + 1
}

/// Whether `stderr` reports the configuration error `want` (`key: message`, or `key (note):
/// message`) with its key placed on line `line` of the file (any column), as
/// `key (line L, column C): message` or `key (line L, column C; note): message`.
fn has_placed_error(stderr: &str, want: &str, line: usize) -> bool {
    let (key, message) = want.split_once(": ").expect("`key: message`");
    let (key, note) = match key.split_once(" (") {
        Some((key, note)) => (key, format!("; {}", note.trim_end_matches(')'))),
        None => (key, String::new()),
    };
    let prefix = format!("{key} (line {line}, column ");
    let suffix = format!("{note}): {message}");
    stderr.lines().any(|l| {
        l.split_once(&prefix)
            .and_then(|(_, rest)| rest.split_once(&suffix))
            .is_some_and(|(column, _)| column.parse::<u32>().is_ok())
    })
}

/// `rolegate check-config {config}`: its exit code, stdout and stderr.
fn check_config(config: &std::path::Path) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(binary())
        .arg("check-config")
        .arg(config)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// A token key pasted into the configuration where a key file's path or a key id belongs is
/// refused without being repeated: `check-config`'s output lands in CI logs and tickets.
#[test]
fn a_token_key_in_the_wrong_field_is_not_shown() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    for (pasted, expected) in [
        (
            text.replacen("file = \"k1.key\"", &format!("file = \"{key}\""), 1),
            "tokens.keys[0].file (line 14, column 8): this is a token key itself, not the path of a file holding one (not shown)",
        ),
        (
            text.replacen("active = \"k1\"", &format!("active = \"{key}\""), 1),
            "tokens.active (line 11, column 10): active token key of 44 characters (not shown: longer than any key id, it may be a key itself) is not among the listed keys",
        ),
    ] {
        assert_ne!(pasted, text);
        std::fs::write(&config, pasted).unwrap();
        let (code, stdout, stderr) = check_config(&config);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stdout.contains(&key[..12]) && !stderr.contains(&key[..12]), "{stderr}");
    }
}

/// A server certificate in its last 7 days is warned about at `server.tls_cert`, with its
/// expiry and what to do, and `--strict` fails on it; one with 30 days left is not.
#[test]
fn a_server_certificate_expiring_within_seven_days_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("the server certificate expires"), "{stderr}");

    let n = now();
    let not_after = (n + days(3)).replace_nanosecond(0).unwrap();
    let server = pki
        .root
        .server(&["localhost"], KeyType::EcdsaP256, n - days(1), not_after)
        .unwrap();
    std::fs::write(dir.path().join("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), server.key_pem.as_bytes()).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let text = std::fs::read_to_string(&config).unwrap();
    let want = |left: &str| {
        format!(
            "server.tls_cert: the server certificate expires at {} (in {left}), and TLS clients will refuse it \
             from then on: renew server.tls_cert and server.tls_key, then reload",
            session::format_expiration(not_after.unix_timestamp())
        )
    };
    // 72 h less the time the check took (within the same second, or not).
    let line = line_of(&text, "tls_cert");
    assert!(
        ["72 h 0 min", "71 h 59 min"]
            .iter()
            .any(|left| has_placed_error(&stderr, &want(left), line)),
        "{}\nnot in\n{stderr}",
        want("72 h 0 min")
    );
    let strict = std::process::Command::new(binary())
        .args(["check-config", "--strict"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(3));
}

/// Files the configuration reads that every user can write (or replace, in a folder every user
/// can write) are warned about, so `check-config --strict` refuses them: whoever writes them
/// decides whom the daemon trusts. A folder is named once.
#[test]
fn files_every_user_can_write_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("can be written by every user"), "{stderr}");
    let ca = dir.path().join("ca.pem");
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let want = format!(
        "{} can be written by every user (mode 0666), who would decide whom the daemon trusts and with which \
         roles; chmod o-w it",
        ca.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let strict = std::process::Command::new(binary())
        .args(["check-config", "--strict"])
        .arg(&config)
        .output()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(3), "{stderr}");
    let folder = format!("{} can be written by every user (mode 0777)", dir.path().display());
    assert_eq!(stderr.matches(&folder).count(), 1, "{stderr}");
    // With the sticky bit (as /tmp has), no user replaces another's files there.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (code, _, stderr) = check_config(&config);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("can be written by every user"), "{stderr}");
}

/// A role whose trust policy names, in `aws:SourceArn`, only anchor ARNs the configuration no
/// longer has (here: `server.region` changed, which renames every anchor) refuses every
/// CreateSession: warned about at its trust policy, so `check-config --strict` refuses it.
#[test]
fn roles_bound_to_no_configured_anchor_are_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("admit none of the enabled trust anchors"), "{stderr}");
    let text = std::fs::read_to_string(&config).unwrap();
    let region = format!("region = \"{REGION}\"");
    assert!(text.contains(&region), "{text}");
    std::fs::write(&config, text.replacen(&region, "region = \"eu-west-1\"", 1)).unwrap();
    let strict = std::process::Command::new(binary())
        .args(["check-config", "--strict"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(3), "{stderr}");
    let want = format!(
        "role {ROLE}: its trust policy's aws:SourceArn conditions admit none of the enabled trust anchors \
         (arn:aws:rolesanywhere:eu-west-1:{ACCOUNT}:trust-anchor/main, \
         arn:aws:rolesanywhere:eu-west-1:{ACCOUNT}:trust-anchor/foreign), so every CreateSession for it is denied"
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// A profile listing one role twice loads (the list means the same), with a warning naming
/// the repeat, so `check-config --strict` refuses it.
#[test]
fn a_role_listed_twice_in_a_profile_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let once = format!("role_arns = [\"{ROLE}\"]");
    assert!(text.contains(&once), "{text}");
    let twice = text.replacen(&once, &format!("role_arns = [\"{ROLE}\", \"{ROLE}\"]"), 1);
    std::fs::write(&config, twice).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "role {ROLE} is listed already, as role_arns[0]: list each role once"
        )),
        "{stderr}"
    );
}

/// The server's certificate and key files given the other way round: each is named for what
/// it holds.
#[test]
fn a_swapped_tls_certificate_and_key_are_named() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let swapped = text.replacen("tls_cert = \"server.pem\"", "tls_cert = \"server.key\"", 1);
    std::fs::write(&config, swapped).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no CERTIFICATE block found, only a PRIVATE KEY (is it the key rather than its certificate?)"),
        "{stderr}"
    );
    let swapped = text.replacen("tls_key = \"server.key\"", "tls_key = \"server.pem\"", 1);
    std::fs::write(&config, swapped).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no PRIVATE KEY block, only certificates (is it the certificate rather than its key?)"),
        "{stderr}"
    );
}

#[test]
fn group_readable_key_files_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let check = || {
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(0), "{stderr}");
        stderr
    };
    assert!(!check().contains("secret file is readable"), "0600 files must not warn");
    for name in ["k1.key", "server.key"] {
        std::fs::set_permissions(dir.path().join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let stderr = check();
    for name in ["k1.key", "server.key"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("secret file is readable by every user (mode 0644)") && l.contains(name)),
            "no warning for {name}: {stderr}"
        );
    }
    // Readable by a group the daemon is in (here the files' group is the test's, which the
    // daemon it runs shares): systemd's SupplementaryGroups and Kubernetes' fsGroup.
    for name in ["k1.key", "server.key"] {
        std::fs::set_permissions(dir.path().join(name), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    assert!(
        !check().contains("secret file is readable"),
        "a group of the daemon's own"
    );
    // As root, check-config checks for a daemon of another identity (the systemd unit's
    // dynamic user, reading through its group): a group it is not in may be the daemon's.
    if rustix::process::geteuid().is_root() {
        let key = dir.path().join("k1.key");
        std::os::unix::fs::chown(&key, None, Some(65534)).unwrap();
        assert!(
            !check().contains("secret file is readable"),
            "root checks for the daemon"
        );
        std::os::unix::fs::chown(&key, None, Some(0)).unwrap();
    }
    // A key another user owns (not root): that user can replace it. Only root can give a file
    // away to try it.
    if rustix::process::geteuid().is_root() {
        let key = dir.path().join("k1.key");
        std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
        let stderr = check();
        assert!(
            stderr.lines().any(|l| l.contains(
                "secret file belongs to user id 65534, neither the daemon's (0) nor root, who can replace it; chown it"
            ) && l.contains("k1.key")),
            "{stderr}"
        );
    } else {
        skip(
            "group_readable_key_files_are_warned_about (a key another user owns)",
            "needs root to chown the key file",
        );
    }
}

/// An `admin_subjects` entry that is not a distinguished name, or has an empty or valueless
/// attribute, could never match a certificate: a configuration error naming the entry. One
/// with an escaped comma is a name.
/// The names signed requests must be addressed to: the server certificate's by default,
/// `server.hostnames` when listed, each a DNS name, an IP address or `*`.
#[test]
fn server_hostnames_are_the_names_signed_requests_are_addressed_to() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let with_hostnames = |hostnames: &str| {
        let server = format!("[server]\nhostnames = {hostnames}\n");
        std::fs::write(&config, text.replacen("[server]\n", &server, 1)).unwrap();
        check_config(&config)
    };
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("\nsigned requests addressed to localhost, 127.0.0.1, rolegate.test\n"),
        "{stdout}"
    );
    // The token keys with their check values, which replicas compare (as the README's
    // `sha256sum` recipe computes them: 76ebd004 for k1.key's bytes 0..32).
    assert!(
        stdout.contains("\ntoken keys: k1 (check value 76ebd004) (active k1)\n"),
        "{stdout}"
    );
    let (code, stdout, stderr) = with_hostnames(r#"["rolegate.internal", "*.corp.example", "10.0.0.5"]"#);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("\nsigned requests addressed to rolegate.internal, *.corp.example, 10.0.0.5\n"),
        "{stdout}"
    );
    let (code, stdout, stderr) = with_hostnames(r#"["*"]"#);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\nsigned requests addressed to any name\n"), "{stdout}");
    let (code, _, stderr) = with_hostnames(r#"["rolegate.internal", "rolegate.internal:8443"]"#);
    assert_eq!(code, Some(1), "{stderr}");
    let line = line_of(&std::fs::read_to_string(&config).unwrap(), "hostnames =");
    assert!(
        has_placed_error(
            &stderr,
            "server.hostnames[1]: 'rolegate.internal:8443' is not a DNS name (`*.` for one label), an IP address or `*` (any name)",
            line
        ),
        "{stderr}"
    );
}

/// A profile's managed policies must be ones STS attaches to sessions of each of its roles —
/// of the role's account, or AWS managed — as Roles Anywhere passes them to AssumeRole: one of
/// another account is a configuration error naming it and the role; AWS would refuse every
/// CreateSession for that role.
#[test]
fn profile_managed_policies_of_another_account_are_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#;
    let own = format!("arn:aws:iam::{ACCOUNT}:policy/read");
    let aws = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let elsewhere = format!("arn:aws:iam::{OTHER_ACCOUNT}:policy/read");
    let with_policies = |arns: &[&str]| {
        let listed: Vec<String> = arns.iter().map(|a| format!("\"{a}\"")).collect();
        let mut extra = format!(
            "[[profile]]\nid = \"managed\"\nrole_arns = [\"{ROLE}\", \"{ROLE_OTHER}\"]\nmanaged_policy_arns = [{}]\n",
            listed.join(", ")
        );
        for arn in [own.as_str(), aws, elsewhere.as_str()] {
            extra += &format!("\n[[managed_policy]]\narn = \"{arn}\"\ndocument = '''{read}'''\n");
        }
        let config = write_config(
            dir.path(),
            &Setup {
                pki: &pki,
                extra_toml: extra,
                crl_pem: None,
                app_trust_condition: "",
            },
        );
        let line = line_of(&std::fs::read_to_string(&config).unwrap(), "managed_policy_arns =");
        (check_config(&config), line)
    };
    let ((code, _, stderr), _) = with_policies(&[&own, aws]);
    assert_eq!(code, Some(0), "{stderr}");
    let ((code, _, stderr), line) = with_policies(&[&own, aws, &elsewhere]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = format!(
        "profile[5].managed_policy_arns[2]: managed policy {elsewhere} cannot be a session policy of role {ROLE} \
         (role_arns[0]): STS attaches only managed policies of the role's own account, or AWS managed ones \
         (account \"aws\"), of the role's partition; AWS refuses every CreateSession for that role (\"Policy \
         {elsewhere} does not exist or is not attachable.\"). Give that role a profile of its own"
    );
    assert!(has_placed_error(&stderr, &error, line), "{stderr}");
}

#[test]
fn admin_subjects_must_be_distinguished_names() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let with_admins = |admins: &str| {
        let server = format!("[server]\nadmin_subjects = {admins}\n");
        std::fs::write(&config, text.replacen("[server]\n", &server, 1)).unwrap();
        check_config(&config)
    };
    let (code, _, stderr) = with_admins(r#"["CN=ops,O=Acme", "ops team"]"#);
    assert_eq!(code, Some(1), "{stderr}");
    let line = line_of(&std::fs::read_to_string(&config).unwrap(), "admin_subjects =");
    assert!(
        has_placed_error(
            &stderr,
            "server.admin_subjects[1]: 'ops team' is not a distinguished name: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\"",
            line
        ),
        "{stderr}"
    );
    let (code, _, stderr) = with_admins(r#"["CN=ops\\, night shift,O=Acme"]"#);
    assert_eq!(code, Some(0), "{stderr}");
    // RFC 2253's ';' between attributes never matches the subject as the audit log writes it.
    let (code, _, stderr) = with_admins(r#"["CN=ops;O=Acme"]"#);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        has_placed_error(
            &stderr,
            "server.admin_subjects[0]: 'CN=ops;O=Acme' separates attributes with ';'",
            line
        ),
        "{stderr}"
    );
    let (code, _, stderr) = with_admins(r#"["CN=ops\\;night,O=Acme"]"#);
    assert_eq!(code, Some(0), "an escaped ';' is part of a value: {stderr}");
    // An empty attribute, or one without a value, is in no certificate's subject.
    for (admins, error) in [
        (
            r#"["CN=ops,,O=x"]"#,
            "server.admin_subjects[0]: 'CN=ops,,O=x' has an empty attribute (two separators in a row, or one at an end), which no certificate's subject has: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\"",
        ),
        (
            r#"["CN=ops,O="]"#,
            "server.admin_subjects[0]: 'CN=ops,O=' has an attribute without a value ('O='), which no certificate's subject has: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\"",
        ),
        (
            r#"["CN=ops,O=Acme", "CN=ops,Acme"]"#,
            "server.admin_subjects[1]: 'CN=ops,Acme' has an attribute without '=' ('Acme'), which no certificate's subject has: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\"",
        ),
    ] {
        let (code, _, stderr) = with_admins(admins);
        assert_eq!(code, Some(1), "{admins}: {stderr}");
        assert!(has_placed_error(&stderr, error, line), "{admins}: {stderr}");
    }
}

#[test]
fn crl_from_another_issuer_is_a_config_error() {
    let pki = Pki::new();
    let n = now();
    let foreign_crl = pki.foreign.crl(&[], n - days(1), n + days(7)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, Some(foreign_crl));
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    let line = line_of(&std::fs::read_to_string(&config).unwrap(), "crls =");
    assert!(
        has_placed_error(
            &stderr,
            "trust_anchor[0].crls[0] (root.crl): CRL #1 was issued by CN=foreign root, which is not a certificate of the trust anchor bundle; a CRL is checked against the bundle's certificates only: if that CA left the bundle, remove its CRL from `crls`; if it is an intermediate CA whose certificates the anchor should revoke, add its certificate to the bundle",
            line
        ),
        "{stderr}"
    );
}

/// Numbers out of their range are configuration errors naming the key and the range — among
/// them values that once panicked at startup (a semaphore of 2^62 slots, a cache TTL of
/// centuries) or on the first connection (an idle deadline past the clock's end).
#[test]
fn server_numbers_out_of_range_are_config_errors() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let valid = std::fs::read_to_string(&config).unwrap();
    let cases = [
        (
            "max_concurrent_requests = 4611686018427387904",
            "server.max_concurrent_requests: 4611686018427387904 is out of range: must be between 1 and 1048576",
        ),
        (
            "max_connections = 0",
            "server.max_connections: 0 is out of range: must be between 1 and 1048576",
        ),
        (
            "per_ip_ipv6_prefix = 16",
            "server.per_ip_ipv6_prefix: 16 is out of range: must be between 32 and 128",
        ),
        (
            "max_connections_per_ip = 2000000",
            "server.max_connections_per_ip: 2000000 is out of range: must be between 0 and 1048576",
        ),
        (
            "credential_reuse_seconds = 9223372036854775807",
            "server.credential_reuse_seconds: 9223372036854775807 is out of range: must be between 0 and 3600",
        ),
        (
            "idle_timeout_seconds = 9223372036854775807",
            "server.idle_timeout_seconds: 9223372036854775807 is out of range: must be between 1 and 86400",
        ),
        (
            "request_timeout_seconds = 0",
            "server.request_timeout_seconds: 0 is out of range: must be between 1 and 3600",
        ),
        (
            "shutdown_grace_seconds = 86400",
            "server.shutdown_grace_seconds: 86400 is out of range: must be between 0 and 3600",
        ),
        (
            "max_body_bytes = 100",
            "server.max_body_bytes: 100 is out of range: must be between 1024 and 16777216",
        ),
        (
            "max_header_bytes = 1073741824",
            "server.max_header_bytes: 1073741824 is out of range: must be between 8192 and 16777216",
        ),
        (
            "config_watch_seconds = 86400",
            "server.config_watch_seconds: 86400 is out of range: must be between 0 and 3600",
        ),
        (
            "cache_max_entries = 9223372036854775807",
            "server.cache_max_entries: 9223372036854775807 is out of range: must be between 1 and 100000000",
        ),
        (
            "shutdown_delay_seconds = 301",
            "server.shutdown_delay_seconds: 301 is out of range: must be between 0 and 300",
        ),
        (
            "rate_limit_per_client_burst = 0",
            "server.rate_limit_per_client_burst: the burst must be at least 1 when the rate is not 0",
        ),
        (
            "max_clock_skew_seconds = -5",
            "invalid value: integer `-5`, expected an integer of 0 or more",
        ),
        (
            "admin_trust_anchors = [\"main\", \"ops\"]",
            "server.admin_trust_anchors[1]: no [[trust_anchor]] has id 'ops'",
        ),
    ];
    // An error of the daemon's own checks places the key on the line set; toml's own, on
    // the line and column toml names.
    let line_number = line_of(&valid, "[server]\n") + 1;
    for (line, want) in cases {
        std::fs::write(&config, valid.replacen("[server]\n", &format!("[server]\n{line}\n"), 1)).unwrap();
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(1), "{line}: {stderr}");
        let found = match want.starts_with("server.") {
            true => has_placed_error(&stderr, want, line_number),
            false => stderr.contains(want),
        };
        assert!(found, "{line}: {stderr}");
    }
    // The metrics listener on the TLS listener's port: `serve` could never bind both.
    let listens = [
        ("127.0.0.1:8443", "127.0.0.1:8443", true),
        ("0.0.0.0:8443", "127.0.0.1:8443", true),
        ("127.0.0.1:8443", "[::]:8443", true),
        ("127.0.0.1:8443", "127.0.0.2:8443", false),
        ("0.0.0.0:8443", "[::1]:8443", false),
        ("[::]:8443", "0.0.0.0:8443", true),
        ("127.0.0.1:0", "127.0.0.1:0", false),
    ];
    for (listen, metrics, refused) in listens {
        let text = valid
            .replacen("listen = \"127.0.0.1:0\"", &format!("listen = \"{listen}\""), 1)
            .replacen(
                "metrics_listen = \"127.0.0.1:0\"",
                &format!("metrics_listen = \"{metrics}\""),
                1,
            );
        let line = line_of(&text, "metrics_listen =");
        std::fs::write(&config, text).unwrap();
        let (code, _, stderr) = check_config(&config);
        let want = format!(
            "server.metrics_listen: {metrics} is also server.listen's port ({listen}): give the metrics listener a port \
             of its own"
        );
        assert_eq!(
            (code, has_placed_error(&stderr, &want, line)),
            (Some(if refused { 1 } else { 0 }), refused),
            "{listen} {metrics}: {stderr}"
        );
    }
    // The default metrics_listen, left out, on the port listen was given: said to be the default.
    let text = valid
        .replacen("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:9464\"", 1)
        .replacen("metrics_listen = \"127.0.0.1:0\"\n", "", 1);
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "127.0.0.1:9464 (the default) is also server.listen's port (127.0.0.1:9464): give the metrics listener a \
             port of its own"
        ),
        "{stderr}"
    );
}

/// Admin subjects accepted from every enabled anchor are worth a warning when there are
/// several anchors (any of their CAs can issue the subject); `admin_trust_anchors` pins them.
#[test]
fn admin_subjects_without_admin_trust_anchors_are_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let valid = std::fs::read_to_string(&config).unwrap();
    let warning = "admin_subjects are accepted from every enabled trust anchor";
    let with = |lines: &str| {
        std::fs::write(
            &config,
            valid.replacen("[server]\n", &format!("[server]\n{lines}\n"), 1),
        )
        .unwrap();
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(0), "{lines}: {stderr}");
        stderr
    };
    let summary = |lines: &str| {
        std::fs::write(
            &config,
            valid.replacen("[server]\n", &format!("[server]\n{lines}\n"), 1),
        )
        .unwrap();
        check_config(&config).1
    };
    assert!(
        summary("admin_subjects = [\"CN=ops\", \"CN=b\"]")
            .contains("\nAdmin API: CN=ops; CN=b from any enabled trust anchor\n")
    );
    assert!(
        summary("admin_subjects = [\"CN=ops\"]\nadmin_trust_anchors = [\"main\"]")
            .contains("\nAdmin API: CN=ops from arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/main\n")
    );
    assert!(!summary("").contains("Admin API"));
    let stderr = with("admin_subjects = [\"CN=ops\"]");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(warning) && l.contains("enabled_trust_anchors=2")),
        "{stderr}"
    );
    assert!(!with("admin_subjects = [\"CN=ops\"]\nadmin_trust_anchors = [\"main\"]").contains(warning));
    assert!(!with("").contains(warning), "no admin subjects, nothing to pin");
    // Pinned to a disabled anchor, the admin API admits nobody until it is enabled.
    let disabled = "trust anchor 'off' is disabled: no admin certificate is accepted from it until it is enabled";
    let with_anchor_off = |enabled: bool| {
        let text = valid.replacen(
            "[server]\n",
            "[server]\nadmin_subjects = [\"CN=ops\"]\nadmin_trust_anchors = [\"off\"]\n",
            1,
        ) + &format!("\n[[trust_anchor]]\nid = \"off\"\ncertificates = \"ca.pem\"\nenabled = {enabled}\n");
        std::fs::write(&config, text).unwrap();
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(0), "{stderr}");
        stderr
    };
    let stderr = with_anchor_off(false);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(disabled) && l.contains("server.admin_trust_anchors[0]")),
        "{stderr}"
    );
    assert!(!with_anchor_off(true).contains(disabled));
    // With every anchor disabled, no admin certificate chains to one: said at admin_subjects.
    let all_off = valid
        .replace(
            "certificates = \"ca.pem\"\n",
            "certificates = \"ca.pem\"\nenabled = false\n",
        )
        .replace(
            "certificates = \"foreign.pem\"\n",
            "certificates = \"foreign.pem\"\nenabled = false\n",
        )
        .replace("enabled = false\nenabled = false\n", "enabled = false\n");
    let locked_out = "no trust anchor is enabled, so no admin certificate is accepted: every Admin API call is refused";
    assert!(!with("admin_subjects = [\"CN=ops\"]").contains(locked_out));
    std::fs::write(
        &config,
        all_off.replacen("[server]\n", "[server]\nadmin_subjects = [\"CN=ops\"]\n", 1),
    )
    .unwrap();
    let (_, _, stderr) = check_config(&config);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(locked_out) && l.contains("server.admin_subjects")),
        "{stderr}"
    );
}

/// A trust policy reading a key no trust evaluation holds — a misspelt condition key, or a
/// policy variable of one — loads with a warning naming the role, the statement and the key.
#[test]
fn trust_policy_keys_no_evaluation_holds_are_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let warning = "a key no trust policy evaluation holds";
    let config = write_config(
        dir.path(),
        &Setup {
            pki: &pki,
            extra_toml: String::new(),
            crl_pem: None,
            app_trust_condition: r#","StringEquals":{"aws:PrincipleTag/team":"blue","aws:PrincipalTag/x509Subject/CN":"${aws:PrincipalTagg/cn}","aws:PrincipalTag/x509Subject/OU":"${aws:PrincipalTag/team}"}"#,
        },
    );
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(warning)).collect();
    assert_eq!(warned.len(), 2, "{stderr}");
    // Each with the key it most likely misspells.
    for (key, nearest) in [
        ("'aws:PrincipleTag/team'", "(did you mean 'aws:PrincipalTag/team'?)"),
        ("'aws:principaltagg/cn'", "(did you mean 'aws:PrincipalTag/cn'?)"),
    ] {
        assert!(
            warned.iter().any(|l| l.contains(key)
                && l.contains(nearest)
                && l.contains("Statement[0] (Sid \"RA\")")
                && l.contains("role[0].trust_policy")),
            "{key}: {stderr}"
        );
    }
    let (code, _, stderr) = check_config(&config_in(dir.path(), &pki, None));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(warning),
        "the keys of the usual trust policies are known: {stderr}"
    );
}

/// A trust policy `Allow` of `"Principal": "*"` without a condition (every certificate of
/// every anchor, every session of the account) loads with a warning naming the role and the
/// statement; with a condition it does not.
#[test]
fn an_unconditioned_wildcard_trust_statement_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let role = |name: &str, condition: &str| {
        format!(
            "[[role]]\narn = \"arn:aws:iam::123456789012:role/{name}\"\ntrust_policy = '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sts:AssumeRole\"{condition}}}]}}'\n"
        )
    };
    let extra = role("anyone", "")
        + &role(
            "narrowed",
            r#","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/app"}}"#,
        );
    let config = write_config(
        dir.path(),
        &Setup {
            extra_toml: extra,
            ..setup(&pki)
        },
    );
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains("without a condition")).collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(
            "role arn:aws:iam::123456789012:role/anyone: Statement[0] allows \"Principal\": \"*\" without a condition"
        ),
        "{stderr}"
    );
}

/// A permission, managed or session policy reading a key no request of a rolegate session
/// holds — `${aws:username}` from an IAM user's policy, `aws:PrincipalOrgID`, a misspelt
/// `aws:Principal…` key — loads with a warning naming the policy, the statement, the key and why.
#[test]
fn session_policy_keys_no_session_request_holds_are_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let warning = "a key no request of a rolegate session holds";
    let home = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}]}"#;
    let org = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}"#;
    let fine = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:PrincipalTag/team}/*","Condition":{"StringEquals":{"aws:SourceIdentity":"x","aws:PrincipalArn":"y","s3:prefix":"z","aws:SourceVpc":"vpc-1"}}}]}"#;
    let tagged = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTags/team":"blue"}}}]}"#;
    let config = write_config(
        dir.path(),
        &Setup {
            pki: &pki,
            extra_toml: format!(
                "[[managed_policy]]\narn = \"arn:aws:iam::{ACCOUNT}:policy/org\"\ndocument = '''{org}'''\n"
            ),
            crl_pem: None,
            app_trust_condition: "",
        },
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replacen(
            "max_session_duration = 7200\n",
            &format!("max_session_duration = 7200\npermission_policies = ['''{fine}''', '''{home}''']\n"),
            1,
        )
        .replacen(
            "accept_role_session_name = true\n",
            &format!("accept_role_session_name = true\nsession_policy = '''{tagged}'''\n"),
            1,
        );
    std::fs::write(&config, &text).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(warning)).collect();
    assert_eq!(warned.len(), 3, "{stderr}");
    let role_place = format!("role {ROLE}: permission policy 1: Statement[0] (Sid \"Home\")");
    let managed_place = format!("managed policy arn:aws:iam::{ACCOUNT}:policy/org: Statement[0]");
    for (key_path, what, key, why) in [
        (
            "role[0].permission_policies[1]",
            role_place.as_str(),
            "'aws:username'",
            "IAM sets it for IAM users only",
        ),
        (
            "managed_policy[0].document",
            managed_place.as_str(),
            "'aws:PrincipalOrgID'",
            "rolegate sessions belong to no AWS Organization",
        ),
        (
            "profile[1].session_policy",
            "profile named: session policy: Statement[0]",
            "'aws:PrincipalTags/team'",
            "rolegate derives no such key, so it is most likely misspelt (did you mean 'aws:PrincipalTag/team'?). A \
             condition",
        ),
    ] {
        assert!(
            warned
                .iter()
                .any(|l| l.contains(key_path) && l.contains(what) && l.contains(key) && l.contains(why)),
            "{key}: {stderr}"
        );
    }
}

/// An anchor whose bundle holds a root and an issuing CA but lists the CRL of only one of them
/// loads with a warning naming the other: what it issues is never checked for revocation.
#[test]
fn a_ca_of_the_bundle_without_a_crl_is_warned_about() {
    let pki = Pki::new();
    let n = now();
    let issuing = pki
        .root
        .new_intermediate("issuing CA", KeyType::EcdsaP256, n - days(1), n + days(30))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root_crl = pki.root.crl(&[], n - days(1), n + days(7)).unwrap();
    let config = config_in(dir.path(), &pki, Some(root_crl));
    let bundle = format!("{}{}", pki.root.issued().cert_pem, issuing.issued().cert_pem);
    std::fs::write(dir.path().join("ca.pem"), bundle).unwrap();
    let warning = "this anchor lists CRLs, but none issued by this CA certificate of its bundle";
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(warning)).collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains("ca=\"CN=issuing CA\"") && warned[0].contains("trust_anchor[0].crls"),
        "{stderr}"
    );
    // With the issuing CA's CRL too, nothing to say.
    let issuing_crl = issuing.crl(&[], n - days(1), n + days(7)).unwrap();
    std::fs::write(dir.path().join("issuing.crl"), issuing_crl).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let both = text.replacen(r#"crls = ["root.crl"]"#, r#"crls = ["root.crl", "issuing.crl"]"#, 1);
    assert_ne!(both, text);
    std::fs::write(&config, both).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(warning), "{stderr}");
}

/// Two CRLs of one CA key in an anchor (the old and the new one of a CRL update) are refused at
/// load: revocation checking consults only one CRL per issuing key, so one's revocations would
/// be lost.
#[test]
fn two_crls_of_one_ca_are_a_configuration_error() {
    let pki = Pki::new();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let old_crl = pki.root.crl(&[], now() - days(8), now() + days(1)).unwrap();
    let new_crl = pki
        .root
        .crl(&[revoked.serial_hex.as_str()], now() - days(1), now() + days(7))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, Some(old_crl));
    std::fs::write(dir.path().join("root-new.crl"), new_crl).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let both = text.replacen(r#"crls = ["root.crl"]"#, r#"crls = ["root.crl", "root-new.crl"]"#, 1);
    assert_ne!(both, text);
    std::fs::write(&config, &both).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        has_placed_error(
            &stderr,
            "trust_anchor[0].crls: CRLs #1 and #2 are both issued by CN=test root with the same key; only one CRL per issuing key is consulted, so list only the current one",
            line_of(&both, "crls =")
        ),
        "{stderr}"
    );
}

/// An enabled anchor that trusts a CA without the CRL another anchor lists for it is warned
/// about: the certificates that CRL revokes get sessions through it.
#[test]
fn an_anchor_without_the_crl_another_lists_is_warned_about() {
    let pki = Pki::new();
    let crl = pki.root.crl(&[], now() - days(1), now() + days(7)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, Some(crl));
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warning = "this anchor trusts a CA whose CRL trust_anchor[0] lists, without listing it";
    assert!(
        !stderr.contains(warning),
        "a disabled anchor is not warned about: {stderr}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[[trust_anchor]]\nid = \"copy\"\ncertificates = \"ca.pem\"\n"),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let with_copy = std::fs::read_to_string(&config).unwrap();
    let section = with_copy.matches("[[trust_anchor]]").count() - 1;
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&format!("trust_anchor[{section}].crls"))
                && l.contains(&format!(
                    "{warning} (the CRL of CN=test root): the certificates it revokes get sessions through this anchor; \
                     list the CRL here too"
                ))),
        "{stderr}"
    );
}

/// An anchor trusting the root that issued a CA whose CRL another anchor lists: a client that
/// sends that CA's certificate as an intermediate reaches it, where no CRL of the CA is
/// checked. Warned about, naming both CAs.
#[test]
fn an_anchor_above_a_ca_whose_crl_another_lists_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    std::fs::write(dir.path().join("issuing.pem"), &pki.intermediate.issued().cert_pem).unwrap();
    let crl = pki.intermediate.crl(&[], now() - days(1), now() + days(7)).unwrap();
    std::fs::write(dir.path().join("issuing.crl"), crl).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("certificates = \"ca.pem\""), "{text}");
    let with_issuing = format!(
        "{text}\n[[trust_anchor]]\nid = \"issuing\"\ncertificates = \"issuing.pem\"\ncrls = [\"issuing.crl\"]\n"
    );
    std::fs::write(&config, &with_issuing).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let issuing = with_issuing.matches("[[trust_anchor]]").count() - 1;
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("which issued CN=test intermediate"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(&format!(
            "trust_anchor[0].crls (line {}, column 1): this anchor trusts CN=test root, which issued CN=test \
             intermediate, whose CRL trust_anchor[{issuing}] lists: certificates CN=test intermediate issued get \
             sessions through this anchor when the client sends its certificate as an intermediate, checked against \
             no CRL of it; add that CA certificate to this anchor's certificates and its CRL to crls",
            line_of(&with_issuing, "[[trust_anchor]]")
        )),
        "{}",
        warned[0]
    );
}

/// An anchor trusting the root alone beside one that lists the CRLs of the root and of the
/// intermediate it issued: both gaps are warned about at once — the root's CRL not listed
/// here, and the intermediate's (the revoked leaves a client reaches with the intermediate as
/// its chain). The first used to hide the second.
#[test]
fn every_crl_another_anchor_lists_is_warned_about_at_once() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let both = format!("{}{}", pki.root.issued().cert_pem, pki.intermediate.issued().cert_pem);
    std::fs::write(dir.path().join("both.pem"), both).unwrap();
    let crl_of = |ca: &rolegate::pki::Authority| ca.crl(&[], now() - days(1), now() + days(7)).unwrap();
    std::fs::write(dir.path().join("issuing.crl"), crl_of(&pki.intermediate)).unwrap();
    std::fs::write(dir.path().join("root.crl"), crl_of(&pki.root)).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let with_both = format!(
        "{text}\n[[trust_anchor]]\nid = \"both\"\ncertificates = \"both.pem\"\ncrls = [\"issuing.crl\", \"root.crl\"]\n"
    );
    std::fs::write(&config, &with_both).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let both = with_both.matches("[[trust_anchor]]").count() - 1;
    let on_the_root_anchor: Vec<&str> = stderr.lines().filter(|l| l.contains("trust_anchor[0].crls")).collect();
    assert_eq!(on_the_root_anchor.len(), 2, "{stderr}");
    assert!(
        on_the_root_anchor.iter().any(|l| l.contains(&format!(
            "this anchor trusts a CA whose CRL trust_anchor[{both}] lists, without listing it (the CRL of CN=test root)"
        ))),
        "{stderr}"
    );
    assert!(
        on_the_root_anchor.iter().any(|l| l.contains(&format!(
            "this anchor trusts CN=test root, which issued CN=test intermediate, whose CRL trust_anchor[{both}] lists"
        ))),
        "{stderr}"
    );
}

/// With a second anchor enabled (the test configuration's `foreign`), a role whose trust
/// policy does not bind it to named anchors in `aws:SourceArn` admits the other anchor's
/// certificates, whose CA can meet its certificate conditions: warned about. Bound — by an
/// `Allow`'s condition, a `Deny` of the others, the `sts:AssumeRole` statement alone — it is not.
#[test]
fn a_role_open_to_every_anchor_is_warned_about_when_there_are_several() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let main = anchor_arn("main");
    let bound = format!(r#""ArnEquals":{{"aws:SourceArn":"{main}"}}"#);
    assert!(text.contains(&bound), "{text}");
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("through any trust anchor"), "{stderr}");

    let warned_with = |old: &str, new: &str| {
        assert!(text.contains(old), "{old} not in {text}");
        std::fs::write(&config, text.replacen(old, new, 1)).unwrap();
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(0), "{stderr}");
        let warned: Vec<String> = stderr
            .lines()
            .filter(|l| l.contains("through any trust anchor"))
            .map(str::to_owned)
            .collect();
        warned
    };
    let by_issuer = r#""StringEquals":{"aws:PrincipalTag/x509Issuer/CN":"test root"}"#;
    let open = [
        ("no aws:SourceArn", by_issuer.to_owned()),
        (
            "another anchor excluded",
            format!(r#""ArnNotEquals":{{"aws:SourceArn":"{}"}}"#, anchor_arn("gone")),
        ),
        (
            "a wildcard",
            r#""ArnLike":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:trust-anchor/*"}"#.to_owned(),
        ),
        ("present, any", r#""Null":{"aws:SourceArn":"false"}"#.to_owned()),
        (
            "any anchor of the account, by a policy variable",
            r#""ArnLike":{"aws:SourceArn":"arn:aws:rolesanywhere:us-east-1:${aws:SourceAccount}:trust-anchor/*"}"#
                .to_owned(),
        ),
        (
            "an anchor named by a certificate field",
            r#""ArnEquals":{"aws:SourceArn":"arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/${aws:PrincipalTag/x509Subject/OU}"}"#
                .to_owned(),
        ),
    ];
    for (what, condition) in &open {
        let warned = warned_with(&bound, condition);
        assert_eq!(warned.len(), 1, "{what}: {warned:?}");
        assert!(
            warned[0].contains(&format!(
                ": role {ROLE}: its trust policy admits rolesanywhere.amazonaws.com through any trust anchor (no \
                 aws:SourceArn condition names the anchors), so certificates of every enabled trust anchor (main, \
                 foreign) get its sessions through a profile listing it, and its conditions on certificate fields can \
                 be met by a CA of any of them; name the anchors it trusts with \"ArnEquals\": {{\"aws:SourceArn\": [...]}}"
            )),
            "{what}: {}",
            warned[0]
        );
    }
    let two_anchors = format!(
        r#""ArnEquals":{{"aws:SourceArn":["{main}","{}"]}}"#,
        anchor_arn("foreign")
    );
    assert_eq!(warned_with(&bound, &two_anchors), Vec::<String>::new(), "both named");
    // Allowed unbound, then denied from every anchor but one: bound.
    let denied_elsewhere = format!(
        r#"{by_issuer}}}}},{{"Effect":"Deny","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{{"ArnNotEquals":{{"aws:SourceArn":"{main}"}}"#
    );
    assert_eq!(
        warned_with(&bound, &denied_elsewhere),
        Vec::<String>::new(),
        "a Deny binds it"
    );
    // sts:TagSession and sts:SetSourceIdentity unbound, sts:AssumeRole bound: bound.
    let all_three = r#""Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"ArnEquals""#;
    let split = r#""Action":["sts:TagSession","sts:SetSourceIdentity"]},{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnEquals""#;
    assert_eq!(
        warned_with(all_three, split),
        Vec::<String>::new(),
        "the AssumeRole statement binds it"
    );
    // sts:AssumeRole unbound, the other two bound: CreateSession needs all three, so bound.
    let other_two_bound = r#""Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":["sts:TagSession","sts:SetSourceIdentity"],"Condition":{"ArnEquals""#;
    assert_eq!(
        warned_with(all_three, other_two_bound),
        Vec::<String>::new(),
        "sts:TagSession's statement binds it"
    );
}

/// `check-config` says when each CRL of an anchor needs replacing.
#[test]
fn check_config_reports_each_crl_next_update() {
    let pki = Pki::new();
    let next_update = time::macros::datetime!(2031-02-03 04:05:06 UTC);
    let crl = pki.root.crl(&[], now() - days(1), next_update).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, Some(crl));
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("\n  CRL of CN=test root: next update 2031-02-03T04:05:06Z (honoured when stale)\n"),
        "{stdout}"
    );
    assert!(!stderr.contains("past its nextUpdate"), "{stderr}");
    assert!(!stderr.contains("dated in the future"), "{stderr}");

    // A CRL dated a day ahead loads, with a warning naming its time.
    let ahead = now() + days(1);
    let future = pki.root.crl(&[], ahead, ahead + days(7)).unwrap();
    let config = config_in(dir.path(), &pki, Some(future));
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains("trust_anchor[0].crls (line")
            && l.contains(&format!(
                "CRL of CN=test root is dated in the future (its thisUpdate {} is still to come): the CA's clock or \
                 this host's is wrong; it is consulted as it is",
                rolegate::session::format_expiration(ahead.unix_timestamp())
            ))),
        "{stderr}"
    );

    // A stale CRL still loads (and is honoured), with a warning.
    let stale = pki.root.crl(&[], now() - days(10), now() - days(3)).unwrap();
    let config = config_in(dir.path(), &pki, Some(stale));
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("CRL of CN=test root is past its nextUpdate (") && l.contains("trust_anchor[0].crls")),
        "{stderr}"
    );

    // With `stale_crls = "refuse"` the summary and the warning say that it refuses.
    let text = std::fs::read_to_string(&config).unwrap();
    let refusing = text.replacen(
        r#"crls = ["root.crl"]"#,
        "crls = [\"root.crl\"]\nstale_crls = \"refuse\"",
        1,
    );
    assert_ne!(refusing, text);
    std::fs::write(&config, refusing).unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("(refused when stale)\n"), "{stdout}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("the certificates it covers are refused") && l.contains("CN=test root")),
        "{stderr}"
    );

    // American spelling is the same policy, summarised and warned about as such.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(r#"stale_crls = "refuse""#, r#"stale_crls = "honor""#),
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("(honoured when stale)\n"), "{stdout}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("is past its nextUpdate (") && l.contains("): revocations made since are not in it")),
        "{stderr}"
    );

    // Any other value is refused with the values allowed.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(r#"stale_crls = "honor""#, r#"stale_crls = "ignore""#),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown variant `ignore`, expected `honour` or `refuse`"),
        "{stderr}"
    );
}

/// A configuration naming a file it cannot use is an error that names it — a device by a
/// typo included, which is not opened: `/dev/zero` would be read until memory runs out, and
/// `/dev/ptmx` (or a terminal) never answers a read, which held every later reload.
#[test]
fn files_that_cannot_be_read_whole_are_config_errors() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let cases = [
        (
            "/dev/zero",
            "trust_anchor[0].certificates: cannot read /dev/zero: a character device, not a file: give the path \
             of a regular file (or a pipe)",
        ),
        (
            "/dev/ptmx",
            "trust_anchor[0].certificates: cannot read /dev/ptmx: a character device, not a file: give the path \
             of a regular file (or a pipe)",
        ),
        (
            "/",
            "trust_anchor[0].certificates: cannot read /: a directory, not a file: give the path of a regular \
             file (or a pipe)",
        ),
        (
            "missing.pem",
            "trust_anchor[0].certificates: cannot read {dir}/missing.pem: No such file or directory",
        ),
        // Cut short by a failed copy: named as empty, not as whatever PEM makes of nothing.
        (
            "empty.pem",
            "trust_anchor[0].certificates: {dir}/empty.pem is empty (0 bytes)",
        ),
        // A named pipe nobody writes to reads as empty at once, and says what it is.
        (
            "fifo.pem",
            "trust_anchor[0].certificates: {dir}/fifo.pem is a named pipe that no writer is writing to (it read as \
             empty)",
        ),
    ];
    std::fs::write(dir.path().join("empty.pem"), b"").unwrap();
    let fifo = dir.path().join("fifo.pem");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, want) in cases {
        let bad = text.replacen("certificates = \"ca.pem\"", &format!("certificates = \"{path}\""), 1);
        let line = line_of(&bad, "certificates =");
        std::fs::write(&config, bad).unwrap();
        let (code, _, stderr) = check_config(&config);
        let want = want.replace("{dir}", &dir.path().display().to_string());
        assert_eq!(code, Some(1), "{path}: {stderr}");
        assert!(has_placed_error(&stderr, &want, line), "{path}: {stderr}");
    }
    let (code, _, stderr) = check_config(&dir.path().join("nowhere.toml"));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("nowhere.toml: cannot read the configuration file: No such file or directory"),
        "{stderr}"
    );
    // --state-dir belongs to --dev: with --config it would be ignored.
    let out = std::process::Command::new(binary())
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            "elsewhere",
        ])
        .output()
        .unwrap();
    // A usage error, as clap words it (exit 2).
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: --state-dir is where --dev keeps its files: give it with --dev, or leave it out"),
        "{stderr}"
    );
}

/// A trust policy kept in a file (`trust_policy_file`) is read relative to the configuration,
/// and an error in it names the key and the file.
#[test]
fn a_trust_policy_file_is_loaded_and_its_errors_name_it() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let at = text.find("trust_policy = '''").unwrap();
    let body = at + "trust_policy = '''".len();
    let body_end = body + text[body..].find("'''").unwrap();
    let (inline, end) = (&text[body..body_end], body_end + 3);
    std::fs::write(dir.path().join("trust.json"), inline).unwrap();
    let with_file = format!("{}trust_policy_file = \"trust.json\"{}", &text[..at], &text[end..]);
    std::fs::write(&config, &with_file).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");

    std::fs::write(
        dir.path().join("trust.json"),
        inline.replacen("\"Allow\"", "\"Alow\"", 1),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        has_placed_error(
            &stderr,
            "role[0].trust_policy_file (trust.json): Statement[0]",
            line_of(&with_file, "trust_policy_file =")
        ),
        "{stderr}"
    );
}

/// Two roles whose names differ only by case (or path) cannot both exist in IAM.
#[test]
fn role_names_are_unique_regardless_of_case() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let policy = trust_policy_roles_anywhere("main", "");
    let shouting = ROLE.replace("role/app", "role/ops/APP");
    std::fs::write(
        &config,
        format!("{text}\n[[role]]\narn = \"{shouting}\"\ntrust_policy = '''{policy}'''\n"),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        has_placed_error(
            &stderr,
            &format!(
                "role[2].arn: role {shouting} has the name of role {ROLE}: IAM role names are unique in an account, whatever their case and path"
            ),
            line_of(&written, &format!("arn = \"{shouting}\""))
        ),
        "{stderr}"
    );
}

/// A role whose trust policy cannot let Roles Anywhere have one of the three actions every
/// CreateSession needs loads, with a warning naming the role and the missing actions.
#[test]
fn a_role_roles_anywhere_can_never_assume_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("every CreateSession for it is denied"), "{stderr}");

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(",\"sts:TagSession\",\"sts:SetSourceIdentity\"", "", 1),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    // Named as an error is — the file, the key (the role's trust policy, not a profile's
    // role_arns entry) and its line and column — once, however many profiles name the role.
    let line = line_of(&text, "trust_policy = '''");
    let warning = format!(
        "{}: role[0].trust_policy (line {line}, column 16): role {ROLE}: its trust policy never allows rolesanywhere.amazonaws.com sts:TagSession, sts:SetSourceIdentity, so every CreateSession for it is denied; a Roles Anywhere trust policy allows sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity key=\"role[0].trust_policy\"",
        config.display()
    );
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CreateSession for it is denied"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(warned[0].ends_with(&warning), "{stderr}");
}

/// A trust policy reading a certificate tag that a profile naming the role maps out loads with
/// a warning naming the profile, the tag, the role and the statement; tags the mapping keeps
/// (or that keep AWS's default rules), and profiles mapping them, are not warned about.
#[test]
fn certificate_tags_a_profile_maps_out_are_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &Setup {
            pki: &pki,
            extra_toml: String::new(),
            crl_pem: None,
            app_trust_condition: r#","StringEquals":{"aws:PrincipalTag/x509Subject/OU":"blue","aws:principaltag/x509subject/cn":"workload","aws:PrincipalTag/x509Issuer/CN":"root","aws:PrincipalTag/x509SAN/URI":"${aws:PrincipalTag/x509SAN/URI}"}"#,
        },
    );
    let warning = "its attribute mappings leave out the tag";
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(warning),
        "AWS's default rules keep every tag: {stderr}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let main = "id = \"main\"\nrole_arns";
    assert!(text.contains(main));
    std::fs::write(
        &config,
        text.replacen(
            main,
            "id = \"main\"\nattribute_mappings = { x509Subject = [\"CN\"], x509SAN = [\"DNS\"] }\nrole_arns",
            1,
        ),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(warning)).collect();
    assert_eq!(warned.len(), 2, "{stderr}");
    for (tag, context_key, field) in [
        ("x509Subject/OU", "aws:PrincipalTag/x509Subject/OU", "x509Subject"),
        ("x509SAN/URI", "aws:PrincipalTag/x509SAN/URI", "x509SAN"),
    ] {
        let message = format!(
            "profile main: its attribute mappings leave out the tag '{tag}', which role {ROLE} reads in its trust policy (Statement[0] (Sid \"RA\"), '{context_key}'): no session of this profile has it, so a condition on it never matches unless negated or IfExists, and an Allow using it as a policy variable never applies; map it, or condition on a tag the profile maps"
        );
        assert!(
            warned
                .iter()
                .any(|l| l.contains(&message) && l.contains(&format!("key=\"profile[0].attribute_mappings.{field}\""))),
            "{tag}: {stderr}"
        );
    }
}

/// `check-config --strict` exits 3 when the configuration loads with warnings (counted even
/// when `RUST_LOG` hides them), 0 when it loads clean, and 1 as before when it does not load.
#[test]
fn check_config_strict_fails_on_warnings() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let strict = |rust_log: Option<&str>| {
        let mut command = std::process::Command::new(binary());
        command.args(["check-config", "--strict"]).arg(&config);
        match rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let out = command.output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = strict(None);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("{} is valid.\n", config.display())),
        "{stdout}"
    );
    assert!(!stderr.contains("WARN"), "{stderr}");
    // A RUST_LOG that is no filter is said to be ignored; it is not the configuration's
    // warning, so --strict still passes.
    let (code, _, stderr) = strict(Some("audit=inf0"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "WARN rolegate::logging: RUST_LOG is ignored: \"audit=inf0\" is not a filter (error parsing level filter: "
        ) && stderr.contains("logging with the default filter \"info,rustls=error,h2=error\""),
        "{stderr}"
    );
    // Once, as serve, probe and keys say it.
    assert_eq!(stderr.matches("RUST_LOG is ignored").count(), 1, "{stderr}");

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(",\"sts:TagSession\",\"sts:SetSourceIdentity\"", "", 1),
    )
    .unwrap();
    let (code, stdout, stderr) = strict(None);
    assert_eq!(code, Some(3), "{stderr}");
    // Not "is valid." then an error: the first line already says it loads with a warning.
    assert!(
        stdout.starts_with(&format!("{} loads, with 1 warning.\n", config.display())),
        "{stdout}"
    );
    let warned = stderr
        .lines()
        .filter(|l| l.contains("every CreateSession for it is denied"))
        .count();
    assert_eq!(
        warned, 1,
        "once for the role, not for each of the four profiles naming it: {stderr}"
    );
    let refused = format!(
        "error: {} loads, with 1 warning: --strict refuses them (fix what each says, or drop --strict)",
        config.display()
    );
    assert_eq!(stderr.lines().last(), Some(refused.as_str()), "{stderr}");
    // Hidden by RUST_LOG, the warnings still count.
    let (code, _, stderr) = strict(Some("error"));
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stderr, format!("{refused}\n"));
    // As JSON lines, as the daemon logs them.
    let out = std::process::Command::new(binary())
        .args(["--log-format", "json", "check-config", "--strict"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json_warnings = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "WARN")
        .count();
    assert_eq!(json_warnings, 1, "{stderr}");
    // Without --strict, warnings do not fail; a configuration that does not load is 1.
    assert_eq!(check_config(&config).0, Some(0));
    std::fs::write(&config, "[server\n").unwrap();
    let (code, _, stderr) = strict(None);
    assert_eq!(code, Some(1), "{stderr}");
}

/// Which of a command's output streams is a pipe whose reader went away.
#[derive(Clone, Copy, Debug)]
enum ClosedOutput {
    Stdout,
    Stderr,
    Both,
}

/// Runs `rolegate {args}` with `RUST_LOG` set to `rust_log` and `closed` a pipe whose read end
/// is closed before the command writes: its exit code, and what it wrote on the stream left
/// open (nothing when both are closed).
fn run_with_closed_output(args: &[&std::ffi::OsStr], rust_log: &str, closed: ClosedOutput) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(binary())
        .args(args)
        .env("RUST_LOG", rust_log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // The read ends not kept are closed here, before the command has started to write.
    let open: Option<Box<dyn Read>> = match closed {
        ClosedOutput::Stdout => {
            drop(stdout);
            Some(Box::new(stderr))
        }
        ClosedOutput::Stderr => {
            drop(stderr);
            Some(Box::new(stdout))
        }
        ClosedOutput::Both => {
            drop((stdout, stderr));
            None
        }
    };
    let mut text = String::new();
    if let Some(mut open) = open {
        open.read_to_string(&mut text).unwrap();
    }
    (child.wait().unwrap().code(), text)
}

/// Every command keeps its documented exit status when the reader of its stdout or stderr is
/// gone (`rolegate check-config --strict t.toml 2>&1 | head -2`): what cannot be written is
/// dropped, where `eprintln!` and the log writer panicked (exit 101). A `RUST_LOG` that is no
/// filter makes each command log a warning too.
#[test]
fn a_closed_stdout_or_stderr_keeps_the_exit_status() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    // A role whose trust policy never allows sts:TagSession: the configuration loads, with a warning.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(",\"sts:TagSession\",\"sts:SetSourceIdentity\"", "", 1),
    )
    .unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[server\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let existing = dir.path().join("k1.key");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let anchor = anchor_arn("main");
    let profile = profile_arn("main");
    let commands: Vec<(Vec<&std::ffi::OsStr>, i32)> = vec![
        (vec![os("check-config"), os("--strict"), config.as_os_str()], 3),
        (vec![os("check-config"), broken.as_os_str()], 1),
        (
            vec![
                os("simulate"),
                os("--config"),
                config.as_os_str(),
                os("--role-arn"),
                os(ROLE),
                os("--action"),
                os("s3:GetObject"),
                os("--resource"),
                os("arn:aws:s3:::bucket/key"),
            ],
            1,
        ),
        (
            vec![
                os("simulate"),
                os("--config"),
                missing.as_os_str(),
                os("--role-arn"),
                os(ROLE),
                os("--action"),
                os("s3:GetObject"),
                os("--resource"),
                os("*"),
            ],
            2,
        ),
        (
            vec![
                os("credential-process"),
                os("--certificate"),
                missing.as_os_str(),
                os("--private-key"),
                missing.as_os_str(),
                os("--trust-anchor-arn"),
                std::ffi::OsStr::new(anchor.as_str()),
                os("--profile-arn"),
                std::ffi::OsStr::new(profile.as_str()),
                os("--role-arn"),
                os(ROLE),
                os("--no-verify-ssl"),
            ],
            1,
        ),
        (
            vec![
                os("admin"),
                os("status"),
                os("--endpoint"),
                os("https://127.0.0.1:1"),
                os("--certificate"),
                missing.as_os_str(),
            ],
            1,
        ),
        (vec![os("probe"), os("http://127.0.0.1:1/healthz")], 1),
        (vec![os("keys"), os("generate"), os("--out"), existing.as_os_str()], 1),
    ];
    for (args, code) in &commands {
        for rust_log in ["info", "[[["] {
            for closed in [ClosedOutput::Stdout, ClosedOutput::Stderr, ClosedOutput::Both] {
                let (exit, open) = run_with_closed_output(args, rust_log, closed);
                assert_eq!(
                    exit,
                    Some(*code),
                    "{args:?} RUST_LOG={rust_log} {closed:?} closed: {open}"
                );
                assert!(!open.contains("panicked"), "{args:?} {closed:?} closed: {open}");
            }
        }
    }
}

/// Output that cannot be written for another reason than a reader that went away (a full disk
/// under `> status.json`) fails the command, saying so, where it exited 0 with the output cut
/// short.
#[test]
fn output_lost_to_a_full_disk_fails_the_command() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(binary())
        .arg("check-config")
        .arg(&config)
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(
        stderr.ends_with("error: cannot write the output to stdout: No space left on device (os error 28)\n"),
        "{stderr}"
    );
    // The same command with its output read succeeds.
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A revocation cutoff ahead of the clock revokes the sessions the role issues until then:
/// warned about, naming both times; one in the past is not.
#[test]
fn a_revocation_cutoff_ahead_of_the_clock_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let with_cutoff = |at: &str| {
        let role = format!("arn = \"{ROLE}\"\n");
        assert!(text.contains(&role));
        std::fs::write(
            &config,
            text.replacen(&role, &format!("{role}revoke_sessions_issued_before = \"{at}\"\n"), 1),
        )
        .unwrap();
        check_config(&config)
    };
    let (code, _, stderr) = with_cutoff("2020-01-01T00:00:00Z");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("revoke_sessions_issued_before"), "{stderr}");
    let (code, _, stderr) = with_cutoff("2999-01-01T00:00:00Z");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("revoke_sessions_issued_before 2999-01-01T00:00:00Z is later than this machine's clock ("),
        "{stderr}"
    );
    assert!(stderr.contains(ROLE), "{stderr}");
}

/// PROXY headers believed from any peer would let a direct client claim any address: with
/// `proxy_protocol`, the balancers must be listed, and believing every peer spelled out.
#[test]
fn proxy_headers_are_believed_only_from_listed_balancers() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let with = |keys: &str| text.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1);

    std::fs::write(&config, with("proxy_protocol = true")).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "server.proxy_protocol (line 3, column 18): is true, but proxy_protocol_from lists no load balancer, and PROXY \
             headers are believed only from those it lists"
        ),
        "{stderr}"
    );

    std::fs::write(
        &config,
        with("proxy_protocol = true\nproxy_protocol_from = [\"10.0.0.0/8\"]"),
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("believed from 10.0.0.0/8\n"), "{stdout}");

    std::fs::write(
        &config,
        with("proxy_protocol = true\nproxy_protocol_from = [\"0.0.0.0/0\", \"::/0\"]"),
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("believed from 0.0.0.0/0, ::/0\n"), "{stdout}");
}

/// `rate_limit_exempt` takes addresses and ranges, said by check-config; anything else is an
/// error naming the key.
#[test]
fn rate_limit_exemptions_are_addresses_or_ranges() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let text = std::fs::read_to_string(&config).unwrap();
    let with = |keys: &str| text.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1);
    std::fs::write(&config, with("rate_limit_exempt = [\"10.0.8.0/24\", \"2001:db8::7\"]")).unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("per-address request limits not applied to 10.0.8.0/24, 2001:db8::7/128\n"),
        "{stdout}"
    );
    std::fs::write(&config, with("rate_limit_exempt = [\"gateway.internal\"]")).unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "server.rate_limit_exempt (line 3, column 21): 'gateway.internal' is not an address or address range like \
             10.0.0.0/8"
        ),
        "{stderr}"
    );
}

/// check-config says when the daemon reloads on its own, and over how many files (each file
/// once, though two anchors name the same bundle).
#[test]
fn check_config_names_the_watched_files() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let crl = pki.root.crl(&[], now() - days(1), now() + days(7)).unwrap();
    let config = config_in(dir.path(), &pki, Some(crl));
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("reloads when"), "{stdout}");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[server]\n", "[server]\nconfig_watch_seconds = 30\n", 1),
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    // rolegate.toml, server.pem, server.key, k1.key, ca.pem, root.crl, foreign.pem
    assert!(
        stdout.contains("reloads when one of its 7 files changes (looked at every 30 s)"),
        "{stdout}"
    );
}

/// A profile's `attribute_mappings` names AWS's certificate fields and their specifiers; any
/// other is a configuration error naming the profile's key, and a valid one is summarised.
#[test]
fn attribute_mappings_are_checked_and_summarised() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let valid = std::fs::read_to_string(&config).unwrap();
    let with_mapping = |mapping: &str| {
        let profile = format!("[[profile]]\nid = \"main\"\nattribute_mappings = {mapping}\n");
        valid.replacen("[[profile]]\nid = \"main\"\n", &profile, 1)
    };
    let cases = [
        (
            r#"{ x509Subject = ["CN", "cn"] }"#,
            "profile[0].attribute_mappings.x509Subject: 'cn' is not a specifier of x509Subject: use * or one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
        ),
        (
            r#"{ x509SAN = ["DNS", "IP"] }"#,
            "profile[0].attribute_mappings.x509SAN: 'IP' is not a specifier of x509SAN: use DNS, URI, Name/* or Name/ and one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
        ),
        (
            r#"{ x509Serial = ["*"] }"#,
            "unknown field `x509Serial`, expected one of `x509Subject`, `x509Issuer`, `x509SAN`",
        ),
    ];
    for (mapping, want) in cases {
        let text = with_mapping(mapping);
        std::fs::write(&config, &text).unwrap();
        let (code, _, stderr) = check_config(&config);
        assert_eq!(code, Some(1), "{mapping}: {stderr}");
        let found = match want.starts_with("profile[") {
            true => has_placed_error(&stderr, want, line_of(&text, "attribute_mappings =")),
            false => stderr.contains(want),
        };
        assert!(found, "{mapping}: {stderr}");
    }
    std::fs::write(
        &config,
        with_mapping(r#"{ x509Subject = ["CN", "OU"], x509Issuer = [] }"#),
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("profile/main (enabled): roles [arn:aws:iam::123456789012:role/app], default duration 3600 s, attribute mappings: x509Subject [CN, OU], x509Issuer [] (x509SAN by default)"),
        "{stdout}"
    );
    assert!(stdout.contains("profile/named (enabled): roles [arn:aws:iam::123456789012:role/app], default duration 3600 s, attribute mappings: AWS default"), "{stdout}");
}

/// Sends a minimal ClientHello with `version` (ECDHE-ECDSA/RSA-AES128-GCM-SHA256, P-256 and
/// X25519, SHA-256 signature schemes) and returns the first bytes the server answers.
async fn raw_client_hello(addr: &str, version: [u8; 2]) -> Vec<u8> {
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    extensions.extend_from_slice(&[0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]);
    let mut hello = version.to_vec();
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]);
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&record).await.unwrap();
    let mut answer = vec![0u8; 16];
    let n = tcp.read(&mut answer).await.unwrap_or(0);
    answer.truncate(n);
    answer
}

/// A TLS 1.1 ClientHello is refused with a protocol_version alert; a TLS 1.2
/// only client still connects.
#[tokio::test]
async fn tls_below_1_2_is_refused() {
    let pki = Pki::new();
    let d = start(&matrix_setup(&pki));
    let addr = d.endpoint.trim_start_matches("https://").to_owned();

    // The same ClientHello offered as TLS 1.2 gets a ServerHello (handshake record); offered
    // as TLS 1.1 it gets a fatal alert: the version alone decides.
    let tls11 = raw_client_hello(&addr, [0x03, 0x02]).await;
    assert_eq!(tls11.first(), Some(&0x15), "expected an alert record, got {tls11:02x?}");
    assert_eq!(tls11.get(5), Some(&2), "expected a fatal alert, got {tls11:02x?}");
    let tls12 = raw_client_hello(&addr, [0x03, 0x03]).await;
    assert_eq!(tls12.first(), Some(&0x16), "expected a ServerHello, got {tls12:02x?}");

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&std::fs::read(d.ca_bundle()).unwrap()) {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

/// Every type that holds key material or a session secret redacts it in `Debug`.
#[test]
fn debug_output_of_secret_holding_types_is_redacted() {
    let key = TokenKey::from_base64(K1).unwrap();
    let ring = ring("k1", K1);
    let n = now().unix_timestamp();
    let s = sealed(&ring, ROLE, n, n + 900);
    let claims = session::open(&ring, &s.token).unwrap();
    let signing = sigv4::derive_signing_key(&s.secret, "20260101", REGION, "sts");
    let pki = Pki::new();
    let leaf = Pki::client(&pki.root, "debug", KeyType::EcdsaP256);
    let x509_key = x509::X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let shown = format!(
        "{key:?} {ring:?} {claims:?} {signing:?} {leaf:?} {x509_key:?} {:?}",
        pki.root
    );
    let token_key_hex = hex::encode(STANDARD.decode(K1).unwrap());
    for (what, secret) in [
        ("token key", K1.to_owned()),
        ("token key hex", token_key_hex),
        ("secret access key", s.secret.clone()),
    ] {
        assert!(!shown.contains(&secret), "Debug shows the {what}: {shown}");
    }
    for line in pem_lines(&leaf.key_pem) {
        assert!(!shown.contains(&line), "Debug shows a private key: {shown}");
    }
    assert!(shown.contains("redacted"), "{shown}");
}

/// A profile whose default session is longer than a role it names allows: valid (a client may
/// ask for less), but every CreateSession that does not would be refused, so it is warned about.
#[test]
fn a_profile_duration_beyond_its_roles_maximum_is_warned_about() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki, None);
    let valid = std::fs::read_to_string(&config).unwrap();
    let warning = format!(
        "43200 seconds exceeds the max_session_duration of role {ROLE} (7200): every CreateSession for it that \
         does not ask for a shorter durationSeconds will be refused"
    );
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("exceeds the max_session_duration"), "{stderr}");
    std::fs::write(
        &config,
        valid.replacen("duration_seconds = 3600", "duration_seconds = 43200", 1),
    )
    .unwrap();
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&warning) && l.contains("profile[0].duration_seconds")),
        "{stderr}"
    );
}
