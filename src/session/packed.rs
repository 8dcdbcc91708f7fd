//! `PackedPolicySize`: how much of a session's packed policy-and-tag budget a request uses.
//!
//! AWS packs the session policies, managed policy ARNs and session tags into a compressed
//! binary inside the session token and reports the share of its fixed budget they use as a
//! percentage; above 100 the request fails with `PackedPolicyTooLarge`
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>, response element
//! `PackedPolicySize`). AWS does not publish the format, so rolegate uses this documented model:
//!
//! ```text
//! units   = Σ ⌈len(minified policy) / 2⌉      JSON packs about 2:1
//!         + 48 × managed policy ARNs           an ARN reference, packed
//!         + Σ (len(key) + len(value) + 2)      tags are stored nearly as-is
//! percent = ⌈units × 100 / 2048⌉
//! ```
//!
//! "Minified" drops the JSON whitespace outside strings, so formatting never counts. The model
//! is monotonic (more or longer inputs never shrink it) and is 0 for an empty session. At 100 %
//! the claims fit well within [`super::MAX_TOKEN_LEN`] (about 6 KiB of token for minified
//! policies). A single 2048-character `Policy` (the plaintext limit STS documents) uses about half the
//! budget.

/// The packed budget in units (see the module documentation).
pub const PACKED_BUDGET_UNITS: u64 = 2048;
/// Units one managed policy ARN uses.
pub const PACKED_UNITS_PER_POLICY_ARN: u64 = 48;

/// The packed policy and tags exceed the budget (STS `PackedPolicyTooLarge`, HTTP 400). STS
/// words it after what overflows: the session tags when they do on their own (or are all
/// there is), else the policies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PackedPolicyTooLarge {
    #[error("Packed policy consumes {percent}% of allotted space, please use smaller policy.")]
    Policies { percent: u32 },
    #[error("Packed size of session tags consumes {percent}% of allotted space.")]
    SessionTags { percent: u32 },
}

/// The `PackedPolicySize` percentage of a session's policies, managed policy ARNs and tags.
pub fn packed_policy_size(session_policies: &[&str], policy_arn_count: usize, tags: &[(String, String)]) -> u32 {
    percent_of(policy_units(session_policies, policy_arn_count).saturating_add(tag_units(tags)))
}

/// The units of the session policies and managed policy ARNs.
fn policy_units(session_policies: &[&str], policy_arn_count: usize) -> u64 {
    let policies: u64 = session_policies
        .iter()
        .map(|policy| minified_len(policy).div_ceil(2))
        .sum();
    policies.saturating_add(PACKED_UNITS_PER_POLICY_ARN.saturating_mul(to_u64(policy_arn_count)))
}

/// The units of the session tags.
fn tag_units(tags: &[(String, String)]) -> u64 {
    tags.iter()
        .map(|(key, value)| to_u64(key.len() + value.len() + 2))
        .sum()
}

/// `units` as a percentage of the budget, rounded up.
fn percent_of(units: u64) -> u32 {
    let percent = units.saturating_mul(100).div_ceil(PACKED_BUDGET_UNITS);
    u32::try_from(percent).unwrap_or(u32::MAX)
}

/// [`packed_policy_size`], failing above 100 percent as AWS does.
pub fn check_packed_policy_size(
    session_policies: &[&str],
    policy_arn_count: usize,
    tags: &[(String, String)],
) -> Result<u32, PackedPolicyTooLarge> {
    let (policies, tags) = (policy_units(session_policies, policy_arn_count), tag_units(tags));
    match percent_of(policies.saturating_add(tags)) {
        percent if percent <= 100 => Ok(percent),
        percent if policies == 0 => Err(PackedPolicyTooLarge::SessionTags { percent }),
        _ if percent_of(tags) > 100 => Err(PackedPolicyTooLarge::SessionTags {
            percent: percent_of(tags),
        }),
        percent => Err(PackedPolicyTooLarge::Policies { percent }),
    }
}

/// Length of a JSON document without the insignificant whitespace (RFC 8259 §2) outside
/// strings.
fn minified_len(json: &str) -> u64 {
    let mut len = 0u64;
    let mut in_string = false;
    let mut escaped = false;
    for byte in json.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if byte == b'"' {
            in_string = true;
        }
        len += 1;
    }
    len
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (session policies, managed policy ARN count, tags, expected percent)
    type Case<'a> = (Vec<&'a str>, usize, Vec<(String, String)>, u32);

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Stmt1","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn minifies_outside_strings_only() {
        assert_eq!(
            minified_len(r#"{ "a b" : "c\" d" }"#),
            r#"{"a b":"c\" d"}"#.len() as u64
        );
        assert_eq!(minified_len("{\n  \"a\":\t1\r\n}"), 7);
        assert_eq!(minified_len(r#"{"a":"\\"}"#), 10);
    }

    #[test]
    fn table() {
        let pretty = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"Stmt1\", \"Effect\": \"Allow\", \"Action\": \"s3:ListAllMyBuckets\", \"Resource\": \"*\"}\n  ]\n}";
        let huge = format!("{{\"Statement\":\"{}\"}}", "x".repeat(10_000));
        let cases: Vec<Case<'_>> = vec![
            (vec![], 0, vec![], 0),
            // 113 bytes → 57 units → 2.8 %
            (vec![POLICY], 0, vec![], 3),
            // whitespace does not count
            (vec![pretty], 0, vec![], 3),
            // AWS's AssumeRole example: the policy plus two tags
            (
                vec![POLICY],
                0,
                tags(&[("Project", "Pegasus"), ("Cost-Center", "98765")]),
                5,
            ),
            (vec![], 1, vec![], 3),
            (vec![], 10, vec![], 24),
            (vec![huge.as_str()], 0, vec![], 245),
        ];
        for (policies, arns, tags, expected) in cases {
            assert_eq!(
                packed_policy_size(&policies, arns, &tags),
                expected,
                "{policies:?} {arns} {tags:?}"
            );
        }
    }

    #[test]
    fn monotonic_in_every_input() {
        let mut last = 0;
        for n in 0..800 {
            let policy = format!("{{\"Action\":\"{}\"}}", "s3:Get".repeat(n));
            let size = packed_policy_size(&[&policy], 0, &[]);
            assert!(size >= last, "policy of {n}: {size} < {last}");
            last = size;
        }
        assert!(last > 100);
        let mut last = 0;
        for n in 0..60 {
            let tags: Vec<_> = (0..n).map(|i| (format!("key-{i}"), "v".repeat(60))).collect();
            let size = packed_policy_size(&[POLICY], n, &tags);
            assert!(size >= last, "{n} tags: {size} < {last}");
            last = size;
        }
        assert!(last > 100);
    }

    #[test]
    fn check_fails_above_100() {
        let policy = format!("{{\"A\":\"{}\"}}", "x".repeat(4_080));
        assert_eq!(check_packed_policy_size(&[&policy], 0, &[]), Ok(100));
        let policy = format!("{{\"A\":\"{}\"}}", "x".repeat(4_100));
        let err = check_packed_policy_size(&[&policy], 0, &[]).unwrap_err();
        assert_eq!(err, PackedPolicyTooLarge::Policies { percent: 101 });
        assert_eq!(
            err.to_string(),
            "Packed policy consumes 101% of allotted space, please use smaller policy."
        );
    }

    /// STS blames the session tags when they overflow on their own, or are all there is.
    #[test]
    fn the_refusal_names_what_overflows() {
        let big_tags: Vec<_> = (0..10).map(|i| (format!("k{i}"), "v".repeat(220))).collect();
        let small_policy = r#"{"A":"b"}"#;
        let half_policy = format!("{{\"A\":\"{}\"}}", "x".repeat(2_000));
        let some_tags: Vec<_> = (0..5).map(|i| (format!("k{i}"), "v".repeat(220))).collect();
        let tags_only = check_packed_policy_size(&[], 0, &big_tags).unwrap_err();
        assert_eq!(tags_only, PackedPolicyTooLarge::SessionTags { percent: 110 });
        assert_eq!(
            tags_only.to_string(),
            "Packed size of session tags consumes 110% of allotted space."
        );
        assert_eq!(
            check_packed_policy_size(&[small_policy], 0, &big_tags),
            Err(PackedPolicyTooLarge::SessionTags { percent: 110 })
        );
        // Neither overflows alone: the policy is blamed, with the total.
        assert_eq!(
            check_packed_policy_size(&[&half_policy], 0, &some_tags),
            Err(PackedPolicyTooLarge::Policies { percent: 104 })
        );
    }
}
