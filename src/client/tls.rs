//! Client TLS: rustls with aws-lc-rs, trusting the system roots plus `--ca-bundle`, or — only
//! when asked with `--no-verify-ssl` — no certificate at all (handshake signatures are still
//! checked; with a warning).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::tls::KeyPossessionOnly;

/// How the client authenticates the server.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Extra PEM CA certificates to trust (added to the system roots).
    pub ca_bundle: Option<PathBuf>,
    /// Skip server certificate verification entirely (development only).
    pub no_verify: bool,
    /// Offer this client certificate chain and key (mTLS, for the gRPC API).
    pub client_identity: Option<(
        Vec<CertificateDer<'static>>,
        Arc<rustls::pki_types::PrivateKeyDer<'static>>,
    )>,
}

/// Builds a rustls client configuration (no ALPN: the HTTP connector sets it).
pub fn client_config(opts: &TlsOptions) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if opts.no_verify {
        crate::cli::print_stderr(
            "warning: --no-verify-ssl: the server's certificate is not verified; use only for development\n",
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(KeyPossessionOnly {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &opts.ca_bundle {
            let pem = crate::fsutil::read_bounded(path, crate::fsutil::MAX_CONFIG_FILE_BYTES)
                .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
                added += 1;
            }
            if added == 0 {
                return Err(format!("CA bundle {} holds no PEM certificate", path.display()));
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match &opts.client_identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "client certificate: this private key is not the key of the certificate".to_owned()
                }
                e => format!("client certificate: {e}"),
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}
