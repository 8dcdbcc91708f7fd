//! Policy document errors: the path to the bad element plus a sentence saying what is wrong.
//!
//! Paths look like `Statement[1] (Sid "AllowApp").Condition.StringEqualz`; an error in the
//! document as a whole (for example invalid JSON) has an empty path.

use core::fmt;

/// A policy document was rejected while parsing.
///
/// `Display` renders `{path}: {what is wrong}` (or only the description when the error is about
/// the document as a whole), suitable for showing to the operator verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    path: String,
    kind: PolicyErrorKind,
}

impl PolicyError {
    /// The path to the offending element, e.g. `Statement[0].Action[2]`; empty for the document.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with the element.
    pub fn kind(&self) -> &PolicyErrorKind {
        &self.kind
    }

    /// The element at `path` is `found` where an `expected` belongs.
    pub(crate) fn wrong_type(path: &str, expected: &'static str, found: &super::json::Json) -> Self {
        Self::new(
            path,
            PolicyErrorKind::WrongType {
                expected,
                found: found.type_name(),
            },
        )
    }

    pub(crate) fn new(path: impl Into<String>, kind: PolicyErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.is_empty() {
            true => write!(f, "{}", self.kind),
            false => write!(f, "{}: {}", self.path, self.kind),
        }
    }
}

impl std::error::Error for PolicyError {}

/// What is wrong with a policy element.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyErrorKind {
    /// The text is not JSON (or contains a duplicated object key).
    #[error("the policy document is not valid JSON: {0}")]
    InvalidJson(String),
    /// A JSON value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the grammar requires here.
        expected: &'static str,
        /// The JSON type that was found.
        found: &'static str,
    },
    /// An element name the policy grammar does not know (names are case-sensitive).
    #[error("unknown element '{0}'")]
    UnknownElement(String),
    /// A required element is absent.
    #[error("missing required element '{0}'")]
    MissingElement(&'static str),
    /// Two mutually exclusive elements are both present.
    #[error("'{0}' and '{1}' cannot both be present in one statement")]
    ConflictingElements(&'static str, &'static str),
    /// An element that is not allowed in this kind of policy.
    #[error("'{element}' is not allowed in {policy}")]
    ElementNotAllowed {
        /// The element name.
        element: &'static str,
        /// The kind of policy, as words.
        policy: &'static str,
    },
    /// `NotPrincipal` in an `Allow` statement, which would trust every principal it does not
    /// name; IAM supports it only with `Deny`
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>).
    #[error(
        "'NotPrincipal' must be used with \"Effect\": \"Deny\" (with \"Allow\" it would trust every principal it does not name); name the principals in 'Principal' instead"
    )]
    NotPrincipalWithAllow,
    /// A list that must not be empty is empty.
    #[error("must contain at least one value")]
    EmptyList,
    /// `Version` names a grammar version we do not implement.
    #[error("unsupported policy version '{0}'; use \"2012-10-17\"")]
    UnsupportedVersion(String),
    /// `Effect` is neither `Allow` nor `Deny`.
    #[error("Effect must be \"Allow\" or \"Deny\", found '{0}'")]
    InvalidEffect(String),
    /// A `Sid` with a character other than an ASCII letter or digit (IAM: `[0-9A-Za-z]*`).
    #[error("invalid Sid '{0}': statement ids hold only the letters A-Z and a-z and the digits 0-9")]
    InvalidSid(String),
    /// Two statements share a `Sid`.
    #[error("duplicate Sid '{0}'; statement ids must be unique within a policy")]
    DuplicateSid(String),
    /// An action that is not `*` or `service:Action`.
    #[error("invalid action '{0}': expected \"*\" or \"service:ActionName\" (for example \"sts:AssumeRole\")")]
    InvalidAction(String),
    /// A resource that is not `*` or an ARN.
    #[error("invalid resource '{0}': expected \"*\" or an ARN starting with \"arn:\"")]
    InvalidResource(String),
    /// A Resource ARN whose partition is a pattern other than `*` alone (`aws*`), which names
    /// no partition; IAM refuses it with this sentence.
    #[error(
        "invalid resource '{resource}': Partition \"{partition}\" is not valid for resource \"{resource}\" (write the partition in full, such as aws or aws-us-gov, or \"*\" alone for every partition)"
    )]
    ResourcePartitionPattern {
        /// The resource as written.
        resource: String,
        /// Its partition segment.
        partition: String,
    },
    /// A Resource ARN with a wildcard in its service segment, or without one: "You can't use a
    /// wildcard in the service segment that identifies the AWS product"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>);
    /// IAM refuses it with this sentence.
    #[error(
        "invalid resource '{resource}': Resource vendor must be fully qualified and cannot contain regexes ({reason})"
    )]
    UnqualifiedResourceService {
        /// The resource as written.
        resource: String,
        /// What is wrong with the service segment.
        reason: &'static str,
    },
    /// A policy variable before the resource part of a Resource ARN (its sixth, colon-separated
    /// part), which IAM does not allow
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>).
    #[error(
        "policy variable in '{0}' before the resource part: a variable may only stand in the part after the fifth colon (not for the service, region or account)"
    )]
    VariableOutsideResourcePart(String),
    /// A principal type other than `AWS`, `Service`, `Federated` or `CanonicalUser`.
    #[error("unknown principal type '{0}'; use \"AWS\", \"Service\" or \"Federated\"")]
    UnknownPrincipalType(String),
    /// A principal value that cannot be interpreted.
    #[error("invalid principal '{value}': {reason}")]
    InvalidPrincipal {
        /// The value as written.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A condition operator name that is not known (names are case-sensitive): the name as
    /// written, closing quote included, and the known one it may be a misspelling of.
    #[error("unknown condition operator '{0}")]
    UnknownOperator(String),
    /// `Null` combined with `IfExists` or a set qualifier.
    #[error("the Null operator cannot be combined with IfExists, ForAnyValue or ForAllValues")]
    InvalidNullOperator,
    /// A condition key given twice under one operator, spelt in two cases: key names are
    /// case-insensitive, so it is one key (IAM Access Analyzer: "Duplicate keys with different
    /// case").
    #[error(
        "duplicate key \"{key}\": condition key names are case-insensitive, so it is the key \"{first}\" again; give each key once per operator"
    )]
    DuplicateConditionKey {
        /// The later spelling.
        key: String,
        /// The spelling given first.
        first: String,
    },
    /// `Bool` with more than one value (IAM Access Analyzer: "Invalid condition multiple
    /// Boolean").
    #[error(
        "{operator} takes a single value, \"true\" or \"false\", found {}: the condition key does not support multiple Boolean values (\"true\" and \"false\" together hold whenever the key is present: to test that, use \"Null\" with \"false\")",
        quoted_list(values)
    )]
    MultipleBoolValues {
        /// The operator as written.
        operator: String,
        /// The values as written.
        values: Vec<String>,
    },
    /// A condition value that does not fit its operator.
    #[error("invalid value '{value}' for {operator}: {reason}")]
    InvalidConditionValue {
        /// The operator as written.
        operator: String,
        /// The value as written.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A malformed `${...}` policy variable.
    #[error("invalid policy variable in '{value}': {reason}")]
    InvalidVariable {
        /// The text containing the variable.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
}

/// `["true", "false"]`: values as a JSON list shows them.
fn quoted_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    format!("[{}]", quoted.join(", "))
}
