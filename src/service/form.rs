//! The `application/x-www-form-urlencoded` syntax of request parameters as AWS enforces it:
//! the STS Query API's query string and form body, and the query string of Roles Anywhere's
//! `POST /sessions` (`profileArn`, `roleArn`, `trustAnchorArn`).

use crate::error::ApiError;

/// The refusal reason of parameters that break the syntax.
const MALFORMED: &str = "malformed-form";

/// `application/x-www-form-urlencoded` syntax
/// (<https://url.spec.whatwg.org/#application/x-www-form-urlencoded>) as AWS enforces it: UTF-8
/// text whose `%` escapes are each followed by two hexadecimal digits and decode to UTF-8.
/// (`form_urlencoded::parse` is lenient and would silently keep or replace bad bytes.)
pub(crate) fn check_syntax(source: &[u8]) -> Result<(), ApiError> {
    let malformed = |why: &str| {
        ApiError::validation(
            MALFORMED,
            format!("The request parameters are not valid application/x-www-form-urlencoded data: {why}."),
        )
    };
    if std::str::from_utf8(source).is_err() {
        return Err(malformed("they are not UTF-8 text"));
    }
    for (i, b) in source.iter().enumerate() {
        if *b == b'%'
            && !source
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(malformed("a '%' is not followed by two hexadecimal digits"));
        }
    }
    // Decoded in place where nothing is escaped: the usual parameter allocates nothing.
    for pair in source.split(|b| *b == b'&') {
        if percent_encoding::percent_decode(pair).decode_utf8().is_err() {
            return Err(malformed("a percent-encoded value is not UTF-8"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_syntax() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"", None),
            (b"Action=AssumeRole&Version=2011-06-15", None),
            (b"RoleSessionName=a%2Bb&Policy=%7B%22x%22%7D", None),
            (b"Tag=%C3%A9t%C3%A9+x", None),
            (b"X=%zz", Some("a '%' is not followed by two hexadecimal digits")),
            (b"X=%4", Some("a '%' is not followed by two hexadecimal digits")),
            (b"X=%", Some("a '%' is not followed by two hexadecimal digits")),
            (b"X=%C3%28", Some("a percent-encoded value is not UTF-8")),
            (b"X=\xff", Some("they are not UTF-8 text")),
        ];
        for (input, want) in cases {
            let got = check_syntax(input).err().map(|e| e.message);
            let want = want
                .map(|w| format!("The request parameters are not valid application/x-www-form-urlencoded data: {w}."));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(input));
        }
    }
}
