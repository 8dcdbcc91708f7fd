//! Plumbing shared by the HTTP APIs: the request as the handlers see it (`RequestParts`),
//! bounded body collection, request ids and response builders.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::{BodyExt, Full, Limited};

use crate::error::{ApiError, ErrorCode};

/// Every response body the HTTP handlers build.
pub type HttpResponse = Response<Full<Bytes>>;

/// The parts of a request the handlers read, with the raw (still percent-encoded) path and query.
pub struct RequestParts {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    pub request_id: String,
}

impl RequestParts {
    /// Takes what the handlers need from `parts`. Over HTTP/2 the host travels in the
    /// `:authority` pseudo-header (RFC 9113 §8.3.1), which SigV4 clients sign as `host`: it is
    /// restored as a `host` header when none was sent, without the scheme's default port
    /// (which SigV4 signers leave out).
    pub fn new(parts: http::request::Parts, remote: SocketAddr) -> Self {
        let http::request::Parts {
            method,
            uri,
            mut headers,
            ..
        } = parts;
        if !headers.contains_key(http::header::HOST)
            && let Some(authority) = uri.authority()
            && let Ok(value) = HeaderValue::from_str(host_of_authority(authority, uri.scheme_str()))
        {
            headers.insert(http::header::HOST, value);
        }
        Self {
            method,
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers,
            remote,
            request_id: new_request_id(),
        }
    }

    /// A header's value when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All headers as `(name, value)` pairs for signature verification; values that are not
    /// visible ASCII cannot have been signed and are left out.
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect()
    }
}

/// The `host` an HTTP/2 `:authority` stands for: without the scheme's default port. h2 sends
/// the authority as the client's URL spells it (`example.com:443`), while SigV4 signers
/// (aws-sigv4, botocore) sign `host` without a default port — as HTTP/1.1 clients send it.
fn host_of_authority<'a>(authority: &'a http::uri::Authority, scheme: Option<&str>) -> &'a str {
    let default_port = match scheme {
        Some("http") => 80,
        _ => 443,
    };
    match authority.port_u16() {
        Some(port) if port == default_port => authority
            .as_str()
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host),
        _ => authority.as_str(),
    }
}

/// Why an HTTP/1.x request's `Host` is refused, if it is: RFC 9112 §3.2 has a server answer
/// 400 to an HTTP/1.1 request without a `Host` field, and to any with more than one `Host`
/// line. (HTTP/1.0 requests need none; HTTP/2 ones carry `:authority` instead.)
pub fn host_refusal(version: http::Version, headers: &HeaderMap) -> Option<ApiError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let message = match (hosts.next(), hosts.next()) {
        (None, _) if version == http::Version::HTTP_11 => "The request has no Host header; HTTP/1.1 requires one.",
        (Some(_), Some(_)) => "The request has more than one Host header.",
        _ => return None,
    };
    Some(ApiError::validation("bad-host-header", message))
}

/// Why an HTTP/1.1 request's transfer coding is refused, if it is: RFC 9112 §6.1 has a
/// transfer coding the server does not understand refused, and rolegate reads `chunked`
/// alone (hyper decodes `chunked` when it is the last coding and passes any coding before it
/// through undecoded). The connection is closed after the answer. (A request with both
/// `Transfer-Encoding` and `Content-Length`, RFC 9112 §6.3, is framed by the first and its
/// connection closed by hyper itself, which drops the `Content-Length`.)
pub fn framing_refusal(headers: &HeaderMap) -> Option<ApiError> {
    let mut codings = headers.get_all(http::header::TRANSFER_ENCODING).iter().peekable();
    codings.peek()?;
    let mut is_chunked = codings
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .map(|coding| coding.eq_ignore_ascii_case(b"chunked"));
    let chunked_alone = is_chunked.next() == Some(true) && is_chunked.next().is_none();
    (!chunked_alone).then(|| {
        ApiError::validation(
            "unsupported-transfer-coding",
            "The request's Transfer-Encoding is not supported: send the body with chunked alone, or with \
             Content-Length.",
        )
    })
}

/// How much of a body over the limit is read and thrown away before the 413 is sent, and for
/// how long at most, when the client is already sending it: a connection closed with unread
/// bytes in its receive buffer is reset, and a client still writing its body then sees the
/// reset instead of the answer.
pub const MAX_DISCARDED_BODY_BYTES: u64 = 1024 * 1024;
const MAX_DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the whole body, refusing more than `limit` bytes (chunked bodies included). A body
/// whose `Content-Length` already says it is too large is refused before a byte of it is read
/// when the client waits to be invited (`waits_for_continue()`, asked only then: `Expect:
/// 100-continue`, which hyper answers only once the body is read). Otherwise the client is
/// sending it anyway, and up to [`MAX_DISCARDED_BODY_BYTES`] of it are read and discarded
/// first, for at most [`MAX_DISCARD_TIME`], so that the client reads the refusal.
pub async fn collect_body<B>(body: B, limit: usize, waits_for_continue: impl Fn() -> bool) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "body-too-large",
            format!("The request body exceeds the limit of {limit} bytes."),
        )
    };
    let declared = body.size_hint().lower();
    if usize::try_from(declared).map_or(true, |declared| declared > limit) {
        if declared <= MAX_DISCARDED_BODY_BYTES && !waits_for_continue() {
            discard(body, MAX_DISCARDED_BODY_BYTES).await;
        }
        return Err(too_large());
    }
    let mut body = body;
    match Limited::new(&mut body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            // A chunked body that grew past the limit: as one declared too large.
            if !waits_for_continue() {
                discard(body, MAX_DISCARDED_BODY_BYTES).await;
            }
            Err(too_large())
        }
        Err(_) => Err(ApiError::validation(
            "body-read",
            "The request body could not be read completely.",
        )),
    }
}

/// Reads and drops the rest of `body`, up to `at_most` bytes and [`MAX_DISCARD_TIME`]; stops
/// at the first error. Whether it read the body to its end.
pub async fn discard<B>(mut body: B, at_most: u64) -> bool
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let drain = async {
        let mut left = at_most;
        while left > 0 {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let size = frame.data_ref().map_or(0, |data| data.len() as u64);
                    left = left.saturating_sub(size.max(1));
                }
                Some(Err(_)) => return false,
                None => return true,
            }
        }
        body.is_end_stream()
    };
    tokio::time::timeout(MAX_DISCARD_TIME, drain).await.unwrap_or(false)
}

/// A unique request id shaped like AWS's (a version-4 UUID): a per-process counter enciphered
/// with AES-128 under a key drawn once per process from the system RNG. The cipher is a
/// permutation, so the 128-bit blocks never repeat within a process; setting the UUID's six
/// version and variant bits leaves 122 bits that look random, which collide within a process
/// or across replicas only with negligible probability. Ids look random, so they tell no one
/// how many requests a server has answered (a plain counter in them did); no RNG call per
/// request (an RNG call alone was ~2 % of a GetCallerIdentity's server CPU), one AES block.
pub fn new_request_id() -> String {
    use aes::cipher::{BlockCipherEncrypt, KeyInit};
    static CIPHER: std::sync::OnceLock<aes::Aes128> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let cipher = CIPHER.get_or_init(|| {
        let mut key = [0u8; 16];
        // A failing system RNG leaves zeros: the ids are still unique, only predictable.
        let _ = aws_lc_rs::rand::fill(&mut key);
        aes::Aes128::new(&key.into())
    });
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut block = [0u8; 16];
    block[8..].copy_from_slice(&n.to_be_bytes());
    let mut block = block.into();
    cipher.encrypt_block(&mut block);
    format_uuid(block.into())
}

/// 16 bytes as a UUID string with the version (4) and variant (10) bits set.
fn format_uuid(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// `value` as a JSON answer. The answers are rolegate's own types, whose serialization cannot
/// fail (string keys, no non-finite floats); should one ever fail, the client gets a 500,
/// not an empty body under `status`.
pub fn json_response<T: serde::Serialize>(status: u16, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => response(status, "application/json", Bytes::from(body)),
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be written as JSON");
            response(
                500,
                "application/json",
                Bytes::from_static(b"{\"message\":\"Internal error\"}"),
            )
        }
    }
}

pub fn response(status: u16, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Roles Anywhere error: `X-Amzn-ErrorType` header and `{"message": ...}`.
pub fn rest_error(e: &ApiError, request_id: &str) -> HttpResponse {
    let (status, kind) = e.rest_wire();
    let mut r = json_response(status, &serde_json::json!({ "message": e.client_message(request_id) }));
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    with_reason(r, e)
}

/// The header naming why a request was refused: the `reason` of its audit event and of
/// `rolegate_refusals_total` (`trust-policy`, `session-revoked`…), for clients that act on it
/// without reading the message.
pub const REASON_HEADER: &str = "x-rolegate-reason";

/// Adds [`REASON_HEADER`] to the refusal `r` of `e`, and `Retry-After` when `e` knows when a
/// retry can be admitted.
pub fn with_reason(mut r: HttpResponse, e: &ApiError) -> HttpResponse {
    insert_reason(r.headers_mut(), e.reason);
    if let Some(delay) = e.retry_after {
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(delay)));
    }
    r
}

/// `delay` as `Retry-After` gives it (RFC 9110 §10.2.3): whole seconds, rounded up, at least
/// one (`0` would invite a retry that is refused again).
fn retry_after_seconds(delay: std::time::Duration) -> u64 {
    crate::ratelimit::whole_seconds_up(delay).as_secs().max(1)
}

/// Sets [`REASON_HEADER`] to `reason` in `headers`.
pub fn insert_reason(headers: &mut http::HeaderMap, reason: &str) {
    if let Ok(v) = HeaderValue::from_str(reason) {
        headers.insert(REASON_HEADER, v);
    }
}

/// Adds `x-amzn-RequestId` to a response.
pub fn with_request_id(mut r: HttpResponse, request_id: &str) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_in_whole_seconds_rounded_up() {
        use std::time::Duration;
        for (delay, want) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1000), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(999), 999),
        ] {
            assert_eq!(retry_after_seconds(delay), want, "{delay:?}");
        }
        let e = ApiError::new(crate::error::ErrorCode::Throttling, "rate-limit", "Rate exceeded")
            .with_retry_after(Duration::from_millis(250));
        let r = rest_error(&e, "id");
        assert_eq!(r.headers()[http::header::RETRY_AFTER], "1");
        let r = rest_error(&ApiError::internal("x"), "id");
        assert!(!r.headers().contains_key(http::header::RETRY_AFTER));
    }

    #[test]
    fn request_ids_are_uuid_shaped() {
        let mut bytes = [0xff; 16];
        assert_eq!(format_uuid(bytes), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        bytes = [0; 16];
        bytes[15] = 1;
        assert_eq!(format_uuid(bytes), "00000000-0000-4000-8000-000000000001");
    }

    /// Consecutive ids share no prefix and no counter-like suffix: each is a fresh-looking
    /// UUID, and none repeats.
    #[test]
    fn request_ids_do_not_count_requests() {
        let ids: Vec<String> = (0..1000).map(|_| new_request_id()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        for pair in ids.windows(2) {
            assert_eq!(pair[0].len(), 36);
            assert_eq!(&pair[0][14..15], "4");
            assert!(matches!(&pair[0][19..20], "8" | "9" | "a" | "b"), "{}", pair[0]);
            // Consecutive ids agree in few of their 32 hex digits (a counter kept 16 equal).
            let same = pair[0].chars().zip(pair[1].chars()).filter(|(a, b)| a == b).count();
            assert!(same < 20, "{} {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn http11_requests_carry_one_host() {
        let reason = |version, hosts: &[&str]| {
            let mut headers = HeaderMap::new();
            for host in hosts {
                headers.append(http::header::HOST, HeaderValue::from_str(host).unwrap());
            }
            host_refusal(version, &headers).map(|e| e.message)
        };
        let missing = Some("The request has no Host header; HTTP/1.1 requires one.".to_owned());
        let twice = Some("The request has more than one Host header.".to_owned());
        assert_eq!(reason(http::Version::HTTP_11, &["a"]), None);
        assert_eq!(reason(http::Version::HTTP_11, &[]), missing);
        assert_eq!(reason(http::Version::HTTP_11, &["a", "a"]), twice);
        assert_eq!(reason(http::Version::HTTP_10, &[]), None);
        assert_eq!(reason(http::Version::HTTP_10, &["a", "b"]), twice);
    }

    #[test]
    fn only_chunked_alone_or_content_length_frames_a_request() {
        let reason = |pairs: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(
                    http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            framing_refusal(&headers).map(|e| e.reason)
        };
        assert_eq!(reason(&[]), None);
        assert_eq!(reason(&[("content-length", "10")]), None);
        assert_eq!(reason(&[("transfer-encoding", "chunked")]), None);
        assert_eq!(reason(&[("transfer-encoding", " Chunked ")]), None);
        let unsupported = Some("unsupported-transfer-coding");
        assert_eq!(reason(&[("transfer-encoding", "gzip, chunked")]), unsupported);
        assert_eq!(
            reason(&[("transfer-encoding", "gzip"), ("transfer-encoding", "chunked")]),
            unsupported
        );
        assert_eq!(reason(&[("transfer-encoding", "chunked, chunked")]), unsupported);
        assert_eq!(reason(&[("transfer-encoding", "identity")]), unsupported);
        assert_eq!(reason(&[("transfer-encoding", "")]), unsupported);
    }

    #[test]
    fn an_http2_authority_loses_only_its_scheme_default_port() {
        let cases = [
            ("rolegate.example:443", Some("https"), "rolegate.example"),
            ("rolegate.example:443", None, "rolegate.example"),
            ("rolegate.example:8443", Some("https"), "rolegate.example:8443"),
            ("rolegate.example:80", Some("https"), "rolegate.example:80"),
            ("rolegate.example:80", Some("http"), "rolegate.example"),
            ("[::1]:443", Some("https"), "[::1]"),
            ("127.0.0.1", Some("https"), "127.0.0.1"),
        ];
        for (authority, scheme, want) in cases {
            let authority: http::uri::Authority = authority.parse().unwrap();
            assert_eq!(host_of_authority(&authority, scheme), want, "{authority} {scheme:?}");
        }
    }
}
