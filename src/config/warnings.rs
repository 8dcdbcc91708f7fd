//! The load-time warnings: what a configuration may hold but most likely did not mean (a
//! secret file others can read, a trust policy key never set, a stale CRL, …), each logged at
//! the key of the file it is about ([`warn_at!`], [`LoadedFile`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{Anchor, ConfigFile, Profile, Role, locate, schema, succession};
use crate::arn::{AccountId, RoleArn};
use crate::identity::{AnchorCertificate, CrlInfo, StaleCrls, TrustAnchor};
use crate::policy::PolicyDocument;

/// Logs a load warning about `key` of the file being loaded ([`LoadedFile`]), placed as a
/// [`ConfigError`](super::ConfigError) is (`rolegate.toml: role[0].arn (line 5, column 7): …`),
/// with `key` as a field too; further fields go in the brackets, each followed by a comma.
/// The line is also kept in the load's warnings ([`super::Config::warnings`]).
macro_rules! warn_at {
    ($file:expr, $key:expr, [$($field:tt)*], $($message:tt)+) => {{
        let file: &LoadedFile<'_> = &$file;
        let key: &str = &$key;
        let line = format!("{}: {}", file.place(key), format_args!($($message)+));
        tracing::warn!(key, $($field)* "{line}");
        file.keep_warning(line);
    }};
    ($file:expr, $key:expr, $($message:tt)+) => {
        warn_at!($file, $key, [], $($message)+)
    };
}
pub(super) use warn_at;

/// The configuration file being loaded, its path and text, for the place a warning names,
/// and the warnings logged so far.
#[derive(Clone, Copy)]
pub(super) struct LoadedFile<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) warnings: &'a RefCell<Vec<String>>,
}

impl LoadedFile<'_> {
    /// Keeps a warning logged about this load.
    pub(super) fn keep_warning(&self, line: String) {
        self.warnings.borrow_mut().push(line);
    }

    /// `key` as an error names it: the file, the key and, where the file has it, its line and
    /// column (`rolegate.toml: role[0].arn (line 5, column 7)`).
    pub(super) fn place(&self, key: &str) -> String {
        format!("{}: {}", self.path.display(), locate::with_place(self.text, key))
    }
}

/// Warns when a secret file (a token key, the TLS key) is open to others than the daemon:
/// any permission for "others", or for a group the daemon is not in. A group the daemon is in
/// is how systemd's `DynamicUser` with `SupplementaryGroups` and Kubernetes' `fsGroup` hand
/// it its files, so that is not warned about. Also when it belongs to another user than the
/// daemon's or root: that user can replace it (a token key they know forges sessions).
#[cfg(unix)]
pub(super) fn warn_if_shared(file: &LoadedFile<'_>, key: &str, path: &Path, root_checking: bool) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o7777;
    if let Some(problem) = shared_with(mode, meta.gid(), root_checking, process_groups, group_name) {
        warn_at!(file, key, [file = %path.display(),], "{problem}");
    }
    if let Some((owner, me)) = crate::fsutil::foreign_owner(&meta).filter(|(owner, _)| *owner != 0) {
        warn_at!(
            file,
            key,
            [file = %path.display(),],
            "secret file belongs to user id {owner}, neither the daemon's ({me}) nor root, who can replace it; chown it"
        );
    }
}

/// Who else may read a secret file of `mode` and group `gid`, if anyone should not: every
/// user, or a group this process is not in (`groups`, read only then), by its name
/// (`group_name`) and id. `check-config` run as root (`root_checking`) checks for a daemon of
/// another identity (a systemd `DynamicUser` in the files' group), so a group it is not in may
/// be that daemon's; the daemon itself, root or not, is warned.
#[cfg(unix)]
fn shared_with(
    mode: u32,
    gid: u32,
    root_checking: bool,
    groups: impl FnOnce() -> Vec<u32>,
    group_name: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    if mode & 0o007 != 0 {
        return Some(format!(
            "secret file is readable by every user (mode {mode:04o}); chmod 600 it, or 640 with a group of the \
             daemon's own"
        ));
    }
    if mode & 0o070 == 0 || root_checking || groups().contains(&gid) {
        return None;
    }
    let group = match group_name(gid) {
        Some(name) => format!("{name} ({gid})"),
        None => gid.to_string(),
    };
    Some(format!(
        "secret file (mode {mode:04o}) is readable by group {group}, which this process is not in; chmod 600 it, \
         or chgrp it to a group of the daemon's own"
    ))
}

/// The name of group `gid` in the system's group file, if it lists it. A group only a name
/// service knows (LDAP, sssd, systemd's dynamic groups) is left unnamed, which costs the
/// warning only the name: no crate of the tree offers `getgrgid` without unsafe code.
#[cfg(unix)]
fn group_name(gid: u32) -> Option<String> {
    let text = crate::fsutil::read_bounded(Path::new(GROUP_FILE), GROUP_FILE_MAX_BYTES).ok()?;
    group_named_in(&String::from_utf8_lossy(&text), gid).map(str::to_owned)
}

/// The system's group file, `name:password:gid:members` lines (group(5)).
#[cfg(unix)]
const GROUP_FILE: &str = "/etc/group";

/// The most of [`GROUP_FILE`] read: a warning's group name is not worth more.
#[cfg(unix)]
const GROUP_FILE_MAX_BYTES: u64 = 4 << 20;

/// The name the group file `text` gives group `gid`: the first line with that id, leaving out
/// NIS's `+`/`-` lines and comments.
#[cfg(unix)]
fn group_named_in(text: &str, gid: u32) -> Option<&str> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let id = fields.nth(1)?.trim();
        let named = !name.is_empty() && !name.starts_with(['+', '-', '#']);
        (named && id.parse::<u32>() == Ok(gid)).then_some(name)
    })
}

/// The daemon's group ids, effective and supplementary (`/proc/self/status`); empty where
/// that cannot be read, which only ever adds a warning.
#[cfg(unix)]
fn process_groups() -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let ids = |line: &str| {
        line.split_whitespace()
            .filter_map(|n| n.parse::<u32>().ok())
            .collect::<Vec<_>>()
    };
    let mut groups = Vec::new();
    for line in status.lines() {
        if let Some(gids) = line.strip_prefix("Gid:") {
            // real, effective, saved, filesystem: the effective and filesystem ids are the
            // ones file access uses.
            let gids = ids(gids);
            groups.extend([gids.get(1), gids.get(3)].into_iter().flatten().copied());
        } else if let Some(supplementary) = line.strip_prefix("Groups:") {
            groups.extend(ids(supplementary));
        }
    }
    groups
}

/// Warns when a file the configuration was read from (the file itself, a CA bundle, a CRL, a
/// certificate, a key) or its folder can be written by every user: whoever writes them
/// decides whom the daemon trusts and with which roles, and with `config_watch_seconds` within
/// seconds. A file on a read-only mount (a Kubernetes ConfigMap or Secret volume, whose
/// folder is 0777) cannot be written whatever its mode, and is not warned about. A folder is
/// named once, however many of the files it holds.
#[cfg(unix)]
pub(super) fn warn_of_files_writable_by_others<'p>(file: &LoadedFile<'_>, read: impl Iterator<Item = &'p Path>) {
    use std::os::unix::fs::PermissionsExt;
    let mode_of = |p: &Path| std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o7777);
    let read_only =
        |p: &Path| rustix::fs::statvfs(p).is_ok_and(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    let mut folders_named = Vec::new();
    for path in read.filter(|p| !read_only(p)) {
        let folder = path
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let problem = match writable_by_others(path, mode_of(path)) {
            Some(problem) => problem,
            None if folders_named.contains(&folder) => continue,
            None => match writable_by_others(folder, mode_of(folder)) {
                Some(problem) => {
                    folders_named.push(folder);
                    problem
                }
                None => continue,
            },
        };
        tracing::warn!(file = %path.display(), "{problem}");
        file.keep_warning(problem);
    }
}

/// Why `path` (a file or folder of `mode`) lets every user change what the configuration
/// reads, if it does: a world-writable file, or a world-writable folder without the sticky bit
/// (anyone may replace the files in it).
#[cfg(unix)]
fn writable_by_others(path: &Path, mode: Option<u32>) -> Option<String> {
    let mode = mode.filter(|m| m & 0o002 != 0 && m & 0o1000 == 0)?;
    Some(format!(
        "{} can be written by every user (mode {mode:04o}), who would decide whom the daemon trusts and with \
         which roles; chmod o-w it",
        path.display()
    ))
}

#[cfg(not(unix))]
pub(super) fn warn_of_files_writable_by_others<'p>(_file: &LoadedFile<'_>, _read: impl Iterator<Item = &'p Path>) {}

#[cfg(not(unix))]
pub(super) fn warn_if_shared(_file: &LoadedFile<'_>, _key: &str, _path: &Path, _root_checking: bool) {}

/// Why TLS clients would refuse `leaf` as a server's certificate, if they would: an extended
/// key usage without serverAuth (RFC 5280 §4.2.1.12), or no subjectAltName, which is all that
/// clients match the endpoint's host against (RFC 6125 §6.4.4).
pub(super) fn server_certificate_problem(
    leaf: &x509_parser::certificate::X509Certificate<'_>,
    now: i64,
) -> Option<String> {
    let eku = leaf.extended_key_usage().ok().flatten();
    if eku.is_some_and(|eku| !eku.value.server_auth && !eku.value.any) {
        return Some("its extended key usage does not include serverAuth".to_owned());
    }
    if leaf.subject_alternative_name().ok().flatten().is_none() {
        return Some("it has no subjectAltName naming the server's host".to_owned());
    }
    let validity = leaf.validity();
    succession::outside_validity(
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
        now,
        succession::SERVER_CERTIFICATE_LEEWAY_SECONDS,
    )
}

/// How long before its notAfter a server certificate is warned about at load (start, reload,
/// `check-config`).
pub(super) const SERVER_CERTIFICATE_WARN_SECONDS: i64 = 7 * 86_400;

/// Why the server certificate, valid at `now`, needs renewing soon: it expires within
/// [`SERVER_CERTIFICATE_WARN_SECONDS`] (one that has expired is
/// [`server_certificate_problem`]'s), and every TLS client refuses it from then on.
pub(super) fn server_certificate_expiring(not_after: i64, now: i64) -> Option<String> {
    let left = not_after.checked_sub(now)?;
    if !(0..SERVER_CERTIFICATE_WARN_SECONDS).contains(&left) {
        return None;
    }
    Some(format!(
        "the server certificate expires at {} (in {} h {} min), and TLS clients will refuse it from then on: \
         renew server.tls_cert and server.tls_key, then reload",
        crate::session::format_expiration(not_after),
        left / 3600,
        left % 3600 / 60
    ))
}

/// AWS Roles Anywhere profiles name roles of their own account, and STS answers with the
/// role's account: a role of another account than `[server] account_id` is most likely a
/// configuration copied from another account.
pub(super) fn warn_of_roles_in_other_accounts(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    account: &AccountId,
) {
    for (i, role) in sections.iter().enumerate() {
        let Ok(arn) = RoleArn::parse(&role.arn) else {
            continue;
        };
        if arn.account() != account {
            warn_at!(
                file,
                format!("role[{i}].arn"),
                "role {} is in account {}, not in [server] account_id {account}",
                role.arn,
                arn.account()
            );
        }
    }
}

/// A `revoke_sessions_issued_before` later than now revokes the sessions the role issues until
/// then as soon as they are used: credentials handed out already refused, which helpers and
/// SDKs keep using until they near expiry. Most likely a clock ahead of this one, or a typo.
pub(super) fn warn_of_revocation_cutoffs_ahead(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
    now: i64,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let Some(cutoff) = role.revoke_sessions_issued_before.filter(|t| *t > now) else {
            continue;
        };
        warn_at!(
            file,
            format!("role[{i}].revoke_sessions_issued_before"),
            [role = role.arn.as_str(),],
            "revoke_sessions_issued_before {} is later than this machine's clock ({}): every session the role \
             issues until then is refused as soon as it is used; set it to the time sessions must have been \
             issued after",
            crate::session::format_expiration(cutoff),
            crate::session::format_expiration(now)
        );
    }
}

/// A trust policy condition (or policy variable) on a key no trust policy evaluation holds —
/// most likely misspelt, as `aws:PrincipleTag/team` — meets the key absent every time: the
/// condition never matches (or, with `...IfExists` and `Null`, always does), and an `Allow`
/// with such a variable never applies.
pub(super) fn warn_of_trust_keys_never_set(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let key = trust_policy_key(i, section);
        let mut warned = std::collections::HashSet::new();
        for (statement, context_key) in role.trust_policy.context_keys() {
            if !crate::broker::is_trust_policy_key(context_key) && warned.insert(context_key.to_ascii_lowercase()) {
                let guess = trust_policy_key_guess(context_key);
                warn_at!(
                    file,
                    key,
                    "role {}: {statement} reads '{context_key}', a key no trust policy evaluation holds, so it is always absent ({guess}); the README lists the keys, among them aws:PrincipalTag/*, aws:RequestTag/*, aws:SourceArn, aws:SourceIp, sts:SourceIdentity and sts:RoleSessionName",
                    section.arn
                );
            }
        }
    }
}

/// AWS global condition keys that no rolegate trust policy evaluation holds: the guess for
/// one is what it is, not a trust key of a similar spelling (`aws:PrincipalOrgID` is no
/// misspelt `aws:PrincipalArn`). A tag key by its prefix (ending in `/`).
const AWS_KEYS_NEVER_IN_TRUST: [&str; 24] = [
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:Ec2InstanceSourceVpc",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:Referer",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:ResourceTag/",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:UserAgent",
    "aws:username",
    "aws:VpcSourceIp",
    "aws:VpceAccount",
];

/// The most edits a misspelt key's name (after its `aws:` or `sts:`) is from the key it
/// misspells (a transposition counting as one).
const MOST_EDITS: usize = 2;

/// What to say of a trust policy key no evaluation holds: that it is an AWS key rolegate
/// never sets, or the trust policy key it most likely misspells, in AWS's spelling
/// (`aws:PrincipleTag/team`: `did you mean 'aws:PrincipalTag/team'?`), or that it may be
/// misspelt.
fn trust_policy_key_guess(key: &str) -> String {
    let starts_with = |prefix: &str| {
        key.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let is_aws_key = |known: &&str| match known.ends_with('/') {
        true => starts_with(known),
        false => key.eq_ignore_ascii_case(known),
    };
    if AWS_KEYS_NEVER_IN_TRUST.iter().any(is_aws_key) {
        return "an AWS key that no rolegate trust policy evaluation sets".to_owned();
    }
    match misspelt_trust_policy_key(key) {
        Some(known) => format!("did you mean '{known}'?"),
        None => "misspelt?".to_owned(),
    }
}

/// The trust policy key `key` most likely misspells, in AWS's spelling: the nearest of its
/// namespace whose name is at most [`MOST_EDITS`] edits away.
fn misspelt_trust_policy_key(key: &str) -> Option<String> {
    misspelt_key(
        key,
        &crate::broker::TRUST_POLICY_KEYS,
        &crate::broker::TRUST_POLICY_KEY_PREFIXES,
    )
}

/// The key of `known` (or a tag key of `prefixes`, with `key`'s tag) that `key` most likely
/// misspells, in AWS's spelling: the nearest of its namespace whose name is at most
/// [`MOST_EDITS`] edits away.
fn misspelt_key(key: &str, known: &[&'static str], prefixes: &[&'static str]) -> Option<String> {
    let nearest = |typed: &str, known: &[&'static str]| {
        let (namespace, name) = typed.split_once(':')?;
        let name = name.to_ascii_lowercase();
        known
            .iter()
            .filter_map(|candidate| {
                let (candidate_namespace, candidate_name) = candidate.split_once(':')?;
                let distance = strsim::damerau_levenshtein(&name, &candidate_name.to_ascii_lowercase());
                (candidate_namespace.eq_ignore_ascii_case(namespace) && distance <= MOST_EDITS)
                    .then_some((distance, *candidate))
            })
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, candidate)| candidate)
    };
    match key.split_once('/') {
        // A tag key without its tag names no key to guess.
        Some((_, "")) => None,
        Some((head, tag)) => nearest(&format!("{head}/"), prefixes).map(|prefix| format!("{prefix}{tag}")),
        None => nearest(key, known).map(str::to_owned),
    }
}

/// The configuration key of role `i`'s trust policy, as messages name it.
fn trust_policy_key(i: usize, section: &schema::RoleSection) -> String {
    match &section.trust_policy_file {
        Some(_) => format!("role[{i}].trust_policy_file"),
        None => format!("role[{i}].trust_policy"),
    }
}

/// A trust policy `Allow` of `"Principal": "*"` without a condition admits everyone: every
/// certificate of every trust anchor through any profile listing the role, and every session
/// of the account, whatever its session policies (they do not limit a grant to `*`). Rarely
/// what was meant; a condition (`aws:PrincipalArn`, `aws:SourceArn`, a tag) narrows it.
pub(super) fn warn_of_unconditioned_wildcard_trust(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    use crate::policy::{Effect, PrincipalEntry};
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let key = trust_policy_key(i, section);
        for (n, statement) in role.trust_policy.statements().iter().enumerate() {
            let everyone = statement
                .principal()
                .is_some_and(|p| !p.negated && p.entries.contains(&PrincipalEntry::Everyone));
            if statement.effect() == Effect::Allow && everyone && statement.conditions().is_empty() {
                warn_at!(
                    file,
                    key,
                    "role {}: Statement[{n}] allows \"Principal\": \"*\" without a condition: every client certificate of every trust anchor (through a profile listing the role) and every session of the account may assume it, whatever their session policies; name the principals, or add a condition such as aws:PrincipalArn or aws:SourceArn",
                    section.arn
                );
            }
        }
    }
}

/// A permission, managed or profile session policy that reads a key no request of a rolegate
/// session holds ([`crate::broker::never_in_session_requests`]: `${aws:username}` copied from
/// an IAM user's policy, `aws:PrincipalOrgID`) meets it absent every time.
pub(super) fn warn_of_session_keys_never_set(
    file: &LoadedFile<'_>,
    f: &ConfigFile,
    roles: &HashMap<String, Arc<Role>>,
    managed: &HashMap<String, Arc<PolicyDocument>>,
    profiles: &HashMap<String, Arc<Profile>>,
) {
    let mut policies: Vec<(String, String, &PolicyDocument)> = Vec::new();
    for (i, section) in f.role.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        for (j, policy) in role.permission_policies.iter().enumerate() {
            let what = format!("role {}: permission policy {j}", section.arn);
            policies.push((format!("role[{i}].permission_policies[{j}]"), what, policy));
        }
    }
    for (i, section) in f.managed_policy.iter().enumerate() {
        if let Some(policy) = managed.get(&section.arn) {
            policies.push((
                format!("managed_policy[{i}].document"),
                format!("managed policy {}", section.arn),
                policy,
            ));
        }
    }
    for (i, section) in f.profile.iter().enumerate() {
        let session_policy = profiles
            .values()
            .find(|p| p.id == section.id)
            .and_then(|p| p.session_policy.as_deref());
        if let Some(policy) = session_policy {
            let what = format!("profile {}: session policy", section.id);
            policies.push((format!("profile[{i}].session_policy"), what, policy));
        }
    }
    for (key, what, policy) in policies {
        let mut warned = std::collections::HashSet::new();
        for (statement, context_key) in policy.context_keys() {
            let Some(why) = crate::broker::never_in_session_requests(context_key) else {
                continue;
            };
            let guess = misspelt_key(
                context_key,
                &crate::broker::SESSION_KEYS,
                &crate::broker::SESSION_KEY_PREFIXES,
            )
            .map(|known| format!(" (did you mean '{known}'?)"))
            .unwrap_or_default();
            if warned.insert(context_key.to_ascii_lowercase()) {
                warn_at!(
                    file,
                    key,
                    "{what}: {statement} reads '{context_key}', a key no request of a rolegate session holds: {why}{guess}. A condition on it never matches unless negated or IfExists, and an Allow using it as a policy variable never applies"
                );
            }
        }
    }
}

/// A role a profile names whose trust policy never allows `rolesanywhere.amazonaws.com` one of
/// the actions every CreateSession needs (no `Allow` names it, or a `Deny` without conditions
/// does) (`sts:AssumeRole`, `sts:TagSession`,
/// `sts:SetSourceIdentity`) refuses every session, whatever the certificate: most likely an
/// action left out of the policy. Warned about once, at the role's trust policy.
pub(super) fn warn_of_roles_roles_anywhere_cannot_assume(
    file: &LoadedFile<'_>,
    profiles: &[schema::ProfileSection],
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    use crate::broker::{ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL};
    let principal = || crate::policy::Principal::Service(ROLES_ANYWHERE_PRINCIPAL.to_owned());
    for (i, section) in sections.iter().enumerate() {
        let arn = &section.arn;
        let Some(role) = roles.get(arn) else { continue };
        if !profiles.iter().any(|p| p.role_arns.contains(arn)) {
            continue;
        }
        let missing: Vec<&str> = ROLES_ANYWHERE_ACTIONS
            .into_iter()
            .filter(|action| {
                let ctx = crate::policy::RequestContext::new(principal(), *action, arn.as_str());
                !crate::policy::may_allow(&role.trust_policy, &ctx)
            })
            .collect();
        if !missing.is_empty() {
            warn_at!(
                file,
                trust_policy_key(i, section),
                "role {arn}: its trust policy never allows {ROLES_ANYWHERE_PRINCIPAL} {}, so every CreateSession for it is denied; a Roles Anywhere trust policy allows sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity",
                missing.join(", ")
            );
        }
    }
}

/// With several trust anchors enabled, a role an enabled profile names whose trust policy
/// admits `rolesanywhere.amazonaws.com` each action of a CreateSession through any trust anchor — its
/// `aws:SourceArn` conditions, if any, admit an anchor the configuration does not have (none,
/// `ArnLike` a wildcard, `ArnNotEquals` another) — takes the certificates of every anchor, and
/// its conditions on certificate fields (`x509Issuer/CN`, `x509Subject/OU`) can be met by a CA
/// of any of them: a partner's CA can issue an intermediate named as yours. AWS behaves the
/// same; naming the anchors in `aws:SourceArn` is what binds a role to them. A role whose
/// trust policy allows `"Principal": "*"` unconditionally is warned about already
/// ([`warn_of_unconditioned_wildcard_trust`]).
pub(super) fn warn_of_roles_open_to_every_anchor(
    file: &LoadedFile<'_>,
    profiles: &[schema::ProfileSection],
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
    anchors: &HashMap<String, Arc<Anchor>>,
) {
    use crate::broker::{ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL};
    let enabled = enabled_anchors(anchors);
    if enabled.len() < 2 {
        return;
    }
    let ids: Vec<&str> = enabled.iter().map(|a| a.id.as_str()).collect();
    // An anchor ARN no configuration names: admitted, the trust policy binds the role to none.
    let unlisted = enabled[0].arn.as_str().rsplit_once('/').map_or_else(
        || "arn:aws:rolesanywhere:::trust-anchor/unlisted".to_owned(),
        |(head, _)| format!("{head}/rolegate-unlisted-anchor"),
    );
    for (i, section) in sections.iter().enumerate() {
        let arn = &section.arn;
        let Some(role) = roles.get(arn) else { continue };
        if !profiles.iter().any(|p| p.enabled && p.role_arns.contains(arn)) || allows_everyone_unconditionally(role) {
            continue;
        }
        // CreateSession needs each action: a statement on any of them can bind the role.
        let admitted = |action: &str| {
            let ctx = roles_anywhere_context(arn, action, Some(&unlisted));
            crate::policy::may_allow_by(&role.trust_policy, &ctx, "aws:SourceArn")
        };
        if ROLES_ANYWHERE_ACTIONS.iter().all(|action| admitted(action)) {
            warn_at!(
                file,
                trust_policy_key(i, section),
                "role {arn}: its trust policy admits {ROLES_ANYWHERE_PRINCIPAL} through any trust anchor (no \
                 aws:SourceArn condition names the anchors), so certificates of every enabled trust anchor ({}) get \
                 its sessions through a profile listing it, and its conditions on certificate fields can be met by a \
                 CA of any of them; name the anchors it trusts with \"ArnEquals\": {{\"aws:SourceArn\": [...]}}",
                ids.join(", ")
            );
        }
    }
}

/// A role an enabled profile names whose trust policy admits `rolesanywhere.amazonaws.com`
/// each action of a CreateSession through none of the enabled trust anchors — its
/// `aws:SourceArn` conditions name only anchor ARNs this configuration does not have — refuses
/// every session. An anchor's ARN is made of `server.region`, `server.account_id` and its id:
/// changing one renames it, and trust policies still name the old ARN. A role whose trust
/// policy never allows the principal is warned about already
/// ([`warn_of_roles_roles_anywhere_cannot_assume`]).
pub(super) fn warn_of_roles_no_anchor_admits(
    file: &LoadedFile<'_>,
    profiles: &[schema::ProfileSection],
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
    anchors: &HashMap<String, Arc<Anchor>>,
) {
    use crate::broker::ROLES_ANYWHERE_ACTIONS;
    let enabled = enabled_anchors(anchors);
    if enabled.is_empty() {
        return;
    }
    for (i, section) in sections.iter().enumerate() {
        let arn = section.arn.as_str();
        let Some(role) = roles.get(arn) else { continue };
        let allowed_at_all = ROLES_ANYWHERE_ACTIONS
            .iter()
            .all(|action| crate::policy::may_allow(&role.trust_policy, &roles_anywhere_context(arn, action, None)));
        if !allowed_at_all
            || !profiles
                .iter()
                .any(|p| p.enabled && p.role_arns.iter().any(|r| r == arn))
        {
            continue;
        }
        let admits = |anchor: &Anchor| {
            ROLES_ANYWHERE_ACTIONS.iter().all(|action| {
                let ctx = roles_anywhere_context(arn, action, Some(anchor.arn.as_str()));
                crate::policy::may_allow_by(&role.trust_policy, &ctx, "aws:SourceArn")
            })
        };
        if !enabled.iter().any(|anchor| admits(anchor)) {
            let arns: Vec<&str> = enabled.iter().map(|a| a.arn.as_str()).collect();
            warn_at!(
                file,
                trust_policy_key(i, section),
                "role {arn}: its trust policy's aws:SourceArn conditions admit none of the enabled trust anchors ({}), \
                 so every CreateSession for it is denied; name them there (an anchor's ARN is made of server.region, \
                 server.account_id and its id: changing one renames it)",
                arns.join(", ")
            );
        }
    }
}

/// The enabled trust anchors, in the order the file lists them.
fn enabled_anchors(anchors: &HashMap<String, Arc<Anchor>>) -> Vec<&Anchor> {
    let mut enabled: Vec<&Anchor> = anchors.values().map(AsRef::as_ref).filter(|a| a.enabled).collect();
    enabled.sort_by_key(|a| a.section);
    enabled
}

/// A CreateSession's trust context as far as the anchor decides it: the Roles Anywhere service
/// principal asking `action` on `role`, through the anchor `source_arn` (`aws:SourceArn`, and
/// its account, the fifth field, as `aws:SourceAccount`) when given.
fn roles_anywhere_context(role: &str, action: &str, source_arn: Option<&str>) -> crate::policy::RequestContext {
    use crate::broker::ROLES_ANYWHERE_PRINCIPAL;
    let principal = crate::policy::Principal::Service(ROLES_ANYWHERE_PRINCIPAL.to_owned());
    let mut ctx = crate::policy::RequestContext::new(principal, action, role);
    if let Some(anchor) = source_arn {
        ctx.insert("aws:SourceArn", anchor);
        if let Some(account) = anchor.split(':').nth(4) {
            ctx.insert("aws:SourceAccount", account);
        }
    }
    ctx
}

/// Whether a statement of `role`'s trust policy allows `"Principal": "*"` without a condition
/// ([`warn_of_unconditioned_wildcard_trust`]'s case).
fn allows_everyone_unconditionally(role: &Role) -> bool {
    use crate::policy::{Effect, PrincipalEntry};
    role.trust_policy.statements().iter().any(|statement| {
        statement.effect() == Effect::Allow
            && statement.conditions().is_empty()
            && statement
                .principal()
                .is_some_and(|p| !p.negated && p.entries.contains(&PrincipalEntry::Everyone))
    })
}

/// A role a profile names whose trust policy reads a certificate tag
/// (`aws:PrincipalTag/x509Subject/OU`, `…/x509Issuer/…`, `…/x509SAN/…`) that the profile's
/// `attribute_mappings` leave out
/// ([`AttributeMapping::dropped_field`](crate::identity::AttributeMapping::dropped_field)) meets
/// the key absent in every session of that profile: a condition on it never matches (unless
/// negated or `IfExists`), an `Allow` using it as a policy variable never applies.
pub(super) fn warn_of_principal_tags_mapped_out(
    file: &LoadedFile<'_>,
    sections: &[schema::ProfileSection],
    profiles: &HashMap<String, Arc<Profile>>,
    roles: &HashMap<String, Arc<Role>>,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(profile) = profiles.values().find(|p| p.id == section.id) else {
            continue;
        };
        for arn in &section.role_arns {
            let Some(role) = roles.get(arn) else { continue };
            let mut warned = std::collections::HashSet::new();
            for (statement, context_key) in role.trust_policy.context_keys() {
                let Some(tag) = principal_tag_key(context_key) else {
                    continue;
                };
                let Some(field) = profile.attribute_mapping.dropped_field(tag) else {
                    continue;
                };
                if warned.insert(tag.to_ascii_lowercase()) {
                    warn_at!(
                        file,
                        format!("profile[{i}].attribute_mappings.{}", field.name()),
                        "profile {}: its attribute mappings leave out the tag '{tag}', which role {arn} reads in its trust policy ({statement}, '{context_key}'): no session of this profile has it, so a condition on it never matches unless negated or IfExists, and an Allow using it as a policy variable never applies; map it, or condition on a tag the profile maps",
                        section.id
                    );
                }
            }
        }
    }
}

/// The tag key of an `aws:PrincipalTag/{key}` context key (in any case, as keys are).
fn principal_tag_key(context_key: &str) -> Option<&str> {
    const PREFIX: &str = "aws:PrincipalTag/";
    let prefix = context_key.get(..PREFIX.len())?;
    prefix
        .eq_ignore_ascii_case(PREFIX)
        .then(|| &context_key[PREFIX.len()..])
}

/// A CRL with an issuing distribution point does not cover a certificate whose CRL
/// distribution points name another one, and such a certificate is then checked against no
/// CRL (an issuer without a CRL means "not revoked", as in AWS).
pub(super) fn warn_if_scoped(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    for crl in trust.crls().iter().filter(|crl| crl.scope.is_some()) {
        warn_at!(
            file,
            key,
            [issuer = crl.issuer.as_str(),],
            "the CRL of {} has an issuing distribution point: it covers only the certificates whose CRL \
             distribution points name it (or that name none); the others are checked against no CRL",
            crl.issuer
        );
    }
}

/// An anchor that lists CRLs but none issued by one of its CA certificates checks nothing that
/// CA issues for revocation (no CRL of an issuer means "not revoked", as in AWS): most likely
/// a CRL left out — an intermediate's, when the bundle holds the root and an issuing CA.
pub(super) fn warn_of_cas_without_crl(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    if trust.crls().is_empty() {
        return;
    }
    let mut warned = std::collections::HashSet::new();
    for ca in trust.certificates() {
        let has_crl = trust.crls().iter().any(|crl| crl.issuer == ca.subject);
        if !has_crl && warned.insert(ca.subject.as_str()) {
            warn_at!(
                file,
                key,
                [ca = ca.subject.as_str(),],
                "this anchor lists CRLs, but none issued by this CA certificate of its bundle ({}): what it issues is \
                 never checked for revocation; list its CRL too",
                ca.subject
            );
        }
    }
}

/// Warns about each enabled anchor that trusts a CA without listing the CRL another anchor
/// lists for it: the certificates that CRL revokes get sessions through this anchor (a reload
/// adding such an anchor is refused; a start takes it, with this warning). Every such CRL is
/// warned about, once, whichever anchors list it.
pub(super) fn warn_of_crls_listed_elsewhere(file: &LoadedFile<'_>, anchors: &HashMap<String, Arc<Anchor>>) {
    let mut in_order: Vec<&Anchor> = anchors.values().map(AsRef::as_ref).collect();
    in_order.sort_by_key(|a| a.section);
    for anchor in in_order.iter().filter(|a| a.enabled) {
        let mut warned: Vec<&CrlInfo> = Vec::new();
        let unlisted = in_order
            .iter()
            .filter(|other| other.section != anchor.section)
            .flat_map(|other| other.trust.crls().iter().map(move |crl| (other, crl)))
            .filter(|(_, crl)| !anchor.trust.lists_crl_of(crl));
        for (other, crl) in unlisted {
            if warned.iter().any(|w| w.same_sequence(crl)) {
                continue;
            }
            if anchor.trust.trusts_key(&crl.signer_key) {
                warned.push(crl);
                warn_at!(
                    file,
                    format!("trust_anchor[{}].crls", anchor.section),
                    [issuer = crl.issuer.as_str(),],
                    "this anchor trusts a CA whose CRL trust_anchor[{}] lists, without listing it (the CRL of {}): \
                     the certificates it revokes get sessions through this anchor; list the CRL here too",
                    other.section,
                    crl.issuer
                );
            } else if let Some((signer, issuer)) = issued_by_a_ca_of(anchor, other, crl) {
                // One level up: this anchor trusts the CA that issued the CRL's signer, so a
                // client sending the signer's certificate as an intermediate reaches this
                // anchor, where no CRL of the signer is checked.
                warned.push(crl);
                warn_at!(
                    file,
                    format!("trust_anchor[{}].crls", anchor.section),
                    [ca = signer.subject.as_str(),],
                    "this anchor trusts {}, which issued {}, whose CRL trust_anchor[{}] lists: certificates {} issued \
                     get sessions through this anchor when the client sends its certificate as an intermediate, \
                     checked against no CRL of it; add that CA certificate to this anchor's certificates and its CRL \
                     to crls",
                    issuer.subject,
                    signer.subject,
                    other.section,
                    signer.subject
                );
            }
        }
    }
}

/// The certificate of `other`'s bundle that signed `crl`, when a CA certificate of `anchor`'s
/// bundle issued it (it is not self-issued), with that CA certificate.
fn issued_by_a_ca_of<'a>(
    anchor: &'a Anchor,
    other: &'a Anchor,
    crl: &CrlInfo,
) -> Option<(&'a AnchorCertificate, &'a AnchorCertificate)> {
    let signer = other
        .trust
        .certificates()
        .iter()
        .find(|c| c.key == crl.signer_key && c.issuer_der != c.subject_der)?;
    let issuer = anchor
        .trust
        .certificates()
        .iter()
        .find(|c| c.subject_der == signer.issuer_der)?;
    Some((signer, issuer))
}

/// Warns about each CA certificate of the bundle that a CRL of the anchor revokes: no chain
/// ends at it (chain verification refuses such paths), so it only still serves to verify its
/// own CRL; remove it when its issuer revoked it for good.
pub(super) fn warn_of_revoked_cas(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    for ca in trust.certificates() {
        if let Some(issuer) = &ca.revoked_by {
            warn_at!(
                file,
                key,
                [ca = ca.subject.as_str(), crl_issuer = issuer.as_str(),],
                "this CA certificate of the bundle ({}) is revoked by its issuer's CRL: chains it issued are refused",
                ca.subject
            );
        }
    }
}

/// How far in the future a CRL's thisUpdate may lie before the load warns of it: the clock
/// skew allowed to clients.
const CRL_THIS_UPDATE_LEEWAY_SECONDS: i64 = 300;

/// Warns about each CRL of `trust` past its nextUpdate at `now`: revocations made since are
/// not in it, and an anchor with `stale_crls = "refuse"` refuses the certificates it covers;
/// and about one whose thisUpdate is still to come, which says a clock is wrong — the CA's, or
/// this host's (which also judges every certificate's validity).
pub(super) fn warn_if_stale(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor, now: OffsetDateTime) {
    for crl in trust
        .crls()
        .iter()
        .filter(|crl| crl.this_update > now.unix_timestamp() + CRL_THIS_UPDATE_LEEWAY_SECONDS)
    {
        warn_at!(
            file,
            key,
            [
                issuer = crl.issuer.as_str(),
                this_update = crate::session::format_expiration(crl.this_update),
            ],
            "CRL of {} is dated in the future (its thisUpdate {} is still to come): the CA's clock or this \
             host's is wrong; it is consulted as it is",
            crl.issuer,
            crate::session::format_expiration(crl.this_update)
        );
    }
    for crl in trust.crls() {
        let Some(next_update) = crl.next_update.filter(|t| *t <= now.unix_timestamp()) else {
            continue;
        };
        let consequence = match trust.stale_crls() {
            StaleCrls::Honour => "revocations made since are not in it",
            StaleCrls::Refuse => "the certificates it covers are refused (stale_crls = \"refuse\")",
        };
        warn_at!(
            file,
            key,
            [
                issuer = crl.issuer.as_str(),
                next_update = crate::session::format_expiration(next_update),
            ],
            "CRL of {} is past its nextUpdate ({}): {consequence}; import a fresh one and reload",
            crl.issuer,
            crate::session::format_expiration(next_update)
        );
    }
}

/// A CA certificate of the anchor that has expired, or is not valid yet: chains ending at it are
/// refused.
pub(super) fn warn_if_expired(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor, now: OffsetDateTime) {
    for certificate in trust
        .certificates()
        .iter()
        .filter(|c| c.not_after <= now.unix_timestamp())
    {
        warn_at!(
            file,
            key,
            [
                subject = certificate.subject.as_str(),
                not_after = crate::session::format_expiration(certificate.not_after),
            ],
            "trust anchor CA certificate {} has expired ({}): chains that end at it are refused unless the bundle \
             also holds its renewal (same name and key); add the renewed CA certificate",
            certificate.subject,
            crate::session::format_expiration(certificate.not_after)
        );
    }
    for certificate in trust
        .certificates()
        .iter()
        .filter(|c| c.not_before > now.unix_timestamp())
    {
        warn_at!(
            file,
            key,
            [
                subject = certificate.subject.as_str(),
                not_before = crate::session::format_expiration(certificate.not_before),
            ],
            "trust anchor CA certificate {} is not valid yet (notBefore {}): chains that end at it are refused \
             until then unless the bundle also holds a current certificate of the same name and key (check this \
             server's clock)",
            certificate.subject,
            crate::session::format_expiration(certificate.not_before)
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::{
        SERVER_CERTIFICATE_WARN_SECONDS, group_name, group_named_in, misspelt_key, server_certificate_expiring,
        shared_with, trust_policy_key_guess,
    };

    /// A misspelt trust policy key is matched to the key it is nearest, in AWS's spelling;
    /// a key of another word is not.
    #[test]
    fn a_misspelt_trust_policy_key_is_matched_to_the_nearest() {
        let aws_key = "an AWS key that no rolegate trust policy evaluation sets";
        let cases = [
            ("aws:PrincipleTag/team", "did you mean 'aws:PrincipalTag/team'?"),
            (
                "AWS:principaltags/x509Subject/CN",
                "did you mean 'aws:PrincipalTag/x509Subject/CN'?",
            ),
            ("aws:SourceARN2", "did you mean 'aws:SourceArn'?"),
            ("sts:RoleSesionName", "did you mean 'sts:RoleSessionName'?"),
            ("aws:SouceIp", "did you mean 'aws:SourceIp'?"),
            // Real AWS keys are not taken for misspelt ones of a similar spelling.
            ("aws:PrincipalOrgID", aws_key),
            ("aws:SourceVpc", aws_key),
            ("aws:ResourceAccount", aws_key),
            ("aws:resourcetag/team", aws_key),
            ("aws:MultiFactorAuthAge", aws_key),
            ("aws:username", aws_key),
            // Too far from any, or of another namespace.
            ("aws:PrincipalAcct", "misspelt?"),
            ("sts:SourceIp", "misspelt?"),
            ("ec2:Region", "misspelt?"),
            ("aws:PrincipleTag/", "misspelt?"),
        ];
        for (typed, guess) in cases {
            assert_eq!(trust_policy_key_guess(typed), guess, "{typed}");
        }
    }

    /// A misspelt key a permission or session policy reads is matched to the session key it
    /// most likely misspells, when one is near.
    #[test]
    fn a_misspelt_session_key_is_matched_to_the_nearest() {
        use crate::broker::{SESSION_KEY_PREFIXES, SESSION_KEYS};
        let guess = |typed: &str| misspelt_key(typed, &SESSION_KEYS, &SESSION_KEY_PREFIXES);
        assert_eq!(
            guess("aws:PrincipalTags/team").as_deref(),
            Some("aws:PrincipalTag/team")
        );
        assert_eq!(guess("AWS:currenttimes").as_deref(), Some("aws:CurrentTime"));
        assert_eq!(guess("aws:PrincipalAccnt").as_deref(), Some("aws:PrincipalAccount"));
        assert_eq!(guess("aws:PrincipalOrgPaths"), None);
        assert_eq!(guess("aws:PrincipalTag/"), None);
        // Every key the guesses name is one a session's requests hold.
        for key in SESSION_KEYS.iter().chain(&["aws:PrincipalTag/team"]) {
            assert_eq!(crate::broker::never_in_session_requests(key), None, "{key}");
        }
    }

    #[test]
    fn a_secret_file_is_shared_with_every_user_or_a_group_not_the_daemons() {
        let not_asked = || -> Vec<u32> { panic!("the groups are read only for a group-readable file") };
        let named = |gid: u32| (gid == 7).then(|| "lp".to_owned());
        assert_eq!(shared_with(0o600, 7, false, not_asked, named), None);
        assert_eq!(
            shared_with(0o644, 7, true, not_asked, named).as_deref(),
            Some(
                "secret file is readable by every user (mode 0644); chmod 600 it, or 640 with a group of the daemon's own"
            )
        );
        assert_eq!(shared_with(0o640, 7, false, || vec![3, 7], named), None);
        assert_eq!(
            shared_with(0o640, 7, false, || vec![3], named).as_deref(),
            Some(
                "secret file (mode 0640) is readable by group lp (7), which this process is not in; chmod 600 it, or \
                 chgrp it to a group of the daemon's own"
            )
        );
        // A group the group file does not list is named by its id.
        assert_eq!(
            shared_with(0o640, 8, false, || vec![3], named).as_deref(),
            Some(
                "secret file (mode 0640) is readable by group 8, which this process is not in; chmod 600 it, or \
                 chgrp it to a group of the daemon's own"
            )
        );
        // Root checks for a daemon of another identity, whose group it may be.
        assert_eq!(shared_with(0o640, 7, true, not_asked, named), None);
    }

    /// The server certificate is warned about in its last 7 days, before it expires (an
    /// expired one is a problem TLS clients refuse, warned about as such).
    #[test]
    fn a_server_certificate_in_its_last_seven_days_is_warned_about() {
        let not_after = 1_800_000_000; // 2027-01-15T08:00:00Z
        assert_eq!(
            server_certificate_expiring(not_after, not_after - 2 * 86_400 - 3 * 3_600 - 5 * 60),
            Some(
                "the server certificate expires at 2027-01-15T08:00:00Z (in 51 h 5 min), and TLS clients will \
                 refuse it from then on: renew server.tls_cert and server.tls_key, then reload"
                    .to_owned()
            )
        );
        assert!(server_certificate_expiring(not_after, not_after - SERVER_CERTIFICATE_WARN_SECONDS + 1).is_some());
        assert!(server_certificate_expiring(not_after, not_after).is_some());
        assert_eq!(
            server_certificate_expiring(not_after, not_after - SERVER_CERTIFICATE_WARN_SECONDS),
            None
        );
        assert_eq!(server_certificate_expiring(not_after, not_after + 1), None);
        assert_eq!(server_certificate_expiring(i64::MIN, i64::MAX), None);
    }

    #[test]
    fn a_group_is_named_as_the_group_file_names_it() {
        let file = "root:x:0:\n+nis::7:\n#comment:x:7:\ndaemon:x:1:\nbad:x:one:\nlp:x:7:alice,bob\n";
        assert_eq!(group_named_in(file, 0), Some("root"));
        assert_eq!(group_named_in(file, 7), Some("lp"));
        assert_eq!(group_named_in(file, 1), Some("daemon"));
        assert_eq!(group_named_in(file, 2), None);
        // The system's lists gid 0 (root, or wheel).
        if std::path::Path::new("/etc/group").exists() {
            assert!(group_name(0).is_some());
        }
    }
}
