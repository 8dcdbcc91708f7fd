//! The requests the benchmark's clients send, built and signed the way real clients do at the
//! moment they are sent: Roles Anywhere `POST /sessions` signed with AWS4-X509, and STS Query
//! `POST /` signed with SigV4 and session credentials. Shared by the load generator and the
//! criterion benches (`benches/hot_path.rs`).

use bytes::Bytes;
use time::OffsetDateTime;

use super::setup::{ClientIdentity, PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN};
use crate::client::{CreateSessionParams, SessionCredentials, X509Signer, signed_create_session};
use crate::sigv4::{self, HttpRequest};

/// A signed request as it goes on the wire: `POST {path}` with these headers and body.
pub struct ClientRequest {
    pub path: &'static str,
    /// The client's headers (`host`, `content-type`) followed by the signature's.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// `POST /sessions` for the bench profile and role, the parameters in the JSON body (with
/// `roleSessionName` when given), signed with `client`'s key at `now` by rolegate's own
/// Roles Anywhere client code.
pub fn create_session(
    authority: &str,
    client: &ClientIdentity,
    session_name: Option<&str>,
    now: OffsetDateTime,
) -> Result<ClientRequest, String> {
    let params = CreateSessionParams {
        trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
        profile_arn: PROFILE_ARN.to_owned(),
        role_arn: ROLE_ARN.to_owned(),
        duration_seconds: None,
        role_session_name: session_name.map(str::to_owned),
        region: REGION.to_owned(),
    };
    let signer = X509Signer {
        key: &client.key,
        cert_der: &client.cert_der,
        chain_der: &[],
        serial_decimal: &client.serial_decimal,
    };
    let (headers, body) = signed_create_session(authority, &params, &signer, now).map_err(|e| e.to_string())?;
    Ok(ClientRequest {
        path: "/sessions",
        headers,
        body,
    })
}

/// `POST /` with the form `body`, signed with SigV4 (service `sts`) and `creds` at `now`.
pub fn sts(authority: &str, creds: &SessionCredentials, body: &str, now: OffsetDateTime) -> ClientRequest {
    let base = [
        ("host", authority),
        ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
    ];
    let unsigned = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
    };
    let signed = sigv4::sign_hmac(
        &unsigned,
        &sigv4::sha256_hex(body.as_bytes()),
        &creds.access_key_id,
        &creds.secret_access_key,
        Some(&creds.session_token),
        REGION,
        "sts",
        now,
    );
    let mut headers: Vec<(String, String)> = base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    headers.extend(signed);
    ClientRequest {
        path: "/",
        headers,
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}
