//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'default'}` and the escapes
//! `${*}`, `${?}`, `${$}`
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>).
//!
//! Variables are substituted only in `"Version": "2012-10-17"` documents; in older documents
//! `${...}` is ordinary text. A variable resolves from a single-valued context key; if the key is
//! absent (or multi-valued) the default is used, and without a default the variable is
//! unresolvable and the element containing it does not match. Substituted text is literal: a
//! `*` inside a tag value never acts as a wildcard.

use super::context::{ContextValue, RequestContext};
use super::error::{PolicyError, PolicyErrorKind};
use super::wildcard::{Case, Pattern};

/// Text with policy variables, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// Policy text; may contain wildcards where the element supports them.
    Text(String),
    /// `${key}` or `${key, 'default'}`; `key` is lowercased.
    Variable { key: String, default: Option<String> },
    /// `${*}`, `${?}` or `${$}`: the character itself, never a wildcard.
    Escaped(char),
}

impl Template {
    /// Parse `text`. Returns `None` when it contains no variables (callers then precompile the
    /// plain text). `path` is used for errors.
    pub(crate) fn parse(text: &str, path: &str) -> Result<Option<Self>, PolicyError> {
        if !text.contains("${") {
            return Ok(None);
        }
        let invalid = |reason| {
            PolicyError::new(
                path,
                PolicyErrorKind::InvalidVariable {
                    value: text.to_owned(),
                    reason,
                },
            )
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some((before, after_open)) = rest.split_once("${") {
            if !before.is_empty() {
                parts.push(Part::Text(before.to_owned()));
            }
            let Some((body, after_close)) = after_open.split_once('}') else {
                return Err(invalid("'${' is not closed by '}'"));
            };
            parts.push(parse_variable(body).map_err(invalid)?);
            rest = after_close;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Some(Self { parts }))
    }

    /// The context keys of the variables, lowercased.
    pub(crate) fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable { key, .. } => Some(key.as_str()),
            Part::Text(_) | Part::Escaped(_) => None,
        })
    }

    /// Whether every variable resolves in `ctx` (from its key or its default).
    pub(crate) fn resolves(&self, ctx: &RequestContext) -> bool {
        self.parts.iter().all(|part| match part {
            Part::Variable { key, default } => lookup(ctx, key, default).is_some(),
            Part::Text(_) | Part::Escaped(_) => true,
        })
    }

    /// Substitute variables, producing plain text (for exact-match operators). `None` when a
    /// variable is unresolvable.
    pub(crate) fn resolve_text(&self, ctx: &RequestContext) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Escaped(c) => out.push(*c),
                Part::Variable { key, default } => out.push_str(lookup(ctx, key, default)?),
            }
        }
        Some(out)
    }

    /// Substitute variables, producing a wildcard pattern in which only the policy's own text
    /// carries wildcards. `None` when a variable is unresolvable.
    pub(crate) fn resolve_pattern(&self, ctx: &RequestContext, case: Case) -> Option<Pattern> {
        let mut pattern = Pattern::empty(case);
        for part in &self.parts {
            match part {
                Part::Text(t) => pattern.push_wildcard_text(t),
                Part::Escaped(c) => pattern.push_literal(c.encode_utf8(&mut [0; 4])),
                Part::Variable { key, default } => pattern.push_literal(lookup(ctx, key, default)?),
            }
        }
        Some(pattern)
    }
}

/// Parse the inside of `${...}`.
fn parse_variable(body: &str) -> Result<Part, &'static str> {
    match body {
        "*" => return Ok(Part::Escaped('*')),
        "?" => return Ok(Part::Escaped('?')),
        "$" => return Ok(Part::Escaped('$')),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .filter(|d| !d.contains('\''));
            match quoted {
                Some(d) => (key.trim(), Some(d.to_owned())),
                None => {
                    return Err(
                        "a default value must be written in single quotes, as in ${aws:PrincipalTag/team, 'none'}",
                    );
                }
            }
        }
    };
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '{' || c == '$') {
        return Err("the variable name must be a context key such as ${aws:username}");
    }
    Ok(Part::Variable {
        key: super::context::fold_key(key),
        default,
    })
}

fn lookup<'a>(ctx: &'a RequestContext, key: &str, default: &'a Option<String>) -> Option<&'a str> {
    match ctx.value_lower(key) {
        Some(ContextValue::Single(v)) => Some(v),
        _ => default.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::Principal;
    use super::*;

    fn ctx() -> RequestContext {
        let mut ctx = RequestContext::new(Principal::Service("s".into()), "a:b", "r");
        ctx.insert("aws:PrincipalTag/team", "blue*");
        ctx.insert_multi("aws:TagKeys", vec!["a".into()]);
        ctx
    }

    #[test]
    fn resolution_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("team/${aws:principaltag/TEAM}/x", Some("team/blue*/x")),
            ("${aws:PrincipalTag/missing, 'none'}", Some("none")),
            ("${aws:PrincipalTag/missing,'none'}", Some("none")),
            ("${aws:PrincipalTag/team, 'none'}", Some("blue*")),
            ("${aws:PrincipalTag/missing}", None),
            ("${aws:TagKeys}", None),
            ("a${*}b${?}c${$}", Some("a*b?c$")),
        ];
        for (text, want) in cases {
            let t = Template::parse(text, "p").unwrap().unwrap();
            assert_eq!(t.resolve_text(&ctx()).as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn substituted_values_are_literal_in_patterns() {
        let t = Template::parse("arn:x:${aws:PrincipalTag/team}", "p").unwrap().unwrap();
        let p = t.resolve_pattern(&ctx(), Case::Sensitive).unwrap();
        assert!(p.matches("arn:x:blue*"));
        assert!(!p.matches("arn:x:blueberry"));
        let t = Template::parse("x/${*}/*", "p").unwrap().unwrap();
        let p = t.resolve_pattern(&ctx(), Case::Sensitive).unwrap();
        assert!(p.matches("x/*/anything"));
        assert!(!p.matches("x/y/anything"));
    }

    #[test]
    fn plain_text_has_no_template() {
        assert_eq!(Template::parse("arn:aws:s3:::b/*", "p").unwrap(), None);
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "${aws:username",
                "Resource: invalid policy variable in '${aws:username': '${' is not closed by '}'",
            ),
            (
                "${}",
                "Resource: invalid policy variable in '${}': the variable name must be a context key such as ${aws:username}",
            ),
            (
                "${aws:x, none}",
                "Resource: invalid policy variable in '${aws:x, none}': a default value must be written in single quotes, as in ${aws:PrincipalTag/team, 'none'}",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Template::parse(text, "Resource").unwrap_err().to_string(), *want);
        }
    }
}
