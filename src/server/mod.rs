//! Runtime wiring of `rolegate serve`: the TLS listener (REST + STS + gRPC), the plain-HTTP
//! operations listener (`/metrics`, `/healthz`, `/readyz`), SIGHUP reload and SIGTERM/SIGINT
//! graceful drain. Everything here is I/O; the decisions live in `broker` and `service`.

mod ops;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::service::{ConnInfo, dispatch};
use crate::state::State;

pub use tls::ReloadableCert;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to serve, from the command line (overriding the config file).
pub struct ServeOptions {
    pub config_path: PathBuf,
    pub listen: Option<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
    /// Called once with the bound address of the main listener (e.g. to print instructions).
    pub on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
}

/// Runs the daemon until SIGTERM/SIGINT, then drains in-flight requests.
pub async fn serve(opts: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&opts.config_path)?;
    let listen = opts.listen.unwrap_or(config.server.listen);
    let metrics_listen = opts.metrics_listen.or(config.server.metrics_listen);
    let grace = config.server.shutdown_grace;
    let cert = Arc::new(ReloadableCert::new(&config.server.tls)?);
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(cert.clone())?));
    tracing::info!("configuration {}:\n{}", opts.config_path.display(), config.summary());
    let state = Arc::new(State::new(config, cert, opts.config_path.clone()));

    // Signal handlers first, so a SIGTERM or SIGHUP right after the announcement is handled.
    let shutdown = shutdown_signal()?;
    let reload = reload_signal()?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    announce(&format!("listening on https://{}", listener.local_addr()?));
    if let Some(addr) = metrics_listen {
        let ops = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        announce(&format!("metrics on http://{}", ops.local_addr()?));
        tokio::spawn(ops::serve(ops, state.clone()));
    }
    tokio::spawn(reload_on_signal(reload, state.clone()));
    state.set_ready(true).await;
    if let Some(callback) = opts.on_listening {
        callback(listener.local_addr()?);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(serve_connection(tcp, remote, acceptor.clone(), state.clone(), stop_rx.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            () = &mut shutdown => break,
        }
        while connections.try_join_next().is_some() {}
    }
    state.set_ready(false).await;
    drop(listener);
    tracing::info!(in_flight = connections.len(), "shutting down: draining connections");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("grace period over; closing remaining connections");
        connections.abort_all();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Prints a line scripts and tests wait for, on stdout, flushed.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer_certificates = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|certs| Arc::new(certs.iter().map(|c| c.clone().into_owned()).collect::<Vec<_>>()));
    let conn = ConnInfo {
        remote,
        peer_certificates,
    };
    let config = state.broker.config();
    let server = &config.server;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(dispatch(state, conn, req).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.request_timeout)
        .max_buf_size(server.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

#[cfg(unix)]
type ReloadSignal = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type ReloadSignal = ();

/// Installs the SIGHUP handler (before the listener is announced, so no early SIGHUP kills us).
fn reload_signal() -> std::io::Result<ReloadSignal> {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    }
    #[cfg(not(unix))]
    Ok(())
}

/// Reloads the configuration on every SIGHUP; a bad file keeps the running configuration.
async fn reload_on_signal(signal: ReloadSignal, state: Arc<State>) {
    #[cfg(unix)]
    {
        let mut hup = signal;
        while hup.recv().await.is_some() {
            // Parsing and validation read files: keep them off the runtime's request threads.
            // `State::reload` logs and counts the outcome.
            let state = state.clone();
            let _ = tokio::task::spawn_blocking(move || state.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (signal, state);
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
