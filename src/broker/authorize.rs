//! Authorization decisions for the gRPC API (DESIGN.md §2c):
//!
//! - [`Broker::authorize`]: rolegate as the authorization authority of internal APIs. A
//!   session's effective permissions are its role's permission policies ∩ its session policies
//!   (inline ones from the token, then managed policy ARNs from the configuration), explicit
//!   Deny winning (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>).
//! - [`Broker::session_caller_on`]: the caller named by a session token alone, on the caller's
//!   configuration snapshot (Authorize receives the token of a request that was verified
//!   already).
//! - [`Broker::trusted_anchor`]: whether an mTLS client chain chains to any enabled trust
//!   anchor (callers of VerifyRequest, Authorize and Admin).

use std::sync::Arc;

use time::OffsetDateTime;

use super::authenticate::{SessionPolicySource, current_role};
use super::context::{SessionSubject, session_context};
use super::{Broker, Caller, UNTRUSTED_CERTIFICATE, chain_refusal, chain_refusal_reason};
use crate::config::{Anchor, Config};
use crate::error::ApiError;
use crate::identity::{CertificateError, ClientCertificate};
use crate::policy::{self, Outcome, PolicyDocument, RequestContext, StatementTrace};

/// Most caller-supplied context keys per decision.
pub const MAX_CONTEXT_KEYS: usize = 50;
/// Most values of one multi-valued context key (as `aws:TagKeys` of 50 tags).
pub const MAX_CONTEXT_KEY_VALUES: usize = 50;
/// Longest resource, in characters: an ARN's maximum (IAM `ResourceNameType`).
pub(super) const MAX_RESOURCE_CHARACTERS: usize = 2048;
/// Longest context key name, in characters (IAM `ContextKeyNameType`).
pub(super) const MAX_CONTEXT_KEY_CHARACTERS: usize = 256;
/// Longest context value, in characters. Values are matched against policy patterns, some of
/// them the caller's own (session policies): the bound keeps each match cheap.
pub(super) const MAX_CONTEXT_VALUE_CHARACTERS: usize = 2048;

/// Context keys rolegate derives from the session; a caller cannot supply them.
const DERIVED_KEY_PREFIXES: &[&str] = &[
    "aws:principal",
    "aws:sourceidentity",
    "aws:currenttime",
    "aws:epochtime",
    "aws:tokenissuetime",
    "aws:multifactorauth",
    "aws:userid",
];

/// What to decide: may the caller perform `action` on `resource`?
#[derive(Clone, Debug, Default)]
pub struct AuthorizeInput {
    /// `service:Action`, e.g. `s3:GetObject`.
    pub action: String,
    /// Resource ARN or `*`.
    pub resource: String,
    /// Caller-supplied context keys (e.g. `aws:SourceIp` of the original request), one pair
    /// per value: a key given again is one more value of it.
    pub context: Vec<(String, String)>,
    /// The region the request was made to (`aws:RequestedRegion` unless `context` gives it):
    /// the one its signature is scoped to, when known; unset, the server's.
    pub requested_region: Option<String>,
}

/// The decision and the statement that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeOutput {
    pub outcome: Outcome,
    /// `role-policy/{i}`, `session-policy/{i}`, a managed policy ARN, or empty (no statement).
    pub policy: String,
    pub statement_index: Option<usize>,
    pub statement_sid: Option<String>,
    /// Sentences for the person reading the answer.
    pub explanation: String,
}

impl Broker {
    /// Evaluates the effective permissions of `caller` for `input` at `now`.
    pub fn authorize(
        &self,
        caller: &Caller,
        input: &AuthorizeInput,
        now: OffsetDateTime,
    ) -> Result<AuthorizeOutput, ApiError> {
        let region = input
            .requested_region
            .as_deref()
            .unwrap_or(&caller.config.server.region);
        let ctx = authorization_context(&caller.into(), input, region, now)?;
        let identity: Vec<&PolicyDocument> = caller.role.permission_policies.iter().collect();
        let session = labelled_session_policies(caller);
        let session_docs: Vec<&PolicyDocument> = session.iter().map(|(_, d)| d.as_ref()).collect();
        let has_session = !caller.claims.session_policies.is_empty() || !caller.claims.policy_arns.is_empty();
        let decision = policy::evaluate_permissions(&identity, has_session.then_some(session_docs.as_slice()), &ctx);
        if decision.outcome == Outcome::TooMuchMatching {
            return Err(ApiError::access_denied(
                "too-much-matching",
                format!(
                    "{} performing {} on {}: {}.",
                    caller.assumed_role_arn(),
                    input.action,
                    input.resource,
                    decision.outcome
                ),
            ));
        }
        let label = |p: usize| match decision.from_session_policy {
            true => session.get(p).map(|(l, _)| l.clone()).unwrap_or_default(),
            false => format!("role-policy/{p}"),
        };
        let deciding = decision.deciding.as_ref();
        let policy = deciding.map(|d| label(d.policy)).unwrap_or_default();
        let explanation = explain_decision(caller, input, &decision, &label, &identity, &session_docs, &ctx);
        let output = AuthorizeOutput {
            outcome: decision.outcome,
            policy,
            statement_index: deciding.map(|d| d.index),
            statement_sid: deciding.and_then(|d| d.sid.as_deref().map(str::to_owned)),
            explanation,
        };
        Ok(output)
    }

    /// The caller a session token names, on the configuration snapshot `config` (the one the
    /// caller decided the other parts of the call on), with the checks of
    /// [`Broker::authenticate`] that do not need a signature: the token opens with the key ring,
    /// has not expired, its role still exists and has not revoked it.
    pub fn session_caller_on(&self, config: Arc<Config>, token: &str, now: OffsetDateTime) -> Result<Caller, ApiError> {
        let claims = self.open_token(&config, token)?;
        let role = current_role(&config, &claims, now)?;
        Ok(Caller { claims, role, config })
    }

    /// The ARN of the first enabled trust anchor of `config`, in ARN order, that `leaf` chains
    /// to through `intermediates` at `now`. When none does, the error is REST's for the one anchor in
    /// question, naming it, when there is only one (expired, revoked, unknown issuer…; see
    /// [`Broker::trusted_anchor_among`]), else that the certificate chains to none.
    pub fn trusted_anchor(
        &self,
        config: &Config,
        leaf: &ClientCertificate,
        intermediates: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        self.trusted_anchor_among(config, leaf, intermediates, |_| true, now)
            .map_err(|why| why.unwrap_or_else(|| untrusted_client_certificate(leaf, "any enabled trust anchor.")))
    }

    /// As [`Broker::trusted_anchor`], among the enabled anchors `eligible` accepts. Each is
    /// verified once; when the chain reaches none, the refusal of the only eligible anchor if
    /// there is one, naming it. Of several, the anchors the chain has no path to (it is another CA's) say
    /// nothing of it: when those it does reach all refuse it for one cause (revoked, expired,
    /// a stale CRL…), that refusal, as one anchor would give it; else `None` (for the caller to
    /// say "none of them"). `config` is the caller's snapshot, the one `eligible` reads too: a
    /// reload in between must not mix one configuration's anchors with another's rules.
    pub fn trusted_anchor_among(
        &self,
        config: &Config,
        leaf: &ClientCertificate,
        intermediates: &[Vec<u8>],
        eligible: impl Fn(&Anchor) -> bool,
        now: OffsetDateTime,
    ) -> Result<String, Option<ApiError>> {
        let mut anchors: Vec<&Arc<Anchor>> = config.anchors.values().filter(|a| a.enabled && eligible(a)).collect();
        anchors.sort_by(|a, b| a.arn.as_str().cmp(b.arn.as_str()));
        let mut only_refusal = None;
        let (mut cause, mut one_cause) = (None::<CertificateError>, true);
        for anchor in &anchors {
            match self.chain_verified_cached(config, anchor, leaf, intermediates, now) {
                Ok(_) => return Ok(anchor.arn.as_str().to_owned()),
                // Named: the caller gave none (REST's CreateSession names it in the request).
                Err(e) if anchors.len() == 1 => {
                    only_refusal = Some(ApiError::access_denied(
                        chain_refusal_reason(&e),
                        format!("Untrusted certificate for trust anchor {}: {e}", anchor.arn),
                    ))
                }
                Err(CertificateError::UnknownIssuer) => {}
                Err(e) => match &cause {
                    None => cause = Some(e),
                    Some(first) => one_cause &= chain_refusal_reason(first) == chain_refusal_reason(&e),
                },
            }
        }
        Err(only_refusal.or_else(|| cause.filter(|_| one_cause).map(|e| chain_refusal(&e))))
    }
}

/// AccessDenied for a client certificate that chains to none of the anchors `which` names
/// (the end of the sentence "does not chain to ...").
pub fn untrusted_client_certificate(leaf: &ClientCertificate, which: &str) -> ApiError {
    ApiError::access_denied(
        UNTRUSTED_CERTIFICATE,
        format!(
            "The client certificate {} does not chain to {which}",
            leaf.subject_string()
        ),
    )
}

/// The request context of an authorization decision for a session of `subject`: the keys
/// derived from the session (`session_context`), `aws:PrincipalTagKeys`,
/// `aws:RequestedRegion` defaulting to `region` and `aws:ViaAWSService` to false, then the caller's keys, which must not name a
/// derived key. A key the caller gives more than once in one spelling is multi-valued (in
/// another spelling it is refused: names compare case-insensitively); `aws:SecureTransport`
/// takes one value.
pub fn authorization_context(
    subject: &SessionSubject,
    input: &AuthorizeInput,
    region: &str,
    now: OffsetDateTime,
) -> Result<RequestContext, ApiError> {
    validate_input(input)?;
    let mut ctx = session_context(subject, &input.action, &input.resource, now);
    ctx.insert_multi(
        "aws:PrincipalTagKeys",
        subject.tags.iter().map(|(k, _)| k.clone()).collect(),
    );
    // Keys IAM sets on every request, unless the caller says otherwise: the region, and
    // `aws:ViaAWSService` false for a call the principal makes itself (network-perimeter
    // policies write `"Bool": {"aws:ViaAWSService": "false"}` without IfExists).
    for (key, default) in [("aws:RequestedRegion", region), ("aws:ViaAWSService", "false")] {
        if !input.context.iter().any(|(k, _)| policy::same_key(k, key)) {
            ctx.insert(key, default);
        }
    }
    // A key given again is one more value of it (`simulate --context` repeated; one
    // spelling only, as `validate_input` checked).
    let mut given: Vec<(&str, Vec<String>)> = Vec::new();
    for (key, value) in &input.context {
        match given.iter_mut().find(|(k, _)| crate::policy::same_key(k, key)) {
            Some((_, values)) => values.push(value.clone()),
            None => given.push((key, vec![value.clone()])),
        }
    }
    for (key, values) in given {
        match <[String; 1]>::try_from(values) {
            Ok([only]) => ctx.insert(key, only),
            Err(values) => ctx.insert_multi(key, values),
        }
    }
    Ok(ctx)
}

/// Action `service:Action` (1..=128 characters), a resource of at most
/// [`MAX_RESOURCE_CHARACTERS`], at most [`MAX_CONTEXT_KEYS`] context keys of bounded sizes,
/// none of them derived from the session, each in one spelling. Needs no session: a
/// platform's malformed arguments are refused whatever the request they come with.
pub(crate) fn validate_input(input: &AuthorizeInput) -> Result<(), ApiError> {
    check_action(&input.action)?;
    check_resource_length(&input.resource)?;
    check_resource_form(&input.resource)?;
    let context = &input.context;
    check_context_sizes(context)?;
    let keys = count_context_keys(context)?;
    check_secure_transport_once(&keys)?;
    check_no_derived_key(context)?;
    check_secure_transport_value(context)?;
    check_source_ip_value(context)?;
    check_no_username(context)
}

/// The action has the form `service:Action`, at most 128 characters, no wildcards.
fn check_action(a: &str) -> Result<(), ApiError> {
    let well_formed = a.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty() && !name.is_empty() && a.len() <= 128 && !a.contains(['*', '?', ' '])
    });
    if !well_formed {
        return Err(ApiError::validation(
            "bad-action",
            format!("The action '{a}' must have the form service:Action (at most 128 characters, no wildcards)."),
        ));
    }
    Ok(())
}

/// The resource has at most [`MAX_RESOURCE_CHARACTERS`].
fn check_resource_length(resource: &str) -> Result<(), ApiError> {
    let resource_characters = resource.chars().count();
    if resource_characters > MAX_RESOURCE_CHARACTERS {
        return Err(ApiError::validation(
            "resource-too-long",
            format!(
                "The resource has {resource_characters} characters; at most {MAX_RESOURCE_CHARACTERS} are accepted."
            ),
        ));
    }
    Ok(())
}

/// The resource is an ARN (`arn:partition:service:region:account:resource`), `*`, or empty
/// (`*`): IAM names every resource by its ARN and a policy's resource patterns are ARNs, so a
/// bare name (`bucket/key`, a platform's slip) would match no statement, and pass every Deny
/// scoped to resources.
fn check_resource_form(resource: &str) -> Result<(), ApiError> {
    if resource.is_empty() || resource == "*" || crate::arn::is_arn(resource) {
        return Ok(());
    }
    Err(ApiError::validation(
        "bad-resource",
        format!(
            "The resource '{resource}' is neither an ARN (arn:partition:service:region:account:resource) nor \"*\"."
        ),
    ))
}

/// Each context key name has 1 to [`MAX_CONTEXT_KEY_CHARACTERS`], and each value at most
/// [`MAX_CONTEXT_VALUE_CHARACTERS`] (the names are checked first).
fn check_context_sizes(context: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, _)) = context
        .iter()
        .find(|(k, _)| k.is_empty() || k.chars().count() > MAX_CONTEXT_KEY_CHARACTERS)
    {
        return Err(ApiError::validation(
            "bad-context-key",
            format!(
                "A context key name has {} characters; names of 1 to {MAX_CONTEXT_KEY_CHARACTERS} are accepted.",
                k.chars().count()
            ),
        ));
    }
    if let Some((k, v)) = context
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_CONTEXT_VALUE_CHARACTERS)
    {
        return Err(ApiError::validation(
            "context-value-too-long",
            format!(
                "The value of context key '{k}' has {} characters; at most {MAX_CONTEXT_VALUE_CHARACTERS} are accepted.",
                v.chars().count()
            ),
        ));
    }
    Ok(())
}

/// Each context key (in its first spelling) with its number of values: at most
/// [`MAX_CONTEXT_KEYS`] keys of at most [`MAX_CONTEXT_KEY_VALUES`] values, each key in one
/// spelling.
///
/// Counted as they come, each pair against at most MAX_CONTEXT_KEYS keys seen: a request of
/// ever new keys is refused at the first one too many, not after comparing all of them.
/// Given again in another spelling, a key is refused: key names are case-insensitive, and a
/// gRPC `context` map could otherwise turn a key of one value into a multi-valued one,
/// which negated operators (`NotIpAddress`) read differently.
fn count_context_keys(context: &[(String, String)]) -> Result<Vec<(&str, usize)>, ApiError> {
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for (key, _) in context {
        let full = keys.len() == MAX_CONTEXT_KEYS;
        match keys.iter_mut().find(|(k, _)| policy::same_key(k, key)) {
            Some((first, _)) if *first != key.as_str() => {
                return Err(ApiError::validation(
                    "context-key-twice",
                    format!(
                        "The context key '{first}' is given twice, also as '{key}': context key names are case-insensitive."
                    ),
                ));
            }
            Some((k, values)) if *values == MAX_CONTEXT_KEY_VALUES => {
                return Err(ApiError::validation(
                    "too-many-context-values",
                    format!(
                        "The context key '{k}' has more than {MAX_CONTEXT_KEY_VALUES} values; at most {MAX_CONTEXT_KEY_VALUES} are accepted."
                    ),
                ));
            }
            Some((_, values)) => *values += 1,
            None if full => {
                return Err(ApiError::validation(
                    "too-many-context-keys",
                    format!("At most {MAX_CONTEXT_KEYS} context keys may be supplied."),
                ));
            }
            None => keys.push((key, 1)),
        }
    }
    Ok(keys)
}

/// `aws:SecureTransport` is given one value at most (`keys` as [`count_context_keys`] counts
/// them).
fn check_secure_transport_once(keys: &[(&str, usize)]) -> Result<(), ApiError> {
    if let Some((key, _)) = keys
        .iter()
        .find(|(k, values)| policy::same_key(k, "aws:SecureTransport") && *values > 1)
    {
        return Err(ApiError::validation(
            "context-key-twice",
            format!("The context key '{key}' takes one value, true or false."),
        ));
    }
    Ok(())
}

/// No context key is one rolegate derives from the session ([`is_derived_key`]).
fn check_no_derived_key(context: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, _)) = context.iter().find(|(k, _)| is_derived_key(k)) {
        let message = match never_in_session_requests(k) {
            Some(why) => format!(
                "The context key '{k}' is in a namespace of keys rolegate derives from the session, and cannot be \
                 supplied; {why}."
            ),
            None => format!("The context key '{k}' is derived from the session by rolegate and cannot be supplied."),
        };
        return Err(ApiError::validation("derived-context-key", message));
    }
    Ok(())
}

/// `aws:SecureTransport`, when given, is true or false. The relying service knows whether the
/// request it authorizes came over TLS (rolegate assumes it did when not told).
fn check_secure_transport_value(context: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, v)) = context
        .iter()
        .find(|(k, v)| policy::same_key(k, "aws:SecureTransport") && policy::parse_bool(v).is_none())
    {
        return Err(ApiError::validation(
            "bad-context-value",
            format!("The context key '{k}' is true or false, not '{v}'."),
        ));
    }
    Ok(())
}

/// `aws:SourceIp` is an IP address (IAM's `IpAddress` conditions read it as one): a host
/// name or a `host:port` given by mistake would make every `IpAddress` condition fail and
/// every `NotIpAddress` one hold, silently.
fn check_source_ip_value(context: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, v)) = context
        .iter()
        .find(|(k, v)| policy::same_key(k, "aws:SourceIp") && v.parse::<std::net::IpAddr>().is_err())
    {
        return Err(ApiError::validation(
            "bad-context-value",
            format!("The context key '{k}' is an IP address (such as 203.0.113.7 or 2001:db8::7), not '{v}'."),
        ));
    }
    Ok(())
}

/// `aws:username` is not given: IAM sets it for IAM users only, never for a role session.
fn check_no_username(context: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, _)) = context.iter().find(|(k, _)| policy::same_key(k, "aws:username")) {
        return Err(ApiError::validation(
            "derived-context-key",
            format!(
                "The context key '{k}' is not present for role sessions (IAM sets it for IAM users only) and cannot be supplied."
            ),
        ));
    }
    Ok(())
}

/// The keys of [`DERIVED_KEY_PREFIXES`] that [`authorization_context`] derives, in AWS's
/// spelling (compared without regard to case; and `aws:PrincipalTag/{key}` for each
/// principal tag, [`SESSION_KEY_PREFIXES`]).
pub(crate) const SESSION_KEYS: [&str; 11] = [
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalTagKeys",
    "aws:PrincipalType",
    "aws:SourceIdentity",
    "aws:TokenIssueTime",
    "aws:userid",
];

/// The tag keys of a session's requests: its principal tags.
pub(crate) const SESSION_KEY_PREFIXES: [&str; 1] = ["aws:PrincipalTag/"];

/// Why `key`, read by a permission or session policy, is absent from every request a rolegate
/// session makes, if it always is: a key of the session's own namespaces
/// ([`DERIVED_KEY_PREFIXES`], and `aws:username`) that callers cannot supply and rolegate does
/// not derive. A condition on it never matches (or, negated, `...IfExists` and `Null`,
/// always does), and an `Allow` with it as a policy variable never applies; a load warning
/// names it.
pub(crate) fn never_in_session_requests(key: &str) -> Option<&'static str> {
    let folded = policy::fold_key(key);
    if folded == "aws:username" {
        return Some("IAM sets it for IAM users only; a role session's name is in aws:userid (ROLEID:session-name)");
    }
    let derived = SESSION_KEYS.iter().any(|known| known.eq_ignore_ascii_case(&folded))
        || folded
            .strip_prefix("aws:principaltag/")
            .is_some_and(|tag| !tag.is_empty());
    if derived || !is_derived_key(key) {
        return None;
    }
    Some(match folded.as_str() {
        k if k.starts_with("aws:principalorg") => "rolegate sessions belong to no AWS Organization",
        k if k.starts_with("aws:multifactorauth") => "rolegate sessions are never authenticated with MFA",
        k if k.starts_with("aws:principalservicename") => "a role session is no AWS service",
        _ => "rolegate derives no such key, so it is most likely misspelt",
    })
}

/// Whether `key` names a key of [`DERIVED_KEY_PREFIXES`], folded as the context folds key
/// names ([`policy::fold_key`]): `aws:To\u{212A}enIssueTime` (KELVIN SIGN, which lowercases to
/// `k`) is `aws:tokenissuetime` to the context, so it is to this check.
fn is_derived_key(key: &str) -> bool {
    let folded = policy::fold_key(key);
    DERIVED_KEY_PREFIXES.iter().any(|p| folded.starts_with(p))
}

/// The caller's session policies labelled as decisions name them: `session-policy/{i}` for
/// an inline one, its ARN for a managed one.
fn labelled_session_policies(caller: &Caller) -> Vec<(String, Arc<PolicyDocument>)> {
    let label = |source| match source {
        SessionPolicySource::Inline(i) => format!("session-policy/{i}"),
        SessionPolicySource::Managed(arn) => arn.to_owned(),
    };
    caller
        .session_policies()
        .map(|(source, d)| (label(source), d.clone()))
        .collect()
}

/// One or two sentences: the outcome, the deciding statement, and for an implicit deny which
/// policy set lacked an Allow and which statements nearly applied.
fn explain_decision(
    caller: &Caller,
    input: &AuthorizeInput,
    decision: &policy::PermissionDecision,
    label: &dyn Fn(usize) -> String,
    identity: &[&PolicyDocument],
    session: &[&PolicyDocument],
    ctx: &RequestContext,
) -> String {
    let who = caller.assumed_role_arn();
    let head = format!("{who} performing {} on {}", input.action, input.resource);
    let policy_label = decision.deciding.as_ref().map(|d| label(d.policy)).unwrap_or_default();
    let statement = |d: &policy::StatementRef| match &d.sid {
        Some(sid) => format!("{policy_label} Statement[{}] (Sid \"{sid}\")", d.index),
        None => format!("{policy_label} Statement[{}]", d.index),
    };
    match (decision.outcome, &decision.deciding) {
        (Outcome::Allow, Some(d)) => format!(
            "{head} is allowed by {}{}.",
            statement(d),
            if session.is_empty() {
                ""
            } else {
                " and the session policies"
            }
        ),
        (Outcome::ExplicitDeny, Some(d)) => format!("{head} is explicitly denied by {}.", statement(d)),
        _ => {
            let (which, docs) = match decision.from_session_policy {
                true => ("no session policy", session),
                false => ("no permission policy of the role", identity),
            };
            // Its own count of steps: the decision may have spent most of the bound.
            ctx.restart_match_steps();
            let (_, traces) = policy::explain(docs, ctx);
            let near: Vec<String> = traces
                .iter()
                .filter(|t| t.action && !t.applies)
                .map(|t| near_miss(t, &label(t.policy)))
                .collect();
            let mut s = format!("{head} is implicitly denied: {which} allows it.");
            if !near.is_empty() {
                s.push_str(&format!(
                    " Statements matching the action but not applying: {}.",
                    near.join("; ")
                ));
            }
            s
        }
    }
}

/// `role-policy/1 Statement[i] (resource does not match)` and the like, for statement `t` of
/// the policy labelled `policy`.
fn near_miss(t: &StatementTrace, policy: &str) -> String {
    let mut why = Vec::new();
    if t.resource == Some(false) {
        why.push("resource does not match".to_owned());
    }
    for c in t.conditions.iter().filter(|c| !c.holds) {
        why.push(format!("condition {} {} fails", c.operator, c.key));
    }
    if t.unresolved {
        why.push("a policy variable does not resolve".to_owned());
    }
    format!("{policy} Statement[{}] ({})", t.index, why.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_no_session_request_holds_are_told_from_those_it_may() {
        for (key, why) in [
            ("aws:username", "IAM users only"),
            ("AWS:UserName", "IAM users only"),
            ("aws:PrincipalOrgID", "no AWS Organization"),
            ("aws:PrincipalOrgPaths", "no AWS Organization"),
            ("aws:MultiFactorAuthAge", "MFA"),
            ("aws:PrincipalServiceNamesList", "no AWS service"),
            ("aws:PrincipalTags/team", "most likely misspelt"),
            ("aws:PrincipalTag/", "most likely misspelt"),
            ("aws:CurrentTimes", "most likely misspelt"),
        ] {
            let reason = never_in_session_requests(key).unwrap_or_else(|| panic!("{key}"));
            assert!(reason.contains(why), "{key}: {reason}");
        }
        for key in [
            "aws:PrincipalTag/team",
            "aws:principalarn",
            "aws:userid",
            "aws:SourceIdentity",
            "aws:PrincipalTagKeys",
            "aws:MultiFactorAuthPresent",
            "aws:SourceIp",
            "aws:PrincipleTag/team",
            "s3:prefix",
            "aws:ResourceTag/env",
        ] {
            assert_eq!(never_in_session_requests(key), None, "{key}");
        }
    }

    fn input(action: &str, context: &[(&str, &str)]) -> AuthorizeInput {
        AuthorizeInput {
            action: action.to_owned(),
            resource: "*".to_owned(),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            requested_region: None,
        }
    }

    #[test]
    fn input_validation() {
        // (action, caller context, expected error reason)
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            ("s3:GetObject", &[("aws:SourceIp", "10.0.0.1")], None),
            ("s3:GetObject", &[("s3:prefix", "a/")], None),
            ("s3", &[], Some("bad-action")),
            ("s3:*", &[], Some("bad-action")),
            (":Get", &[], Some("bad-action")),
            (
                "s3:GetObject",
                &[("aws:PrincipalArn", "x")],
                Some("derived-context-key"),
            ),
            (
                "s3:GetObject",
                &[("AWS:principaltag/team", "x")],
                Some("derived-context-key"),
            ),
            (
                "s3:GetObject",
                &[("aws:MultiFactorAuthPresent", "true")],
                Some("derived-context-key"),
            ),
            (
                "s3:GetObject",
                &[("aws:SourceIdentity", "x")],
                Some("derived-context-key"),
            ),
            // KELVIN SIGN lowercases to `k`: the context would read this key as
            // aws:TokenIssueTime and let the caller replace the session's issue time.
            (
                "s3:GetObject",
                &[("aws:To\u{212A}enIssueTime", "2099-01-01T00:00:00Z")],
                Some("derived-context-key"),
            ),
            ("s3:GetObject", &[("aws:\u{212A}ey", "x")], None),
        ];
        for (action, context, want) in cases {
            let got = validate_input(&input(action, context)).err().map(|e| e.reason);
            assert_eq!(got, *want, "{action} {context:?}");
        }
    }

    /// A resource is an ARN, `*` or empty (`*`): a bare name would slip past resource-scoped
    /// Denies, matching none of their ARN patterns.
    #[test]
    fn resources_are_arns_or_a_star() {
        let with = |resource: &str| AuthorizeInput {
            resource: resource.to_owned(),
            ..input("s3:GetObject", &[])
        };
        for good in [
            "",
            "*",
            "arn:aws:s3:::secret/x",
            "arn:aws:execute-api:us-east-1:123456789012:api/GET/a",
        ] {
            assert!(validate_input(&with(good)).is_ok(), "{good}");
        }
        for bad in ["secret/x", "s3:::secret/x", "arn:aws:s3", "**"] {
            let e = validate_input(&with(bad)).unwrap_err();
            assert_eq!(
                (e.reason, e.message.as_str()),
                (
                    "bad-resource",
                    format!(
                        "The resource '{bad}' is neither an ARN (arn:partition:service:region:account:resource) nor \"*\"."
                    )
                    .as_str()
                )
            );
        }
    }

    #[test]
    fn too_many_context_keys() {
        let mut i = input("s3:GetObject", &[]);
        i.context = (0..=MAX_CONTEXT_KEYS)
            .map(|n| (format!("s3:k{n}"), "v".to_owned()))
            .collect();
        assert_eq!(validate_input(&i).unwrap_err().reason, "too-many-context-keys");
        // Ever new keys are refused at the first one too many, whatever follows; one key of
        // more than 50 values likewise.
        i.context = (0..100_000).map(|n| (format!("s3:k{n}"), "v".to_owned())).collect();
        assert_eq!(validate_input(&i).unwrap_err().reason, "too-many-context-keys");
        i.context = (0..=MAX_CONTEXT_KEY_VALUES)
            .map(|n| ("aws:TagKeys".to_owned(), format!("k{n}")))
            .collect();
        assert_eq!(
            validate_input(&i).unwrap_err().message,
            "The context key 'aws:TagKeys' has more than 50 values; at most 50 are accepted."
        );
        i.context.pop();
        assert!(validate_input(&i).is_ok());
    }

    #[test]
    fn a_near_miss_says_why_the_statement_did_not_apply() {
        let trace = |resource, holds, unresolved| StatementTrace {
            policy: 0,
            index: 2,
            sid: None,
            effect: crate::policy::Effect::Allow,
            principal: None,
            action: true,
            resource: Some(resource),
            resource_miss: None,
            conditions: vec![crate::policy::ConditionTrace {
                operator: "StringEquals".into(),
                key: "s3:prefix".into(),
                policy_values: vec![],
                request_values: None,
                holds,
            }],
            unresolved,
            applies: false,
        };
        assert_eq!(
            near_miss(&trace(false, false, false), "role-policy/1"),
            "role-policy/1 Statement[2] (resource does not match, condition StringEquals s3:prefix fails)"
        );
        assert_eq!(
            near_miss(&trace(true, true, true), "session-policy/0"),
            "session-policy/0 Statement[2] (a policy variable does not resolve)"
        );
    }

    #[test]
    fn resource_and_context_sizes_are_bounded() {
        let mut i = input("s3:GetObject", &[]);
        i.resource = format!("arn:aws:s3:::{}", "é".repeat(MAX_RESOURCE_CHARACTERS - 13));
        assert!(validate_input(&i).is_ok());
        i.resource.push('x');
        let e = validate_input(&i).unwrap_err();
        assert_eq!(
            e.message,
            "The resource has 2049 characters; at most 2048 are accepted."
        );

        let mut i = input("s3:GetObject", &[]);
        i.context = vec![("s3:prefix".to_owned(), "a".repeat(MAX_CONTEXT_VALUE_CHARACTERS))];
        assert!(validate_input(&i).is_ok());
        i.context[0].1.push('a');
        assert_eq!(
            validate_input(&i).unwrap_err().message,
            "The value of context key 's3:prefix' has 2049 characters; at most 2048 are accepted."
        );
        i.context = vec![("k".repeat(MAX_CONTEXT_KEY_CHARACTERS + 1), "v".to_owned())];
        assert_eq!(validate_input(&i).unwrap_err().reason, "bad-context-key");
        i.context = vec![(String::new(), "v".to_owned())];
        assert_eq!(validate_input(&i).unwrap_err().reason, "bad-context-key");
    }
}
