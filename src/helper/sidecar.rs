//! `rolegate sidecar`: one long-running helper serving credentials to unchanged AWS SDKs on
//! 127.0.0.1:9911 (other addresses only with `--listen`), as
//! - an IMDSv2 endpoint (`AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/`):
//!   `PUT /latest/api/token`, then `GET /latest/meta-data/iam/security-credentials/[ROLE]` with
//!   the token in `x-aws-ec2-metadata-token`
//!   ([IMDSv2](https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html));
//! - a container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI=
//!   http://127.0.0.1:9911/v1/credentials` with `AWS_CONTAINER_AUTHORIZATION_TOKEN` = the
//!   contents of `--auth-token-file`).
//!
//! Besides the credentials, IMDS answers the trust anchor's region (or `--region`) where the
//! SDKs that take their region from IMDS read it: `placement/region` (aws-sdk-rust) and the
//! instance identity document, `/latest/dynamic/instance-identity/document` (its `region`: the
//! Java v2 and Go v2 SDKs; `accountId` too, and no field the sidecar would have to make up);
//! `iam/info` an instance profile named after the role, the category listings what is served, and `GET /healthz` — no token, no secret —
//! answers 200 while credentials can be served and 503 otherwise (`rolegate probe` turns it
//! into a Kubernetes exec startup probe). `--no-imds` serves the
//! container endpoint alone. IMDS tokens are stateless ([`super::imds_token`]).
//!
//! Credentials are refreshed by [`super::refresh`]; the certificate and key are re-read on every
//! refresh, and a change of their files forces one (rotation without restart). The sidecar
//! starts answering once the first fetch has finished (or [`FIRST_FETCH_WAIT`] has passed): an
//! SDK asking at once, as one starting beside it does, gets credentials rather than a 503
//! (botocore's IMDS provider tries once). At most [`MAX_CONNECTIONS`] connections are served
//! at once (fewer when the open-file limit is lower), so no local process can take the
//! descriptors a refresh needs; a newcomer to a full sidecar closes one that is idle, or whose
//! client leaves its answers untaken ([`super::sidecar_connections`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::container_token::{ensure_token, read_token};
use super::credential_process::SessionArgs;
use super::credentials::{IdentitySource, WorkloadIdentity};
use super::imds_token::ImdsTokens;
use super::kept::KeptCredentials;
use super::refresh::{self, CredentialState, RefreshPolicy, SharedState, format_time};
use super::sidecar_connections::{Admitted, OpenConnections};
use super::sidecar_writes::WatchedStream;

/// How long the sidecar waits for its first fetch before it answers (with a 503 until then).
pub const FIRST_FETCH_WAIT: StdDuration = StdDuration::from_secs(10);

/// Connections the sidecar serves at once. Each SDK of the machine or pod holds one while it
/// fetches (a silent one is closed after 10 seconds, [`crate::server::connections::plain_http1`],
/// as is one whose answers have waited unsent that long, [`super::sidecar_writes`]; an idle or
/// stalled one when a newcomer finds them all taken); the descriptors of a refresh
/// (its TLS connection, the certificate, key and CA files) are kept beside them.
pub const MAX_CONNECTIONS: usize = 256;

/// Descriptors the sidecar keeps beside its connections: the runtime's, the standard streams,
/// and a refresh's TLS connection and files (it has no metrics listener).
const RESERVED_DESCRIPTORS: u64 = 64;

/// `rolegate sidecar` flags.
// The usage names --certificate as required, which it is: clap would show it as optional,
// since the aws_signing_helper flags that stand for it (refused with their reason) lift it.
#[derive(clap::Args, Clone, Debug)]
#[command(
    override_usage = "rolegate sidecar [OPTIONS] --certificate <CERTIFICATE> --trust-anchor-arn <TRUST_ANCHOR_ARN> --profile-arn <PROFILE_ARN> --role-arn <ROLE_ARN>"
)]
pub struct SidecarArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Port on 127.0.0.1 to serve on.
    #[arg(long, default_value_t = 9911)]
    pub port: u16,
    /// Serve on this address instead of 127.0.0.1:PORT (e.g. 0.0.0.0:9911 — anything that can
    /// reach it gets credentials; prefer the loopback default).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The IP TTL (IPv6 hop limit) of the answers, as `aws_signing_helper serve --hop-limit`:
    /// with 1, an answer dies at the first router or bridge on its way, so containers behind a
    /// NAT bridge cannot fetch credentials from a sidecar listening beyond it.
    #[arg(long, value_name = "HOPS", default_value_t = 64, value_parser = clap::value_parser!(u8).range(1..))]
    pub hop_limit: u8,
    /// File holding the token clients must send in `Authorization` on /v1/credentials
    /// (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). When no such file exists, the sidecar writes
    /// one with a new random token (mode 0600) for the application to read. Without this flag
    /// the container endpoint is off.
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Do not serve IMDSv2 (`/latest/…`), only the container endpoint: IMDS asks only for a
    /// PUT before it answers, so any process that can reach the port gets credentials, while
    /// the container endpoint asks for the token of `--auth-token-file`.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub no_imds: bool,
    /// Refresh after this fraction of the lifetime (testing aid).
    #[arg(long, default_value_t = 0.5, hide = true)]
    pub refresh_at_fraction: f64,
    /// Treat credentials as expiring at most this many seconds after they were fetched
    /// (testing aid: lets outages outlast sessions in seconds).
    #[arg(long, hide = true)]
    pub max_credential_lifetime: Option<u32>,
    /// Largest delay between retries, in seconds (testing aid).
    #[arg(long, default_value_t = 60, hide = true)]
    pub max_retry_seconds: u32,
    /// How often to check the certificate and key files for changes, in seconds.
    #[arg(long, default_value_t = 10, hide = true)]
    pub check_files_seconds: u32,
    /// How often to ask the server whether it still accepts the credentials served (an STS
    /// GetCallerIdentity at --endpoint), in seconds: refused ones (a role's sessions revoked,
    /// a token key retired) are replaced at once. Each check comes up to a fifth early, so a
    /// fleet does not ask in step. 0: never; never without --endpoint.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub check_session_seconds: u32,
    /// Do not keep the last credentials in credential-process's cache (also:
    /// ROLEGATE_NO_CACHE=1). Kept, they are served after a restart while the server cannot be
    /// reached, as long as they are valid.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub no_cache: bool,
}

/// What a fetch gives the refresh loop: its credentials, kept for the next restart.
fn kept_when_fetched(
    fetched: Result<crate::client::SessionCredentials, String>,
    kept: Option<&KeptCredentials>,
) -> Result<crate::client::SessionCredentials, String> {
    if let (Ok(credentials), Some(kept)) = (&fetched, kept) {
        kept.keep(credentials);
    }
    fetched
}

/// Runs the sidecar until SIGTERM or SIGINT.
pub async fn run(args: SidecarArgs, log_format: crate::logging::LogFormat) -> Result<(), String> {
    crate::process::forbid_core_dumps();
    if let Some(warning) = args.session.pin_in_command_line() {
        tracing::warn!("{warning}");
    }
    if !(args.refresh_at_fraction > 0.0 && args.refresh_at_fraction < 1.0) {
        return Err("--refresh-at-fraction must be between 0 and 1".into());
    }
    let role = crate::arn::RoleArn::parse(&args.session.role_arn).map_err(|e| format!("--role-arn: {e}"))?;
    let (role_name, account_id) = (role.name().to_owned(), role.account().as_str().to_owned());
    let instance_profile_arn = instance_profile_arn(&role);
    let region = args.session.region()?;
    if let Some(p) = &args.auth_token_file {
        ensure_token(p)?;
    }
    let source = args.session.identity_source()?;
    // Fail fast on a bad identity or endpoint, with the same errors as credential-process.
    let identity = WorkloadIdentity::load(&source)?;
    let imds = match args.no_imds {
        true if args.auth_token_file.is_none() => {
            return Err("--no-imds leaves nothing to serve: give --auth-token-file for the container endpoint".into());
        }
        true => None,
        false => {
            if args.auth_token_file.is_some() {
                tracing::warn!(
                    "IMDSv2 is served beside the token-guarded container endpoint: any process that can \
                     reach the port gets credentials through it without the token; add --no-imds to \
                     serve the container endpoint only"
                );
            }
            Some(match identity.stable_secret(super::imds_token::KEY_LABEL)? {
                Some(secret) => ImdsTokens::derived_from(&secret),
                None => {
                    tracing::warn!(
                        "the private key is an EC key on a PKCS#11 token, which yields no stable secret: IMDSv2 \
                         tokens are keyed randomly and do not outlive this sidecar (aws-sdk-rust keeps a token up \
                         to 6 hours and fails with it after a restart); serve the container endpoint instead \
                         (--auth-token-file, --no-imds)"
                    );
                    ImdsTokens::random()?
                }
            })
        }
    };
    // Refreshes read the identity again (rotation): this one (a token session) is not kept.
    drop(identity);
    args.session.client()?;
    let addr = args.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], args.port)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    set_hop_limit(&listener, args.hop_limit).map_err(|e| format!("cannot set the hop limit on {local}: {e}"))?;
    if let Some(warning) = exposure_warning(local, !args.no_imds, args.hop_limit) {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = container_endpoint_warning(local, args.auth_token_file.is_some()) {
        tracing::warn!("{warning}");
    }
    // Installed before the first fetch: a signal while the sidecar waits for it stops it.
    let mut stop = crate::server::ShutdownSignals::install().map_err(|e| format!("cannot handle signals: {e}"))?;

    let state: SharedState = Arc::default();
    let policy = RefreshPolicy {
        refresh_fraction: args.refresh_at_fraction,
        max_lifetime: args.max_credential_lifetime.map(|s| Duration::seconds(s.into())),
        max_backoff: Duration::seconds(args.max_retry_seconds.max(1).into()),
        serves_an_endpoint: true,
        ..RefreshPolicy::default()
    };
    let session = Arc::new(args.session.clone());
    let checks = session.session_checks(args.check_session_seconds);
    let kept = KeptCredentials::new(args.no_cache, session.clone(), source.clone());
    // Credentials kept before a restart are served from the start, while the first fetch
    // replaces them: a server that cannot be reached (or does not answer) costs nothing.
    if let Some(credentials) = kept.as_ref().and_then(|k| k.kept(OffsetDateTime::now_utc())) {
        tracing::info!(
            access_key_id = %credentials.access_key_id,
            expiration = %credentials.expiration,
            "serving the credentials kept before the restart until a fetch replaces them"
        );
        refresh::hold_kept(&state, credentials, OffsetDateTime::now_utc());
    }
    let fetch_source = source.clone();
    let mut seen = fingerprint(&source);
    let refresher = refresh::run(
        state.clone(),
        policy,
        StdDuration::from_secs(args.check_files_seconds.max(1).into()),
        move || {
            let now = fingerprint(&source);
            std::mem::replace(&mut seen, now.clone()) != now
        },
        move || {
            let session = session.clone();
            let source = fetch_source.clone();
            let kept = kept.clone();
            // Identity and CA bundle are read afresh for each fetch: both rotate in place
            // (a Kubernetes ConfigMap or Secret volume), and a restart must not be needed.
            async move {
                let fetched = match WorkloadIdentity::load(&source) {
                    Ok(identity) => match session.client() {
                        Ok(client) => session.fetch_with(&client, &identity).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                kept_when_fetched(fetched, kept.as_ref())
            }
        },
        checks,
    );
    tokio::spawn(refresher);
    // Connections wait in the listen backlog meanwhile.
    tokio::select! {
        waited = tokio::time::timeout(FIRST_FETCH_WAIT, first_attempt(&state)) => {
            if waited.is_err() {
                tracing::warn!(
                    "the first credential fetch has not finished after {} s; answering 503 until it does",
                    FIRST_FETCH_WAIT.as_secs()
                );
            }
        }
        () = stop.next() => {
            tracing::info!("stopping on a signal");
            return Ok(());
        }
    }
    // Scripts wait for this line; with JSON logs it is a JSON line too (a container runtime
    // merges stdout into the log), which `server::announced_url` reads as it reads serve's.
    let announcement = format!("sidecar listening on http://{local}");
    crate::cli::print_stdout(&match log_format {
        crate::logging::LogFormat::Text => format!("{announcement}\n"),
        crate::logging::LogFormat::Json => format!("{}\n", crate::logging::json_info_line(&announcement)),
    });

    let shared = Arc::new(Shared {
        state,
        role_name,
        account_id,
        instance_profile_id: instance_profile_id(&instance_profile_arn),
        instance_profile_arn,
        region,
        auth_token_file: args.auth_token_file,
        imds,
    });
    let connections = OpenConnections::new(crate::server::connections::connection_limit(
        MAX_CONNECTIONS,
        crate::server::connections::raise_descriptor_limit(),
        RESERVED_DESCRIPTORS,
    ));
    tokio::select! {
        never = serve(&listener, &connections, &shared) => match never {},
        () = stop.next() => {
            tracing::info!("stopping on a signal");
            Ok(())
        }
    }
}

/// Accepts the connections of `listener` and serves each once it has a slot of
/// `connections`, for ever.
async fn serve(
    listener: &tokio::net::TcpListener,
    connections: &Arc<OpenConnections>,
    shared: &Arc<Shared>,
) -> std::convert::Infallible {
    loop {
        let (stream, _) = crate::server::connections::accept(listener).await;
        limit_send_buffer(&stream);
        let admitted = connections.admit().await;
        tokio::spawn(serve_connection((stream, admitted), shared.clone()));
    }
}

/// The send buffer asked for each connection (Linux doubles it for its bookkeeping): many
/// times the longest answer (credentials, a few KiB), but not the hundreds of KiB the kernel
/// would grow it to, so a client that pipelines requests and never reads stalls after tens of
/// answers rather than thousands — each one the sidecar's work — and becomes closable
/// ([`super::sidecar_writes`]) that much sooner.
const SEND_BUFFER_BYTES: usize = 16 * 1024;

/// Caps the send buffer of `stream` at [`SEND_BUFFER_BYTES`]; a failure is logged (the
/// connection is served with the kernel's buffer).
fn limit_send_buffer(stream: &tokio::net::TcpStream) {
    if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER_BYTES) {
        tracing::debug!(error = %e, "cannot limit a sidecar connection's send buffer");
    }
}

/// How long a connection told to close for a newcomer while it answers may take to finish.
const CLOSE_GRACE: StdDuration = StdDuration::from_secs(1);

/// Serves one connection until it ends, or until a newcomer needs its slot. A request is in
/// flight from the moment hyper hands it over until its answer has been written, so a
/// connection told to close with none in flight has no answer to cut: it is dropped at once,
/// however much of a request head it has sent (one that sends a head slowly would otherwise
/// hold its slot, and the accept loop, for the whole grace). So is one whose client leaves its
/// answers untaken ([`super::sidecar_writes`]): a grace would only wait for it to read. The
/// stream is watched for answers left unsent, and fails once they have been for
/// [`super::sidecar_writes::WRITE_TIMEOUT`].
async fn serve_connection((stream, admitted): (tokio::net::TcpStream, Admitted), shared: Arc<Shared>) {
    let activity = admitted.activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let in_flight = activity.request();
        let response = handle(&shared, &req, OffsetDateTime::now_utc())
            .map(|body| crate::server::connections::InFlightBody::new(body, in_flight, None));
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let stream = WatchedStream::new(stream, admitted.writes.clone());
    let connection = crate::server::connections::plain_http1().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        // The connection first: what it has read is served before a close is looked at.
        biased;
        _ = connection.as_mut() => {}
        () = admitted.close_requested() => {
            // Polled by this task only, the connection cannot start a request meanwhile.
            if admitted.nothing_to_finish() {
                return;
            }
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
        }
    }
}

/// What to say of serving IMDS on `addr` beyond this host: IMDS asks no secret (a PUT gets a
/// token), so whatever can reach a non-loopback address gets the credentials; `None` on a
/// loopback address, or with IMDS off (the container endpoint asks for its token).
fn exposure_warning(addr: SocketAddr, imds: bool, hop_limit: u8) -> Option<String> {
    if !imds || addr.ip().is_loopback() {
        return None;
    }
    let hops = match hop_limit {
        1 => String::new(),
        n => format!(", and its answers cross {n} hops (--hop-limit 1 keeps them on this host's link)"),
    };
    Some(format!(
        "IMDS is served on {addr}, which is not a loopback address: any host that can reach it gets the \
         credentials, as IMDS asks for no secret{hops}; serve the container endpoint only (--no-imds with \
         --auth-token-file), or listen on a loopback address"
    ))
}

/// The addresses besides loopback ones that the AWS SDKs fetch a plain-HTTP
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` from (ECS's and EKS Pod Identity's agents: botocore's
/// `ContainerMetadataFetcher._ALLOWED_HOSTS`, the Java SDK's and JavaScript SDK's checks).
const SDK_CONTAINER_HOSTS: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
];

/// What to say of serving the container endpoint on `addr` when the AWS SDKs refuse every URL
/// of it: they fetch plain-HTTP credentials only from a loopback address or one of
/// [`SDK_CONTAINER_HOSTS`]. `None` where they take it, and on an unspecified address
/// (`0.0.0.0`, `[::]`), which loopback reaches too.
fn container_endpoint_warning(addr: SocketAddr, container: bool) -> Option<String> {
    let ip = addr.ip();
    if !container || ip.is_loopback() || ip.is_unspecified() || SDK_CONTAINER_HOSTS.contains(&ip) {
        return None;
    }
    Some(format!(
        "the container endpoint is served on {addr}, where the AWS SDKs do not fetch credentials: they take a \
         plain-HTTP AWS_CONTAINER_CREDENTIALS_FULL_URI only on a loopback address, 169.254.170.2, 169.254.170.23 \
         or [fd00:ec2::23]; listen on one of those (e.g. --listen 169.254.170.23:80, an address given to this host)"
    ))
}

/// Sets the IP TTL (IPv4) or unicast hop limit (IPv6) of `listener`, which the connections it
/// accepts inherit: the answers go at most `hops` hops. A dual-stack IPv6 listener (`[::]`)
/// gets both: its IPv4 clients' answers leave with the IPv4 TTL.
fn set_hop_limit(listener: &tokio::net::TcpListener, hops: u8) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(listener);
    match listener.local_addr()? {
        SocketAddr::V4(_) => socket.set_ttl_v4(hops.into()),
        SocketAddr::V6(_) => {
            socket.set_unicast_hops_v6(hops.into())?;
            match socket.only_v6()? {
                true => Ok(()),
                false => socket.set_ttl_v4(hops.into()),
            }
        }
    }
}

/// Returns once there is an answer to serve: credentials kept before a restart, or the first
/// fetch finished, successfully or not.
async fn first_attempt(state: &SharedState) {
    while !refresh::read(state, CredentialState::attempted) {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// What every request handler shares.
pub struct Shared {
    pub state: SharedState,
    pub role_name: String,
    pub account_id: String,
    /// What `iam/info` answers (`instance_profile_arn()`), and its id, derived from it.
    pub instance_profile_arn: String,
    pub instance_profile_id: String,
    /// The region IMDS answers (`placement/region`, the instance identity document).
    pub region: String,
    pub auth_token_file: Option<PathBuf>,
    /// IMDSv2's tokens; `None`: IMDS is off (`--no-imds`).
    pub imds: Option<ImdsTokens>,
}

/// The IMDSv2 TTL header (request and response).
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The IMDSv2 token header on GETs.
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const CREDENTIALS_PREFIX: &str = "/latest/meta-data/iam/security-credentials";
/// IMDSv2's token resource. `aws_signing_helper serve` answers it with a trailing `/` too
/// (`TOKEN_RESOURCE_PATH_WITH_TRAILING_SLASH` in its `serve.go`), as the credentials paths
/// are answered here: a client written against it may PUT either.
const TOKEN_PATH: &str = "/latest/api/token";
const TOKEN_PATH_WITH_TRAILING_SLASH: &str = "/latest/api/token/";

/// Answers one request at `now`.
pub fn handle<B>(shared: &Shared, req: &Request<B>, now: OffsetDateTime) -> Response<Full<Bytes>> {
    let path = without_repeated_leading_slashes(req.uri().path());
    if req.version() == http::Version::HTTP_11 && !req.headers().contains_key(http::header::HOST) {
        // RFC 9112 §3.2: a server answers 400 to an HTTP/1.1 request without Host.
        return text(
            StatusCode::BAD_REQUEST,
            "An HTTP/1.1 request needs a Host header (RFC 9112, section 3.2).",
        );
    }
    if req.headers().get_all(http::header::HOST).iter().nth(1).is_some() {
        // RFC 9112 §3.2: a server answers 400 to more than one Host; only the first would be
        // checked, and a proxy before the sidecar may read the other.
        return text(
            StatusCode::BAD_REQUEST,
            "The request has more than one Host header; send it once.",
        );
    }
    let addressed_here = names_this_machine(req);
    if path != "/healthz" && !addressed_here {
        return text(
            StatusCode::FORBIDDEN,
            "The Host header must be an IP address or localhost: the sidecar refuses requests \
             addressed to a DNS name (DNS rebinding).",
        );
    }
    let imds = shared.imds.as_ref();
    match (req.method(), path) {
        (_, p) if p.starts_with("/latest/") && imds.is_none() => text(
            StatusCode::NOT_FOUND,
            "IMDS is off (--no-imds): use the container credentials endpoint, /v1/credentials.",
        ),
        (&Method::PUT, TOKEN_PATH | TOKEN_PATH_WITH_TRAILING_SLASH) => issue_token(imds, req, now),
        (_, TOKEN_PATH | TOKEN_PATH_WITH_TRAILING_SLASH) => method_not_allowed("PUT", "Use PUT to get a token."),
        (&Method::GET, "/v1/credentials") => container_credentials(shared, req, now),
        (_, "/v1/credentials") => method_not_allowed("GET", "Use GET."),
        (&Method::GET, "/healthz") => refresh::read(&shared.state, |s| health(s, now, addressed_here)),
        (&Method::GET, p) if p.starts_with("/latest/") => {
            let token = req.headers().get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
            let Some(left) = token.zip(imds).and_then(|(t, tokens)| tokens.seconds_left(t, now)) else {
                // IMDSv2 only: a missing, unknown or expired token is 401, as IMDS answers.
                return text(StatusCode::UNAUTHORIZED, "");
            };
            // As IMDS (and aws_signing_helper serve) answer: the token's seconds left.
            let mut resp = imds_get(shared, p, now);
            resp.headers_mut().insert(TTL_HEADER, http::HeaderValue::from(left));
            resp
        }
        // As `aws_signing_helper serve`, and the token path here, answer another method.
        (_, p) if p.starts_with("/latest/meta-data") || p.starts_with("/latest/dynamic") => {
            method_not_allowed("GET", "Use GET.")
        }
        (_, "/healthz") => method_not_allowed("GET", "Use GET."),
        _ => text(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `path` from its last leading `/` on: `//latest/api/token` is `/latest/api/token`. SDKs
/// append their resource paths to `AWS_EC2_METADATA_SERVICE_ENDPOINT`, and one that does not
/// drop the endpoint's trailing `/` (the Java SDK v2) asks for `//latest/…`, where botocore
/// in AWS CLI v2 releases before its fix needs that `/` to form a URL at all: with this, an
/// endpoint written with the `/` serves both, as EC2's IMDS does.
fn without_repeated_leading_slashes(path: &str) -> &str {
    let rest = path.trim_start_matches('/');
    match path.len() - rest.len() {
        0 | 1 => path,
        slashes => &path[slashes - 1..],
    }
}

/// `GET /healthz`, whatever the request's `Host`: 200 `ok` while credentials can be served,
/// else 503 — with the reason only when `addressed_here` ([`names_this_machine`]). The status
/// is all a probe reads, and probes may name the host as they like: a Kubernetes `httpGet`
/// probe sends the pod IP, but its `httpHeaders` may set a `Host` name, as may a monitoring
/// agent reaching the sidecar by a DNS name; refusing those (403) would fail the probe for
/// good. The reason is the last refresh error, which names the endpoint's and the proxy's
/// hosts: a DNS-rebinding page, whose requests name its own domain, reads no more than whether
/// credentials are served.
///
/// Credentials the server said it refuses (`--check-session-seconds`) are unhealthy too, until
/// new ones are fetched: they are still served (the server that refused them may be one replica
/// of several, and they are all there is), but every call made with them may fail.
fn health(state: &CredentialState, now: OffsetDateTime, addressed_here: bool) -> Response<Full<Bytes>> {
    let unhealthy = match (state.current(now), state.refused()) {
        (Ok(_), None) => return text(StatusCode::OK, "ok"),
        (Ok(_), Some(refusal)) => format!(
            "the server refuses the credentials served; {}; it said: {refusal}",
            match (state.last_error(), state.recheck_due(), state.refetch_due()) {
                (Some(e), ..) => format!("fetching new ones failed ({e})"),
                (None, true, _) => "new ones were fetched and are being checked".to_owned(),
                (None, false, Some(due)) => format!("new ones are fetched at {}", refresh::format_time(due)),
                (None, false, None) => "new ones are fetched".to_owned(),
            }
        ),
        (Err(e), _) => e.to_string(),
    };
    match addressed_here {
        true => text(StatusCode::SERVICE_UNAVAILABLE, &unhealthy),
        false => text(StatusCode::SERVICE_UNAVAILABLE, UNHEALTHY_WITHOUT_REASON),
    }
}

/// What `/healthz` answers with a 503 to a request addressed to a DNS name.
const UNHEALTHY_WITHOUT_REASON: &str =
    "credentials unavailable (the reason is told to requests addressed to an IP address or localhost)";

/// Whether the request is addressed (`Host`, or the URI's authority) to an IP address or to
/// `localhost`, as the endpoints the README gives the SDKs are (`http://127.0.0.1:9911`). The
/// SDKs would take any host in their IMDS endpoint; a name is refused by design: a web page
/// the user opens may point its own DNS name at 127.0.0.1 (DNS rebinding), and the browser
/// then lets it read the sidecar's answers as its own, but its requests still name its domain.
/// No header at all is an HTTP/1.0 client, not a browser.
fn names_this_machine<B>(req: &Request<B>) -> bool {
    match req.headers().get(http::header::HOST) {
        // One that is not ASCII names no address.
        Some(value) => value.to_str().is_ok_and(is_address_or_localhost),
        None => req
            .uri()
            .authority()
            .is_none_or(|authority| is_address_or_localhost(authority.as_str())),
    }
}

/// `host` (a `Host` header: name or address, with an optional port) is an IP literal or
/// `localhost`.
fn is_address_or_localhost(host: &str) -> bool {
    if let Some(bracketed) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        return bracketed
            .split_once(']')
            .is_some_and(|(v6, rest)| v6.parse::<std::net::Ipv6Addr>().is_ok() && is_port_suffix(rest));
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => host,
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Empty, or `:` and a port number.
fn is_port_suffix(rest: &str) -> bool {
    rest.is_empty() || rest.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())
}

/// `PUT /latest/api/token`: TTL 1..=21600 s from the TTL header, echoed back.
fn issue_token<B>(tokens: Option<&ImdsTokens>, req: &Request<B>, now: OffsetDateTime) -> Response<Full<Bytes>> {
    let Some(tokens) = tokens else {
        return text(StatusCode::NOT_FOUND, "Not Found");
    };
    // IMDS refuses proxied token requests.
    if req.headers().contains_key("x-forwarded-for") {
        return text(StatusCode::FORBIDDEN, "Forbidden");
    }
    let ttl = req
        .headers()
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|t| (1..=21600).contains(t));
    let Some(ttl) = ttl else {
        return text(
            StatusCode::BAD_REQUEST,
            "x-aws-ec2-metadata-token-ttl-seconds must be an integer from 1 to 21600",
        );
    };
    let token = tokens.issue(now, Duration::seconds(ttl.into()));
    let mut resp = text(StatusCode::OK, &token);
    if let Ok(v) = http::HeaderValue::from_str(&ttl.to_string()) {
        resp.headers_mut().insert(TTL_HEADER, v);
    }
    resp
}

fn imds_get(shared: &Shared, path: &str, now: OffsetDateTime) -> Response<Full<Bytes>> {
    // IMDS lists a category's entries one per line, sub-categories with a trailing `/`; these
    // are the entries the sidecar serves.
    match path.trim_end_matches('/') {
        "/latest/meta-data" => return text(StatusCode::OK, "iam/\nplacement/"),
        "/latest/meta-data/iam" => {
            return text(
                StatusCode::OK,
                "info\nsecurity-credentials/\nsecurity-credentials-extended/",
            );
        }
        "/latest/meta-data/placement" => return text(StatusCode::OK, "region"),
        "/latest/meta-data/placement/region" => return text(StatusCode::OK, &shared.region),
        "/latest/dynamic" => return text(StatusCode::OK, "instance-identity/"),
        "/latest/dynamic/instance-identity" => return text(StatusCode::OK, "document"),
        "/latest/dynamic/instance-identity/document" => return identity_document(shared),
        "/latest/meta-data/iam/info" => return refresh::read(&shared.state, |s| iam_info(s, now, shared)),
        _ => {}
    }
    // The extended document adds the account id. The Java v2, Ruby and PHP SDKs ask for it
    // first and fall back to the classic one; botocore (1.44, `utils.py`) and the JavaScript
    // SDK (`@smithy/credential-provider-imds` 4.5) ask for the classic one only, and
    // aws-sdk-rust, which reads the classic one, would ignore `AccountId`.
    let (rest, document) = match path.strip_prefix(CREDENTIALS_PREFIX) {
        Some(rest) => match rest.strip_prefix("-extended") {
            Some(rest) => (rest, Document::ImdsExtended),
            None => (rest, Document::Imds),
        },
        None => return text(StatusCode::NOT_FOUND, "Not Found"),
    };
    match rest {
        "" | "/" => text(StatusCode::OK, &shared.role_name),
        r if r
            .strip_prefix('/')
            .is_some_and(|n| n.trim_end_matches('/') == shared.role_name) =>
        {
            refresh::read(&shared.state, |s| credentials_response(s, now, shared, document))
        }
        _ => text(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `GET /v1/credentials`, guarded by the token in `--auth-token-file`.
fn container_credentials<B>(shared: &Shared, req: &Request<B>, now: OffsetDateTime) -> Response<Full<Bytes>> {
    let Some(token_file) = &shared.auth_token_file else {
        return error_json(
            StatusCode::NOT_FOUND,
            "ContainerEndpointDisabled",
            "The container credentials endpoint is off: start the sidecar with --auth-token-file.",
        );
    };
    let expected = match read_token(token_file) {
        Ok(t) => t,
        // Said to whoever asks, token or not: the details (paths, user ids) go to the log.
        Err(e) => {
            tracing::warn!(error = %e, "the container endpoint refused a request: its auth token file is unusable");
            return error_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TokenFileUnreadable",
                "The sidecar cannot use its auth token file; its log says why.",
            );
        }
    };
    let Some(given) = req.headers().get(http::header::AUTHORIZATION) else {
        return error_json(
            StatusCode::UNAUTHORIZED,
            "MissingAuthorization",
            "Send the token of --auth-token-file in the Authorization header (AWS_CONTAINER_AUTHORIZATION_TOKEN).",
        );
    };
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return error_json(
            StatusCode::FORBIDDEN,
            "InvalidAuthorization",
            "The Authorization header does not match the sidecar's token.",
        );
    }
    refresh::read(&shared.state, |s| {
        credentials_response(s, now, shared, Document::Container)
    })
}

/// Which credentials document an endpoint answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Document {
    /// The container endpoint's JSON.
    Container,
    /// IMDS's `security-credentials/ROLE`.
    Imds,
    /// IMDS's `security-credentials-extended/ROLE`: the same and `AccountId`.
    ImdsExtended,
}

/// The credentials document, or a 503 saying why there is none.
fn credentials_response(
    state: &CredentialState,
    now: OffsetDateTime,
    shared: &Shared,
    document: Document,
) -> Response<Full<Bytes>> {
    let held = match state.current(now) {
        Ok(held) => held,
        Err(why) => return unavailable(&why),
    };
    let c = &held.credentials;
    let expiration = format_time(held.expires);
    if document == Document::Container {
        let body = serde_json::json!({
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key.as_str(),
            "Token": c.session_token.as_str(),
            "Expiration": expiration,
            "AccountId": shared.account_id,
        });
        json(StatusCode::OK, body)
    } else {
        // As EC2 writes it (its user guide's example): one field a line, in this order, which
        // shell scripts rely on (`grep SecretAccessKey`); sent as text/plain, as IMDS does.
        let last_updated = format_time(held.obtained);
        let fields = [
            ("Code", "Success"),
            ("LastUpdated", last_updated.as_str()),
            ("Type", "AWS-HMAC"),
            ("AccessKeyId", c.access_key_id.as_str()),
            ("SecretAccessKey", c.secret_access_key.as_str()),
            ("Token", c.session_token.as_str()),
            ("Expiration", expiration.as_str()),
            ("AccountId", shared.account_id.as_str()),
        ];
        let body = match document {
            Document::ImdsExtended => imds_json(&fields),
            _ => imds_json(&fields[..fields.len() - 1]),
        };
        respond(StatusCode::OK, "text/plain", Bytes::from(body))
    }
}

/// The 503 `CredentialsUnavailable` that says why there are no credentials to serve.
fn unavailable(why: &refresh::Unavailable) -> Response<Full<Bytes>> {
    error_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "CredentialsUnavailable",
        &why.to_string(),
    )
}

/// `iam/info`: the instance profile, which tools read for the account id. The sidecar's is
/// named after its role (as the EC2 console names the profile it creates for a role), its id
/// derived from its ARN; `LastUpdated` is when the credentials were obtained. One field a line,
/// as EC2 writes it.
fn iam_info(state: &CredentialState, now: OffsetDateTime, shared: &Shared) -> Response<Full<Bytes>> {
    let held = match state.current(now) {
        Ok(held) => held,
        Err(why) => return unavailable(&why),
    };
    let last_updated = format_time(held.obtained);
    let body = imds_json(&[
        ("Code", "Success"),
        ("LastUpdated", last_updated.as_str()),
        ("InstanceProfileArn", shared.instance_profile_arn.as_str()),
        ("InstanceProfileId", shared.instance_profile_id.as_str()),
    ]);
    respond(StatusCode::OK, "text/plain", Bytes::from(body))
}

/// `dynamic/instance-identity/document`: the fields of EC2's that the sidecar knows — the
/// region, which the Java v2 (`EC2MetadataUtils.getEC2InstanceRegion`) and Go v2
/// (`imds.GetRegion`) SDKs read, and the account — one per line, as EC2 writes it. An on-prem
/// host has no instance id, image or availability zone, and none is made up.
fn identity_document(shared: &Shared) -> Response<Full<Bytes>> {
    let body = imds_json(&[
        ("accountId", shared.account_id.as_str()),
        ("region", shared.region.as_str()),
    ]);
    respond(StatusCode::OK, "text/plain", Bytes::from(body))
}

/// A JSON object of string fields in the order given, one per line, as EC2's IMDS writes its
/// documents (`{`, then `  "Code" : "Success",` and so on, then `}`): shell scripts read them
/// line by line (`grep AccessKeyId`). One allocation, of the document's size.
fn imds_json(fields: &[(&str, &str)]) -> String {
    // Per field: two quotes around each of key and value, `  ` and ` : `, `,\n`; escapes grow
    // the string only for values no AWS credential holds.
    let size = fields.iter().map(|(k, v)| k.len() + v.len() + 11).sum::<usize>() + 4;
    let mut out = String::with_capacity(size);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        push_json_string(&mut out, key);
        out.push_str(" : ");
        push_json_string(&mut out, value);
    }
    out.push_str("\n}");
    out
}

/// Appends `s` to `out` as a JSON string (RFC 8259 §7).
fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// `AIPA` + 17 characters derived from `arn`, as role ids are (`session::role_id`).
fn instance_profile_id(arn: &str) -> String {
    let role_id = crate::session::role_id(arn);
    format!("AIPA{}", role_id.get(4..).unwrap_or_default())
}

/// The instance profile the sidecar stands for: `…:instance-profile/{role name}` in the role's
/// partition and account.
fn instance_profile_arn(role: &crate::arn::RoleArn) -> String {
    format!(
        "arn:{}:iam::{}:instance-profile/{}",
        role.partition(),
        role.account(),
        role.name()
    )
}

/// Modification time and size of the identity files: a change means rotation.
fn fingerprint(source: &IdentitySource) -> Vec<Option<(SystemTime, u64)>> {
    [
        Some(&source.certificate),
        source.private_key.as_ref(),
        source.intermediates.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    respond(status, "text/plain", Bytes::from(body.to_owned()))
}

/// 405 with the `Allow` header RFC 9110 §15.5.6 requires.
fn method_not_allowed(allow: &'static str, body: &str) -> Response<Full<Bytes>> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, body);
    response
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    response
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", Bytes::from(value.to_string()))
}

fn error_json(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({"Code": code, "Message": message}))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helper::container_token::MAX_TOKEN_FILE_BYTES;
    use zeroize::Zeroizing;

    /// A client of a sidecar on 127.0.0.1:0, through hyper's HTTP/1.1 client: it keeps its
    /// connection open between requests.
    async fn keep_alive_client(
        addr: SocketAddr,
    ) -> hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>> {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(connection);
        sender
    }

    /// `GET /healthz` on `sender`'s connection: its status (503: the test's sidecar has no
    /// credentials).
    async fn healthz(sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>) -> u16 {
        let request = Request::get("/healthz")
            .header("host", "127.0.0.1")
            .body(http_body_util::Empty::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    }

    /// A local process that pipelines requests on a connection and never reads the answers:
    /// the task writing them on its connection (with a small receive buffer), which ends with
    /// the error it gets once the sidecar closes the connection.
    async fn flood(addr: SocketAddr) -> tokio::task::JoinHandle<std::io::Error> {
        use tokio::io::AsyncWriteExt;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut tcp = socket.connect(addr).await.unwrap();
        let requests = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(1000);
        tokio::spawn(async move {
            loop {
                if let Err(e) = tcp.write_all(&requests).await {
                    return e;
                }
            }
        })
    }

    /// Waits (up to a bound, so that a regression fails rather than hangs) until `count`
    /// connections have answers waiting unsent.
    async fn until_stalled(connections: &OpenConnections, count: usize) {
        let waited = tokio::time::timeout(StdDuration::from_secs(60), async {
            while connections.stalled() < count {
                tokio::time::sleep(StdDuration::from_millis(10)).await;
            }
        });
        waited.await.expect("the flooding connection's answers wait unsent");
    }

    /// With every slot taken — one by an SDK's keep-alive connection, idle after its request,
    /// one by a client that pipelines requests and never reads the answers — a newcomer is
    /// answered: the flooding connection is closed for it (before, a request stuck in flight
    /// behind its unsent answers made it look busy for ever, so the newcomer waited until the
    /// SDK's connection had been idle 5 seconds, and closed that one instead). The SDK's
    /// connection stays open and is served.
    #[tokio::test]
    async fn a_client_that_never_reads_its_answers_loses_its_slot_to_a_newcomer() {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = OpenConnections::new(2);
        let sidecar = {
            let connections = connections.clone();
            let shared = Arc::new(shared(None));
            tokio::spawn(async move { serve(&listener, &connections, &shared).await })
        };
        let mut sdk = keep_alive_client(addr).await;
        assert_eq!(healthz(&mut sdk).await, 503);
        let flooding = flood(addr).await;
        until_stalled(&connections, 1).await;

        let mut newcomer = keep_alive_client(addr).await;
        assert_eq!(healthz(&mut newcomer).await, 503, "the newcomer is answered");
        tokio::time::timeout(StdDuration::from_secs(60), flooding)
            .await
            .expect("the flooding connection was closed")
            .unwrap();
        assert_eq!(healthz(&mut sdk).await, 503, "the SDK's connection is still served");
        sidecar.abort();
    }

    /// The hop limit is set on the listener, in the family it listens in, and the connections
    /// it accepts carry it.
    #[tokio::test]
    async fn the_hop_limit_is_the_accepted_connections_ttl() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        for ip in [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
            let Ok(listener) = tokio::net::TcpListener::bind((ip, 0)).await else {
                println!("SKIP: the_hop_limit_is_the_accepted_connections_ttl: no {ip}");
                continue;
            };
            set_hop_limit(&listener, 1).unwrap();
            let addr = listener.local_addr().unwrap();
            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            let socket = socket2::SockRef::from(&accepted);
            let hops = match ip {
                IpAddr::V4(_) => socket.ttl_v4(),
                IpAddr::V6(_) => socket.unicast_hops_v6(),
            };
            assert_eq!(hops.unwrap(), 1, "{ip}");
        }
        // A dual-stack listener: an IPv4 client's connection has the IPv4 TTL.
        let Ok(listener) = tokio::net::TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).await else {
            println!("SKIP: the_hop_limit_is_the_accepted_connections_ttl: no dual-stack listener");
            return;
        };
        if socket2::SockRef::from(&listener).only_v6().unwrap() {
            println!("SKIP: the_hop_limit_is_the_accepted_connections_ttl: [::] is IPv6-only here");
            return;
        }
        set_hop_limit(&listener, 1).unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert_eq!(
            socket2::SockRef::from(&accepted).ttl_v4().unwrap(),
            1,
            "IPv4 through [::]"
        );
    }

    use crate::client::SessionCredentials;
    use http_body_util::BodyExt;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn shared(token_file: Option<PathBuf>) -> Shared {
        Shared {
            state: Arc::default(),
            role_name: "app".into(),
            account_id: "123456789012".into(),
            instance_profile_arn: "arn:aws:iam::123456789012:instance-profile/app".into(),
            instance_profile_id: instance_profile_id("arn:aws:iam::123456789012:instance-profile/app"),
            region: "eu-west-3".into(),
            auth_token_file: token_file,
            imds: Some(ImdsTokens::derived_from(b"test key")),
        }
    }

    /// An HTTP/1.1 request, addressed to `127.0.0.1:9911` unless `headers` name a host.
    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            b = b.header("host", "127.0.0.1:9911");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn call(s: &Shared, r: Request<()>, now: OffsetDateTime) -> (u16, String) {
        let resp = handle(s, &r, now);
        let status = resp.status().as_u16();
        let body = futures_body(resp);
        (status, body)
    }

    fn futures_body(resp: Response<Full<Bytes>>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let b = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn fill(s: &Shared) {
        let c = SessionCredentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
            secret_access_key: Zeroizing::new("S".repeat(40)),
            session_token: Zeroizing::new("TOK".into()),
            expiration: "2026-01-01T01:00:00Z".into(),
        };
        s.state
            .write()
            .unwrap()
            .record_success(c, T0, &RefreshPolicy::default());
    }

    #[test]
    fn requests_addressed_to_a_dns_name_are_refused() {
        for local in [
            "127.0.0.1:9911",
            "127.0.0.1",
            "169.254.169.254",
            "[::1]:9911",
            "[fd00:ec2::254]",
            "localhost:9911",
            "LOCALHOST",
        ] {
            assert!(is_address_or_localhost(local), "{local}");
        }
        for rebound in [
            "attacker.example:9911",
            "attacker.example",
            "localhost.attacker.example",
            "127.0.0.1.nip.io:9911",
            "[::1]x",
            "127.0.0.1:99999",
            "",
        ] {
            assert!(!is_address_or_localhost(rebound), "{rebound}");
        }
        let s = shared(None);
        let ttl = [(TTL_HEADER, "60"), ("host", "attacker.example:9911")];
        let (status, body) = call(&s, req("PUT", "/latest/api/token", &ttl), T0);
        assert_eq!(status, 403);
        assert!(
            body.starts_with("The Host header must be an IP address or localhost"),
            "{body}"
        );
        let ttl = [(TTL_HEADER, "60"), ("host", "127.0.0.1:9911")];
        assert_eq!(call(&s, req("PUT", "/latest/api/token", &ttl), T0).0, 200);
        // Two Host headers, whichever comes first: RFC 9112's 400.
        for hosts in [["127.0.0.1", "attacker.example"], ["attacker.example", "127.0.0.1"]] {
            let mut two = req("PUT", "/latest/api/token", &[(TTL_HEADER, "60")]);
            for host in hosts {
                two.headers_mut()
                    .append(http::header::HOST, http::HeaderValue::from_static(host));
            }
            assert_eq!(
                call(&s, two, T0),
                (
                    400,
                    "The request has more than one Host header; send it once.".to_owned()
                )
            );
        }
        // No Host: an HTTP/1.0 client is no browser; HTTP/1.1 requires one. An absolute URI
        // names its host.
        let mut no_host = req("PUT", "/latest/api/token", &[(TTL_HEADER, "60")]);
        no_host.headers_mut().remove(http::header::HOST);
        assert_eq!(
            call(&s, no_host, T0),
            (
                400,
                "An HTTP/1.1 request needs a Host header (RFC 9112, section 3.2).".to_owned()
            )
        );
        let mut http10 = req("PUT", "/latest/api/token", &[(TTL_HEADER, "60")]);
        http10.headers_mut().remove(http::header::HOST);
        *http10.version_mut() = http::Version::HTTP_10;
        assert_eq!(call(&s, http10, T0).0, 200);
        let mut absolute = req("PUT", "http://attacker.example/latest/api/token", &[(TTL_HEADER, "60")]);
        absolute.headers_mut().remove(http::header::HOST);
        *absolute.version_mut() = http::Version::HTTP_10;
        assert_eq!(call(&s, absolute, T0).0, 403);
        let mut unreadable = req("PUT", "/latest/api/token", &[(TTL_HEADER, "60")]);
        unreadable.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_bytes(b"attacker.example\xff").unwrap(),
        );
        assert_eq!(call(&s, unreadable, T0).0, 403);
        // The health check answers a probe that names the pod as it likes, but tells a request
        // addressed to a DNS name nothing of the last error (it names hosts).
        s.state.write().unwrap().record_failure(
            "cannot reach https://rolesanywhere.internal:8443 through proxy.corp:3128".into(),
            T0,
        );
        let probe = [("host", "app.example")];
        assert_eq!(
            call(&s, req("GET", "/healthz", &probe), T0),
            (503, UNHEALTHY_WITHOUT_REASON.to_owned())
        );
        assert_eq!(
            UNHEALTHY_WITHOUT_REASON,
            "credentials unavailable (the reason is told to requests addressed to an IP address or localhost)"
        );
        assert_eq!(
            call(&s, req("GET", "/healthz", &[("host", "10.1.2.3:9911")]), T0),
            (
                503,
                "no credentials yet: the first fetch has not succeeded (cannot reach \
                 https://rolesanywhere.internal:8443 through proxy.corp:3128)"
                    .to_owned()
            )
        );
        fill(&s);
        assert_eq!(call(&s, req("GET", "/healthz", &probe), T0), (200, "ok".to_owned()));
        // Credentials the server refuses are unhealthy until new ones come, served meanwhile.
        let later = T0 + time::Duration::minutes(5);
        s.state
            .write()
            .unwrap()
            .record_refusal("AccessDenied: revoked".into(), later, &RefreshPolicy::default());
        s.state.write().unwrap().record_failure("HTTP 503".into(), later);
        assert_eq!(
            call(&s, req("GET", "/healthz", &[]), later),
            (
                503,
                "the server refuses the credentials served; fetching new ones failed (HTTP 503); it said: AccessDenied: \
                 revoked"
                    .to_owned()
            )
        );
        assert_eq!(
            call(&s, req("GET", "/healthz", &probe), later),
            (503, UNHEALTHY_WITHOUT_REASON.to_owned())
        );
        // New ones fetched are unhealthy until a check passes them.
        fill(&s);
        assert_eq!(
            call(&s, req("GET", "/healthz", &[]), later),
            (
                503,
                "the server refuses the credentials served; new ones were fetched and are being checked; it said: \
                 AccessDenied: revoked"
                    .to_owned()
            )
        );
        s.state.write().unwrap().record_check_passed();
        assert_eq!(call(&s, req("GET", "/healthz", &probe), later), (200, "ok".to_owned()));
    }

    #[test]
    fn without_imds_only_the_container_endpoint_answers() {
        let s = Shared {
            imds: None,
            ..shared(None)
        };
        let ttl = [(TTL_HEADER, "60")];
        for (method, path) in [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
        ] {
            assert_eq!(
                call(&s, req(method, path, &ttl), T0),
                (
                    404,
                    "IMDS is off (--no-imds): use the container credentials endpoint, /v1/credentials.".into()
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn a_wrong_method_is_told_the_right_one() {
        let s = shared(None);
        for (path, allow) in [
            ("/latest/api/token", "PUT"),
            ("/latest/api/token/", "PUT"),
            ("/v1/credentials", "GET"),
        ] {
            let resp = handle(&s, &req("POST", path, &[]), T0);
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_eq!(resp.headers()[http::header::ALLOW], allow, "{path}");
        }
    }

    /// `PUT /latest/api/token/` issues a token as `aws_signing_helper serve` does.
    #[test]
    fn the_token_path_takes_a_trailing_slash() {
        let s = shared(None);
        let ttl = [(TTL_HEADER, "60")];
        let resp = handle(&s, &req("PUT", "/latest/api/token/", &ttl), T0);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[TTL_HEADER], "60");
        let token = futures_body(resp);
        let list = "/latest/meta-data/iam/security-credentials/";
        assert_eq!(
            call(&s, req("GET", list, &[(TOKEN_HEADER, token.as_str())]), T0),
            (200, "app".into())
        );
        assert_eq!(call(&s, req("PUT", "/latest/api/token//", &ttl), T0).0, 404);
    }

    #[test]
    fn an_endpoint_written_with_a_trailing_slash_serves_sdks_that_keep_it() {
        // The Java SDK v2 asks for `//latest/…` of `http://127.0.0.1:9911/`.
        let s = shared(None);
        fill(&s);
        let resp = handle(&s, &req("PUT", "//latest/api/token", &[(TTL_HEADER, "60")]), T0);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[TTL_HEADER], "60");
        let token = futures_body(resp);
        let auth = [(TOKEN_HEADER, token.as_str())];
        let list = "//latest/meta-data/iam/security-credentials/";
        assert_eq!(call(&s, req("GET", list, &auth), T0), (200, "app".into()));
        let (status, body) = call(
            &s,
            req("GET", "///latest/meta-data/iam/security-credentials/app", &auth),
            T0,
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"AccessKeyId\""), "{body}");
        assert_eq!(
            call(
                &s,
                req("GET", "//latest/meta-data/iam/security-credentials/app", &[]),
                T0
            )
            .0,
            401
        );
        assert_eq!(call(&s, req("GET", "//nothing", &auth), T0).0, 404);
    }

    #[test]
    fn only_leading_slashes_are_collapsed() {
        assert_eq!(
            without_repeated_leading_slashes("/latest/api/token"),
            "/latest/api/token"
        );
        assert_eq!(
            without_repeated_leading_slashes("//latest/api/token"),
            "/latest/api/token"
        );
        assert_eq!(without_repeated_leading_slashes("///a//b/"), "/a//b/");
        assert_eq!(without_repeated_leading_slashes("//"), "/");
        assert_eq!(without_repeated_leading_slashes("/"), "/");
        assert_eq!(without_repeated_leading_slashes("*"), "*");
    }

    #[test]
    fn imdsv2_flow() {
        let s = shared(None);
        let ttl = [(TTL_HEADER, "21600")];
        for bad in ["0", "21601", "x", ""] {
            let (st, _) = call(&s, req("PUT", "/latest/api/token", &[(TTL_HEADER, bad)]), T0);
            assert_eq!(st, 400, "{bad}");
        }
        assert_eq!(call(&s, req("PUT", "/latest/api/token", &[]), T0).0, 400);
        let fwd = [(TTL_HEADER, "60"), ("x-forwarded-for", "1.2.3.4")];
        assert_eq!(call(&s, req("PUT", "/latest/api/token", &fwd), T0).0, 403);
        let resp = handle(&s, &req("PUT", "/latest/api/token", &ttl), T0);
        assert_eq!(resp.headers()[TTL_HEADER], "21600");
        let token = futures_body(resp);
        let list = "/latest/meta-data/iam/security-credentials/";
        assert_eq!(call(&s, req("GET", list, &[]), T0), (401, String::new()));
        assert_eq!(call(&s, req("GET", list, &[(TOKEN_HEADER, "nope")]), T0).0, 401);
        let auth = [(TOKEN_HEADER, token.as_str())];
        assert_eq!(call(&s, req("GET", list, &auth), T0), (200, "app".into()));
        // Every GET tells the token's seconds left, as IMDS does.
        let later = T0 + Duration::seconds(600);
        assert_eq!(
            handle(&s, &req("GET", list, &auth), later).headers()[TTL_HEADER],
            "21000"
        );
        let (st, body) = call(&s, req("GET", &format!("{list}app"), &auth), T0);
        assert_eq!(st, 503);
        assert!(body.contains("\"Code\":\"CredentialsUnavailable\""), "{body}");
        // The health check needs no token and tells no secret.
        let (st, body) = call(&s, req("GET", "/healthz", &[]), T0);
        assert_eq!(
            (st, body.as_str()),
            (
                503,
                "no credentials yet: the first fetch has not succeeded (no attempt finished yet)"
            )
        );
        let region = "/latest/meta-data/placement/region";
        assert_eq!(call(&s, req("GET", region, &auth), T0), (200, "eu-west-3".into()));
        assert_eq!(call(&s, req("GET", region, &[]), T0).0, 401);
        // The listings name what is served, as IMDS lists a category.
        for (path, listed) in [
            ("/latest/meta-data/", "iam/\nplacement/"),
            ("/latest/meta-data", "iam/\nplacement/"),
            (
                "/latest/meta-data/iam/",
                "info\nsecurity-credentials/\nsecurity-credentials-extended/",
            ),
            ("/latest/meta-data/placement/", "region"),
        ] {
            assert_eq!(call(&s, req("GET", path, &auth), T0), (200, listed.into()), "{path}");
            assert_eq!(call(&s, req("GET", path, &[]), T0).0, 401, "{path}");
        }
        let info = "/latest/meta-data/iam/info";
        assert_eq!(call(&s, req("GET", info, &auth), T0).0, 503, "no credentials yet");
        fill(&s);
        assert_eq!(call(&s, req("GET", "/healthz", &[]), T0), (200, "ok".into()));
        let resp = handle(&s, &req("GET", &format!("{list}app"), &auth), T0);
        assert_eq!(
            resp.headers()[http::header::CONTENT_TYPE],
            "text/plain",
            "as IMDS sends it"
        );
        let (st, body) = call(&s, req("GET", &format!("{list}app"), &auth), T0);
        assert_eq!(st, 200);
        // One field a line in EC2's order (its user guide's example), for scripts that grep.
        let secret = "S".repeat(40);
        let ec2_layout = format!(
            "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-01-01T00:00:00Z\",\n  \"Type\" : \"AWS-HMAC\",\n  \
             \"AccessKeyId\" : \"ASIAAAAAAAAAAAAAAAAA\",\n  \"SecretAccessKey\" : \"{secret}\",\n  \
             \"Token\" : \"TOK\",\n  \"Expiration\" : \"2026-01-01T01:00:00Z\""
        );
        assert_eq!(body, format!("{ec2_layout}\n}}"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC",
                "AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"S".repeat(40),"Token":"TOK",
                "Expiration":"2026-01-01T01:00:00Z"})
        );
        assert_eq!(call(&s, req("GET", &format!("{list}other"), &auth), T0).0, 404);
        // Another method than GET: 405 naming GET, as `aws_signing_helper serve` answers.
        for (method, path) in [
            ("POST", format!("{list}app")),
            ("PUT", list.to_owned()),
            ("DELETE", "/healthz".to_owned()),
        ] {
            let resp = handle(&s, &req(method, &path, &auth), T0);
            assert_eq!(
                (resp.status(), resp.headers()[http::header::ALLOW].to_str().unwrap()),
                (StatusCode::METHOD_NOT_ALLOWED, "GET"),
                "{method} {path}"
            );
        }
        // The extended document (JavaScript v3, Java v2) adds the account id.
        let extended = "/latest/meta-data/iam/security-credentials-extended/";
        assert_eq!(call(&s, req("GET", extended, &auth), T0), (200, "app".into()));
        let (st, body) = call(&s, req("GET", &format!("{extended}app"), &auth), T0);
        assert_eq!(st, 200, "{body}");
        assert_eq!(body, format!("{ec2_layout},\n  \"AccountId\" : \"123456789012\"\n}}"));
        let mut with_account = v.clone();
        with_account["AccountId"] = "123456789012".into();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap(), with_account);
        assert_eq!(call(&s, req("GET", &format!("{extended}other"), &auth), T0).0, 404);
        let (st, body) = call(&s, req("GET", info, &auth), T0);
        assert_eq!(st, 200, "{body}");
        assert_eq!(
            body,
            format!(
                "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-01-01T00:00:00Z\",\n  \
                 \"InstanceProfileArn\" : \"arn:aws:iam::123456789012:instance-profile/app\",\n  \
                 \"InstanceProfileId\" : \"{}\"\n}}",
                s.instance_profile_id
            )
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Code"], "Success");
        assert_eq!(v["LastUpdated"], "2026-01-01T00:00:00Z");
        assert_eq!(
            v["InstanceProfileArn"],
            "arn:aws:iam::123456789012:instance-profile/app"
        );
        let id = v["InstanceProfileId"].as_str().unwrap();
        assert!(id.len() == 21 && id.starts_with("AIPA"), "{id}");
        // Expired token and expired credentials.
        assert_eq!(call(&s, req("GET", list, &auth), T0 + Duration::seconds(21600)).0, 401);
        let short = futures_body(handle(
            &s,
            &req("PUT", "/latest/api/token", &[(TTL_HEADER, "21600")]),
            T0 + Duration::hours(1),
        ));
        let (st, body) = call(
            &s,
            req("GET", &format!("{list}app"), &[(TOKEN_HEADER, &short)]),
            T0 + Duration::hours(1),
        );
        assert_eq!(st, 503, "{body}");
        assert!(body.contains("expired at 2026-01-01T01:00:00Z"), "{body}");
    }

    /// The instance identity document, where the Java v2 and Go v2 SDKs read the region, is
    /// behind the same token as the other paths, one field a line as EC2 writes it.
    #[test]
    fn the_instance_identity_document_tells_the_region_and_account() {
        let s = shared(None);
        let token = futures_body(handle(&s, &req("PUT", "/latest/api/token", &[(TTL_HEADER, "60")]), T0));
        let auth = [(TOKEN_HEADER, token.as_str())];
        let document = "/latest/dynamic/instance-identity/document";
        assert_eq!(
            call(&s, req("GET", document, &auth), T0),
            (
                200,
                "{\n  \"accountId\" : \"123456789012\",\n  \"region\" : \"eu-west-3\"\n}".into()
            )
        );
        assert_eq!(
            handle(&s, &req("GET", document, &auth), T0).headers()[http::header::CONTENT_TYPE],
            "text/plain"
        );
        assert_eq!(call(&s, req("GET", document, &[]), T0), (401, String::new()));
        assert_eq!(call(&s, req("GET", document, &[(TOKEN_HEADER, "nope")]), T0).0, 401);
        for (path, listed) in [
            ("/latest/dynamic/", "instance-identity/"),
            ("/latest/dynamic/instance-identity/", "document"),
        ] {
            assert_eq!(call(&s, req("GET", path, &auth), T0), (200, listed.into()), "{path}");
            assert_eq!(call(&s, req("GET", path, &[]), T0).0, 401, "{path}");
        }
        assert_eq!(
            call(&s, req("GET", "/latest/dynamic/instance-identity/pkcs7", &auth), T0).0,
            404
        );
        let resp = handle(&s, &req("POST", document, &auth), T0);
        assert_eq!(
            (resp.status(), resp.headers()[http::header::ALLOW].to_str().unwrap()),
            (StatusCode::METHOD_NOT_ALLOWED, "GET")
        );
    }

    /// IMDS's documents escape what JSON must: they parse back to the text written.
    #[test]
    fn imds_documents_are_json_whatever_their_values() {
        let awkward = "quote \" backslash \\ tab \t newline \n nul \u{0} unit separator \u{1f} é";
        let document = imds_json(&[("Code", "Success"), ("Odd", awkward)]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&document).unwrap(),
            serde_json::json!({"Code": "Success", "Odd": awkward})
        );
        assert!(document.contains(r#""quote \" backslash \\ tab \t newline \n nul \u0000 unit separator \u001f é""#));
        assert_eq!(imds_json(&[]), "{\n}");
    }

    #[test]
    fn container_endpoint_requires_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("token");
        std::fs::write(&tf, "secret-token\n").unwrap();
        let s = shared(Some(tf));
        fill(&s);
        assert_eq!(call(&s, req("GET", "/v1/credentials", &[]), T0).0, 401);
        assert_eq!(
            call(&s, req("GET", "/v1/credentials", &[("authorization", "wrong")]), T0).0,
            403
        );
        let (st, body) = call(
            &s,
            req("GET", "/v1/credentials", &[("authorization", "secret-token")]),
            T0,
        );
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"S".repeat(40),
                "Token":"TOK","Expiration":"2026-01-01T01:00:00Z","AccountId":"123456789012"})
        );
        assert_eq!(
            call(
                &shared(None),
                req("GET", "/v1/credentials", &[("authorization", "x")]),
                T0
            )
            .0,
            404
        );
    }

    /// A token as long as a Kubernetes projected service account token is taken whole; one
    /// longer than the limit is refused, at start and when re-read, never cut to a prefix (the
    /// SDKs send the whole file).
    #[test]
    fn a_long_token_file_is_taken_whole_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("token");
        let long = "t".repeat(5000);
        std::fs::write(&tf, &long).unwrap();
        ensure_token(&tf).unwrap();
        let s = shared(Some(tf.clone()));
        fill(&s);
        let get = |token: &str| call(&s, req("GET", "/v1/credentials", &[("authorization", token)]), T0).0;
        assert_eq!(get(&long), 200);
        assert_eq!(get(&long[..4096]), 403);
        let limit = usize::try_from(MAX_TOKEN_FILE_BYTES).unwrap();
        std::fs::write(&tf, "t".repeat(limit)).unwrap();
        assert_eq!(get(&"t".repeat(limit)), 200);
        let too_long = "t".repeat(limit + 1);
        std::fs::write(&tf, &too_long).unwrap();
        let refused = format!(
            "the auth token file {} is longer than 16384 bytes: the SDKs send all of it as the Authorization \
             header; write a shorter token",
            tf.display()
        );
        assert_eq!(ensure_token(&tf).unwrap_err(), refused);
        let (status, body) = call(
            &s,
            req("GET", "/v1/credentials", &[("authorization", &too_long[..limit])]),
            T0,
        );
        assert_eq!(status, 500);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        // The caller (token or not) is not told the file's path or owners; the log is.
        assert_eq!(
            body,
            serde_json::json!({
                "Code": "TokenFileUnreadable",
                "Message": "The sidecar cannot use its auth token file; its log says why."
            })
        );
    }

    #[test]
    fn imds_beyond_loopback_is_warned_about() {
        let at = |a: &str| a.parse::<SocketAddr>().unwrap();
        assert_eq!(exposure_warning(at("127.0.0.1:9911"), true, 64), None);
        assert_eq!(exposure_warning(at("[::1]:9911"), true, 64), None);
        assert_eq!(exposure_warning(at("0.0.0.0:9911"), false, 64), None);
        assert_eq!(
            exposure_warning(at("0.0.0.0:9911"), true, 64).unwrap(),
            "IMDS is served on 0.0.0.0:9911, which is not a loopback address: any host that can reach it gets the \
             credentials, as IMDS asks for no secret, and its answers cross 64 hops (--hop-limit 1 keeps them on \
             this host's link); serve the container endpoint only (--no-imds with --auth-token-file), or listen \
             on a loopback address"
        );
        assert!(!exposure_warning(at("10.0.0.5:9911"), true, 1).unwrap().contains("hops"));
    }

    #[test]
    fn a_container_endpoint_the_sdks_refuse_is_warned_about() {
        let at = |a: &str| a.parse::<SocketAddr>().unwrap();
        for taken in [
            "127.0.0.1:9911",
            "[::1]:9911",
            "0.0.0.0:9911",
            "[::]:9911",
            "169.254.170.2:80",
        ] {
            assert_eq!(container_endpoint_warning(at(taken), true), None, "{taken}");
        }
        for taken in ["169.254.170.23:80", "[fd00:ec2::23]:80"] {
            assert_eq!(container_endpoint_warning(at(taken), true), None, "{taken}");
        }
        assert_eq!(
            container_endpoint_warning(at("10.0.0.5:9911"), false),
            None,
            "IMDS only"
        );
        assert_eq!(
            container_endpoint_warning(at("10.0.0.5:9911"), true).unwrap(),
            "the container endpoint is served on 10.0.0.5:9911, where the AWS SDKs do not fetch credentials: they \
             take a plain-HTTP AWS_CONTAINER_CREDENTIALS_FULL_URI only on a loopback address, 169.254.170.2, \
             169.254.170.23 or [fd00:ec2::23]; listen on one of those (e.g. --listen 169.254.170.23:80, an address \
             given to this host)"
        );
        assert!(container_endpoint_warning(at("[fd00:ec2::24]:80"), true).is_some());
    }

    #[test]
    fn the_instance_profile_is_named_after_the_role() {
        let arn = |s: &str| crate::arn::RoleArn::parse(s).unwrap();
        assert_eq!(
            instance_profile_arn(&arn("arn:aws:iam::123456789012:role/path/x/app")),
            "arn:aws:iam::123456789012:instance-profile/app"
        );
        assert_eq!(
            instance_profile_arn(&arn("arn:aws-us-gov:iam::123456789012:role/app")),
            "arn:aws-us-gov:iam::123456789012:instance-profile/app"
        );
    }
}
