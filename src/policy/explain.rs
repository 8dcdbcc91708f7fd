//! A full evaluation trace for `rolegate explain`: for every statement, whether the principal,
//! action, resource and each condition matched, with the values that were compared.

use core::fmt;

use super::context::RequestContext;
use super::document::{Effect, PolicyDocument};
use super::evaluate::{self, Decision, StatementRef};

/// How one statement fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementTrace {
    /// Index into the policy slice.
    pub policy: usize,
    /// Index of the statement in its policy.
    pub index: usize,
    /// The statement's `Sid`.
    pub sid: Option<std::sync::Arc<str>>,
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// `None` when the statement names no principal (identity policies).
    pub principal: Option<bool>,
    /// Whether `Action` / `NotAction` matched.
    pub action: bool,
    /// `None` when the resource is not evaluated (trust policies).
    pub resource: Option<bool>,
    /// When the resource did not match: the statement's patterns with policy variables
    /// substituted, whether they are `NotResource`, and the request's resource.
    pub resource_miss: Option<ResourceMiss>,
    /// Every condition, evaluated even after one fails.
    pub conditions: Vec<ConditionTrace>,
    /// An `Allow` with a policy variable that does not resolve: it does not apply
    /// (`evaluate::unresolved_allow`).
    pub unresolved: bool,
    /// Whether the statement applies (everything matched).
    pub applies: bool,
}

/// A `Resource` / `NotResource` that did not match, for the operator to compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMiss {
    pub negated: bool,
    pub patterns: Vec<String>,
    pub request: String,
}

/// How one condition fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// The key as written, e.g. `aws:PrincipalTag/x509Subject/CN`.
    pub key: String,
    /// The policy values, with policy variables substituted.
    pub policy_values: Vec<String>,
    /// The request's values, `None` when the key is absent.
    pub request_values: Option<Vec<String>>,
    /// Whether the condition held.
    pub holds: bool,
}

/// Evaluate like [`evaluate::evaluate`] and also trace every statement of every policy.
pub fn explain(policies: &[&PolicyDocument], ctx: &RequestContext) -> (Decision, Vec<StatementTrace>) {
    let mut traces = Vec::new();
    for (p, policy) in policies.iter().enumerate() {
        for (i, statement) in policy.statements().iter().enumerate() {
            let conditions: Vec<ConditionTrace> = statement
                .conditions()
                .iter()
                .map(|c| ConditionTrace {
                    operator: c.operator().as_str().to_owned(),
                    key: c.key().to_owned(),
                    policy_values: c.resolved_values(ctx),
                    request_values: ctx.value(c.key()).map(|v| v.as_slice().to_vec()),
                    holds: c.holds(ctx),
                })
                .collect();
            let principal = evaluate::principal_matches(statement, ctx);
            let action = evaluate::action_matches(statement, ctx);
            let resource = evaluate::resource_matches(statement, ctx);
            // Built only for a miss: the traces of an Authorize that allows nothing are
            // computed on every such call, and only a miss is ever shown.
            let resource_miss = statement
                .resource()
                .filter(|_| resource == Some(false))
                .map(|r| ResourceMiss {
                    negated: r.negated,
                    patterns: r.patterns.iter().map(|p| p.resolved_text(ctx)).collect(),
                    request: ctx.resource.clone(),
                });
            let unresolved = evaluate::unresolved_allow(statement, ctx);
            let applies = action
                && resource.unwrap_or(true)
                && principal.unwrap_or(true)
                && conditions.iter().all(|c| c.holds)
                && !unresolved;
            traces.push(StatementTrace {
                policy: p,
                index: i,
                sid: statement.sid.clone(),
                effect: statement.effect(),
                principal,
                action,
                resource,
                resource_miss,
                conditions,
                unresolved,
                applies,
            });
        }
    }
    (evaluate::evaluate(policies, ctx), traces)
}

impl fmt::Display for StatementTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statement = StatementRef {
            policy: self.policy,
            index: self.index,
            sid: self.sid.clone(),
        };
        write!(f, "{statement}")?;
        let effect = match self.effect {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        };
        let verdict = match self.applies {
            true => "applies",
            false => "does not apply",
        };
        writeln!(f, ": {effect}, {verdict}")?;
        match self.principal {
            Some(m) => writeln!(f, "  principal: {}", matched(m))?,
            None => writeln!(f, "  principal: not named (identity policy)")?,
        }
        writeln!(f, "  action: {}", matched(self.action))?;
        match self.resource {
            Some(true) => writeln!(f, "  resource: matched")?,
            Some(false) => {
                writeln!(f, "  resource: did not match")?;
                if let Some(miss) = &self.resource_miss {
                    let element = if miss.negated { "NotResource" } else { "Resource" };
                    writeln!(f, "    policy {element} (variables substituted): {:?}", miss.patterns)?;
                    writeln!(f, "    request resource: {:?}", miss.request)?;
                }
            }
            None => writeln!(f, "  resource: not evaluated (trust policy)")?,
        }
        for c in &self.conditions {
            let held = match c.holds {
                true => "holds",
                false => "fails",
            };
            writeln!(f, "  condition {} {}: {held}", c.operator, c.key)?;
            writeln!(f, "    policy values: {:?}", c.policy_values)?;
            match &c.request_values {
                Some(v) => writeln!(f, "    request values: {v:?}")?,
                None => writeln!(f, "    request values: (key absent)")?,
            }
        }
        if self.unresolved {
            writeln!(
                f,
                "  a policy variable does not resolve (its key is absent or multi-valued): an Allow with one does not apply"
            )?;
        }
        Ok(())
    }
}

fn matched(m: bool) -> &'static str {
    match m {
        true => "matched",
        false => "did not match",
    }
}
