//! `rolegate simulate`: a role session's effective permissions for one action on one resource
//! — the role's permission policies ∩ the session policies, explicit deny winning — like
//! `aws iam simulate-principal-policy`
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html>).

use core::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use super::trace_lines;
use crate::arn::PolicyArn;
use crate::broker::{self, AuthorizeInput, SessionSubject};
use crate::config::{Config, Role};
use crate::policy::{self, Outcome, PermissionDecision, PolicyDocument, PolicyKind, RequestContext, StatementTrace};
use crate::session::format_expiration;

/// What to simulate.
#[derive(Clone, Debug, Default)]
pub struct SimulateQuestion {
    /// The role whose permission policies apply.
    pub role_arn: String,
    /// The session name the principal ARN is built with.
    pub session_name: String,
    /// E.g. `s3:GetObject`.
    pub action: String,
    /// E.g. `arn:aws:s3:::bucket/key`.
    pub resource: String,
    /// Inline session policies: (where it came from, e.g. a file name; the JSON document).
    pub session_policies: Vec<(String, String)>,
    /// Managed policy ARNs passed as session policies (`PolicyArns`).
    pub policy_arns: Vec<String>,
    /// A Roles Anywhere profile whose session policy and managed policies apply, as for a
    /// session created through it.
    pub profile_arn: Option<String>,
    /// Context keys. `aws:PrincipalTag/{key}` and `aws:SourceIdentity` describe the simulated
    /// session (its tags and source identity, which `Authorize` reads from a session token);
    /// the others are the caller's keys of `Sessions.Authorize`, under its rules (no other key
    /// rolegate derives from the session; a key given more than once is multi-valued).
    pub context: Vec<(String, String)>,
    /// When the simulated session was issued (`aws:TokenIssueTime`); `None`: at the time of
    /// the simulation.
    pub session_issued_at: Option<OffsetDateTime>,
}

/// Where an evaluated policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// `permission_policies[index]` of the role.
    RolePermission(usize),
    /// An inline session policy, named by where it was read from.
    Session(String),
    /// A `[[managed_policy]]` passed as a session policy.
    Managed(String),
    /// The `session_policy` of a profile.
    ProfileSession(String),
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RolePermission(i) => write!(f, "role permission policy #{i}"),
            Self::Session(from) => write!(f, "session policy {from}"),
            Self::Managed(arn) => write!(f, "managed session policy {arn}"),
            Self::ProfileSession(arn) => write!(f, "session policy of profile {arn}"),
        }
    }
}

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    #[error("Role {0} is not defined in the configuration (no [[role]] with this arn).")]
    UnknownRole(String),
    #[error("Managed policy {0} is not defined in the configuration (no [[managed_policy]] with this arn).")]
    UnknownPolicyArn(String),
    /// A `--policy-arn` STS would not attach to a session of the role: no such session exists.
    #[error(
        "Managed policy {policy} cannot be a session policy of role {role}: AssumeRole attaches only managed policies of the role's own account, or AWS managed ones (account \"aws\"), of its partition (STS answers \"Policy {policy} does not exist or is not attachable.\")."
    )]
    PolicyArnNotAttachable { policy: String, role: String },
    #[error("Profile {0} is not defined in the configuration (no [[profile]] with this id).")]
    UnknownProfile(String),
    /// A session of the role cannot have come from a profile that does not list it.
    #[error("Profile {profile} does not list role {role}, so no session of that role came from it.")]
    RoleNotInProfile { profile: String, role: String },
    #[error("The session policy {source_name} is not a valid policy document: {error}")]
    MalformedPolicy { source_name: String, error: String },
    /// The action or context keys break the rules of `Sessions.Authorize`.
    #[error("{0}")]
    InvalidRequest(String),
}

/// The result: the decision, the deciding statement and every statement's trace.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// The question, for display.
    pub question: SimulateQuestion,
    /// When it was evaluated (`aws:CurrentTime`).
    pub at: i64,
    /// The effective-permission decision.
    pub decision: PermissionDecision,
    /// The role's permission policies, in evaluation order.
    pub identity_sources: Vec<PolicySource>,
    /// Traces of the role's permission policies.
    pub identity_traces: Vec<StatementTrace>,
    /// Session policies (`None`: the session is not restricted by any).
    pub session_sources: Option<Vec<PolicySource>>,
    /// Traces of the session policies.
    pub session_traces: Vec<StatementTrace>,
}

impl Simulation {
    /// Whether the action is allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allowed()
    }

    /// AWS's `EvalDecision`: `allowed`, `explicitDeny` or `implicitDeny`.
    pub fn eval_decision(&self) -> &'static str {
        match self.decision.outcome {
            Outcome::Allow => "allowed",
            Outcome::ExplicitDeny => "explicitDeny",
            // AWS has no fourth decision; refused, as an implicit deny is.
            Outcome::ImplicitDeny | Outcome::TooMuchMatching => "implicitDeny",
        }
    }

    /// The policy holding the deciding statement.
    pub fn deciding_source(&self) -> Option<&PolicySource> {
        let deciding = self.decision.deciding.as_ref()?;
        match self.decision.from_session_policy {
            true => self.session_sources.as_ref()?.get(deciding.policy),
            false => self.identity_sources.get(deciding.policy),
        }
    }
}

/// Evaluates `q` against `config` at `now`, in the request context `Sessions.Authorize` builds
/// ([`broker::authorization_context`]) for a session of the role issued at `now`, named
/// `q.session_name`, with the tags and source identity `q.context` gives.
pub fn simulate(config: &Config, q: &SimulateQuestion, now: OffsetDateTime) -> Result<Simulation, SimulateError> {
    let role = config
        .role(&q.role_arn)
        .ok_or_else(|| SimulateError::UnknownRole(q.role_arn.clone()))?;
    // A session that cannot exist is no question: its name is one STS accepts.
    broker::validate_role_session_name(&q.session_name).map_err(|e| SimulateError::InvalidRequest(e.message))?;
    let issued_at = q.session_issued_at.unwrap_or(now).unix_timestamp();
    check_session_is_live(role, issued_at, now.unix_timestamp())?;
    let mut session: Vec<(PolicySource, Arc<PolicyDocument>)> = Vec::new();
    if let Some(arn) = &q.profile_arn {
        let profile = config
            .profile(arn)
            .ok_or_else(|| SimulateError::UnknownProfile(arn.clone()))?;
        if !profile.role_arns.contains(&q.role_arn) {
            return Err(SimulateError::RoleNotInProfile {
                profile: arn.clone(),
                role: q.role_arn.clone(),
            });
        }
        if let Some(p) = &profile.session_policy {
            session.push((PolicySource::ProfileSession(arn.clone()), p.clone()));
        }
        for m in &profile.managed_policy_arns {
            session.push((PolicySource::Managed(m.clone()), managed(config, m)?));
        }
    }
    for (name, text) in &q.session_policies {
        let doc = PolicyDocument::parse(text, PolicyKind::Identity).map_err(|e| SimulateError::MalformedPolicy {
            source_name: name.clone(),
            error: e.to_string(),
        })?;
        session.push((PolicySource::Session(name.clone()), Arc::new(doc)));
    }
    for arn in &q.policy_arns {
        // A policy named twice (or also by the profile) is one policy, evaluated and listed once.
        let named = |source: &PolicySource| matches!(source, PolicySource::Managed(a) if a == arn);
        if !session.iter().any(|(source, _)| named(source)) {
            let document = managed(config, arn)?;
            check_attachable(arn, role)?;
            session.push((PolicySource::Managed(arn.clone()), document));
        }
    }

    let ctx = context(config, role, q, issued_at, now)?;
    let identity: Vec<&PolicyDocument> = role.permission_policies.iter().collect();
    let session_docs: Vec<&PolicyDocument> = session.iter().map(|(_, d)| d.as_ref()).collect();
    let session_set = (!session.is_empty()).then_some(session_docs.as_slice());
    let decision = policy::evaluate_permissions(&identity, session_set, &ctx);
    let (_, identity_traces) = policy::explain(&identity, &ctx);
    let (_, session_traces) = policy::explain(&session_docs, &ctx);
    Ok(Simulation {
        question: q.clone(),
        at: now.unix_timestamp(),
        decision,
        identity_sources: (0..identity.len()).map(PolicySource::RolePermission).collect(),
        identity_traces,
        session_sources: (!session.is_empty()).then(|| session.into_iter().map(|(s, _)| s).collect()),
        session_traces,
    })
}

impl fmt::Display for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = &self.question;
        writeln!(
            f,
            "Simulating {} on {} at {}",
            q.action,
            q.resource,
            format_expiration(self.at)
        )?;
        writeln!(f, "  role: {} (session {})", q.role_arn, q.session_name)?;
        if let Some(issued) = q.session_issued_at {
            writeln!(f, "  session issued at {}", format_expiration(issued.unix_timestamp()))?;
        }
        writeln!(f)?;
        writeln!(f, "Role permission policies:")?;
        write_traces(f, &self.identity_sources, &self.identity_traces)?;
        writeln!(f, "Session policies:")?;
        match &self.session_sources {
            None => writeln!(
                f,
                "    (none: the session is limited by the role's permission policies only)"
            )?,
            Some(sources) => write_traces(f, sources, &self.session_traces)?,
        }
        writeln!(f)?;
        writeln!(f, "Decision: {}", self.eval_decision())?;
        match (&self.decision.deciding, self.deciding_source()) {
            (Some(s), Some(source)) => {
                let sid = s
                    .sid
                    .as_deref()
                    .map(|sid| format!(" (Sid \"{sid}\")"))
                    .unwrap_or_default();
                writeln!(f, "  decided by {source}, Statement[{}]{sid}", s.index)
            }
            _ if self.decision.from_session_policy => writeln!(f, "  no session policy statement allows it"),
            _ => writeln!(f, "  no role permission policy statement allows it"),
        }
    }
}

fn write_traces(f: &mut fmt::Formatter<'_>, sources: &[PolicySource], traces: &[StatementTrace]) -> fmt::Result {
    if sources.is_empty() {
        return writeln!(f, "    (none)");
    }
    for (i, source) in sources.iter().enumerate() {
        writeln!(f, "  policy {i}: {source}")?;
        let mine: Vec<StatementTrace> = traces.iter().filter(|t| t.policy == i).cloned().collect();
        for line in trace_lines(&mine) {
            writeln!(f, "    {line}")?;
        }
    }
    Ok(())
}

/// A session issued at `issued_at` (Unix seconds) that rolegate still accepts at `now`: issued
/// by then, not past the longest a session of `role` lasts (its max_session_duration), and not
/// revoked by the role's `revoke_sessions_issued_before` — the broker refuses any other
/// before a policy is evaluated.
fn check_session_is_live(role: &Role, issued_at: i64, now: i64) -> Result<(), SimulateError> {
    let refused = |why: String| Err(SimulateError::InvalidRequest(why));
    let issued = format_expiration(issued_at);
    if issued_at > now {
        return refused(format!(
            "The session is issued at {issued}, after the time of the simulation, {}.",
            format_expiration(now)
        ));
    }
    if now - issued_at >= i64::from(role.max_session_duration) {
        return refused(format!(
            "A session of {} issued at {issued} has expired by {}: it lasts at most the role's max_session_duration, {} seconds.",
            role.arn,
            format_expiration(now),
            role.max_session_duration
        ));
    }
    match role.revoke_sessions_issued_before {
        Some(cutoff) if issued_at < cutoff => refused(format!(
            "A session of {} issued at {issued} is revoked (revoke_sessions_issued_before = {}): rolegate refuses it before any policy is evaluated.",
            role.arn,
            format_expiration(cutoff)
        )),
        _ => Ok(()),
    }
}

/// A session of `role` can carry the managed policy `arn` only if AssumeRole attaches it
/// ([`PolicyArn::is_attachable_to`]), as the broker checks `PolicyArns`.
fn check_attachable(arn: &str, role: &Role) -> Result<(), SimulateError> {
    match PolicyArn::parse(arn).is_ok_and(|policy| policy.is_attachable_to(&role.arn)) {
        true => Ok(()),
        false => Err(SimulateError::PolicyArnNotAttachable {
            policy: arn.to_owned(),
            role: role.arn.as_str().to_owned(),
        }),
    }
}

fn managed(config: &Config, arn: &str) -> Result<Arc<PolicyDocument>, SimulateError> {
    config
        .managed_policies
        .get(arn)
        .cloned()
        .ok_or_else(|| SimulateError::UnknownPolicyArn(arn.to_owned()))
}

/// The request context of a call made with a session of the role: the question's
/// `aws:PrincipalTag/{key}` and `aws:SourceIdentity` keys become the session's, the others are
/// the caller's keys of an Authorize call.
fn context(
    config: &Config,
    role: &Role,
    q: &SimulateQuestion,
    issued_at: i64,
    now: OffsetDateTime,
) -> Result<RequestContext, SimulateError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut source_identity = None;
    let mut context = Vec::new();
    // A session holds one value per tag key (keys compare case-insensitively, as AssumeRole
    // refuses `Team` beside `team`) and one source identity.
    let twice = |key: &str| {
        SimulateError::InvalidRequest(format!(
            "The session key '{key}' is given twice: a session holds one value of it (tag keys compare case-insensitively)."
        ))
    };
    for (key, value) in &q.context {
        match key.split_at_checked(TAG_PREFIX.len()) {
            Some((prefix, tag)) if prefix.eq_ignore_ascii_case(TAG_PREFIX) => {
                if tag.is_empty() {
                    return Err(SimulateError::InvalidRequest(format!(
                        "The session key '{key}' names no tag: a session tag key has 1 to 128 characters."
                    )));
                }
                if tags.iter().any(|(t, _)| crate::session::same_tag_key(t, tag)) {
                    return Err(twice(key));
                }
                tags.push((tag.to_owned(), value.clone()))
            }
            _ if key.eq_ignore_ascii_case("aws:SourceIdentity") => {
                if value.chars().count() < 2 {
                    return Err(SimulateError::InvalidRequest(format!(
                        "The session key '{key}' is '{value}': a source identity has at least 2 characters."
                    )));
                }
                if source_identity.replace(value.as_str()).is_some() {
                    return Err(twice(key));
                }
            }
            _ => context.push((key.clone(), value.clone())),
        }
    }
    let subject = SessionSubject {
        role,
        role_id: &role.role_id,
        session_name: &q.session_name,
        issued_at,
        source_identity,
        tags: &tags,
    };
    let input = AuthorizeInput {
        action: q.action.clone(),
        resource: q.resource.clone(),
        context,
        requested_region: None,
    };
    broker::authorization_context(&subject, &input, &config.server.region, now)
        .map_err(|e| SimulateError::InvalidRequest(e.message))
}

/// Context keys naming a principal tag of the simulated session.
const TAG_PREFIX: &str = "aws:PrincipalTag/";
