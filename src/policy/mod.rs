//! The IAM policy engine: parse policy documents, evaluate them for a request, explain why.
//!
//! Pure code: no I/O and no clock reads (the caller puts `aws:CurrentTime` / `aws:EpochTime`
//! into the [`RequestContext`]). Documents are parsed and precompiled once at config load
//! ([`PolicyDocument::parse`]); [`evaluate()`] runs per request.
//!
//! - `document`: the grammar, strict parsing with element paths in errors.
//! - `principal`, `matcher`, `wildcard`: `Principal`, `Action`, `Resource` matching.
//! - `condition`, `operator`, `scalar`: condition operators and values, and the missing-key /
//!   set-qualifier rules.
//! - `variables`: `${...}` policy variables.
//! - `context`: the request context.
//! - `json`: the JSON tree policies are parsed from (keys in document order, duplicates refused).
//! - `error`: what is wrong with a policy, and the path to the element at fault.
//! - `evaluate`: deny-wins evaluation and session-policy intersection.
//! - `explain`: a full trace for operators.
//!
//! ```
//! use rolegate::policy::{evaluate, Outcome, PolicyDocument, PolicyKind, Principal, RequestContext};
//!
//! let trust = PolicyDocument::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Sid": "RolesAnywhere",
//!     "Effect": "Allow",
//!     "Principal": {"Service": "rolesanywhere.amazonaws.com"},
//!     "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
//!     "Condition": {
//!       "ArnEquals": {"aws:SourceArn": "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem"},
//!       "StringEquals": {"aws:PrincipalTag/x509Subject/CN": "web-1"}
//!     }
//!   }]
//! }"#, PolicyKind::Trust)?;
//!
//! let mut ctx = RequestContext::new(
//!     Principal::Service("rolesanywhere.amazonaws.com".into()),
//!     "sts:AssumeRole",
//!     "arn:aws:iam::123456789012:role/app",
//! );
//! ctx.insert("aws:SourceArn", "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem");
//! ctx.insert("aws:PrincipalTag/x509Subject/CN", "web-1");
//! let decision = evaluate(&[&trust], &ctx);
//! assert_eq!(decision.outcome, Outcome::Allow);
//! assert_eq!(decision.deciding.and_then(|d| d.sid).as_deref(), Some("RolesAnywhere"));
//! # Ok::<(), rolegate::policy::PolicyError>(())
//! ```
//!
//! AWS references: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>.

mod condition;
mod context;
mod document;
mod error;
mod evaluate;
mod explain;
mod json;
mod matcher;
mod operator;
mod principal;
mod scalar;
mod variables;
mod wildcard;

#[cfg(test)]
mod tests;

pub use condition::Condition;
pub(crate) use context::fold_key;
pub use context::same_key;
pub use context::{ContextValue, Principal, RequestContext};
pub use document::{Effect, ListMatch, PolicyDocument, PolicyKind, PrincipalMatch, Statement, Version};
pub use error::{PolicyError, PolicyErrorKind};
pub use evaluate::{
    Decision, Outcome, PermissionDecision, StatementRef, evaluate, evaluate_permissions, may_allow, may_allow_by,
    some_allow_applies,
};
pub use explain::{ConditionTrace, ResourceMiss, StatementTrace, explain};
pub use matcher::{ActionPattern, ResourcePattern};
pub use operator::{Comparison, Operator, OperatorKind, SetQualifier};
pub use principal::PrincipalEntry;
pub(crate) use scalar::{parse_bool, parse_network};
