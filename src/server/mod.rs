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
    let (hangup, terminate) = install_signals();

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
    tokio::spawn(reload_on_sighup(state.clone(), hangup));
    state.set_ready(true);
    if let Some(callback) = opts.on_listening {
        callback(listener.local_addr()?);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = shutdown_signal(terminate);
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
    state.set_ready(false);
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

/// SIGHUP, installed before the daemon announces its listeners so a signal sent as soon as it
/// is up is never handled by the default action (termination).
struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

/// SIGTERM and SIGINT, installed early for the same reason as [`Hangup`].
struct Terminate(#[cfg(unix)] Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

fn install_signals() -> (Hangup, Terminate) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let hangup = signal(SignalKind::hangup()).ok();
        if hangup.is_none() {
            tracing::warn!("cannot install the SIGHUP handler; reload is unavailable");
        }
        let terminate = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => {
                tracing::warn!("cannot install the SIGTERM/SIGINT handlers; stop the daemon with SIGKILL");
                None
            }
        };
        (Hangup(hangup), Terminate(terminate))
    }
    #[cfg(not(unix))]
    (Hangup(), Terminate())
}

/// Reloads the configuration on every SIGHUP.
async fn reload_on_sighup(state: Arc<State>, mut hangup: Hangup) {
    #[cfg(unix)]
    if let Some(hup) = hangup.0.as_mut() {
        while hup.recv().await.is_some() {
            // Parsing and validation read files: keep them off the runtime's request threads.
            // `State::reload` logs and counts the outcome.
            let state = state.clone();
            let _ = tokio::task::spawn_blocking(move || state.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (state, &mut hangup);
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C elsewhere).
async fn shutdown_signal(mut terminate: Terminate) {
    #[cfg(unix)]
    match terminate.0.as_mut() {
        Some((term, int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        None => std::future::pending::<()>().await,
    }
    #[cfg(not(unix))]
    {
        let _ = &mut terminate;
        let _ = tokio::signal::ctrl_c().await;
    }
}
