//! The opened-token cache bounds memory by weighing each entry (`OpenedSession::cache_weight`,
//! one unit per 2 KiB): checked here against what an entry really holds on the heap, counted by
//! dhat's allocator, for the session shapes a caller controls — dense session
//! policies of each kind and many tags. One test, so no other test allocates while it counts.

use rolegate::broker::OpenedSession;
use rolegate::session::{SessionClaims, SessionClaimsDraft, SessionOrigin};

/// dhat's allocator: the system's, counting the bytes live on the heap.
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn live() -> isize {
    isize::try_from(dhat::HeapStats::get().curr_bytes).unwrap()
}

/// The unit of the cache's bound (`authenticate::ENTRY_UNIT_BYTES`).
const UNIT: isize = 2048;

/// The packed-policy budget leaves a session policy about this much compact text.
const POLICY_TEXT: usize = 2300;

fn claims(tags: usize, session_policies: Vec<String>) -> SessionClaims {
    let draft = SessionClaimsDraft {
        role_arn: "arn:aws:iam::123456789012:role/app".into(),
        role_id: "AROAEXAMPLEEXAMPLE1".into(),
        session_name: "session".into(),
        issued_at: 1_700_000_000,
        expires_at: 1_700_003_600,
        source_identity: Some("ci".into()),
        tags: (0..tags).map(|i| (format!("{i}"), "v".to_owned())).collect(),
        transitive_tag_keys: (0..tags).map(|i| format!("{i}")).collect(),
        session_policies,
        policy_arns: Vec::new(),
        origin: SessionOrigin::AssumeRole {
            source_role_arn: "arn:aws:iam::123456789012:role/base".into(),
            source_session_name: "base".into(),
        },
        chain: None,
    };
    SessionClaims::from_draft(
        draft,
        "ASIAEXAMPLEEXAMPLE12".into(),
        zeroize::Zeroizing::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
    )
}

/// A policy of as many conditions `condition(i)` (`"key":value` members of one operator) as
/// fit in [`POLICY_TEXT`].
fn dense_policy(operator: &str, condition: impl Fn(usize) -> String) -> String {
    let wrap = |members: &[String]| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{{"{operator}":{{{}}}}}}}]}}"#,
            members.join(",")
        )
    };
    let mut members = Vec::new();
    while wrap(&members).len() < POLICY_TEXT {
        members.push(condition(members.len()));
    }
    members.pop();
    wrap(&members)
}

/// The heap bytes an opened session of the claims `make` builds holds once its policies are
/// parsed (the claims' own strings too), and its weight.
fn held_and_weighed(make: impl FnOnce() -> SessionClaims) -> (isize, isize) {
    let before = live();
    let opened = Box::new(OpenedSession::new(make()));
    let parsed = opened.inline_policies().len();
    assert_eq!(parsed, opened.session_policies.len());
    let held = live() - before;
    let weight = isize::try_from(opened.cache_weight()).unwrap();
    drop(opened);
    (held, weight)
}

#[test]
fn an_opened_session_weighs_at_least_what_it_holds() {
    let _counting = dhat::Profiler::builder().testing().build();
    let key = |i: usize| format!("k{i:x}");
    let one_key_per_condition =
        |operator: &str, value: &str| dense_policy(operator, |i| format!(r#""{}":"{value}""#, key(i)));
    let patterns_of_one_key = dense_policy("StringLike", |i| {
        let patterns: Vec<String> = (0..8).map(|j| format!(r#""*a{i}{j}""#)).collect();
        format!(r#""{}":[{}]"#, key(i), patterns.join(","))
    });
    let shapes: Vec<(&str, usize, Vec<String>)> = vec![
        ("no policy, no tags", 0, Vec::new()),
        ("50 tags, all transitive", 50, Vec::new()),
        (
            "StringLike keys with variables",
            0,
            vec![one_key_per_condition("StringLike", "${a}")],
        ),
        (
            "StringLike keys with empty values",
            0,
            vec![one_key_per_condition("StringLike", "")],
        ),
        ("ArnLike keys", 0, vec![one_key_per_condition("ArnLike", "arn:::::")]),
        ("IpAddress keys", 0, vec![one_key_per_condition("IpAddress", "::")]),
        ("StringLike patterns of one key", 0, vec![patterns_of_one_key]),
        (
            "three dense policies and 50 tags",
            50,
            vec![one_key_per_condition("StringLike", ""); 3],
        ),
    ];
    for (shape, tags, policies) in shapes {
        let policy_text: usize = policies.iter().map(String::len).sum();
        let (held, weight) = held_and_weighed(|| claims(tags, policies.clone()));
        eprintln!("{shape}: {held} bytes held, {policy_text} of policy text, weight {weight}");
        assert!(
            held <= weight * UNIT,
            "{shape}: holds {held} bytes ({policy_text} bytes of policy text), weighs {weight} units of {UNIT}"
        );
        // Not so heavy that the bound would hold a fraction of what it may.
        assert!(
            weight * UNIT <= 4 * held + UNIT,
            "{shape}: holds {held} bytes, weighs {weight} units of {UNIT}"
        );
    }
}
