//! The IAM policy engine against the examples of AWS's documentation, through the public
//! `rolegate::policy` API: each case is a policy, a request and the decision AWS documents.
//!
//! Sources: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>.

use rolegate::policy::{
    ConditionTrace, Outcome, PolicyDocument, PolicyKind, Principal, RequestContext, evaluate, evaluate_permissions,
    explain,
};

const ROLE: &str = "arn:aws:iam::123456789012:role/app";

/// A request context key: single-valued, or multi-valued (possibly empty).
enum Key {
    One(&'static str, &'static str),
    Many(&'static str, &'static [&'static str]),
}

struct Case {
    name: &'static str,
    action: &'static str,
    resource: &'static str,
    keys: &'static [Key],
    outcome: Outcome,
    /// The `Sid` of the deciding statement (`None` for an implicit deny).
    sid: Option<&'static str>,
}

fn identity(json: &str) -> PolicyDocument {
    PolicyDocument::parse(json, PolicyKind::Identity).unwrap()
}

fn context(action: &str, resource: &str, keys: &[Key]) -> RequestContext {
    let principal = Principal::Aws {
        role_arn: ROLE.into(),
        session_arn: Some("arn:aws:sts::123456789012:assumed-role/app/s".into()),
        account: "123456789012".into(),
    };
    let mut ctx = RequestContext::new(principal, action, resource);
    for key in keys {
        match key {
            Key::One(k, v) => ctx.insert(*k, *v),
            Key::Many(k, vs) => ctx.insert_multi(*k, vs.iter().map(|v| (*v).to_owned()).collect()),
        }
    }
    ctx
}

/// Runs every case against `policy`, checking the outcome, the deciding statement, and that
/// `explain` agrees with `evaluate`.
fn check(policy: &str, cases: &[Case]) {
    let doc = identity(policy);
    for case in cases {
        let ctx = context(case.action, case.resource, case.keys);
        let decision = evaluate(&[&doc], &ctx);
        assert_eq!(decision.outcome, case.outcome, "{}", case.name);
        assert_eq!(
            decision.deciding.as_ref().and_then(|d| d.sid.as_deref()),
            case.sid,
            "{}",
            case.name
        );
        let (explained, traces) = explain(&[&doc], &ctx);
        assert_eq!(explained, decision, "{}: explain disagrees", case.name);
        assert_eq!(traces.len(), doc.statements().len(), "{}", case.name);
    }
}

#[test]
fn explicit_deny_overrides_allow() {
    // "An explicit deny in any policy overrides any allows."
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllowS3","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"NoDelete","Effect":"Deny","Action":["s3:DeleteObject","s3:DeleteBucket"],"Resource":"*"}]}"#,
        &[
            Case {
                name: "allowed action",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::b/k",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("AllowS3"),
            },
            Case {
                name: "denied action, also allowed by s3:*",
                action: "s3:DeleteObject",
                resource: "arn:aws:s3:::b/k",
                keys: &[],
                outcome: Outcome::ExplicitDeny,
                sid: Some("NoDelete"),
            },
            Case {
                name: "actions match case-insensitively",
                action: "S3:deleteobject",
                resource: "arn:aws:s3:::b/k",
                keys: &[],
                outcome: Outcome::ExplicitDeny,
                sid: Some("NoDelete"),
            },
            Case {
                name: "another service: nothing applies",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
        ],
    );
}

#[test]
fn not_action_with_allow_and_with_deny() {
    // "Allow all actions except IAM": NotAction with Allow allows what it does not list; it does
    // not deny the listed actions, it just does not allow them.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllButIam","Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#,
        &[
            Case {
                name: "s3 is allowed",
                action: "s3:ListBucket",
                resource: "arn:aws:s3:::b",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("AllButIam"),
            },
            Case {
                name: "iam is implicitly denied",
                action: "iam:CreateUser",
                resource: "*",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
        ],
    );
    // "Deny everything except IAM unless signed in with MFA" (NotAction with Deny, BoolIfExists).
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"NeedMfa","Effect":"Deny","NotAction":"iam:*","Resource":"*",
             "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
        &[
            Case {
                name: "no MFA: denied",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[Key::One("aws:MultiFactorAuthPresent", "false")],
                outcome: Outcome::ExplicitDeny,
                sid: Some("NeedMfa"),
            },
            Case {
                name: "key absent: IfExists holds, denied",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[],
                outcome: Outcome::ExplicitDeny,
                sid: Some("NeedMfa"),
            },
            Case {
                name: "with MFA: allowed",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[Key::One("aws:MultiFactorAuthPresent", "true")],
                outcome: Outcome::Allow,
                sid: Some("All"),
            },
            Case {
                name: "iam is exempt from the deny",
                action: "iam:ChangePassword",
                resource: "*",
                keys: &[Key::One("aws:MultiFactorAuthPresent", "false")],
                outcome: Outcome::Allow,
                sid: Some("All"),
            },
        ],
    );
}

#[test]
fn resource_wildcards() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Objects","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"},
            {"Sid":"Logs","Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:app-?:*"},
            {"Sid":"NotTmp","Effect":"Allow","Action":"s3:PutObject","NotResource":"arn:aws:s3:::reports/tmp/*"},
            {"Sid":"DevFunctions","Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:app-*-dev"}]}"#,
        &[
            Case {
                name: "a * inside a segment matches within it",
                action: "lambda:InvokeFunction",
                resource: "arn:aws:lambda:us-east-1:123456789012:function:app-web-dev",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("DevFunctions"),
            },
            Case {
                name: "a * inside a segment does not reach past a colon (function app-prod, alias canary-dev)",
                action: "lambda:InvokeFunction",
                resource: "arn:aws:lambda:us-east-1:123456789012:function:app-prod:canary-dev",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "* spans slashes",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::reports/2026/06/q2.csv",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("Objects"),
            },
            Case {
                name: "the bucket itself is not an object",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::reports",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "resources match case-sensitively",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::Reports/x",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "? is exactly one character",
                action: "logs:PutLogEvents",
                resource: "arn:aws:logs:us-east-1:123456789012:log-group:app-1:log-stream:x",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("Logs"),
            },
            Case {
                name: "? does not match two characters",
                action: "logs:PutLogEvents",
                resource: "arn:aws:logs:us-east-1:123456789012:log-group:app-12:log-stream:x",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "NotResource allows everything else",
                action: "s3:PutObject",
                resource: "arn:aws:s3:::reports/final/q2.csv",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("NotTmp"),
            },
            Case {
                name: "NotResource excludes what it lists",
                action: "s3:PutObject",
                resource: "arn:aws:s3:::reports/tmp/q2.csv",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
        ],
    );
}

#[test]
fn policy_variables() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"TeamPrefix","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*"},
            {"Sid":"ListOwn","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data",
             "Condition":{"StringLike":{"s3:prefix":["${aws:PrincipalTag/team, 'shared'}/*"]}}}]}"#,
        &[
            Case {
                name: "the tag value is substituted",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::data/blue/x",
                keys: &[Key::One("aws:PrincipalTag/team", "blue")],
                outcome: Outcome::Allow,
                sid: Some("TeamPrefix"),
            },
            Case {
                name: "another team's prefix",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::data/red/x",
                keys: &[Key::One("aws:PrincipalTag/team", "blue")],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "a substituted * is literal, not a wildcard",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::data/red/x",
                keys: &[Key::One("aws:PrincipalTag/team", "*")],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "missing tag: the resource matches nothing",
                action: "s3:GetObject",
                resource: "arn:aws:s3:::data//x",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "variable in a condition value",
                action: "s3:ListBucket",
                resource: "arn:aws:s3:::data",
                keys: &[
                    Key::One("aws:PrincipalTag/team", "blue"),
                    Key::One("s3:prefix", "blue/2026/"),
                ],
                outcome: Outcome::Allow,
                sid: Some("ListOwn"),
            },
            Case {
                name: "missing tag: the default value is used",
                action: "s3:ListBucket",
                resource: "arn:aws:s3:::data",
                keys: &[Key::One("s3:prefix", "shared/readme")],
                outcome: Outcome::Allow,
                sid: Some("ListOwn"),
            },
            Case {
                name: "missing tag and another prefix",
                action: "s3:ListBucket",
                resource: "arn:aws:s3:::data",
                keys: &[Key::One("s3:prefix", "blue/x")],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
        ],
    );
}

#[test]
fn missing_keys_if_exists_and_null() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"SmallOnly","Effect":"Allow","Action":"ec2:RunInstances","Resource":"*",
             "Condition":{"StringEqualsIfExists":{"ec2:InstanceType":["t3.micro","t3.small"]}}},
            {"Sid":"TagRequired","Effect":"Deny","Action":"ec2:CreateVolume","Resource":"*",
             "Condition":{"Null":{"aws:RequestTag/team":"true"}}},
            {"Sid":"Volumes","Effect":"Allow","Action":"ec2:CreateVolume","Resource":"*"},
            {"Sid":"NotFromOffice","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
             "Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-office"}}}]}"#,
        &[
            Case {
                name: "IfExists: key present and listed",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[Key::One("ec2:InstanceType", "t3.micro")],
                outcome: Outcome::Allow,
                sid: Some("SmallOnly"),
            },
            Case {
                name: "IfExists: key present, not listed",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[Key::One("ec2:InstanceType", "m5.24xlarge")],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "IfExists: key absent holds",
                action: "ec2:RunInstances",
                resource: "*",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("SmallOnly"),
            },
            Case {
                name: "Null true: absent tag is denied",
                action: "ec2:CreateVolume",
                resource: "*",
                keys: &[],
                outcome: Outcome::ExplicitDeny,
                sid: Some("TagRequired"),
            },
            Case {
                name: "Null true: present tag passes",
                action: "ec2:CreateVolume",
                resource: "*",
                keys: &[Key::One("aws:RequestTag/team", "blue")],
                outcome: Outcome::Allow,
                sid: Some("Volumes"),
            },
            Case {
                name: "negated operator on a missing key holds",
                action: "s3:GetObject",
                resource: "*",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("NotFromOffice"),
            },
            Case {
                name: "negated operator on a matching key fails",
                action: "s3:GetObject",
                resource: "*",
                keys: &[Key::One("aws:SourceVpc", "vpc-office")],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
        ],
    );
}

#[test]
fn set_qualifiers_on_empty_and_missing_sets() {
    // AWS warns: ForAllValues is true when the key is missing or empty, so pair it with
    // `Null: false` to require the key; ForAnyValue is false then.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"OnlyAllowedTags","Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
             "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}},
            {"Sid":"SomeTagRequired","Effect":"Allow","Action":"ec2:CreateVolume","Resource":"*",
             "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]},"Null":{"aws:TagKeys":"false"}}},
            {"Sid":"AnyTeam","Effect":"Allow","Action":"ec2:DeleteTags","Resource":"*",
             "Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}}]}"#,
        &[
            Case {
                name: "ForAllValues: subset holds",
                action: "ec2:CreateTags",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &["team"])],
                outcome: Outcome::Allow,
                sid: Some("OnlyAllowedTags"),
            },
            Case {
                name: "ForAllValues: one foreign key fails",
                action: "ec2:CreateTags",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &["team", "cost-center"])],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "ForAllValues: empty set holds (vacuously)",
                action: "ec2:CreateTags",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &[])],
                outcome: Outcome::Allow,
                sid: Some("OnlyAllowedTags"),
            },
            Case {
                name: "ForAllValues: missing key holds (vacuously)",
                action: "ec2:CreateTags",
                resource: "*",
                keys: &[],
                outcome: Outcome::Allow,
                sid: Some("OnlyAllowedTags"),
            },
            Case {
                name: "ForAllValues + Null false: empty set fails",
                action: "ec2:CreateVolume",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &[])],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "ForAllValues + Null false: subset holds",
                action: "ec2:CreateVolume",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &["env"])],
                outcome: Outcome::Allow,
                sid: Some("SomeTagRequired"),
            },
            Case {
                name: "ForAnyValue: missing key fails",
                action: "ec2:DeleteTags",
                resource: "*",
                keys: &[],
                outcome: Outcome::ImplicitDeny,
                sid: None,
            },
            Case {
                name: "ForAnyValue: one match holds",
                action: "ec2:DeleteTags",
                resource: "*",
                keys: &[Key::Many("aws:TagKeys", &["env", "team"])],
                outcome: Outcome::Allow,
                sid: Some("AnyTeam"),
            },
        ],
    );
}

#[test]
fn session_policies_intersect_with_identity_policies() {
    // "The resulting session's permissions are the intersection of the entity's identity-based
    // policy and the session policies"; an explicit deny in either wins.
    let role = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"RoleS3","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"RoleNoDelete","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#,
    );
    let session = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"SessionRead","Effect":"Allow","Action":["s3:Get*","s3:DeleteBucket","ec2:*"],"Resource":"*"},
            {"Sid":"SessionNoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::secrets/*"}]}"#,
    );
    struct SessionCase {
        action: &'static str,
        resource: &'static str,
        with_session: bool,
        outcome: Outcome,
        sid: Option<&'static str>,
        from_session: bool,
    }
    let case = |action, resource, with_session, outcome, sid, from_session| SessionCase {
        action,
        resource,
        with_session,
        outcome,
        sid,
        from_session,
    };
    let cases = [
        case(
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            true,
            Outcome::Allow,
            Some("RoleS3"),
            false,
        ),
        case(
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            true,
            Outcome::ImplicitDeny,
            None,
            true,
        ),
        case(
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            false,
            Outcome::Allow,
            Some("RoleS3"),
            false,
        ),
        case("ec2:RunInstances", "*", true, Outcome::ImplicitDeny, None, false),
        case(
            "s3:GetObject",
            "arn:aws:s3:::secrets/k",
            true,
            Outcome::ExplicitDeny,
            Some("SessionNoSecrets"),
            true,
        ),
        case(
            "s3:DeleteBucket",
            "arn:aws:s3:::b",
            true,
            Outcome::ExplicitDeny,
            Some("RoleNoDelete"),
            false,
        ),
    ];
    for c in &cases {
        let ctx = context(c.action, c.resource, &[]);
        let session_set = [&session];
        let d = evaluate_permissions(&[&role], c.with_session.then_some(&session_set[..]), &ctx);
        let what = format!("{} on {} (session policies: {})", c.action, c.resource, c.with_session);
        assert_eq!(d.outcome, c.outcome, "{what}");
        assert_eq!(d.deciding.as_ref().and_then(|s| s.sid.as_deref()), c.sid, "{what}");
        assert_eq!(d.from_session_policy, c.from_session, "{what}");
    }
    // Session policies supplied but none exist: nothing is allowed.
    let ctx = context("s3:GetObject", "arn:aws:s3:::b/k", &[]);
    let d = evaluate_permissions(&[&role], Some(&[]), &ctx);
    assert_eq!((d.outcome, d.from_session_policy), (Outcome::ImplicitDeny, true));
}

#[test]
fn explain_traces_conditions_with_request_values() {
    let doc = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Team","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
             "Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/owner}"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
    );
    let ctx = context(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        &[
            Key::One("aws:PrincipalTag/team", "blue"),
            Key::One("aws:PrincipalTag/owner", "blue"),
        ],
    );
    let (decision, traces) = explain(&[&doc], &ctx);
    assert_eq!(decision.outcome, Outcome::ImplicitDeny);
    let [trace] = traces.as_slice() else {
        panic!("one statement, one trace: {traces:?}");
    };
    assert!(trace.action && !trace.applies);
    assert_eq!(
        trace.conditions,
        vec![
            ConditionTrace {
                operator: "StringEquals".into(),
                key: "aws:PrincipalTag/team".into(),
                policy_values: vec!["blue".into()],
                request_values: Some(vec!["blue".into()]),
                holds: true,
            },
            ConditionTrace {
                operator: "IpAddress".into(),
                key: "aws:SourceIp".into(),
                policy_values: vec!["10.0.0.0/8".into()],
                request_values: None,
                holds: false,
            },
        ]
    );
}

/// AWS's "Allow access based on date and time" example (access from April 1 through June 30,
/// 2020) with its dates in each W3C form of ISO 8601 the Date operators take, a partial date
/// being its first instant, UTC
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws-dates.html>).
#[test]
fn date_conditions_take_every_w3c_form() {
    // (from, until): the range [from, until) written in one form.
    let ranges = [
        ("2020-04-01T00:00:00Z", "2020-07-01T00:00:00Z"),
        // YYYY-MM
        ("2020-04", "2020-07"),
        // YYYY-MM-DD
        ("2020-04-01", "2020-07-01"),
        // YYYY-MM-DDThh:mmTZD
        ("2020-04-01T02:00+02:00", "2020-06-30T20:00-04:00"),
        // YYYY-MM-DDThh:mm:ssTZD
        ("2020-03-31T19:00:00-05:00", "2020-07-01T00:00:00Z"),
        // YYYY-MM-DDThh:mm:ss.sTZD
        ("2020-04-01T00:00:00.0Z", "2020-07-01T00:00:00.000+00:00"),
        // epoch seconds
        ("1585699200", "1593561600"),
    ];
    let at = |time| [Key::One("aws:CurrentTime", time)];
    let (before, first, last, after) = (
        at("2020-03-31T23:59:59Z"),
        at("2020-04-01T00:00:00Z"),
        at("2020-06-30T23:59:59Z"),
        at("2020-07-01T00:00:00Z"),
    );
    for (from, until) in ranges {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Q2","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
                "Condition":{{"DateGreaterThanEquals":{{"aws:CurrentTime":"{from}"}},"DateLessThan":{{"aws:CurrentTime":"{until}"}}}}}}]}}"#
        );
        let doc = identity(&policy);
        for (name, keys, outcome) in [
            ("before", &before, Outcome::ImplicitDeny),
            ("first second", &first, Outcome::Allow),
            ("last second", &last, Outcome::Allow),
            ("after", &after, Outcome::ImplicitDeny),
        ] {
            let ctx = context("s3:GetObject", "*", keys);
            assert_eq!(evaluate(&[&doc], &ctx).outcome, outcome, "{from}..{until}: {name}");
        }
    }
    // YYYY: the year 2020 from its first instant; four digits are not epoch seconds.
    let doc = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"From2027","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
            "Condition":{"DateGreaterThanEquals":{"aws:CurrentTime":"2027"}}}]}"#,
    );
    for (time, outcome) in [
        ("2026-12-31T23:59:59Z", Outcome::ImplicitDeny),
        ("2027-01-01T00:00:00Z", Outcome::Allow),
    ] {
        let ctx = context("s3:GetObject", "*", &[Key::One("aws:CurrentTime", time)]);
        assert_eq!(evaluate(&[&doc], &ctx).outcome, outcome, "{time}");
    }
}
