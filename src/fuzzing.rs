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
