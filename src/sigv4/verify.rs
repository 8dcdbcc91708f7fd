//! Server-side verification of HMAC SigV4 requests: scope, signed-header and time rules,
//! then the signature itself, compared in constant time.

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::ServerNames;
use super::encoding::{format_amz_date, parse_amz_date};
use super::{AuthLocation, HttpRequest, canonical_request_without_query_token};
use super::{SigV4Error, SignedRequest, SigningKey, Skew, canonical_request, hmac_signature, string_to_sign};

/// What the verifying endpoint expects.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// The service of this endpoint, e.g. `sts`.
    pub service: &'a str,
    /// The region of this endpoint.
    pub region: &'a str,
    /// The server's clock.
    pub now: OffsetDateTime,
    /// Allowed clock skew (AWS: 5 minutes).
    pub max_skew: Duration,
    /// The names the signed `host` must be one of ([`ServerNames::ANY`]: not checked).
    pub hosts: &'a ServerNames,
}

/// Verifies `signed` against `req`:
/// 1. the credential scope names `exp.service`, `exp.region` and the day of `X-Amz-Date`;
/// 2. `host` is signed, and one of `exp.hosts`; in the header form `x-amz-date` (or `date`,
///    which gives the time when there is no `x-amz-date`) is signed;
/// 3. header form: `X-Amz-Date` within ±`max_skew` of `now`; query form: `now` not before
///    `X-Amz-Date - max_skew` and not after `X-Amz-Date + X-Amz-Expires` (for `sts`, `+ 15
///    minutes` whatever `X-Amz-Expires` says; ±`max_skew` when no `X-Amz-Expires` was sent);
/// 4. the signature recomputed with `key` equals the one sent (constant-time comparison).
///
/// `x-amz-security-token` need not be signed: AWS accepts a token added after signing (see
/// the `post-sts-header-after` case of the AWS test suite); the token is bound to the access
/// key id by the caller, which must check that they belong together.
///
/// The path is normalized for every service but the S3 family (see [`normalizes_path`]).
pub fn verify(
    signed: &SignedRequest,
    req: &HttpRequest,
    payload_hash: &str,
    key: &SigningKey,
    exp: &Expectations,
) -> Result<(), SigV4Error> {
    verify_with(signed, req, payload_hash, key, exp, normalizes_path(exp.service))
}

/// [`verify`] with explicit path normalization (`false` for S3-style services).
pub fn verify_with(
    signed: &SignedRequest,
    req: &HttpRequest,
    payload_hash: &str,
    key: &SigningKey,
    exp: &Expectations,
    normalize_path: bool,
) -> Result<(), SigV4Error> {
    check_request(signed, exp, req)?;
    check_signature(signed, req, payload_hash, key, normalize_path)
}

/// Rules 1–3 of [`verify`], everything but the signature: cheap checks a server makes before
/// it derives (and caches) a signing key for the scope the request names, so a scope it would
/// refuse never costs a derivation or a cache entry.
pub fn check_request(signed: &SignedRequest, exp: &Expectations, req: &HttpRequest) -> Result<(), SigV4Error> {
    check_scope(signed, exp)?;
    check_signed_headers(signed, req, exp.hosts)?;
    check_time(&signed.amz_date, signed.expires, exp)
}

/// Rule 4 of [`verify`]: the signature recomputed with `key` equals the one sent.
pub fn check_signature(
    signed: &SignedRequest,
    req: &HttpRequest,
    payload_hash: &str,
    key: &SigningKey,
    normalize_path: bool,
) -> Result<(), SigV4Error> {
    let sts = signed_string_to_sign(signed, req, payload_hash, normalize_path)?;
    if signature_matches(key, &sts, &signed.signature) {
        return Ok(());
    }
    // A presigned token appended after signing (older STS clients) is not in the canonical query.
    if signed.location == AuthLocation::Query && signed.security_token.is_some() {
        let names: Vec<&str> = signed.signed_headers.iter().map(String::as_str).collect();
        let creq = canonical_request_without_query_token(req, &names, payload_hash, normalize_path)?;
        let sts = string_to_sign(&signed.algorithm, &signed.amz_date, &signed.credential.scope(), &creq);
        if signature_matches(key, &sts, &signed.signature) {
            return Ok(());
        }
    }
    Err(SigV4Error::SignatureMismatch)
}

/// Recomputes the HMAC signature of `req` as described by `signed` (canonical request with
/// path normalization unless the scope's service is `s3`, string to sign, HMAC with `key`):
/// for the tests that sign as the AWS test suite does; [`verify`] decides by its expectations.
#[cfg(test)]
pub(crate) fn compute_signature(
    signed: &SignedRequest,
    req: &HttpRequest,
    payload_hash: &str,
    key: &SigningKey,
) -> Result<[u8; 32], SigV4Error> {
    let normalize = normalizes_path(&signed.credential.service);
    Ok(hmac_signature(
        key,
        &signed_string_to_sign(signed, req, payload_hash, normalize)?,
    ))
}

/// The string to sign of `req` as described by `signed`.
fn signed_string_to_sign(
    signed: &SignedRequest,
    req: &HttpRequest,
    payload_hash: &str,
    normalize_path: bool,
) -> Result<String, SigV4Error> {
    let names: Vec<&str> = signed.signed_headers.iter().map(String::as_str).collect();
    let creq = canonical_request(req, &names, payload_hash, normalize_path)?;
    Ok(string_to_sign(
        &signed.algorithm,
        &signed.amz_date,
        &signed.credential.scope(),
        &creq,
    ))
}

/// Constant-time comparison of the HMAC of `string_to_sign` with `provided`.
fn signature_matches(key: &SigningKey, string_to_sign: &str, provided: &[u8]) -> bool {
    bool::from(hmac_signature(key, string_to_sign).as_slice().ct_eq(provided))
}

/// The signing names of the S3 family, whose clients sign the path as sent (botocore's
/// `S3SigV4Auth`, aws-sigv4's `normalize_uri_path(false)`): S3 itself (and S3 Control), S3
/// Object Lambda, S3 on Outposts and S3 Express One Zone.
const S3_FAMILY: [&str; 4] = ["s3", "s3-object-lambda", "s3-outposts", "s3express"];

/// Whether `service` is a signing name of the S3 family (`S3_FAMILY`).
pub fn is_s3_family(service: &str) -> bool {
    S3_FAMILY.contains(&service)
}

/// Every service but the S3 family normalizes the path before signing: to S3, `/b/x/../k`
/// and `/b//k` are other keys than `/b/k`, and must not verify with its signature.
pub fn normalizes_path(service: &str) -> bool {
    !is_s3_family(service)
}

/// Rule 1: the scope must name this endpoint and the day of `X-Amz-Date`.
fn check_scope(signed: &SignedRequest, exp: &Expectations) -> Result<(), SigV4Error> {
    let c = &signed.credential;
    check_scope_endpoint(&c.service, &c.region, exp.service, exp.region)?;
    check_scope_day(&c.date, &signed.amz_date)
}

/// The scope's service and region are the endpoint's (SigV4 and AWS4-X509 alike).
pub(super) fn check_scope_endpoint(
    service: &str,
    region: &str,
    expected_service: &str,
    expected_region: &str,
) -> Result<(), SigV4Error> {
    if service != expected_service {
        return Err(SigV4Error::CredentialService(expected_service.to_owned()));
    }
    if region != expected_region {
        return Err(SigV4Error::CredentialRegion {
            sent: region.to_owned(),
            expected: expected_region.to_owned(),
        });
    }
    Ok(())
}

/// The scope's `yyyymmdd` is the day of `X-Amz-Date` (SigV4 and AWS4-X509 alike).
pub(super) fn check_scope_day(scope_date: &str, amz_date: &str) -> Result<(), SigV4Error> {
    let day = amz_date.get(..8).unwrap_or(amz_date);
    match scope_date == day {
        true => Ok(()),
        false => Err(SigV4Error::CredentialDate {
            scope_date: scope_date.to_owned(),
            amz_date_day: day.to_owned(),
            amz_date: amz_date.to_owned(),
        }),
    }
}

/// Rule 2: `host` must be signed and one of `hosts`, and in the header form the header that
/// gave the time must be signed: `x-amz-date`, or `date` when there is no `x-amz-date`.
fn check_signed_headers(signed: &SignedRequest, req: &HttpRequest, hosts: &ServerNames) -> Result<(), SigV4Error> {
    let is_signed = |name: &str| signed.signed_headers.iter().any(|h| h == name);
    if !is_signed("host") {
        return Err(SigV4Error::HostNotSigned);
    }
    check_host(req.header("host"), hosts)?;
    if signed.location == AuthLocation::Header {
        match req.header("x-amz-date") {
            Some(_) if !is_signed("x-amz-date") => return Err(SigV4Error::DateNotSigned),
            None if !is_signed("date") => return Err(SigV4Error::DateHeaderNotSigned),
            _ => {}
        }
    }
    Ok(())
}

/// The signed `host` (absent: the empty name) is one of `hosts`: a request signed for another
/// server is not replayed to this one.
pub(super) fn check_host(host: Option<&str>, hosts: &ServerNames) -> Result<(), SigV4Error> {
    let host = host.unwrap_or("");
    match hosts.admits(host) {
        true => Ok(()),
        false => Err(SigV4Error::WrongHost { host: host.to_owned() }),
    }
}

/// How long a presigned STS request is current after its `X-Amz-Date`, whatever its
/// `X-Amz-Expires`: STS ignores that parameter (aws/aws-sdk-go#2167; aws-iam-authenticator
/// presigns GetCallerIdentity for 60 s and relies on the URL working for 15 minutes).
pub(super) const STS_PRESIGNED_LIFETIME: Duration = Duration::minutes(15);

/// Rule 3: the request must be current. Without `expires` (header form), `amz_date` must be
/// within ±`max_skew` of `now`; with it (presigned), `now` must lie between
/// `amz_date - max_skew` and `amz_date + expires` — for the `sts` service `amz_date +`
/// [`STS_PRESIGNED_LIFETIME`], as STS decides.
pub fn check_time(amz_date: &str, expires: Option<u32>, exp: &Expectations) -> Result<(), SigV4Error> {
    let date = parse_amz_date(amz_date)?;
    let skew = Skew(exp.max_skew);
    let earliest = exp.now - exp.max_skew;
    let latest = exp.now + exp.max_skew;
    if date > latest {
        return Err(SigV4Error::SignatureNotYetCurrent {
            amz_date: amz_date.to_owned(),
            latest: format_amz_date(latest),
            now: format_amz_date(exp.now),
            skew,
        });
    }
    match expires {
        Some(expires) => {
            let lifetime = match exp.service {
                "sts" => STS_PRESIGNED_LIFETIME,
                _ => Duration::seconds(i64::from(expires)),
            };
            let expired_at = date + lifetime;
            if exp.now > expired_at {
                return Err(SigV4Error::RequestExpired {
                    expired_at: format_amz_date(expired_at),
                    now: format_amz_date(exp.now),
                });
            }
        }
        None if date < earliest => {
            return Err(SigV4Error::SignatureExpired {
                amz_date: amz_date.to_owned(),
                earliest: format_amz_date(earliest),
                now: format_amz_date(exp.now),
                skew,
            });
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// The server's clock of these tests: 2026-06-01T12:00:00Z.
    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);

    fn expectations() -> Expectations<'static> {
        Expectations {
            service: "sts",
            region: "us-east-1",
            now: NOW,
            max_skew: Duration::minutes(5),
            hosts: crate::sigv4::ServerNames::anywhere(),
        }
    }

    /// `check_time` of a header-form request dated `offset` from the server's clock.
    fn dated(offset: Duration) -> Result<(), SigV4Error> {
        check_time(&format_amz_date(NOW + offset), None, &expectations())
    }

    /// The skew is inclusive: exactly 5 minutes either way is accepted, one second more is
    /// refused, each way with its own error naming the date, the bound and the server time.
    #[test]
    fn the_skew_is_stated_in_minutes_or_in_seconds() {
        assert_eq!(Skew(Duration::minutes(5)).to_string(), "5 min.");
        assert_eq!(Skew(Duration::seconds(120)).to_string(), "2 min.");
        assert_eq!(Skew(Duration::seconds(90)).to_string(), "90 s.");
        assert_eq!(Skew(Duration::seconds(30)).to_string(), "30 s.");
    }

    #[test]
    fn the_skew_bound_is_exact_in_both_directions() {
        let five = Duration::minutes(5);
        let second = Duration::seconds(1);
        assert_eq!(dated(Duration::ZERO), Ok(()));
        assert_eq!(dated(-five), Ok(()));
        assert_eq!(dated(five), Ok(()));
        assert_eq!(
            dated(-five - second),
            Err(SigV4Error::SignatureExpired {
                amz_date: "20260601T115459Z".to_owned(),
                earliest: "20260601T115500Z".to_owned(),
                now: "20260601T120000Z".to_owned(),
                skew: Skew(Duration::minutes(5)),
            })
        );
        assert_eq!(
            dated(-five - second).unwrap_err().to_string(),
            "Signature expired: 20260601T115459Z is now earlier than 20260601T115500Z (20260601T120000Z - 5 min.)"
        );
        assert_eq!(
            dated(five + second),
            Err(SigV4Error::SignatureNotYetCurrent {
                amz_date: "20260601T120501Z".to_owned(),
                latest: "20260601T120500Z".to_owned(),
                now: "20260601T120000Z".to_owned(),
                skew: Skew(Duration::minutes(5)),
            })
        );
        assert_eq!(
            dated(five + second).unwrap_err().to_string(),
            "Signature not yet current: 20260601T120501Z is still later than 20260601T120500Z (20260601T120000Z + 5 min.)"
        );
    }

    /// A presigned request (`X-Amz-Expires`) may be used until its date plus its lifetime,
    /// and no earlier than its date less the skew; the edges are inclusive.
    #[test]
    fn a_presigned_request_is_current_from_its_date_less_the_skew_to_its_expiry() {
        let exp = Expectations {
            service: "execute-api",
            ..expectations()
        };
        let date = |offset: Duration| format_amz_date(NOW + offset);
        // Signed 10 minutes ago for 600 seconds: expires exactly now.
        assert_eq!(check_time(&date(Duration::minutes(-10)), Some(600), &exp), Ok(()));
        assert_eq!(
            check_time(&date(Duration::minutes(-10)), Some(599), &exp),
            Err(SigV4Error::RequestExpired {
                expired_at: "20260601T115959Z".to_owned(),
                now: "20260601T120000Z".to_owned(),
            })
        );
        assert_eq!(check_time(&date(Duration::minutes(5)), Some(1), &exp), Ok(()));
        assert!(matches!(
            check_time(&date(Duration::seconds(301)), Some(3600), &exp),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
    }

    /// A presigned STS request is current for 15 minutes after its date, shorter or longer
    /// than its `X-Amz-Expires`, as at STS.
    #[test]
    fn a_presigned_sts_request_is_current_for_fifteen_minutes_whatever_its_expiry() {
        let exp = expectations();
        let date = |offset: Duration| format_amz_date(NOW + offset);
        assert_eq!(check_time(&date(Duration::minutes(-14)), Some(60), &exp), Ok(()));
        assert_eq!(check_time(&date(Duration::minutes(-15)), Some(1), &exp), Ok(()));
        for expires in [60, 604_800] {
            assert_eq!(
                check_time(&date(Duration::seconds(-901)), Some(expires), &exp),
                Err(SigV4Error::RequestExpired {
                    expired_at: "20260601T115959Z".to_owned(),
                    now: "20260601T120000Z".to_owned(),
                })
            );
        }
    }
}
