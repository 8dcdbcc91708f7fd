//! Connection admission: how many connections the daemon holds, how long an idle one stays,
//! and what happens when the process runs out of file descriptors.
//!
//! - At most `server.max_connections` TLS connections are open at once; the next client waits
//!   in the kernel's accept queue until one closes. The limit is kept below the process's
//!   descriptor limit (raised at startup to the hard limit), so `accept` does not fail with
//!   EMFILE under load and the operations listener, configuration reloads and log writes keep
//!   the descriptors they need. One client address holds at most
//!   `server.max_connections_per_ip` of them ([`crate::ratelimit::PerAddress`]), and opens at
//!   most `server.rate_limit_connections_per_ip` per second (each costs a handshake; more are
//!   closed before it, [`crate::ratelimit::ConnectionRate`]).
//! - Behind a TCP load balancer, a connection's client address is the one its PROXY protocol
//!   header names ([`super::proxy_protocol`]).
//! - A reload applies new limits and PROXY protocol settings to the connections that arrive
//!   after it; a lowered `max_connections` is reached as open connections close
//!   ([`crate::slots::Slots`]), none is cut.
//! - A connection with no request in flight for `server.idle_timeout_seconds` is closed
//!   (HTTP/1.1: after the response; HTTP/2: GOAWAY), so idle clients cannot hold slots forever.
//! - An `accept` that fails anyway (descriptors exhausted by something else, ENOBUFS) is
//!   retried after a pause that doubles up to a second, instead of at once in a loop that
//!   would burn a core and flood the log.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::proxy_protocol::{self, ProxyHeaderError};
use crate::config::ServerSettings;
use crate::ratelimit::{AddressSlot, ConnectionRate, PerAddress};
use crate::slots::{Slot, Slots};

/// How long a client may take to send its PROXY protocol header, and to complete the TLS
/// handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection from a load balancer may take to send its PROXY protocol header.
/// Until it has, the connection holds a `max_connections` slot that no per-address limit
/// bounds (the header names the address), and a balancer that sends the header with the
/// client's first bytes (AWS NLB's default) passes on a client that sends nothing as a silent
/// connection: a client reopening such connections held every slot for the 10 s handshake
/// timeout. A TLS client sends its first bytes at once, so its header comes within a round
/// trip.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(3);

/// Descriptors kept for everything but the two listeners' connections: listeners, the
/// runtime's epoll and wake-up descriptors, standard streams, files read by a reload, `/proc`
/// reads for metrics.
const BASE_RESERVED_DESCRIPTORS: u64 = 64;

/// How many connections the operations listener serves at once:
/// [`super::ops::MAX_CONNECTIONS`], or, under a descriptor limit too low for it beside the
/// base reservation and as many TLS connections, half of what the base reservation leaves
/// (at least one). Its connections then cannot take the descriptors a reload or the TLS
/// listener counts on.
pub fn operations_connection_limit(descriptors: Option<u64>) -> usize {
    let Some(descriptors) = descriptors else {
        return super::ops::MAX_CONNECTIONS;
    };
    let half = descriptors.saturating_sub(BASE_RESERVED_DESCRIPTORS) / 2;
    usize::try_from(half)
        .unwrap_or(usize::MAX)
        .clamp(1, super::ops::MAX_CONNECTIONS)
}

/// Descriptors kept beside the TLS listener's connections, under the descriptor limit
/// `descriptors`: the base reservation and the operations listener's connections.
pub fn reserved_descriptors(descriptors: Option<u64>) -> u64 {
    BASE_RESERVED_DESCRIPTORS + operations_connection_limit(descriptors) as u64
}

/// The first pause after a failed `accept`, and the longest.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// The most descriptors asked for when raising the soft limit (Linux refuses more than
/// `fs.nr_open`, 1,048,576 by default).
const WANTED_DESCRIPTORS: u64 = 1 << 20;

/// Raises this process's soft `RLIMIT_NOFILE` towards its hard limit and returns the soft limit
/// now in force, or `None` where there is no such limit. A refusal (`EPERM` from a system call
/// filter that denies `prlimit64`, glibc's `setrlimit`: a container's seccomp profile, say;
/// systemd's `@system-service` allows it) is a warning: the daemon serves within the soft limit.
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(WANTED_DESCRIPTORS) {
            Ok(limit) => Some(limit),
            Err(e) => {
                let soft = rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft);
                tracing::warn!("{}", descriptor_limit_not_raised(&e, soft));
                soft
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// The warning when the soft descriptor limit, `soft` where known, could not be raised.
fn descriptor_limit_not_raised(error: &std::io::Error, soft: Option<u64>) -> String {
    let serving = match soft {
        Some(soft) => format!("serving within the soft limit of {soft} descriptors"),
        None => "serving within the soft limit".to_owned(),
    };
    format!(
        "cannot raise the open-file limit (RLIMIT_NOFILE) to its hard limit: {error}; {serving} \
         (a system call filter denying setrlimit does this: set the soft limit itself, e.g. systemd's LimitNOFILE=65536)"
    )
}

/// How many connections may be open at once: `configured`, or fewer when the descriptor limit
/// would not leave `reserved` beside them (at least one): [`reserved_descriptors`] for `serve`.
pub fn connection_limit(configured: usize, descriptors: Option<u64>, reserved: u64) -> usize {
    let Some(descriptors) = descriptors else {
        return configured;
    };
    let available = descriptors.saturating_sub(reserved).max(1);
    configured.min(usize::try_from(available).unwrap_or(usize::MAX))
}

/// The next connection of `listener`. A failing `accept` is logged and retried after a pause
/// (10 ms, doubling up to 1 s while it keeps failing).
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut pause = ACCEPT_BACKOFF.0;
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "accept failed");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// The `max_connections` slots of the TLS listener ([`Slots`]: a reload may resize them),
/// always within the process's descriptor limit.
pub struct ConnectionSlots {
    slots: Arc<Slots>,
    /// The process's descriptor limit, which bounds every limit (see [`connection_limit`]).
    descriptors: Option<u64>,
}

impl ConnectionSlots {
    /// `configured` slots, or fewer if the descriptor limit `descriptors` needs it.
    pub fn new(configured: usize, descriptors: Option<u64>) -> ConnectionSlots {
        ConnectionSlots {
            slots: Slots::new(in_descriptor_limit(configured, descriptors)),
            descriptors,
        }
    }

    /// How many connections may be open at once.
    pub fn limit(&self) -> usize {
        self.slots.limit()
    }

    /// Makes `configured` (within the descriptor limit) the limit; returns it.
    pub fn resize(&self, configured: usize) -> usize {
        let new = in_descriptor_limit(configured, self.descriptors);
        self.slots.resize(new);
        new
    }

    /// The next connection of `listener` once a slot is free; the slot is held until the
    /// returned [`Slot`] drops. See [`accept`].
    pub async fn accept(&self, listener: &TcpListener) -> (TcpStream, SocketAddr, Slot) {
        let slot = self.slots.take().await;
        let (tcp, remote) = accept(listener).await;
        // A reload may have lowered the limit while this waited for a client with its slot
        // taken: that slot is retired first, and the client waits for another.
        let slot = self.slots.renew(slot).await;
        (tcp, remote, slot)
    }
}

/// `configured`, or the most the descriptor limit allows, with a warning when that is fewer.
fn in_descriptor_limit(configured: usize, descriptors: Option<u64>) -> usize {
    let limit = connection_limit(configured, descriptors, reserved_descriptors(descriptors));
    if limit < configured {
        tracing::warn!(
            max_connections = configured,
            descriptor_limit = descriptors,
            serving_at_most = limit,
            "server.max_connections does not fit in the open-file limit; raise LimitNOFILE (ulimit -n) to serve more connections at once"
        );
    }
    limit
}

/// The client's address as IPv4 when it is an IPv4 address seen through a dual-stack IPv6
/// socket (`[::ffff:10.0.0.1]:443` → `10.0.0.1:443`): policies (`aws:SourceIp`), limits, logs
/// and audit events all see the address the client has.
fn canonical(remote: SocketAddr) -> SocketAddr {
    SocketAddr::new(remote.ip().to_canonical(), remote.port())
}

/// A TCP connection as accepted, with its slot of `max_connections` and its gauge entry.
pub struct Accepted {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub slot: Slot,
    pub open: crate::metrics::OpenConnection,
}

/// An admitted connection: its client's address, and the slots (of `max_connections` and of
/// the address's share) and gauge entry it holds while open.
pub struct Connection {
    pub tcp: TcpStream,
    pub remote: SocketAddr,
    /// What the per-address limits count the client as ([`crate::ratelimit::address_group`]).
    pub address_group: std::net::IpAddr,
    pub slots: (Slot, AddressSlot),
    pub open: crate::metrics::OpenConnection,
}

/// What decides whether a TLS connection is accepted and served: the `max_connections` slots,
/// each address's share of them, and the PROXY protocol. [`ConnectionAdmission::apply`] takes a
/// reloaded configuration.
pub struct ConnectionAdmission {
    slots: ConnectionSlots,
    per_address: PerAddress,
    /// Rebuilt when a reload changes `cache_max_entries`, the bound of its buckets.
    rate_per_address: arc_swap::ArcSwap<ConnectionRate>,
}

impl ConnectionAdmission {
    /// The admission of `server`, within the process's descriptor limit `descriptors`.
    pub fn new(server: &ServerSettings, descriptors: Option<u64>) -> ConnectionAdmission {
        let slots = ConnectionSlots::new(server.max_connections, descriptors);
        crate::metrics::set_connection_limit(slots.limit());
        ConnectionAdmission {
            slots,
            per_address: PerAddress::new(server.max_connections_per_ip),
            rate_per_address: arc_swap::ArcSwap::from_pointee(ConnectionRate::new(
                server.rate_limit_connections_per_ip,
                server.cache_max_entries,
            )),
        }
    }

    /// Applies the limits of a reloaded configuration to the connections that arrive from now
    /// on (the PROXY protocol settings are read from the configuration as each arrives).
    pub fn apply(&self, server: &ServerSettings) {
        let limit = self.slots.resize(server.max_connections);
        crate::metrics::set_connection_limit(limit);
        self.per_address.set_max(server.max_connections_per_ip);
        let rate = self.rate_per_address.load();
        if rate.max_entries() == server.cache_max_entries {
            rate.set_rate(server.rate_limit_connections_per_ip);
        } else {
            self.rate_per_address.store(std::sync::Arc::new(ConnectionRate::new(
                server.rate_limit_connections_per_ip,
                server.cache_max_entries,
            )));
        }
    }

    /// The next connection of `listener`, once a slot is free.
    pub async fn accept(&self, listener: &TcpListener) -> Accepted {
        let (tcp, peer, slot) = self.slots.accept(listener).await;
        let _ = tcp.set_nodelay(true);
        Accepted {
            tcp,
            peer,
            slot,
            open: crate::metrics::connection_opened(),
        }
    }

    /// The connection with its client's address (from the PROXY header when `server` expects
    /// one) if that address has room in its share; `None` (the connection is closed)
    /// otherwise, counted by reason.
    pub async fn admit(&self, accepted: Accepted, server: &ServerSettings) -> Option<Connection> {
        let Accepted {
            mut tcp,
            peer,
            slot,
            open,
        } = accepted;
        let remote = if server.proxy_protocol {
            if !proxy_protocol::is_trusted_balancer(&server.proxy_protocol_from, peer.ip()) {
                tracing::debug!(%peer, "refused: not a load balancer of server.proxy_protocol_from");
                crate::metrics::connection_refused("proxy-untrusted");
                return None;
            }
            let header = tokio::time::timeout(PROXY_HEADER_TIMEOUT, proxy_protocol::read_header(&mut tcp))
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
        let remote = canonical(remote);
        let address_group = crate::ratelimit::address_group(remote.ip(), server.per_ip_ipv6_prefix);
        if !self
            .rate_per_address
            .load()
            .admit(address_group, std::time::Instant::now())
        {
            tracing::debug!(%remote, "refused: rate_limit_connections_per_ip reached");
            crate::metrics::connection_refused("rate-limit");
            return None;
        }
        let Ok(address_slot) = self.per_address.take_counted(address_group) else {
            tracing::debug!(%remote, "refused: max_connections_per_ip reached");
            crate::metrics::connection_refused("per-address-limit");
            return None;
        };
        Some(Connection {
            tcp,
            remote,
            address_group,
            slots: (slot, address_slot),
            open,
        })
    }
}

/// How long the plain-HTTP listeners (operations, sidecar) wait for a request head.
const PLAIN_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/1.1 for the plain-HTTP listeners (operations, sidecar): a client that sends a request
/// head slowly, or not at all, is dropped after 10 seconds.
pub fn plain_http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(PLAIN_HEADER_TIMEOUT);
    builder
}

/// Requests in flight on one connection and when the last one ended, for the idle timeout. A
/// request is in flight from the moment hyper hands it over until its response body has been
/// sent ([`InFlightBody`]). Shared by the connection's requests and the task that serves it;
/// two uncontended atomic operations per request.
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Whether a request has been handed over yet, and its waiters.
    started: AtomicBool,
    first_request: tokio::sync::Notify,
}

impl Activity {
    pub fn new(now: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            opened: now,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            started: AtomicBool::new(false),
            first_request: tokio::sync::Notify::new(),
        })
    }

    /// Marks a request in flight until the returned guard drops.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if !self.started.load(Ordering::Acquire) && !self.started.swap(true, Ordering::AcqRel) {
            self.first_request.notify_waiters();
        }
        InFlight(self.clone())
    }

    /// Returns once the connection's first request has been handed over.
    pub async fn first_request(&self) {
        // Registered before the flag is read, so a request in between still wakes it.
        let notified = self.first_request.notified();
        if !self.started.load(Ordering::Acquire) {
            notified.await;
        }
    }

    /// Whether a request has been handed over on the connection yet.
    pub fn has_served(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Since when the connection has been idle: when its last request ended, or it opened;
    /// `None` while a request is in flight.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire)))
    }

    /// When the connection, idle at `now`, will have been idle for `timeout`: `None` if that
    /// time has come (close it) or a request is in flight (look again after `timeout`).
    pub fn idle_deadline(&self, now: Instant, timeout: Duration) -> Option<Instant> {
        let Some(idle_since) = self.idle_since() else {
            return Some(now + timeout);
        };
        let deadline = idle_since + timeout;
        (deadline > now).then_some(deadline)
    }
}

/// A request in flight on a connection (see [`Activity::request`]).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let elapsed = Instant::now().saturating_duration_since(activity.opened);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        activity.idle_since_ms.store(ms, Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it has been sent or dropped: a
/// streaming gRPC response (a health `Watch`) is in flight for as long as it streams, so the
/// idle timeout never cuts it, and it counts in its client address's share of requests in
/// progress. Such a stream, which only its client would end, is ended by the server's drain
/// ([`InFlightBody::ending_at`]).
pub struct InFlightBody<B> {
    body: B,
    _in_flight: InFlight,
    _address_slot: Option<AddressSlot>,
    /// Ready once the server drains; then the stream ends ([`drained_trailers`]).
    drain: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ended: bool,
}

impl<B> InFlightBody<B> {
    pub fn new(body: B, in_flight: InFlight, address_slot: Option<AddressSlot>) -> Self {
        Self {
            body,
            _in_flight: in_flight,
            _address_slot: address_slot,
            drain: None,
            ended: false,
        }
    }

    /// Ends the stream, once what it has ready is sent, with gRPC's UNAVAILABLE when `drain`
    /// is ready: a health `Watch` holds its connection, and the drain with it, for as long as
    /// its client keeps it open (the whole `shutdown_grace_seconds`). Its client has had the
    /// `NOT_SERVING` update; UNAVAILABLE tells it to look for another replica.
    pub fn ending_at(mut self, drain: Pin<Box<dyn Future<Output = ()> + Send>>) -> Self {
        self.drain = Some(drain);
        self
    }
}

/// The trailers of a gRPC stream the drain ends: UNAVAILABLE, a status clients retry elsewhere.
fn drained_trailers() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
    trailers.insert(
        "grpc-message",
        http::HeaderValue::from_static("rolegate%20is%20shutting%20down;%20call%20another%20replica"),
    );
    trailers
}

impl<B: http_body::Body + Unpin> http_body::Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        // What the stream has ready goes first: the NOT_SERVING update the drain follows.
        let next = Pin::new(&mut self.body).poll_frame(cx);
        if next.is_ready() {
            return next;
        }
        match self.drain.as_mut().map(|drain| drain.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => {
                self.ended = true;
                Poll::Ready(Some(Ok(http_body::Frame::trailers(drained_trailers()))))
            }
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system call filter's EPERM from setrlimit is a warning saying what is served.
    #[test]
    fn a_refused_raise_of_the_descriptor_limit_is_worded() {
        let eperm = std::io::Error::from_raw_os_error(1);
        assert_eq!(
            descriptor_limit_not_raised(&eperm, Some(1024)),
            "cannot raise the open-file limit (RLIMIT_NOFILE) to its hard limit: Operation not permitted (os error 1); \
             serving within the soft limit of 1024 descriptors (a system call filter denying setrlimit does this: set \
             the soft limit itself, e.g. systemd's LimitNOFILE=65536)"
        );
    }

    #[test]
    fn the_connection_limit_leaves_descriptors_for_the_rest() {
        let tls =
            |configured, descriptors| connection_limit(configured, descriptors, reserved_descriptors(descriptors));
        assert_eq!(tls(4096, None), 4096);
        assert_eq!(tls(4096, Some(1 << 20)), 4096);
        assert_eq!(tls(4096, Some(1024)), 1024 - 64 - 256);
        assert_eq!(tls(10, Some(1024)), 10);
        assert_eq!(tls(4096, Some(0)), 1);
        // Under a low limit the operations listener takes half of what is left, not 256.
        assert_eq!(operations_connection_limit(None), 256);
        assert_eq!(operations_connection_limit(Some(1024)), 256);
        assert_eq!(operations_connection_limit(Some(576)), 256);
        assert_eq!(operations_connection_limit(Some(320)), 128);
        assert_eq!(tls(4096, Some(320)), 128);
        assert_eq!(operations_connection_limit(Some(128)), 32);
        assert_eq!(tls(4096, Some(128)), 32);
        assert_eq!(operations_connection_limit(Some(64)), 1);
        assert_eq!(tls(4096, Some(64)), 1);
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_socket_are_seen_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:4443".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.1:4443".parse::<SocketAddr>().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:4443".parse().unwrap();
        assert_eq!(canonical(v6), v6);
        let v4: SocketAddr = "10.0.0.1:4443".parse().unwrap();
        assert_eq!(canonical(v4), v4);
    }

    #[test]
    fn every_limit_fits_in_the_descriptor_limit() {
        // 384 descriptors: 64 for the process, 160 for the operations listener, 160 left.
        let slots = ConnectionSlots::new(4096, Some(384));
        assert_eq!(slots.limit(), 160);
        assert_eq!(slots.resize(10), 10);
        assert_eq!(slots.resize(100_000), 160);
        assert_eq!(slots.limit(), 160);
    }

    #[test]
    fn a_connection_is_idle_once_its_last_request_has_ended_for_the_timeout() {
        let timeout = Duration::from_secs(60);
        let opened = Instant::now();
        let activity = Activity::new(opened);
        // Never used: idle since it opened.
        assert_eq!(activity.idle_deadline(opened, timeout), Some(opened + timeout));
        assert_eq!(activity.idle_deadline(opened + timeout, timeout), None);

        // A request in flight keeps it open however long it takes.
        let request = activity.request();
        let later = opened + Duration::from_secs(600);
        assert_eq!(activity.idle_deadline(later, timeout), Some(later + timeout));
        drop(request);
        let ended = Instant::now();
        let deadline = activity
            .idle_deadline(ended, timeout)
            .expect("idle for less than the timeout");
        assert!(deadline > ended && deadline <= ended + timeout, "{deadline:?}");
        assert_eq!(activity.idle_deadline(ended + timeout, timeout), None);

        // Two requests at once: idle only after both.
        let (first, second) = (activity.request(), activity.request());
        drop(first);
        assert!(activity.idle_deadline(later + timeout, timeout).is_some());
        drop(second);
        assert!(activity.idle_deadline(Instant::now() + timeout, timeout).is_none());
    }
}
