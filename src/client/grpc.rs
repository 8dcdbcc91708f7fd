//! A client of the gRPC API `rolegate.v1`: a tonic [`Channel`] over rustls (HTTP/2, ALPN
//! `h2`) that can present a client certificate (mTLS, see [`TlsOptions::client_identity`]),
//! and the SigV4 signing of `Sessions.AssumeRole`.
//!
//! AssumeRole signing (the contract in `proto/rolegate/v1/sessions.proto`): AWS4-HMAC-SHA256
//! over method `POST`, path `/rolegate.v1.Sessions/AssumeRole`, empty query, the headers
//! `host` (= the HTTP/2 `:authority`, e.g. `127.0.0.1:8443`), `x-amz-date` and
//! `x-amz-security-token`, and the hex SHA-256 of the encoded request message; scope
//! `{date}/{region}/sts/aws4_request`. `authorization`, `x-amz-date` and
//! `x-amz-security-token` travel as gRPC metadata.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use prost::Message;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint, Uri};

use super::roles_anywhere::ClientError;
use super::tls::{TlsOptions, client_config};
use crate::proto::AssumeRoleRequest;
use crate::proto::admin_client::AdminClient;
use crate::proto::sessions_client::SessionsClient;
use crate::service::grpc::ASSUME_ROLE_PATH;
use crate::sigv4::{HttpRequest, sha256_hex, sign_hmac};

/// A connection to rolegate's gRPC API.
#[derive(Clone, Debug)]
pub struct GrpcClient {
    channel: Channel,
    authority: String,
}

/// The session credentials AssumeRole is signed with. Debug output redacts the secrets.
#[derive(Clone)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .finish()
    }
}

impl GrpcClient {
    /// Connects to `endpoint` (`https://host:port`) with `tls` (CA bundle, optional client
    /// certificate).
    pub async fn connect(endpoint: &str, tls: &TlsOptions) -> Result<Self, ClientError> {
        let config = client_config(tls).map_err(ClientError::Tls)?;
        Self::connect_with_config(endpoint, config).await
    }

    /// Connects to `endpoint` (`https://host:port`) with a ready rustls configuration (its ALPN
    /// is set to `h2`).
    pub async fn connect_with_config(endpoint: &str, mut config: rustls::ClientConfig) -> Result<Self, ClientError> {
        let super::endpoint::Endpoint { authority, uri, .. } = super::endpoint::parse(endpoint)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let config = Arc::new(config);
        let connector = tower::service_fn(move |uri: Uri| {
            let config = config.clone();
            async move {
                let host = uri
                    .host()
                    .unwrap_or_default()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let port = uri.port_u16().unwrap_or(443);
                let server_name = ServerName::try_from(host.to_owned())?;
                let tcp = tokio::net::TcpStream::connect((host, port)).await?;
                let _ = tcp.set_nodelay(true);
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(TokioIo::new(tls))
            }
        });
        let channel = Endpoint::from(uri)
            .connect_with_connector(connector)
            .await
            .map_err(|e| ClientError::Transport {
                endpoint: endpoint.to_owned(),
                route: String::new(),
                message: super::transport_message(&e),
            })?;
        Ok(Self {
            channel,
            authority: authority.as_str().to_owned(),
        })
    }

    /// The server's authority (`host:port`), the `host` a SigV4 signature of a call covers.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The underlying channel (for health and reflection clients).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn sessions(&self) -> SessionsClient<Channel> {
        SessionsClient::new(self.channel.clone())
    }

    pub fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone())
    }

    /// `Sessions.AssumeRole` signed with `credentials` at `now` for `region`.
    pub async fn assume_role(
        &self,
        message: AssumeRoleRequest,
        credentials: &SigningCredentials,
        region: &str,
        now: OffsetDateTime,
    ) -> Result<crate::proto::AssumeRoleResponse, tonic::Status> {
        let request = signed_assume_role(message, &self.authority, credentials, region, now)?;
        self.sessions()
            .assume_role(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// Builds the AssumeRole request with its SigV4 metadata (`authorization`, `x-amz-date`,
/// `x-amz-security-token`) for a server reached at `authority`.
pub fn signed_assume_role(
    message: AssumeRoleRequest,
    authority: &str,
    credentials: &SigningCredentials,
    region: &str,
    now: OffsetDateTime,
) -> Result<tonic::Request<AssumeRoleRequest>, tonic::Status> {
    let headers = [("host", authority)];
    let unsigned = HttpRequest {
        method: "POST",
        path: ASSUME_ROLE_PATH,
        query: "",
        headers: &headers,
    };
    let added = sign_hmac(
        &unsigned,
        &sha256_hex(&message.encode_to_vec()),
        &credentials.access_key_id,
        &credentials.secret_access_key,
        Some(&credentials.session_token),
        region,
        "sts",
        now,
    );
    let mut request = tonic::Request::new(message);
    for (name, value) in added {
        let value = MetadataValue::try_from(value.as_str())
            .map_err(|_| tonic::Status::invalid_argument(format!("{name} is not a valid metadata value")))?;
        let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes())
            .map_err(|_| tonic::Status::invalid_argument(format!("{name} is not a valid metadata key")))?;
        request.metadata_mut().insert(key, value);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_host_date_and_token_over_the_encoded_message() {
        let creds = SigningCredentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
        };
        let message = AssumeRoleRequest {
            role_arn: "arn:aws:iam::123456789012:role/x".into(),
            role_session_name: "s1".into(),
            ..Default::default()
        };
        let now = time::macros::datetime!(2025-01-02 03:04:05 UTC);
        let r = signed_assume_role(message, "127.0.0.1:8443", &creds, "us-east-1", now).unwrap();
        let md = r.metadata();
        assert_eq!(md.get("x-amz-date").unwrap(), "20250102T030405Z");
        assert_eq!(md.get("x-amz-security-token").unwrap(), "token");
        let auth = md.get("authorization").unwrap().to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=ASIAAAAAAAAAAAAAAAAA/20250102/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
        ), "{auth}");
    }
}
