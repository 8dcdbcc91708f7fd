//! Runtime wiring of `rolegate serve`: the TLS listener (REST + STS + gRPC), the plain-HTTP
//! operations listener (`/metrics`, `/healthz`, `/readyz`), SIGHUP reload and SIGTERM/SIGINT
//! graceful drain. Everything here is I/O; the decisions live in `broker` and `service`.

pub mod connections;
mod ops;
pub mod proxy_protocol;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use self::connections::{Activity, InFlightBody};
use self::proxy_protocol::ProxyHeaderError;

use crate::config::Config;
use crate::ratelimit::{AddressSlot, PerAddress};
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
    let slots = Arc::new(Semaphore::new(admitted_connections(config.server.max_connections)));
    let admission = Arc::new(ConnectionAdmission {
        per_address: PerAddress::new(config.server.max_connections_per_ip, config.server.cache_max_entries),
        proxy_protocol: config.server.proxy_protocol,
        proxy_protocol_from: config.server.proxy_protocol_from.clone(),
    });
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
            (tcp, peer, slot) = connections::accept_within(&listener, &slots) => {
                let _ = tcp.set_nodelay(true);
                let connection = Accepted { tcp, peer, slot, _open: crate::metrics::connection_opened() };
                let (admission, acceptor, state, stop) = (admission.clone(), acceptor.clone(), state.clone(), stop_rx.clone());
                connections.spawn(async move {
                    if let Some(connection) = admission.admit(connection).await {
                        serve_connection(connection, acceptor, state, stop).await;
                    }
                });
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

/// How many TLS connections to hold at once: `configured`, within the descriptor limit (raised
/// to the hard limit first; see [`connections`]).
fn admitted_connections(configured: usize) -> usize {
    let descriptors = connections::raise_descriptor_limit();
    let limit = connections::connection_limit(configured, descriptors);
    if limit < configured {
        tracing::warn!(
            max_connections = configured,
            descriptor_limit = descriptors,
            serving_at_most = limit,
            "server.max_connections does not fit in the open-file limit; raise LimitNOFILE (ulimit -n) to serve more connections at once"
        );
    }
    crate::metrics::set_connection_limit(limit);
    limit
}

/// A TCP connection as accepted, with its slot of `max_connections` and its gauge entry.
struct Accepted {
    tcp: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    _open: crate::metrics::OpenConnection,
}

/// An admitted connection: its client's address, and the slots (of `max_connections` and of
/// the address's share) and gauge entry it holds while open.
struct Connection {
    tcp: TcpStream,
    remote: SocketAddr,
    _slots: (OwnedSemaphorePermit, Option<AddressSlot>),
    _open: crate::metrics::OpenConnection,
}

/// What decides, before the TLS handshake, whether an accepted connection is served.
struct ConnectionAdmission {
    per_address: PerAddress,
    proxy_protocol: bool,
    /// The peers whose PROXY headers are believed; empty: every peer's.
    proxy_protocol_from: Vec<ipnet::IpNet>,
}

impl ConnectionAdmission {
    /// The connection with its client's address (from the PROXY header when the listener
    /// expects one) if that address has room in its share; `None` (the connection is closed)
    /// otherwise, counted by reason.
    async fn admit(&self, accepted: Accepted) -> Option<Connection> {
        let Accepted {
            mut tcp,
            peer,
            slot,
            _open,
        } = accepted;
        let remote = if self.proxy_protocol {
            if !proxy_protocol::is_trusted_balancer(&self.proxy_protocol_from, peer.ip()) {
                tracing::debug!(%peer, "refused: not a load balancer of server.proxy_protocol_from");
                crate::metrics::connection_refused("proxy-untrusted");
                return None;
            }
            let header = tokio::time::timeout(HANDSHAKE_TIMEOUT, proxy_protocol::read_header(&mut tcp))
                .await
                .unwrap_or(Err(ProxyHeaderError::TimedOut));
            match header {
                Ok(client) => client.unwrap_or(peer),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "refused: PROXY protocol header");
                    crate::metrics::connection_refused("proxy-header");
                    return None;
                }
            }
        } else {
            peer
        };
        let Ok(address_slot) = self.per_address.take(remote.ip()) else {
            tracing::debug!(%remote, "refused: max_connections_per_ip reached");
            crate::metrics::connection_refused("per-address-limit");
            return None;
        };
        Some(Connection {
            tcp,
            remote,
            _slots: (slot, address_slot),
            _open,
        })
    }
}

/// Prints a line scripts and tests wait for, on stdout, flushed.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Serves one connection: TLS handshake, then HTTP/1.1 or HTTP/2 until the client closes it,
/// it has been idle for `server.idle_timeout_seconds`, or the server drains.
async fn serve_connection(
    connection: Connection,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    // The slot and the gauge entry are held until this returns.
    let Connection {
        tcp,
        remote,
        _slots,
        _open,
    } = connection;
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
    let idle_timeout = server.idle_timeout;
    let request_timeout = server.request_timeout;
    let activity = Activity::new(Instant::now());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req| {
            let state = state.clone();
            let conn = conn.clone();
            let in_flight = activity.request();
            async move {
                let (response, address_slot) = dispatch(state, conn, req).await;
                Ok::<_, Infallible>(response.map(|body| InFlightBody::new(body, in_flight, address_slot)))
            }
        })
    };
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
    drop(config);
    tokio::pin!(connection);
    let mut look_again = Instant::now() + idle_timeout;
    let idle = loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed() => break false,
            () = tokio::time::sleep_until(look_again) => match activity.idle_deadline(Instant::now(), idle_timeout) {
                Some(deadline) => look_again = deadline,
                None => break true,
            },
        }
    };
    connection.as_mut().graceful_shutdown();
    if !idle {
        // Draining: `serve` bounds the wait by `shutdown_grace_seconds`.
        let _ = connection.await;
        return;
    }
    // HTTP/2 says GOAWAY and waits for the client to acknowledge a PING; one that never does
    // is dropped after `request_timeout_seconds`.
    tracing::debug!(%remote, "closing an idle connection");
    let _ = tokio::time::timeout(request_timeout, connection).await;
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
