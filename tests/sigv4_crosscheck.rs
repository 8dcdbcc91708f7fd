//! Cross-check of `rolegate::sigv4::verify` against the official `aws-sigv4` signer: hundreds
//! of deterministic pseudo-random requests (methods, paths with reserved and non-ASCII
//! characters, query parameters, headers with inner and outer spaces, bodies, header and
//! presigned forms, with and without a session token) signed by `aws-sigv4` must verify, and
//! each single mutation of a signed part (method, path, query, header value, body, date,
//! signature, scope) must be rejected.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolegate::sigv4::{self, Expectations, HttpRequest, SignedRequest, derive_signing_key};
use time::OffsetDateTime;

const CASES: u64 = 400;
const REGION: &str = "us-east-1";
const SERVICE: &str = "sts";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// SplitMix64: a small deterministic generator, so every failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    fn word(&mut self, alphabet: &[&str], max: usize) -> String {
        (0..1 + self.below(max)).map(|_| self.pick(alphabet)).collect()
    }
}

/// Characters a path segment or query value may hold before percent-encoding: unreserved,
/// reserved and non-ASCII ones.
const CHARS: &[&str] = &[
    "a", "b", "Z", "0", "9", "-", "_", ".", "~", " ", "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@",
    "%", "/", "?", "#", "é", "ü", "日", "😀",
];
const ALNUM: &[&str] = &["a", "b", "c", "X", "Y", "0", "7"];

/// Encodes everything but unreserved characters, as the SDKs build URIs.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

struct Case {
    method: String,
    /// Already percent-encoded path and query, as sent on the wire.
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    presigned: bool,
}

fn random_case(rng: &mut Rng) -> Case {
    let method = rng.pick(&["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]).to_owned();
    let mut path = String::new();
    for _ in 0..1 + rng.below(4) {
        // Every segment keeps an alphanumeric character, so mutations are never normalized away.
        let segment = format!("{}{}", rng.word(ALNUM, 3), rng.word(CHARS, 6));
        path += "/";
        path += &utf8_percent_encode(&segment, ENCODE).to_string();
    }
    if rng.below(4) == 0 {
        path += "/";
    }
    let mut params = Vec::new();
    for _ in 0..rng.below(5) {
        let key = format!("{}{}", rng.word(ALNUM, 2), rng.word(CHARS, 3));
        let value = if rng.below(5) == 0 {
            String::new()
        } else {
            format!("{}{}", rng.word(ALNUM, 2), rng.word(CHARS, 5))
        };
        params.push(format!(
            "{}={}",
            utf8_percent_encode(&key, ENCODE),
            utf8_percent_encode(&value, ENCODE)
        ));
    }
    let query = params.join("&");
    let mut headers = vec![("host".to_owned(), "sts.example.test:8443".to_owned())];
    for i in 0..rng.below(4) {
        let inner = [
            "a  b",
            "x",
            "  padded  ",
            "tab\tinside",
            "Mixed Case  Value",
            "k=v;  q=1",
        ];
        let value = format!("{}{}", rng.pick(&inner), rng.word(ALNUM, 3));
        headers.push((format!("x-test-{i}-{}", rng.word(ALNUM, 3).to_ascii_lowercase()), value));
    }
    if rng.below(2) == 0 {
        headers.push((
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ));
    }
    let body: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
    let token = (rng.below(3) != 0).then(|| format!("token-{}", rng.word(ALNUM, 20)));
    Case {
        method,
        path,
        query,
        headers,
        body,
        token,
        presigned: rng.below(4) == 0,
    }
}

/// A request as sent after signing by `aws-sigv4`.
struct Sent {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Sent {
    fn http(&self) -> (Vec<(&str, &str)>, &str, &str, &str) {
        let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        (headers, &self.method, &self.path, &self.query)
    }
}

fn signing_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045) // 2026-01-02T03:04:05Z
}

fn sign_with_aws_sigv4(case: &Case) -> Sent {
    let identity = Credentials::new("ASIAEXAMPLEEXAMPLE23", SECRET, case.token.clone(), None, "test").into();
    let mut settings = SigningSettings::default();
    if case.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(signing_time())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = if case.query.is_empty() {
        format!("https://sts.example.test:8443{}", case.path)
    } else {
        format!("https://sts.example.test:8443{}?{}", case.path, case.query)
    };
    let signable = SignableRequest::new(
        &case.method,
        uri.as_str(),
        case.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method(case.method.as_str()).uri(uri.as_str());
    for (n, v) in &case.headers {
        request = request.header(n.as_str(), v.as_str());
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    Sent {
        method: case.method.clone(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: case.body.clone(),
    }
}

/// Runs the verifier the STS endpoint runs.
fn verify(sent: &Sent) -> Result<(), String> {
    let (headers, method, path, query) = sent.http();
    let req = HttpRequest {
        method,
        path,
        query,
        headers: &headers,
    };
    let signed = SignedRequest::parse(&req).map_err(|e| e.to_string())?;
    let payload_hash = signed.payload_hash_for(&sent.body, false).map_err(|e| e.to_string())?;
    let key = derive_signing_key(
        SECRET,
        &signed.credential.date,
        &signed.credential.region,
        &signed.credential.service,
    );
    let exp = Expectations {
        service: SERVICE,
        region: REGION,
        now: OffsetDateTime::from(signing_time()) + time::Duration::seconds(30),
        max_skew: time::Duration::minutes(5),
        hosts: sigv4::ServerNames::anywhere(),
    };
    sigv4::verify(&signed, &req, &payload_hash, &key, &exp).map_err(|e| e.to_string())
}

/// Replaces the `n`th alphanumeric character of `s` (counting from `from`) by another one.
fn mutate_alnum(s: &str, from: usize, rng: &mut Rng) -> Option<String> {
    let positions: Vec<usize> = s
        .char_indices()
        .filter(|(i, c)| *i >= from && c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return None;
    }
    let i = positions[rng.below(positions.len())];
    let old = s.as_bytes()[i];
    // Keep hex digits hex (signatures) and change the case-insensitive value.
    let new = match old {
        b'0'..=b'8' => old + 1,
        b'9' => b'0',
        b'a'..=b'e' | b'A'..=b'E' => old + 1,
        b'f' | b'F' => b'0',
        _ if old.eq_ignore_ascii_case(&b'z') => b'a',
        _ => old + 1,
    };
    let mut out = s.as_bytes().to_vec();
    out[i] = new;
    Some(String::from_utf8(out).unwrap())
}

/// Every single-part mutation of `sent` that changes what was signed.
fn mutations(sent: &Sent, rng: &mut Rng) -> Vec<(String, Sent)> {
    let clone = |f: &dyn Fn(&mut Sent)| {
        let mut s = Sent {
            method: sent.method.clone(),
            path: sent.path.clone(),
            query: sent.query.clone(),
            headers: sent.headers.clone(),
            body: sent.body.clone(),
        };
        f(&mut s);
        s
    };
    let mut out = Vec::new();
    let other_method = if sent.method == "GET" { "POST" } else { "GET" };
    out.push(("method".to_owned(), clone(&|s| s.method = other_method.to_owned())));
    if let Some(p) = mutate_alnum(&sent.path, 0, rng) {
        out.push(("path".to_owned(), clone(&|s| s.path = p.clone())));
    }
    out.push(("path suffix".to_owned(), clone(&|s| s.path = format!("{}x", s.path))));
    let user_query: Vec<&str> = sent
        .query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("X-Amz-"))
        .collect();
    if !user_query.is_empty() {
        let q = mutate_alnum(user_query[0], 0, rng).unwrap();
        let mutated = sent.query.replacen(user_query[0], &q, 1);
        out.push(("query".to_owned(), clone(&|s| s.query = mutated.clone())));
        let dropped = sent.query.replacen(user_query[0], "", 1).replace("&&", "&");
        let dropped = dropped.trim_matches('&').to_owned();
        out.push(("query dropped".to_owned(), clone(&|s| s.query = dropped.clone())));
    }
    let added = if sent.query.is_empty() {
        "extra=1".to_owned()
    } else {
        format!("{}&extra=1", sent.query)
    };
    out.push(("query added".to_owned(), clone(&|s| s.query = added.clone())));
    for (i, (name, value)) in sent.headers.iter().enumerate() {
        let signed = name.starts_with("x-test-") || name == "host" || name == "content-type" || name == "x-amz-date";
        if !signed {
            continue;
        }
        if let Some(v) = mutate_alnum(value, 0, rng) {
            out.push((format!("header {name}"), clone(&|s| s.headers[i].1 = v.clone())));
        }
    }
    if let Some((i, (_, auth))) = sent.headers.iter().enumerate().find(|(_, (n, _))| n == "authorization") {
        let sig_at = auth.find("Signature=").unwrap() + "Signature=".len();
        let m = mutate_alnum(auth, sig_at, rng).unwrap();
        out.push(("signature".to_owned(), clone(&|s| s.headers[i].1 = m.clone())));
        let scope = auth.replacen("/us-east-1/", "/us-east-2/", 1);
        out.push(("scope region".to_owned(), clone(&|s| s.headers[i].1 = scope.clone())));
        let day = auth.replacen("/20260102/", "/20260103/", 1);
        out.push(("scope date".to_owned(), clone(&|s| s.headers[i].1 = day.clone())));
    }
    if sent.query.contains("X-Amz-Signature=") {
        let sig_at = sent.query.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let m = mutate_alnum(&sent.query, sig_at, rng).unwrap();
        let m = m[..sig_at + 64.min(m.len() - sig_at)].to_owned() + &m[(sig_at + 64).min(m.len())..];
        out.push(("presigned signature".to_owned(), clone(&|s| s.query = m.clone())));
        let expires = sent.query.replacen("X-Amz-Expires=300", "X-Amz-Expires=301", 1);
        out.push(("presigned expires".to_owned(), clone(&|s| s.query = expires.clone())));
        let date = sent.query.replacen("T030405Z", "T030406Z", 1);
        out.push(("presigned date".to_owned(), clone(&|s| s.query = date.clone())));
    }
    if !sent.query.contains("X-Amz-Signature=") {
        let mut body = sent.body.clone();
        if body.is_empty() {
            body.push(b'x');
        } else {
            let i = rng.below(body.len());
            body[i] ^= 1 << rng.below(8);
        }
        out.push(("body".to_owned(), clone(&|s| s.body = body.clone())));
    }
    out
}

#[test]
fn aws_sigv4_signed_requests_verify_and_every_mutation_is_rejected() {
    let mut rng = Rng(0x5EED_5167_0004);
    let mut mutations_checked = 0;
    for n in 0..CASES {
        let case = random_case(&mut rng);
        let sent = sign_with_aws_sigv4(&case);
        let describe = || {
            format!(
                "case {n}: {} {}?{} headers {:?} presigned {}",
                sent.method, sent.path, sent.query, sent.headers, case.presigned
            )
        };
        if let Err(e) = verify(&sent) {
            panic!("{}: rejected: {e}", describe());
        }
        for (what, mutated) in mutations(&sent, &mut rng) {
            assert!(
                verify(&mutated).is_err(),
                "{}: mutation of the {what} was accepted: {} {}?{}",
                describe(),
                mutated.method,
                mutated.path,
                mutated.query
            );
            mutations_checked += 1;
        }
    }
    assert!(mutations_checked > (CASES as usize) * 4, "{mutations_checked}");
}

#[test]
fn unsigned_payload_from_aws_sigv4_is_refused_for_sts() {
    let identity = Credentials::new("ASIAEXAMPLEEXAMPLE23", SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(signing_time())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [("host", "sts.example.test")];
    let signable = SignableRequest::new(
        "POST",
        "https://sts.example.test/",
        headers.iter().copied(),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder()
        .method("POST")
        .uri("https://sts.example.test/")
        .header("host", "sts.example.test")
        .body(())
        .unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let sent = Sent {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
    };
    assert_eq!(
        verify(&sent),
        Err(
            "This endpoint requires a signed payload; 'x-amz-content-sha256: UNSIGNED-PAYLOAD' is not accepted.".into()
        )
    );
}
