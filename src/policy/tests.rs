//! End-to-end tables for the policy engine: every condition operator with its missing-key,
//! `IfExists`, set-qualifier and case rules; deny-wins evaluation; `Not*` elements; principal
//! matching; policy variables; session-policy intersection; parse errors with exact paths.

use super::*;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/app";
const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/app/web-1";
const ANCHOR: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem";
const RA: &str = "rolesanywhere.amazonaws.com";

/// A context value in a table row.
enum V {
    S(&'static str),
    M(&'static [&'static str]),
}

/// Context keys of a table row.
type Keys<'a> = &'a [(&'a str, V)];

fn context(principal: Principal, keys: Keys) -> RequestContext {
    let mut ctx = RequestContext::new(principal, "sts:AssumeRole", ROLE);
    for (k, v) in keys {
        match v {
            V::S(s) => ctx.insert(*k, *s),
            V::M(m) => ctx.insert_multi(*k, m.iter().map(|s| s.to_string()).collect()),
        }
    }
    ctx
}

fn service() -> Principal {
    Principal::Service(RA.into())
}

fn role_session() -> Principal {
    Principal::Aws {
        role_arn: ROLE.into(),
        session_arn: Some(SESSION.into()),
        account: ACCOUNT.into(),
    }
}

fn identity(json: &str) -> PolicyDocument {
    PolicyDocument::parse(json, PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn trust(json: &str) -> PolicyDocument {
    PolicyDocument::parse(json, PolicyKind::Trust).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

/// Whether an Allow statement with `condition` applies.
fn condition_holds(version: &str, condition: &str, keys: Keys) -> bool {
    let doc = identity(&format!(
        r#"{{"Version":"{version}","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}}}"#
    ));
    evaluate(&[&doc], &context(service(), keys)).is_allowed()
}

#[test]
fn condition_operator_table() {
    use V::*;
    #[rustfmt::skip]
    let cases: &[(&str, Keys, bool)] = &[
        // String: exact, case-sensitive values, case-insensitive keys, OR across values.
        (r#"{"StringEquals":{"aws:k":"v"}}"#, &[("aws:k", S("v"))], true),
        (r#"{"StringEquals":{"aws:k":"v"}}"#, &[("AWS:K", S("v"))], true),
        (r#"{"StringEquals":{"AWS:K":"v"}}"#, &[("aws:k", S("v"))], true),
        (r#"{"StringEquals":{"aws:k":"v"}}"#, &[("aws:k", S("V"))], false),
        (r#"{"StringEquals":{"aws:k":["a","v"]}}"#, &[("aws:k", S("v"))], true),
        (r#"{"StringEquals":{"aws:k":"v*"}}"#, &[("aws:k", S("vx"))], false),
        (r#"{"StringEquals":{"aws:k":"v"}}"#, &[], false),
        (r#"{"StringNotEquals":{"aws:k":"v"}}"#, &[("aws:k", S("v"))], false),
        (r#"{"StringNotEquals":{"aws:k":"v"}}"#, &[("aws:k", S("w"))], true),
        (r#"{"StringNotEquals":{"aws:k":["v","w"]}}"#, &[("aws:k", S("w"))], false),
        (r#"{"StringNotEquals":{"aws:k":"v"}}"#, &[], true),
        (r#"{"StringEqualsIgnoreCase":{"aws:k":"Web-1"}}"#, &[("aws:k", S("WEB-1"))], true),
        (r#"{"StringEqualsIgnoreCase":{"aws:k":"Straße"}}"#, &[("aws:k", S("STRAßE"))], true),
        (r#"{"StringEqualsIgnoreCase":{"aws:k":"ΟΔΟΣ"}}"#, &[("aws:k", S("ΟΔΟΣ"))], true),
        // Key names compare without regard to case in every script, tag keys included.
        (r#"{"StringEquals":{"aws:PrincipalTag/ÄBT":"x"}}"#, &[("aws:PrincipalTag/äbt", S("x"))], true),
        (r#"{"StringEqualsIgnoreCase":{"aws:k":"ΟΔΟΣ"}}"#, &[("aws:k", S("οδοσ"))], true),
        (r#"{"StringNotEqualsIgnoreCase":{"aws:k":"ΟΔΟΣ"}}"#, &[("aws:k", S("ΟΔΟΣ"))], false),
        (r#"{"StringNotEqualsIgnoreCase":{"aws:k":"Web-1"}}"#, &[("aws:k", S("web-1"))], false),
        (r#"{"StringNotEqualsIgnoreCase":{"aws:k":"Web-1"}}"#, &[], true),
        (r#"{"StringLike":{"aws:k":"web-*"}}"#, &[("aws:k", S("web-12"))], true),
        (r#"{"StringLike":{"aws:k":"web-?"}}"#, &[("aws:k", S("web-12"))], false),
        (r#"{"StringLike":{"aws:k":"web-*"}}"#, &[("aws:k", S("Web-1"))], false),
        (r#"{"StringLike":{"aws:k":"web-*"}}"#, &[], false),
        (r#"{"StringNotLike":{"aws:k":"web-*"}}"#, &[("aws:k", S("db-1"))], true),
        (r#"{"StringNotLike":{"aws:k":"web-*"}}"#, &[("aws:k", S("web-1"))], false),
        (r#"{"StringNotLike":{"aws:k":"web-*"}}"#, &[], true),
        // Numeric: request <op> policy; unparsable request values never match.
        (r#"{"NumericEquals":{"aws:n":"10"}}"#, &[("aws:n", S("10.0"))], true),
        (r#"{"NumericEquals":{"aws:n":10}}"#, &[("aws:n", S("11"))], false),
        // Integers compare exactly past 2^53: a NumericNotEquals Deny is not stepped around.
        (r#"{"NumericEquals":{"aws:n":9007199254740993}}"#, &[("aws:n", S("9007199254740992"))], false),
        (r#"{"NumericNotEquals":{"aws:n":"9007199254740993"}}"#, &[("aws:n", S("9007199254740992"))], true),
        // Unquoted numbers are read as written, not through an f64: `1.10` is not `1.1`, and an
        // integer past 64 bits is not rounded.
        (r#"{"StringEquals":{"aws:k":1.10}}"#, &[("aws:k", S("1.10"))], true),
        (r#"{"StringEquals":{"aws:k":1.10}}"#, &[("aws:k", S("1.1"))], false),
        (r#"{"NumericEquals":{"aws:n":12345678901234567890123}}"#, &[("aws:n", S("12345678901234567890123"))], true),
        (r#"{"NumericEquals":{"aws:n":12345678901234567890123}}"#, &[("aws:n", S("12345678901234567890122"))], false),
        (r#"{"NumericNotEquals":{"aws:n":10}}"#, &[("aws:n", S("11"))], true),
        (r#"{"NumericNotEquals":{"aws:n":10}}"#, &[], true),
        (r#"{"NumericLessThan":{"aws:n":10}}"#, &[("aws:n", S("9"))], true),
        (r#"{"NumericLessThan":{"aws:n":10}}"#, &[("aws:n", S("10"))], false),
        (r#"{"NumericLessThanEquals":{"aws:n":10}}"#, &[("aws:n", S("10"))], true),
        (r#"{"NumericGreaterThan":{"aws:n":10}}"#, &[("aws:n", S("10.5"))], true),
        (r#"{"NumericGreaterThan":{"aws:n":10}}"#, &[("aws:n", S("-3"))], false),
        (r#"{"NumericGreaterThanEquals":{"aws:n":10}}"#, &[("aws:n", S("10"))], true),
        (r#"{"NumericLessThan":{"aws:n":10}}"#, &[("aws:n", S("abc"))], false),
        (r#"{"NumericNotEquals":{"aws:n":10}}"#, &[("aws:n", S("NaN"))], true),
        (r#"{"NumericLessThan":{"aws:n":10}}"#, &[], false),
        // Date: ISO 8601 and epoch seconds on both sides.
        (r#"{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#, &[("aws:currenttime", S("2025-12-31T23:59:59Z"))], true),
        (r#"{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#, &[("aws:currenttime", S("2026-01-01T00:00:00Z"))], false),
        (r#"{"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#, &[("aws:currenttime", S("2026-01-01T00:00:00Z"))], true),
        (r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01"}}"#, &[("aws:currenttime", S("2026-01-01T00:00:01Z"))], true),
        (r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T01:00:00+01:00"}}"#, &[("aws:currenttime", S("2026-01-01T00:00:00Z"))], true),
        (r#"{"DateEquals":{"aws:EpochTime":"2026-01-01T00:00:00Z"}}"#, &[("aws:epochtime", S("1767225600"))], true),
        (r#"{"DateEquals":{"aws:CurrentTime":1767225600}}"#, &[("aws:currenttime", S("2026-01-01T00:00:00.000Z"))], true),
        (r#"{"DateNotEquals":{"aws:CurrentTime":1767225600}}"#, &[("aws:currenttime", S("2026-01-01T00:00:01Z"))], true),
        (r#"{"DateNotEquals":{"aws:CurrentTime":1767225600}}"#, &[], true),
        (r#"{"DateGreaterThan":{"aws:CurrentTime":1767225600}}"#, &[("aws:currenttime", S("yesterday"))], false),
        (r#"{"DateGreaterThan":{"aws:TokenIssueTime":1767225600}}"#, &[], false),
        // A year alone is the W3C profile's YYYY, its first instant (not 2027 epoch seconds).
        (r#"{"DateGreaterThan":{"aws:CurrentTime":"2027"}}"#, &[("aws:currenttime", S("2026-06-01T00:00:00Z"))], false),
        (r#"{"DateGreaterThanEquals":{"aws:CurrentTime":2027}}"#, &[("aws:currenttime", S("2027-01-01T00:00:00Z"))], true),
        (r#"{"DateLessThan":{"aws:CurrentTime":"2027"}}"#, &[("aws:currenttime", S("2026-12-31T23:59:59Z"))], true),
        (r#"{"DateEquals":{"aws:CurrentTime":"2027-01-01T01:00:00.0+01:00"}}"#, &[("aws:currenttime", S("2027"))], true),
        // Bool.
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:securetransport", S("true"))], true),
        (r#"{"Bool":{"aws:SecureTransport":true}}"#, &[("aws:securetransport", S("TRUE"))], true),
        (r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &[("aws:securetransport", S("true"))], false),
        (r#"{"Bool":{"aws:MultiFactorAuthPresent":"false"}}"#, &[], false),
        (r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#, &[], true),
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:securetransport", S("yes"))], false),
        // Binary.
        (r#"{"BinaryEquals":{"aws:b":"QmluYXJ5"}}"#, &[("aws:b", S("QmluYXJ5"))], true),
        (r#"{"BinaryEquals":{"aws:b":"QmluYXJ5"}}"#, &[("aws:b", S("QmluYXJz"))], false),
        (r#"{"BinaryEquals":{"aws:b":"QmluYXJ5"}}"#, &[("aws:b", S("not base64!"))], false),
        // IP addresses.
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:sourceip", S("203.0.113.7"))], true),
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:sourceip", S("203.0.114.7"))], false),
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.9"}}"#, &[("aws:sourceip", S("203.0.113.9"))], true),
        (r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}"#, &[("aws:sourceip", S("2001:db8::1"))], true),
        (r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#, &[("aws:sourceip", S("203.0.113.7"))], false),
        // An IPv4-mapped IPv6 address is its IPv4 address, in the request and in the policy.
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:sourceip", S("::ffff:203.0.113.5"))], true),
        (r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:sourceip", S("::ffff:cb00:7105"))], false),
        (r#"{"IpAddress":{"aws:SourceIp":"::ffff:203.0.113.0/120"}}"#, &[("aws:sourceip", S("203.0.113.5"))], true),
        (r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[], false),
        (r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[("aws:sourceip", S("203.0.113.7"))], true),
        (r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[("aws:sourceip", S("10.1.2.3"))], false),
        (r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[], true),
        (r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[("aws:sourceip", S("garbage"))], true),
        // ARN: component-wise, wildcards inside components, ArnEquals == ArnLike.
        (r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem"}}"#, &[("aws:sourcearn", S(ANCHOR))], true),
        (r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:rolesanywhere:*:123456789012:trust-anchor/*"}}"#, &[("aws:sourcearn", S(ANCHOR))], true),
        (r#"{"ArnLike":{"aws:SourceArn":"arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/other"}}"#, &[("aws:sourcearn", S(ANCHOR))], false),
        (r#"{"ArnLike":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:*"}}"#, &[("aws:sourcearn", S(ANCHOR))], true),
        (r#"{"ArnLike":{"aws:SourceArn":"arn:aws:*:us-east-1:123456789012:*"}}"#, &[("aws:sourcearn", S("arn:aws:s3:::bucket"))], false),
        (r#"{"ArnLike":{"aws:SourceArn":"*"}}"#, &[("aws:sourcearn", S("anything"))], true),
        (r#"{"ArnLike":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:*:*"}}"#, &[("aws:sourcearn", S("not-an-arn"))], false),
        (r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:trust-anchor/onprem"}}"#, &[("aws:sourcearn", S(ANCHOR))], false),
        (r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:trust-anchor/x"}}"#, &[("aws:sourcearn", S(ANCHOR))], true),
        (r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:trust-anchor/x"}}"#, &[], true),
        (r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:trust-anchor/x"}}"#, &[], false),
        // IfExists: a missing key makes every operator true; a present key is tested normally.
        (r#"{"StringEqualsIfExists":{"aws:k":"v"}}"#, &[], true),
        (r#"{"StringEqualsIfExists":{"aws:k":"v"}}"#, &[("aws:k", S("w"))], false),
        (r#"{"StringNotEqualsIfExists":{"aws:k":"v"}}"#, &[("aws:k", S("v"))], false),
        (r#"{"NumericLessThanIfExists":{"aws:n":"5"}}"#, &[], true),
        (r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:rolesanywhere:*:*:*"}}"#, &[], true),
        (r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[("aws:sourceip", S("11.0.0.1"))], false),
        // Null: true = key absent.
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, &[], true),
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, &[("aws:tokenissuetime", S("x"))], false),
        (r#"{"Null":{"aws:TokenIssueTime":false}}"#, &[("aws:tokenissuetime", S("x"))], true),
        (r#"{"Null":{"aws:TokenIssueTime":"false"}}"#, &[], false),
        (r#"{"Null":{"aws:TagKeys":"true"}}"#, &[("aws:tagkeys", M(&[]))], true),
        // Multi-valued keys without a qualifier: positive = any matches, negated = none matches.
        (r#"{"StringEquals":{"aws:TagKeys":"a"}}"#, &[("aws:tagkeys", M(&["b", "a"]))], true),
        (r#"{"StringNotEquals":{"aws:TagKeys":"a"}}"#, &[("aws:tagkeys", M(&["b", "a"]))], false),
        (r#"{"StringNotEquals":{"aws:TagKeys":"a"}}"#, &[("aws:tagkeys", M(&["b", "c"]))], true),
        (r#"{"StringEquals":{"aws:TagKeys":"a"}}"#, &[("aws:tagkeys", M(&[]))], false),
        // ForAnyValue: some request value satisfies; missing/empty key -> false.
        (r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&["x", "b"]))], true),
        (r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&["x", "y"]))], false),
        (r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[], false),
        (r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&[]))], false),
        (r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#, &[], true),
        // An empty string is an empty set for both qualifiers (IAM's multi-valued key rules),
        // not the value "" a `*` would match; without a qualifier it is a value.
        (r#"{"ForAnyValue:StringLike":{"app:attrs":"*"}}"#, &[("app:attrs", S(""))], false),
        (r#"{"ForAllValues:StringEquals":{"app:attrs":["a"]}}"#, &[("app:attrs", S(""))], true),
        (r#"{"ForAllValues:StringEquals":{"app:attrs":["a"]}}"#, &[("app:attrs", M(&["", ""]))], true),
        (r#"{"ForAnyValue:StringLike":{"app:attrs":"*"}}"#, &[("app:attrs", M(&["", "x"]))], true),
        (r#"{"StringLike":{"app:attrs":"*"}}"#, &[("app:attrs", S(""))], true),
        (r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a"]}}"#, &[("aws:tagkeys", M(&["a", "z"]))], true),
        (r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a"]}}"#, &[("aws:tagkeys", M(&["a"]))], false),
        (r#"{"ForAnyValue:StringLike":{"aws:TagKeys":"team-*"}}"#, &[("aws:tagkeys", M(&["env", "team-x"]))], true),
        (r#"{"ForAnyValue:StringEquals":{"aws:k":"a"}}"#, &[("aws:k", S("a"))], true),
        // ForAllValues: every request value satisfies; missing/empty key -> true.
        (r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&["a", "b"]))], true),
        (r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&["a", "c"]))], false),
        (r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[], true),
        (r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#, &[("aws:tagkeys", M(&[]))], true),
        (r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}"#, &[("aws:tagkeys", M(&["b", "c"]))], true),
        (r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}"#, &[("aws:tagkeys", M(&["b", "a"]))], false),
        (r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}"#, &[], true),
        // AND across keys and operators.
        (r#"{"StringEquals":{"aws:a":"1","aws:b":"2"}}"#, &[("aws:a", S("1")), ("aws:b", S("2"))], true),
        (r#"{"StringEquals":{"aws:a":"1","aws:b":"2"}}"#, &[("aws:a", S("1")), ("aws:b", S("3"))], false),
        (r#"{"StringEquals":{"aws:a":"1"},"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:a", S("1")), ("aws:securetransport", S("false"))], false),
        (r#"{"StringEquals":{"aws:a":"1"},"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:a", S("1")), ("aws:securetransport", S("true"))], true),
    ];
    for (condition, keys, want) in cases {
        assert_eq!(condition_holds("2012-10-17", condition, keys), *want, "{condition}");
    }
}

#[test]
fn policy_variables_in_conditions() {
    use V::*;
    #[rustfmt::skip]
    let cases: &[(&str, &str, Keys, bool)] = &[
        ("2012-10-17", r#"{"StringEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/x509Subject/CN}"}}"#,
            &[("sts:rolesessionname", S("web-1")), ("aws:principaltag/x509subject/cn", S("web-1"))], true),
        ("2012-10-17", r#"{"StringEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/x509Subject/CN}"}}"#,
            &[("sts:rolesessionname", S("web-1"))], false),
        ("2012-10-17", r#"{"StringEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/x509Subject/CN, 'none'}"}}"#,
            &[("sts:rolesessionname", S("none"))], true),
        // An Allow whose variable does not resolve does not apply, negated operator or not.
        ("2012-10-17", r#"{"StringNotEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/missing}"}}"#,
            &[("sts:rolesessionname", S("x"))], false),
        ("2012-10-17", r#"{"StringNotEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/missing, 'none'}"}}"#,
            &[("sts:rolesessionname", S("x"))], true),
        ("2012-10-17", r#"{"StringNotEquals":{"sts:RoleSessionName":"${aws:PrincipalTag/owner}"}}"#,
            &[("sts:rolesessionname", S("x")), ("aws:principaltag/owner", S("y"))], true),
        // ...IfExists with its key absent holds without reading its values: the variable does
        // not matter. With the key present, it does.
        ("2012-10-17", r#"{"StringEqualsIfExists":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"}}"#,
            &[], true),
        ("2012-10-17", r#"{"StringEqualsIfExists":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"}}"#,
            &[("aws:requesttag/team", S("blue"))], false),
        ("2012-10-17", r#"{"StringEqualsIfExists":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"}}"#,
            &[("aws:requesttag/team", S("blue")), ("aws:principaltag/team", S("blue"))], true),
        ("2012-10-17", r#"{"StringEqualsIgnoreCase":{"aws:k":"${aws:v}"}}"#,
            &[("aws:k", S("ABC")), ("aws:v", S("abc"))], true),
        ("2012-10-17", r#"{"StringLike":{"aws:k":"team-${aws:PrincipalTag/team}-*"}}"#,
            &[("aws:k", S("team-blue-1")), ("aws:principaltag/team", S("blue"))], true),
        ("2012-10-17", r#"{"StringLike":{"aws:k":"team-${aws:PrincipalTag/team}"}}"#,
            &[("aws:k", S("team-blue")), ("aws:principaltag/team", S("*"))], false),
        ("2012-10-17", r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:role/*"}}"#,
            &[("aws:principalarn", S(ROLE)), ("aws:principalaccount", S(ACCOUNT))], true),
        ("2012-10-17", r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:role/*"}}"#,
            &[("aws:principalarn", S(ROLE)), ("aws:principalaccount", S("210987654321"))], false),
        // Bool takes policy variables ("You can use a policy variable with the Boolean
        // condition operator"): the resolved text is compared as a boolean, in any case.
        ("2012-10-17", r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}}"#,
            &[("aws:securetransport", S("true")), ("aws:principaltag/tls", S("TRUE"))], true),
        ("2012-10-17", r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}}"#,
            &[("aws:securetransport", S("true")), ("aws:principaltag/tls", S("false"))], false),
        ("2012-10-17", r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}}"#,
            &[("aws:securetransport", S("true")), ("aws:principaltag/tls", S("yes"))], false),
        ("2012-10-17", r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls, 'true'}"}}"#,
            &[("aws:securetransport", S("true"))], true),
        ("2012-10-17", r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}}"#,
            &[("aws:securetransport", S("true"))], false),
        // Version 2008-10-17 (or none): `${...}` is literal text.
        ("2008-10-17", r#"{"StringEquals":{"aws:k":"${aws:v}"}}"#,
            &[("aws:k", S("x")), ("aws:v", S("x"))], false),
        ("2008-10-17", r#"{"StringEquals":{"aws:k":"${aws:v}"}}"#,
            &[("aws:k", S("${aws:v}"))], true),
    ];
    for (version, condition, keys, want) in cases {
        assert_eq!(
            condition_holds(version, condition, keys),
            *want,
            "{version} {condition}"
        );
    }
}

/// IAM holds a statement whose policy variable does not resolve invalid. An Allow with one does
/// not apply, even through `NotResource`; a Deny keeps applying by its elements (stricter).
#[test]
fn an_unresolved_variable_never_widens_an_allow() {
    let allow = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::home/${aws:PrincipalTag/team}/*"}}"#,
    );
    let mut ctx = RequestContext::new(role_session(), "s3:GetObject", "arn:aws:s3:::home/x/k");
    assert_eq!(evaluate(&[&allow], &ctx).outcome, Outcome::ImplicitDeny);
    let (explained, traces) = explain(&[&allow], &ctx);
    assert_eq!(explained.outcome, Outcome::ImplicitDeny);
    assert!(traces[0].unresolved && !traces[0].applies);
    assert!(
        traces[0].to_string().contains("a policy variable does not resolve"),
        "{}",
        traces[0]
    );
    ctx.insert("aws:PrincipalTag/team", "blue");
    assert!(evaluate(&[&allow], &ctx).is_allowed(), "outside home/blue/");
    // A multi-valued key does not resolve a variable either.
    ctx.insert_multi("aws:PrincipalTag/team", vec!["blue".into(), "red".into()]);
    assert_eq!(evaluate(&[&allow], &ctx).outcome, Outcome::ImplicitDeny);

    let deny = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","NotResource":"arn:aws:s3:::home/${aws:PrincipalTag/team}/*"}]}"#,
    );
    let ctx = RequestContext::new(role_session(), "s3:GetObject", "arn:aws:s3:::home/x/k");
    assert_eq!(evaluate(&[&deny], &ctx).outcome, Outcome::ExplicitDeny);
}

#[test]
fn no_version_means_no_variables() {
    let doc = identity(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#,
    );
    assert_eq!(doc.version(), Version::V2008_10_17);
    let mut ctx = RequestContext::new(service(), "s3:GetObject", "arn:aws:s3:::b/alice/x");
    ctx.insert("aws:username", "alice");
    assert_eq!(evaluate(&[&doc], &ctx).outcome, Outcome::ImplicitDeny);
    ctx.resource = "arn:aws:s3:::b/${aws:username}/x".into();
    assert_eq!(evaluate(&[&doc], &ctx).outcome, Outcome::Allow);
}

/// A realistic Roles Anywhere trust policy.
const RA_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "RolesAnywhere",
      "Effect": "Allow",
      "Principal": {"Service": "rolesanywhere.amazonaws.com"},
      "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
      "Condition": {
        "ArnEquals": {"aws:SourceArn": "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem"},
        "StringEquals": {"aws:PrincipalTag/x509Subject/CN": ["web-1", "web-2"]}
      }
    },
    {
      "Sid": "NoRevokedHost",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "sts:*",
      "Condition": {"StringEquals": {"aws:PrincipalTag/x509Subject/CN": "web-2"}}
    },
    {
      "Sid": "Chaining",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
      "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"sts:ExternalId": "ext-1"}}
    }
  ]
}"#;

fn sref(policy: usize, index: usize, sid: &str) -> Option<StatementRef> {
    Some(StatementRef {
        policy,
        index,
        sid: Some(sid.into()),
    })
}

/// Caller, action, context keys, expected outcome and deciding statement.
type TrustCase = (
    Principal,
    &'static str,
    Vec<(&'static str, V)>,
    Outcome,
    Option<StatementRef>,
);

#[test]
fn roles_anywhere_trust_policy() {
    use V::*;
    let doc = trust(RA_TRUST);
    let ra_keys = |cn: &'static str| -> Vec<(&'static str, V)> {
        vec![
            ("aws:SourceArn", S(ANCHOR)),
            ("aws:SourceAccount", S(ACCOUNT)),
            ("aws:PrincipalTag/x509Subject/CN", S(cn)),
        ]
    };
    #[rustfmt::skip]
    let cases: Vec<TrustCase> = vec![
        (service(), "sts:AssumeRole", ra_keys("web-1"), Outcome::Allow, sref(0, 0, "RolesAnywhere")),
        (service(), "sts:TagSession", ra_keys("web-1"), Outcome::Allow, sref(0, 0, "RolesAnywhere")),
        (service(), "sts:SetSourceIdentity", ra_keys("web-1"), Outcome::Allow, sref(0, 0, "RolesAnywhere")),
        (service(), "STS:ASSUMEROLE", ra_keys("web-1"), Outcome::Allow, sref(0, 0, "RolesAnywhere")),
        (service(), "sts:GetFederationToken", ra_keys("web-1"), Outcome::ImplicitDeny, None),
        (service(), "sts:AssumeRole", ra_keys("WEB-1"), Outcome::ImplicitDeny, None),
        (service(), "sts:AssumeRole", ra_keys("db-1"), Outcome::ImplicitDeny, None),
        // Deny beats the matching Allow.
        (service(), "sts:AssumeRole", ra_keys("web-2"), Outcome::ExplicitDeny, sref(0, 1, "NoRevokedHost")),
        (service(), "sts:AssumeRole",
            vec![("aws:SourceArn", S("arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/other")),
                 ("aws:PrincipalTag/x509Subject/CN", S("web-1"))],
            Outcome::ImplicitDeny, None),
        (service(), "sts:AssumeRole", vec![("aws:PrincipalTag/x509Subject/CN", S("web-1"))], Outcome::ImplicitDeny, None),
        (Principal::Service("ec2.amazonaws.com".into()), "sts:AssumeRole", ra_keys("web-1"), Outcome::ImplicitDeny, None),
        (role_session(), "sts:AssumeRole", vec![("sts:ExternalId", S("ext-1"))], Outcome::Allow, sref(0, 2, "Chaining")),
        (role_session(), "sts:AssumeRole", vec![("sts:ExternalId", S("ext-2"))], Outcome::ImplicitDeny, None),
        (role_session(), "sts:AssumeRole", vec![], Outcome::ImplicitDeny, None),
    ];
    for (principal, action, keys, outcome, deciding) in cases {
        let mut ctx = context(principal, &keys);
        ctx.action = action.into();
        let decision = evaluate(&[&doc], &ctx);
        assert_eq!(
            decision,
            Decision {
                outcome,
                deciding: deciding.clone()
            },
            "{action} {:?}",
            ctx.principal
        );
        assert_eq!(decision.is_allowed(), outcome == Outcome::Allow);
        // explain agrees with evaluate.
        let (explained, traces) = explain(&[&doc], &ctx);
        assert_eq!(explained, decision);
        assert_eq!(traces.len(), 3);
    }
}

#[test]
fn principal_forms() {
    let other_account = Principal::Aws {
        role_arn: "arn:aws:iam::210987654321:role/app".into(),
        session_arn: None,
        account: "210987654321".into(),
    };
    // (principal, caller, named by `Principal`, exempted by `NotPrincipal`): a role session is
    // exempted from a NotPrincipal Deny only when its account, role and session are all named.
    #[rustfmt::skip]
    let cases: &[(&str, Principal, bool, bool)] = &[
        (r#""*""#, service(), true, true),
        (r#""*""#, role_session(), true, true),
        (r#"{"AWS":"*"}"#, role_session(), true, true),
        (r#"{"AWS":"123456789012"}"#, role_session(), true, false),
        (r#"{"AWS":"123456789012"}"#, other_account.clone(), false, false),
        (r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, role_session(), true, false),
        (r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, service(), false, false),
        (r#"{"AWS":["arn:aws:iam::210987654321:root","arn:aws:iam::123456789012:role/app"]}"#, role_session(), true, false),
        (r#"{"AWS":"arn:aws:iam::123456789012:role/other"}"#, role_session(), false, false),
        (r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/app/web-1"}"#, role_session(), true, false),
        (r#"{"AWS":["arn:aws:iam::123456789012:role/app","arn:aws:sts::123456789012:assumed-role/app/web-1"]}"#, role_session(), true, false),
        (r#"{"AWS":["123456789012","arn:aws:sts::123456789012:assumed-role/app/web-1"]}"#, role_session(), true, false),
        (r#"{"AWS":["arn:aws:iam::123456789012:root","arn:aws:iam::123456789012:role/app","arn:aws:sts::123456789012:assumed-role/app/web-1"]}"#, role_session(), true, true),
        (r#"{"AWS":["123456789012","arn:aws:iam::123456789012:role/app","arn:aws:sts::123456789012:assumed-role/app/web-9"]}"#, role_session(), true, false),
        (r#"{"AWS":["123456789012","arn:aws:iam::123456789012:role/app"]}"#, other_account.clone(), false, false),
        (r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/app/web-9"}"#, role_session(), false, false),
        (r#"{"Service":"rolesanywhere.amazonaws.com"}"#, service(), true, true),
        (r#"{"Service":["ec2.amazonaws.com","RolesAnywhere.amazonaws.com"]}"#, service(), true, true),
        (r#"{"Service":"rolesanywhere.amazonaws.com"}"#, role_session(), false, false),
        (r#"{"Federated":"cognito-identity.amazonaws.com"}"#, service(), false, false),
        (r#"{"Federated":"cognito-identity.amazonaws.com","AWS":"123456789012"}"#, role_session(), true, false),
    ];
    for (principal, caller, named, exempted) in cases {
        // Allow those named; deny all but those exempted (NotPrincipal goes with Deny only).
        let allow_named = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}}}"#
        );
        let deny_all_but = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}},{{"Effect":"Deny","NotPrincipal":{principal},"Action":"sts:AssumeRole"}}]}}"#
        );
        for (doc, want) in [(allow_named, named), (deny_all_but, exempted)] {
            let ctx = RequestContext::new(caller.clone(), "sts:AssumeRole", ROLE);
            assert_eq!(evaluate(&[&trust(&doc)], &ctx).is_allowed(), *want, "{doc} {caller:?}");
        }
    }
}

#[test]
fn not_action_and_not_resource() {
    let doc = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":"iam:*","Resource":"*"},
            {"Effect":"Deny","Action":"*","NotResource":["arn:aws:s3:::public/*","arn:aws:s3:::logs/${aws:username}/*"]}
        ]}"#,
    );
    #[rustfmt::skip]
    let cases: &[(&str, &str, Outcome, Option<usize>)] = &[
        ("s3:GetObject", "arn:aws:s3:::public/a", Outcome::Allow, Some(0)),
        ("s3:GetObject", "arn:aws:s3:::logs/alice/1", Outcome::Allow, Some(0)),
        ("s3:GetObject", "arn:aws:s3:::logs/bob/1", Outcome::ExplicitDeny, Some(1)),
        ("s3:GetObject", "arn:aws:s3:::private/a", Outcome::ExplicitDeny, Some(1)),
        ("iam:CreateUser", "arn:aws:s3:::public/a", Outcome::ImplicitDeny, None),
        ("IAM:CreateUser", "arn:aws:s3:::public/a", Outcome::ImplicitDeny, None),
    ];
    for (action, resource, outcome, index) in cases {
        let mut ctx = RequestContext::new(role_session(), *action, *resource);
        ctx.insert("aws:username", "alice");
        let decision = evaluate(&[&doc], &ctx);
        assert_eq!(decision.outcome, *outcome, "{action} {resource}");
        assert_eq!(decision.deciding.map(|d| d.index), *index, "{action} {resource}");
    }
}

#[test]
fn trust_policy_refuses_resource_as_iam_does() {
    for element in ["Resource", "NotResource"] {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","{element}":"arn:aws:iam::123456789012:role/other"}}}}"#
        );
        let e = PolicyDocument::parse(&json, PolicyKind::Trust).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Statement.{element}: '{element}' is not allowed in a trust policy (its resource is always its role)"
            )
        );
    }
}

#[test]
fn deny_in_a_later_policy_wins_and_refs_index_policies() {
    let allow =
        identity(r#"{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}}"#);
    let deny = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"D","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#,
    );
    let ctx = RequestContext::new(role_session(), "s3:DeleteObject", "arn:aws:s3:::b/k");
    assert_eq!(
        evaluate(&[&allow, &deny], &ctx),
        Decision {
            outcome: Outcome::ExplicitDeny,
            deciding: sref(1, 1, "D")
        }
    );
    let ctx = RequestContext::new(role_session(), "s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(
        evaluate(&[&allow, &deny], &ctx),
        Decision {
            outcome: Outcome::Allow,
            deciding: sref(0, 0, "A")
        }
    );
    assert_eq!(
        evaluate::<&PolicyDocument>(&[], &ctx),
        Decision {
            outcome: Outcome::ImplicitDeny,
            deciding: None
        }
    );
}

#[test]
fn session_policies_intersect() {
    let role = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"RoleS3","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"RoleDeny","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#,
    );
    let session = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"SessRead","Effect":"Allow","Action":["s3:Get*","s3:DeleteBucket","sqs:*"],"Resource":"*"},{"Sid":"SessDeny","Effect":"Deny","Action":"s3:GetSecret","Resource":"*"}]}"#,
    );
    let decide = |action: &str, session_set: Option<&[&PolicyDocument]>| {
        let ctx = RequestContext::new(role_session(), action, "arn:aws:s3:::b");
        evaluate_permissions(&[&role], session_set, &ctx)
    };
    let s: &[&PolicyDocument] = &[&session];
    let pd = |outcome, deciding, from_session_policy| PermissionDecision {
        outcome,
        deciding,
        from_session_policy,
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<&[&PolicyDocument]>, PermissionDecision)> = vec![
        ("s3:GetObject", None, pd(Outcome::Allow, sref(0, 0, "RoleS3"), false)),
        ("s3:GetObject", Some(s), pd(Outcome::Allow, sref(0, 0, "RoleS3"), false)),
        ("s3:PutObject", None, pd(Outcome::Allow, sref(0, 0, "RoleS3"), false)),
        ("s3:PutObject", Some(s), pd(Outcome::ImplicitDeny, None, true)),
        ("s3:PutObject", Some(&[]), pd(Outcome::ImplicitDeny, None, true)),
        ("sqs:SendMessage", Some(s), pd(Outcome::ImplicitDeny, None, false)),
        ("s3:DeleteBucket", Some(s), pd(Outcome::ExplicitDeny, sref(0, 1, "RoleDeny"), false)),
        ("s3:GetSecret", Some(s), pd(Outcome::ExplicitDeny, sref(0, 1, "SessDeny"), true)),
    ];
    for (action, session_set, want) in cases {
        let got = decide(action, session_set);
        assert_eq!(got.is_allowed(), want.outcome == Outcome::Allow);
        assert_eq!(got, want, "{action}");
    }
}

#[test]
fn explain_trace_display() {
    use V::*;
    let doc = trust(RA_TRUST);
    let ctx = context(
        service(),
        &[
            ("aws:SourceArn", S(ANCHOR)),
            ("aws:PrincipalTag/x509Subject/CN", S("db-1")),
        ],
    );
    let (decision, traces) = explain(&[&doc], &ctx);
    assert_eq!(decision.outcome, Outcome::ImplicitDeny);
    assert_eq!(
        traces[0].to_string(),
        format!(
            "policy 0 Statement[0] (Sid \"RolesAnywhere\"): Allow, does not apply
  principal: matched
  action: matched
  resource: not evaluated (trust policy)
  condition ArnEquals aws:SourceArn: holds
    policy values: [\"{ANCHOR}\"]
    request values: [\"{ANCHOR}\"]
  condition StringEquals aws:PrincipalTag/x509Subject/CN: fails
    policy values: [\"web-1\", \"web-2\"]
    request values: [\"db-1\"]
"
        )
    );
    assert_eq!(traces[2].principal, Some(false));
    assert_eq!(
        traces[2].conditions[0],
        ConditionTrace {
            operator: "StringEquals".into(),
            key: "sts:ExternalId".into(),
            policy_values: vec!["ext-1".into()],
            request_values: None,
            holds: false,
        }
    );
}

#[test]
fn explain_shows_resolved_variables() {
    let doc = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:k":["${aws:v}","${aws:missing}"]}}}}"#,
    );
    let mut ctx = RequestContext::new(service(), "a:b", "arn:x");
    ctx.insert("aws:v", "resolved");
    let (_, traces) = explain(&[&doc], &ctx);
    assert_eq!(
        traces[0].conditions[0].policy_values,
        ["resolved", "${aws:missing} (unresolved variable)"]
    );
    assert_eq!(traces[0].resource, Some(true));
    assert_eq!(traces[0].principal, None);
}

/// An unknown operator near a known one (by edit distance) is named with it, qualifier and
/// IfExists kept; one near none, or a qualifier given twice, is named alone.
#[test]
fn unknown_operators_suggest_the_nearest_known_one() {
    let refused = |operator: &str| {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"{operator}":{{"aws:k":"v"}}}}}}}}"#
        );
        PolicyDocument::parse(&policy, PolicyKind::Trust)
            .unwrap_err()
            .to_string()
    };
    for (written, message) in [
        (
            "StringLikee",
            "unknown condition operator 'StringLikee' (did you mean 'StringLike'?)",
        ),
        (
            "ForAnyValue:StringEqualsIgnorecase",
            "unknown condition operator 'ForAnyValue:StringEqualsIgnorecase' (did you mean \
             'ForAnyValue:StringEqualsIgnoreCase'?)",
        ),
        (
            "ArnLkeIfExists",
            "unknown condition operator 'ArnLkeIfExists' (did you mean 'ArnLikeIfExists'?)",
        ),
        ("Whatever", "unknown condition operator 'Whatever'"),
        (
            "ForAnyValue:ForAnyValue:StringEquals",
            "unknown condition operator 'ForAnyValue:ForAnyValue:StringEquals'",
        ),
    ] {
        let got = refused(written);
        assert!(got.ends_with(message), "{written}: {got}");
    }
}

#[test]
fn parse_errors_name_the_path() {
    let v = r#""Version":"2012-10-17""#;
    #[rustfmt::skip]
    let cases: Vec<(PolicyKind, String, &str)> = vec![
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":[{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}},{{"Sid":"AllowApp","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"StringEqualz":{{"aws:k":"v"}}}}}}]}}"#),
            "Statement[1] (Sid \"AllowApp\").Condition.StringEqualz: unknown condition operator 'StringEqualz' (did you mean 'StringEquals'?)"),
        (PolicyKind::Trust, r#"{"Version":"2008-10-18x","Statement":[]}"#.into(),
            "Version: unsupported policy version '2008-10-18x'; use \"2012-10-17\""),
        (PolicyKind::Trust, "{".into(),
            "the policy document is not valid JSON: EOF while parsing an object at line 1 column 1 of the policy"),
        (PolicyKind::Trust, r#"{"Statement":{"Effect":"Allow","Effect":"Deny"}}"#.into(),
            "the policy document is not valid JSON: duplicate key \"Effect\" at line 1 column 39 of the policy"),
        (PolicyKind::Trust, "[]".into(), "expected a JSON object, found an array"),
        (PolicyKind::Trust, format!(r#"{{{v}}}"#), "missing required element 'Statement'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":[]}}"#), "Statement: must contain at least one value"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statements":[]}}"#), "unknown element 'Statements'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Version":"2012-10-17","Statement":[]}}"#),
            "the policy document is not valid JSON: duplicate key \"Version\" at line 1 column 33 of the policy"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"allow","Principal":"*","Action":"sts:AssumeRole"}}}}"#),
            "Statement.Effect: Effect must be \"Allow\" or \"Deny\", found 'allow'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"sts:AssumeRole"}}}}"#),
            "Statement: missing required element 'Principal'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Principal":"*","Action":"sts:AssumeRole"}}}}"#),
            "Statement: missing required element 'Effect'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*"}}}}"#),
            "Statement: missing required element 'Action'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","NotAction":"x:y"}}}}"#),
            "Statement: 'Action' and 'NotAction' cannot both be present in one statement"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"sts:AssumeRole"}}}}"#),
            "Statement: 'Principal' and 'NotPrincipal' cannot both be present in one statement"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Sid":"AllButOne","Effect":"Allow","NotPrincipal":{{"AWS":"arn:aws:iam::123456789012:role/limited"}},"Action":"sts:AssumeRole"}}}}"#),
            "Statement (Sid \"AllButOne\").NotPrincipal: 'NotPrincipal' must be used with \"Effect\": \"Deny\" (with \"Allow\" it would trust every principal it does not name); name the principals in 'Principal' instead"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","AssumeRole"]}}}}"#),
            "Statement.Action[1]: invalid action 'AssumeRole': expected \"*\" or \"service:ActionName\" (for example \"sts:AssumeRole\")"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":[]}}}}"#),
            "Statement.Action: must contain at least one value"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":[1]}}}}"#),
            "Statement.Action[0]: expected a string, found a number"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":{{"Services":"x"}},"Action":"sts:AssumeRole"}}}}"#),
            "Statement.Principal: unknown principal type 'Services'; use \"AWS\", \"Service\" or \"Federated\""),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"arn:aws:iam::123456789012:root","Action":"sts:AssumeRole"}}}}"#),
            "Statement.Principal: expected \"*\" or an object such as {\"Service\": \"rolesanywhere.amazonaws.com\"}, found a string"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":{{"AWS":["123456789012","arn:aws:iam::123456789012:role/*"]}},"Action":"sts:AssumeRole"}}}}"#),
            "Statement.Principal.AWS[1]: invalid principal 'arn:aws:iam::123456789012:role/*': wildcards are not allowed in principals; use \"*\" with an ArnLike condition on aws:PrincipalArn"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":[{{"Sid":"A","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}},{{"Sid":"A","Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}}]}}"#),
            "Statement[1] (Sid \"A\").Sid: duplicate Sid 'A'; statement ids must be unique within a policy"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":[{{"Sid":"allow-web","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}]}}"#),
            "Statement[0].Sid: invalid Sid 'allow-web': statement ids hold only the letters A-Z and a-z and the digits 0-9"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:k":[]}}}}}}}}"#),
            "Statement.Condition.StringEquals.aws:k: must contain at least one value"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:k":["a",{{}}]}}}}}}}}"#),
            "Statement.Condition.StringEquals.aws:k[1]: expected a string, number or boolean, found an object"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"NumericLessThan":{{"aws:n":["1","ten"]}}}}}}}}"#),
            "Statement.Condition.NumericLessThan.aws:n[1]: invalid value 'ten' for NumericLessThan: expected a number"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"DateGreaterThan":{{"aws:CurrentTime":"tomorrow"}}}}}}}}"#),
            "Statement.Condition.DateGreaterThan.aws:CurrentTime: invalid value 'tomorrow' for DateGreaterThan: expected an ISO 8601 date such as 2026-01-01T00:00:00Z or epoch seconds"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:SecureTransport":"yes"}}}}}}}}"#),
            "Statement.Condition.Bool.aws:SecureTransport: invalid value 'yes' for Bool: expected true or false"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/33"}}}}}}}}"#),
            "Statement.Condition.IpAddress.aws:SourceIp: invalid value '10.0.0.0/33' for IpAddress: expected an IP address or CIDR such as 203.0.113.0/24"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"BinaryEquals":{{"aws:b":"%%%"}}}}}}}}"#),
            "Statement.Condition.BinaryEquals.aws:b: invalid value '%%%' for BinaryEquals: expected base64"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"ArnLike":{{"aws:SourceArn":"trust-anchor/x"}}}}}}}}"#),
            "Statement.Condition.ArnLike.aws:SourceArn: invalid value 'trust-anchor/x' for ArnLike: expected \"*\" or an ARN of the form arn:partition:service:region:account:resource"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"NullIfExists":{{"aws:k":"true"}}}}}}}}"#),
            "Statement.Condition.NullIfExists: the Null operator cannot be combined with IfExists, ForAnyValue or ForAllValues"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"ForSomeValues:StringEquals":{{"aws:k":"v"}}}}}}}}"#),
            "Statement.Condition.ForSomeValues:StringEquals: unknown condition operator 'ForSomeValues:StringEquals'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"stringequals":{{"aws:k":"v"}}}}}}}}"#),
            "Statement.Condition.stringequals: unknown condition operator 'stringequals' (did you mean 'StringEquals'?)"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:k":"${{aws:x"}}}}}}}}"#),
            "Statement.Condition.StringEquals.aws:k: invalid policy variable in '${aws:x': '${' is not closed by '}'"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Conditions":{{}}}}}}"#),
            "Statement: unknown element 'Conditions'"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}}}"#),
            "Statement.Principal: 'Principal' is not allowed in a permission or session policy (only trust policies name principals)"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Sid":"S3","Effect":"Allow","Action":"s3:*"}}}}"#),
            "Statement (Sid \"S3\"): missing required element 'Resource'"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}}}}"#),
            "Statement: 'Resource' and 'NotResource' cannot both be present in one statement"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}}}"#),
            "Statement.Resource: invalid resource 'bucket': expected \"*\" or an ARN starting with \"arn:\""),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"*","Resource":"arn:aws:dynamodb:us-east-1:${{aws:PrincipalTag/acct}}:table/orders"}}}}"#),
            "Statement.Resource: policy variable in 'arn:aws:dynamodb:us-east-1:${aws:PrincipalTag/acct}:table/orders' before the resource part: a variable may only stand in the part after the fifth colon (not for the service, region or account)"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":["*","arn:aws:s3:::${{aws:username"]}}]}}"#),
            "Statement[0].Resource[1]: invalid policy variable in 'arn:aws:s3:::${aws:username': '${' is not closed by '}'"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s*:::b/k"}}}}"#),
            "Statement.Resource: invalid resource 'arn:aws:s*:::b/k': Resource vendor must be fully qualified and cannot contain regexes (a wildcard may not stand for the service: name it, with one ARN per service)"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Deny","Action":"*","NotResource":["arn:*:s3:::b/k","arn:aws*:s3:::b/k"]}}}}"#),
            "Statement.NotResource[1]: invalid resource 'arn:aws*:s3:::b/k': Partition \"aws*\" is not valid for resource \"arn:aws*:s3:::b/k\" (write the partition in full, such as aws or aws-us-gov, or \"*\" alone for every partition)"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Deny","Action":"*","NotResource":"arn:*"}}}}"#),
            "Statement.NotResource: invalid resource 'arn:*': Resource vendor must be fully qualified and cannot contain regexes (it has no service segment)"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"app:k":"a","aws:x":"y","APP:K":"b"}}}}}}}}"#),
            "Statement.Condition.StringEquals.APP:K: duplicate key \"APP:K\": condition key names are case-insensitive, so it is the key \"app:k\" again; give each key once per operator"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"ForAnyValue:StringLike":{{"aws:PrincipalTag/Äbt":"a*","AWS:PRINCIPALTAG/äBT":"b*"}}}}}}}}"#),
            "Statement.Condition.ForAnyValue:StringLike.AWS:PRINCIPALTAG/äBT: duplicate key \"AWS:PRINCIPALTAG/äBT\": condition key names are case-insensitive, so it is the key \"aws:PrincipalTag/Äbt\" again; give each key once per operator"),
        (PolicyKind::Trust, format!(r#"{{{v},"Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:SecureTransport":["true","false"]}}}}}}}}"#),
            "Statement.Condition.Bool.aws:SecureTransport: Bool takes a single value, \"true\" or \"false\", found [\"true\", \"false\"]: the condition key does not support multiple Boolean values (\"true\" and \"false\" together hold whenever the key is present: to test that, use \"Null\" with \"false\")"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":[false,false]}}}}}}}}"#),
            "Statement.Condition.BoolIfExists.aws:MultiFactorAuthPresent: BoolIfExists takes a single value, \"true\" or \"false\", found [\"false\", \"false\"]: the condition key does not support multiple Boolean values (\"true\" and \"false\" together hold whenever the key is present: to test that, use \"Null\" with \"false\")"),
        (PolicyKind::Identity, format!(r#"{{{v},"Statement":["x"]}}"#),
            "Statement[0]: expected a statement object, found a string"),
    ];
    for (kind, json, want) in cases {
        let err = PolicyDocument::parse(&json, kind).unwrap_err();
        assert_eq!(err.to_string(), want, "{json}");
    }
}

/// `Bool` takes one value, written alone or as a list of one; `Null` takes any.
#[test]
fn bool_takes_one_value() {
    for condition in [
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        r#"{"Bool":{"aws:SecureTransport":["true"]}}"#,
        r#"{"Bool":{"aws:SecureTransport":true}}"#,
    ] {
        assert!(
            condition_holds("2012-10-17", condition, &[("aws:securetransport", V::S("true"))]),
            "{condition}"
        );
    }
    let json = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:k":["true","false"]}}}}"#;
    assert!(PolicyDocument::parse(json, PolicyKind::Identity).is_ok());
}

/// A key once per operator, whatever its case; under two operators it is two conditions, both
/// of which must hold (the operators AND together).
#[test]
fn condition_keys_are_once_per_operator_in_any_case() {
    let doc = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
            "StringEquals":{"app:k":"a"},"StringLike":{"APP:K":"a*"},"StringNotEquals":{"App:K":"b"}}}}"#,
    );
    assert_eq!(doc.statements()[0].conditions().len(), 3);
    let allowed = |value| evaluate(&[&doc], &context(service(), &[("app:k", V::S(value))])).is_allowed();
    assert!(allowed("a"));
    assert!(!allowed("ab"));
}

#[test]
fn parsed_document_accessors() {
    let doc = trust(RA_TRUST);
    assert_eq!(doc.source(), RA_TRUST);
    assert_eq!(doc.kind(), PolicyKind::Trust);
    assert_eq!(doc.version(), Version::V2012_10_17);
    let s = &doc.statements()[0];
    assert_eq!(s.sid(), Some("RolesAnywhere"));
    assert_eq!(s.effect(), Effect::Allow);
    let actions: Vec<&str> = s.action().patterns.iter().map(ActionPattern::as_str).collect();
    assert_eq!(actions, ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]);
    assert_eq!(
        s.principal().map(|p| p.entries.clone()),
        Some(vec![PrincipalEntry::Service(RA.into())])
    );
    let c = &s.conditions()[1];
    assert_eq!(c.operator().kind, OperatorKind::StringEquals);
    assert_eq!(c.key(), "aws:PrincipalTag/x509Subject/CN");
    assert_eq!(c.raw_values(), ["web-1", "web-2"]);
    let op = identity(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:NumericLessThanIfExists":{"k":1}}}}"#,
    );
    let op = op.statements()[0].conditions()[0].operator().clone();
    assert_eq!(
        (op.kind, op.negated, op.if_exists, op.qualifier, op.as_str()),
        (
            OperatorKind::Numeric(Comparison::LessThan),
            false,
            true,
            Some(SetQualifier::ForAllValues),
            "ForAllValues:NumericLessThanIfExists"
        )
    );
}

#[test]
fn outcome_and_statement_ref_display() {
    assert_eq!(Outcome::Allow.to_string(), "allowed");
    assert_eq!(Outcome::ExplicitDeny.to_string(), "explicitly denied");
    assert_eq!(
        Outcome::ImplicitDeny.to_string(),
        "implicitly denied (no statement allows it)"
    );
    assert_eq!(
        sref(2, 1, "AllowApp").map(|r| r.to_string()).as_deref(),
        Some("policy 2 Statement[1] (Sid \"AllowApp\")")
    );
    let unnamed = StatementRef {
        policy: 0,
        index: 3,
        sid: None,
    };
    assert_eq!(unnamed.to_string(), "policy 0 Statement[3]");
}

#[test]
fn documents_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone + core::fmt::Debug>() {}
    check::<PolicyDocument>();
    check::<RequestContext>();
    check::<PolicyError>();
}

#[test]
fn a_resource_miss_shows_the_substituted_patterns_and_the_request() {
    let policy = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"},
            {"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/*"}]}"#,
    );
    let mut ctx = RequestContext::new(role_session(), "s3:GetObject", "arn:aws:s3:::b/red/x");
    ctx.insert("aws:PrincipalTag/team", "blue");
    let (_, traces) = explain(&[&policy], &ctx);
    let shown: Vec<String> = traces.iter().map(ToString::to_string).collect();
    assert!(
        shown[0].contains(
            "    policy Resource (variables substituted): [\"arn:aws:s3:::b/blue/*\"]\n    request resource: \"arn:aws:s3:::b/red/x\"\n"
        ),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].contains("    policy NotResource (variables substituted): [\"arn:aws:s3:::b/*\"]\n"),
        "{}",
        shown[1]
    );
    // A match carries no detail.
    ctx.resource = "arn:aws:s3:::b/blue/x".into();
    let (_, traces) = explain(&[&policy], &ctx);
    assert_eq!(traces[0].resource_miss, None);
}

#[test]
fn may_allow_reads_action_and_principal_whatever_the_conditions() {
    let ctx = |action: &str| RequestContext::new(service(), action, ROLE);
    let cases: &[(&str, bool)] = &[
        (
            r#""Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:*""#,
            true,
        ),
        (r#""Principal":"*","NotAction":"iam:*""#, true),
        // {"AWS":"*"} is everyone, as "*" is.
        (r#""Principal":{"AWS":"*"},"Action":"sts:TagSession""#, true),
        (
            r#""Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:TagSession""#,
            false,
        ),
        (
            r#""Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:Set*","Condition":{"StringEquals":{"aws:SourceAccount":"0"}}"#,
            false,
        ),
        (
            r#""Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:TagSession""#,
            false,
        ),
    ];
    for (statement, want) in cases {
        let policy = trust(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",{statement}}}]}}"#
        ));
        assert_eq!(may_allow(&policy, &ctx("sts:TagSession")), *want, "{statement}");
    }
    // A Deny without conditions for the action and principal: never allowed; with one: may be.
    let allow = r#"{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:*"}"#;
    for (deny, want) in [
        (r#"{"Effect":"Deny","Principal":"*","Action":"sts:TagSession"}"#, false),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:TagSession","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:SetSourceIdentity"}"#,
            true,
        ),
    ] {
        let policy = trust(&format!(r#"{{"Version":"2012-10-17","Statement":[{allow},{deny}]}}"#));
        assert_eq!(may_allow(&policy, &ctx("sts:TagSession")), want, "{deny}");
    }
    // The condition is not evaluated: a statement for the action may allow it.
    let conditional = trust(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},"Action":"sts:SetSourceIdentity","Condition":{"StringEquals":{"aws:SourceAccount":"0"}}}]}"#,
    );
    assert!(may_allow(&conditional, &ctx("sts:SetSourceIdentity")));
}

/// A policy's compact form drops the layout only: keys stay in document order, numbers as
/// written, strings are escaped, and it parses to the same statements.
#[test]
fn compact_source_keeps_everything_but_the_layout() {
    let written = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Sid\": \"Reads\",\n      \"Effect\": \"Allow\",\n      \"Action\": [\"s3:Get*\", \"s3:List*\"],\n      \"Resource\": \"arn:aws:s3:::b/tab\\there \\\"q\\\" é\",\n      \"Condition\": {\"NumericLessThan\": {\"s3:max-keys\": 10.50}, \"Bool\": {\"aws:SecureTransport\": true}}\n    }\n  ]\n}\n";
    let doc = identity(written);
    let compact = doc.compact_source();
    assert_eq!(
        compact,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Reads","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::b/tab\there \"q\" é","Condition":{"NumericLessThan":{"s3:max-keys":10.50},"Bool":{"aws:SecureTransport":true}}}]}"#
    );
    let again = identity(&compact);
    assert_eq!(format!("{:?}", again.statements()), format!("{:?}", doc.statements()));
}

/// Hundreds of a caller's patterns against fifty long values of its own: the matching work
/// one request may cause is bounded, and a decision that ran out of it is refused, whether an
/// `Allow` or a `Deny` would have applied. A policy of ordinary size decides as before.
#[test]
fn matching_beyond_the_bound_refuses_the_decision() {
    let patterns: Vec<String> = (0..360).map(|i| format!("\"*aaaaa{i:03}\"")).collect();
    let policy = |effect: &str, operator: &str| {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"Allow","Action":"s3:*","Resource":"*"}},
                {{"Effect":"{effect}","Action":"s3:*","Resource":"*","Condition":{{"{operator}":{{"s3:prefix":[{}]}}}}}}]}}"#,
            patterns.join(",")
        );
        PolicyDocument::parse(&text, PolicyKind::Identity).unwrap()
    };
    let long_values: Vec<String> = (0..50).map(|i| format!("{}!{i:02}", "a".repeat(2045))).collect();
    let ctx = || {
        let mut ctx = RequestContext::new(role_session(), "s3:ListBucket", "arn:aws:s3:::bucket");
        ctx.insert_multi("s3:prefix", long_values.clone());
        ctx
    };
    for (effect, operator) in [
        ("Deny", "ForAnyValue:StringLike"),
        ("Deny", "ForAllValues:StringNotLike"),
    ] {
        let context = ctx();
        let decision = evaluate(&[policy(effect, operator)], &context);
        assert_eq!(decision.outcome, Outcome::TooMuchMatching, "{effect} {operator}");
        assert_eq!(decision.deciding, None);
        assert!(context.match_steps_exceeded());
        assert!(!decision.is_allowed());
    }
    // Session policies too: the intersection is refused, not allowed.
    let context = ctx();
    let permissions = policy("Allow", "ForAnyValue:StringLike");
    let allow_all = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let decision = evaluate_permissions(&[&allow_all], Some(&[&permissions]), &context);
    assert_eq!(decision.outcome, Outcome::TooMuchMatching);
    assert!(decision.from_session_policy);

    // The same policy against a few short values decides.
    let mut short = RequestContext::new(role_session(), "s3:ListBucket", "arn:aws:s3:::bucket");
    short.insert_multi("s3:prefix", vec!["home/aaaaa007".to_owned(), "x".to_owned()]);
    let decision = evaluate(&[policy("Deny", "ForAnyValue:StringLike")], &short);
    assert_eq!(decision.outcome, Outcome::ExplicitDeny);
    assert!(!short.match_steps_exceeded());
}
