//! What the benchmark reads from the server's Prometheus endpoint: the cache hit and miss
//! counters (`rolegate_cache_hits_total{cache}`, `rolegate_cache_misses_total{cache}`), read
//! at both ends of the measured window so a report says how often each cache answered —
//! e.g. that a run meant to verify every chain really did.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

/// The most of a `/metrics` page read.
const MAX_PAGE: usize = 1 << 20;

/// Hits and misses of each cache, by cache name.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct CacheCounters(BTreeMap<String, (u64, u64)>);

/// One cache's lookups during the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheActivity {
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); 0 when there were no lookups.
    pub hit_ratio: f64,
}

impl CacheCounters {
    /// Fetches `http://{addr}/metrics` and reads the cache counters.
    pub(super) async fn scrape(addr: SocketAddr) -> Result<CacheCounters, String> {
        let failed = |e: &dyn std::fmt::Display| format!("metrics endpoint {addr}: {e}");
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let uri: hyper::Uri = format!("http://{addr}/metrics").parse().map_err(|e| failed(&e))?;
        let response = client.get(uri).await.map_err(|e| failed(&e))?;
        if !response.status().is_success() {
            return Err(failed(&response.status()));
        }
        let page = Limited::new(response.into_body(), MAX_PAGE)
            .collect()
            .await
            .map_err(|e| failed(&e))?
            .to_bytes();
        Ok(Self::parse(&String::from_utf8_lossy(&page)))
    }

    /// Reads `rolegate_cache_{hits,misses}_total{cache="name"} N` samples from an exposition.
    fn parse(page: &str) -> CacheCounters {
        let mut counters = BTreeMap::<String, (u64, u64)>::new();
        for line in page.lines() {
            let (is_hit, rest) = match (
                line.strip_prefix("rolegate_cache_hits_total{cache=\""),
                line.strip_prefix("rolegate_cache_misses_total{cache=\""),
            ) {
                (Some(rest), _) => (true, rest),
                (_, Some(rest)) => (false, rest),
                _ => continue,
            };
            let Some((name, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            let entry = counters.entry(name.to_owned()).or_default();
            match is_hit {
                true => entry.0 = value,
                false => entry.1 = value,
            }
        }
        CacheCounters(counters)
    }

    /// The lookups each cache saw between `self` (earlier) and `later`.
    pub(super) fn activity_until(&self, later: &CacheCounters) -> BTreeMap<String, CacheActivity> {
        later
            .0
            .iter()
            .map(|(name, (hits, misses))| {
                let (h0, m0) = self.0.get(name).copied().unwrap_or_default();
                let hits = hits.saturating_sub(h0);
                let misses = misses.saturating_sub(m0);
                let lookups = hits + misses;
                let hit_ratio = match lookups {
                    0 => 0.0,
                    n => hits as f64 / n as f64,
                };
                (
                    name.clone(),
                    CacheActivity {
                        hits,
                        misses,
                        hit_ratio,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_exposition_and_differenced() {
        let before = CacheCounters::parse(
            "# HELP rolegate_cache_hits Cache hits, by cache\n\
             rolegate_cache_hits_total{cache=\"chains\"} 10\n\
             rolegate_cache_misses_total{cache=\"chains\"} 2\n\
             rolegate_requests_total{api=\"rest\"} 5\n",
        );
        let after = CacheCounters::parse(
            "rolegate_cache_hits_total{cache=\"chains\"} 40\n\
             rolegate_cache_misses_total{cache=\"chains\"} 12\n\
             rolegate_cache_hits_total{cache=\"credentials\"} 0\n\
             rolegate_cache_misses_total{cache=\"credentials\"} 0\n\
             rolegate_cache_hits_total{cache=\"bad\"} x\n",
        );
        let activity = before.activity_until(&after);
        assert_eq!(
            activity["chains"],
            CacheActivity {
                hits: 30,
                misses: 10,
                hit_ratio: 0.75
            }
        );
        assert_eq!(activity["credentials"].hit_ratio, 0.0);
        assert!(!activity.contains_key("bad"));
    }
}
