//! The gRPC load: `rolegate.v1.Sessions/CreateSession` over mTLS (HTTP/2 on the same TLS
//! listener as REST), the way a gRPC client platform calls it — each workload certificate
//! holds one keep-alive tonic [`Channel`] (its identity is the connection's client
//! certificate), and the workers multiplex their calls over those channels, round-robin.
//!
//! A gRPC CreateSession carries no request signature: the client proved possession of its key
//! in the mTLS handshake, once per connection. What is fresh on every call is the request
//! message — a distinct `role_session_name` (a new session, minted and sealed) unless `--reuse`
//! — so the server parses the peer certificate, checks its chain, evaluates the trust policy
//! and mints credentials on every call, exactly as for a real client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};
use tonic::transport::Channel;

use super::load::{WorkerResult, round_robin};
use super::setup::{ClientIdentity, PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN};
use crate::client::grpc::GrpcClient;
use crate::proto::CreateSessionRequest;
use crate::proto::sessions_client::SessionsClient;

/// Everything the gRPC workers share.
pub(super) struct GrpcTarget {
    /// One channel per client certificate.
    pub channels: Vec<SessionsClient<Channel>>,
    /// Send identical requests (answered from the credential-reuse cache).
    pub reuse: bool,
    /// Calls started so far (picks the channel and the session name).
    pub sequence: AtomicU64,
}

impl GrpcTarget {
    /// Opens one mTLS channel per client identity to the server at `addr`, trusting `ca_pem`.
    pub(super) async fn connect(
        addr: SocketAddr,
        ca_pem: &Path,
        clients: &[ClientIdentity],
        reuse: bool,
    ) -> Result<GrpcTarget, String> {
        let roots = roots(ca_pem)?;
        let endpoint = format!("https://{addr}");
        let mut connecting = tokio::task::JoinSet::new();
        for (i, client) in clients.iter().enumerate() {
            let config = mtls_config(roots.clone(), client)?;
            let endpoint = endpoint.clone();
            connecting.spawn(async move { (i, GrpcClient::connect_with_config(&endpoint, config).await) });
        }
        let mut channels: Vec<Option<SessionsClient<Channel>>> = vec![None; clients.len()];
        while let Some(joined) = connecting.join_next().await {
            let (i, connected) = joined.map_err(|e| format!("connecting task: {e}"))?;
            let client = connected.map_err(|e| format!("gRPC channel: {e}"))?;
            if let Some(slot) = channels.get_mut(i) {
                *slot = Some(client.sessions());
            }
        }
        Ok(GrpcTarget {
            channels: channels.into_iter().flatten().collect(),
            reuse,
            sequence: AtomicU64::new(0),
        })
    }
}

/// The roots of trust of the bench: its CA, nothing else.
fn roots(ca_pem: &Path) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).map_err(|e| format!("{}: {e}", ca_pem.display()))? {
        let cert = cert.map_err(|e| format!("{}: {e}", ca_pem.display()))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", ca_pem.display()))?;
    }
    Ok(Arc::new(roots))
}

/// A TLS client configuration presenting `client`'s certificate.
fn mtls_config(roots: Arc<RootCertStore>, client: &ClientIdentity) -> Result<ClientConfig, String> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client.key_pkcs8_der.to_vec()));
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(client.cert_der.clone())], key)
        .map_err(|e| format!("client certificate: {e}"))
}

/// Runs one worker until `end` (one call in flight at a time); only calls that complete
/// between `measure_from` and `end` are recorded.
pub(super) async fn worker(target: Arc<GrpcTarget>, measure_from: Instant, end: Instant) -> WorkerResult {
    let mut result = WorkerResult::default();
    while Instant::now() < end {
        let seq = target.sequence.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = match round_robin(&target.channels, seq) {
            Ok(channel) => create_session(channel.clone(), seq, target.reuse).await,
            Err(e) => Err(e),
        };
        result.record(measure_from, end, started, Instant::now(), outcome);
    }
    result
}

/// Call number `seq`: the request message built now, the answer checked for credentials.
async fn create_session(mut channel: SessionsClient<Channel>, seq: u64, reuse: bool) -> Result<(), String> {
    let request = CreateSessionRequest {
        trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
        profile_arn: PROFILE_ARN.to_owned(),
        role_arn: ROLE_ARN.to_owned(),
        role_session_name: (!reuse).then(|| format!("bench-{seq}")),
        ..Default::default()
    };
    let answer = channel
        .create_session(request)
        .await
        .map_err(|s| format!("gRPC {:?}: {}", s.code(), s.message()))?;
    match answer.into_inner().credentials {
        Some(_) => Ok(()),
        None => Err("CreateSession answer lacks credentials".to_owned()),
    }
}
