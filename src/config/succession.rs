//! What a reload may not do that a start may. A reload compares the configuration it read
//! with the one in force and fails — the one in force kept, the file and the way out named —
//! where swapping it in would silently take away something the running daemon gives:
//! revocations (an older CRL of a CA's sequence than any in force since the start, under
//! whichever anchor — [`RevocationsSeen`] —, or its CRL dropped while an anchor still trusts the
//! CA; a role's session cutoff moved back or removed), the sessions a token key opens (another key under its id), a server
//! certificate clients accept (an expired one). A start has nothing to compare with, so a
//! restart is how an operator does any of these on purpose. A server certificate not valid
//! yet is staged instead ([`staged_server_certificate`]): the rest of the reload applies.
//! It also lists what a reload changed, for the log: a configuration cut short by a failed
//! write that loses roles is valid, and the log line of its reload says what it took away.

use super::{Anchor, Config, ConfigError};
use crate::identity::CrlInfo;
use crate::session::format_expiration;

/// How long before its notBefore a new server certificate may go in when the one in force has
/// expired (one made a moment ago by a CA whose clock runs ahead of this host's:
/// cert-manager's CA issuer does not date certificates back), and how far from valid a
/// changed certificate may be when nothing is staged.
pub const SERVER_CERTIFICATE_LEEWAY_SECONDS: i64 = 300;

/// When each token key of the ring stopped being the active one, as the reloads since the
/// start saw it (Unix seconds): a key is retired safely only once every session it sealed has
/// expired, that is the longest session after it stopped sealing.
#[derive(Debug, Default)]
pub struct KeyRetirements(std::collections::HashMap<String, i64>);

impl KeyRetirements {
    /// Notes what the reload from `in_force` to `next` at `now` changes: the key that stops
    /// being active, one that is active again, keys removed.
    pub fn record(&mut self, in_force: &Config, next: &Config, now: i64) {
        let (was, is) = (in_force.keyring.active_id(), next.keyring.active_id());
        if was != is {
            self.0.insert(was.to_owned(), now);
        }
        self.0.remove(is);
        self.0.retain(|id, _| next.keyring.contains(id));
    }
}

/// The warnings for a reload at `now` that removes keys whose sessions may still live (Key
/// ring rotation in the README): the key `in_force` seals with, whose newest sessions live the
/// longest session (`max_session_duration` of the roles) more, and a key that stopped being
/// active less than that ago. Every such session now fails with InvalidClientTokenId.
pub fn retired_live_keys(in_force: &Config, next: &Config, retirements: &KeyRetirements, now: i64) -> Vec<String> {
    let longest = in_force
        .roles
        .values()
        .map(|role| i64::from(role.max_session_duration))
        .max()
        .unwrap_or(0);
    let hours = format_duration(longest);
    let active = in_force.keyring.active_id();
    let mut out = Vec::new();
    if !next.keyring.contains(active) {
        out.push(format!(
            "token key {active} removed while it was the active key: live sessions sealed under it (issued up to \
             now, for up to {hours}, the longest max_session_duration) now fail with InvalidClientTokenId until their \
             holders renew; keep a retired key listed, verify-only, until the longest session it sealed has expired \
             (see \"Key ring rotation\" in the README)"
        ));
    }
    let mut removed: Vec<(&str, i64)> = in_force
        .keyring
        .key_ids()
        .into_iter()
        .filter(|id| *id != active && !next.keyring.contains(id))
        .filter_map(|id| Some((id, *retirements.0.get(id)?)))
        .filter(|(_, retired_at)| now < retired_at + longest)
        .collect();
    removed.sort_unstable();
    for (id, retired_at) in removed {
        out.push(format!(
            "token key {id} removed {} after it stopped being the active key: sessions it sealed live until {} \
             (the longest max_session_duration, {hours}, after {}) and now fail with InvalidClientTokenId until their \
             holders renew; keep a retired key listed, verify-only, until then (see \"Key ring rotation\" in the \
             README)",
            format_duration(now - retired_at),
            format_expiration(retired_at + longest),
            format_expiration(retired_at)
        ));
    }
    out
}

/// `seconds` as hours, minutes or seconds, whichever reads best ("12 h", "1 h 30 min", "14 s").
fn format_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// What `next` changes of `in_force`, as the reload's log line lists it: everything that
/// decides who gets which role — trust anchors, profiles, roles and managed policies added,
/// removed, enabled or disabled; an anchor's CA certificates added or removed, its CRLs
/// replaced, its stale CRLs refused or honoured; a profile's roles, session policies,
/// durations, session-name and attribute settings; a role's trust and permission policies,
/// maximum duration and revoked sessions; token keys added, removed or made active; the
/// `[server]` settings of access and watching ([`server_settings_changed`]); the server
/// certificate replaced. A policy is named as changed when its text is (whitespace
/// included); limits and timeouts are not listed.
pub fn changes(in_force: &Config, next: &Config) -> Vec<String> {
    let mut out = Vec::new();
    added_and_removed(&mut out, "trust anchor", in_force.anchors.keys(), next.anchors.keys());
    for (arn, anchor) in sorted(&next.anchors) {
        let Some(current) = in_force.anchors.get(arn) else {
            continue;
        };
        if current.enabled != anchor.enabled {
            let now = if anchor.enabled { "enabled" } else { "disabled" };
            out.push(format!("trust anchor {arn} {now}"));
        }
        ca_certificates_changed(&mut out, arn, current, anchor);
        if current.trust.stale_crls() != anchor.trust.stale_crls() {
            let now = match anchor.trust.stale_crls() {
                crate::identity::StaleCrls::Refuse => "refused",
                crate::identity::StaleCrls::Honour => "honoured",
            };
            out.push(format!("trust anchor {arn}: stale CRLs {now}"));
        }
        for crl in anchor.trust.crls() {
            match current.trust.crls().iter().find(|c| c.same_sequence(crl)) {
                None => out.push(format!(
                    "trust anchor {arn}: CRL of {} added ({})",
                    crl.issuer,
                    revocations_changed(&[], &crl.revoked_serials)
                )),
                Some(old) if old.number != crl.number || old.this_update != crl.this_update => {
                    let (field, was, is) = versions(old, crl);
                    out.push(format!(
                        "trust anchor {arn}: CRL of {} replaced ({field} {was} → {is}; {})",
                        crl.issuer,
                        revocations_changed(&old.revoked_serials, &crl.revoked_serials)
                    ));
                }
                Some(_) => {}
            }
        }
        for old in current.trust.crls() {
            if !anchor.trust.crls().iter().any(|c| c.same_sequence(old)) {
                out.push(format!("trust anchor {arn}: CRL of {} removed", old.issuer));
            }
        }
    }
    added_and_removed(&mut out, "profile", in_force.profiles.keys(), next.profiles.keys());
    for (arn, profile) in sorted(&next.profiles) {
        if let Some(current) = in_force.profiles.get(arn) {
            profile_changed(&mut out, arn, current, profile);
        }
    }
    added_and_removed(&mut out, "role", in_force.roles.keys(), next.roles.keys());
    for (arn, role) in sorted(&next.roles) {
        if let Some(current) = in_force.roles.get(arn) {
            role_changed(&mut out, arn, current, role);
        }
    }
    added_and_removed(
        &mut out,
        "managed policy",
        in_force.managed_policies.keys(),
        next.managed_policies.keys(),
    );
    for (arn, policy) in sorted(&next.managed_policies) {
        if in_force
            .managed_policies
            .get(arn)
            .is_some_and(|p| p.source() != policy.source())
        {
            out.push(format!("managed policy {arn} changed"));
        }
    }
    let (old_ids, new_ids) = (in_force.keyring.key_ids(), next.keyring.key_ids());
    added_and_removed(&mut out, "token key", old_ids.iter(), new_ids.iter());
    if in_force.keyring.active_id() != next.keyring.active_id() {
        out.push(format!(
            "active token key {} (was {})",
            next.keyring.active_id(),
            in_force.keyring.active_id()
        ));
    }
    if in_force.keyring.seal_layout() != next.keyring.seal_layout() {
        out.push(format!(
            "tokens.seal_claims_layout [{}] → [{}]",
            in_force.keyring.seal_layout(),
            next.keyring.seal_layout()
        ));
    }
    out.extend(server_settings_changed(&in_force.server, &next.server));
    if next.server.tls.cert_chain.first() != in_force.server.tls.cert_chain.first() {
        out.push(match next.server.tls.not_after {
            Some(until) => format!("server certificate replaced (valid until {})", format_expiration(until)),
            None => "server certificate replaced".to_owned(),
        });
    }
    out
}

/// The CA certificates of an anchor's bundle that `next` adds or removes (a renewed CA, another
/// key or validity under the same name, is one removed and one added).
fn ca_certificates_changed(out: &mut Vec<String>, arn: &str, current: &Anchor, next: &Anchor) {
    let (was, is) = (current.trust.certificates(), next.trust.certificates());
    let same = |a: &crate::identity::AnchorCertificate, b: &crate::identity::AnchorCertificate| {
        (&a.subject_der, &a.key, a.not_before, a.not_after) == (&b.subject_der, &b.key, b.not_before, b.not_after)
    };
    for certificate in is.iter().filter(|c| !was.iter().any(|w| same(w, c))) {
        out.push(format!(
            "trust anchor {arn}: CA certificate {} added (valid until {})",
            certificate.subject,
            format_expiration(certificate.not_after)
        ));
    }
    for certificate in was.iter().filter(|w| !is.iter().any(|c| same(w, c))) {
        out.push(format!(
            "trust anchor {arn}: CA certificate {} removed",
            certificate.subject
        ));
    }
}

/// What `next` changes of a profile in force.
fn profile_changed(out: &mut Vec<String>, arn: &str, current: &super::Profile, next: &super::Profile) {
    if current.enabled != next.enabled {
        let now = if next.enabled { "enabled" } else { "disabled" };
        out.push(format!("profile {arn} {now}"));
    }
    for role in next.role_arns.iter().filter(|r| !current.role_arns.contains(r)) {
        out.push(format!("profile {arn}: role {role} added"));
    }
    for role in current.role_arns.iter().filter(|r| !next.role_arns.contains(r)) {
        out.push(format!("profile {arn}: role {role} removed"));
    }
    let source = crate::policy::PolicyDocument::source;
    let (was, is) = (
        current.session_policy.as_deref().map(source),
        next.session_policy.as_deref().map(source),
    );
    match (was, is) {
        (None, Some(_)) => out.push(format!("profile {arn}: session policy added")),
        (Some(_), None) => out.push(format!("profile {arn}: session policy removed")),
        (Some(was), Some(is)) if was != is => out.push(format!("profile {arn}: session policy changed")),
        _ => {}
    }
    let settings: [(&str, String, String); 4] = [
        (
            "managed_policy_arns",
            current.managed_policy_arns.join(", "),
            next.managed_policy_arns.join(", "),
        ),
        (
            "duration_seconds",
            current.duration_seconds.to_string(),
            next.duration_seconds.to_string(),
        ),
        (
            "accept_role_session_name",
            current.accept_role_session_name.to_string(),
            next.accept_role_session_name.to_string(),
        ),
        (
            "require_instance_properties",
            current.require_instance_properties.to_string(),
            next.require_instance_properties.to_string(),
        ),
    ];
    for (name, was, is) in settings.into_iter().filter(|(_, was, is)| was != is) {
        out.push(format!("profile {arn}: {name} [{was}] → [{is}]"));
    }
    if current.attribute_mapping != next.attribute_mapping {
        out.push(format!("profile {arn}: attribute_mappings changed"));
    }
}

/// What `next` changes of a role in force.
fn role_changed(out: &mut Vec<String>, arn: &str, current: &super::Role, next: &super::Role) {
    if current.trust_policy.source() != next.trust_policy.source() {
        out.push(format!("role {arn}: trust policy changed"));
    }
    let source = crate::policy::PolicyDocument::source;
    let (was, is) = (&current.permission_policies, &next.permission_policies);
    if !was.iter().map(source).eq(is.iter().map(source)) {
        out.push(format!("role {arn}: permission policies changed"));
    }
    if current.max_session_duration != next.max_session_duration {
        out.push(format!(
            "role {arn}: max_session_duration {} → {}",
            current.max_session_duration, next.max_session_duration
        ));
    }
    let before = current.revoke_sessions_issued_before;
    if let Some(cutoff) = next.revoke_sessions_issued_before.filter(|c| Some(*c) != before) {
        out.push(format!(
            "role {arn}: sessions issued before {} revoked",
            format_expiration(cutoff)
        ));
    }
}

/// The `[server]` settings that `next` changes, each with its values before and after
/// ("server.{key} \[before\] → \[after\]"): those that decide who may do what and what the
/// resources are named, so a reload that widens access says so in its log line, then the
/// limits and timeouts (a rate limit lowered 200-fold belongs in the reload's record).
fn server_settings_changed(in_force: &super::ServerSettings, next: &super::ServerSettings) -> Vec<String> {
    type Shown = fn(&super::ServerSettings) -> String;
    const SETTINGS: [(&str, Shown); 28] = [
        // Applied at the next start only, which the reload warns of.
        ("listen", |s| s.listen.to_string()),
        ("metrics_listen", |s| {
            s.metrics_listen.map_or_else(|| "off".to_owned(), |a| a.to_string())
        }),
        ("region", |s| s.region.clone()),
        ("account_id", |s| s.account.to_string()),
        ("admin_subjects", |s| quoted(&s.admin_subjects)),
        // By id: the ARNs change with the region and account, listed above.
        ("admin_trust_anchors", |s| {
            quoted(s.admin_trust_anchors.iter().map(|arn| anchor_id(arn)))
        }),
        // Names taken from the certificate are listed as the certificate's ("replaced").
        ("hostnames", |s| match s.names_from_certificate {
            true => "the server certificate's".to_owned(),
            false => s.names.describe(),
        }),
        ("max_clock_skew_seconds", |s| {
            s.max_clock_skew.whole_seconds().to_string()
        }),
        ("proxy_protocol", |s| s.proxy_protocol.to_string()),
        ("proxy_protocol_from", |s| quoted(&s.proxy_protocol_from)),
        ("rate_limit_exempt", |s| quoted(&s.rate_limit_exempt)),
        ("config_watch_seconds", |s| match s.config_watch {
            Some(every) => every.as_secs().to_string(),
            None => "off".to_owned(),
        }),
        ("max_body_bytes", |s| s.max_body_bytes.to_string()),
        ("max_header_bytes", |s| s.max_header_bytes.to_string()),
        ("request_timeout_seconds", |s| s.request_timeout.as_secs().to_string()),
        ("idle_timeout_seconds", |s| s.idle_timeout.as_secs().to_string()),
        ("shutdown_grace_seconds", |s| s.shutdown_grace.as_secs().to_string()),
        ("shutdown_delay_seconds", |s| s.shutdown_delay.as_secs().to_string()),
        ("credential_reuse_seconds", |s| s.credential_reuse.as_secs().to_string()),
        ("max_concurrent_requests", |s| s.max_concurrent_requests.to_string()),
        ("max_concurrent_requests_per_ip", |s| {
            s.max_concurrent_requests_per_ip.to_string()
        }),
        ("max_connections", |s| s.max_connections.to_string()),
        ("max_connections_per_ip", |s| s.max_connections_per_ip.to_string()),
        ("per_ip_ipv6_prefix", |s| s.per_ip_ipv6_prefix.to_string()),
        ("cache_max_entries", |s| s.cache_max_entries.to_string()),
        ("rate_limit_per_ip", |s| s.rate_limit_per_ip.to_string()),
        ("rate_limit_connections_per_ip", |s| {
            s.rate_limit_connections_per_ip.to_string()
        }),
        ("rate_limit_per_client", |s| s.rate_limit_per_client.to_string()),
    ];
    SETTINGS
        .iter()
        .map(|(name, shown)| (name, shown(in_force), shown(next)))
        .filter(|(_, was, is)| was != is)
        .map(|(name, was, is)| format!("server.{name} [{was}] → [{is}]"))
        .collect()
}

/// A list's items, each in quotes, separated by commas (a subject holds commas of its own).
fn quoted<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| format!("\"{item}\"")).collect();
    items.join(", ")
}

/// The id of a trust anchor ARN (`…:trust-anchor/{id}`).
fn anchor_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The warnings of a reload whose CRLs no longer list serials that the CRL in force of their
/// sequence (same issuer, key and scope) revoked: those certificates are accepted again. A CA
/// may drop a certificate from its CRL once the certificate has expired (RFC 5280 §3.3), so
/// this is a warning, not a refusal; a CRL issued without a `--revoke` is the mistake it
/// catches.
pub fn dropped_revocations(in_force: &Config, next: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for anchor in anchors_in_order(next) {
        for (j, (crl, file)) in anchor.trust.crls().iter().zip(&anchor.crl_files).enumerate() {
            let Some(old) = in_force
                .anchors
                .values()
                .flat_map(|a| a.trust.crls())
                .find(|old| old.same_sequence(crl) && old.predates(crl))
            else {
                continue;
            };
            let dropped: Vec<&str> = old
                .revoked_serials
                .iter()
                .filter(|serial| crl.revoked_serials.binary_search(serial).is_err())
                .map(String::as_str)
                .collect();
            if dropped.is_empty() {
                continue;
            }
            const SHOWN: usize = 5;
            let more = match dropped.len().saturating_sub(SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let (field, was, is) = versions(old, crl);
            out.push(format!(
                "{}: trust_anchor[{}].crls[{j}] ({}): the CRL of {} ({field} {was} → {is}) no longer lists {} \
                 serial(s) the one in force revoked ({}{more}): those certificates are accepted again unless they \
                 have expired (a CA may drop expired certificates from its CRL). If that was not meant, issue a new \
                 CRL listing every serial still revoked and reload",
                next.path.display(),
                anchor.section,
                file.display(),
                crl.issuer,
                dropped.len(),
                dropped[..dropped.len().min(SHOWN)].join(", "),
            ));
        }
    }
    out
}

/// The warning of a reload that turns `server.proxy_protocol` on: from now on the listener
/// closes every connection that does not come from `proxy_protocol_from` with a PROXY header,
/// `rolegate admin` and the helpers on this host included.
pub fn proxy_protocol_turned_on(in_force: &Config, next: &Config) -> Option<String> {
    (!in_force.server.proxy_protocol && next.server.proxy_protocol).then(|| {
        "server.proxy_protocol on: the listener now closes every connection that does not come from \
         proxy_protocol_from with a PROXY header (rolegate_connections_refused_total{reason=\"proxy-untrusted\"}), \
         those of rolegate admin and of credential helpers that reach it directly included: reach it through the \
         balancer; to turn it off again without the Admin API, reload by SIGHUP, the config watch or a restart"
            .to_owned()
    })
}

/// The warning of a reload that removes roles: their live sessions (up to a role's
/// `max_session_duration` old) fail from now on with InvalidClientTokenId (reason
/// `role-removed`), and so does every request of their holders until they get credentials
/// for a role the server has. A configuration cut short by a failed write loses roles this
/// way and is still valid, so the log says what it took away at the warning level. A role
/// added back revives its unexpired sessions.
pub fn removed_roles(in_force: &Config, next: &Config) -> Option<String> {
    let mut removed: Vec<(&str, u32)> = in_force
        .roles
        .values()
        .filter(|role| next.role(role.arn.as_str()).is_none())
        .map(|role| (role.arn.as_str(), role.max_session_duration))
        .collect();
    removed.sort_unstable();
    let longest = removed.iter().map(|(_, seconds)| i64::from(*seconds)).max()?;
    let names: Vec<&str> = removed.iter().map(|(arn, _)| *arn).collect();
    let (what, whose) = match names.len() {
        1 => ("role", "its"),
        _ => ("roles", "their"),
    };
    let left = match next.roles.is_empty() {
        true => " (the configuration now has none: no session can be created)",
        false => "",
    };
    Some(format!(
        "{what} {} removed{left}: {whose} live sessions (issued up to now, for up to {}) now fail with \
         InvalidClientTokenId until their holders get credentials for another role; if the file was cut short or \
         replaced by mistake, put it back and the sessions work again",
        names.join(", "),
        format_duration(longest)
    ))
}

/// The warning of a reload that removes managed policies: sessions name theirs by ARN, and
/// one that names a policy no longer configured is denied everything it asks (a policy left
/// out would lose its Deny statements), for up to 12 h. Said once, here, rather than on each
/// of their calls. None when none is removed.
pub fn removed_managed_policies(in_force: &Config, next: &Config) -> Option<String> {
    let mut removed: Vec<&str> = in_force
        .managed_policies
        .keys()
        .filter(|arn| !next.managed_policies.contains_key(*arn))
        .map(String::as_str)
        .collect();
    removed.sort_unstable();
    let (what, whose) = match removed.len() {
        0 => return None,
        1 => ("managed policy", "it"),
        _ => ("managed policies", "one of them"),
    };
    Some(format!(
        "{what} {} removed: live sessions that name {whose} as a session policy (for up to 12 h) are now denied \
         everything they ask (AssumeRole, Authorize, VerifyRequest with an action); put it back to lift that",
        removed.join(", ")
    ))
}

/// The warning of a reload that removes trust anchors that had CRLs (or renames them: their ARN
/// is made of `server.region`): sessions carry the ARN of the anchor they were issued through
/// and are checked against its CRLs on every call, so those of a removed anchor are no longer
/// ended by a revocation. None when no such anchor is removed.
pub fn removed_revoking_anchors(in_force: &Config, next: &Config) -> Option<String> {
    let mut removed: Vec<&str> = in_force
        .anchors
        .values()
        .filter(|anchor| !anchor.trust.crls().is_empty() && next.anchor(anchor.arn.as_str()).is_none())
        .map(|anchor| anchor.arn.as_str())
        .collect();
    removed.sort_unstable();
    let (what, whose) = match removed.len() {
        0 => return None,
        1 => ("trust anchor", "its"),
        _ => ("trust anchors", "their"),
    };
    Some(format!(
        "{what} {} removed: the live sessions issued through {whose} certificates (for up to 12 h) are no longer \
         checked against {whose} CRLs, so a revocation no longer ends them; to end them, set \
         revoke_sessions_issued_before on their roles",
        removed.join(", ")
    ))
}

/// The warnings of a reload that renames every trust anchor and profile (`server.region` or
/// `server.account_id` changed): clients that name them by their old ARNs are refused from
/// now on, each in its way.
pub fn renamed_resources(in_force: &Config, next: &Config) -> Vec<String> {
    let (was, is) = (&in_force.server, &next.server);
    let mut out = Vec::new();
    if was.region != is.region {
        out.push(format!(
            "server.region {} → {}: every trust anchor and profile ARN is made of it, so each has a new ARN; \
             clients still configured with the old ones sign for the old region and are refused \
             (AccessDeniedException, reason wrong-region) until they are given the new ones",
            was.region, is.region
        ));
    }
    if was.account != is.account {
        out.push(format!(
            "server.account_id {} → {}: every trust anchor and profile ARN is made of it, so each has a new ARN; \
             clients still configured with the old ones are refused (ResourceNotFoundException) until they are \
             given the new ones",
            was.account, is.account
        ));
    }
    out
}

/// The entries of `map`, by key.
fn sorted<V>(map: &std::collections::HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// "{what} {name} added" for each name only in `new`, "removed" for each only in `old`, in
/// name order.
fn added_and_removed<'a, T: AsRef<str> + Ord + 'a>(
    out: &mut Vec<String>,
    what: &str,
    old: impl Iterator<Item = &'a T>,
    new: impl Iterator<Item = &'a T>,
) {
    let old: std::collections::BTreeSet<&T> = old.collect();
    let new: std::collections::BTreeSet<&T> = new.collect();
    for name in new.difference(&old) {
        out.push(format!("{what} {} added", name.as_ref()));
    }
    for name in old.difference(&new) {
        out.push(format!("{what} {} removed", name.as_ref()));
    }
}

/// Checks `next`, which a reload read at `now` (Unix seconds), against `in_force` and the
/// CRLs `seen` in force since the start.
pub fn check(in_force: &Config, next: &Config, seen: &RevocationsSeen, now: i64) -> Result<(), ConfigError> {
    older_crl(in_force, next, seen)?;
    dropped_crl(in_force, next)?;
    forgotten_crl(in_force, next, seen)?;
    withdrawn_session_revocation(next, seen, now)?;
    replaced_token_key(in_force, next)?;
    unusable_server_certificate(in_force, next, now)
}

/// The revocations in force since the daemon started: the last CRL of each sequence (issuer
/// name and key, scope), under whichever trust anchor, and the latest
/// `revoke_sessions_issued_before` of each role. A reload compares with these, not only with
/// the configuration in force: otherwise one reload removing an anchor or a role (or renaming
/// an anchor) and the next adding it back with an older CRL or cutoff, or none, would take
/// back the revocations made since.
#[derive(Clone, Debug, Default)]
pub struct RevocationsSeen {
    crls: Vec<CrlInfo>,
    /// Role ARN → the latest cutoff in force for it.
    session_cutoffs: std::collections::HashMap<String, i64>,
}

impl RevocationsSeen {
    /// The revocations of the configuration the daemon starts with.
    pub fn of(config: &Config) -> RevocationsSeen {
        let mut seen = RevocationsSeen::default();
        seen.record(config, i64::MAX);
        seen
    }

    /// Records the revocations of `config`, in force from `now` (Unix seconds): each CRL takes
    /// the place of the one of its sequence seen before, unless that one is newer (two anchors
    /// listing one CA's CRL); each role's cutoff that of the role, unless that one is later
    /// ([`RevocationsSeen::session_cutoff`]).
    pub fn record(&mut self, config: &Config, now: i64) {
        for crl in config.anchors.values().flat_map(|anchor| anchor.trust.crls()) {
            match self.crls.iter_mut().find(|seen| seen.same_sequence(crl)) {
                Some(seen) if !crl.predates(seen) => *seen = crl.clone(),
                Some(_) => {}
                None => self.crls.push(crl.clone()),
            }
        }
        for (arn, role) in &config.roles {
            if let Some(cutoff) = role.revoke_sessions_issued_before {
                let seen = self.session_cutoffs.entry(arn.clone()).or_insert(cutoff);
                *seen = (*seen).min(now).max(cutoff);
            }
        }
    }

    /// The cutoff of `role_arn`'s sessions that a reload at `now` may not go back on: the
    /// latest in force, or `now` when that one lies ahead. Sessions issued from now on do not
    /// exist yet, so a cutoff set ahead of the present (a typo of the year) may be moved back
    /// to the present without accepting a session it revoked.
    fn session_cutoff(&self, role_arn: &str, now: i64) -> Option<i64> {
        self.session_cutoffs.get(role_arn).map(|seen| (*seen).min(now))
    }
}

/// The anchors of `next`, in configuration order.
fn anchors_in_order(next: &Config) -> Vec<&Anchor> {
    let mut anchors: Vec<&Anchor> = next.anchors.values().map(AsRef::as_ref).collect();
    anchors.sort_by_key(|anchor| anchor.section);
    anchors
}

/// The anchors of `next` that `in_force` has too (by ARN), in configuration order, each with
/// its counterpart in force.
fn kept_anchors<'a>(in_force: &'a Config, next: &'a Config) -> Vec<(&'a Anchor, &'a Anchor)> {
    let mut kept: Vec<_> = next
        .anchors
        .values()
        .filter_map(|anchor| Some((anchor.as_ref(), in_force.anchors.get(anchor.arn.as_str())?.as_ref())))
        .collect();
    kept.sort_by_key(|(anchor, _)| anchor.section);
    kept
}

/// A CRL older than one of its sequence in force since the start ([`RevocationsSeen`]): the
/// revocations made in between would be taken back. A stale mirror, a restored backup or a
/// reverted ConfigMap does this.
fn older_crl(in_force: &Config, next: &Config, seen: &RevocationsSeen) -> Result<(), ConfigError> {
    for anchor in anchors_in_order(next) {
        for (j, (crl, file)) in anchor.trust.crls().iter().zip(&anchor.crl_files).enumerate() {
            let Some(newer) = seen.crls.iter().find(|c| crl.predates(c)) else {
                continue;
            };
            let still_in_force = in_force
                .anchors
                .values()
                .any(|a| a.trust.crls().iter().any(|c| c == newer));
            let (field, this, that) = versions(crl, newer);
            let one_in_force = match still_in_force {
                true => "the one in force",
                false => "one in force since rolegate started (until a reload took it out)",
            };
            return Err(ConfigError {
                file: next.path.clone(),
                key: format!("trust_anchor[{}].crls[{j}] ({})", anchor.section, file.display()),
                message: format!(
                    "this CRL of {} is older than {one_in_force} ({field} {this} against {that}): it \
                     would take back the revocations made since. Install the CA's latest CRL, or to revoke \
                     more, issue a new CRL listing every serial still revoked; to go back to this one on \
                     purpose, restart rolegate",
                    crl.issuer
                ),
            });
        }
    }
    Ok(())
}

/// An anchor of `next` that trusts a CA whose CRL has been in force since the start
/// ([`RevocationsSeen`]) without listing a CRL of it itself — unless the anchor, in force under its
/// ARN, already trusted the CA so: the certificates that CRL revokes would be accepted through
/// this anchor. A reload that took the CRL out (removing or renaming its anchor, or the CA
/// from it) and one putting the CA back without it do this, and so does a new anchor for the
/// same CA beside the one that lists its CRL.
fn forgotten_crl(in_force: &Config, next: &Config, seen: &RevocationsSeen) -> Result<(), ConfigError> {
    let listed_elsewhere = |crl: &CrlInfo| next.anchors.values().any(|a| a.trust.lists_crl_of(crl));
    for anchor in anchors_in_order(next) {
        // In force under this ARN, trusting the CA without its CRL already.
        let trusted_so_before = |crl: &CrlInfo| {
            in_force
                .anchors
                .get(anchor.arn.as_str())
                .is_some_and(|a| a.trust.trusts_key(&crl.signer_key) && !a.trust.lists_crl_of(crl))
        };
        let Some(forgotten) = seen.crls.iter().find(|crl| {
            anchor.trust.trusts_key(&crl.signer_key) && !anchor.trust.lists_crl_of(crl) && !trusted_so_before(crl)
        }) else {
            continue;
        };
        let (field, version) = match &forgotten.number {
            Some(number) => ("cRLNumber", number.to_string()),
            None => ("thisUpdate", format_expiration(forgotten.this_update)),
        };
        let whose = match listed_elsewhere(forgotten) {
            true => "is in force for another trust anchor",
            false => "was in force until a reload took it out",
        };
        return Err(ConfigError {
            file: next.path.clone(),
            key: format!("trust_anchor[{}].crls", anchor.section),
            message: format!(
                "this anchor trusts {}, whose CRL ({field} {version}) {whose}, without listing it: the \
                 certificates it revokes would be accepted through this anchor. List the CA's latest CRL \
                 here too; to trust the CA without it on purpose, restart rolegate",
                forgotten.issuer
            ),
        });
    }
    Ok(())
}

/// A CRL in force that `next` drops while its anchor still trusts the CA that signs it (a
/// certificate of the bundle holds its key): the certificates it revokes would be accepted
/// again. A reverted ConfigMap or a configuration cut short does this.
fn dropped_crl(in_force: &Config, next: &Config) -> Result<(), ConfigError> {
    for (anchor, current) in kept_anchors(in_force, next) {
        for old in current.trust.crls() {
            if !anchor.trust.lists_crl_of(old) && anchor.trust.trusts_key(&old.signer_key) {
                return Err(ConfigError {
                    file: next.path.clone(),
                    key: format!("trust_anchor[{}].crls", anchor.section),
                    message: format!(
                        "the CRL of {} in force is gone, while the anchor still trusts that CA: the \
                         certificates it revokes would be accepted again. List its latest CRL; to drop \
                         it on purpose, restart rolegate",
                        old.issuer
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The most serials a reload line names as newly revoked, or no longer revoked.
const SERIALS_NAMED: usize = 5;

/// What a CRL replacing one that revoked `was` (sorted serials, as [`CrlInfo::revoked_serials`])
/// revokes, `is`: how many, and which serials it newly revokes and no longer revokes (the first
/// [`SERIALS_NAMED`] of each), so that an operator sees a revocation take effect in the log.
fn revocations_changed(was: &[String], is: &[String]) -> String {
    let named = |serials: Vec<&String>| {
        let shown: Vec<&str> = serials.iter().take(SERIALS_NAMED).map(|s| s.as_str()).collect();
        match serials.len().saturating_sub(SERIALS_NAMED) {
            0 => shown.join(", "),
            more => format!("{} and {more} more", shown.join(", ")),
        }
    };
    let newly: Vec<&String> = is.iter().filter(|s| was.binary_search(s).is_err()).collect();
    let lifted: Vec<&String> = was.iter().filter(|s| is.binary_search(s).is_err()).collect();
    let mut text = format!("revoking {} certificate(s)", is.len());
    if !newly.is_empty() {
        text.push_str(&format!(", newly {}", named(newly)));
    }
    if !lifted.is_empty() {
        text.push_str(&format!(", no longer {}", named(lifted)));
    }
    text
}

/// Two CRLs of one sequence as they differ: by cRLNumber where both have one and they differ,
/// else by thisUpdate. The field, and its value in each.
fn versions(a: &CrlInfo, b: &CrlInfo) -> (&'static str, String, String) {
    match (&a.number, &b.number) {
        (Some(a), Some(b)) if a != b => ("cRLNumber", a.to_string(), b.to_string()),
        _ => (
            "thisUpdate",
            format_expiration(a.this_update),
            format_expiration(b.this_update),
        ),
    }
}

/// A role whose `revoke_sessions_issued_before` is earlier than one in force since the start
/// ([`RevocationsSeen::session_cutoff`]), or gone: the sessions it revoked would be accepted
/// again. A reverted ConfigMap or a restored backup does this, and so does a role removed by
/// one reload and added back without its cutoff by the next.
fn withdrawn_session_revocation(next: &Config, seen: &RevocationsSeen, now: i64) -> Result<(), ConfigError> {
    let mut roles: Vec<&super::Role> = next.roles.values().map(AsRef::as_ref).collect();
    roles.sort_by_key(|role| role.section);
    for role in roles {
        let Some(seen_cutoff) = seen.session_cutoff(role.arn.as_str(), now) else {
            continue;
        };
        let in_force = format_expiration(seen_cutoff);
        let change = match role.revoke_sessions_issued_before {
            Some(cutoff) if cutoff >= seen_cutoff => continue,
            Some(cutoff) => format!(
                "is {}, earlier than the {in_force} in force already",
                format_expiration(cutoff)
            ),
            None => format!("is gone, while {in_force} is in force already"),
        };
        return Err(ConfigError {
            file: next.path.clone(),
            key: format!("role[{}].revoke_sessions_issued_before", role.section),
            message: format!(
                "the cutoff of role {} {change}: the sessions issued in between, revoked, would be accepted \
                 again. Keep the cutoff, or move it later (one set ahead of the present may come back to the \
                 present); to take it back on purpose, restart rolegate",
                role.arn,
            ),
        });
    }
    Ok(())
}

/// A token key id that names another key than in force: the sessions sealed with the key in
/// force would stop opening. A key id names one key for as long as its tokens live; rotation
/// adds a key under a new id.
fn replaced_token_key(in_force: &Config, next: &Config) -> Result<(), ConfigError> {
    match in_force.keyring.ids_with_other_keys(&next.keyring).next() {
        None => Ok(()),
        Some(id) => Err(ConfigError {
            file: next.path.clone(),
            key: match next.token_key_files.iter().position(|(listed, _)| listed == id) {
                Some(i) => format!("tokens.keys[{i}].file ({})", next.token_key_files[i].1.display()),
                None => "tokens.keys".to_owned(),
            },
            message: format!(
                "token key '{id}' is not the key in force under that id: the sessions it sealed would \
                 stop opening. Give a new key a new id (see \"Key ring rotation\" in the README); to \
                 replace the key under this id on purpose, restart rolegate"
            ),
        }),
    }
}

/// A new server certificate that has expired, where one is in force: clients would refuse
/// it. The certificate in force is checked only when it changes, so an expired one does not
/// stop other changes (a fresh CRL) from taking effect; one not valid yet is staged
/// ([`staged_server_certificate`]) before this check.
fn unusable_server_certificate(in_force: &Config, next: &Config, now: i64) -> Result<(), ConfigError> {
    let tls = &next.server.tls;
    if tls.cert_chain.first() == in_force.server.tls.cert_chain.first() {
        return Ok(());
    }
    let (Some(not_before), Some(not_after)) = (tls.not_before, tls.not_after) else {
        return Ok(());
    };
    match outside_validity(not_before, not_after, now, SERVER_CERTIFICATE_LEEWAY_SECONDS) {
        None => Ok(()),
        Some(problem) => Err(ConfigError {
            file: next.path.clone(),
            key: "server.tls_cert".to_owned(),
            message: format!(
                "TLS clients would refuse this server certificate: {problem}. The certificate in force is \
                 kept; install a current one"
            ),
        }),
    }
}

/// When a new server certificate that is not valid yet may go in: clients with a right clock
/// would refuse it now, so a reload keeps the certificate in force and applies the rest — a
/// fresh CRL must not wait for a certificate staged ahead of its start — and the daemon
/// reloads again at that time. See [`goes_in_at`].
pub fn staged_server_certificate(in_force: &Config, next: &Config, now: i64) -> Option<i64> {
    let tls = &next.server.tls;
    if tls.cert_chain.first() == in_force.server.tls.cert_chain.first() {
        return None;
    }
    let (not_before, not_after) = (tls.not_before?, tls.not_after?);
    let at = goes_in_at(not_before, in_force.server.tls.not_after);
    (now < at && now <= not_after).then_some(at)
}

/// When a certificate valid from `not_before` replaces one in force until `in_force_until`:
/// at its notBefore, not earlier, since a client refuses a certificate before it (swapping
/// late costs nothing while the one in force is valid). Only when the one in force expires
/// first may it go in up to [`SERVER_CERTIFICATE_LEEWAY_SECONDS`] early, as the one in force
/// expires: then every client refuses that one.
fn goes_in_at(not_before: i64, in_force_until: Option<i64>) -> i64 {
    match in_force_until {
        Some(until) if until < not_before => until
            .saturating_add(1)
            .max(not_before.saturating_sub(SERVER_CERTIFICATE_LEEWAY_SECONDS)),
        _ => not_before,
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
    use crate::bench::setup::{CHAINED_ROLE_ARN, PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN, World, WorldOptions};
    use crate::pki::KeyType;
    use crate::session::TokenKey;

    #[test]
    fn a_reload_line_names_the_serials_a_crl_newly_revokes_and_no_longer_revokes() {
        let serials = |list: &[&str]| -> Vec<String> {
            let mut list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
            list.sort();
            list
        };
        assert_eq!(revocations_changed(&[], &[]), "revoking 0 certificate(s)");
        assert_eq!(
            revocations_changed(&serials(&["0a", "1b"]), &serials(&["0a", "1b", "2c"])),
            "revoking 3 certificate(s), newly 2c"
        );
        assert_eq!(
            revocations_changed(&serials(&["0a", "1b"]), &serials(&["1b", "3d"])),
            "revoking 2 certificate(s), newly 3d, no longer 0a"
        );
        let many = serials(&["01", "02", "03", "04", "05", "06", "07"]);
        assert_eq!(
            revocations_changed(&[], &many),
            "revoking 7 certificate(s), newly 01, 02, 03, 04, 05 and 2 more"
        );
    }

    #[test]
    fn a_certificate_goes_in_early_only_when_the_one_in_force_expires_first() {
        let (not_before, leeway) = (1_000_000, SERVER_CERTIFICATE_LEEWAY_SECONDS);
        assert_eq!(goes_in_at(not_before, Some(not_before + 86_400)), not_before);
        assert_eq!(goes_in_at(not_before, Some(not_before)), not_before);
        assert_eq!(goes_in_at(not_before, None), not_before);
        // The one in force expires 100 s before: the new one goes in as it does.
        assert_eq!(goes_in_at(not_before, Some(not_before - 100)), not_before - 99);
        // ...but no earlier than the leeway before its start.
        assert_eq!(goes_in_at(not_before, Some(not_before - 3_600)), not_before - leeway);
    }

    /// The bench's world: a PKI, a token key, a configuration whose anchor has a CRL.
    fn world() -> World {
        World::create(&WorldOptions {
            distinct_certs: 1,
            client_key: KeyType::EcdsaP256,
            cache_max_entries: 100,
            crl_entries: Some(1),
            stopped: None,
        })
        .unwrap()
    }

    /// The configuration of `world` with `edit` made to its file's text (put back after).
    fn edited(world: &World, edit: impl Fn(&str) -> String) -> Config {
        let text = std::fs::read_to_string(&world.config).unwrap();
        std::fs::write(&world.config, edit(&text)).unwrap();
        let config = Config::load(&world.config);
        std::fs::write(&world.config, &text).unwrap();
        config.unwrap()
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// A role's session cutoff only moves later across reloads: moved back, removed, or lost
    /// with its role and added back without it, the revoked sessions would open again.
    #[test]
    fn a_reload_keeps_every_session_revocation_since_the_start() {
        let world = world();
        let role_line = format!("arn = \"{CHAINED_ROLE_ARN}\"\n");
        let with_cutoff = |cutoff: &str| {
            let line = format!("{role_line}revoke_sessions_issued_before = \"{cutoff}\"\n");
            edited(&world, |text| {
                assert!(text.contains(&role_line), "{text}");
                text.replace(&role_line, &line)
            })
        };
        let start = Config::load(&world.config).unwrap();
        let mut seen = RevocationsSeen::of(&start);
        let revoking = with_cutoff("2026-12-01T00:00:00Z");
        assert!(check(&start, &revoking, &seen, now()).is_ok());
        assert_eq!(
            changes(&start, &revoking),
            [format!(
                "role {CHAINED_ROLE_ARN}: sessions issued before 2026-12-01T00:00:00Z revoked"
            )]
        );
        seen.record(&revoking, now());
        let section = revoking.role(CHAINED_ROLE_ARN).unwrap().section;
        let refused = |next: &Config, seen: &RevocationsSeen, now_is: &str| {
            let e = check(&revoking, next, seen, now()).unwrap_err();
            assert_eq!(e.key, format!("role[{section}].revoke_sessions_issued_before"));
            assert_eq!(
                e.message,
                format!(
                    "the cutoff of role {CHAINED_ROLE_ARN} {now_is}: the sessions issued in between, revoked, would \
                     be accepted again. Keep the cutoff, or move it later (one set ahead of the present may come back \
                     to the present); to take it back on purpose, restart rolegate"
                )
            );
        };
        refused(
            &with_cutoff("2026-11-30T00:00:00Z"),
            &seen,
            "is 2026-11-30T00:00:00Z, earlier than the 2026-12-01T00:00:00Z in force already",
        );
        refused(&start, &seen, "is gone, while 2026-12-01T00:00:00Z is in force already");
        // A later cutoff revokes more.
        assert!(check(&revoking, &with_cutoff("2026-12-02T00:00:00Z"), &seen, now()).is_ok());
        // Across two reloads: the role removed, then added back without its cutoff.
        let without_role = edited(&world, |text| {
            let at = text.find(&format!("[[role]]\n{role_line}")).unwrap();
            text[..at].to_owned()
        });
        assert!(without_role.role(CHAINED_ROLE_ARN).is_none());
        assert!(check(&revoking, &without_role, &seen, now()).is_ok());
        seen.record(&without_role, now());
        refused(&start, &seen, "is gone, while 2026-12-01T00:00:00Z is in force already");

        // A cutoff set ahead of the present (2062 for 2026) revokes what is issued until now:
        // it may come back to the present, not before, and what it came back to holds.
        let mut seen = RevocationsSeen::of(&start);
        let ahead = with_cutoff("2062-01-01T00:00:00Z");
        seen.record(&ahead, now());
        let t = now();
        let at = |unix: i64| {
            let text = time::OffsetDateTime::from_unix_timestamp(unix)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            with_cutoff(&text)
        };
        assert!(check(&ahead, &at(t + 60), &seen, t).is_ok());
        let e = check(&ahead, &at(t - 60), &seen, t).unwrap_err();
        assert!(e.message.contains("earlier than"), "{}", e.message);
        seen.record(&at(t + 60), t);
        assert!(check(&at(t + 60), &at(t + 60), &seen, t + 3600).is_ok());
        assert!(check(&at(t + 60), &at(t), &seen, t + 3600).is_err());
    }

    #[test]
    fn a_reload_names_what_it_adds_removes_and_turns_off() {
        let world = world();
        let in_force = Config::load(&world.config).unwrap();
        let same = Config::load(&world.config).unwrap();
        assert!(check(&in_force, &same, &RevocationsSeen::of(&in_force), now()).is_ok());
        assert_eq!(changes(&in_force, &same), Vec::<String>::new());

        let k2 = format!("{}\n", TokenKey::generate().to_base64().as_str());
        crate::fsutil::write_new_private(&world.dir.join("token-k2.key"), k2.as_bytes()).unwrap();
        let renamed = format!("{CHAINED_ROLE_ARN}-renamed");
        let next = edited(&world, |text| {
            text.replace(
                "active = \"k1\"\n",
                "active = \"k2\"\n\n[[tokens.keys]]\nid = \"k2\"\nfile = \"token-k2.key\"\n",
            )
            .replace(
                "accept_role_session_name = true\nenabled = true",
                "accept_role_session_name = true\nenabled = false",
            )
            .replace(
                "rate_limit_per_ip = 0.0",
                "rate_limit_per_ip = 1.5\nrate_limit_per_ip_burst = 2",
            )
            .replace(
                "crls = [\"ca.crl\"]\nenabled = true",
                "crls = [\"ca.crl\"]\nenabled = false",
            )
            .replace(CHAINED_ROLE_ARN, &renamed)
        });
        assert!(check(&in_force, &next, &RevocationsSeen::of(&in_force), now()).is_ok());
        assert_eq!(
            changes(&in_force, &next),
            [
                format!("trust anchor {TRUST_ANCHOR_ARN} disabled"),
                format!("profile {PROFILE_ARN} disabled"),
                format!("role {renamed} added"),
                format!("role {CHAINED_ROLE_ARN} removed"),
                "token key k2 added".to_owned(),
                "active token key k2 (was k1)".to_owned(),
                "server.rate_limit_per_ip [off] → [1.5/s, burst 2]".to_owned(),
            ]
        );
        // And back: what was removed is added, what was turned off is on.
        assert_eq!(
            changes(&next, &in_force),
            [
                format!("trust anchor {TRUST_ANCHOR_ARN} enabled"),
                format!("profile {PROFILE_ARN} enabled"),
                format!("role {CHAINED_ROLE_ARN} added"),
                format!("role {renamed} removed"),
                "token key k2 removed".to_owned(),
                "active token key k1 (was k2)".to_owned(),
                "server.rate_limit_per_ip [1.5/s, burst 2] → [off]".to_owned(),
            ]
        );
        // Removing a role is warned about, naming it; adding one is not.
        assert_eq!(
            removed_roles(&in_force, &next),
            Some(format!(
                "role {CHAINED_ROLE_ARN} removed: its live sessions (issued up to now, for up to 1 h) now fail \
                 with InvalidClientTokenId until their holders get credentials for another role; if the file was cut \
                 short or replaced by mistake, put it back and the sessions work again"
            ))
        );
        assert_eq!(removed_roles(&in_force, &in_force), None);
        assert_eq!(removed_revoking_anchors(&in_force, &next), None);
        assert_eq!(removed_managed_policies(&in_force, &in_force), None);
        // Sealing the layout earlier releases read (a rolling upgrade) is a change of its own,
        // and a layout no release seals is refused at its key.
        let layout_1 = edited(&world, |text| {
            text.replace("active = \"k1\"\n", "active = \"k1\"\nseal_claims_layout = 1\n")
        });
        assert_eq!(layout_1.keyring.seal_layout(), 1);
        assert_eq!(changes(&in_force, &layout_1), ["tokens.seal_claims_layout [2] → [1]"]);
        let text = std::fs::read_to_string(&world.config).unwrap();
        let layout_3 = text.replace("active = \"k1\"\n", "active = \"k1\"\nseal_claims_layout = 3\n");
        std::fs::write(&world.config, layout_3).unwrap();
        let refused = Config::load(&world.config).unwrap_err();
        std::fs::write(&world.config, text).unwrap();
        assert!(
            refused.to_string().ends_with(
                "tokens.seal_claims_layout (line 19, column 22): claims layout 3 is not one this release seals: 1 (what \
                 earlier releases read, for a rolling upgrade: sessions then carry no certificate chain) or 2 (the \
                 default)"
            ),
            "{refused}"
        );
        // An anchor with CRLs renamed (its ARN is made of the region) is warned about: its
        // sessions are no longer checked against its CRLs.
        let elsewhere = edited(&world, |text| {
            text.replace(&format!("region = \"{REGION}\""), "region = \"eu-west-1\"")
        });
        assert_eq!(
            removed_revoking_anchors(&in_force, &elsewhere),
            Some(format!(
                "trust anchor {TRUST_ANCHOR_ARN} removed: the live sessions issued through its certificates (for up to \
                 12 h) are no longer checked against its CRLs, so a revocation no longer ends them; to end them, set \
                 revoke_sessions_issued_before on their roles"
            ))
        );
        // Removing a key that sealed until now is warned about; adding one, or making
        // another active while the old one stays listed, is not.
        let none = KeyRetirements::default();
        assert_eq!(
            retired_live_keys(&next, &in_force, &none, now()),
            [
                "token key k2 removed while it was the active key: live sessions sealed under it (issued up to now, \
                 for up to 1 h, the longest max_session_duration) now fail with InvalidClientTokenId until their \
                 holders renew; keep a retired key listed, verify-only, until the longest session it sealed has \
                 expired (see \"Key ring rotation\" in the README)"
            ]
        );
        assert!(retired_live_keys(&in_force, &next, &none, now()).is_empty());
        assert!(retired_live_keys(&in_force, &same, &none, now()).is_empty());

        // k1 stops being active at t0; removed 14 s later, its sessions still live: warned;
        // removed once the longest session after t0 has passed: not.
        let mut retirements = KeyRetirements::default();
        let t0 = 1_800_000_000;
        retirements.record(&in_force, &next, t0);
        let only_k2 = edited(&world, |text| {
            text.replace(
                "active = \"k1\"\n\n[[tokens.keys]]\nid = \"k1\"\nfile = \"token-k1.key\"\n",
                "active = \"k2\"\n\n[[tokens.keys]]\nid = \"k2\"\nfile = \"token-k2.key\"\n",
            )
        });
        assert_eq!(only_k2.keyring.key_ids(), ["k2"]);
        assert_eq!(
            retired_live_keys(&next, &only_k2, &retirements, t0 + 14),
            [
                "token key k1 removed 14 s after it stopped being the active key: sessions it sealed live until \
                 2027-01-15T09:00:00Z (the longest max_session_duration, 1 h, after 2027-01-15T08:00:00Z) and now fail \
                 with InvalidClientTokenId until their holders renew; keep a retired key listed, verify-only, until \
                 then (see \"Key ring rotation\" in the README)"
            ]
        );
        assert!(retired_live_keys(&next, &only_k2, &retirements, t0 + 3600).is_empty());
        // Active again, it is no longer retired.
        retirements.record(&next, &in_force, t0 + 20);
        retirements.record(&in_force, &in_force, t0 + 30);
        assert!(!retirements.0.contains_key("k1"), "{retirements:?}");
    }

    /// What decides who gets which role is named when a reload changes it: a CA added to an
    /// anchor, a profile's roles and settings, a role's policies, a managed policy.
    #[test]
    fn a_reload_names_the_anchors_profiles_and_policies_it_changes() {
        let world = world();
        let in_force = Config::load(&world.config).unwrap();
        let day = time::OffsetDateTime::now_utc();
        let until = day + time::Duration::days(30);
        let other =
            crate::pki::Authority::new_root("another root", KeyType::EcdsaP256, day - time::Duration::days(1), until)
                .unwrap();
        let bundle = std::fs::read_to_string(world.dir.join("ca.pem")).unwrap() + &other.issued().cert_pem;
        std::fs::write(world.dir.join("two-cas.pem"), bundle).unwrap();
        let policy_arn = "arn:aws:iam::123456789012:policy/extra";
        let role_arns = format!("role_arns = [\"{ROLE_ARN}\"]");
        let next = edited(&world, |text| {
            for expected in [
                &role_arns,
                "duration_seconds = 3600\n",
                "\"s3:Get*\", \"s3:List*\"",
                "ChainFromBench\"",
            ] {
                assert!(text.contains(expected), "{expected}: {text}");
            }
            text.replace("certificates = \"ca.pem\"", "certificates = \"two-cas.pem\"")
                .replace(&role_arns, &format!("role_arns = [\"{ROLE_ARN}\", \"{CHAINED_ROLE_ARN}\"]"))
                .replace(
                    "duration_seconds = 3600\n",
                    "duration_seconds = 1800\nsession_policy = '''{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]}'''\n",
                )
                .replace("\"s3:Get*\", \"s3:List*\"", "\"s3:Get*\"")
                .replace("ChainFromBench\"", "ChainFromBenchToo\"")
                + &format!(
                    "\n[[managed_policy]]\narn = \"{policy_arn}\"\ndocument = '''{{\"Version\": \"2012-10-17\", \"Statement\": [{{\"Effect\": \"Deny\", \"Action\": \"*\", \"Resource\": \"*\"}}]}}'''\n"
                )
        });
        let valid_until = format_expiration(until.unix_timestamp());
        assert_eq!(
            changes(&in_force, &next),
            [
                format!(
                    "trust anchor {TRUST_ANCHOR_ARN}: CA certificate CN=another root added (valid until {valid_until})"
                ),
                format!("profile {PROFILE_ARN}: role {CHAINED_ROLE_ARN} added"),
                format!("profile {PROFILE_ARN}: session policy added"),
                format!("profile {PROFILE_ARN}: duration_seconds [3600] → [1800]"),
                format!("role {CHAINED_ROLE_ARN}: trust policy changed"),
                format!("role {CHAINED_ROLE_ARN}: permission policies changed"),
                format!("managed policy {policy_arn} added"),
            ]
        );
        assert_eq!(
            changes(&next, &in_force)[..3],
            [
                format!("trust anchor {TRUST_ANCHOR_ARN}: CA certificate CN=another root removed"),
                format!("profile {PROFILE_ARN}: role {CHAINED_ROLE_ARN} removed"),
                format!("profile {PROFILE_ARN}: session policy removed"),
            ]
        );
        // Removing a managed policy is warned about once, at the reload: sessions naming it
        // are denied everything from now on.
        assert_eq!(removed_managed_policies(&in_force, &next), None);
        assert_eq!(
            removed_managed_policies(&next, &in_force),
            Some(format!(
                "managed policy {policy_arn} removed: live sessions that name it as a session policy (for up to 12 h) \
                 are now denied everything they ask (AssumeRole, Authorize, VerifyRequest with an action); put it back \
                 to lift that"
            ))
        );
    }

    /// The `[server]` settings a reload changes are listed with their values before and after.
    #[test]
    fn a_reload_names_the_server_settings_it_changes() {
        let world = world();
        let in_force = Config::load(&world.config).unwrap();
        let next = edited(&world, |text| {
            assert!(text.contains("[server]\n"), "{text}");
            text.replacen(
                "[server]\n",
                "[server]\nconfig_watch_seconds = 5\nadmin_subjects = [\"CN=ops\"]\nhostnames = [\"rolegate.example\"]\n\
                 request_timeout_seconds = 7\nper_ip_ipv6_prefix = 128\n",
                1,
            )
            .replace(
                "crls = [\"ca.crl\"]\nenabled = true",
                "crls = [\"ca.crl\"]\nstale_crls = \"refuse\"\nenabled = true",
            )
        });
        assert_eq!(
            changes(&in_force, &next),
            [
                format!("trust anchor {TRUST_ANCHOR_ARN}: stale CRLs refused"),
                r#"server.admin_subjects [] → ["CN=ops"]"#.to_owned(),
                "server.hostnames [the server certificate's] → [rolegate.example]".to_owned(),
                "server.config_watch_seconds [off] → [5]".to_owned(),
                "server.request_timeout_seconds [30] → [7]".to_owned(),
                "server.per_ip_ipv6_prefix [64] → [128]".to_owned(),
            ]
        );
        assert_eq!(
            changes(&next, &in_force)[0],
            format!("trust anchor {TRUST_ANCHOR_ARN}: stale CRLs honoured")
        );
    }

    /// A new region renames every anchor and profile: the region is listed, the admin anchors
    /// (the same ids) are not, and the reload warns that clients must be given the new ARNs.
    #[test]
    fn a_reload_that_moves_the_region_says_the_arns_changed() {
        let world = world();
        let admins = |text: &str| {
            text.replacen(
                "[server]\n",
                "[server]\nadmin_subjects = [\"CN=ops\"]\nadmin_trust_anchors = [\"bench\"]\n",
                1,
            )
        };
        let in_force = edited(&world, admins);
        let next = edited(&world, |text| {
            admins(text).replacen("region = \"us-east-1\"", "region = \"eu-west-1\"", 1)
        });
        let listed = changes(&in_force, &next);
        assert!(
            listed.contains(&"server.region [us-east-1] → [eu-west-1]".to_owned()),
            "{listed:?}"
        );
        assert!(!listed.iter().any(|c| c.contains("admin_trust_anchors")), "{listed:?}");
        let warnings = renamed_resources(&in_force, &next);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "server.region us-east-1 → eu-west-1: every trust anchor and profile ARN is made of it, so each has a \
                 new ARN; clients still configured with the old ones sign for the old region and are refused \
                 (AccessDeniedException, reason wrong-region)"
            ),
            "{warnings:?}"
        );
        assert_eq!(renamed_resources(&in_force, &in_force), Vec::<String>::new());
    }

    /// Turning PROXY protocol on closes direct connections, the admin's included: warned.
    #[test]
    fn a_reload_that_turns_proxy_protocol_on_warns_of_direct_connections() {
        let world = world();
        let direct = Config::load(&world.config).unwrap();
        let proxied = edited(&world, |text| {
            text.replacen(
                "[server]\n",
                "[server]\nproxy_protocol = true\nproxy_protocol_from = [\"10.0.0.0/8\"]\n",
                1,
            )
        });
        let warning = proxy_protocol_turned_on(&direct, &proxied).unwrap();
        assert!(
            warning.starts_with(
                "server.proxy_protocol on: the listener now closes every connection that does not come from \
                 proxy_protocol_from with a PROXY header"
            ),
            "{warning}"
        );
        assert_eq!(proxy_protocol_turned_on(&proxied, &direct), None);
        assert_eq!(proxy_protocol_turned_on(&proxied, &proxied), None);
    }

    #[test]
    fn a_reload_keeps_the_crls_and_token_keys_in_force() {
        let world = world();
        let in_force = Config::load(&world.config).unwrap();
        // The anchor's CRL dropped, its CA still trusted.
        let without_crl = edited(&world, |text| text.replace("crls = [\"ca.crl\"]\n", ""));
        let refused = check(&in_force, &without_crl, &RevocationsSeen::of(&in_force), now()).unwrap_err();
        assert_eq!(refused.key, "trust_anchor[0].crls");
        assert!(
            refused.message.starts_with(
                "the CRL of CN=rolegate bench root CA in force is gone, while the anchor still trusts that CA"
            ),
            "{}",
            refused.message
        );
        assert_eq!(
            changes(&in_force, &without_crl),
            [format!(
                "trust anchor {TRUST_ANCHOR_ARN}: CRL of CN=rolegate bench root CA removed"
            )]
        );
        assert_eq!(
            changes(&without_crl, &in_force),
            [format!(
                "trust anchor {TRUST_ANCHOR_ARN}: CRL of CN=rolegate bench root CA added (revoking 1 certificate(s), \
                 newly 01000000000000000000000000000001)"
            )]
        );
        // Another key written under the id in force.
        let key_file = world.dir.join("token-k1.key");
        let key = std::fs::read(&key_file).unwrap();
        std::fs::write(&key_file, format!("{}\n", TokenKey::generate().to_base64().as_str())).unwrap();
        let rekeyed = Config::load(&world.config).unwrap();
        std::fs::write(&key_file, key).unwrap();
        let refused = check(&in_force, &rekeyed, &RevocationsSeen::of(&in_force), now()).unwrap_err();
        assert_eq!(refused.key, "tokens.keys[0].file (token-k1.key)");
        assert!(
            refused
                .message
                .starts_with("token key 'k1' is not the key in force under that id"),
            "{}",
            refused.message
        );
    }

    /// A CRL once in force is not taken back in two reloads either: the first moving the CRL
    /// to another anchor (or taking it out with its anchor), the next putting the CA back
    /// without it.
    #[test]
    fn a_reload_does_not_forget_a_crl_a_reload_took_out() {
        let world = world();
        let start = Config::load(&world.config).unwrap();
        let mut seen = RevocationsSeen::of(&start);
        let rename = |text: &str| text.replace("[[trust_anchor]]\nid = \"bench\"", "[[trust_anchor]]\nid = \"moved\"");
        let moved = edited(&world, rename);
        assert!(check(&start, &moved, &seen, now()).is_ok());
        seen.record(&moved, now());
        // Back under its first name, without the CRL: the CA is trusted, its CRL nowhere.
        let without_crl = edited(&world, |text| text.replace("crls = [\"ca.crl\"]\n", ""));
        let refused = check(&moved, &without_crl, &seen, now()).unwrap_err();
        assert_eq!(refused.key, "trust_anchor[0].crls");
        let number = start.anchors.values().next().unwrap().trust.crls()[0]
            .number
            .clone()
            .unwrap();
        assert_eq!(
            refused.message,
            format!(
                "this anchor trusts CN=rolegate bench root CA, whose CRL (cRLNumber {number}) was in force until a \
                 reload took it out, without listing it: the certificates it revokes would be accepted through \
                 this anchor. List the CA's latest CRL here too; to trust the CA without it on purpose, restart \
                 rolegate"
            )
        );
        // Renamed and without the CRL in one reload: the same.
        let both = edited(&world, |text| rename(text).replace("crls = [\"ca.crl\"]\n", ""));
        assert_eq!(
            check(&start, &both, &RevocationsSeen::of(&start), now())
                .unwrap_err()
                .message,
            refused.message
        );
        // With its CRL, it is back.
        assert!(check(&moved, &start, &seen, now()).is_ok());
        // An anchor that trusted the CA without its CRL before goes on doing so.
        assert!(check(&without_crl, &without_crl, &seen, now()).is_ok());
        // A new anchor for the same CA, without the CRL the first one lists: refused too (its
        // revoked certificates would get sessions through it).
        let copy = edited(&world, |text| {
            format!("{text}\n[[trust_anchor]]\nid = \"copy\"\ncertificates = \"ca.pem\"\n")
        });
        let refused = check(&start, &copy, &RevocationsSeen::of(&start), now()).unwrap_err();
        assert_eq!(refused.key, "trust_anchor[1].crls");
        assert!(
            refused.message.contains(&format!(
                "whose CRL (cRLNumber {number}) is in force for another trust anchor, without listing it"
            )),
            "{}",
            refused.message
        );
        // With the CRL listed there too, it is taken.
        let listed = edited(&world, |text| {
            format!("{text}\n[[trust_anchor]]\nid = \"copy\"\ncertificates = \"ca.pem\"\ncrls = [\"ca.crl\"]\n")
        });
        assert!(check(&start, &listed, &RevocationsSeen::of(&start), now()).is_ok());
    }

    /// A new server certificate not valid yet (past the leeway) is staged until its start
    /// less the leeway; one valid now, or expired, or the one in force, is not.
    #[test]
    fn a_server_certificate_not_valid_yet_is_staged() {
        let world = world();
        let in_force = Config::load(&world.config).unwrap();
        let with_dates = |from: i64, to: i64| {
            let mut next = Config::load(&world.config).unwrap();
            let mut der = next.server.tls.cert_chain[0].to_vec();
            der.push(0);
            next.server.tls.cert_chain[0] = der.into();
            (next.server.tls.not_before, next.server.tls.not_after) = (Some(from), Some(to));
            next
        };
        let t = now();
        let day = 86_400;
        // Staged until its notBefore, however near: a client with a right clock refuses it
        // before then, and the certificate in force is valid meanwhile.
        assert_eq!(
            staged_server_certificate(&in_force, &with_dates(t + day, t + 30 * day), t),
            Some(t + day)
        );
        assert_eq!(
            staged_server_certificate(&in_force, &with_dates(t + 300, t + day), t),
            Some(t + 300)
        );
        assert_eq!(
            staged_server_certificate(&in_force, &with_dates(t + 1, t + day), t),
            Some(t + 1)
        );
        assert_eq!(
            staged_server_certificate(&in_force, &with_dates(t - day, t + day), t),
            None
        );
        let expired = with_dates(t - 2 * day, t - day);
        assert_eq!(staged_server_certificate(&in_force, &expired, t), None);
        assert_eq!(
            check(&in_force, &expired, &RevocationsSeen::of(&in_force), t)
                .unwrap_err()
                .key,
            "server.tls_cert"
        );
        let unchanged = Config::load(&world.config).unwrap();
        assert_eq!(staged_server_certificate(&in_force, &unchanged, t), None);
        // Staged, the configuration keeps the certificate in force, and its names.
        let kept = with_dates(t + day, t + 30 * day).keeping_server_certificate_of(&in_force);
        assert_eq!(kept.server.tls.cert_chain, in_force.server.tls.cert_chain);
        assert_eq!(kept.server.names, in_force.server.names);
        assert!(check(&in_force, &kept, &RevocationsSeen::of(&in_force), t).is_ok());
    }

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
