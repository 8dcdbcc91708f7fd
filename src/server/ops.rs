//! The plain-HTTP operations listener: `/healthz` (the process is alive), `/readyz` (a
//! configuration is loaded and the main listener accepts) and `/metrics` (Prometheus text).
//! At most [`MAX_CONNECTIONS`] are open at once (fewer under a low descriptor limit,
//! [`super::connections::operations_connection_limit`]); the next client waits in the kernel's accept
//! queue, so no number of clients can take the descriptors the TLS listener counts on. One
//! client address holds at most [`MAX_CONNECTIONS_PER_ADDRESS`] of them (its next connection is
//! closed on arrival), so one leaky or hostile client cannot starve the probes of the others.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::ratelimit::PerAddress;
use crate::service::http::response;
use crate::state::State;

/// Connections the operations listener serves at once. Scrapers and probes need a handful, and
/// an idle or slow one is closed after 10 seconds ([`super::connections::plain_http1`]); the
/// bound is high enough that a few leaky clients cannot starve the liveness probes, and its
/// descriptors are kept out of the TLS listener's ([`super::connections::reserved_descriptors`]).
pub const MAX_CONNECTIONS: usize = 256;

/// Connections one client address (an IPv6 one by its `per_ip_ipv6_prefix`) holds at once on
/// the operations listener: a scraper and a
/// prober need one or two each; filling [`MAX_CONNECTIONS`] takes eight addresses.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;

/// Serves `listener`, at most `max_connections` connections at once.
pub async fn serve(listener: TcpListener, state: Arc<State>, max_connections: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let per_address = PerAddress::new(MAX_CONNECTIONS_PER_ADDRESS);
    loop {
        // The semaphore is never closed: acquiring only waits for a connection to end.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = super::connections::accept(&listener).await;
        let prefix = state.broker.config().server.per_ip_ipv6_prefix;
        let address = crate::ratelimit::address_group(peer.ip().to_canonical(), prefix);
        let Ok(address_slot) = per_address.take_counted(address) else {
            tracing::debug!(%peer, "operations listener: refused, the address holds {MAX_CONNECTIONS_PER_ADDRESS} connections");
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _slots = (slot, address_slot);
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req.method(), req.uri().path())) }
            });
            let _ = super::connections::plain_http1()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// The operations endpoints are read-only: GET (and HEAD, which hyper answers without the
/// body); any other method is 405, so a mistaken `POST /metrics` is not taken for success.
fn route(state: &State, method: &http::Method, path: &str) -> crate::service::http::HttpResponse {
    let known = matches!(path, "/healthz" | "/readyz" | "/metrics");
    if known && method != http::Method::GET && method != http::Method::HEAD {
        let mut refused = response(405, "text/plain", Bytes::from_static(b"method not allowed: use GET\n"));
        refused
            .headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    match path {
        "/healthz" => response(200, "text/plain", Bytes::from_static(b"ok\n")),
        "/readyz" if state.is_ready() => response(200, "text/plain", Bytes::from_static(b"ready\n")),
        "/readyz" => response(503, "text/plain", Bytes::from_static(b"not ready\n")),
        "/metrics" => response(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Bytes::from(crate::metrics::render(state)),
        ),
        _ => response(404, "text/plain", Bytes::from_static(b"not found\n")),
    }
}
