//! The `Principal` / `NotPrincipal` element and how it matches a caller
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
//!
//! - `"*"` and `{"AWS": "*"}` match every caller (services included).
//! - `arn:{partition}:iam::{account}:root` matches any role session of that account in that
//!   partition; a bare 12-digit account id matches the account in any partition (IAM reads it
//!   as the root ARN in the policy's own partition, which is the caller's wherever a trust
//!   policy can name it).
//! - A role ARN matches sessions of that role (compared exactly: the configured role ARN is the
//!   canonical spelling, and a near-miss must not grant); an
//!   `arn:{partition}:sts::{account}:assumed-role/{name}/{session}` ARN matches that one session.
//! - `{"Service": name}` matches [`Principal::Service`] by case-insensitive name.
//! - `Federated`, `CanonicalUser` and IAM user ARNs are accepted but never match (rolegate has
//!   no such callers).
//!
//! Wildcards are not allowed inside principal values, exactly as in IAM; use `"*"` plus a
//! condition on `aws:PrincipalArn` instead.

use super::context::Principal;
use super::error::{PolicyError, PolicyErrorKind};

/// One entry of a `Principal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Everyone,
    /// `arn:{partition}:iam::{account}:root` (partition given) or `{account}` (any partition):
    /// any principal of the account.
    Account {
        /// The ARN's partition; `None` for a bare account id.
        partition: Option<String>,
        /// The 12-digit account id.
        account: String,
    },
    /// A role ARN: sessions of that role.
    Role(String),
    /// An assumed-role session ARN: that session only.
    AssumedRole(String),
    /// Another AWS principal (IAM user, federated user): never matches a rolegate caller.
    OtherAws(String),
    /// A service principal name, stored lowercased.
    Service(String),
    /// A `Federated` or `CanonicalUser` principal: never matches a rolegate caller.
    Unsupported(String),
}

impl PrincipalEntry {
    /// Whether this entry names `principal`.
    pub fn matches(&self, principal: &Principal) -> bool {
        match (self, principal) {
            (Self::Everyone, _) => true,
            (Self::Service(name), Principal::Service(svc)) => name.eq_ignore_ascii_case(svc),
            (
                Self::Account {
                    partition,
                    account: acct,
                },
                Principal::Aws { account, role_arn, .. },
            ) => acct == account && partition.as_deref().is_none_or(|p| partition_of(role_arn) == Some(p)),
            (Self::Role(arn), Principal::Aws { role_arn, .. }) => arn == role_arn,
            (Self::AssumedRole(arn), Principal::Aws { session_arn, .. }) => {
                session_arn.as_deref() == Some(arn.as_str())
            }
            _ => false,
        }
    }
}

/// Parse one value under `"AWS"`.
pub(crate) fn parse_aws(value: &str, path: &str) -> Result<PrincipalEntry, PolicyError> {
    let invalid = |reason| {
        PolicyError::new(
            path,
            PolicyErrorKind::InvalidPrincipal {
                value: value.to_owned(),
                reason,
            },
        )
    };
    if value == "*" {
        return Ok(PrincipalEntry::Everyone);
    }
    if value.contains(['*', '?']) {
        return Err(invalid(
            "wildcards are not allowed in principals; use \"*\" with an ArnLike condition on aws:PrincipalArn",
        ));
    }
    if is_account_id(value) {
        return Ok(PrincipalEntry::Account {
            partition: None,
            account: value.to_owned(),
        });
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return Err(invalid(
            "expected \"*\", a 12-digit account id, or an ARN such as arn:aws:iam::123456789012:role/name",
        ));
    };
    if arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return Err(invalid(
            "expected an ARN of the form arn:aws:iam::123456789012:role/name (12-digit account, empty region)",
        ));
    }
    let entry = match (service, resource) {
        ("iam", "root") => PrincipalEntry::Account {
            partition: Some(partition.to_owned()),
            account: account.to_owned(),
        },
        ("iam", r) if has_name(r, "role/") => PrincipalEntry::Role(value.to_owned()),
        ("iam", r) if has_name(r, "user/") => PrincipalEntry::OtherAws(value.to_owned()),
        ("sts", r) if is_assumed_role(r) => PrincipalEntry::AssumedRole(value.to_owned()),
        ("sts", r) if has_name(r, "federated-user/") => PrincipalEntry::OtherAws(value.to_owned()),
        _ => {
            return Err(invalid(
                "expected an iam root, role or user ARN, or an sts assumed-role ARN",
            ));
        }
    };
    Ok(entry)
}

/// Parse one value under `"Service"`.
pub(crate) fn parse_service(value: &str, path: &str) -> Result<PrincipalEntry, PolicyError> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    match valid {
        true => Ok(PrincipalEntry::Service(value.to_ascii_lowercase())),
        false => Err(PolicyError::new(
            path,
            PolicyErrorKind::InvalidPrincipal {
                value: value.to_owned(),
                reason: "expected a service name such as rolesanywhere.amazonaws.com",
            },
        )),
    }
}

/// The partition of an ARN (`aws` in `arn:aws:iam::…`).
fn partition_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').next()
}

/// A 12-digit AWS account id.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `prefix` followed by a non-empty name.
fn has_name(resource: &str, prefix: &str) -> bool {
    resource.strip_prefix(prefix).is_some_and(|n| !n.is_empty())
}

/// `assumed-role/{role-name}/{session-name}`.
fn is_assumed_role(resource: &str) -> bool {
    resource
        .strip_prefix("assumed-role/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(role, session)| !role.is_empty() && !session.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/path/app";
    const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/app/web-1";

    fn session() -> Principal {
        Principal::Aws {
            role_arn: ROLE.into(),
            session_arn: Some(SESSION.into()),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn aws_matching_table() {
        let cases: &[(&str, bool)] = &[
            ("*", true),
            ("123456789012", true),
            ("210987654321", false),
            ("arn:aws:iam::123456789012:root", true),
            ("arn:aws:iam::210987654321:root", false),
            ("arn:aws-us-gov:iam::123456789012:root", false),
            ("arn:aws-cn:iam::123456789012:root", false),
            (ROLE, true),
            ("arn:aws:iam::123456789012:role/app", false),
            ("arn:aws:iam::123456789012:role/path/App", false),
            (SESSION, true),
            ("arn:aws:sts::123456789012:assumed-role/app/web-2", false),
            ("arn:aws:iam::123456789012:user/alice", false),
        ];
        for (value, want) in cases {
            let entry = parse_aws(value, "Principal.AWS").unwrap();
            assert_eq!(entry.matches(&session()), *want, "{value}");
            let service = Principal::Service("rolesanywhere.amazonaws.com".into());
            assert_eq!(entry.matches(&service), *value == "*", "{value} vs service");
        }
    }

    #[test]
    fn account_root_arns_match_within_their_partition() {
        let gov = Principal::Aws {
            role_arn: "arn:aws-us-gov:iam::123456789012:role/app".into(),
            session_arn: Some("arn:aws-us-gov:sts::123456789012:assumed-role/app/web-1".into()),
            account: "123456789012".into(),
        };
        let cases: &[(&str, bool)] = &[
            ("arn:aws-us-gov:iam::123456789012:root", true),
            ("arn:aws:iam::123456789012:root", false),
            ("123456789012", true),
        ];
        for (value, want) in cases {
            let entry = parse_aws(value, "Principal.AWS").unwrap();
            assert_eq!(entry.matches(&gov), *want, "{value}");
        }
    }

    #[test]
    fn service_matching_is_case_insensitive() {
        let entry = parse_service("RolesAnywhere.amazonaws.com", "p").unwrap();
        assert!(entry.matches(&Principal::Service("rolesanywhere.amazonaws.com".into())));
        assert!(!entry.matches(&Principal::Service("ec2.amazonaws.com".into())));
        assert!(!entry.matches(&session()));
    }

    #[test]
    fn aws_parse_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "arn:aws:iam::123456789012:role/*",
                "wildcards are not allowed in principals; use \"*\" with an ArnLike condition on aws:PrincipalArn",
            ),
            (
                "alice",
                "expected \"*\", a 12-digit account id, or an ARN such as arn:aws:iam::123456789012:role/name",
            ),
            (
                "arn:aws:iam::1234:root",
                "expected an ARN of the form arn:aws:iam::123456789012:role/name (12-digit account, empty region)",
            ),
            (
                "arn:aws:s3:::123456789012:bucket",
                "expected an ARN of the form arn:aws:iam::123456789012:role/name (12-digit account, empty region)",
            ),
            (
                "arn:aws:iam::123456789012:group/x",
                "expected an iam root, role or user ARN, or an sts assumed-role ARN",
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/app",
                "expected an iam root, role or user ARN, or an sts assumed-role ARN",
            ),
        ];
        for (value, reason) in cases {
            let err = parse_aws(value, "Principal.AWS").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("Principal.AWS: invalid principal '{value}': {reason}")
            );
        }
    }
}
