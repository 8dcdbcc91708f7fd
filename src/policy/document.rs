//! Parsing a policy document into typed, precompiled statements
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>).
//!
//! Parsing is strict: unknown or duplicated element names, wrong JSON types, empty lists,
//! conflicting elements (`Action` with `NotAction`, ...) and unknown condition operators are
//! errors that name the path to the element, so a bad policy is refused at config load rather
//! than silently evaluated differently from how it reads.

use std::sync::Arc;

use super::condition::{self, Condition};
use super::context::Principal;
use super::error::{PolicyError, PolicyErrorKind};
use super::json::Json;
use super::matcher::{ActionPattern, ResourcePattern};
use super::principal::{self, PrincipalEntry};

/// Which grammar a document is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A role trust policy: `Principal` or `NotPrincipal` required; `Resource` and
    /// `NotResource` refused, as IAM refuses them (the resource is always the role).
    Trust,
    /// A permission, session or managed policy: `Principal` forbidden; `Resource` or
    /// `NotResource` required.
    Identity,
}

/// The policy language version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `"2012-10-17"`: policy variables are substituted.
    V2012_10_17,
    /// `"2008-10-17"` or no `Version`: `${...}` is plain text.
    V2008_10_17,
}

/// A parsed policy document. Cheap to clone (the source text is shared).
#[derive(Clone, Debug)]
pub struct PolicyDocument {
    source: Arc<str>,
    kind: PolicyKind,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Grants, unless something denies.
    Allow,
    /// Denies, overriding any allow.
    Deny,
}

/// One statement.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Shared with every [`super::StatementRef`] naming it (a refcount, not a copy, on each
    /// decision).
    pub(crate) sid: Option<std::sync::Arc<str>>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<PrincipalMatch>,
    pub(crate) action: ListMatch<ActionPattern>,
    pub(crate) resource: Option<ListMatch<ResourcePattern>>,
    pub(crate) conditions: Vec<Condition>,
}

/// `Principal` (matches the listed callers) or `NotPrincipal` (matches all but those it
/// exempts: a role session when it names its account, role and session, see
/// [`PrincipalMatch::exempts`]).
#[derive(Clone, Debug)]
pub struct PrincipalMatch {
    /// `true` for `NotPrincipal`.
    pub negated: bool,
    /// The listed principals.
    pub entries: Vec<PrincipalEntry>,
}

impl PrincipalMatch {
    /// Whether these entries, as a `NotPrincipal`, exempt `principal` from its `Deny`. For a
    /// role session AWS "might validate the account first, then the role, and then the
    /// assumed-role user", denying at the first level the list leaves out
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>):
    /// the session is exempt only when its account, its role and its session ARN are all
    /// listed (or `"*"` is). Deciding on the session ARN alone would let through a session AWS
    /// may deny.
    pub fn exempts(&self, principal: &Principal) -> bool {
        let listed = |level: fn(&PrincipalEntry) -> bool| self.entries.iter().any(|e| level(e) && e.matches(principal));
        if listed(|e| matches!(e, PrincipalEntry::Everyone)) {
            return true;
        }
        match principal {
            Principal::Aws { session_arn, .. } => {
                listed(|e| matches!(e, PrincipalEntry::Account { .. }))
                    && listed(|e| matches!(e, PrincipalEntry::Role(_)))
                    && (session_arn.is_none() || listed(|e| matches!(e, PrincipalEntry::AssumedRole(_))))
            }
            Principal::Service(_) => listed(|_| true),
        }
    }
}

/// `Action`/`Resource` (matches the listed patterns) or `NotAction`/`NotResource` (matches
/// everything else).
#[derive(Clone, Debug)]
pub struct ListMatch<T> {
    /// `true` for the `Not...` form.
    pub negated: bool,
    /// The patterns.
    pub patterns: Vec<T>,
}

impl PolicyDocument {
    /// Parse and validate `json` as a policy of `kind`.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let root =
            Json::parse(json).map_err(|e| PolicyError::new("", PolicyErrorKind::InvalidJson(within_policy(&e))))?;
        let Json::Object(fields) = root else {
            return Err(PolicyError::wrong_type("", "a JSON object", &root));
        };
        let mut version = Version::V2008_10_17;
        let mut id = None;
        let mut statement = None;
        for (name, value) in &fields {
            match name.as_str() {
                "Version" => version = parse_version(value)?,
                "Id" => id = Some(string(value, "Id")?.to_owned()),
                "Statement" => statement = Some(value),
                other => {
                    return Err(PolicyError::new("", PolicyErrorKind::UnknownElement(other.to_owned())));
                }
            }
        }
        let statement = statement.ok_or_else(|| PolicyError::new("", PolicyErrorKind::MissingElement("Statement")))?;
        let items: Vec<(String, &Json)> = match statement {
            Json::Array(items) if items.is_empty() => {
                return Err(PolicyError::new("Statement", PolicyErrorKind::EmptyList));
            }
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("Statement[{i}]"), s))
                .collect(),
            single => vec![("Statement".to_owned(), single)],
        };
        let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
        for (path, json) in items {
            let parsed = Statement::parse(json, kind, version, path.clone())?;
            if let Some(sid) = &parsed.sid
                && statements.iter().any(|s| s.sid.as_ref() == Some(sid))
            {
                return Err(PolicyError::new(
                    format!("{}.Sid", statement_path(&path, sid)),
                    PolicyErrorKind::DuplicateSid(sid.to_string()),
                ));
            }
            statements.push(parsed);
        }
        Ok(Self {
            source: Arc::from(json),
            kind,
            version,
            id,
            statements,
        })
    }

    /// The original JSON text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The policy as compact JSON — no white space, keys in document order — which parses to
    /// the same policy: what a session token carries, so that a policy's layout costs no
    /// token bytes (STS's packed size does not count it either).
    pub fn compact_source(&self) -> String {
        let mut out = String::with_capacity(self.source.len());
        match Json::parse(&self.source) {
            Ok(json) => json.write_compact(&mut out),
            // Unreachable: the source parsed when the document was made.
            Err(_) => out.push_str(&self.source),
        }
        out
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The grammar the document was checked against.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The policy language version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The optional `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Every context key the document reads — condition keys as written, the keys of policy
    /// variables lowercased — with the statement that reads it (`Statement[0] (Sid "x")`), in
    /// document order.
    pub fn context_keys(&self) -> Vec<(String, &str)> {
        let mut keys = Vec::new();
        for (i, statement) in self.statements.iter().enumerate() {
            let index_path = format!("Statement[{i}]");
            let path = match &statement.sid {
                Some(sid) => statement_path(&index_path, sid),
                None => index_path,
            };
            let resources = statement.resource.iter().flat_map(|r| &r.patterns);
            let read = statement
                .conditions
                .iter()
                .flat_map(|c| std::iter::once(c.key()).chain(c.variable_keys()))
                .chain(resources.flat_map(ResourcePattern::variable_keys));
            keys.extend(read.map(|key| (path.clone(), key)));
        }
        keys
    }
}

impl Statement {
    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// `Principal` / `NotPrincipal` (always present in trust policies, never in identity ones).
    pub fn principal(&self) -> Option<&PrincipalMatch> {
        self.principal.as_ref()
    }

    /// `Action` / `NotAction`.
    pub fn action(&self) -> &ListMatch<ActionPattern> {
        &self.action
    }

    /// `Resource` / `NotResource`, if present.
    pub fn resource(&self) -> Option<&ListMatch<ResourcePattern>> {
        self.resource.as_ref()
    }

    /// The conditions (all must hold).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    fn parse(json: &Json, kind: PolicyKind, version: Version, index_path: String) -> Result<Self, PolicyError> {
        let Json::Object(fields) = json else {
            return Err(PolicyError::wrong_type(&index_path, "a statement object", json));
        };
        // The Sid is read first so that every error path can name it.
        let sid = match fields.iter().find(|(k, _)| k == "Sid") {
            Some((_, v)) => {
                let sid_path = format!("{index_path}.Sid");
                let sid = string(v, &sid_path)?;
                // IAM refuses any other character; a quote or a line break would also garble
                // the explanations and AccessDenied messages that name the statement.
                if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(PolicyError::new(&sid_path, PolicyErrorKind::InvalidSid(sid.to_owned())));
                }
                Some(std::sync::Arc::from(sid))
            }
            None => None,
        };
        let path = match &sid {
            Some(sid) => statement_path(&index_path, sid),
            None => index_path,
        };
        let variables = version == Version::V2012_10_17;
        let mut effect = None;
        let mut principal = None;
        let mut action = None;
        let mut resource = None;
        let mut conditions = Vec::new();
        for (name, value) in fields {
            let element_path = format!("{path}.{name}");
            match name.as_str() {
                "Sid" => {}
                "Effect" => effect = Some(parse_effect(value, &element_path)?),
                "Principal" | "NotPrincipal" => {
                    let negated = name == "NotPrincipal";
                    if principal.is_some() {
                        return Err(conflict(&path, "Principal", "NotPrincipal"));
                    }
                    if kind == PolicyKind::Identity {
                        return Err(PolicyError::new(
                            element_path,
                            PolicyErrorKind::ElementNotAllowed {
                                element: if negated { "NotPrincipal" } else { "Principal" },
                                policy: "a permission or session policy (only trust policies name principals)",
                            },
                        ));
                    }
                    let entries = parse_principal(value, &element_path)?;
                    principal = Some(PrincipalMatch { negated, entries });
                }
                "Action" | "NotAction" => {
                    if action.is_some() {
                        return Err(conflict(&path, "Action", "NotAction"));
                    }
                    let patterns = strings(value, &element_path)?
                        .into_iter()
                        .map(|(p, s)| ActionPattern::parse(s, &p))
                        .collect::<Result<_, _>>()?;
                    action = Some(ListMatch {
                        negated: name == "NotAction",
                        patterns,
                    });
                }
                "Resource" | "NotResource" => {
                    if resource.is_some() {
                        return Err(conflict(&path, "Resource", "NotResource"));
                    }
                    // IAM refuses it ("Has prohibited field Resource"): the resource of a trust
                    // policy is always its role, and a statement naming another would read as
                    // if it limited something.
                    if kind == PolicyKind::Trust {
                        return Err(PolicyError::new(
                            element_path,
                            PolicyErrorKind::ElementNotAllowed {
                                element: if name == "NotResource" {
                                    "NotResource"
                                } else {
                                    "Resource"
                                },
                                policy: "a trust policy (its resource is always its role)",
                            },
                        ));
                    }
                    let patterns = strings(value, &element_path)?
                        .into_iter()
                        .map(|(p, s)| ResourcePattern::parse(s, variables, &p))
                        .collect::<Result<_, _>>()?;
                    resource = Some(ListMatch {
                        negated: name == "NotResource",
                        patterns,
                    });
                }
                "Condition" => conditions = condition::parse_block(value, variables, &element_path)?,
                other => {
                    return Err(PolicyError::new(
                        path,
                        PolicyErrorKind::UnknownElement(other.to_owned()),
                    ));
                }
            }
        }
        let missing = |element| PolicyError::new(path.clone(), PolicyErrorKind::MissingElement(element));
        let effect = effect.ok_or_else(|| missing("Effect"))?;
        let action = action.ok_or_else(|| missing("Action"))?;
        if kind == PolicyKind::Trust && principal.is_none() {
            return Err(missing("Principal"));
        }
        if effect == Effect::Allow && principal.as_ref().is_some_and(|p| p.negated) {
            return Err(PolicyError::new(
                format!("{path}.NotPrincipal"),
                PolicyErrorKind::NotPrincipalWithAllow,
            ));
        }
        if kind == PolicyKind::Identity && resource.is_none() {
            return Err(missing("Resource"));
        }
        Ok(Self {
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
        })
    }
}

/// `Statement[1] (Sid "AllowApp")`.
fn statement_path(index_path: &str, sid: &str) -> String {
    format!("{index_path} (Sid \"{sid}\")")
}

fn parse_version(value: &Json) -> Result<Version, PolicyError> {
    match string(value, "Version")? {
        "2012-10-17" => Ok(Version::V2012_10_17),
        "2008-10-17" => Ok(Version::V2008_10_17),
        other => Err(PolicyError::new(
            "Version",
            PolicyErrorKind::UnsupportedVersion(other.to_owned()),
        )),
    }
}

fn parse_effect(value: &Json, path: &str) -> Result<Effect, PolicyError> {
    match string(value, path)? {
        "Allow" => Ok(Effect::Allow),
        "Deny" => Ok(Effect::Deny),
        other => Err(PolicyError::new(path, PolicyErrorKind::InvalidEffect(other.to_owned()))),
    }
}

/// `"*"` or an object of principal type → string or array of strings.
fn parse_principal(value: &Json, path: &str) -> Result<Vec<PrincipalEntry>, PolicyError> {
    let fields = match value {
        Json::String(s) if s == "*" => return Ok(vec![PrincipalEntry::Everyone]),
        Json::Object(fields) if !fields.is_empty() => fields,
        Json::Object(_) => return Err(PolicyError::new(path, PolicyErrorKind::EmptyList)),
        other => {
            return Err(PolicyError::wrong_type(
                path,
                "\"*\" or an object such as {\"Service\": \"rolesanywhere.amazonaws.com\"}",
                other,
            ));
        }
    };
    let mut entries = Vec::new();
    for (kind, values) in fields {
        let kind_path = format!("{path}.{kind}");
        for (p, v) in strings(values, &kind_path)? {
            let entry = match kind.as_str() {
                "AWS" => principal::parse_aws(v, &p)?,
                "Service" => principal::parse_service(v, &p)?,
                "Federated" | "CanonicalUser" => PrincipalEntry::Unsupported(v.to_owned()),
                other => {
                    return Err(PolicyError::new(
                        path,
                        PolicyErrorKind::UnknownPrincipalType(other.to_owned()),
                    ));
                }
            };
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// A string or a non-empty array of strings, each with its path.
fn strings<'a>(value: &'a Json, path: &str) -> Result<Vec<(String, &'a str)>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![(path.to_owned(), s.as_str())]),
        Json::Array(items) if items.is_empty() => Err(PolicyError::new(path, PolicyErrorKind::EmptyList)),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = format!("{path}[{i}]");
                string(item, &item_path).map(|s| (item_path, s))
            })
            .collect(),
        other => Err(PolicyError::wrong_type(path, "a string or an array of strings", other)),
    }
}

fn string<'a>(value: &'a Json, path: &str) -> Result<&'a str, PolicyError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(PolicyError::wrong_type(path, "a string", other)),
    }
}

fn conflict(path: &str, a: &'static str, b: &'static str) -> PolicyError {
    PolicyError::new(path, PolicyErrorKind::ConflictingElements(a, b))
}

/// serde_json's error for a policy's text, whose "at line L column C" counts within the policy
/// (not the file or request that holds it): said so.
fn within_policy(e: &serde_json::Error) -> String {
    match e.line() {
        0 => e.to_string(),
        _ => format!("{e} of the policy"),
    }
}
