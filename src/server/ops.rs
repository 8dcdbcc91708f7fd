//! The plain-HTTP operations listener: `/healthz` (the process is alive), `/readyz` (a
//! configuration is loaded and the main listener accepts) and `/metrics` (Prometheus text).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Daemon;
use crate::service::http::response;

pub async fn serve(listener: TcpListener, daemon: Arc<Daemon>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let daemon = daemon.clone();
                async move { Ok::<_, Infallible>(route(&daemon, req.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

fn route(daemon: &Daemon, path: &str) -> crate::service::http::HttpResponse {
    match path {
        "/healthz" => response(200, "text/plain", Bytes::from_static(b"ok\n")),
        "/readyz" if daemon.ready.load(Ordering::SeqCst) => response(200, "text/plain", Bytes::from_static(b"ready\n")),
        "/readyz" => response(503, "text/plain", Bytes::from_static(b"not ready\n")),
        "/metrics" => response(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Bytes::from(crate::metrics::render(daemon)),
        ),
        _ => response(404, "text/plain", Bytes::from_static(b"not found\n")),
    }
}
