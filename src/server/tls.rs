//! TLS for the main listener: rustls with aws-lc-rs, TLS 1.2+ with rustls's safe defaults,
//! ALPN h2 + http/1.1, a server certificate that hot-reloads with the configuration, and client
//! certificates *requested but not required* (DESIGN.md §2c).
//!
//! The handshake only proves the client holds the key of the certificate it sent; whether that
//! certificate chains to an enabled trust anchor is decided per request by the broker, so the
//! answer is a clear API error rather than a failed handshake, and anchors reload without
//! rebuilding the TLS configuration.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::TlsIdentity;
use crate::tls::KeyPossessionOnly;

/// Builds the listener's TLS configuration around a reloadable certificate.
pub(super) fn server_config(cert: Arc<ReloadableCert>) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Any client certificate, its handshake signature checked: chain trust is the broker's.
    let verifier = Arc::new(KeyPossessionOnly {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The server certificate in force; replaced on reload.
#[derive(Debug)]
pub struct ReloadableCert {
    current: ArcSwap<CertifiedKey>,
}

impl ReloadableCert {
    pub fn new(identity: &TlsIdentity) -> Result<Self, rustls::Error> {
        Ok(Self {
            current: ArcSwap::from_pointee(certified_key(identity)?),
        })
    }

    pub fn replace(&self, identity: &TlsIdentity) -> Result<(), rustls::Error> {
        self.current.store(Arc::new(certified_key(identity)?));
        Ok(())
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn certified_key(identity: &TlsIdentity) -> Result<CertifiedKey, rustls::Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    CertifiedKey::from_der(identity.cert_chain.clone(), identity.key.clone_key(), &provider)
}
