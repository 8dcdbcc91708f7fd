//! Prometheus metrics (prometheus-client, OpenMetrics text): request counts and latencies per
//! API, operation and outcome; sessions issued per role; configuration reloads per outcome; and,
//! read at scrape time, cache hit/miss counters and sizes, trust anchor, CRL and server
//! certificate expiry, and process CPU/memory.
//!
//! Exposition names (the encoder appends `_total` to counters):
//! `rolegate_requests_total{api,operation,outcome}`, `rolegate_request_duration_seconds`,
//! `rolegate_refusals_total{api,operation,reason}`,
//! `rolegate_sessions_issued_total{role}`, `rolegate_cache_hits_total{cache}`,
//! `rolegate_cache_misses_total{cache}`, `rolegate_cache_entries{cache}`,
//! `rolegate_cache_max_entries`, `rolegate_trust_anchor_expiry_timestamp_seconds{anchor}`,
//! `rolegate_trust_anchor_unrenewed_expiry_timestamp_seconds{anchor}`,
//! `rolegate_trust_anchor_crl_next_update_timestamp_seconds{anchor}`,
//! `rolegate_trust_anchor_refuses_stale_crls{anchor}`,
//! `rolegate_server_certificate_expiry_timestamp_seconds`, `rolegate_build_info{version}`,
//! `rolegate_config_reloads_total{outcome}`, `rolegate_config_last_reload_successful`,
//! `rolegate_config_loaded_timestamp_seconds`, `rolegate_config_restart_pending`,
//! `rolegate_connections_open`, `rolegate_requests_answering`, `rolegate_requests_receiving`,
//! `rolegate_connections_limit`, `rolegate_connections_refused_total{reason}`,
//! `rolegate_tls_handshake_failures_total{reason}`,
//! `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds` (the names Prometheus client libraries give
//! them).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::State;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

/// The earliest notAfter among the CA names of `certificates`, each name counted by its latest
/// certificate: the old certificate of a CA renewed or re-keyed under its name (a rollover)
/// does not count, while every CA of a chain (a root and its issuing CA) does.
fn unrenewed_expiry_of(certificates: &[crate::identity::AnchorCertificate]) -> Option<i64> {
    let mut latest: std::collections::HashMap<&[u8], i64> = std::collections::HashMap::new();
    for c in certificates {
        let e = latest.entry(c.subject_der.as_slice()).or_insert(c.not_after);
        *e = (*e).max(c.not_after);
    }
    latest.into_values().min()
}

/// Counts one answered request and its latency.
pub fn record_request(labels: RequestLabels, seconds: f64) {
    let m = metrics();
    m.requests.get_or_create(&labels).inc();
    m.duration.get_or_create(&labels).observe(seconds);
}

/// The labels of a refused request: the audit event's `reason` (`trust-policy`,
/// `untrusted-certificate`, `bad-signature`…), one of the reasons written in the code, so the
/// label set is bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    api: &'static str,
    operation: &'static str,
    reason: &'static str,
}

/// Counts one refused or failed request by why: what `outcome` (the error code the client
/// reads) does not tell apart, such as a trust policy's denial and an untrusted certificate,
/// both `AccessDenied`.
pub fn record_refusal(api: &'static str, operation: &'static str, reason: &'static str) {
    metrics()
        .refusals
        .get_or_create(&RefusalLabels { api, operation, reason })
        .inc();
}

/// Counts one session minted for `role` (a configured role ARN, so the label set is bounded:
/// a reload that removes a role drops its series, [`forget_roles`]). Credentials reused within
/// `credential_reuse_seconds` are not a new session.
pub fn record_session(role: &str) {
    metrics()
        .sessions
        .get_or_create(&RoleLabels { role: role.to_owned() })
        .inc();
}

/// Drops the `rolegate_sessions_issued_total` series of `roles` (roles a reload removed), so
/// that configurations renaming roles over time do not grow the exposition without bound. A
/// request still in flight on the old configuration may count one more session and bring a
/// series back until the next reload that removes it.
pub fn forget_roles<'a>(roles: impl IntoIterator<Item = &'a str>) {
    let sessions = &metrics().sessions;
    for role in roles {
        sessions.remove(&RoleLabels { role: role.to_owned() });
    }
}

/// Counts one configuration reload attempt.
pub fn record_reload(succeeded: bool) {
    let m = metrics();
    let counter = if succeeded {
        &m.reloads_succeeded
    } else {
        &m.reloads_failed
    };
    // Pairs with the acquire fence in `render` (the counter itself is a relaxed atomic).
    fence(Ordering::Release);
    counter.inc();
}

/// Counts bytes of log lines that stderr refused (a full disk, a closed pipe): lost lines of
/// the audit trail.
pub fn record_lost_log_bytes(bytes: usize) {
    let m = metrics();
    m.log_write_failures.inc();
    m.log_bytes_lost.inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
}

/// Counts a TLS connection open until the returned guard drops.
pub fn connection_opened() -> OpenConnection {
    metrics().connections_open.inc();
    OpenConnection(())
}

/// Counts a request in `rolegate_requests_answering` until the guard is dropped.
pub fn request_answering() -> RequestInGauge {
    metrics().requests_answering.inc();
    RequestInGauge(&metrics().requests_answering)
}

/// Counts a request in `rolegate_requests_receiving` until the guard is dropped.
pub fn request_receiving() -> RequestInGauge {
    metrics().requests_receiving.inc();
    RequestInGauge(&metrics().requests_receiving)
}

/// One request in a gauge of requests, taken out when dropped.
pub struct RequestInGauge(&'static Gauge);

impl Drop for RequestInGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One open TLS connection in `rolegate_connections_open`.
pub struct OpenConnection(());

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics().connections_open.dec();
    }
}

/// Counts a TLS connection closed before its handshake: `reason` is `rate-limit` (its address
/// opened more than `rate_limit_connections_per_ip` allows), `per-address-limit` (its address
/// held `max_connections_per_ip`), `proxy-header` (no valid PROXY protocol header) or
/// `proxy-untrusted` (not from a balancer of `proxy_protocol_from`).
pub fn connection_refused(reason: &'static str) {
    debug_assert!(CONNECTION_REFUSAL_REASONS.contains(&reason), "{reason}");
    metrics()
        .connections_refused
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Counts a TLS handshake that failed: `reason` is one of [`HANDSHAKE_FAILURE_REASONS`]
/// (see `server::handshake_failure_reason`).
pub fn handshake_failed(reason: &'static str) {
    debug_assert!(HANDSHAKE_FAILURE_REASONS.contains(&reason), "{reason}");
    metrics()
        .handshake_failures
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Records how many TLS connections may be open at once.
pub fn set_connection_limit(limit: usize) {
    metrics()
        .connections_limit
        .set(i64::try_from(limit).unwrap_or(i64::MAX));
}

/// The OpenMetrics text of every metric.
pub fn render(state: &State) -> String {
    let m = metrics();
    // Read before the state: a reload counts itself after its configuration is in force, so a
    // scrape that counts a reload also shows what that reload loaded.
    let reloads: Family<OutcomeLabels, Counter> = Family::default();
    for (outcome, counter) in [("success", &m.reloads_succeeded), ("failure", &m.reloads_failed)] {
        reloads.get_or_create(&OutcomeLabels { outcome }).inc_by(counter.get());
    }
    fence(Ordering::Acquire);
    let mut registry = Registry::default();
    registry.register(
        "rolegate_build_info",
        "1, labelled with the version of the rolegate binary that runs",
        build_info(),
    );
    registry.register(
        "rolegate_requests",
        "Requests answered, by API, operation and outcome",
        m.requests.clone(),
    );
    registry.register(
        "rolegate_refusals",
        "Requests refused or failed, by API, operation and the reason their audit event gives",
        m.refusals.clone(),
    );
    registry.register(
        "rolegate_request_duration_seconds",
        "Time to answer a request",
        m.duration.clone(),
    );
    registry.register(
        "rolegate_sessions_issued",
        "Sessions issued, by role",
        m.sessions.clone(),
    );
    registry.register("rolegate_config_reloads", "Configuration reloads, by outcome", reloads);
    registry.register(
        "rolegate_log_write_failures",
        "Writes of a batch of log lines (the audit trail included) that stderr refused",
        m.log_write_failures.clone(),
    );
    registry.register(
        "rolegate_log_bytes_lost",
        "Bytes of log lines (the audit trail included) lost because stderr refused them",
        m.log_bytes_lost.clone(),
    );
    registry.register(
        "rolegate_connections_open",
        "TLS connections open",
        m.connections_open.clone(),
    );
    registry.register(
        "rolegate_requests_answering",
        "Requests received and being answered (at most server.max_concurrent_requests)",
        m.requests_answering.clone(),
    );
    registry.register(
        "rolegate_requests_receiving",
        "Requests whose body is still arriving (at most server.max_concurrent_requests; the longest waiting is cut for a new one)",
        m.requests_receiving.clone(),
    );
    registry.register(
        "rolegate_connections_limit",
        "TLS connections that may be open at once (server.max_connections, within the descriptor limit)",
        m.connections_limit.clone(),
    );
    registry.register(
        "rolegate_connections_refused",
        "TLS connections closed before their handshake, by reason (rate-limit, per-address-limit, proxy-header, proxy-untrusted)",
        m.connections_refused.clone(),
    );
    registry.register(
        "rolegate_tls_handshake_failures",
        "TLS handshakes that failed, by reason (client-certificate: the client's certificate or its proof of the key refused; server-certificate: the client refused the server's; protocol: no common version, cipher suite or ALPN protocol, or a malformed handshake; timeout; closed: the client went away)",
        m.handshake_failures.clone(),
    );
    let reload = state.reload_status();
    let successful: Gauge = Gauge::default();
    successful.set(i64::from(reload.last_error.is_none()));
    registry.register(
        "rolegate_config_last_reload_successful",
        "1 when the last reload succeeded (or none was tried since start), 0 after a failed one: the configuration on disk is not in force",
        successful,
    );
    let restart: Gauge = Gauge::default();
    restart.set(i64::from(state.restart_pending()));
    registry.register(
        "rolegate_config_restart_pending",
        "1 when the configuration in force names listen addresses other than those the daemon started with: only a restart applies them",
        restart,
    );
    let loaded: Gauge = Gauge::default();
    loaded.set(reload.loaded_unix);
    registry.register(
        "rolegate_config_loaded_timestamp_seconds",
        "When the configuration in force was loaded (start or last successful reload), Unix seconds",
        loaded,
    );
    let hits: Family<CacheLabels, Counter> = Family::default();
    let misses: Family<CacheLabels, Counter> = Family::default();
    let entries: Family<CacheLabels, Gauge> = Family::default();
    for s in state.broker.caches().stats() {
        hits.get_or_create(&CacheLabels { cache: s.name }).inc_by(s.hits);
        misses.get_or_create(&CacheLabels { cache: s.name }).inc_by(s.misses);
        entries
            .get_or_create(&CacheLabels { cache: s.name })
            .set(i64::try_from(s.entries).unwrap_or(i64::MAX));
    }
    registry.register("rolegate_cache_hits", "Cache hits, by cache", hits);
    registry.register("rolegate_cache_misses", "Cache misses, by cache", misses);
    registry.register(
        "rolegate_cache_entries",
        "Entries held, by cache (each at most rolegate_cache_max_entries)",
        entries,
    );
    let config = state.broker.config();
    let max_entries: Gauge = Gauge::default();
    max_entries.set(i64::try_from(config.server.cache_max_entries).unwrap_or(i64::MAX));
    registry.register(
        "rolegate_cache_max_entries",
        "The bound of each cache in force (server.cache_max_entries)",
        max_entries,
    );
    let expiry: Family<AnchorLabels, Gauge> = Family::default();
    let unrenewed_expiry: Family<AnchorLabels, Gauge> = Family::default();
    let crl_next_update: Family<AnchorLabels, Gauge> = Family::default();
    let refuses_stale_crls: Family<AnchorLabels, Gauge> = Family::default();
    // A disabled anchor accepts no certificate: its expiry and CRLs concern nobody, and the
    // alerts on them would page for an anchor kept only for a rollback.
    for anchor in config.anchors.values().filter(|a| a.enabled) {
        let labels = AnchorLabels {
            anchor: anchor.arn.to_string(),
        };
        let certificates = anchor.trust.certificates();
        if let (Some(earliest), Some(unrenewed)) = (
            certificates.iter().map(|c| c.not_after).min(),
            unrenewed_expiry_of(certificates),
        ) {
            expiry.get_or_create(&labels).set(earliest);
            unrenewed_expiry.get_or_create(&labels).set(unrenewed);
        }
        if let Some(next_update) = anchor.trust.crls().iter().filter_map(|c| c.next_update).min() {
            crl_next_update.get_or_create(&labels).set(next_update);
        }
        let refuses = anchor.trust.stale_crls() == crate::identity::StaleCrls::Refuse;
        refuses_stale_crls.get_or_create(&labels).set(i64::from(refuses));
    }
    registry.register(
        "rolegate_trust_anchor_expiry_timestamp_seconds",
        "Earliest notAfter of the CA certificates of each trust anchor, Unix seconds",
        expiry,
    );
    registry.register(
        "rolegate_trust_anchor_unrenewed_expiry_timestamp_seconds",
        "Earliest notAfter among the CA names of each trust anchor, each name counted by its latest certificate, Unix seconds: when a CA whose name the bundle holds no renewal of expires (a CA renewed or re-keyed under its name counts by its new certificate)",
        unrenewed_expiry,
    );
    registry.register(
        "rolegate_trust_anchor_crl_next_update_timestamp_seconds",
        "Earliest nextUpdate of the CRLs of each trust anchor, Unix seconds (a CRL past it misses later revocations, and refuses what it covers where stale_crls is refuse)",
        crl_next_update,
    );
    registry.register(
        "rolegate_trust_anchor_refuses_stale_crls",
        "1 when the trust anchor refuses the certificates a CRL past its nextUpdate covers (stale_crls is refuse), 0 when it honours such a CRL",
        refuses_stale_crls,
    );
    if let Some(not_after) = config.server.tls.not_after {
        let gauge: Gauge = Gauge::default();
        gauge.set(not_after);
        registry.register(
            "rolegate_server_certificate_expiry_timestamp_seconds",
            "notAfter of the TLS server certificate in force, Unix seconds",
            gauge,
        );
    }
    if let Some(p) = process_stats() {
        let cpu: Counter<f64, AtomicU64> = Counter::default();
        cpu.inc_by(p.cpu_seconds);
        registry.register("process_cpu_seconds", "User and system CPU time spent, seconds", cpu);
        let rss: Gauge = Gauge::default();
        rss.set(p.resident_bytes);
        registry.register("process_resident_memory_bytes", "Resident memory size, bytes", rss);
        if let Some(started) = p.start_time_unix {
            let gauge: Gauge = Gauge::default();
            gauge.set(started);
            registry.register(
                "process_start_time_seconds",
                "When the process started, Unix seconds",
                gauge,
            );
        }
    }
    if let Ok(open) = std::fs::read_dir("/proc/self/fd") {
        let gauge: Gauge = Gauge::default();
        gauge.set(i64::try_from(open.count()).unwrap_or(i64::MAX));
        registry.register("process_open_fds", "Open file descriptors", gauge);
    }
    #[cfg(unix)]
    if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
        let gauge: Gauge = Gauge::default();
        gauge.set(i64::try_from(soft).unwrap_or(i64::MAX));
        registry.register(
            "process_max_fds",
            "The open file descriptor limit (RLIMIT_NOFILE, soft)",
            gauge,
        );
    }
    let mut out = String::new();
    // invariant: writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnchorLabels {
    anchor: String,
}

/// `rolegate_build_info{version}`: 1, so that dashboards and alerts can tell which version
/// each replica runs (a rollout half done, say).
fn build_info() -> Family<VersionLabels, Gauge> {
    let family = Family::<VersionLabels, Gauge>::default();
    family
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    family
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

struct Metrics {
    requests: Family<RequestLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    sessions: Family<RoleLabels, Counter>,
    reloads_succeeded: Counter,
    reloads_failed: Counter,
    log_write_failures: Counter,
    log_bytes_lost: Counter,
    connections_open: Gauge,
    requests_answering: Gauge,
    requests_receiving: Gauge,
    connections_limit: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        requests: {
            // The series the shipped alerts watch, from the start, at 0: `rate()` and
            // `increase()` see the first error of each (a series born at 1 shows no increase).
            let family = Family::<RequestLabels, Counter>::default();
            for (api, operation) in SERVED_OPERATIONS {
                for outcome in WATCHED_OUTCOMES {
                    drop(family.get_or_create(&RequestLabels {
                        api,
                        operation,
                        outcome,
                    }));
                }
            }
            // An STS request refused at admission, before its action is read.
            for outcome in ADMISSION_OUTCOMES {
                drop(family.get_or_create(&RequestLabels {
                    api: "sts",
                    operation: "Any",
                    outcome,
                }));
            }
            family
        },
        refusals: {
            // The series the shipped alerts watch, at 0 from the start (as above): tokens of a
            // key this replica lacks, or of a key id it holds under another key, wherever a
            // session token is taken.
            let family = Family::<RefusalLabels, Counter>::default();
            for (api, operation) in TOKEN_OPERATIONS {
                for reason in WATCHED_TOKEN_REASONS {
                    drop(family.get_or_create(&RefusalLabels { api, operation, reason }));
                }
            }
            family
        },
        duration: Family::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                30.0,
            ])
        }),
        sessions: Family::default(),
        reloads_succeeded: Counter::default(),
        reloads_failed: Counter::default(),
        log_write_failures: Counter::default(),
        log_bytes_lost: Counter::default(),
        connections_open: Gauge::default(),
        requests_answering: Gauge::default(),
        requests_receiving: Gauge::default(),
        connections_limit: Gauge::default(),
        connections_refused: {
            // Every reason from the start, at 0: `rate()` and `increase()` see the first
            // refusal, and an alert on a reason has a series to watch before it happens.
            let family = Family::<ReasonLabels, Counter>::default();
            for reason in CONNECTION_REFUSAL_REASONS {
                drop(family.get_or_create(&ReasonLabels { reason }));
            }
            family
        },
        handshake_failures: {
            let family = Family::<ReasonLabels, Counter>::default();
            for reason in HANDSHAKE_FAILURE_REASONS {
                drop(family.get_or_create(&ReasonLabels { reason }));
            }
            family
        },
    })
}

/// The token refusal reasons the shipped alert `RolegateTokenKeyUnknown` watches.
const WATCHED_TOKEN_REASONS: [&str; 3] = ["unknown-token-key", "token-key-mismatch", "newer-token-layout"];

/// The `api` and `operation` labels of the requests rolegate serves (`service` names them).
/// The operations of [`SERVED_OPERATIONS`] that take a session token, whose refusals of a token
/// sealed with a key this replica lacks an alert watches.
const TOKEN_OPERATIONS: [(&str, &str); 5] = [
    ("sts", "GetCallerIdentity"),
    ("sts", "AssumeRole"),
    ("grpc", "AssumeRole"),
    ("grpc", "VerifyRequest"),
    ("grpc", "Authorize"),
];

const SERVED_OPERATIONS: [(&str, &str); 9] = [
    ("rest", "CreateSession"),
    ("sts", "GetCallerIdentity"),
    ("sts", "AssumeRole"),
    ("grpc", "CreateSession"),
    ("grpc", "AssumeRole"),
    ("grpc", "VerifyRequest"),
    ("grpc", "Authorize"),
    ("grpc", "Admin.Status"),
    ("grpc", "Admin.Reload"),
];

/// The refusals of admission control (per-address and global limits), which come before an
/// STS request's action is read (`operation="Any"`).
const ADMISSION_OUTCOMES: [&str; 2] = ["Throttling", "ServiceUnavailable"];

/// The `outcome` labels the shipped alert rules and dashboards watch (`deploy/prometheus`).
const WATCHED_OUTCOMES: [&str; 8] = [
    "allow",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredToken",
    "InternalFailure",
    "ServiceUnavailable",
    "Throttling",
];

/// The `reason` label values of `rolegate_tls_handshake_failures_total`.
pub const HANDSHAKE_FAILURE_REASONS: [&str; 5] = [
    "client-certificate",
    "server-certificate",
    "protocol",
    "timeout",
    "closed",
];

/// The `reason` label values of `rolegate_connections_refused_total`.
const CONNECTION_REFUSAL_REASONS: [&str; 4] = ["rate-limit", "per-address-limit", "proxy-header", "proxy-untrusted"];

#[derive(Debug, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    start_time_unix: Option<i64>,
}

/// CPU and resident memory of this process from procfs (Linux); `None` elsewhere.
fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    // `/proc/stat` is hidden where only the process's own files are shown (systemd's
    // `ProcSubset=pid`): then the boot time is the clocks' difference.
    let boot = match std::fs::read_to_string("/proc/stat") {
        Ok(proc_stat) => boot_time_from(&proc_stat),
        Err(_) => boot_time_from_clocks(),
    };
    Some(ProcessStats {
        cpu_seconds: cpu_seconds_from_stat(&stat)?,
        resident_bytes: resident_bytes_from_status(&status)?,
        start_time_unix: boot.and_then(|boot| start_time_from(&stat, boot)),
    })
}

/// When the process started, Unix seconds: `starttime` of `/proc/self/stat` (field 22, clock
/// ticks after boot) after `boot` (Unix seconds), as Prometheus's process collectors compute it.
fn start_time_from(stat: &str, boot: i64) -> Option<i64> {
    const USER_HZ: i64 = 100;
    let ticks: i64 = stat_fields_from(stat, 22)?.next()?.parse().ok()?;
    boot.checked_add(ticks / USER_HZ)
}

/// `btime` of `/proc/stat`: when the machine booted, Unix seconds.
fn boot_time_from(proc_stat: &str) -> Option<i64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// When the machine booted, Unix seconds, as the wall clock less the time since boot
/// (`CLOCK_BOOTTIME`, which counts suspended time as `btime` does).
fn boot_time_from_clocks() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        let since_boot = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        i64::try_from(now.as_secs()).ok()?.checked_sub(since_boot.tv_sec)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// `utime + stime` of `/proc/self/stat` (fields 14 and 15, in clock ticks) in seconds. Ticks
/// are `USER_HZ`, which the kernel fixes at 100 for everything it exports to user space. <https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html>
fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let mut fields = stat_fields_from(stat, 14)?;
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The fields of a `/proc/{pid}/stat` line from field number `first` (1-based, as
/// `proc_pid_stat(5)` numbers them) on. The second field (`comm`) may hold spaces and
/// parentheses, so fields are counted after its last `)`, where field 3 begins.
fn stat_fields_from(stat: &str, first: usize) -> Option<impl Iterator<Item = &str>> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    Some(after_comm.split_whitespace().skip(first.checked_sub(3)?))
}

/// `VmRSS` of `/proc/self/status` (kB) in bytes; this avoids needing the page size that
/// `/proc/self/statm` counts in. <https://man7.org/linux/man-pages/man5/proc_pid_status.5.html>
fn resident_bytes_from_status(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_from_stat() {
        let stat = "1234 (role gate) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 8 0 100 1000 200";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.25));
        assert_eq!(cpu_seconds_from_stat("1234 (x) S 1"), None);
        assert_eq!(cpu_seconds_from_stat("no parenthesis"), None);
    }

    #[test]
    fn start_time_from_stat_and_boot_time() {
        let stat = "1234 (role gate) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 8 0 12345 1000 200";
        let boot = boot_time_from("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n");
        assert_eq!(boot, Some(1_700_000_000));
        assert_eq!(start_time_from(stat, 1_700_000_000), Some(1_700_000_123));
        assert_eq!(boot_time_from("cpu  1 2 3\n"), None);
        assert_eq!(start_time_from("1234 (x) S 1", 1_700_000_000), None);
    }

    /// Without `/proc/stat` (systemd's `ProcSubset=pid`), the boot time comes from the clocks:
    /// the same second as `btime`, give or take the rounding of each.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_clocks_give_the_boot_time_proc_stat_gives() {
        let btime = boot_time_from(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
        let clocks = boot_time_from_clocks().unwrap();
        assert!((btime - clocks).abs() <= 1, "btime {btime}, from the clocks {clocks}");
    }

    #[test]
    fn rss_from_status() {
        let status = "Name:\trolegate\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t4\n";
        assert_eq!(resident_bytes_from_status(status), Some(2048 * 1024));
        assert_eq!(resident_bytes_from_status("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let p = process_stats().unwrap();
        assert!(p.resident_bytes > 0);
        assert!(p.cpu_seconds >= 0.0);
        let started = p.start_time_unix.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            (now - 86_400 * 365..=now + 1).contains(&started),
            "{started} against {now}"
        );
    }
}
