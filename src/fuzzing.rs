//! Harness functions for the fuzz targets in `fuzz/` and the property tests in
//! `tests/proptest_parsers.rs`: one function per parser reachable from the network, each
//! taking raw attacker-controlled bytes. They share this module so that CI (stable Rust, no
//! cargo-fuzz) compiles and exercises exactly the code the fuzzers run.
//!
//! Every harness must return normally for every input; a panic is a bug. Inputs longer than
//! [`MAX_INPUT`] are truncated, mirroring the server's header and body limits.
//! Not part of the public API.

#![allow(clippy::expect_used, clippy::panic, reason = "a fuzz oracle fails by panicking")]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::identity::ClientCertificate;
use crate::policy::{PolicyDocument, PolicyKind};
use crate::service::http::RequestParts;
use crate::service::{rest, sts};
use crate::session::{KeyRing, SessionClaims, SessionOrigin, TokenKey};
use crate::sigv4::{self, HttpRequest, SignedRequest};

/// The most input bytes a harness looks at (64 KiB, above every server limit on one field).
pub const MAX_INPUT: usize = 64 * 1024;

/// The token key id of [`keyring`].
pub const KEY_ID: &str = "fuzz";

/// `Authorization: AWS4-X509-…` ([`sigv4::x509::parse_authorization`]).
pub fn x509_authorization(data: &[u8]) {
    let text = text(data);
    if let Ok(auth) = sigv4::x509::parse_authorization(&text) {
        // A parsed header names a scope that is a prefix-free rendering of its parts.
        assert!(auth.scope().ends_with("/aws4_request"));
    }
}

/// `X-Amz-X509-Chain` and the CreateSession parameters (query string and JSON body)
/// ([`rest::parse_untrusted`]). The input is split at the first NUL: query before, body after;
/// the query doubles as the chain header.
pub fn create_session_request(data: &[u8]) {
    let (head, body) = split_nul(data);
    let head = text(head);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&head) {
        headers.insert(HeaderName::from_static("x-amz-x509-chain"), v);
    }
    let req = request(Method::POST, "/sessions", &head, headers);
    if let Ok(n) = rest::parse_untrusted(&req, &Bytes::copy_from_slice(body)) {
        assert!(n <= rest::MAX_CHAIN_CERTIFICATES);
    }
}

/// HMAC SigV4 `Authorization` header and presigned query ([`SignedRequest::parse`]).
pub fn sigv4_signed_request(data: &[u8]) {
    let text = text(data);
    let (query, header) = text.split_once('\n').unwrap_or((text.as_ref(), text.as_ref()));
    let with_header = [
        ("host", "sts.example"),
        ("authorization", header),
        ("x-amz-date", "20260101T000000Z"),
    ];
    for headers in [&with_header[..], &with_header[..1]] {
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query,
            headers,
        };
        if let Ok(signed) = SignedRequest::parse(&req) {
            assert_eq!(signed.algorithm, sigv4::HMAC_ALGORITHM);
            // Verification of what parsed must fail cleanly too (wrong key, any time).
            let key = sigv4::derive_signing_key("secret", "20260101", "us-east-1", "sts");
            let now = time::OffsetDateTime::UNIX_EPOCH;
            let expect = sigv4::Expectations {
                service: "sts",
                region: "us-east-1",
                now,
                max_skew: time::Duration::minutes(5),
                hosts: sigv4::ServerNames::anywhere(),
            };
            let _ = sigv4::verify(&signed, &req, sigv4::UNSIGNED_PAYLOAD, &key, &expect);
        }
    }
}

/// STS Query form bodies: `Content-Type: application/x-www-form-urlencoded`
/// ([`sts::parse_untrusted`]). Split at the first NUL: query before, body after.
pub fn sts_form(data: &[u8]) {
    let (query, body) = split_nul(data);
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    let req = request(Method::POST, "/", &text(query), headers);
    if let Ok(input) = sts::parse_untrusted(&req, &Bytes::copy_from_slice(body)) {
        assert!(input.tags.len() <= 256);
    }
}

/// IAM policy JSON, both grammars ([`PolicyDocument::parse`]).
pub fn policy_document(data: &[u8]) {
    let text = text(data);
    for kind in [PolicyKind::Trust, PolicyKind::Identity] {
        if let Ok(doc) = PolicyDocument::parse(&text, kind) {
            assert_eq!(doc.kind(), kind);
            assert!(!doc.statements().is_empty());
        }
    }
}

/// Session tokens ([`crate::session::open`] with the fixed [`keyring`]).
pub fn session_token(data: &[u8]) {
    let text = text(data);
    // Random bytes never authenticate: AEAD forgeries are out of reach, in either layout
    // (`rg2` is sealed now, `rg1` still opened).
    if crate::session::open(keyring(), &text).is_ok() {
        panic!("a token not sealed by the ring opened");
    }
    for prefix in crate::session::TOKEN_PREFIXES {
        let forged = format!("{prefix}{KEY_ID}.{text}");
        assert!(crate::session::open(keyring(), &forged).is_err());
    }
}

/// Seals claims built from `data`, then checks that opening gives them back and that flipping
/// any byte of the token (`flip` picks the position) makes it fail.
pub fn session_token_round_trip(data: &[u8], flip: usize) {
    let claims = claims_from(data);
    let Ok(token) = crate::session::seal(keyring(), &claims) else {
        return;
    };
    // The harness's oracle, like the asserts around it: a token this ring sealed must open.
    let opened = crate::session::open(keyring(), &token).unwrap_or_else(|e| panic!("sealed token rejected: {e:?}"));
    assert!(opened == claims, "round trip changed the claims");
    let mut bytes = token.into_bytes();
    let at = flip % bytes.len().max(1);
    if let Some(b) = bytes.get_mut(at) {
        *b = if *b == b'A' { b'B' } else { b'A' };
    }
    let mutated = String::from_utf8_lossy(&bytes);
    assert!(
        crate::session::open(keyring(), &mutated).is_err(),
        "mutated token opened"
    );
}

/// DER client certificates ([`ClientCertificate::parse`]).
pub fn certificate(data: &[u8]) {
    let der = data.get(..MAX_INPUT).unwrap_or(data).to_vec();
    if let Ok(cert) = ClientCertificate::parse(der) {
        let _ = (cert.principal_tags(), cert.source_identity(), cert.subject_string());
        assert!(!cert.serial_decimal().is_empty());
    }
}

/// A `rolegate.v1.Sessions` call's request message: the first byte picks the method
/// (CreateSession, AssumeRole, VerifyRequest, Authorize, modulo 4), the rest is the message
/// ([`crate::service::grpc::check_untrusted`]: protobuf decoding and the checks made before
/// any lookup or signature). The message's digest as it streams past
/// ([`crate::service::grpc::MessageDigest`]) is that of the message however the body is cut,
/// and the rest taken as a whole body holds one message only when it frames exactly one.
pub fn grpc_request(data: &[u8]) {
    use sha2::Digest;
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    let Some((&method, message)) = data.split_first() else {
        return;
    };
    let piece = usize::from(method >> 2) + 1;
    let mut body = vec![0];
    // invariant: MAX_INPUT fits in a u32.
    body.extend_from_slice(&u32::try_from(message.len()).expect("capped").to_be_bytes());
    body.extend_from_slice(message);
    let mut digest = crate::service::grpc::MessageDigest::default();
    for chunk in body.chunks(piece) {
        digest.update(chunk);
    }
    let want = hex::encode(sha2::Sha256::digest(message));
    assert_eq!(digest.finish(), Some(want), "digest of a framed message");
    let mut raw = crate::service::grpc::MessageDigest::default();
    for chunk in message.chunks(piece) {
        raw.update(chunk);
    }
    let frames_one = match message {
        [0, a, b, c, d, rest @ ..] => usize::try_from(u32::from_be_bytes([*a, *b, *c, *d])).ok() == Some(rest.len()),
        _ => false,
    };
    assert_eq!(raw.finish().is_some(), frames_one, "one message iff one frame");
    let _ = crate::service::grpc::check_untrusted(method, message);
}

/// A request to the TLS listener as far as the edge reads it before an API's handler
/// ([`crate::service::check_untrusted_head`]): a request line, header lines and a body, as
/// [`request_from`] reads them. A refusal rendered as REST JSON or STS XML is well-formed.
pub fn request_head(data: &[u8]) {
    let Some((req, body)) = request_from(data) else {
        return;
    };
    if let Some(answer) = crate::service::check_untrusted_head(req, &body) {
        assert_well_formed(answer);
    }
}

/// A request to the sidecar's IMDS and container endpoints ([`crate::helper::sidecar::handle`]),
/// read as [`request_from`] reads it, each `TOKEN` in a header value replaced by an IMDSv2
/// token the sidecar issued and each `AUTH` by the container endpoint's token (from its
/// `--auth-token-file`). Credentials are served only to a GET that carries the IMDSv2 token,
/// or to a GET of `/v1/credentials` whose `Authorization` is the container token. Returns
/// whether it served them (so that tests can tell their seeds reach both endpoints).
pub fn sidecar_request(data: &[u8]) -> bool {
    use crate::helper::sidecar;
    let SidecarFixture {
        shared,
        imds_token,
        container_token,
    } = sidecar_fixture();
    let Some((mut req, _)) = request_from(data) else {
        return false;
    };
    for value in req.headers_mut().values_mut() {
        if let Ok(text) = value.to_str()
            && (text.contains("TOKEN") || text.contains("AUTH"))
            && let Ok(with) = HeaderValue::from_str(&text.replace("TOKEN", imds_token).replace("AUTH", container_token))
        {
            *value = with;
        }
    }
    let answer = sidecar::handle(shared, &req, sidecar_now());
    let status = answer.status();
    let body = body_of(answer);
    let served = body
        .windows(SIDECAR_SECRET.len())
        .any(|w| w == SIDECAR_SECRET.as_bytes());
    if served {
        let header = |name: &str| req.headers().get(name).map(HeaderValue::as_bytes);
        let imds = header("x-aws-ec2-metadata-token") == Some(imds_token.as_bytes());
        let container =
            req.uri().path() == "/v1/credentials" && header("authorization") == Some(container_token.as_bytes());
        assert!(
            status == http::StatusCode::OK && req.method() == Method::GET && (imds || container),
            "credentials served without a valid IMDSv2 or container token: {} {}",
            req.method(),
            req.uri()
        );
    }
    served
}

/// A trust anchor's CRL ([`crate::identity::TrustAnchor::new`] with a fixed CA). An even
/// first byte: the rest is the CRL file (PEM or DER). An odd one: the rest is a
/// `tbsCertList`, which the harness signs with the CA's key, so that what follows the
/// signature check (the CRL's extensions, webpki's reading of it) is reached too.
pub fn trust_anchor_crl(data: &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (ca_pem, _, _) = crl_authority();
    let crl = match mode % 2 {
        0 => rest.to_vec(),
        _ => signed_crl(rest),
    };
    if let Ok(anchor) = crate::identity::TrustAnchor::new(ca_pem.as_bytes(), &[crl]) {
        let _ = format!("{anchor:?}");
    }
}

/// The DER CRL made of `tbs` (any bytes, as a `tbsCertList`) signed by the fixed CA
/// (ECDSA P-256 with SHA-256).
pub fn signed_crl(tbs: &[u8]) -> Vec<u8> {
    let (_, key, _) = crl_authority();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    // invariant: signing with a loaded key only fails when randomness does.
    let signature = key.sign(&rng, tbs).expect("ECDSA signature");
    let signature = signature.as_ref();
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            w.next().write_sequence(|w| {
                w.next().write_oid(&yasna::models::ObjectIdentifier::from_slice(&[
                    1, 2, 840, 10045, 4, 3, 2,
                ]));
            });
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        });
    })
}

/// The fixed CA of [`trust_anchor_crl`]: its certificate (PEM) and its signing key, and a CRL
/// it signed revoking one serial (PEM), a seed for the harness.
pub fn crl_authority() -> &'static (String, aws_lc_rs::signature::EcdsaKeyPair, String) {
    static CA: OnceLock<(String, aws_lc_rs::signature::EcdsaKeyPair, String)> = OnceLock::new();
    CA.get_or_init(|| {
        use crate::pki::{Authority, KeyType};
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let end = time::macros::datetime!(2036-01-01 00:00 UTC);
        // invariant: rcgen makes a P-256 root and a CRL with fixed, valid parameters.
        let ca = Authority::new_root("fuzz CRL root", KeyType::EcdsaP256, start, end).expect("fuzz CA");
        let crl = ca.crl(&["01f2"], start, end).expect("fuzz CRL");
        // invariant: the key rcgen just made for that root loads.
        let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ca.issued().key_pkcs8_der,
        )
        .expect("fuzz CA key");
        (ca.issued().cert_pem.clone(), key, crl)
    })
}

/// Seeds of [`trust_anchor_crl`] from the fixed CA's CRL: the PEM file and the DER CRL
/// (first byte 0), and its `tbsCertList` for the harness to sign (first byte 1).
pub fn crl_seeds() -> [Vec<u8>; 3] {
    use rustls_pki_types::pem::PemObject;
    use x509_parser::asn1_rs::{Any, FromDer};
    let (_, _, pem) = crl_authority();
    // invariant: the CA's own CRL is one PEM block of a DER SEQUENCE { tbsCertList, … }.
    let der = rustls_pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).expect("CRL PEM");
    let (_, outer) = Any::from_der(der.as_ref()).expect("CRL DER");
    let (after, _) = Any::from_der(outer.data).expect("tbsCertList");
    let tbs = outer.data.get(..outer.data.len() - after.len()).unwrap_or_default();
    [
        [&[0], pem.as_bytes()].concat(),
        [&[0], der.as_ref()].concat(),
        [&[1], tbs].concat(),
    ]
}

/// The first bytes of a connection to a listener with `server.proxy_protocol`
/// ([`crate::server::proxy_protocol::header_in`]), arriving in pieces of 1 to 64 bytes (the
/// first byte says). A header judged complete is one by itself, of at most the bytes seen.
pub fn proxy_protocol_header(data: &[u8]) {
    use crate::server::proxy_protocol::{HeaderSoFar, MAX_HEADER_BYTES, header_in};
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let data = data.get(..MAX_HEADER_BYTES).unwrap_or(data);
    let piece = usize::from(piece % 64) + 1;
    let mut seen = 0;
    while seen < data.len() {
        seen = (seen + piece).min(data.len());
        let sent = data.get(..seen).unwrap_or_default();
        match header_in(sent) {
            Ok(HeaderSoFar::Incomplete) => continue,
            Ok(HeaderSoFar::Complete { length, client }) => {
                assert!(length > 0 && length <= seen, "header of {length} bytes in {seen}");
                let alone = header_in(data.get(..length).unwrap_or_default());
                assert!(
                    matches!(alone, Ok(HeaderSoFar::Complete { length: l, client: c }) if l == length && c == client),
                    "the header's {length} bytes alone: {alone:?}"
                );
                return;
            }
            Err(_) => return,
        }
    }
}

/// Parses a request: `METHOD TARGET VERSION` (version `HTTP/2`, `HTTP/1.0` or else 1.1) on the
/// first line, `name: value` header lines, an empty line, then the body; lines end with `\n`
/// (a `\r` before it is dropped). `None` when `http` refuses the parts.
pub fn request_from(data: &[u8]) -> Option<(http::Request<()>, Bytes)> {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    let mut rest = data;
    let mut line = || {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let (l, r) = (rest.get(..end)?, rest.get(end + 1..)?);
        rest = r;
        Some(l.strip_suffix(b"\r").unwrap_or(l))
    };
    let first = line()?;
    let mut words = first.splitn(3, |b| *b == b' ');
    let method = Method::from_bytes(words.next()?).ok()?;
    let target = http::Uri::try_from(words.next()?).ok()?;
    let version = match words.next() {
        Some(b"HTTP/2") => http::Version::HTTP_2,
        Some(b"HTTP/1.0") => http::Version::HTTP_10,
        _ => http::Version::HTTP_11,
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(target)
        .version(version)
        .body(())
        .ok()?;
    while let Some(l) = line() {
        if l.is_empty() {
            break;
        }
        let colon = l.iter().position(|b| *b == b':')?;
        let name = HeaderName::from_bytes(l.get(..colon)?).ok()?;
        let value = HeaderValue::from_bytes(l.get(colon + 1..)?.trim_ascii()).ok()?;
        req.headers_mut().append(name, value);
    }
    Some((req, Bytes::copy_from_slice(rest)))
}

/// A refusal's body is well-formed in its `content-type`: XML (STS) or JSON (REST).
fn assert_well_formed(answer: crate::service::http::HttpResponse) {
    let content_type = answer
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = body_of(answer);
    if content_type.starts_with("text/xml") {
        let mut reader = quick_xml::Reader::from_reader(body.as_ref());
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => buf.clear(),
                Err(e) => panic!("malformed XML ({e}): {}", String::from_utf8_lossy(&body)),
            }
        }
    } else if content_type.starts_with("application/json") {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
            "malformed JSON: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// The body of an answer the handlers built whole.
fn body_of(answer: http::Response<http_body_util::Full<Bytes>>) -> Bytes {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    // invariant: a `Full` body is ready at once and cannot fail.
    let collected = answer.into_body().collect().now_or_never().expect("a whole body");
    collected.map(http_body_util::Collected::to_bytes).unwrap_or_default()
}

/// The secret access key of the sidecar harness's credentials.
const SIDECAR_SECRET: &str = "fuzzSecretAccessKeyNeverServedWithoutToken";

/// The time of the sidecar harness: its credentials were obtained 10 minutes before and
/// expire 50 minutes after.
fn sidecar_now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-12-06 12:00 UTC)
}

/// The sidecar of [`sidecar_request`] (IMDS on, no container endpoint: its token is a file)
/// and an IMDSv2 token it issued, valid at [`sidecar_now`].
/// The sidecar [`sidecar_request`] asks, and the tokens that open its two endpoints.
struct SidecarFixture {
    shared: crate::helper::sidecar::Shared,
    imds_token: String,
    container_token: String,
}

/// The container endpoint's token, in a file of the temporary folder that every harness
/// process shares (written whole by a rename, so a process never reads half of it; left
/// behind, 43 bytes).
const SIDECAR_CONTAINER_TOKEN: &str = "fuzz-container-token-0123456789abcdefghijk";

fn sidecar_token_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join("rolegate-fuzz-sidecar-auth-token");
    // invariant: the harness needs a writable temporary folder, as every fuzzer's corpus does.
    crate::helper::cache::write_atomic_private(&path, SIDECAR_CONTAINER_TOKEN.as_bytes())
        .expect("the fuzz sidecar's token file is written in the temporary folder");
    path
}

fn sidecar_fixture() -> &'static SidecarFixture {
    static SHARED: OnceLock<SidecarFixture> = OnceLock::new();
    SHARED.get_or_init(|| {
        use crate::helper::refresh::{CredentialState, RefreshPolicy};
        let now = sidecar_now();
        let mut state = CredentialState::default();
        let credentials = crate::client::SessionCredentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
            secret_access_key: zeroize::Zeroizing::new(SIDECAR_SECRET.to_owned()),
            session_token: zeroize::Zeroizing::new("fuzz-session-token".to_owned()),
            expiration: "2026-12-06T12:50:00Z".to_owned(),
        };
        state.record_success(
            credentials,
            now - time::Duration::minutes(10),
            &RefreshPolicy::default(),
        );
        let imds = crate::helper::imds_token::ImdsTokens::derived_from(b"fuzz");
        let token = imds.issue(now, time::Duration::minutes(10));
        let shared = crate::helper::sidecar::Shared {
            state: std::sync::Arc::new(std::sync::RwLock::new(state)),
            role_name: "app".to_owned(),
            account_id: "123456789012".to_owned(),
            instance_profile_arn: "arn:aws:iam::123456789012:instance-profile/app".to_owned(),
            instance_profile_id: "AIPAAAAAAAAAAAAAAAAAA".to_owned(),
            region: "us-east-1".to_owned(),
            auth_token_file: Some(sidecar_token_file()),
            imds: Some(imds),
        };
        SidecarFixture {
            shared,
            imds_token: token,
            container_token: SIDECAR_CONTAINER_TOKEN.to_owned(),
        }
    })
}

/// The fixed key ring the token harnesses use (one key, id [`KEY_ID`]).
pub fn keyring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        // invariant: 32 bytes of base64 and a valid key id always load.
        let key = TokenKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("fixed key");
        KeyRing::new(KEY_ID, vec![(KEY_ID.to_owned(), key)]).expect("fixed ring")
    })
}

/// Claims whose variable fields come from `data`.
fn claims_from(data: &[u8]) -> SessionClaims {
    let text = text(data);
    let mut parts = text.split('\u{1f}').map(str::to_owned);
    let mut next = || parts.next().unwrap_or_default();
    let issued_at = i64::from(data.first().copied().unwrap_or(0)) * 1_000_000;
    SessionClaims {
        access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
        secret_access_key: zeroize::Zeroizing::new(next()),
        role_arn: next(),
        role_id: next(),
        session_name: next(),
        issued_at,
        expires_at: issued_at + 3600,
        source_identity: Some(next()).filter(|s| !s.is_empty()),
        tags: vec![(next(), next())],
        transitive_tag_keys: vec![next()],
        session_policies: vec![next()],
        policy_arns: vec![next()],
        origin: SessionOrigin::AssumeRole {
            source_role_arn: next(),
            source_session_name: next(),
        },
        chain: Some(crate::session::SessionChain {
            trust_anchor_arn: next(),
            certificates: vec![crate::identity::IssuerSerial::new(data, next().as_bytes())],
            issued_anchor_listings: vec![crate::identity::IssuerSerial::new(next().as_bytes(), data)],
        }),
    }
}

fn request(method: Method, path: &str, query: &str, headers: HeaderMap) -> RequestParts {
    RequestParts {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        remote: SocketAddr::from((Ipv4Addr::LOCALHOST, 1)),
        request_id: "fuzz".to_owned(),
    }
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data.get(..MAX_INPUT).unwrap_or(data))
}

fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    match data.iter().position(|b| *b == 0) {
        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..).unwrap_or_default()),
        None => (data, &[]),
    }
}
