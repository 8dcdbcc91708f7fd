//! The AWS SigV4 test suite (`../shared/vectors/sigv4/v4`), driven step by step: canonical
//! request, string to sign, signature, then `SignedRequest::parse` + `verify` (accept) and
//! rejection after a byte of a signed part changes.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sigv4::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/sigv4/v4");

/// A request of the suite's raw HTTP text format.
#[derive(Clone, Debug)]
struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    /// Parses `METHOD target HTTP/1.1`, header lines (`Name:value`, continuation lines
    /// starting with whitespace folded into the previous value with a space), a blank line
    /// and the body. The target may contain spaces (`/example space/`).
    fn parse(text: &str) -> Self {
        let (head, body) = match text.split_once("\n\n") {
            Some((h, b)) => (h, b.as_bytes().to_vec()),
            None => (text.trim_end_matches('\n'), Vec::new()),
        };
        let mut lines = head.split('\n');
        let request_line = lines.next().unwrap();
        let (method, rest) = request_line.split_once(' ').unwrap();
        let (target, _version) = rest.rsplit_once(' ').unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line);
            } else {
                let (n, v) = line.split_once(':').unwrap();
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body,
        }
    }

    fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    /// Runs `f` on the borrowed view.
    fn with_view<T>(&self, f: impl FnOnce(&HttpRequest) -> T) -> T {
        let headers = self.header_refs();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
        })
    }
}

/// `context.json` of a case.
struct Context {
    access_key_id: String,
    secret: String,
    token: Option<String>,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    omit_session_token: bool,
    timestamp: OffsetDateTime,
}

impl Context {
    fn load(dir: &Path) -> Self {
        let v: serde_json::Value = serde_json::from_str(&read(dir, "context.json")).unwrap();
        let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_owned);
        let b = |p: &str| v.pointer(p).and_then(|x| x.as_bool()).unwrap_or(false);
        Self {
            access_key_id: s("/credentials/access_key_id").unwrap(),
            secret: s("/credentials/secret_access_key").unwrap(),
            token: s("/credentials/token"),
            normalize: v.pointer("/normalize").and_then(|x| x.as_bool()).unwrap_or(true),
            region: s("/region").unwrap(),
            service: s("/service").unwrap(),
            sign_body: b("/sign_body"),
            omit_session_token: b("/omit_session_token"),
            timestamp: OffsetDateTime::parse(&s("/timestamp").unwrap(), &Rfc3339).unwrap(),
        }
    }

    fn expectations(&self) -> Expectations<'_> {
        Expectations {
            service: &self.service,
            region: &self.region,
            now: self.timestamp,
            max_skew: time::Duration::minutes(5),
            hosts: crate::sigv4::ServerNames::anywhere(),
        }
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

fn cases() -> Option<Vec<PathBuf>> {
    let root = Path::new(VECTORS);
    if !root.is_dir() {
        // Straight to stderr: the harness hides `eprintln!` of a passing test.
        use std::io::Write;
        let notice = format!("SKIPPED the SigV4 test suite: its vectors are not at {VECTORS}\n");
        let _ = std::io::stderr().lock().write_all(notice.as_bytes());
        return None;
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("context.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {VECTORS}");
    Some(dirs)
}

#[test]
fn aws_suite_step_by_step_and_verify() {
    let Some(dirs) = cases() else { return };
    let mut checked = 0;
    for dir in &dirs {
        let ctx = Context::load(dir);
        for form in ["header", "query"] {
            let name = format!("{}:{form}", dir.file_name().unwrap().to_string_lossy());
            let signed_raw = RawRequest::parse(&read(dir, &format!("{form}-signed-request.txt")));
            let payload_hash = sha256_hex(&signed_raw.body);
            let key = derive_signing_key(&ctx.secret, &ctx.timestamp_date(), &ctx.region, &ctx.service);
            signed_raw.with_view(|req| {
                let signed = SignedRequest::parse(req).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(signed.credential.access_key_id, ctx.access_key_id, "{name}");
                assert_eq!(
                    signed.location,
                    if form == "header" {
                        AuthLocation::Header
                    } else {
                        AuthLocation::Query
                    },
                    "{name}"
                );
                let names: Vec<&str> = signed.signed_headers.iter().map(String::as_str).collect();
                let creq = match form == "query" && ctx.omit_session_token {
                    true => canonical_request_without_query_token(req, &names, &payload_hash, ctx.normalize),
                    false => canonical_request(req, &names, &payload_hash, ctx.normalize),
                }
                .unwrap();
                assert_eq!(creq, read(dir, &format!("{form}-canonical-request.txt")), "{name}");
                let sts = string_to_sign(&signed.algorithm, &signed.amz_date, &signed.credential.scope(), &creq);
                assert_eq!(sts, read(dir, &format!("{form}-string-to-sign.txt")), "{name}");
                let sig = hmac_signature(&key, &sts);
                assert_eq!(
                    hex::encode(sig),
                    read(dir, &format!("{form}-signature.txt")).trim(),
                    "{name}"
                );
                assert_eq!(signed.signature, sig.to_vec(), "{name}");
                let exp = ctx.expectations();
                verify_with(&signed, req, &payload_hash, &key, &exp, ctx.normalize)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                if ctx.normalize {
                    verify(&signed, req, &payload_hash, &key, &exp).unwrap();
                    if !(form == "query" && ctx.omit_session_token) {
                        assert_eq!(compute_signature(&signed, req, &payload_hash, &key).unwrap(), sig);
                    }
                }
                if form == "query" {
                    assert_eq!(signed.security_token, ctx.token, "{name}");
                }
            });
            assert_rejects_mutations(&name, &ctx, &signed_raw, &payload_hash, &key);
            checked += 1;
        }
    }
    assert_eq!(checked, dirs.len() * 2);
}

/// `sign_hmac` reproduces the suite's header-form signature (for cases whose signer signs
/// every header, i.e. neither body signing nor an omitted session token).
#[test]
fn aws_suite_sign_hmac() {
    let Some(dirs) = cases() else { return };
    let mut signed = 0;
    for dir in &dirs {
        let ctx = Context::load(dir);
        if ctx.sign_body || ctx.omit_session_token || !ctx.normalize {
            continue;
        }
        signed += 1;
        let raw = RawRequest::parse(&read(dir, "request.txt"));
        let expected = RawRequest::parse(&read(dir, "header-signed-request.txt"));
        let added = raw.with_view(|req| {
            sign_hmac(
                req,
                &sha256_hex(&raw.body),
                &ctx.access_key_id,
                &ctx.secret,
                ctx.token.as_deref(),
                &ctx.region,
                &ctx.service,
                ctx.timestamp,
            )
        });
        let auth = added.iter().find(|(n, _)| n == "authorization").unwrap();
        let want = expected.headers.iter().find(|(n, _)| n == "Authorization").unwrap();
        assert_eq!(auth.1, want.1, "{}", dir.display());
    }
    assert!(signed * 2 > dirs.len(), "only {signed} cases signed");
}

impl Context {
    fn timestamp_date(&self) -> String {
        format_amz_date(self.timestamp)[..8].to_owned()
    }
}

/// Changes one character: digits and letters move to the next one (same class), others
/// become `x`.
fn bump(c: char) -> char {
    match c {
        '9' => '0',
        'z' => 'a',
        'Z' => 'A',
        c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
        _ => 'x',
    }
}

/// Replaces the last alphanumeric character of `s`.
fn bump_last(s: &str) -> String {
    let i = s.rfind(|c: char| c.is_ascii_alphanumeric()).unwrap();
    let mut out = s.to_owned();
    out.replace_range(i..i + 1, &bump(s[i..].chars().next().unwrap()).to_string());
    out
}

fn assert_rejects_mutations(name: &str, ctx: &Context, raw: &RawRequest, payload_hash: &str, key: &SigningKey) {
    let exp = ctx.expectations();
    let check = |what: &str, m: &RawRequest, want: Option<SigV4Error>| {
        let result = m.with_view(|req| {
            SignedRequest::parse(req).and_then(|s| verify_with(&s, req, payload_hash, key, &exp, ctx.normalize))
        });
        match want {
            Some(e) => assert_eq!(result, Err(e), "{name}: {what}"),
            None => assert!(result.is_err(), "{name}: {what} accepted"),
        }
    };
    let mismatch = Some(SigV4Error::SignatureMismatch);

    let mut m = raw.clone();
    m.method = bump_last(&m.method);
    check("method", &m, mismatch.clone());

    let mut m = raw.clone();
    m.path.push('x');
    check("path", &m, mismatch.clone());

    let mut m = raw.clone();
    m.query = if m.query.is_empty() {
        "a=b".into()
    } else {
        format!("{}&a=b", m.query)
    };
    check("query parameter added", &m, mismatch.clone());

    // every query parameter's value, one at a time
    let params: Vec<&str> = raw.query.split('&').filter(|p| !p.is_empty()).collect();
    for (i, p) in params.iter().enumerate() {
        // the signature, and a token appended after signing, are not signed parts
        let unsigned_token = ctx.omit_session_token && p.starts_with("X-Amz-Security-Token=");
        if p.starts_with("X-Amz-Signature=") || unsigned_token || !p.contains(|c: char| c.is_ascii_alphanumeric()) {
            continue;
        }
        let mut m = raw.clone();
        let mut ps: Vec<String> = params.iter().map(|s| (*s).to_owned()).collect();
        ps[i] = bump_last(p);
        m.query = ps.join("&");
        check(&format!("query parameter {p}"), &m, None);
    }

    // every signed header's value
    let signed = raw.with_view(|req| SignedRequest::parse(req).unwrap());
    for h in &signed.signed_headers {
        let mut m = raw.clone();
        let slot = m.headers.iter_mut().rfind(|(n, _)| n.eq_ignore_ascii_case(h)).unwrap();
        slot.1 = bump_last(&slot.1);
        check(&format!("header {h}"), &m, None);
    }

    // the signature itself
    let mut m = raw.clone();
    match signed.location {
        AuthLocation::Header => {
            let slot = m.headers.iter_mut().find(|(n, _)| n == "Authorization").unwrap();
            slot.1 = bump_last(&slot.1);
        }
        AuthLocation::Query => {
            let (before, sig) = m.query.split_once("X-Amz-Signature=").unwrap();
            m.query = format!("{before}X-Amz-Signature={}", bump_last(sig));
        }
    }
    check("signature", &m, None);

    // a day later, the request is stale
    let late = Expectations {
        now: ctx.timestamp + time::Duration::days(1),
        ..exp
    };
    let stale = raw.with_view(|req| verify_with(&signed, req, payload_hash, key, &late, ctx.normalize));
    assert!(
        matches!(
            stale,
            Err(SigV4Error::SignatureExpired { .. } | SigV4Error::RequestExpired { .. })
        ),
        "{name}: {stale:?}"
    );
}
