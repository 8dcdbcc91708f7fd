//! The token key ring: the 256-bit keys that seal and open session tokens.
//!
//! One key is *active* and seals every new token; every key in the ring opens tokens sealed
//! with it. Rotation (DESIGN §3): add a new key and make it active, keep the old one listed
//! until the longest session sealed with it has expired (12 hours at most), then remove it;
//! tokens sealed with a removed key no longer open. Every replica loads the same ring, so any
//! replica opens any token.
//!
//! Key files hold the standard base64 encoding of 32 random bytes (`rolegate keys generate`).
//! Key material never appears in `Debug` output or errors.
//!
//! Each key has a public *check value* ([`TokenKey::check_value`]): 8 hex digits of a SHA-256
//! over a fixed label and the key, which `admin status` shows so that operators can see whether
//! two replicas hold the same key under an id, and compute from a key file:
//! `{ printf 'rolegate token key check value'; base64 -d < token-k1.key; } | sha256sum | cut -c1-8`.
//! 32 bits of a hash of a 256-bit random key tell nothing usable about the key.
//!
//! Each key serves two token layouts ([`super::token`]): `rg2` tokens are sealed with
//! AES-256-GCM-SIV under a subkey derived from it with HKDF-SHA256 (RFC 5869); `rg1` tokens
//! (AES-256-GCM under the raw key), sealed by earlier versions, are still opened. The raw key
//! is thus both the HKDF input and the `rg1` GCM key — sound, HKDF's output being independent
//! of it — but GCM is not nonce-misuse resistant: two `rg1` tokens sealed under one key with
//! one random nonce would give away its authentication key, and `rg1` forgeries under that key.
//! A key made after the upgrade sealed no `rg1` token, so there is nothing to collide; rotating
//! the key once after upgrading retires the layout (SECURITY.md).

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of a token key in bytes (AES-256).
pub const TOKEN_KEY_LEN: usize = 32;
/// Longest key id accepted; ids travel in the clear in every token.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Why a key or key ring is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// The key text is not standard base64.
    #[error("token key is not valid base64; expected the base64 of 32 random bytes")]
    KeyNotBase64,
    /// The key decodes to the wrong number of bytes.
    #[error("token key is {got} bytes long; expected exactly 32 bytes (base64 of 32 random bytes)")]
    KeyLength { got: usize },
    /// A key id is empty, too long or uses characters outside `[A-Za-z0-9_-]`.
    #[error(
        "token key id {} is invalid: use 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'",
        shown_key_id(.0)
    )]
    BadKeyId(String),
    /// The same key id is listed twice.
    #[error("token key id '{0}' is listed more than once")]
    DuplicateKeyId(String),
    /// The active key id names no listed key.
    #[error("active token key {} is not among the listed keys", shown_key_id(.0))]
    ActiveKeyMissing(String),
    /// The cryptographic library refused the key.
    #[error("the cryptographic library could not load token key '{0}'")]
    Unusable(String),
    /// A claims layout tokens cannot be sealed in.
    #[error(
        "claims layout {0} is not one this release seals: 1 (what earlier releases read, for a rolling upgrade: \
         sessions then carry no certificate chain) or 2 (the default)"
    )]
    UnknownClaimsLayout(u8),
}

/// A 256-bit token key. Zeroized on drop; `Debug` shows no key material.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TokenKey([u8; TOKEN_KEY_LEN]);

impl TokenKey {
    /// Parses the base64 (standard alphabet, padding optional) of exactly 32 bytes,
    /// ignoring surrounding whitespace such as a key file's trailing newline.
    pub fn from_base64(text: &str) -> Result<Self, KeyRingError> {
        let bytes = Zeroizing::new(KEY_BASE64.decode(text.trim()).map_err(|_| KeyRingError::KeyNotBase64)?);
        let mut key = [0u8; TOKEN_KEY_LEN];
        if bytes.len() != TOKEN_KEY_LEN {
            return Err(KeyRingError::KeyLength { got: bytes.len() });
        }
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = [0u8; TOKEN_KEY_LEN];
        super::credentials::fill_random(&mut key);
        Self(key)
    }

    /// The key's bytes, for tests that check the ciphers against the library directly.
    #[cfg(test)]
    pub(super) fn expose_for_tests(&self) -> &[u8] {
        &self.0
    }

    /// The key's check value: the first 8 hex digits of SHA-256([`CHECK_VALUE_LABEL`] || key).
    /// Public: it tells two keys apart, never the key (see the module documentation).
    pub fn check_value(&self) -> String {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(CHECK_VALUE_LABEL);
        context.update(&self.0);
        hex::encode(&context.finish().as_ref()[..CHECK_VALUE_BYTES])
    }

    /// The standard, padded base64 of the key: the contents of a key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// The loaded key ring: the active key id and every key that may open tokens.
pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, LoadedKey>,
    /// The claims layout new tokens are sealed in ([`super::token::CLAIMS_VERSION`] unless set
    /// otherwise with [`KeyRing::sealing_claims_layout`]).
    seal_layout: u8,
}

/// One token key, loaded for each token layout.
pub(super) struct LoadedKey {
    /// AES-256-GCM-SIV under the HKDF subkey: seals and opens `rg2` tokens.
    pub(super) rg2: LessSafeKey,
    /// AES-256-GCM under the raw key: opens `rg1` tokens.
    pub(super) rg1: LessSafeKey,
    /// An HKDF output of the key for no cipher: tells two keys apart without keeping either.
    check_value: [u8; 32],
    /// [`TokenKey::check_value`], shown to operators.
    shown_check_value: String,
}

/// HKDF salt and info of the `rg2` subkey: fixed, naming what the subkey is for.
const RG2_SALT: &[u8] = b"rolegate session token key";
const RG2_INFO: &[u8] = b"rg2 AES-256-GCM-SIV";
/// HKDF info of a key's check value.
const CHECK_VALUE_INFO: &[u8] = b"key check value";
/// What [`TokenKey::check_value`] hashes before the key: fixed, so any tool computes it.
pub const CHECK_VALUE_LABEL: &[u8] = b"rolegate token key check value";
/// How many bytes of the SHA-256 the shown check value keeps (8 hex digits).
const CHECK_VALUE_BYTES: usize = 4;

impl LoadedKey {
    fn new(key: &TokenKey) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let prk = Salt::new(HKDF_SHA256, RG2_SALT).extract(&key.0);
        let subkey = prk.expand(&[RG2_INFO], &AES_256_GCM_SIV)?;
        let mut check_value = [0u8; 32];
        prk.expand(&[CHECK_VALUE_INFO], HKDF_SHA256)?.fill(&mut check_value)?;
        Ok(Self {
            rg2: LessSafeKey::new(UnboundKey::from(subkey)),
            rg1: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.0)?),
            check_value,
            shown_check_value: key.check_value(),
        })
    }
}

impl KeyRing {
    /// Builds a ring. Ids must be unique and valid (see [`validate_key_id`]) and `active` must
    /// be one of them. The raw keys are dropped (zeroized) once loaded into the AEAD.
    pub fn new(active: &str, keys: Vec<(String, TokenKey)>) -> Result<Self, KeyRingError> {
        let mut loaded = BTreeMap::new();
        for (id, key) in keys {
            validate_key_id(&id)?;
            if loaded.contains_key(&id) {
                return Err(KeyRingError::DuplicateKeyId(id));
            }
            let key = LoadedKey::new(&key).map_err(|_| KeyRingError::Unusable(id.clone()))?;
            loaded.insert(id, key);
        }
        if !loaded.contains_key(active) {
            return Err(KeyRingError::ActiveKeyMissing(active.to_owned()));
        }
        Ok(Self {
            active: active.to_owned(),
            keys: loaded,
            seal_layout: super::token::CLAIMS_VERSION,
        })
    }

    /// This ring sealing new tokens in claims layout `layout`, one of
    /// [`super::token::SEALABLE_LAYOUTS`]: layout 1, without the session's certificate chain,
    /// is the one earlier releases read, for replicas that must open each other's tokens while
    /// a rolling upgrade runs.
    pub fn sealing_claims_layout(self, layout: u8) -> Result<Self, KeyRingError> {
        match super::token::SEALABLE_LAYOUTS.contains(&layout) {
            true => Ok(Self {
                seal_layout: layout,
                ..self
            }),
            false => Err(KeyRingError::UnknownClaimsLayout(layout)),
        }
    }

    /// The claims layout new tokens are sealed in.
    pub fn seal_layout(&self) -> u8 {
        self.seal_layout
    }

    /// The id of the key that seals new tokens.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// Every key id in the ring, sorted.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// Every key id in the ring with its key's check value ([`TokenKey::check_value`]), sorted
    /// by id: what operators compare between replicas.
    pub fn check_values(&self) -> Vec<(&str, &str)> {
        self.keys
            .iter()
            .map(|(id, key)| (id.as_str(), key.shown_check_value.as_str()))
            .collect()
    }

    /// Whether `id` names a key of this ring.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// The ids that `next` holds another key under than this ring does: a key id names one
    /// key for as long as tokens sealed with it live, so a ring that replaces it cannot open
    /// them.
    pub fn ids_with_other_keys<'a>(&'a self, next: &'a KeyRing) -> impl Iterator<Item = &'a str> + 'a {
        self.keys.iter().filter_map(move |(id, key)| {
            let other = next.keys.get(id)?;
            let same = aws_lc_rs::constant_time::verify_slices_are_equal(&key.check_value, &other.check_value);
            same.is_err().then_some(id.as_str())
        })
    }

    /// The active key and its id.
    pub(super) fn active_key(&self) -> Option<(&str, &LoadedKey)> {
        self.keys
            .get_key_value(self.active.as_str())
            .map(|(id, key)| (id.as_str(), key))
    }

    /// The key with this id, if the ring still holds it.
    pub(super) fn key(&self, id: &str) -> Option<&LoadedKey> {
        self.keys.get(id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// Checks a key id: 1 to 32 characters of `[A-Za-z0-9_-]`, so it can travel unescaped in a
/// token in headers and query strings.
pub fn validate_key_id(id: &str) -> Result<(), KeyRingError> {
    if is_valid_key_id(id) {
        Ok(())
    } else {
        Err(KeyRingError::BadKeyId(id.to_owned()))
    }
}

/// A key id as an error shows it: quoted, unless it is longer than any key id can be — a token
/// key pasted where its id belongs, say `active = "<base64 key>"` —, then by its length only.
fn shown_key_id(id: &str) -> String {
    match id.len() <= MAX_KEY_ID_LEN {
        true => format!("'{id}'"),
        false => format!(
            "of {} characters (not shown: longer than any key id, it may be a key itself)",
            id.chars().count()
        ),
    }
}

pub(super) fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Standard alphabet; accepts key files written with or without padding.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parses_keys() {
        let key = TokenKey::from_base64(&format!("  {KEY_B64}\n")).unwrap();
        assert_eq!(key.0, core::array::from_fn::<u8, 32, _>(|i| i as u8));
        assert_eq!(key.to_base64().as_str(), KEY_B64);
        let unpadded = TokenKey::from_base64(KEY_B64.trim_end_matches('=')).unwrap();
        assert_eq!(unpadded.0, key.0);
    }

    #[test]
    fn rejects_bad_keys() {
        let cases: &[(&str, KeyRingError)] = &[
            ("not base64!", KeyRingError::KeyNotBase64),
            ("", KeyRingError::KeyLength { got: 0 }),
            ("AAAA", KeyRingError::KeyLength { got: 3 }),
            (
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==",
                KeyRingError::KeyLength { got: 34 },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(TokenKey::from_base64(text).unwrap_err(), *expected, "{text}");
        }
        assert_eq!(
            KeyRingError::KeyLength { got: 3 }.to_string(),
            "token key is 3 bytes long; expected exactly 32 bytes (base64 of 32 random bytes)"
        );
    }

    #[test]
    fn generated_keys_round_trip_and_differ() {
        let a = TokenKey::generate();
        let b = TokenKey::generate();
        assert_ne!(a.0, b.0);
        assert_eq!(TokenKey::from_base64(&a.to_base64()).unwrap().0, a.0);
    }

    #[test]
    fn debug_redacts() {
        let key = TokenKey::from_base64(KEY_B64).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "TokenKey(<redacted>)");
        let ring = KeyRing::new("k1", vec![("k1".into(), key)]).unwrap();
        assert_eq!(format!("{ring:?}"), r#"KeyRing { active: "k1", key_ids: ["k1"] }"#);
    }

    /// The check value is the documented shell pipeline's answer (SHA-256 over the label and
    /// the key, 8 hex digits), one per key id, and differs between keys.
    #[test]
    fn check_values_are_the_documented_hash_and_tell_keys_apart() {
        let key = TokenKey::from_base64(KEY_B64).unwrap();
        // { printf 'rolegate token key check value'; base64 -d <<< "$KEY_B64"; } | sha256sum | cut -c1-8
        assert_eq!(key.check_value(), "76ebd004");
        let other = TokenKey::generate();
        let other_value = other.check_value();
        assert_ne!(other_value, "76ebd004");
        assert_eq!(other_value.len(), 8);
        let ring = KeyRing::new("k2", vec![("k2".into(), other), ("k1".into(), key)]).unwrap();
        assert_eq!(ring.check_values(), [("k1", "76ebd004"), ("k2", other_value.as_str())]);
    }

    #[test]
    fn builds_rings() {
        let ring = KeyRing::new(
            "k2",
            vec![("k2".into(), TokenKey::generate()), ("k1".into(), TokenKey::generate())],
        )
        .unwrap();
        assert_eq!(ring.active_id(), "k2");
        assert_eq!(ring.key_ids(), ["k1", "k2"]);
        assert!(ring.contains("k1"));
        assert!(!ring.contains("k3"));
        assert_eq!(ring.active_key().map(|(id, _)| id), Some("k2"));
    }

    #[test]
    fn tells_which_ids_name_another_key() {
        let (k1, k2) = (TokenKey::generate(), TokenKey::generate());
        let ring = KeyRing::new("k1", vec![("k1".into(), k1.clone()), ("k2".into(), k2.clone())]).unwrap();
        // The same keys (rotation adds and removes ids; that is not a change of key).
        let rotated = KeyRing::new(
            "k2",
            vec![("k2".into(), k2.clone()), ("k3".into(), TokenKey::generate())],
        )
        .unwrap();
        assert_eq!(ring.ids_with_other_keys(&rotated).count(), 0);
        // k2's file replaced by a fresh key under the same id.
        let replaced = KeyRing::new("k1", vec![("k1".into(), k1), ("k2".into(), TokenKey::generate())]).unwrap();
        assert_eq!(ring.ids_with_other_keys(&replaced).collect::<Vec<_>>(), ["k2"]);
        // Two ids swapping their keys are two changes.
        let (a, b) = (TokenKey::generate(), TokenKey::generate());
        let before = KeyRing::new("x", vec![("x".into(), a.clone()), ("y".into(), b.clone())]).unwrap();
        let swapped = KeyRing::new("x", vec![("x".into(), b), ("y".into(), a)]).unwrap();
        assert_eq!(before.ids_with_other_keys(&swapped).collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn rejects_bad_rings() {
        let long = "a".repeat(33);
        let cases: Vec<(&str, Vec<&str>, KeyRingError)> = vec![
            ("k1", vec![], KeyRingError::ActiveKeyMissing("k1".into())),
            ("k9", vec!["k1"], KeyRingError::ActiveKeyMissing("k9".into())),
            ("k1", vec!["k1", "k1"], KeyRingError::DuplicateKeyId("k1".into())),
            ("", vec![""], KeyRingError::BadKeyId(String::new())),
            ("k.1", vec!["k.1"], KeyRingError::BadKeyId("k.1".into())),
            ("k1", vec!["k1", "k 2"], KeyRingError::BadKeyId("k 2".into())),
            ("k1", vec!["k1", &long], KeyRingError::BadKeyId(long.clone())),
        ];
        for (active, ids, expected) in cases {
            let keys = ids.iter().map(|id| (id.to_string(), TokenKey::generate())).collect();
            assert_eq!(KeyRing::new(active, keys).unwrap_err(), expected);
        }
        let max = "A-z_9".repeat(6) + "ab";
        assert!(KeyRing::new(&max, vec![(max.clone(), TokenKey::generate())]).is_ok());
        // A key pasted where an id belongs is not repeated in the message.
        let key = TokenKey::generate().to_base64();
        for e in [
            KeyRing::new(&key, vec![("k1".into(), TokenKey::generate())]).unwrap_err(),
            KeyRing::new("k1", vec![(key.to_string(), TokenKey::generate())]).unwrap_err(),
        ] {
            let message = e.to_string();
            assert!(!message.contains(&key[..8]), "{message}");
            assert!(message.contains("of 44 characters (not shown"), "{message}");
        }
        assert_eq!(
            KeyRingError::BadKeyId("k.1".into()).to_string(),
            "token key id 'k.1' is invalid: use 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'"
        );
    }

    #[test]
    fn ring_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeyRing>();
    }
}
