//! `rolegate credential-process`: flag-compatible with AWS's `aws_signing_helper
//! credential-process` (DESIGN.md §2d). Prints the JSON the AWS SDKs and CLI read from a
//! `credential_process` command, or one clear error line on stderr and a non-zero exit.
//! Credentials with more than 15 minutes left come from the private on-disk [`super::cache`]
//! (down to a minute, for a process that waited while another fetched them).

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::cache::{self, CacheKey, CacheSlot};
use super::credentials::{IdentitySource, Passphrase, WorkloadIdentity, read_certificate_and_chain};
use super::refresh::Checked;
use crate::arn::AccountId;
use crate::cli::print_stderr;
use crate::client::{CreateSessionParams, RolesAnywhereClient, SessionCheck, SessionCredentials, TlsOptions, proxy};
use futures_util::future::BoxFuture;

/// Longest wait for one CreateSession answer (SDKs wait on `credential_process`, and parallel
/// processes wait on the cache lock of the one fetching).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a helper waits for the answer to a check of its credentials: the refresh loop
/// of `sidecar` and `update`, and a `credential-process` run, wait with it.
pub const SESSION_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often `credential-process` checks cached credentials with the server before it hands
/// them out: an entry written or checked less long ago is handed out unchecked.
pub const CACHE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a long-running helper leaves an endpoint that answered a check as no STS does
/// (AWS's Roles Anywhere given as `--endpoint`, or a page of something in front of rolegate).
pub const NO_STS_PAUSE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What `client`'s server says of `credentials` (signed for `region`) within
/// [`SESSION_CHECK_TIMEOUT`]; `None` when it could not be asked (no connection, no answer in
/// time). What decides nothing is logged at debug level.
async fn checked_in_time(
    client: &RolesAnywhereClient,
    region: &str,
    credentials: &SessionCredentials,
) -> Option<SessionCheck> {
    let checked = client.check_session(credentials, region, OffsetDateTime::now_utc());
    match tokio::time::timeout(SESSION_CHECK_TIMEOUT, checked).await {
        Ok(Ok(check)) => {
            if let SessionCheck::Undecided(what) = &check {
                tracing::debug!(answer = %what, "the check of the credentials decided nothing");
            }
            Some(check)
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "the credentials could not be checked");
            None
        }
        Err(_) => {
            tracing::debug!("the check of the credentials had no answer in time");
            None
        }
    }
}

/// The flags shared by `credential-process` and the other helpers.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// Client certificate (PEM or DER; a PEM file may hold its chain after it), a PKCS#12
    /// bundle (.p12/.pfx) with its key and chain, or a `pkcs11:` URI of a certificate on a
    /// token (whose key, without --private-key, is the token's key with the same id).
    // Not required beside the `aws_signing_helper` flags that stand for it, which are then
    // refused with their reason ([`KeyStoreFlags`]) instead of as a missing --certificate.
    #[arg(
        long,
        required_unless_present_any = ["cert_selector", "system_store_name", "use_latest_expiring_certificate"],
        value_parser = crate::helper::home::path_arg()
    )]
    pub certificate: Option<PathBuf>,
    /// Private key of the certificate: PKCS#8, SEC1 (EC) or PKCS#1 (RSA), PEM or DER, an
    /// encrypted PKCS#8 (give the passphrase), or a `pkcs11:` URI of a key on a token. Not
    /// needed with a PKCS#12 bundle or a certificate on a token.
    #[arg(long, value_parser = crate::helper::home::path_arg())]
    pub private_key: Option<PathBuf>,
    /// Intermediate CA certificates sent with the leaf (PEM bundle or DER), instead of those
    /// after the leaf in the certificate file or bundle.
    #[arg(long, value_parser = crate::helper::home::path_arg())]
    pub intermediates: Option<PathBuf>,
    /// Name of an environment variable holding the passphrase of an encrypted private key or
    /// PKCS#12 bundle, or the PIN of a token.
    #[arg(long, value_name = "VAR", conflicts_with = "private_key_passphrase_file")]
    pub private_key_passphrase_env: Option<String>,
    /// File whose first line is the passphrase of an encrypted private key or PKCS#12 bundle,
    /// or the PIN of a token.
    #[arg(long, value_name = "FILE", value_parser = crate::helper::home::path_arg())]
    pub private_key_passphrase_file: Option<PathBuf>,
    /// Trust anchor the certificate chains to,
    /// e.g. `arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/onprem`.
    #[arg(long)]
    pub trust_anchor_arn: String,
    /// Profile to use, e.g. `arn:aws:rolesanywhere:us-east-1:123456789012:profile/ci`.
    #[arg(long)]
    pub profile_arn: String,
    /// Role to assume (one of the profile's roles), e.g. `arn:aws:iam::123456789012:role/deploy`.
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
    /// Server endpoint, e.g. `https://rolegate.example.com:8443`; default: AWS's regional endpoint.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Do not verify the server certificate (development only).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub no_verify_ssl: bool,
    /// Extra CA certificates (PEM) to trust for the endpoint.
    #[arg(long, value_parser = crate::helper::home::path_arg())]
    pub ca_bundle: Option<PathBuf>,
    /// Reach the endpoint through the HTTP CONNECT proxy in HTTPS_PROXY (or https_proxy),
    /// except for hosts in NO_PROXY and loopback endpoints. Without it, proxy variables are
    /// ignored.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub with_proxy: bool,
    /// Log the steps on stderr.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub debug: bool,
    /// PKCS#11 module for a `pkcs11:` URI as --certificate or --private-key (without the URI's
    /// module-path), e.g. /usr/lib/softhsm/libsofthsm2.so; default: p11-kit's proxy,
    /// p11-kit-proxy.so. The token's PIN comes from the URI's pin-value or the passphrase flags.
    #[arg(long, value_name = "MODULE", value_parser = crate::helper::home::path_arg())]
    pub pkcs11_lib: Option<PathBuf>,
    /// Accepted for `aws_signing_helper`, without effect: rolegate always gives the token's PIN
    /// again to a key that asks for it at each signature (CKA_ALWAYS_AUTHENTICATE).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub reuse_pin: bool,
    #[command(flatten)]
    pub key_stores: KeyStoreFlags,
}

/// The flags of `aws_signing_helper` that read the certificate and key from a PKCS#11 token,
/// a TPM or an operating system's certificate store, which rolegate does not do: accepted
/// (hidden from `--help`) so that a copied command line is refused with that reason rather
/// than as an unknown flag.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KeyStoreFlags {
    #[arg(long, hide = true)]
    cert_selector: Option<String>,
    #[arg(long, hide = true)]
    system_store_name: Option<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true, hide = true)]
    use_latest_expiring_certificate: bool,
    #[arg(long, hide = true)]
    tpm_key_password: Option<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true, hide = true)]
    no_tpm_key_password: bool,
}

impl KeyStoreFlags {
    /// The first of these flags given, if any.
    fn first_given(&self) -> Option<&'static str> {
        [
            ("--cert-selector", self.cert_selector.is_some()),
            ("--system-store-name", self.system_store_name.is_some()),
            (
                "--use-latest-expiring-certificate",
                self.use_latest_expiring_certificate,
            ),
            ("--tpm-key-password", self.tpm_key_password.is_some()),
            ("--no-tpm-key-password", self.no_tpm_key_password),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}

/// Why a certificate or key is not read from one of those stores.
const FILES_OR_PKCS11: &str = "rolegate reads the certificate and key from files (PEM or DER, a PKCS#8, SEC1 or \
     PKCS#1 key, or a PKCS#12 bundle) or from a PKCS#11 token (pkcs11: URIs with --pkcs11-lib; a TPM through \
     tpm2-pkcs11); certificate selectors, the TPM key flags and the Windows and macOS certificate stores are not \
     supported";

/// `rolegate credential-process` flags: the shared ones and the cache's.
// The usage names --certificate as required, which it is: clap would show it as optional,
// since the aws_signing_helper flags that stand for it (refused with their reason) lift it.
#[derive(clap::Args, Clone, Debug)]
#[command(
    override_usage = "rolegate credential-process [OPTIONS] --certificate <CERTIFICATE> --trust-anchor-arn <TRUST_ANCHOR_ARN> --profile-arn <PROFILE_ARN> --role-arn <ROLE_ARN>"
)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Do not use the on-disk credential cache (also: ROLEGATE_NO_CACHE=1).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub no_cache: bool,
}

impl SessionArgs {
    /// Whether the command line names no certificate, neither with `--certificate` nor with
    /// an `aws_signing_helper` key-store flag that stands for it. clap counts those flags as
    /// present whatever their value, so `--use-latest-expiring-certificate=false` alone lifts
    /// its requirement of `--certificate`: the caller refuses the command line as clap would.
    pub fn lacks_certificate(&self) -> bool {
        self.certificate.is_none() && self.key_stores.first_given().is_none()
    }

    /// The region: `--region`, else the one in the trust anchor ARN — once the ARNs are
    /// checked ([`Self::check_arns`]), so that a trust anchor ARN that is no ARN is named so,
    /// not as an ARN without a region.
    pub fn region(&self) -> Result<String, String> {
        self.check_arns()?;
        match &self.region {
            Some(r) => Ok(r.clone()),
            None => trust_anchor_region(&self.trust_anchor_arn),
        }
    }

    /// `--endpoint`, with `https://` before a bare `host[:port]` (as aws_signing_helper's SDK
    /// takes it), else AWS's regional endpoint.
    pub fn endpoint(&self, region: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => crate::client::endpoint::with_scheme(endpoint),
            None => format!("https://rolesanywhere.{region}.{}", aws_domain(region)),
        }
    }

    /// A warning for a long-running helper (`sidecar`, `update`) given a `pkcs11:` URI with a
    /// `pin-value`: the PIN stays in its command line, which every local user can read
    /// (`/proc/PID/cmdline`, `ps`), for as long as it runs. `None` otherwise.
    pub fn pin_in_command_line(&self) -> Option<String> {
        let in_uri = |p: &Option<PathBuf>| {
            p.as_deref()
                .and_then(|p| p.to_str())
                .is_some_and(|text| text.starts_with("pkcs11:") && text.contains("pin-value="))
        };
        (in_uri(&self.certificate) || in_uri(&self.private_key)).then(|| {
            "the pkcs11: URI's pin-value is in this process's command line, which every local user can read \
             (ps, /proc/PID/cmdline) for as long as it runs: give the PIN with --private-key-passphrase-file \
             (a file of this user's, mode 0600) or --private-key-passphrase-env instead"
                .to_owned()
        })
    }

    /// Where the certificate, key and passphrase come from; an error for a flag of
    /// `aws_signing_helper` that names a key store ([`KeyStoreFlags`]).
    pub fn identity_source(&self) -> Result<IdentitySource, String> {
        if let Some(flag) = self.key_stores.first_given() {
            return Err(format!("{flag}: {FILES_OR_PKCS11}"));
        }
        let certificate = self.certificate.clone().ok_or("--certificate is required")?;
        let passphrase = Passphrase::from_flags(
            self.private_key_passphrase_env.as_ref(),
            self.private_key_passphrase_file.as_ref(),
        );
        Ok(IdentitySource {
            pkcs11_lib: self.pkcs11_lib.clone(),
            certificate,
            private_key: self.private_key.clone(),
            intermediates: self.intermediates.clone(),
            passphrase,
        })
    }

    /// The three ARNs are ARNs ([`check_arn`]), and the trust anchor's and the profile's are
    /// in one region ([`same_region`]): checked before anything is derived from them.
    fn check_arns(&self) -> Result<(), String> {
        for (flag, arn) in [
            ("--trust-anchor-arn", &self.trust_anchor_arn),
            ("--profile-arn", &self.profile_arn),
            ("--role-arn", &self.role_arn),
        ] {
            check_arn(flag, arn)?;
        }
        same_region(&self.trust_anchor_arn, &self.profile_arn)
    }

    /// The CreateSession parameters of these flags.
    pub fn params(&self) -> Result<CreateSessionParams, String> {
        self.check_arns()?;
        Ok(CreateSessionParams {
            trust_anchor_arn: self.trust_anchor_arn.clone(),
            profile_arn: self.profile_arn.clone(),
            role_arn: self.role_arn.clone(),
            duration_seconds: self.session_duration,
            role_session_name: self.role_session_name.clone(),
            region: self.region()?,
        })
    }

    /// A client for the endpoint (TLS per `--ca-bundle` / `--no-verify-ssl`, through the
    /// environment's proxy with `--with-proxy`).
    pub fn client(&self) -> Result<RolesAnywhereClient, String> {
        let endpoint = self.endpoint(&self.region()?);
        let tls = TlsOptions {
            ca_bundle: self.ca_bundle.clone(),
            no_verify: self.no_verify_ssl,
            client_identity: None,
        };
        let route = match endpoint.parse::<http::Uri>() {
            Ok(uri) => proxy::route(&uri, self.with_proxy, |name| std::env::var(name).ok())?,
            // An endpoint that is no URI is named by the client's own error.
            Err(_) => proxy::Route::DIRECT,
        };
        RolesAnywhereClient::connecting(&endpoint, &tls, route).map_err(|e| e.to_string())
    }

    /// Signs CreateSession with `identity` and returns the credentials.
    pub async fn fetch_with(
        &self,
        client: &RolesAnywhereClient,
        identity: &WorkloadIdentity,
    ) -> Result<SessionCredentials, String> {
        self.fetch_within(client, identity, REQUEST_TIMEOUT)
            .await
            .map_err(|failed| failed.message)
    }

    /// [`SessionArgs::fetch_with`], giving up after `timeout` (what is left of
    /// [`REQUEST_TIMEOUT`] once a process has waited on the cache lock).
    async fn fetch_within(
        &self,
        client: &RolesAnywhereClient,
        identity: &WorkloadIdentity,
        timeout: std::time::Duration,
    ) -> Result<SessionCredentials, FetchFailure> {
        let params = self.params().map_err(FetchFailure::local)?;
        if self.debug {
            print_stderr(&format!(
                "rolegate: CreateSession at {} ({}) for {} with certificate serial {}\n",
                self.endpoint(&params.region),
                client.route(),
                params.role_arn,
                identity.certificate.serial_hex()
            ));
        }
        let request = client.create_session(
            &params,
            &identity.key,
            identity.certificate.der(),
            &identity.chain,
            identity.certificate.serial_decimal(),
            OffsetDateTime::now_utc(),
        );
        match tokio::time::timeout(timeout, request).await {
            Ok(result) => {
                let credentials = result.map_err(FetchFailure::from)?;
                super::refresh::usable_expiry(&credentials, OffsetDateTime::now_utc()).map_err(FetchFailure::local)?;
                Ok(credentials)
            }
            Err(_) => Err(FetchFailure::local(format!(
                "no answer from {}{} within {} s{}",
                self.endpoint(&params.region),
                client.route().via(),
                REQUEST_TIMEOUT.as_secs(),
                match timeout < REQUEST_TIMEOUT.saturating_sub(std::time::Duration::from_secs(1)) {
                    true => " (counting the wait for another credential-process fetching the same credentials)",
                    false => "",
                }
            ))),
        }
    }

    /// How a long-running helper (`sidecar`, `update`) checks the credentials it holds with
    /// the server ([`super::refresh::SessionChecks`]): every `every_seconds` (0: never), and
    /// only with `--endpoint` — AWS's Roles Anywhere endpoint serves no STS. A check gives up
    /// after [`SESSION_CHECK_TIMEOUT`] and keeps its connection for the next, until one cannot
    /// reach the server (a new one then reads the CA bundle again, which may have rotated). An
    /// endpoint that answers as no STS does is not asked for [`NO_STS_PAUSE`].
    pub fn session_checks(
        self: &std::sync::Arc<Self>,
        every_seconds: u32,
    ) -> super::refresh::SessionChecks<impl FnMut(SessionCredentials) -> BoxFuture<'static, Checked> + use<>> {
        use std::sync::Mutex;
        let every = (self.endpoint.is_some() && every_seconds > 0)
            .then(|| std::time::Duration::from_secs(every_seconds.into()));
        let session = self.clone();
        // The client kept between checks, and when an endpoint without STS may be asked again.
        let kept: std::sync::Arc<Mutex<Option<std::sync::Arc<RolesAnywhereClient>>>> = std::sync::Arc::default();
        let paused_until: std::sync::Arc<Mutex<Option<std::time::Instant>>> = std::sync::Arc::default();
        let check = move |credentials: SessionCredentials| -> BoxFuture<'static, Checked> {
            let paused = paused_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some_and(|until| std::time::Instant::now() < until);
            let session = session.clone();
            let (kept, paused_until) = (kept.clone(), paused_until.clone());
            Box::pin(async move {
                if paused {
                    return Checked::Unknown;
                }
                let held = kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                let client = match held {
                    Some(client) => client,
                    None => match session.client() {
                        Ok(client) => std::sync::Arc::new(client),
                        Err(e) => {
                            tracing::debug!(error = %e, "the credentials held could not be checked");
                            return Checked::Unknown;
                        }
                    },
                };
                let Ok(region) = session.region() else {
                    return Checked::Unknown;
                };
                let check = checked_in_time(&client, &region, &credentials).await;
                *kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = check.is_some().then_some(client);
                match check {
                    Some(SessionCheck::Accepted) => Checked::Accepted,
                    Some(refused @ SessionCheck::Refused { .. }) => Checked::Refused(refused.to_string()),
                    Some(SessionCheck::NoSts(what)) => {
                        tracing::info!(
                            answer = %what,
                            "the endpoint answers as no STS does: the credentials held are not checked with it for an hour"
                        );
                        *paused_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(std::time::Instant::now() + NO_STS_PAUSE);
                        Checked::Unknown
                    }
                    Some(SessionCheck::Undecided(_)) | None => Checked::Unknown,
                }
            })
        };
        super::refresh::SessionChecks { every, check }
    }

    /// The cached credentials to hand out — `cached` (the entry `key` in `dir`), or the entry as
    /// another process left it while this one waited — or why the server refuses them, when it
    /// does: asked with `--endpoint` only (AWS's Roles Anywhere serves no STS), and at most once
    /// per [`CACHE_CHECK_INTERVAL`] per entry — an entry written or checked since is handed out
    /// unchecked, and an entry the server did not refuse is marked checked.
    ///
    /// Processes started together (an SDK's workers, a burst of CLI calls) share one check: the
    /// one that takes the entry's lock asks, the others wait for it, as long as a check may
    /// take, and hand out the entry it marked checked or replaced. A lock held longer (a
    /// process fetching) or unusable leaves each to ask on its own, as before.
    async fn checked_cached(
        &self,
        dir: &Path,
        key: &CacheKey,
        cached: SessionCredentials,
    ) -> Result<SessionCredentials, String> {
        if self.endpoint.is_none() || cache::checked_within(dir, key, CACHE_CHECK_INTERVAL) {
            return Ok(cached);
        }
        let _checking = lock_for_check(dir, key).await;
        if cache::checked_within(dir, key, CACHE_CHECK_INTERVAL) {
            // Checked, or replaced, while this process waited: what is there now.
            if let Some(current) = cache::read_unlocked(dir, key, OffsetDateTime::now_utc()) {
                return Ok(current);
            }
        }
        let (Ok(client), Ok(region)) = (self.client(), self.region()) else {
            return Ok(cached);
        };
        match checked_in_time(&client, &region, &cached).await {
            Some(refused @ SessionCheck::Refused { .. }) => Err(refused.to_string()),
            _ => {
                cache::mark_checked(dir, key);
                Ok(cached)
            }
        }
    }

    /// The cache entry name for these flags and this identity (`source`: what selects the
    /// key, [`IdentitySource::key_selector`]).
    pub(crate) fn cache_key(
        &self,
        source: &IdentitySource,
        certificate_der: &[u8],
        chain: &[Vec<u8>],
    ) -> Result<CacheKey, String> {
        let region = self.region()?;
        let duration = self.session_duration.map(|d| d.to_string()).unwrap_or_default();
        // How the server was authenticated is part of the answer: credentials fetched with
        // `--no-verify-ssl` (perhaps from whoever answered) are never served to a run that
        // verifies, nor ones verified with another CA bundle.
        let server_trust = match (&self.ca_bundle, self.no_verify_ssl) {
            (_, true) => "no-verify".to_owned(),
            // By its contents: a relative path names another file in another folder, and a
            // bundle is replaced in place when its CA changes.
            (Some(bundle), false) => match crate::fsutil::read_bounded(bundle, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
                Ok(pem) => format!("ca-bundle:{}", crate::sigv4::sha256_hex(&pem)),
                // No entry can have been stored under this: an unreadable bundle fails the fetch.
                Err(_) => format!("ca-bundle-unreadable:{}", bundle.display()),
            },
            (None, false) => "system-roots".to_owned(),
        };
        let [key_selector, module] = source.key_selector();
        Ok(CacheKey::new(
            &[
                &self.endpoint(&region),
                &server_trust,
                &region,
                &self.trust_anchor_arn,
                &self.profile_arn,
                &self.role_arn,
                &duration,
                self.role_session_name.as_deref().unwrap_or(""),
                &key_selector,
                &module,
            ],
            certificate_der,
            chain,
        ))
    }
}

/// The region of the trust anchor ARN `arn`, which the client signs for when not given
/// `--region` (also what `rolegate explain` assumes then).
pub fn trust_anchor_region(arn: &str) -> Result<String, String> {
    arn_region(arn)
        .map(str::to_owned)
        .ok_or_else(|| format!("cannot tell the region from trust anchor ARN '{arn}'; pass --region"))
}

/// The region field of an ARN (`arn:partition:service:region:…`), when it has one.
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// An ARN has six fields, `arn:partition:service:region:account-id:resource` (the region and
/// account may be empty, [`crate::arn::is_arn`]): anything else is refused before a request is
/// sent, as aws_signing_helper parses its three ARNs first, instead of reaching the server as
/// an unknown profile or role.
fn check_arn(flag: &str, arn: &str) -> Result<(), String> {
    match crate::arn::is_arn(arn) {
        true => Ok(()),
        false => Err(format!(
            "{flag} '{arn}' is not an ARN: expected arn:partition:service:region:account-id:resource"
        )),
    }
}

/// A trust anchor and a profile of different regions cannot meet in one CreateSession (each
/// region is its own service): refused before anything is sent, as aws_signing_helper does,
/// instead of by the server as an unknown profile.
fn same_region(trust_anchor_arn: &str, profile_arn: &str) -> Result<(), String> {
    match (arn_region(trust_anchor_arn), arn_region(profile_arn)) {
        (Some(anchor), Some(profile)) if anchor != profile => Err(format!(
            "the trust anchor ARN is in region {anchor} and the profile ARN in {profile}; both must be in one region"
        )),
        _ => Ok(()),
    }
}

/// The DNS suffix of AWS endpoints in `region`: China's regions (`cn-north-1`, …) are under
/// `amazonaws.com.cn`, every other one under `amazonaws.com`.
fn aws_domain(region: &str) -> &'static str {
    match region.starts_with("cn-") {
        true => "amazonaws.com.cn",
        false => "amazonaws.com",
    }
}

/// The `credential_process` output format (version 1), with the account the credentials are
/// of when it is known (`AccountId`: botocore's `ProcessProvider` reads it since 1.35, falling
/// back to the profile's `aws_account_id`, for account-based endpoints; so do the other SDKs).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessOutput<'a> {
    pub version: u8,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expiration: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a str>,
}

impl<'a> ProcessOutput<'a> {
    /// The output for `c`, the credentials of a role of `account`.
    pub fn new(c: &'a SessionCredentials, account: Option<&'a AccountId>) -> Self {
        Self {
            version: 1,
            access_key_id: &c.access_key_id,
            secret_access_key: &c.secret_access_key,
            session_token: &c.session_token,
            expiration: &c.expiration,
            account_id: account.map(AccountId::as_str),
        }
    }
}

/// The account of the role ARN `arn` (`arn:partition:iam::account-id:role/…`), when its
/// account field is one (12 digits): the account of the credentials issued for the role.
/// `None` otherwise — no server issues credentials for such a role, and none is made up.
pub fn role_account(arn: &str) -> Option<AccountId> {
    arn.split(':').nth(4).and_then(|account| AccountId::parse(account).ok())
}

/// Runs the command: prints the credentials JSON on stdout, from the cache when it holds
/// credentials with more than 15 minutes left, else from the server (then cached).
pub async fn run(args: CredentialProcessArgs) -> Result<(), String> {
    let CredentialProcessArgs {
        session: args,
        no_cache,
    } = args;
    let source = args.identity_source()?;
    // Printed with the credentials, whether fetched or cached: a cache entry is of one role
    // ARN (it is part of the entry's key), so the entry need not hold it.
    let account = role_account(&args.role_arn);
    let cache_dir = if no_cache || cache::disabled_by_env() {
        None
    } else {
        cache::default_dir()
            .inspect_err(|e| print_stderr(&format!("warning: credential cache unusable, fetching directly: {e}\n")))
            .ok()
    };
    let creds = match cache_dir {
        None => {
            args.fetch_with(&args.client()?, &WorkloadIdentity::load(&source)?)
                .await?
        }
        Some(dir) => {
            // Keyed by the certificate and the key argument, not the key: a hit neither
            // decrypts the key nor has a token sign; the key is read (and checked against the
            // certificate) on a miss, so another key argument gets its own error at once.
            let (certificate_der, chain) = read_certificate_and_chain(&source)?;
            let key = args.cache_key(&source, &certificate_der, &chain)?;
            // A hit needs no lock: a process holding it (stopped, or fetching) keeps no one
            // from credentials already cached.
            let mut refused = false;
            if let Some(c) = cache::read_unlocked(&dir, &key, OffsetDateTime::now_utc()) {
                match args.checked_cached(&dir, &key, c).await {
                    Ok(c) => {
                        if args.debug {
                            print_stderr(&format!(
                                "rolegate: using cached credentials valid until {}\n",
                                c.expiration
                            ));
                        }
                        return print_credentials(&c, account.as_ref());
                    }
                    Err(refusal) => {
                        print_stderr(&format!(
                            "warning: the server refuses the cached credentials ({}): fetching new ones\n",
                            printable_refusal(&refusal)
                        ));
                        refused = true;
                    }
                }
            }
            // One REQUEST_TIMEOUT bounds the wait on the lock and the fetch together:
            // processes queued behind one whose server never answers give up with it, not
            // 30 s each in turn, and a holder that is stopped cannot hold them for ever. An
            // unusable cache (read-only home, no locking support) only costs the reuse.
            let waiting = std::time::Instant::now();
            // Set when the lock was busy: what its holder stores meanwhile is fresh.
            let mut waited_since = None;
            let slot = loop {
                match CacheSlot::try_lock(&dir, &key) {
                    Ok(Some(slot)) => break Some(slot),
                    Ok(None) if waiting.elapsed() < REQUEST_TIMEOUT => {
                        waited_since.get_or_insert_with(std::time::SystemTime::now);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Ok(None) => {
                        let busy = format!(
                            "another rolegate credential-process has been fetching the same credentials for {} s (cache lock in {})",
                            REQUEST_TIMEOUT.as_secs(),
                            dir.display()
                        );
                        // As a fetch that failed would: cached credentials with more than a
                        // minute left (a burst of SDK processes during an outage), unless the
                        // server refused them.
                        let now = OffsetDateTime::now_utc();
                        if let Some(c) = (!refused)
                            .then(|| cache::read_unlocked_on_failure(&dir, &key, now))
                            .flatten()
                        {
                            print_stderr(&format!(
                                "warning: {busy}: using the cached credentials, valid until {}\n",
                                c.expiration
                            ));
                            return print_credentials(&c, account.as_ref());
                        }
                        return Err(busy);
                    }
                    Err(e) => {
                        print_stderr(&format!("warning: credential cache unusable, fetching directly: {e}\n"));
                        break None;
                    }
                }
            };
            let waited = waiting.elapsed();
            // After a refusal, only credentials another process wrote while this one waited.
            let reusable = |s: &CacheSlot| match refused {
                false => s.read_valid(OffsetDateTime::now_utc(), waited_since),
                true => waited_since.and_then(|since| s.read_written_since(since, OffsetDateTime::now_utc())),
            };
            match slot.as_ref().and_then(reusable) {
                Some(c) => {
                    if args.debug {
                        print_stderr(&format!(
                            "rolegate: using cached credentials valid until {}\n",
                            c.expiration
                        ));
                    }
                    c
                }
                None => {
                    let identity = WorkloadIdentity::load(&source)?;
                    let fallback = !refused
                        && slot
                            .as_ref()
                            .and_then(|s| s.read_on_failure(OffsetDateTime::now_utc()))
                            .is_some();
                    let left = fetch_wait(REQUEST_TIMEOUT.saturating_sub(waited), fallback);
                    let fetched = args.fetch_within(&args.client()?, &identity, left).await;
                    stored_or_cached(fetched, slot.as_ref(), refused)?
                }
            }
        }
    };
    print_credentials(&creds, account.as_ref())
}

/// The lock of the cache entry `key` in `dir`, for checking the entry with the server: waited
/// for as long as a check may take ([`SESSION_CHECK_TIMEOUT`], and a second more), or until
/// the process holding it marked the entry checked or replaced it. `None` when it was not had
/// (then the caller checks unlocked, as a process without a usable lock does).
async fn lock_for_check(dir: &Path, key: &CacheKey) -> Option<CacheSlot> {
    let waiting = std::time::Instant::now();
    loop {
        match CacheSlot::try_lock(dir, key) {
            Ok(Some(slot)) => return Some(slot),
            Ok(None)
                if waiting.elapsed() < SESSION_CHECK_TIMEOUT + std::time::Duration::from_secs(1)
                    && !cache::checked_within(dir, key, CACHE_CHECK_INTERVAL) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Writes `creds`, of a role of `account`, on standard output as `credential_process` output.
fn print_credentials(creds: &SessionCredentials, account: Option<&AccountId>) -> Result<(), String> {
    let json = serde_json::to_string(&ProcessOutput::new(creds, account)).map_err(|e| e.to_string())?;
    // A reader that went away (a closed pipe) is an error like any other: one line, exit 1.
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the credentials to standard output: {e}"))
}

/// A refusal's text as a terminal shows it (it comes from the server: `check_session` has
/// escaped its control characters already; this bounds it).
fn printable_refusal(refusal: &str) -> &str {
    match refusal.char_indices().nth(300) {
        Some((cut, _)) => &refusal[..cut],
        None => refusal,
    }
}

/// Why a fetch of credentials failed: what to print, and whether the server refused it.
pub(crate) struct FetchFailure {
    message: String,
    /// The server answered with a refusal of the request (a 4xx but throttling), not a
    /// failure to reach it, a timeout, throttling or an error of its own.
    refused_by_server: bool,
}

impl FetchFailure {
    /// A failure the server did not answer.
    fn local(message: String) -> FetchFailure {
        FetchFailure {
            message,
            refused_by_server: false,
        }
    }
}

impl From<crate::client::ClientError> for FetchFailure {
    /// A refusal is a 4xx the server itself sent (with an `x-amzn-ErrorType`; a proxy's or a
    /// balancer's has none), but throttling and a request timeout.
    fn from(e: crate::client::ClientError) -> FetchFailure {
        let refused_by_server = matches!(&e, crate::client::ClientError::Api { status, error_type, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 429) && error_type != "UnknownError");
        FetchFailure {
            message: e.to_string(),
            refused_by_server,
        }
    }
}

/// How long a fetch may wait for the server's answer: what is `left` of [`REQUEST_TIMEOUT`], or
/// at most [`FALLBACK_FETCH_WAIT`] when cached credentials would be printed should it fail
/// (`fallback`). botocore runs `credential_process` again on every call in its 15-minute
/// refresh window, so a server that does not answer held each API call for the whole timeout.
fn fetch_wait(left: std::time::Duration, fallback: bool) -> std::time::Duration {
    match fallback {
        true => left.min(FALLBACK_FETCH_WAIT),
        false => left,
    }
}

/// The longest wait for a fetch that has cached credentials to fall back on ([`fetch_wait`]).
const FALLBACK_FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a fetch that went to the server gives: its credentials, stored in `slot`; or, when it
/// failed (the server down or refusing), the credentials `slot` still holds for more than a
/// minute, with a warning naming the failure — as the sidecar keeps serving its last. Not
/// when the server has just `refused` those and refuses the fetch too: its refusal is the
/// answer then (a role removed: "Profile … was not found"), where the cached credentials would
/// only fail the caller's next call with an unexplained InvalidClientTokenId. A fetch that did
/// not reach an answer (another replica may still accept them) falls back as ever.
fn stored_or_cached(
    fetched: Result<SessionCredentials, FetchFailure>,
    slot: Option<&CacheSlot>,
    refused: bool,
) -> Result<SessionCredentials, String> {
    match fetched {
        Ok(c) => {
            if let Some(Err(e)) = slot.map(|s| s.store(&c)) {
                print_stderr(&format!("warning: {e}\n"));
            }
            Ok(c)
        }
        Err(FetchFailure {
            message,
            refused_by_server: true,
        }) if refused => Err(message),
        Err(FetchFailure { message: e, .. }) => {
            let cached = slot
                .and_then(|s| s.read_on_failure(OffsetDateTime::now_utc()))
                .ok_or_else(|| e.clone())?;
            print_stderr(&format!(
                "warning: {e}; using the cached credentials, valid until {}\n",
                cached.expiration
            ));
            Ok(cached)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FetchFailure, ProcessOutput, aws_domain, check_arn, fetch_wait, role_account, same_region};

    /// The output carries the role's account as `AccountId` (botocore reads it beside the
    /// credentials, for account-based endpoints), and no `AccountId` when the role ARN has
    /// no account to tell.
    #[test]
    fn the_output_carries_the_roles_account() {
        let credentials = crate::client::SessionCredentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
            secret_access_key: zeroize::Zeroizing::new("s".into()),
            session_token: zeroize::Zeroizing::new("t".into()),
            expiration: "2026-01-01T01:00:00Z".into(),
        };
        let account = role_account("arn:aws:iam::123456789012:role/path/app");
        assert_eq!(
            serde_json::to_string(&ProcessOutput::new(&credentials, account.as_ref())).unwrap(),
            r#"{"Version":1,"AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"s","SessionToken":"t","Expiration":"2026-01-01T01:00:00Z","AccountId":"123456789012"}"#
        );
        assert_eq!(
            serde_json::to_string(&ProcessOutput::new(&credentials, None)).unwrap(),
            r#"{"Version":1,"AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"s","SessionToken":"t","Expiration":"2026-01-01T01:00:00Z"}"#
        );
        assert_eq!(
            role_account("arn:aws-cn:iam::210987654321:role/app").map(|a| a.to_string()),
            Some("210987654321".to_owned())
        );
        for no_account in [
            "arn:aws:iam::role/app",
            "arn:aws:iam::12345:role/app",
            "arn:aws:iam::",
            "app",
        ] {
            assert_eq!(role_account(no_account), None, "{no_account}");
        }
    }

    /// With cached credentials to fall back on, a fetch waits 5 s at most; without, what is
    /// left of the 30 s.
    #[test]
    fn a_fetch_with_a_fallback_waits_less() {
        let s = std::time::Duration::from_secs;
        assert_eq!(fetch_wait(s(30), false), s(30));
        assert_eq!(fetch_wait(s(30), true), s(5));
        assert_eq!(fetch_wait(s(2), true), s(2));
        assert_eq!(fetch_wait(s(2), false), s(2));
    }

    /// Only the server's refusal of a fetch stops a refused cache entry from standing in; a
    /// fetch that got no answer, throttling or a server error leaves it to stand in.
    #[test]
    fn only_a_refusal_by_the_server_is_one() {
        use crate::client::ClientError;
        let api = |status, error_type: &str| ClientError::Api {
            status,
            error_type: error_type.into(),
            message: "m".into(),
        };
        let refused = |e: ClientError| FetchFailure::from(e).refused_by_server;
        let server = |status| api(status, "AccessDeniedException");
        assert!(refused(server(403)) && refused(server(404)) && refused(server(400)));
        assert!(!refused(server(429)) && !refused(server(408)) && !refused(server(500)) && !refused(server(503)));
        // A 4xx without x-amzn-ErrorType comes from something in front of the server.
        assert!(!refused(api(407, "UnknownError")) && !refused(api(404, "UnknownError")));
        let unreachable = ClientError::Transport {
            endpoint: "https://127.0.0.1:1".into(),
            route: String::new(),
            message: "connection refused".into(),
        };
        assert!(!refused(unreachable));
        assert!(!FetchFailure::local("no answer within 30 s".into()).refused_by_server);
    }

    #[test]
    fn arns_are_checked_before_a_request_is_sent() {
        assert_eq!(check_arn("--role-arn", "arn:aws:iam::123456789012:role/app"), Ok(()));
        assert_eq!(
            check_arn("--profile-arn", "notanarn"),
            Err(
                "--profile-arn 'notanarn' is not an ARN: expected arn:partition:service:region:account-id:resource"
                    .to_owned()
            )
        );
        assert!(check_arn("--profile-arn", "arn:aws:rolesanywhere:us-east-1:profile/p").is_err());
        assert!(check_arn("--profile-arn", "ARN:aws:rolesanywhere:us-east-1:1:profile/p").is_err());
    }

    /// A trust anchor ARN that is no ARN is named so, with or without `--region`: not as an
    /// ARN the region cannot be told from.
    #[test]
    fn arns_are_checked_before_the_region_is_derived() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            session: super::SessionArgs,
        }
        let region_of = |extra: &[&str]| {
            let base = [
                "t",
                "--certificate",
                "app.pem",
                "--trust-anchor-arn",
                "dev",
                "--profile-arn",
                "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
                "--role-arn",
                "arn:aws:iam::123456789012:role/app",
            ];
            let flags = Flags::try_parse_from(base.iter().chain(extra)).unwrap();
            flags.session.region()
        };
        let not_an_arn =
            "--trust-anchor-arn 'dev' is not an ARN: expected arn:partition:service:region:account-id:resource";
        assert_eq!(region_of(&[]), Err(not_an_arn.to_owned()));
        assert_eq!(region_of(&["--region", "us-east-1"]), Err(not_an_arn.to_owned()));
    }

    #[test]
    fn trust_anchor_and_profile_must_share_a_region() {
        let anchor = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a";
        assert_eq!(
            same_region(anchor, "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p"),
            Ok(())
        );
        assert_eq!(
            same_region(anchor, "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p"),
            Err("the trust anchor ARN is in region us-east-1 and the profile ARN in eu-west-1; both must be in one region"
                .to_owned())
        );
        // An ARN without a region is the server's to refuse, by name.
        assert_eq!(
            same_region(anchor, "arn:aws:rolesanywhere::123456789012:profile/p"),
            Ok(())
        );
    }

    /// A long-running helper given a PIN in a `pkcs11:` URI is warned that its command line
    /// shows it.
    #[test]
    fn a_pin_in_a_pkcs11_uri_on_the_command_line_is_warned_about() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            session: super::SessionArgs,
        }
        let with = |certificate: &str, key: &str| {
            let flags = Flags::try_parse_from([
                "t",
                "--certificate",
                certificate,
                "--private-key",
                key,
                "--trust-anchor-arn",
                "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a",
                "--profile-arn",
                "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
                "--role-arn",
                "arn:aws:iam::123456789012:role/app",
            ])
            .unwrap();
            flags.session.pin_in_command_line()
        };
        assert_eq!(with("app.pem", "app.key"), None);
        assert_eq!(with("pkcs11:object=app", "pkcs11:object=app;type=private"), None);
        let warned = with("app.pem", "pkcs11:object=app;type=private?pin-value=1234").unwrap();
        assert!(
            warned.starts_with("the pkcs11: URI's pin-value is in this process's command line")
                && !warned.contains("1234"),
            "{warned}"
        );
        assert!(with("pkcs11:object=app?pin-value=1234", "app.key").is_some());
    }

    #[test]
    fn china_regions_have_their_own_domain() {
        assert_eq!(aws_domain("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(aws_domain("cn-northwest-1"), "amazonaws.com.cn");
        assert_eq!(aws_domain("us-east-1"), "amazonaws.com");
        assert_eq!(aws_domain("ca-central-1"), "amazonaws.com");
    }
}
