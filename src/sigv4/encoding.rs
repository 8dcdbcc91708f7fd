//! Byte-level encodings of SigV4: the strict URI encoding, hex SHA-256 and the
//! ISO 8601 basic timestamps (`20150830T123600Z`) used in `X-Amz-Date` and the scope.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::SigV4Error;

/// SHA-256 of `data` (also what names certificates and requests in rolegate's caches).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Hex (lower case) SHA-256 of `data`, the payload hash and canonical-request hash of SigV4.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Formats `t` (converted to UTC) as `X-Amz-Date`: `yyyyMMdd'T'HHmmss'Z'`.
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // invariant: the fixed format only fails for years outside 0..=9999, which
    // `OffsetDateTime` without the large-dates feature cannot hold.
    t.format(AMZ_DATE).unwrap_or_default()
}

/// Parses `X-Amz-Date` (`yyyyMMdd'T'HHmmss'Z'`, always UTC).
pub fn parse_amz_date(s: &str) -> Result<OffsetDateTime, SigV4Error> {
    PrimitiveDateTime::parse(s, AMZ_DATE)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| SigV4Error::BadDate(s.to_owned()))
}

/// URI-encodes `s` as SigV4 requires: every byte except the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` becomes `%XY` with upper-case hex.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request>
pub(crate) fn uri_encode(s: &str, out: &mut String) {
    out.extend(utf8_percent_encode(s, UNRESERVED_COMPLEMENT));
}

/// Like [`uri_encode`] for raw bytes (decoded query components may not be UTF-8).
pub(crate) fn uri_encode_bytes(b: &[u8], out: &mut String) {
    out.extend(percent_encoding::percent_encode(b, UNRESERVED_COMPLEMENT));
}

/// `X-Amz-Date` / ISO 8601 basic format.
const AMZ_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

/// Everything but the RFC 3986 unreserved characters.
const UNRESERVED_COMPLEMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
