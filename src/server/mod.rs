//! Runtime wiring of `rolegate serve`: the TLS listener (REST + STS + gRPC), the plain-HTTP
//! operations listener (`/metrics`, `/healthz`, `/readyz`), reload (SIGHUP, changed files) and SIGTERM/SIGINT
//! graceful drain, warnings of what runs out while in force (`expiry`), systemd readiness
//! (`systemd`). Everything here is I/O; the decisions live in `broker` and `service`.

pub mod connections;
mod expiry;
pub mod ops;
pub mod proxy_protocol;
mod reload;
pub(crate) mod systemd;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use self::connections::{Accepted, Activity, Connection, ConnectionAdmission, HANDSHAKE_TIMEOUT, InFlightBody};
use self::reload::{reload_on_change, reload_on_signal, reload_signal};

use crate::config::{Config, ServerSettings};
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
    /// The log format: the stdout announcements are written in it too.
    pub log_format: crate::logging::LogFormat,
}

/// Runs the daemon until SIGTERM/SIGINT; then, not ready, it keeps accepting for
/// `shutdown_delay_seconds`, drains in-flight requests for up to `shutdown_grace_seconds` and
/// returns. Another signal ends the delay (the drain starts), or the drain (what is still open
/// is closed).
pub async fn serve(opts: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    log_panics();
    crate::process::forbid_core_dumps();
    // Before the configuration is read (a large CRL takes a while): a SIGHUP meanwhile, from
    // a config watcher that saw the file change, is a reload once serving, not the end of
    // the process (SIGHUP's default action).
    let reload = reload_signal()?;
    let config = Config::load(&opts.config_path)?;
    let listen = opts.listen.unwrap_or(config.server.listen);
    let metrics_listen = opts.metrics_listen.unwrap_or(config.server.metrics_listen);
    let descriptors = connections::raise_descriptor_limit();
    let admission = Arc::new(ConnectionAdmission::new(&config.server, descriptors));
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

    // Signal handlers first, so a SIGTERM right after the announcement is handled.
    let mut shutdown = ShutdownSignals::install()?;
    if opts.stop_when_stdin_closes {
        shutdown.stop_when_stdin_closes();
    }
    let (listener, ops) = bind_listeners(&opts, listen, metrics_listen).await?;
    // Ready (the listeners are bound: the kernel queues connections until they are accepted)
    // before announced, so whoever waits for the announcement finds `/readyz` at 200.
    state.set_ready(true);
    let metrics_at = ops.as_ref().map(TcpListener::local_addr).transpose()?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "{}",
        started(listener.local_addr()?, metrics_at)
    );
    announce(
        opts.log_format,
        &format!("listening on https://{}", listener.local_addr()?),
    );
    if let Some(ops) = ops {
        announce(opts.log_format, &format!("metrics on http://{}", ops.local_addr()?));
        let max_connections = connections::operations_connection_limit(descriptors);
        tokio::spawn(ops::serve(ops, state.clone(), max_connections));
    }
    tokio::spawn(reload_on_signal(reload, state.clone()));
    tokio::spawn(reload_on_change(state.clone()));
    tokio::spawn(expiry::warn_when_server_certificate_expires(state.clone()));
    tokio::spawn(expiry::warn_when_trust_anchors_run_out(state.clone()));
    tokio::spawn(report_skipped_audit_events());
    systemd::ready(listener.local_addr()?);
    if let Some(callback) = opts.on_listening {
        callback(listener.local_addr()?);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let spawner = ConnectionSpawner {
        admission,
        acceptor,
        state: state.clone(),
        stop: stop_rx,
    };
    let mut connections = JoinSet::new();
    spawner.accept_until(&listener, &mut connections, shutdown.next()).await;
    state.set_ready(false);
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
        let delay_ends = async {
            tokio::select! {
                () = deadline => {}
                () = shutdown.next() => {}
            }
        };
        spawner.accept_until(&listener, &mut connections, delay_ends).await;
    }
    drop(listener);
    drain(&mut connections, &stop_tx, grace, &mut shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// The one INFO line that says a daemon started: its version and the addresses it serves on
/// (those bound, so port 0 shows as the port the kernel chose).
fn started(listen: SocketAddr, metrics_listen: Option<SocketAddr>) -> String {
    let metrics = match metrics_listen {
        Some(addr) => format!("metrics on http://{addr}"),
        None => "no metrics listener".to_owned(),
    };
    format!(
        "rolegate {} started: serving on https://{listen}, {metrics}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Binds the main listener on `listen` and, when there is one, the operations listener on
/// `metrics_listen`, each named in an error by the flag or configuration key that gave it.
/// Both are bound before either is announced: a script waiting for the "listening on" line
/// must not see it from a daemon about to fail.
async fn bind_listeners(
    opts: &ServeOptions,
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
) -> Result<(TcpListener, Option<TcpListener>), String> {
    let from = |flag: bool, key: &str| match flag {
        true => format!("--{}", key.replace('_', "-")),
        false => format!("server.{key} in {}", opts.config_path.display()),
    };
    // The configuration's own pair is refused at load; a flag's override is checked here, or
    // the second bind would blame "another process" for the port the first just took.
    if let Some(metrics) = metrics_listen
        && crate::config::listens_on_the_same_port(metrics, listen)
    {
        return Err(format!(
            "{listen} ({}) and {metrics} ({}) are the same port: give each listener its own",
            from(opts.listen.is_some(), "listen"),
            from(opts.metrics_listen.is_some(), "metrics_listen"),
        ));
    }
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
    Ok((listener, ops))
}

/// Reports, every [`crate::audit::SKIPPED_REPORT_INTERVAL`], the audit events throttling
/// skipped ([`crate::audit::report_skipped_throttling`]). Runs for as long as the daemon.
async fn report_skipped_audit_events() {
    let mut every = tokio::time::interval(crate::audit::SKIPPED_REPORT_INTERVAL);
    loop {
        every.tick().await;
        crate::audit::report_skipped_throttling();
    }
}

/// What each accepted connection's task needs: it is admitted ([`ConnectionAdmission::admit`]),
/// then served ([`serve_connection`]) until it ends or the drain (`stop`) ends it.
struct ConnectionSpawner {
    admission: Arc<ConnectionAdmission>,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    stop: watch::Receiver<bool>,
}

impl ConnectionSpawner {
    /// Accepts connections on `listener`, each served on a task of `connections`, until
    /// `until` resolves.
    async fn accept_until(
        &self,
        listener: &TcpListener,
        connections: &mut JoinSet<()>,
        until: impl Future<Output = ()>,
    ) {
        tokio::pin!(until);
        loop {
            tokio::select! {
                accepted = self.admission.accept(listener) => self.spawn(connections, accepted),
                () = &mut until => break,
            }
        }
    }

    /// Admits and serves `accepted` on a task of `connections`; the tasks that ended are reaped.
    fn spawn(&self, connections: &mut JoinSet<()>, accepted: Accepted) {
        let (admission, acceptor, state, stop) = (
            self.admission.clone(),
            self.acceptor.clone(),
            self.state.clone(),
            self.stop.clone(),
        );
        connections.spawn(async move {
            let admitted = admission.admit(accepted, &state.broker.config().server).await;
            if let Some(connection) = admitted {
                serve_connection(connection, acceptor, state, stop).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

/// The drain: tells each connection (`stop`) and waits for them for up to `grace`, or until
/// another signal; what is still open then is closed.
async fn drain(
    connections: &mut JoinSet<()>,
    stop: &watch::Sender<bool>,
    grace: Duration,
    shutdown: &mut ShutdownSignals,
) {
    while connections.try_join_next().is_some() {}
    tracing::info!(in_flight = connections.len(), "shutting down: draining connections");
    let _ = stop.send(true);
    tokio::select! {
        drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }) => {
            if drained.is_err() {
                tracing::warn!(
                    connections = connections.len(),
                    "grace period over; closing remaining connections (their requests in flight get no answer)"
                );
            }
        }
        () = shutdown.next() => tracing::warn!(
            connections = connections.len(),
            "SIGTERM or SIGINT during the drain: closing remaining connections now (their requests in flight get no answer)"
        ),
    }
    connections.abort_all();
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

/// Prints a line scripts and tests wait for, on stdout, flushed: `line` itself, or with
/// `--log-format json` a JSON log line whose message it is ([`announced_url`] reads either).
fn announce(format: crate::logging::LogFormat, line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = match format {
        crate::logging::LogFormat::Text => writeln!(out, "{line}"),
        crate::logging::LogFormat::Json => writeln!(out, "{}", crate::logging::json_info_line(line)),
    };
    let _ = out.flush();
}

/// The URL a stdout line of `rolegate serve` announces after `what` (`"listening on "`,
/// `"metrics on "`), as text or as the message of a JSON line; `None` for other lines.
pub fn announced_url(line: &str, what: &str) -> Option<String> {
    let message = match line.trim_start().starts_with('{') {
        true => {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            event.get("fields")?.get("message")?.as_str()?.to_owned()
        }
        false => line.to_owned(),
    };
    let url = message.strip_prefix(what)?.trim();
    (!url.is_empty() && !url.contains(char::is_whitespace)).then(|| url.to_owned())
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
        tracing::error!(
            at,
            panic = message.as_str(),
            "a task panicked (a bug: please report it)"
        );
    }));
}

/// How often an HTTP/2 connection is pinged, and how long its answer may take before the
/// connection is taken for dead.
const HTTP2_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The HTTP/2 receive windows: what a client may send on one stream, and on one connection,
/// before the server has read it (hyper's default is 1 MiB for each).
const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;
const HTTP2_CONNECTION_WINDOW: u32 = 256 * 1024;

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
    let Some(tls) = handshake(&acceptor, tcp, remote).await else {
        return;
    };
    let config = state.broker.config();
    let server = &config.server;
    let conn = ConnInfo {
        remote,
        address_group,
        address_limits: !server.rate_limit_exempt.iter().any(|net| net.contains(&remote.ip())),
        peer_certificates: peer_certificates(&tls),
    };
    let idle_timeout = server.idle_timeout;
    let request_timeout = server.request_timeout;
    let activity = Activity::new(Instant::now());
    let service = request_service(state, conn, activity.clone(), stop.clone());
    let builder = connection_builder(server);
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    drop(config);
    tokio::pin!(connection);
    match serve_until_idle_or_drain(connection.as_mut(), &mut stop, &activity, idle_timeout, remote).await {
        None => {}
        Some(Interruption::Drain) => {
            if !first_request_window(connection.as_mut(), &activity, remote).await {
                return;
            }
            connection.as_mut().graceful_shutdown();
            // Draining: `serve` bounds the wait by `shutdown_grace_seconds`.
            let _ = connection.await;
        }
        Some(Interruption::Idle) => {
            connection.as_mut().graceful_shutdown();
            // HTTP/2 says GOAWAY and waits for the client to acknowledge a PING; one that never
            // does is dropped after `request_timeout_seconds`.
            tracing::debug!(%remote, "closing an idle connection");
            let _ = tokio::time::timeout(request_timeout, connection).await;
        }
    }
}

/// The TLS handshake with the client at `remote`, within [`HANDSHAKE_TIMEOUT`]. A handshake
/// that fails or times out is logged and counted (`rolegate_tls_handshake_failures_total`, by
/// [`handshake_failure_reason`]).
async fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, remote: SocketAddr) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            crate::metrics::handshake_failed(handshake_failure_reason(&e));
            None
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            crate::metrics::handshake_failed("timeout");
            None
        }
    }
}

/// The certificate chain the client presented in the handshake (gRPC mTLS), if any.
fn peer_certificates(tls: &TlsStream<TcpStream>) -> Option<Arc<Vec<CertificateDer<'static>>>> {
    tls.get_ref()
        .1
        .peer_certificates()
        .map(|certs| Arc::new(certs.iter().map(|c| c.clone().into_owned()).collect::<Vec<_>>()))
}

/// The response to a request, from its connection's point of view: each request is answered by
/// [`dispatch_guarded`] and counted in flight until its body has been sent.
type Answer = hyper::Response<InFlightBody<tonic::body::Body>>;

/// A connection's service: each request answered by [`dispatch_guarded`] and counted in
/// `activity` until its response body has been sent; a gRPC stream that lasts until the client
/// ends it ends when the server drains (`drain`) instead.
fn request_service(
    state: Arc<State>,
    conn: ConnInfo,
    activity: Arc<Activity>,
    drain: watch::Receiver<bool>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Answer,
    Error = Infallible,
    Future = impl Future<Output = Result<Answer, Infallible>> + Send + 'static,
> {
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let state = state.clone();
        let conn = conn.clone();
        let in_flight = activity.request();
        let ends_at_drain =
            crate::service::grpc::streams_until_the_client_ends(req.uri().path()).then(|| drain_begins(drain.clone()));
        let keeps_alive = req.version() < hyper::Version::HTTP_2;
        async move {
            let ready = state.clone();
            let (mut response, address_slot) = dispatch_guarded(state, conn, req).await;
            if keeps_alive && !ready.is_ready() {
                // Shutting down (`shutdown_delay_seconds`): a keep-alive client's next request
                // goes on a new connection, which the balancer gives another replica, instead
                // of onto this one as the drain closes it (HTTP/2 gets a GOAWAY then).
                response.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(response.map(|body| {
                let body = InFlightBody::new(body, in_flight, address_slot);
                match ends_at_drain {
                    Some(drain) => body.ending_at(drain),
                    None => body,
                }
            }))
        }
    })
}

/// HTTP/1.1 and HTTP/2 as `server` configures them: header limits, timers and HTTP/2's
/// keep-alive pings.
fn connection_builder(server: &ServerSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's head timer also runs while a keep-alive connection waits for its next
        // request, so it cannot be shorter than the idle timeout (which `Activity` enforces,
        // head or no head) without cutting idle HTTP/1.1 connections early.
        .header_read_timeout(server.request_timeout.max(server.idle_timeout))
        .max_buf_size(server.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Twice the limit, which `service` applies itself to answer in the call's wire format;
        // beyond that, the decoder's bare 431.
        .max_header_list_size(u32::try_from(server.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        // What a client may send ahead of the server's reading: a stream whose handler is
        // blocked (a reflection stream whose answers the client does not read) buffers up to
        // its window. hyper's 1 MiB for each let 512 stalled streams pin 570 MiB; every
        // `rolegate.v1` message (at most 256 KiB) still arrives, in window-sized turns.
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        // A peer that vanished (its host gone, a balancer's flow dropped) while a stream is open
        // answers no PING: its connection is closed, and its slots freed, instead of being held
        // by a stream that waits for ever (a health Watch writes only when the status changes).
        .keep_alive_interval(Some(HTTP2_PING_INTERVAL))
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    builder
}

/// Why a connection that has not ended stops being served as usual.
enum Interruption {
    /// The server drains.
    Drain,
    /// No request in flight for `server.idle_timeout_seconds`.
    Idle,
}

/// Serves `connection` until it ends (`None`), the server drains (`stop` changes), or it has been
/// idle ([`Activity::idle_deadline`]) for `idle_timeout`.
async fn serve_until_idle_or_drain<E: std::fmt::Display>(
    mut connection: Pin<&mut impl Future<Output = Result<(), E>>>,
    stop: &mut watch::Receiver<bool>,
    activity: &Activity,
    idle_timeout: Duration,
    remote: SocketAddr,
) -> Option<Interruption> {
    let mut look_again = Instant::now() + idle_timeout;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                log_connection_end(remote, result);
                return None;
            }
            _ = stop.changed() => return Some(Interruption::Drain),
            () = tokio::time::sleep_until(look_again) => match activity.idle_deadline(Instant::now(), idle_timeout) {
                Some(deadline) => look_again = deadline,
                None => return Some(Interruption::Idle),
            },
        }
    }
}

/// Serves `connection` until its first request begins, for at most [`FIRST_REQUEST_WINDOW`];
/// false if it ended meanwhile. A connection accepted as the drain began may not have sent its
/// first request yet: HTTP/1.1 has no way to say "not served, retry", so closing it now would
/// leave that request unanswered. Give it a moment to start, as Go's `Server.Shutdown` does.
async fn first_request_window<E: std::fmt::Display>(
    connection: Pin<&mut impl Future<Output = Result<(), E>>>,
    activity: &Activity,
    remote: SocketAddr,
) -> bool {
    tokio::select! {
        result = connection => {
            log_connection_end(remote, result);
            false
        }
        () = activity.first_request() => true,
        () = tokio::time::sleep(FIRST_REQUEST_WINDOW) => true,
    }
}

/// Logs how a connection that ended by itself ended, when with an error.
fn log_connection_end<E: std::fmt::Display>(remote: SocketAddr, result: Result<(), E>) {
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_urls_are_read_as_text_and_as_json() {
        let json = crate::logging::json_info_line("listening on https://127.0.0.1:8443");
        for line in [
            "listening on https://127.0.0.1:8443",
            "listening on https://127.0.0.1:8443\n",
            json.as_str(),
        ] {
            assert_eq!(
                announced_url(line, "listening on ").as_deref(),
                Some("https://127.0.0.1:8443"),
                "{line}"
            );
            assert_eq!(announced_url(line, "metrics on "), None, "{line}");
        }
        let ipv6 = crate::logging::json_info_line("listening on https://[::1]:8443");
        assert_eq!(
            announced_url(&ipv6, "listening on ").as_deref(),
            Some("https://[::1]:8443")
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["level"], "INFO");
        assert_eq!(parsed["fields"]["message"], "listening on https://127.0.0.1:8443");
        assert_eq!(announced_url("listening on ", "listening on "), None);
        assert_eq!(
            announced_url("{\"fields\":{\"message\":\"started\"}}", "listening on "),
            None
        );
    }

    /// The start line names the version and the addresses served on, the metrics one or its
    /// absence.
    #[test]
    fn the_start_line_names_the_version_and_the_addresses() {
        let listen: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let metrics: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            started(listen, Some(metrics)),
            format!("rolegate {version} started: serving on https://127.0.0.1:8443, metrics on http://127.0.0.1:9464")
        );
        assert_eq!(
            started("[::1]:8443".parse().unwrap(), None),
            format!("rolegate {version} started: serving on https://[::1]:8443, no metrics listener")
        );
    }
}
