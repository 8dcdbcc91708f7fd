//! The [`Loader`]: the parsed file's sections, each checked and built into its part of the
//! runtime [`Config`] (server settings, TLS identity, key ring, roles, trust anchors, profiles,
//! attribute mappings), its files read as it goes, and the helpers only it uses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use super::distinguished_name::{bare_semicolon, malformed_attribute, not_a_distinguished_name, subject_as_logged};
use super::warnings::{
    LoadedFile, server_certificate_expiring, server_certificate_problem, warn_at, warn_if_expired, warn_if_scoped,
    warn_if_shared, warn_if_stale, warn_of_cas_without_crl, warn_of_crls_listed_elsewhere,
    warn_of_principal_tags_mapped_out, warn_of_revocation_cutoffs_ahead, warn_of_revoked_cas,
    warn_of_roles_in_other_accounts, warn_of_roles_no_anchor_admits, warn_of_roles_open_to_every_anchor,
    warn_of_roles_roles_anywhere_cannot_assume, warn_of_session_keys_never_set, warn_of_trust_keys_never_set,
    warn_of_unconditioned_wildcard_trust,
};
use super::{
    Anchor, Config, ConfigError, ConfigFile, Profile, Role, ServerSettings, SourceFiles, TlsIdentity, next_generation,
    schema,
};
use crate::arn::{AccountId, PolicyArn, RoleArn, RolesAnywhereArn, RolesAnywhereKind};
use crate::identity::{AnchorError, AttributeMapping, CertificateField, TrustAnchor};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::session::{KeyRing, KeyRingError, TokenKey};
use crate::sigv4::ServerNames;

/// The most any slot count (requests or connections at once, in all or per address) may be.
const MAX_SLOTS: usize = 1 << 20;
/// The most `max_body_bytes` and `max_header_bytes` may be: the largest API request is a few
/// kilobytes.
const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The most entries each cache may hold.
const MAX_CACHE_ENTRIES: u64 = 100_000_000;

/// Whether a load reads the secret files or stands in for them ([`Config::load_offline`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Secrets {
    /// Read by the daemon that serves with them.
    Read,
    /// Read by `check-config`, which may run as root for a daemon of another identity.
    ReadToCheck,
    /// Not read: stand-ins take their place (`explain`, `simulate`).
    StandIns,
}

pub(super) struct Loader<'a> {
    pub(super) secrets: Secrets,
    pub(super) path: &'a Path,
    /// The file as read, for the place of a warning.
    pub(super) file: LoadedFile<'a>,
    pub(super) dir: &'a Path,
    /// Every file read so far, for [`Config::sources`].
    pub(super) sources: RefCell<SourceFiles>,
    /// The time the load judges certificates, CRLs and revocation cutoffs by: read once, so
    /// every warning of one load speaks of one moment.
    pub(super) now: OffsetDateTime,
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

    /// The bytes of a file the configuration names; an empty one, which none of them may be
    /// (a file cut short by a failed copy, a pipe with no writer), is named as such rather than
    /// as whatever its parser makes of nothing.
    fn read(&self, key: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let full = self.resolve(p);
        match crate::fsutil::read_bounded(&full, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
            Ok(bytes) if bytes.is_empty() => {
                self.sources.borrow_mut().record(&full, &bytes);
                let what = match is_named_pipe(&full) {
                    true => "is a named pipe that no writer is writing to (it read as empty)",
                    false => "is empty (0 bytes)",
                };
                Err(self.err(key, format!("{} {what}", full.display())))
            }
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
        let root_checking = self.secrets == Secrets::ReadToCheck && rustix::process::geteuid().is_root();
        warn_if_shared(&self.file, key, &self.resolve(p), root_checking);
        Ok(bytes)
    }

    /// The configuration of `f`; its `sources` are filled in by the caller.
    pub(super) fn build(&self, f: ConfigFile) -> Result<Config, ConfigError> {
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
        warn_of_roles_open_to_every_anchor(file, &f.profile, &f.role, &roles, &anchors);
        warn_of_roles_no_anchor_admits(file, &f.profile, &f.role, &roles, &anchors);
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
            warnings: Vec::new(),
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
        let rate_limit_exempt = self.networks("server.rate_limit_exempt", &s.rate_limit_exempt)?;
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
            rate_limit_exempt,
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
        if tls.names_unread {
            // Not known to this check ([`ServerSettings::names_unknown`]); nothing to warn of.
            return Ok(ServerNames::ANY);
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
            let given = match s.metrics_listen == schema::default_metrics_listen() {
                true => " (the default)",
                false => "",
            };
            return Err(self.err(
                "server.metrics_listen",
                format!(
                    "{metrics}{given} is also server.listen's port ({listen}): give the metrics listener a port of its \
                     own"
                ),
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

    /// The addresses and ranges listed at `key` (`10.0.0.0/8`, `192.0.2.7`).
    fn networks(&self, key: &str, texts: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        texts
            .iter()
            .map(|text| parse_network(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(key, e))
    }

    /// The load balancers whose PROXY protocol headers are believed: listed only with
    /// `proxy_protocol` on, and required with it. A header names the client's address, which
    /// trust policies (`aws:SourceIp`), the audit trail and the per-address limits take as
    /// given: believing it from any peer would let a client that reaches the listener directly
    /// claim any address, so doing that is spelled out (`0.0.0.0/0`, `::/0`).
    fn proxy_protocol_from(&self, s: &schema::ServerSection) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let from = self.networks("server.proxy_protocol_from", &s.proxy_protocol_from)?;
        if !from.is_empty() && !s.proxy_protocol {
            return Err(self.err(
                "server.proxy_protocol_from",
                "names load balancers but proxy_protocol is false; set proxy_protocol = true",
            ));
        }
        if s.proxy_protocol && from.is_empty() {
            // Named at proxy_protocol, which the file holds (proxy_protocol_from may be absent).
            return Err(self.err(
                "server.proxy_protocol",
                "is true, but proxy_protocol_from lists no load balancer, and PROXY headers are believed only from \
                 those it lists: list the balancers' addresses or ranges (e.g. proxy_protocol_from = \
                 [\"10.0.0.0/8\"]); [\"0.0.0.0/0\", \"::/0\"] believes every peer, for a listener that only the \
                 balancers can reach (any other client could claim any address: aws:SourceIp, the audit log, the \
                 per-address limits)",
            ));
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
            let hint = match cert_pem.windows(16).any(|w| w == b"PRIVATE KEY-----") {
                true => ", only a PRIVATE KEY (is it the key rather than its certificate?)",
                false => "",
            };
            return Err(self.err("server.tls_cert", format!("no CERTIFICATE block found{hint}")));
        }
        let key_pem = zeroize::Zeroizing::new(self.read_secret("server.tls_key", key)?);
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| self.err("server.tls_key", tls_key_problem(&key_pem, &e, key)))?;
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
        } else if let Some(expiring) = leaf
            .as_ref()
            .and_then(|leaf| server_certificate_expiring(leaf.validity().not_after.timestamp(), now))
        {
            warn_at!(self.file, "server.tls_cert", "{expiring}");
        }
        let names = leaf.as_ref().map(Self::certificate_names).unwrap_or_default();
        let validity = leaf.map(|leaf| leaf.validity().clone());
        Ok(TlsIdentity {
            cert_chain,
            key,
            not_before: validity.as_ref().map(|v| v.not_before.timestamp()),
            not_after: validity.as_ref().map(|v| v.not_after.timestamp()),
            names,
            names_unread: false,
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
        // The certificate is public, and read when present: its names are what signed requests
        // must be addressed to. Absent (a CI job given no server files), they are unknown.
        let names = std::fs::read(self.resolve(cert))
            .ok()
            .and_then(|pem| CertificateDer::pem_slice_iter(&pem).next()?.ok())
            .and_then(|der| {
                let (_, leaf) = x509_parser::parse_x509_certificate(&der).ok()?;
                Some(Self::certificate_names(&leaf))
            });
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(|e| self.err("server.tls_cert", format!("cannot make a stand-in certificate: {e}")))?;
        Ok(TlsIdentity {
            cert_chain: vec![made.cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into()),
            not_before: None,
            not_after: None,
            names_unread: names.is_none(),
            names: names.unwrap_or_default(),
        })
    }

    fn keyring(&self, t: &schema::TokensSection) -> Result<KeyRing, ConfigError> {
        if self.secrets == Secrets::StandIns {
            // Fresh keys under the configured ids: the ring's rules (the active key listed,
            // ids unique) still hold or fail as at serve time.
            let stand_ins = t.keys.iter().map(|k| (k.id.clone(), TokenKey::generate())).collect();
            return KeyRing::new(&t.active, stand_ins)
                .and_then(|ring| sealing_layout(ring, t))
                .map_err(|e| self.err(keyring_key(t, &e), e.to_string()));
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
        KeyRing::new(&t.active, keys)
            .and_then(|ring| sealing_layout(ring, t))
            .map_err(|e| self.err(keyring_key(t, &e), e.to_string()))
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
                section: i,
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
        if !server.admin_subjects.is_empty() && server.admin_trust_anchors.is_empty() && enabled == 0 {
            warn_at!(
                self.file,
                "server.admin_subjects",
                "no trust anchor is enabled, so no admin certificate is accepted: every Admin API call is refused \
                 (reload by SIGHUP, the config watch or a restart)"
            );
        }
        if !server.admin_subjects.is_empty() && server.admin_trust_anchors.is_empty() && enabled > 1 {
            warn_at!(
                self.file,
                "server.admin_subjects",
                [enabled_trust_anchors = enabled,],
                "admin_subjects are accepted from every enabled trust anchor: any of their CAs can issue an admin certificate; list the operators' anchor in [server] admin_trust_anchors"
            );
        }
        // An admin who reloads this configuration through the Admin API is locked out of it.
        if server.admin_subjects.is_empty() {
            return Ok(());
        }
        let now = self.now.unix_timestamp();
        let mut locking: Vec<(&Anchor, &crate::identity::CrlInfo)> = anchors
            .values()
            .filter(|a| server.admits_admins_from(a))
            .filter_map(|a| a.refusing_stale_crl(now).map(|crl| (a.as_ref(), crl)))
            .collect();
        locking.sort_by_key(|(a, _)| a.section);
        for (anchor, crl) in locking {
            warn_at!(
                self.file,
                format!("trust_anchor[{}].stale_crls", anchor.section),
                "admin certificates the stale CRL of {} covers are refused too: the Admin API (admin status, admin \
                 reload) is closed to them until a fresh CRL is loaded by SIGHUP (systemctl reload), the config watch \
                 or a restart",
                crl.issuer
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
                    "no chain can end at this CA certificate of the bundle ({subject}): {why}; every chain through it \
                     is refused"
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
                if let Some(first) = p.role_arns[..j].iter().position(|earlier| earlier == r) {
                    warn_at!(
                        self.file,
                        format!("profile[{i}].role_arns[{j}]"),
                        "role {r} is listed already, as role_arns[{first}]: list each role once"
                    );
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

/// `ring` sealing the claims layout `[tokens] seal_claims_layout` names, when it names one.
fn sealing_layout(ring: KeyRing, t: &schema::TokensSection) -> Result<KeyRing, KeyRingError> {
    match t.seal_claims_layout {
        Some(layout) => ring.sealing_claims_layout(layout),
        None => Ok(ring),
    }
}

/// The key of `[tokens]` a key ring error is about: `active`, or the id of the key it names
/// (the later of two with one id).
fn keyring_key(t: &schema::TokensSection, error: &KeyRingError) -> String {
    let id = match error {
        KeyRingError::ActiveKeyMissing(_) => return "tokens.active".to_owned(),
        KeyRingError::UnknownClaimsLayout(_) => return "tokens.seal_claims_layout".to_owned(),
        KeyRingError::BadKeyId(id) | KeyRingError::DuplicateKeyId(id) | KeyRingError::Unusable(id) => id,
        KeyRingError::KeyNotBase64 | KeyRingError::KeyLength { .. } => return "tokens".to_owned(),
    };
    match t.keys.iter().rposition(|k| k.id == *id) {
        Some(j) => format!("tokens.keys[{j}].id"),
        None => "tokens".to_owned(),
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
/// Whether `path` is a named pipe (FIFO).
fn is_named_pipe(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

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

/// Whether two listen addresses would take the same port: the same port (not 0, which
/// picks a free one each time) on the same address, or on the unspecified address of the
/// other's family (0.0.0.0 takes the port on every IPv4 address), or on `::`, which on Linux
/// takes it on every IPv6 and IPv4 address alike (dual-stack sockets).
pub(crate) fn listens_on_the_same_port(a: SocketAddr, b: SocketAddr) -> bool {
    let overlap = |x: std::net::IpAddr, y: std::net::IpAddr| {
        x == y
            || (x.is_unspecified() && (x.is_ipv6() || y.is_ipv4()))
            || (y.is_unspecified() && (y.is_ipv6() || x.is_ipv4()))
    };
    a.port() != 0 && a.port() == b.port() && overlap(a.ip(), b.ip())
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

/// Why the PEM file `path` holds no private key the daemon can use, and what to do: an
/// encrypted key (PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED`)
/// needs a passphrase at every start and reload, which a daemon has no one to ask for; a
/// certificate is not its key.
fn tls_key_problem(pem: &[u8], e: &rustls::pki_types::pem::Error, path: &Path) -> String {
    let holds = |needle: &[u8]| memchr::memmem::find(pem, needle).is_some();
    let path = path.display();
    if holds(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || holds(b"Proc-Type: 4,ENCRYPTED") {
        return format!(
            "an encrypted private key, which the daemon cannot use (no one is there to give the passphrase \
             at a start or a reload): decrypt it (`openssl pkey -in {path} -out server.key`) and protect \
             the file by its permissions instead (0600, or 0640 to rolegate's group)"
        );
    }
    match e {
        rustls::pki_types::pem::Error::NoItemsFound if holds(b"-----BEGIN CERTIFICATE-----") => {
            "no PRIVATE KEY block, only certificates (is it the certificate rather than its key?)".to_owned()
        }
        e => format!(
            "not a PEM private key (PKCS#8, SEC1 or PKCS#1): {}",
            crate::identity::pem_problem(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's TLS key file, refused with what it is and what to do.
    #[test]
    fn a_tls_key_that_is_encrypted_or_a_certificate_is_named_so() {
        let problem = |pem: &str| {
            let e = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap_err();
            tls_key_problem(pem.as_bytes(), &e, Path::new("/etc/rolegate/tls.key"))
        };
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjAp\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
        for pem in [encrypted, legacy] {
            assert_eq!(
                problem(pem),
                "an encrypted private key, which the daemon cannot use (no one is there to give the passphrase \
                 at a start or a reload): decrypt it (`openssl pkey -in /etc/rolegate/tls.key -out server.key`) \
                 and protect the file by its permissions instead (0600, or 0640 to rolegate's group)"
            );
        }
        let certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            problem(certificate),
            "no PRIVATE KEY block, only certificates (is it the certificate rather than its key?)"
        );
        assert_eq!(
            problem("-----BEGIN PRIVATE KEY-----\nAAAA\n"),
            "not a PEM private key (PKCS#8, SEC1 or PKCS#1): a PRIVATE KEY block has no \
             `-----END PRIVATE KEY-----` line (is the file cut short?)"
        );
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
            seal_claims_layout: Some(3),
        };
        let cases = [
            (KeyRingError::ActiveKeyMissing("k9".into()), "tokens.active"),
            (KeyRingError::DuplicateKeyId("k1".into()), "tokens.keys[2].id"),
            (KeyRingError::Unusable("k2".into()), "tokens.keys[1].id"),
            (KeyRingError::BadKeyId("zz".into()), "tokens"),
            (KeyRingError::KeyNotBase64, "tokens"),
            (KeyRingError::UnknownClaimsLayout(3), "tokens.seal_claims_layout"),
        ];
        for (error, want) in cases {
            assert_eq!(keyring_key(&tokens, &error), want, "{error}");
        }
    }
}
