//! The gRPC edge, `rolegate.v1` (DESIGN.md §2c): `Sessions` and `Admin`, plus
//! `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so `grpcurl` works), served
//! on the main TLS listener. [`super::dispatch`] sends every `application/grpc` request to the
//! [`Routes`] built once by [`routes`], with a [`GrpcContext`] in the request extensions: the
//! services themselves are stateless.
//!
//! - `sessions`: CreateSession (mTLS identity), AssumeRole (SigV4 in metadata), VerifyRequest,
//!   Authorize.
//! - `admin`: Status and Reload for the subjects in `[server] admin_subjects`.
//! - `peer`: the caller's mTLS client chain and the checks on it.
//! - `message_digest`: the SHA-256 of a request message as sent, which AssumeRole's
//!   signature covers.
//! - `message_count`: the messages of a request stream, counted as its bytes pass (a stream
//!   of many requests, reflection, is charged one rate-limit token a message).

mod admin;
mod health;
mod message_count;
mod message_digest;
mod peer;
mod sessions;

pub use health::Readiness;

use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::service::Routes;
use tonic::{Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::ConnInfo;
use crate::audit::Record;
use crate::error::{ApiError, ErrorCode};
use crate::proto::admin_server::AdminServer;
use crate::proto::sessions_server::SessionsServer;
use crate::state::State;

pub use message_count::MessageCount;
pub use message_digest::MessageDigest;
pub use sessions::ASSUME_ROLE_PATH;
#[doc(hidden)]
pub(crate) use sessions::check_untrusted;

/// The hex SHA-256 of the call's request message as sent, in the request extensions of the
/// `rolegate.v1` calls, set once the body ended as one message ([`one_message`]).
#[derive(Clone, Default)]
pub struct MessageSha256(pub Option<Arc<std::sync::OnceLock<String>>>);

/// Largest encoded request message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The largest health or reflection request accepted: a service or symbol name. tonic's
/// default is 4 MiB, which a client could hold half-sent in every stream it opens (those
/// streams answer at once and then stay open, so no request slot bounds them).
const MAX_CONTROL_MESSAGE_BYTES: usize = 16 * 1024;

/// What every gRPC handler reads from its request's extensions.
#[derive(Clone)]
pub struct GrpcContext {
    pub state: Arc<State>,
    pub conn: ConnInfo,
    /// The HTTP/2 `:authority` as the client sent it (SigV4 `host` of AssumeRole); shared, as
    /// each handler takes its own copy of the context.
    pub authority: Arc<str>,
    /// `x-amzn-requestid` of this call, for the audit log and error messages.
    pub request_id: Arc<str>,
    /// When the call arrived, for the latency metric.
    pub started: std::time::Instant,
}

/// Builds the gRPC services once: Sessions, Admin, health and reflection over `rolegate.v1`,
/// health and reflection itself. The returned readiness drives the health service.
pub fn routes() -> (Routes, Readiness) {
    let (readiness, health) = Readiness::new();
    let health = tonic_health::pb::health_server::HealthServer::new(health);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let mut routes = Routes::builder();
    routes
        .add_service(SessionsServer::new(sessions::SessionsService).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(AdminServer::new(admin::AdminService).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(health.max_decoding_message_size(MAX_CONTROL_MESSAGE_BYTES));
    // invariant: the descriptor sets are generated at build time and always decode.
    if let Ok(v1) = reflection().build_v1() {
        routes.add_service(v1.max_decoding_message_size(MAX_CONTROL_MESSAGE_BYTES));
    }
    if let Ok(v1alpha) = reflection().build_v1alpha() {
        routes.add_service(v1alpha.max_decoding_message_size(MAX_CONTROL_MESSAGE_BYTES));
    }
    (routes.routes().prepare(), readiness)
}

/// Rewrites the statuses tonic answers before a handler runs into the codes and messages of
/// the contract (DESIGN.md §2c), which are also grpc-core's: a message over
/// [`MAX_MESSAGE_BYTES`] is RESOURCE_EXHAUSTED (tonic: OUT_OF_RANGE); bytes that are not the
/// request message (undecodable, missing, cut short, or a frame flagged compressed) are
/// INVALID_ARGUMENT (tonic: INTERNAL, which tells a client the server failed); a compressed
/// call (`grpc-encoding`) and a method rolegate does not serve stay UNIMPLEMENTED, the latter
/// saying so (tonic: no message). They come as a trailers-only answer: the status is in the
/// response headers. Returns the refusal, for the audit trail and the metrics, when it took
/// one; `operation` is the call's, as [`operation_of`] names it, and `path` its method's path
/// when that is [`OTHER_OPERATION`].
pub fn contract_status(
    headers: &mut http::HeaderMap,
    operation: &str,
    path: &str,
    request_id: &str,
) -> Option<ApiError> {
    use crate::error::ErrorCode::{PayloadTooLarge, Validation};
    const OUT_OF_RANGE: &str = "11";
    const UNIMPLEMENTED: &str = "12";
    const INTERNAL: &str = "13";
    let sent = headers.get("grpc-status").and_then(|c| c.to_str().ok())?;
    let message = headers.get("grpc-message").map(|m| {
        percent_encoding::percent_decode(m.as_bytes())
            .decode_utf8_lossy()
            .into_owned()
    });
    let message = message.as_deref().unwrap_or_default();
    let (code, kind, reason, message) = match sent {
        OUT_OF_RANGE if message.starts_with("Error, decoded message length too large") => (
            tonic::Code::ResourceExhausted,
            PayloadTooLarge,
            "message-too-large",
            message.to_owned(),
        ),
        INTERNAL if message.starts_with("failed to decode Protobuf message") => (
            tonic::Code::InvalidArgument,
            Validation,
            "undecodable-message",
            message.to_owned(),
        ),
        // A unary call whose body holds no message, or ends inside its frame.
        INTERNAL if message == "Missing request message." || message == "Unexpected EOF decoding stream." => (
            tonic::Code::InvalidArgument,
            Validation,
            "incomplete-message",
            message.to_owned(),
        ),
        // tonic: "…received message with compressed-flag but no grpc-encoding was specified",
        // "…invalid compression flag: 128 (valid flags are 0 and 1), while sending request".
        INTERNAL if message.contains("compressed-flag") || message.contains("compression flag") => (
            tonic::Code::InvalidArgument,
            Validation,
            "compressed-message",
            "The message frame is flagged compressed (or carries an invalid flag); rolegate \
             accepts uncompressed messages only: send no grpc-encoding and the flag 0."
                .to_owned(),
        ),
        UNIMPLEMENTED if message.starts_with("Content is compressed with") => (
            tonic::Code::Unimplemented,
            Validation,
            "compressed-message",
            format!("{message}: rolegate accepts uncompressed messages only (no grpc-encoding)."),
        ),
        UNIMPLEMENTED if operation == OTHER_OPERATION && message.is_empty() => (
            tonic::Code::Unimplemented,
            Validation,
            "unknown-method",
            unknown_method(path),
        ),
        _ => return None,
    };
    let refused = ApiError::new(kind, reason, message);
    // The metadata and the ErrorInfo details every refusal carries ([`status`]), then the
    // contract's code and this message in place of the ones `status` derives.
    let _ = status(&refused, request_id).add_header(headers);
    headers.insert("grpc-status", http::HeaderValue::from(code as i32));
    let encoded = percent_encoding::utf8_percent_encode(&refused.message, &GRPC_MESSAGE_ESCAPED).to_string();
    if let Ok(value) = http::HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", value);
    }
    Some(refused)
}

/// What `grpc-message` percent-encodes besides non-ASCII: the set tonic encodes the handlers'
/// statuses with, so every message a client reads is encoded alike.
const GRPC_MESSAGE_ESCAPED: percent_encoding::AsciiSet = percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// The leaf certificate of a connection's handshake, for the audit event of a call refused
/// outside its handler, when a chain of it has verified before (the handshake only proves the
/// key: a certificate copying an admin's names must not be logged as the admin); `None`
/// otherwise.
pub fn handshake_certificate(
    broker: &crate::broker::Broker,
    peer_certificates: Option<&Vec<rustls::pki_types::CertificateDer<'static>>>,
) -> Option<Arc<crate::identity::ClientCertificate>> {
    broker.caches().verified_certificate(peer_certificates?.first()?)
}

/// The refusal of a call of a method rolegate does not serve: the method asked for, when the
/// path has a method's shape (`/package.Service/Method`; anything else is not repeated), and
/// the methods served.
pub(super) fn unknown_method(path: &str) -> String {
    let is_name = |s: &str, dots: bool| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
    };
    let method_shaped = path.len() <= 200
        && path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(service, method)| is_name(service, true) && is_name(method, false));
    let asked = match method_shaped {
        true => format!(" {path}"),
        false => String::new(),
    };
    format!(
        "rolegate serves no gRPC method{asked}: it serves rolegate.v1.Sessions (CreateSession, AssumeRole, \
         VerifyRequest, Authorize), rolegate.v1.Admin (Status, Reload), grpc.health.v1.Health (Check, Watch) and \
         server reflection (grpc.reflection.v1 and v1alpha, ServerReflectionInfo)."
    )
}

/// Whether the gRPC method at `path` streams until its client ends it (health `Watch`,
/// reflection): the server's drain ends such a stream
/// ([`crate::server::connections::InFlightBody::ending_at`]).
pub fn streams_until_the_client_ends(path: &str) -> bool {
    matches!(
        path,
        "/grpc.health.v1.Health/Watch"
            | "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
            | "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    )
}

/// How much of a call's request body is read before it is answered ([`crate::receiving`]): a
/// unary call's one message, the prefix and the largest message its service decodes, for the
/// methods served (`operation` as [`operation_of`] names the call); `None` for a call that
/// streams, or one of a method rolegate does not serve, which is answered at once.
pub fn read_ahead_bound(path: &str, operation: &str) -> Option<usize> {
    const PREFIX_BYTES: usize = 5;
    match (path, operation) {
        (_, OTHER_OPERATION) if path == "/grpc.health.v1.Health/Check" => {
            Some(PREFIX_BYTES + MAX_CONTROL_MESSAGE_BYTES)
        }
        (_, OTHER_OPERATION) => None,
        _ => Some(PREFIX_BYTES + MAX_MESSAGE_BYTES),
    }
}

/// The operation label of any path but the `rolegate.v1` calls' (health, reflection, unknown).
pub const OTHER_OPERATION: &str = "Other";

/// The operation name of `Admin.Reload` ([`operation_of`]).
pub const ADMIN_RELOAD: &str = "Admin.Reload";

/// The operation a gRPC path names, as the audit trail and the metrics label it;
/// [`OTHER_OPERATION`] for any other path, so that the label stays bounded whatever a client
/// sends.
pub fn operation_of(path: &str) -> &'static str {
    const KNOWN: [(&str, &str); 6] = [
        ("/rolegate.v1.Sessions/CreateSession", "CreateSession"),
        ("/rolegate.v1.Sessions/AssumeRole", "AssumeRole"),
        ("/rolegate.v1.Sessions/VerifyRequest", "VerifyRequest"),
        ("/rolegate.v1.Sessions/Authorize", "Authorize"),
        ("/rolegate.v1.Admin/Status", "Admin.Status"),
        ("/rolegate.v1.Admin/Reload", ADMIN_RELOAD),
    ];
    KNOWN
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(OTHER_OPERATION, |(_, op)| op)
}

/// The one request message of a unary `rolegate.v1` call, as the hex SHA-256 of its bytes as
/// sent (what an AssumeRole signature covers). A body of more messages is INVALID_ARGUMENT:
/// tonic would answer from the first and drop the rest, while a proxy or inspector reading
/// the last would see another request than the one decided on.
fn one_message<T>(req: &Request<T>, operation: &str) -> Result<(), ApiError> {
    message_sha256(req, operation).map(|_| ())
}

/// [`one_message`], and the message's hex SHA-256 as sent.
fn message_sha256<'r, T>(req: &'r Request<T>, operation: &str) -> Result<&'r str, ApiError> {
    req.extensions()
        .get::<MessageSha256>()
        .and_then(|m| m.0.as_ref()?.get())
        .map(String::as_str)
        .ok_or_else(|| {
            ApiError::validation(
                "not-one-message",
                format!("A call of {operation} carries exactly one request message."),
            )
        })
}

/// The refusal of a call whose `content-type` names a message codec other than protobuf
/// (`application/grpc+json`): its messages would be read as protobuf and fail as garbled.
pub fn codec_refusal(content_type: &str) -> Option<ApiError> {
    let codec = content_type.strip_prefix("application/grpc+")?;
    let codec = codec.split(';').next().unwrap_or_default().trim();
    if codec.eq_ignore_ascii_case("proto") {
        return None;
    }
    let shown = match codec.len() <= 32 && codec.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        true => codec,
        false => "…",
    };
    Some(ApiError::validation(
        "unsupported-codec",
        format!(
            "rolegate's gRPC messages are protobuf only (content-type application/grpc or application/grpc+proto), not {shown}."
        ),
    ))
}

/// The deadline a `grpc-timeout` header value gives (gRPC over HTTP/2: 1 to 8 ASCII digits and
/// a unit, `H`, `M`, `S`, `m`, `u` or `n`); `None` for anything else, which is then no
/// deadline, as other gRPC servers read it.
pub fn parse_timeout(value: &[u8]) -> Option<std::time::Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    use std::time::Duration;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The error of a call whose deadline (`grpc-timeout`, `deadline`) passed before it was answered.
pub fn deadline_passed(deadline: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        "client-deadline",
        format!("The call's deadline (grpc-timeout {deadline:?}) passed before it was answered."),
    )
}

/// The context [`super::dispatch`] attached to the request.
fn context<T>(req: &Request<T>) -> Result<GrpcContext, Status> {
    req.extensions()
        .get::<GrpcContext>()
        .cloned()
        .ok_or_else(|| Status::internal("request context missing"))
}

/// The longest status message sent whole, in bytes of UTF-8.
const MAX_STATUS_MESSAGE_BYTES: usize = 1024;

/// The gRPC status for `e`: its code, the REST message (AccessDenied messages carry the reason
/// and request id, as on the REST wire), `x-amzn-requestid` metadata, and the error's name
/// (STS's: `ExpiredToken`, `SignatureDoesNotMatch`…, as in the audit event) in
/// `x-amzn-errortype`, which tells apart what one status code groups (a client refreshes
/// credentials on `ExpiredToken`, not on a signing bug).
pub(super) fn status(e: &ApiError, request_id: &str) -> Status {
    status_with_code(e, request_id, e.grpc_code())
}

/// [`status`] with `code` in place of the error's own, in the status and its details alike.
fn status_with_code(e: &ApiError, request_id: &str, code: tonic::Code) -> Status {
    let message = e.client_message(request_id).into_owned();
    // The message travels percent-encoded in the `grpc-message` header, which clients bound
    // (grpc-core at 8 to 16 KiB of metadata): past that they report the transport's error, not
    // this one. 1 KiB of UTF-8 is at most 3 KiB encoded.
    let message = match crate::audit::prefix_within(&message, MAX_STATUS_MESSAGE_BYTES) {
        cut if cut.len() < message.len() => format!("{cut}…"),
        _ => message,
    };
    let mut metadata = tonic::metadata::MetadataMap::new();
    if let Ok(v) = MetadataValue::try_from(request_id) {
        metadata.insert("x-amzn-requestid", v);
    }
    let error_type = e.sts_wire().1;
    metadata.insert("x-amzn-errortype", MetadataValue::from_static(error_type));
    if let Ok(v) = MetadataValue::try_from(e.reason) {
        metadata.insert(crate::service::http::REASON_HEADER, v);
    }
    let mut details = ErrorDetails::with_error_info(
        error_info_reason(e.reason),
        ERROR_INFO_DOMAIN,
        std::collections::HashMap::from([
            ("errorType".to_owned(), error_type.to_owned()),
            ("requestId".to_owned(), request_id.to_owned()),
        ]),
    );
    if let Some(delay) = e.retry_after {
        // AIP-194: RESOURCE_EXHAUSTED is retried only when the server says when; gRFC A6: the
        // pushback a client's retry policy waits for.
        details.set_retry_info(Some(delay));
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        metadata.insert("grpc-retry-pushback-ms", MetadataValue::from(millis));
    }
    Status::with_error_details_and_metadata(code, message, details, metadata)
}

/// The refusal `e` of a gRPC-Web request (`application/grpc-web…`, which rolegate does not
/// speak) as gRPC-Web answers a call with no message (its trailers-only form): HTTP 200, the
/// request's content type, and the status in the headers — UNIMPLEMENTED, the code for a
/// protocol the server does not serve — which gRPC-Web clients read. An HTTP error status
/// would reach them as a bare "Http response at 400 or 500 level", without this message.
///
/// A refusal of a gRPC-Web call for another reason (throttled, a malformed head) is answered
/// the same way, with its own code (`code`: the error's, or UNIMPLEMENTED for being gRPC-Web).
pub(crate) fn grpc_web_refusal(
    e: &ApiError,
    code: tonic::Code,
    request_id: &str,
    content_type: &'static str,
) -> http::Response<tonic::body::Body> {
    let mut response: http::Response<tonic::body::Body> = status_with_code(e, request_id, code).into_http();
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

/// The content type a gRPC-Web answer to a request of `content_type` is written in: its text
/// (base64) form or its binary one.
pub(crate) fn grpc_web_answer_type(content_type: Option<&http::HeaderValue>) -> &'static str {
    match content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web-text")) {
        true => "application/grpc-web-text+proto",
        false => "application/grpc-web+proto",
    }
}

/// The `domain` of the `google.rpc.ErrorInfo` every refusal carries in its status details.
pub const ERROR_INFO_DOMAIN: &str = "rolegate";

/// A refusal's reason (`certificate-revoked`) as `google.rpc.ErrorInfo` writes reasons
/// (`CERTIFICATE_REVOKED`: upper snake case, as `google/rpc/error_details.proto` asks).
fn error_info_reason(reason: &str) -> String {
    reason
        .chars()
        .map(|c| match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// A new audit record for one call of `operation`.
fn record(ctx: &GrpcContext, operation: &'static str) -> Record {
    Record::new(&ctx.request_id, "grpc", operation, ctx.conn.remote)
}

/// Audits (one `audit` event with everything the handler filled into `record`) and counts
/// (`rolegate_requests_total`) an answer, and turns an error into its status.
fn audited<T>(ctx: &GrpcContext, record: &Record, result: Result<T, ApiError>) -> Result<tonic::Response<T>, Status> {
    audited_answer(ctx, record, result.map(|answer| (answer, None)))
}

/// As [`audited`], for a call whose answer may itself be a refusal (VerifyRequest's
/// `valid: false`, Authorize's deny): the call succeeds, and the audit event and the metrics
/// record that refusal (`verdict`) as a denial.
fn audited_answer<T>(
    ctx: &GrpcContext,
    record: &Record,
    result: Result<(T, Option<ApiError>), ApiError>,
) -> Result<tonic::Response<T>, Status> {
    let elapsed = ctx.started.elapsed();
    match result {
        Ok((v, verdict)) => {
            record.finish(verdict.as_ref(), elapsed);
            let mut r = tonic::Response::new(v);
            if let Ok(id) = MetadataValue::try_from(&*ctx.request_id) {
                r.metadata_mut().insert("x-amzn-requestid", id);
            }
            Ok(r)
        }
        Err(e) => {
            record.finish(Some(&e), elapsed);
            Err(status(&e, &ctx.request_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gRPC-Web refusal says one code, UNIMPLEMENTED, in `grpc-status` and in the
    /// `google.rpc.Status` of its details alike (clients that read the details take theirs).
    #[test]
    fn a_grpc_web_refusal_says_one_code_everywhere() {
        let e = ApiError::validation("grpc-web", "gRPC-Web is not supported.");
        let answer = grpc_web_refusal(&e, tonic::Code::Unimplemented, "id", grpc_web_answer_type(None));
        let headers = answer.headers();
        assert_eq!(answer.status(), http::StatusCode::OK);
        assert_eq!(headers["content-type"], "application/grpc-web+proto");
        assert_eq!(headers["grpc-status"], "12");
        let status = Status::from_header_map(headers).unwrap();
        let details = <tonic_types::pb::Status as prost::Message>::decode(status.details()).unwrap();
        assert_eq!(details.code, tonic::Code::Unimplemented as i32);
        // Another refusal of a gRPC-Web call keeps its own code.
        let throttled = ApiError::new(crate::error::ErrorCode::Throttling, "rate-limit", "Rate exceeded");
        let text = http::HeaderValue::from_static("application/grpc-web-text");
        let answer = grpc_web_refusal(
            &throttled,
            throttled.grpc_code(),
            "id",
            grpc_web_answer_type(Some(&text)),
        );
        assert_eq!(answer.headers()["grpc-status"], "8");
        assert_eq!(answer.headers()["content-type"], "application/grpc-web-text+proto");
    }

    #[test]
    fn codecs() {
        for accepted in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+PROTO; charset=x",
        ] {
            assert!(codec_refusal(accepted).is_none(), "{accepted}");
        }
        assert_eq!(
            codec_refusal("application/grpc+json").map(|e| e.message),
            Some(
                "rolegate's gRPC messages are protobuf only (content-type application/grpc or application/grpc+proto), not json."
                    .to_owned()
            )
        );
        assert!(codec_refusal("application/grpc+").is_some());
    }

    #[test]
    fn grpc_timeout_values() {
        use std::time::Duration;
        for (value, want) in [
            ("2S", Some(Duration::from_secs(2))),
            ("1H", Some(Duration::from_secs(3600))),
            ("99999999M", Some(Duration::from_secs(99_999_999 * 60))),
            ("250m", Some(Duration::from_millis(250))),
            ("7u", Some(Duration::from_micros(7))),
            ("1n", Some(Duration::from_nanos(1))),
            ("0S", Some(Duration::ZERO)),
            ("123456789S", None),
            ("S", None),
            ("2s", None),
            ("-1S", None),
            ("1.5S", None),
            ("", None),
            ("abc", None),
        ] {
            assert_eq!(parse_timeout(value.as_bytes()), want, "{value}");
        }
    }

    #[test]
    fn a_long_status_message_is_cut() {
        let long = ApiError::validation("parameter", format!("x{}", "é".repeat(5000)));
        let s = status(&long, "rid");
        let kept = "é".repeat((MAX_STATUS_MESSAGE_BYTES - 1) / 2);
        assert_eq!(s.message(), format!("x{kept}…"), "cut at a character boundary");
    }

    #[test]
    fn access_denied_status_carries_reason_and_request_id() {
        let s = status(&ApiError::access_denied("trust-policy", "Denied."), "rid-1");
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert_eq!(s.message(), "Denied. (reason: trust-policy, request id: rid-1)");
        assert_eq!(
            s.metadata().get("x-amzn-requestid").and_then(|v| v.to_str().ok()),
            Some("rid-1")
        );
        let v = status(&ApiError::validation("duration", "Too long."), "rid-2");
        assert_eq!((v.code(), v.message()), (tonic::Code::InvalidArgument, "Too long."));
    }
}
