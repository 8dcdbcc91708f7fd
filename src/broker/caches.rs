//! Bounded moka caches (DESIGN.md §3): parsed client certificates, verified certificate chains,
//! and credentials issued for identical repeated CreateSession requests. Keys are SHA-256 digests of everything the cached
//! decision depends on, so a hit is exactly as valid as a recomputation; every cache is cleared
//! on reload because anchors, CRLs and policies may have changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::config::ServerSettings;
use crate::identity::ClientCertificate;
use crate::sigv4::SigningKeyCache;

/// A digest naming one cached decision.
pub type CacheKey = [u8; 32];

/// The hasher of caches keyed by SHA-256 digests: foldhash, several times cheaper than the
/// default SipHash. Its minimal flooding resistance is enough here, since nobody can choose
/// the bits of a SHA-256 output (and the seed is random per process).
pub type DigestHasher = foldhash::fast::RandomState;

/// A bounded cache keyed by a digest.
pub type DigestCache<V> = Cache<CacheKey, V, DigestHasher>;

/// The outcome of a CreateSession kept for reuse.
#[derive(Clone)]
pub struct IssuedSession {
    pub output: Arc<super::CreateSessionOutput>,
    pub issued_at: i64,
}

pub struct Caches {
    /// SHA-256 of a certificate as sent (base64 text or DER) → the parsed certificate that
    /// passed the leaf rules. Parsing is a pure function of those bytes, and a client sends
    /// the same certificate with every request.
    pub certificates: DigestCache<Arc<ClientCertificate>>,
    /// Chain digest (anchor, leaf, intermediates) → earliest notAfter of the verified chain
    /// (unix seconds).
    pub chains: DigestCache<i64>,
    pub issued: DigestCache<IssuedSession>,
    pub signing_keys: SigningKeyCache,
    stats: [Counters; 4],
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
    Certificates = 3,
}

impl CacheName {
    fn label(self) -> &'static str {
        match self {
            Self::Chains => "chains",
            Self::Issued => "credentials",
            Self::SigningKeys => "signing_keys",
            Self::Certificates => "certificates",
        }
    }
}

impl Caches {
    pub fn new(server: &ServerSettings) -> Self {
        let max = server.cache_max_entries;
        Self {
            certificates: Cache::builder()
                .max_capacity(max)
                .time_to_live(Duration::from_secs(300))
                .build_with_hasher(DigestHasher::default()),
            chains: Cache::builder()
                .max_capacity(max)
                .time_to_live(Duration::from_secs(300))
                .build_with_hasher(DigestHasher::default()),
            issued: Cache::builder()
                .max_capacity(max)
                .time_to_live(server.credential_reuse.max(Duration::from_secs(1)))
                .build_with_hasher(DigestHasher::default()),
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

    /// The client certificate sent as `sent` (its base64 text or its DER), parsed by `parse`
    /// only the first time those bytes are seen. Failures are not cached.
    pub fn certificate<E>(
        &self,
        sent: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<ClientCertificate, E>,
    ) -> Result<Arc<ClientCertificate>, E> {
        let key = crate::sigv4::sha256(sent);
        if let Some(hit) = self.certificates.get(&key) {
            self.record(CacheName::Certificates, true);
            return Ok(hit);
        }
        self.record(CacheName::Certificates, false);
        let parsed = Arc::new(parse(sent)?);
        self.certificates.insert(key, parsed.clone());
        Ok(parsed)
    }

    pub fn invalidate_all(&self) {
        self.certificates.invalidate_all();
        self.chains.invalidate_all();
        self.issued.invalidate_all();
        self.signing_keys.invalidate_all();
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        [
            CacheName::Chains,
            CacheName::Issued,
            CacheName::SigningKeys,
            CacheName::Certificates,
        ]
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
                    CacheName::Certificates => self.certificates.entry_count(),
                },
            }
        })
        .collect()
    }
}
