//! Bounded moka caches (DESIGN.md §3): parsed client certificates, verified certificate chains,
//! opened session tokens, derived SigV4 signing keys, credentials issued for identical
//! repeated CreateSession requests, and the trust policy's allow of a certificate's
//! CreateSession where nothing else of the request can change it. Keys are SHA-256 digests of everything the cached decision
//! depends on — including the configuration's generation where the configuration matters — so
//! a hit is exactly as valid as a recomputation. Every cache is also cleared on reload, because
//! anchors, CRLs, key rings and policies may have changed, and built anew when the reload
//! changes their bound or the reuse window ([`Caches::fit_for`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::authenticate::OpenedSession;
use crate::config::ServerSettings;
use crate::identity::{ClientCertificate, VerifiedChain};
use crate::session::SessionClaims;
use crate::sigv4::SigningKeyCache;

/// A digest naming one cached decision.
pub(super) type CacheKey = [u8; 32];

/// The SHA-256 that keys a cache entry: the configuration generation it was decided under,
/// then each part the decision depends on, each prefixed by its length, so that no two
/// sequences of parts hash the same bytes (`"ab" + "c"` is not `"a" + "bc"`). A hit is then
/// exactly as valid as deciding again.
pub(super) struct KeyDigest(Sha256);

impl KeyDigest {
    pub(super) fn new(generation: u64) -> KeyDigest {
        let mut h = Sha256::new();
        h.update(generation.to_be_bytes());
        KeyDigest(h)
    }

    pub(super) fn part(mut self, bytes: &[u8]) -> KeyDigest {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    pub(super) fn finish(self) -> CacheKey {
        self.0.finalize().into()
    }
}

/// The hasher of caches keyed by SHA-256 digests: foldhash, several times cheaper than the
/// default SipHash. Its minimal flooding resistance is enough here, since nobody can choose
/// the bits of a SHA-256 output (and the seed is random per process).
pub(super) type DigestHasher = foldhash::fast::RandomState;

/// A bounded cache keyed by a digest.
pub(super) type DigestCache<V> = Cache<CacheKey, V, DigestHasher>;

/// The entries of `cache` once its pending inserts and evictions are applied (moka counts
/// them lazily: without this, a cache just filled reports 0).
fn settled_entry_count<V: Clone + Send + Sync + 'static>(cache: &DigestCache<V>) -> u64 {
    cache.run_pending_tasks();
    cache.entry_count()
}

/// A client certificate as a request sent it, parsed (see [`Caches::certificate`]).
#[derive(Clone)]
pub struct SentCertificate {
    pub certificate: Arc<ClientCertificate>,
    /// SHA-256 of the bytes as sent.
    key: CacheKey,
    /// Whether it came from the cache (and so need not be kept again).
    cached: bool,
}

/// The outcome of a CreateSession kept for reuse.
#[derive(Clone)]
pub(super) struct IssuedSession {
    pub(super) output: Arc<super::CreateSessionOutput>,
    pub(super) issued_at: i64,
}

/// How long the reuse cache keeps an entry: the reuse window (at least a second, which moka
/// needs; a window of 0 turns the lookups off instead).
fn reuse_ttl(server: &ServerSettings) -> Duration {
    server.credential_reuse.max(Duration::from_secs(1))
}

pub struct Caches {
    /// SHA-256 of a certificate as sent (base64 text or DER) → the parsed certificate that
    /// passed the leaf rules and chained to a trust anchor. Parsing is a pure function of those
    /// bytes, and a client sends the same certificate with every request. Only certificates of
    /// a trusted chain enter ([`Caches::keep_certificate`]), so what it holds is bounded by the
    /// organisation's PKI, not by what anonymous clients send.
    certificates: DigestCache<Arc<ClientCertificate>>,
    /// Chain digest (anchor, leaf, intermediates) → the verified chain: its earliest notAfter
    /// (unix seconds), and the CA certificates of its path that sessions carry.
    chains: DigestCache<Arc<VerifiedChain>>,
    /// Digest of what a CreateSession asked ([`super::create_session`]'s `issued_key`) → the
    /// session minted for it, reused while most of its lifetime is left.
    issued: DigestCache<IssuedSession>,
    /// SHA-256 of (configuration generation, session token) → the claims the key ring opened.
    /// Holds session secrets in memory, as the signing-key cache holds keys derived from them.
    /// Weighed by size: `max` bounds its entries' units of [`super::authenticate::ENTRY_UNIT_BYTES`].
    tokens: DigestCache<Arc<OpenedSession>>,
    pub signing_keys: SigningKeyCache,
    /// Digest of (configuration generation, role, trust anchor, profile, certificate) → the
    /// role's trust policy allowed a CreateSession with them, for a trust policy that reads no
    /// key that changes per request (`create_session::trust_decided_per_certificate`).
    /// Denials are not kept.
    trust_allowed: DigestCache<()>,
    /// Hits and misses since the start, carried over when the caches are built anew.
    stats: Arc<[Counters; 6]>,
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
    Tokens = 4,
    TrustAllowed = 5,
}

impl CacheName {
    fn label(self) -> &'static str {
        match self {
            Self::Chains => "chains",
            Self::Issued => "credentials",
            Self::SigningKeys => "signing_keys",
            Self::Certificates => "certificates",
            Self::Tokens => "tokens",
            Self::TrustAllowed => "trust_decisions",
        }
    }
}

impl Caches {
    pub fn new(server: &ServerSettings) -> Self {
        Self::with_stats(server, Arc::default())
    }

    /// Whether these caches were built for `server`'s bound and reuse window (moka fixes both
    /// when a cache is built; the reuse cache holds both).
    pub fn fit_for(&self, server: &ServerSettings) -> bool {
        let policy = self.issued.policy();
        policy.max_capacity() == Some(server.cache_max_entries) && policy.time_to_live() == Some(reuse_ttl(server))
    }

    /// Empty caches for `server`'s settings, counting on from these caches' hits and misses.
    pub fn rebuilt_for(&self, server: &ServerSettings) -> Self {
        Self::with_stats(server, self.stats.clone())
    }

    fn with_stats(server: &ServerSettings, stats: Arc<[Counters; 6]>) -> Self {
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
                .time_to_live(reuse_ttl(server))
                .build_with_hasher(DigestHasher::default()),
            tokens: Cache::builder()
                .max_capacity(max)
                .weigher(|_, session: &Arc<OpenedSession>| session.cache_weight())
                .time_to_live(Duration::from_secs(300))
                .build_with_hasher(DigestHasher::default()),
            signing_keys: SigningKeyCache::new(max, Duration::from_secs(3600)),
            trust_allowed: Cache::builder()
                .max_capacity(max)
                .time_to_live(Duration::from_secs(300))
                .build_with_hasher(DigestHasher::default()),
            stats,
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

    /// The client certificate sent as `sent` (its base64 text or its DER): from the cache when
    /// these bytes were kept before, else parsed by `parse`. Nothing is cached here: the caller
    /// keeps the certificate once its chain verified ([`Caches::keep_certificate`]).
    pub fn certificate<E>(
        &self,
        sent: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<ClientCertificate, E>,
    ) -> Result<SentCertificate, E> {
        let key = crate::sigv4::sha256(sent);
        if let Some(certificate) = self.certificates.get(&key) {
            self.record(CacheName::Certificates, true);
            return Ok(SentCertificate {
                certificate,
                key,
                cached: true,
            });
        }
        self.record(CacheName::Certificates, false);
        Ok(SentCertificate {
            certificate: Arc::new(parse(sent)?),
            key,
            cached: false,
        })
    }

    /// The certificate `sent` when a chain of it has verified before (it is kept), without
    /// parsing it or counting a hit or miss.
    pub fn verified_certificate(&self, sent: &[u8]) -> Option<Arc<ClientCertificate>> {
        self.certificates.get(&crate::sigv4::sha256(sent))
    }

    /// Remembers `sent`, whose chain to a trust anchor has just verified, for its next request.
    pub fn keep_certificate(&self, sent: &SentCertificate) {
        if !sent.cached {
            self.certificates.insert(sent.key, sent.certificate.clone());
        }
    }

    /// The claims of session token `token`, opened by `open` only the first time it is seen
    /// under configuration `generation` (whose key ring `open` uses). Failures are not cached.
    pub fn opened_token<E>(
        &self,
        generation: u64,
        token: &str,
        open: impl FnOnce(&str) -> Result<SessionClaims, E>,
    ) -> Result<Arc<OpenedSession>, E> {
        let key = KeyDigest::new(generation).part(token.as_bytes()).finish();
        self.remember(&self.tokens, CacheName::Tokens, key, || {
            open(token).map(|claims| Arc::new(OpenedSession::new(claims)))
        })
    }

    /// `cache[key]`, or what `compute` returns on success, remembered.
    fn remember<V: Clone + Send + Sync + 'static, E>(
        &self,
        cache: &DigestCache<V>,
        name: CacheName,
        key: CacheKey,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.remember_usable(cache, name, key, |_| true, compute)
    }

    /// [`Caches::remember`] for entries that may no longer be `usable` (a chain past its
    /// notAfter, a session too near its expiry): such an entry is a miss, and replaced.
    fn remember_usable<V: Clone + Send + Sync + 'static, E>(
        &self,
        cache: &DigestCache<V>,
        name: CacheName,
        key: CacheKey,
        usable: impl FnOnce(&V) -> bool,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(hit) = cache.get(&key).filter(|hit| usable(hit)) {
            self.record(name, true);
            return Ok(hit);
        }
        self.record(name, false);
        let value = compute()?;
        cache.insert(key, value.clone());
        Ok(value)
    }

    /// The chain `key` names, when it verified before and is still within its earliest
    /// notAfter at `now` (unix seconds); else `verify` decides, and the chain it verified is
    /// remembered.
    pub(super) fn verified_chain<E>(
        &self,
        key: CacheKey,
        now: i64,
        verify: impl FnOnce() -> Result<VerifiedChain, E>,
    ) -> Result<Arc<VerifiedChain>, E> {
        self.remember_usable(
            &self.chains,
            CacheName::Chains,
            key,
            |chain| now < chain.not_after,
            || verify().map(Arc::new),
        )
    }

    /// Whether the trust decision `key` names allowed before; else `check` decides, and an
    /// allow is remembered (a denial is not).
    pub(super) fn trust_allowed<E>(&self, key: CacheKey, check: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        self.remember(&self.trust_allowed, CacheName::TrustAllowed, key, check)
    }

    /// The session issued before for the CreateSession `key` names, when still `reusable`;
    /// else the one `mint` makes, remembered.
    pub(super) fn issued_session<E>(
        &self,
        key: CacheKey,
        reusable: impl FnOnce(&IssuedSession) -> bool,
        mint: impl FnOnce() -> Result<IssuedSession, E>,
    ) -> Result<IssuedSession, E> {
        self.remember_usable(&self.issued, CacheName::Issued, key, reusable, mint)
    }

    pub fn invalidate_all(&self) {
        self.certificates.invalidate_all();
        self.chains.invalidate_all();
        self.issued.invalidate_all();
        self.tokens.invalidate_all();
        self.signing_keys.invalidate_all();
        self.trust_allowed.invalidate_all();
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        [
            CacheName::Chains,
            CacheName::Issued,
            CacheName::SigningKeys,
            CacheName::Certificates,
            CacheName::Tokens,
            CacheName::TrustAllowed,
        ]
        .into_iter()
        .map(|name| {
            let c = &self.stats[name as usize];
            CacheStats {
                name: name.label(),
                hits: c.hits.load(Ordering::Relaxed),
                misses: c.misses.load(Ordering::Relaxed),
                entries: match name {
                    CacheName::Chains => settled_entry_count(&self.chains),
                    CacheName::Issued => settled_entry_count(&self.issued),
                    CacheName::SigningKeys => self.signing_keys.entry_count(),
                    CacheName::Certificates => settled_entry_count(&self.certificates),
                    CacheName::Tokens => settled_entry_count(&self.tokens),
                    CacheName::TrustAllowed => settled_entry_count(&self.trust_allowed),
                },
            }
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::KeyDigest;

    /// Parts are length-prefixed, and the generation comes first: no two different keys of
    /// parts collide by shifting bytes between them, nor across configurations.
    #[test]
    fn key_digests_tell_apart_parts_and_generations() {
        let key =
            |generation: u64, parts: &[&[u8]]| parts.iter().fold(KeyDigest::new(generation), |k, p| k.part(p)).finish();
        assert_eq!(key(1, &[b"ab", b"c"]), key(1, &[b"ab", b"c"]));
        assert_ne!(key(1, &[b"ab", b"c"]), key(1, &[b"a", b"bc"]));
        assert_ne!(key(1, &[b"abc"]), key(1, &[b"abc", b""]));
        assert_ne!(key(1, &[b"abc"]), key(2, &[b"abc"]));
    }
}
