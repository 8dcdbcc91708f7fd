//! What the configuration in force holds that runs out while the daemon runs, watched: one
//! WARN when the server certificate expires while in force, as every TLS client then refuses
//! the handshake; one when a CRL of an enabled trust anchor passes its nextUpdate (its
//! revocations are out of date, or, under `stale_crls = "refuse"`, every certificate it covers
//! is refused) and when a CA certificate of an enabled anchor expires (chains ending at it are
//! refused). The load warns of what has run out already (and of a server certificate that
//! expires within 7 days, [`crate::config`]); the metrics
//! `rolegate_server_certificate_expiry_timestamp_seconds` and
//! `rolegate_trust_anchor_crl_next_update_timestamp_seconds` and the shipped alerts cover the
//! rest.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::identity::StaleCrls;
use crate::session::format_expiration;
use crate::state::State;

/// How often the configuration in force is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// Logs a WARN once for each CRL and anchor CA certificate of an enabled trust anchor that runs
/// out while in force ([`newly_run_out`]). Runs for as long as the daemon. What had run out
/// when a configuration was loaded, the load warned about.
pub(super) async fn warn_when_trust_anchors_run_out(state: Arc<State>) {
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    let mut since = now();
    let mut every = tokio::time::interval(LOOK_EVERY);
    loop {
        every.tick().await;
        let until = now();
        for warning in newly_run_out(&state.broker.config(), since, until) {
            tracing::warn!("{warning}");
        }
        since = until;
    }
}

/// The warnings for the CRLs that passed their nextUpdate, and the CA certificates that
/// expired, of `config`'s enabled anchors after `since` and by `now` (Unix seconds). One that
/// ran out before a reload's configuration was read, its load warned of; one that runs out
/// between a look and a reload is warned of by both.
fn newly_run_out(config: &Config, since: i64, now: i64) -> Vec<String> {
    let ran_out = |t: i64| since < t && t <= now;
    let mut anchors: Vec<_> = config.anchors.values().filter(|a| a.enabled).collect();
    anchors.sort_by_key(|a| a.section);
    let mut warnings = Vec::new();
    for anchor in anchors {
        let arn = anchor.arn.as_str();
        for crl in anchor.trust.crls() {
            let Some(next_update) = crl.next_update.filter(|&t| ran_out(t)) else {
                continue;
            };
            let consequence = match anchor.trust.stale_crls() {
                StaleCrls::Honour => {
                    "it is still consulted as it is (stale_crls = \"honour\"), so certificates revoked since it was \
                     made still get sessions"
                }
                StaleCrls::Refuse => "every certificate it covers is refused (stale_crls = \"refuse\")",
            };
            warnings.push(format!(
                "trust anchor {arn}: the CRL of {} passed its nextUpdate ({}): {consequence}; import a fresh one and \
                 reload",
                crl.issuer,
                format_expiration(next_update)
            ));
        }
        for certificate in anchor.trust.certificates().iter().filter(|c| ran_out(c.not_after)) {
            warnings.push(format!(
                "trust anchor {arn}: its CA certificate {} expired ({}): chains ending at it are refused until the \
                 anchor has its renewed certificate",
                certificate.subject,
                format_expiration(certificate.not_after)
            ));
        }
    }
    warnings
}

/// Logs a WARN once for each server certificate (by its notAfter) that expires while in force.
/// Runs for as long as the daemon. One already expired at start was warned about by the load.
pub(super) async fn warn_when_server_certificate_expires(state: Arc<State>) {
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    let mut warned = state
        .broker
        .config()
        .server
        .tls
        .not_after
        .filter(|&not_after| not_after < now());
    let mut every = tokio::time::interval(LOOK_EVERY);
    loop {
        every.tick().await;
        let not_after = state.broker.config().server.tls.not_after;
        if let Some(expired) = newly_expired(not_after, now(), &mut warned) {
            tracing::warn!(
                not_after = expired,
                "the server certificate in force expired at {}: TLS clients refuse every handshake until \
                 server.tls_cert and server.tls_key are renewed and reloaded",
                crate::session::format_expiration(expired)
            );
        }
    }
}

/// The notAfter of the certificate in force when it has expired at `now` and was not warned
/// about yet (`warned` remembers the last one warned about): one warning a certificate.
fn newly_expired(not_after: Option<i64>, now: i64, warned: &mut Option<i64>) -> Option<i64> {
    let not_after = not_after.filter(|&not_after| not_after < now)?;
    match *warned == Some(not_after) {
        true => None,
        false => {
            *warned = Some(not_after);
            Some(not_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::setup::{TRUST_ANCHOR_ARN, World, WorldOptions};

    /// A CRL and a CA certificate of an enabled anchor are warned about in the look during
    /// which they run out, and not in the looks before or after; a disabled anchor's never.
    #[test]
    fn crls_and_anchor_certificates_are_warned_about_as_they_run_out() {
        let world = World::create(&WorldOptions {
            distinct_certs: 1,
            client_key: crate::pki::KeyType::EcdsaP256,
            cache_max_entries: 100,
            crl_entries: Some(1),
            stopped: None,
        })
        .unwrap();
        let config = Config::load(&world.config).unwrap();
        let anchor = &config.anchors[TRUST_ANCHOR_ARN];
        let crl = &anchor.trust.crls()[0];
        let next_update = crl.next_update.unwrap();
        let ca = &anchor.trust.certificates()[0];
        // The bench's CA and its CRL run out together.
        assert_eq!(ca.not_after, next_update);
        assert_eq!(
            newly_run_out(&config, next_update - 60, next_update - 1),
            Vec::<String>::new()
        );
        assert_eq!(
            newly_run_out(&config, next_update - 1, next_update + 59),
            [
                format!(
                    "trust anchor {TRUST_ANCHOR_ARN}: the CRL of {} passed its nextUpdate ({}): it is still consulted \
                     as it is (stale_crls = \"honour\"), so certificates revoked since it was made still get sessions; \
                     import a fresh one and reload",
                    crl.issuer,
                    format_expiration(next_update)
                ),
                format!(
                    "trust anchor {TRUST_ANCHOR_ARN}: its CA certificate {} expired ({}): chains ending at it are \
                     refused until the anchor has its renewed certificate",
                    ca.subject,
                    format_expiration(ca.not_after)
                )
            ]
        );
        assert_eq!(
            newly_run_out(&config, next_update + 59, next_update + 119),
            Vec::<String>::new()
        );
        let text = std::fs::read_to_string(&world.config).unwrap();
        std::fs::write(
            &world.config,
            text.replacen("crls = [", "stale_crls = \"refuse\"\ncrls = [", 1),
        )
        .unwrap();
        let refusing = Config::load(&world.config).unwrap();
        assert!(
            newly_run_out(&refusing, next_update - 1, next_update)[0]
                .contains("every certificate it covers is refused (stale_crls = \"refuse\"); import a fresh one")
        );
        std::fs::write(
            &world.config,
            text.replacen(
                "crls = [\"ca.crl\"]\nenabled = true",
                "crls = [\"ca.crl\"]\nenabled = false",
                1,
            ),
        )
        .unwrap();
        let disabled = Config::load(&world.config).unwrap();
        assert_eq!(newly_run_out(&disabled, 0, i64::MAX), Vec::<String>::new());
    }

    /// A certificate is warned about once, when it has expired; a renewed one that expires
    /// in turn is warned about again; one without a notAfter never.
    #[test]
    fn an_expired_certificate_is_warned_about_once() {
        let mut warned = None;
        assert_eq!(
            newly_expired(Some(100), 100, &mut warned),
            None,
            "valid until its last second"
        );
        assert_eq!(newly_expired(Some(100), 101, &mut warned), Some(100));
        assert_eq!(newly_expired(Some(100), 200, &mut warned), None);
        assert_eq!(newly_expired(Some(500), 200, &mut warned), None, "renewed");
        assert_eq!(newly_expired(Some(500), 501, &mut warned), Some(500));
        assert_eq!(newly_expired(Some(500), 900, &mut warned), None);
        assert_eq!(newly_expired(None, 900, &mut warned), None);
    }
}
