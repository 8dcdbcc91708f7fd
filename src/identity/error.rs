//! The flat error enums of the identity module: [`AnchorError`] (loading a trust anchor, an
//! operator problem reported at config load) and [`CertificateError`] (a client certificate
//! or chain that is not acceptable, reported to the client verbatim).

use std::fmt;

/// A Unix timestamp (seconds) displayed as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Why a trust anchor (CA bundle + CRLs) cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The bundle holds no `CERTIFICATE` PEM block.
    #[error("the trust anchor bundle contains no PEM CERTIFICATE block")]
    NoCertificate,
    /// The bundle is not well-formed PEM.
    #[error("the trust anchor bundle is not valid PEM: {0}")]
    Pem(String),
    /// A certificate of the bundle cannot be parsed.
    #[error("certificate #{index} of the trust anchor bundle is malformed: {reason}")]
    MalformedCertificate {
        /// 1-based position in the bundle.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A certificate of the bundle is not X.509 v3.
    #[error("certificate {subject} of the trust anchor bundle is not X.509 version 3")]
    NotV3 {
        /// Its subject.
        subject: String,
    },
    /// A certificate of the bundle is not a CA.
    #[error("certificate {subject} of the trust anchor bundle is not a CA (basicConstraints CA:true is required)")]
    NotCa {
        /// Its subject.
        subject: String,
    },
    /// A certificate of the bundle may not sign certificates.
    #[error("certificate {subject} of the trust anchor bundle lacks the keyCertSign key usage")]
    NoKeyCertSign {
        /// Its subject.
        subject: String,
    },
    /// A certificate of the bundle has a key no chain can be verified with (DESIGN §1: RSA of
    /// at least 2048 bits, ECDSA P-256 or P-384): every chain to it would fail at request time.
    #[error("certificate {subject} of the trust anchor bundle has a key rolegate cannot verify chains with: {reason}")]
    UnusableKey {
        /// Its subject.
        subject: String,
        /// The key and what is required.
        reason: String,
    },
    /// Two certificates of the bundle, one issued (through the bundle) by the other, both
    /// restrict one name form with permitted subtrees: the paths ending at the nearer one must
    /// meet both, and webpki applies one list per trust anchor.
    #[error(
        "certificates {subject} and its issuer {issuer} of the trust anchor bundle both list permitted {form} subtrees (name constraints); rolegate applies an issuer's name constraints to the chains ending at a certificate it issued, and cannot combine two permitted lists of one name form: leave {subject} out of the bundle (clients then send it in their chain), or reissue it without the permitted {form} subtrees its issuer already imposes"
    )]
    UnmergeableNameConstraints {
        /// The nearer certificate's subject.
        subject: String,
        /// The issuer's subject.
        issuer: String,
        /// The name form both restrict.
        form: &'static str,
    },
    /// A CRL cannot be parsed.
    #[error("CRL #{index} is unusable: {reason}")]
    BadCrl {
        /// 1-based position in the CRL list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A CRL was issued by none of the bundle's certificates.
    #[error(
        "CRL #{index} was issued by {issuer}, which is not a certificate of the trust anchor bundle; a CRL is checked against the bundle's certificates only: if that CA left the bundle, remove its CRL from `crls`; if it is an intermediate CA whose certificates the anchor should revoke, add its certificate to the bundle"
    )]
    CrlIssuerUnknown {
        /// 1-based position in the CRL list.
        index: usize,
        /// RFC 4514-style issuer the CRL names.
        issuer: String,
    },
    /// Two CRLs were signed by the same anchor certificate (name and key): revocation checking
    /// consults one CRL per issuing key, so the revocations of the other would be ignored.
    #[error(
        "CRLs #{first} and #{second} are both issued by {issuer} with the same key; only one CRL per issuing key is consulted, so list only the current one"
    )]
    DuplicateCrlIssuer {
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
        /// RFC 4514-style issuer.
        issuer: String,
    },
    /// A CA re-keyed under its name has CRLs for some of its keys but not this one.
    #[error(
        "certificate #{index} of the trust anchor bundle ({subject}) has no CRL, but another key of that name has one: CRLs are looked up by issuer name, so list a CRL for every key of a re-keyed CA (or none)"
    )]
    CrlMissingForKey {
        /// 1-based position in the bundle.
        index: usize,
        /// Its subject.
        subject: String,
    },
}

/// Why a client certificate (or its chain) is not acceptable. Messages reach users verbatim.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The leaf is not a parseable X.509 certificate.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// An intermediate is not a parseable X.509 certificate.
    #[error("malformed intermediate certificate #{index}: {reason}")]
    MalformedIntermediate {
        /// 1-based position in the chain sent.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A chain certificate was sent twice, or repeats the leaf: it only makes path building
    /// do more work.
    #[error("intermediate certificate #{index} repeats {of}; send each certificate of the chain once")]
    RepeatedChainCertificate {
        /// 1-based position in the chain sent.
        index: usize,
        /// What it repeats: "the leaf certificate" or "intermediate certificate #N".
        of: String,
    },
    /// The chain's names allow more paths to the anchor than are tried: several certificates
    /// share a CA name (`chain.rs`, `MAX_CHAIN_PATHS`).
    #[error(
        "the chain's certificates share CA names so that they make more than {max} paths to the trust anchor; send the one path from the leaf to the trust anchor"
    )]
    TooManyChainPaths {
        /// The most paths tried.
        max: usize,
    },
    /// The subject CN is longer than X.509 allows; as a source identity it would be cut.
    #[error(
        "the subject CN has {characters} characters; at most 64 are allowed (RFC 5280), and the session's source identity is made of it"
    )]
    CommonNameTooLong {
        /// Its length in characters.
        characters: usize,
    },
    /// The subject CN begins with `CN=` and is too long to be prefixed: its source identity
    /// would be another certificate's.
    #[error(
        "the subject CN begins with 'CN=' or 'ID=' and is too long for the source identity's 'CN=' prefix: the identity would be another certificate's"
    )]
    CommonNameTakesAnotherIdentity,
    /// The subject CN holds a control character (the source identity reaches logs and XML).
    #[error("the subject CN holds the control character U+{0:04X}; the session's source identity is made of it")]
    CommonNameControlCharacter(u32),
    /// The serial number is negative (its DER INTEGER's first bit is set).
    #[error(
        "the serial number is negative; RFC 5280 requires a positive integer (reissue the certificate with a positive serial)"
    )]
    NegativeSerial,
    /// The serial number is longer than rolegate accepts (30 octets):
    /// RFC 5280 allows 20 octets, and 30 is what an `ID=` source identity can hold.
    #[error(
        "the serial number has {octets} octets; RFC 5280 allows at most 20 (rolegate accepts up to 30, what the session's 'ID=' source identity can hold)"
    )]
    SerialTooLong {
        /// Its length.
        octets: usize,
    },
    /// A name value that would become a session tag holds a control character.
    #[error(
        "the certificate's {tag} value holds the control character U+{character:04X}; it would become a session tag"
    )]
    TagControlCharacter {
        /// The tag it would be (`x509Subject/OU`, …).
        tag: String,
        /// The character.
        character: u32,
    },
    /// A name value that would become a session tag is longer than a tag value may be.
    #[error(
        "the certificate's {tag} value has {length} characters; a session tag value holds at most 256, so leave {tag} out of the profile's attribute_mappings"
    )]
    TagTooLong {
        /// The tag it would be (`x509SAN/URI`, …).
        tag: String,
        /// Its length in characters.
        length: usize,
    },
    /// The leaf is X.509 v1 or v2.
    #[error("certificate is not X.509 version 3")]
    UnsupportedVersion,
    /// The leaf has basicConstraints CA:true.
    #[error("certificate is a CA certificate (basicConstraints CA:true); use an end-entity certificate")]
    CaUsedAsLeaf,
    /// The leaf has a keyUsage extension without digitalSignature.
    #[error("certificate lacks the digitalSignature key usage")]
    MissingDigitalSignature,
    /// The leaf's extended key usage excludes clientAuth.
    #[error("certificate's extended key usage does not allow client authentication (clientAuth)")]
    ClientAuthNotAllowed,
    /// The leaf is signed with a weak or unknown algorithm.
    #[error("unsupported signature algorithm {algorithm}; SHA-256 or stronger is required")]
    UnsupportedSignatureAlgorithm {
        /// Name or dotted OID of the algorithm.
        algorithm: String,
    },
    /// The leaf's RSA key is shorter than 2048 bits.
    #[error("RSA key of {bits} bits is too small; at least 2048 bits required")]
    RsaKeyTooSmall {
        /// Modulus length.
        bits: usize,
    },
    /// The RSA key is longer than any supported signature algorithm verifies.
    #[error("RSA key of {bits} bits is too large; at most 8192 bits are supported")]
    RsaKeyTooLarge {
        /// Modulus length.
        bits: usize,
    },
    /// The leaf's key is neither RSA nor ECDSA P-256/P-384.
    #[error("unsupported public key ({key}); RSA of at least 2048 bits or ECDSA P-256/P-384 is required")]
    UnsupportedPublicKey {
        /// Description of the key.
        key: String,
    },
    /// More intermediates than allowed were sent.
    #[error("certificate chain has {count} certificates; at most {max} are allowed")]
    TooManyChainCertificates {
        /// Intermediates sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A certificate of the chain has expired.
    #[error("certificate has expired (notAfter {not_after})")]
    Expired {
        /// Its notAfter.
        not_after: Timestamp,
    },
    /// An intermediate CA certificate the client sent has expired (the leaf has not).
    #[error(
        "the intermediate CA certificate {subject} of the chain has expired (notAfter {not_after}); the client must send its CA's renewed certificate"
    )]
    IntermediateExpired {
        /// Its subject (RFC 4514).
        subject: String,
        /// Its notAfter.
        not_after: Timestamp,
    },
    /// The leaf and an intermediate CA certificate the client sent have both expired, at the
    /// same time (`rolegate certs` caps a certificate at its issuer's notAfter): both must be
    /// renewed, the CA first.
    #[error(
        "certificate has expired (notAfter {not_after}), and so has the intermediate CA certificate {subject} of the chain; the client needs its CA's renewed certificate and a new certificate under it"
    )]
    ExpiredWithIntermediate {
        /// The intermediate's subject (RFC 4514).
        subject: String,
        /// Their notAfter.
        not_after: Timestamp,
    },
    /// The chain ends at a certificate of the trust anchor that has expired.
    #[error(
        "the trust anchor's CA certificate the chain ends at has expired (notAfter {not_after}); the trust anchor needs its renewed CA certificate"
    )]
    AnchorExpired {
        /// The anchor certificate's notAfter.
        not_after: Timestamp,
    },
    /// The chain ends at a certificate of the trust anchor that is not valid yet.
    #[error(
        "the trust anchor's CA certificate the chain ends at is not valid yet (notBefore {not_before}); check the server clock, or wait until then"
    )]
    AnchorNotYetValid {
        /// The anchor certificate's notBefore.
        not_before: Timestamp,
    },
    /// A certificate of the chain is not valid yet.
    #[error("certificate is not yet valid (notBefore {not_before})")]
    NotYetValid {
        /// Its notBefore.
        not_before: Timestamp,
    },
    /// The CRL covering a certificate of the chain is past its nextUpdate, and the anchor
    /// refuses stale CRLs.
    #[error(
        "the CRL covering the certificate chain is past its nextUpdate ({next_update}) and the trust anchor refuses stale CRLs"
    )]
    StaleCrl {
        /// The CRL's nextUpdate.
        next_update: Timestamp,
    },
    /// [`CertificateError::StaleCrl`], the CRL known: its issuer (RFC 4514).
    #[error(
        "the CRL of {issuer}, which covers the certificate chain, is past its nextUpdate ({next_update}) and the trust anchor refuses stale CRLs"
    )]
    StaleCrlOf {
        /// The CRL's issuer.
        issuer: String,
        /// The CRL's nextUpdate.
        next_update: Timestamp,
    },
    /// A certificate of the chain is listed in a CRL of the anchor.
    #[error("certificate is revoked by a CRL of the trust anchor")]
    Revoked,
    /// No path to a certificate of the anchor.
    #[error(
        "certificate is not signed by a trusted certificate authority of this trust anchor \
         (if an intermediate CA issued it, send that CA's certificate with it as the chain)"
    )]
    UnknownIssuer,
    /// A signature in the chain does not verify.
    #[error(
        "a certificate signature in the chain does not verify; the certificate was not issued by the trusted certificate authority it names"
    )]
    BadSignature,
    /// A CA of the chain uses a signature algorithm or key we do not accept.
    #[error(
        "a certificate in the chain uses an unsupported signature algorithm or key; SHA-256 or stronger with RSA >= 2048 bits or ECDSA P-256/P-384 is required"
    )]
    UnsupportedChainAlgorithm,
    /// An intermediate is not CA:true.
    #[error("intermediate certificate is not a CA (basicConstraints CA:true is required)")]
    IntermediateNotCa,
    /// An intermediate lacks keyCertSign.
    #[error("intermediate certificate lacks the keyCertSign key usage")]
    IntermediateLacksKeyCertSign,
    /// A path length or name constraint of an issuer is violated.
    #[error("certificate chain violates a path length or name constraint of an issuing CA")]
    ConstraintViolation,
    /// The chain holds more CA certificates than a pathLenConstraint of the trust anchor's
    /// bundle allows (the certificate the chain ends at, or one above it in the bundle).
    #[error(
        "the chain holds more CA certificates than the pathLenConstraint of the trust anchor's CA certificate {subject} allows"
    )]
    AnchorPathLength {
        /// The bundle certificate whose constraint it breaks.
        subject: String,
    },
    /// A CA certificate of the trust anchor's bundle, the one the chain ends at or one above
    /// it, has an extendedKeyUsage without clientAuth.
    #[error(
        "the trust anchor's CA certificate {subject} does not allow client authentication (its extendedKeyUsage lacks clientAuth), so no chain through it can"
    )]
    AnchorClientAuth {
        /// The bundle certificate whose extendedKeyUsage refuses.
        subject: String,
    },
    /// A CRL of the anchor could not be used to decide revocation.
    #[error("revocation could not be checked against the trust anchor's CRLs: {0}")]
    RevocationCheckFailed(String),
    /// Any other reason webpki rejects the chain.
    #[error("certificate chain is invalid: {0}")]
    InvalidChain(String),
}

/// As AWS writes times: `YYYY-MM-DDTHH:MM:SSZ` ([`crate::session::format_expiration`]).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::session::format_expiration(self.0))
    }
}

/// What is wrong with a PEM file, in words (the parser's own shows byte arrays: `missing
/// section end marker: [45, 45, …]`). Nothing of a block's contents is repeated.
pub fn pem_problem(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(end_marker);
            format!("a {label} block has no `-----END {label}-----` line (is the file cut short?)")
        }
        Error::IllegalSectionStart { .. } => "a `-----BEGIN …-----` line is malformed".to_owned(),
        Error::Base64Decode(why) => format!("a block's base64 is malformed ({why})"),
        Error::NoItemsFound => "the file holds no PEM block of the expected type".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let cases: &[(CertificateError, &str)] = &[
            (
                CertificateError::Expired {
                    not_after: Timestamp(1_767_225_600),
                },
                "certificate has expired (notAfter 2026-01-01T00:00:00Z)",
            ),
            (
                CertificateError::TooManyChainCertificates { count: 6, max: 5 },
                "certificate chain has 6 certificates; at most 5 are allowed",
            ),
            (
                CertificateError::RsaKeyTooSmall { bits: 1024 },
                "RSA key of 1024 bits is too small; at least 2048 bits required",
            ),
        ];
        for (err, msg) in cases {
            assert_eq!(err.to_string(), *msg);
        }
    }
}
