//! Sessions: how long they last, what they carry, and the sealed tokens that carry it.
//!
//! - [`duration`]: the AWS duration rules and their exact validation messages;
//! - [`claims`]: [`SessionClaims`], the facts of one session;
//! - [`keyring`]: the token keys, one active for sealing, all for opening;
//! - [`token`]: [`seal`] / [`open`], AEAD-sealed self-contained session tokens (DESIGN §3);
//! - [`credentials`]: access key ids, secrets, role ids, [`mint`] and expiration formatting;
//! - [`packed`]: the `PackedPolicySize` model.
//!
//! Everything here is pure except for drawing random bytes from the system CSPRNG; the caller
//! supplies every time (`issued_at`, `expires_at`, `now`).

pub mod claims;
pub mod credentials;
pub mod duration;
pub mod keyring;
pub mod packed;
pub mod token;

pub use claims::{SessionChain, SessionClaims, SessionClaimsDraft, SessionOrigin, same_tag_key};
pub use credentials::{Credentials, format_expiration, mint, new_access_key_id, new_secret_access_key, role_id};
pub use duration::{MAX_SESSION_SECONDS, MIN_SESSION_SECONDS, assume_role_duration, create_session_duration};
pub use keyring::{KeyRing, KeyRingError, TokenKey};
pub use packed::{PackedPolicyTooLarge, check_packed_policy_size, packed_policy_size};
#[cfg(test)]
pub use token::key_id_of;
pub use token::{CLAIMS_VERSION, INVALID_TOKEN_MESSAGE, MAX_TOKEN_LEN, TOKEN_PREFIXES, TokenError, open, seal};
