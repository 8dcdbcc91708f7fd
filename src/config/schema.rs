//! The TOML file as operators write it (DESIGN.md §2e). Plain serde structs with defaults;
//! `super::loader` turns them into the validated runtime [`super::Config`].

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: ServerSection,
    pub tokens: TokensSection,
    #[serde(default)]
    pub trust_anchor: Vec<TrustAnchorSection>,
    #[serde(default)]
    pub profile: Vec<ProfileSection>,
    #[serde(default)]
    pub role: Vec<RoleSection>,
    #[serde(default)]
    pub managed_policy: Vec<ManagedPolicySection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default = "default_listen")]
    pub listen: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Plain-HTTP listener for /metrics, /healthz, /readyz; `""` disables it.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub account_id: String,
    #[serde(default = "default_skew")]
    pub max_clock_skew_seconds: u64,
    /// Largest accepted request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The names signed requests must be addressed to (their signed `host`); empty: the server
    /// certificate's DNS names and IP addresses.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Client certificate subjects (RFC 4514 strings, e.g. `CN=ops,O=Example`) allowed to call `Admin.*`.
    #[serde(default)]
    pub admin_subjects: Vec<String>,
    /// Ids of the trust anchors an admin certificate must chain to (empty: any enabled one).
    #[serde(default)]
    pub admin_trust_anchors: Vec<String>,
    /// How long identical CreateSession requests are answered with the same credentials.
    #[serde(default = "default_reuse")]
    pub credential_reuse_seconds: u64,
    /// Bound on each in-memory cache (entries).
    #[serde(default = "default_cache_entries")]
    pub cache_max_entries: u64,
    /// Time allowed for in-flight requests to finish on SIGTERM.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Time the listener keeps accepting after SIGTERM, with `/readyz` already failing, before
    /// the drain: for load balancers and Kubernetes Services to stop sending new connections.
    #[serde(default)]
    pub shutdown_delay_seconds: u64,
    /// Largest accepted request head (request line and headers), bytes.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// Time allowed to read and answer one request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Requests served at once on the TLS listener; more are answered with a throttling error.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: usize,
    /// Requests from one client address served at once (0: no per-address bound).
    #[serde(default = "default_max_concurrent_per_ip")]
    pub max_concurrent_requests_per_ip: usize,
    /// Connections open at once on the TLS listener; more wait in the kernel's accept queue.
    /// A reload applies it to the connections that arrive after it.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client address (0: no per-address bound); more are
    /// closed on arrival.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Every connection starts with a PROXY protocol header (v1 or v2) naming the client's
    /// address: set when a TCP load balancer sits in front.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// With `proxy_protocol`: the balancers' addresses (`10.0.0.0/8`, `192.0.2.7`); a
    /// connection from anywhere else is closed. Required with `proxy_protocol`.
    #[serde(default)]
    pub proxy_protocol_from: Vec<String>,
    /// Client addresses or ranges (`10.0.8.0/24`, `2001:db8::7`) whose requests the
    /// per-address request limits (`rate_limit_per_ip`, `max_concurrent_requests_per_ip`) do
    /// not count: platforms that have every request they receive verified.
    #[serde(default)]
    pub rate_limit_exempt: Vec<String>,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// The per-address limits (`*_per_ip`) count an IPv6 client by its first this many bits:
    /// one host usually holds a whole /64 and could take a new share with every address in it.
    #[serde(default = "default_per_ip_ipv6_prefix")]
    pub per_ip_ipv6_prefix: u32,
    /// Token bucket per client IP address: refill rate (requests per second; 0 disables) and burst.
    #[serde(default = "default_ip_rate")]
    pub rate_limit_per_ip: f64,
    #[serde(default = "default_ip_burst")]
    pub rate_limit_per_ip_burst: u32,
    /// Token bucket of new TLS connections per client IP address (each costs a handshake):
    /// connections per second (0 disables) and burst. More are closed before the handshake.
    #[serde(default = "default_ip_rate")]
    pub rate_limit_connections_per_ip: f64,
    #[serde(default = "default_ip_burst")]
    pub rate_limit_connections_per_ip_burst: u32,
    /// Token bucket per client certificate (CreateSession) and per access key id (STS).
    #[serde(default = "default_client_rate")]
    pub rate_limit_per_client: f64,
    #[serde(default = "default_client_burst")]
    pub rate_limit_per_client_burst: u32,
    /// Every this many seconds, look whether this file or any file it names changed, and
    /// reload when one did (0: only SIGHUP and `Admin.Reload` reload).
    #[serde(default)]
    pub config_watch_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    pub active: String,
    pub keys: Vec<TokenKeySection>,
    /// The claims layout new tokens are sealed in (1 or 2; default 2): 1 during a rolling
    /// upgrade from a release that reads layout 1 only.
    #[serde(default)]
    pub seal_claims_layout: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeySection {
    pub id: String,
    pub file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustAnchorSection {
    pub id: String,
    pub certificates: PathBuf,
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// What a CRL past its nextUpdate means: `honour` it as it is (AWS's behaviour) or
    /// `refuse` the certificates it covers until a fresh one is loaded.
    #[serde(default)]
    pub stale_crls: crate::identity::StaleCrls,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSection {
    pub id: String,
    pub role_arns: Vec<String>,
    #[serde(default = "default_duration")]
    pub duration_seconds: u32,
    #[serde(default)]
    pub accept_role_session_name: bool,
    #[serde(default)]
    pub require_instance_properties: bool,
    #[serde(default)]
    pub session_policy: Option<String>,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// Which certificate attributes become principal tags, per certificate field; a field not
    /// listed keeps AWS's default rules.
    #[serde(default)]
    pub attribute_mappings: AttributeMappingsSection,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A profile's attribute mappings: the specifiers of each certificate field it maps itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMappingsSection {
    #[serde(rename = "x509Subject")]
    pub subject: Option<Vec<String>>,
    #[serde(rename = "x509Issuer")]
    pub issuer: Option<Vec<String>>,
    #[serde(rename = "x509SAN")]
    pub san: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSection {
    pub arn: String,
    #[serde(default = "default_duration")]
    pub max_session_duration: u32,
    #[serde(default)]
    pub trust_policy: Option<String>,
    #[serde(default)]
    pub trust_policy_file: Option<PathBuf>,
    #[serde(default)]
    pub revoke_sessions_issued_before: Option<String>,
    #[serde(default)]
    pub permission_policies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedPolicySection {
    pub arn: String,
    pub document: String,
}

fn default_listen() -> String {
    "127.0.0.1:8443".into()
}
pub(super) fn default_metrics_listen() -> String {
    "127.0.0.1:9464".into()
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_skew() -> u64 {
    300
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_reuse() -> u64 {
    60
}
fn default_cache_entries() -> u64 {
    100_000
}
fn default_grace() -> u64 {
    20
}
fn default_max_header() -> usize {
    64 * 1024
}
fn default_request_timeout() -> u64 {
    30
}
fn default_max_concurrent() -> usize {
    1024
}
fn default_max_concurrent_per_ip() -> usize {
    128
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_connections_per_ip() -> usize {
    256
}
fn default_per_ip_ipv6_prefix() -> u32 {
    64
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_ip_rate() -> f64 {
    200.0
}
fn default_ip_burst() -> u32 {
    400
}
fn default_client_rate() -> f64 {
    50.0
}
fn default_client_burst() -> u32 {
    100
}
fn default_duration() -> u32 {
    3600
}
fn yes() -> bool {
    true
}
