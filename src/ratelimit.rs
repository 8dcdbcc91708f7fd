//! Admission control for the TLS listener: token buckets per client IP address, per client
//! certificate and per access key id, a global bound on requests answered at once (taken once
//! a request has been received: see [`crate::receiving`] for those still arriving), and a
//! bound per client IP address on its share of requests in progress (so one address that opens
//! requests and never finishes them cannot hold every slot).
//!
//! A refused request is answered with the one [`ApiError`] code `Throttling`, which each edge
//! renders in its own format (REST `429 ThrottlingException`, STS `Throttling`, gRPC
//! `RESOURCE_EXHAUSTED`). Buckets live in a bounded moka cache, so a flood of distinct keys
//! cannot grow memory without bound; an evicted bucket restarts full, which only ever errs on
//! the side of admitting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use moka::sync::Cache;

use crate::config::ServerSettings;
use crate::error::{ApiError, ErrorCode};
use crate::receiving::Receivers;
use crate::slots::{Slot, Slots};

/// A token bucket's refill rate and capacity. A rate of 0 disables the limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: u32,
}

/// A rate that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("the rate must be a finite number of requests per second, 0 (disabled) or more")]
    BadRate,
    #[error("the burst must be at least 1 when the rate is not 0")]
    ZeroBurst,
}

impl Rate {
    pub fn new(per_second: f64, burst: u32) -> Result<Rate, RateError> {
        if !per_second.is_finite() || per_second < 0.0 {
            return Err(RateError::BadRate);
        }
        if per_second > 0.0 && burst == 0 {
            return Err(RateError::ZeroBurst);
        }
        Ok(Rate { per_second, burst })
    }

    /// Whether this rate limits anything.
    pub fn is_enabled(&self) -> bool {
        self.per_second > 0.0
    }
}

/// "{rate}/s, burst {burst}", or "off" (a rate of 0), as reload records show it.
impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.is_enabled() {
            true => write!(f, "{}/s, burst {}", self.per_second, self.burst),
            false => f.write_str("off"),
        }
    }
}

/// What the per-address limits count a client address as: an IPv4 address itself, an IPv6
/// address by its first `ipv6_prefix` bits (the rest zeroed). A host is routinely given a
/// whole IPv6 /64 and may pick any address in it, so counting full IPv6 addresses would give
/// it a fresh share for each of 2^64 addresses. `ip` is in canonical form (an IPv4 client of
/// a dual-stack socket is IPv4 here); a prefix of 128 or more keeps the full address.
pub fn address_group(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let kept = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - kept).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Who a per-client bucket belongs to.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum ClientKey {
    Ip(IpAddr),
    /// A client certificate, by the SHA-256 of its DER.
    Certificate([u8; 32]),
    /// An STS access key id (`ASIA…`).
    AccessKey(String),
}

/// The limits in force. A reload changes them in place ([`Limiter::apply`]): buckets keep
/// their tokens and requests in progress keep their slots, so a reload neither refills every
/// bucket nor lets an address hold its share twice over.
pub struct Limiter {
    per_ip: Buckets,
    per_client: Buckets,
    /// Requests being answered (received whole, not yet answered).
    concurrency: Arc<Slots>,
    /// Requests whose body is still arriving: as many places as `concurrency` has slots.
    receivers: Arc<Receivers>,
    /// Requests in progress per client address.
    in_progress_per_ip: PerAddress,
    /// The bound of the caches above, which a moka cache cannot change.
    cache_max_entries: u64,
}

/// A request being answered: one slot of `max_concurrent_requests`, counted in
/// `rolegate_requests_answering`, until dropped.
pub struct Answering {
    _slot: Slot,
    _counted: crate::metrics::RequestInGauge,
}

/// A request admitted on arrival: it holds one slot of its address's share of requests in
/// progress, from its arrival until its answer has been sent (a streaming answer, a gRPC
/// `Watch`, stays in progress for as long as it streams). It has yet to be given a slot of
/// the global limit ([`Limiter::answering`]) once it has been received.
pub struct Admission {
    pub address_slot: Option<AddressSlot>,
}

/// A bound on what each client address holds at once (requests in progress, connections):
/// a count per address that holds anything, removed when it falls to 0 — never by time or
/// size, so an address holding slots (long-lived streams, idle connections) cannot have its
/// count forgotten and take a whole new share. The map holds at most one entry per slot
/// held, and slots are bounded by the global limits.
pub struct PerAddress {
    counts: Arc<AddressCounts>,
    /// 0: no bound. A reload may change it ([`PerAddress::set_max`]).
    max: AtomicUsize,
}

/// The counts, in shards locked one at a time for a few instructions.
struct AddressCounts([Mutex<HashMap<IpAddr, usize>>; ADDRESS_SHARDS]);

const ADDRESS_SHARDS: usize = 16;

impl AddressCounts {
    fn shard(&self, ip: IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        let folded = match ip {
            IpAddr::V4(v4) => v4.octets().iter().fold(0u8, |a, b| a ^ b),
            IpAddr::V6(v6) => v6.octets().iter().fold(0u8, |a, b| a ^ b),
        };
        // A count is updated whole under the lock: a poisoned shard holds consistent counts.
        self.0[usize::from(folded) % ADDRESS_SHARDS]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PerAddress {
    pub fn new(max: usize) -> PerAddress {
        PerAddress {
            counts: Arc::new(AddressCounts(std::array::from_fn(|_| Mutex::default()))),
            max: AtomicUsize::new(max),
        }
    }

    /// The most one address may hold; 0 for no bound.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Changes the bound, keeping the counts: an address already above a lowered bound takes
    /// no new slot until it is below it. [`PerAddress::take`] counts nothing while there is no
    /// bound; [`PerAddress::take_counted`] does.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// One slot of `ip`'s share, held until the returned slot drops (`Ok(None)` when there is
    /// no bound).
    pub fn take(&self, ip: IpAddr) -> Result<Option<AddressSlot>, ShareTaken> {
        if self.max() == 0 {
            return Ok(None);
        }
        self.take_counted(ip).map(Some)
    }

    /// Like [`PerAddress::take`], but counted even while there is no bound, so that a bound a
    /// reload sets later sees what each address already holds (for connections, which are
    /// few and long next to requests).
    pub fn take_counted(&self, ip: IpAddr) -> Result<AddressSlot, ShareTaken> {
        let max = match self.max() {
            0 => usize::MAX,
            max => max,
        };
        let mut shard = self.counts.shard(ip);
        let held = shard.entry(ip).or_insert(0);
        if *held >= max {
            return Err(ShareTaken);
        }
        *held += 1;
        Ok(AddressSlot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// What `ip` holds now.
    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        self.counts.shard(ip).get(&ip).copied().unwrap_or(0)
    }
}

/// The address already holds all of its share.
#[derive(Debug, PartialEq, Eq)]
pub struct ShareTaken;

/// One slot of a client address's share (see [`PerAddress`]).
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut shard = self.counts.shard(self.ip);
        if let Some(held) = shard.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                shard.remove(&self.ip);
            }
        }
    }
}

impl Limiter {
    pub fn new(server: &ServerSettings) -> Limiter {
        let entries = server.cache_max_entries;
        Limiter {
            per_ip: Buckets::new(server.rate_limit_per_ip, entries),
            per_client: Buckets::new(server.rate_limit_per_client, entries),
            concurrency: Slots::new(server.max_concurrent_requests),
            receivers: Receivers::new(server.max_concurrent_requests),
            in_progress_per_ip: PerAddress::new(server.max_concurrent_requests_per_ip),
            cache_max_entries: entries,
        }
    }

    /// A new limiter for `server`, whose cache bound [`Limiter::apply`] could not change: its
    /// buckets and counts start afresh, but the requests still arriving keep their places
    /// (newcomers can still cut them, and they count against the one bound).
    pub fn rebuilt(&self, server: &ServerSettings) -> Limiter {
        let limiter = Limiter::new(server);
        self.receivers.set_limit(server.max_concurrent_requests);
        Limiter {
            receivers: self.receivers.clone(),
            ..limiter
        }
    }

    /// Applies the limits of a reloaded configuration in place. `false` when it cannot: the
    /// cache bound changed, and the caller builds a new limiter (whose counts start at 0).
    #[must_use]
    pub fn apply(&self, server: &ServerSettings) -> bool {
        if server.cache_max_entries != self.cache_max_entries {
            return false;
        }
        self.per_ip.set_rate(server.rate_limit_per_ip);
        self.per_client.set_rate(server.rate_limit_per_client);
        self.concurrency.resize(server.max_concurrent_requests);
        self.receivers.set_limit(server.max_concurrent_requests);
        self.in_progress_per_ip.set_max(server.max_concurrent_requests_per_ip);
        true
    }

    /// Admits one request from `ip` (an [`address_group`]) on its arrival at `now`: takes a
    /// token from the IP's bucket and a slot of the IP's share (released when the
    /// [`Admission`]'s slot is dropped).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<Admission, ApiError> {
        self.charge_address(ip, now)?;
        let address_slot = self.in_progress_per_ip.take(ip).map_err(|ShareTaken| {
            ApiError::new(
                ErrorCode::Throttling,
                "concurrency-limit-per-ip",
                format!(
                    "Rate exceeded: this client address already has {} requests in progress; retry with backoff.",
                    self.in_progress_per_ip.max()
                ),
            )
        })?;
        Ok(Admission { address_slot })
    }

    /// Takes a token from the bucket of `ip` (an [`address_group`]) at `now`, for a request
    /// that comes as one more message of a stream already admitted (server reflection).
    pub fn charge_address(&self, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        let key = ClientKey::Ip(ip);
        self.per_ip.take(&key, now).map_err(|empty| rate_exceeded(&key, empty))
    }

    /// The places of requests whose body is still arriving ([`crate::receiving::receive`]).
    pub fn receivers(&self) -> &Arc<Receivers> {
        &self.receivers
    }

    /// A slot of the global limit for a request received whole, to be held until its answer
    /// is ready; refused when `max_concurrent_requests` are being answered.
    pub fn answering(&self) -> Result<Answering, ApiError> {
        let slot = self.concurrency.try_take().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Throttling,
                "concurrency-limit",
                format!(
                    "Rate exceeded: the server is already answering {} requests; retry with backoff.",
                    self.concurrency.limit()
                ),
            )
        })?;
        Ok(Answering {
            _slot: slot,
            _counted: crate::metrics::request_answering(),
        })
    }

    /// Takes a token from the bucket of one client (certificate or access key) at `now`: for
    /// a client whose key the connection already proved (gRPC's mTLS handshake). A request
    /// that proves it by its own signature goes through [`ClientLimit`].
    pub fn check_client(&self, key: ClientKey, now: Instant) -> Result<(), ApiError> {
        self.per_client
            .take(&key, now)
            .map_err(|empty| rate_exceeded(&key, empty))
    }
}

/// The per-client rate limit of one request that names its client (a certificate in
/// `X-Amz-X509`, an access key id in its SigV4 credential) before proving it: checked before
/// the signature is verified, so an empty bucket refuses at once without any cryptography,
/// and charged only once the signature proved the claim. A request anyone can forge — the
/// certificate is public, the access key id is in every log — must not spend its holder's
/// tokens, or whoever saw a certificate could throttle the workload that owns it.
pub struct ClientLimit<'a> {
    limiter: Option<&'a Limiter>,
    /// The client the request names, as read before its signature is checked.
    claimed: Option<ClientKey>,
    at: Instant,
}

impl<'a> ClientLimit<'a> {
    /// The limit at `at` of the client the request names (`None`: it names none readably).
    pub fn new(limiter: &'a Limiter, claimed: Option<ClientKey>, at: Instant) -> ClientLimit<'a> {
        ClientLimit {
            limiter: Some(limiter),
            claimed,
            at,
        }
    }

    /// No per-client limit: the handlers called in process (benchmarks).
    pub fn unlimited() -> ClientLimit<'static> {
        ClientLimit {
            limiter: None,
            claimed: None,
            at: Instant::now(),
        }
    }

    /// Refuses when the claimed client's bucket holds no token, taking none.
    pub fn check(&self) -> Result<(), ApiError> {
        match (self.limiter, &self.claimed) {
            (Some(limiter), Some(key)) => limiter.per_client.peek(key, self.at).map_err(|empty| {
                // Before authentication anyone may name the key (a certificate is public): the
                // holder's bucket is told in whole seconds only, not the timing of its calls.
                let refused = rate_exceeded(key, empty);
                match refused.retry_after {
                    Some(wait) => refused.with_retry_after(whole_seconds_up(wait)),
                    None => refused,
                }
            }),
            _ => Ok(()),
        }
    }

    /// Takes a token from the bucket of `proven`, the client the signature proved: the key
    /// the verified request is bound to, not what was read of it before (a header the
    /// parser reads more leniently than [`ClientLimit::check`]'s reader must not escape the
    /// charge).
    pub fn charge(&self, proven: ClientKey) -> Result<(), ApiError> {
        match self.limiter {
            Some(limiter) => limiter
                .per_client
                .take(&proven, self.at)
                .map_err(|empty| rate_exceeded(&proven, empty)),
            None => Ok(()),
        }
    }
}

/// New connections per client address (`rate_limit_connections_per_ip`): each costs a TLS
/// handshake, however few requests it carries. A reload changes the rate in place.
pub struct ConnectionRate {
    buckets: Buckets,
    /// The bound of `buckets`, which a moka cache cannot change.
    max_entries: u64,
}

impl ConnectionRate {
    pub fn new(rate: Rate, max_entries: u64) -> ConnectionRate {
        ConnectionRate {
            buckets: Buckets::new(rate, max_entries),
            max_entries,
        }
    }

    /// The bound of its buckets (`cache_max_entries` when it was built).
    pub fn max_entries(&self) -> u64 {
        self.max_entries
    }

    pub fn set_rate(&self, rate: Rate) {
        self.buckets.set_rate(rate);
    }

    /// Whether `ip` may open one more connection at `now`.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        self.buckets.take(&ClientKey::Ip(ip), now).is_ok()
    }
}

/// Refills `tokens` (capped at `burst`) for the time elapsed since `last`, then takes one if
/// available. The classic token bucket: a sustained `per_second` rate with bursts of `burst`.
fn refill_and_take(tokens: f64, elapsed: Duration, rate: Rate) -> (f64, bool) {
    let refilled = refill(tokens, elapsed, rate);
    if refilled >= 1.0 {
        (refilled - 1.0, true)
    } else {
        (refilled, false)
    }
}

/// `tokens` after `elapsed` at `rate`, capped at its burst.
fn refill(tokens: f64, elapsed: Duration, rate: Rate) -> f64 {
    (tokens + elapsed.as_secs_f64() * rate.per_second).min(f64::from(rate.burst))
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct Buckets {
    /// Swapped whole by a reload, so a request never pairs one rate's refill with another's
    /// burst.
    rate: ArcSwap<Rate>,
    buckets: Cache<ClientKey, Arc<Mutex<Bucket>>>,
}

impl Buckets {
    fn new(rate: Rate, max_entries: u64) -> Buckets {
        Buckets {
            rate: ArcSwap::from_pointee(rate),
            buckets: Cache::builder()
                .max_capacity(max_entries)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// Changes the rate; each bucket keeps its tokens (capped at the new burst when it is next
    /// refilled).
    fn set_rate(&self, rate: Rate) {
        self.rate.store(Arc::new(rate));
    }

    /// Takes a token from `key`'s bucket at `now`; `Err` with the rate in force, and when the
    /// bucket will hold a token, when it is empty. Building the caller's error is left to the
    /// caller: a refused connection needs none.
    fn take(&self, key: &ClientKey, now: Instant) -> Result<(), Empty> {
        let rate = **self.rate.load();
        if !rate.is_enabled() {
            return Ok(());
        }
        let burst = f64::from(rate.burst);
        let bucket = self.buckets.get_with_by_ref(key, || {
            Arc::new(Mutex::new(Bucket {
                tokens: burst,
                last: now,
            }))
        });
        let left = match bucket.lock() {
            Ok(mut b) => {
                let (tokens, admitted) = refill_and_take(b.tokens, now.saturating_duration_since(b.last), rate);
                b.tokens = tokens;
                b.last = b.last.max(now);
                (!admitted).then_some(tokens)
            }
            // A poisoned bucket means a panic elsewhere while holding it; admit rather than lock out.
            Err(_) => None,
        };
        match left {
            None => Ok(()),
            Some(tokens) => Err(Empty::of(rate, tokens)),
        }
    }

    /// Whether `key`'s bucket holds a token at `now`, without taking it. A key without a
    /// bucket has a full one, and gets none here: only [`Buckets::take`] creates buckets.
    fn peek(&self, key: &ClientKey, now: Instant) -> Result<(), Empty> {
        let rate = **self.rate.load();
        if !rate.is_enabled() {
            return Ok(());
        }
        let Some(bucket) = self.buckets.get(key) else {
            return Ok(());
        };
        let tokens = match bucket.lock() {
            Ok(b) => refill(b.tokens, now.saturating_duration_since(b.last), rate),
            Err(_) => return Ok(()),
        };
        match tokens >= 1.0 {
            true => Ok(()),
            false => Err(Empty::of(rate, tokens)),
        }
    }
}

/// An empty bucket: the rate in force, and how long until it holds a token.
#[derive(Clone, Copy, Debug)]
struct Empty {
    rate: Rate,
    next_token_in: Duration,
}

impl Empty {
    /// The bucket of `rate` holding `tokens` (fewer than one).
    fn of(rate: Rate, tokens: f64) -> Empty {
        Empty {
            rate,
            next_token_in: next_token_in(tokens, rate),
        }
    }
}

/// `wait` rounded up to whole seconds.
pub fn whole_seconds_up(wait: Duration) -> Duration {
    Duration::from_secs(wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0)))
}

/// The longest retry delay a refusal names: a rate so low that its bucket refills in more than
/// a day is a bucket that is practically shut.
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(86_400);

/// How long a bucket of `rate` holding `tokens` takes to hold one: `(1 - tokens) / rate`,
/// rounded up to a millisecond (a retry a little late is admitted; one early is not), at most
/// [`LONGEST_RETRY_DELAY`]. Zero for a bucket already holding one, or a rate that refills
/// nothing.
fn next_token_in(tokens: f64, rate: Rate) -> Duration {
    if !rate.is_enabled() {
        return Duration::ZERO;
    }
    let seconds = (1.0 - tokens) / rate.per_second;
    match Duration::try_from_secs_f64(seconds) {
        Ok(wait) => Duration::from_millis(u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
            .min(LONGEST_RETRY_DELAY),
        // Beyond what a Duration holds (a rate of 1e-20/s).
        Err(_) if seconds > 0.0 => LONGEST_RETRY_DELAY,
        Err(_) => Duration::ZERO,
    }
}

/// The throttling error of a request whose bucket (`key`'s) is empty.
fn rate_exceeded(key: &ClientKey, empty: Empty) -> ApiError {
    let Empty { rate, next_token_in } = empty;
    let who = match key {
        ClientKey::Ip(_) => "client address",
        ClientKey::Certificate(_) => "client certificate",
        ClientKey::AccessKey(_) => "access key",
    };
    ApiError::new(
        ErrorCode::Throttling,
        "rate-limit",
        format!(
            "Rate exceeded for this {who} (limit {}/s, bursts of up to {}); retry with backoff.",
            rate.per_second, rate.burst
        ),
    )
    .with_retry_after(next_token_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64, burst: u32) -> Rate {
        Rate::new(per_second, burst).unwrap()
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_prefix() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let cases = [
            ("203.0.113.7", 64, "203.0.113.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 56, "2001:db8:1::"),
            ("2001:db8:1:2ff:aaaa:bbbb:cccc:dddd", 60, "2001:db8:1:2f0::"),
            (
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
                128,
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
            ),
            (
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
                200,
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
            ),
            ("2001:db8::1", 0, "::"),
        ];
        for (address, prefix, group) in cases {
            assert_eq!(address_group(ip(address), prefix), ip(group), "{address}/{prefix}");
        }
    }

    #[test]
    fn rate_validation() {
        assert_eq!(Rate::new(-1.0, 1), Err(RateError::BadRate));
        assert_eq!(Rate::new(f64::NAN, 1), Err(RateError::BadRate));
        assert_eq!(Rate::new(1.0, 0), Err(RateError::ZeroBurst));
        assert!(!Rate::new(0.0, 0).unwrap().is_enabled());
        assert!(rate(0.5, 1).is_enabled());
    }

    #[test]
    fn an_empty_bucket_says_when_it_holds_a_token() {
        for (tokens, per_second, want_ms) in [
            (0.0, 1.0, 1000),
            (0.5, 2.0, 250),
            (0.999_999, 1.0, 1),
            (0.0, 3.0, 334),
            (0.0, 0.001, 1_000_000),
            (1.0, 1.0, 0),
        ] {
            assert_eq!(
                next_token_in(tokens, rate(per_second, 1)),
                Duration::from_millis(want_ms),
                "{tokens} at {per_second}/s"
            );
        }
        assert_eq!(
            next_token_in(0.0, rate(0.0, 1)),
            Duration::ZERO,
            "a rate that refills nothing"
        );
        assert_eq!(
            next_token_in(0.0, rate(1e-20, 1)),
            LONGEST_RETRY_DELAY,
            "beyond a Duration"
        );
        assert_eq!(next_token_in(0.0, rate(1e-6, 1)), LONGEST_RETRY_DELAY, "beyond a day");
        let e = rate_exceeded(
            &ClientKey::Ip(IpAddr::from([127, 0, 0, 1])),
            Empty::of(rate(2.0, 1), 0.5),
        );
        assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
    }

    #[test]
    fn refill_table() {
        let cases = [
            // tokens, elapsed ms, rate, burst, expected tokens, admitted
            (2.0, 0, 1.0, 2, 1.0, true),
            (0.0, 0, 1.0, 2, 0.0, false),
            (0.0, 500, 1.0, 2, 0.5, false),
            (0.0, 1000, 1.0, 2, 0.0, true),
            (1.0, 60_000, 1.0, 2, 1.0, true),
            (0.5, 250, 2.0, 5, 0.0, true),
        ];
        for (tokens, ms, per_second, burst, want_tokens, want_admitted) in cases {
            let (got, admitted) = refill_and_take(tokens, Duration::from_millis(ms), rate(per_second, burst));
            assert_eq!(
                (got, admitted),
                (want_tokens, want_admitted),
                "{tokens} {ms} {per_second} {burst}"
            );
        }
    }

    #[test]
    fn buckets_are_per_key_and_refill() {
        let b = Buckets::new(rate(1.0, 2), 100);
        let t0 = Instant::now();
        let ip = |n| ClientKey::Ip(IpAddr::from([127, 0, 0, n]));
        assert!(b.take(&ip(1), t0).is_ok());
        assert!(b.take(&ip(1), t0).is_ok());
        let e = b.take(&ip(1), t0).map_err(|r| rate_exceeded(&ip(1), r)).unwrap_err();
        assert_eq!((e.code, e.reason), (ErrorCode::Throttling, "rate-limit"));
        assert!(e.message.contains("client address"), "{}", e.message);
        assert!(b.take(&ip(2), t0).is_ok(), "another address has its own bucket");
        assert!(
            b.take(&ip(1), t0 + Duration::from_secs(1)).is_ok(),
            "one token back after a second"
        );
        assert!(b.take(&ip(1), t0 + Duration::from_secs(1)).is_err());
    }

    /// What [`ClientLimit::check`] relies on: a peek takes nothing and creates no bucket, so
    /// only requests that go on to [`ClientLimit::charge`] spend a client's tokens.
    #[test]
    fn a_peek_takes_no_token_and_creates_no_bucket() {
        let b = Buckets::new(rate(1.0, 2), 100);
        let t0 = Instant::now();
        let victim = ClientKey::AccessKey("ASIAVICTIM".into());
        for _ in 0..1000 {
            assert!(b.peek(&victim, t0).is_ok(), "forged requests only ever peek");
        }
        b.buckets.run_pending_tasks();
        assert_eq!(b.buckets.entry_count(), 0, "peeking creates no bucket");
        assert!(b.take(&victim, t0).is_ok());
        assert!(b.peek(&victim, t0).is_ok(), "one token left");
        assert!(b.take(&victim, t0).is_ok());
        assert_eq!(
            b.peek(&victim, t0).map_err(|e| e.rate),
            Err(rate(1.0, 2)),
            "empty: refused before any work"
        );
        assert!(b.peek(&victim, t0 + Duration::from_secs(1)).is_ok(), "refilled");
        assert!(b.take(&victim, t0 + Duration::from_secs(1)).is_ok());
        assert!(b.take(&victim, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn per_address_shares_are_per_address_and_0_is_unbounded() {
        let shares = PerAddress::new(1);
        let a = IpAddr::from([10, 0, 0, 1]);
        let held = shares.take(a).unwrap();
        assert!(held.is_some());
        assert!(shares.take(a).is_err());
        assert!(shares.take(IpAddr::from([10, 0, 0, 2])).unwrap().is_some());
        drop(held);
        assert!(shares.take(a).unwrap().is_some());
        let unbounded = PerAddress::new(0);
        for _ in 0..1000 {
            assert!(unbounded.take(a).unwrap().is_none());
        }
    }

    #[test]
    fn a_changed_share_keeps_what_each_address_holds() {
        let shares = PerAddress::new(3);
        let a = IpAddr::from([10, 0, 0, 1]);
        let held: Vec<_> = (0..3).map(|_| shares.take(a).unwrap()).collect();
        // Lowered below what the address holds: no new slot until it is below the new bound.
        shares.set_max(2);
        assert_eq!(shares.max(), 2);
        assert!(shares.take(a).is_err());
        let mut held = held.into_iter();
        drop(held.next());
        assert!(shares.take(a).is_err(), "still holds 2 of 2");
        drop(held.next());
        let again = shares.take(a).unwrap();
        assert!(again.is_some(), "holds 1 of 2");
        // Raised: room at once.
        shares.set_max(5);
        assert!(shares.take(a).unwrap().is_some());
        // No bound: nothing counted or refused.
        shares.set_max(0);
        assert!(shares.take(a).unwrap().is_none());
    }

    #[test]
    fn counted_slots_meet_a_bound_set_later() {
        let shares = PerAddress::new(0);
        let a = IpAddr::from([10, 0, 0, 1]);
        let held: Vec<_> = (0..3).map(|_| shares.take_counted(a).unwrap()).collect();
        shares.set_max(2);
        assert_eq!(shares.take_counted(a).err(), Some(ShareTaken), "3 held, bound 2");
        drop(held);
        let _one = shares.take_counted(a).unwrap();
        let _two = shares.take_counted(a).unwrap();
        assert_eq!(shares.take_counted(a).err(), Some(ShareTaken));
    }

    #[test]
    fn an_address_takes_at_most_its_share_of_slots_and_its_count_lives_while_it_holds_one() {
        let shares = PerAddress::new(2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let first = shares.take_counted(a).expect("first");
        let second = shares.take_counted(a).expect("second");
        assert_eq!(shares.take_counted(a).err(), Some(ShareTaken));
        assert_eq!(shares.held(a), 2, "a refused request takes nothing");
        drop(first);
        let third = shares.take_counted(a).expect("a slot freed");
        drop((second, third));
        assert_eq!(shares.held(a), 0);
        assert!(
            shares.counts.shard(a).is_empty(),
            "an address that holds nothing has no entry"
        );
        // Addresses of one shard count apart (10.0.0.1 and 10.0.1.0 fold alike).
        let b = IpAddr::from([10, 0, 1, 0]);
        let (_a, _b) = (shares.take_counted(a).unwrap(), shares.take_counted(b).unwrap());
        assert_eq!((shares.held(a), shares.held(b)), (1, 1));
    }

    #[test]
    fn disabled_rate_admits_everything() {
        let b = Buckets::new(rate(0.0, 0), 100);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(b.take(&ClientKey::AccessKey("ASIAX".into()), t0).is_ok());
        }
    }
}
