//! Loading the workload's identity from disk: the certificate (PEM or DER), optional
//! intermediates (PEM bundle or DER), and the private key (PKCS#8 PEM or DER).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::identity::ClientCertificate;
use crate::sigv4::x509::X509SigningKey;

/// A certificate and the key that signs for it.
pub struct WorkloadIdentity {
    pub certificate: ClientCertificate,
    pub chain: Vec<Vec<u8>>,
    pub key: X509SigningKey,
}

impl WorkloadIdentity {
    pub fn load(certificate: &Path, private_key: &Path, intermediates: Option<&Path>) -> Result<Self, String> {
        let cert_bytes = read(certificate)?;
        let leaf = certificates(&cert_bytes)
            .map_err(|e| format!("{}: {e}", certificate.display()))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{}: no certificate found", certificate.display()))?;
        let certificate_parsed =
            ClientCertificate::parse(leaf).map_err(|e| format!("{}: {e}", certificate.display()))?;
        let chain = match intermediates {
            Some(p) => certificates(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
            None => Vec::new(),
        };
        let key_bytes = zeroize::Zeroizing::new(read(private_key)?);
        let der = private_key_der(&key_bytes).map_err(|e| format!("{}: {e}", private_key.display()))?;
        let key = X509SigningKey::from_pkcs8_der(&der).map_err(|e| format!("{}: {e}", private_key.display()))?;
        Ok(Self {
            certificate: certificate_parsed,
            chain,
            key,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// PEM `CERTIFICATE` blocks, or one DER certificate.
fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.starts_with(b"-----")
        || bytes.iter().take(64).all(|b| b.is_ascii()) && bytes.windows(5).any(|w| w == b"-----")
    {
        CertificateDer::pem_slice_iter(bytes)
            .map(|c| c.map(|c| c.to_vec()).map_err(|e| format!("invalid PEM: {e}")))
            .collect()
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

/// The PKCS#8 DER of a PEM or DER private key.
fn private_key_der(bytes: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let key = if bytes.windows(5).any(|w| w == b"-----") {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| format!("invalid PEM private key: {e}"))?
    } else {
        PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| format!("invalid DER private key: {e}"))?
    };
    match key {
        PrivateKeyDer::Pkcs8(k) => Ok(zeroize::Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        _ => Err(
            "the private key must be PKCS#8 (convert with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8)".into(),
        ),
    }
}
