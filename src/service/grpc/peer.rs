//! The caller's mTLS client chain, as presented in the TLS handshake (which proved possession
//! of the leaf's key), and the checks the gRPC operations make on it: present, a valid leaf,
//! chaining to an enabled trust anchor, and for Admin a subject listed in
//! `[server] admin_subjects` under one of `[server] admin_trust_anchors` (when set).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::audit::Record;
use crate::broker::{Broker, STALE_CRL_REASON, SentCertificate, UNTRUSTED_CERTIFICATE, untrusted_client_certificate};
use crate::config::{Anchor, Config};
use crate::error::{ApiError, ErrorCode};
use crate::identity::ClientCertificate;
use crate::service::ConnInfo;

/// A client chain: the leaf and the intermediates sent after it.
pub(super) struct PeerChain {
    pub sent: SentCertificate,
    pub leaf: Arc<ClientCertificate>,
    pub intermediates: Vec<Vec<u8>>,
}

/// The chain presented on the connection; `MissingAuthenticationToken` (gRPC
/// `UNAUTHENTICATED`) when there is none, AccessDenied when the leaf breaks a certificate rule.
pub(super) fn peer_chain(broker: &Broker, conn: &ConnInfo, operation: &str) -> Result<PeerChain, ApiError> {
    let (leaf, intermediates) = presented_chain(conn, operation)?;
    let sent = broker.caches().certificate(leaf, parse_leaf)?;
    Ok(PeerChain {
        leaf: sent.certificate.clone(),
        sent,
        intermediates: intermediates.iter().map(|c| c.to_vec()).collect(),
    })
}

/// The leaf and intermediates of the handshake, or `MissingAuthenticationToken`.
fn presented_chain<'c>(
    conn: &'c ConnInfo,
    operation: &str,
) -> Result<(&'c [u8], &'c [CertificateDer<'static>]), ApiError> {
    let certs = conn.peer_certificates.as_deref().map(Vec::as_slice).unwrap_or_default();
    match certs.split_first() {
        Some((leaf, rest)) => Ok((leaf.as_ref(), rest)),
        None => Err(ApiError::new(
            ErrorCode::MissingAuthenticationToken,
            "no-client-certificate",
            format!(
                "{operation} needs a client certificate: connect with mTLS, presenting your certificate and its intermediates."
            ),
        )),
    }
}

/// The leaf rules of [`ClientCertificate::parse`], as an AccessDenied.
fn parse_leaf(der: &[u8]) -> Result<ClientCertificate, ApiError> {
    ClientCertificate::parse(der.to_vec())
        .map_err(|e| ApiError::access_denied("bad-certificate", format!("Invalid client certificate: {e}")))
}

/// Checks that the peer's `chain` chains to an enabled trust anchor of `config`, and returns
/// the anchor's ARN.
pub(super) fn trusted_peer(
    broker: &Broker,
    config: &Config,
    chain: &PeerChain,
    now: OffsetDateTime,
) -> Result<String, ApiError> {
    let anchor = broker.trusted_anchor(config, &chain.leaf, &chain.intermediates, now)?;
    broker.caches().keep_certificate(&chain.sent);
    Ok(anchor)
}

/// Admin callers: a chain to an enabled trust anchor — one of `admin_trust_anchors` when it
/// lists any — whose leaf subject is listed in `admin_subjects`. The leaf goes into the
/// call's audit `record` as soon as it parses, so a refused caller is named in it.
pub(super) fn admin_peer(
    broker: &Broker,
    conn: &ConnInfo,
    operation: &str,
    record: &mut Record,
    now: OffsetDateTime,
) -> Result<Arc<ClientCertificate>, ApiError> {
    let config = broker.config();
    let admin_anchors = &config.server.admin_trust_anchors;
    let chain = peer_chain(broker, conn, operation)?;
    record.set_certificate(chain.leaf.clone());
    let is_admin_anchor = |a: &Anchor| config.server.admits_admins_from(a);
    // The refusal names the rule, and, when one anchor alone could admit the caller, why its
    // verification failed (a revoked or expired admin certificate says so).
    if let Err(why) = broker.trusted_anchor_among(&config, &chain.leaf, &chain.intermediates, is_admin_anchor, now) {
        let rule = match admin_anchors.is_empty() {
            true => "any enabled trust anchor".to_owned(),
            false => format!("an enabled trust anchor of [server] admin_trust_anchors, so it cannot call {operation}"),
        };
        // Told how to recover when a stale CRL is, or may be, what refused it.
        let maybe_stale = why.as_ref().is_none_or(|e| e.reason == STALE_CRL_REASON);
        let (which, reason) = match why {
            Some(e) => (format!("{rule} ({})", e.message), e.reason),
            None => (format!("{rule}."), UNTRUSTED_CERTIFICATE),
        };
        let mut refused = untrusted_client_certificate(&chain.leaf, &which);
        refused.reason = reason;
        if maybe_stale && admins_refused_for_stale_crls(&config, now) {
            if !refused.message.ends_with('.') {
                refused.message.push('.');
            }
            refused.message.push(' ');
            refused.message.push_str(STALE_CRL_RECOVERY);
        }
        return Err(refused);
    }
    broker.caches().keep_certificate(&chain.sent);
    // Listed in either order: certificate order (`CN=ops,O=Acme`, as the audit log writes it)
    // or RFC 4514's last-RDN-first (`O=Acme,CN=ops`, as `openssl -nameopt RFC2253` prints it).
    let subject = chain.leaf.subject_string();
    let admins = &config.server.admin_subjects;
    let listed = admins.iter().any(|s| s == subject) || {
        let reversed = chain.leaf.subject().to_rfc4514_order_string();
        admins.contains(&reversed)
    };
    if !listed {
        // Whom to list is the operator's choice: an empty list is said to be one (no admins
        // yet), not answered with an invitation to list whichever certificate called.
        let how = match admins.is_empty() {
            true => {
                "the Admin API has no admins ([server] admin_subjects is empty): list the subject of a \
                     certificate kept for administration there, not a workload's"
            }
            false => {
                "only the subjects listed in [server] admin_subjects may; list this one there if it is an \
                      administrator's"
            }
        };
        return Err(ApiError::access_denied(
            "not-admin",
            format!("The client certificate subject '{subject}' is not allowed to call {operation}: {how}."),
        ));
    }
    Ok(chain.leaf)
}

/// What an admin refused for a stale CRL is told: the Admin API cannot import the fresh CRL
/// that would let it in, the reloads that need no admin certificate can.
const STALE_CRL_RECOVERY: &str = "An anchor admins chain to refuses stale CRLs (stale_crls = \"refuse\") and \
     holds a CRL past its nextUpdate, which refuses admin certificates too: put the fresh CRL in place and reload \
     with SIGHUP (systemctl reload), the config watch (config_watch_seconds) or a restart.";

/// Whether an enabled anchor that admin callers may chain to ([`crate::config::ServerSettings::admits_admins_from`])
/// refuses stale CRLs and holds one past its nextUpdate at `now`: then the Admin API is locked
/// to every admin whose chain that CRL covers.
fn admins_refused_for_stale_crls(config: &Config, now: OffsetDateTime) -> bool {
    let now = now.unix_timestamp();
    config
        .anchors
        .values()
        .any(|a| config.server.admits_admins_from(a) && a.refusing_stale_crl(now).is_some())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn no_certificate_is_unauthenticated() {
        let conn = ConnInfo {
            remote: "127.0.0.1:1".parse().unwrap(),
            address_group: [127, 0, 0, 1].into(),
            address_limits: true,
            peer_certificates: None,
        };
        let e = presented_chain(&conn, "CreateSession").err().unwrap();
        assert_eq!(e.grpc_code(), tonic::Code::Unauthenticated);
        assert_eq!(
            e.message,
            "CreateSession needs a client certificate: connect with mTLS, presenting your certificate and its intermediates."
        );
        let empty = ConnInfo {
            peer_certificates: Some(Arc::new(Vec::new())),
            ..conn
        };
        assert_eq!(
            presented_chain(&empty, "X").err().unwrap().reason,
            "no-client-certificate"
        );
    }

    #[test]
    fn garbage_leaf_is_access_denied() {
        let e = parse_leaf(&[1u8, 2, 3]).err().unwrap();
        assert_eq!((e.code, e.reason), (ErrorCode::AccessDenied, "bad-certificate"));
    }
}
