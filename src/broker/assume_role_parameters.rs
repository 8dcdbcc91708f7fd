//! The parameters of an STS AssumeRole request, validated as AWS validates them
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>):
//!
//! 1. the service model's constraints — length, pattern and range of each member, size of
//!    each list — every failure reported in one `ValidationError`, each in AWS's wording
//!    ("2 validation errors detected: Value '…' at 'roleSessionName' failed to satisfy
//!    constraint: Member must have length less than or equal to 64; …"), one bound per
//!    message, list members by position (`tags.1.member.key`);
//! 2. then the rules beyond the model: the role ARN's syntax, reserved `aws:` tag keys, tag
//!    keys unique regardless of case, and transitive tag keys among the request's tags
//!    (AWS's `InvalidParameterValue` for the last two).
//!
//! Lengths count UTF-16 units, as AWS's Java front ends do.

use super::assume_role::AssumeRoleInput;
use super::violations::Violations;
use crate::arn::{RoleArn, is_iam_name_char};
use crate::error::{ApiError, ErrorCode};
use crate::session::{MAX_SESSION_SECONDS, MIN_SESSION_SECONDS, same_tag_key};

/// Most session tags per AssumeRole call.
pub(super) const MAX_TAGS: usize = 50;
/// Most transitive tag keys per AssumeRole call.
pub(super) const MAX_TRANSITIVE_TAG_KEYS: usize = 50;
/// Most managed policy ARNs per call.
pub(super) const MAX_POLICY_ARNS: usize = 10;
/// Most `ProvidedContexts` per call.
pub(super) const MAX_PROVIDED_CONTEXTS: usize = 5;
/// Largest `MinimumSessionTokenSize`, in bytes.
pub(super) const MAX_MINIMUM_SESSION_TOKEN_SIZE: i64 = 4096;
/// The most members of one list checked one by one. An STS form holds at most 256
/// parameters, so every STS request is checked whole; a gRPC message (256 KiB) could hold a
/// hundred thousand, each failing, and the list is refused for its length anyway.
const MAX_CHECKED_MEMBERS: usize = 256;

/// The session name's and source identity's pattern, `[\w+=,.@-]*`.
const NAME_PATTERN: &str = "[\\w+=,.@-]*";
/// The external id's pattern.
const EXTERNAL_ID_PATTERN: &str = "[\\w+=,.@:\\/-]*";
/// The MFA serial number's pattern.
const SERIAL_NUMBER_PATTERN: &str = "[\\w+=/:,.@-]*";
/// The MFA token code's pattern.
const TOKEN_CODE_PATTERN: &str = "[\\d]*";
/// A tag key's pattern (a value's is the same with `*`).
const TAG_KEY_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
const TAG_VALUE_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";
/// The session policy's pattern: tab, line feed, carriage return and U+0020–U+00FF.
const POLICY_PATTERN: &str = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+";
/// An ARN's pattern (`arnType`).
const ARN_PATTERN: &str =
    "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+";

/// Validates `input` as AWS does before deciding anything.
pub(crate) fn validate_parameters(input: &AssumeRoleInput) -> Result<(), ApiError> {
    model_violations(input).into_result()?;
    RoleArn::parse(&input.role_arn)
        .map_err(|_| ApiError::validation("parameter", format!("{} is invalid", input.role_arn)))?;
    for (k, _) in &input.tags {
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::validation(
                "parameter",
                format!("Tag keys starting with 'aws:' are reserved: '{k}'."),
            ));
        }
    }
    for (i, (k, _)) in input.tags.iter().enumerate() {
        if input.tags[..i].iter().any(|(other, _)| same_tag_key(other, k)) {
            return Err(invalid_parameter_value(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive. Key: '{k}'."
            )));
        }
    }
    for k in &input.transitive_tag_keys {
        if !input.tags.iter().any(|(t, _)| same_tag_key(t, k)) {
            return Err(invalid_parameter_value(format!(
                "The specified transitive tag key must be included in the requested tags. Key: '{k}'."
            )));
        }
    }
    Ok(())
}

/// AWS's `InvalidParameterValue`, for a request the model accepts and STS does not.
pub(crate) fn invalid_parameter_value(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValue, "parameter", message)
}

/// Every model constraint `input` fails, in the order of the operation's members.
fn model_violations(input: &AssumeRoleInput) -> Violations {
    let mut v = Violations::default();
    let given = |member: &str| !input.missing_members.iter().any(|m| m == member);
    if given("roleArn") {
        v.arn(&input.role_arn, "roleArn");
    } else {
        v.null("roleArn");
    }
    let name = &input.role_session_name;
    if given("roleSessionName") {
        v.length(name, "roleSessionName", 2, 64);
        v.pattern(
            name,
            "roleSessionName",
            name.chars().all(is_iam_name_char),
            NAME_PATTERN,
        );
    } else {
        v.null("roleSessionName");
    }
    v.policy_arns(&input.policy_arns);
    if let Some(policy) = &input.policy {
        // Its length has no model maximum (`unrestrictedSessionPolicyDocumentType`): what
        // bounds it is the packed size, checked once the request is valid.
        v.session_policy(policy, None);
    }
    if let Some(seconds) = input.duration_seconds {
        v.range(
            seconds,
            "durationSeconds",
            MIN_SESSION_SECONDS.into(),
            MAX_SESSION_SECONDS.into(),
        );
    }
    v.tags(&input.tags, given);
    if input.transitive_tag_keys.len() > MAX_TRANSITIVE_TAG_KEYS {
        v.list_too_long("transitiveTagKeys", MAX_TRANSITIVE_TAG_KEYS);
    }
    for (i, key) in input.transitive_tag_keys.iter().take(MAX_CHECKED_MEMBERS).enumerate() {
        v.tag_key(key, &format!("transitiveTagKeys.{}.member", i + 1));
    }
    if let Some(x) = &input.external_id {
        v.length(x, "externalId", 2, 1224);
        let ok = x.chars().all(|c| is_iam_name_char(c) || c == ':' || c == '/');
        v.pattern(x, "externalId", ok, EXTERNAL_ID_PATTERN);
    }
    v.mfa(input.serial_number.as_deref(), input.token_code.as_deref());
    if let Some(s) = &input.source_identity {
        // AWS's sourceIdentityType: 2 to 256 characters in the 2026 model (64 before; a Roles
        // Anywhere session's own, from its certificate, stays within 64).
        v.length(s, "sourceIdentity", 2, SOURCE_IDENTITY_PARAMETER_MAX);
        v.pattern(s, "sourceIdentity", s.chars().all(is_iam_name_char), NAME_PATTERN);
    }
    if input.provided_contexts.len() > MAX_PROVIDED_CONTEXTS {
        v.list_too_long("providedContexts", MAX_PROVIDED_CONTEXTS);
    }
    for (i, context) in input.provided_contexts.iter().take(MAX_CHECKED_MEMBERS).enumerate() {
        if let Some(arn) = &context.provider_arn {
            v.arn(arn, &format!("providedContexts.{}.member.providerArn", i + 1));
        }
        if let Some(assertion) = &context.context_assertion {
            // A bearer assertion is not echoed.
            let member = format!("providedContexts.{}.member.contextAssertion", i + 1);
            v.length_shown(assertion, None, &member, 4, 3072);
        }
    }
    v.minimum_session_token_size(input.minimum_session_token_size);
    v
}

/// The longest `SourceIdentity` parameter STS's model accepts.
const SOURCE_IDENTITY_PARAMETER_MAX: usize = 256;

/// The parameters of `GetSessionToken` and `GetFederationToken`, calls only an IAM user's
/// long-term credentials may make: STS validates them as its model says before it refuses
/// them to session credentials, which every rolegate credential is.
#[derive(Clone, Debug, Default)]
pub struct IamUserTokenInput {
    /// `GetFederationToken`'s `Name`, required there (`None`: left out).
    pub name: Option<String>,
    pub duration_seconds: Option<i64>,
    /// `GetSessionToken`'s MFA device and code.
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
    /// `GetFederationToken`'s session policies and tags.
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub minimum_session_token_size: Option<i64>,
    /// As [`AssumeRoleInput::missing_members`] (tag keys and values).
    pub missing_members: Vec<String>,
}

/// The longest session an IAM user's `GetSessionToken` or `GetFederationToken` may ask for
/// (`durationSecondsType`: 36 hours).
const MAX_IAM_USER_SESSION_SECONDS: i64 = 129_600;

/// The longest `GetFederationToken` `Policy` (`sessionPolicyDocumentType`).
const MAX_FEDERATION_POLICY_LENGTH: usize = 2048;

/// Validates a `GetSessionToken` as AWS's model says.
pub(crate) fn validate_get_session_token(input: &IamUserTokenInput) -> Result<(), ApiError> {
    let mut v = Violations::default();
    v.iam_user_duration(input.duration_seconds);
    v.mfa(input.serial_number.as_deref(), input.token_code.as_deref());
    v.minimum_session_token_size(input.minimum_session_token_size);
    v.into_result()
}

/// Validates a `GetFederationToken` as AWS's model says.
pub(crate) fn validate_get_federation_token(input: &IamUserTokenInput) -> Result<(), ApiError> {
    let mut v = Violations::default();
    match &input.name {
        Some(name) => {
            v.length(name, "name", 2, 32);
            v.pattern(name, "name", name.chars().all(is_iam_name_char), NAME_PATTERN);
        }
        None => v.null("name"),
    }
    if let Some(policy) = &input.policy {
        v.session_policy(policy, Some(MAX_FEDERATION_POLICY_LENGTH));
    }
    v.policy_arns(&input.policy_arns);
    v.iam_user_duration(input.duration_seconds);
    v.tags(&input.tags, |member| !input.missing_members.iter().any(|m| m == member));
    v.minimum_session_token_size(input.minimum_session_token_size);
    v.into_result()
}

/// The constraints of AssumeRole's own types.
impl Violations {
    /// `PolicyArns` (`policyDescriptorListType`): at most [`MAX_POLICY_ARNS`], each an ARN.
    fn policy_arns(&mut self, arns: &[String]) {
        if arns.len() > MAX_POLICY_ARNS {
            self.list_too_long("policyArns", MAX_POLICY_ARNS);
        }
        for (i, arn) in arns.iter().take(MAX_CHECKED_MEMBERS).enumerate() {
            self.arn(arn, &format!("policyArns.{}.member.arn", i + 1));
        }
    }

    /// An inline session `Policy`, at most `max` characters where the model bounds it. It is
    /// not echoed: it may be long, and it is the caller's own text.
    fn session_policy(&mut self, policy: &str, max: Option<usize>) {
        if policy.is_empty() {
            self.push(None, "policy", "Member must have length greater than or equal to 1");
        }
        if let Some(max) = max {
            self.length_shown(policy, None, "policy", 0, max);
        }
        if policy.is_empty() || !policy.chars().all(is_policy_char) {
            self.push(
                None,
                "policy",
                format_args!("Member must satisfy regular expression pattern: {POLICY_PATTERN}"),
            );
        }
    }

    /// Session `Tags`: at most [`MAX_TAGS`], each with a key and a value (`given` tells
    /// whether the request named a member).
    fn tags(&mut self, tags: &[(String, String)], given: impl Fn(&str) -> bool) {
        if tags.len() > MAX_TAGS {
            self.list_too_long("tags", MAX_TAGS);
        }
        for (i, (key, value)) in tags.iter().take(MAX_CHECKED_MEMBERS).enumerate() {
            let position = i + 1;
            let member = format!("tags.{position}.member.key");
            if given(&member) {
                self.tag_key(key, &member);
            } else {
                self.null(&member);
            }
            let member = format!("tags.{position}.member.value");
            if given(&member) {
                self.length(value, &member, 0, 256);
                self.pattern(value, &member, is_tag_text(value), TAG_VALUE_PATTERN);
            } else {
                self.null(&member);
            }
        }
    }

    /// An MFA device's `SerialNumber` and its `TokenCode` (a one-time password: not echoed).
    fn mfa(&mut self, serial: Option<&str>, code: Option<&str>) {
        if let Some(serial) = serial {
            self.length(serial, "serialNumber", 9, 256);
            let ok = serial.chars().all(|c| is_iam_name_char(c) || c == '/' || c == ':');
            self.pattern(serial, "serialNumber", ok, SERIAL_NUMBER_PATTERN);
        }
        if let Some(code) = code {
            self.length_shown(code, None, "tokenCode", 6, 6);
            let digits = code.chars().all(|c| c.is_ascii_digit());
            self.pattern_shown(None, "tokenCode", digits, TOKEN_CODE_PATTERN);
        }
    }

    /// `MinimumSessionTokenSize` (`minimumSessionTokenSizeType`).
    fn minimum_session_token_size(&mut self, size: Option<i64>) {
        if let Some(size) = size {
            self.range(size, "minimumSessionTokenSize", 0, MAX_MINIMUM_SESSION_TOKEN_SIZE);
        }
    }

    /// An IAM user's session duration (`durationSecondsType`).
    fn iam_user_duration(&mut self, seconds: Option<i64>) {
        if let Some(seconds) = seconds {
            self.range(
                seconds,
                "durationSeconds",
                MIN_SESSION_SECONDS.into(),
                MAX_IAM_USER_SESSION_SECONDS,
            );
        }
    }

    /// An ARN (`arnType`).
    fn arn(&mut self, arn: &str, member: &str) {
        let ok = !arn.is_empty() && arn.chars().all(is_arn_char);
        self.pattern(arn, member, ok, ARN_PATTERN);
        self.length(arn, member, 20, 2048);
    }

    /// A session tag key (`tagKeyType`).
    fn tag_key(&mut self, key: &str, member: &str) {
        self.length(key, member, 1, 128);
        self.pattern(key, member, !key.is_empty() && is_tag_text(key), TAG_KEY_PATTERN);
    }
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`, the characters of an STS session tag key or value: letters,
/// separators, numbers and `_.:/=+-@`, by their Unicode general categories as AWS's pattern
/// reads them (a combining mark or a circled letter is none of these, though Rust's
/// `char::is_alphanumeric` takes them).
fn is_tag_text(text: &str) -> bool {
    static TAG_TEXT: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").ok());
    // The pattern is a constant that compiles; were it not to, no tag would pass.
    TAG_TEXT.as_ref().is_some_and(|pattern| pattern.is_match(text))
}

fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
}

fn is_arn_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AssumeRoleInput {
        AssumeRoleInput {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_session_name: "s1".into(),
            ..AssumeRoleInput::default()
        }
    }

    fn message(input: &AssumeRoleInput) -> String {
        let e = validate_parameters(input).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{e:?}");
        e.message
    }

    #[test]
    fn each_bound_has_its_own_message() {
        let mut i = input();
        i.role_session_name = "a".into();
        assert_eq!(
            message(&i),
            "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: \
             Member must have length greater than or equal to 2"
        );
        i.role_session_name = "a".repeat(65);
        assert_eq!(
            message(&i),
            format!(
                "1 validation error detected: Value '{}' at 'roleSessionName' failed to satisfy constraint: \
                 Member must have length less than or equal to 64",
                "a".repeat(65)
            )
        );
        i.role_session_name = "a".repeat(64);
        assert!(validate_parameters(&i).is_ok());
        // Too long is not "too short".
        i.role_arn = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(2048));
        assert!(message(&i).ends_with("Member must have length less than or equal to 2048"));
        // Characters, not bytes: 64 two-byte letters fit a 128-character tag key.
        let mut i = input();
        i.tags = vec![("é".repeat(128), "v".into())];
        assert!(validate_parameters(&i).is_ok());
    }

    /// A gRPC message may carry a hundred thousand list members: the list is refused for its
    /// length, its first 256 members are checked, and the message words 20 failures.
    #[test]
    fn huge_lists_cost_what_their_first_members_do() {
        let mut i = input();
        i.tags = vec![(String::new(), String::new()); 100_000];
        let m = message(&i);
        // 1 for the length, then 2 for each of the 256 keys checked (too short, pattern).
        assert!(m.starts_with("513 validation errors detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50; "), "{m}");
        assert!(m.ends_with("; and 493 more"), "{m}");
        assert_eq!(m.matches("failed to satisfy constraint").count(), 20, "{m}");
    }

    #[test]
    fn every_failure_is_reported_together_in_member_order() {
        let mut i = input();
        i.role_arn = String::new();
        i.role_session_name = format!("{}!", "a".repeat(64));
        i.duration_seconds = Some(899);
        assert_eq!(
            message(&i),
            format!(
                "5 validation errors detected: \
                 Value '' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {ARN_PATTERN}; \
                 Value '' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20; \
                 Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64; \
                 Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; \
                 Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
                name = i.role_session_name
            )
        );
    }

    #[test]
    fn missing_members_are_reported_with_the_rest() {
        let i = AssumeRoleInput {
            tags: vec![("k".into(), String::new())],
            duration_seconds: Some(43201),
            missing_members: vec!["roleArn".into(), "roleSessionName".into(), "tags.1.member.value".into()],
            ..AssumeRoleInput::default()
        };
        assert_eq!(
            message(&i),
            "4 validation errors detected: \
             Value null at 'roleArn' failed to satisfy constraint: Member must not be null; \
             Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; \
             Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200; \
             Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn long_values_are_cut_and_policy_arns_checked() {
        let mut i = input();
        i.external_id = Some("x".repeat(1300));
        assert_eq!(
            message(&i),
            format!(
                "1 validation error detected: Value '{}…' (1300 characters) at 'externalId' failed to satisfy constraint: \
                 Member must have length less than or equal to 1224",
                "x".repeat(256)
            )
        );
        let mut i = input();
        i.policy_arns = vec!["arn:aws:iam::123456789012:policy/ok".into(), "short".into()];
        assert_eq!(
            message(&i),
            "1 validation error detected: Value 'short' at 'policyArns.2.member.arn' failed to satisfy constraint: \
             Member must have length greater than or equal to 20"
        );
    }

    #[test]
    fn tags_are_checked_by_position() {
        let mut i = input();
        i.tags = vec![("ok".into(), "fine".into()), ("tab\tkey".into(), "new\nline".into())];
        assert_eq!(
            message(&i),
            format!(
                "2 validation errors detected: \
                 Value 'tab\tkey' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_KEY_PATTERN}; \
                 Value 'new\nline' at 'tags.2.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_VALUE_PATTERN}"
            )
        );
        // Separators (a space, a no-break space) are tag characters; an empty value is fine.
        i.tags = vec![("a b\u{a0}c".into(), String::new())];
        assert!(validate_parameters(&i).is_ok());
        i.transitive_tag_keys = vec!["a b\u{a0}c".into(); 51];
        assert!(message(&i).contains(
            "Value at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to 50"
        ));
    }

    #[test]
    fn policy_mfa_and_source_identity_follow_the_model() {
        let mut i = input();
        i.policy = Some(String::new());
        assert_eq!(
            message(&i),
            format!(
                "2 validation errors detected: \
                 Value at 'policy' failed to satisfy constraint: Member must have length greater than or equal to 1; \
                 Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: {POLICY_PATTERN}"
            )
        );
        i.policy = Some("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"中\"}]}".into());
        assert!(message(&i).ends_with(&format!(
            "Member must satisfy regular expression pattern: {POLICY_PATTERN}"
        )));

        let mut i = input();
        i.serial_number = Some("GAHT 1234".into());
        i.token_code = Some("12a".into());
        assert_eq!(
            message(&i),
            "3 validation errors detected: \
             Value 'GAHT 1234' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]*; \
             Value at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6; \
             Value at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*"
        );
        let mut i = input();
        i.serial_number = Some("arn:aws:iam::123456789012:mfa/user".into());
        i.token_code = Some("123456".into());
        i.source_identity = Some("s".repeat(256));
        assert!(validate_parameters(&i).is_ok());
        i.source_identity = Some("s".repeat(257));
        assert!(
            message(&i).contains(
                "at 'sourceIdentity' failed to satisfy constraint: Member must have length less than or equal to 256"
            ),
            "{}",
            message(&i)
        );
        i.source_identity = Some("aws:me".into());
        assert!(message(&i).contains("at 'sourceIdentity' failed to satisfy constraint: Member must satisfy"));
    }

    #[test]
    fn a_long_policy_is_left_to_the_packed_size_and_the_token_size_is_bounded() {
        let mut i = input();
        // `unrestrictedSessionPolicyDocumentType`: no model maximum.
        i.policy = Some(format!("{{\"Version\":\"2012-10-17\"}}{}", " ".repeat(5000)));
        i.minimum_session_token_size = Some(4096);
        assert!(validate_parameters(&i).is_ok());
        i.minimum_session_token_size = Some(0);
        assert!(validate_parameters(&i).is_ok());
        i.minimum_session_token_size = Some(4097);
        assert_eq!(
            message(&i),
            "1 validation error detected: Value '4097' at 'minimumSessionTokenSize' failed to satisfy constraint: \
             Member must have value less than or equal to 4096"
        );
        i.minimum_session_token_size = Some(-1);
        assert!(message(&i).ends_with("Member must have value greater than or equal to 0"));
    }

    #[test]
    fn tag_text_is_read_by_unicode_category_and_length_in_utf16_units() {
        let refused = |key: &str, value: &str| {
            let mut i = input();
            i.tags = vec![(key.to_owned(), value.to_owned())];
            validate_parameters(&i).err().map(|e| e.message)
        };
        // Letters, numbers and separators of any script pass.
        assert_eq!(refused("Abteilung Öst", "東京 ٣ Ω"), None);
        // A combining mark (U+093F, U+0902) and a circled letter (So) are none of these.
        assert!(refused("lang", "हिंदी").is_some_and(|m| m.contains("tags.1.member.value")));
        assert!(refused("Ⓐ", "v").is_some_and(|m| m.contains("tags.1.member.key")));
        // 𝐀 (U+1D400) is a letter of two UTF-16 units: 128 fit a value of at most 256.
        assert_eq!(refused("k", &"𝐀".repeat(128)), None);
        assert!(refused("k", &"𝐀".repeat(129)).is_some_and(|m| {
            m.ends_with("at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256")
        }));
    }

    #[test]
    fn rules_beyond_the_model() {
        let mut i = input();
        i.role_arn = "arn:aws:iam::123456789012:user/someone".into();
        assert_eq!(message(&i), "arn:aws:iam::123456789012:user/someone is invalid");

        let mut i = input();
        i.tags = vec![("Dept".into(), "a".into()), ("dept".into(), "b".into())];
        let e = validate_parameters(&i).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert_eq!(
            e.message,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive. Key: 'dept'."
        );
        let mut accented = input();
        accented.tags = vec![("Äbt".into(), "a".into()), ("äbt".into(), "b".into())];
        assert_eq!(
            validate_parameters(&accented).unwrap_err().message,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive. Key: 'äbt'."
        );
        i.tags.pop();
        i.transitive_tag_keys = vec!["z".into()];
        let e = validate_parameters(&i).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert_eq!(
            e.message,
            "The specified transitive tag key must be included in the requested tags. Key: 'z'."
        );
        i.transitive_tag_keys = vec!["DEPT".into()];
        assert!(validate_parameters(&i).is_ok());
    }
}
