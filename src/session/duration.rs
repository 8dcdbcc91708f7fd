//! Session durations: which lifetime a new session gets, and the exact AWS validation errors
//! when a request asks for one it may not have.
//!
//! Rules (DESIGN §1 "Durations"):
//! - any requested duration must lie in 900..=43200 seconds
//!   (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>,
//!   <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-create-session.html>);
//! - it may not exceed the role's `MaxSessionDuration`
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_update-role-settings.html>);
//! - a role assumed by role chaining is limited to one hour
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining>).
//!
//! Both functions are pure: they only decide the number of seconds; the caller adds it to its
//! own clock reading.

/// The shortest session AWS issues, in seconds (15 minutes).
pub const MIN_SESSION_SECONDS: u32 = 900;
/// The longest session AWS issues, in seconds (12 hours).
pub const MAX_SESSION_SECONDS: u32 = 43200;
/// The longest session a role-chained `AssumeRole` may request, in seconds (1 hour).
pub const CHAINED_MAX_SECONDS: u32 = 3600;
/// The lifetime used when neither the request nor the profile names one, in seconds.
pub const DEFAULT_SESSION_SECONDS: u32 = 3600;

/// Why a requested session duration is refused. Every variant is a `ValidationException`
/// (Roles Anywhere) or `ValidationError` (STS); the messages are AWS's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Roles Anywhere `CreateSession`: `durationSeconds` below 900 (the value quoted, as
    /// AWS's validation messages quote it).
    #[error(
        "1 validation error detected: Value '{requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    )]
    CreateSessionTooShort { requested: i64 },
    /// Roles Anywhere `CreateSession`: `durationSeconds` above 43200.
    #[error(
        "1 validation error detected: Value '{requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"
    )]
    CreateSessionTooLong { requested: i64 },
    /// STS `AssumeRole`: `DurationSeconds` below 900.
    #[error(
        "1 validation error detected: Value '{requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    )]
    AssumeRoleTooShort { requested: i64 },
    /// STS `AssumeRole`: `DurationSeconds` above 43200.
    #[error(
        "1 validation error detected: Value '{requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"
    )]
    AssumeRoleTooLong { requested: i64 },
    /// The duration is in range but longer than the role's `max_session_duration`.
    #[error(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. It allows at most {role_max} seconds; {requested} were asked for."
    )]
    ExceedsRoleMaximum { requested: u32, role_max: u32 },
    /// A role-chained `AssumeRole` asked for more than one hour.
    #[error("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")]
    ExceedsChainingLimit { requested: u32 },
}

/// The lifetime of a Roles Anywhere `CreateSession` session.
///
/// The request's `durationSeconds` wins when present, else the profile's `duration_seconds`
/// (itself defaulting to [`DEFAULT_SESSION_SECONDS`] at config load). The effective value must be
/// in 900..=43200 and at most the role's `max_session_duration`.
pub fn create_session_duration(
    requested: Option<i64>,
    profile_default: u32,
    role_max: u32,
) -> Result<u32, DurationError> {
    let seconds = requested.unwrap_or(i64::from(profile_default));
    let seconds = match in_range(seconds) {
        Range::Below => return Err(DurationError::CreateSessionTooShort { requested: seconds }),
        Range::Above => return Err(DurationError::CreateSessionTooLong { requested: seconds }),
        Range::Within(seconds) => seconds,
    };
    within_role_maximum(seconds, role_max)
}

/// The lifetime of an STS `AssumeRole` session.
///
/// `DurationSeconds` defaults to 3600 (also when chained). AWS checks, in this order: the
/// 900..=43200 range, the one-hour role-chaining cap when the caller is itself a role session,
/// then the role's `MaxSessionDuration`.
pub fn assume_role_duration(requested: Option<i64>, role_max: u32, chained: bool) -> Result<u32, DurationError> {
    let seconds = requested.unwrap_or(i64::from(DEFAULT_SESSION_SECONDS));
    let seconds = match in_range(seconds) {
        Range::Below => return Err(DurationError::AssumeRoleTooShort { requested: seconds }),
        Range::Above => return Err(DurationError::AssumeRoleTooLong { requested: seconds }),
        Range::Within(seconds) => seconds,
    };
    if chained && seconds > CHAINED_MAX_SECONDS {
        return Err(DurationError::ExceedsChainingLimit { requested: seconds });
    }
    within_role_maximum(seconds, role_max)
}

/// Where a duration falls relative to 900..=43200.
enum Range {
    Below,
    Within(u32),
    Above,
}

fn in_range(seconds: i64) -> Range {
    if seconds < i64::from(MIN_SESSION_SECONDS) {
        Range::Below
    } else if seconds > i64::from(MAX_SESSION_SECONDS) {
        Range::Above
    } else {
        match u32::try_from(seconds) {
            Ok(seconds) => Range::Within(seconds),
            // unreachable: 900..=43200 fits in u32; treat as above range rather than panic.
            Err(_) => Range::Above,
        }
    }
}

fn within_role_maximum(seconds: u32, role_max: u32) -> Result<u32, DurationError> {
    if seconds > role_max {
        Err(DurationError::ExceedsRoleMaximum {
            requested: seconds,
            role_max,
        })
    } else {
        Ok(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (requested, profile default, role max, expected seconds or message)
    type CreateCase = (Option<i64>, u32, u32, Result<u32, &'static str>);
    /// (requested, role max, chained, expected seconds or message)
    type AssumeCase = (Option<i64>, u32, bool, Result<u32, &'static str>);

    /// The refusal of `asked` seconds by a role allowing `max`.
    macro_rules! over_role_max {
        ($max:literal, $asked:literal) => {
            concat!(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. It allows at most ",
                $max,
                " seconds; ",
                $asked,
                " were asked for."
            )
        };
    }
    const CHAIN_MSG: &str =
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.";

    #[test]
    fn create_session_table() {
        let cases: &[CreateCase] = &[
            (None, 3600, 3600, Ok(3600)),
            (None, 900, 3600, Ok(900)),
            (
                Some(899),
                3600,
                43200,
                Err(
                    "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
                ),
            ),
            (Some(900), 3600, 43200, Ok(900)),
            (Some(43200), 3600, 43200, Ok(43200)),
            (
                Some(43201),
                3600,
                43200,
                Err(
                    "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200",
                ),
            ),
            (
                Some(-1),
                3600,
                43200,
                Err(
                    "1 validation error detected: Value '-1' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
                ),
            ),
            (
                Some(i64::MAX),
                3600,
                43200,
                Err(
                    "1 validation error detected: Value '9223372036854775807' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200",
                ),
            ),
            (Some(3601), 3600, 3600, Err(over_role_max!(3600, 3601))),
            (None, 7200, 3600, Err(over_role_max!(3600, 7200))),
            (Some(3600), 7200, 3600, Ok(3600)),
            (Some(7200), 3600, 7200, Ok(7200)),
        ];
        for (requested, profile, role_max, expected) in cases {
            let got = create_session_duration(*requested, *profile, *role_max).map_err(|e| e.to_string());
            assert_eq!(
                got,
                expected.map_err(str::to_owned),
                "requested {requested:?} profile {profile} role max {role_max}"
            );
        }
    }

    #[test]
    fn assume_role_table() {
        let cases: &[AssumeCase] = &[
            (None, 3600, false, Ok(3600)),
            (None, 43200, false, Ok(3600)),
            (None, 43200, true, Ok(3600)),
            (
                Some(899),
                43200,
                false,
                Err(
                    "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
                ),
            ),
            (
                Some(0),
                43200,
                true,
                Err(
                    "1 validation error detected: Value '0' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
                ),
            ),
            (Some(900), 43200, false, Ok(900)),
            (Some(900), 43200, true, Ok(900)),
            (Some(43200), 43200, false, Ok(43200)),
            (
                Some(43201),
                43200,
                false,
                Err(
                    "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200",
                ),
            ),
            // range is checked before the chaining cap
            (
                Some(43201),
                43200,
                true,
                Err(
                    "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200",
                ),
            ),
            (Some(3600), 43200, true, Ok(3600)),
            (Some(3601), 43200, true, Err(CHAIN_MSG)),
            // chaining cap is checked before the role maximum
            (Some(7200), 3600, true, Err(CHAIN_MSG)),
            (Some(3601), 3600, false, Err(over_role_max!(3600, 3601))),
            (Some(43200), 7200, false, Err(over_role_max!(7200, 43200))),
            (Some(7200), 7200, false, Ok(7200)),
        ];
        for (requested, role_max, chained, expected) in cases {
            let got = assume_role_duration(*requested, *role_max, *chained).map_err(|e| e.to_string());
            assert_eq!(
                got,
                expected.map_err(str::to_owned),
                "requested {requested:?} role max {role_max} chained {chained}"
            );
        }
    }

    #[test]
    fn errors_carry_the_numbers() {
        assert_eq!(
            assume_role_duration(Some(5000), 3600, false),
            Err(DurationError::ExceedsRoleMaximum {
                requested: 5000,
                role_max: 3600
            })
        );
        assert_eq!(
            assume_role_duration(Some(5000), 43200, true),
            Err(DurationError::ExceedsChainingLimit { requested: 5000 })
        );
        assert_eq!(
            create_session_duration(Some(10), 3600, 3600),
            Err(DurationError::CreateSessionTooShort { requested: 10 })
        );
    }
}
