//! Runtime wiring of `rolegate serve`: the TLS listener (REST + STS + gRPC), the plain-HTTP
//! operations listener (`/metrics`, `/healthz`, `/readyz`), reload (SIGHUP, changed files) and SIGTERM/SIGINT
//! graceful drain. Everything here is I/O; the decisions live in `broker` and `service`.

pub mod connections;
pub mod ops;
pub mod proxy_protocol;
mod reload;
pub(crate) mod systemd;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use self::connections::{Activity, Connection, ConnectionAdmission, HANDSHAKE_TIMEOUT, InFlightBody};
use self::reload::{reload_on_change, reload_on_signal, reload_signal};

use crate::config::Config;
use crate::service::{ConnInfo, dispatch_guarded};
use crate::state::State;

pub use tls::ReloadableCert;

/// Where to serve, from the command line (overriding the config file).
pub struct ServeOptions {
    pub config_path: PathBuf,
    pub listen: Option<SocketAddr>,
    /// `Some(None)`: no metrics listener, whatever the file says.
    pub metrics_listen: Option<Option<SocketAddr>>,
    /// Called once with the bound address of the main listener (e.g. to print instructions).
    pub on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
    /// Stop as on SIGTERM when stdin reaches its end (the process that holds the other end
    /// of the pipe is gone).
    pub stop_when_stdin_closes: bool,
}

/// Runs the daemon until SIGTERM/SIGINT; then, not ready, it keeps accepting for
/// `shutdown_delay_seconds`, drains in-flight requests for up to `shutdown_grace_seconds` and
/// returns. Another signal ends the delay (the drain starts), or the drain (what is still open
/// is closed).
pub async fn serve(opts: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    log_panics();
    crate::process::forbid_core_dumps();
    let config = Config::load(&opts.config_path)?;
    let listen = opts.listen.unwrap_or(config.server.listen);
    let metrics_listen = opts.metrics_listen.unwrap_or(config.server.metrics_listen);
    let admission = Arc::new(ConnectionAdmission::new(
        &config.server,
        connections::raise_descriptor_limit(),
    ));
    let cert = Arc::new(ReloadableCert::new(&config.server.tls)?);
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(cert.clone())?));
    // One event a line: line-based log shippers (and journald) keep each whole.
    for line in config.summary_listening_on(listen, metrics_listen).lines() {
        tracing::info!("configuration {}: {line}", opts.config_path.display());
    }
    let listen_at_start = crate::state::ListenAtStart {
        listen: opts.listen.is_none().then_some(config.server.listen),
        metrics_listen: opts.metrics_listen.is_none().then_some(config.server.metrics_listen),
    };
    let state = Arc::new(State::new(
        config,
        cert,
        admission.clone(),
        opts.config_path.clone(),
        listen_at_start,
    ));

    // Signal handlers first, so a SIGTERM or SIGHUP right after the announcement is handled.
    let mut shutdown = ShutdownSignals::install()?;
    if opts.stop_when_stdin_closes {
        shutdown.stop_when_stdin_closes();
    }
    let reload = reload_signal()?;
    // Both listeners are bound before either is announced: a script waiting for the
    // "listening on" line must not see it from a daemon about to fail.
    let from = |flag: bool, key: &str| match flag {
        true => format!("--{}", key.replace('_', "-")),
        false => format!("server.{key} in {}", opts.config_path.display()),
    };
    let listener = bind(listen, &from(opts.listen.is_some(), "listen"), "--listen").await?;
    let ops = match metrics_listen {
        Some(addr) => Some(
            bind(
                addr,
                &from(opts.metrics_listen.is_some(), "metrics_listen"),
                "--metrics-listen",
            )
            .await?,
        ),
        None => None,
    };
    // Ready (the listeners are bound: the kernel queues connections until they are accepted)
    // before announced, so whoever waits for the announcement finds `/readyz` at 200.
    state.set_ready(true).await;
    announce(&format!("listening on https://{}", listener.local_addr()?));
    if let Some(ops) = ops {
        announce(&format!("metrics on http://{}", ops.local_addr()?));
        tokio::spawn(ops::serve(ops, state.clone()));
    }
    tokio::spawn(reload_on_signal(reload, state.clone()));
    tokio::spawn(reload_on_change(state.clone()));
    tokio::spawn(async {
        let mut every = tokio::time::interval(crate::audit::SKIPPED_REPORT_INTERVAL);
        loop {
            every.tick().await;
            crate::audit::report_skipped_throttling();
        }
    });
    systemd::ready(listener.local_addr()?);
    if let Some(callback) = opts.on_listening {
        callback(listener.local_addr()?);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let accept = |connections: &mut JoinSet<()>, accepted| {
        let (admission, acceptor, state, stop) = (admission.clone(), acceptor.clone(), state.clone(), stop_rx.clone());
        connections.spawn(async move {
            let admitted = admission.admit(accepted, &state.broker.config().server).await;
            if let Some(connection) = admitted {
                serve_connection(connection, acceptor, state, stop).await;
            }
        });
        while connections.try_join_next().is_some() {}
    };
    loop {
        tokio::select! {
            accepted = admission.accept(&listener) => accept(&mut connections, accepted),
            () = shutdown.next() => break,
        }
    }
    state.set_ready(false).await;
    systemd::stopping();
    let (delay, grace) = {
        let config = state.broker.config();
        (config.server.shutdown_delay, config.server.shutdown_grace)
    };
    // Not ready, still serving: balancers and Services stop routing here in the meantime. A
    // second signal ends the delay, a signal during the drain ends the drain.
    if !delay.is_zero() {
        tracing::info!(
            delay_seconds = delay.as_secs(),
            "shutting down: not ready, still accepting until the delay ends"
        );
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                accepted = admission.accept(&listener) => accept(&mut connections, accepted),
                () = &mut deadline => break,
                () = shutdown.next() => break,
            }
        }
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(in_flight = connections.len(), "shutting down: draining connections");
    let _ = stop_tx.send(true);
    tokio::select! {
        drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }) => {
            if drained.is_err() {
                tracing::warn!("grace period over; closing remaining connections");
            }
        }
        () = shutdown.next() => tracing::warn!("SIGTERM or SIGINT during the drain: closing remaining connections now"),
    }
    connections.abort_all();
    tracing::info!("stopped");
    Ok(())
}

/// Binds `addr`, named by `from` (the flag or configuration key) in the error; a port in use
/// points at `flag`, which chooses another.
async fn bind(addr: SocketAddr, from: &str, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "; another process holds the port: stop it, or choose another address with {flag} (127.0.0.1:0 takes any free port)"
            ),
            _ => String::new(),
        };
        format!("cannot listen on {addr} ({from}): {e}{hint}")
    })
}

/// Prints a line scripts and tests wait for, on stdout, flushed.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Ready once the server drains (`stop` is true, or its sender gone with the server).
fn drain_begins(mut stop: watch::Receiver<bool>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if !*stop.borrow_and_update() {
            let _ = stop.wait_for(|draining| *draining).await;
        }
    })
}

/// How long a connection that has sent no request yet when the drain begins may take to send
/// its first one (it is then answered before the connection closes).
const FIRST_REQUEST_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// A panic is written to the log as an ERROR event, in the log's own format, instead of the
/// default hook's bare text on stderr (which a JSON log pipeline cannot read, and which the
/// batched log writer could interleave with its lines). The request it interrupted is
/// answered and audited as an internal error (`service::dispatch_guarded`).
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(at, message, "a task panicked (a bug: please report it)");
    }));
}

/// How often an HTTP/2 connection is pinged, and how long its answer may take before the
/// connection is taken for dead.
const HTTP2_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The `reason` of a failed handshake for `rolegate_tls_handshake_failures_total`: what the
/// client's side of a fleet would have to change. `client-certificate`: its certificate, or its
/// signature proving the key (RFC 8446 §4.4.3), was refused — a key too weak or of a kind no
/// verifier takes; `server-certificate`: the client refused rolegate's certificate (an alert
/// such as `unknown_ca`: a client without the CA bundle, or expecting another name);
/// `protocol`: no TLS version, cipher suite or ALPN protocol in common, or a malformed
/// handshake; `closed`: the client went away (a port scan, a load balancer's TCP probe).
fn handshake_failure_reason(e: &std::io::Error) -> &'static str {
    use rustls::AlertDescription as Alert;
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon),
        ) => "client-certificate",
        Some(rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA,
        )) => "server-certificate",
        Some(_) => "protocol",
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => "closed",
            _ => "protocol",
        },
    }
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
        address_group,
        slots: _slots,
        open: _open,
    } = connection;
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            crate::metrics::handshake_failed(handshake_failure_reason(&e));
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            crate::metrics::handshake_failed("timeout");
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
        address_group,
        peer_certificates,
    };
    let config = state.broker.config();
    let server = &config.server;
    let idle_timeout = server.idle_timeout;
    let request_timeout = server.request_timeout;
    let activity = Activity::new(Instant::now());
    let service = {
        let activity = activity.clone();
        let drain = stop.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let state = state.clone();
            let conn = conn.clone();
            let in_flight = activity.request();
            let ends_at_drain = crate::service::grpc::streams_until_the_client_ends(req.uri().path())
                .then(|| drain_begins(drain.clone()));
            async move {
                let (response, address_slot) = dispatch_guarded(state, conn, req).await;
                Ok::<_, Infallible>(response.map(|body| {
                    let body = InFlightBody::new(body, in_flight, address_slot);
                    match ends_at_drain {
                        Some(drain) => body.ending_at(drain),
                        None => body,
                    }
                }))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's head timer also runs while a keep-alive connection waits for its next
        // request, so it cannot be shorter than the idle timeout (which `Activity` enforces,
        // head or no head) without cutting idle HTTP/1.1 connections early.
        .header_read_timeout(server.request_timeout.max(idle_timeout))
        .max_buf_size(server.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Twice the limit, which `service` applies itself to answer in the call's wire format;
        // beyond that, the decoder's bare 431.
        .max_header_list_size(u32::try_from(server.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        // A peer that vanished (its host gone, a balancer's flow dropped) while a stream is open
        // answers no PING: its connection is closed, and its slots freed, instead of being held
        // by a stream that waits for ever (a health Watch writes only when the status changes).
        .keep_alive_interval(Some(HTTP2_PING_INTERVAL))
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
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
    if !idle {
        // A connection accepted as the drain began may not have sent its first request yet:
        // HTTP/1.1 has no way to say "not served, retry", so closing it now would leave that
        // request unanswered. Give it a moment to start, as Go's `Server.Shutdown` does.
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.first_request() => {}
            () = tokio::time::sleep(FIRST_REQUEST_WINDOW) => {}
        }
    }
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

/// SIGTERM and SIGINT, each delivery once: the first starts the shutdown, each later one moves
/// it on a step. The handlers are installed by [`ShutdownSignals::install`], not when first
/// awaited. The sidecar and `update` stop on the first (as a container's PID 1 they get
/// SIGTERM only through a handler of their own).
pub(crate) struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    /// True once stdin reached its end, when watched ([`Self::stop_when_stdin_closes`]).
    stdin_closed: Option<tokio::sync::watch::Receiver<bool>>,
}

impl ShutdownSignals {
    pub(crate) fn install() -> std::io::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                stdin_closed: None,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals { stdin_closed: None })
    }

    /// Makes the end of stdin a shutdown signal too, from then on (every later [`Self::next`]
    /// resolves at once): stdin is read, and discarded, on a thread of its own.
    pub(crate) fn stop_when_stdin_closes(&mut self) {
        let (closed, watch) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(true);
        });
        self.stdin_closed = Some(watch);
    }

    /// Resolves on the next SIGTERM or SIGINT (or once stdin closed, when watched).
    pub(crate) async fn next(&mut self) {
        let stdin_closed = async {
            match &mut self.stdin_closed {
                Some(watch) => {
                    let _ = watch.wait_for(|closed| *closed).await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
            () = stdin_closed => {}
        }
        #[cfg(not(unix))]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = stdin_closed => {}
        }
    }
}
