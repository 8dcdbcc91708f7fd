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

use crate::fsutil::{write_new_private, write_new_public};
use crate::identity::ClientCertificate;
use crate::pki::{Authority, ClientSpec, KeyType};
use crate::session::TokenKey;
use crate::sigv4::x509::X509SigningKey;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";
pub const CHAINED_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench-chained";
pub const TRUST_ANCHOR_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/bench";
pub const PROFILE_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/bench";

/// How long the server may take to announce its listener.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A client identity as a real workload holds it: certificate DER, its serial in decimal
/// (the `Credential=` of the signature) and the private key.
pub struct ClientIdentity {
    pub cert_der: Vec<u8>,
    pub serial_decimal: String,
    pub key: X509SigningKey,
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
}

impl World {
    /// Creates the PKI, token key and configuration in a new private temp folder.
    pub fn create(opts: &WorldOptions) -> Result<World, Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!(
            "rolegate-bench-{}-{}",
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
        let end = now + time::Duration::days(2);
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
            let mut spec = ClientSpec::new(&format!("bench-workload-{i}"), opts.client_key, start, end);
            spec.organization = Some("rolegate bench".into());
            spec.dns_names = vec![format!("w{i}.bench.local")];
            let issued = ca.client(&spec)?;
            let parsed = ClientCertificate::parse(issued.cert_der.clone())?;
            self.clients.push(ClientIdentity {
                serial_decimal: parsed.serial_decimal().to_owned(),
                key: X509SigningKey::from_pkcs8_der(&issued.key_pkcs8_der)?,
                cert_der: issued.cert_der,
            });
        }
        write_new_public(&self.config, config_toml(opts.cache_max_entries).as_bytes())?;
        Ok(self)
    }
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
}

impl Server {
    /// Starts `{exe} serve --config {config} --listen 127.0.0.1:0` and waits for its
    /// `listening on https://...` line. `log_filter` becomes the child's `RUST_LOG` (its stderr,
    /// audit log included, is discarded — but still formatted, as in production).
    pub fn start(exe: &Path, config: &Path, log_filter: &str) -> Result<Server, Box<dyn std::error::Error>> {
        let mut child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
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
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        loop {
            let line = rx
                .recv_timeout(START_TIMEOUT)
                .map_err(|_| "the rolegate server did not announce its listener within 30 s")?;
            if let Some(a) = line.strip_prefix("listening on https://") {
                server.addr = a.trim().parse()?;
                return Ok(server);
            }
        }
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

/// The benchmark configuration: one anchor, one profile accepting session names, a role with a
/// realistic trust policy (anchor ARN and a subject attribute), and a role to chain into.
fn config_toml(cache_max_entries: u64) -> String {
    format!(
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
rate_limit_per_client = 0.0
max_concurrent_requests = 100000

[tokens]
active = "k1"

[[tokens.keys]]
id = "k1"
file = "token-k1.key"

[[trust_anchor]]
id = "bench"
certificates = "ca.pem"

[[profile]]
id = "bench"
role_arns = ["{ROLE_ARN}"]
duration_seconds = 3600
accept_role_session_name = true

[[role]]
arn = "{ROLE_ARN}"
max_session_duration = 3600
trust_policy = '''
{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "BenchWorkloads",
    "Effect": "Allow",
    "Principal": {{"Service": "rolesanywhere.amazonaws.com"}},
    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    "Condition": {{
      "ArnEquals": {{"aws:SourceArn": "{TRUST_ANCHOR_ARN}"}},
      "StringEquals": {{"aws:PrincipalTag/x509Subject/O": "rolegate bench"}},
      "StringLike": {{"aws:PrincipalTag/x509Subject/CN": "bench-workload-*"}}
    }}
  }}]
}}
'''
permission_policies = ['''{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}''']

[[role]]
arn = "{CHAINED_ROLE_ARN}"
max_session_duration = 3600
trust_policy = '''
{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "ChainFromBench",
    "Effect": "Allow",
    "Principal": {{"AWS": "{ROLE_ARN}"}},
    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
  }}]
}}
'''
permission_policies = ['''{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}}]}}''']
"#
    )
}
