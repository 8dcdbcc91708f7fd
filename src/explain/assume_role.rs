//! Explaining STS AssumeRole by a role session (role chaining): the target role's trust policy
//! for principal `AWS` = the calling role, and the same-account permission rule, with the
//! broker's own steps.

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Api, Recorder, Report, explain_trust_policy, trace_lines};
use crate::broker::steps;
use crate::broker::{AssumeRoleInput, Caller, OpenedSession};
use crate::config::{Config, Role};
use crate::error::ApiError;
use crate::policy::RequestContext;
use crate::session::{self, SessionClaims, SessionOrigin, format_expiration, same_tag_key};

/// An AssumeRole to explain: the calling session (its role and name) and the request.
#[derive(Clone, Debug, Default)]
pub struct AssumeRoleQuestion {
    /// The role of the calling session.
    pub caller_role_arn: String,
    /// The calling session's name.
    pub caller_session_name: String,
    /// The calling session's source identity, which carries forward (every rolegate session
    /// has one, from the certificate it began with).
    pub caller_source_identity: Option<String>,
    /// The Roles Anywhere profile the calling session came from: its session policy and
    /// managed policy ARNs are the caller's session policies.
    pub caller_profile_arn: Option<String>,
    /// The calling session's tags (`aws:PrincipalTag/*`): a Roles Anywhere session's are its
    /// certificate's mapped attributes, e.g. `x509Subject/CN`.
    pub caller_tags: Vec<(String, String)>,
    /// The keys of `caller_tags` that are transitive (the calling session inherited them along
    /// a chain, or was given them as transitive): the new session inherits them.
    pub caller_transitive_tag_keys: Vec<String>,
    /// When the calling session was issued (`aws:TokenIssueTime`, and what a revocation
    /// cutoff of its role is compared with); `None`: at the time of the question.
    pub caller_issued_at: Option<OffsetDateTime>,
    /// The role to assume.
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
    /// The keys of `tags` the request makes transitive (`TransitiveTagKeys`).
    pub transitive_tag_keys: Vec<String>,
    /// The inline session policy (`Policy`), its JSON text, and where it was read from.
    pub policy: Option<(String, String)>,
    /// The managed session policies (`PolicyArns`).
    pub policy_arns: Vec<String>,
    pub source_ip: Option<IpAddr>,
    /// The region the client signs for (its `--region`), when given.
    pub region: Option<String>,
}

/// A question that describes no calling session there can be: a usage error, not a verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    #[error(
        "--caller-role-arn {0}: no [[role]] of the configuration has this ARN, so no session of it can make a request"
    )]
    UnknownCallerRole(String),
    #[error("--caller-session-name: {0}")]
    CallerSessionName(String),
    #[error("--caller-source-identity '{0}': a source identity has at least 2 characters")]
    CallerSourceIdentity(String),
    #[error("--caller-profile-arn {0}: no [[profile]] of the configuration has this ARN")]
    UnknownCallerProfile(String),
    #[error(
        "--caller-profile-arn {profile}: the profile does not list the calling role {role}, so no session of that role came from it"
    )]
    RoleNotInCallerProfile { profile: String, role: String },
    #[error("--caller-transitive-tag-key {0}: no --caller-tag has this key")]
    TransitiveKeyNotATag(String),
    #[error("--caller-issued-at {issued}: after the time of the question, {at}")]
    IssuedInTheFuture { issued: String, at: String },
    #[error(
        "--caller-issued-at {issued}: a session of {role} lasts at most its max_session_duration, {max} seconds, so it has expired by {at}"
    )]
    CallerSessionExpired {
        issued: String,
        role: String,
        max: u32,
        at: String,
    },
}

/// Runs AssumeRole's authorization steps for a caller session of `caller_role_arn` issued at
/// `caller_issued_at` (or `now`), with the tags, source identity and (through its profile)
/// session policies the question gives it. A question no calling session fits is refused.
pub fn explain_assume_role(
    config: Arc<Config>,
    q: &AssumeRoleQuestion,
    now: OffsetDateTime,
) -> Result<Report, QuestionError> {
    let caller_role = check_caller(&config, q, now)?;
    Ok(explain_checked(config, q, &caller_role, now))
}

/// [`explain_assume_role`] once the question is known to describe a calling session.
fn explain_checked(config: Arc<Config>, q: &AssumeRoleQuestion, caller_role: &Role, now: OffsetDateTime) -> Report {
    let mut r = Recorder::default();
    // Each step that fails and that later ones need ends the report there.
    let _ = assume_role_steps(&mut r, &config, q, caller_role, now);
    r.finish(Api::Sts, assume_role_question(q, now))
}

/// What was asked: when, the calling session (its profile and tags) and the role to assume
/// with its session policies.
fn assume_role_question(q: &AssumeRoleQuestion, now: OffsetDateTime) -> Vec<String> {
    let mut question = vec![
        format!("AssumeRole at {}", format_expiration(now.unix_timestamp())),
        format!("  caller: {} (session {})", q.caller_role_arn, q.caller_session_name),
    ];
    if let Some(arn) = &q.caller_profile_arn {
        question.push(format!("          from profile {arn}"));
    }
    question.extend(
        q.caller_tags
            .iter()
            .map(|(k, v)| format!("        {}", super::create_session::tag_line(k, v))),
    );
    question.push(format!("  role:   {}", q.role_arn));
    if let Some((source, _)) = &q.policy {
        question.push(format!("          session policy {source}"));
    }
    question.extend(
        q.policy_arns
            .iter()
            .map(|arn| format!("          session policy {arn}")),
    );
    question
}

/// AssumeRole's steps in the broker's order, recorded in `r`; `None` where a step that later
/// ones need failed.
fn assume_role_steps(
    r: &mut Recorder,
    config: &Arc<Config>,
    q: &AssumeRoleQuestion,
    caller_role: &Role,
    now: OffsetDateTime,
) -> Option<()> {
    if let Some(region) = &q.region {
        region_step(r, config, region);
    }
    let session_policies = match &q.caller_profile_arn {
        None => CallerProfile::default(),
        Some(arn) => caller_profile_step(r, config, q, arn)?,
    };
    let caller = caller_session_step(r, config, q, caller_role, session_policies, now)?;
    let input = assume_role_input(q);
    r.check(
        "request parameters are valid",
        steps::validate_assume_role_parameters(&input),
        |()| Vec::new(),
    );
    let caller_arn = caller.assumed_role_arn();
    let denied = |action: &str, reason: &'static str| steps::not_authorized(&caller_arn, action, &q.role_arn, reason);
    let role = r.check(
        "role exists",
        steps::assume_role_target_role(&caller, &q.role_arn).map_err(|reason| denied("sts:AssumeRole", reason)),
        |role| vec![format!("max_session_duration {}", role.max_session_duration)],
    )?;
    let source_identity = r.check(
        "source identity (set once along a chain)",
        steps::resolve_source_identity(&caller, q.source_identity.as_deref()),
        |s: &Option<String>| match s {
            Some(s) => vec![format!(
                "{s} (the session will carry it: sts:SetSourceIdentity is needed)"
            )],
            None => vec!["none".to_owned()],
        },
    )?;
    let (tags, _) = r.check(
        "session tags fit the packed size",
        steps::assume_role_session_tags(&caller, &input),
        |(tags, packed): &(Vec<(String, String)>, u32)| {
            vec![format!(
                "{}, {packed} % of the packed size",
                crate::config::counted(tags.len(), "tag", "tags")
            )]
        },
    )?;
    if q.policy.is_some() || !q.policy_arns.is_empty() {
        session_policies_step(r, config, q, &input, &role)?;
    }
    let mut ctx = steps::assume_role_trust_context(&caller, &role, &input, &tags, source_identity.as_deref(), now);
    let actions = steps::assume_role_required_actions(&tags, source_identity.as_deref());
    let trusted_actions = trust_policy_steps(r, q, &role, &mut ctx, &actions, &denied);
    caller_policy_steps(r, &caller, &role, &mut ctx, &trusted_actions, &denied);
    duration_step(r, q, &role);
    Some(())
}

/// The request is signed for the server's region.
fn region_step(r: &mut Recorder, config: &Config, region: &str) {
    r.check(
        "request is signed for the server's region",
        match region == config.server.region {
            true => Ok(()),
            false => Err(crate::broker::signature_error(
                crate::sigv4::SigV4Error::CredentialRegion {
                    sent: region.to_owned(),
                    expected: config.server.region.clone(),
                },
            )),
        },
        |()| vec![region.to_owned()],
    );
}

/// The calling session's profile `arn` exists and lists the calling role: the session
/// policies it gives its sessions.
fn caller_profile_step(r: &mut Recorder, config: &Config, q: &AssumeRoleQuestion, arn: &str) -> Option<CallerProfile> {
    r.check(
        "calling session's profile exists and lists its role",
        caller_profile(config, arn, &q.caller_role_arn).map_err(|e| ApiError::validation("question", e.to_string())),
        |p: &CallerProfile| {
            let mut details = vec![match p.session_policies.len() + p.policy_arns.len() {
                0 => "no session policies".to_owned(),
                n => session_policy_count(n),
            }];
            if p.disabled {
                details.push("disabled: no new sessions, but live ones still chain".to_owned());
            }
            details
        },
    )
}

/// "1 session policy", "2 session policies".
fn session_policy_count(n: usize) -> String {
    format!("{n} session polic{}", if n == 1 { "y" } else { "ies" })
}

/// The calling session as the broker authenticates it: its role exists and has not revoked it.
/// The caller, when it is valid.
fn caller_session_step(
    r: &mut Recorder,
    config: &Arc<Config>,
    q: &AssumeRoleQuestion,
    caller_role: &Role,
    session_policies: CallerProfile,
    now: OffsetDateTime,
) -> Option<Caller> {
    let claims = caller_claims(q, caller_role, session_policies, now);
    let issued = issue_line(q, claims.issued_at);
    let title = "calling session is valid (not expired, not revoked by its role)";
    let role = match steps::current_role(config, &claims, now) {
        Ok(role) => {
            let mut details = vec![role.arn.assumed_role_arn(&q.caller_session_name), issued];
            details.extend(revocation_note(q, &role));
            r.pass(title, details);
            role
        }
        Err(e) => {
            r.fail(title, e, vec![issued]);
            return None;
        }
    };
    Some(Caller {
        claims: Arc::new(OpenedSession::new(claims)),
        role,
        config: config.clone(),
    })
}

/// The AssumeRole request the question describes, as the broker receives it.
fn assume_role_input(q: &AssumeRoleQuestion) -> AssumeRoleInput {
    AssumeRoleInput {
        role_arn: q.role_arn.clone(),
        role_session_name: q.role_session_name.clone(),
        duration_seconds: q.duration_seconds,
        tags: q.tags.clone(),
        transitive_tag_keys: q.transitive_tag_keys.clone(),
        policy: q.policy.as_ref().map(|(_, text)| text.clone()),
        policy_arns: q.policy_arns.clone(),
        external_id: q.external_id.clone(),
        source_identity: q.source_identity.clone(),
        source_ip: q.source_ip,
        ..AssumeRoleInput::default()
    }
}

/// The request's session policies are valid and attachable to `role`. They limit the new
/// session, not this call: only their validity is decided here.
fn session_policies_step(
    r: &mut Recorder,
    config: &Config,
    q: &AssumeRoleQuestion,
    input: &AssumeRoleInput,
    role: &Role,
) -> Option<()> {
    let title = "session policies are valid and attachable to the role";
    let valid = steps::parse_session_policy(input.policy.as_deref())
        .and_then(|_| steps::resolve_policy_arns(config, role, &input.policy_arns));
    let n = usize::from(q.policy.is_some()) + q.policy_arns.len();
    let detail = format!(
        "{}: they limit what the new session may do (rolegate simulate --policy, --policy-arn), not this call",
        session_policy_count(n)
    );
    r.check(title, valid, |()| vec![detail])
}

/// The role's trust policy for each of `actions`, traced statement by statement; `denied`
/// spells a refusal. The actions it allows.
fn trust_policy_steps(
    r: &mut Recorder,
    q: &AssumeRoleQuestion,
    role: &Role,
    ctx: &mut RequestContext,
    actions: &[&'static str],
    denied: &impl Fn(&str, &'static str) -> ApiError,
) -> Vec<&'static str> {
    let mut trusted_actions = Vec::new();
    for &action in actions {
        ctx.action = action.to_owned();
        let (_, traces, mut details) = explain_trust_policy(role, ctx);
        details.extend(trace_lines(&traces));
        let title = format!("trust policy allows {} to perform {action}", q.caller_role_arn);
        // The explanation's matching steps are not the daemon's: the check counts its own.
        ctx.restart_match_steps();
        match steps::check_assume_role_trust(role, ctx, &[action]) {
            Ok(()) => {
                trusted_actions.push(action);
                r.pass(title, details);
            }
            Err((action, reason)) => r.fail(title, denied(action, reason), details),
        }
    }
    trusted_actions
}

/// The caller's side of what the trust policy allows, for each of `trusted_actions`: how the
/// trust policy admits the caller decides whether its own policies must allow it too.
fn caller_policy_steps(
    r: &mut Recorder,
    caller: &Caller,
    role: &Role,
    ctx: &mut RequestContext,
    trusted_actions: &[&'static str],
    denied: &impl Fn(&str, &'static str) -> ApiError,
) {
    let policies = steps::CallerPolicies::of(caller);
    for &action in trusted_actions {
        let title = format!("the caller's own policies let it perform {action} on the role");
        match policies.check(role, ctx, action) {
            Ok(trusted) => r.pass(title, vec![admitted(trusted).to_owned()]),
            Err(refusal) => r.fail(title, denied(action, refusal.reason), vec![refused(&refusal)]),
        }
    }
}

/// The session's duration: role chaining allows at most an hour.
fn duration_step(r: &mut Recorder, q: &AssumeRoleQuestion, role: &Role) {
    let title = "session duration (role chaining: at most 1 hour)";
    match session::assume_role_duration(q.duration_seconds, role.max_session_duration, true) {
        Ok(d) => r.pass(title, vec![format!("{d} seconds")]),
        Err(e) => r.fail(
            title,
            ApiError::validation("duration", e.to_string()),
            vec![format!(
                "{} seconds requested; a chained session lasts 900 to 3600 seconds, and at most the role's max_session_duration, {}",
                q.duration_seconds.unwrap_or(3600),
                role.max_session_duration
            )],
        ),
    }
}

/// Why the caller's own policies did not stand in the way, by how the trust policy admits it.
fn admitted(trusted: steps::TrustedAs) -> &'static str {
    match trusted {
        steps::TrustedAs::Session => {
            "the trust policy names the caller's session: no permission policy needed, and no explicit Deny in the caller's policies"
        }
        steps::TrustedAs::Anyone => {
            "the trust policy admits any principal ('*'): no permission policy needed, no explicit Deny in the caller's policies, and its session policies do not limit it"
        }
        steps::TrustedAs::Role => {
            "the trust policy names the caller's role: no permission policy needed, no explicit Deny in the caller's policies, and its session policies (if any) allow it"
        }
        steps::TrustedAs::Account => {
            "the trust policy admits the caller through its account only: the caller's permission policies (and session policies, if any) allow it"
        }
        steps::TrustedAs::OtherAccount => {
            "the role is in another account than the caller: the caller's permission policies (and session policies, if any) allow it"
        }
    }
}

/// What in the caller's own policies refused the action.
fn refused(refusal: &steps::CallerRefusal) -> String {
    let policies = match refusal.in_session_policies {
        true => "session policies",
        false => "permission policies",
    };
    match (&refusal.deciding, refusal.reason) {
        (Some(statement), _) => format!("explicitly denied by the caller's {policies}: {statement}"),
        (None, "too-much-matching") => format!("the caller's {policies}: {}", crate::policy::Outcome::TooMuchMatching),
        (None, "caller-session-policy") => {
            "the trust policy names the caller's role, but no statement of the caller's session policies allows it"
                .to_owned()
        }
        (None, "caller-permissions-other-account") => format!(
            "the role is in another account than the caller, and no statement of the caller's {policies} allows it"
        ),
        (None, _) => format!(
            "the trust policy admits the caller through its account only, and no statement of the caller's {policies} allows it"
        ),
    }
}

/// The calling role, once the question is known to describe a session of it that can call at
/// `now`: a defined role, a session name and source identity a session can have, a profile
/// that lists the role, transitive keys among its tags, issued before `now` and not expired.
fn check_caller(config: &Config, q: &AssumeRoleQuestion, now: OffsetDateTime) -> Result<Arc<Role>, QuestionError> {
    let role = config
        .role(&q.caller_role_arn)
        .ok_or_else(|| QuestionError::UnknownCallerRole(q.caller_role_arn.clone()))?;
    crate::broker::validate_role_session_name(&q.caller_session_name)
        .map_err(|e| QuestionError::CallerSessionName(e.message))?;
    if let Some(s) = q.caller_source_identity.as_ref().filter(|s| s.chars().count() < 2) {
        return Err(QuestionError::CallerSourceIdentity(s.clone()));
    }
    if let Some(arn) = &q.caller_profile_arn {
        caller_profile(config, arn, &q.caller_role_arn)?;
    }
    if let Some(key) = q
        .caller_transitive_tag_keys
        .iter()
        .find(|k| !q.caller_tags.iter().any(|(t, _)| same_tag_key(t, k)))
    {
        return Err(QuestionError::TransitiveKeyNotATag(key.clone()));
    }
    if let Some(issued) = q.caller_issued_at {
        let shown = |t: OffsetDateTime| format_expiration(t.unix_timestamp());
        if issued > now {
            return Err(QuestionError::IssuedInTheFuture {
                issued: shown(issued),
                at: shown(now),
            });
        }
        if now.unix_timestamp() - issued.unix_timestamp() >= i64::from(role.max_session_duration) {
            return Err(QuestionError::CallerSessionExpired {
                issued: shown(issued),
                role: q.caller_role_arn.clone(),
                max: role.max_session_duration,
                at: shown(now),
            });
        }
    }
    Ok(role.clone())
}

/// When the calling session was issued, and whether the question said so.
fn issue_line(q: &AssumeRoleQuestion, issued_at: i64) -> String {
    match q.caller_issued_at {
        Some(_) => format!("issued at {} (--caller-issued-at)", format_expiration(issued_at)),
        None => format!(
            "issued at {} (assumed: the time of the question; --caller-issued-at sets it)",
            format_expiration(issued_at)
        ),
    }
}

/// What a revocation cutoff of the caller's role means for a verdict on a session whose issue
/// time the question did not give: it holds for sessions issued at or after the cutoff only.
fn revocation_note(q: &AssumeRoleQuestion, role: &Role) -> Option<String> {
    let cutoff = role.revoke_sessions_issued_before?;
    Some(match q.caller_issued_at {
        Some(_) => format!(
            "issued at or after the role's revoke_sessions_issued_before, {}",
            format_expiration(cutoff)
        ),
        None => format!(
            "the role revokes sessions issued before {}: this verdict holds only for sessions issued at or after it (an older session is refused, reason session-revoked; give --caller-issued-at to explain one)",
            format_expiration(cutoff)
        ),
    })
}

/// The session policies a session of a profile carries.
#[derive(Default)]
struct CallerProfile {
    arn: String,
    session_policies: Vec<String>,
    policy_arns: Vec<String>,
    disabled: bool,
}

/// The profile `arn`, which must list `role_arn` (a session of that role cannot have come
/// from it otherwise), as the session policies it gives its sessions. A disabled profile
/// creates no sessions, but the live ones it created still chain: it is found all the same.
fn caller_profile(config: &Config, arn: &str, role_arn: &str) -> Result<CallerProfile, QuestionError> {
    let profile = config
        .profile(arn)
        .ok_or_else(|| QuestionError::UnknownCallerProfile(arn.to_owned()))?;
    if !profile.role_arns.iter().any(|r| r == role_arn) {
        return Err(QuestionError::RoleNotInCallerProfile {
            profile: arn.to_owned(),
            role: role_arn.to_owned(),
        });
    }
    Ok(CallerProfile {
        arn: arn.to_owned(),
        session_policies: profile.session_policy.iter().map(|p| p.source().to_owned()).collect(),
        policy_arns: profile.managed_policy_arns.clone(),
        disabled: !profile.enabled,
    })
}

/// The claims of a calling session of `role` issued at `caller_issued_at` (or `now`): the
/// question's name, tags, transitive tag keys and source identity, and its profile's session
/// policies. It lasts as long as a session of the role can ([`check_caller`] refused one that
/// expired).
fn caller_claims(q: &AssumeRoleQuestion, role: &Role, profile: CallerProfile, now: OffsetDateTime) -> SessionClaims {
    let issued_at = q.caller_issued_at.unwrap_or(now).unix_timestamp();
    SessionClaims {
        access_key_id: String::new(),
        secret_access_key: Zeroizing::new(String::new()),
        role_arn: q.caller_role_arn.clone(),
        role_id: role.role_id.clone(),
        session_name: q.caller_session_name.clone(),
        issued_at,
        expires_at: issued_at + i64::from(role.max_session_duration),
        source_identity: q.caller_source_identity.clone(),
        tags: q.caller_tags.clone(),
        transitive_tag_keys: q.caller_transitive_tag_keys.clone(),
        origin: match profile.arn.is_empty() {
            true => SessionOrigin::AssumeRole {
                source_role_arn: q.caller_role_arn.clone(),
                source_session_name: q.caller_session_name.clone(),
            },
            false => SessionOrigin::RolesAnywhere {
                trust_anchor_arn: String::new(),
                profile_arn: profile.arn,
                certificate_serial: String::new(),
            },
        },
        session_policies: profile.session_policies,
        policy_arns: profile.policy_arns,
        // A question names no certificate: explain does not consult CRLs for it.
        chain: None,
    }
}
