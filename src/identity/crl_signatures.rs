//! The signatures of a trust anchor's CRLs, verified once at load and not again on every chain
//! verification.
//!
//! rustls-webpki checks a CRL's signature each time it consults the CRL (rustls/webpki#81):
//! one more signature verification per chain, and a SHA-256 of the whole CRL, about 30 KB for
//! 1,000 revoked serials. [`KnownCrlSignatures::verify`] checks each CRL at load exactly as
//! webpki will — with the same algorithm list, choosing by the whole AlgorithmIdentifier and
//! the issuer key's algorithm — so a CRL that loads is one webpki accepts, and a CRL webpki
//! would refuse on every chain is refused at load instead. [`KnownCrlSignatures`] keeps the
//! (algorithm, key, signed bytes, signature) of each, and [`SkipKnown`] wraps each webpki
//! algorithm so that one of them, byte for byte, is accepted without verifying it again.
//! Everything else goes to the wrapped algorithm: every certificate signature, and a CRL
//! checked with another key. Whole byte strings are compared, so a certificate that carries a
//! CRL's signature value is still verified, and refused.

use std::fmt;

use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use x509_parser::asn1_rs::{Any, Class, FromDer, Tag};

/// The CRL signatures of one trust anchor that verified at load.
#[derive(Debug, Default)]
pub(super) struct KnownCrlSignatures(Vec<KnownSignature>);

/// One verified signature, as webpki presents it to a [`SignatureVerificationAlgorithm`]: the
/// contents of the signature AlgorithmIdentifier, the issuer's `subjectPublicKey`, the DER
/// `tbsCertList` and the signature BIT STRING's value.
#[derive(Debug)]
struct KnownSignature {
    algorithm: Vec<u8>,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a CRL's signature is refused at load.
/// Ordered by how much each tells the operator: the most telling of several keys' is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CrlSignatureRefusal {
    /// No algorithm of the list has the CRL's AlgorithmIdentifier, byte for byte, for the
    /// issuer's type of key: webpki would refuse the CRL on every chain it covers.
    UnsupportedAlgorithm,
    /// An algorithm applies and the signature does not verify with the issuer's key.
    Invalid,
    /// The CRL or the issuer's SubjectPublicKeyInfo is not the DER structure webpki reads.
    Malformed,
}

impl KnownCrlSignatures {
    /// Verifies the signature of `crl_der` (a DER CertificateList) with the key of
    /// `issuer_spki_der` (a DER SubjectPublicKeyInfo) as webpki's `verify_signed_data` does:
    /// the algorithms whose signature AlgorithmIdentifier equals the CRL's are tried, those
    /// for another type of key skipped. A signature that verifies is recorded.
    pub(super) fn verify(
        &mut self,
        algorithms: &[&dyn SignatureVerificationAlgorithm],
        issuer_spki_der: &[u8],
        crl_der: &[u8],
    ) -> Result<(), CrlSignatureRefusal> {
        let (signed, public_key) = verify_signed(algorithms, issuer_spki_der, crl_der)?;
        self.0.push(KnownSignature {
            algorithm: signed.algorithm.to_vec(),
            public_key: public_key.to_vec(),
            message: signed.message.to_vec(),
            signature: signed.signature.to_vec(),
        });
        Ok(())
    }

    /// Whether this exact signature was verified at load. The short, distinct signature is
    /// compared first, so a certificate signature costs one length check per CRL.
    fn contains(&self, algorithm: &[u8], public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        self.0.iter().any(|known| {
            known.signature == signature
                && known.algorithm == algorithm
                && known.public_key == public_key
                && known.message == message
        })
    }

    /// `algorithms`, each accepting this anchor's known CRL signatures without verifying them
    /// again.
    pub(super) fn wrap<const N: usize>(
        &self,
        algorithms: &[&'static dyn SignatureVerificationAlgorithm; N],
    ) -> [SkipKnown<'_>; N] {
        algorithms.map(|inner| SkipKnown { inner, known: self })
    }
}

/// Verifies the signature of `signed_der` (a DER CertificateList or Certificate: SIGNED
/// tbs, algorithm, signature) with the key of `issuer_spki_der` (a DER SubjectPublicKeyInfo)
/// as webpki's `verify_signed_data` does: the algorithms whose signature AlgorithmIdentifier
/// equals the signed object's are tried, those for another type of key skipped. Returns the
/// signed parts and the issuer's `subjectPublicKey`.
pub(super) fn verify_signed<'a, 'k>(
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    issuer_spki_der: &'k [u8],
    signed_der: &'a [u8],
) -> Result<(SignedParts<'a>, &'k [u8]), CrlSignatureRefusal> {
    let signed = signed_parts(signed_der).ok_or(CrlSignatureRefusal::Malformed)?;
    let (key_algorithm, public_key) = spki_parts(issuer_spki_der).ok_or(CrlSignatureRefusal::Malformed)?;
    let algorithm = algorithms
        .iter()
        .filter(|alg| alg.signature_alg_id().as_ref() == signed.algorithm)
        .find(|alg| alg.public_key_alg_id().as_ref() == key_algorithm)
        .ok_or(CrlSignatureRefusal::UnsupportedAlgorithm)?;
    algorithm
        .verify_signature(public_key, signed.message, signed.signature)
        .map_err(|InvalidSignature| CrlSignatureRefusal::Invalid)?;
    Ok((signed, public_key))
}

/// A webpki signature algorithm that accepts the known CRL signatures as verified and
/// verifies everything else.
pub(super) struct SkipKnown<'a> {
    inner: &'static dyn SignatureVerificationAlgorithm,
    known: &'a KnownCrlSignatures,
}

impl fmt::Debug for SkipKnown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipKnown")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl SignatureVerificationAlgorithm for SkipKnown<'_> {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        let algorithm = self.inner.signature_alg_id();
        if self.known.contains(algorithm.as_ref(), public_key, message, signature) {
            return Ok(());
        }
        self.inner.verify_signature(public_key, message, signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

/// A signed structure as webpki verifies it (RFC 5280 §5.1: `CertificateList ::= SEQUENCE {
/// tbsCertList, signatureAlgorithm, signatureValue }`).
pub(super) struct SignedParts<'a> {
    /// The whole DER `tbsCertList`, header included.
    message: &'a [u8],
    /// The contents of the signatureAlgorithm AlgorithmIdentifier.
    algorithm: &'a [u8],
    /// The signatureValue BIT STRING's value, which has no unused bits.
    signature: &'a [u8],
}

fn signed_parts(der: &[u8]) -> Option<SignedParts<'_>> {
    let (outer, rest) = sequence_contents(der)?;
    if !rest.is_empty() {
        return None;
    }
    let (_, after_message) = sequence_contents(outer)?;
    let message = &outer[..outer.len() - after_message.len()];
    let (algorithm, after_algorithm) = sequence_contents(after_message)?;
    let (signature, rest) = bit_string_value(after_algorithm)?;
    rest.is_empty().then_some(SignedParts {
        message,
        algorithm,
        signature,
    })
}

/// The contents of a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) as webpki compares them:
/// the algorithm AlgorithmIdentifier's contents and the subjectPublicKey's value.
fn spki_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (spki, rest) = sequence_contents(der)?;
    if !rest.is_empty() {
        return None;
    }
    let (algorithm, after_algorithm) = sequence_contents(spki)?;
    let (public_key, rest) = bit_string_value(after_algorithm)?;
    rest.is_empty().then_some((algorithm, public_key))
}

/// The contents of the DER SEQUENCE at the start of `der`, and what follows it.
fn sequence_contents(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (rest, any) = Any::from_der(der).ok()?;
    let universal_sequence = any.class() == Class::Universal && any.tag() == Tag::Sequence;
    (universal_sequence && any.header.is_constructed()).then_some((any.data, rest))
}

/// The value of the DER BIT STRING at the start of `der` (which must have no unused bits),
/// and what follows it.
fn bit_string_value(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (rest, any) = Any::from_der(der).ok()?;
    match (any.class(), any.tag(), any.header.is_constructed(), any.data) {
        (Class::Universal, Tag::BitString, false, [0, value @ ..]) => Some((value, rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An algorithm that refuses every signature and counts the calls that reached it.
    #[derive(Debug, Default)]
    struct Refuses(AtomicUsize);

    impl SignatureVerificationAlgorithm for Refuses {
        fn verify_signature(&self, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), InvalidSignature> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(InvalidSignature)
        }

        fn public_key_alg_id(&self) -> AlgorithmIdentifier {
            webpki::aws_lc_rs::ECDSA_P256_SHA256.public_key_alg_id()
        }

        fn signature_alg_id(&self) -> AlgorithmIdentifier {
            webpki::aws_lc_rs::ECDSA_P256_SHA256.signature_alg_id()
        }
    }

    #[test]
    fn only_the_exact_known_signature_skips_verification() {
        let refuses: &'static Refuses = Box::leak(Box::default());
        let mut known = KnownCrlSignatures::default();
        known.0.push(KnownSignature {
            algorithm: refuses.signature_alg_id().as_ref().to_vec(),
            public_key: b"issuer key".to_vec(),
            message: b"tbsCertList".to_vec(),
            signature: b"signature".to_vec(),
        });
        // The same bytes verified under another algorithm.
        known.0.push(KnownSignature {
            algorithm: webpki::aws_lc_rs::ECDSA_P256_SHA384
                .signature_alg_id()
                .as_ref()
                .to_vec(),
            public_key: b"issuer key".to_vec(),
            message: b"other tbsCertList".to_vec(),
            signature: b"other signature".to_vec(),
        });
        let [wrapped] = known.wrap(&[refuses as &'static dyn SignatureVerificationAlgorithm]);

        assert!(
            wrapped
                .verify_signature(b"issuer key", b"tbsCertList", b"signature")
                .is_ok()
        );
        assert_eq!(refuses.0.load(Ordering::Relaxed), 0);

        // A certificate carrying the CRL's signature value, another key, a prefix of the
        // message or of the signature, a signature known under another algorithm: each is
        // verified by the wrapped algorithm.
        for (key, message, signature) in [
            (&b"issuer key"[..], &b"tbsCertificate"[..], &b"signature"[..]),
            (b"other key", b"tbsCertList", b"signature"),
            (b"issuer key", b"tbsCert", b"signature"),
            (b"issuer key", b"tbsCertList", b"signatur"),
            (b"issuer key", b"other tbsCertList", b"other signature"),
        ] {
            assert!(wrapped.verify_signature(key, message, signature).is_err());
        }
        assert_eq!(refuses.0.load(Ordering::Relaxed), 5);
        assert_eq!(wrapped.signature_alg_id(), refuses.signature_alg_id());
        assert_eq!(wrapped.public_key_alg_id(), refuses.public_key_alg_id());
    }

    #[test]
    fn signed_parts_are_read_as_strict_der() {
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID 0.1 }, BIT STRING (no unused bits) aa }
        let good = [
            0x30, 0x0b, 0x30, 0x00, 0x30, 0x03, 0x06, 0x01, 0x01, 0x03, 0x02, 0x00, 0xaa,
        ];
        let parts = signed_parts(&good).unwrap();
        assert_eq!(
            (parts.message, parts.algorithm, parts.signature),
            (&[0x30, 0x00][..], &[0x06, 0x01, 0x01][..], &[0xaa][..])
        );
        let with = |at: usize, byte: u8| {
            let mut bytes = good.to_vec();
            bytes[at] = byte;
            bytes
        };
        assert!(signed_parts(&with(11, 0x01)).is_none(), "unused bits in the signature");
        assert!(
            signed_parts(&with(4, 0xa0)).is_none(),
            "a context tag for the algorithm"
        );
        assert!(
            signed_parts(&with(9, 0x04)).is_none(),
            "an OCTET STRING for the signature"
        );
        assert!(
            signed_parts(&[&good[..], &[0x00][..]].concat()).is_none(),
            "trailing bytes"
        );
        assert!(signed_parts(&good[..12]).is_none(), "truncated");
        assert_eq!(
            KnownCrlSignatures::default().verify(&[webpki::aws_lc_rs::ECDSA_P256_SHA256], &good, &good[..12]),
            Err(CrlSignatureRefusal::Malformed)
        );
        // SEQUENCE { SEQUENCE { OID 0.1 }, BIT STRING 00 bb }: the key's algorithm and value.
        let spki = [0x30, 0x09, 0x30, 0x03, 0x06, 0x01, 0x01, 0x03, 0x02, 0x00, 0xbb];
        assert_eq!(spki_parts(&spki), Some((&[0x06, 0x01, 0x01][..], &[0xbb][..])));
        assert_eq!(spki_parts(&spki[..10]), None);
    }
}
