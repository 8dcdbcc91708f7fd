//! The request being authorized: who is calling (`Principal`), the action, the resource and the
//! condition context keys.
//!
//! Context key names are case-insensitive in IAM
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>),
//! so they are stored ASCII-lowercased; values keep their case. The map is hashed with
//! foldhash: a context holds a few dozen keys, built and read on every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::wildcard::Pattern;

/// The most wildcard-matching steps ([`Pattern::matches_counting`]) one request's decisions
/// may take, over all the policies evaluated for it: about 5 ms on the 2-core development VM
/// (a step takes 3.5–6 ns, backtracking or automaton, ASCII or not). Both sides of a match
/// can be a caller's (a session policy's patterns, an Authorize call's context values), and
/// each match alone is bounded, but not their number: hundreds of patterns against fifty
/// 2,048-character values took 1.5 s of a worker thread. Real policies take a few thousand
/// steps; fifty `arn:…/*` patterns against a 2,048-character resource take 100,000.
pub(crate) const MAX_MATCH_STEPS: u64 = 1_000_000;

/// The caller being evaluated against a policy's `Principal` / `NotPrincipal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An AWS service acting on its own behalf, e.g. `rolesanywhere.amazonaws.com`.
    Service(String),
    /// A role session (role chaining).
    Aws {
        /// `arn:aws:iam::{account}:role/{path/}{name}` of the calling session's role.
        role_arn: String,
        /// `arn:aws:sts::{account}:assumed-role/{name}/{session}` when known.
        session_arn: Option<String>,
        /// The 12-digit account of the caller.
        account: String,
    },
}

/// The value of one context key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key such as `aws:SourceArn`.
    Single(String),
    /// A multi-valued key such as `aws:TagKeys`.
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice (one element for [`ContextValue::Single`]).
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::Single(v) => core::slice::from_ref(v),
            Self::Multi(v) => v,
        }
    }
}

/// Everything a policy can look at for one request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// Who is calling.
    pub principal: Principal,
    /// The action, e.g. `sts:AssumeRole` (matched case-insensitively).
    pub action: String,
    /// The resource ARN (matched case-sensitively).
    pub resource: String,
    keys: HashMap<String, ContextValue, foldhash::fast::RandomState>,
    /// Wildcard-matching steps taken for this request so far.
    match_steps: MatchSteps,
}

/// A step count that a shared `&RequestContext` adds to (an atomic, so that the context stays
/// `Sync` for the futures that hold it).
#[derive(Debug, Default)]
struct MatchSteps(AtomicU64);

impl Clone for MatchSteps {
    fn clone(&self) -> Self {
        Self(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl RequestContext {
    /// A context with no condition keys.
    pub fn new(principal: Principal, action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            principal,
            action: action.into(),
            resource: resource.into(),
            keys: HashMap::default(),
            match_steps: MatchSteps::default(),
        }
    }

    /// Whether `pattern` matches `input`, its steps counted against [`MAX_MATCH_STEPS`]. Once
    /// the bound is spent every further match answers `false` at once, which could make a
    /// `Deny` not apply: the evaluator refuses the decision instead of using it
    /// ([`Self::match_steps_exceeded`]).
    pub(crate) fn pattern_matches(&self, pattern: &Pattern, input: &str) -> bool {
        if self.match_steps_exceeded() {
            return false;
        }
        let mut steps = 0;
        let matched = pattern.matches_counting(input, &mut steps);
        self.match_steps.0.fetch_add(steps, Ordering::Relaxed);
        matched
    }

    /// Starts the count of matching steps afresh, for work of its own on a request already
    /// decided (the explanation of a denial): it must neither be cut short by the decision's
    /// steps nor add to them.
    pub(crate) fn restart_match_steps(&self) {
        self.match_steps.0.store(0, Ordering::Relaxed);
    }

    /// Whether this request's matches took more than [`MAX_MATCH_STEPS`]: its decisions are
    /// not to be trusted ([`super::Outcome::TooMuchMatching`]).
    pub fn match_steps_exceeded(&self) -> bool {
        self.match_steps.0.load(Ordering::Relaxed) > MAX_MATCH_STEPS
    }

    /// Makes `action` the action asked about, in the buffer of the previous one: a request
    /// checks several actions in turn (`sts:AssumeRole`, `sts:TagSession`…) without an
    /// allocation for each.
    pub fn set_action(&mut self, action: &str) {
        self.action.clear();
        self.action.push_str(action);
    }

    /// Set a single-valued key (replacing any earlier value). Key names are case-insensitive;
    /// a `String` key is lowercased in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.keys.insert(lowercase(key), ContextValue::Single(value.into()));
    }

    /// Set a multi-valued key (replacing any earlier value). An empty list behaves exactly like
    /// an absent key for every operator, `Null` included.
    pub fn insert_multi(&mut self, key: impl Into<String>, values: Vec<String>) {
        self.keys.insert(lowercase(key), ContextValue::Multi(values));
    }

    /// Room for `additional` more keys without growing the map.
    pub fn reserve(&mut self, additional: usize) {
        self.keys.reserve(additional);
    }

    /// Look up a key, case-insensitively.
    pub fn value(&self, key: &str) -> Option<&ContextValue> {
        match key.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            true => self.keys.get(&fold_key(key)),
            false => self.keys.get(key),
        }
    }

    /// All keys (lowercased) and values, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Look up a key that is already lowercased (policy keys are lowercased at parse time);
    /// allocation-free.
    pub(crate) fn value_lower(&self, lower_key: &str) -> Option<&ContextValue> {
        self.keys.get(lower_key)
    }
}

fn lowercase(key: impl Into<String>) -> String {
    let mut key = key.into();
    if key.is_ascii() {
        key.make_ascii_lowercase();
        return key;
    }
    fold_key(&key)
}

/// A context key as keys are compared, without regard to case: IAM's condition keys are
/// case-insensitive, and a tag key in them (`aws:PrincipalTag/Äbt`) in every script, as
/// session tag keys are ([`same_key`], which `session::same_tag_key` is). Policy keys,
/// variables and the request's keys all go through this.
pub(crate) fn fold_key(key: &str) -> String {
    match key.is_ascii() {
        true => key.to_ascii_lowercase(),
        false => key.chars().flat_map(char::to_lowercase).collect(),
    }
}

/// Whether `a` and `b` are one key as [`fold_key`] compares them, without allocating.
pub fn same_key(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let mut ctx = RequestContext::new(Principal::Service("x".into()), "a:b", "*");
        ctx.insert("aws:PrincipalTag/x509Subject/CN", "Web-1");
        assert_eq!(
            ctx.value("AWS:PRINCIPALTAG/X509SUBJECT/CN"),
            Some(&ContextValue::Single("Web-1".into()))
        );
        assert_eq!(
            ctx.value_lower("aws:principaltag/x509subject/cn")
                .map(ContextValue::as_slice),
            Some(&["Web-1".to_owned()][..])
        );
        ctx.insert_multi("aws:TagKeys", vec!["a".into(), "b".into()]);
        assert_eq!(ctx.value("aws:tagkeys").map(|v| v.as_slice().len()), Some(2));
        assert_eq!(ctx.value("aws:missing"), None);
    }
}
