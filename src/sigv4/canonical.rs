//! The canonical request and string to sign of SigV4 (task 1 and 2 of
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>).

use std::borrow::Cow;

use super::SigV4Error;
use super::encoding::{sha256_hex, uri_encode, uri_encode_bytes};

/// Payload hash a client sends (in `x-amz-content-sha256`) when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The payload hash of an S3 upload whose body is unsigned and carries a trailing checksum.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Transport-independent view of an HTTP request as received. `Debug` redacts the values
/// of `authorization` and `x-amz-security-token`.
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw path as on the wire (percent-encoded), without the query.
    pub path: &'a str,
    /// Raw query string without `?`; may be empty.
    pub query: &'a str,
    /// Header names in any case, raw values; repeated names allowed.
    pub headers: &'a [(&'a str, &'a str)],
}

impl std::fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| match is_secret_header(n) {
                true => (*n, "<redacted>"),
                false => (*n, *v),
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .finish()
    }
}

impl<'a> HttpRequest<'a> {
    /// Values of every header named `name` (ASCII case-insensitive), in order.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of header `name`, if any.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Builds the SigV4 canonical request:
/// `method \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash`.
///
/// - Canonical URI: when `normalize_path` (every service but S3) the path has its dot segments
///   removed (RFC 3986 §5.2.4) and empty segments collapsed; then each segment is URI-encoded
///   again, so a wire `%20` becomes `%2520` ("double encoding"). S3 encodes once: each segment
///   is decoded and encoded strictly (every byte but `A-Za-z0-9-._~` escaped), so the wire path
///   an SDK sent (`/b/a%20b.txt`, escaped as strictly) is its own canonical URI; a client that
///   signed a reserved character unescaped (`=`, `!`) does not verify, as at S3.
/// - Canonical query: parameters decoded, re-encoded strictly, sorted by key then value;
///   `X-Amz-Signature` is excluded.
/// - Canonical headers: exactly `signed_headers` (lower case, in the given order), values
///   trimmed with inner runs of spaces collapsed, repeated headers joined by `,`.
///
/// Fails with [`SigV4Error::SignedHeaderAbsent`] when a signed header is not in the request.
pub fn canonical_request(
    req: &HttpRequest,
    signed_headers: &[&str],
    payload_hash: &str,
    normalize_path: bool,
) -> Result<String, SigV4Error> {
    build_canonical_request(req, signed_headers, payload_hash, normalize_path, false)
}

/// [`canonical_request`] of a presigned request whose `X-Amz-Security-Token` query parameter
/// was appended after signing (as older STS clients do; the AWS suite's
/// `post-sts-header-after` case): the token parameter is left out of the canonical query.
pub fn canonical_request_without_query_token(
    req: &HttpRequest,
    signed_headers: &[&str],
    payload_hash: &str,
    normalize_path: bool,
) -> Result<String, SigV4Error> {
    build_canonical_request(req, signed_headers, payload_hash, normalize_path, true)
}

/// See [`canonical_request`].
fn build_canonical_request(
    req: &HttpRequest,
    signed_headers: &[&str],
    payload_hash: &str,
    normalize_path: bool,
    skip_token: bool,
) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(256 + req.path.len() + req.query.len());
    out.push_str(req.method);
    out.push('\n');
    push_canonical_uri(req.path, normalize_path, &mut out);
    out.push('\n');
    push_canonical_query(req.query, skip_token, &mut out);
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let mut values = req.header_values(name).peekable();
        if values.peek().is_none() {
            return Err(SigV4Error::SignedHeaderAbsent((*name).to_owned()));
        }
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed_value(v, &mut out);
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// The string to sign: `algorithm \n amz_date \n scope \n hex(SHA-256(canonical request))`.
/// For Roles Anywhere `algorithm` is the label as sent, e.g. `AWS4-X509-ECDSA-SHA256`.
pub fn string_to_sign(algorithm: &str, amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(algorithm.len() + amz_date.len() + scope.len() + 67);
    out.push_str(algorithm);
    out.push('\n');
    out.push_str(amz_date);
    out.push('\n');
    out.push_str(scope);
    out.push('\n');
    out.push_str(&sha256_hex(canonical_request.as_bytes()));
    out
}

/// Headers whose values are credentials.
fn is_secret_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("x-amz-security-token")
}

/// Appends the canonical URI of `path` (see [`canonical_request`]).
fn push_canonical_uri(path: &str, normalize: bool, out: &mut String) {
    if !normalize {
        // S3: single encoding.
        let path = if path.is_empty() { "/" } else { path };
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode_str(segment).into();
            uri_encode_bytes(&decoded, out);
        }
        return;
    }
    for (i, segment) in normalize_path(path).split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(segment, out);
    }
}

/// Removes `.` and `..` segments (RFC 3986 §5.2.4) and empty segments, keeping a trailing
/// slash when the input ends in `/`, `/.` or `/..`; the result always starts with `/`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

/// Appends the canonical query string: each `key=value` decoded then strictly re-encoded,
/// sorted by encoded key then encoded value, `X-Amz-Signature` (and with `skip_token`,
/// `X-Amz-Security-Token`) left out. Decoding keeps the bytes as they are — a `%FF` stays the
/// byte 0xFF, not U+FFFD — so two different queries never share a canonical form (and a
/// signature).
fn push_canonical_query(query: &str, skip_token: bool, out: &mut String) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter(|(k, _)| k != b"X-Amz-Signature" && !(skip_token && k == b"X-Amz-Security-Token"))
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            uri_encode_bytes(&k, &mut ek);
            let mut ev = String::with_capacity(v.len());
            uri_encode_bytes(&v, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// The `application/x-www-form-urlencoded` pairs of `query` as raw bytes: split on `&`, empty
/// pieces skipped, each split at its first `=`, `+` read as a space, `%XY` decoded (a `%` not
/// followed by two hex digits is kept as it is).
fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query.split('&').filter(|piece| !piece.is_empty()).map(|piece| {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        (form_decode(key), form_decode(value))
    })
}

/// One form-encoded component as bytes.
fn form_decode(component: &str) -> Vec<u8> {
    let spaced: std::borrow::Cow<'_, [u8]> = match component.contains('+') {
        true => component.replace('+', " ").into_bytes().into(),
        false => component.as_bytes().into(),
    };
    percent_encoding::percent_decode(&spaced).collect()
}

/// Appends `value` with leading/trailing whitespace removed and inner runs of spaces
/// collapsed to one space (the "Trimall" rule of SigV4).
fn push_trimmed_value(value: &str, out: &mut String) {
    let mut rest = value.trim_matches(|c| c == ' ' || c == '\t');
    // Copies whole runs (a session token header is ~1 KiB with no double space at all).
    while let Some(i) = memchr::memmem::find(rest.as_bytes(), b"  ") {
        out.push_str(&rest[..=i]);
        rest = rest[i..].trim_start_matches(' ');
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        for (input, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/../../x", "/x"),
        ] {
            assert_eq!(normalize_path(input), expected, "{input:?}");
        }
    }

    /// Every query byte counts: bytes that are not UTF-8 are kept, not replaced by U+FFFD
    /// (which would let a signature over `%FF` verify `%FE`), and `+` is a space.
    #[test]
    fn canonical_query_keeps_every_byte() {
        let canonical = |query: &str| {
            let mut out = String::new();
            push_canonical_query(query, false, &mut out);
            out
        };
        assert_eq!(canonical("a=%FF"), "a=%FF");
        assert_eq!(canonical("a=%fe&%FF=1"), "%FF=1&a=%FE");
        assert_eq!(canonical("a=%EF%BF%BD"), "a=%EF%BF%BD");
        assert_eq!(canonical("a=b+c&d=%2B"), "a=b%20c&d=%2B");
        assert_eq!(canonical("a=%zz&b=%4"), "a=%25zz&b=%254");
        assert_eq!(canonical("&&x&y=&=z"), "=z&x=&y=");
    }

    #[test]
    fn encodes_uri_twice_and_trims_headers() {
        let headers = [("Host", "h"), ("X-A", "  a   b  "), ("x-a", "c")];
        let req = HttpRequest {
            method: "GET",
            path: "/a%20b/c d",
            query: "b=2&a=2&a=1&X-Amz-Signature=ff&k",
            headers: &headers,
        };
        let creq = canonical_request(&req, &["host", "x-a"], "ph", true).unwrap();
        assert_eq!(
            creq,
            "GET\n/a%2520b/c%20d\na=1&a=2&b=2&k=\nhost:h\nx-a:a b,c\n\nhost;x-a\nph"
        );
        assert_eq!(
            canonical_request(&req, &["host", "missing"], "ph", true),
            Err(SigV4Error::SignedHeaderAbsent("missing".into()))
        );
    }

    #[test]
    fn trimall_collapses_space_runs_only() {
        for (value, expected) in [
            ("", ""),
            ("   ", ""),
            ("\t a \t", "a"),
            ("a  b   c", "a b c"),
            ("a \t  b", "a \t b"),
            ("  x y  ", "x y"),
            ("é  ü", "é ü"),
        ] {
            let mut out = String::new();
            push_trimmed_value(value, &mut out);
            assert_eq!(out, expected, "{value:?}");
        }
    }
}
