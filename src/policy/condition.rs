//! The `Condition` element: operators, their values and how they hold for a request
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>).
//!
//! Rules implemented (each stated once, here):
//! - Operators AND together, keys within an operator AND together, the values listed for one
//!   key OR together.
//! - Key names are case-insensitive; values are case-sensitive except for `...IgnoreCase`.
//! - **Missing key** ("If the key that you specify in a policy condition is not present in the
//!   request context, the values do not match and the condition is false. If the policy condition
//!   requires that the key is not matched, such as StringNotLike or ArnNotLike, and the right key
//!   is not present, the condition is true." — same page): a positive operator is false, a
//!   negated operator (`StringNotEquals`, `StringNotEqualsIgnoreCase`, `StringNotLike`,
//!   `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`, `ArnNotEquals`, `ArnNotLike`) is true.
//!   With the `IfExists` suffix a missing key makes the condition true for every operator.
//! - `Null`: `true` holds when the key is absent, `false` when it is present.
//! - Set qualifiers
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>):
//!   `ForAllValues:` holds when every request value satisfies the operator, and therefore also
//!   when the key is missing or has no values; `ForAnyValue:` holds when at least one request
//!   value does, so it is false for a missing or empty key (true with `IfExists`). For a negated
//!   operator "satisfies" means "matches none of the policy values".
//! - A multi-valued key with an unqualified operator: a positive operator holds if **any**
//!   request value matches; a negated operator holds only if **no** request value matches (the
//!   negation of the positive form). An empty multi-valued key counts as missing.
//! - A request value that cannot be read as the operator's type (a number, date, IP address,
//!   base64, ARN) matches no policy value, so positive operators are false for it and negated
//!   operators true — the same "values do not match" rule as a missing key.
//! - `ArnEquals` and `ArnLike` are identical in IAM: each of the six `:`-separated components is
//!   matched separately with `*`/`?` wildcards, case-sensitively.
//! - Policy variables are substituted in string, ARN and `Bool` operator values (2012-10-17
//!   only; "You can use a policy variable with the Boolean condition operator", same page); a
//!   value with an unresolvable variable, or a `Bool` value that resolves to neither `true`
//!   nor `false`, matches nothing.

use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;

use super::context::{ContextValue, RequestContext, same_key};
use super::error::{PolicyError, PolicyErrorKind};
use super::json::Json;
use super::operator::{Operator, OperatorKind, SetQualifier};
use super::scalar::{Number, eq_ignore_case, parse_bool, parse_date, parse_network};
use super::variables::Template;
use super::wildcard::{Case, Pattern};

/// One `operator: { key: values }` test.
#[derive(Clone, Debug)]
pub struct Condition {
    operator: Operator,
    key: String,
    key_lower: String,
    raw_values: Vec<String>,
    values: Values,
}

impl Condition {
    /// The operator.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// The context key as written in the policy.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The context keys of the policy variables in its values, lowercased.
    pub fn variable_keys(&self) -> impl Iterator<Item = &str> {
        let items: &[TextValue] = match &self.values {
            Values::Text(items) => items,
            _ => &[],
        };
        items
            .iter()
            .filter_map(|item| match item {
                TextValue::Template(t) => Some(t.variable_keys()),
                _ => None,
            })
            .flatten()
    }

    /// The policy values as written.
    pub fn raw_values(&self) -> &[String] {
        &self.raw_values
    }

    /// Whether the condition holds for `ctx` (see the module docs for the rules).
    pub fn holds(&self, ctx: &RequestContext) -> bool {
        let request = ctx.value_lower(&self.key_lower);
        if self.operator.kind == OperatorKind::Null {
            let present = request.is_some_and(|v| !v.as_slice().is_empty());
            return self.values.null_expectations().any(|want_null| want_null != present);
        }
        // With a set qualifier an empty string is an empty set, as no value at all: IAM's
        // "If the key values in the request resolve to an empty data set (for example, an
        // empty string), ForAllValues returns true, and ForAnyValue returns false".
        let empty_set =
            |v: &[String]| v.is_empty() || (self.operator.qualifier.is_some() && v.iter().all(String::is_empty));
        let values = request.map(ContextValue::as_slice).filter(|v| !empty_set(v));
        let Some(values) = values else {
            return self.holds_for_missing_key();
        };
        let negated = self.operator.negated;
        let satisfies = |v: &String| self.values.any_matches(self.operator.kind, ctx, v) != negated;
        match (self.operator.qualifier, negated) {
            (Some(SetQualifier::ForAnyValue), _) | (None, false) => values.iter().any(satisfies),
            (Some(SetQualifier::ForAllValues), _) | (None, true) => values.iter().all(satisfies),
        }
    }

    /// Whether the policy variables of its values, if any, resolve in `ctx`. An `...IfExists`
    /// condition whose key is absent holds without reading its values: its variables do not
    /// matter (IAM's advice for variables that may not resolve is `...IfExists`).
    pub fn resolves(&self, ctx: &RequestContext) -> bool {
        if self.operator.if_exists && ctx.value_lower(&self.key_lower).is_none_or(|v| v.as_slice().is_empty()) {
            return true;
        }
        match &self.values {
            Values::Text(items) => items.iter().all(|item| match item {
                TextValue::Template(t) => t.resolves(ctx),
                TextValue::Exact(_) | TextValue::Like(_) | TextValue::Arn(_) => true,
            }),
            _ => true,
        }
    }

    /// The policy values after substituting policy variables, for explanations; unresolvable
    /// values are shown as written with a note.
    pub fn resolved_values(&self, ctx: &RequestContext) -> Vec<String> {
        match &self.values {
            Values::Text(items) => items
                .iter()
                .zip(&self.raw_values)
                .map(|(item, raw)| match item {
                    TextValue::Template(t) => t
                        .resolve_text(ctx)
                        .unwrap_or_else(|| format!("{raw} (unresolved variable)")),
                    _ => raw.clone(),
                })
                .collect(),
            _ => self.raw_values.clone(),
        }
    }

    /// The rule for a key that is absent (or multi-valued with no values).
    fn holds_for_missing_key(&self) -> bool {
        match (self.operator.if_exists, self.operator.qualifier) {
            (true, _) => true,
            (false, Some(SetQualifier::ForAllValues)) => true,
            (false, Some(SetQualifier::ForAnyValue)) => false,
            (false, None) => self.operator.negated,
        }
    }
}

/// Parse a whole `Condition` element (an object of operator → object of key → values).
pub(crate) fn parse_block(json: &Json, variables: bool, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(operators) = json else {
        return Err(PolicyError::wrong_type(path, "an object of condition operators", json));
    };
    let mut out = Vec::new();
    for (name, keys) in operators {
        let op_path = format!("{path}.{name}");
        let operator = Operator::parse(name, &op_path)?;
        let Json::Object(keys) = keys else {
            return Err(PolicyError::wrong_type(&op_path, "an object of condition keys", keys));
        };
        if keys.is_empty() {
            return Err(PolicyError::new(op_path, PolicyErrorKind::EmptyList));
        }
        for (i, (key, values)) in keys.iter().enumerate() {
            let key_path = format!("{op_path}.{key}");
            check_key_once(&keys[..i], key, &key_path)?;
            out.push(Condition::parse(operator.clone(), key, values, variables, &key_path)?);
        }
    }
    Ok(out)
}

/// A condition key appears once per operator. Key names are case-insensitive, so `APP:K` after
/// `app:k` is the same key again (IAM Access Analyzer: "Duplicate keys with different case"),
/// as the JSON parser refuses two `app:k` (IAM: "Duplicate keys"). Read as two conditions
/// ANDed, it would say something its reader may not see.
fn check_key_once(earlier: &[(String, Json)], key: &str, path: &str) -> Result<(), PolicyError> {
    match earlier.iter().find(|(e, _)| same_key(e, key)) {
        Some((first, _)) => Err(PolicyError::new(
            path,
            PolicyErrorKind::DuplicateConditionKey {
                key: key.to_owned(),
                first: first.clone(),
            },
        )),
        None => Ok(()),
    }
}

/// A `Bool` condition takes one value: a Boolean key holds one value, so a list is either
/// redundant (`["true", "true"]`) or, with both values, holds whenever the key is present — a
/// `Null` test written as something else. IAM Access Analyzer: "Invalid condition multiple
/// Boolean: The condition key does not support multiple Boolean values."
fn check_single_bool(operator: &Operator, values: &[String], path: &str) -> Result<(), PolicyError> {
    match operator.kind == OperatorKind::Bool && values.len() > 1 {
        true => Err(PolicyError::new(
            path,
            PolicyErrorKind::MultipleBoolValues {
                operator: operator.as_str().to_owned(),
                values: values.to_vec(),
            },
        )),
        false => Ok(()),
    }
}

/// Typed policy values, compiled at parse time.
#[derive(Clone, Debug)]
enum Values {
    Text(Vec<TextValue>),
    Numbers(Vec<Number>),
    /// Unix time in nanoseconds.
    Dates(Vec<i128>),
    Bools(Vec<bool>),
    Bytes(Vec<Vec<u8>>),
    Networks(Vec<IpNet>),
}

#[derive(Clone, Debug)]
enum TextValue {
    /// Exact text, as written (`IgnoreCase` operators fold both sides as they compare).
    Exact(String),
    Like(Pattern),
    Arn(ArnPattern),
    Template(Template),
}

/// `*` or six component patterns.
#[derive(Clone, Debug)]
enum ArnPattern {
    Any,
    Components(Vec<Pattern>),
}

impl Condition {
    fn parse(operator: Operator, key: &str, json: &Json, variables: bool, path: &str) -> Result<Self, PolicyError> {
        let raw_values = scalar_list(json, path)?;
        check_single_bool(&operator, &raw_values, path)?;
        let mut values = Values::empty(operator.kind);
        for (i, raw) in raw_values.iter().enumerate() {
            let value_path = match json {
                Json::Array(_) => format!("{path}[{i}]"),
                _ => path.to_owned(),
            };
            values.push(&operator, raw, variables, &value_path)?;
        }
        Ok(Self {
            operator,
            key: key.to_owned(),
            key_lower: super::context::fold_key(key),
            raw_values,
            values,
        })
    }
}

impl Values {
    fn empty(kind: OperatorKind) -> Self {
        match kind {
            OperatorKind::StringEquals
            | OperatorKind::StringEqualsIgnoreCase
            | OperatorKind::StringLike
            | OperatorKind::Arn
            // Text, as they may hold policy variables: each plain one is checked to be a boolean.
            | OperatorKind::Bool => Self::Text(Vec::new()),
            OperatorKind::Numeric(_) => Self::Numbers(Vec::new()),
            OperatorKind::Date(_) => Self::Dates(Vec::new()),
            OperatorKind::Null => Self::Bools(Vec::new()),
            OperatorKind::BinaryEquals => Self::Bytes(Vec::new()),
            OperatorKind::IpAddress => Self::Networks(Vec::new()),
        }
    }

    /// Parse and append one policy value.
    fn push(&mut self, operator: &Operator, raw: &str, variables: bool, path: &str) -> Result<(), PolicyError> {
        let invalid = |reason| {
            PolicyError::new(
                path,
                PolicyErrorKind::InvalidConditionValue {
                    operator: operator.as_str().to_owned(),
                    value: raw.to_owned(),
                    reason,
                },
            )
        };
        match self {
            Self::Text(items) => {
                let template = match variables {
                    true => Template::parse(raw, path)?,
                    false => None,
                };
                let item = match (template, operator.kind) {
                    (Some(t), _) => TextValue::Template(t),
                    // Kept as written: the comparison folds both sides one character at a time
                    // (`str::to_lowercase` would apply the final-sigma rule to this side only).
                    (None, OperatorKind::StringEqualsIgnoreCase) => TextValue::Exact(raw.to_owned()),
                    (None, OperatorKind::StringLike) => TextValue::Like(Pattern::compile(raw, Case::Sensitive)),
                    (None, OperatorKind::Arn) => TextValue::Arn(
                        ArnPattern::compile(Pattern::compile(raw, Case::Sensitive)).ok_or_else(|| {
                            invalid(
                                "expected \"*\" or an ARN of the form arn:partition:service:region:account:resource",
                            )
                        })?,
                    ),
                    (None, OperatorKind::Bool) => match parse_bool(raw) {
                        Some(_) => TextValue::Exact(raw.to_owned()),
                        None => return Err(invalid("expected true or false")),
                    },
                    (None, _) => TextValue::Exact(raw.to_owned()),
                };
                items.push(item);
            }
            Self::Numbers(items) => items.push(Number::parse(raw).ok_or_else(|| invalid("expected a number"))?),
            Self::Dates(items) => {
                items.push(parse_date(raw).ok_or_else(|| {
                    invalid("expected an ISO 8601 date such as 2026-01-01T00:00:00Z or epoch seconds")
                })?)
            }
            Self::Bools(items) => items.push(parse_bool(raw).ok_or_else(|| invalid("expected true or false"))?),
            Self::Bytes(items) => items.push(
                base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|_| invalid("expected base64"))?,
            ),
            Self::Networks(items) => items.push(
                parse_network(raw).ok_or_else(|| invalid("expected an IP address or CIDR such as 203.0.113.0/24"))?,
            ),
        }
        Ok(())
    }

    /// Whether `request` matches at least one policy value (the positive sense of the operator).
    fn any_matches(&self, kind: OperatorKind, ctx: &RequestContext, request: &str) -> bool {
        match self {
            Self::Text(items) => items.iter().any(|item| text_matches(item, kind, ctx, request)),
            Self::Numbers(items) => Number::parse(request)
                .is_some_and(|r| items.iter().any(|p| r.compare(*p).is_some_and(|ord| kind.compare(ord)))),
            Self::Dates(items) => parse_date(request).is_some_and(|r| items.iter().any(|p| kind.compare(r.cmp(p)))),
            Self::Bools(items) => parse_bool(request).is_some_and(|r| items.contains(&r)),
            Self::Bytes(items) => base64::engine::general_purpose::STANDARD
                .decode(request)
                .is_ok_and(|r| items.contains(&r)),
            Self::Networks(items) => request
                .parse::<IpAddr>()
                .map(|ip| ip.to_canonical())
                .is_ok_and(|ip| items.iter().any(|net| net.contains(&ip))),
        }
    }

    /// For `Null`: the listed expectations (`true` = key must be absent; `Null` takes no
    /// policy variables).
    fn null_expectations(&self) -> impl Iterator<Item = bool> + '_ {
        let items: &[bool] = match self {
            Self::Bools(items) => items,
            _ => &[],
        };
        items.iter().copied()
    }
}

/// One text policy value against one request value.
fn text_matches(item: &TextValue, kind: OperatorKind, ctx: &RequestContext, request: &str) -> bool {
    match item {
        TextValue::Exact(policy) => match kind {
            OperatorKind::StringEqualsIgnoreCase => eq_ignore_case(request, policy),
            OperatorKind::Bool => same_bool(request, policy),
            _ => request == policy,
        },
        TextValue::Like(pattern) => ctx.pattern_matches(pattern, request),
        TextValue::Arn(pattern) => pattern.matches(ctx, request),
        TextValue::Template(template) => match kind {
            OperatorKind::StringLike => template
                .resolve_pattern(ctx, Case::Sensitive)
                .is_some_and(|p| ctx.pattern_matches(&p, request)),
            OperatorKind::Arn => template
                .resolve_pattern(ctx, Case::Sensitive)
                .and_then(ArnPattern::compile)
                .is_some_and(|p| p.matches(ctx, request)),
            OperatorKind::StringEqualsIgnoreCase => {
                template.resolve_text(ctx).is_some_and(|p| eq_ignore_case(request, &p))
            }
            OperatorKind::Bool => template.resolve_text(ctx).is_some_and(|p| same_bool(request, &p)),
            _ => template.resolve_text(ctx).is_some_and(|p| p == request),
        },
    }
}

/// `Bool`: the request value and the policy value are the same boolean (`true` and `false`
/// in any case); text that is neither matches nothing.
fn same_bool(request: &str, policy: &str) -> bool {
    parse_bool(request).is_some_and(|r| parse_bool(policy) == Some(r))
}

impl ArnPattern {
    /// `*`, or a pattern with six `:`-separated components starting with `arn`; wildcards
    /// stay within their segment unless a `*` ends it (see [`Pattern::within_arn_segments`]).
    fn compile(pattern: Pattern) -> Option<Self> {
        if pattern.is_match_all() {
            return Some(Self::Any);
        }
        let parts = pattern.within_arn_segments().split_colons(6);
        let valid = parts.len() == 6 && parts.first().is_some_and(|p| p.matches("arn"));
        valid.then_some(Self::Components(parts))
    }

    /// Component-wise match; a request value with fewer than six components is not an ARN.
    fn matches(&self, ctx: &RequestContext, request: &str) -> bool {
        let Self::Components(parts) = self else {
            return true;
        };
        let mut components = request.splitn(6, ':');
        let all = parts
            .iter()
            .all(|p| components.next().is_some_and(|c| ctx.pattern_matches(p, c)));
        all && components.next().is_none()
    }
}

/// Condition values: a scalar or an array of scalars, as text.
fn scalar_list(json: &Json, path: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: &Json, path: &str| match v {
        Json::String(s) | Json::Number(s) => Ok(s.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(PolicyError::wrong_type(path, "a string, number or boolean", other)),
    };
    match json {
        Json::Array(items) if items.is_empty() => Err(PolicyError::new(path, PolicyErrorKind::EmptyList)),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v, &format!("{path}[{i}]")))
            .collect(),
        other => Ok(vec![scalar(other, path)?]),
    }
}
