//! The request being authorized: who is calling (`Principal`), the action, the resource and the
//! condition context keys.
//!
//! Context key names are case-insensitive in IAM
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>),
//! so they are stored ASCII-lowercased; values keep their case.
//!
//! Keys that many requests have in common (a certificate's principal tags, its anchor) can be
//! built once as [`ContextKeys`] and shared: a request then adds only its own keys (time,
//! source address) on top.

use std::collections::HashMap;
use std::sync::Arc;

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

/// A set of condition keys (lowercased names) and their values. Hashed with foldhash: a
/// context holds a few dozen keys, built and read on every request.
#[derive(Clone, Debug, Default)]
pub struct ContextKeys(HashMap<String, ContextValue, foldhash::fast::RandomState>);

impl ContextKeys {
    /// Set a single-valued key (replacing any earlier value). Key names are case-insensitive.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.0
            .insert(key.to_ascii_lowercase(), ContextValue::Single(value.into()));
    }

    /// Set a multi-valued key (replacing any earlier value). An empty list behaves exactly like
    /// an absent key for every operator, `Null` included.
    pub fn insert_multi(&mut self, key: &str, values: Vec<String>) {
        self.0.insert(key.to_ascii_lowercase(), ContextValue::Multi(values));
    }

    fn get(&self, lower_key: &str) -> Option<&ContextValue> {
        self.0.get(lower_key)
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
    /// This request's own keys; they take precedence over `shared`.
    keys: ContextKeys,
    shared: Option<Arc<ContextKeys>>,
}

impl RequestContext {
    /// A context with no condition keys.
    pub fn new(principal: Principal, action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            principal,
            action: action.into(),
            resource: resource.into(),
            keys: ContextKeys::default(),
            shared: None,
        }
    }

    /// A context starting with the keys of `shared`, built once for many requests.
    pub fn with_shared(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
        shared: Arc<ContextKeys>,
    ) -> Self {
        Self {
            shared: Some(shared),
            ..Self::new(principal, action, resource)
        }
    }

    /// Set a single-valued key (replacing any earlier value). Key names are case-insensitive.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.keys.insert(key, value);
    }

    /// Set a multi-valued key (replacing any earlier value). An empty list behaves exactly like
    /// an absent key for every operator, `Null` included.
    pub fn insert_multi(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert_multi(key, values);
    }

    /// Look up a key, case-insensitively.
    pub fn value(&self, key: &str) -> Option<&ContextValue> {
        match key.bytes().any(|b| b.is_ascii_uppercase()) {
            true => self.value_lower(&key.to_ascii_lowercase()),
            false => self.value_lower(key),
        }
    }

    /// All keys (lowercased) and values, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        let own = self.keys.0.iter();
        let shared = self
            .shared
            .iter()
            .flat_map(|s| s.0.iter())
            .filter(|(k, _)| !self.keys.0.contains_key(*k));
        own.chain(shared).map(|(k, v)| (k.as_str(), v))
    }

    /// Look up a key that is already lowercased (policy keys are lowercased at parse time);
    /// allocation-free.
    pub(crate) fn value_lower(&self, lower_key: &str) -> Option<&ContextValue> {
        self.keys
            .get(lower_key)
            .or_else(|| self.shared.as_deref().and_then(|s| s.get(lower_key)))
    }
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

    #[test]
    fn own_keys_override_shared_keys() {
        let mut shared = ContextKeys::default();
        shared.insert("aws:SourceArn", "shared-arn");
        shared.insert("aws:PrincipalTag/team", "blue");
        let mut ctx = RequestContext::with_shared(Principal::Service("x".into()), "a:b", "*", Arc::new(shared));
        ctx.insert("AWS:SOURCEARN", "own-arn");
        assert_eq!(
            ctx.value("aws:sourcearn"),
            Some(&ContextValue::Single("own-arn".into()))
        );
        assert_eq!(
            ctx.value("aws:PrincipalTag/Team"),
            Some(&ContextValue::Single("blue".into()))
        );
        let mut keys: Vec<&str> = ctx.keys().map(|(k, _)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["aws:principaltag/team", "aws:sourcearn"]);
        assert_eq!(
            ctx.keys()
                .find(|(k, _)| *k == "aws:sourcearn")
                .map(|(_, v)| v.as_slice()[0].as_str()),
            Some("own-arn")
        );
    }
}
