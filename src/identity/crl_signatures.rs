//! The signatures of a trust anchor's CRLs, verified once at load and not again on every chain
//! verification.
//!
//! rustls-webpki checks a CRL's signature each time it consults the CRL (rustls/webpki#81):
//! one more signature verification per chain, and a SHA-256 of the whole CRL, about 30 KB for
//! 1,000 revoked serials. [`TrustAnchor::new`](super::TrustAnchor::new) has already verified
//! each CRL with the key of the anchor certificate that issued it. [`KnownCrlSignatures`]
//! keeps exactly those (key, signed bytes, signature) triples, and [`SkipKnown`] wraps each
//! webpki algorithm so that a triple equal to one of them, byte for byte, is accepted without
//! verifying it again. Everything else goes to the wrapped algorithm: every certificate
//! signature, and a CRL checked with another key. Whole byte strings are compared, so a
//! certificate that carries a CRL's signature value is still verified, and refused.

use std::fmt;

use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

/// The CRL signatures of one trust anchor that verified at load.
#[derive(Debug, Default)]
pub(super) struct KnownCrlSignatures(Vec<KnownSignature>);

/// One verified signature, as webpki presents it to a [`SignatureVerificationAlgorithm`]: the
/// issuer's `subjectPublicKey`, the DER `tbsCertList` and the signature BIT STRING's value.
#[derive(Debug)]
struct KnownSignature {
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl KnownCrlSignatures {
    /// Records a CRL signature that the caller has verified with `public_key`.
    pub(super) fn add_verified(&mut self, public_key: &[u8], message: &[u8], signature: &[u8]) {
        self.0.push(KnownSignature {
            public_key: public_key.to_vec(),
            message: message.to_vec(),
            signature: signature.to_vec(),
        });
    }

    /// Whether this exact triple was verified at load. The short, distinct signature is
    /// compared first, so a certificate signature costs one length check per CRL.
    fn contains(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        self.0
            .iter()
            .any(|known| known.signature == signature && known.public_key == public_key && known.message == message)
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
        if self.known.contains(public_key, message, signature) {
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
    fn only_the_exact_known_triple_skips_verification() {
        let refuses: &'static Refuses = Box::leak(Box::default());
        let mut known = KnownCrlSignatures::default();
        known.add_verified(b"issuer key", b"tbsCertList", b"signature");
        let [wrapped] = known.wrap(&[refuses as &'static dyn SignatureVerificationAlgorithm]);

        assert!(
            wrapped
                .verify_signature(b"issuer key", b"tbsCertList", b"signature")
                .is_ok()
        );
        assert_eq!(refuses.0.load(Ordering::Relaxed), 0);

        // A certificate carrying the CRL's signature value, another key, a prefix of the
        // message or of the signature: each is verified by the wrapped algorithm.
        for (key, message, signature) in [
            (&b"issuer key"[..], &b"tbsCertificate"[..], &b"signature"[..]),
            (b"other key", b"tbsCertList", b"signature"),
            (b"issuer key", b"tbsCert", b"signature"),
            (b"issuer key", b"tbsCertList", b"signatur"),
        ] {
            assert!(wrapped.verify_signature(key, message, signature).is_err());
        }
        assert_eq!(refuses.0.load(Ordering::Relaxed), 4);
        assert_eq!(wrapped.signature_alg_id(), refuses.signature_alg_id());
        assert_eq!(wrapped.public_key_alg_id(), refuses.public_key_alg_id());
    }
}
