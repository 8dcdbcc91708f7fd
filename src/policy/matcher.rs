//! The `Action`/`NotAction` and `Resource`/`NotResource` elements.
//!
//! Actions are `*` or `service:ActionName` with `*`/`?` wildcards, matched case-insensitively
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>).
//! Resources are `*` or ARNs with wildcards, matched case-sensitively over the whole ARN, with
//! policy variables in 2012-10-17 documents
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>).

use super::context::RequestContext;
use super::error::{PolicyError, PolicyErrorKind};
use super::variables::Template;
use super::wildcard::{Case, Pattern};

/// One action pattern.
#[derive(Clone, Debug)]
pub struct ActionPattern {
    text: String,
    pattern: Pattern,
}

impl ActionPattern {
    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `ctx.action` matches, counted against the request's matching bound.
    pub(crate) fn matches_action_of(&self, ctx: &RequestContext) -> bool {
        ctx.pattern_matches(&self.pattern, &ctx.action)
    }

    pub(crate) fn parse(text: &str, path: &str) -> Result<Self, PolicyError> {
        let valid = text == "*"
            || text.split_once(':').is_some_and(|(service, name)| {
                !service.is_empty()
                    && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_'))
            });
        match valid {
            true => Ok(Self {
                text: text.to_owned(),
                pattern: Pattern::compile(text, Case::AsciiInsensitive),
            }),
            false => Err(PolicyError::new(path, PolicyErrorKind::InvalidAction(text.to_owned()))),
        }
    }
}

/// One resource pattern.
#[derive(Clone, Debug)]
pub struct ResourcePattern {
    text: String,
    matcher: ResourceMatcher,
}

#[derive(Clone, Debug)]
enum ResourceMatcher {
    Static(Pattern),
    Template(Template),
}

impl ResourcePattern {
    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pattern with its policy variables substituted from `ctx`, as a condition's values
    /// are shown (`… (unresolved variable)` when one has no value).
    pub fn resolved_text(&self, ctx: &RequestContext) -> String {
        match &self.matcher {
            ResourceMatcher::Static(_) => self.text.clone(),
            ResourceMatcher::Template(t) => t
                .resolve_text(ctx)
                .unwrap_or_else(|| format!("{} (unresolved variable)", self.text)),
        }
    }

    /// The context keys of its policy variables, lowercased.
    pub fn variable_keys(&self) -> impl Iterator<Item = &str> {
        match &self.matcher {
            ResourceMatcher::Static(_) => None,
            ResourceMatcher::Template(t) => Some(t.variable_keys()),
        }
        .into_iter()
        .flatten()
    }

    /// Whether its policy variables, if any, resolve in `ctx`.
    pub fn resolves(&self, ctx: &RequestContext) -> bool {
        match &self.matcher {
            ResourceMatcher::Static(_) => true,
            ResourceMatcher::Template(t) => t.resolves(ctx),
        }
    }

    /// Whether `ctx.resource` matches; a pattern with an unresolvable policy variable does not.
    pub fn matches(&self, ctx: &RequestContext) -> bool {
        match &self.matcher {
            ResourceMatcher::Static(p) => ctx.pattern_matches(p, &ctx.resource),
            ResourceMatcher::Template(t) => t
                .resolve_pattern(ctx, Case::Sensitive)
                .is_some_and(|p| ctx.pattern_matches(&p.within_arn_segments(), &ctx.resource)),
        }
    }

    pub(crate) fn parse(text: &str, variables: bool, path: &str) -> Result<Self, PolicyError> {
        if text != "*" && !text.starts_with("arn:") {
            return Err(PolicyError::new(
                path,
                PolicyErrorKind::InvalidResource(text.to_owned()),
            ));
        }
        if text != "*" {
            check_partition_and_service(text).map_err(|kind| PolicyError::new(path, kind))?;
        }
        let template = match variables {
            true => Template::parse(text, path)?,
            false => None,
        };
        let matcher = match template {
            Some(_) if !variables_in_resource_part(text) => {
                return Err(PolicyError::new(
                    path,
                    PolicyErrorKind::VariableOutsideResourcePart(text.to_owned()),
                ));
            }
            Some(t) => ResourceMatcher::Template(t),
            None => ResourceMatcher::Static(Pattern::compile(text, Case::Sensitive).within_arn_segments()),
        };
        Ok(Self {
            text: text.to_owned(),
            matcher,
        })
    }
}

/// IAM's rule for the first two segments of a Resource ARN
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>):
/// - the partition is named in full, or is `*` alone (every partition: AWS's own policies and
///   documentation write `arn:*:ec2:*:*:…`); a partial pattern (`aws*`) names no partition, and
///   IAM refuses it: `Partition "aws*" is not valid for resource "…".`;
/// - the service is named in full: "You can't use a wildcard in the service segment that
///   identifies the AWS product", refused by IAM as `Resource vendor must be fully qualified
///   and cannot contain regexes.`, as is an ARN that has no service segment (`arn:*`, whose
///   `*` would reach over every service).
fn check_partition_and_service(arn: &str) -> Result<(), PolicyErrorKind> {
    let is_pattern = |segment: &str| segment.contains(['*', '?']);
    let mut segments = arn.splitn(4, ':').skip(1);
    let partition = segments.next().unwrap_or_default();
    if partition != "*" && is_pattern(partition) {
        return Err(PolicyErrorKind::ResourcePartitionPattern {
            resource: arn.to_owned(),
            partition: partition.to_owned(),
        });
    }
    let unqualified = |reason| PolicyErrorKind::UnqualifiedResourceService {
        resource: arn.to_owned(),
        reason,
    };
    match segments.next() {
        None => Err(unqualified("it has no service segment")),
        Some(service) if is_pattern(service) => Err(unqualified(
            "a wildcard may not stand for the service: name it, with one ARN per service",
        )),
        Some(_) => Ok(()),
    }
}

/// Whether every `${` of a Resource ARN is in its resource part, after the fifth colon.
fn variables_in_resource_part(arn: &str) -> bool {
    match arn.match_indices(':').nth(4) {
        Some((fifth, _)) => !arn[..fifth].contains("${"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::Principal;
    use super::*;

    #[test]
    fn action_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "sts:AssumeRole", true),
            ("sts:*", "sts:TagSession", true),
            ("sts:AssumeRole", "STS:assumerole", true),
            ("sts:AssumeRole*", "sts:AssumeRoleWithSAML", true),
            ("sts:AssumeRole", "sts:AssumeRoleWithSAML", false),
            ("s3:Get?bject", "s3:GetObject", true),
            ("s3:*", "sts:AssumeRole", false),
        ];
        for (pattern, action, want) in cases {
            let p = ActionPattern::parse(pattern, "Action").unwrap();
            assert_eq!(p.pattern.matches(action), *want, "{pattern} vs {action}");
        }
    }

    #[test]
    fn action_errors() {
        for bad in ["AssumeRole", "sts:", ":x", "sts:Assume Role", "s*:x", ""] {
            let err = ActionPattern::parse(bad, "Action[0]").unwrap_err();
            assert_eq!(err.path(), "Action[0]");
            assert_eq!(err.kind(), &PolicyErrorKind::InvalidAction(bad.into()));
        }
    }

    #[test]
    fn resource_table() {
        let mut ctx = RequestContext::new(
            Principal::Service("s".into()),
            "s3:GetObject",
            "arn:aws:s3:::bucket/home/alice/file",
        );
        ctx.insert("aws:username", "alice");
        let cases: &[(&str, bool, bool)] = &[
            ("*", true, true),
            ("arn:aws:s3:::bucket/*", true, true),
            ("arn:aws:s3:::BUCKET/*", true, false),
            ("arn:aws:s3:::bucket/home/${aws:username}/*", true, true),
            ("arn:aws:s3:::bucket/home/${aws:username}/*", false, false),
            ("arn:aws:s3:::bucket/home/${aws:userid}/*", true, false),
            ("arn:aws:s3:::bucket/home/${aws:userid, 'alice'}/*", true, true),
        ];
        for (pattern, vars, want) in cases {
            let p = ResourcePattern::parse(pattern, *vars, "Resource").unwrap();
            assert_eq!(p.matches(&ctx), *want, "{pattern} (variables: {vars})");
        }
    }

    #[test]
    fn resource_errors() {
        let err = ResourcePattern::parse("bucket/*", true, "Statement.Resource").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Statement.Resource: invalid resource 'bucket/*': expected \"*\" or an ARN starting with \"arn:\""
        );
    }

    #[test]
    fn partition_is_named_or_any_and_service_named() {
        for ok in [
            "*",
            "arn:aws:s3:::b/k",
            "arn:*:s3:::b/k",
            "arn:*:ec2:*:*:launch-template/*",
            "arn:aws-us-gov:iam::*:role/*",
            "arn:aws:s3:::b*",
            "arn:aws:dynamodb:*:123456789012:table/?rders",
        ] {
            for variables in [true, false] {
                assert!(ResourcePattern::parse(ok, variables, "Resource").is_ok(), "{ok}");
            }
        }
        let partition = |resource: &str, partition: &str| PolicyErrorKind::ResourcePartitionPattern {
            resource: resource.into(),
            partition: partition.into(),
        };
        let service = |resource: &str, reason| PolicyErrorKind::UnqualifiedResourceService {
            resource: resource.into(),
            reason,
        };
        const WILDCARD: &str = "a wildcard may not stand for the service: name it, with one ARN per service";
        let cases = [
            ("arn:aws*:s3:::b/k", partition("arn:aws*:s3:::b/k", "aws*")),
            ("arn:a?s:s3:::b/k", partition("arn:a?s:s3:::b/k", "a?s")),
            ("arn:*-us-gov:s3:::b/k", partition("arn:*-us-gov:s3:::b/k", "*-us-gov")),
            ("arn:aws*", partition("arn:aws*", "aws*")),
            ("arn:aws:s*:::b/k", service("arn:aws:s*:::b/k", WILDCARD)),
            ("arn:aws:*:*:*:*prod*", service("arn:aws:*:*:*:*prod*", WILDCARD)),
            ("arn:*:*:::b/k", service("arn:*:*:::b/k", WILDCARD)),
            ("arn:aws:s?:::b/k", service("arn:aws:s?:::b/k", WILDCARD)),
            ("arn:*", service("arn:*", "it has no service segment")),
            ("arn:aws", service("arn:aws", "it has no service segment")),
        ];
        for (text, want) in cases {
            let err = ResourcePattern::parse(text, true, "Statement.NotResource[1]").unwrap_err();
            assert_eq!(err.path(), "Statement.NotResource[1]", "{text}");
            assert_eq!(err.kind(), &want, "{text}");
        }
        assert_eq!(
            ResourcePattern::parse("arn:aws*:s3:::b/k", true, "Statement.Resource")
                .unwrap_err()
                .to_string(),
            "Statement.Resource: invalid resource 'arn:aws*:s3:::b/k': Partition \"aws*\" is not valid for resource \"arn:aws*:s3:::b/k\" (write the partition in full, such as aws or aws-us-gov, or \"*\" alone for every partition)"
        );
        assert_eq!(
            ResourcePattern::parse("arn:aws:s*:::b/k", true, "Statement.Resource")
                .unwrap_err()
                .to_string(),
            "Statement.Resource: invalid resource 'arn:aws:s*:::b/k': Resource vendor must be fully qualified and cannot contain regexes (a wildcard may not stand for the service: name it, with one ARN per service)"
        );
    }
}
