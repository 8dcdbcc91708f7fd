//! AWS Signature Version 4: pure primitives for verifying and creating signatures.
//!
//! - [`canonical_request`] / [`string_to_sign`] / [`derive_signing_key`] / [`hmac_signature`]:
//!   the steps of <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.
//! - [`SignedRequest::parse`] + [`verify()`]: server side HMAC verification (header or presigned
//!   query form), with scope, signed-header and clock rules; [`SigningKeyCache`] caches keys.
//! - [`sign_hmac`]: client side HMAC signing.
//! - [`ServerNames`]: the names a signed `host` must be one of.
//! - [`x509`]: the IAM Roles Anywhere `AWS4-X509-{RSA,ECDSA}-SHA256` variant, both sides.
//!
//! Nothing here does I/O or reads the clock: the time is always passed in.

mod authorization;
mod canonical;
mod encoding;
mod error;
mod host;
mod sign;
mod signing_key;
mod verify;
pub mod x509;

#[cfg(test)]
mod tests;

pub use authorization::{
    AuthLocation, Credential, HMAC_ALGORITHM, SIGNATURE_HEADERS, SignedRequest, claimed_access_key_id, unsigned_marker,
};
pub use canonical::{
    HttpRequest, STREAMING_UNSIGNED_PAYLOAD_TRAILER, UNSIGNED_PAYLOAD, canonical_request,
    canonical_request_without_query_token, string_to_sign,
};
pub use encoding::{format_amz_date, parse_amz_date, sha256, sha256_hex};
pub use error::{HMAC_ALGORITHMS, SigV4Error, Skew, X509_ALGORITHMS};
pub(crate) use error::{shown_date, shown_scope_part};
pub use host::ServerNames;
pub use sign::sign_hmac;
pub use signing_key::{SigningKey, SigningKeyCache, derive_signing_key, hmac_signature};
#[cfg(test)]
pub(crate) use verify::compute_signature;
pub use verify::{
    Expectations, check_request, check_signature, check_time, is_s3_family, normalizes_path, verify, verify_with,
};
