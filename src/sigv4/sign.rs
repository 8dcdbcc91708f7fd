//! Client-side HMAC SigV4 signing (our gRPC client, the helper and tests).

use time::OffsetDateTime;

use super::authorization::HMAC_ALGORITHM;
use super::encoding::format_amz_date;
use super::{HttpRequest, canonical_request, derive_signing_key, hmac_signature, string_to_sign};

/// Signs `req` with HMAC SigV4 and returns the headers to add: `x-amz-date`,
/// `x-amz-security-token` (with a session token) and `authorization`.
///
/// Signed are all headers of `req` except hop-by-hop and tracing ones (the AWS SDKs'
/// rule), plus `x-amz-date` and `x-amz-security-token`. `req.headers` must contain `host`
/// (verifiers require it) and must not yet contain `x-amz-date` or `authorization`.
#[allow(clippy::too_many_arguments)]
pub fn sign_hmac(
    req: &HttpRequest,
    payload_hash: &str,
    access_key_id: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let amz_date = format_amz_date(now);
    let date = amz_date.get(..8).unwrap_or_default();
    let mut added: Vec<(String, String)> = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if let Some(token) = session_token {
        added.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let names = signable_header_names(&all);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let full = HttpRequest { headers: &all, ..*req };
    // invariant: every name in `names` comes from `all`, so no signed header is absent.
    let creq = canonical_request(&full, &name_refs, payload_hash, true).unwrap_or_default();
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = string_to_sign(HMAC_ALGORITHM, &amz_date, &scope, &creq);
    let key = derive_signing_key(secret, date, region, service);
    let signature = hex::encode(hmac_signature(&key, &sts));
    added.push((
        "authorization".to_owned(),
        format!(
            "{HMAC_ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={signature}",
            name_refs.join(";")
        ),
    ));
    added
}

/// Lower-cased, sorted, de-duplicated names of the headers to sign.
pub(crate) fn signable_header_names(headers: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !UNSIGNED_HEADERS.contains(&n.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Headers the AWS SDKs never sign (they change in transit or are set by proxies).
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "transfer-encoding",
    "connection",
    "te",
    "keep-alive",
    "proxy-authorization",
    "upgrade",
];
