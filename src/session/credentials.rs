//! Credential minting: the access key id, secret access key and session token handed to a
//! client, and the identifiers and timestamps AWS formats them with.
//!
//! Formats (DESIGN §1 "Session",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>):
//! - temporary access key ids are `ASIA` + 16 characters of `[A-Z2-7]`;
//! - secret access keys are 40 characters of the base64 alphabet;
//! - role ids are `AROA` + 17 characters of `[A-Z2-7]`;
//! - expirations are ISO 8601 UTC with whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! Randomness comes from AWS-LC's CSPRNG (seeded by the operating system) through aws-lc-rs,
//! drawn once per session: one call costs as much as the sealing of the token.

use std::fmt;

use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime};
use zeroize::Zeroizing;

use super::claims::{SessionClaims, SessionClaimsDraft};
use super::keyring::KeyRing;
use super::token::{NONCE_LEN, TokenError, seal_with_nonce};

/// The credentials of a new session, as returned to the client.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: String,
    /// Unix seconds; format with [`format_expiration`].
    pub expiration: i64,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Mints a session: draws a fresh access key id and secret, completes the claims with them and
/// seals the session token with the ring's active key, padded to at least `min_token_len`
/// characters (STS `MinimumSessionTokenSize`; 0 for no padding). Returns the client's
/// credentials and the claims the token carries.
pub fn mint(
    ring: &KeyRing,
    draft: SessionClaimsDraft,
    min_token_len: usize,
) -> Result<(Credentials, SessionClaims), TokenError> {
    let mut random = Zeroizing::new([0u8; ACCESS_KEY_RANDOM + SECRET_RANDOM + NONCE_LEN]);
    fill_random(&mut *random);
    let (id_random, rest) = random.split_at(ACCESS_KEY_RANDOM);
    let (secret_random, nonce_random) = rest.split_at(SECRET_RANDOM);
    let claims = SessionClaims::from_draft(
        draft,
        access_key_id_from(id_random),
        secret_access_key_from(secret_random),
    );
    let mut nonce = [0u8; NONCE_LEN];
    // invariant: `nonce_random` is the last NONCE_LEN bytes of `random` (constant lengths).
    nonce.copy_from_slice(nonce_random);
    let session_token = seal_with_nonce(ring, &claims, nonce, min_token_len)?;
    let credentials = Credentials {
        access_key_id: claims.access_key_id.clone(),
        secret_access_key: claims.secret_access_key.clone(),
        session_token,
        expiration: claims.expires_at,
    };
    Ok((credentials, claims))
}

/// Random bytes of an access key id (one character each).
const ACCESS_KEY_RANDOM: usize = 16;
/// Random bytes of a secret access key (one character each).
const SECRET_RANDOM: usize = 40;

/// A fresh temporary access key id: `ASIA` + 16 random characters of `[A-Z2-7]`
/// (80 random bits).
pub fn new_access_key_id() -> String {
    let mut random = [0u8; ACCESS_KEY_RANDOM];
    fill_random(&mut random);
    access_key_id_from(&random)
}

/// A fresh secret access key: 40 random characters of `[A-Za-z0-9+/]` (240 random bits).
pub fn new_secret_access_key() -> Zeroizing<String> {
    let mut random = Zeroizing::new([0u8; SECRET_RANDOM]);
    fill_random(&mut *random);
    secret_access_key_from(&*random)
}

/// `ASIA` + one `[A-Z2-7]` character per random byte.
fn access_key_id_from(random: &[u8]) -> String {
    let mut id = String::with_capacity(4 + random.len());
    id.push_str("ASIA");
    id.extend(random.iter().map(|b| base32_char(*b)));
    id
}

/// One `[A-Za-z0-9+/]` character per random byte.
fn secret_access_key_from(random: &[u8]) -> Zeroizing<String> {
    let mut secret = Zeroizing::new(String::with_capacity(random.len()));
    secret.extend(random.iter().map(|b| base64_char(*b)));
    secret
}

/// The unique id of a role: `AROA` + 17 characters of `[A-Z2-7]` derived from the SHA-256 of
/// the role ARN, so every replica and every restart gives the same id for the same role, as
/// AWS's stable role ids do.
pub fn role_id(role_arn: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"rolegate role id v1\0")
        .chain_update(role_arn.as_bytes())
        .finalize();
    let mut id = String::with_capacity(21);
    id.push_str("AROA");
    id.extend(digest.iter().take(17).map(|b| base32_char(*b)));
    id
}

/// Formats unix seconds as AWS formats credential expirations: `YYYY-MM-DDTHH:MM:SSZ` (UTC).
/// Times outside years -9999..=9999 (no certificate or session has one) are clamped to them.
pub fn format_expiration(unix_seconds: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_seconds).unwrap_or(match unix_seconds < 0 {
        true => PrimitiveDateTime::MIN.assume_utc(),
        false => PrimitiveDateTime::MAX.assume_utc(),
    });
    let (year, month, day) = t.to_calendar_date();
    format!(
        "{year:04}-{:02}-{day:02}T{:02}:{:02}:{:02}Z",
        u8::from(month),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Fills `dest` from the operating system CSPRNG.
pub(super) fn fill_random(dest: &mut [u8]) {
    // invariant: AWS-LC's RAND_bytes aborts the process rather than return failure, so this
    // error is unreachable; should it ever happen, issuing predictable keys would be worse
    // than stopping.
    #[expect(clippy::panic, reason = "unreachable, and predictable keys would be worse")]
    if aws_lc_rs::rand::fill(dest).is_err() {
        panic!("the system random number generator failed");
    }
}

/// Maps a random byte to `[A-Z2-7]` (RFC 4648 base32 alphabet) without bias: 256 is a multiple
/// of 32.
fn base32_char(byte: u8) -> char {
    char::from(BASE32_ALPHABET[usize::from(byte & 31)])
}

/// Maps a random byte to `[A-Za-z0-9+/]` (RFC 4648 base64 alphabet) without bias.
fn base64_char(byte: u8) -> char {
    char::from(BASE64_ALPHABET[usize::from(byte & 63)])
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[cfg(test)]
mod tests {
    use super::super::claims::tests::sample_draft;
    use super::super::keyring::TokenKey;
    use super::super::token::open;
    use super::*;

    fn all_in(s: &str, alphabet: &[u8]) -> bool {
        s.bytes().all(|b| alphabet.contains(&b))
    }

    #[test]
    fn access_key_ids() {
        let a = new_access_key_id();
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("ASIA"), "{a}");
        assert!(all_in(&a[4..], BASE32_ALPHABET), "{a}");
        assert_ne!(a, new_access_key_id());
    }

    #[test]
    fn secret_access_keys() {
        let s = new_secret_access_key();
        assert_eq!(s.len(), 40);
        assert!(all_in(&s, BASE64_ALPHABET), "{}", s.as_str());
        assert_ne!(*s, *new_secret_access_key());
    }

    #[test]
    fn role_ids_are_stable_and_distinct() {
        let arn = "arn:aws:iam::123456789012:role/app";
        let id = role_id(arn);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"), "{id}");
        assert!(all_in(&id[4..], BASE32_ALPHABET), "{id}");
        assert_eq!(id, role_id(arn));
        assert_ne!(id, role_id("arn:aws:iam::123456789012:role/app2"));
    }

    #[test]
    fn expirations() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_767_229_200, "2026-01-01T01:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (i64::MAX, "9999-12-31T23:59:59Z"),
        ];
        for (secs, expected) in cases {
            assert_eq!(format_expiration(*secs), *expected, "{secs}");
        }
    }

    #[test]
    fn mints_openable_credentials() {
        let ring = KeyRing::new("k1", vec![("k1".into(), TokenKey::generate())]).unwrap();
        let draft = sample_draft();
        let (credentials, claims) = mint(&ring, draft.clone(), 0).unwrap();
        assert_eq!(credentials.access_key_id, claims.access_key_id);
        assert_eq!(credentials.secret_access_key, claims.secret_access_key);
        assert_eq!(credentials.expiration, draft.expires_at);
        assert!(credentials.access_key_id.starts_with("ASIA"));
        assert_eq!(open(&ring, &credentials.session_token).unwrap(), claims);
        assert_eq!(claims.role_arn, draft.role_arn);
        assert_eq!(claims.origin, draft.origin);

        let (again, _) = mint(&ring, draft, 0).unwrap();
        assert_ne!(again.access_key_id, credentials.access_key_id);
        assert_ne!(again.session_token, credentials.session_token);
    }

    #[test]
    fn credentials_debug_redacts() {
        let ring = KeyRing::new("k1", vec![("k1".into(), TokenKey::generate())]).unwrap();
        let (credentials, _) = mint(&ring, sample_draft(), 0).unwrap();
        let shown = format!("{credentials:?}");
        assert!(!shown.contains(credentials.secret_access_key.as_str()), "{shown}");
        assert!(!shown.contains(&credentials.session_token), "{shown}");
        assert!(shown.contains(&credentials.access_key_id), "{shown}");
    }
}
