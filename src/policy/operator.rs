//! Condition operator names: the operator table, `IfExists` suffix and `ForAnyValue:` /
//! `ForAllValues:` qualifiers
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>).
//! Names are case-sensitive, as in IAM; an unknown name is a parse error.

use core::cmp::Ordering;

use super::error::{PolicyError, PolicyErrorKind};

/// A parsed condition operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The operator family and comparison.
    pub kind: OperatorKind,
    /// A negated operator (`StringNotEquals`, `NotIpAddress`, ...).
    pub negated: bool,
    /// The `IfExists` suffix.
    pub if_exists: bool,
    /// The `ForAnyValue:` / `ForAllValues:` prefix.
    pub qualifier: Option<SetQualifier>,
    name: String,
}

/// Operator families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorKind {
    /// `StringEquals` / `StringNotEquals`.
    StringEquals,
    /// `StringEqualsIgnoreCase` / `StringNotEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringLike` / `StringNotLike`.
    StringLike,
    /// `Numeric*`.
    Numeric(Comparison),
    /// `Date*`.
    Date(Comparison),
    /// `Bool`.
    Bool,
    /// `BinaryEquals`.
    BinaryEquals,
    /// `IpAddress` / `NotIpAddress`.
    IpAddress,
    /// `ArnEquals`, `ArnLike`, `ArnNotEquals`, `ArnNotLike`.
    Arn,
    /// `Null`.
    Null,
}

/// How a request value is compared to a policy value (`request <op> policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `...Equals` (and `...NotEquals` with [`Operator::negated`]).
    Equals,
    /// `...LessThan`.
    LessThan,
    /// `...LessThanEquals`.
    LessThanEquals,
    /// `...GreaterThan`.
    GreaterThan,
    /// `...GreaterThanEquals`.
    GreaterThanEquals,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetQualifier {
    /// At least one request value must satisfy the operator.
    ForAnyValue,
    /// Every request value must satisfy the operator.
    ForAllValues,
}

impl Operator {
    /// The operator name as written.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub(crate) fn parse(name: &str, path: &str) -> Result<Self, PolicyError> {
        let unknown = || {
            let base = name.rsplit_once(':').map_or(name, |(_, base)| base);
            let base = base.strip_suffix("IfExists").unwrap_or(base);
            let known = BASE_OPERATORS.iter().map(|(known, ..)| *known);
            let guess = crate::error::closest_name(base, known).filter(|guess| *guess != base);
            let typed = match guess {
                Some(guess) => format!("{name}' (did you mean '{}'?)", name.replacen(base, guess, 1)),
                None => format!("{name}'"),
            };
            PolicyError::new(path, PolicyErrorKind::UnknownOperator(typed))
        };
        let (qualifier, rest) = match name.split_once(':') {
            Some(("ForAnyValue", rest)) => (Some(SetQualifier::ForAnyValue), rest),
            Some(("ForAllValues", rest)) => (Some(SetQualifier::ForAllValues), rest),
            Some(_) => return Err(unknown()),
            None => (None, name),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (kind, negated) = base_operator(base).ok_or_else(unknown)?;
        if kind == OperatorKind::Null && (if_exists || qualifier.is_some()) {
            return Err(PolicyError::new(path, PolicyErrorKind::InvalidNullOperator));
        }
        Ok(Self {
            kind,
            negated,
            if_exists,
            qualifier,
            name: name.to_owned(),
        })
    }
}

/// The operator table: each base operator's name, kind and whether it is the negated form.
const BASE_OPERATORS: [(&str, OperatorKind, bool); 27] = {
    use Comparison::*;
    use OperatorKind::*;
    [
        ("StringEquals", StringEquals, false),
        ("StringNotEquals", StringEquals, true),
        ("StringEqualsIgnoreCase", StringEqualsIgnoreCase, false),
        ("StringNotEqualsIgnoreCase", StringEqualsIgnoreCase, true),
        ("StringLike", StringLike, false),
        ("StringNotLike", StringLike, true),
        ("NumericEquals", Numeric(Equals), false),
        ("NumericNotEquals", Numeric(Equals), true),
        ("NumericLessThan", Numeric(LessThan), false),
        ("NumericLessThanEquals", Numeric(LessThanEquals), false),
        ("NumericGreaterThan", Numeric(GreaterThan), false),
        ("NumericGreaterThanEquals", Numeric(GreaterThanEquals), false),
        ("DateEquals", Date(Equals), false),
        ("DateNotEquals", Date(Equals), true),
        ("DateLessThan", Date(LessThan), false),
        ("DateLessThanEquals", Date(LessThanEquals), false),
        ("DateGreaterThan", Date(GreaterThan), false),
        ("DateGreaterThanEquals", Date(GreaterThanEquals), false),
        ("Bool", Bool, false),
        ("BinaryEquals", BinaryEquals, false),
        ("IpAddress", IpAddress, false),
        ("NotIpAddress", IpAddress, true),
        ("ArnEquals", Arn, false),
        ("ArnLike", Arn, false),
        ("ArnNotEquals", Arn, true),
        ("ArnNotLike", Arn, true),
        ("Null", Null, false),
    ]
};

/// The kind of the base operator `name`, and whether it is the negated form.
fn base_operator(name: &str) -> Option<(OperatorKind, bool)> {
    BASE_OPERATORS
        .iter()
        .find(|(known, ..)| *known == name)
        .map(|(_, kind, negated)| (*kind, *negated))
}

impl OperatorKind {
    /// For `Numeric*` / `Date*`: whether `ordering` (`request.cmp(policy)`) satisfies the
    /// comparison; `false` for other families.
    pub(crate) fn compare(self, ordering: Ordering) -> bool {
        let comparison = match self {
            OperatorKind::Numeric(c) | OperatorKind::Date(c) => c,
            _ => return false,
        };
        match comparison {
            Comparison::Equals => ordering == Ordering::Equal,
            Comparison::LessThan => ordering == Ordering::Less,
            Comparison::LessThanEquals => ordering != Ordering::Greater,
            Comparison::GreaterThan => ordering == Ordering::Greater,
            Comparison::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}
