//! Prometheus metrics (prometheus-client): request counts and latencies per API and outcome,
//! sessions issued per role, and cache hit/miss counters read from the broker at scrape time.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::State;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

struct Metrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    sessions: Family<RoleLabels, Counter>,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        requests: Family::default(),
        duration: Family::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
            ])
        }),
        sessions: Family::default(),
    })
}

/// Counts one answered request and its latency.
pub fn record_request(labels: RequestLabels, seconds: f64) {
    let m = metrics();
    m.requests.get_or_create(&labels).inc();
    m.duration.get_or_create(&labels).observe(seconds);
}

/// Counts one session issued for `role`.
pub fn record_session(role: &str) {
    metrics()
        .sessions
        .get_or_create(&RoleLabels { role: role.to_owned() })
        .inc();
}

/// The OpenMetrics text of every metric.
pub fn render(state: &State) -> String {
    let m = metrics();
    let mut registry = Registry::with_prefix("rolegate");
    registry.register(
        "requests",
        "Requests answered, by API, operation and outcome",
        m.requests.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time to answer a request",
        m.duration.clone(),
    );
    registry.register("sessions_issued", "Sessions issued, by role", m.sessions.clone());
    let hits: Family<CacheLabels, Counter> = Family::default();
    let misses: Family<CacheLabels, Counter> = Family::default();
    for s in state.broker.caches().stats() {
        hits.get_or_create(&CacheLabels { cache: s.name }).inc_by(s.hits);
        misses.get_or_create(&CacheLabels { cache: s.name }).inc_by(s.misses);
    }
    registry.register("cache_hits", "Cache hits, by cache", hits);
    registry.register("cache_misses", "Cache misses, by cache", misses);
    let mut out = String::new();
    let _ = encode(&mut out, &registry);
    out
}
