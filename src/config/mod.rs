//! Configuration: the TOML schema (`schema`), and its validation into an immutable runtime
//! [`Config`] snapshot that the server swaps atomically on reload.
//!
//! Everything that can be checked is checked here, off the request path: ARNs parse, policies
//! parse into typed statements, certificates and CRLs load, token keys decode, durations are in
//! range. A [`ConfigError`] names the file, the key and what is wrong. A reload also compares
//! the new snapshot with the one in force ([`succession`]).

mod locate;
mod schema;
mod sources;
pub mod succession;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::arn::{AccountId, PolicyArn, RoleArn, RolesAnywhereArn, RolesAnywhereKind};
use crate::identity::{AnchorError, AttributeMapping, CertificateField, StaleCrls, TrustAnchor};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::session::{KeyRing, KeyRingError, TokenKey};
use crate::sigv4::ServerNames;

pub use schema::ConfigFile;
pub use sources::{ChangeWatch, SourceFiles, Verdict};

/// The most any slot count (requests or connections at once, in all or per address) may be.
const MAX_SLOTS: usize = 1 << 20;
/// The most `max_body_bytes` and `max_header_bytes` may be: the largest API request is a few
/// kilobytes.
const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The most entries each cache may hold.
const MAX_CACHE_ENTRIES: u64 = 100_000_000;

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
    /// The peers whose PROXY headers are believed; empty: every peer's.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
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
        let loader = Loader {
            secrets,
            path,
            file: LoadedFile { path, text },
            dir: path.parent().unwrap_or(Path::new(".")),
            sources: RefCell::new(sources),
            now: OffsetDateTime::now_utc(),
        };
        let built = loader.build(file);
        let sources = loader.sources.into_inner();
        match built {
            Ok(config) => Ok(Config { sources, ..config }),
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
        out += &format!("signed requests addressed to {}\n", self.server.names.describe());
        if let Some(every) = self.server.config_watch {
            out += &format!(
                "reloads when one of its {} files changes (looked at every {} s)\n",
                self.sources.paths().count(),
                every.as_secs()
            );
        }
        if self.server.proxy_protocol {
            let from = match self.server.proxy_protocol_from.as_slice() {
                [] => "any peer".to_owned(),
                balancers => balancers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            };
            out += &format!("PROXY protocol header required on every connection, believed from {from}\n");
        }
        if !self.server.admin_subjects.is_empty() {
            let from = match self.server.admin_trust_anchors.as_slice() {
                [] => "any enabled trust anchor".to_owned(),
                arns => arns.join(", "),
            };
            out += &format!("Admin API: {} from {from}\n", self.server.admin_subjects.join("; "));
        }
        out += &format!(
            "token keys: {} (active {})\n",
            self.keyring.key_ids().join(", "),
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

/// The key of `[tokens]` a key ring error is about: `active`, or the id of the key it names
/// (the later of two with one id).
fn keyring_key(t: &schema::TokensSection, error: &KeyRingError) -> String {
    let id = match error {
        KeyRingError::ActiveKeyMissing(_) => return "tokens.active".to_owned(),
        KeyRingError::BadKeyId(id) | KeyRingError::DuplicateKeyId(id) | KeyRingError::Unusable(id) => id,
        KeyRingError::KeyNotBase64 | KeyRingError::KeyLength { .. } => return "tokens".to_owned(),
    };
    match t.keys.iter().rposition(|k| k.id == *id) {
        Some(j) => format!("tokens.keys[{j}].id"),
        None => "tokens".to_owned(),
    }
}

/// Parses the configuration file; on a syntax or schema error, where it is (the key path
/// when the document parsed, and the line and column) and toml's message.
fn parse_toml(text: &str) -> Result<ConfigFile, (String, String)> {
    let error = match toml::Deserializer::parse(text) {
        Ok(document) => match serde_path_to_error::deserialize(document) {
            Ok(file) => return Ok(file),
            Err(e) => {
                let key = e.path().to_string();
                let key = if key == "." { None } else { Some(key) };
                (key, e.into_inner())
            }
        },
        Err(e) => (None, e),
    };
    let (key, e) = error;
    // A syntax error names no key: the key path of the line it is on, where the text tells
    // it (`server.account_id` for `account_id = 123-456` under `[server]`), else none.
    let key = key.or_else(|| e.span().and_then(|span| locate::key_at(text, span.start)));
    let at = e.span().map(|span| line_and_column(text, span.start));
    let message = match (e.message(), &key, e.span()) {
        ("duplicate key", Some(key), Some(span)) => duplicate_key(text, key, span.start),
        (message, ..) => plain_type_names(message),
    };
    let key = match (key, at) {
        (Some(key), Some(at)) => format!("{key} ({at})"),
        (Some(key), None) => key,
        (None, Some(at)) => at,
        (None, None) => "(document)".to_owned(),
    };
    Err((key, message))
}

/// toml's "duplicate key" at byte `offset`, saying where `key` was first given (read from the
/// lines before the second) — an inline `keys = [...]` followed by `[[tokens.keys]]` tables is
/// the common case: two definitions of one key.
fn duplicate_key(text: &str, key: &str, offset: usize) -> String {
    let before = text
        .get(..offset)
        .map_or("", |b| b.rfind('\n').map_or("", |end| &b[..=end]));
    let Some(first) = locate::defined_at(before, key) else {
        return "duplicate key".to_owned();
    };
    let line = text.get(before.len()..).unwrap_or("").trim_start();
    let hint = match line.starts_with("[[") {
        true => format!("a `[[{key}]]` table cannot follow `{key} = [...]`: write every entry in one of the two forms"),
        false => "give each key once".to_owned(),
    };
    format!(
        "duplicate key: {key} is already given at {}; {hint}",
        line_and_column(text, first)
    )
}

/// `line L, column C` (1-based, columns in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}")
}

/// serde names Rust types in its messages ("expected u32", "expected f64"); a file's or a
/// request's author wrote TOML or JSON. (A `bool` is already "a boolean".)
pub(crate) fn plain_type_names(message: &str) -> String {
    let mut message = message.to_owned();
    for rust in ["u8", "u16", "u32", "u64", "u128", "usize"] {
        message = message.replace(&format!("expected {rust}"), "expected an integer of 0 or more");
    }
    for rust in ["i8", "i16", "i32", "i64", "i128", "isize"] {
        message = message.replace(&format!("expected {rust}"), "expected an integer");
    }
    for rust in ["f32", "f64"] {
        message = message.replace(&format!("expected {rust}"), "expected a number");
    }
    message
}

/// Logs a load warning about `key` of the file being loaded ([`LoadedFile`]), placed as a
/// [`ConfigError`] is (`rolegate.toml: role[0].arn (line 5, column 7): …`), with `key` as a
/// field too; further fields go in the brackets, each followed by a comma.
macro_rules! warn_at {
    ($file:expr, $key:expr, [$($field:tt)*], $($message:tt)+) => {{
        let key: &str = &$key;
        tracing::warn!(key, $($field)* "{}: {}", $file.place(key), format_args!($($message)+))
    }};
    ($file:expr, $key:expr, $($message:tt)+) => {
        warn_at!($file, $key, [], $($message)+)
    };
}

/// The configuration file being loaded, its path and text, for the place a warning names.
#[derive(Clone, Copy)]
struct LoadedFile<'a> {
    path: &'a Path,
    text: &'a str,
}

impl LoadedFile<'_> {
    /// `key` as an error names it: the file, the key and, where the file has it, its line and
    /// column (`rolegate.toml: role[0].arn (line 5, column 7)`).
    fn place(&self, key: &str) -> String {
        format!("{}: {}", self.path.display(), locate::with_place(self.text, key))
    }
}

/// Whether a load reads the secret files or stands in for them ([`Config::load_offline`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Read,
    StandIns,
}

struct Loader<'a> {
    secrets: Secrets,
    path: &'a Path,
    /// The file as read, for the place of a warning.
    file: LoadedFile<'a>,
    dir: &'a Path,
    /// Every file read so far, for [`Config::sources`].
    sources: RefCell<SourceFiles>,
    /// The time the load judges certificates, CRLs and revocation cutoffs by: read once, so
    /// every warning of one load speaks of one moment.
    now: OffsetDateTime,
}

impl Loader<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// `value` of `key` when it lies in `range`; else an error naming the range.
    fn within<T: PartialOrd + std::fmt::Display>(
        &self,
        key: &str,
        value: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        if range.contains(&value) {
            return Ok(value);
        }
        Err(self.err(
            key,
            format!(
                "{value} is out of range: must be between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.dir.join(p)
        }
    }

    fn read(&self, key: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let full = self.resolve(p);
        match crate::fsutil::read_bounded(&full, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
            Ok(bytes) => {
                self.sources.borrow_mut().record(&full, &bytes);
                Ok(bytes)
            }
            Err(e) => {
                self.sources.borrow_mut().record_unreadable(&full);
                Err(self.err(key, format!("cannot read {}: {e}", full.display())))
            }
        }
    }

    /// Secret files (token keys, TLS key) should be readable by the owner only.
    fn read_secret(&self, key: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let bytes = self.read(key, p)?;
        warn_if_shared(&self.file, key, &self.resolve(p));
        Ok(bytes)
    }

    /// The configuration of `f`; its `sources` are filled in by the caller.
    fn build(&self, f: ConfigFile) -> Result<Config, ConfigError> {
        let server = self.server(&f.server)?;
        let keyring = self.keyring(&f.tokens)?;
        let managed_policies = self.managed_policies(&f.managed_policy)?;
        let roles = self.roles(&f.role)?;
        let file = &self.file;
        warn_of_roles_in_other_accounts(file, &f.role, &server.account);
        warn_of_trust_keys_never_set(file, &f.role, &roles);
        warn_of_unconditioned_wildcard_trust(file, &f.role, &roles);
        warn_of_revocation_cutoffs_ahead(file, &f.role, &roles, self.now.unix_timestamp());
        let anchors = self.anchors(&f.trust_anchor, &server)?;
        warn_of_crls_listed_elsewhere(file, &anchors);
        self.check_admin_anchors(&f.server, &server, &anchors)?;
        let profiles = self.profiles(&f.profile, &server, &roles, &managed_policies)?;
        warn_of_roles_roles_anywhere_cannot_assume(file, &f.profile, &f.role, &roles);
        warn_of_principal_tags_mapped_out(file, &f.profile, &profiles, &roles);
        warn_of_session_keys_never_set(file, &f, &roles, &managed_policies, &profiles);
        Ok(Config {
            path: self.path.to_owned(),
            generation: next_generation(),
            server,
            keyring,
            token_key_files: f.tokens.keys.iter().map(|k| (k.id.clone(), k.file.clone())).collect(),
            anchors,
            profiles,
            roles,
            managed_policies,
            sources: SourceFiles::default(),
        })
    }

    fn server(&self, s: &schema::ServerSection) -> Result<ServerSettings, ConfigError> {
        let (listen, metrics_listen) = self.listeners(s)?;
        let account = AccountId::parse(&s.account_id).map_err(|_| {
            self.err(
                "server.account_id",
                format!("'{}' is not a 12-digit account id", s.account_id),
            )
        })?;
        if !is_region(&s.region) {
            return Err(self.err(
                "server.region",
                format!("'{}' is not a region name like us-east-1", s.region),
            ));
        }
        self.check_bounds(s)?;
        let proxy_protocol_from = self.proxy_protocol_from(s)?;
        let rate = |key: &str, per_second: f64, burst: u32| {
            crate::ratelimit::Rate::new(per_second, burst).map_err(|e| match e {
                crate::ratelimit::RateError::ZeroBurst => self.err(format!("{key}_burst"), e.to_string()),
                crate::ratelimit::RateError::BadRate => self.err(key, e.to_string()),
            })
        };
        let rate_limit_per_ip = rate(
            "server.rate_limit_per_ip",
            s.rate_limit_per_ip,
            s.rate_limit_per_ip_burst,
        )?;
        let rate_limit_connections_per_ip = rate(
            "server.rate_limit_connections_per_ip",
            s.rate_limit_connections_per_ip,
            s.rate_limit_connections_per_ip_burst,
        )?;
        let rate_limit_per_client = rate(
            "server.rate_limit_per_client",
            s.rate_limit_per_client,
            s.rate_limit_per_client_burst,
        )?;
        let tls = self.tls(&s.tls_cert, &s.tls_key)?;
        let names = self.server_names(s, &tls)?;
        let names_from_certificate = s.hostnames.is_empty();
        self.check_admin_subjects(s)?;
        let admin_trust_anchors = s
            .admin_trust_anchors
            .iter()
            .map(|id| RolesAnywhereArn::build(RolesAnywhereKind::TrustAnchor, &s.region, &account, id).to_string())
            .collect();
        Ok(ServerSettings {
            listen,
            metrics_listen,
            tls,
            names,
            names_from_certificate,
            region: s.region.clone(),
            account,
            // Within 1..=3600 (check_bounds).
            max_clock_skew: time::Duration::seconds(i64::try_from(s.max_clock_skew_seconds).unwrap_or(3600)),
            max_body_bytes: s.max_body_bytes,
            admin_subjects: s.admin_subjects.iter().map(|s| subject_as_logged(s)).collect(),
            admin_trust_anchors,
            credential_reuse: std::time::Duration::from_secs(s.credential_reuse_seconds),
            cache_max_entries: s.cache_max_entries,
            shutdown_grace: std::time::Duration::from_secs(s.shutdown_grace_seconds),
            shutdown_delay: std::time::Duration::from_secs(s.shutdown_delay_seconds),
            max_header_bytes: s.max_header_bytes,
            request_timeout: std::time::Duration::from_secs(s.request_timeout_seconds),
            max_concurrent_requests: s.max_concurrent_requests,
            max_concurrent_requests_per_ip: s.max_concurrent_requests_per_ip,
            max_connections: s.max_connections,
            max_connections_per_ip: s.max_connections_per_ip,
            proxy_protocol: s.proxy_protocol,
            proxy_protocol_from,
            idle_timeout: std::time::Duration::from_secs(s.idle_timeout_seconds),
            // Within 32..=128 (check_bounds).
            per_ip_ipv6_prefix: u8::try_from(s.per_ip_ipv6_prefix).unwrap_or(128),
            rate_limit_per_ip,
            rate_limit_connections_per_ip,
            rate_limit_per_client,
            config_watch: (s.config_watch_seconds > 0).then(|| std::time::Duration::from_secs(s.config_watch_seconds)),
        })
    }

    /// The names a signed request's `host` must be one of: `server.hostnames`, or else the
    /// server certificate's DNS names and IP addresses (clients verify it by them); any name
    /// when the certificate names none, with a warning.
    fn server_names(&self, s: &schema::ServerSection, tls: &TlsIdentity) -> Result<ServerNames, ConfigError> {
        if !s.hostnames.is_empty() {
            return ServerNames::new(s.hostnames.iter().map(String::as_str)).map_err(|bad| {
                let i = s.hostnames.iter().position(|h| *h == bad).unwrap_or(0);
                self.err(
                    format!("server.hostnames[{i}]"),
                    format!("'{bad}' is not a DNS name (`*.` for one label), an IP address or `*` (any name)"),
                )
            });
        }
        let names = tls.server_names();
        if names.is_empty() {
            warn_at!(
                self.file,
                "server.tls_cert",
                "the server certificate names no DNS name or IP address (subjectAltName): signed requests are \
                 taken whatever host they are signed for; list this server's names in server.hostnames"
            );
            return Ok(ServerNames::ANY);
        }
        Ok(names)
    }

    /// The API listener's address and the operations listener's, on ports of their own.
    fn listeners(&self, s: &schema::ServerSection) -> Result<(SocketAddr, Option<SocketAddr>), ConfigError> {
        let listen = s.listen.parse().map_err(|_| {
            self.err(
                "server.listen",
                format!("'{}' is not an address like 127.0.0.1:8443", s.listen),
            )
        })?;
        let metrics_listen = if s.metrics_listen.is_empty() {
            None
        } else {
            Some(s.metrics_listen.parse().map_err(|_| {
                self.err(
                    "server.metrics_listen",
                    format!("'{}' is not an address like 127.0.0.1:9464", s.metrics_listen),
                )
            })?)
        };
        if let Some(metrics) = metrics_listen
            && listens_on_the_same_port(metrics, listen)
        {
            return Err(self.err(
                "server.metrics_listen",
                format!("{metrics} is also server.listen's port: give the metrics listener a port of its own"),
            ));
        }
        Ok((listen, metrics_listen))
    }

    /// Every number has an upper bound too: a value no deployment means (a timeout of
    /// centuries, a billion connection slots) is a typo, and some would overflow a clock or
    /// exceed what the semaphores and caches accept.
    fn check_bounds(&self, s: &schema::ServerSection) -> Result<(), ConfigError> {
        self.within("server.max_clock_skew_seconds", s.max_clock_skew_seconds, 1..=3600)?;
        self.within("server.max_body_bytes", s.max_body_bytes, 1024..=MAX_MESSAGE_BYTES)?;
        self.within("server.max_header_bytes", s.max_header_bytes, 8192..=MAX_MESSAGE_BYTES)?;
        self.within("server.request_timeout_seconds", s.request_timeout_seconds, 1..=3600)?;
        self.within("server.idle_timeout_seconds", s.idle_timeout_seconds, 1..=86_400)?;
        self.within("server.shutdown_grace_seconds", s.shutdown_grace_seconds, 0..=3600)?;
        self.within("server.shutdown_delay_seconds", s.shutdown_delay_seconds, 0..=300)?;
        self.within("server.credential_reuse_seconds", s.credential_reuse_seconds, 0..=3600)?;
        self.within("server.config_watch_seconds", s.config_watch_seconds, 0..=3600)?;
        self.within("server.cache_max_entries", s.cache_max_entries, 1..=MAX_CACHE_ENTRIES)?;
        self.within(
            "server.max_concurrent_requests",
            s.max_concurrent_requests,
            1..=MAX_SLOTS,
        )?;
        self.within(
            "server.max_concurrent_requests_per_ip",
            s.max_concurrent_requests_per_ip,
            0..=MAX_SLOTS,
        )?;
        self.within("server.max_connections", s.max_connections, 1..=MAX_SLOTS)?;
        self.within("server.max_connections_per_ip", s.max_connections_per_ip, 0..=MAX_SLOTS)?;
        self.within("server.per_ip_ipv6_prefix", s.per_ip_ipv6_prefix, 32..=128)?;
        Ok(())
    }

    /// The load balancers whose PROXY protocol headers are believed: listed only with
    /// `proxy_protocol` on, and an unlisted `proxy_protocol` is worth a warning.
    fn proxy_protocol_from(&self, s: &schema::ServerSection) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let from = s
            .proxy_protocol_from
            .iter()
            .map(|text| parse_network(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err("server.proxy_protocol_from", e))?;
        if !from.is_empty() && !s.proxy_protocol {
            return Err(self.err(
                "server.proxy_protocol_from",
                "names load balancers but proxy_protocol is false; set proxy_protocol = true",
            ));
        }
        if s.proxy_protocol && from.is_empty() {
            warn_at!(
                self.file,
                "server.proxy_protocol_from",
                "PROXY protocol headers are believed from any peer: a client that reaches the listener directly can claim any address (aws:SourceIp, per-address limits); list the load balancers"
            );
        }
        Ok(from)
    }

    /// Each `admin_subjects` entry is written as a distinguished name, its attributes separated
    /// by `,`, each a type and a value: the checks in order, the first entry failing one named.
    fn check_admin_subjects(&self, s: &schema::ServerSection) -> Result<(), ConfigError> {
        let subjects: Vec<String> = s.admin_subjects.iter().map(|s| subject_as_logged(s)).collect();
        let checks: [fn(&str) -> Option<String>; 3] = [not_a_distinguished_name, bare_semicolon, malformed_attribute];
        for check in checks {
            if let Some((i, problem)) = subjects.iter().enumerate().find_map(|(i, s)| Some((i, check(s)?))) {
                return Err(self.err(format!("server.admin_subjects[{i}]"), problem));
            }
        }
        Ok(())
    }

    fn tls(&self, cert: &Path, key: &Path) -> Result<TlsIdentity, ConfigError> {
        if self.secrets == Secrets::StandIns {
            return self.stand_in_tls(cert);
        }
        let cert_pem = self.read("server.tls_cert", cert)?;
        let cert_chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err("server.tls_cert", format!("not a PEM certificate chain: {e}")))?;
        if cert_chain.is_empty() {
            return Err(self.err("server.tls_cert", "no CERTIFICATE block found"));
        }
        let key_pem = zeroize::Zeroizing::new(self.read_secret("server.tls_key", key)?);
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            self.err(
                "server.tls_key",
                format!("not a PEM private key (PKCS#8, SEC1 or PKCS#1): {e}"),
            )
        })?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| self.err("server.tls_key", format!("unsupported private key: {e}")))?;
        let certified = rustls::sign::CertifiedKey::new(cert_chain.clone(), signing);
        certified.keys_match().map_err(|e| {
            let message = match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "the key is not the private key of server.tls_cert (its first certificate is the server's)"
                        .to_owned()
                }
                other => format!("the key does not match server.tls_cert: {other}"),
            };
            self.err("server.tls_key", message)
        })?;
        let leaf = x509_parser::parse_x509_certificate(&cert_chain[0])
            .ok()
            .map(|(_, leaf)| leaf);
        let now = self.now.unix_timestamp();
        if let Some(problem) = leaf.as_ref().and_then(|leaf| server_certificate_problem(leaf, now)) {
            warn_at!(
                self.file,
                "server.tls_cert",
                "TLS clients will refuse this server certificate: {problem}"
            );
        }
        let names = leaf.as_ref().map(Self::certificate_names).unwrap_or_default();
        let validity = leaf.map(|leaf| leaf.validity().clone());
        Ok(TlsIdentity {
            cert_chain,
            key,
            not_before: validity.as_ref().map(|v| v.not_before.timestamp()),
            not_after: validity.as_ref().map(|v| v.not_after.timestamp()),
            names,
        })
    }

    /// The DNS names and IP addresses of a certificate's subjectAltName.
    fn certificate_names(leaf: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        let Ok(Some(san)) = leaf.subject_alternative_name() else {
            return Vec::new();
        };
        san.value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match (<[u8; 4]>::try_from(*bytes), <[u8; 16]>::try_from(*bytes)) {
                    (Ok(v4), _) => Some(std::net::Ipv4Addr::from(v4).to_string()),
                    (_, Ok(v6)) => Some(std::net::Ipv6Addr::from(v6).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// A self-signed certificate and key in place of the server's (offline loads only), with
    /// the names of the server's certificate `cert` when it can be read (it is no secret): the
    /// names signed requests are checked against.
    fn stand_in_tls(&self, cert: &Path) -> Result<TlsIdentity, ConfigError> {
        let names = std::fs::read(self.resolve(cert))
            .ok()
            .and_then(|pem| CertificateDer::pem_slice_iter(&pem).next()?.ok())
            .and_then(|der| {
                let (_, leaf) = x509_parser::parse_x509_certificate(&der).ok()?;
                Some(Self::certificate_names(&leaf))
            })
            .unwrap_or_else(|| vec!["localhost".to_owned()]);
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(|e| self.err("server.tls_cert", format!("cannot make a stand-in certificate: {e}")))?;
        Ok(TlsIdentity {
            cert_chain: vec![made.cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into()),
            not_before: None,
            not_after: None,
            names,
        })
    }

    fn keyring(&self, t: &schema::TokensSection) -> Result<KeyRing, ConfigError> {
        if self.secrets == Secrets::StandIns {
            // Fresh keys under the configured ids: the ring's rules (the active key listed,
            // ids unique) still hold or fail as at serve time.
            let stand_ins = t.keys.iter().map(|k| (k.id.clone(), TokenKey::generate())).collect();
            return KeyRing::new(&t.active, stand_ins).map_err(|e| self.err(keyring_key(t, &e), e.to_string()));
        }
        let mut keys = Vec::with_capacity(t.keys.len());
        for (i, k) in t.keys.iter().enumerate() {
            let key = format!("tokens.keys[{i}].file");
            if k.file.to_str().is_some_and(|text| TokenKey::from_base64(text).is_ok()) {
                return Err(self.err(
                    &key,
                    "this is a token key itself, not the path of a file holding one (not shown): \
                     write it to a file readable by rolegate only (or make a new one with \
                     `rolegate keys generate --out FILE`) and give that file's path",
                ));
            }
            // Wiped when dropped, as the key decoded from it is.
            let bytes = zeroize::Zeroizing::new(self.read_secret(&key, &k.file)?);
            let text = std::str::from_utf8(&bytes).map_err(|_| self.err(&key, "token key file is not base64 text"))?;
            let parsed = TokenKey::from_base64(text).map_err(|e| self.err(&key, e.to_string()))?;
            keys.push((k.id.clone(), parsed));
        }
        KeyRing::new(&t.active, keys).map_err(|e| self.err(keyring_key(t, &e), e.to_string()))
    }

    fn managed_policies(
        &self,
        sections: &[schema::ManagedPolicySection],
    ) -> Result<HashMap<String, Arc<PolicyDocument>>, ConfigError> {
        let mut out = HashMap::new();
        for (i, m) in sections.iter().enumerate() {
            let arn =
                PolicyArn::parse(&m.arn).map_err(|e| self.err(format!("managed_policy[{i}].arn"), e.to_string()))?;
            let doc = PolicyDocument::parse(&m.document, PolicyKind::Identity)
                .map_err(|e| self.err(format!("managed_policy[{i}].document"), e.to_string()))?;
            if out.insert(arn.as_str().to_owned(), Arc::new(doc)).is_some() {
                return Err(self.err(
                    format!("managed_policy[{i}].arn"),
                    format!("duplicate managed policy {arn}"),
                ));
            }
        }
        Ok(out)
    }

    fn roles(&self, sections: &[schema::RoleSection]) -> Result<HashMap<String, Arc<Role>>, ConfigError> {
        let mut out: HashMap<String, Arc<Role>> = HashMap::new();
        // (partition, account, lowercased name) → the ARN that has it.
        let mut names: HashMap<(String, String, String), String> = HashMap::new();
        for (i, r) in sections.iter().enumerate() {
            let at = |k: &str| format!("role[{i}].{k}");
            let arn = RoleArn::parse(&r.arn).map_err(|e| self.err(at("arn"), e.to_string()))?;
            if !(3600..=43200).contains(&r.max_session_duration) {
                return Err(self.err(
                    at("max_session_duration"),
                    format!(
                        "{} is out of range: must be between 3600 and 43200 seconds",
                        r.max_session_duration
                    ),
                ));
            }
            let trust_text = match (&r.trust_policy, &r.trust_policy_file) {
                (Some(t), None) => t.clone(),
                (None, Some(p)) => String::from_utf8(self.read(&at("trust_policy_file"), p)?)
                    .map_err(|_| self.err(at("trust_policy_file"), "not UTF-8 text"))?,
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        at("trust_policy"),
                        "give either trust_policy or trust_policy_file, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.err(at("trust_policy"), "missing: every role needs a trust policy"));
                }
            };
            // A policy read from a file is named by its key and file, as its read errors are.
            let trust_key = match &r.trust_policy_file {
                Some(file) => format!("{} ({})", at("trust_policy_file"), file.display()),
                None => at("trust_policy"),
            };
            let trust_policy = PolicyDocument::parse(&trust_text, PolicyKind::Trust)
                .map_err(|e| self.err(trust_key, e.to_string()))?;
            let permission_policies = r
                .permission_policies
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    PolicyDocument::parse(p, PolicyKind::Identity)
                        .map_err(|e| self.err(format!("role[{i}].permission_policies[{j}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let revoke_sessions_issued_before = r
                .revoke_sessions_issued_before
                .as_deref()
                .map(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map(|d| d.unix_timestamp())
                        .map_err(|_| {
                            self.err(
                                at("revoke_sessions_issued_before"),
                                format!("'{t}' is not an RFC 3339 time like 2026-01-01T00:00:00Z"),
                            )
                        })
                })
                .transpose()?;
            let role = Role {
                role_id: crate::session::role_id(arn.as_str()),
                arn,
                max_session_duration: r.max_session_duration,
                trust_decided_per_certificate: crate::broker::trust_decided_per_certificate(&trust_policy),
                trust_policy,
                permission_policies,
                revoke_sessions_issued_before,
            };
            // IAM role names are unique in an account whatever their case and path ("you cannot
            // create roles named both PRODROLE and prodrole").
            let name = (
                role.arn.partition().to_owned(),
                role.arn.account().as_str().to_owned(),
                role.arn.name().to_ascii_lowercase(),
            );
            if let Some(other) = names.insert(name, role.arn.as_str().to_owned())
                && other != role.arn.as_str()
            {
                return Err(self.err(
                    at("arn"),
                    format!(
                        "role {} has the name of role {other}: IAM role names are unique in an account, whatever their case and path",
                        r.arn
                    ),
                ));
            }
            if out.insert(role.arn.as_str().to_owned(), Arc::new(role)).is_some() {
                return Err(self.err(at("arn"), format!("duplicate role {}", r.arn)));
            }
        }
        Ok(out)
    }

    /// Every id of `admin_trust_anchors` names a configured trust anchor; without any, admin
    /// certificates may come from any enabled anchor's CA, which is worth a warning when
    /// there are several.
    fn check_admin_anchors(
        &self,
        section: &schema::ServerSection,
        server: &ServerSettings,
        anchors: &HashMap<String, Arc<Anchor>>,
    ) -> Result<(), ConfigError> {
        for (i, arn) in server.admin_trust_anchors.iter().enumerate() {
            match anchors.get(arn) {
                None => {
                    return Err(self.err(
                        format!("server.admin_trust_anchors[{i}]"),
                        format!("no [[trust_anchor]] has id '{}'", section.admin_trust_anchors[i]),
                    ));
                }
                // Admin callers chain to enabled anchors only: this one admits nobody.
                Some(anchor) if !anchor.enabled => warn_at!(
                    self.file,
                    format!("server.admin_trust_anchors[{i}]"),
                    "trust anchor '{}' is disabled: no admin certificate is accepted from it until it is enabled",
                    section.admin_trust_anchors[i]
                ),
                Some(_) => {}
            }
        }
        let enabled = anchors.values().filter(|a| a.enabled).count();
        if !server.admin_subjects.is_empty() && server.admin_trust_anchors.is_empty() && enabled > 1 {
            warn_at!(
                self.file,
                "server.admin_subjects",
                [enabled_trust_anchors = enabled,],
                "admin_subjects are accepted from every enabled trust anchor: any of their CAs can issue an admin certificate; list the operators' anchor in [server] admin_trust_anchors"
            );
        }
        Ok(())
    }

    fn anchors(
        &self,
        sections: &[schema::TrustAnchorSection],
        server: &ServerSettings,
    ) -> Result<HashMap<String, Arc<Anchor>>, ConfigError> {
        let mut out = HashMap::new();
        for (i, a) in sections.iter().enumerate() {
            let at = |k: &str| format!("trust_anchor[{i}].{k}");
            check_id(&a.id).map_err(|m| self.err(at("id"), m))?;
            let pem = self.read(&at("certificates"), &a.certificates)?;
            let crls = a
                .crls
                .iter()
                .enumerate()
                .map(|(j, p)| self.read(&format!("trust_anchor[{i}].crls[{j}]"), p))
                .collect::<Result<Vec<_>, _>>()?;
            let trust = TrustAnchor::new(&pem, &crls)
                .map_err(|e| {
                    let key = match e {
                        AnchorError::BadCrl { index, .. } | AnchorError::CrlIssuerUnknown { index, .. } => {
                            match a.crls.get(index.saturating_sub(1)) {
                                Some(file) => format!("crls[{}] ({})", index - 1, file.display()),
                                None => "crls".to_owned(),
                            }
                        }
                        AnchorError::DuplicateCrlIssuer { .. } | AnchorError::CrlMissingForKey { .. } => {
                            "crls".to_owned()
                        }
                        _ => "certificates".to_owned(),
                    };
                    self.err(at(&key), e.to_string())
                })?
                .with_stale_crls(a.stale_crls);
            let file = &self.file;
            warn_if_stale(file, &at("crls"), &trust, self.now);
            warn_if_expired(file, &at("certificates"), &trust, self.now);
            warn_if_scoped(file, &at("crls"), &trust);
            warn_of_cas_without_crl(file, &at("crls"), &trust);
            warn_of_revoked_cas(file, &at("certificates"), &trust);
            for (subject, why) in trust.certificates_no_chain_ends_at() {
                warn_at!(
                    file,
                    at("certificates"),
                    [ca = subject,],
                    "no chain can end at this CA certificate of the bundle: {why}; every chain through it is refused"
                );
            }
            let arn = RolesAnywhereArn::build(RolesAnywhereKind::TrustAnchor, &server.region, &server.account, &a.id);
            let anchor = Anchor {
                id: a.id.clone(),
                arn,
                enabled: a.enabled,
                trust,
                section: i,
                crl_files: a.crls.clone(),
            };
            if out.insert(anchor.arn.as_str().to_owned(), Arc::new(anchor)).is_some() {
                return Err(self.err(at("id"), format!("duplicate trust anchor id '{}'", a.id)));
            }
        }
        Ok(out)
    }

    fn profiles(
        &self,
        sections: &[schema::ProfileSection],
        server: &ServerSettings,
        roles: &HashMap<String, Arc<Role>>,
        managed: &HashMap<String, Arc<PolicyDocument>>,
    ) -> Result<HashMap<String, Arc<Profile>>, ConfigError> {
        let mut out = HashMap::new();
        for (i, p) in sections.iter().enumerate() {
            let at = |k: &str| format!("profile[{i}].{k}");
            check_id(&p.id).map_err(|m| self.err(at("id"), m))?;
            if p.role_arns.is_empty() {
                return Err(self.err(at("role_arns"), "a profile needs at least one role ARN"));
            }
            for (j, r) in p.role_arns.iter().enumerate() {
                RoleArn::parse(r).map_err(|e| self.err(format!("profile[{i}].role_arns[{j}]"), e.to_string()))?;
                if !roles.contains_key(r) {
                    return Err(self.err(
                        format!("profile[{i}].role_arns[{j}]"),
                        format!("role {r} is not defined in any [[role]] section"),
                    ));
                }
            }
            if !(900..=43200).contains(&p.duration_seconds) {
                return Err(self.err(
                    at("duration_seconds"),
                    format!(
                        "{} is out of range: must be between 900 and 43200 seconds",
                        p.duration_seconds
                    ),
                ));
            }
            for r in &p.role_arns {
                if let Some(role) = roles.get(r)
                    && role.max_session_duration < p.duration_seconds
                {
                    warn_at!(
                        self.file,
                        at("duration_seconds"),
                        "{} seconds exceeds the max_session_duration of role {r} ({}): every CreateSession for it \
                         that does not ask for a shorter durationSeconds will be refused",
                        p.duration_seconds,
                        role.max_session_duration
                    );
                }
            }
            // Kept as compact JSON: each session's token carries it.
            let session_policy = p
                .session_policy
                .as_deref()
                .map(|t| {
                    let written = PolicyDocument::parse(t, PolicyKind::Identity)?;
                    PolicyDocument::parse(&written.compact_source(), PolicyKind::Identity).map(Arc::new)
                })
                .transpose()
                .map_err(|e| self.err(at("session_policy"), e.to_string()))?;
            for (j, m) in p.managed_policy_arns.iter().enumerate() {
                if !managed.contains_key(m) {
                    return Err(self.err(
                        format!("profile[{i}].managed_policy_arns[{j}]"),
                        format!("managed policy {m} is not defined in any [[managed_policy]] section"),
                    ));
                }
                if let Some((k, r)) = unattachable_role(m, &p.role_arns, roles) {
                    return Err(self.err(
                        format!("profile[{i}].managed_policy_arns[{j}]"),
                        format!(
                            "managed policy {m} cannot be a session policy of role {r} (role_arns[{k}]): \
                             STS attaches only managed policies of the role's own account, or AWS managed \
                             ones (account \"aws\"), of the role's partition; AWS refuses every CreateSession \
                             for that role (\"Policy {m} does not exist or is not attachable.\"). Give that \
                             role a profile of its own"
                        ),
                    ));
                }
            }
            let attribute_mapping = self.attribute_mapping(&p.attribute_mappings, &at)?;
            let arn = RolesAnywhereArn::build(RolesAnywhereKind::Profile, &server.region, &server.account, &p.id);
            let profile = Profile {
                id: p.id.clone(),
                arn,
                role_arns: p.role_arns.clone(),
                duration_seconds: p.duration_seconds,
                accept_role_session_name: p.accept_role_session_name,
                require_instance_properties: p.require_instance_properties,
                session_policy,
                managed_policy_arns: p.managed_policy_arns.clone(),
                attribute_mapping,
                enabled: p.enabled,
            };
            if out.insert(profile.arn.as_str().to_owned(), Arc::new(profile)).is_some() {
                return Err(self.err(at("id"), format!("duplicate profile id '{}'", p.id)));
            }
        }
        Ok(out)
    }

    /// A profile's `attribute_mappings`; `at` names a key of the profile.
    fn attribute_mapping(
        &self,
        section: &schema::AttributeMappingsSection,
        at: &dyn Fn(&str) -> String,
    ) -> Result<AttributeMapping, ConfigError> {
        let mut mapping = AttributeMapping::aws_default();
        let fields = [
            (CertificateField::Subject, &section.subject),
            (CertificateField::Issuer, &section.issuer),
            (CertificateField::San, &section.san),
        ];
        for (field, specifiers) in fields {
            if let Some(specifiers) = specifiers {
                mapping
                    .set(field, specifiers.clone())
                    .map_err(|e| self.err(at(&format!("attribute_mappings.{}", field.name())), e))?;
            }
        }
        Ok(mapping)
    }
}

/// Resource ids become the last ARN segment: 1..=64 of `[A-Za-z0-9_.-]`.
fn check_id(id: &str) -> Result<(), String> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        Ok(())
    } else {
        Err(format!(
            "'{id}' is not a valid id: use 1 to 64 letters, digits, '_', '.' or '-'"
        ))
    }
}

/// An address range (`10.0.0.0/8`, `2001:db8::/32`) or one address (`192.0.2.7`), read as
/// policies read `IpAddress` values.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    crate::policy::parse_network(text)
        .map(|net| net.trunc())
        .ok_or_else(|| format!("'{text}' is not an address or address range like 10.0.0.0/8"))
}

/// Region names like `us-east-1`, `eu-central-2`, `us-gov-west-1`.
fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-')
}

/// Warns when a secret file (a token key, the TLS key) is open to others than the daemon:
/// any permission for "others", or for a group the daemon is not in. A group the daemon is in
/// is how systemd's `DynamicUser` with `SupplementaryGroups` and Kubernetes' `fsGroup` hand
/// it its files, so that is not warned about. Also when it belongs to another user than the
/// daemon's or root: that user can replace it (a token key they know forges sessions).
#[cfg(unix)]
fn warn_if_shared(file: &LoadedFile<'_>, key: &str, path: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    let shared = mode & 0o007 != 0 || (mode & 0o070 != 0 && !process_groups().contains(&meta.gid()));
    if shared {
        warn_at!(
            file,
            key,
            [file = %path.display(),],
            "secret file is readable by group or others; chmod 600 it (or 640 with a group of the daemon's own)"
        );
    }
    if let Some((owner, me)) = crate::fsutil::foreign_owner(&meta).filter(|(owner, _)| *owner != 0) {
        warn_at!(
            file,
            key,
            [file = %path.display(),],
            "secret file belongs to user id {owner}, neither the daemon's ({me}) nor root, who can replace it; chown it"
        );
    }
}

/// The daemon's group ids, effective and supplementary (`/proc/self/status`); empty where
/// that cannot be read, which only ever adds a warning.
#[cfg(unix)]
fn process_groups() -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let ids = |line: &str| {
        line.split_whitespace()
            .filter_map(|n| n.parse::<u32>().ok())
            .collect::<Vec<_>>()
    };
    let mut groups = Vec::new();
    for line in status.lines() {
        if let Some(gids) = line.strip_prefix("Gid:") {
            // real, effective, saved, filesystem: the effective and filesystem ids are the
            // ones file access uses.
            let gids = ids(gids);
            groups.extend([gids.get(1), gids.get(3)].into_iter().flatten().copied());
        } else if let Some(supplementary) = line.strip_prefix("Groups:") {
            groups.extend(ids(supplementary));
        }
    }
    groups
}

#[cfg(not(unix))]
fn warn_if_shared(_file: &LoadedFile<'_>, _key: &str, _path: &Path) {}

/// Why TLS clients would refuse `leaf` as a server's certificate, if they would: an extended
/// key usage without serverAuth (RFC 5280 §4.2.1.12), or no subjectAltName, which is all that
/// clients match the endpoint's host against (RFC 6125 §6.4.4).
fn server_certificate_problem(leaf: &x509_parser::certificate::X509Certificate<'_>, now: i64) -> Option<String> {
    let eku = leaf.extended_key_usage().ok().flatten();
    if eku.is_some_and(|eku| !eku.value.server_auth && !eku.value.any) {
        return Some("its extended key usage does not include serverAuth".to_owned());
    }
    if leaf.subject_alternative_name().ok().flatten().is_none() {
        return Some("it has no subjectAltName naming the server's host".to_owned());
    }
    let validity = leaf.validity();
    succession::outside_validity(
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
        now,
        succession::SERVER_CERTIFICATE_LEEWAY_SECONDS,
    )
}

/// `n` and the noun in its number: "1 CA certificate", "2 CA certificates".
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// AWS Roles Anywhere profiles name roles of their own account, and STS answers with the
/// role's account: a role of another account than `[server] account_id` is most likely a
/// configuration copied from another account.
fn warn_of_roles_in_other_accounts(file: &LoadedFile<'_>, sections: &[schema::RoleSection], account: &AccountId) {
    for (i, role) in sections.iter().enumerate() {
        let Ok(arn) = RoleArn::parse(&role.arn) else {
            continue;
        };
        if arn.account() != account {
            warn_at!(
                file,
                format!("role[{i}].arn"),
                "role {} is in account {}, not in [server] account_id {account}",
                role.arn,
                arn.account()
            );
        }
    }
}

/// A `revoke_sessions_issued_before` later than now revokes the sessions the role issues until
/// then as soon as they are used: credentials handed out already refused, which helpers and
/// SDKs keep using until they near expiry. Most likely a clock ahead of this one, or a typo.
fn warn_of_revocation_cutoffs_ahead(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
    now: i64,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let Some(cutoff) = role.revoke_sessions_issued_before.filter(|t| *t > now) else {
            continue;
        };
        warn_at!(
            file,
            format!("role[{i}].revoke_sessions_issued_before"),
            [role = role.arn.as_str(),],
            "revoke_sessions_issued_before {} is later than this machine's clock ({}): every session the role \
             issues until then is refused as soon as it is used; set it to the time sessions must have been \
             issued after",
            crate::session::format_expiration(cutoff),
            crate::session::format_expiration(now)
        );
    }
}

/// A trust policy condition (or policy variable) on a key no trust policy evaluation holds —
/// most likely misspelt, as `aws:PrincipleTag/team` — meets the key absent every time: the
/// condition never matches (or, with `...IfExists` and `Null`, always does), and an `Allow`
/// with such a variable never applies.
fn warn_of_trust_keys_never_set(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let key = trust_policy_key(i, section);
        let mut warned = std::collections::HashSet::new();
        for (statement, context_key) in role.trust_policy.context_keys() {
            if !crate::broker::is_trust_policy_key(context_key) && warned.insert(context_key.to_ascii_lowercase()) {
                warn_at!(
                    file,
                    key,
                    "role {}: {statement} reads '{context_key}', a key no trust policy evaluation holds, so it is always absent (misspelt?); the README lists the keys, among them aws:PrincipalTag/*, aws:RequestTag/*, aws:SourceArn, aws:SourceIp, sts:SourceIdentity and sts:RoleSessionName",
                    section.arn
                );
            }
        }
    }
}

/// The configuration key of role `i`'s trust policy, as messages name it.
fn trust_policy_key(i: usize, section: &schema::RoleSection) -> String {
    match &section.trust_policy_file {
        Some(_) => format!("role[{i}].trust_policy_file"),
        None => format!("role[{i}].trust_policy"),
    }
}

/// A trust policy `Allow` of `"Principal": "*"` without a condition admits everyone: every
/// certificate of every trust anchor through any profile listing the role, and every session
/// of the account, whatever its session policies (they do not limit a grant to `*`). Rarely
/// what was meant; a condition (`aws:PrincipalArn`, `aws:SourceArn`, a tag) narrows it.
fn warn_of_unconditioned_wildcard_trust(
    file: &LoadedFile<'_>,
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    use crate::policy::{Effect, PrincipalEntry};
    for (i, section) in sections.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        let key = trust_policy_key(i, section);
        for (n, statement) in role.trust_policy.statements().iter().enumerate() {
            let everyone = statement
                .principal()
                .is_some_and(|p| !p.negated && p.entries.contains(&PrincipalEntry::Everyone));
            if statement.effect() == Effect::Allow && everyone && statement.conditions().is_empty() {
                warn_at!(
                    file,
                    key,
                    "role {}: Statement[{n}] allows \"Principal\": \"*\" without a condition: every client certificate of every trust anchor (through a profile listing the role) and every session of the account may assume it, whatever their session policies; name the principals, or add a condition such as aws:PrincipalArn or aws:SourceArn",
                    section.arn
                );
            }
        }
    }
}

/// A permission, managed or profile session policy that reads a key no request of a rolegate
/// session holds ([`crate::broker::never_in_session_requests`]: `${aws:username}` copied from
/// an IAM user's policy, `aws:PrincipalOrgID`) meets it absent every time.
fn warn_of_session_keys_never_set(
    file: &LoadedFile<'_>,
    f: &ConfigFile,
    roles: &HashMap<String, Arc<Role>>,
    managed: &HashMap<String, Arc<PolicyDocument>>,
    profiles: &HashMap<String, Arc<Profile>>,
) {
    let mut policies: Vec<(String, String, &PolicyDocument)> = Vec::new();
    for (i, section) in f.role.iter().enumerate() {
        let Some(role) = roles.get(&section.arn) else { continue };
        for (j, policy) in role.permission_policies.iter().enumerate() {
            let what = format!("role {}: permission policy {j}", section.arn);
            policies.push((format!("role[{i}].permission_policies[{j}]"), what, policy));
        }
    }
    for (i, section) in f.managed_policy.iter().enumerate() {
        if let Some(policy) = managed.get(&section.arn) {
            policies.push((
                format!("managed_policy[{i}].document"),
                format!("managed policy {}", section.arn),
                policy,
            ));
        }
    }
    for (i, section) in f.profile.iter().enumerate() {
        let session_policy = profiles
            .values()
            .find(|p| p.id == section.id)
            .and_then(|p| p.session_policy.as_deref());
        if let Some(policy) = session_policy {
            let what = format!("profile {}: session policy", section.id);
            policies.push((format!("profile[{i}].session_policy"), what, policy));
        }
    }
    for (key, what, policy) in policies {
        let mut warned = std::collections::HashSet::new();
        for (statement, context_key) in policy.context_keys() {
            let Some(why) = crate::broker::never_in_session_requests(context_key) else {
                continue;
            };
            if warned.insert(context_key.to_ascii_lowercase()) {
                warn_at!(
                    file,
                    key,
                    "{what}: {statement} reads '{context_key}', a key no request of a rolegate session holds: {why}. A condition on it never matches unless negated or IfExists, and an Allow using it as a policy variable never applies"
                );
            }
        }
    }
}

/// A role a profile names whose trust policy never allows `rolesanywhere.amazonaws.com` one of
/// the actions every CreateSession needs (no `Allow` names it, or a `Deny` without conditions
/// does) (`sts:AssumeRole`, `sts:TagSession`,
/// `sts:SetSourceIdentity`) refuses every session, whatever the certificate: most likely an
/// action left out of the policy. Warned about once, at the role's trust policy.
fn warn_of_roles_roles_anywhere_cannot_assume(
    file: &LoadedFile<'_>,
    profiles: &[schema::ProfileSection],
    sections: &[schema::RoleSection],
    roles: &HashMap<String, Arc<Role>>,
) {
    use crate::broker::{ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL};
    let principal = || crate::policy::Principal::Service(ROLES_ANYWHERE_PRINCIPAL.to_owned());
    for (i, section) in sections.iter().enumerate() {
        let arn = &section.arn;
        let Some(role) = roles.get(arn) else { continue };
        if !profiles.iter().any(|p| p.role_arns.contains(arn)) {
            continue;
        }
        let missing: Vec<&str> = ROLES_ANYWHERE_ACTIONS
            .into_iter()
            .filter(|action| {
                let ctx = crate::policy::RequestContext::new(principal(), *action, arn.as_str());
                !crate::policy::may_allow(&role.trust_policy, &ctx)
            })
            .collect();
        if !missing.is_empty() {
            warn_at!(
                file,
                trust_policy_key(i, section),
                "role {arn}: its trust policy never allows {ROLES_ANYWHERE_PRINCIPAL} {}, so every CreateSession for it is denied; a Roles Anywhere trust policy allows sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity",
                missing.join(", ")
            );
        }
    }
}

/// A role a profile names whose trust policy reads a certificate tag
/// (`aws:PrincipalTag/x509Subject/OU`, `…/x509Issuer/…`, `…/x509SAN/…`) that the profile's
/// `attribute_mappings` leave out ([`AttributeMapping::dropped_field`]) meets the key absent in
/// every session of that profile: a condition on it never matches (unless negated or
/// `IfExists`), an `Allow` using it as a policy variable never applies.
fn warn_of_principal_tags_mapped_out(
    file: &LoadedFile<'_>,
    sections: &[schema::ProfileSection],
    profiles: &HashMap<String, Arc<Profile>>,
    roles: &HashMap<String, Arc<Role>>,
) {
    for (i, section) in sections.iter().enumerate() {
        let Some(profile) = profiles.values().find(|p| p.id == section.id) else {
            continue;
        };
        for arn in &section.role_arns {
            let Some(role) = roles.get(arn) else { continue };
            let mut warned = std::collections::HashSet::new();
            for (statement, context_key) in role.trust_policy.context_keys() {
                let Some(tag) = principal_tag_key(context_key) else {
                    continue;
                };
                let Some(field) = profile.attribute_mapping.dropped_field(tag) else {
                    continue;
                };
                if warned.insert(tag.to_ascii_lowercase()) {
                    warn_at!(
                        file,
                        format!("profile[{i}].attribute_mappings.{}", field.name()),
                        "profile {}: its attribute mappings leave out the tag '{tag}', which role {arn} reads in its trust policy ({statement}, '{context_key}'): no session of this profile has it, so a condition on it never matches unless negated or IfExists, and an Allow using it as a policy variable never applies; map it, or condition on a tag the profile maps",
                        section.id
                    );
                }
            }
        }
    }
}

/// The tag key of an `aws:PrincipalTag/{key}` context key (in any case, as keys are).
fn principal_tag_key(context_key: &str) -> Option<&str> {
    const PREFIX: &str = "aws:PrincipalTag/";
    let prefix = context_key.get(..PREFIX.len())?;
    prefix
        .eq_ignore_ascii_case(PREFIX)
        .then(|| &context_key[PREFIX.len()..])
}

/// A CRL with an issuing distribution point does not cover a certificate whose CRL
/// distribution points name another one, and such a certificate is then checked against no
/// CRL (an issuer without a CRL means "not revoked", as in AWS).
fn warn_if_scoped(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    for crl in trust.crls().iter().filter(|crl| crl.scope.is_some()) {
        warn_at!(
            file,
            key,
            [issuer = crl.issuer.as_str(),],
            "CRL has an issuing distribution point: it covers only the certificates whose CRL \
             distribution points name it (or that name none); the others are checked against no CRL"
        );
    }
}

/// An anchor that lists CRLs but none issued by one of its CA certificates checks nothing that
/// CA issues for revocation (no CRL of an issuer means "not revoked", as in AWS): most likely
/// a CRL left out — an intermediate's, when the bundle holds the root and an issuing CA.
fn warn_of_cas_without_crl(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    if trust.crls().is_empty() {
        return;
    }
    let mut warned = std::collections::HashSet::new();
    for ca in trust.certificates() {
        let has_crl = trust.crls().iter().any(|crl| crl.issuer == ca.subject);
        if !has_crl && warned.insert(ca.subject.as_str()) {
            warn_at!(
                file,
                key,
                [ca = ca.subject.as_str(),],
                "this anchor lists CRLs, but none issued by this CA certificate of its bundle: what it issues is never \
                 checked for revocation; list its CRL too"
            );
        }
    }
}

/// Warns about each enabled anchor that trusts a CA without listing the CRL another anchor
/// lists for it: the certificates that CRL revokes get sessions through this anchor (a reload
/// adding such an anchor is refused; a start takes it, with this warning).
fn warn_of_crls_listed_elsewhere(file: &LoadedFile<'_>, anchors: &HashMap<String, Arc<Anchor>>) {
    let mut in_order: Vec<&Anchor> = anchors.values().map(AsRef::as_ref).collect();
    in_order.sort_by_key(|a| a.section);
    for anchor in in_order.iter().filter(|a| a.enabled) {
        let elsewhere = in_order
            .iter()
            .filter(|other| other.section != anchor.section)
            .flat_map(|other| other.trust.crls().iter().map(move |crl| (other, crl)))
            .find(|(_, crl)| anchor.trust.trusts_key(&crl.signer_key) && !anchor.trust.lists_crl_of(crl));
        if let Some((other, crl)) = elsewhere {
            warn_at!(
                file,
                format!("trust_anchor[{}].crls", anchor.section),
                [issuer = crl.issuer.as_str(),],
                "this anchor trusts a CA whose CRL trust_anchor[{}] lists, without listing it: the certificates \
                 it revokes get sessions through this anchor; list the CRL here too",
                other.section
            );
        }
    }
}

/// Warns about each CA certificate of the bundle that a CRL of the anchor revokes: no chain
/// ends at it (chain verification refuses such paths), so it only still serves to verify its
/// own CRL; remove it when its issuer revoked it for good.
fn warn_of_revoked_cas(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor) {
    for ca in trust.certificates() {
        if let Some(issuer) = &ca.revoked_by {
            warn_at!(
                file,
                key,
                [ca = ca.subject.as_str(), crl_issuer = issuer.as_str(),],
                "this CA certificate of the bundle is revoked by its issuer's CRL: chains it issued are refused"
            );
        }
    }
}

/// How far in the future a CRL's thisUpdate may lie before the load warns of it: the clock
/// skew allowed to clients.
const CRL_THIS_UPDATE_LEEWAY_SECONDS: i64 = 300;

/// Warns about each CRL of `trust` past its nextUpdate at `now`: revocations made since are
/// not in it, and an anchor with `stale_crls = "refuse"` refuses the certificates it covers;
/// and about one whose thisUpdate is still to come, which says a clock is wrong — the CA's, or
/// this host's (which also judges every certificate's validity).
fn warn_if_stale(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor, now: OffsetDateTime) {
    for crl in trust
        .crls()
        .iter()
        .filter(|crl| crl.this_update > now.unix_timestamp() + CRL_THIS_UPDATE_LEEWAY_SECONDS)
    {
        warn_at!(
            file,
            key,
            [
                issuer = crl.issuer.as_str(),
                this_update = crate::session::format_expiration(crl.this_update),
            ],
            "CRL is dated in the future (its thisUpdate is still to come): the CA's clock or this host's is wrong; \
             it is consulted as it is"
        );
    }
    for crl in trust.crls() {
        let Some(next_update) = crl.next_update.filter(|t| *t <= now.unix_timestamp()) else {
            continue;
        };
        let consequence = match trust.stale_crls() {
            StaleCrls::Honour => "revocations made since are not in it",
            StaleCrls::Refuse => "the certificates it covers are refused (stale_crls = \"refuse\")",
        };
        warn_at!(
            file,
            key,
            [
                issuer = crl.issuer.as_str(),
                next_update = crate::session::format_expiration(next_update),
            ],
            "CRL is past its nextUpdate: {consequence}; import a fresh one and reload"
        );
    }
}

/// A CA certificate of the anchor that has expired, or is not valid yet: chains ending at it are
/// refused.
fn warn_if_expired(file: &LoadedFile<'_>, key: &str, trust: &TrustAnchor, now: OffsetDateTime) {
    for certificate in trust
        .certificates()
        .iter()
        .filter(|c| c.not_after <= now.unix_timestamp())
    {
        warn_at!(
            file,
            key,
            [
                subject = certificate.subject.as_str(),
                not_after = crate::session::format_expiration(certificate.not_after),
            ],
            "trust anchor CA certificate has expired: chains that end at it are refused unless the bundle also holds its renewal (same name and key); add the renewed CA certificate"
        );
    }
    for certificate in trust
        .certificates()
        .iter()
        .filter(|c| c.not_before > now.unix_timestamp())
    {
        warn_at!(
            file,
            key,
            [
                subject = certificate.subject.as_str(),
                not_before = crate::session::format_expiration(certificate.not_before),
            ],
            "trust anchor CA certificate is not valid yet: chains that end at it are refused until its notBefore unless the bundle also holds a current certificate of the same name and key (check this server's clock)"
        );
    }
}

/// Whether two listen addresses would take the same port: the same port (not 0, which
/// picks a free one each time) on the same address, or on the unspecified address of the
/// other's family (0.0.0.0 takes the port on every IPv4 address), or on `::`, which on Linux
/// takes it on every IPv6 and IPv4 address alike (dual-stack sockets).
fn listens_on_the_same_port(a: SocketAddr, b: SocketAddr) -> bool {
    let overlap = |x: std::net::IpAddr, y: std::net::IpAddr| {
        x == y
            || (x.is_unspecified() && (x.is_ipv6() || y.is_ipv4()))
            || (y.is_unspecified() && (y.is_ipv6() || x.is_ipv4()))
    };
    a.port() != 0 && a.port() == b.port() && overlap(a.ip(), b.ip())
}

/// Why `subject` is not a distinguished name, unless it starts as one does, `ATTRIBUTE=` (an
/// admin certificate's subject can only equal such a string; values may hold escaped commas).
fn not_a_distinguished_name(subject: &str) -> Option<String> {
    (!looks_like_distinguished_name(subject)).then(|| {
        format!(
            "'{subject}' is not a distinguished name: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\""
        )
    })
}

/// Why `subject` could never match, when it separates attributes with `;`: RFC 2253 let `;`
/// separate them; the audit log (RFC 4514) writes `,` and escapes a `;` in a value.
fn bare_semicolon(subject: &str) -> Option<String> {
    has_bare_semicolon(subject).then(|| {
        format!(
            "'{subject}' separates attributes with ';': write them separated by ',' as the audit log shows the subject, e.g. \"CN=ops,O=Acme\" (a ';' in a value is written '\\;')"
        )
    })
}

/// Why `subject` could never match, when one of its attributes is malformed: empty
/// (`CN=ops,,O=x`, a separator at an end), without `=` or a type, or without a value
/// (`O=`). No certificate's subject, as the audit log writes it, has such an attribute.
fn malformed_attribute(subject: &str) -> Option<String> {
    let problem = split_unescaped(subject, &[',', '+'])
        .into_iter()
        .find_map(|(attribute, _)| attribute_problem(attribute))?;
    Some(format!(
        "'{subject}' has {problem}, which no certificate's subject has: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\""
    ))
}

/// What is wrong with one `TYPE=value` attribute of a distinguished name, if anything.
fn attribute_problem(attribute: &str) -> Option<String> {
    if attribute.trim().is_empty() {
        return Some("an empty attribute (two separators in a row, or one at an end)".to_owned());
    }
    match attribute.split_once('=') {
        None => Some(format!("an attribute without '=' ('{attribute}')")),
        Some((kind, _)) if kind.trim().is_empty() => Some(format!("an attribute without a type ('{attribute}')")),
        Some((_, value)) if value.trim().is_empty() => Some(format!("an attribute without a value ('{attribute}')")),
        Some(_) => None,
    }
}

/// Whether `subject` holds a `;` that no `\\` escapes.
fn has_bare_semicolon(subject: &str) -> bool {
    let mut escaped = false;
    for c in subject.chars() {
        match (c, escaped) {
            (';', false) => return true,
            ('\\', false) => escaped = true,
            _ => escaped = false,
        }
    }
    false
}

/// An `admin_subjects` entry as the audit log writes a certificate's subject, which it is
/// compared with: OpenSSL's `subject=` prefix dropped, no white space around `=` or between
/// attributes (`openssl x509 -subject` prints `CN = ops, O = Acme`), and attribute types in
/// their short name's spelling (`cn` → `CN`: type names are case-insensitive, RFC 4512 §1.4).
/// Values are kept as written, escapes included; white space a value begins or ends with is
/// written escaped (`\ `) in RFC 4514, so unescaped white space there is layout.
fn subject_as_logged(written: &str) -> String {
    let written = written.trim();
    let written = written.strip_prefix("subject=").unwrap_or(written);
    let mut out = String::with_capacity(written.len());
    for (attribute, separator) in split_unescaped(written, &[',', '+']) {
        match attribute.split_once('=') {
            Some((kind, value)) => {
                let kind = kind.trim();
                out += crate::identity::short_name_of(kind).unwrap_or(kind);
                out.push('=');
                out += trim_unescaped(value);
            }
            None => out += attribute.trim(),
        }
        out.extend(separator);
    }
    out
}

/// The pieces of `s` between unescaped `separators` (a `\` escapes the character after it),
/// each with the separator that ends it.
fn split_unescaped<'a>(s: &'a str, separators: &[char]) -> Vec<(&'a str, Option<char>)> {
    let mut pieces = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, c) if separators.contains(&c) => {
                pieces.push((&s[start..i], Some(c)));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push((&s[start..], None));
    pieces
}

/// `value` without the white space it begins or ends with, but an escaped one (`\ `).
fn trim_unescaped(value: &str) -> &str {
    let value = value.trim_start();
    let mut end = value.len();
    while let Some(c) = value[..end].chars().next_back().filter(|c| c.is_whitespace()) {
        let before = &value[..end - c.len_utf8()];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            break;
        }
        end = before.len();
    }
    &value[..end]
}

fn looks_like_distinguished_name(subject: &str) -> bool {
    subject
        .split_once('=')
        .is_some_and(|(attribute, _)| !attribute.trim().is_empty() && !attribute.contains(','))
}

/// The first of `role_arns` (with its index) whose sessions STS would not give the managed
/// policy `policy_arn` as a session policy ([`PolicyArn::is_attachable_to`]): Roles Anywhere
/// passes a profile's `managedPolicyArns` to STS AssumeRole as `PolicyArns`, where "the
/// policies must exist in the same account as the role"
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
fn unattachable_role<'a>(
    policy_arn: &str,
    role_arns: &'a [String],
    roles: &HashMap<String, Arc<Role>>,
) -> Option<(usize, &'a str)> {
    let policy = PolicyArn::parse(policy_arn).ok()?;
    role_arns.iter().enumerate().find_map(|(k, r)| {
        let role = roles.get(r)?;
        (!policy.is_attachable_to(&role.arn)).then_some((k, r.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An admin subject written as OpenSSL prints it, or with type names in another case, is
    /// the subject the audit log writes; values and escapes are kept.
    #[test]
    fn admin_subjects_are_compared_as_the_audit_log_writes_them() {
        for (written, logged) in [
            ("CN=ops,O=Acme", "CN=ops,O=Acme"),
            (
                "subject=CN = dev-admin, O = rolegate dev",
                "CN=dev-admin,O=rolegate dev",
            ),
            ("cn=dev-admin,o=rolegate dev", "CN=dev-admin,O=rolegate dev"),
            (
                "  EMAILADDRESS = a@b.example , dc=corp ",
                "emailAddress=a@b.example,DC=corp",
            ),
            ("CN=a\\, b + uid = 7, O=x", "CN=a\\, b+UID=7,O=x"),
            ("CN=trailing\\ , O=x", "CN=trailing\\ ,O=x"),
            ("CN=back\\\\ , O=x", "CN=back\\\\,O=x"),
            ("2.5.4.97=VATDE-1, CN=x", "2.5.4.97=VATDE-1,CN=x"),
        ] {
            assert_eq!(subject_as_logged(written), logged, "{written}");
        }
    }

    /// A TOML syntax error names the key path of its line, as the other errors name theirs —
    /// never the bad value in the key's place — or only the line and column.
    #[test]
    fn a_syntax_error_names_the_key_path_of_its_line() {
        let error = |text: &str| {
            let Err((key, message)) = parse_toml(text) else {
                panic!("{text:?} parsed");
            };
            format!("{key}: {message}")
        };
        assert_eq!(
            error("[server]\nregion = \"a\"\nregion = \"b\"\n"),
            "server.region (line 3, column 1): duplicate key: server.region is already given at line 2, column 10; give each key once"
        );
        assert_eq!(
            error(
                "[tokens]\nactive = \"k1\"\nkeys = [{ id = \"k1\", file = \"k1.key\" }]\n\n[[tokens.keys]]\nid = \"k2\"\n"
            ),
            "tokens.keys (line 5, column 10): duplicate key: tokens.keys is already given at line 3, column 8; \
             a `[[tokens.keys]]` table cannot follow `tokens.keys = [...]`: write every entry in one of the two forms"
        );
        assert_eq!(
            error("[server]\naccount_id = 123-456\n"),
            "server.account_id (line 2, column 14): invalid date, expected `-` (MM-DD)"
        );
        assert_eq!(
            error("[tokens]\n[[tokens.keys]]\nid = \"k0\"\nactive = k1\n"),
            "tokens.keys[0].active (line 4, column 10): string values must be quoted, expected literal string"
        );
        assert_eq!(error("[server\n"), "line 1, column 8: unclosed table, expected `]`");
    }

    /// A value of the wrong type is described in TOML's terms, not by a Rust type name.
    #[test]
    fn a_type_error_names_no_rust_type() {
        for (line, error) in [
            (
                "rate_limit_per_ip = \"fast\"",
                "server.rate_limit_per_ip (line 2, column 21): invalid type: string \"fast\", expected a number",
            ),
            (
                "max_body_bytes = \"big\"",
                "server.max_body_bytes (line 2, column 18): invalid type: string \"big\", expected an integer of 0 or more",
            ),
            (
                "proxy_protocol = \"yes\"",
                "server.proxy_protocol (line 2, column 18): invalid type: string \"yes\", expected a boolean",
            ),
        ] {
            let Err((key, message)) = parse_toml(&format!("[server]\n{line}\n")) else {
                panic!("{line} parsed");
            };
            assert_eq!(format!("{key}: {message}"), error);
        }
    }

    #[test]
    fn networks_are_ranges_or_single_addresses() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("10.0.0.0/8", Ok("10.0.0.0/8")),
            ("10.1.2.3/8", Ok("10.0.0.0/8")),
            ("192.0.2.7", Ok("192.0.2.7/32")),
            ("2001:db8::/32", Ok("2001:db8::/32")),
            ("::1", Ok("::1/128")),
            (
                "10.0.0.0/33",
                Err("'10.0.0.0/33' is not an address or address range like 10.0.0.0/8"),
            ),
            (
                "balancer",
                Err("'balancer' is not an address or address range like 10.0.0.0/8"),
            ),
        ];
        for (text, want) in cases {
            let got = parse_network(text).map(|n| n.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), *want, "{text}");
        }
    }

    /// A key ring error names the key of `[tokens]` it is about, so that the error's place
    /// is that key's line.
    #[test]
    fn key_ring_errors_name_their_key() {
        let key = |id: &str| schema::TokenKeySection {
            id: id.to_owned(),
            file: PathBuf::from("k.key"),
        };
        let tokens = schema::TokensSection {
            active: "k9".to_owned(),
            keys: vec![key("k1"), key("k2"), key("k1")],
        };
        let cases = [
            (KeyRingError::ActiveKeyMissing("k9".into()), "tokens.active"),
            (KeyRingError::DuplicateKeyId("k1".into()), "tokens.keys[2].id"),
            (KeyRingError::Unusable("k2".into()), "tokens.keys[1].id"),
            (KeyRingError::BadKeyId("zz".into()), "tokens"),
            (KeyRingError::KeyNotBase64, "tokens"),
        ];
        for (error, want) in cases {
            assert_eq!(keyring_key(&tokens, &error), want, "{error}");
        }
    }
}
