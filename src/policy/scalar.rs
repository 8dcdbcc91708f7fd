//! Reading condition values as numbers, dates, booleans and IP networks, shared by policy
//! values (parse time) and request values (evaluation time) so both sides accept the same forms.

use std::net::IpAddr;

use ipnet::IpNet;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Unicode case-insensitive equality without allocating.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A finite decimal number (`inf` / `NaN` are not numbers here).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A number of a `Numeric*` condition: an integer compared exactly (`f64` holds integers
/// exactly only up to 2⁵³: 9007199254740993 would equal 9007199254740992), else a finite
/// decimal compared as `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    Integer(i128),
    Decimal(f64),
}

impl Number {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.parse::<i128>() {
            Ok(n) => Some(Self::Integer(n)),
            Err(_) => parse_number(s).map(Self::Decimal),
        }
    }

    pub(crate) fn compare(self, other: Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Self::Integer(a), Self::Integer(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Rounds beyond 2⁵³, compared with a decimal only.
            Self::Integer(n) => n as f64,
            Self::Decimal(d) => d,
        }
    }
}

/// `true` / `false`, case-insensitively.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        _ if s.eq_ignore_ascii_case("true") => Some(true),
        _ if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A CIDR block, or a bare address meaning a single host.
pub(crate) fn parse_network(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        .map(canonical_network)
}

/// An IPv4-mapped IPv6 network (`::ffff:192.0.2.0/120`) as the IPv4 network it stands for, as
/// addresses are compared in their canonical form (`IpAddr::to_canonical`): an IPv4 client of
/// a dual-stack listener is its IPv4 address.
fn canonical_network(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

/// Dates as Unix nanoseconds, in the forms IAM's Date operators take: "one of the W3C
/// implementations of the ISO 8601 date formats or in epoch (UNIX) time"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date>).
/// The W3C profile (<https://www.w3.org/TR/NOTE-datetime>): `YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mmTZD`, `YYYY-MM-DDThh:mm:ssTZD`, `YYYY-MM-DDThh:mm:ss.sTZD`; a partial date
/// is its first instant, UTC (`2027` is 2027-01-01T00:00:00Z). Also epoch seconds (optionally
/// fractional) and the other ISO 8601 date-times, UTC when no offset is given.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    // Four digits are the W3C profile's year, which a Date value names before epoch seconds
    // (`2027` read as 1970-01-01T00:33:47Z made `DateGreaterThan` hold always).
    if let Some(year) = year(s) {
        return Some(year.unix_timestamp_nanos());
    }
    if is_epoch_number(s) {
        let seconds = parse_number(s)?;
        return Some((seconds * 1e9) as i128);
    }
    let when = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|d| d.assume_utc()))
        .or_else(|_| Date::parse(s, &Iso8601::DEFAULT).map(|d| d.midnight().assume_utc()))
        .ok()
        .or_else(|| year_and_month(s))?;
    Some(when.unix_timestamp_nanos())
}

/// Whether `s` has the shape of epoch seconds rather than of an ISO 8601 date: a decimal
/// number, with an exponent too (`1.7e9`, an unquoted JSON number as written), and no `-`
/// but a leading sign or an exponent's (`2026-01-01` is a date).
fn is_epoch_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|c| c.is_ascii_digit() || *c == b'-')
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
        && b.windows(2).all(|pair| match pair {
            [before, b'-'] => matches!(before, b'e' | b'E'),
            _ => true,
        })
}

/// `YYYY` as the first of January of that year at midnight UTC.
fn year(s: &str) -> Option<OffsetDateTime> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = Date::from_calendar_date(s.parse().ok()?, time::Month::January, 1).ok()?;
    Some(date.midnight().assume_utc())
}

/// `YYYY-MM` as the first day of that month at midnight UTC.
fn year_and_month(s: &str) -> Option<OffsetDateTime> {
    let (year, month) = s.split_once('-')?;
    if year.len() != 4 || month.len() != 2 || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    let date = Date::from_calendar_date(year.parse().ok()?, month, 1).ok()?;
    Some(date.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form of the W3C profile of ISO 8601, a partial date being its first instant, UTC.
    #[test]
    fn w3c_date_forms() {
        const JAN_2026: i128 = 1_767_225_600_000_000_000;
        const HOUR: i128 = 3_600_000_000_000;
        let cases: &[(&str, i128)] = &[
            // YYYY
            ("2026", JAN_2026),
            ("0001", -62_135_596_800_000_000_000),
            // YYYY-MM
            ("2026-01", JAN_2026),
            // YYYY-MM-DD
            ("2026-01-01", JAN_2026),
            // YYYY-MM-DDThh:mmTZD
            ("2026-01-01T00:00Z", JAN_2026),
            ("2026-01-01T01:00+01:00", JAN_2026),
            ("2026-01-01T00:00-05:00", JAN_2026 + 5 * HOUR),
            // YYYY-MM-DDThh:mm:ssTZD
            ("2026-01-01T00:00:00Z", JAN_2026),
            ("2025-12-31T19:00:00-05:00", JAN_2026),
            // YYYY-MM-DDThh:mm:ss.sTZD, one or more digits of a fraction
            ("2026-01-01T00:00:00.5Z", JAN_2026 + 500_000_000),
            ("2026-01-01T01:00:00.25+01:00", JAN_2026 + 250_000_000),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), Some(*want), "{text}");
        }
    }

    #[test]
    fn date_table() {
        let cases: &[(&str, Option<i128>)] = &[
            ("0", Some(0)),
            ("999", Some(999_000_000_000)),
            ("12345", Some(12_345_000_000_000)),
            ("1767225600", Some(1_767_225_600_000_000_000)),
            ("1767225600.5", Some(1_767_225_600_500_000_000)),
            ("1.7672256e9", Some(1_767_225_600_000_000_000)),
            ("17672256E+2", Some(1_767_225_600_000_000_000)),
            ("-1", Some(-1_000_000_000)),
            ("2026-01-01T00:00:00Z", Some(1_767_225_600_000_000_000)),
            ("2026-01-01T00:00:00.250Z", Some(1_767_225_600_250_000_000)),
            ("2026-01-01T02:00:00+02:00", Some(1_767_225_600_000_000_000)),
            ("2026-01-01T00:00:00", Some(1_767_225_600_000_000_000)),
            ("2026-01-01", Some(1_767_225_600_000_000_000)),
            ("2026-13-01", None),
            ("2026-01", Some(1_767_225_600_000_000_000)),
            ("2026-02", Some(1_769_904_000_000_000_000)),
            ("2026-13", None),
            ("2026-1", None),
            ("2026-01-01T00:00Z", Some(1_767_225_600_000_000_000)),
            ("yesterday", None),
            ("", None),
            ("1-2", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), *want, "{text}");
        }
    }

    #[test]
    fn scalar_table() {
        assert_eq!(parse_number("10.5"), Some(10.5));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("ten"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("1"), None);
        assert_eq!(parse_network("10.0.0.1"), "10.0.0.1/32".parse().ok());
        assert_eq!(parse_network("2001:db8::/32"), "2001:db8::/32".parse().ok());
        assert_eq!(parse_network("10.0.0.0/33"), None);
        // Integers compare exactly, past f64's 2^53.
        let n = |s| Number::parse(s).unwrap();
        assert_eq!(
            n("9007199254740993").compare(n("9007199254740992")),
            Some(std::cmp::Ordering::Greater)
        );
        assert_eq!(n("10").compare(n("10.0")), Some(std::cmp::Ordering::Equal));
        assert_eq!(n("-3").compare(n("2.5")), Some(std::cmp::Ordering::Less));
        assert_eq!(Number::parse("1e400"), None);
        assert_eq!(Number::parse("NaN"), None);
        // IPv4-mapped IPv6 stands for IPv4.
        assert_eq!(parse_network("::ffff:10.0.0.0/104"), "10.0.0.0/8".parse().ok());
        assert_eq!(parse_network("::ffff:203.0.113.5"), "203.0.113.5/32".parse().ok());
        assert_eq!(parse_network("::ffff:0:0/95"), "::ffff:0:0/95".parse().ok());
        assert!(eq_ignore_case("ÄBC", "äbc"));
        assert!(!eq_ignore_case("abc", "abd"));
    }
}
