//! The IAM policy engine: parse policy documents, evaluate them for a request, explain why.
//!
//! Pure code: no I/O and no clock reads (the caller puts `aws:CurrentTime` / `aws:EpochTime`
//! into the [`RequestContext`]). Documents are parsed and precompiled once at config load
//! ([`PolicyDocument::parse`]); [`evaluate`] runs per request.
//!
//! - `document`: the grammar, strict parsing with element paths in errors.
//! - `principal`, `matcher`, `wildcard`: `Principal`, `Action`, `Resource` matching.
//! - `condition`: condition operators and the missing-key / set-qualifier rules.
//! - `variables`: `${...}` policy variables.
//! - `context`: the request context.
//! - `evaluate`: deny-wins evaluation and session-policy intersection.
//! - `explain`: a full trace for operators.
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
mod principal;
mod variables;
mod wildcard;

#[cfg(test)]
mod tests;

pub use condition::{Comparison, Condition, Operator, OperatorKind, SetQualifier};
pub use context::{ContextValue, Principal, RequestContext};
pub use document::{
    Effect, ListMatch, PolicyDocument, PolicyKind, PrincipalMatch, Statement, Version,
};
pub use error::{PolicyError, PolicyErrorKind};
pub use evaluate::{
    Decision, Outcome, PermissionDecision, StatementRef, evaluate, evaluate_permissions,
};
pub use explain::{ConditionTrace, StatementTrace, explain};
pub use matcher::{ActionPattern, ResourcePattern};
pub use principal::PrincipalEntry;
