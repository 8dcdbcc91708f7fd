//! SigV4 signing-key derivation (task 3 of the signing process) and a bounded cache of
//! derived keys, so a verifier does four HMACs per (secret, day, region, service), not per request.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A derived SigV4 signing key, `kSigning`. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Derives `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#derive-signing-key>
pub fn derive_signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> SigningKey {
    let mut k_secret = Vec::with_capacity(4 + secret_access_key.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.as_bytes());
    let mut k = hmac(&k_secret, date.as_bytes());
    k_secret.zeroize();
    for part in [region.as_bytes(), service.as_bytes(), b"aws4_request"] {
        let next = hmac(&k, part);
        k.zeroize();
        k = next;
    }
    SigningKey(k)
}

/// The SigV4 signature: `HMAC-SHA256(kSigning, string_to_sign)`.
pub fn hmac_signature(key: &SigningKey, string_to_sign: &str) -> [u8; 32] {
    hmac(&key.0, string_to_sign.as_bytes())
}

/// Bounded (entries and time-to-live) cache of derived signing keys, keyed by a SHA-256
/// over the secret, date, region and service (the secret itself is never stored).
#[derive(Clone)]
pub struct SigningKeyCache {
    /// foldhash: the keys are SHA-256 digests, which nobody can choose.
    cache: moka::sync::Cache<[u8; 32], SigningKey, foldhash::fast::RandomState>,
}

impl SigningKeyCache {
    /// A cache holding at most `max_entries` keys, each for at most `ttl`.
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The signing key for these scope parts: cached, or derived on a miss and kept only once
    /// [`SigningKeyCache::keep`] is given it — after a signature verified with it, so that
    /// requests whose signatures fail (scopes a caller chose freely, say) cannot push the keys
    /// of real sessions out.
    pub fn signing_key(&self, secret: &str, date: &str, region: &str, service: &str) -> LookedUpKey {
        let id = cache_id(secret, date, region, service);
        match self.cache.get(&id) {
            Some(key) => LookedUpKey { key, derived: None },
            None => LookedUpKey {
                key: derive_signing_key(secret, date, region, service),
                derived: Some(id),
            },
        }
    }

    /// Keeps a key [`SigningKeyCache::signing_key`] derived (a cached one is kept already).
    pub fn keep(&self, looked_up: &LookedUpKey) {
        if let Some(id) = looked_up.derived {
            self.cache.insert(id, looked_up.key.clone());
        }
    }

    /// Drops every cached key (on configuration reload or key rotation).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// Approximate number of cached keys (moka applies pending writes lazily).
    pub fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

/// A signing key from [`SigningKeyCache::signing_key`].
#[derive(Debug)]
pub struct LookedUpKey {
    pub key: SigningKey,
    /// The cache id of a key derived on a miss, not kept yet.
    derived: Option<[u8; 32]>,
}

impl LookedUpKey {
    /// Whether the key came from the cache.
    pub fn was_cached(&self) -> bool {
        self.derived.is_none()
    }
}

/// HMAC-SHA256.
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[expect(clippy::expect_used, reason = "invariant: HMAC accepts keys of any length")]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Collision-free cache key: SHA-256 over the length-prefixed parts.
fn cache_id(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [secret, date, region, service] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the AWS documentation (`iam` in `us-east-1` on 2015-08-30).
    #[test]
    fn derives_documented_key() {
        let k = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.0),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(format!("{k:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn cache_reuses_and_invalidates() {
        let cache = SigningKeyCache::new(10, Duration::from_secs(60));
        let a = cache.signing_key("s", "20150830", "us-east-1", "sts");
        assert!(!a.was_cached());
        // Not kept until a signature verified with it.
        assert!(!cache.signing_key("s", "20150830", "us-east-1", "sts").was_cached());
        assert_eq!(cache.entry_count(), 0);
        cache.keep(&a);
        let b = cache.signing_key("s", "20150830", "us-east-1", "sts");
        assert!(b.was_cached());
        assert_eq!(a.key.0, b.key.0);
        assert_eq!(a.key.0, derive_signing_key("s", "20150830", "us-east-1", "sts").0);
        let c = cache.signing_key("s", "20150831", "us-east-1", "sts");
        assert!(!c.was_cached());
        assert_ne!(a.key.0, c.key.0);
        cache.keep(&c);
        assert_eq!(cache.entry_count(), 2);
        cache.invalidate_all();
        assert_eq!(cache.entry_count(), 0);
    }
}
