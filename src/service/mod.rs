//! The wire edges: Roles Anywhere REST (`rest`), the STS Query API (`sts`) and gRPC (`grpc`),
//! all served on one TLS listener and dispatched by [`dispatch`] (a gRPC call's deadline,
//! watched body and stream charges around tonic: `grpc_call`). Each edge parses its wire
//! format, calls the [`crate::broker::Broker`], and renders the one [`crate::error::ApiError`]
//! type in its own format.

mod form;
pub mod grpc;
mod grpc_call;
pub mod http;
pub mod rest;
pub mod sts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use tonic::body::Body;

use self::http::{HttpResponse, RequestParts, collect_body, rest_error, with_request_id};
use crate::audit::Record;
use crate::error::{ApiError, ErrorCode};
use crate::identity::ClientCertificate;
use crate::ratelimit::{AddressSlot, ClientLimit};
use crate::receiving::{Cut, receive};
use crate::state::State;

/// What the TLS layer learned about a connection; attached to every request on it.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// What the per-address limits count the client as ([`crate::ratelimit::address_group`]).
    pub address_group: std::net::IpAddr,
    /// Whether the per-address request limits (`rate_limit_per_ip`,
    /// `max_concurrent_requests_per_ip`) count this connection's requests: not when the client
    /// is in `server.rate_limit_exempt` (as the configuration stood when it connected).
    pub address_limits: bool,
    /// The client certificate chain presented in the handshake (gRPC mTLS), if any.
    pub peer_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// Routes one HTTP request to its API (`application/grpc` to the gRPC services, the rest to
/// REST / STS), after admission control (per-IP token bucket and the client address's share,
/// in [`crate::ratelimit`]) so every API, gRPC included, is covered. Each API takes a slot of
/// the global concurrency limit once it has received its request ([`crate::receiving`]).
/// Returns the answer and, to be held until it has been sent, the slot of the client
/// address's share of requests in progress.
async fn dispatch(
    state: Arc<State>,
    conn: ConnInfo,
    req: ::http::Request<Incoming>,
) -> (::http::Response<Body>, Option<AddressSlot>) {
    let started = Instant::now();
    let admitted = match conn.address_limits {
        true => state.limiter().admit(conn.address_group, started),
        false => Ok(crate::ratelimit::Admission { address_slot: None }),
    };
    let admission = match admitted {
        Ok(admission) => admission,
        Err(e) => {
            let max_body_bytes = state.broker.config().server.max_body_bytes;
            return (refuse_admission(req, &conn, &e, started, max_body_bytes).await, None);
        }
    };
    if let Some((e, then)) = head_refusal(&req, || state.broker.config().server.max_header_bytes) {
        let mut refused = refuse(&req, &conn, &e, started);
        if then == AfterRefusal::Close {
            closes_connection(&mut refused);
        }
        return (refused, None);
    }
    let response = match Route::of(&req) {
        route @ (Route::GrpcOverHttp1 | Route::GrpcWeb) => {
            let (e, request_id) = (not_grpc_over_http2(route, &req), http::new_request_id());
            record_refusal(&request_id, "grpc", "Any", conn.remote, &e, started);
            let mut refused = match route {
                Route::GrpcWeb => {
                    let answer_type = grpc::grpc_web_answer_type(req.headers().get(::http::header::CONTENT_TYPE));
                    grpc::grpc_web_refusal(&e, tonic::Code::Unimplemented, &request_id, answer_type)
                }
                _ => with_request_id(rest_error(&e, &request_id), &request_id).map(Body::new),
            };
            close_if_body_unread(&req, &mut refused);
            refused
        }
        Route::Grpc => grpc_call::dispatch_grpc_within_deadline(state, conn, req, started).await,
        Route::Http => dispatch_http(state, conn, req).await.map(Body::new),
    };
    (response, admission.address_slot)
}

/// The most header fields a request may carry: hyper's bound on an HTTP/1.1 request, applied
/// to HTTP/2 too, where only `max_header_bytes` bounds them. A canonical request looks each
/// signed header up among them: thousands of tiny headers, all signed, cost milliseconds
/// before the signature could fail.
const MAX_REQUEST_HEADERS: usize = 100;

/// The size of an HTTP/2 request's header list as RFC 9113 §6.5.2 counts it
/// (SETTINGS_MAX_HEADER_LIST_SIZE): each field's name and value plus 32 bytes, the
/// pseudo-header fields (`:method`, `:scheme`, `:authority`, `:path` with the query) included.
fn header_list_size<B>(req: &::http::Request<B>) -> usize {
    let field = |name: &str, value: usize| name.len() + value + 32;
    let uri = req.uri();
    let pseudo = field(":method", req.method().as_str().len())
        + field(":scheme", uri.scheme_str().map_or(0, str::len))
        + field(":authority", uri.authority().map_or(0, |a| a.as_str().len()))
        + field(":path", uri.path_and_query().map_or(0, |p| p.as_str().len()));
    pseudo
        + req
            .headers()
            .iter()
            .map(|(name, value)| field(name.as_str(), value.len()))
            .sum::<usize>()
}

fn headers_too_large(size: usize, max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        "headers-too-large",
        format!("The request's header fields take {size} bytes; at most {max} are accepted."),
    )
}

fn too_many_headers(count: usize) -> ApiError {
    ApiError::validation(
        "too-many-headers",
        format!("The request has {count} header fields; at most {MAX_REQUEST_HEADERS} are accepted."),
    )
}

/// The headers the APIs read besides SigV4's: the certificate and chain of AWS4-X509, and the
/// body's `Content-Type` (STS reads parameters from a form body). With two of one, or one a
/// `&str` cannot hold, the API would read another value than the signature covers (the
/// canonical request joins repeated values and leaves unreadable ones out): with an
/// unreadable `Content-Type` added before the signed one, a signed form body would be ignored
/// and its parameters (a session policy) dropped. Each must be sent once, in visible ASCII.
const READ_HEADERS: [&str; 3] = ["X-Amz-X509", "X-Amz-X509-Chain", "Content-Type"];

fn sent_once(rp: &RequestParts) -> Result<(), ApiError> {
    for name in crate::sigv4::SIGNATURE_HEADERS.into_iter().chain(READ_HEADERS) {
        let mut values = rp.headers.get_all(name).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::validation(
                "duplicate-header",
                format!("The request has more than one {name} header; send it once."),
            ));
        }
        // Elsewhere a value that is not visible ASCII reads as no header at all (SigV4 signs
        // none), which would explain the refusal wrongly.
        if first.is_some_and(|v| v.to_str().is_err()) {
            return Err(ApiError::validation(
                "non-ascii-header",
                format!(
                    "The {name} header holds characters other than visible ASCII; send it as the client signed it, in ASCII."
                ),
            ));
        }
    }
    Ok(())
}

/// The error of a request not received within `server.request_timeout_seconds`.
fn request_timeout(timeout: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        "request-timeout",
        format!("The request was not received within {} seconds.", timeout.as_secs()),
    )
}

/// The error of a request cut while its body was arriving ([`crate::receiving`]): every
/// place was taken, and it had waited longest.
fn cut_while_receiving(cut: Cut) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        "request-cut",
        format!(
            "The request was cut before its body arrived: the places of requests still arriving (server.max_concurrent_requests, \
             {}) were all taken and this one had waited longest. Send the body right after the headers, and retry with backoff.",
            cut.waiting
        ),
    )
}

/// The error of a gRPC call received whole but not answered within
/// `server.request_timeout_seconds` (an `Admin.Reload` of a slow file system, say).
fn answer_timeout(timeout: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        "answer-timeout",
        format!("The call was not answered within {} seconds.", timeout.as_secs()),
    )
}

/// Which way a request is answered, decided once for the handled path ([`dispatch`]) and the
/// refused one ([`refuse`]), so a request gets the same wire format on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// `content-type: application/grpc` (or `+proto`, …) over HTTP/2: the gRPC services.
    Grpc,
    /// gRPC over HTTP/1.1, which cannot carry its trailers (the call's status): answered as
    /// a REST error, which any HTTP client can read.
    GrpcOverHttp1,
    /// gRPC-Web (`application/grpc-web…`), which rolegate does not speak: UNIMPLEMENTED, in
    /// gRPC-Web's own trailers-only answer, which its clients read.
    GrpcWeb,
    /// Everything else: the REST and STS Query APIs.
    Http,
}

impl Route {
    /// By `content-type`: `application/grpc`, optionally `+{codec}` or `;{parameters}`
    /// (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>), and the HTTP version.
    fn of<B>(req: &::http::Request<B>) -> Self {
        let content_type = req
            .headers()
            .get(::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(rest) = content_type.strip_prefix("application/grpc") else {
            return Self::Http;
        };
        match rest.bytes().next() {
            None | Some(b'+' | b';') if req.version() == ::http::Version::HTTP_2 => Self::Grpc,
            None | Some(b'+' | b';') => Self::GrpcOverHttp1,
            Some(b'-') if rest.starts_with("-web") => Self::GrpcWeb,
            Some(_) => Self::Http,
        }
    }
}

/// The error of a gRPC request that is not gRPC over HTTP/2.
fn not_grpc_over_http2<B>(route: Route, req: &::http::Request<B>) -> ApiError {
    match route {
        Route::GrpcWeb => ApiError::validation(
            "grpc-web",
            "gRPC-Web is not supported; call the gRPC API over HTTP/2 (content-type application/grpc).",
        ),
        _ => ApiError::validation(
            "grpc-over-http1",
            format!("gRPC needs HTTP/2; this request came over {:?}.", req.version()),
        ),
    }
}

/// The REST and STS Query APIs.
async fn dispatch_http(state: Arc<State>, conn: ConnInfo, req: ::http::Request<Incoming>) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let rp = RequestParts::new(parts, conn.remote);
    let started = Instant::now();
    let (api, refusal) = match http_route(&rp) {
        HttpRoute::Handler(api) => return answer(&state, api, rp, body).await,
        HttpRoute::Refused(api, refusal) => (api, refusal),
    };
    // Audited and counted as every other refusal is: scanners show in the log and metrics.
    record_refusal(&rp.request_id, api, "Other", rp.remote, &refusal, started);
    with_request_id(misrouted(api, &refusal, &rp), &rp.request_id)
}

/// Where [`dispatch_http`] sends a REST or STS request.
enum HttpRoute {
    /// An API's handler takes it.
    Handler(Api),
    /// Refused before any handler, in the format of the API (`"rest"` or `"sts"`) its client
    /// speaks.
    Refused(&'static str, ApiError),
}

fn http_route(rp: &RequestParts) -> HttpRoute {
    // An STS client whose endpoint was given rolegate's Roles Anywhere path reads the answer
    // as STS XML: told where STS is in that format, not in JSON it cannot parse.
    // Asked of requests to /sessions only, not of every STS request.
    let sts_shaped = || unknown_path_api(rp.header("content-type"), &rp.query) == "sts";
    match (rp.method.as_str(), rp.path.as_str()) {
        ("POST", "/sessions") if !sts_shaped() => HttpRoute::Handler(Api::Rest),
        (_, "/sessions") if sts_shaped() => HttpRoute::Refused("sts", sts_at_sessions(rp)),
        ("POST" | "GET", "/") => HttpRoute::Handler(Api::Sts),
        (_, "/sessions") => HttpRoute::Refused(
            "rest",
            ApiError::validation("method", "Use POST /sessions to create a session."),
        ),
        (_, "/") => HttpRoute::Refused(
            "sts",
            ApiError::new(
                ErrorCode::InvalidAction,
                "method",
                "The STS Query API takes POST / with a form body, or GET /?Action=...",
            ),
        ),
        _ => HttpRoute::Refused(unknown_path_api(rp.header("content-type"), &rp.query), not_found(rp)),
    }
}

/// The answer of a request [`http_route`] refused, in the format of `api`.
fn misrouted(api: &str, refusal: &ApiError, rp: &RequestParts) -> HttpResponse {
    match api {
        "sts" => sts::error_response(refusal, &rp.request_id, sts::Format::of(rp)),
        _ => rest_error(refusal, &rp.request_id),
    }
}

#[derive(Clone, Copy)]
enum Api {
    Rest,
    Sts,
}

/// One REST or STS request, end to end: bounded body read under the request timeout, the
/// per-client rate limit, the handler, then exactly one audit event and the request metrics.
async fn answer(state: &State, api: Api, rp: RequestParts, body: Incoming) -> HttpResponse {
    let started = Instant::now();
    let config = state.broker.config();
    let limit = config.server.max_body_bytes;
    let timeout = config.server.request_timeout;
    // Asked only of a body over the limit.
    let waits_for_continue = || {
        rp.header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    };
    let limiter = state.limiter();
    let reading = tokio::time::timeout(timeout, collect_body(body, limit, waits_for_continue));
    let bytes = match receive(reading, limiter.receivers()).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(request_timeout(timeout)),
        Err(cut) => Err(cut_while_receiving(cut)),
    };
    let bytes = bytes.and_then(|bytes| sent_once(&rp).map(|()| bytes));
    // Held until the answer is ready.
    let (bytes, _answering) = match bytes.and_then(|bytes| Ok((bytes, limiter.answering()?))) {
        Ok((bytes, slot)) => (Ok(bytes), Some(slot)),
        Err(e) => (Err(e), None),
    };
    let now = OffsetDateTime::now_utc();
    let (record, result) = match (api, bytes) {
        (Api::Rest, bytes) => {
            let mut record = Record::new(&rp.request_id, "rest", "CreateSession", rp.remote);
            let result = bytes.and_then(|bytes| {
                let request = rest::CreateSessionRequest::read(&state.broker, &rp, &bytes);
                request.describe(&mut record);
                let client_limit = ClientLimit::new(&limiter, request.client_key(), started);
                client_limit.check()?;
                rest::create_session(&state.broker, &rp, &bytes, request, &client_limit, &mut record, now)
            });
            (record, result)
        }
        (Api::Sts, Err(e)) => (
            Record::new(&rp.request_id, "sts", sts::operation_label(None), rp.remote),
            Err(e),
        ),
        (Api::Sts, Ok(bytes)) => {
            let request = sts::StsRequest::read(&rp, &bytes);
            let operation = sts::operation_label(request.action());
            let mut record = Record::new(&rp.request_id, "sts", operation, rp.remote);
            let key = request.describe(&rp, &mut record);
            let client_limit = ClientLimit::new(&limiter, key, started);
            let result = client_limit
                .check()
                .and_then(|()| sts::handle(&state.broker, &rp, &bytes, request, &client_limit, &mut record, now));
            (record, result)
        }
    };
    let response = match result {
        Ok(response) => {
            record.finish(None, started.elapsed());
            response
        }
        Err(e) => {
            record.finish(Some(&e), started.elapsed());
            match api {
                Api::Rest => rest_error(&e, &rp.request_id),
                Api::Sts => sts::error_response(&e, &rp.request_id, sts::Format::of(&rp)),
            }
        }
    };
    with_request_id(response, &rp.request_id)
}

/// [`dispatch`], answering a request whose handling panicked as an internal error — audited,
/// counted and logged as every other answer is — rather than dropping its stream or
/// connection with no trace but the panic's own message.
pub async fn dispatch_guarded(
    state: Arc<State>,
    conn: ConnInfo,
    req: ::http::Request<Incoming>,
) -> (::http::Response<Body>, Option<AddressSlot>) {
    use futures_util::FutureExt;
    let started = Instant::now();
    // What a refusal needs of the request, taken before it moves (static names: no allocation).
    let (target, remote) = (RefusalTarget::of(Route::of(&req), &req), conn.remote);
    match std::panic::AssertUnwindSafe(dispatch(state, conn, req))
        .catch_unwind()
        .await
    {
        Ok(answer) => answer,
        Err(_) => {
            let e = ApiError::internal("panic");
            (refusal(target, remote, &e, started), None)
        }
    }
}

/// Answers a request refused by admission control in its API's format (gRPC: the
/// `RESOURCE_EXHAUSTED` status; REST, gRPC over HTTP/1.1 and gRPC-Web: 429
/// `ThrottlingException`; STS: `Throttling`). An HTTP/1.1 request's body, up to
/// `max_body_bytes` (and 1 MiB), is read and dropped first, for at most 2 s, so that its connection
/// carries the client's retry: closed instead, it would cost a TLS handshake for every
/// throttled request (which the new-connection rate limit then refuses too), and a
/// connection closed on unread bytes is reset, often before the client has read the answer.
/// A body larger or that does not end within that, one whose client waits to be invited
/// (`Expect: 100-continue`), or one whose framing is ambiguous closes the connection.
async fn refuse_admission(
    req: ::http::Request<Incoming>,
    conn: &ConnInfo,
    e: &ApiError,
    started: Instant,
    max_body_bytes: usize,
) -> ::http::Response<Body> {
    let mut response = refusal(RefusalTarget::of(Route::of(&req), &req), conn.remote, e, started);
    let headers = req.headers();
    let at_most = (max_body_bytes as u64).min(http::MAX_DISCARDED_BODY_BYTES);
    let must_close = req.version() < ::http::Version::HTTP_2
        && has_body(headers)
        && (headers.contains_key(::http::header::EXPECT)
            || http::framing_refusal(headers).is_some()
            || ::http_body::Body::size_hint(req.body()).lower() > at_most
            || !http::discard(req.into_body(), at_most).await);
    if must_close {
        closes_connection(&mut response);
    }
    response
}

/// Answers a request refused for its head in its API's format, closing an HTTP/1.1
/// connection whose body is left unread ([`close_if_body_unread`]).
fn refuse(req: &::http::Request<Incoming>, conn: &ConnInfo, e: &ApiError, started: Instant) -> ::http::Response<Body> {
    let mut response = refusal(RefusalTarget::of(Route::of(req), req), conn.remote, e, started);
    close_if_body_unread(req, &mut response);
    response
}

/// A request answered without its body read leaves an HTTP/1.1 connection unable to carry
/// the next one: the answer says so (RFC 9112 §9.6), so that a client retries on a new
/// connection instead of failing on this one.
fn close_if_body_unread<B, C>(req: &::http::Request<B>, response: &mut ::http::Response<C>) {
    if req.version() < ::http::Version::HTTP_2 && has_body(req.headers()) {
        closes_connection(response);
    }
}

/// Says in `response` that the HTTP/1.1 connection closes after it (`Connection: close`).
fn closes_connection<C>(response: &mut ::http::Response<C>) {
    response
        .headers_mut()
        .insert(::http::header::CONNECTION, ::http::HeaderValue::from_static("close"));
}

/// Whether an HTTP/1.1 request announces a body: a `Transfer-Encoding`, or a
/// `Content-Length` other than 0.
fn has_body(headers: &::http::HeaderMap) -> bool {
    headers.contains_key(::http::header::TRANSFER_ENCODING)
        || headers
            .get(::http::header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// Whom a request refused before its API's handler is answered as: its wire format (gRPC
/// status, REST or STS error) and its API and operation in the audit log and metrics.
#[derive(Clone, Copy)]
struct RefusalTarget {
    grpc_status: bool,
    /// For a gRPC-Web call: the content type its refusal is answered in.
    grpc_web: Option<&'static str>,
    api: &'static str,
    operation: &'static str,
    /// For the STS API: what its `Accept` header asks for.
    sts_format: sts::Format,
}

/// What becomes of the connection after a refusal of a request's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterRefusal {
    KeepOpen,
    /// Where the body ends is unknown: nothing after it on the connection can be read.
    Close,
}

/// The refusals of a request's head that come before its route: more header lines than
/// [`MAX_REQUEST_HEADERS`]; an HTTP/2 header list over `max_header_bytes` (HTTP/1.1 heads over
/// it are refused by hyper as they are read; HTTP/2's decoder takes up to twice as much,
/// [`crate::server`], so that a call over the limit is told so in its own wire format: a gRPC
/// client reads a bare 431 as UNKNOWN); an HTTP/1 request without its one `Host`
/// ([`http::host_refusal`]); and an HTTP/1 message whose framing is ambiguous
/// (HTTP/2 frames every message itself, and has no Transfer-Encoding). `max_header_bytes` is
/// asked for only for an HTTP/2 request.
fn head_refusal<B>(
    req: &::http::Request<B>,
    max_header_bytes: impl FnOnce() -> usize,
) -> Option<(ApiError, AfterRefusal)> {
    if req.headers().len() > MAX_REQUEST_HEADERS {
        return Some((too_many_headers(req.headers().len()), AfterRefusal::KeepOpen));
    }
    if req.version() == ::http::Version::HTTP_2 {
        let (size, max) = (header_list_size(req), max_header_bytes());
        return (size > max).then(|| (headers_too_large(size, max), AfterRefusal::KeepOpen));
    }
    if let Some(e) = http::host_refusal(req.version(), req.headers()) {
        return Some((e, AfterRefusal::KeepOpen));
    }
    http::framing_refusal(req.headers()).map(|e| (e, AfterRefusal::Close))
}

/// The API whose wire format answers a request to a path no API serves: STS's XML when the
/// request looks like an STS Query call (a form body, or `Action=` in the query: an STS
/// endpoint set with a path, whose client parses only XML errors), else REST's JSON.
fn unknown_path_api(content_type: Option<&str>, query: &str) -> &'static str {
    match sts::is_form_content_type(content_type) || query.split('&').any(|p| p.starts_with("Action=")) {
        true => "sts",
        false => "rest",
    }
}

impl RefusalTarget {
    fn of<B>(route: Route, req: &::http::Request<B>) -> RefusalTarget {
        let path = req.uri().path();
        let (grpc_status, api, operation) = match (route, path) {
            (Route::Grpc, path) => (true, "grpc", grpc::operation_of(path)),
            (Route::GrpcOverHttp1 | Route::GrpcWeb, _) => (false, "grpc", "Any"),
            (Route::Http, "/sessions") => (false, "rest", "CreateSession"),
            (Route::Http, "/") => (false, "sts", "Any"),
            (Route::Http, _) => {
                let content_type = req
                    .headers()
                    .get(::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let api = unknown_path_api(content_type, req.uri().query().unwrap_or(""));
                (false, api, "Other")
            }
        };
        // Read for STS requests only: this runs for every request, before its dispatch.
        let sts_format = match api {
            "sts" => sts::Format::from_accept(req.headers().get(::http::header::ACCEPT).and_then(|v| v.to_str().ok())),
            _ => sts::Format::Xml,
        };
        let grpc_web = match route {
            Route::GrpcWeb => Some(grpc::grpc_web_answer_type(
                req.headers().get(::http::header::CONTENT_TYPE),
            )),
            _ => None,
        };
        RefusalTarget {
            grpc_status,
            grpc_web,
            api,
            operation,
            sts_format,
        }
    }
}

/// The answer, audit event and metric of a request refused with `e` before (or instead of)
/// its API's handler.
fn refusal(target: RefusalTarget, remote: SocketAddr, e: &ApiError, started: Instant) -> ::http::Response<Body> {
    let RefusalTarget {
        grpc_status,
        grpc_web,
        api,
        operation,
        sts_format,
    } = target;
    if grpc_status {
        return refuse_grpc(remote, operation, None, e, started);
    }
    let request_id = http::new_request_id();
    record_refusal(&request_id, api, operation, remote, e, started);
    if let Some(answer_type) = grpc_web {
        return grpc::grpc_web_refusal(e, e.grpc_code(), &request_id, answer_type);
    }
    let response = match api {
        "sts" => sts::error_response(e, &request_id, sts_format),
        _ => rest_error(e, &request_id),
    };
    with_request_id(response, &request_id).map(Body::new)
}

/// [`refuse`] for a gRPC call to `operation`: a status with the error's code and message.
fn refuse_grpc(
    remote: SocketAddr,
    operation: &'static str,
    certificate: Option<Arc<ClientCertificate>>,
    e: &ApiError,
    started: Instant,
) -> ::http::Response<Body> {
    let request_id = http::new_request_id();
    let mut record = Record::new(&request_id, "grpc", operation, remote);
    if let Some(certificate) = certificate {
        record.set_certificate(certificate);
    }
    record.finish(Some(e), started.elapsed());
    grpc::status(e, &request_id).into_http()
}

/// The audit event and request metric of a request refused before its API handled it.
fn record_refusal(
    request_id: &str,
    api: &'static str,
    operation: &'static str,
    remote: SocketAddr,
    e: &ApiError,
    started: Instant,
) {
    Record::new(request_id, api, operation, remote).finish(Some(e), started.elapsed());
}

/// Makes the decisions [`dispatch`] and [`dispatch_http`] make of a request before an API's
/// handler runs — the header bounds, the framing, the route and the wire format of a refusal,
/// a gRPC call's codec, deadline and method, the headers read once, and the parameters of a
/// REST or STS request (`body`) — and renders the refusal, if any, as an HTTP API answers it:
/// the entry point of the fuzz targets and property tests ([`crate::fuzzing`]). `None` when
/// an API's handler would take the request, or when the refusal is a gRPC status.
#[doc(hidden)]
pub(crate) fn check_untrusted_head(req: ::http::Request<()>, body: &bytes::Bytes) -> Option<HttpResponse> {
    let target = RefusalTarget::of(Route::of(&req), &req);
    let render = |e: &ApiError, target: RefusalTarget| match (target.grpc_status, target.api) {
        (true, _) => None,
        (false, "sts") => Some(sts::error_response(e, "fuzz", target.sts_format)),
        (false, _) => Some(rest_error(e, "fuzz")),
    };
    // Against the default `server.max_header_bytes`.
    if let Some((e, _)) = head_refusal(&req, || 64 * 1024) {
        return render(&e, target);
    }
    let _ = has_body(req.headers());
    match Route::of(&req) {
        route @ (Route::GrpcOverHttp1 | Route::GrpcWeb) => Some(rest_error(&not_grpc_over_http2(route, &req), "fuzz")),
        Route::Grpc => {
            let _ = req
                .headers()
                .get("grpc-timeout")
                .and_then(|v| grpc::parse_timeout(v.as_bytes()));
            let content_type = req.headers().get(::http::header::CONTENT_TYPE);
            let _ = content_type.and_then(|v| v.to_str().ok()).and_then(grpc::codec_refusal);
            if grpc::operation_of(req.uri().path()) == grpc::OTHER_OPERATION {
                let _ = grpc::unknown_method(req.uri().path());
            }
            None
        }
        Route::Http => {
            let (parts, ()) = req.into_parts();
            let rp = RequestParts::new(parts, SocketAddr::from(([127, 0, 0, 1], 1)));
            match http_route(&rp) {
                HttpRoute::Handler(Api::Rest) => {
                    let checked = sent_once(&rp).and_then(|()| rest::parse_untrusted(&rp, body).map(|_| ()));
                    checked.err().map(|e| rest_error(&e, "fuzz"))
                }
                HttpRoute::Handler(Api::Sts) => {
                    let request = sts::StsRequest::read(&rp, body);
                    let _ = sts::operation_label(request.action());
                    let checked = sent_once(&rp).and_then(|()| sts::parse_untrusted(&rp, body).map(|_| ()));
                    checked
                        .err()
                        .map(|e| sts::error_response(&e, "fuzz", sts::Format::of(&rp)))
                }
                HttpRoute::Refused(api, refusal) => Some(misrouted(api, &refusal, &rp)),
            }
        }
    }
}

/// An STS request sent to `/sessions`: an STS client's endpoint is the server's root.
fn sts_at_sessions(rp: &RequestParts) -> ApiError {
    ApiError::not_found(
        "no-route",
        format!(
            "No STS API at {} /sessions (Roles Anywhere's CreateSession): rolegate serves the STS Query API at /, \
             so an STS client's endpoint is https://host:port, without a path.",
            rp.method
        ),
    )
}

/// A path no API serves; the path is quoted when it is short (it is the client's).
fn not_found(rp: &RequestParts) -> ApiError {
    let path = match rp.path.len() <= 128 {
        true => rp.path.as_str(),
        false => "…",
    };
    ApiError::not_found(
        "no-route",
        format!(
            "No API at {} {path}: rolegate serves POST /sessions, the STS Query API at / and gRPC.",
            rp.method
        ),
    )
}

#[cfg(test)]
mod tests {

    use super::*;

    /// As RFC 9113 §6.5.2 (and h2's decoder) counts a header list: the pseudo-header fields,
    /// the query among them, count as the others do.
    #[test]
    fn a_header_list_counts_its_pseudo_header_fields() {
        let req = ::http::Request::builder()
            .version(::http::Version::HTTP_2)
            .method("POST")
            .uri("https://rolegate.test/rolegate.v1.Sessions/Authorize?q=1")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let want = (":method".len() + 4 + 32)
            + (":scheme".len() + 5 + 32)
            + (":authority".len() + "rolegate.test".len() + 32)
            + (":path".len() + "/rolegate.v1.Sessions/Authorize?q=1".len() + 32)
            + ("te".len() + "trailers".len() + 32);
        assert_eq!(header_list_size(&req), want);
    }
}
