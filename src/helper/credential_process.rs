//! `rolegate credential-process`: flag-compatible with AWS's `aws_signing_helper
//! credential-process` (DESIGN.md §2d). Prints the JSON the AWS SDKs and CLI read from a
//! `credential_process` command, or one clear error line on stderr and a non-zero exit.

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::credentials::WorkloadIdentity;
use crate::client::{CreateSessionParams, RolesAnywhereClient, SessionCredentials, TlsOptions};

/// The flags shared by `credential-process` and the other helpers.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// Client certificate (PEM or DER).
    #[arg(long)]
    pub certificate: PathBuf,
    /// Private key of the certificate (PKCS#8, PEM or DER).
    #[arg(long)]
    pub private_key: PathBuf,
    /// Intermediate CA certificates sent with the leaf (PEM bundle).
    #[arg(long)]
    pub intermediates: Option<PathBuf>,
    #[arg(long)]
    pub trust_anchor_arn: String,
    #[arg(long)]
    pub profile_arn: String,
    #[arg(long)]
    pub role_arn: String,
    /// Session duration in seconds (900..=43200).
    #[arg(long)]
    pub session_duration: Option<u32>,
    /// Session name (the profile must accept session names).
    #[arg(long)]
    pub role_session_name: Option<String>,
    /// Signing region; default: the trust anchor's region.
    #[arg(long)]
    pub region: Option<String>,
    /// Server endpoint, e.g. https://rolegate.example.com:8443; default: AWS's regional endpoint.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Do not verify the server certificate (development only).
    #[arg(long)]
    pub no_verify_ssl: bool,
    /// Extra CA certificates (PEM) to trust for the endpoint.
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Log the steps on stderr.
    #[arg(long)]
    pub debug: bool,
}

impl SessionArgs {
    /// The region: `--region`, else the one in the trust anchor ARN.
    pub fn region(&self) -> Result<String, String> {
        if let Some(r) = &self.region {
            return Ok(r.clone());
        }
        self.trust_anchor_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "cannot tell the region from trust anchor ARN '{}'; pass --region",
                    self.trust_anchor_arn
                )
            })
    }

    pub fn endpoint(&self, region: &str) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://rolesanywhere.{region}.amazonaws.com"))
    }

    /// Loads the identity, signs CreateSession and returns the credentials.
    pub async fn fetch(&self) -> Result<SessionCredentials, String> {
        let identity = WorkloadIdentity::load(&self.certificate, &self.private_key, self.intermediates.as_deref())?;
        let region = self.region()?;
        let endpoint = self.endpoint(&region);
        let tls = TlsOptions {
            ca_bundle: self.ca_bundle.clone(),
            no_verify: self.no_verify_ssl,
            client_identity: None,
        };
        let client = RolesAnywhereClient::new(&endpoint, &tls).map_err(|e| e.to_string())?;
        let params = CreateSessionParams {
            trust_anchor_arn: self.trust_anchor_arn.clone(),
            profile_arn: self.profile_arn.clone(),
            role_arn: self.role_arn.clone(),
            duration_seconds: self.session_duration,
            role_session_name: self.role_session_name.clone(),
            region,
        };
        if self.debug {
            eprintln!(
                "rolegate: CreateSession at {endpoint} for {} with certificate serial {}",
                params.role_arn,
                identity.certificate.serial_hex()
            );
        }
        client
            .create_session(
                &params,
                &identity.key,
                identity.certificate.der(),
                &identity.chain,
                identity.certificate.serial_decimal(),
                OffsetDateTime::now_utc(),
            )
            .await
            .map_err(|e| e.to_string())
    }
}

/// The `credential_process` output format (version 1).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessOutput<'a> {
    pub version: u8,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expiration: &'a str,
}

impl<'a> From<&'a SessionCredentials> for ProcessOutput<'a> {
    fn from(c: &'a SessionCredentials) -> Self {
        Self {
            version: 1,
            access_key_id: &c.access_key_id,
            secret_access_key: &c.secret_access_key,
            session_token: &c.session_token,
            expiration: &c.expiration,
        }
    }
}

/// Runs the command: prints the credentials JSON on stdout.
pub async fn run(args: SessionArgs) -> Result<(), String> {
    let creds = args.fetch().await?;
    let json = serde_json::to_string(&ProcessOutput::from(&creds)).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}
