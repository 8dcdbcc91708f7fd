//! Explaining STS AssumeRole by a role session (role chaining): the target role's trust policy
//! for principal `AWS` = the calling role, and the same-account permission rule, with the
//! broker's own steps.

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Api, Recorder, Report, trace_lines};
use crate::broker::steps;
use crate::broker::{AssumeRoleInput, Caller};
use crate::config::{Config, Role};
use crate::policy;
use crate::service::error::ApiError;
use crate::session::{self, SessionClaims, SessionOrigin, format_expiration};

/// An AssumeRole to explain: the calling session (its role and name) and the request.
#[derive(Clone, Debug, Default)]
pub struct AssumeRoleQuestion {
    /// The role of the calling session.
    pub caller_role_arn: String,
    /// The calling session's name.
    pub caller_session_name: String,
    /// The role to assume.
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
    pub source_ip: Option<IpAddr>,
}

/// Runs AssumeRole's authorization steps for a caller session of `caller_role_arn` issued at
/// `now` with no tags, source identity or session policies of its own.
pub fn explain_assume_role(config: Arc<Config>, q: &AssumeRoleQuestion, now: OffsetDateTime) -> Report {
    let mut r = Recorder::default();
    let question = vec![
        format!("AssumeRole at {}", format_expiration(now.unix_timestamp())),
        format!("  caller: {} (session {})", q.caller_role_arn, q.caller_session_name),
        format!("  role:   {}", q.role_arn),
    ];
    let caller_role = r.check(
        "calling role exists",
        config
            .role(&q.caller_role_arn)
            .cloned()
            .ok_or_else(|| ApiError::not_found("unknown-role", format!("Role {} was not found.", q.caller_role_arn))),
        |role: &Arc<Role>| vec![role.arn.assumed_role_arn(&q.caller_session_name)],
    );
    let Some(caller_role) = caller_role else {
        return r.finish(Api::Sts, question);
    };
    let caller = caller(config.clone(), caller_role, q, now);
    let input = AssumeRoleInput {
        role_arn: q.role_arn.clone(),
        role_session_name: q.role_session_name.clone(),
        duration_seconds: q.duration_seconds,
        tags: q.tags.clone(),
        external_id: q.external_id.clone(),
        source_identity: q.source_identity.clone(),
        source_ip: q.source_ip,
        ..AssumeRoleInput::default()
    };
    r.check(
        "request parameters are valid",
        steps::validate_assume_role_parameters(&input),
        |()| Vec::new(),
    );
    let denied = || {
        ApiError::access_denied(
            "not-authorized",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.assumed_role_arn(),
                q.role_arn
            ),
        )
    };
    let role = r.check(
        "role exists",
        config.role(&q.role_arn).cloned().ok_or_else(denied),
        |role| vec![format!("max_session_duration {}", role.max_session_duration)],
    );
    let Some(role) = role else {
        return r.finish(Api::Sts, question);
    };
    let mut ctx = steps::assume_role_trust_context(&caller, &role, &input, &q.tags, q.source_identity.as_deref(), now);
    let mut actions = vec!["sts:AssumeRole"];
    if !q.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if q.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        ctx.action = action.to_owned();
        let (decision, traces) = policy::explain(&[&role.trust_policy], &ctx);
        let mut details = vec![match &decision.deciding {
            Some(s) => format!("{}: decided by {s}", decision.outcome),
            None => decision.outcome.to_string(),
        }];
        details.extend(trace_lines(&traces));
        let title = format!("trust policy allows {} to perform {action}", q.caller_role_arn);
        match steps::check_assume_role_trust(&role, &mut ctx, &[action]) {
            Ok(()) => r.pass(title, details),
            Err(reason) => {
                let mut e = denied();
                e.reason = reason;
                r.fail(title, e, details);
            }
        }
    }
    let title = "caller may assume the role (trust names the caller, or its permissions allow sts:AssumeRole)";
    if steps::trust_names_caller(&role, &mut ctx) {
        r.pass(
            title,
            vec!["the trust policy names the caller's role or session: no identity-based permission needed".into()],
        );
    } else if steps::caller_may_assume(&caller, &role, now) {
        r.pass(
            title,
            vec!["the trust policy allows the caller's account; the caller's permission policies allow sts:AssumeRole on the role".into()],
        );
    } else {
        let mut e = denied();
        e.reason = "caller-permissions";
        r.fail(
            title,
            e,
            vec!["the trust policy allows the caller only through its account, and the caller's permission policies do not allow sts:AssumeRole on the role".into()],
        );
    }
    r.check(
        "session duration (role chaining: at most 1 hour)",
        session::assume_role_duration(q.duration_seconds, role.max_session_duration, true)
            .map_err(|e| ApiError::validation("duration", e.to_string())),
        |d| vec![format!("{d} seconds")],
    );
    r.finish(Api::Sts, question)
}

/// A calling session as the broker would have authenticated it: fresh, untagged, with no
/// source identity and no session policies.
fn caller(config: Arc<Config>, role: Arc<Role>, q: &AssumeRoleQuestion, now: OffsetDateTime) -> Caller {
    let issued_at = now.unix_timestamp();
    let claims = SessionClaims {
        access_key_id: String::new(),
        secret_access_key: Zeroizing::new(String::new()),
        role_arn: role.arn.as_str().to_owned(),
        role_id: role.role_id.clone(),
        session_name: q.caller_session_name.clone(),
        issued_at,
        expires_at: issued_at + 3600,
        source_identity: None,
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        session_policies: Vec::new(),
        policy_arns: Vec::new(),
        origin: SessionOrigin::AssumeRole {
            source_role_arn: role.arn.as_str().to_owned(),
            source_session_name: q.caller_session_name.clone(),
        },
    };
    Caller {
        claims: Arc::new(claims),
        role,
        config,
    }
}
