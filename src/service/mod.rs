//! The wire edges: Roles Anywhere REST (`rest`), the STS Query API (`sts`) and gRPC (`grpc`),
//! all served on one TLS listener and dispatched by [`dispatch`]. Each edge parses its wire
//! format, calls the [`crate::broker::Broker`], and renders the one [`error::ApiError`] type
//! in its own format.

pub mod error;
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

/// Routes one HTTP request to its API.
pub async fn dispatch(state: Arc<State>, conn: ConnInfo, req: ::http::Request<Incoming>) -> ::http::Response<Body> {
    dispatch_http(state, conn, req).await.map(Body::new)
}

/// The REST and STS Query APIs.
async fn dispatch_http(state: Arc<State>, conn: ConnInfo, req: ::http::Request<Incoming>) -> HttpResponse {
    let broker = &state.broker;
    let (parts, body) = req.into_parts();
    let rp = RequestParts::new(&parts, conn.remote);
    let limit = broker.config().server.max_body_bytes;
    let started = std::time::Instant::now();
    match (parts.method.as_str(), parts.uri.path()) {
        ("POST", "/sessions") => {
            let result = match collect_body(body, limit).await {
                Ok(bytes) => rest::create_session(broker, &rp, &bytes, OffsetDateTime::now_utc()),
                Err(e) => Err(e),
            };
            let outcome = if result.is_ok() { "allow" } else { "deny" };
            crate::metrics::record_request(
                crate::metrics::RequestLabels {
                    api: "rest",
                    operation: "CreateSession",
                    outcome,
                },
                started.elapsed().as_secs_f64(),
            );
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
