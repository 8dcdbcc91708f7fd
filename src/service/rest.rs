//! Roles Anywhere REST: `POST /sessions`, byte-compatible with AWS IAM Roles Anywhere
//! CreateSession (<https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_CreateSession.html>,
//! signing: <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>).
//!
//! This edge only translates: it authenticates the AWS4-X509 signature (proof of possession of
//! the certificate's key), then hands a [`CreateSessionInput`] to the broker and renders the
//! answer as the `credentialSet` JSON (HTTP 201) or an AWS error (`X-Amzn-ErrorType`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::http::{HttpResponse, RequestParts, json_response};
use crate::audit::Record;
use crate::broker::{Broker, CreateSessionInput, CreateSessionOutput, SentCertificate};
use crate::error::ApiError;
use crate::identity::ClientCertificate;
use crate::ratelimit::{ClientKey, ClientLimit};
use crate::sigv4::{self, Expectations, HttpRequest, shown_date, x509};

/// The most intermediates accepted in `X-Amz-X509-Chain` (a copy of the leaf besides them is
/// dropped): the chain rule's own bound.
pub const MAX_CHAIN_CERTIFICATES: usize = crate::identity::MAX_INTERMEDIATES;

/// A `POST /sessions` request read once, before anything is authenticated: its parameters
/// (query string or JSON body) and its `X-Amz-X509` certificate. The edge names the client
/// and fills the audit record from it, then [`create_session`] decides on it.
pub struct CreateSessionRequest {
    params: Result<RequestedParams, ApiError>,
    /// `None` when no `X-Amz-X509` header was sent.
    certificate: Option<Result<SentCertificate, ApiError>>,
}

impl CreateSessionRequest {
    /// Parses the parameters and the leaf certificate (from the broker's cache when its bytes
    /// were seen before).
    pub fn read(broker: &Broker, req: &RequestParts, body: &Bytes) -> Self {
        Self {
            params: RequestedParams::parse(req, body),
            certificate: req.header("x-amz-x509").map(|b64| leaf_certificate(broker, b64)),
        }
    }

    /// Fills the audit record with what the request asks for and which certificate it names.
    pub fn describe(&self, record: &mut Record) {
        if let Ok(p) = &self.params {
            record.trust_anchor.clone_from(&p.trust_anchor_arn);
            record.profile.clone_from(&p.profile_arn);
            record.role.clone_from(&p.role_arn);
            record.session_name.clone_from(&p.role_session_name);
        }
        if let Some(Ok(sent)) = &self.certificate {
            record.set_certificate(sent.certificate.clone());
        }
    }

    /// The per-client rate-limit key: the certificate's fingerprint; `None` without a
    /// certificate, or when it does not parse (it can sign nothing, so it never spends a
    /// token).
    pub fn client_key(&self) -> Option<ClientKey> {
        match &self.certificate {
            Some(Ok(sent)) => Some(ClientKey::Certificate(*sent.certificate.fingerprint())),
            // A certificate that does not parse can sign nothing: it never spends a token.
            Some(Err(_)) | None => None,
        }
    }
}

/// `POST /sessions`: authenticates the AWS4-X509 signature of `request`, then asks the broker.
pub fn create_session(
    broker: &Broker,
    req: &RequestParts,
    body: &Bytes,
    request: CreateSessionRequest,
    client_limit: &ClientLimit,
    record: &mut Record,
    now: OffsetDateTime,
) -> Result<HttpResponse, ApiError> {
    let config = broker.config();
    let auth_header = req.header("authorization").ok_or_else(|| {
        ApiError::access_denied(
            "missing-authorization",
            "Missing Authorization header: sign the request with AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256.",
        )
    })?;
    let auth = x509::parse_authorization(auth_header)
        .map_err(|e| ApiError::access_denied("bad-authorization", format!("Invalid Authorization header: {e}")))?;
    let amz_date = req.header("x-amz-date");
    let expectations = Expectations {
        service: x509::SERVICE,
        region: &config.server.region,
        now,
        max_skew: config.server.max_clock_skew,
        hosts: &config.server.names,
    };
    x509::check_request(&auth, req.header("host"), amz_date, &expectations)
        .map_err(|e| request_rule_error(e, &auth, &expectations))?;

    let sent = request.certificate.ok_or_else(|| {
        ApiError::access_denied(
            "missing-certificate",
            "Missing X-Amz-X509 header: send the base64 DER client certificate.",
        )
    })??;
    let certificate = sent.certificate.clone();
    let intermediates = decode_chain(req.header("x-amz-x509-chain"), certificate.der())?;
    if auth.serial_decimal != certificate.serial_decimal() {
        return Err(ApiError::access_denied(
            "serial-mismatch",
            "The Credential of the Authorization header does not name the serial number of the X-Amz-X509 certificate.",
        ));
    }
    verify_signature(req, body, &auth, &certificate)?;
    // The signature proved the certificate's key: now, and only now, the request spends a
    // token of that certificate's bucket.
    client_limit.charge(ClientKey::Certificate(*certificate.fingerprint()))?;
    // The parameters are judged once the caller is authenticated, as AWS's SigV4 services
    // do: an unsigned request learns nothing of the API but that it must sign.
    let params = SessionParams::required(request.params?)?;

    let input = CreateSessionInput {
        profile_arn: params.profile_arn,
        role_arn: params.role_arn,
        trust_anchor_arn: params.trust_anchor_arn,
        duration_seconds: params.duration_seconds,
        role_session_name: params.role_session_name,
        instance_properties: params.instance_properties,
        certificate,
        intermediates,
        source_ip: Some(req.remote.ip()),
    };
    let output = broker.create_session_on(&config, input, now)?;
    // Its chain verified: the next request with these bytes skips the parse.
    broker.caches().keep_certificate(&sent);
    record.merge(crate::audit::Decision {
        role_arn: Some(output.role_arn.clone()),
        session_name: Some(output.session_name.clone()),
        source_identity: Some(output.source_identity.clone()),
        issued_access_key_id: Some(output.credentials.access_key_id.clone()),
        expiration: Some(output.credentials.expiration),
    });
    Ok(json_response(201, &CreateSessionResponse::from(output.as_ref())))
}

/// The `X-Amz-X509` certificate (base64 DER), parsed and checked against the leaf rules; a
/// certificate kept after an earlier success comes from the broker's cache.
pub fn leaf_certificate(broker: &Broker, header: &str) -> Result<SentCertificate, ApiError> {
    broker.caches().certificate(header.trim().as_bytes(), |b64| {
        let der = STANDARD
            .decode(b64)
            .map_err(|_| ApiError::access_denied("bad-certificate", "X-Amz-X509 is not valid base64."))?;
        ClientCertificate::parse(der)
            .map_err(|e| ApiError::access_denied("bad-certificate", format!("Invalid certificate in X-Amz-X509: {e}")))
    })
}

/// The parameters as sent: each from the JSON body, or else from the query string (clients
/// differ).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestedParams {
    profile_arn: Option<String>,
    role_arn: Option<String>,
    trust_anchor_arn: Option<String>,
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    instance_properties: Option<BTreeMap<String, String>>,
}

impl RequestedParams {
    fn parse(req: &RequestParts, body: &Bytes) -> Result<Self, ApiError> {
        let mut params: RequestedParams = if body.iter().all(u8::is_ascii_whitespace) {
            RequestedParams::default()
        } else {
            parse_json(body).map_err(|why| {
                ApiError::validation(
                    "bad-json",
                    format!("The request body is not a valid CreateSession JSON document: {why}"),
                )
            })?
        };
        if !req.query.is_empty() {
            super::form::check_syntax(req.query.as_bytes())?;
            for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
                let slot = match k.as_ref() {
                    "profileArn" => &mut params.profile_arn,
                    "roleArn" => &mut params.role_arn,
                    "trustAnchorArn" => &mut params.trust_anchor_arn,
                    _ => continue,
                };
                // Given twice (the query and the body, or the query twice), the values must
                // agree: the signature covers both, not which one is read.
                match slot {
                    None => *slot = Some(v.into_owned()),
                    Some(given) if *given == v => {}
                    Some(_) => {
                        return Err(ApiError::validation(
                            "conflicting-parameter",
                            format!("The request gives {k} more than once, with different values; give it once."),
                        ));
                    }
                }
            }
        }
        Ok(params)
    }
}

/// A JSON document of type `T`, or why not: the member at fault (`durationSeconds: ...`) and
/// serde's reason in JSON's words ("expected an integer").
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut document = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut document).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { format!("{at}: ") };
        let message = without_string_values(&e.into_inner().to_string());
        format!("{at}{}", crate::config::plain_type_names(&message))
    })?;
    document.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// serde's message with each string value it quotes (`invalid type: string "…", expected an
/// integer`) left out: a value of the wrong type may be anything — a secret pasted into the
/// wrong field, 60,000 characters — and the message goes back to the client and into the audit
/// log, where a value is repeated only when it has the shape of what belongs there.
fn without_string_values(message: &str) -> String {
    static QUOTED_STRING: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"string "(?:[^"\\]|\\.)*""#).ok());
    match &*QUOTED_STRING {
        Some(pattern) => pattern.replace_all(message, "a string").into_owned(),
        // The pattern is a constant that compiles (a test says so); were it not, say nothing.
        None => "a value of the wrong type".to_owned(),
    }
}

/// The parameters once the required ones are known to be present.
struct SessionParams {
    profile_arn: String,
    role_arn: String,
    trust_anchor_arn: String,
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    instance_properties: Option<BTreeMap<String, String>>,
}

impl SessionParams {
    fn required(p: RequestedParams) -> Result<Self, ApiError> {
        let required =
            |v: Option<String>, name: &str| v.filter(|s| !s.is_empty()).ok_or_else(|| missing_parameter(name));
        Ok(Self {
            profile_arn: required(p.profile_arn, "profileArn")?,
            role_arn: required(p.role_arn, "roleArn")?,
            trust_anchor_arn: required(p.trust_anchor_arn, "trustAnchorArn")?,
            duration_seconds: p.duration_seconds,
            role_session_name: p.role_session_name,
            instance_properties: p.instance_properties,
        })
    }
}

/// The refusal of a request without the required parameter `name` (or with it empty), also
/// what `rolegate explain` reports for an empty ARN.
pub(crate) fn missing_parameter(name: &str) -> ApiError {
    ApiError::validation(
        "missing-parameter",
        format!("Missing required parameter {name} (query string or JSON body)."),
    )
}

/// The refusal of a request signed for `host`, not a name of this server (also what
/// `rolegate explain --endpoint` reports).
pub(crate) fn wrong_host(host: &str) -> ApiError {
    let refusal = sigv4::SigV4Error::WrongHost { host: host.to_owned() };
    ApiError::access_denied("wrong-host", refusal.to_string())
}

/// The refusal of a request signed for `sent` at a server of `expected` (also what
/// `rolegate explain --region` reports).
pub(crate) fn wrong_region(expected: &str, sent: &str) -> ApiError {
    ApiError::access_denied(
        "wrong-region",
        format!(
            "Credential should be scoped to a valid region: '{expected}', not '{}'.",
            sigv4::shown_scope_part(sent)
        ),
    )
}

/// A Roles Anywhere request rule broken ([`x509::check_request`]), in this API's words: what
/// the scope should name, which header must be signed, the server's time for a client whose
/// clock is off.
fn request_rule_error(e: sigv4::SigV4Error, auth: &x509::X509Authorization, exp: &Expectations) -> ApiError {
    use sigv4::SigV4Error as E;
    let (reason, message) = match e {
        E::CredentialService(_) => (
            "wrong-service",
            format!(
                "Credential should be scoped to correct service: '{}', not '{}'.",
                x509::SERVICE,
                sigv4::shown_scope_part(&auth.service)
            ),
        ),
        E::CredentialRegion { .. } => return wrong_region(exp.region, &auth.region),
        E::CredentialDate {
            scope_date, amz_date, ..
        } => (
            "date-mismatch",
            format!(
                "The Credential date {} does not match X-Amz-Date {}.",
                shown_date(&scope_date),
                shown_date(&amz_date)
            ),
        ),
        E::BadDate(date) => (
            "bad-date",
            format!(
                "X-Amz-Date '{}' is not in the format YYYYMMDDTHHMMSSZ.",
                shown_date(&date)
            ),
        ),
        E::SignatureExpired { amz_date, now, .. } | E::SignatureNotYetCurrent { amz_date, now, .. } => (
            crate::broker::CLOCK_SKEW,
            format!(
                "Signature expired or not yet valid: X-Amz-Date {amz_date} is more than {} seconds away from the server time {now}. Check the client clock.",
                exp.max_skew.whole_seconds()
            ),
        ),
        E::MissingDate => ("missing-date", "Missing X-Amz-Date header.".to_owned()),
        unsigned @ (E::HostNotSigned | E::DateNotSigned | E::CertificateNotSigned) => {
            ("unsigned-header", unsigned.to_string())
        }
        E::WrongHost { host } => return wrong_host(&host),
        other => ("bad-authorization", other.to_string()),
    };
    ApiError::access_denied(reason, message)
}

/// The intermediates of `X-Amz-X509-Chain`: its certificates, decoded, less copies of `leaf`
/// ([`crate::identity::without_leaf`]: a "full chain" list starts with the leaf), in the shape
/// the broker accepts ([`crate::broker::check_chain_shape`]). A header of more certificates
/// than the most intermediates and a leaf copy is refused before any is decoded.
fn decode_chain(header: Option<&str>, leaf: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let Some(h) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let parts: Vec<&str> = h.split(',').map(str::trim).collect();
    if parts.len() > MAX_CHAIN_CERTIFICATES + 1 {
        return Err(crate::broker::chain_too_long(parts.len()));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ApiError::access_denied(
            "bad-chain",
            "X-Amz-X509-Chain has an empty entry; list the base64 DER certificates separated by single commas.",
        ));
    }
    let chain: Vec<Vec<u8>> = parts
        .into_iter()
        .map(|p| {
            STANDARD.decode(p).map_err(|_| {
                ApiError::access_denied(
                    "bad-chain",
                    "X-Amz-X509-Chain is not a comma-separated list of base64 DER certificates.",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let sent = chain.len();
    let intermediates = crate::identity::without_leaf(chain, leaf);
    if intermediates.len() > MAX_CHAIN_CERTIFICATES {
        return Err(crate::broker::chain_too_long(sent));
    }
    crate::broker::check_chain_shape(&intermediates)?;
    Ok(intermediates)
}

/// The AWS4-X509 signature of `req` checked ([`x509::verify_request`]), refused in this API's
/// words.
fn verify_signature(
    req: &RequestParts,
    body: &Bytes,
    auth: &x509::X509Authorization,
    cert: &ClientCertificate,
) -> Result<(), ApiError> {
    let headers = req.header_pairs();
    let http = HttpRequest {
        method: req.method.as_str(),
        path: &req.path,
        query: &req.query,
        headers: &headers,
    };
    let payload_hash = sigv4::sha256_hex(body);
    let amz_date = req.header("x-amz-date").unwrap_or_default();
    x509::verify_request(&http, &payload_hash, amz_date, auth, cert.verifying_key()).map_err(|e| match e {
        e @ sigv4::SigV4Error::AlgorithmKeyMismatch(_) => ApiError::access_denied("algorithm-key-mismatch", e.to_string()),
        sigv4::SigV4Error::X509SignatureMismatch => ApiError::access_denied(
            "bad-signature",
            "Signature validation failed: the request signature does not match the certificate's public key and the signed request.",
        ),
        e => ApiError::access_denied("bad-signature", format!("Cannot build the canonical request: {e}")),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionResponse<'a> {
    credential_set: [CredentialSetEntry<'a>; 1],
    subject_arn: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialSetEntry<'a> {
    assumed_role_user: AssumedRoleUser<'a>,
    credentials: CredentialsJson<'a>,
    packed_policy_size: u32,
    role_arn: &'a str,
    source_identity: &'a str,
}

#[derive(Serialize)]
struct AssumedRoleUser<'a> {
    arn: &'a str,
    #[serde(rename = "assumedRoleId")]
    assumed_role_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsJson<'a> {
    access_key_id: &'a str,
    expiration: String,
    secret_access_key: &'a str,
    session_token: &'a str,
}

impl<'a> From<&'a CreateSessionOutput> for CreateSessionResponse<'a> {
    fn from(o: &'a CreateSessionOutput) -> Self {
        Self {
            credential_set: [CredentialSetEntry {
                assumed_role_user: AssumedRoleUser {
                    arn: &o.assumed_role_arn,
                    assumed_role_id: &o.assumed_role_id,
                },
                credentials: CredentialsJson {
                    access_key_id: &o.credentials.access_key_id,
                    expiration: crate::session::format_expiration(o.credentials.expiration),
                    secret_access_key: &o.credentials.secret_access_key,
                    session_token: &o.credentials.session_token,
                },
                packed_policy_size: o.packed_policy_size,
                role_arn: &o.role_arn,
                source_identity: &o.source_identity,
            }],
            subject_arn: &o.subject_arn,
        }
    }
}

/// Parses only the untrusted request parts of `POST /sessions` — the parameters (query string
/// and JSON body) and the `X-Amz-X509-Chain` header — without authenticating anything: the
/// entry point of the fuzz targets and property tests ([`crate::fuzzing`]).
#[doc(hidden)]
pub fn parse_untrusted(req: &RequestParts, body: &Bytes) -> Result<usize, ApiError> {
    SessionParams::required(RequestedParams::parse(req, body)?)?;
    Ok(decode_chain(req.header("x-amz-x509-chain"), &[])?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string of the wrong type is not repeated: it may be a secret in the wrong field.
    #[test]
    fn json_errors_leave_string_values_out() {
        let err = parse_json::<RequestedParams>(br#"{"durationSeconds": "8gEADF/w3Op3\"k\\ey"}"#)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err,
            "durationSeconds: invalid type: a string, expected an integer at line 1 column 41"
        );
        let err = parse_json::<RequestedParams>(br#"{"instanceProperties": ["x"]}"#)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err,
            "instanceProperties: invalid type: sequence, expected a map at line 1 column 23"
        );
    }

    #[test]
    fn json_errors_name_the_member_in_json_words() {
        let err = parse_json::<RequestedParams>(br#"{"durationSeconds": 3600.0}"#)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err,
            "durationSeconds: invalid type: floating point `3600.0`, expected an integer at line 1 column 26"
        );
        let err = parse_json::<RequestedParams>(br#"{"instanceProperties": {"a": 1}}"#)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err,
            "instanceProperties.a: invalid type: integer `1`, expected a string at line 1 column 30"
        );
        let err = parse_json::<RequestedParams>(b"{} x").map(|_| ()).unwrap_err();
        assert_eq!(err, "trailing characters at line 1 column 4");
        assert!(parse_json::<RequestedParams>(b" {}\n").is_ok());
    }
}
