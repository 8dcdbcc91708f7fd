//! The sidecar's IMDSv2 session tokens (`PUT /latest/api/token`), stateless: a token is its
//! expiry and an HMAC-SHA256 of it, under a key derived from the workload's private key.
//!
//! Nothing is stored, so a restarted sidecar still accepts the tokens it issued before, and no
//! store fills up and drops a live token. Both matter to aws-sdk-rust, which keeps its token for
//! the whole TTL it asked for (6 hours by default) and retries a 401 with the same token: a
//! token the sidecar forgot would fail every credential refresh of a running application until
//! the token expired. The key is derived, not random, for the same reason: the key file is what
//! survives a restart. A new private key (a rotation) keeps the key derived at start until the
//! sidecar restarts; tokens issued under an earlier key are then refused, and are replaced by
//! SDKs as they expire (botocore asks for a new one on every credential fetch).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};

/// What keys the token MAC, derived from the private key with a label of its own (the key
/// signs nothing with this).
pub const KEY_LABEL: &[u8] = b"rolegate sidecar IMDSv2 token key v1";

/// A token's bytes: the expiry (Unix seconds, big-endian) and its MAC.
const EXPIRY_BYTES: usize = 8;
const TOKEN_BYTES: usize = EXPIRY_BYTES + 32;

/// Issues and checks IMDSv2 tokens.
#[derive(Clone)]
pub struct ImdsTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for ImdsTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImdsTokens(<key>)")
    }
}

impl ImdsTokens {
    /// Tokens keyed by `secret` (the workload's private key, PKCS#8 DER, or a token RSA key's
    /// signature of [`KEY_LABEL`]): the same secret gives the same tokens in every process.
    pub fn derived_from(secret: &[u8]) -> ImdsTokens {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, KEY_LABEL), secret);
        ImdsTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// Tokens keyed by a random key of this process, for an EC private key on a token (which
    /// never leaves it, and signs differently each time). A restarted sidecar then refuses the
    /// tokens it issued before: botocore asks for a new one, aws-sdk-rust keeps failing until
    /// its token expires.
    pub fn random() -> Result<ImdsTokens, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| "no randomness for the IMDS token key")?;
        Ok(ImdsTokens { key })
    }

    /// A token valid for `ttl` from `now`, or up to a second longer: its expiry is a whole
    /// second, rounded up, so that a token lives at least its TTL (a TTL-1 token issued late in
    /// a second would otherwise die at the next).
    pub fn issue(&self, now: OffsetDateTime, ttl: Duration) -> String {
        let expiry = whole_second_at_or_after(now + ttl).to_be_bytes();
        let mut token = [0u8; TOKEN_BYTES];
        token[..EXPIRY_BYTES].copy_from_slice(&expiry);
        token[EXPIRY_BYTES..].copy_from_slice(hmac::sign(&self.key, &expiry).as_ref());
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Whether `token` was issued under this key and has not expired at `now`.
    #[cfg(test)]
    pub fn valid(&self, token: &str, now: OffsetDateTime) -> bool {
        self.seconds_left(token, now).is_some()
    }

    /// The whole seconds `token` stays valid after `now`, rounded down (IMDS answers them with
    /// every GET; never more than the TTL asked for), or None when it was not issued under this
    /// key or has expired. The MAC is checked in constant time before the expiry is read.
    pub fn seconds_left(&self, token: &str, now: OffsetDateTime) -> Option<i64> {
        let mut raw = [0u8; TOKEN_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(token, &mut raw) {
            Ok(TOKEN_BYTES) => {}
            _ => return None,
        }
        let (expiry, tag) = raw.split_at(EXPIRY_BYTES);
        hmac::verify(&self.key, expiry, tag).ok()?;
        let mut seconds = [0u8; EXPIRY_BYTES];
        seconds.copy_from_slice(expiry);
        let after_whole_second = i64::from_be_bytes(seconds).saturating_sub(now.unix_timestamp());
        // Valid while `now` is before the expiry (a whole second); the part of the current
        // second already gone does not count as left.
        let started = i64::from(now.nanosecond() > 0);
        (after_whole_second > 0).then_some(after_whole_second - started)
    }
}

/// The first whole second (Unix time) at or after `t`.
fn whole_second_at_or_after(t: OffsetDateTime) -> i64 {
    let second = t.unix_timestamp();
    match t.nanosecond() {
        0 => second,
        _ => second.saturating_add(1),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    #[test]
    fn tokens_are_valid_until_their_ttl_ends() {
        let tokens = ImdsTokens::derived_from(b"private key one");
        let token = tokens.issue(T0, Duration::seconds(21600));
        assert!(tokens.valid(&token, T0));
        assert!(tokens.valid(&token, T0 + Duration::seconds(21599)));
        assert!(!tokens.valid(&token, T0 + Duration::seconds(21600)));
        assert_eq!(tokens.seconds_left(&token, T0 + Duration::seconds(600)), Some(21000));
        assert_eq!(tokens.seconds_left(&token, T0 + Duration::seconds(21600)), None);
        // Issued within a second, the longest TTL is told as at most itself.
        let issued = T0 + Duration::milliseconds(250);
        let token = tokens.issue(issued, Duration::seconds(21600));
        assert_eq!(tokens.seconds_left(&token, issued), Some(21600));
        assert_eq!(tokens.seconds_left(&token, issued + Duration::seconds(60)), Some(21540));
    }

    /// A token issued within a second lives its whole TTL: its expiry is rounded up.
    #[test]
    fn a_token_issued_within_a_second_lives_at_least_its_ttl() {
        let tokens = ImdsTokens::derived_from(b"private key one");
        let issued = T0 + Duration::milliseconds(900);
        let token = tokens.issue(issued, Duration::seconds(1));
        // 1.1 s left, told in whole seconds rounded down: never more than the TTL asked for.
        assert_eq!(tokens.seconds_left(&token, issued), Some(1));
        assert_eq!(tokens.seconds_left(&token, T0 + Duration::milliseconds(1500)), Some(0));
        assert!(tokens.valid(&token, issued + Duration::milliseconds(999)));
        assert!(tokens.valid(&token, T0 + Duration::milliseconds(1999)));
        assert!(!tokens.valid(&token, T0 + Duration::seconds(2)));
        // On a whole second, exactly its TTL.
        let token = tokens.issue(T0, Duration::seconds(1));
        assert!(tokens.valid(&token, T0 + Duration::milliseconds(999)));
        assert!(!tokens.valid(&token, T0 + Duration::seconds(1)));
    }

    #[test]
    fn a_restarted_sidecar_accepts_the_tokens_of_the_same_key_only() {
        let token = ImdsTokens::derived_from(b"private key one").issue(T0, Duration::seconds(60));
        assert!(ImdsTokens::derived_from(b"private key one").valid(&token, T0));
        assert!(!ImdsTokens::derived_from(b"private key two").valid(&token, T0));
    }

    #[test]
    fn altered_or_malformed_tokens_are_refused() {
        let tokens = ImdsTokens::derived_from(b"private key one");
        let token = tokens.issue(T0, Duration::seconds(60));
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[7] ^= 0x01; // a later expiry
        assert!(!tokens.valid(&URL_SAFE_NO_PAD.encode(&raw), T0));
        for bad in [
            "",
            "x",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &format!("{}+", &token[1..]),
        ] {
            assert!(!tokens.valid(bad, T0), "{bad}");
        }
    }
}
