//! Roles Anywhere REST: `POST /sessions`, byte-compatible with AWS IAM Roles Anywhere
//! CreateSession (<https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_CreateSession.html>,
//! signing: <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>).
//!
//! This edge only translates: it authenticates the AWS4-X509 signature (proof of possession of
//! the certificate's key), then hands a [`CreateSessionInput`] to the broker and renders the
//! answer as the `credentialSet` JSON (HTTP 201) or an AWS error (`X-Amzn-ErrorType`).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::ApiError;
use super::http::{HttpResponse, RequestParts, json_response};
use crate::broker::{Broker, CreateSessionInput, CreateSessionOutput};
use crate::identity::{ClientCertificate, PublicKeyKind};
use crate::sigv4::{self, HttpRequest, x509};

/// The most chain certificates accepted in `X-Amz-X509-Chain` (DESIGN.md §1).
pub const MAX_CHAIN_CERTIFICATES: usize = 5;

/// `POST /sessions`.
pub fn create_session(
    broker: &Broker,
    req: &RequestParts,
    body: &Bytes,
    now: OffsetDateTime,
) -> Result<HttpResponse, ApiError> {
    let config = broker.config();
    let params = SessionParams::from_request(req, body)?;
    let auth_header = req.header("authorization").ok_or_else(|| {
        ApiError::access_denied(
            "missing-authorization",
            "Missing Authorization header: sign the request with AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256.",
        )
    })?;
    let auth = x509::parse_authorization(auth_header)
        .map_err(|e| ApiError::access_denied("bad-authorization", format!("Invalid Authorization header: {e}")))?;
    check_scope(&auth, &config.server.region)?;
    check_required_signed_headers(&auth)?;
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| ApiError::access_denied("missing-date", "Missing X-Amz-Date header."))?;
    check_request_date(amz_date, &auth.date, now, config.server.max_clock_skew)?;

    let leaf_b64 = req.header("x-amz-x509").ok_or_else(|| {
        ApiError::access_denied(
            "missing-certificate",
            "Missing X-Amz-X509 header: send the base64 DER client certificate.",
        )
    })?;
    let certificate = leaf_certificate(broker, leaf_b64)?;
    let intermediates = decode_chain(req.header("x-amz-x509-chain"))?;
    if auth.serial_decimal != certificate.serial_decimal() {
        return Err(ApiError::access_denied(
            "serial-mismatch",
            "The Credential of the Authorization header does not name the serial number of the X-Amz-X509 certificate.",
        ));
    }
    verify_signature(req, body, &auth, &certificate)?;

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
    let output = broker.create_session(input, now)?;
    let mut response = json_response(201, &CreateSessionResponse::from(output.as_ref()));
    response.extensions_mut().insert(crate::audit::Decision {
        role_arn: Some(output.role_arn.clone()),
        session_name: Some(output.session_name.clone()),
        source_identity: Some(output.source_identity.clone()),
        issued_access_key_id: Some(output.credentials.access_key_id.clone()),
    });
    Ok(response)
}

/// The `X-Amz-X509` certificate (base64 DER), parsed and checked against the leaf rules; a
/// certificate seen before comes from the broker's cache.
pub fn leaf_certificate(broker: &Broker, header: &str) -> Result<Arc<ClientCertificate>, ApiError> {
    broker.caches().certificate(header.trim().as_bytes(), |b64| {
        let der = STANDARD
            .decode(b64)
            .map_err(|_| ApiError::access_denied("bad-certificate", "X-Amz-X509 is not valid base64."))?;
        ClientCertificate::parse(der)
            .map_err(|e| ApiError::access_denied("bad-certificate", format!("Invalid certificate in X-Amz-X509: {e}")))
    })
}

/// The request parameters, from the query string or the JSON body (clients differ).
struct SessionParams {
    profile_arn: String,
    role_arn: String,
    trust_anchor_arn: String,
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    instance_properties: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateSessionBody {
    profile_arn: Option<String>,
    role_arn: Option<String>,
    trust_anchor_arn: Option<String>,
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    instance_properties: Option<BTreeMap<String, String>>,
}

impl SessionParams {
    fn from_request(req: &RequestParts, body: &Bytes) -> Result<Self, ApiError> {
        let parsed: CreateSessionBody = if body.iter().all(u8::is_ascii_whitespace) {
            CreateSessionBody::default()
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::validation(
                    "bad-json",
                    format!("The request body is not a valid CreateSession JSON document: {e}"),
                )
            })?
        };
        let from_query = |name: &str| -> Option<String> {
            form_urlencoded::parse(req.query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let required = |v: Option<String>, name: &str| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                ApiError::validation(
                    "missing-parameter",
                    format!("Missing required parameter {name} (query string or JSON body)."),
                )
            })
        };
        Ok(Self {
            profile_arn: required(parsed.profile_arn.or_else(|| from_query("profileArn")), "profileArn")?,
            role_arn: required(parsed.role_arn.or_else(|| from_query("roleArn")), "roleArn")?,
            trust_anchor_arn: required(
                parsed.trust_anchor_arn.or_else(|| from_query("trustAnchorArn")),
                "trustAnchorArn",
            )?,
            duration_seconds: parsed.duration_seconds,
            role_session_name: parsed.role_session_name,
            instance_properties: parsed.instance_properties,
        })
    }
}

/// The credential scope must be `{date}/{our region}/rolesanywhere/aws4_request`.
fn check_scope(auth: &x509::X509Authorization, region: &str) -> Result<(), ApiError> {
    if auth.service != "rolesanywhere" {
        return Err(ApiError::access_denied(
            "wrong-service",
            format!(
                "Credential should be scoped to correct service: 'rolesanywhere', not '{}'.",
                auth.service
            ),
        ));
    }
    if auth.region != region {
        return Err(ApiError::access_denied(
            "wrong-region",
            format!(
                "Credential should be scoped to a valid region: '{region}', not '{}'.",
                auth.region
            ),
        ));
    }
    Ok(())
}

/// `host`, `x-amz-date` and `x-amz-x509` must be signed: otherwise a captured signature could
/// be replayed against another host, at another time, or with another certificate
/// (<https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>).
fn check_required_signed_headers(auth: &x509::X509Authorization) -> Result<(), ApiError> {
    let required = [
        ("host", sigv4::SigV4Error::HostNotSigned),
        ("x-amz-date", sigv4::SigV4Error::DateNotSigned),
        ("x-amz-x509", sigv4::SigV4Error::CertificateNotSigned),
    ];
    for (name, error) in required {
        if !auth.signed_headers.iter().any(|h| h == name) {
            return Err(ApiError::access_denied("unsigned-header", error.to_string()));
        }
    }
    Ok(())
}

/// `X-Amz-Date` must parse, agree with the credential date and lie within the skew window.
fn check_request_date(
    amz_date: &str,
    credential_date: &str,
    now: OffsetDateTime,
    skew: time::Duration,
) -> Result<(), ApiError> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let date = time::PrimitiveDateTime::parse(amz_date, &format)
        .map_err(|_| {
            ApiError::access_denied(
                "bad-date",
                format!("X-Amz-Date '{amz_date}' is not in the format YYYYMMDDTHHMMSSZ."),
            )
        })?
        .assume_utc();
    if !amz_date.starts_with(credential_date) {
        return Err(ApiError::access_denied(
            "date-mismatch",
            format!("The Credential date {credential_date} does not match X-Amz-Date {amz_date}."),
        ));
    }
    if (date - now).abs() > skew {
        return Err(ApiError::access_denied(
            "clock-skew",
            format!(
                "Signature expired or not yet valid: X-Amz-Date {amz_date} is more than {} seconds away from the server time {}. Check the client clock.",
                skew.whole_seconds(),
                now.format(&format).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn decode_chain(header: Option<&str>) -> Result<Vec<Vec<u8>>, ApiError> {
    let Some(h) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let parts: Vec<&str> = h.split(',').map(str::trim).collect();
    if parts.len() > MAX_CHAIN_CERTIFICATES {
        return Err(ApiError::access_denied(
            "chain-too-long",
            format!(
                "X-Amz-X509-Chain has {} certificates; at most {MAX_CHAIN_CERTIFICATES} are allowed.",
                parts.len()
            ),
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
    // A repeated certificate only serves to make path building do more work.
    if chain
        .iter()
        .enumerate()
        .any(|(i, c)| chain.iter().skip(i + 1).any(|d| d == c))
    {
        return Err(ApiError::access_denied(
            "chain-duplicate",
            "X-Amz-X509-Chain contains the same certificate more than once; send each intermediate once.",
        ));
    }
    Ok(chain)
}

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
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let payload_hash = sigv4::sha256_hex(body);
    let canonical = sigv4::canonical_request(&http, &signed, &payload_hash, true)
        .map_err(|e| ApiError::access_denied("bad-signature", format!("Cannot build the canonical request: {e}")))?;
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let amz_date = req.header("x-amz-date").unwrap_or_default();
    let string_to_sign = sigv4::string_to_sign(&auth.label, amz_date, &scope, &canonical);
    let (kind, key) = cert.public_key();
    let key_kind = match kind {
        PublicKeyKind::Rsa => x509::PublicKeyKind::Rsa,
        PublicKeyKind::EcP256 => x509::PublicKeyKind::EcP256,
        PublicKeyKind::EcP384 => x509::PublicKeyKind::EcP384,
    };
    x509::verify_signature(auth.algorithm, key_kind, key, string_to_sign.as_bytes(), &auth.signature).map_err(|_| {
        ApiError::access_denied(
            "bad-signature",
            "Signature validation failed: the request signature does not match the certificate's public key and the signed request.",
        )
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
    SessionParams::from_request(req, body)?;
    Ok(decode_chain(req.header("x-amz-x509-chain"))?.len())
}
