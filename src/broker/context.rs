//! The request context of a call made with a role session: the principal and the condition
//! keys rolegate derives from the session
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>).
//! One function builds them for the AssumeRole trust evaluation, `Sessions.Authorize` and
//! `rolegate simulate`, so the three see the same keys.

use time::OffsetDateTime;

use super::Caller;
use crate::config::Role;
use crate::policy::{Principal, RequestContext};
use crate::session;

/// The session a call is made with, as far as its request context needs it: a verified
/// caller's claims (`From<&Caller>`), or the session `rolegate simulate` describes.
#[derive(Clone, Copy, Debug)]
pub struct SessionSubject<'a> {
    /// The session's role, as configured now.
    pub role: &'a Role,
    /// `AROA…` unique id of the role, as in the session.
    pub role_id: &'a str,
    pub session_name: &'a str,
    /// Issue time of the session, unix seconds (`aws:TokenIssueTime`).
    pub issued_at: i64,
    /// `aws:SourceIdentity`.
    pub source_identity: Option<&'a str>,
    /// Principal tags (`aws:PrincipalTag/{key}`), in request order.
    pub tags: &'a [(String, String)],
}

impl<'a> From<&'a Caller> for SessionSubject<'a> {
    fn from(caller: &'a Caller) -> Self {
        Self {
            role: &caller.role,
            role_id: &caller.claims.role_id,
            session_name: &caller.claims.session_name,
            issued_at: caller.claims.issued_at,
            source_identity: caller.claims.source_identity.as_deref(),
            tags: &caller.claims.tags,
        }
    }
}

/// A context for `action` on `resource` by a session of `subject` at `now`: principal
/// `arn:aws:sts::{account}:assumed-role/{role}/{session}`; `aws:PrincipalArn` (the role),
/// `aws:PrincipalAccount`, `aws:PrincipalType` = `AssumedRole`, `aws:userid` =
/// `{role id}:{session name}`, `aws:CurrentTime`, `aws:EpochTime`, `aws:TokenIssueTime`,
/// `aws:SecureTransport` = `true`, `aws:MultiFactorAuthPresent` = `false`,
/// `aws:PrincipalIsAWSService` = `false`, `aws:SourceIdentity` when set and
/// `aws:PrincipalTag/{key}` for each tag.
pub(crate) fn session_context(
    subject: &SessionSubject,
    action: &str,
    resource: &str,
    now: OffsetDateTime,
) -> RequestContext {
    let role = subject.role;
    let account = role.arn.account().as_str();
    let principal = Principal::Aws {
        role_arn: role.arn.as_str().to_owned(),
        session_arn: Some(role.arn.assumed_role_arn(subject.session_name)),
        account: account.to_owned(),
    };
    let mut ctx = RequestContext::new(principal, action, resource);
    // Room for the keys below and those the operation adds (AssumeRole: up to 7 besides its
    // request tags), so the map is not grown and rehashed while it is filled.
    ctx.reserve(16 + 2 * subject.tags.len());
    ctx.insert("aws:PrincipalArn", role.arn.as_str());
    ctx.insert("aws:PrincipalAccount", account);
    ctx.insert("aws:PrincipalType", "AssumedRole");
    ctx.insert("aws:userid", format!("{}:{}", subject.role_id, subject.session_name));
    ctx.insert("aws:CurrentTime", session::format_expiration(now.unix_timestamp()));
    ctx.insert("aws:EpochTime", now.unix_timestamp().to_string());
    ctx.insert("aws:TokenIssueTime", session::format_expiration(subject.issued_at));
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:MultiFactorAuthPresent", "false");
    // IAM sets it on every request: `false` for a role session (data-perimeter policies
    // condition on it).
    ctx.insert("aws:PrincipalIsAWSService", "false");
    if let Some(s) = subject.source_identity {
        ctx.insert("aws:SourceIdentity", s);
    }
    for (k, v) in subject.tags {
        ctx.insert(format!("aws:PrincipalTag/{k}"), v.as_str());
    }
    ctx
}

/// The context keys a trust policy evaluation can hold, in AWS's spelling (compared without
/// regard to case): those of a Roles Anywhere
/// CreateSession (`create_session::trust_context`) and of an AssumeRole
/// (`assume_role::trust_context`: the caller's [`session_context`] and the request's keys).
pub(crate) const TRUST_POLICY_KEYS: [&str; 23] = [
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalType",
    "aws:RequestedRegion",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:TagKeys",
    "aws:TokenIssueTime",
    "aws:userid",
    "aws:ViaAWSService",
    "sts:ExternalId",
    "sts:RoleSessionName",
    "sts:SourceIdentity",
    "sts:TransitiveTagKeys",
];

/// The tag keys of a trust policy evaluation: the certificate's or the caller's tags, and the
/// tags requested for the new session.
pub(crate) const TRUST_POLICY_KEY_PREFIXES: [&str; 2] = ["aws:PrincipalTag/", "aws:RequestTag/"];

/// Whether a trust policy evaluation can ever hold `key` (compared without regard to case, as
/// IAM compares keys). A condition on any other key meets it absent every time; a load warning
/// names such keys, most likely misspelt.
pub(crate) fn is_trust_policy_key(key: &str) -> bool {
    let key = crate::policy::fold_key(key);
    TRUST_POLICY_KEYS.iter().any(|known| known.eq_ignore_ascii_case(&key))
        || TRUST_POLICY_KEY_PREFIXES.iter().any(|prefix| {
            key.len() > prefix.len()
                && key
                    .get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
}
