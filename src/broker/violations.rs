//! AWS request-model validation: the constraints of an API's model (lengths, patterns,
//! ranges, required members), each failure worded as AWS words it and all of them reported in
//! one `ValidationError`. Values are quoted in the message, cut after 256 characters, since
//! the message is also the audit log's and a gRPC status header.

use std::fmt;

use crate::error::ApiError;

/// The longest value a message quotes whole.
const MAX_ECHOED_CHARACTERS: usize = 256;

/// The most failures a message words; the others are counted ("and 3 more"). A gRPC
/// message may hold thousands of list members, each of which could fail.
const MAX_WORDED: usize = 20;

/// Model constraint failures, each as AWS words it, reported together ("2 validation errors
/// detected: …") as one `ValidationError`.
#[derive(Default)]
pub(crate) struct Violations {
    worded: Vec<String>,
    count: usize,
}

impl Violations {
    /// One failure of `member` (whose value is shown when given, cut after
    /// [`MAX_ECHOED_CHARACTERS`]: the message is also the audit log's). The length shown of a
    /// cut value is the one the rules count, in UTF-16 units.
    pub(crate) fn push(&mut self, value: Option<&str>, member: &str, rule: impl fmt::Display) {
        self.add(|| match value {
            Some(value) => match value.char_indices().nth(MAX_ECHOED_CHARACTERS) {
                Some((cut, _)) => format!(
                    "Value '{}…' ({} characters) at '{member}' failed to satisfy constraint: {rule}",
                    &value[..cut],
                    value.encode_utf16().count()
                ),
                None => format!("Value '{value}' at '{member}' failed to satisfy constraint: {rule}"),
            },
            None => format!("Value at '{member}' failed to satisfy constraint: {rule}"),
        });
    }

    /// Counts one failure, worded by `word` while fewer than [`MAX_WORDED`] are.
    fn add(&mut self, word: impl FnOnce() -> String) {
        self.count += 1;
        if self.worded.len() < MAX_WORDED {
            self.worded.push(word());
        }
    }

    /// A required member the request left out.
    pub(crate) fn null(&mut self, member: &str) {
        self.add(|| format!("Value null at '{member}' failed to satisfy constraint: Member must not be null"));
    }

    /// A string's length in `min..=max` characters; each bound has its own message.
    pub(crate) fn length(&mut self, value: &str, member: &str, min: usize, max: usize) {
        self.length_shown(value, Some(value), member, min, max);
    }

    /// [`Violations::length`], showing `shown` for the value (`None`: a secret). Characters
    /// are counted as AWS's Java front ends count them, in UTF-16 code units: one outside the
    /// Basic Multilingual Plane (`𝐀`, an emoji) counts twice.
    pub(crate) fn length_shown(&mut self, value: &str, shown: Option<&str>, member: &str, min: usize, max: usize) {
        let length = value.encode_utf16().count();
        if length < min {
            let rule = format_args!("Member must have length greater than or equal to {min}");
            self.push(shown, member, rule);
        }
        if length > max {
            let rule = format_args!("Member must have length less than or equal to {max}");
            self.push(shown, member, rule);
        }
    }

    /// A string matching the member's pattern.
    pub(crate) fn pattern(&mut self, value: &str, member: &str, matches: bool, pattern: &str) {
        self.pattern_shown(Some(value), member, matches, pattern);
    }

    /// [`Violations::pattern`], showing `shown` for the value (`None`: a secret).
    pub(crate) fn pattern_shown(&mut self, shown: Option<&str>, member: &str, matches: bool, pattern: &str) {
        if !matches {
            let rule = format_args!("Member must satisfy regular expression pattern: {pattern}");
            self.push(shown, member, rule);
        }
    }

    /// A number in `min..=max`.
    pub(crate) fn range(&mut self, value: i64, member: &str, min: i64, max: i64) {
        let shown = value.to_string();
        if value < min {
            let rule = format_args!("Member must have value greater than or equal to {min}");
            self.push(Some(&shown), member, rule);
        }
        if value > max {
            let rule = format_args!("Member must have value less than or equal to {max}");
            self.push(Some(&shown), member, rule);
        }
    }

    /// A list with more than `max` members.
    pub(crate) fn list_too_long(&mut self, member: &str, max: usize) {
        self.push(
            None,
            member,
            format_args!("Member must have length less than or equal to {max}"),
        );
    }

    pub(crate) fn into_result(self) -> Result<(), ApiError> {
        match self.count {
            0 => Ok(()),
            _ => Err(self.into_error()),
        }
    }

    /// The ValidationError of the one failure of `member` ([`Violations::push`]).
    pub(crate) fn one(value: Option<&str>, member: &str, rule: impl fmt::Display) -> ApiError {
        let mut v = Violations::default();
        v.push(value, member, rule);
        v.into_error()
    }

    /// The ValidationError of the failures counted (at least one).
    fn into_error(self) -> ApiError {
        let listed = self.worded.join("; ");
        let message = match (self.count, self.count - self.worded.len()) {
            (1, _) => format!("1 validation error detected: {listed}"),
            (n, 0) => format!("{n} validation errors detected: {listed}"),
            (n, more) => format!("{n} validation errors detected: {listed}; and {more} more"),
        };
        ApiError::validation("parameter", message)
    }
}
