//! The benchmark's world: a temporary PKI (root CA, server certificate, K client certificates),
//! a token key and a configuration written to a private temp folder, and `rolegate serve` started
//! on it as a child process listening on 127.0.0.1:0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::dev::{Workloads, workloads_toml};
use crate::fsutil::{write_new_private, write_new_public};
use crate::identity::ClientCertificate;
use crate::logging::LogFormat;
use crate::pki::{Authority, ClientSpec, KeyType};
use crate::session::TokenKey;
use crate::sigv4::x509::X509SigningKey;

pub use crate::dev::{ACCOUNT, REGION};
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";
pub const CHAINED_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench-chained";
pub const TRUST_ANCHOR_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/bench";
pub const PROFILE_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/bench";
/// The organization of every client certificate's subject (the role's trust policy requires it).
const ORGANIZATION: &str = "rolegate bench";

/// How long the server may take to announce its listener.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A client identity as a real workload holds it: certificate DER, its serial in decimal
/// (the `Credential=` of the signature) and the private key, as a signing key (AWS4-X509) and
/// as PKCS#8 DER (the mTLS client key of the gRPC scenario).
pub struct ClientIdentity {
    pub cert_der: Vec<u8>,
    pub serial_decimal: String,
    pub key: X509SigningKey,
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
}

/// The temp folder with the PKI and the config; removed on drop.
pub struct World {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub ca_pem: PathBuf,
    pub clients: Vec<ClientIdentity>,
}

/// Settings of the generated configuration.
pub struct WorldOptions {
    pub distinct_certs: usize,
    pub client_key: KeyType,
    pub cache_max_entries: u64,
    /// When set, the trust anchor gets a CRL (`ca.crl`) listing this many revoked serials,
    /// none of them a client's: every chain verification then checks it.
    pub crl_entries: Option<usize>,
    /// Set (by a signal) to give the setup up between two certificates.
    pub stopped: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl World {
    /// Creates the PKI, token key and configuration in a new private temp folder.
    pub fn create(opts: &WorldOptions) -> Result<World, Box<dyn std::error::Error>> {
        remove_folders_of_gone_benches(&std::env::temp_dir(), GONE_BENCH_FOLDER_AGE);
        let dir = std::env::temp_dir().join(format!(
            "{BENCH_FOLDER_PREFIX}{}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        std::fs::create_dir(&dir)?;
        let world = World {
            config: dir.join("rolegate.toml"),
            ca_pem: dir.join("ca.pem"),
            dir,
            clients: Vec::new(),
        };
        world.populate(opts)
    }

    fn populate(mut self, opts: &WorldOptions) -> Result<World, Box<dyn std::error::Error>> {
        let now = OffsetDateTime::now_utc();
        let start = now - time::Duration::hours(1);
        // Past the daemon's 7-day warning of a server certificate about to expire.
        let end = now + time::Duration::days(30);
        let ca = Authority::new_root("rolegate bench root CA", KeyType::EcdsaP256, start, end)?;
        write_new_public(&self.ca_pem, ca.issued().cert_pem.as_bytes())?;
        let server = ca.server(&["localhost", "127.0.0.1"], KeyType::EcdsaP256, start, end)?;
        write_new_public(&self.dir.join("server.pem"), server.cert_pem.as_bytes())?;
        write_new_private(&self.dir.join("server.key"), server.key_pem.as_bytes())?;
        write_new_private(
            &self.dir.join("token-k1.key"),
            format!("{}\n", TokenKey::generate().to_base64().as_str()).as_bytes(),
        )?;
        for i in 0..opts.distinct_certs.max(1) {
            if opts
                .stopped
                .as_ref()
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err("stopped by a signal during the setup: the temporary files are deleted".into());
            }
            let mut spec = ClientSpec::new(&format!("bench-workload-{i}"), opts.client_key, start, end);
            spec.organization = Some(ORGANIZATION.into());
            spec.dns_names = vec![format!("w{i}.bench.local")];
            let issued = ca.client(&spec)?;
            let parsed = ClientCertificate::parse(issued.cert_der.clone())?;
            self.clients.push(ClientIdentity {
                serial_decimal: parsed.serial_decimal().to_owned(),
                key: X509SigningKey::from_pkcs8_der(&issued.key_pkcs8_der)?,
                key_pkcs8_der: issued.key_pkcs8_der,
                cert_der: issued.cert_der,
            });
        }
        let crl = match opts.crl_entries {
            Some(entries) => {
                // 16-byte serials above 2^64: rcgen's client serials are random, so none collides.
                let serials: Vec<String> = (0..entries).map(|i| format!("01{:030x}", i + 1)).collect();
                let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
                write_new_public(&self.dir.join("ca.crl"), ca.crl(&serials, start, end)?.as_bytes())?;
                Some("ca.crl")
            }
            None => None,
        };
        write_new_public(&self.config, config_toml(opts.cache_max_entries, crl).as_bytes())?;
        Ok(self)
    }
}

/// The name of a bench's temp folder up to its process id: `rolegate-bench-{pid}-{nanos}`.
const BENCH_FOLDER_PREFIX: &str = "rolegate-bench-";

/// How old the folder of a bench whose process is gone must be to be removed.
const GONE_BENCH_FOLDER_AGE: Duration = Duration::from_secs(6 * 3600);

/// Removes the temp folders (with their dev PKI keys) of benches that are gone without
/// removing theirs — killed with SIGKILL, say — from `temp`: those whose process id no
/// process has now (`/proc`; elsewhere nothing is removed) and that were made more than
/// `older_than` ago (a bench in another PID namespace sharing the folder looks gone). One
/// whose id a live process has is left; folders another user owns cannot be removed and are
/// left too. Returns how many were removed.
pub fn remove_folders_of_gone_benches(temp: &Path, older_than: Duration) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(BENCH_FOLDER_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok());
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|made| made.elapsed().is_ok_and(|age| age >= older_than));
            old && pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .filter(|entry| std::fs::remove_dir_all(entry.path()).is_ok())
        .count()
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The running daemon; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Its operations listener (`/metrics`).
    pub metrics_addr: SocketAddr,
}

impl Server {
    /// Starts `{exe} --log-format {log_format} serve --config {config} --listen 127.0.0.1:0
    /// --metrics-listen 127.0.0.1:0` and waits for its `listening on https://...` and
    /// `metrics on http://...` lines. `log_filter` becomes the child's `RUST_LOG` (its stderr,
    /// audit log included, is discarded — but still formatted, as in production).
    pub fn start(
        exe: &Path,
        config: &Path,
        log_filter: &str,
        log_format: LogFormat,
    ) -> Result<Server, Box<dyn std::error::Error>> {
        // The server's log is discarded: say here what it would refuse in the configuration.
        crate::config::Config::load(config)?;
        let mut child = Command::new(exe)
            .args(["--log-format", log_format.as_str()])
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--metrics-listen")
            .arg("127.0.0.1:0")
            .arg("--stop-when-stdin-closes")
            .env("RUST_LOG", log_filter)
            // A pipe the bench holds and never writes to: when the bench is gone, however
            // killed, the server reads its end and stops.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the server's stdout is not captured")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Server {
            child,
            addr: unbound,
            metrics_addr: unbound,
        };
        while server.addr == unbound || server.metrics_addr == unbound {
            let line = match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err("the rolegate server did not announce its listeners within 30 s".into());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait()?;
                    return Err(
                        format!("the rolegate server exited ({status}) before announcing its listeners").into(),
                    );
                }
            };
            let url = crate::server::announced_url;
            if let Some(a) = url(&line, "listening on ") {
                server.addr = a.trim_start_matches("https://").parse()?;
            } else if let Some(a) = url(&line, "metrics on ") {
                server.metrics_addr = a.trim_start_matches("http://").parse()?;
            }
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The benchmark configuration: no rate limits and the given cache bound, one anchor, one
/// profile accepting session names, a role with a realistic trust policy (anchor ARN and two
/// subject attributes), and a role to chain into.
fn config_toml(cache_max_entries: u64, crl: Option<&str>) -> String {
    let server = format!(
        r#"# rolegate bench configuration (temporary)
[server]
tls_cert = "server.pem"
tls_key = "server.key"
metrics_listen = ""
region = "{REGION}"
account_id = "{ACCOUNT}"
cache_max_entries = {cache_max_entries}
# A load generator measures the server, not its rate limits.
rate_limit_per_ip = 0.0
rate_limit_connections_per_ip = 0.0
rate_limit_per_client = 0.0
max_concurrent_requests = 100000
max_concurrent_requests_per_ip = 0
max_connections_per_ip = 0
"#
    );
    server
        + &workloads_toml(&Workloads {
            id: "bench",
            trust_anchor_arn: TRUST_ANCHOR_ARN,
            role_arn: ROLE_ARN,
            chained_role_arn: CHAINED_ROLE_ARN,
            max_session_duration: 3600,
            organization: ORGANIZATION,
            common_name_like: Some("bench-workload-*"),
            crl,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_folders_of_gone_benches_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let folder = |pid: u32| temp.path().join(format!("{BENCH_FOLDER_PREFIX}{pid}-123"));
        for pid in [gone, std::process::id()] {
            std::fs::create_dir(folder(pid)).unwrap();
            std::fs::write(folder(pid).join("ca.key"), "key").unwrap();
        }
        std::fs::create_dir(temp.path().join("rolegate-bench-notapid-1")).unwrap();
        assert_eq!(
            remove_folders_of_gone_benches(temp.path(), GONE_BENCH_FOLDER_AGE),
            0,
            "made just now"
        );
        assert_eq!(remove_folders_of_gone_benches(temp.path(), Duration::ZERO), 1);
        assert!(!folder(gone).exists());
        assert!(folder(std::process::id()).exists());
        assert!(temp.path().join("rolegate-bench-notapid-1").exists());
    }

    #[test]
    fn the_bench_world_is_a_valid_configuration_without_rate_limits() {
        let world = World::create(&WorldOptions {
            distinct_certs: 2,
            client_key: KeyType::EcdsaP256,
            cache_max_entries: 1234,
            crl_entries: None,
            stopped: None,
        })
        .unwrap();
        assert_eq!(world.clients.len(), 2);
        let config = Config::load(&world.config).unwrap();
        assert!(config.anchor(TRUST_ANCHOR_ARN).is_some());
        assert!(config.profile(PROFILE_ARN).is_some());
        assert!(config.role(ROLE_ARN).is_some() && config.role(CHAINED_ROLE_ARN).is_some());
        let text = std::fs::read_to_string(&world.config).unwrap();
        for line in [
            "cache_max_entries = 1234\n",
            "rate_limit_per_client = 0.0\n",
            "rate_limit_connections_per_ip = 0.0\n",
            "\"StringLike\": {\"aws:PrincipalTag/x509Subject/CN\": \"bench-workload-*\"}",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        assert!(config.anchor(TRUST_ANCHOR_ARN).unwrap().trust.crls().is_empty());
        let dir = world.dir.clone();
        drop(world);
        assert!(!dir.exists());
    }

    #[test]
    fn a_bench_world_with_a_crl_revokes_none_of_its_clients() {
        let world = World::create(&WorldOptions {
            distinct_certs: 3,
            client_key: KeyType::EcdsaP256,
            cache_max_entries: 10,
            crl_entries: Some(50),
            stopped: None,
        })
        .unwrap();
        let config = Config::load(&world.config).unwrap();
        let anchor = config.anchor(TRUST_ANCHOR_ARN).unwrap();
        assert_eq!(anchor.trust.crls().len(), 1);
        let crl = std::fs::read(world.dir.join("ca.crl")).unwrap();
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(&crl).unwrap();
        let (_, parsed) = x509_parser::parse_x509_crl(der.as_ref()).unwrap();
        assert_eq!(parsed.iter_revoked_certificates().count(), 50);
        let now = rustls::pki_types::UnixTime::now();
        for client in &world.clients {
            let leaf = ClientCertificate::parse(client.cert_der.clone()).unwrap();
            crate::identity::verify_chain(&anchor.trust, &leaf, &[], now).unwrap();
        }
    }
}
