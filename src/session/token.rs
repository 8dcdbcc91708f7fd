//! Sealed, self-contained session tokens (DESIGN §3).
//!
//! A token is the session's claims encrypted and authenticated with a key of the [`KeyRing`],
//! so any replica holding the ring opens any token with no shared store:
//!
//! ```text
//! rg2.{key id}.{base64url-nopad(nonce[12] || AES-256-GCM-SIV(claims plaintext) || tag[16])}
//! ```
//!
//! - `rg2` names this layout; the key id is in the clear so [`open`] picks the key without
//!   trying each one. The whole header `rg2.{key id}.` is the AEAD associated data, so neither
//!   can be altered.
//! - The nonce is 96 random bits from the system CSPRNG. AES-GCM-SIV (RFC 8452) derives a key
//!   per nonce and resists nonce reuse: a repeated nonce reveals at most that two plaintexts
//!   are equal (never, as each holds a fresh secret), where with AES-GCM it would reveal the
//!   authentication key and let tokens be forged. So a key seals far more than AES-GCM's 2³²
//!   random-nonce tokens (NIST SP 800-38D §8.3) safely. The cipher key is derived from the
//!   ring's key ([`super::keyring`]).
//! - `rg1` tokens, the same layout under AES-256-GCM with the ring's key itself, were sealed by
//!   earlier versions; they are still opened (they live 12 hours at most).
//! - The plaintext is a version byte ([`CLAIMS_VERSION`]) followed by the claims in
//!   [postcard](https://postcard.jamesmunns.com/wire-format) encoding: one pass, no JSON.
//!   Version 2 is version 1's claims followed by the session's certificate chain (an
//!   `Option`); version 1 plaintexts, sealed by earlier versions, are still opened, with no
//!   chain.
//!   Zero bytes may follow the claims, sealed with them: the padding that makes a token as
//!   long as an STS `MinimumSessionTokenSize` asks.
//! - Every character is from `[A-Za-z0-9._-]`, unreserved in URIs (RFC 3986 §2.3), so the token
//!   needs no escaping in headers, query strings or SigV4 canonical requests.
//!
//! [`open`] does not check expiry: the caller compares [`SessionClaims::expires_at`] with its
//! clock. Every failure a client can cause shows AWS's `InvalidClientTokenId` message.

use std::borrow::Cow;

pub(super) use aws_lc_rs::aead::NONCE_LEN;
use aws_lc_rs::aead::{Aad, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::claims::{SessionChain, SessionClaims, SessionOrigin};
use super::credentials::fill_random;
use super::keyring::{KeyRing, is_valid_key_id};
use crate::identity::IssuerSerial;

/// The longest token [`open`] accepts and [`seal`] produces, in characters. Checked before
/// any decoding; AWS tokens are typically under 4 KiB, ours carry the session policies too.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Layout version of the sealed plaintext.
pub const CLAIMS_VERSION: u8 = 2;
/// The layout of earlier versions: [`CLAIMS_VERSION`] without the certificate chain.
const CLAIMS_VERSION_1: u8 = 1;
/// The layouts [`seal`] writes, as [`KeyRing::sealing_claims_layout`] chooses: layout 1 leaves
/// the certificate chain out, for replicas of earlier releases to read.
pub const SEALABLE_LAYOUTS: [u8; 2] = [CLAIMS_VERSION_1, CLAIMS_VERSION];

/// The message AWS STS gives for a token it cannot use (`InvalidClientTokenId`, HTTP 403).
pub const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";

/// Why a token cannot be sealed or opened.
///
/// Every failure of [`open`] displays AWS's `InvalidClientTokenId` message, which is what the
/// client sees; [`TokenError::reason`] says what actually happened, for logs and audit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a rolegate token: wrong prefix, bad key id, bad base64 or too short.
    #[error("The security token included in the request is invalid.")]
    Malformed,
    /// Sealed with a key id the ring does not hold (removed or never known).
    #[error("The security token included in the request is invalid.")]
    UnknownKey(String),
    /// The ring holds the key id the token names, but authentication under that key failed:
    /// the token was sealed under another key with the same id (a key file replaced under an
    /// id it already had, or replicas whose files differ), or it was altered, truncated or
    /// forged.
    #[error("The security token included in the request is invalid.")]
    KeyMismatch(String),
    /// Authentic, but the claims inside do not decode (a sealing bug, never a client's).
    #[error("The security token included in the request is invalid.")]
    Invalid,
    /// Longer than [`MAX_TOKEN_LEN`]; refused before decoding.
    #[error("The security token included in the request is invalid.")]
    TooLarge,
    /// Authentic, but sealed by a rolegate with a newer plaintext layout.
    #[error("The security token included in the request is invalid.")]
    UnsupportedVersion(u8),
    /// [`seal`]: the claims would make a token longer than [`MAX_TOKEN_LEN`].
    #[error(
        "the session is too large to fit in a session token ({len} characters, at most {max}); use fewer or smaller session policies and tags"
    )]
    ClaimsTooLarge { len: usize, max: usize },
    /// [`seal`]: the cryptographic library failed to encrypt.
    #[error("the session token could not be sealed: the cryptographic library failed")]
    SealFailed,
}

impl TokenError {
    /// A short description of the actual failure for logs and audit events (never secret).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "token is malformed",
            Self::UnknownKey(_) => "token was sealed with a key that is not in the key ring",
            Self::KeyMismatch(_) => "token failed authentication under the key of its key id",
            Self::Invalid => "token claims do not decode",
            Self::TooLarge => "token is too long",
            Self::UnsupportedVersion(_) => "token uses an unsupported claims version",
            Self::ClaimsTooLarge { .. } => "claims are too large for a token",
            Self::SealFailed => "sealing failed",
        }
    }
}

/// Seals `claims` with the ring's active key.
pub fn seal(ring: &KeyRing, claims: &SessionClaims) -> Result<String, TokenError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    seal_with_nonce(ring, claims, nonce, 0)
}

/// [`seal`] with a nonce the caller drew from the CSPRNG (minting draws all of a session's
/// randomness at once), padded to at least `min_len` characters. A nonce must never be used
/// twice with the same key.
pub(super) fn seal_with_nonce(
    ring: &KeyRing,
    claims: &SessionClaims,
    nonce: [u8; NONCE_LEN],
    min_len: usize,
) -> Result<String, TokenError> {
    let (key_id, key) = ring.active_key().ok_or(TokenError::SealFailed)?;
    let header = format!("{}{key_id}.", Layout::Rg2.prefix());

    // The plaintext holds the secret access key: size the buffer up front so serialization
    // never reallocates and leaves unzeroized copies behind.
    let wire = WireClaims::from(claims);
    let layout = ring.seal_layout();
    let chain = match layout {
        CLAIMS_VERSION_1 => None,
        _ => claims.chain.as_ref().map(WireChain::from),
    };
    let bound = wire.size_bound() + chain.as_ref().map_or(1, WireChain::size_bound);
    let mut buffer = Vec::with_capacity(bound + padding_len(header.len(), NONCE_LEN + bound + TAG_LEN, min_len));
    buffer.push(layout);
    // One call (a pair encodes as its two parts one after the other): the buffer, which holds
    // the secret once written, is zeroized as soon as it is back.
    let encoded = match layout {
        CLAIMS_VERSION_1 => postcard::to_extend(&wire, buffer),
        _ => postcard::to_extend(&(&wire, &chain), buffer),
    };
    let mut plaintext = Zeroizing::new(encoded.map_err(|_| TokenError::SealFailed)?);
    let padding = padding_len(header.len(), NONCE_LEN + plaintext.len() + TAG_LEN, min_len);
    let padded_len = plaintext.len() + padding;
    plaintext.resize(padded_len, 0);

    let sealed_len = NONCE_LEN + plaintext.len() + TAG_LEN;
    let token_len = header.len() + base64_len(sealed_len);
    if token_len > MAX_TOKEN_LEN {
        return Err(TokenError::ClaimsTooLarge {
            len: token_len,
            max: MAX_TOKEN_LEN,
        });
    }

    // Zeroizing: holds the plaintext until it is encrypted in place.
    let mut sealed = Zeroizing::new(Vec::with_capacity(sealed_len));
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&plaintext);
    // invariant: `sealed` starts with the NONCE_LEN nonce bytes just written.
    let (_, in_out) = sealed.split_at_mut(NONCE_LEN);
    let tag = key
        .rg2
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(header.as_bytes()),
            in_out,
        )
        .map_err(|_| TokenError::SealFailed)?;
    sealed.extend_from_slice(tag.as_ref());

    let mut token = header;
    // Sized once: the encoder would otherwise grow the string chunk by chunk.
    token.reserve_exact(token_len - token.len());
    URL_SAFE_NO_PAD.encode_string(&*sealed, &mut token);
    debug_assert_eq!(token.len(), token_len);
    Ok(token)
}

/// Opens a token sealed by [`seal`] with any key of the ring. Does not check expiry.
pub fn open(ring: &KeyRing, token: &str) -> Result<SessionClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge);
    }
    let parts = split(token).ok_or(TokenError::Malformed)?;
    let key = ring
        .key(parts.key_id)
        .ok_or_else(|| TokenError::UnknownKey(parts.key_id.to_owned()))?;
    let key = match parts.layout {
        Layout::Rg2 => &key.rg2,
        Layout::Rg1 => &key.rg1,
    };

    // Holds the plaintext after opening in place.
    let mut sealed = Zeroizing::new(URL_SAFE_NO_PAD.decode(parts.body).map_err(|_| TokenError::Malformed)?);
    if sealed.len() < NONCE_LEN + 1 + TAG_LEN {
        return Err(TokenError::Malformed);
    }
    let (nonce, ciphertext) = sealed.split_at_mut(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| TokenError::Malformed)?;
    let plaintext = key
        .open_in_place(nonce, Aad::from(parts.header.as_bytes()), ciphertext)
        .map_err(|_| TokenError::KeyMismatch(parts.key_id.to_owned()))?;

    match plaintext.split_first() {
        Some((&CLAIMS_VERSION, encoded)) => decode_claims(encoded, true),
        Some((&CLAIMS_VERSION_1, encoded)) => decode_claims(encoded, false),
        Some((&version, _)) => Err(TokenError::UnsupportedVersion(version)),
        None => Err(TokenError::Invalid),
    }
}

/// The key id a token claims to be sealed with, without any cryptography. `None` when the
/// token does not have the rolegate layout.
#[cfg(test)]
pub fn key_id_of(token: &str) -> Option<&str> {
    split(token).map(|parts| parts.key_id)
}

/// How every session token starts, by layout (for redacting tokens from logs too).
pub const TOKEN_PREFIXES: [&str; 2] = [Layout::Rg2.prefix(), Layout::Rg1.prefix()];
/// AES-256-GCM and AES-256-GCM-SIV tag length.
const TAG_LEN: usize = 16;

/// A token layout: `rg2` (AES-256-GCM-SIV, sealed now) or `rg1` (AES-256-GCM, opened only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Rg2,
    Rg1,
}

impl Layout {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Rg2 => "rg2.",
            Self::Rg1 => "rg1.",
        }
    }
}

/// The clear parts of a token: `header` is `rg2.{key_id}.`, `body` the base64 after it.
struct TokenParts<'a> {
    layout: Layout,
    header: &'a str,
    key_id: &'a str,
    body: &'a str,
}

fn split(token: &str) -> Option<TokenParts<'_>> {
    let (layout, rest) = [Layout::Rg2, Layout::Rg1]
        .into_iter()
        .find_map(|layout| Some((layout, token.strip_prefix(layout.prefix())?)))?;
    let (key_id, body) = rest.split_once('.')?;
    if !is_valid_key_id(key_id) {
        return None;
    }
    let header = token.get(..layout.prefix().len() + key_id.len() + 1)?;
    Some(TokenParts {
        layout,
        header,
        key_id,
        body,
    })
}

/// Length of the unpadded base64 of `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4 - (3 - n % 3) % 3
}

/// The fewest zero bytes to add to a plaintext that seals to `sealed_len` bytes so that the
/// token, `header_len` characters of header and the base64 of the sealed bytes, is at least
/// `min_len` characters long (or one more: unpadded base64 is never 4k + 1 characters).
fn padding_len(header_len: usize, sealed_len: usize, min_len: usize) -> usize {
    let body_len = min_len.saturating_sub(header_len);
    // base64 carries 3 bytes in 4 characters: start just below and step up.
    let mut padded = (body_len * 3 / 4).max(sealed_len);
    while base64_len(padded) < body_len {
        padded += 1;
    }
    padded - sealed_len
}

/// The claims of a plaintext: postcard claims, the certificate chain when `with_chain`
/// (version 2), then nothing but zero padding.
fn decode_claims(encoded: &[u8], with_chain: bool) -> Result<SessionClaims, TokenError> {
    let (wire, rest) = postcard::take_from_bytes::<WireClaims<'_>>(encoded).map_err(|_| TokenError::Invalid)?;
    let (chain, padding) = if with_chain {
        postcard::take_from_bytes::<Option<WireChain<'_>>>(rest).map_err(|_| TokenError::Invalid)?
    } else {
        (None, rest)
    };
    if padding.iter().any(|&b| b != 0) {
        return Err(TokenError::Invalid);
    }
    let mut claims = wire.into_claims();
    claims.chain = chain.map(WireChain::into_chain);
    Ok(claims)
}

/// The postcard layout of the claims of [`CLAIMS_VERSION`] 1, which version 2 follows with an
/// `Option<WireChain>`. Field order is the wire format: never change it; add fields in a
/// new version after the last ones, as version 2 did.
#[derive(Serialize, Deserialize)]
struct WireClaims<'a> {
    access_key_id: Cow<'a, str>,
    secret_access_key: Cow<'a, str>,
    role_arn: Cow<'a, str>,
    role_id: Cow<'a, str>,
    session_name: Cow<'a, str>,
    issued_at: i64,
    expires_at: i64,
    source_identity: Option<Cow<'a, str>>,
    tags: Cow<'a, [(String, String)]>,
    transitive_tag_keys: Cow<'a, [String]>,
    session_policies: Cow<'a, [String]>,
    policy_arns: Cow<'a, [String]>,
    origin: WireOrigin<'a>,
}

#[derive(Serialize, Deserialize)]
enum WireOrigin<'a> {
    RolesAnywhere {
        trust_anchor_arn: Cow<'a, str>,
        profile_arn: Cow<'a, str>,
        certificate_serial: Cow<'a, str>,
    },
    AssumeRole {
        source_role_arn: Cow<'a, str>,
        source_session_name: Cow<'a, str>,
    },
}

/// The postcard layout of a [`SessionChain`] (version 2): each certificate as its issuer
/// digest and serial octets.
#[derive(Serialize, Deserialize)]
struct WireChain<'a> {
    trust_anchor_arn: Cow<'a, str>,
    certificates: Vec<WireIssuerSerial<'a>>,
    issued_anchor_listings: Vec<WireIssuerSerial<'a>>,
}

/// An [`IssuerSerial`]: the issuer digest and the serial's content octets.
type WireIssuerSerial<'a> = ([u8; 32], Cow<'a, [u8]>);

impl<'a> From<&'a SessionChain> for WireChain<'a> {
    fn from(c: &'a SessionChain) -> Self {
        let wire = |ids: &'a [IssuerSerial]| {
            ids.iter()
                .map(|id| (id.issuer_digest, Cow::Borrowed(id.serial.as_slice())))
                .collect()
        };
        Self {
            trust_anchor_arn: Cow::Borrowed(&c.trust_anchor_arn),
            certificates: wire(&c.certificates),
            issued_anchor_listings: wire(&c.issued_anchor_listings),
        }
    }
}

impl WireChain<'_> {
    /// An upper bound of the encoded size, its `Option` tag included (see
    /// [`WireClaims::size_bound`]).
    fn size_bound(&self) -> usize {
        const VARINT: usize = 10;
        let ids = |ids: &[WireIssuerSerial<'_>]| -> usize {
            VARINT + ids.iter().map(|(_, serial)| 32 + serial.len() + VARINT).sum::<usize>()
        };
        5 + self.trust_anchor_arn.len() + VARINT + ids(&self.certificates) + ids(&self.issued_anchor_listings)
    }

    fn into_chain(self) -> SessionChain {
        let owned = |ids: Vec<WireIssuerSerial<'_>>| {
            ids.into_iter()
                .map(|(issuer_digest, serial)| IssuerSerial {
                    issuer_digest,
                    serial: serial.into_owned(),
                })
                .collect()
        };
        SessionChain {
            trust_anchor_arn: self.trust_anchor_arn.into_owned(),
            certificates: owned(self.certificates),
            issued_anchor_listings: owned(self.issued_anchor_listings),
        }
    }
}

impl<'a> From<&'a SessionClaims> for WireClaims<'a> {
    fn from(c: &'a SessionClaims) -> Self {
        Self {
            access_key_id: Cow::Borrowed(&c.access_key_id),
            secret_access_key: Cow::Borrowed(&c.secret_access_key),
            role_arn: Cow::Borrowed(&c.role_arn),
            role_id: Cow::Borrowed(&c.role_id),
            session_name: Cow::Borrowed(&c.session_name),
            issued_at: c.issued_at,
            expires_at: c.expires_at,
            source_identity: c.source_identity.as_deref().map(Cow::Borrowed),
            tags: Cow::Borrowed(&c.tags),
            transitive_tag_keys: Cow::Borrowed(&c.transitive_tag_keys),
            session_policies: Cow::Borrowed(&c.session_policies),
            policy_arns: Cow::Borrowed(&c.policy_arns),
            origin: match &c.origin {
                SessionOrigin::RolesAnywhere {
                    trust_anchor_arn,
                    profile_arn,
                    certificate_serial,
                } => WireOrigin::RolesAnywhere {
                    trust_anchor_arn: Cow::Borrowed(trust_anchor_arn),
                    profile_arn: Cow::Borrowed(profile_arn),
                    certificate_serial: Cow::Borrowed(certificate_serial),
                },
                SessionOrigin::AssumeRole {
                    source_role_arn,
                    source_session_name,
                } => WireOrigin::AssumeRole {
                    source_role_arn: Cow::Borrowed(source_role_arn),
                    source_session_name: Cow::Borrowed(source_session_name),
                },
            },
        }
    }
}

impl WireClaims<'_> {
    /// An upper bound of the encoded size: postcard writes each length and integer as a
    /// varint of at most 10 bytes, each enum/option tag in at most 5.
    fn size_bound(&self) -> usize {
        const VARINT: usize = 10;
        let strings = |items: &[String]| -> usize { items.iter().map(|s| s.len() + VARINT).sum::<usize>() + VARINT };
        let origin = match &self.origin {
            WireOrigin::RolesAnywhere {
                trust_anchor_arn,
                profile_arn,
                certificate_serial,
            } => trust_anchor_arn.len() + profile_arn.len() + certificate_serial.len(),
            WireOrigin::AssumeRole {
                source_role_arn,
                source_session_name,
            } => source_role_arn.len() + source_session_name.len(),
        };
        1 + [
            &self.access_key_id,
            &self.secret_access_key,
            &self.role_arn,
            &self.role_id,
            &self.session_name,
        ]
        .iter()
        .map(|s| s.len() + VARINT)
        .sum::<usize>()
            + 2 * VARINT
            + self.source_identity.as_ref().map_or(0, |s| s.len())
            + VARINT
            + 1
            + self
                .tags
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2 * VARINT)
                .sum::<usize>()
            + VARINT
            + strings(&self.transitive_tag_keys)
            + strings(&self.session_policies)
            + strings(&self.policy_arns)
            + origin
            + 4 * VARINT
    }

    /// The claims, without the certificate chain that version 2 writes after them.
    fn into_claims(self) -> SessionClaims {
        SessionClaims {
            access_key_id: self.access_key_id.into_owned(),
            secret_access_key: Zeroizing::new(self.secret_access_key.into_owned()),
            role_arn: self.role_arn.into_owned(),
            role_id: self.role_id.into_owned(),
            session_name: self.session_name.into_owned(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            source_identity: self.source_identity.map(Cow::into_owned),
            tags: self.tags.into_owned(),
            transitive_tag_keys: self.transitive_tag_keys.into_owned(),
            session_policies: self.session_policies.into_owned(),
            policy_arns: self.policy_arns.into_owned(),
            origin: match self.origin {
                WireOrigin::RolesAnywhere {
                    trust_anchor_arn,
                    profile_arn,
                    certificate_serial,
                } => SessionOrigin::RolesAnywhere {
                    trust_anchor_arn: trust_anchor_arn.into_owned(),
                    profile_arn: profile_arn.into_owned(),
                    certificate_serial: certificate_serial.into_owned(),
                },
                WireOrigin::AssumeRole {
                    source_role_arn,
                    source_session_name,
                } => SessionOrigin::AssumeRole {
                    source_role_arn: source_role_arn.into_owned(),
                    source_session_name: source_session_name.into_owned(),
                },
            },
            chain: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, LessSafeKey, UnboundKey};

    use super::super::claims::tests::sample_claims;
    use super::super::keyring::TokenKey;
    use super::*;

    fn ring(active: &str, ids: &[(&str, &TokenKey)]) -> KeyRing {
        KeyRing::new(
            active,
            ids.iter().map(|(id, key)| (id.to_string(), (*key).clone())).collect(),
        )
        .unwrap()
    }

    fn decode_body(token: &str) -> (String, Vec<u8>) {
        let parts = split(token).unwrap();
        (parts.header.to_owned(), URL_SAFE_NO_PAD.decode(parts.body).unwrap())
    }

    #[test]
    fn round_trips() {
        let k1 = TokenKey::generate();
        let ring = ring("k1", &[("k1", &k1)]);
        let claims = sample_claims();
        let token = seal(&ring, &claims).unwrap();
        assert!(token.starts_with("rg2.k1."), "{token}");
        assert!(
            token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token}"
        );
        assert_eq!(key_id_of(&token), Some("k1"));
        assert_eq!(open(&ring, &token).unwrap(), claims);

        // Random nonces: sealing twice gives different tokens that both open.
        let again = seal(&ring, &claims).unwrap();
        assert_ne!(token, again);
        assert_eq!(open(&ring, &again).unwrap(), claims);
    }

    #[test]
    fn round_trips_every_shape() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let mut claims = sample_claims();
        claims.source_identity = None;
        claims.tags.clear();
        claims.transitive_tag_keys.clear();
        claims.session_policies.clear();
        claims.policy_arns.clear();
        claims.issued_at = i64::MIN;
        claims.expires_at = i64::MAX;
        claims.origin = SessionOrigin::RolesAnywhere {
            trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a".into(),
            profile_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p".into(),
            certificate_serial: "00ff".into(),
        };
        claims.session_name = "ünïcødé@name".into();
        let token = seal(&ring, &claims).unwrap();
        assert_eq!(open(&ring, &token).unwrap(), claims);
    }

    #[test]
    fn size_bound_is_an_upper_bound() {
        let mut claims = sample_claims();
        claims.tags = (0..50)
            .map(|i| (format!("k{i}").repeat(40), "v".repeat(200 + i)))
            .collect();
        for claims in [sample_claims(), claims] {
            let wire = WireClaims::from(&claims);
            let encoded = postcard::to_allocvec(&wire).unwrap();
            assert!(encoded.len() < wire.size_bound());
            let chain = claims.chain.as_ref().map(WireChain::from);
            let encoded = postcard::to_allocvec(&chain).unwrap();
            assert!(encoded.len() <= chain.as_ref().unwrap().size_bound());
        }
    }

    #[test]
    fn tampering_any_sealed_byte_is_invalid() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let token = seal(&ring, &sample_claims()).unwrap();
        let (header, body) = decode_body(&token);
        for i in 0..body.len() {
            for flip in [0x01, 0x80] {
                let mut tampered = body.clone();
                tampered[i] ^= flip;
                let tampered = format!("{header}{}", URL_SAFE_NO_PAD.encode(&tampered));
                assert_eq!(
                    open(&ring, &tampered),
                    Err(TokenError::KeyMismatch("k1".into())),
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn tampering_any_character_never_opens() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let token = seal(&ring, &sample_claims()).unwrap();
        for i in 0..token.len() {
            let mut tampered = token.clone().into_bytes();
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            let err = open(&ring, &tampered).unwrap_err();
            assert!(
                matches!(
                    err,
                    TokenError::KeyMismatch(_) | TokenError::Malformed | TokenError::UnknownKey(_)
                ),
                "char {i}: {err:?}"
            );
        }
    }

    #[test]
    fn key_id_is_bound_to_the_ciphertext() {
        // Same key material under two ids: relabelling the token must still fail.
        let key = TokenKey::generate();
        let ring = ring("a", &[("a", &key), ("b", &key)]);
        let token = seal(&ring, &sample_claims()).unwrap();
        let relabelled = token.replacen("rg2.a.", "rg2.b.", 1);
        assert_eq!(open(&ring, &relabelled), Err(TokenError::KeyMismatch("b".into())));
        // Nor does relabelling its layout: rg1 opens with another cipher and key.
        let relabelled = token.replacen("rg2.", "rg1.", 1);
        assert_eq!(open(&ring, &relabelled), Err(TokenError::KeyMismatch("a".into())));
    }

    /// `plaintext` sealed as an `rg2` token with the ring's active key, for other modules' tests
    /// of tokens [`seal`] does not make.
    pub(crate) fn seal_plaintext(ring: &KeyRing, plaintext: &[u8]) -> String {
        seal_raw(ring, Layout::Rg2, plaintext)
    }

    /// `plaintext` sealed as a token of `layout` with the active key (for tokens `seal` does not
    /// make: other claims versions, and the `rg1` tokens earlier versions sealed).
    fn seal_raw(ring: &KeyRing, layout: Layout, plaintext: &[u8]) -> String {
        let (id, key) = ring.active_key().unwrap();
        let header = format!("{}{id}.", layout.prefix());
        let nonce = [7u8; NONCE_LEN];
        let mut body = plaintext.to_vec();
        let key = match layout {
            Layout::Rg2 => &key.rg2,
            Layout::Rg1 => &key.rg1,
        };
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header.as_bytes()),
                &mut body,
            )
            .unwrap();
        let sealed = [&nonce[..], &body, tag.as_ref()].concat();
        format!("{header}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    #[test]
    fn rg1_tokens_of_earlier_versions_still_open() {
        let key = TokenKey::generate();
        let ring = ring("k1", &[("k1", &key)]);
        let claims = SessionClaims {
            chain: None,
            ..sample_claims()
        };
        let mut plaintext = vec![CLAIMS_VERSION_1];
        plaintext.extend(postcard::to_allocvec(&WireClaims::from(&claims)).unwrap());
        let rg1 = seal_raw(&ring, Layout::Rg1, &plaintext);
        assert!(rg1.starts_with("rg1.k1."), "{rg1}");
        assert_eq!(open(&ring, &rg1).unwrap(), claims);
        // AES-256-GCM under the raw key, as earlier versions sealed: checked against the
        // cipher itself, not only this module's own sealing.
        let (_, body) = decode_body(&rg1);
        let gcm = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose_for_tests()).unwrap());
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let mut rest = rest.to_vec();
        let opened = gcm
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::from("rg1.k1.".as_bytes()),
                &mut rest,
            )
            .unwrap();
        assert_eq!(opened, &plaintext[..]);
        // A new token is not sealed under the raw key.
        let rg2 = seal(&ring, &claims).unwrap();
        let (_, body) = decode_body(&rg2);
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let mut rest = rest.to_vec();
        let raw_siv = LessSafeKey::new(UnboundKey::new(&AES_256_GCM_SIV, key.expose_for_tests()).unwrap());
        assert!(
            raw_siv
                .open_in_place(
                    Nonce::try_assume_unique_for_key(nonce).unwrap(),
                    Aad::from("rg2.k1.".as_bytes()),
                    &mut rest,
                )
                .is_err()
        );
    }

    /// The `rg2` wire format, checked against an independent HKDF (RFC 5869, from HMAC-SHA256)
    /// and AES-256-GCM-SIV itself: every replica must derive the same subkey, so the salt and
    /// info are part of the format.
    #[test]
    fn rg2_tokens_are_aes_256_gcm_siv_under_the_hkdf_subkey() {
        use hmac::{Hmac, KeyInit, Mac};
        use sha2::Sha256;
        let hmac = |key: &[u8], parts: &[&[u8]]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes()
        };
        let key = TokenKey::generate();
        let prk = hmac(b"rolegate session token key", &[key.expose_for_tests()]);
        let okm = hmac(&prk, &[b"rg2 AES-256-GCM-SIV", &[1]]);
        let siv = LessSafeKey::new(UnboundKey::new(&AES_256_GCM_SIV, &okm).unwrap());

        let ring = ring("k1", &[("k1", &key)]);
        let claims = sample_claims();
        let token = seal(&ring, &claims).unwrap();
        let (header, body) = decode_body(&token);
        assert_eq!(header, "rg2.k1.");
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let mut rest = rest.to_vec();
        let opened = siv
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::from(header.as_bytes()),
                &mut rest,
            )
            .unwrap();
        assert_eq!(opened.first(), Some(&CLAIMS_VERSION));
        assert_eq!(decode_claims(&opened[1..], true).unwrap(), claims);
    }

    #[test]
    fn other_keys() {
        let k1 = TokenKey::generate();
        let k2 = TokenKey::generate();
        let token = seal(&ring("k1", &[("k1", &k1)]), &sample_claims()).unwrap();
        // a ring without k1
        assert_eq!(
            open(&ring("k2", &[("k2", &k2)]), &token),
            Err(TokenError::UnknownKey("k1".into()))
        );
        // a ring with a different key under the id k1 (a key file replaced under its id)
        assert_eq!(
            open(&ring("k1", &[("k1", &k2)]), &token),
            Err(TokenError::KeyMismatch("k1".into()))
        );
    }

    #[test]
    fn rotation() {
        let k1 = TokenKey::generate();
        let k2 = TokenKey::generate();
        let claims = sample_claims();
        let old_token = seal(&ring("k1", &[("k1", &k1)]), &claims).unwrap();

        // k2 becomes active, k1 stays to verify.
        let rotated = ring("k2", &[("k1", &k1), ("k2", &k2)]);
        let new_token = seal(&rotated, &claims).unwrap();
        assert_eq!(key_id_of(&new_token), Some("k2"));
        assert_eq!(open(&rotated, &old_token).unwrap(), claims);
        assert_eq!(open(&rotated, &new_token).unwrap(), claims);

        // k1 removed.
        let retired = ring("k2", &[("k2", &k2)]);
        assert_eq!(open(&retired, &old_token), Err(TokenError::UnknownKey("k1".into())));
        assert_eq!(open(&retired, &new_token).unwrap(), claims);
    }

    #[test]
    fn truncation() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let token = seal(&ring, &sample_claims()).unwrap();
        let malformed = [
            "",
            "rg1",
            "rg1.",
            "rg1.k1",
            "rg1.k1.",
            &token[..7 + 10],
            &token[..7 + 38],
        ];
        for t in malformed {
            assert_eq!(open(&ring, t), Err(TokenError::Malformed), "{t:?}");
        }
        // Shorter but still well-formed base64: authentication fails.
        for cut in [1, 4, 100] {
            let t = &token[..token.len() - cut];
            let err = open(&ring, t).unwrap_err();
            assert!(
                matches!(err, TokenError::KeyMismatch(_) | TokenError::Malformed),
                "cut {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_tokens() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let cases = [
            "FQoGZXIvYXdzEJr//////////wEaDOqhZZ1", // an AWS-style token
            "rg2.k1.AAAA",
            "rg1.k 1.AAAA",
            "rg1..AAAA",
            "rg1.k1.!!!!",
        ];
        for t in cases {
            assert_eq!(open(&ring, t), Err(TokenError::Malformed), "{t}");
        }
        assert_eq!(key_id_of("rg1.k1.x"), Some("k1"));
        assert_eq!(key_id_of("rg1.k1"), None);
        assert_eq!(key_id_of("rg1.k.1.x"), Some("k"));
        assert_eq!(key_id_of("rg1.bad key.x"), None);
        assert_eq!(key_id_of("FQoGZXIvYXdz"), None);
    }

    #[test]
    fn too_large() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let huge = format!("rg1.k1.{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(open(&ring, &huge), Err(TokenError::TooLarge));

        let mut claims = sample_claims();
        claims.session_policies = vec!["x".repeat(MAX_TOKEN_LEN)];
        assert!(matches!(
            seal(&ring, &claims),
            Err(TokenError::ClaimsTooLarge { max: MAX_TOKEN_LEN, .. })
        ));
        // Largest claims that seal still open.
        claims.session_policies = vec!["x".repeat(MAX_TOKEN_LEN * 3 / 4 - 600)];
        let token = seal(&ring, &claims).unwrap();
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(open(&ring, &token).unwrap(), claims);
    }

    #[test]
    fn unsupported_version() {
        // Seal a plaintext with another version byte directly.
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        for layout in [Layout::Rg2, Layout::Rg1] {
            let token = seal_raw(&ring, layout, &[3u8, 0, 0]);
            assert_eq!(open(&ring, &token), Err(TokenError::UnsupportedVersion(3)));
        }
    }

    /// A ring set to seal claims layout 1 (a rolling upgrade) seals tokens earlier releases read:
    /// the version-1 plaintext, without the chain.
    #[test]
    fn a_ring_sealing_layout_1_leaves_the_chain_out() {
        let key = TokenKey::generate();
        let ring = ring("k1", &[("k1", &key)]).sealing_claims_layout(1).unwrap();
        let claims = sample_claims();
        let token = seal(&ring, &claims).unwrap();
        let opened = open(&ring, &token).unwrap();
        assert_eq!(
            opened,
            SessionClaims {
                chain: None,
                ..claims.clone()
            }
        );
        // The plaintext is what earlier releases decode: version 1, the claims, nothing after.
        let (header, body) = decode_body(&token);
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let mut rest = rest.to_vec();
        let (_, loaded) = ring.active_key().unwrap();
        let plaintext = loaded
            .rg2
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::from(header.as_bytes()),
                &mut rest,
            )
            .unwrap();
        let mut expected = vec![CLAIMS_VERSION_1];
        expected.extend(postcard::to_allocvec(&WireClaims::from(&claims)).unwrap());
        assert_eq!(plaintext, &expected[..]);
        assert_eq!(
            ring_of(&key).sealing_claims_layout(3).unwrap_err().to_string(),
            "claims layout 3 is not one this release seals: 1 (what earlier releases read, for a rolling upgrade: \
             sessions then carry no certificate chain) or 2 (the default)"
        );
    }

    fn ring_of(key: &TokenKey) -> KeyRing {
        ring("k1", &[("k1", key)])
    }

    /// Version 1 plaintexts (claims without a certificate chain), sealed by earlier versions in
    /// either layout, still open, with no chain; version 2 ones carry it, or say they have none.
    #[test]
    fn claims_version_1_opens_without_a_certificate_chain() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let with = sample_claims();
        assert!(with.chain.as_ref().is_some_and(|c| c.certificates.len() == 2));
        let without = SessionClaims {
            chain: None,
            ..sample_claims()
        };
        let mut v1 = vec![CLAIMS_VERSION_1];
        v1.extend(postcard::to_allocvec(&WireClaims::from(&with)).unwrap());
        for layout in [Layout::Rg2, Layout::Rg1] {
            assert_eq!(open(&ring, &seal_raw(&ring, layout, &v1)).unwrap(), without);
        }
        // The chain follows the version-1 claims, and a version-2 token without one
        // opens without one.
        let sealed_with = seal(&ring, &with).unwrap();
        assert_eq!(open(&ring, &sealed_with).unwrap(), with);
        assert_eq!(open(&ring, &seal(&ring, &without).unwrap()).unwrap(), without);
        let mut v2 = v1.clone();
        v2[0] = CLAIMS_VERSION;
        v2.extend(postcard::to_allocvec(&with.chain.as_ref().map(WireChain::from)).unwrap());
        assert_eq!(open(&ring, &seal_raw(&ring, Layout::Rg2, &v2)).unwrap(), with);
        // A version-2 plaintext cut before its chain does not open as a version-1 one.
        v1[0] = CLAIMS_VERSION;
        assert_eq!(
            open(&ring, &seal_raw(&ring, Layout::Rg2, &v1)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn messages() {
        for err in [
            TokenError::Malformed,
            TokenError::UnknownKey("k1".into()),
            TokenError::KeyMismatch("k1".into()),
            TokenError::Invalid,
            TokenError::TooLarge,
            TokenError::UnsupportedVersion(9),
        ] {
            assert_eq!(err.to_string(), INVALID_TOKEN_MESSAGE);
            assert!(!err.reason().is_empty());
        }
    }

    #[test]
    fn padded_tokens_are_as_long_as_asked_and_open_to_the_same_claims() {
        let ring = ring("k1", &[("k1", &TokenKey::generate())]);
        let claims = sample_claims();
        let plain = seal_with_nonce(&ring, &claims, [1; NONCE_LEN], 0).unwrap();
        for min_len in [0, 1, plain.len(), plain.len() + 1, 1000, 1001, 1002, 1003, 4096] {
            let token = seal_with_nonce(&ring, &claims, [1; NONCE_LEN], min_len).unwrap();
            // Unpadded base64 is never 4k + 1 characters long: then one more.
            let expected = match min_len.max(plain.len()) {
                n if base64_len_is_possible(n - "rg2.k1.".len()) => n,
                n => n + 1,
            };
            assert_eq!(token.len(), expected, "min_len {min_len}");
            assert_eq!(open(&ring, &token).unwrap(), claims, "min_len {min_len}");
        }
    }

    fn base64_len_is_possible(chars: usize) -> bool {
        chars % 4 != 1
    }

    #[test]
    fn padding_must_be_zero_bytes() {
        let claims = sample_claims();
        let mut plaintext = postcard::to_allocvec(&WireClaims::from(&claims)).unwrap();
        plaintext.extend(postcard::to_allocvec(&claims.chain.as_ref().map(WireChain::from)).unwrap());
        plaintext.extend_from_slice(&[0, 0, 0]);
        assert_eq!(decode_claims(&plaintext, true).unwrap(), claims);
        plaintext.push(1);
        assert_eq!(decode_claims(&plaintext, true), Err(TokenError::Invalid));
    }

    #[test]
    fn base64_lengths() {
        for n in 0..64 {
            assert_eq!(base64_len(n), URL_SAFE_NO_PAD.encode(vec![0u8; n]).len(), "{n}");
        }
    }
}
