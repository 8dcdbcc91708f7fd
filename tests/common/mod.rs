//! Black-box test fixture: a temporary PKI and configuration, and the real `rolegate` binary
//! serving it on 127.0.0.1:0 with real TLS. Dropping the fixture stops the daemon.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rolegate::pki::{Authority, ClientSpec, Issued, KeyType};
use time::OffsetDateTime;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/app";
pub const ROLE_OTHER: &str = "arn:aws:iam::123456789012:role/other";
pub const ROLE_CHAINED: &str = "arn:aws:iam::123456789012:role/chained";

pub fn anchor_arn(id: &str) -> String {
    format!("arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/{id}")
}

pub fn profile_arn(id: &str) -> String {
    format!("arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:profile/{id}")
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// A test PKI: a root, an intermediate under it, and a foreign root nobody trusts.
pub struct Pki {
    pub root: Authority,
    pub intermediate: Authority,
    pub foreign: Authority,
}

impl Pki {
    pub fn new() -> Self {
        let n = now();
        let root = Authority::new_root("test root", KeyType::EcdsaP256, n - days(1), n + days(365)).unwrap();
        let intermediate = root
            .new_intermediate("test intermediate", KeyType::EcdsaP256, n - days(1), n + days(300))
            .unwrap();
        let foreign = Authority::new_root("foreign root", KeyType::EcdsaP256, n - days(1), n + days(365)).unwrap();
        Self {
            root,
            intermediate,
            foreign,
        }
    }

    pub fn client(ca: &Authority, cn: &str, key: KeyType) -> Issued {
        let n = now();
        let mut spec = ClientSpec::new(cn, key, n - days(1), n + days(30));
        spec.organization = Some("Example".into());
        ca.client(&spec).unwrap()
    }
}

/// `depth` intermediate CAs below `root`, each issued by the one before: "depth 1" (issued by
/// `root`) first.
pub fn intermediate_ladder(root: &Authority, depth: usize) -> Vec<Authority> {
    let n = now();
    let mut cas: Vec<Authority> = Vec::with_capacity(depth);
    for level in 1..=depth {
        let issuer = cas.last().unwrap_or(root);
        let ca = issuer
            .new_intermediate(
                &format!("depth {level}"),
                KeyType::EcdsaP256,
                n - days(1),
                n + days(300),
            )
            .unwrap();
        cas.push(ca);
    }
    cas
}

/// A running daemon with its state folder.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    pub metrics: String,
    pub child: Child,
    pub stdout_lines: mpsc::Receiver<String>,
    /// The daemon's log (stderr), line by line.
    pub stderr_lines: mpsc::Receiver<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The extra TOML appended after the standard sections (more roles, profiles...).
pub struct Setup<'a> {
    pub pki: &'a Pki,
    pub extra_toml: String,
    pub crl_pem: Option<String>,
    pub app_trust_condition: &'a str,
}

/// The plain setup: `pki`'s anchor, profile and roles, nothing added.
pub fn setup(pki: &Pki) -> Setup<'_> {
    Setup {
        pki,
        extra_toml: String::new(),
        crl_pem: None,
        app_trust_condition: "",
    }
}

pub fn trust_policy_roles_anywhere(anchor_id: &str, extra_condition: &str) -> String {
    let anchor = anchor_arn(anchor_id);
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"RA","Effect":"Allow","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{{"ArnEquals":{{"aws:SourceArn":"{anchor}"}}{extra_condition}}}}}]}}"#
    )
}

pub fn write_config(dir: &Path, setup: &Setup) -> PathBuf {
    let n = now();
    let server = setup
        .pki
        .root
        .server(
            // rolegate.test: a name only a proxy resolves (to 127.0.0.1).
            &["localhost", "127.0.0.1", "rolegate.test"],
            KeyType::EcdsaP256,
            n - days(1),
            n + days(30),
        )
        .unwrap();
    std::fs::write(dir.join("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), server.key_pem.as_bytes()).unwrap();
    std::fs::write(dir.join("ca.pem"), &setup.pki.root.issued().cert_pem).unwrap();
    std::fs::write(dir.join("foreign.pem"), &setup.pki.foreign.issued().cert_pem).unwrap();
    std::fs::write(dir.join("k1.key"), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    set_private(&dir.join("server.key"));
    set_private(&dir.join("k1.key"));
    let crls = match &setup.crl_pem {
        Some(pem) => {
            std::fs::write(dir.join("root.crl"), pem).unwrap();
            r#"crls = ["root.crl"]"#
        }
        None => "",
    };
    let app_policy = trust_policy_roles_anywhere("main", setup.app_trust_condition);
    let other_policy = trust_policy_roles_anywhere("main", "");
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
tls_cert = "server.pem"
tls_key = "server.key"
metrics_listen = "127.0.0.1:0"
region = "{REGION}"
account_id = "{ACCOUNT}"

[tokens]
active = "k1"
[[tokens.keys]]
id = "k1"
file = "k1.key"

[[trust_anchor]]
id = "main"
certificates = "ca.pem"
{crls}

[[trust_anchor]]
id = "disabled"
certificates = "ca.pem"
enabled = false

[[trust_anchor]]
id = "foreign"
certificates = "foreign.pem"

[[profile]]
id = "main"
role_arns = ["{ROLE}"]
duration_seconds = 3600

[[profile]]
id = "named"
role_arns = ["{ROLE}"]
accept_role_session_name = true

[[profile]]
id = "off"
role_arns = ["{ROLE}"]
enabled = false

[[profile]]
id = "props"
role_arns = ["{ROLE}"]
require_instance_properties = true

[[profile]]
id = "other"
role_arns = ["{ROLE_OTHER}"]

[[role]]
arn = "{ROLE}"
max_session_duration = 7200
trust_policy = '''{app_policy}'''

[[role]]
arn = "{ROLE_OTHER}"
trust_policy = '''{other_policy}'''

{extra}
"#,
        extra = setup.extra_toml
    );
    let path = dir.join("rolegate.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Writes the config for `setup` into a new temp dir and starts the daemon on it.
pub fn start(setup: &Setup) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), setup);
    start_with_config(dir, &config)
}

pub fn start_with_config(dir: tempfile::TempDir, config: &Path) -> Daemon {
    start_with_args(dir, config, &[])
}

/// Like [`start_with_config`], with extra global arguments (e.g. `--log-format json`).
pub fn start_with_args(dir: tempfile::TempDir, config: &Path, args: &[&str]) -> Daemon {
    let mut command = Command::new(binary());
    command.args(args).arg("serve").arg("--config").arg(config);
    spawn(dir, command)
}

/// Like [`start_with_config`], with extra arguments of `serve` (e.g. `--listen 127.0.0.1:0`).
pub fn start_with_serve_args(dir: tempfile::TempDir, config: &Path, serve_args: &[&str]) -> Daemon {
    let mut command = Command::new(binary());
    command.arg("serve").arg("--config").arg(config).args(serve_args);
    spawn(dir, command)
}

/// Like [`start_with_config`], with `env` added to the daemon's environment.
pub fn start_with_env(dir: tempfile::TempDir, config: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied());
    spawn(dir, command)
}

/// Like [`start_with_config`], with the open-file limit (soft and hard) set to `limit`.
pub fn start_with_descriptor_limit(dir: tempfile::TempDir, config: &Path, limit: u32) -> Daemon {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" serve --config \"$1\""))
        .arg(binary())
        .arg(config);
    spawn(dir, command)
}

/// Starts `command` (a `rolegate serve`) and waits for it to announce its listeners.
fn spawn(dir: tempfile::TempDir, mut command: Command) -> Daemon {
    let mut child = command
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rolegate");
    let stderr_lines = lines_of(child.stderr.take().unwrap());
    adopt(dir, child, stderr_lines)
}

/// Waits for `child` (a `rolegate serve` started with its stdout piped) to announce its
/// listeners on stdout; the fixture then owns it. `stderr_lines` are its log lines as far as the
/// caller passes them on.
pub fn adopt(dir: tempfile::TempDir, mut child: Child, stderr_lines: mpsc::Receiver<String>) -> Daemon {
    let rx = lines_of(child.stdout.take().expect("the daemon's stdout piped"));
    let mut endpoint = None;
    let mut metrics = None;
    while endpoint.is_none() || metrics.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("daemon did not announce its listeners");
        if let Some(a) = rolegate::server::announced_url(&line, "listening on ") {
            endpoint = Some(a);
        } else if let Some(a) = rolegate::server::announced_url(&line, "metrics on ") {
            metrics = Some(a);
        }
    }
    Daemon {
        dir,
        endpoint: endpoint.unwrap(),
        metrics: metrics.unwrap(),
        child,
        stdout_lines: rx,
        stderr_lines,
    }
}

/// Says that `test` did not run and why, where the run shows it: straight to the process's
/// stderr (the test harness captures `eprintln!` of a passing test and shows nothing), as one
/// `SKIPPED` line that `scripts/test.sh` lists again at the end of the run.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A shared library of the machine's Debian multiarch folders (`/usr/lib/<triplet>/…`) or of
/// `/usr/lib`, by its path below them, as the dynamic loader finds it.
pub fn system_library(relative: &str) -> Option<PathBuf> {
    let multiarch = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join(relative));
    std::iter::once(Path::new("/usr/lib").join(relative))
        .chain(multiarch)
        .find(|p| p.is_file())
}

/// The binary under test: `$ROLEGATE_BIN` when set (a copy that a parallel build sharing the
/// target directory cannot replace mid-run), else the one Cargo built for this test.
pub fn binary() -> PathBuf {
    std::env::var_os("ROLEGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rolegate")))
}

/// Forwards the lines of a child's pipe to a channel (and keeps draining it so the child never
/// blocks on a full pipe).
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut open = true;
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if open && tx.send(line).is_err() {
                open = false;
            }
        }
    });
    rx
}

impl Daemon {
    /// `GET /metrics` of the operations listener: the Prometheus text (the answer must be 200).
    pub fn metrics_text(&self) -> String {
        let reply = http_plain(&self.metrics, "GET", "/metrics", &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Stops the daemon (SIGTERM; it must exit cleanly) and returns the rest of its log, to
    /// the last line: the log is written in batches, so a test that asserts something is
    /// *absent* from it reads it only once the daemon has written its last batch and exited.
    pub fn stop_and_read_log(&mut self) -> Vec<String> {
        self.signal("TERM");
        let status = self.child.wait().expect("wait for rolegate");
        assert!(status.success(), "rolegate exited with {status}");
        self.stderr_lines.iter().collect()
    }

    /// Sends the daemon signal `name` (`HUP`, `TERM`...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// A TLS client (ALPN `http/1.1`) that trusts the PEM certificates of `ca`, for tests that
/// write their HTTP/1.1 requests byte by byte.
pub fn tls_connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// An HTTP/1.1 answer read off the wire: status, headers (names lowercased) and the body, dechunked
/// when it came chunked.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    /// Parses a whole answer (head and body); panics, saying so, when `raw` has no status line.
    pub fn parse(raw: &[u8]) -> HttpReply {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status line in {text:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        HttpReply { status, headers, body }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The text (still XML-escaped) of the body's first `<name>` element.
    pub fn element(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let len = self.body[start..].find(&format!("</{name}>"))?;
        Some(&self.body[start..start + len])
    }

    /// Asserts an STS error document with `status` and `code`, and returns its message.
    pub fn assert_sts_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            (self.status, self.element("Code")),
            (status, Some(code)),
            "body: {}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some("text/xml"));
        assert!(
            self.body
                .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
            "{}",
            self.body
        );
        assert_eq!(self.element("Type"), Some("Sender"));
        let request_id = self.element("RequestId").expect("RequestId");
        assert_eq!(self.header("x-amzn-requestid"), Some(request_id));
        let message = unescape(self.element("Message").expect("Message"));
        assert!(!message.is_empty());
        message
    }
}

/// Sends `head` and `body` as they are over one TLS connection to `endpoint` (`https://ip:port`,
/// trusting `ca`) and reads the whole answer. Write errors of the body are ignored: the server may
/// answer (413) and close before reading a large one.
pub async fn https_exchange(endpoint: &str, ca: &Path, head: &[u8], body: &[u8]) -> HttpReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("https://").trim_end_matches('/');
    let tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let ip = host.rsplit_once(':').expect("host:port").0;
    let name = rustls::pki_types::ServerName::try_from(ip.to_owned()).unwrap();
    let mut tls = tls_connector(ca).connect(name, tcp).await.unwrap();
    tls.write_all(head).await.unwrap();
    let _ = tls.write_all(body).await;
    let _ = tls.flush().await;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    HttpReply::parse(&out)
}

/// An `aws-sdk-sts` client configured through `aws-config` for `endpoint` (`https://…`), trusting
/// only `ca`, signing with the given session credentials; retries off, nothing read from the
/// machine's AWS settings.
pub async fn sts_sdk_client(
    endpoint: &str,
    ca: &Path,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
) -> aws_sdk_sts::Client {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(ca).unwrap();
    let tls_context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem))
        .build()
        .unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls_context)
        .build_https();
    let credentials = aws_credential_types::Credentials::new(
        access_key_id,
        secret_access_key,
        Some(session_token.to_owned()),
        None,
        "rolegate-test",
    );
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        // Nothing of the machine's AWS settings (AWS_USE_FIPS_ENDPOINT, ~/.aws/config).
        .empty_test_environment()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        // The SDK's 3.1 s connect timeout covers the TLS handshake too: too short for a
        // loaded test machine, with retries off.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(30))
                .build(),
        )
        .http_client(http)
        .load()
        .await;
    aws_sdk_sts::Client::new(&shared)
}

/// One plain-HTTP/1.1 request (`Connection: close`, no body) to `base` (`http://host:port`),
/// the whole answer read (20 s at the most).
pub fn http_plain(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpReply {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    HttpReply::parse(&out)
}

/// The value of the sample `name_and_labels` (the exact text before the value) in Prometheus
/// text `metrics`, if exposed.
pub fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// The body of a `Transfer-Encoding: chunked` HTTP/1.1 answer, decoded. Panics, saying what is
/// wrong, on a malformed or truncated one (a bad chunk-size line, a chunk shorter than its size
/// or not followed by CRLF, no last chunk) instead of returning part of the body.
pub fn dechunk(body: &str) -> String {
    let mut s = body.as_bytes();
    let mut out = Vec::new();
    loop {
        let line_end = s
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("chunked body without its last chunk: {body:?}"));
        let line =
            std::str::from_utf8(&s[..line_end]).unwrap_or_else(|_| panic!("chunk-size line not ASCII: {body:?}"));
        // A chunk extension (`;name=value`) may follow the size.
        let size = line.split(';').next().unwrap_or_default().trim();
        let n = usize::from_str_radix(size, 16)
            .unwrap_or_else(|e| panic!("chunk-size {size:?} is not hexadecimal ({e}): {body:?}"));
        let rest = &s[line_end + 2..];
        if n == 0 {
            break;
        }
        let chunk = rest
            .get(..n)
            .unwrap_or_else(|| panic!("chunk of {n} bytes with {} left: {body:?}", rest.len()));
        out.extend_from_slice(chunk);
        s = rest[n..]
            .strip_prefix(b"\r\n")
            .unwrap_or_else(|| panic!("chunk of {n} bytes not followed by CRLF: {body:?}"));
    }
    String::from_utf8(out).unwrap_or_else(|e| panic!("chunked body is not UTF-8 ({e}): {body:?}"))
}

/// `s` with XML's five predefined entities replaced by their characters (`&amp;` last, so
/// `&amp;lt;` stays `&lt;`).
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Splits an AccessDenied message into the AWS message and the reason code of its
/// ` (reason: CODE, request id: ID)` suffix; panics when the suffix is missing or malformed.
pub fn split_reason(message: &str) -> (&str, &str) {
    let malformed = || panic!("no ' (reason: ..., request id: ...)' suffix: {message:?}");
    let (text, suffix) = message.rsplit_once(" (reason: ").unwrap_or_else(malformed);
    let (reason, request_id) = suffix
        .strip_suffix(')')
        .and_then(|s| s.split_once(", request id: "))
        .unwrap_or_else(malformed);
    let uuid_shape = request_id.len() == 36
        && request_id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        });
    if reason.is_empty() || !uuid_shape {
        malformed();
    }
    (text, reason)
}

/// Asserts `r` is a 403 `AccessDeniedException` answer whose message is exactly `message`
/// followed by the suffix naming `reason`.
pub fn assert_access_denied<T: std::fmt::Debug>(
    r: Result<T, rolegate::client::ClientError>,
    message: &str,
    reason: &str,
) {
    match r {
        Err(rolegate::client::ClientError::Api {
            status,
            error_type,
            message: answered,
        }) => {
            assert_eq!(
                (status, error_type.as_str()),
                (403, "AccessDeniedException"),
                "message: {answered}"
            );
            assert_eq!(split_reason(&answered), (message, reason));
        }
        other => panic!("expected 403 AccessDeniedException, got {other:?}"),
    }
}

/// The message of a certificate the trust anchor does not vouch for (no path to its CAs).
pub const UNKNOWN_ISSUER: &str = "Untrusted certificate: certificate is not signed by a trusted certificate \
     authority of this trust anchor (if an intermediate CA issued it, send that CA's certificate with it as the chain)";

/// The message of a certificate of the chain listed in a CRL of the trust anchor.
pub const REVOKED: &str = "Untrusted certificate: certificate is revoked by a CRL of the trust anchor";

/// The message of a chain whose certificate expired at `not_after` (Unix seconds).
pub fn expired_message(not_after: i64) -> String {
    format!(
        "Untrusted certificate: certificate has expired (notAfter {})",
        rolegate::identity::Timestamp(not_after)
    )
}
