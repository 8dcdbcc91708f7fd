//! The server certificate in force, watched while the daemon runs: one WARN when it expires
//! while in force, as every TLS client then refuses the handshake. The load warns of one that
//! expires within 7 days ([`crate::config`]); the metric
//! `rolegate_server_certificate_expiry_timestamp_seconds` and the shipped alerts cover the rest.

use std::sync::Arc;
use std::time::Duration;

use crate::state::State;

/// How often the certificate in force is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(60);

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
