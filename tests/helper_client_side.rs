//! The client side against the real daemon: `rolegate credential-process` (output, errors, the
//! on-disk cache under 20 parallel invocations counted at the server's /metrics), `rolegate
//! sidecar` (IMDSv2 through aws-config's own provider, the container endpoint, outages and
//! recovery) and `rolegate update`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rolegate::pki::KeyType;

/// Files of one client identity plus the flags that use them.
struct Client {
    dir: tempfile::TempDir,
    /// The certificate serial as the daemon formats it (the default session name).
    serial_hex: String,
}

fn session_name(leaf: &rolegate::pki::Issued) -> String {
    rolegate::identity::ClientCertificate::parse(leaf.cert_der.clone())
        .unwrap()
        .serial_hex()
        .to_owned()
}

/// Writes a private key file private to its owner, as `rolegate certs` writes keys (a
/// world-readable one is warned about).
fn write_private_key(path: &Path, key_pem: &str) {
    std::fs::write(path, key_pem.as_bytes()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

impl Client {
    fn new(pki: &Pki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let leaf = Pki::client(&pki.root, "workload", KeyType::EcdsaP256);
        std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
        write_private_key(&dir.path().join("key.pem"), &leaf.key_pem);
        Self {
            dir,
            serial_hex: session_name(&leaf),
        }
    }

    fn args(&self, d: &Daemon, profile: &str) -> Vec<String> {
        let p = |n: &str| self.dir.path().join(n).display().to_string();
        [
            "--certificate",
            &p("cert.pem"),
            "--private-key",
            &p("key.pem"),
            "--trust-anchor-arn",
            &anchor_arn("main"),
            "--profile-arn",
            &profile_arn(profile),
            "--role-arn",
            ROLE,
            "--endpoint",
            &d.endpoint,
            "--ca-bundle",
            &d.ca_bundle().display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn command(&self, sub: &str, d: &Daemon) -> Command {
        self.command_for(sub, d, "main")
    }

    fn command_for(&self, sub: &str, d: &Daemon, profile: &str) -> Command {
        self.command_with(sub, self.args(d, profile))
    }

    /// [`Client::command`], reaching the daemon `d` through `endpoint`.
    fn command_through(&self, sub: &str, d: &Daemon, endpoint: &str) -> Command {
        let mut args = self.args(d, "main");
        let at = args.iter().position(|a| a == "--endpoint").unwrap() + 1;
        args[at] = endpoint.to_owned();
        self.command_with(sub, args)
    }

    fn command_with(&self, sub: &str, args: Vec<String>) -> Command {
        let mut c = Command::new(binary());
        c.arg(sub)
            .args(args)
            .env("HOME", self.home())
            .env("XDG_CACHE_HOME", self.home().join(".cache"))
            .env_remove("ROLEGATE_NO_CACHE")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE");
        c
    }
}

/// A plain HTTP/1.1 request to 127.0.0.1; returns (status, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let reply = http_plain(addr, method, path, headers);
    (reply.status, reply.body)
}

fn create_session_count(d: &Daemon) -> u64 {
    let metrics = d.metrics_text();
    sample(
        &metrics,
        r#"rolegate_requests_total{api="rest",operation="CreateSession",outcome="allow"}"#,
    )
    .map_or(0, |v| v as u64)
}

#[test]
fn credential_process_prints_version_1_json_and_errors_on_one_line() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let out = c.command("credential-process", &d).arg("--no-cache").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "AccessKeyId",
            "AccountId",
            "Expiration",
            "SecretAccessKey",
            "SessionToken",
            "Version"
        ]
    );
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccountId"], ACCOUNT, "the role's account");
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert!(!c.home().join(".cache").exists(), "--no-cache writes nothing");

    let out = c.command_for("credential-process", &d, "nope").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err,
        format!(
            "error: ResourceNotFoundException (HTTP 404): Profile {} was not found.\n",
            profile_arn("nope")
        )
    );
}

/// A private key file every local user can read is named on stderr, once, and the credentials
/// are still fetched; a group-readable or private one is not named.
#[cfg(unix)]
#[test]
fn a_world_readable_private_key_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let key = c.dir.path().join("key.pem");
    let warning = format!(
        "the private key file {} is readable by every local user (mode 0644), and with it the role's credentials",
        key.display()
    );
    for (mode, warned) in [(0o644, true), (0o640, false), (0o600, false)] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = c.command("credential-process", &d).arg("--no-cache").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mode {mode:o}: {stderr}");
        assert_eq!(
            stderr.matches(&warning).count(),
            usize::from(warned),
            "mode {mode:o}: {stderr}"
        );
    }
}

/// aws_signing_helper's flags are Go pflag flags: a boolean takes `=true`/`=false`, a flag
/// given twice takes its last value (a base command line and an override), an endpoint may
/// be a bare `host:port`; and a profile of another region than the trust anchor is refused
/// before anything is sent, as there.
#[test]
fn flags_read_as_aws_signing_helper_reads_them() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let bare_endpoint = d.endpoint.strip_prefix("https://").unwrap();
    let out = c
        .command_for("credential-process", &d, "nope")
        .args(["--profile-arn", &profile_arn("main"), "--endpoint", bare_endpoint])
        .args([
            "--no-cache=true",
            "--debug=false",
            "--with-proxy=false",
            "--no-verify-ssl=0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "--debug=false logs nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!c.home().join(".cache").exists(), "--no-cache=true writes nothing");

    let out = c
        .command("credential-process", &d)
        .arg("--debug=maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(
            "error: invalid value 'maybe' for '--debug[=<BOOL>]': expected true or false (or 1, t, TRUE, True, 0, f, FALSE, False)"
        ),
        "{err}"
    );

    let create_sessions = || {
        d.metrics_text()
            .lines()
            .filter(|l| l.starts_with(r#"rolegate_requests_total{api="rest",operation="CreateSession","#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = create_sessions();
    let out = c
        .command("credential-process", &d)
        .args([
            "--no-cache",
            "--profile-arn",
            "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/main",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: the trust anchor ARN is in region {REGION} and the profile ARN in eu-west-1; both must be in one region\n"
        )
    );
    // Nor is an ARN that is none, or an endpoint with a part the server has no place for.
    for (args, error) in [
        (
            ["--profile-arn", "notanarn"],
            "error: --profile-arn 'notanarn' is not an ARN: expected arn:partition:service:region:account-id:resource\n".to_owned(),
        ),
        // Named as no ARN, not as an ARN without a region (which --region would not fix).
        (
            ["--trust-anchor-arn", "dev"],
            "error: --trust-anchor-arn 'dev' is not an ARN: expected arn:partition:service:region:account-id:resource\n".to_owned(),
        ),
        (
            ["--endpoint", &format!("{}?x=1", d.endpoint)],
            format!(
                "error: invalid endpoint '{}?x=1': a query (?…) has no place in an endpoint: expected https://host[:port]\n",
                d.endpoint
            ),
        ),
    ] {
        let out = c.command("credential-process", &d).arg("--no-cache").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8(out.stderr).unwrap(), error);
    }
    assert_eq!(create_sessions(), before, "nothing was sent");
}

/// A minimal HTTP CONNECT proxy on 127.0.0.1, in plain TCP or (`tls`) TLS. It opens every
/// tunnel to `target`, whatever host the client names (as a site's proxy resolves names its
/// clients cannot), or answers with `refusal` instead; it keeps the head of every request.
struct ConnectProxy {
    addr: std::net::SocketAddr,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn to(
        target: std::net::SocketAddr,
        refusal: Option<&'static str>,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> ConnectProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let (seen, tls) = (seen.clone(), tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            None => Self::serve(tcp, target, refusal, &seen).await,
                            Some(config) => {
                                if let Ok(tls) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
                                    Self::serve(tls, target, refusal, &seen).await;
                                }
                            }
                        }
                    });
                }
            });
        });
        ConnectProxy { addr, heads }
    }

    async fn serve(
        mut client: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        target: std::net::SocketAddr,
        refusal: Option<&'static str>,
        seen: &std::sync::Mutex<Vec<String>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            match client.read_u8().await {
                Ok(byte) => head.push(byte),
                Err(_) => return,
            }
        }
        seen.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
        if let Some(status) = refusal {
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            let _ = client.write_all(answer.as_bytes()).await;
            return;
        }
        let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// The daemon's own certificate (it names 127.0.0.1) for a TLS proxy.
fn proxy_tls(d: &Daemon) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(d.dir.path().join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(d.dir.path().join("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    std::sync::Arc::new(config)
}

/// `--with-proxy` (as `aws_signing_helper`'s): CreateSession goes through the CONNECT proxy in
/// HTTPS_PROXY, with the URL's credentials as Proxy-Authorization; a loopback endpoint and one
/// NO_PROXY lists go directly, and so does everything without the flag. A proxy that refuses
/// is named with what to check, and the proxy's password is never printed.
#[test]
fn with_proxy_credential_process_tunnels_through_the_https_proxy() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let port = socket_of(&d.endpoint).port();
    let named = format!("https://rolegate.test:{port}");
    let run = |proxy: &ConnectProxy, endpoint: &str, flags: &[&str], vars: &[(&str, String)]| {
        let mut command = c.command_through("credential-process", &d, endpoint);
        command.arg("--no-cache").args(flags);
        for var in [
            "HTTPS_PROXY",
            "https_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env_remove(var);
        }
        command.env("HTTPS_PROXY", format!("http://alice:pa55@{}", proxy.addr));
        for (k, v) in vars {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let proxy = ConnectProxy::to(socket_of(&d.endpoint), None, None);

    let out = run(&proxy, &named, &["--with-proxy", "--debug"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"), "{v}");
    assert!(
        stderr.contains(&format!(
            "rolegate: CreateSession at {named} (through proxy http://{} (HTTPS_PROXY)) for {ROLE}",
            proxy.addr
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("pa55") && !stderr.contains("alice"), "{stderr}");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let lines: Vec<&str> = heads[0].lines().collect();
    assert_eq!(lines[0], format!("CONNECT rolegate.test:{port} HTTP/1.1"), "{heads:?}");
    // base64("alice:pa55")
    assert!(
        lines.contains(&"Proxy-Authorization: Basic YWxpY2U6cGE1NQ=="),
        "{heads:?}"
    );

    // Directly: without the flag, and to a loopback endpoint. (NO_PROXY is left to the unit
    // tests: a host it lists would be resolved here, and tests stay off the network.)
    let out = run(&proxy, &d.endpoint, &[], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&proxy, &d.endpoint, &["--with-proxy", "--debug"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("(directly (a loopback endpoint is never proxied))"),
        "{stderr}"
    );
    assert_eq!(proxy.heads().len(), 1, "only the first run went through the proxy");

    // An https:// proxy: TLS to the proxy (trusted as the endpoint is), the tunnel inside it.
    let tls_proxy = ConnectProxy::to(socket_of(&d.endpoint), None, Some(proxy_tls(&d)));
    let via = format!("https://{}", tls_proxy.addr);
    let out = run(
        &tls_proxy,
        &named,
        &["--with-proxy", "--debug"],
        &[("HTTPS_PROXY", via.clone())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("(through proxy {via} (HTTPS_PROXY))")),
        "{stderr}"
    );
    let heads = tls_proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("CONNECT rolegate.test:{port} HTTP/1.1\r\n")),
        "{heads:?}"
    );

    // A proxy that refuses, one that wants credentials, and none at all.
    for (status, hint) in [
        (
            "403 Forbidden",
            "tunnel error: unsuccessful (the proxy refused to open a tunnel to the endpoint: does it allow CONNECT to \
             that host and port?)",
        ),
        (
            "407 Proxy Authentication Required",
            "tunnel error: proxy authorization required (the proxy asks for credentials: give them in the proxy's \
             URL, http://user:password@host:port)",
        ),
    ] {
        let refusing = ConnectProxy::to(socket_of(&d.endpoint), Some(status), None);
        let out = run(&refusing, &named, &["--with-proxy"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "error: cannot reach {named} through proxy http://{} (HTTPS_PROXY): client error (Connect): {hint}\n",
                refusing.addr
            )
        );
        assert_eq!(refusing.heads().len(), 1);
    }
    let gone = ConnectProxy::to(socket_of(&d.endpoint), None, None);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(
        &gone,
        &named,
        &["--with-proxy"],
        &[("HTTPS_PROXY", format!("http://{closed}"))],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach {named} through proxy http://{closed} (HTTPS_PROXY): client error (Connect): tunnel \
             error: failed to create underlying connection"
        )) && stderr.ends_with("(is the proxy running, and listening on that address and port?)\n"),
        "{stderr}"
    );
    let out = run(
        &gone,
        &named,
        &["--with-proxy"],
        &[("HTTPS_PROXY", "socks5://u:secret@127.0.0.1:1".into())],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: HTTPS_PROXY names a socks5 proxy: rolegate reaches proxies with HTTP CONNECT only (http:// or \
         https://)\n"
    );
}

/// `aws_signing_helper`'s flags for certificate selectors, TPM keys and operating system
/// stores are refused with the reason (exit status 1) before any request; an unknown flag stays
/// a usage error (exit 2). `--reuse-pin` is accepted (rolegate always reuses the PIN).
#[test]
fn key_store_flags_of_aws_signing_helper_are_refused_with_the_reason() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let reason = "rolegate reads the certificate and key from files (PEM or DER, a PKCS#8, SEC1 or PKCS#1 key, or a \
                  PKCS#12 bundle) or from a PKCS#11 token (pkcs11: URIs with --pkcs11-lib; a TPM through \
                  tpm2-pkcs11); certificate selectors, the TPM key flags and the Windows and macOS certificate \
                  stores are not supported";
    for (sub, flags, what) in [
        (
            "credential-process",
            &["--cert-selector", "file://selector.json"][..],
            "--cert-selector",
        ),
        ("update", &["--once", "--tpm-key-password", "x"], "--tpm-key-password"),
        ("sidecar", &["--system-store-name", "MY"], "--system-store-name"),
        (
            "credential-process",
            &["--no-tpm-key-password"],
            "--no-tpm-key-password",
        ),
        (
            "credential-process",
            &["--use-latest-expiring-certificate"],
            "--use-latest-expiring-certificate",
        ),
    ] {
        let out = c.command(sub, &d).args(flags).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{sub} {flags:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("error: {what}: {reason}\n"),
            "{sub} {flags:?}"
        );
    }
    // As aws_signing_helper's users write them: the selector and store flags stand for
    // --certificate, which is then not missing.
    for flags in [
        &["--cert-selector", "Key=x509Subject,Value=CN=foo"][..],
        &["--system-store-name", "MY"],
        &["--use-latest-expiring-certificate"],
    ] {
        let out = Command::new(binary())
            .arg("credential-process")
            .args(flags)
            .args(["--trust-anchor-arn", "a", "--profile-arn", "b", "--role-arn", "c"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("error: {}: {reason}\n", flags[0]),
            "{flags:?}"
        );
    }
    // Given false, the flag stands for nothing: --certificate is missing, a usage error (as
    // clap reports it when no such flag is given at all).
    for sub in ["credential-process", "sidecar", "update"] {
        let out = Command::new(binary())
            .arg(sub)
            .args(["--use-latest-expiring-certificate=false"])
            .args(["--trust-anchor-arn", "a", "--profile-arn", "b", "--role-arn", "c"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(
                "error: the following required arguments were not provided:\n  --certificate <CERTIFICATE>\n\n\
                 Usage: rolegate "
            ),
            "{sub}: {stderr}"
        );
    }
    assert_eq!(create_session_count(&d), 0);
    let out = c
        .command("credential-process", &d)
        .args(["--no-cache", "--reuse-pin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = c
        .command("credential-process", &d)
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // As aws_signing_helper: --retry-errors is for the refreshing update only.
    let out = c
        .command("update", &d)
        .args(["--once", "--retry-errors"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the argument '--once[=<BOOL>]' cannot be used with '--retry-errors[=<BOOL>]'"),
        "{stderr}"
    );
    // Told false, the flag is as absent: no conflict.
    let out = c
        .command("update", &d)
        .args(["--once", "--retry-errors=false"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The SoftHSM module and its tools, or None — with a printed notice — where softhsm2 and
/// opensc are not installed (`scripts/test.sh` installs them where it may).
fn softhsm() -> Option<PathBuf> {
    let module = system_library("softhsm/libsofthsm2.so");
    let tools = ["softhsm2-util", "pkcs11-tool"]
        .iter()
        .all(|tool| Command::new(tool).arg("--help").output().is_ok());
    match (module, tools) {
        (Some(module), true) => Some(module),
        _ => {
            skip(
                "(a PKCS#11 test)",
                "SoftHSM (softhsm2) or OpenSC's pkcs11-tool is not installed: apt-get install softhsm2 opensc",
            );
            None
        }
    }
}

/// A SoftHSM token "rolegate" (user PIN 1234) in a folder of its own, holding `objects`:
/// (label, id, private key PEM, certificate DER or none).
struct Token {
    dir: tempfile::TempDir,
    module: PathBuf,
}

impl Token {
    fn new(module: PathBuf, objects: &[(&str, u8, &str, Option<&[u8]>)]) -> Token {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        let conf = format!("directories.tokendir = {}\n", dir.path().join("tokens").display());
        std::fs::write(dir.path().join("softhsm2.conf"), conf).unwrap();
        let token = Token { dir, module };
        token.run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                "rolegate",
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ],
        );
        for (label, id, key_pem, certificate) in objects {
            let key = token.dir.path().join(format!("{label}.key"));
            std::fs::write(&key, key_pem).unwrap();
            let id = format!("{id:02x}");
            let key = key.display().to_string();
            token.run(
                "softhsm2-util",
                &[
                    "--import", &key, "--token", "rolegate", "--label", label, "--id", &id, "--pin", "1234",
                ],
            );
            if let Some(der) = certificate {
                let path = token.dir.path().join(format!("{label}.der"));
                std::fs::write(&path, der).unwrap();
                let module = token.module.display().to_string();
                let path = path.display().to_string();
                #[rustfmt::skip]
                token.run("pkcs11-tool", &[
                    "--module", &module, "--token-label", "rolegate", "--login", "--pin", "1234",
                    "--write-object", &path, "--type", "cert", "--id", &id, "--label", label,
                ]);
            }
        }
        token
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = Command::new(tool)
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `credential-process` with the key — and the certificate — on a PKCS#11 token (SoftHSM),
/// named by RFC 7512 URIs as `aws_signing_helper` takes them: ECDSA and RSA keys sign on the
/// token and the server accepts the signatures; the PIN comes from the URI or the passphrase
/// flags and never shows in a message; a wrong PIN, a key of another certificate, an unknown
/// token and a missing module are each named.
#[test]
fn credential_process_signs_with_a_key_on_a_pkcs11_token() {
    let Some(module) = softhsm() else { return };
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let rsa = Pki::client(&pki.root, "workload-rsa", KeyType::Rsa2048);
    let p384 = Pki::client(&pki.root, "workload-p384", KeyType::EcdsaP384);
    std::fs::write(c.dir.path().join("p384.pem"), &p384.cert_pem).unwrap();
    let ecdsa_key = std::fs::read_to_string(c.dir.path().join("key.pem")).unwrap();
    let ecdsa_cert = std::fs::read(c.dir.path().join("cert.pem")).unwrap();
    let ecdsa_der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(&ecdsa_cert).unwrap()
    };
    std::fs::write(c.dir.path().join("rsa.pem"), &rsa.cert_pem).unwrap();
    std::fs::write(c.dir.path().join("pin"), "1234\n").unwrap();
    let token = Token::new(
        module.clone(),
        &[
            ("workload", 1, &ecdsa_key, Some(ecdsa_der.as_ref())),
            ("workload-rsa", 2, &rsa.key_pem, None),
            ("workload-p384", 3, &p384.key_pem, None),
        ],
    );
    // `extra` holding "+cache" runs with the credential cache, else without.
    let run = |certificate: &str, key: Option<&str>, extra: &[&str]| {
        let mut args = c.args(&d, "main");
        let at = args.iter().position(|a| a == "--certificate").unwrap() + 1;
        args[at] = certificate.to_owned();
        let at = args.iter().position(|a| a == "--private-key").unwrap();
        match key {
            Some(key) => args[at + 1] = key.to_owned(),
            None => drop(args.drain(at..at + 2)),
        }
        if !extra.contains(&"+cache") {
            args.push("--no-cache".to_owned());
        }
        args.extend(["--pkcs11-lib".to_owned(), module.display().to_string()]);
        args.extend(extra.iter().filter(|s| **s != "+cache").map(|s| s.to_string()));
        let out = c
            .command_with("credential-process", args)
            .env("SOFTHSM2_CONF", token.conf())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cert_file = c.dir.path().join("cert.pem").display().to_string();
    let rsa_file = c.dir.path().join("rsa.pem").display().to_string();
    let pin_file = c.dir.path().join("pin").display().to_string();
    let ok = |(code, stdout, stderr): (Option<i32>, String, String)| {
        assert_eq!(code, Some(0), "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"), "{v}");
    };
    // The key on the token, the certificate in a file: ECDSA (PIN in the URI) and RSA (PIN
    // in a file, key found by id).
    ok(run(
        &cert_file,
        Some("pkcs11:token=rolegate;object=workload?pin-value=1234"),
        &[],
    ));
    ok(run(
        &rsa_file,
        Some("pkcs11:token=rolegate;id=%02"),
        &["--private-key-passphrase-file", &pin_file],
    ));
    let p384_file = c.dir.path().join("p384.pem").display().to_string();
    ok(run(&p384_file, Some("pkcs11:object=workload-p384?pin-value=1234"), &[]));
    // Both on the token: the key is the one with the certificate's id.
    ok(run(
        "pkcs11:token=rolegate;object=workload;type=cert?pin-value=1234",
        None,
        &[],
    ));
    assert_eq!(create_session_count(&d), 4);

    for (certificate, key, extra, error) in [
        (
            cert_file.as_str(),
            Some("pkcs11:token=rolegate;object=workload?pin-value=4321"),
            &[][..],
            "pkcs11:token=rolegate;object=workload: the token refused the PIN (CKR_PIN_INCORRECT)",
        ),
        (
            cert_file.as_str(),
            Some("pkcs11:token=rolegate;id=%02?pin-value=1234"),
            &[],
            &format!("pkcs11:token=rolegate;id=%02: this private key is not the key of the certificate in {cert_file}")
                as &str,
        ),
        (
            cert_file.as_str(),
            Some("pkcs11:token=rolegate;object=workload"),
            &[],
            "pkcs11:token=rolegate;object=workload: no private key on the token (private keys are often visible only \
             once logged in: give the PIN)",
        ),
        (
            "pkcs11:token=elsewhere;object=workload",
            None,
            &[],
            "pkcs11:token=elsewhere;object=workload: no token matches (the module has 'rolegate' (slot",
        ),
        (
            "pkcs11:token=rolegate;object=workload?pin-value=1234&pin-source=file:/x",
            None,
            &[],
            "pkcs11:token=rolegate;object=workload: pin-source is not supported",
        ),
        (
            // A PIN among the path attributes: refused with where it goes, and not shown.
            "pkcs11:token=rolegate;pin-value=1234;object=workload",
            None,
            &[],
            "pkcs11:token=rolegate;object=workload: `pin-value` is a query attribute (RFC 7512 §2.3): write it \
             after `?`, as `pkcs11:…?pin-value=…`\n",
        ),
        (
            cert_file.as_str(),
            Some("pkcs11:token=rolegate;object=workload?pin-value=1234"),
            &["--intermediates", "pkcs11:object=chain?pin-value=1234"],
            "pkcs11:object=chain: a PKCS#11 URI where a file is read (export the object to a file, e.g. with \
             pkcs11-tool --read-object)",
        ),
    ] {
        let (code, stdout, stderr) = run(certificate, key, extra);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.starts_with(&format!("error: {error}")), "{stderr}");
        assert!(
            !stderr.contains("1234") && !stderr.contains("4321"),
            "the PIN is never shown: {stderr}"
        );
    }
    // Without --pkcs11-lib: p11-kit's proxy, as aws_signing_helper, which offers SoftHSM's
    // tokens through the module file the softhsm2 package installs (and p11-kit's trust
    // module's, holding CA certificates, so the certificate is searched for on several).
    let mut args = c.args(&d, "main");
    let at = args.iter().position(|a| a == "--certificate").unwrap() + 1;
    args[at] = "pkcs11:object=workload;type=cert?pin-value=1234".into();
    let at = args.iter().position(|a| a == "--private-key").unwrap();
    args.drain(at..at + 2);
    args.push("--no-cache".into());
    let out = c
        .command_with("credential-process", args)
        .env("SOFTHSM2_CONF", token.conf())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if system_library("p11-kit-proxy.so").is_some() {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(create_session_count(&d), 5);
    } else {
        eprintln!(
            "p11-kit-proxy.so is not installed (apt-get install p11-kit-modules): its absence is checked instead"
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.starts_with(
                "error: cannot load the PKCS#11 module p11-kit-proxy.so (the default without --pkcs11-lib, as for \
                 aws_signing_helper: install p11-kit, or name the module)"
            ),
            "{stderr}"
        );
        assert_eq!(create_session_count(&d), 4);
    }
    // With the cache: the first run fetches; a hit reads the certificate without logging in
    // and the key not at all, so a wrong PIN does not matter to it.
    let on_token = "pkcs11:token=rolegate;object=workload;type=cert";
    let before = create_session_count(&d);
    ok(run(
        on_token,
        None,
        &["+cache", "--private-key-passphrase-file", &pin_file],
    ));
    assert_eq!(create_session_count(&d), before + 1);
    ok(run(&format!("{on_token}?pin-value=0000"), None, &["+cache"]));
    assert_eq!(create_session_count(&d), before + 1);
    // `explain` takes the client's command line, and reads the certificate from the token.
    let mut args = c.args(&d, "main");
    let at = args.iter().position(|a| a == "--certificate").unwrap() + 1;
    args[at] = on_token.to_owned();
    let at = args.iter().position(|a| a == "--private-key").unwrap();
    args.drain(at..at + 2);
    let out = Command::new(binary())
        .args(["explain", "--config"])
        .arg(d.dir.path().join("rolegate.toml"))
        .args(args)
        .args(["--pkcs11-lib", &module.display().to_string()])
        .env("SOFTHSM2_CONF", token.conf())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CN=workload"), "{stdout}");

    // The sidecar with an RSA key on the token: its IMDSv2 tokens are keyed by the token's
    // (deterministic) signature of a fixed label, so a restarted sidecar accepts them. With
    // an EC key on the token they are keyed randomly, which it warns about.
    let sidecar_with = |key: &str| {
        let mut args = c.args(&d, "main");
        let at = args.iter().position(|a| a == "--certificate").unwrap() + 1;
        args[at] = if key.contains("workload-rsa") {
            rsa_file.clone()
        } else {
            cert_file.clone()
        };
        let at = args.iter().position(|a| a == "--private-key").unwrap() + 1;
        args[at] = key.to_owned();
        args.extend(["--pkcs11-lib".to_owned(), module.display().to_string()]);
        let mut command = c.command_with("sidecar", args);
        command.env("SOFTHSM2_CONF", token.conf()).env("RUST_LOG", "warn");
        spawn_sidecar(command, &[], Stdio::piped())
    };
    let imds_token = |s: &Sidecar| {
        let (status, token) = http(
            &s.url,
            "PUT",
            "/latest/api/token",
            &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
        );
        assert_eq!(status, 200);
        token
    };
    let role_list = |s: &Sidecar, token: &str| {
        http(
            &s.url,
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[("x-aws-ec2-metadata-token", token)],
        )
        .0
    };
    let rsa_key = "pkcs11:object=workload-rsa?pin-value=1234";
    let first = sidecar_with(rsa_key);
    let issued = imds_token(&first);
    assert_eq!(role_list(&first, &issued), 200);
    drop(first);
    let restarted = sidecar_with(rsa_key);
    assert_eq!(
        role_list(&restarted, &issued),
        200,
        "a restarted sidecar accepts its tokens"
    );
    drop(restarted);
    let mut ec = sidecar_with("pkcs11:object=workload;type=private?pin-value=1234");
    let issued = imds_token(&ec);
    assert_eq!(role_list(&ec, &issued), 200);
    let _ = ec.child.kill();
    let mut stderr = String::new();
    ec.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("IMDSv2 tokens are keyed randomly"), "{stderr}");
}

/// A credential cache hit is keyed by the certificate and the key argument, not the key: it
/// reads neither the private key (an encrypted key is not decrypted, a token does not sign)
/// nor needs it to be usable; a miss reads and checks it.
#[test]
fn a_cache_hit_does_not_read_the_private_key() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let run = || c.command("credential-process", &d).output().unwrap();
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(create_session_count(&d), 1);
    let key = c.dir.path().join("key.pem");
    std::fs::write(&key, "not a key").unwrap();
    let again = run();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(again.stdout, out.stdout, "served from the cache");
    assert_eq!(create_session_count(&d), 1);
    let out = c.command("credential-process", &d).arg("--no-cache").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(&format!("error: {}: ", key.display())),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With the server gone, a cached entry too close to its expiry to be reused (less than 15
/// minutes left) but good for more than a minute is handed out instead, with a warning naming
/// the failure: the sidecar keeps serving its last credentials the same way. Without a cache
/// the failure is the one error line.
#[test]
fn cached_credentials_stand_in_when_the_server_is_down() {
    let pki = Pki::new();
    let mut d = start(&setup(&pki));
    let c = Client::new(&pki);
    let args = c.args(&d, "main");
    let run = |extra: &[&str]| {
        c.command_with("credential-process", args.clone())
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&["--session-duration", "900"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    d.stop_and_read_log();
    let again = run(&["--session-duration", "900"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(again.stdout, first.stdout, "the cached credentials");
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let endpoint = &d.endpoint;
    assert!(
        stderr.starts_with(&format!("warning: cannot reach {endpoint}: ")),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "; using the cached credentials, valid until {}\n",
            v["Expiration"].as_str().unwrap()
        )),
        "{stderr}"
    );
    let uncached = run(&["--session-duration", "900", "--no-cache"]);
    assert_eq!(uncached.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&uncached.stderr).starts_with(&format!("error: cannot reach {endpoint}: ")),
        "{}",
        String::from_utf8_lossy(&uncached.stderr)
    );
}

/// A session check sent on a kept connection that the server (or a balancer) closes as the
/// request goes out — its idle timeout running out meanwhile: the default check interval is
/// the daemon's default idle timeout — is sent once more on a new connection, not lost. The
/// forwarder in front of the daemon cuts the first connection at the first byte of its second
/// request, deterministically.
#[test]
fn a_session_check_on_a_connection_closed_under_it_is_sent_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let fetched = c
        .command_with("credential-process", c.args(&d, "main"))
        .arg("--no-cache")
        .output()
        .unwrap();
    assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
    let v: serde_json::Value = serde_json::from_slice(&fetched.stdout).unwrap();
    let credentials = rolegate::client::SessionCredentials {
        access_key_id: v["AccessKeyId"].as_str().unwrap().to_owned(),
        secret_access_key: v["SecretAccessKey"].as_str().unwrap().to_owned().into(),
        session_token: v["SessionToken"].as_str().unwrap().to_owned().into(),
        expiration: v["Expiration"].as_str().unwrap().to_owned(),
    };

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("https://{}", listener.local_addr().unwrap());
    let target = socket_of(&d.endpoint);
    let (cut, connections) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let (cut_in, connections_in) = (cut.clone(), connections.clone());
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let first = connections_in.fetch_add(1, Ordering::SeqCst) == 0;
            let server = std::net::TcpStream::connect(target).unwrap();
            let (mut up_from, mut up_into) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let cut = cut_in.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = up_from.read(&mut buf) {
                    if first && cut.load(Ordering::SeqCst) {
                        let _ = up_from.shutdown(std::net::Shutdown::Both);
                        let _ = up_into.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if std::io::Write::write_all(&mut up_into, &buf[..n]).is_err() {
                        return;
                    }
                }
                let _ = up_into.shutdown(std::net::Shutdown::Write);
            });
            let (mut down_from, mut down_into) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut down_from, &mut down_into);
                let _ = down_into.shutdown(std::net::Shutdown::Write);
            });
        }
    });

    let tls = rolegate::client::TlsOptions {
        ca_bundle: Some(d.ca_bundle()),
        no_verify: false,
        client_identity: None,
    };
    let client = rolegate::client::RolesAnywhereClient::new(&endpoint, &tls).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let check = || runtime.block_on(client.check_session(&credentials, "us-east-1", now()));
    assert_eq!(check().unwrap(), rolegate::client::SessionCheck::Accepted);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    cut.store(true, Ordering::SeqCst);
    assert_eq!(check().unwrap(), rolegate::client::SessionCheck::Accepted);
    assert_eq!(connections.load(Ordering::SeqCst), 2, "sent again on a new connection");
}

/// A reader that goes away before the credentials are written (a closed pipe) gets the one
/// error line and exit status 1, as every failure does: it was a panic.
#[test]
fn a_closed_standard_output_is_an_error_not_a_panic() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let mut child = c
        .command("credential-process", &d)
        .arg("--no-cache")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (
            Some(1),
            "error: cannot write the credentials to standard output: Broken pipe (os error 32)\n"
        )
    );
}

/// The key argument is part of the cache key: after a cached run, another `--private-key`
/// (a TPM handle, a missing file, another certificate's key) is a miss and fails at once with
/// its own error, not ~45 minutes later when the entry expires.
#[test]
fn another_key_argument_misses_the_cache_and_gets_its_error() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let with_key = |key: &str| {
        let mut args = c.args(&d, "main");
        let at = args.iter().position(|a| a == "--private-key").unwrap() + 1;
        args[at] = key.to_owned();
        c.command_with("credential-process", args).output().unwrap()
    };
    let out = c.command("credential-process", &d).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let other = Pki::client(&pki.root, "other", KeyType::EcdsaP256);
    let other_key = c.dir.path().join("other.key");
    write_private_key(&other_key, &other.key_pem);
    let cert = c.dir.path().join("cert.pem");
    for (key, error) in [
        (
            "handle:0x81000001".to_owned(),
            "error: handle:0x81000001: a TPM key handle: rolegate reaches TPM keys through tpm2-pkcs11, as a \
             pkcs11: URI with --pkcs11-lib (e.g. /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1)\n"
                .to_owned(),
        ),
        (
            "/nonexistent.key".to_owned(),
            "error: cannot read /nonexistent.key: No such file or directory (os error 2)\n".to_owned(),
        ),
        (
            other_key.display().to_string(),
            format!(
                "error: {}: this private key is not the key of the certificate in {}\n",
                other_key.display(),
                cert.display()
            ),
        ),
    ] {
        let out = with_key(&key);
        assert_eq!(out.status.code(), Some(1), "{key}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), error, "{key}");
        assert!(out.stdout.is_empty(), "{key}");
    }
    assert_eq!(create_session_count(&d), 1);
    // The original key argument still hits.
    let again = c.command("credential-process", &d).output().unwrap();
    assert_eq!(again.stdout, out.stdout);
    assert_eq!(create_session_count(&d), 1);
}

/// A relative `HOME` (without an absolute `XDG_CACHE_HOME`) would put the cache in whatever
/// folder the SDK runs in: the run warns, as for an unsafe cache folder, and fetches directly.
#[test]
fn a_relative_home_is_warned_about_and_the_run_fetches_directly() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let cwd = tempfile::tempdir().unwrap();
    let run = || {
        c.command("credential-process", &d)
            .env("HOME", "relhome")
            .env_remove("XDG_CACHE_HOME")
            .current_dir(cwd.path())
            .output()
            .unwrap()
    };
    for fetches in [1, 2] {
        let out = run();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "warning: credential cache unusable, fetching directly: HOME ('relhome') is not an absolute path: not \
             keeping credentials under it (that is whatever folder the SDK runs in); set HOME or XDG_CACHE_HOME to \
             an absolute path\n"
        );
        assert_eq!(create_session_count(&d), fetches);
    }
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing written there"
    );
    // --no-cache asks for no cache: nothing to warn about.
    let out = c
        .command("credential-process", &d)
        .env("HOME", "relhome")
        .env_remove("XDG_CACHE_HOME")
        .arg("--no-cache")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `command` run without `HOME` and `XDG_CACHE_HOME`, in a mount namespace where the user
/// database (`/etc/passwd`) gives this user (root) the home folder `home`; `None` (the test is
/// skipped) where that cannot be had: not root, no `unshare`, no bind mount.
#[cfg(unix)]
fn without_home(test: &str, command: &Command, home: &Path) -> Option<std::process::Output> {
    if rustix::process::geteuid().as_raw() != 0 {
        skip(test, "needs root to bind-mount a user database");
        return None;
    }
    let passwd = home.with_extension("passwd");
    std::fs::write(&passwd, format!("root:x:0:0:root:{}:/bin/sh\n", home.display())).unwrap();
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/passwd || exit 97; shift; exec "$@""#)
        .arg("sh")
        .arg(&passwd)
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let out = wrapped
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap();
    if out.status.code() == Some(97)
        || out.status.code() == Some(1) && out.stdout.is_empty() && out.stderr.starts_with(b"unshare:")
    {
        skip(
            test,
            &format!(
                "cannot bind-mount here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        );
        return None;
    }
    Some(out)
}

/// Without `HOME` (a systemd service, a cron job), `credential-process` keeps its cache, and
/// `update` writes `~/.aws/credentials`, under this user's home folder in the user database,
/// where botocore finds `~` then: the cache was off (each run fetched, with a warning) and
/// `update` refused to run. Needs root and `unshare` for a private user database; elsewhere
/// it says it is skipped.
#[cfg(unix)]
#[test]
fn without_home_the_helpers_use_the_user_databases_home_folder() {
    let test = "without_home_the_helpers_use_the_user_databases_home_folder";
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let home = c.dir.path().join("database-home");
    std::fs::create_dir(&home).unwrap();
    let process = c.command("credential-process", &d);
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let Some(out) = without_home(test, &process, &home) else {
            return;
        };
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
        outputs.push(out.stdout);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(create_session_count(&d), 1, "the second run is a cache hit");
    let entries = std::fs::read_dir(home.join(".cache").join("rolegate"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(entries, 1);

    let mut update = c.command("update", &d);
    update.args(["--profile", "rolegate", "--once"]);
    let Some(out) = without_home(test, &update, &home) else {
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(home.join(".aws").join("credentials")).unwrap();
    assert!(text.starts_with("[rolegate]\naws_access_key_id = ASIA"), "{text}");
}

/// A `~` starting a path flag is the home folder: botocore runs `credential_process` without a
/// shell, so `--certificate ~/app.pem` in `~/.aws/config` reaches rolegate as written.
#[test]
fn a_leading_tilde_of_a_path_flag_is_the_home_folder() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let folder = c.dir.path().display().to_string();
    let args: Vec<String> = c
        .args(&d, "main")
        .into_iter()
        .map(|a| match a.strip_prefix(&folder) {
            Some(rest) => format!("~{rest}"),
            None => a,
        })
        .collect();
    assert!(
        args.iter().any(|a| a == "~/cert.pem") && args.iter().any(|a| a == "~/key.pem"),
        "{args:?}"
    );
    let out = c
        .command_with("credential-process", args)
        .env("HOME", c.dir.path())
        .arg("--no-cache")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        creds["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")),
        "{creds}"
    );
}

/// `n` `credential-process` runs of `c` against `d`, started together, their output piped.
fn credential_processes(c: &Client, d: &Daemon, n: usize) -> Vec<Child> {
    (0..n)
        .map(|_| {
            c.command("credential-process", d)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

#[test]
fn twenty_parallel_credential_processes_make_one_create_session() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let before = create_session_count(&d);
    let children = credential_processes(&c, &d, 20);
    let outputs: Vec<serde_json::Value> = children
        .into_iter()
        .map(|ch| {
            let out = ch.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    assert_eq!(create_session_count(&d) - before, 1);
    assert!(
        outputs.iter().all(|o| o == &outputs[0]),
        "every process got the same credentials"
    );

    let cache = c.home().join(".cache").join("rolegate");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
        for e in std::fs::read_dir(&cache).unwrap() {
            let e = e.unwrap();
            assert_eq!(
                e.metadata().unwrap().permissions().mode() & 0o777,
                0o600,
                "{:?}",
                e.path()
            );
        }
    }
    // ROLEGATE_NO_CACHE=1 goes to the server again.
    let out = c
        .command("credential-process", &d)
        .env("ROLEGATE_NO_CACHE", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(create_session_count(&d) - before, 2);

    // Credentials fetched without verifying the server are kept apart from verified ones:
    // the cached entry is not served to `--no-verify-ssl`, nor its entry to a verifying run.
    let unverified = || {
        let mut args = c.args(&d, "main");
        let at = args.iter().position(|a| a == "--ca-bundle").unwrap();
        args.drain(at..at + 2);
        let out = Command::new(binary())
            .arg("credential-process")
            .args(args)
            .arg("--no-verify-ssl")
            .env("HOME", c.home())
            .env("XDG_CACHE_HOME", c.home().join(".cache"))
            .env_remove("ROLEGATE_NO_CACHE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // (The server may answer the identical request with the same credentials: what counts is
    // that the run asked it.)
    let first = unverified();
    assert_eq!(create_session_count(&d) - before, 3);
    assert_eq!(unverified(), first, "cached for the next unverified run");
    let verified = c.command("credential-process", &d).output().unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&verified.stdout).unwrap(),
        outputs[0]
    );
    assert_eq!(create_session_count(&d) - before, 3);
}

/// Processes started together on a cache entry due a check with the server share one check:
/// the one that takes the entry's lock asks, the others hand out what it marked checked.
#[test]
fn parallel_credential_processes_share_one_check_of_a_cached_entry() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let first = c.command("credential-process", &d).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let checks = || {
        sample(
            &d.metrics_text(),
            r#"rolegate_requests_total{api="sts",operation="GetCallerIdentity",outcome="allow"}"#,
        )
        .map_or(0, |v| v as u64)
    };
    assert_eq!(checks(), 0, "an entry just written is handed out unchecked");
    // Written two minutes ago: due a check.
    let cache = c.home().join(".cache").join("rolegate");
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    let children = credential_processes(&c, &d, 12);
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, first.stdout, "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(checks(), 1, "one check for the twelve");
    assert_eq!(create_session_count(&d), 1);
}

/// A running `rolegate sidecar`; killed on drop.
struct Sidecar {
    child: Child,
    url: String,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sidecar(c: &Client, d: &Daemon, extra: &[&str]) -> Sidecar {
    sidecar_with_stderr(c, d, extra, Stdio::null())
}

/// [`sidecar`], its stderr going to `stderr`.
fn sidecar_with_stderr(c: &Client, d: &Daemon, extra: &[&str], stderr: Stdio) -> Sidecar {
    spawn_sidecar(c.command("sidecar", d), extra, stderr)
}

/// The sidecar `command` starts, once it listens. It is killed when the returned value drops,
/// also when it never says where it listens.
fn spawn_sidecar(mut command: Command, extra: &[&str], stderr: Stdio) -> Sidecar {
    use std::io::BufRead;
    let child = command
        .args(["--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut sidecar = Sidecar {
        child,
        url: String::new(),
    };
    let mut line = String::new();
    std::io::BufReader::new(sidecar.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    sidecar.url = rolegate::server::announced_url(&line, "sidecar listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    sidecar
}

/// With `--log-format json`, the line the sidecar prints once it listens is a JSON log line
/// (a container runtime merges stdout into the JSON log stream), whose message is the text one.
#[test]
fn with_json_logs_the_sidecar_announces_itself_in_json() {
    use std::io::BufRead;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let mut child = c
        .command("sidecar", &d)
        .args(["--port", "0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(event["level"], "INFO", "{event}");
    let message = event["fields"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("sidecar listening on http://127.0.0.1:"),
        "{message}"
    );
    let url = rolegate::server::announced_url(&line, "sidecar listening on ").unwrap();
    assert_eq!(format!("sidecar listening on {url}"), message);
}

/// A TCP forwarder on a port of its own, to whichever address `target` holds (a connection is
/// closed at once while it holds none): a client keeps one endpoint while the server behind
/// it stops and starts again on another port, so no other test can take the server's port in
/// between.
struct Forwarder {
    endpoint: String,
    target: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
}

impl Forwarder {
    fn to(target: &str) -> Forwarder {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        let target = std::sync::Arc::new(std::sync::Mutex::new(Some(socket_of(target))));
        let current = target.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Some(to) = *current.lock().unwrap() else { continue };
                let Ok(server) = std::net::TcpStream::connect(to) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Forwarder { endpoint, target }
    }

    fn point_at(&self, target: Option<&str>) {
        *self.target.lock().unwrap() = target.map(socket_of);
    }
}

/// `127.0.0.1:PORT` of an `https://127.0.0.1:PORT` endpoint.
fn socket_of(endpoint: &str) -> std::net::SocketAddr {
    endpoint.trim_start_matches("https://").parse().unwrap()
}

/// Polls `f` every 100 ms until it returns true (gives up after 60 s).
fn eventually(what: &str, f: impl FnMut() -> bool) {
    eventually_within(what, Duration::from_secs(60), f);
}

/// Polls `f` every 100 ms until it returns true (gives up after `deadline`).
fn eventually_within(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn container(s: &Sidecar, token: &str) -> (u16, serde_json::Value) {
    let (st, body) = http(&s.url, "GET", "/v1/credentials", &[("Authorization", token)]);
    (st, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

/// Stops the daemon and, unless `stop_only`, starts it again on a new port, which `forwarder`
/// then forwards to.
fn restart(d: &mut Daemon, forwarder: &Forwarder, stop_only: bool) {
    forwarder.point_at(None);
    let _ = d.child.kill();
    let _ = d.child.wait();
    if stop_only {
        return;
    }
    let fresh = start_with_listen(d.dir.path(), "127.0.0.1:0");
    d.child = fresh.0;
    d.stdout_lines = fresh.1;
    d.endpoint = fresh.2;
    forwarder.point_at(Some(&d.endpoint));
}

/// The daemon of `dir` listening on `listen`: its process, its stdout lines, its endpoint.
fn start_with_listen(dir: &Path, listen: &str) -> (Child, std::sync::mpsc::Receiver<String>, String) {
    use std::io::BufRead;
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(dir.join("rolegate.toml"))
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let endpoint = loop {
        let l = rx.recv_timeout(Duration::from_secs(30)).expect("daemon restarted");
        if let Some(address) = l.strip_prefix("listening on ") {
            break address.split_whitespace().next().unwrap_or(address).to_owned();
        }
    };
    (child, rx, endpoint)
}

#[test]
fn sidecar_serves_through_an_outage_then_503_then_recovers() {
    let pki = Pki::new();
    let mut d = start(&setup(&pki));
    let c = Client::new(&pki);
    std::fs::write(c.dir.path().join("token"), "tok-123\n").unwrap();
    let token_file = c.dir.path().join("token").display().to_string();
    // The sidecar reaches the daemon through a forwarder, which keeps its port while the
    // daemon restarts on another.
    let forwarder = Forwarder::to(&d.endpoint);
    let command = c.command_through("sidecar", &d, &forwarder.endpoint);
    // Credentials count as expiring 30 s after each fetch (refreshed after 15 s): the outage
    // outlasts them, and a machine that stalls for many seconds between the first fetch and
    // the request during the outage still finds them valid (12 s left 6 s of margin).
    let s = spawn_sidecar(
        command,
        &[
            "--auth-token-file",
            &token_file,
            "--max-credential-lifetime",
            "30",
            "--max-retry-seconds",
            "1",
        ],
        Stdio::null(),
    );
    // The sidecar answers once its first fetch has finished: the first request gets
    // credentials (botocore's IMDS provider asks once).
    let (st, first) = container(&s, "tok-123");
    assert_eq!(st, 200, "{first}");
    assert_eq!(http(&s.url, "GET", "/healthz", &[]), (200, "ok".to_owned()));
    assert_eq!(first["AccountId"], ACCOUNT);
    for k in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(first[k].as_str().is_some_and(|v| !v.is_empty()), "{k} in {first}");
    }
    assert_eq!(http(&s.url, "GET", "/v1/credentials", &[]).0, 401);
    assert_eq!(container(&s, "wrong").0, 403);

    restart(&mut d, &forwarder, true);
    let (st, during) = container(&s, "tok-123");
    assert_eq!(st, 200, "last good credentials are served during the outage: {during}");
    // The first fetch's, or a refresh's if the machine stalled past the half-life (15 s).
    let key = during["AccessKeyId"].as_str().unwrap_or_default();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{during}");

    eventually_within("503 once the credentials expired", Duration::from_secs(120), || {
        container(&s, "tok-123").0 == 503
    });
    let (_, err) = container(&s, "tok-123");
    assert_eq!(err["Code"], "CredentialsUnavailable");
    let msg = err["Message"].as_str().unwrap();
    assert!(msg.starts_with("the last credentials expired at "), "{msg}");
    assert!(msg.contains("cannot reach"), "{msg}");

    restart(&mut d, &forwarder, false);
    eventually("recovery once the server is back", || container(&s, "tok-123").0 == 200);
}

/// A token file every local user can read is named on stderr at start; a private one is not.
#[cfg(unix)]
#[test]
fn a_world_readable_sidecar_token_file_is_warned_about() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let token = c.dir.path().join("token");
    let warning = "the auth token file is readable by every local user";
    for (mode, warned) in [(0o644, true), (0o640, false), (0o600, false)] {
        std::fs::write(&token, "tok-123").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).unwrap();
        let args = ["--auth-token-file", token.to_str().unwrap()];
        let mut s = sidecar_with_stderr(&c, &d, &args, Stdio::piped());
        s.child.kill().unwrap();
        s.child.wait().unwrap();
        let mut stderr = String::new();
        s.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(stderr.contains(warning), warned, "mode {mode:o}: {stderr}");
    }
}

/// The sidecar serves at most `MAX_CONNECTIONS` connections at once. With that many open and
/// silent (a local process holding them), a newcomer closes the one idle longest — the first
/// opened, here one that has sent part of a request head — and is answered; the others stay
/// open and are served. (Before, the newcomer waited until the silent ones reached the
/// 10-second head timeout, which closed them all; then, for a while, a partial head held its
/// slot for a second of grace, during which newcomers closed one connection after another.)
#[test]
fn a_full_sidecar_closes_its_longest_idle_connection_for_a_newcomer() {
    use rolegate::helper::sidecar::MAX_CONNECTIONS;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let s = sidecar(&c, &d, &[]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut held: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Read with a bound on the wait, so that a regression fails instead of hanging.
    let healthz = |tcp: &mut TcpStream| {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).unwrap();
        let reply = HttpReply::parse(&raw);
        (reply.status, reply.body)
    };
    // Part of a head: no request is in flight, so nothing is cut by closing it.
    held[0]
        .write_all(b"GET /latest/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    // Accepted after all the held ones (the accept queue is first in, first out).
    let mut newcomer = TcpStream::connect(&addr).unwrap();
    assert_eq!(healthz(&mut newcomer), (200, "ok".to_owned()));
    let mut first = held.remove(0);
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    // Closed: an end of stream, or a reset when the sidecar closed it before reading the
    // partial head (on a loaded machine its task may not have run yet: the kernel then resets
    // a socket closed with unread bytes).
    match first.read_to_end(&mut rest) {
        Ok(read) => assert_eq!(read, 0, "the longest idle connection was closed, unanswered"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(
        healthz(&mut held[0]),
        (200, "ok".to_owned()),
        "the second one still served"
    );
}

/// A burst of more clients than the sidecar has slots, each writing its request as soon as it
/// has connected, is served whole: a connection just accepted is not closed for a newcomer (its
/// client is about to write), so the newcomers wait for slots instead. (For a while, the
/// newcomers closed the connections of the burst's first clients before their requests were
/// read, and those clients got no answer; `sidecar_connections`' tests hold the rule itself,
/// on a paused clock.)
#[test]
fn a_burst_of_more_clients_than_slots_is_served_whole() {
    use rolegate::helper::sidecar::MAX_CONNECTIONS;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let s = sidecar(&c, &d, &[]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut burst: Vec<TcpStream> = (0..MAX_CONNECTIONS + 44)
        .map(|_| {
            let mut tcp = TcpStream::connect(&addr).unwrap();
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            tcp
        })
        .collect();
    for (i, tcp) in burst.iter_mut().enumerate() {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).unwrap();
        assert!(!raw.is_empty(), "client {i} of the burst got no answer");
        let reply = HttpReply::parse(&raw);
        assert_eq!((reply.status, reply.body.as_str()), (200, "ok"), "client {i}");
    }
    // A burst of SDKs that keep their connections open after their answers, as botocore's IMDS
    // fetcher does, takes every slot; each of the next ones waits for its answer as botocore's
    // and the JavaScript SDK's IMDS clients do — 1 second, once — and gets it: an idle
    // keep-alive connection is closed for it soon enough. (Newcomers waited until one had been
    // idle 5 s, and went without credentials.)
    let kept: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|i| {
            let mut tcp = TcpStream::connect(&addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let reply = keep_alive_healthz(&mut tcp).unwrap_or_else(|e| panic!("kept client {i}: {e}"));
            assert_eq!(reply, (200, "ok".to_owned()), "kept client {i}");
            tcp
        })
        .collect();
    let newcomers: Vec<_> = (0..144)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut tcp = TcpStream::connect(&addr).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                keep_alive_healthz(&mut tcp).unwrap_or_else(|e| panic!("newcomer {i}: {e}"))
            })
        })
        .collect();
    for (i, newcomer) in newcomers.into_iter().enumerate() {
        assert_eq!(newcomer.join().unwrap(), (200, "ok".to_owned()), "newcomer {i}");
    }
    drop(kept);
}

/// `GET /healthz` on the kept connection `tcp`, which stays open: the answer's status and body
/// (read up to its `Content-Length`), or the error reading it (its read timeout, say).
fn keep_alive_healthz(tcp: &mut std::net::TcpStream) -> std::io::Result<(u16, String)> {
    use std::io::Write;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => raw.push(byte[0]),
        }
    }
    let head = HttpReply::parse(&raw);
    let length: usize = head.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body)?;
    Ok((head.status, String::from_utf8_lossy(&body).into_owned()))
}

/// A token file of 16 KiB (Kubernetes projected service account tokens run to several KiB) is
/// taken whole, through the sidecar's HTTP server; a longer one stops the sidecar at start
/// rather than being cut to a prefix the SDKs never send.
#[test]
fn a_16_kib_sidecar_token_is_taken_whole_and_a_longer_one_refused() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let token_file = c.dir.path().join("token");
    let token = "t".repeat(16 * 1024);
    std::fs::write(&token_file, &token).unwrap();
    let s = sidecar(
        &c,
        &d,
        &["--no-imds", "--auth-token-file", token_file.to_str().unwrap()],
    );
    let (status, body) = container(&s, &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(container(&s, &token[..4096]).0, 403);
    drop(s);
    std::fs::write(&token_file, "t".repeat(16 * 1024 + 1)).unwrap();
    let out = c
        .command("sidecar", &d)
        .args([
            "--port",
            "0",
            "--no-imds",
            "--auth-token-file",
            token_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: the auth token file {} is longer than 16384 bytes: the SDKs send all of it as the \
             Authorization header; write a shorter token\n",
            token_file.display()
        )
    );
}

#[test]
fn aws_config_imds_provider_reads_the_sidecar() {
    use aws_credential_types::provider::ProvideCredentials;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let s = sidecar(&c, &d, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let creds = rt.block_on(async {
        // The first fetch has finished when the sidecar answers: one attempt is enough.
        let imds = aws_config::imds::Client::builder().endpoint(&s.url).unwrap().build();
        let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
            .imds_client(imds)
            .build();
        provider.provide_credentials().await.unwrap()
    });
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    assert!(creds.expiry().is_some());
    // A GET without a token is refused as IMDSv2 does.
    let (st, _) = http(&s.url, "GET", "/latest/meta-data/iam/security-credentials/", &[]);
    assert_eq!(st, 401);
}

/// Root of a user namespace (a rootless container) updating a file of a user the namespace
/// does not map cannot give the new file to that user (`EINVAL`): it writes it as its own, as
/// before owners were kept, and says the mode changed only once it wrote. Needs root and user
/// namespaces; elsewhere the test says it is skipped.
#[test]
fn update_in_a_user_namespace_writes_a_file_of_an_unmapped_user() {
    use std::os::unix::fs::PermissionsExt;
    let usable = rustix::process::geteuid().as_raw() == 0
        && Command::new("unshare")
            .args(["-Ur", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !usable {
        skip(
            "update_in_a_user_namespace_writes_a_file_of_an_unmapped_user",
            "needs root and `unshare -Ur`",
        );
        return;
    }
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let file = c.dir.path().join("credentials");
    std::fs::write(&file, "[theirs]\nregion = eu-west-1\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&file, Some(1000), Some(1000)).unwrap();
    let out = Command::new("unshare")
        .arg("-Ur")
        .arg(binary())
        .arg("update")
        .args(c.args(&d, "main"))
        .args(["--profile", "rolegate", "--once"])
        .env("AWS_SHARED_CREDENTIALS_FILE", &file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("it is written private (mode 0600)"), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("[theirs]\nregion = eu-west-1\n"), "{text}");
    assert!(text.contains("\n[rolegate]\naws_access_key_id = ASIA"), "{text}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn update_once_writes_the_profile_and_keeps_the_rest() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let file = c.dir.path().join("credentials");
    std::fs::write(&file, "# my notes\n[default]\naws_access_key_id = AKIAKEEP\n").unwrap();
    let out = c
        .command("update", &d)
        .args(["--profile", "rolegate", "--once"])
        .env("AWS_SHARED_CREDENTIALS_FILE", &file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // It says what it wrote, as the refreshing loop does.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = format!("rolegate: wrote profile [rolegate] to {} (expires ", file.display());
    assert!(stderr.contains(&said), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# my notes\n[default]\naws_access_key_id = AKIAKEEP\n\n[rolegate]\naws_access_key_id = ASIA"),
        "{text}"
    );
    assert!(
        text.contains("\naws_secret_access_key = ") && text.contains("\naws_session_token = "),
        "{text}"
    );
    // With the role's account, which botocore reads beside the credentials.
    assert!(text.contains(&format!("\naws_account_id = {ACCOUNT}\n")), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn update_expands_the_file_variable_and_fails_fast_on_unreadable_files() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    // `~` and `$VAR` are expanded as botocore expands them (no shell under systemd).
    let out = c
        .command("update", &d)
        .args(["--profile", "tilde", "--once"])
        .env("AWS_SHARED_CREDENTIALS_FILE", "~/$SUBDIR/alt-credentials")
        .env("SUBDIR", ".aws")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(c.home().join(".aws/alt-credentials")).unwrap();
    assert!(text.starts_with("[tilde]\naws_access_key_id = ASIA"), "{text}");
    // Without --profile, `[default]`, as aws_signing_helper update writes.
    let out = c
        .command("update", &d)
        .arg("--once")
        .env("AWS_SHARED_CREDENTIALS_FILE", c.dir.path().join("default-credentials"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(c.dir.path().join("default-credentials")).unwrap();
    assert!(text.starts_with("[default]\naws_access_key_id = ASIA"), "{text}");

    // Without --once, a key that cannot be read is an error at once, not a retry loop.
    std::fs::rename(c.dir.path().join("key.pem"), c.dir.path().join("moved.pem")).unwrap();
    let mut child = c
        .command("update", &d)
        .args(["--profile", "loop"])
        .env("AWS_SHARED_CREDENTIALS_FILE", c.dir.path().join("credentials"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang guard, not a timing assertion: the old behaviour never exits.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("update kept running with an unreadable key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: cannot read "), "{stderr}");
    assert!(stderr.contains("key.pem"), "{stderr}");
}

/// Updates of several profiles of one file, started together, keep each other's profile (the
/// file is read and written under a lock).
#[test]
fn updates_started_together_keep_each_others_profiles() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let file = c.dir.path().join("shared-credentials");
    let profiles = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let children: Vec<Child> = profiles
        .iter()
        .map(|p| {
            c.command("update", &d)
                .args(["--profile", p, "--once"])
                .env("AWS_SHARED_CREDENTIALS_FILE", &file)
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(&file).unwrap();
    for p in profiles {
        assert!(
            text.contains(&format!("[{p}]\naws_access_key_id = ASIA")),
            "[{p}] lost: {text}"
        );
    }
}

/// A credentials file mounted on its own (a container's single-file bind mount) cannot be
/// renamed over (EBUSY): `update` writes it in place. Needs root and `unshare` for a private
/// mount namespace; elsewhere it says it is skipped.
#[cfg(unix)]
#[test]
fn update_writes_a_bind_mounted_file_in_place() {
    if rustix::process::geteuid().as_raw() != 0 {
        skip(
            "update_writes_a_bind_mounted_file_in_place",
            "needs root to bind-mount a file",
        );
        return;
    }
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let source = c.dir.path().join("host-credentials");
    let mounted = c.dir.path().join("credentials");
    std::fs::write(&source, "[default]\naws_access_key_id = AKIAKEEP\n").unwrap();
    std::fs::write(&mounted, "").unwrap();
    let update = c.command("update", &d);
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" || exit 97; shift 2; exec "$@""#)
        .arg("sh")
        .arg(&source)
        .arg(&mounted)
        .arg(update.get_program())
        .args(update.get_args())
        .args(["--profile", "mounted", "--once"]);
    for (k, v) in update.get_envs() {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    let out = command.env("AWS_SHARED_CREDENTIALS_FILE", &mounted).output().unwrap();
    if out.status.code() == Some(97)
        || out.status.code() == Some(1) && out.stdout.is_empty() && out.stderr.starts_with(b"unshare:")
    {
        skip(
            "update_writes_a_bind_mounted_file_in_place",
            &format!(
                "cannot bind-mount here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        );
        return;
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Written through the mount into the host's file, the other profile kept.
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(
        text.starts_with("[default]\naws_access_key_id = AKIAKEEP\n\n[mounted]\naws_access_key_id = ASIA"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&source).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Waits (a hang guard, not a timing assertion) for `child` to exit after `signal`.
fn exit_on(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "still running after SIG{signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sidecar and a refreshing `update` stop cleanly (exit 0) on SIGTERM and SIGINT: as a
/// container's PID 1 they would otherwise ignore SIGTERM and be killed at the grace period's
/// end. (Not PID 1 here, the default action would end them by the signal, not with 0.)
#[test]
fn sidecar_and_update_exit_cleanly_on_a_signal() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    for signal in ["TERM", "INT"] {
        let mut s = sidecar(&c, &d, &[]);
        let status = exit_on(&mut s.child, signal);
        assert_eq!(status.code(), Some(0), "sidecar on SIG{signal}: {status}");
    }
    let file = c.dir.path().join("credentials");
    let mut update = c
        .command("update", &d)
        // aws_signing_helper's flag for what rolegate's update always does.
        .args(["--profile", "loop", "--retry-errors"])
        .env("AWS_SHARED_CREDENTIALS_FILE", &file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Stopped once it has written the profile, between two refreshes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains("[loop]")) {
        assert!(std::time::Instant::now() < deadline, "update wrote no profile");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exit_on(&mut update, "TERM");
    assert_eq!(status.code(), Some(0), "update on SIGTERM: {status}");
}

/// A signal while the sidecar waits for its first fetch (a server that accepts and never
/// answers) stops it there, cleanly: it waited out the fetch's 10 s first, then announced
/// its listener.
#[test]
fn a_signal_during_the_first_fetch_stops_the_sidecar() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("https://{}", silent.local_addr().unwrap());
    let mut child = c
        .command_through("sidecar", &d, &endpoint)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its first fetch has connected: the signal handlers are in place.
    let (_held, _) = silent.accept().unwrap();
    let status = exit_on(&mut child, "TERM");
    assert_eq!(status.code(), Some(0), "{status}");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert_eq!(stdout, "", "stopped before it announced a listener");
}

/// The assumed-role ARN of `creds` (a container endpoint document), from GetCallerIdentity at
/// the daemon through aws-sdk-sts.
fn caller_arn(d: &Daemon, creds: &serde_json::Value) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = |k: &str| creds[k].as_str().unwrap().to_owned();
        let sts = sts_sdk_client(
            &d.endpoint,
            &d.ca_bundle(),
            &s("AccessKeyId"),
            &s("SecretAccessKey"),
            &s("Token"),
        )
        .await;
        let me = sts.get_caller_identity().send().await.unwrap();
        me.arn().unwrap().to_owned()
    })
}

#[test]
fn sidecar_uses_a_rotated_certificate_on_the_next_refresh() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let c = Client::new(&pki);
    let first_serial = c.serial_hex.clone();
    std::fs::write(c.dir.path().join("token"), "tok\n").unwrap();
    let token_file = c.dir.path().join("token").display().to_string();
    let s = sidecar(
        &c,
        &d,
        &["--auth-token-file", &token_file, "--check-files-seconds", "1"],
    );
    eventually("first credentials", || container(&s, "tok").0 == 200);
    let (_, first) = container(&s, "tok");
    let arn = caller_arn(&d, &first);
    assert_eq!(arn, format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{first_serial}"));

    // Rotate: write the new pair beside the old one, then rename over it.
    let next = Pki::client(&pki.root, "workload", KeyType::EcdsaP256);
    let dir = c.dir.path();
    write_private_key(&dir.join("key.new"), &next.key_pem);
    std::fs::write(dir.join("cert.new"), &next.cert_pem).unwrap();
    std::fs::rename(dir.join("key.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.new"), dir.join("cert.pem")).unwrap();
    eventually("credentials of the new certificate", || {
        container(&s, "tok").1["AccessKeyId"] != first["AccessKeyId"]
    });
    let (_, second) = container(&s, "tok");
    assert_eq!(
        caller_arn(&d, &second),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{}", session_name(&next))
    );
    assert_ne!(session_name(&next), first_serial);
}
