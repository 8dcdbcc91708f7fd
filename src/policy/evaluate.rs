//! Evaluating policies for a request
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>).
//!
//! A statement applies when its principal, action, resource and every condition match. An
//! applying `Deny` anywhere wins (explicit deny); otherwise an applying `Allow` allows; otherwise
//! the request is implicitly denied. Evaluation is pure — but for the count of matching steps
//! the request context keeps, whose bound it enforces ([`Outcome::TooMuchMatching`]) — and
//! allocation-free except where a policy variable has to be substituted (the deciding
//! statement's `Sid` is shared, not copied).

use core::borrow::Borrow;
use core::fmt;

use super::context::RequestContext;
use super::document::{Effect, PolicyDocument, Statement};

/// The result of evaluating a set of policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An `Allow` applied and no `Deny` did.
    Allow,
    /// A `Deny` applied.
    ExplicitDeny,
    /// Nothing applied.
    ImplicitDeny,
    /// Not decided: matching the policies' patterns against the request's values took more
    /// than [`super::context::MAX_MATCH_STEPS`], after which matches are no longer made, so
    /// no statement's verdict can be trusted. Refused, as a deny.
    TooMuchMatching,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allowed",
            Self::ExplicitDeny => "explicitly denied",
            Self::ImplicitDeny => "implicitly denied (no statement allows it)",
            Self::TooMuchMatching => {
                "refused undecided: matching the policies' wildcard patterns against this request's values takes \
                 more work than rolegate allows one request (fewer or shorter values, or fewer patterns, fit)"
            }
        })
    }
}

/// Identifies one statement: `policies[policy].statements()[index]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRef {
    /// Index into the policy slice given to the evaluator.
    pub policy: usize,
    /// Index of the statement in that policy.
    pub index: usize,
    /// The statement's `Sid`.
    pub sid: Option<std::sync::Arc<str>>,
}

impl fmt::Display for StatementRef {
    /// `policy 0 Statement[1] (Sid "AllowApp")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {} Statement[{}]", self.policy, self.index)?;
        match &self.sid {
            Some(sid) => write!(f, " (Sid \"{sid}\")"),
            None => Ok(()),
        }
    }
}

/// An outcome and the statement that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allow / explicit deny / implicit deny.
    pub outcome: Outcome,
    /// The first applying `Deny`, or else the first applying `Allow`; `None` for an implicit
    /// deny and for [`Outcome::TooMuchMatching`].
    pub deciding: Option<StatementRef>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// The effective-permission decision for a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionDecision {
    /// Allow / explicit deny / implicit deny.
    pub outcome: Outcome,
    /// The deciding statement: the applying `Deny`, or the identity policy's applying `Allow`;
    /// `None` for an implicit deny and for [`Outcome::TooMuchMatching`].
    pub deciding: Option<StatementRef>,
    /// Whether the decision came from the session policies (a session `Deny`, or no session
    /// `Allow`); `deciding.policy` then indexes the session slice.
    pub from_session_policy: bool,
}

impl PermissionDecision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// Evaluate `policies` (all of one kind, e.g. a role's trust policy, or a set of permission
/// policies): explicit deny wins; no allow → implicit deny. `policies[i]` yields
/// `StatementRef::policy == i`.
pub fn evaluate<P: Borrow<PolicyDocument>>(policies: &[P], ctx: &RequestContext) -> Decision {
    let mut first_allow = None;
    let too_much_matching = || Decision {
        outcome: Outcome::TooMuchMatching,
        deciding: None,
    };
    for (p, policy) in policies.iter().map(Borrow::borrow).enumerate() {
        for (i, statement) in policy.statements().iter().enumerate() {
            if !statement_applies(statement, ctx) {
                continue;
            }
            let here = || StatementRef {
                policy: p,
                index: i,
                sid: statement.sid.clone(),
            };
            match statement.effect {
                // A Deny that applied with matches refused for the bound may not have: the
                // request is refused all the same, but not in its name.
                Effect::Deny if ctx.match_steps_exceeded() => return too_much_matching(),
                Effect::Deny => {
                    return Decision {
                        outcome: Outcome::ExplicitDeny,
                        deciding: Some(here()),
                    };
                }
                Effect::Allow if first_allow.is_none() => first_allow = Some(here()),
                Effect::Allow => {}
            }
        }
    }
    if ctx.match_steps_exceeded() {
        return too_much_matching();
    }
    match first_allow {
        Some(allow) => Decision {
            outcome: Outcome::Allow,
            deciding: Some(allow),
        },
        None => Decision {
            outcome: Outcome::ImplicitDeny,
            deciding: None,
        },
    }
}

/// Whether some `Allow` statement of `policies` applies to `ctx`, whatever the `Deny`s say:
/// for telling which grant admits a request already known to be allowed. It does not look at
/// the matching bound: a caller must decide with [`evaluate`], which refuses past it.
pub fn some_allow_applies(policies: &[&PolicyDocument], ctx: &RequestContext) -> bool {
    policies.iter().any(|policy| {
        policy
            .statements()
            .iter()
            .any(|s| s.effect == Effect::Allow && statement_applies(s, ctx))
    })
}

/// Whether `policy` may allow `ctx`'s principal `ctx`'s action for some request: an `Allow`
/// statement names both (whatever its conditions), and no `Deny` statement without conditions
/// names both. When not, no request of that principal for that action is ever allowed.
pub fn may_allow(policy: &PolicyDocument, ctx: &RequestContext) -> bool {
    let names = |s: &Statement| action_matches(s, ctx) && principal_matches(s, ctx).unwrap_or(true);
    let statements = policy.statements();
    statements.iter().any(|s| s.effect == Effect::Allow && names(s))
        && !statements
            .iter()
            .any(|s| s.effect == Effect::Deny && s.conditions.is_empty() && names(s))
}

/// Whether `policy` may allow `ctx`'s principal `ctx`'s action as far as the conditions on
/// `key` decide (`ctx` holds the value of `key` to try): an `Allow` naming both holds its
/// conditions on `key` — or they read a policy variable `ctx` lacks, which a request may fill
/// so that they hold — whatever its others (taken as met: keys a request fills later), and no
/// `Deny` naming both, whose conditions are all on `key`, holds them. [`may_allow`] narrowed
/// by one key: which `aws:SourceArn` (trust anchor) a trust policy binds a role to.
pub fn may_allow_by(policy: &PolicyDocument, ctx: &RequestContext, key: &str) -> bool {
    let names = |s: &Statement| action_matches(s, ctx) && principal_matches(s, ctx).unwrap_or(true);
    let on_key = |c: &super::Condition| super::same_key(c.key(), key);
    let may_hold = |c: &super::Condition| !c.resolves(ctx) || c.holds(ctx);
    let holds = |c: &super::Condition| c.resolves(ctx) && c.holds(ctx);
    let statements = policy.statements();
    let allowed = statements
        .iter()
        .any(|s| s.effect == Effect::Allow && names(s) && s.conditions.iter().filter(|c| on_key(c)).all(may_hold));
    let denied = statements
        .iter()
        .any(|s| s.effect == Effect::Deny && names(s) && s.conditions.iter().all(|c| on_key(c) && holds(c)));
    allowed && !denied
}

/// Effective permissions of a session: allowed iff the identity policies allow and (`session`
/// is `None` or the session policies allow); an explicit `Deny` in either set wins, identity
/// policies checked first
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>).
///
/// `Some(&[])` means "session policies were supplied but none exist", which allows nothing;
/// pass `None` when the session has no session policies.
pub fn evaluate_permissions(
    identity: &[&PolicyDocument],
    session: Option<&[&PolicyDocument]>,
    ctx: &RequestContext,
) -> PermissionDecision {
    let from_identity = evaluate(identity, ctx);
    if from_identity.outcome == Outcome::ExplicitDeny {
        return PermissionDecision::from(from_identity, false);
    }
    let from_session = session.map(|s| evaluate(s, ctx));
    match from_session {
        Some(d) if d.outcome == Outcome::ExplicitDeny => PermissionDecision::from(d, true),
        _ if !from_identity.is_allowed() => PermissionDecision::from(from_identity, false),
        Some(d) if !d.is_allowed() => PermissionDecision::from(d, true),
        _ => PermissionDecision::from(from_identity, false),
    }
}

impl PermissionDecision {
    fn from(decision: Decision, from_session_policy: bool) -> Self {
        Self {
            outcome: decision.outcome,
            deciding: decision.deciding,
            from_session_policy,
        }
    }
}

/// Whether `statement` applies to `ctx`, cheapest tests first.
pub(crate) fn statement_applies(statement: &Statement, ctx: &RequestContext) -> bool {
    action_matches(statement, ctx)
        && resource_matches(statement, ctx).unwrap_or(true)
        && principal_matches(statement, ctx).unwrap_or(true)
        && statement.conditions.iter().all(|c| c.holds(ctx))
        && !unresolved_allow(statement, ctx)
}

/// Whether `statement` is an `Allow` with a policy variable that does not resolve in `ctx` (its
/// key absent or multi-valued, and no default). IAM holds such a statement invalid: it does not
/// apply, even where the variable sits under a negation (`NotResource`, `StringNotEquals`)
/// that would otherwise match because nothing equals an unresolved value
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>).
/// A `Deny` keeps applying by its elements (an unresolved value matches nothing), which is
/// stricter than IAM: a missing tag never lifts a Deny.
pub(crate) fn unresolved_allow(statement: &Statement, ctx: &RequestContext) -> bool {
    if statement.effect != Effect::Allow {
        return false;
    }
    let resource_resolves = statement
        .resource
        .as_ref()
        .is_none_or(|r| r.patterns.iter().all(|p| p.resolves(ctx)));
    !resource_resolves || !statement.conditions.iter().all(|c| c.resolves(ctx))
}

/// `Action` matches if any pattern matches; `NotAction` if none does.
pub(crate) fn action_matches(statement: &Statement, ctx: &RequestContext) -> bool {
    let action = &statement.action;
    action.patterns.iter().any(|p| p.matches_action_of(ctx)) != action.negated
}

/// `Resource` / `NotResource` likewise; `None` when the statement names none (trust policies:
/// the role is the resource by construction, and the parser refuses the element there).
pub(crate) fn resource_matches(statement: &Statement, ctx: &RequestContext) -> Option<bool> {
    let resource = statement.resource.as_ref()?;
    Some(resource.patterns.iter().any(|p| p.matches(ctx)) != resource.negated)
}

/// `Principal` / `NotPrincipal`; `None` when the statement names no principal.
pub(crate) fn principal_matches(statement: &Statement, ctx: &RequestContext) -> Option<bool> {
    let principal = statement.principal.as_ref()?;
    Some(match principal.negated {
        false => principal.entries.iter().any(|e| e.matches(&ctx.principal)),
        true => !principal.exempts(&ctx.principal),
    })
}
