//! A Roles Anywhere CreateSession client: signs `POST /sessions` with AWS4-X509 (as
//! `aws_signing_helper` does) and reads the `credentialSet` answer. Works against rolegate and
//! against AWS IAM Roles Anywhere itself.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::proxy::Route;
use super::tls::{TlsOptions, client_config};
use crate::sigv4::{HttpRequest, x509};

type DirectClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;
type TunnelledClient = Client<HttpsConnector<Tunnel<HttpsConnector<HttpConnector>>>, Full<Bytes>>;

/// The HTTPS client, straight to the endpoint or through an HTTP CONNECT tunnel (boxed: the
/// two differ in size, and a process makes one).
enum HttpsClient {
    Direct(Box<DirectClient>),
    Tunnelled(Box<TunnelledClient>),
}

impl HttpsClient {
    fn request(&self, req: http::Request<Full<Bytes>>) -> hyper_util::client::legacy::ResponseFuture {
        match self {
            HttpsClient::Direct(c) => c.request(req),
            HttpsClient::Tunnelled(c) => c.request(req),
        }
    }
}

/// How long a connection is kept idle for the next request: under the idle timeouts of
/// servers and balancers in front of them (rolegate's and AWS ALB's 60 s), so that a request
/// seldom goes out on a connection the server is closing ([`Resend`] covers the rest).
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A client builder keeping idle connections [`POOL_IDLE`].
fn pooled() -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_timer(TokioTimer::new()).pool_idle_timeout(POOL_IDLE);
    builder
}

/// Whether [`RolesAnywhereClient::exchange`] sends a request again when the connection it went
/// out on is lost before the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resend {
    /// Never: a CreateSession's signature may have reached the server (which may refuse it as
    /// a replay), and it starts a session.
    Never,
    /// Once, on a new connection, when the connection was lost after it was made (a kept one
    /// the server was closing as the request went out, most likely; a failure to connect is
    /// not retried): for a request that changes nothing (the session check).
    OnceIfConnectionLost,
}

/// Largest response body read from the server.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What to ask CreateSession for.
#[derive(Clone, Debug)]
pub struct CreateSessionParams {
    pub trust_anchor_arn: String,
    pub profile_arn: String,
    pub role_arn: String,
    pub duration_seconds: Option<u32>,
    pub role_session_name: Option<String>,
    /// Signing region (the trust anchor's region).
    pub region: String,
}

/// A certificate holder's signing material: the private key, the certificate (and its
/// intermediates) and the certificate serial in decimal.
pub struct X509Signer<'a> {
    pub key: &'a dyn x509::X509Signing,
    pub cert_der: &'a [u8],
    pub chain_der: &'a [Vec<u8>],
    pub serial_decimal: &'a str,
}

/// The headers (`host`, `content-type`, then the AWS4-X509 signature's) and the JSON body of
/// `POST /sessions` to the server at `authority`, signed at `now`.
pub fn signed_create_session(
    authority: &str,
    params: &CreateSessionParams,
    signer: &X509Signer<'_>,
    now: OffsetDateTime,
) -> Result<(Vec<(String, String)>, Bytes), ClientError> {
    let mut body = serde_json::json!({
        "profileArn": params.profile_arn,
        "roleArn": params.role_arn,
        "trustAnchorArn": params.trust_anchor_arn,
    });
    if let Some(d) = params.duration_seconds {
        body["durationSeconds"] = d.into();
    }
    if let Some(n) = &params.role_session_name {
        body["roleSessionName"] = n.as_str().into();
    }
    let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| ClientError::Protocol(e.to_string()))?);
    let base = [("host", authority), ("content-type", "application/json")];
    let unsigned = HttpRequest {
        method: "POST",
        path: "/sessions",
        query: "",
        headers: &base,
    };
    let signed = x509::sign_request(
        &unsigned,
        &body,
        signer.key,
        signer.cert_der,
        signer.chain_der,
        signer.serial_decimal,
        &params.region,
        now,
    )
    .map_err(|e| ClientError::Signing(e.to_string()))?;
    let mut headers: Vec<(String, String)> = base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    headers.extend(signed);
    Ok((headers, body))
}

/// Credentials returned by CreateSession. Debug output redacts the secrets.
#[derive(Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: Zeroizing<String>,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub expiration: String,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Endpoint(#[from] super::endpoint::EndpointError),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// `route` is empty for a direct connection, else " through proxy …".
    #[error("cannot reach {endpoint}{route}: {message}")]
    Transport {
        endpoint: String,
        route: String,
        message: String,
    },
    #[error("{error_type} (HTTP {status}): {message}")]
    Api {
        status: u16,
        error_type: String,
        message: String,
    },
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

pub struct RolesAnywhereClient {
    endpoint: String,
    pub(super) authority: String,
    client: HttpsClient,
    route: Route,
}

impl RolesAnywhereClient {
    /// A client that connects to `endpoint` directly.
    pub fn new(endpoint: &str, tls: &TlsOptions) -> Result<Self, ClientError> {
        Self::connecting(endpoint, tls, Route::DIRECT)
    }

    /// A client that connects to `endpoint` by `route` (see [`super::proxy::route`]).
    pub fn connecting(endpoint: &str, tls: &TlsOptions, route: Route) -> Result<Self, ClientError> {
        let super::endpoint::Endpoint {
            url: endpoint,
            authority,
            ..
        } = super::endpoint::parse(endpoint)?;
        let authority = authority.to_string();
        let config = client_config(tls).map_err(ClientError::Tls)?;
        let endpoint_tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.clone())
            .https_only()
            .enable_http1();
        let client = match route.proxy() {
            None => HttpsClient::Direct(Box::new(pooled().build(endpoint_tls.build()))),
            Some(proxy) => {
                // TCP to an http:// proxy, TLS (same trust) to an https:// one; then CONNECT,
                // then TLS to the endpoint inside the tunnel.
                let to_proxy = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_or_http()
                    .enable_http1()
                    .build();
                let mut tunnel = Tunnel::new(proxy.uri.clone(), to_proxy);
                if let Some(authorization) = &proxy.authorization {
                    tunnel = tunnel.with_auth(authorization.clone());
                }
                HttpsClient::Tunnelled(Box::new(pooled().build(endpoint_tls.wrap_connector(tunnel))))
            }
        };
        Ok(Self {
            endpoint,
            authority,
            client,
            route,
        })
    }

    /// How this client reaches its endpoint.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Signs and sends CreateSession; `now` is the signing time.
    pub async fn create_session(
        &self,
        params: &CreateSessionParams,
        key: &dyn x509::X509Signing,
        cert_der: &[u8],
        chain_der: &[Vec<u8>],
        serial_decimal: &str,
        now: OffsetDateTime,
    ) -> Result<SessionCredentials, ClientError> {
        let (headers, body) = signed_create_session(
            &self.authority,
            params,
            &X509Signer {
                key,
                cert_der,
                chain_der,
                serial_decimal,
            },
            now,
        )?;
        let (status, headers, bytes) = self.exchange("/sessions", &headers, body, Resend::Never).await?;
        if !(200..300).contains(&status) {
            let error_type = headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(':').next().unwrap_or(s).to_owned());
            return Err(api_error(status, error_type, &bytes));
        }
        parse_create_session_answer(&bytes)
    }

    /// POSTs `body` with `headers` to `path` of the endpoint and reads the answer: its status,
    /// headers and body (at most [`MAX_RESPONSE_BYTES`]).
    pub(super) async fn exchange(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Bytes,
        resend: Resend,
    ) -> Result<(u16, http::HeaderMap, Bytes), ClientError> {
        let request = || {
            let mut req = http::Request::post(format!("{}{path}", self.endpoint));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.body(Full::new(body.clone()))
                .map_err(|e| ClientError::Protocol(e.to_string()))
        };
        let resp = match self.client.request(request()?).await {
            // The connection lost once made (most likely a kept one the server closed as the
            // request went out, its idle timeout running out meanwhile): once more, on a new one.
            Err(e) if resend == Resend::OnceIfConnectionLost && !e.is_connect() => {
                tracing::debug!(error = %super::transport_message(&e), "the connection was lost: sending again");
                self.client.request(request()?).await
            }
            sent => sent,
        };
        let resp = resp.map_err(|e| ClientError::Transport {
            endpoint: self.endpoint.clone(),
            route: self.route.via(),
            message: super::transport_message(&e),
        })?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(format!("reading the response: {e}")))?
            .to_bytes();
        Ok((status, parts.headers, bytes))
    }
}

/// The refusal a CreateSession answer of `status` gives: rolegate's JSON message, else the
/// body's first 500 characters. rolegate always says why, with an `x-amzn-ErrorType`
/// (`error_type`): an empty answer without one comes from something in front of it.
fn api_error(status: u16, error_type: Option<String>, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map_or_else(|_| printable(&String::from_utf8_lossy(body)), |b| printable(&b.message));
    let error_type = error_type.map(|t| printable(&t));
    let message = match (message.trim().is_empty(), &error_type) {
        (true, None) => "an empty answer without x-amzn-ErrorType, not one of rolegate's API answers: a proxy or load \
             balancer in front of it answered (rolegate itself unreachable?), or the request's HTTP head was refused"
            .to_owned(),
        (true, Some(_)) => "an empty answer".to_owned(),
        (false, _) => message,
    };
    ClientError::Api {
        status,
        error_type: error_type.unwrap_or_else(|| "UnknownError".into()),
        message,
    }
}

/// At most 500 characters of a text the server chose, its control characters escaped (`\u{1b}`):
/// the helpers print it to a terminal, where an escape sequence could rewrite what is shown.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .take(500)
        .flat_map(|c| match c.is_control() {
            true => c.escape_default().collect::<Vec<_>>(),
            false => vec![c],
        })
        .collect()
}

/// The credentials of a successful CreateSession answer (its first `credentialSet` entry).
pub fn parse_create_session_answer(body: &[u8]) -> Result<SessionCredentials, ClientError> {
    let parsed: CreateSessionAnswer =
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("invalid CreateSession JSON: {e}")))?;
    let entry = parsed
        .credential_set
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Protocol("empty credentialSet".into()))?;
    let c = &entry.credentials;
    let empty: Vec<&str> = [
        ("accessKeyId", &c.access_key_id),
        ("secretAccessKey", &c.secret_access_key),
        ("sessionToken", &c.session_token),
        ("expiration", &c.expiration),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.trim().is_empty().then_some(name))
    .collect();
    if !empty.is_empty() {
        // Served on, empty credentials would replace good ones and fail every AWS call.
        return Err(ClientError::Protocol(format!(
            "the CreateSession answer has empty credentials ({})",
            empty.join(", ")
        )));
    }
    let malformed: Vec<&str> = [
        ("accessKeyId", is_access_key_id(&c.access_key_id)),
        ("secretAccessKey", is_visible_ascii(&c.secret_access_key)),
        ("sessionToken", is_visible_ascii(&c.session_token)),
        ("expiration", is_visible_ascii(&c.expiration)),
    ]
    .into_iter()
    .filter_map(|(name, fits)| (!fits).then_some(name))
    .collect();
    if !malformed.is_empty() {
        // Written into ~/.aws/credentials by `update`, a line break in a value would add lines
        // of the server's choosing (a `credential_process` that every SDK runs), and any such
        // character fails the SDKs anyway. The values are secrets: never quoted.
        return Err(ClientError::Protocol(format!(
            "the CreateSession answer's {} holds characters no AWS credential has (an access key id is \
             16 to 128 letters, digits or `_`; a secret, token or expiration is printable ASCII without spaces): \
             refused",
            malformed.join(", ")
        )));
    }
    Ok(SessionCredentials {
        access_key_id: entry.credentials.access_key_id,
        secret_access_key: Zeroizing::new(entry.credentials.secret_access_key),
        session_token: Zeroizing::new(entry.credentials.session_token),
        expiration: entry.credentials.expiration,
    })
}

/// AWS's `accessKeyIdType`: 16 to 128 word characters (`ASIA` and 16 more from AWS and
/// rolegate).
fn is_access_key_id(value: &str) -> bool {
    (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Printable ASCII without spaces (0x21–0x7E): base64 secrets and tokens, RFC 3339 times.
pub fn is_visible_ascii(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionAnswer {
    credential_set: Vec<CredentialSetEntry>,
}

#[derive(Deserialize)]
struct CredentialSetEntry {
    credentials: CredentialsAnswer,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsAnswer {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(access_key_id: &str, secret: &str, token: &str) -> String {
        format!(
            r#"{{"credentialSet":[{{"credentials":{{"accessKeyId":"{access_key_id}","secretAccessKey":"{secret}","sessionToken":"{token}","expiration":"2030-01-01T00:00:00Z"}}}}]}}"#
        )
    }

    /// A refusal says why: rolegate's message, the body of another, or that an empty answer
    /// without an error type is not rolegate's.
    #[test]
    fn a_refusal_names_its_message_or_where_it_came_from() {
        let shown = |status, error_type: Option<&str>, body: &str| {
            api_error(status, error_type.map(str::to_owned), body.as_bytes()).to_string()
        };
        assert_eq!(
            shown(
                403,
                Some("AccessDeniedException"),
                r#"{"message":"Untrusted certificate."}"#
            ),
            "AccessDeniedException (HTTP 403): Untrusted certificate."
        );
        assert_eq!(
            shown(502, None, "<html>Bad Gateway</html>"),
            "UnknownError (HTTP 502): <html>Bad Gateway</html>"
        );
        assert_eq!(
            shown(503, None, ""),
            "UnknownError (HTTP 503): an empty answer without x-amzn-ErrorType, not one of rolegate's API answers: \
             a proxy or load balancer in front of it answered (rolegate itself unreachable?), or the request's HTTP \
             head was refused"
        );
        assert_eq!(
            shown(503, Some("ServiceUnavailableException"), " "),
            "ServiceUnavailableException (HTTP 503): an empty answer"
        );
        // The server's text reaches a terminal: its control characters are escaped.
        assert_eq!(
            shown(
                403,
                Some("AccessDeniedException"),
                "{\"message\":\"\\u001b]0;owned\\u0007\\u001b[2Jdenied\"}"
            ),
            "AccessDeniedException (HTTP 403): \\u{1b}]0;owned\\u{7}\\u{1b}[2Jdenied"
        );
        assert_eq!(
            shown(502, None, "line one\r\nline two"),
            "UnknownError (HTTP 502): line one\\r\\nline two"
        );
    }

    #[test]
    fn an_answer_with_empty_credentials_is_a_failed_fetch() {
        let creds = parse_create_session_answer(answer("ASIAEXAMPLEEXAMPLE", "s", "t").as_bytes()).unwrap();
        assert_eq!(
            (creds.access_key_id.as_str(), creds.expiration.as_str()),
            ("ASIAEXAMPLEEXAMPLE", "2030-01-01T00:00:00Z")
        );
        let e = parse_create_session_answer(answer("", "s", " ").as_bytes()).unwrap_err();
        assert!(
            matches!(&e, ClientError::Protocol(m) if m == "the CreateSession answer has empty credentials (accessKeyId, sessionToken)"),
            "{e}"
        );
    }

    /// A value no AWS credential has is refused, unquoted: written by `update` into
    /// ~/.aws/credentials, a line break would add lines of the server's choosing.
    #[test]
    fn an_answer_whose_credentials_could_add_lines_is_a_failed_fetch() {
        let refused = |fields: &str| {
            format!(
                "the CreateSession answer's {fields} holds characters no AWS credential has (an access key id is \
                 16 to 128 letters, digits or `_`; a secret, token or expiration is printable ASCII without \
                 spaces): refused"
            )
        };
        let cases = [
            (
                ("ASIAEXAMPLEEXAMPLE", "s", "tok\\n[prod]\\ncredential_process = sh"),
                "sessionToken",
            ),
            (("ASIAEXAMPLEEXAMPLE", "s\\rx", "t"), "secretAccessKey"),
            (
                ("ASIAEXAMPLEEXAMPLE", "s s", "t\\u0000"),
                "secretAccessKey, sessionToken",
            ),
            (("ASIA-EXAMPLE-EXAMPLE", "s", "t"), "accessKeyId"),
            (("ASIASHORT", "s", "t"), "accessKeyId"),
            (("ASIAEXAMPLEEXAMPLE", "sécret", "t"), "secretAccessKey"),
        ];
        for ((id, secret, token), fields) in cases {
            let e = parse_create_session_answer(answer(id, secret, token).as_bytes()).unwrap_err();
            assert!(
                matches!(&e, ClientError::Protocol(m) if *m == refused(fields)),
                "{id:?} {secret:?} {token:?}: {e}"
            );
        }
    }
}
