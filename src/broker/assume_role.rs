//! STS AssumeRole for callers holding rolegate session credentials — role chaining
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>):
//!
//! 1. parameters validated exactly as AWS does (`assume_role_parameters`);
//! 2. the target role's trust policy allows the caller (principal `AWS` = the caller's role
//!    ARN, its session ARN, or its account) for `sts:AssumeRole`, plus `sts:TagSession` when
//!    the new session carries tags and `sts:SetSourceIdentity` when it carries a source
//!    identity;
//! 3. the caller's own policies, for the same actions on the target with the request's
//!    context: an explicit Deny in its permission or session policies refuses; beyond that,
//!    what they must allow depends on how the trust policy admits the caller ([`TrustedAs`]);
//! 4. duration ≤ 1 hour (role chaining) and ≤ the role maximum;
//! 5. transitive tags and the source identity carry forward; session policies do not.

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use super::assume_role_parameters::{MAX_TAGS, invalid_parameter_value, validate_parameters};
use super::context::session_context;
use super::{Broker, Caller};
use crate::arn::PolicyArn;
use crate::config::{Config, Role};
use crate::error::{ApiError, ErrorCode};
use crate::policy::{self, Decision, Outcome, PolicyDocument, PolicyKind, Principal, RequestContext, StatementRef};
use crate::session::{self, Credentials, SessionClaims, SessionClaimsDraft, SessionOrigin, same_tag_key};

/// An AssumeRole request, wire-independent.
#[derive(Clone, Debug, Default)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub external_id: Option<String>,
    /// An MFA device and its code: validated as AWS does, never verified (rolegate knows no
    /// MFA device), so `aws:MultiFactorAuthPresent` is never true.
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
    pub source_identity: Option<String>,
    /// STS `ProvidedContexts`: validated as AWS does, then refused ([`ProvidedContext`]).
    pub provided_contexts: Vec<ProvidedContext>,
    /// STS `MinimumSessionTokenSize`: the session token is padded to at least this many
    /// characters (0..=4096; unset or 0: not padded).
    pub minimum_session_token_size: Option<i64>,
    pub source_ip: Option<IpAddr>,
    /// The required members the request left out (`roleArn`, `tags.2.member.value`…), whose
    /// fields above are empty: reported with the other validation errors.
    pub missing_members: Vec<String>,
}

/// One of STS `ProvidedContexts`: a trusted context assertion (IAM Identity Center's trusted
/// identity propagation) that only AWS STS, which encrypted it, can open. rolegate cannot
/// verify one, so a request carrying any is refused rather than answered with a session
/// lacking the identity context the caller asked for.
#[derive(Clone, Debug, Default)]
pub struct ProvidedContext {
    pub provider_arn: Option<String>,
    pub context_assertion: Option<String>,
}

pub struct AssumeRoleOutput {
    pub credentials: Credentials,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
    /// Present when session policies or tags were passed; STS now also names it
    /// `SessionTokenUtilization`.
    pub packed_policy_size: Option<u32>,
    pub source_identity: Option<String>,
}

impl Broker {
    pub fn assume_role(
        &self,
        caller: &Caller,
        input: AssumeRoleInput,
        now: OffsetDateTime,
    ) -> Result<AssumeRoleOutput, ApiError> {
        let config = &caller.config;
        validate_parameters(&input)?;
        check_provided_contexts(&input)?;
        check_mfa(&input)?;
        let caller_arn = caller.assumed_role_arn();
        let denied = |action, reason| not_authorized(&caller_arn, action, &input.role_arn, reason);
        let role = target_role(caller, &input.role_arn).map_err(|reason| denied("sts:AssumeRole", reason))?;
        let source_identity = resolve_source_identity(caller, input.source_identity.as_deref())?;
        let (tags, packed) = session_tags(caller, &input)?;
        let session_policy = parse_session_policy(input.policy.as_deref())?;
        resolve_policy_arns(config, &role, &input.policy_arns)?;

        let mut ctx = trust_context(caller, &role, &input, &tags, source_identity.as_deref(), now);
        let actions = required_actions(&tags, source_identity.as_deref());
        check_trust(&role, &mut ctx, &actions).map_err(|(action, why)| denied(action, why))?;
        // The same actions of the caller's own policies: a source identity and transitive tags
        // carried forward along a chain need them as much as passed ones.
        let callers_policies = CallerPolicies::of(caller);
        for action in actions {
            callers_policies
                .check(&role, &mut ctx, action)
                .map_err(|refusal| denied(action, refusal.reason))?;
        }

        let duration = session::assume_role_duration(input.duration_seconds, role.max_session_duration, true)
            .map_err(|e| ApiError::validation("duration", e.to_string()))?;
        let mut session_policies = Vec::new();
        if let Some(p) = &session_policy {
            session_policies.push(p.compact_source());
        }
        let mut transitive: Vec<String> = caller.claims.transitive_tag_keys.clone();
        for k in &input.transitive_tag_keys {
            if !transitive.iter().any(|t| same_tag_key(t, k)) {
                transitive.push(k.clone());
            }
        }
        let issued_at = now.unix_timestamp();
        let draft = SessionClaimsDraft {
            role_arn: role.arn.as_str().to_owned(),
            role_id: role.role_id.clone(),
            session_name: input.role_session_name.clone(),
            issued_at,
            expires_at: chained_expiry(&caller.claims, issued_at + i64::from(duration)),
            source_identity: source_identity.clone(),
            tags,
            transitive_tag_keys: transitive,
            session_policies,
            policy_arns: input.policy_arns.clone(),
            origin: SessionOrigin::AssumeRole {
                source_role_arn: caller.claims.role_arn.clone(),
                source_session_name: caller.claims.session_name.clone(),
            },
            // The certificate chain: its revocation ends every session chained from it.
            chain: caller.claims.chain.clone(),
        };
        // invariant: validate_parameters bounded it to 0..=4096.
        let min_token_len = input
            .minimum_session_token_size
            .map_or(0, |n| usize::try_from(n).unwrap_or(0));
        let (credentials, _) = session::mint(&config.keyring, draft, min_token_len).map_err(super::seal_refusal)?;
        crate::metrics::record_session(role.arn.as_str());
        let passed_policy_or_tags = input.policy.is_some() || !input.policy_arns.is_empty() || !input.tags.is_empty();
        Ok(AssumeRoleOutput {
            credentials,
            assumed_role_arn: role.arn.assumed_role_arn(&input.role_session_name),
            assumed_role_id: format!("{}:{}", role.role_id, input.role_session_name),
            packed_policy_size: passed_policy_or_tags.then_some(packed),
            source_identity,
        })
    }
}

/// The role `role_arn` names, when the caller can reach it at all; else the audit reason of
/// the AccessDenied (whose message is STS's either way): `unknown-role` when the configuration
/// has no such role (a typo in the ARN, or a role removed), `not-authorized` for a role of
/// another partition, out of reach as at AWS whatever its trust policy says (a bare account id
/// there names the account in its own partition).
pub(crate) fn target_role(caller: &Caller, role_arn: &str) -> Result<Arc<Role>, &'static str> {
    let role = caller.config.role(role_arn).ok_or("unknown-role")?;
    match role.arn.partition() == caller.role.arn.partition() {
        true => Ok(role.clone()),
        false => Err("not-authorized"),
    }
}

/// The new session's tags — the caller's transitive tags, then the request's, none of them
/// re-setting an inherited key — and the packed size of those and the request's session
/// policies (percent of the budget). The packed size is what bounds a policy's length (the
/// model sets no maximum): checked on the text, before the policy is parsed. Inherited tags
/// count as much as passed ones, or a chain could grow its tags past what a token holds.
pub(crate) fn session_tags(caller: &Caller, input: &AssumeRoleInput) -> Result<(Vec<(String, String)>, u32), ApiError> {
    let inherited: Vec<(String, String)> = caller.claims.transitive_tags().cloned().collect();
    let tags = merge_tags(&inherited, &input.tags)?;
    let raw_policy = input.policy.as_deref();
    let packed = session::check_packed_policy_size(raw_policy.as_slice(), input.policy_arns.len(), &tags)
        .map_err(|e| ApiError::new(ErrorCode::PackedPolicyTooLarge, "packed-policy", e.to_string()))?;
    Ok((tags, packed))
}

/// A source identity, once set, persists along the chain and cannot change.
pub(crate) fn resolve_source_identity(caller: &Caller, requested: Option<&str>) -> Result<Option<String>, ApiError> {
    match (caller.claims.source_identity.as_deref(), requested) {
        (Some(existing), Some(new)) if existing != new => Err(ApiError::validation(
            "source-identity-change",
            format!(
                "The source identity is already set for this assume role session: it is '{existing}' and cannot change along a role chain."
            ),
        )),
        (Some(existing), _) => Ok(Some(existing.to_owned())),
        (None, new) => Ok(new.map(str::to_owned)),
    }
}

/// Inherited transitive tags plus the request's tags; a request tag may not override a
/// transitive one.
fn merge_tags(
    inherited: &[(String, String)],
    requested: &[(String, String)],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = inherited.to_vec();
    for (k, v) in requested {
        if inherited.iter().any(|(t, _)| same_tag_key(t, k)) {
            let mut e = invalid_parameter_value(format!(
                "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session. Key: '{k}'."
            ));
            e.reason = "transitive-tag-override";
            return Err(e);
        }
        out.push((k.clone(), v.clone()));
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::validation(
            "parameter",
            format!(
                "The session would carry {} tags including transitive ones; at most {MAX_TAGS} are allowed.",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// What STS's MFA refusals leave unsaid: no rolegate session can pass an MFA check.
const NO_MFA: &str = "(A role session has no MFA device and rolegate verifies no MFA codes: leave SerialNumber \
                      and TokenCode out, e.g. remove mfa_serial from the AWS CLI profile.)";

/// `SerialNumber` and `TokenCode` are refused as STS refuses them from a role session, which has
/// no MFA device: rolegate knows none either, and a code it cannot check proves nothing.
fn check_mfa(input: &AssumeRoleInput) -> Result<(), ApiError> {
    match (&input.serial_number, &input.token_code) {
        (None, None) => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::access_denied(
            "mfa-unverifiable",
            format!(
                "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user. {NO_MFA}"
            ),
        )),
        _ => Err(ApiError::access_denied(
            "mfa-incomplete",
            format!(
                "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code. {NO_MFA}"
            ),
        )),
    }
}

pub(crate) fn parse_session_policy(policy: Option<&str>) -> Result<Option<PolicyDocument>, ApiError> {
    policy
        .map(|p| {
            PolicyDocument::parse(p, PolicyKind::Identity)
                .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, "malformed-policy", e.to_string()))
        })
        .transpose()
}

/// A valid `ProvidedContexts` is still refused: its assertions are sealed by AWS STS for AWS
/// STS ([`ProvidedContext`]).
fn check_provided_contexts(input: &AssumeRoleInput) -> Result<(), ApiError> {
    let Some(context) = input.provided_contexts.first() else {
        return Ok(());
    };
    let provider = context.provider_arn.as_deref().unwrap_or("no provider");
    Err(ApiError::new(
        ErrorCode::InvalidContextAssertion,
        "provided-contexts",
        format!(
            "rolegate cannot verify trusted context assertions (ProvidedContexts, from {provider}): only AWS STS can; \
             ask for the session without them."
        ),
    ))
}

/// Each `PolicyArns` member names a configured `[[managed_policy]]` that STS would attach to a
/// session of `role`: one of the role's account or an AWS managed policy
/// ([`PolicyArn::is_attachable_to`]). Any other is, to AWS, a policy the role cannot see, and
/// gets the answer for a policy that does not exist.
pub(crate) fn resolve_policy_arns(config: &Config, role: &Role, arns: &[String]) -> Result<(), ApiError> {
    for arn in arns {
        let attachable = config.managed_policies.contains_key(arn)
            && PolicyArn::parse(arn).is_ok_and(|policy| policy.is_attachable_to(&role.arn));
        if !attachable {
            return Err(ApiError::validation(
                "unknown-policy-arn",
                format!(
                    "Policy {arn} does not exist or is not attachable. rolegate attaches only policies its \
                     configuration lists as [[managed_policy]]: of the role's account, or AWS managed \
                     (arn:aws:iam::aws:policy/...)."
                ),
            ));
        }
    }
    Ok(())
}

/// The request context of the trust policy evaluation: the caller's session keys
/// ([`session_context`]) for `sts:AssumeRole` on the role, `aws:RequestedRegion` and
/// `aws:ViaAWSService` (false), then the request's keys (`sts:RoleSessionName`, `aws:SourceIp`, `sts:ExternalId`, `sts:SourceIdentity`,
/// `aws:RequestTag/*`, `aws:TagKeys`, `sts:TransitiveTagKeys`).
pub(crate) fn trust_context(
    caller: &Caller,
    role: &Role,
    input: &AssumeRoleInput,
    tags: &[(String, String)],
    source_identity: Option<&str>,
    now: OffsetDateTime,
) -> RequestContext {
    let mut ctx = session_context(&caller.into(), "sts:AssumeRole", role.arn.as_str(), now);
    // IAM sets these on every request; the caller made this one itself.
    ctx.insert("aws:RequestedRegion", caller.config.server.region.as_str());
    ctx.insert("aws:ViaAWSService", "false");
    ctx.insert("sts:RoleSessionName", input.role_session_name.as_str());
    if let Some(ip) = input.source_ip {
        ctx.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(x) = &input.external_id {
        ctx.insert("sts:ExternalId", x.as_str());
    }
    if let Some(s) = source_identity {
        ctx.insert("sts:SourceIdentity", s);
    }
    for (k, v) in tags {
        ctx.insert(format!("aws:RequestTag/{k}"), v.as_str());
    }
    ctx.insert_multi("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()).collect());
    if !input.transitive_tag_keys.is_empty() {
        ctx.insert_multi("sts:TransitiveTagKeys", input.transitive_tag_keys.clone());
    }
    ctx
}

/// The actions an AssumeRole needs, of the target's trust policy and of the caller's own
/// policies alike: `sts:AssumeRole`, `sts:TagSession` when the new session carries tags,
/// `sts:SetSourceIdentity` when it carries a source identity — transitive tags and a source
/// identity inherited along a chain included
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required>,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html>:
/// "permissions for sts:SetSourceIdentity are required in both the permissions policy of the
/// principal who is assuming the role and in the role trust policy of the target role").
pub(crate) fn required_actions(tags: &[(String, String)], source_identity: Option<&str>) -> Vec<&'static str> {
    let mut actions = vec!["sts:AssumeRole"];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    actions
}

/// STS's AccessDenied for an AssumeRole: "User: {caller} is not authorized to perform:
/// {action} on resource: {role}", whichever policy refused (AWS does not say which).
pub(crate) fn not_authorized(caller_arn: &str, action: &str, role_arn: &str, reason: &'static str) -> ApiError {
    ApiError::access_denied(
        reason,
        format!("User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"),
    )
}

/// The trust policy for each of `actions`; the first it does not allow, with the audit reason.
pub(crate) fn check_trust(
    role: &Role,
    ctx: &mut RequestContext,
    actions: &[&'static str],
) -> Result<(), (&'static str, &'static str)> {
    for action in actions {
        ctx.set_action(action);
        let decision = policy::evaluate(&[&role.trust_policy], ctx);
        if !decision.is_allowed() {
            return Err((
                action,
                match *action {
                    _ if decision.outcome == Outcome::TooMuchMatching => "too-much-matching",
                    "sts:TagSession" => "trust-policy-tag-session",
                    "sts:SetSourceIdentity" => "trust-policy-source-identity",
                    _ => "trust-policy",
                },
            ));
        }
    }
    Ok(())
}

/// How the target role's trust policy admits the caller for an action, which decides what the
/// caller's own policies must add: IAM's same-account rule
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html>,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>).
/// Across accounts (a configuration may hold roles of other accounts) both sides must allow,
/// however the trust policy names the caller ([`TrustedAs::OtherAccount`]). An explicit Deny in
/// the caller's policies refuses in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrustedAs {
    /// By the caller's session ARN: the grant is added to the session after it was created,
    /// and its session policies do not limit it.
    Session,
    /// By `*`, any principal (narrowed, if at all, by conditions such as `aws:PrincipalArn`):
    /// as [`TrustedAs::Session`], no permission policy need allow it and session policies do
    /// not limit it ("session policies do not limit permissions granted using the
    /// aws:PrincipalArn condition key with a wildcard (*) in the Principal element",
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles>).
    Anyone,
    /// By the caller's role ARN: no permission policy need allow it, but the caller's session
    /// policies, if it has any, limit the grant.
    Role,
    /// Only through the caller's account: the caller's effective permissions (role policies ∩
    /// session policies) must allow it.
    Account,
    /// The role is in another account than the caller: as [`TrustedAs::Account`], however the
    /// trust policy names the caller.
    OtherAccount,
}

impl TrustedAs {
    /// How `role`'s trust policy admits the principal of `ctx` (a role session) for
    /// `ctx.action`, given that it does: which of its `Allow` statements still apply with parts
    /// of the principal replaced by values no policy can name (its `Deny`s were applied to the
    /// real principal by [`check_trust`]).
    pub(crate) fn of(role: &Role, ctx: &mut RequestContext) -> TrustedAs {
        let Principal::Aws {
            role_arn,
            session_arn,
            account,
        } = &ctx.principal
        else {
            return TrustedAs::Account;
        };
        if role.arn.account().as_str() != account {
            return TrustedAs::OtherAccount;
        }
        let (role_arn, session_arn) = (role_arn.clone(), session_arn.clone());
        let only = |role_arn: Option<&str>, session_arn: Option<&str>| Principal::Aws {
            role_arn: role_arn.unwrap_or(UNNAMEABLE).to_owned(),
            session_arn: session_arn.map(str::to_owned),
            account: UNNAMEABLE.to_owned(),
        };
        if admits(role, ctx, only(None, None)) {
            TrustedAs::Anyone
        } else if admits(role, ctx, only(None, session_arn.as_deref())) {
            TrustedAs::Session
        } else if admits(role, ctx, only(Some(&role_arn), None)) {
            TrustedAs::Role
        } else {
            TrustedAs::Account
        }
    }
}

/// A principal value no policy can name (not an ARN, not an account id).
const UNNAMEABLE: &str = "principal-no-policy-names";

/// Whether an `Allow` of `role`'s trust policy applies to `ctx` with `principal` in place of
/// its own.
fn admits(role: &Role, ctx: &mut RequestContext, principal: Principal) -> bool {
    let own = std::mem::replace(&mut ctx.principal, principal);
    let allowed = policy::some_allow_applies(&[&role.trust_policy], ctx);
    ctx.principal = own;
    allowed
}

/// The calling session's own policies: its role's permission policies and its session
/// policies (inline and managed, `None` when it has none).
pub(crate) struct CallerPolicies<'a> {
    permission: &'a [PolicyDocument],
    session: Option<Vec<Arc<PolicyDocument>>>,
}

/// Why the caller's own policies refuse an action on the target role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallerRefusal {
    /// `caller-explicit-deny`, `caller-session-policy`, `caller-permissions` or (the role in
    /// another account) `caller-permissions-other-account`.
    pub reason: &'static str,
    /// The deciding statement (a `Deny`), `None` when nothing allowed the action.
    pub deciding: Option<StatementRef>,
    /// Whether the decision came from the session policies (else the permission policies).
    pub in_session_policies: bool,
}

impl<'a> CallerPolicies<'a> {
    pub(crate) fn of(caller: &'a Caller) -> CallerPolicies<'a> {
        let has_session = !caller.claims.session_policies.is_empty() || !caller.claims.policy_arns.is_empty();
        CallerPolicies {
            permission: &caller.role.permission_policies,
            session: has_session.then(|| caller.session_policies().map(|(_, d)| d.clone()).collect()),
        }
    }

    /// Whether the caller's policies let it have `action` on `role` with the request context
    /// `ctx` (the trust policy's, which is the request's), given how the trust policy admits
    /// it. Leaves `ctx.action` set to `action`.
    pub(crate) fn check(
        &self,
        role: &Role,
        ctx: &mut RequestContext,
        action: &'static str,
    ) -> Result<TrustedAs, CallerRefusal> {
        ctx.set_action(action);
        let trusted = TrustedAs::of(role, ctx);
        let from_permission = policy::evaluate(self.permission, ctx);
        let from_session = self.session.as_ref().map(|docs| policy::evaluate(docs, ctx));
        let refuse = |reason, decision: &Decision, in_session_policies| CallerRefusal {
            reason,
            deciding: decision.deciding.clone(),
            in_session_policies,
        };
        if from_permission.outcome == Outcome::ExplicitDeny {
            return Err(refuse("caller-explicit-deny", &from_permission, false));
        }
        let too_much = |d: &&Decision| d.outcome == Outcome::TooMuchMatching;
        if let Some(undecided) = [Some(&from_permission), from_session.as_ref()]
            .into_iter()
            .flatten()
            .find(too_much)
        {
            return Err(refuse(
                "too-much-matching",
                undecided,
                from_session.as_ref().is_some_and(|d| too_much(&d)),
            ));
        }
        let permissions = match trusted {
            TrustedAs::OtherAccount => "caller-permissions-other-account",
            _ => "caller-permissions",
        };
        match (&from_session, trusted) {
            (Some(d), _) if d.outcome == Outcome::ExplicitDeny => Err(refuse("caller-explicit-deny", d, true)),
            (_, TrustedAs::Session | TrustedAs::Anyone) => Ok(trusted),
            (Some(d), TrustedAs::Role) if !d.is_allowed() => Err(refuse("caller-session-policy", d, true)),
            (_, TrustedAs::Role) => Ok(trusted),
            _ if !from_permission.is_allowed() => Err(refuse(permissions, &from_permission, false)),
            (Some(d), TrustedAs::Account | TrustedAs::OtherAccount) if !d.is_allowed() => {
                Err(refuse(permissions, d, true))
            }
            _ => Ok(trusted),
        }
    }
}

/// The expiry of a session chained from `caller` that asks to last until `expires_at`: that,
/// unless the caller carries no certificate chain (a token sealed before tokens carried one),
/// whose sessions no CRL can end; then no later than the caller's own, so that chaining again
/// and again (a trust cycle, a role that trusts itself) cannot keep such sessions alive past
/// the 12 hours of the one they began with.
fn chained_expiry(caller: &SessionClaims, expires_at: i64) -> i64 {
    match caller.chain {
        Some(_) => expires_at,
        None => expires_at.min(caller.expires_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::claims::tests::sample_claims;

    /// A session chained from one that carries its certificate chain lasts as long as asked; one
    /// chained from a token of an earlier release (no chain: no CRL can end it) ends with it.
    #[test]
    fn sessions_chained_from_chainless_tokens_end_with_them() {
        let with_chain = sample_claims();
        let asked = with_chain.expires_at + 3600;
        assert_eq!(chained_expiry(&with_chain, asked), asked);
        let without = SessionClaims {
            chain: None,
            ..sample_claims()
        };
        assert_eq!(chained_expiry(&without, asked), without.expires_at);
        assert_eq!(chained_expiry(&without, without.expires_at - 1), without.expires_at - 1);
    }
}
