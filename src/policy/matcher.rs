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

    /// Whether `action` matches (case-insensitively).
    pub fn matches(&self, action: &str) -> bool {
        self.pattern.matches(action)
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
            ResourceMatcher::Static(p) => p.matches(&ctx.resource),
            ResourceMatcher::Template(t) => t
                .resolve_pattern(ctx, Case::Sensitive)
                .is_some_and(|p| p.within_arn_segments().matches(&ctx.resource)),
        }
    }

    pub(crate) fn parse(text: &str, variables: bool, path: &str) -> Result<Self, PolicyError> {
        if text != "*" && !text.starts_with("arn:") {
            return Err(PolicyError::new(
                path,
                PolicyErrorKind::InvalidResource(text.to_owned()),
            ));
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
            assert_eq!(p.matches(action), *want, "{pattern} vs {action}");
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
}
