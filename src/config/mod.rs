//! Configuration: the TOML schema (`schema`), and its validation into an immutable runtime
//! [`Config`] snapshot that the server swaps atomically on reload.
//!
//! Everything that can be checked is checked here, off the request path: ARNs parse, policies
//! parse into typed statements, certificates and CRLs load, token keys decode, durations are in
//! range. A [`ConfigError`] names the file, the key and what is wrong. A reload also compares
//! the new snapshot with the one in force ([`succession`]).
//!
//! The file's text is parsed (`toml_errors`), its sections built into the snapshot
//! (`loader`), what it most likely did not mean is logged (`warnings`), and `admin_subjects`
//! are read as distinguished names (`distinguished_name`). A load records the files it read
//! (`sources`: what the file watch compares), and places each error and warning at its key's
//! line and column (`locate`).

mod distinguished_name;
mod loader;
mod locate;
mod schema;
mod sources;
pub mod succession;
mod toml_errors;
mod warnings;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::arn::{AccountId, RoleArn, RolesAnywhereArn};
use crate::identity::{AttributeMapping, TrustAnchor};
use crate::policy::PolicyDocument;
use crate::session::KeyRing;
use crate::sigv4::ServerNames;

use loader::{Loader, Secrets};
use toml_errors::parse_toml;
use warnings::LoadedFile;

pub(crate) use loader::listens_on_the_same_port;
pub use schema::ConfigFile;
pub use sources::{ChangeWatch, SourceFiles, Verdict};
pub(crate) use toml_errors::plain_type_names;

/// A load that failed, and the files it read until it failed (see [`Config::load_tracked`]).
#[derive(Debug)]
pub struct FailedLoad {
    pub error: ConfigError,
    pub sources: SourceFiles,
}

/// A configuration problem: which file, which key, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key.as_str() {
            // The file as a whole (unreadable, not text).
            "" => write!(f, "{}: {}", self.file.display(), self.message),
            key => write!(f, "{}: {key}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A number no other configuration loaded by this process has.
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The validated configuration. Immutable; replaced as a whole on reload.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    /// Unique to this loaded snapshot. Cached decisions that depend on the configuration put
    /// it in their key, so a request still holding the previous snapshot during a reload
    /// cannot leave an entry the new configuration would hit.
    pub generation: u64,
    pub server: ServerSettings,
    pub keyring: KeyRing,
    /// The file of each token key id, in `[[tokens.keys]]` order (messages name them).
    pub token_key_files: Vec<(String, PathBuf)>,
    /// Keyed by trust anchor ARN.
    pub anchors: HashMap<String, Arc<Anchor>>,
    /// Keyed by profile ARN.
    pub profiles: HashMap<String, Arc<Profile>>,
    /// Keyed by role ARN.
    pub roles: HashMap<String, Arc<Role>>,
    /// Keyed by policy ARN.
    pub managed_policies: HashMap<String, Arc<PolicyDocument>>,
    /// The files this snapshot was read from, with what they held.
    pub sources: SourceFiles,
    /// The warnings its load logged, each as logged (`rolegate.toml: role[0]… : …`); a reload
    /// takes them for its answer.
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub tls: TlsIdentity,
    /// The names a signed request's `host` must be one of.
    pub names: ServerNames,
    /// Whether `names` are the TLS certificate's (no `server.hostnames`).
    pub names_from_certificate: bool,
    pub region: String,
    pub account: AccountId,
    pub max_clock_skew: time::Duration,
    pub max_body_bytes: usize,
    pub admin_subjects: Vec<String>,
    /// ARNs of the trust anchors admin certificates must chain to; empty: any enabled one.
    pub admin_trust_anchors: Vec<String>,
    pub credential_reuse: std::time::Duration,
    pub cache_max_entries: u64,
    pub shutdown_grace: std::time::Duration,
    pub shutdown_delay: std::time::Duration,
    pub max_header_bytes: usize,
    pub request_timeout: std::time::Duration,
    pub max_concurrent_requests: usize,
    pub max_concurrent_requests_per_ip: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub proxy_protocol: bool,
    /// The peers whose PROXY headers are believed (at least one with `proxy_protocol`).
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// Client addresses the per-address request limits do not count.
    pub rate_limit_exempt: Vec<ipnet::IpNet>,
    pub idle_timeout: std::time::Duration,
    /// The prefix length by which the per-address limits count an IPv6 client (32..=128).
    pub per_ip_ipv6_prefix: u8,
    pub rate_limit_per_ip: crate::ratelimit::Rate,
    /// New TLS connections per client address.
    pub rate_limit_connections_per_ip: crate::ratelimit::Rate,
    pub rate_limit_per_client: crate::ratelimit::Rate,
    /// How often to look for changed configuration files; `None`: never.
    pub config_watch: Option<std::time::Duration>,
}

impl ServerSettings {
    /// Whether admin certificates may chain to `anchor`: one of `admin_trust_anchors`, or any
    /// anchor when that lists none (whether it is enabled is the caller's to check).
    pub fn admits_admins_from(&self, anchor: &Anchor) -> bool {
        self.admin_trust_anchors.is_empty() || self.admin_trust_anchors.iter().any(|arn| arn == anchor.arn.as_str())
    }

    /// Whether the names signed requests must be addressed to are unknown: they are the server
    /// certificate's, and a check-only load could not read it. `names` then admits any host.
    pub fn names_unknown(&self) -> bool {
        self.names_from_certificate && self.tls.names_unread
    }
}

/// The server's certificate chain and private key, loaded and checked at config load.
pub struct TlsIdentity {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// notBefore of the leaf, Unix seconds, when it parses as X.509.
    pub not_before: Option<i64>,
    /// notAfter of the leaf, Unix seconds (for `/metrics`), when it parses as X.509.
    pub not_after: Option<i64>,
    /// The DNS names and IP addresses of the leaf's subjectAltName: the names clients verify
    /// the server by.
    pub names: Vec<String>,
    /// A load with stand-ins for the secrets (`explain`, `simulate`) could not read the server
    /// certificate: its names are not known.
    pub names_unread: bool,
}

impl TlsIdentity {
    /// The leaf's DNS names and IP addresses that can name this server (an empty set when
    /// none can).
    pub fn server_names(&self) -> ServerNames {
        let usable = self.names.iter().filter(|n| ServerNames::new([n.as_str()]).is_ok());
        ServerNames::new(usable.map(String::as_str)).unwrap_or(ServerNames::ANY)
    }
}

impl Config {
    /// This configuration with the server certificate of `in_force` (and, when the names of
    /// signed requests are the certificate's, its names): a reload staging a certificate not
    /// valid yet ([`succession::staged_server_certificate`]) applies the rest.
    pub fn keeping_server_certificate_of(mut self, in_force: &Config) -> Config {
        self.server.tls = in_force.server.tls.clone();
        if self.server.names_from_certificate {
            self.server.names = match self.server.tls.server_names() {
                names if names.is_empty() => ServerNames::ANY,
                names => names,
            };
        }
        self
    }
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            not_before: self.not_before,
            not_after: self.not_after,
            names: self.names.clone(),
            names_unread: self.names_unread,
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug)]
pub struct Anchor {
    pub id: String,
    pub arn: RolesAnywhereArn,
    pub enabled: bool,
    pub trust: TrustAnchor,
    /// The position of its `[[trust_anchor]]` section, for messages that name its keys.
    pub section: usize,
    /// The files of `trust.crls()`, in the same order.
    pub crl_files: Vec<PathBuf>,
}

impl Anchor {
    /// A CRL of this anchor that refuses the certificates it covers at `now` (Unix seconds):
    /// one past its nextUpdate, the anchor enabled and refusing stale CRLs.
    pub fn refusing_stale_crl(&self, now: i64) -> Option<&crate::identity::CrlInfo> {
        if !self.enabled || self.trust.stale_crls() != crate::identity::StaleCrls::Refuse {
            return None;
        }
        self.trust
            .crls()
            .iter()
            .find(|crl| crl.next_update.is_some_and(|next| next <= now))
    }
}

#[derive(Debug)]
pub struct Profile {
    pub id: String,
    pub arn: RolesAnywhereArn,
    pub role_arns: Vec<String>,
    pub duration_seconds: u32,
    pub accept_role_session_name: bool,
    pub require_instance_properties: bool,
    /// The profile's inline session policy, parsed; its source text goes into issued tokens.
    pub session_policy: Option<Arc<PolicyDocument>>,
    pub managed_policy_arns: Vec<String>,
    /// Which certificate attributes become principal tags of its sessions.
    pub attribute_mapping: AttributeMapping,
    pub enabled: bool,
}

#[derive(Debug)]
pub struct Role {
    pub arn: RoleArn,
    /// `AROA…` id, stable per role ARN.
    pub role_id: String,
    pub max_session_duration: u32,
    pub trust_policy: PolicyDocument,
    /// Whether the trust policy decides a CreateSession alike for every request of one trust
    /// anchor, profile and certificate (it reads no key that changes per request), so that
    /// the broker may keep the decision ([`crate::broker::trust_decided_per_certificate`]).
    pub trust_decided_per_certificate: bool,
    pub permission_policies: Vec<PolicyDocument>,
    /// Sessions issued before this instant (unix seconds) are refused.
    pub revoke_sessions_issued_before: Option<i64>,
    /// The position of its `[[role]]` section, for messages that name its keys.
    pub section: usize,
}

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_tracked(path).map_err(|failed| failed.error)
    }

    /// [`Config::load`] for the offline tools (`explain`, `simulate`), which decide from the
    /// trust anchors, profiles, roles and policies alone: the secret files (`server.tls_key`,
    /// the token keys) and the server certificate are not read, and stand-ins generated here
    /// take their place, so a CI job without the secrets can test a configuration change. Every
    /// other file is read and checked as `serve` does.
    pub fn load_offline(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, Secrets::StandIns).map_err(|failed| failed.error)
    }

    /// [`Config::load`] for `check-config`: run as root, it takes a secret file readable by a
    /// group it is not in for one of the daemon's it checks for (the systemd unit's dynamic
    /// user reads them through its group), instead of warning of it.
    pub fn load_to_check(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, Secrets::ReadToCheck).map_err(|failed| failed.error)
    }

    /// Like [`Config::load`]; a failure also names the files read until then, the one that
    /// failed included, so the file watch can tell when trying again is worth it.
    pub fn load_tracked(path: &Path) -> Result<Config, FailedLoad> {
        Self::load_with(path, Secrets::Read)
    }

    fn load_with(path: &Path, secrets: Secrets) -> Result<Config, FailedLoad> {
        let mut sources = SourceFiles::default();
        let cannot_read = |message: String, sources: SourceFiles| FailedLoad {
            error: ConfigError {
                file: path.to_owned(),
                key: String::new(),
                message,
            },
            sources,
        };
        let bytes = match crate::fsutil::read_bounded(path, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) => {
                sources.record_unreadable(path);
                return Err(cannot_read(format!("cannot read the configuration file: {e}"), sources));
            }
        };
        sources.record(path, &bytes);
        match String::from_utf8(bytes) {
            Ok(text) => Self::build(&text, path, sources, secrets),
            Err(_) => Err(cannot_read("the configuration file is not UTF-8 text".into(), sources)),
        }
    }

    /// Parses and validates `text`, read from `path` as recorded in `sources`.
    fn build(text: &str, path: &Path, sources: SourceFiles, secrets: Secrets) -> Result<Config, FailedLoad> {
        let file: ConfigFile = match parse_toml(text) {
            Ok(file) => file,
            Err((key, message)) => {
                let error = ConfigError {
                    file: path.to_owned(),
                    key,
                    message,
                };
                return Err(FailedLoad { error, sources });
            }
        };
        let warnings = RefCell::new(Vec::new());
        let loader = Loader {
            secrets,
            path,
            file: LoadedFile {
                path,
                text,
                warnings: &warnings,
            },
            dir: path.parent().unwrap_or(Path::new(".")),
            sources: RefCell::new(sources),
            now: OffsetDateTime::now_utc(),
        };
        let built = loader.build(file);
        let sources = loader.sources.into_inner();
        if built.is_ok() {
            warnings::warn_of_files_writable_by_others(&loader.file, sources.paths());
        }
        match built {
            Ok(config) => Ok(Config {
                sources,
                warnings: warnings.into_inner(),
                ..config
            }),
            Err(mut error) => {
                error.key = locate::with_place(text, &error.key);
                Err(FailedLoad { error, sources })
            }
        }
    }

    pub fn anchor(&self, arn: &str) -> Option<&Arc<Anchor>> {
        self.anchors.get(arn)
    }

    pub fn profile(&self, arn: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(arn)
    }

    pub fn role(&self, arn: &str) -> Option<&Arc<Role>> {
        self.roles.get(arn)
    }

    /// A one-screen summary for `check-config`.
    pub fn summary(&self) -> String {
        self.summary_listening_on(self.server.listen, self.server.metrics_listen)
    }

    /// [`Config::summary`] for a daemon listening on `listen` and `metrics_listen` (the
    /// configured addresses, or the command line's overrides).
    pub fn summary_listening_on(&self, listen: SocketAddr, metrics_listen: Option<SocketAddr>) -> String {
        let mut out = format!(
            "listen {} (region {}, account {}), metrics {}\n",
            listen,
            self.server.region,
            self.server.account,
            metrics_listen.map_or_else(|| "off".to_owned(), |a| a.to_string())
        );
        if self.server.names_unknown() {
            out += "signed requests addressed to the server certificate's names (not read: the certificate is not available to this check)\n";
        } else {
            out += &format!("signed requests addressed to {}\n", self.server.names.describe());
        }
        if let Some(every) = self.server.config_watch {
            out += &format!(
                "reloads when one of its {} files changes (looked at every {} s)\n",
                self.sources.paths().count(),
                every.as_secs()
            );
        }
        if self.server.proxy_protocol {
            let from = listed(&self.server.proxy_protocol_from);
            out += &format!("PROXY protocol header required on every connection, believed from {from}\n");
        }
        if !self.server.rate_limit_exempt.is_empty() {
            let exempt = listed(&self.server.rate_limit_exempt);
            out += &format!("per-address request limits not applied to {exempt}\n");
        }
        if !self.server.admin_subjects.is_empty() {
            let from = match self.server.admin_trust_anchors.as_slice() {
                [] => "any enabled trust anchor".to_owned(),
                arns => arns.join(", "),
            };
            out += &format!("Admin API: {} from {from}\n", self.server.admin_subjects.join("; "));
        }
        // With each key's check value, which replicas compare (as `admin status` shows them).
        let keys: Vec<String> = self
            .keyring
            .check_values()
            .into_iter()
            .map(|(id, check)| format!("{id} (check value {check})"))
            .collect();
        out += &format!(
            "token keys: {} (active {})\n",
            keys.join(", "),
            self.keyring.active_id()
        );
        let mut anchors: Vec<_> = self.anchors.values().collect();
        anchors.sort_by(|a, b| a.id.cmp(&b.id));
        for a in anchors {
            out += &format!(
                "trust anchor {} ({}): {}{}\n",
                a.arn,
                if a.enabled { "enabled" } else { "disabled" },
                counted(a.trust.certificates().len(), "CA certificate", "CA certificates"),
                a.trust
                    .certificates()
                    .iter()
                    .map(|c| format!(
                        ", {} expires {}{}",
                        c.subject,
                        crate::session::format_expiration(c.not_after),
                        c.revoked_by
                            .as_ref()
                            .map_or_else(String::new, |issuer| format!(" (revoked by the CRL of {issuer})"))
                    ))
                    .collect::<String>()
            );
            for crl in a.trust.crls() {
                let next_update = crl.next_update.map_or_else(
                    || "no nextUpdate".to_owned(),
                    |t| format!("next update {}", crate::session::format_expiration(t)),
                );
                out += &format!(
                    "  CRL of {}: {next_update} ({})\n",
                    crl.issuer,
                    a.trust.stale_crls().when_stale()
                );
            }
        }
        let mut profiles: Vec<_> = self.profiles.values().collect();
        profiles.sort_by(|a, b| a.id.cmp(&b.id));
        for p in profiles {
            out += &format!(
                "profile {} ({}): roles [{}], default duration {} s, attribute mappings: {}\n",
                p.arn,
                if p.enabled { "enabled" } else { "disabled" },
                p.role_arns.join(", "),
                p.duration_seconds,
                p.attribute_mapping
            );
        }
        let mut roles: Vec<_> = self.roles.values().collect();
        roles.sort_by(|a, b| a.arn.as_str().cmp(b.arn.as_str()));
        for r in roles {
            // Whether CreateSession keeps the trust policy's allow per certificate, or must
            // evaluate it on every request (a performance note for the operator).
            let per_request = crate::broker::per_request_trust_keys(&r.trust_policy);
            let trust_kept = match per_request.is_empty() {
                true => String::new(),
                false => format!(
                    "; CreateSession evaluates its trust policy every time (it reads {})",
                    per_request.join(", ")
                ),
            };
            out += &format!(
                "role {} ({}): max session {} s, {}, {}{trust_kept}\n",
                r.arn,
                r.role_id,
                r.max_session_duration,
                counted(r.trust_policy.statements().len(), "trust statement", "trust statements"),
                counted(r.permission_policies.len(), "permission policy", "permission policies")
            );
        }
        out += &format!("managed policies: {}\n", self.managed_policies.len());
        out
    }
}

/// `n` and the noun in its number: "1 CA certificate", "2 CA certificates".
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Address ranges as a summary lists them: `10.0.0.0/8, ::/0`.
fn listed(networks: &[ipnet::IpNet]) -> String {
    networks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
