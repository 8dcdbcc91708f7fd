//! The one error type of the SigV4 module.
//!
//! Variants are flat and each `Display` message is a sentence a caller can act on; where AWS
//! has a well-known wording (STS, Roles Anywhere) the message follows it so that SDK users see
//! what they would see against AWS. No message ever contains key material: a value the client
//! sent is repeated only when it has the shape of what belongs there (`shown_*`), since a
//! client that mixed up its values may have put a secret key or token anywhere, and these
//! messages are logged and relayed (VerifyRequest answers them to another service).

use crate::error::shown_if_shaped;

/// What an STS (SigV4) endpoint accepts.
pub const HMAC_ALGORITHMS: &str = "Supported is AWS4-HMAC-SHA256.";
/// What the Roles Anywhere endpoint accepts.
pub const X509_ALGORITHMS: &str = "Supported are AWS4-X509-RSA-SHA256 and AWS4-X509-ECDSA-SHA256.";

/// The allowed clock skew as STS's messages state it: `5 min.`, or in seconds when it is no
/// whole number of minutes (`max_clock_skew_seconds = 90`: `90 s.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew(pub time::Duration);

impl std::fmt::Display for Skew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.0.whole_seconds();
        match seconds % 60 {
            0 => write!(f, "{} min.", seconds / 60),
            _ => write!(f, "{seconds} s."),
        }
    }
}

/// Why a SigV4 request could not be parsed, canonicalized, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters were found.
    #[error("Request is missing Authentication Token")]
    MissingAuthorization,
    /// The `Authorization` header or presigned parameters are syntactically wrong.
    #[error("{0}")]
    MalformedAuthorization(String),
    /// The algorithm label is not one this endpoint verifies.
    #[error("Unsupported AWS 'algorithm': '{}'. {supported}", shown_label(algorithm))]
    UnsupportedAlgorithm {
        /// The label as sent.
        algorithm: String,
        /// What this endpoint accepts, a sentence ([`HMAC_ALGORITHMS`] or [`X509_ALGORITHMS`]).
        supported: &'static str,
    },
    /// The credential scope does not have the shape `{id}/{yyyymmdd}/{region}/{service}/aws4_request`.
    #[error("Credential should be scoped to a valid region/service/terminator: '{0}'.")]
    MalformedCredential(String),
    /// The scope's terminator is not `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.", shown_scope_part(.0))]
    CredentialTerminator(String),
    /// The scope names another region than this endpoint serves.
    #[error(
        "Credential should be scoped to a valid region, not '{}': this endpoint's region is '{expected}'.",
        shown_scope_part(.sent)
    )]
    CredentialRegion {
        /// The region the request's scope names.
        sent: String,
        /// This endpoint's region.
        expected: String,
    },
    /// The scope names another service than this endpoint serves.
    #[error("Credential should be scoped to correct service: '{}'.", shown_scope_part(.0))]
    CredentialService(String),
    /// The scope date differs from the date part of `X-Amz-Date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
        shown_date(scope_date),
        shown_date(amz_date_day),
        shown_date(amz_date)
    )]
    CredentialDate {
        /// Date in the credential scope.
        scope_date: String,
        /// `YYYYMMDD` part of `X-Amz-Date`.
        amz_date_day: String,
        /// The full `X-Amz-Date`.
        amz_date: String,
    },
    /// No `X-Amz-Date` (nor `Date`) header (header form) or parameter (query form).
    #[error("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")]
    MissingDate,
    /// `X-Amz-Date` or the scope date is not in the ISO 8601 basic format.
    #[error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '{}'.", shown_date(.0))]
    BadDate(String),
    /// `host` is not among the signed headers.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// The signed `host` is not a name of this server ([`super::ServerNames`]). The names
    /// are not listed to the caller (`server.hostnames` may hold internal ones); `check-config`
    /// prints them.
    #[error(
        "The request is signed for host '{}', which is not a name of this server: sign it for the name you reach this server by (its certificate's names, or those of server.hostnames).",
        shown_host(host)
    )]
    WrongHost {
        /// The `host` header as sent.
        host: String,
    },
    /// `x-amz-date` is sent as a header but not signed.
    #[error("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")]
    DateNotSigned,
    /// The request's time came in a `Date` header (no `X-Amz-Date`) that is not signed.
    #[error("'Date' must be a 'SignedHeader' in the AWS Authorization when there is no 'X-Amz-Date'.")]
    DateHeaderNotSigned,
    /// `x-amz-x509` (the certificate) is not signed.
    #[error("'X-Amz-X509' must be a 'SignedHeader' in the AWS Authorization.")]
    CertificateNotSigned,
    /// A header listed in `SignedHeaders` is absent from the request.
    #[error("The request lists '{}' in SignedHeaders but does not carry that header.", shown_header_names(.0))]
    SignedHeaderAbsent(String),
    /// The signature date lies too far in the future (header form).
    #[error("Signature not yet current: {amz_date} is still later than {latest} ({now} + {skew})")]
    SignatureNotYetCurrent {
        /// `X-Amz-Date` as sent.
        amz_date: String,
        /// Latest accepted date.
        latest: String,
        /// The server's clock.
        now: String,
        /// The allowed skew.
        skew: Skew,
    },
    /// The signature date lies too far in the past (header form).
    #[error("Signature expired: {amz_date} is now earlier than {earliest} ({now} - {skew})")]
    SignatureExpired {
        /// `X-Amz-Date` as sent.
        amz_date: String,
        /// Earliest accepted date.
        earliest: String,
        /// The server's clock.
        now: String,
        /// The allowed skew.
        skew: Skew,
    },
    /// A presigned request is used after `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired: it was valid until {expired_at} and it is now {now}.")]
    RequestExpired {
        /// `X-Amz-Date + X-Amz-Expires`.
        expired_at: String,
        /// The server's clock.
        now: String,
    },
    /// `X-Amz-Expires` is not an integer in `1..=604800`.
    #[error("X-Amz-Expires must be a number of seconds between 1 and 604800 (one week), not '{}'.", shown_number(.0))]
    InvalidExpires(String),
    /// The HMAC signature is not 64 hexadecimal digits.
    #[error("The Signature must be hexadecimal (64 characters for AWS4-HMAC-SHA256).")]
    BadSignatureEncoding,
    /// The X.509 signature is not an even, non-zero number of hexadecimal digits.
    #[error("The Signature must be the hex-encoded signature: an even number of hexadecimal digits.")]
    BadX509SignatureEncoding,
    /// `x-amz-content-sha256` differs from the SHA-256 of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,
    /// The client declared `UNSIGNED-PAYLOAD` where the body must be signed.
    #[error("This endpoint requires a signed payload; 'x-amz-content-sha256: UNSIGNED-PAYLOAD' is not accepted.")]
    UnsignedPayloadNotAllowed,
    /// A verifying service gave an unsigned-payload marker for a service outside the S3
    /// family: the body would go unauthenticated.
    #[error(
        "payload_hash {marker} is accepted for the S3 family only (s3, s3-object-lambda, s3-outposts, s3express), not for '{}': the body would go unauthenticated; give the SHA-256 of the body.",
        shown_scope_part(.service)
    )]
    UnsignedPayloadOutsideS3 {
        /// The marker given (a known constant).
        marker: &'static str,
        /// The service the request is scoped to.
        service: String,
    },
    /// A verifying service gave an unsigned-payload marker for a header-signed request that
    /// does not declare one.
    #[error(
        "payload_hash {0}, but the request declares no x-amz-content-sha256: a header-signed request with an unsigned body says so in that header."
    )]
    UnsignedPayloadUndeclared(&'static str),
    /// A verifying service gave a body hash for a header-signed S3 request that declares an
    /// unsigned payload: the signature does not cover the body.
    #[error(
        "The request declares x-amz-content-sha256: {0}: its signature does not cover the body. Give payload_hash {0} to verify it as such (S3 takes any body with it; check the body against any checksum header the request signed)."
    )]
    UnsignedPayloadDeclared(&'static str),
    /// The HMAC signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureMismatch,
    /// The X.509 signature does not verify with the certificate key.
    #[error(
        "The request signature does not verify with the certificate's public key. Check the private key and the signing method."
    )]
    X509SignatureMismatch,
    /// The label says RSA but the certificate holds an EC key, or the other way round.
    #[error("The signing algorithm '{}' does not match the certificate's public key type.", shown_label(.0))]
    AlgorithmKeyMismatch(String),
    /// The certificate serial in the credential is not a decimal number.
    #[error("Credential should start with the certificate serial number in decimal, not '{}'.", shown_number(.0))]
    BadSerial(String),
    /// A certificate's public key cannot be used for verification (malformed point or modulus).
    #[error("The certificate's public key is malformed.")]
    InvalidPublicKey,
    /// A private key could not be loaded.
    #[error("The private key is not a supported PKCS#8 key (RSA 2048..8192 bit, EC P-256 or P-384).")]
    InvalidPrivateKey,
    /// The signing primitive failed.
    #[error("Signing the request failed.")]
    SigningFailed,
    /// A key on a PKCS#11 token did not sign: the token, the step and its error.
    #[error("Signing the request on the token failed: {0}")]
    TokenSigningFailed(String),
}

/// A part of a credential scope: a date, region, service or terminator.
pub(crate) fn shown_scope_part(value: &str) -> &str {
    shown_if_shaped(value, 64, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
    })
}

/// A `Host` header value (name or address, with a port).
pub(crate) fn shown_host(value: &str) -> &str {
    shown_if_shaped(value, 255, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'[' | b']')
    })
}

/// An ISO 8601 basic date or date-time (`20150830T123600Z`).
pub(crate) fn shown_date(value: &str) -> &str {
    shown_if_shaped(value, 20, |b| b.is_ascii_digit() || b == b'T' || b == b'Z')
}

/// An algorithm label (`AWS4-HMAC-SHA256`).
fn shown_label(value: &str) -> &str {
    shown_if_shaped(value, 64, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
    })
}

/// A number (a serial, a count of seconds).
fn shown_number(value: &str) -> &str {
    shown_if_shaped(value, 64, |b| b.is_ascii_digit() || b == b'-')
}

/// Header names, `;`-separated as in `SignedHeaders`.
pub(crate) fn shown_header_names(value: &str) -> &str {
    shown_if_shaped(value, 1024, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b';'
    })
}

/// Whether `value` has the shape of an access key id (upper-case letters and digits, 16 to
/// 128 of them), the only part of a credential a message or the audit log may repeat as it is.
pub(super) fn looks_like_an_access_key_id(value: &str) -> bool {
    (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_repeat_only_values_of_the_expected_shape() {
        let secret = "wJalrXUtnFEMI+K7MDENGbPxRfiCYEXAMPLEKEY";
        let s = || secret.to_owned();
        let errors = [
            SigV4Error::UnsupportedAlgorithm {
                algorithm: s(),
                supported: HMAC_ALGORITHMS,
            },
            SigV4Error::CredentialTerminator(s()),
            SigV4Error::CredentialRegion {
                sent: s(),
                expected: "us-east-1".into(),
            },
            SigV4Error::CredentialService(s()),
            SigV4Error::CredentialDate {
                scope_date: s(),
                amz_date_day: s(),
                amz_date: s(),
            },
            SigV4Error::BadDate(s()),
            SigV4Error::SignedHeaderAbsent(s()),
            SigV4Error::InvalidExpires(s()),
            SigV4Error::AlgorithmKeyMismatch(s()),
            SigV4Error::BadSerial(s()),
        ];
        for e in errors {
            let message = e.to_string();
            assert!(!message.contains(secret) && message.contains("'…'"), "{message}");
        }
        let shaped = [
            (
                SigV4Error::CredentialRegion {
                    sent: "eu-west-1".into(),
                    expected: "us-east-1".into(),
                },
                "'eu-west-1'",
            ),
            (SigV4Error::BadDate("2015-08-30".into()), "'…'"),
            (SigV4Error::BadDate("20150830T1236".into()), "'20150830T1236'"),
            (SigV4Error::BadSerial("12a".into()), "'…'"),
            (SigV4Error::BadSerial("1234567890".into()), "'1234567890'"),
            (SigV4Error::SignedHeaderAbsent("x-amz-meta".into()), "'x-amz-meta'"),
            (
                SigV4Error::UnsupportedAlgorithm {
                    algorithm: "AWS4-HMAC-SHA512".into(),
                    supported: HMAC_ALGORITHMS,
                },
                "'AWS4-HMAC-SHA512'",
            ),
        ];
        for (e, want) in shaped {
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
