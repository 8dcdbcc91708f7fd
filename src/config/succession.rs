//! What a reload may not do that a start may. A reload compares the configuration it read
//! with the one in force and fails — the one in force kept, the file and the way out named —
//! where swapping it in would silently take away something the running daemon gives:
//! revocations (an older CRL of the same issuer key), the sessions a token key opens (another
//! key under its id), a server certificate clients accept (one outside its validity). A start
//! has nothing to compare with, so a restart is how an operator does any of these on purpose.

use super::{Config, ConfigError};
use crate::identity::CrlInfo;
use crate::session::format_expiration;

/// Checks `next`, which a reload read at `now` (Unix seconds), against `in_force`.
pub fn check(in_force: &Config, next: &Config, now: i64) -> Result<(), ConfigError> {
    older_crl(in_force, next)?;
    replaced_token_key(in_force, next)?;
    unusable_server_certificate(in_force, next, now)
}

/// A CRL of a trust anchor that an older CRL of the same issuer key replaces: the revocations
/// made in between would be taken back (RFC 5280 §5.2.3 numbers an issuer's CRLs in
/// increasing order). A stale mirror, a restored backup or a reverted ConfigMap does this.
fn older_crl(in_force: &Config, next: &Config) -> Result<(), ConfigError> {
    let mut anchors: Vec<_> = next.anchors.values().collect();
    anchors.sort_by_key(|a| a.section);
    for anchor in anchors {
        let Some(current) = in_force.anchors.get(anchor.arn.as_str()) else {
            continue;
        };
        for (j, (crl, file)) in anchor.trust.crls().iter().zip(&anchor.crl_files).enumerate() {
            let Some(newer) = current.trust.crls().iter().find(|c| crl.predates(c)) else {
                continue;
            };
            return Err(ConfigError {
                file: next.path.clone(),
                key: format!("trust_anchor[{}].crls[{j}] ({})", anchor.section, file.display()),
                message: format!(
                    "this CRL of {} is older than the one in force ({}): it would take back the \
                     revocations made since. Install the CA's latest CRL; to go back to this one on \
                     purpose, restart rolegate",
                    crl.issuer,
                    how_much_older(crl, newer)
                ),
            });
        }
    }
    Ok(())
}

/// How `older` is older than `newer`, in the terms [`CrlInfo::predates`] compared.
fn how_much_older(older: &CrlInfo, newer: &CrlInfo) -> String {
    match (&older.number, &newer.number) {
        (Some(old), Some(new)) => format!("cRLNumber {old} against {new}"),
        _ => format!(
            "thisUpdate {} against {}",
            format_expiration(older.this_update),
            format_expiration(newer.this_update)
        ),
    }
}

/// A token key id that names another key than in force: the sessions sealed with the key in
/// force would stop opening. A key id names one key for as long as its tokens live; rotation
/// adds a key under a new id.
fn replaced_token_key(in_force: &Config, next: &Config) -> Result<(), ConfigError> {
    match in_force.keyring.ids_with_other_keys(&next.keyring).next() {
        None => Ok(()),
        Some(id) => Err(ConfigError {
            file: next.path.clone(),
            key: "tokens.keys".to_owned(),
            message: format!(
                "token key '{id}' is not the key in force under that id: the sessions it sealed would \
                 stop opening. Give a new key a new id (see \"Key ring rotation\" in the README); to \
                 replace the key under this id on purpose, restart rolegate"
            ),
        }),
    }
}

/// A new server certificate that clients would refuse for its dates, where one is in force.
/// A certificate made a moment ago by a CA whose clock runs ahead is allowed the configured
/// clock skew; the certificate in force is checked only when it changes, so an expired one
/// does not stop other changes (a fresh CRL) from taking effect.
fn unusable_server_certificate(in_force: &Config, next: &Config, now: i64) -> Result<(), ConfigError> {
    let tls = &next.server.tls;
    if tls.cert_chain.first() == in_force.server.tls.cert_chain.first() {
        return Ok(());
    }
    let (Some(not_before), Some(not_after)) = (tls.not_before, tls.not_after) else {
        return Ok(());
    };
    let leeway = next.server.max_clock_skew.whole_seconds();
    match outside_validity(not_before, not_after, now, leeway) {
        None => Ok(()),
        Some(problem) => Err(ConfigError {
            file: next.path.clone(),
            key: "server.tls_cert".to_owned(),
            message: format!(
                "TLS clients would refuse this server certificate: {problem}. The certificate in force \
                 is kept; install a current one"
            ),
        }),
    }
}

/// Why a certificate valid from `not_before` to `not_after` (inclusive, RFC 5280 §4.1.2.5) is
/// not valid at `now`, allowing `leeway` seconds before its start.
pub(super) fn outside_validity(not_before: i64, not_after: i64, now: i64, leeway: i64) -> Option<String> {
    if now > not_after {
        Some(format!("it expired at {}", format_expiration(not_after)))
    } else if not_before > now.saturating_add(leeway) {
        Some(format!("it is not valid until {}", format_expiration(not_before)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_inclusive_with_leeway_before_the_start() {
        let (from, to) = (1_000_000, 2_000_000);
        assert_eq!(outside_validity(from, to, from, 0), None);
        assert_eq!(outside_validity(from, to, to, 0), None);
        assert_eq!(
            outside_validity(from, to, to + 1, 300),
            Some(format!("it expired at {}", format_expiration(to)))
        );
        assert_eq!(
            outside_validity(from, to, from - 1, 0),
            Some(format!("it is not valid until {}", format_expiration(from)))
        );
        assert_eq!(outside_validity(from, to, from - 300, 300), None);
        assert_eq!(
            outside_validity(from, to, from - 301, 300),
            Some(format!("it is not valid until {}", format_expiration(from)))
        );
    }
}
