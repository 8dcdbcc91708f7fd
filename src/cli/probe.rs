//! `rolegate probe URL`: one plain-HTTP GET that exits 0 when it is answered 200 — a
//! Kubernetes exec probe for the distroless image, which has no shell or curl: the sidecar's
//! `/healthz` (bound to 127.0.0.1, which a kubelet httpGet probe cannot reach) or the daemon's
//! `/readyz`.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

/// The most of an answer read: a health answer is a line.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// `rolegate probe` flags.
#[derive(clap::Args)]
pub(super) struct ProbeArgs {
    /// The endpoint, e.g. http://127.0.0.1:9911/healthz (plain HTTP only).
    url: http::Uri,
    /// Give up after this many seconds (1 or more).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_seconds: u64,
}

/// Exit 0 when `args.url` answers 200; otherwise one `error:` line (the status and the first
/// line of the answer, which says why) and exit 1.
pub(super) fn run(args: ProbeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return failed(&format!("cannot start the async runtime: {e}")),
    };
    let limit = Duration::from_secs(args.timeout_seconds);
    let outcome = runtime.block_on(async { tokio::time::timeout(limit, get(&args.url)).await });
    // A name lookup still running (in a blocking thread) must not hold the probe past its limit.
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(None)) => ExitCode::SUCCESS,
        Ok(Ok(Some((status, body)))) => failed(&format!("{} answered {status}: {body}", args.url)),
        Ok(Err(e)) => failed(&format!("{}: {e}", args.url)),
        Err(_) => failed(&format!("{} did not answer within {} s", args.url, limit.as_secs())),
    }
}

fn failed(message: &str) -> ExitCode {
    super::print_error(&message);
    ExitCode::FAILURE
}

/// `None` when `GET url` is answered 200 (its body unread), else the status and the first
/// line of the body, which says why.
async fn get(url: &http::Uri) -> Result<Option<(u16, String)>, String> {
    if url.scheme_str() != Some("http") {
        return Err("only http:// URLs are probed (the health endpoints are plain HTTP)".into());
    }
    let authority = url.authority().ok_or("the URL has no host")?;
    let port = port_of(authority)?;
    let tcp = tokio::net::TcpStream::connect((authority.host().trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, format!("{}:{port}", authority.host()))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| match e.is_parse() {
        // A TLS listener answers a plain request with an alert, which is no HTTP.
        true => format!(
            "{e}: the answer is not plain HTTP (is this rolegate's TLS listener, server.listen? the health endpoints \
             are on server.metrics_listen)"
        ),
        false => e.to_string(),
    })?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(None);
    }
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let first_line = String::from_utf8_lossy(&body).lines().next().unwrap_or("").to_owned();
    Ok(Some((status, first_line)))
}

/// The port of `authority` (80 when it names none). Read from the text after the host: the
/// `http` crate keeps a port it cannot read as a number (`:99999`) and reports none, which
/// would probe port 80.
fn port_of(authority: &http::uri::Authority) -> Result<u16, String> {
    let text = authority.as_str().rsplit('@').next().unwrap_or_default();
    match text.strip_prefix(authority.host()).unwrap_or_default() {
        "" => Ok(80),
        rest => rest
            .strip_prefix(':')
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("'{}' is not a port number", rest.trim_start_matches(':'))),
    }
}
