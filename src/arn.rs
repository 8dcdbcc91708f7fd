//! Amazon Resource Names of the objects rolegate serves: roles, trust anchors, profiles,
//! managed policies and assumed-role sessions. Parsed once into newtypes so the rest of the
//! crate never re-splits strings.
//!
//! Formats (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>):
//! - role: `arn:{partition}:iam::{account}:role/{path/}{name}`
//! - trust anchor: `arn:{partition}:rolesanywhere:{region}:{account}:trust-anchor/{id}`
//! - profile: `arn:{partition}:rolesanywhere:{region}:{account}:profile/{id}`
//! - managed policy: `arn:{partition}:iam::{account}:policy/{path/}{name}`

use std::fmt;

/// Why a string is not the ARN that was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("'{0}' is not an ARN: expected arn:partition:service:region:account:resource")]
    Malformed(String),
    #[error("'{arn}' is not a {expected} ARN")]
    WrongKind { arn: String, expected: &'static str },
    #[error("'{0}' has an invalid account id: expected 12 digits")]
    BadAccount(String),
    #[error("'{0}' has an invalid resource name")]
    BadName(String),
}

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ArnError::BadAccount(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The six colon-separated fields of any ARN; the resource keeps its own colons.
struct ArnParts<'a> {
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn split_arn(s: &str) -> Result<ArnParts<'_>, ArnError> {
    let mut it = s.splitn(6, ':');
    let malformed = || ArnError::Malformed(s.to_owned());
    if it.next() != Some("arn") {
        return Err(malformed());
    }
    let partition = it.next().ok_or_else(malformed)?;
    let service = it.next().ok_or_else(malformed)?;
    let region = it.next().ok_or_else(malformed)?;
    let account = it.next().ok_or_else(malformed)?;
    let resource = it.next().ok_or_else(malformed)?;
    if partition.is_empty() || service.is_empty() || resource.is_empty() {
        return Err(malformed());
    }
    Ok(ArnParts {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// Whether `s` has the six fields of an ARN (`arn:partition:service:region:account-id:resource`,
/// partition, service and resource not empty), whatever its service.
pub fn is_arn(s: &str) -> bool {
    split_arn(s).is_ok()
}

/// IAM name characters: `[\w+=,.@-]`, 1..=64 (role names), paths `/(segment/)*`.
fn is_iam_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.chars().all(is_iam_name_char)
}

/// A character of IAM's names (roles, role session names, source identities):
/// `[\w+=,.@-]`, `\w` being ASCII letters, digits and `_` (Java's regular expressions, in
/// which AWS writes its patterns).
pub(crate) fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn split_path_name(resource_rest: &str) -> (&str, &str) {
    match resource_rest.rfind('/') {
        Some(i) => (&resource_rest[..=i], &resource_rest[i + 1..]),
        None => ("", resource_rest),
    }
}

/// `arn:aws:iam::123456789012:role/path/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleArn {
    full: String,
    account: AccountId,
    partition_len: usize,
    name: String,
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let parts = split_arn(s)?;
        let wrong = || ArnError::WrongKind {
            arn: s.to_owned(),
            expected: "role",
        };
        if parts.service != "iam" || !parts.region.is_empty() {
            return Err(wrong());
        }
        let rest = parts.resource.strip_prefix("role/").ok_or_else(wrong)?;
        let account = AccountId::parse(parts.account).map_err(|_| ArnError::BadAccount(s.to_owned()))?;
        let (path, name) = split_path_name(rest);
        if !is_iam_name(name, 64) || !path.split('/').all(|seg| seg.is_empty() || is_iam_name(seg, 512)) {
            return Err(ArnError::BadName(s.to_owned()));
        }
        Ok(Self {
            full: s.to_owned(),
            account,
            partition_len: parts.partition.len(),
            name: name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    pub fn partition(&self) -> &str {
        &self.full[4..4 + self.partition_len]
    }

    /// The role name without its path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `arn:{partition}:sts::{account}:assumed-role/{name}/{session}`.
    pub fn assumed_role_arn(&self, session_name: &str) -> String {
        format!(
            "arn:{}:sts::{}:assumed-role/{}/{}",
            self.partition(),
            self.account,
            self.name,
            session_name
        )
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Which Roles Anywhere resource an ARN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolesAnywhereKind {
    TrustAnchor,
    Profile,
}

impl RolesAnywhereKind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Self::TrustAnchor => "trust-anchor/",
            Self::Profile => "profile/",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::TrustAnchor => "trust anchor",
            Self::Profile => "profile",
        }
    }
}

/// `arn:aws:rolesanywhere:{region}:{account}:{trust-anchor|profile}/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RolesAnywhereArn {
    full: String,
}

impl RolesAnywhereArn {
    pub fn parse(s: &str, kind: RolesAnywhereKind) -> Result<Self, ArnError> {
        let parts = split_arn(s)?;
        let wrong = || ArnError::WrongKind {
            arn: s.to_owned(),
            expected: kind.label(),
        };
        if parts.service != "rolesanywhere" || parts.region.is_empty() {
            return Err(wrong());
        }
        AccountId::parse(parts.account).map_err(|_| ArnError::BadAccount(s.to_owned()))?;
        let id = parts.resource.strip_prefix(kind.prefix()).ok_or_else(wrong)?;
        if id.is_empty() || id.contains('/') {
            return Err(ArnError::BadName(s.to_owned()));
        }
        Ok(Self { full: s.to_owned() })
    }

    /// Builds the ARN of a configured resource.
    pub fn build(kind: RolesAnywhereKind, region: &str, account: &AccountId, id: &str) -> Self {
        Self {
            full: format!("arn:aws:rolesanywhere:{region}:{account}:{}{id}", kind.prefix()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl fmt::Display for RolesAnywhereArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// `arn:aws:iam::{account}:policy/{path/}{name}` (managed policies); `{account}` is `aws` for
/// an AWS managed policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyArn(String);

/// The account of AWS managed policies (`arn:aws:iam::aws:policy/ReadOnlyAccess`).
pub const AWS_MANAGED_ACCOUNT: &str = "aws";

impl PolicyArn {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let parts = split_arn(s)?;
        let wrong = || ArnError::WrongKind {
            arn: s.to_owned(),
            expected: "managed policy",
        };
        if parts.service != "iam" || !parts.region.is_empty() {
            return Err(wrong());
        }
        if parts.account != AWS_MANAGED_ACCOUNT {
            AccountId::parse(parts.account).map_err(|_| ArnError::BadAccount(s.to_owned()))?;
        }
        let rest = parts.resource.strip_prefix("policy/").ok_or_else(wrong)?;
        let (_, name) = split_path_name(rest);
        if !is_iam_name(name, 128) {
            return Err(ArnError::BadName(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition (`aws`, `aws-us-gov`, …).
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or_default()
    }

    /// The owning account: 12 digits, or `aws` for an AWS managed policy.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// Whether STS attaches this policy as a managed session policy (`PolicyArns`) of a
    /// session of `role`: "The policies must exist in the same account as the role"
    /// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>), or be AWS
    /// managed policies, which every account sees — in the role's partition either way (an
    /// account, and the AWS managed policies, exist in one partition).
    pub fn is_attachable_to(&self, role: &RoleArn) -> bool {
        self.partition() == role.partition()
            && (self.account() == AWS_MANAGED_ACCOUNT || self.account() == role.account().as_str())
    }
}

impl fmt::Display for PolicyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arn_with_path() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/team/app").unwrap();
        assert_eq!(arn.name(), "app");
        assert_eq!(arn.account().as_str(), "123456789012");
        assert_eq!(
            arn.assumed_role_arn("s1"),
            "arn:aws:sts::123456789012:assumed-role/app/s1"
        );
    }

    #[test]
    fn role_arn_rejects() {
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::12345:role/x"),
            Err(ArnError::BadAccount(_))
        ));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::123456789012:user/x"),
            Err(ArnError::WrongKind { .. })
        ));
        assert!(matches!(RoleArn::parse("role/x"), Err(ArnError::Malformed(_))));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::123456789012:role/a b"),
            Err(ArnError::BadName(_))
        ));
    }

    #[test]
    fn managed_policies_attach_in_the_roles_account_or_aws() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/app").unwrap();
        let cases = [
            ("arn:aws:iam::123456789012:policy/read-only", true),
            ("arn:aws:iam::123456789012:policy/team/read-only", true),
            ("arn:aws:iam::aws:policy/ReadOnlyAccess", true),
            ("arn:aws:iam::210987654321:policy/read-only", false),
            ("arn:aws-us-gov:iam::123456789012:policy/read-only", false),
            ("arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess", false),
        ];
        for (arn, want) in cases {
            let policy = PolicyArn::parse(arn).unwrap();
            assert_eq!(policy.is_attachable_to(&role), want, "{arn}");
        }
        let gov = RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/app").unwrap();
        let policy = PolicyArn::parse("arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess").unwrap();
        assert!(policy.is_attachable_to(&gov));
        assert_eq!((policy.partition(), policy.account()), ("aws-us-gov", "aws"));
    }

    #[test]
    fn rolesanywhere_arns() {
        let a = RolesAnywhereArn::parse(
            "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem",
            RolesAnywhereKind::TrustAnchor,
        )
        .unwrap();
        assert_eq!(
            a.as_str(),
            "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem"
        );
        assert!(
            RolesAnywhereArn::parse(a.as_str(), RolesAnywhereKind::Profile).is_err(),
            "a trust anchor ARN is not a profile ARN"
        );
        let acct = AccountId::parse("123456789012").unwrap();
        let p = RolesAnywhereArn::build(RolesAnywhereKind::Profile, "eu-west-1", &acct, "w");
        assert_eq!(p.as_str(), "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/w");
    }
}
