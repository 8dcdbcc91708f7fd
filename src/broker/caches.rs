//! Bounded moka caches (DESIGN.md §3): verified certificate chains, and credentials issued for
//! identical repeated CreateSession requests. Keys are SHA-256 digests of everything the cached
//! decision depends on, so a hit is exactly as valid as a recomputation; every cache is cleared
//! on reload because anchors, CRLs and policies may have changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::config::ServerSettings;
use crate::sigv4::SigningKeyCache;

/// A digest naming one cached decision.
pub type CacheKey = [u8; 32];

/// The outcome of a CreateSession kept for reuse.
#[derive(Clone)]
pub struct IssuedSession {
    pub output: Arc<super::CreateSessionOutput>,
    pub issued_at: i64,
}

pub struct Caches {
    /// Chain digest → earliest notAfter of the verified chain (unix seconds).
    pub chains: Cache<CacheKey, i64>,
    pub issued: Cache<CacheKey, IssuedSession>,
    pub signing_keys: SigningKeyCache,
    stats: [Counters; 3],
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Hit/miss counts and sizes, for metrics and `Admin.Status`.
#[derive(Clone, Debug)]
pub struct CacheStats {
    pub name: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

#[derive(Clone, Copy)]
pub enum CacheName {
    Chains = 0,
    Issued = 1,
    SigningKeys = 2,
}

impl CacheName {
    fn label(self) -> &'static str {
        match self {
            Self::Chains => "chains",
            Self::Issued => "credentials",
            Self::SigningKeys => "signing_keys",
        }
    }
}

impl Caches {
    pub fn new(server: &ServerSettings) -> Self {
        let max = server.cache_max_entries;
        Self {
            chains: Cache::builder()
                .max_capacity(max)
                .time_to_live(Duration::from_secs(300))
                .build(),
            issued: Cache::builder()
                .max_capacity(max)
                .time_to_live(server.credential_reuse.max(Duration::from_secs(1)))
                .build(),
            signing_keys: SigningKeyCache::new(max, Duration::from_secs(3600)),
            stats: Default::default(),
        }
    }

    pub fn record(&self, cache: CacheName, hit: bool) {
        let c = &self.stats[cache as usize];
        if hit {
            c.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            c.misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn invalidate_all(&self) {
        self.chains.invalidate_all();
        self.issued.invalidate_all();
        self.signing_keys.invalidate_all();
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        [CacheName::Chains, CacheName::Issued, CacheName::SigningKeys]
            .into_iter()
            .map(|name| {
                let c = &self.stats[name as usize];
                CacheStats {
                    name: name.label(),
                    hits: c.hits.load(Ordering::Relaxed),
                    misses: c.misses.load(Ordering::Relaxed),
                    entries: match name {
                        CacheName::Chains => self.chains.entry_count(),
                        CacheName::Issued => self.issued.entry_count(),
                        CacheName::SigningKeys => self.signing_keys.entry_count(),
                    },
                }
            })
            .collect()
    }
}
