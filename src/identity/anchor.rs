//! [`TrustAnchor`]: the CA certificates (roots or intermediates acting as anchors) and imported
//! CRLs of one Roles Anywhere trust anchor, parsed and checked once at config load.
//!
//! Rules (DESIGN §1, AWS
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html>): every
//! anchor certificate is X.509 v3, `CA:true` and has a keyUsage with `keyCertSign`; every CRL
//! is issued by one of the anchor certificates (AWS imports CRLs per trust anchor), which is
//! verified here (name and signature) so that a wrong CRL fails at load, not on every request.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Version;

use super::attributes::distinguished_name;
use super::certificate::parse_der;
use super::crl_signatures::KnownCrlSignatures;
use super::error::AnchorError;

/// A loaded trust anchor. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct TrustAnchor {
    certificates: Vec<AnchorCertificate>,
    pub(super) webpki_anchors: Vec<rustls_pki_types::TrustAnchor<'static>>,
    pub(super) crls: Vec<CertRevocationList<'static>>,
    /// The signatures of `crls`, verified here once, for chain verification not to repeat.
    pub(super) crl_signatures: KnownCrlSignatures,
    /// What operators watch of each CRL, in `crls` order.
    crl_infos: Vec<CrlInfo>,
    stale_crls: StaleCrls,
}

/// What a CRL past its nextUpdate means for the certificates it covers (configuration
/// `trust_anchor.stale_crls`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleCrls {
    /// The CRL still applies as it is: what it lists is revoked, anything else passes. AWS
    /// Roles Anywhere keeps an imported CRL until it is replaced.
    #[default]
    Honour,
    /// Every certificate the CRL is authoritative for is refused until a fresh CRL is
    /// loaded (fail closed, as OpenSSL and rustls-webpki's `ExpirationPolicy::Enforce`).
    Refuse,
}

impl StaleCrls {
    /// The policy as operator summaries show it after a CRL's next update.
    pub fn when_stale(self) -> &'static str {
        match self {
            StaleCrls::Honour => "honoured when stale",
            StaleCrls::Refuse => "refused when stale",
        }
    }
}

/// One imported CRL of a trust anchor, as operators watch it: a CRL past its nextUpdate no
/// longer lists recent revocations, and is honoured or refused as [`StaleCrls`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// RFC 4514-style issuer.
    pub issuer: String,
    /// nextUpdate, Unix seconds, when the CRL has one.
    pub next_update: Option<i64>,
}

/// One CA certificate of a trust anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorCertificate {
    /// RFC 4514-style subject.
    pub subject: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate DER.
    pub der: CertificateDer<'static>,
}

impl TrustAnchor {
    /// Loads a trust anchor from a PEM bundle (one or more `CERTIFICATE` blocks; other block
    /// types are ignored) and CRLs, each PEM (`X509 CRL`) or DER.
    pub fn new(ca_bundle_pem: &[u8], crls: &[Vec<u8>]) -> Result<TrustAnchor, AnchorError> {
        let ders = CertificateDer::pem_slice_iter(ca_bundle_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AnchorError::Pem(format!("{e:?}")))?;
        if ders.is_empty() {
            return Err(AnchorError::NoCertificate);
        }
        let mut certificates = Vec::with_capacity(ders.len());
        let mut webpki_anchors = Vec::with_capacity(ders.len());
        for (i, der) in ders.into_iter().enumerate() {
            let index = i + 1;
            certificates.push(anchor_certificate(index, &der)?);
            let anchor = webpki::anchor_from_trusted_cert(&der).map_err(|e| AnchorError::MalformedCertificate {
                index,
                reason: format!("{e}"),
            })?;
            webpki_anchors.push(anchor.to_owned());
        }
        let mut crl_signatures = KnownCrlSignatures::default();
        let (crls, crl_infos): (Vec<_>, Vec<_>) = crls
            .iter()
            .enumerate()
            .map(|(i, bytes)| load_crl(i + 1, bytes, &certificates, &mut crl_signatures))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        check_one_crl_per_issuer(&crls, &crl_infos)?;
        Ok(TrustAnchor {
            certificates,
            webpki_anchors,
            crls,
            crl_signatures,
            crl_infos,
            stale_crls: StaleCrls::default(),
        })
    }

    /// This anchor, treating its CRLs past their nextUpdate as `policy` says.
    pub fn with_stale_crls(self, policy: StaleCrls) -> TrustAnchor {
        TrustAnchor {
            stale_crls: policy,
            ..self
        }
    }

    /// What a CRL of this anchor past its nextUpdate means.
    pub fn stale_crls(&self) -> StaleCrls {
        self.stale_crls
    }

    /// The earliest nextUpdate of the CRLs issued by the anchor certificate `issuer_subject`
    /// (the DER value of its subject, as webpki compares names), when this anchor refuses
    /// stale CRLs: a chain through that certificate verifies until then at most.
    pub(super) fn refused_after(&self, issuer_subject: &[u8]) -> Option<i64> {
        if self.stale_crls != StaleCrls::Refuse {
            return None;
        }
        self.crls
            .iter()
            .zip(&self.crl_infos)
            .filter(|(crl, _)| crl.issuer() == issuer_subject)
            .filter_map(|(_, info)| info.next_update)
            .min()
    }

    /// The anchor's CA certificates, in bundle order.
    pub fn certificates(&self) -> &[AnchorCertificate] {
        &self.certificates
    }

    /// The anchor's CRLs, in configuration order.
    pub fn crls(&self) -> &[CrlInfo] {
        &self.crl_infos
    }

    /// The notAfter of the anchor certificate webpki chose (matched by subject and key).
    pub(super) fn not_after_of(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> Option<i64> {
        self.webpki_anchors
            .iter()
            .zip(&self.certificates)
            .find(|(a, _)| a.subject == anchor.subject && a.subject_public_key_info == anchor.subject_public_key_info)
            .map(|(_, c)| c.not_after)
    }
}

/// Checks one bundle certificate: v3, `CA:true`, keyUsage with `keyCertSign`.
fn anchor_certificate(index: usize, der: &CertificateDer<'static>) -> Result<AnchorCertificate, AnchorError> {
    let x509 = parse_der(der).map_err(|e| AnchorError::MalformedCertificate {
        index,
        reason: e.to_string(),
    })?;
    let subject = distinguished_name(x509.subject()).to_string();
    if x509.version() != X509Version::V3 {
        return Err(AnchorError::NotV3 { subject });
    }
    let is_ca = x509.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(AnchorError::NotCa { subject });
    }
    let key_cert_sign = x509
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| ku.value.key_cert_sign());
    if !key_cert_sign {
        return Err(AnchorError::NoKeyCertSign { subject });
    }
    Ok(AnchorCertificate {
        subject,
        not_after: x509.validity().not_after.timestamp(),
        der: der.clone(),
    })
}

/// Parses a PEM or DER CRL and checks that an anchor certificate issued it: its issuer
/// names an anchor certificate whose key verifies the CRL signature (RFC 5280 §6.3.3 (f)),
/// which is added to `verified`.
fn load_crl(
    index: usize,
    bytes: &[u8],
    anchors: &[AnchorCertificate],
    verified: &mut KnownCrlSignatures,
) -> Result<(CertRevocationList<'static>, CrlInfo), AnchorError> {
    let bad = |reason: String| AnchorError::BadCrl { index, reason };
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(bytes)
            .map_err(|e| bad(format!("not a PEM X509 CRL ({e:?})")))?
            .as_ref()
            .to_vec()
    } else {
        bytes.to_vec()
    };
    let (_, parsed) = CertificateRevocationList::from_der(&der).map_err(|e| bad(e.to_string()))?;
    let issuers: Vec<X509Certificate<'_>> = anchors
        .iter()
        .filter_map(|a| parse_der(&a.der).ok())
        .filter(|c| c.subject().as_raw() == parsed.tbs_cert_list.issuer.as_raw())
        .collect();
    if issuers.is_empty() {
        return Err(AnchorError::CrlIssuerUnknown { index });
    }
    let Some(signer) = issuers.iter().find(|issuer| crl_signature_verifies(&parsed, issuer)) else {
        return Err(bad(
            "its signature does not verify with the key of the anchor certificate that issued it".to_owned(),
        ));
    };
    verified.add_verified(
        signer.public_key().subject_public_key.data.as_ref(),
        parsed.tbs_cert_list.as_ref(),
        parsed.signature_value.data.as_ref(),
    );
    let info = CrlInfo {
        issuer: distinguished_name(&parsed.tbs_cert_list.issuer).to_string(),
        next_update: parsed.tbs_cert_list.next_update.map(|t| t.timestamp()),
    };
    let crl = OwnedCertRevocationList::from_der(&der).map_err(|e| bad(format!("{e}")))?;
    Ok((CertRevocationList::from(crl), info))
}

/// At most one CRL per issuer name: webpki consults the first CRL whose issuer matches a
/// certificate's, so a second one (an old and a new CRL listed together during a rotation)
/// would have its revocations ignored.
fn check_one_crl_per_issuer(crls: &[CertRevocationList<'_>], infos: &[CrlInfo]) -> Result<(), AnchorError> {
    for (j, later) in crls.iter().enumerate() {
        if let Some(i) = crls[..j].iter().position(|earlier| earlier.issuer() == later.issuer()) {
            return Err(AnchorError::DuplicateCrlIssuer {
                first: i + 1,
                second: j + 1,
                issuer: infos[j].issuer.clone(),
            });
        }
    }
    Ok(())
}

/// Verifies a CRL signature with an issuer's key, for the algorithms of DESIGN §1.
fn crl_signature_verifies(crl: &CertificateRevocationList<'_>, issuer: &X509Certificate<'_>) -> bool {
    use aws_lc_rs::signature as sig;
    let spki = issuer.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    let algorithm: &dyn sig::VerificationAlgorithm = match (
        crl.signature_algorithm.algorithm.to_id_string().as_str(),
        curve.as_deref(),
    ) {
        ("1.2.840.10045.4.3.2", Some(P256)) => &sig::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(P256)) => &sig::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.2", Some(P384)) => &sig::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(P384)) => &sig::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.113549.1.1.11", _) => &sig::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &sig::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &sig::RSA_PKCS1_2048_8192_SHA512,
        _ => return false,
    };
    sig::UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(crl.tbs_cert_list.as_ref(), crl.signature_value.data.as_ref())
        .is_ok()
}

const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
