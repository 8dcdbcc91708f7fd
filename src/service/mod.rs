//! The wire edges: Roles Anywhere REST (`rest`), the STS Query API (`sts`) and gRPC (`grpc`),
//! all served on one TLS listener and dispatched by [`dispatch`]. Each edge parses its wire
//! format, calls the [`crate::broker::Broker`], and renders the one [`error::ApiError`] type
//! in its own format.

pub mod error;
pub mod grpc;
pub mod http;
pub mod rest;
pub mod sts;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use tonic::body::Body;

use self::error::ApiError;
use self::http::{HttpResponse, RequestParts, collect_body, rest_error, with_request_id};
use crate::state::State;

/// What the TLS layer learned about a connection; attached to every request on it.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The client certificate chain presented in the handshake (gRPC mTLS), if any.
    pub peer_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// Routes one HTTP request to its API: `application/grpc` to the gRPC services, the rest to
/// REST / STS.
pub async fn dispatch(state: Arc<State>, conn: ConnInfo, req: ::http::Request<Incoming>) -> ::http::Response<Body> {
    if is_grpc(&req) {
        return dispatch_grpc(state, conn, req).await;
    }
    dispatch_http(state, conn, req).await.map(Body::new)
}

/// gRPC requests carry `content-type: application/grpc` (optionally `+proto` etc.).
fn is_grpc<B>(req: &::http::Request<B>) -> bool {
    req.headers()
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The gRPC services, with the connection's [`ConnInfo`] in the request extensions.
async fn dispatch_grpc(
    state: Arc<State>,
    conn: ConnInfo,
    mut req: ::http::Request<Incoming>,
) -> ::http::Response<Body> {
    use tower::Service;
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let mut routes = state.grpc.clone();
    req.extensions_mut().insert(grpc::GrpcContext {
        state,
        conn,
        authority,
        request_id: http::new_request_id(),
    });
    match routes.call(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The REST and STS Query APIs.
async fn dispatch_http(state: Arc<State>, conn: ConnInfo, req: ::http::Request<Incoming>) -> HttpResponse {
    let broker = &state.broker;
    let (parts, body) = req.into_parts();
    let rp = RequestParts::new(&parts, conn.remote);
    let limit = broker.config().server.max_body_bytes;
    match (parts.method.as_str(), parts.uri.path()) {
        ("POST", "/sessions") => {
            let result = match collect_body(body, limit).await {
                Ok(bytes) => rest::create_session(broker, &rp, &bytes, OffsetDateTime::now_utc()),
                Err(e) => Err(e),
            };
            let response = match result {
                Ok(r) => {
                    tracing::info!(target: "audit", request_id = %rp.request_id, api = "rest", operation = "CreateSession", outcome = "allow", client = %rp.remote);
                    r
                }
                Err(e) => {
                    audit_error(&rp, "rest", "CreateSession", &e);
                    rest_error(&e, &rp.request_id)
                }
            };
            with_request_id(response, &rp.request_id)
        }
        ("POST" | "GET", "/") => {
            let result = match collect_body(body, limit).await {
                Ok(bytes) => sts::handle(broker, &rp, &bytes, OffsetDateTime::now_utc()),
                Err(e) => Err(e),
            };
            let response = match result {
                Ok(r) => {
                    tracing::info!(target: "audit", request_id = %rp.request_id, api = "sts", outcome = "allow", client = %rp.remote);
                    r
                }
                Err(e) => {
                    audit_error(&rp, "sts", "Query", &e);
                    sts::error_response(&e, &rp.request_id)
                }
            };
            with_request_id(response, &rp.request_id)
        }
        (_, "/sessions") => rest_error(
            &ApiError::validation("method", "Use POST /sessions to create a session."),
            &rp.request_id,
        ),
        _ => not_found(&rp),
    }
}

fn not_found(rp: &RequestParts) -> HttpResponse {
    let e = ApiError::not_found("no-route", format!("No API at {} {}.", rp.method, rp.path));
    rest_error(&e, &rp.request_id)
}

fn audit_error(rp: &RequestParts, api: &'static str, operation: &'static str, e: &ApiError) {
    tracing::info!(
        target: "audit",
        request_id = %rp.request_id,
        api,
        operation,
        outcome = "deny",
        code = ?e.code,
        reason = e.reason,
        message = %e.message,
        client = %rp.remote,
    );
}

/// An empty 200 used by health endpoints.
pub fn ok_text(text: &'static str) -> HttpResponse {
    http::response(200, "text/plain; charset=utf-8", Bytes::from_static(text.as_bytes()))
}
