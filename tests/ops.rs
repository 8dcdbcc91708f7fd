//! Operations, black box: metrics after known traffic, audit events (JSON logs), rate limits in
//! each API's format, reload under load (SIGHUP, valid and invalid configurations), graceful
//! drain on SIGTERM, and scale-out (two daemons sharing a key ring, key rotation).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rolegate::client::{ClientError, CreateSessionParams, RolesAnywhereClient, SessionCredentials, TlsOptions};
use rolegate::identity::ClientCertificate;
use rolegate::pki::{ClientSpec, Issued, KeyType};
use rolegate::sigv4::x509::X509SigningKey;
use rolegate::sigv4::{HttpRequest, sha256_hex, sign_hmac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn params() -> CreateSessionParams {
    CreateSessionParams {
        trust_anchor_arn: anchor_arn("main"),
        profile_arn: profile_arn("main"),
        role_arn: ROLE.to_owned(),
        duration_seconds: None,
        role_session_name: None,
        region: REGION.into(),
    }
}

async fn create(d: &Daemon, leaf: &Issued) -> Result<SessionCredentials, ClientError> {
    create_at(&d.endpoint, &d.ca_bundle(), leaf).await
}

async fn create_at(endpoint: &str, ca_bundle: &Path, leaf: &Issued) -> Result<SessionCredentials, ClientError> {
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let client = RolesAnywhereClient::new(
        endpoint,
        &TlsOptions {
            ca_bundle: Some(ca_bundle.to_owned()),
            ..Default::default()
        },
    )
    .unwrap();
    client
        .create_session(&params(), &key, &leaf.cert_der, &[], cert.serial_decimal(), now())
        .await
}

/// Adds `keys` (TOML lines) to the `[server]` section of the config at `path`.
fn add_server_keys(path: &Path, keys: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, text.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1)).unwrap();
}

/// Starts a daemon whose `[server]` section also holds `keys`.
fn start_with_server_keys(pki: &Pki, keys: &str, args: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(pki));
    add_server_keys(&config, keys);
    start_with_args(dir, &config, args)
}

fn host_port(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_owned()
}

async fn tls_connect(d: &Daemon) -> tokio_rustls::client::TlsStream<TcpStream> {
    tls_connect_to(d.endpoint.clone(), d.ca_bundle(), b"http/1.1").await
}

/// Reads one answer with a `Content-Length` body from a keep-alive connection.
async fn read_one_reply(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> HttpReply {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let reply = HttpReply::parse(&raw[..end + 4]);
        let length: usize = reply.header("content-length").unwrap().parse().unwrap();
        if raw.len() >= end + 4 + length {
            return HttpReply::parse(&raw[..end + 4 + length]);
        }
    }
}

/// A TLS connection to `endpoint` offering the one ALPN protocol `alpn`.
async fn tls_connect_to(
    endpoint: String,
    ca_bundle: std::path::PathBuf,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    try_tls_connect(&endpoint, ca_bundle, alpn, b"").await.unwrap()
}

/// A TLS connection to `endpoint` (ALPN `alpn`) whose TCP stream starts with `prefix` (a PROXY
/// protocol header), or the handshake's error.
async fn try_tls_connect(
    endpoint: &str,
    ca_bundle: std::path::PathBuf,
    alpn: &[u8],
    prefix: impl AsRef<[u8]>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut config = rolegate::client::client_config(&TlsOptions {
        ca_bundle: Some(ca_bundle),
        ..Default::default()
    })
    .unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    let mut tcp = TcpStream::connect(host_port(endpoint)).await.unwrap();
    tcp.write_all(prefix.as_ref()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// Asserts that the daemon serves HTTP/1.1 on `stream`: `GET /nowhere` is answered 404.
async fn assert_served(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) {
    stream
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = read_until_closed(stream).await;
    assert!(raw.starts_with(b"HTTP/1.1 404 "), "{}", String::from_utf8_lossy(&raw));
}

/// One whole response of a kept-alive HTTP/1.1 connection (head and `content-length` body),
/// as text; the connection stays open for the next request.
async fn read_one_response(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("no response")
            .unwrap();
        assert!(n > 0, "the server closed the connection; received {text}");
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Everything `stream` receives until the server closes it (at most 20 s).
async fn read_until_closed(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the server kept the connection open; received {raw:?}");
    raw
}

/// The frame types of a server's HTTP/2 byte stream (9-byte frame headers).
fn http2_frame_types(mut raw: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while raw.len() >= 9 {
        let len = usize::from(raw[0]) << 16 | usize::from(raw[1]) << 8 | usize::from(raw[2]);
        types.push(raw[3]);
        raw = &raw[(9 + len).min(raw.len())..];
    }
    types
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let pki = Pki::new();
    // Idle from the handshake on: long enough that a loaded test machine still sends the request.
    // The request timeout is longer than the wait below: the idle timeout closes.
    let d = start_with_server_keys(&pki, "idle_timeout_seconds = 3\nrequest_timeout_seconds = 60", &[]);

    // HTTP/1.1 keep-alive: a request is answered, then the idle connection is closed.
    let mut h1 = tls_connect(&d).await;
    h1.write_all(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let raw = read_until_closed(&mut h1).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
    assert!(
        !text.contains("connection: close"),
        "closed for being idle, not by the answer: {text}"
    );

    // HTTP/2 (gRPC clients): the connection preface and nothing more; the server says GOAWAY
    // (and closes even though this client never acknowledges the PING that follows it, once
    // `request_timeout_seconds` has passed).
    let d = start_with_server_keys(&pki, "idle_timeout_seconds = 3\nrequest_timeout_seconds = 1", &[]);
    let mut h2 = tls_connect_to(d.endpoint.clone(), d.ca_bundle(), b"h2").await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let raw = read_until_closed(&mut h2).await;
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    let types = http2_frame_types(&raw);
    assert_eq!(types.first(), Some(&SETTINGS), "{types:?}");
    assert!(types.contains(&GOAWAY), "{types:?}");
}

/// A stderr that refuses the log (a full disk: `/dev/full` answers every write with ENOSPC)
/// loses the lines, counts them in `/metrics`, and the daemon serves on.
#[tokio::test]
async fn log_lines_stderr_refuses_are_counted_as_lost() {
    if !Path::new("/dev/full").exists() {
        skip(
            "log_lines_stderr_refuses_are_counted_as_lost",
            "no /dev/full on this machine",
        );
        return;
    }
    let pki = Pki::new();
    let setup = setup(&pki);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let child = std::process::Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(full)
        .spawn()
        .unwrap();
    let d = adopt(dir, child, std::sync::mpsc::channel().1);
    let lost = |m: &str| {
        (
            sample(m, "rolegate_log_write_failures_total").unwrap(),
            sample(m, "rolegate_log_bytes_lost_total").unwrap(),
        )
    };
    let (failures_before, bytes_before) = lost(&d.metrics_text());

    // The session's audit event is one more line stderr refuses.
    let leaf = Pki::client(&pki.root, "lost-log", KeyType::EcdsaP256);
    create(&d, &leaf).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (failures, bytes) = loop {
        let now_lost = lost(&d.metrics_text());
        if now_lost.1 > bytes_before || Instant::now() > deadline {
            break now_lost;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(failures > failures_before, "failures {failures_before} -> {failures}");
    // At least the audit event's line: its field names alone are more than a hundred bytes.
    assert!(bytes >= bytes_before + 100.0, "bytes lost {bytes_before} -> {bytes}");
    create(&d, &leaf).await.expect("the daemon serves on without its log");
}

/// An HTTP/1.1 keep-alive connection idle for longer than `request_timeout_seconds` but less
/// than `idle_timeout_seconds` still serves its next request.
#[tokio::test]
async fn an_idle_keep_alive_connection_lasts_the_idle_timeout() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "idle_timeout_seconds = 30\nrequest_timeout_seconds = 1", &[]);
    let mut h1 = tls_connect(&d).await;
    let request = b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for _ in 0..2 {
        h1.write_all(request).await.unwrap();
        let response = read_one_response(&mut h1).await;
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
        // The client keeps the connection in its pool for a while.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_slot() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_connections = 1", &[]);
    let first = tls_connect(&d).await;
    let mut second = tokio::spawn(tls_connect_to(d.endpoint.clone(), d.ca_bundle(), b"http/1.1"));
    let m = d.metrics_text();
    assert_eq!(sample(&m, "rolegate_connections_limit"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "rolegate_connections_open"), Some(1.0), "{m}");
    // The second client waits in the accept queue while the first holds the only slot...
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut second).await;
    assert!(waited.is_err(), "a second connection was served beside the first");
    // ...and is served once it is free.
    drop(first);
    let mut second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second connection was never served")
        .unwrap();
    assert_served(&mut second).await;
}

/// A request whose body has not arrived holds no slot of `max_concurrent_requests`: those are
/// for requests being answered. It holds a place among the requests still arriving (as many
/// as `max_concurrent_requests`), and when a new one needs a place and all are taken, the one
/// that has waited longest is cut: REST is answered 408 `request-cut`, gRPC
/// DEADLINE_EXCEEDED. Clients that withhold their bodies cannot keep every place, and a call
/// that keeps its place is answered DEADLINE_EXCEEDED after `request_timeout_seconds`.
#[tokio::test]
async fn requests_whose_body_never_arrives_hold_no_answering_slot_and_are_cut_for_newer_ones() {
    let pki = Pki::new();
    // The timeout leaves a loaded machine time for the steps that must happen within it.
    let d = start_with_server_keys(&pki, "max_concurrent_requests = 1\nrequest_timeout_seconds = 10", &[]);
    let receiving = async |want: f64| {
        let metrics = wait_for_metric(&d, "rolegate_requests_receiving", want).await;
        assert_eq!(sample(&metrics, "rolegate_requests_answering"), Some(0.0), "{metrics}");
    };
    // A REST request that announces a body of 100 bytes and sends 1.
    let mut rest = tls_connect(&d).await;
    let head = format!(
        "POST /sessions HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\n\r\n{{",
        host_port(&d.endpoint)
    );
    rest.write_all(head.as_bytes()).await.unwrap();
    receiving(1.0).await;
    // A request whose body is there is answered beside it: the waiting one holds no slot.
    let served = https(&d, "POST", "/sessions", &[], "").await;
    assert_eq!(served.status, 403, "{}", served.body);
    assert!(served.body.contains("Missing Authorization header"), "{}", served.body);

    // A gRPC call whose message never arrives needs the only place: the REST request is cut.
    let sender = h2_sender(&d).await;
    let (first_body, request) = stalled_create_session(&d.endpoint, &[]).await;
    let first = tokio::spawn(sender.clone().send_request(request));
    let cut = read_one_reply(&mut rest).await;
    assert_eq!(cut.status, 408, "{}", cut.body);
    assert_eq!(cut.header("x-amzn-errortype"), Some("RequestTimeoutException"));
    assert_eq!(cut.header("x-rolegate-reason"), Some("request-cut"));
    assert!(
        cut.body.contains(
            "The request was cut before its body arrived: the places of requests still arriving \
             (server.max_concurrent_requests, 1) were all taken and this one had waited longest."
        ),
        "{}",
        cut.body
    );
    // A second call cuts the first...
    let (second_body, request) = stalled_create_session(&d.endpoint, &[]).await;
    let second = tokio::spawn(sender.clone().send_request(request));
    let (code, message) = grpc_status_of(first.await.unwrap().unwrap());
    assert_eq!(code, "4", "{message}");
    assert!(
        message.starts_with("The%20request%20was%20cut%20before%20its%20body%20arrived"),
        "{message}"
    );
    // ...and, the last to arrive, keeps its place until the request timeout.
    let (code, message) = grpc_status_of(second.await.unwrap().unwrap());
    assert_eq!(code, "4", "{message}");
    assert_eq!(message, "The%20request%20was%20not%20received%20within%2010%20seconds.");
    receiving(0.0).await;
    drop((first_body, second_body));
}

/// A reload that changes `cache_max_entries` starts the rate-limit counts afresh, but the
/// requests still arriving keep their places: a newcomer after it still cuts one that has
/// waited since before it (there is one bound of places, not one a reload).
#[tokio::test]
async fn requests_still_arriving_keep_their_places_across_a_reload_that_rebuilds_the_limits() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_concurrent_requests = 1\nrequest_timeout_seconds = 30", &[]);
    let sender = h2_sender(&d).await;
    let (first_body, request) = stalled_create_session(&d.endpoint, &[]).await;
    let first = tokio::spawn(sender.clone().send_request(request));
    wait_for_metric(&d, "rolegate_requests_receiving", 1.0).await;
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[server]\n"), "{text}");
    reload_config(
        &d,
        &text.replacen("[server]\n", "[server]\ncache_max_entries = 5000\n", 1),
        1.0,
    )
    .await;
    let (second_body, request) = stalled_create_session(&d.endpoint, &[]).await;
    let second = tokio::spawn(sender.clone().send_request(request));
    let (code, message) = grpc_status_of(first.await.unwrap().unwrap());
    assert_eq!(code, "4", "{message}");
    assert!(message.starts_with("The%20request%20was%20cut"), "{message}");
    wait_for_metric(&d, "rolegate_requests_receiving", 1.0).await;
    second.abort();
    drop((first_body, second_body));
}

/// The `grpc-status` and `grpc-message` of a trailers-only answer.
fn grpc_status_of<B>(response: http::Response<B>) -> (String, String) {
    (
        response_header(&response, "grpc-status"),
        response_header(&response, "grpc-message"),
    )
}

/// The header `name` of `response`, or "" without one.
fn response_header<B>(response: &http::Response<B>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The daemon's metrics once `name` (without labels) reads `want`, within 30 s.
async fn wait_for_metric(d: &Daemon, name: &str, want: f64) -> String {
    let mut metrics = d.metrics_text();
    for _ in 0..600 {
        if sample(&metrics, name) == Some(want) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = d.metrics_text();
    }
    panic!("{name} never read {want}: {metrics}");
}

/// Bytes that are not the request message (undecodable, missing, cut short) are
/// INVALID_ARGUMENT, and a message over the size limit RESOURCE_EXHAUSTED (tonic's own codes
/// would be INTERNAL and OUT_OF_RANGE).
#[tokio::test]
async fn undecodable_and_oversized_grpc_messages_get_the_contract_codes() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let call = |frame: Vec<u8>| grpc_over_h2(&d, "/rolegate.v1.Sessions/CreateSession", frame);
    // A length-delimited field (tag 1) announcing more bytes than follow.
    let (code, message) = call(vec![0, 0, 0, 0, 3, 0x0a, 0x7f, 0x41]).await;
    assert_eq!(code, "3", "{message}");
    assert!(
        message.starts_with("failed%20to%20decode%20Protobuf%20message"),
        "{message}"
    );
    // 300 KiB announced: refused on the header, before it is read.
    let mut oversized = vec![0u8];
    oversized.extend_from_slice(&(300u32 * 1024).to_be_bytes());
    let (code, message) = call(oversized).await;
    assert_eq!(code, "8", "{message}");
    assert!(message.contains("message%20length%20too%20large"), "{message}");
    // Health and reflection take a name, not 4 MiB: 20 KiB announced is refused.
    let mut named = vec![0u8];
    named.extend_from_slice(&(20u32 * 1024).to_be_bytes());
    let (code, message, _) = grpc_status_over_h2(&d, "/grpc.health.v1.Health/Check", named).await;
    assert_eq!(code, "8", "{message}");
    assert!(message.contains("message%20length%20too%20large"), "{message}");
    // A reflection stream lists the services for a small request, and ends without an answer
    // for one of 20 KiB (its `host` field made long).
    let reflection = |host_len: usize| {
        let mut message = vec![0x0a];
        let mut n = host_len;
        while n >= 0x80 {
            message.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        message.push(n as u8);
        message.extend(std::iter::repeat_n(b'h', host_len));
        message.extend_from_slice(&[0x3a, 1, b'*']);
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend(message);
        grpc_status_over_h2(&d, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", frame)
    };
    let (_, _, answer) = reflection(10).await;
    assert!(
        String::from_utf8_lossy(&answer).contains("rolegate.v1.Sessions"),
        "{answer:?}"
    );
    let (_, _, answer) = reflection(20 * 1024).await;
    assert!(answer.is_empty(), "{answer:?}");
    // No message at all, and a frame that ends before the 10 bytes it announces.
    for (frame, want) in [
        (Vec::new(), "Missing%20request%20message."),
        (vec![0, 0, 0, 0, 10, 0x0a], "Unexpected%20EOF%20decoding%20stream."),
    ] {
        let (code, message) = call(frame).await;
        assert_eq!((code.as_str(), message.as_str()), ("3", want));
    }
    // A frame flagged compressed (flag 1 without grpc-encoding, or no valid flag at all): the
    // client's error, not tonic's INTERNAL.
    for flag in [1u8, 0x80] {
        let (code, message) = call(vec![flag, 0, 0, 0, 0]).await;
        assert_eq!(code, "3", "{message}");
        assert!(
            message.starts_with("The%20message%20frame%20is%20flagged%20compressed"),
            "{message}"
        );
    }
    // A compressed call stays UNIMPLEMENTED (gRPC's code for an unsupported encoding), saying
    // what rolegate accepts.
    let gzip = [("grpc-encoding", "gzip")];
    let (code, message) =
        grpc_over_h2_with(&d, "/rolegate.v1.Sessions/CreateSession", &gzip, vec![1, 0, 0, 0, 0]).await;
    assert_eq!(code, "12", "{message}");
    assert!(
        message.ends_with("accepts%20uncompressed%20messages%20only%20(no%20grpc-encoding)."),
        "{message}"
    );
    // A method rolegate does not serve is named as such (tonic: no message at all).
    let (code, message) = grpc_over_h2(&d, "/rolegate.v1.Sessions/Nope", vec![0, 0, 0, 0, 0]).await;
    assert_eq!(code, "12", "{message}");
    assert!(
        message.starts_with("rolegate%20serves%20no%20gRPC%20method%20/rolegate.v1.Sessions/Nope:%20it%20serves"),
        "{message}"
    );

    // Refused before any handler, and still counted (and audited) as the refusals they are.
    let m = d.metrics_text();
    assert_eq!(
        sample(
            &m,
            r#"rolegate_requests_total{api="grpc",operation="CreateSession",outcome="ValidationError"}"#
        ),
        Some(6.0),
        "{m}"
    );
    // Messages over the limit are too large, as header lists over it are.
    for operation in ["CreateSession", "Other"] {
        assert_eq!(
            sample(
                &m,
                &format!(
                    r#"rolegate_requests_total{{api="grpc",operation="{operation}",outcome="RequestEntityTooLarge"}}"#
                )
            ),
            Some(1.0),
            "the oversized message of {operation}: {m}"
        );
    }
    assert_eq!(
        sample(
            &m,
            r#"rolegate_requests_total{api="grpc",operation="Other",outcome="ValidationError"}"#
        ),
        Some(1.0),
        "the unknown method: {m}"
    );
}

/// A TCP connection to `to` from the loopback address `source` (any of 127.0.0.0/8), to stand
/// for several clients on one machine.
async fn connect_from(source: [u8; 4], to: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((std::net::Ipv4Addr::from(source), 0).into()).unwrap();
    socket.connect(host_port(to).parse().unwrap()).await.unwrap()
}

/// The operations listener serves at most `MAX_CONNECTIONS` at once: with that many open and
/// silent (from as many addresses as their per-address bound needs), a probe waits in the
/// accept queue, and is answered once one of them closes.
#[tokio::test]
async fn the_operations_listener_serves_a_bounded_number_of_connections() {
    use rolegate::server::ops::{MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS};
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let mut held = Vec::new();
    for n in 0..MAX_CONNECTIONS {
        let source = u8::try_from(2 + n / MAX_CONNECTIONS_PER_ADDRESS).unwrap();
        held.push(connect_from([127, 0, 0, source], &d.metrics).await);
    }
    // Every slot is taken once the listener has accepted them all: a probe until then is
    // answered, so wait for the first one that is not.
    let mut probe = 'probing: {
        for _ in 0..20 {
            let mut tcp = TcpStream::connect(host_port(&d.metrics)).await.unwrap();
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut byte = [0u8; 1];
            if tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut byte))
                .await
                .is_err()
            {
                break 'probing tcp;
            }
        }
        panic!("with every slot held, probes were still answered");
    };
    held.clear();
    let mut raw = Vec::new();
    probe.read_to_end(&mut raw).await.unwrap();
    let reply = HttpReply::parse(&raw);
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
}

/// One client address holds at most `MAX_CONNECTIONS_PER_ADDRESS` connections to the
/// operations listener: its next one is closed on arrival, while another address's probe is
/// answered.
#[tokio::test]
async fn one_address_cannot_starve_the_operations_listener() {
    use rolegate::server::ops::MAX_CONNECTIONS_PER_ADDRESS;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let hog = [127, 0, 0, 2];
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
        held.push(connect_from(hog, &d.metrics).await);
    }
    // The listener accepts in arrival order: when it takes the hog's next connection, the
    // held ones are counted.
    let probe = |source| {
        let metrics = d.metrics.clone();
        async move {
            let mut tcp = connect_from(source, &metrics).await;
            // A closed connection may refuse the write or reset the read: both leave `raw` empty.
            let _ = tcp
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n")
                .await;
            let mut raw = Vec::new();
            let _ = tcp.read_to_end(&mut raw).await;
            raw
        }
    };
    assert_eq!(probe(hog).await, b"", "the hog's next connection is closed unanswered");
    let reply = HttpReply::parse(&probe([127, 0, 0, 3]).await);
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    drop(held);
}

/// One client address cannot hold more than `max_concurrent_requests_per_ip` of the server's
/// slots, even with requests that never finish (here: a body announced and never sent).
#[tokio::test]
async fn one_address_holds_at_most_its_share_of_the_request_slots() {
    let pki = Pki::new();
    let d = start_with_server_keys(
        &pki,
        "max_concurrent_requests_per_ip = 2\nrequest_timeout_seconds = 30",
        &[],
    );
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = tls_connect(&d).await;
        stream
            .write_all(b"POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        // The TLS records must leave now, not when the stream is next written.
        stream.flush().await.unwrap();
        stalled.push(stream);
    }
    // The two stalled requests hold this address's share once the daemon has read their heads
    // and waits for their bodies.
    wait_for_metric(&d, "rolegate_requests_receiving", 2.0).await;
    let reply = post_empty_session_until(&d, |status| status == 429).await;
    let receiving = sample(&d.metrics_text(), "rolegate_requests_receiving");
    assert_eq!(reply.status, 429, "{} (receiving: {receiving:?})", reply.body);
    assert_eq!(
        reply.body,
        r#"{"message":"Rate exceeded: this client address already has 2 requests in progress; retry with backoff."}"#
    );
    // Served again once they are gone.
    drop(stalled);
    let reply = post_empty_session_until(&d, |status| status != 429).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
}

/// One client address holds at most `max_connections_per_ip` connections; more are closed on
/// arrival (before the TLS handshake) and counted.
#[tokio::test]
async fn one_address_holds_at_most_its_share_of_the_connections() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_connections_per_ip = 2", &[]);
    let first = tls_connect(&d).await;
    let _second = tls_connect(&d).await;
    let third = try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"").await;
    assert!(third.is_err(), "a third connection from the address was served");
    let m = d.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="per-address-limit"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, "rolegate_connections_open"), Some(2.0), "{m}");
    // A connection closed gives its place back (once the daemon has seen it close).
    drop(first);
    let mut fourth = None;
    for _ in 0..100 {
        if let Ok(stream) = try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"").await {
            fourth = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut fourth = fourth.expect("no connection served after one closed");
    assert_served(&mut fourth).await;
}

/// One client address opens at most `rate_limit_connections_per_ip` new connections per second
/// (bursts of `_burst`); more are closed before the handshake they would cost, and counted. A
/// reload that lifts the limit serves the address again at once.
#[tokio::test]
async fn one_address_opens_connections_at_most_at_its_rate() {
    let pki = Pki::new();
    let d = start_with_server_keys(
        &pki,
        "rate_limit_connections_per_ip = 0.001\nrate_limit_connections_per_ip_burst = 2",
        &[],
    );
    let mut first = tls_connect(&d).await;
    assert_served(&mut first).await;
    let mut second = tls_connect(&d).await;
    assert_served(&mut second).await;
    // Both are closed again: the rate counts connections opened, not connections open.
    let third = try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"").await;
    assert!(third.is_err(), "a third connection within the burst was served");
    let m = d.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="rate-limit"}"#),
        Some(1.0),
        "{m}"
    );
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "rate_limit_connections_per_ip = 0.001",
        "rate_limit_connections_per_ip = 0",
    );
    reload_config(&d, &text, 1.0).await;
    for _ in 0..3 {
        let mut stream = tls_connect(&d).await;
        assert_served(&mut stream).await;
    }
}

/// `POST /sessions` with `{}` on `stream` (`Connection: close`): the answer's status line.
async fn post_empty_session_on(mut stream: tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .await
        .unwrap();
    let raw = read_until_closed(&mut stream).await;
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Behind a TCP load balancer (`proxy_protocol = true`): the client address of the PROXY
/// header, version 1 or 2, is the one the audit log and the per-address shares see (every
/// connection here comes from 127.0.0.1); `LOCAL` (the balancer's own check) keeps the peer's;
/// a connection without a header is closed and counted.
#[tokio::test]
async fn proxy_protocol_names_the_client_address() {
    use ppp::v2;

    let pki = Pki::new();
    let d = start_with_server_keys(
        &pki,
        "proxy_protocol = true\nproxy_protocol_from = [\"127.0.0.0/8\"]\nmax_connections_per_ip = 1",
        &["--log-format", "json"],
    );
    let socket = |text: &str| text.parse::<std::net::SocketAddr>().unwrap();
    let v2_header = |command, addresses: v2::Addresses| {
        v2::Builder::with_addresses(v2::Version::Two | command, v2::Protocol::Stream, addresses)
            .build()
            .unwrap()
    };
    let proxied_v2 = v2_header(
        v2::Command::Proxy,
        v2::Addresses::from((socket("203.0.113.7:40000"), socket("127.0.0.1:443"))),
    );
    let proxied_v1 = b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 443\r\n";
    let local = v2_header(v2::Command::Local, v2::Addresses::Unspecified);
    let connect = |prefix: Vec<u8>| try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", prefix);

    // One connection per proxied address is allowed; they are not 127.0.0.1's.
    let from_v2 = connect(proxied_v2.clone()).await.unwrap();
    let from_v1 = connect(proxied_v1.to_vec()).await.unwrap();
    let from_local = connect(local).await.unwrap();
    assert!(
        connect(proxied_v2.clone()).await.is_err(),
        "203.0.113.7 holds its one connection"
    );
    for stream in [from_v2, from_v1, from_local] {
        assert_eq!(post_empty_session_on(stream).await, "HTTP/1.1 403 Forbidden");
    }
    let mut lines = Vec::new();
    let mut clients: Vec<String> = audit_events(&d, 3, &mut lines)
        .iter()
        .map(|e| e["client"].as_str().unwrap().to_owned())
        .collect();
    clients.sort();
    assert!(clients[0].starts_with("127.0.0.1:"), "{clients:?}");
    assert_eq!(clients[1..], ["198.51.100.9:5555", "203.0.113.7:40000"], "{clients:?}");

    // No header: refused before the handshake.
    assert!(connect(Vec::new()).await.is_err());
    let m = d.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="proxy-header"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="per-address-limit"}"#),
        Some(1.0),
        "{m}"
    );
}

/// The per-address limits count an IPv6 client by its /64 (`per_ip_ipv6_prefix`): a host that
/// owns a /64 cannot take a new share with each of its addresses. 128 counts each address.
#[tokio::test]
async fn ipv6_clients_share_the_limits_of_their_prefix() {
    let pki = Pki::new();
    async fn connect(d: &Daemon, client: &str) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let header = format!("PROXY TCP6 {client} ::1 40000 443\r\n");
        try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", header).await
    }
    let by_64 = start_with_server_keys(
        &pki,
        "proxy_protocol = true\nproxy_protocol_from = [\"127.0.0.0/8\"]\nmax_connections_per_ip = 1",
        &[],
    );

    let first = connect(&by_64, "2001:db8:1:2::7").await.unwrap();
    assert!(
        connect(&by_64, "2001:db8:1:2:ffff:ffff:ffff:8").await.is_err(),
        "another address of the same /64 holds no share of its own"
    );
    let other_prefix = connect(&by_64, "2001:db8:1:3::7").await.unwrap();
    for stream in [first, other_prefix] {
        assert_eq!(post_empty_session_on(stream).await, "HTTP/1.1 403 Forbidden");
    }
    let m = by_64.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="per-address-limit"}"#),
        Some(1.0),
        "{m}"
    );

    let by_address = start_with_server_keys(
        &pki,
        "proxy_protocol = true\nproxy_protocol_from = [\"127.0.0.0/8\"]\nmax_connections_per_ip = 1\nper_ip_ipv6_prefix = 128",
        &[],
    );
    let first = connect(&by_address, "2001:db8:1:2::7").await.unwrap();
    let neighbour = connect(&by_address, "2001:db8:1:2:ffff:ffff:ffff:8").await.unwrap();
    for stream in [first, neighbour] {
        assert_eq!(post_empty_session_on(stream).await, "HTTP/1.1 403 Forbidden");
    }
}

/// With `proxy_protocol_from` listing the balancers, a PROXY header from any other peer is not
/// believed: the connection is closed.
#[tokio::test]
async fn proxy_headers_are_believed_from_the_listed_balancers_only() {
    let pki = Pki::new();
    let header = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n";
    let elsewhere = start_with_server_keys(
        &pki,
        "proxy_protocol = true\nproxy_protocol_from = [\"192.0.2.0/24\"]",
        &[],
    );
    assert!(
        try_tls_connect(&elsewhere.endpoint, elsewhere.ca_bundle(), b"http/1.1", header)
            .await
            .is_err()
    );
    let m = elsewhere.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="proxy-untrusted"}"#),
        Some(1.0),
        "{m}"
    );
    let here = start_with_server_keys(
        &pki,
        "proxy_protocol = true\nproxy_protocol_from = [\"10.9.9.9\", \"127.0.0.0/8\"]",
        &[],
    );
    let stream = try_tls_connect(&here.endpoint, here.ca_bundle(), b"http/1.1", header)
        .await
        .unwrap();
    assert_eq!(post_empty_session_on(stream).await, "HTTP/1.1 403 Forbidden");
    // The configuration summary logged at startup says so.
    let summary = "PROXY protocol header required on every connection, believed from 10.9.9.9/32, 127.0.0.0/8";
    let logged = std::iter::from_fn(|| here.stderr_lines.recv_timeout(Duration::from_secs(5)).ok())
        .any(|line| line.contains(summary));
    assert!(logged, "no '{summary}' in the startup log");
}

/// One INFO line at startup says which version serves on which addresses.
#[tokio::test]
async fn the_start_is_logged_with_the_version_and_addresses() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let want = format!(
        "rolegate {} started: serving on {}, metrics on http://127.0.0.1:",
        env!("CARGO_PKG_VERSION"),
        d.endpoint
    );
    let logged = std::iter::from_fn(|| d.stderr_lines.recv_timeout(Duration::from_secs(5)).ok())
        .find(|line| line.contains(&want));
    let line = logged.unwrap_or_else(|| panic!("no '{want}' in the startup log"));
    assert!(line.contains(" INFO "), "{line}");
}

/// A reload changes the connection limits and the PROXY protocol requirement for the
/// connections that arrive after it; connections already open stay open.
#[tokio::test]
async fn a_reload_changes_the_connection_settings() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_connections_per_ip = 1", &[]);
    let config = d.dir.path().join("rolegate.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let reload_with = |keys: &str| {
        let text = original.replacen("max_connections_per_ip = 1", keys, 1);
        std::fs::write(&config, text).unwrap();
        d.signal("HUP");
    };
    let first = tls_connect(&d).await;
    assert!(
        try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"")
            .await
            .is_err()
    );

    // A raised share: a second connection from the address is served, beside the first.
    reload_with("max_connections_per_ip = 2\nmax_connections = 3");
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "success"), 1.0, "{m}");
    assert_eq!(sample(&m, "rolegate_connections_limit"), Some(3.0), "{m}");
    let second = tls_connect(&d).await;

    // A lowered limit: the two open connections stay, a new one waits until both have closed.
    reload_with("max_connections_per_ip = 2\nmax_connections = 1");
    let m = wait_for_reloads(&d, 2.0).await;
    assert_eq!(sample(&m, "rolegate_connections_limit"), Some(1.0), "{m}");
    let mut third = tokio::spawn(tls_connect_to(d.endpoint.clone(), d.ca_bundle(), b"http/1.1"));
    drop(first);
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut third).await;
    assert!(waited.is_err(), "served with 1 connection open and a limit of 1");
    drop(second);
    let mut third = tokio::time::timeout(Duration::from_secs(20), third)
        .await
        .expect("not served once both connections closed")
        .unwrap();
    assert_served(&mut third).await;

    // PROXY protocol turned on: a connection without a header is closed, one with it served.
    reload_with("proxy_protocol = true\nproxy_protocol_from = [\"127.0.0.0/8\", \"::1/128\"]");
    wait_for_reloads(&d, 3.0).await;
    let mut served = None;
    for _ in 0..100 {
        // The connection above may still hold the only slot until the daemon has seen it close.
        let header = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n";
        if let Ok(stream) = try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", header).await {
            served = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let served = served.expect("a connection with a PROXY header was not served");
    assert_eq!(post_empty_session_on(served).await, "HTTP/1.1 403 Forbidden");
    assert!(
        try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"")
            .await
            .is_err()
    );
    let m = d.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_connections_refused_total{reason="proxy-header"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, "rolegate_connections_limit"), Some(4096.0), "{m}");
}

/// Writes `text` to `path` the way a renewal job does: a temporary file renamed over it.
fn replace_file(path: &Path, text: &str) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// With `config_watch_seconds`, a CRL or server certificate written by a renewal job takes
/// effect without a signal; a broken file is reported once and the configuration in force stays.
#[tokio::test]
async fn changed_files_are_reloaded_without_a_signal() {
    let pki = Pki::new();
    let n = now();
    let leaf = Pki::client(&pki.root, "watched", KeyType::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let mut s = setup(&pki);
    s.crl_pem = Some(pki.root.crl(&[], n - days(1), n + days(7)).unwrap());
    let config = write_config(dir.path(), &s);
    add_server_keys(&config, "config_watch_seconds = 1");
    let d = start_with_config(dir, &config);
    create(&d, &leaf).await.unwrap();

    let crl = d.dir.path().join("root.crl");
    let revoking = pki
        .root
        .crl(&[leaf.serial_hex.as_str()], n - days(1), n + days(7))
        .unwrap();
    replace_file(&crl, &revoking);
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "success"), 1.0, "{m}");
    assert_access_denied(create(&d, &leaf).await, REVOKED, "certificate-revoked");

    // Written in place and broken: one failed reload, then nothing until the file changes.
    std::fs::write(&crl, "not a CRL").unwrap();
    let m = wait_for_reloads(&d, 2.0).await;
    assert_eq!(reloads(&m, "failure"), 1.0, "{m}");
    assert_eq!(sample(&m, "rolegate_config_last_reload_successful"), Some(0.0), "{m}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = d.metrics_text();
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 1.0), "{m}");
    // The CRL in force stays.
    assert_access_denied(create(&d, &leaf).await, REVOKED, "certificate-revoked");

    // Put back as it is in force: the failure is no longer reported.
    replace_file(&crl, &revoking);
    let m = wait_for_reloads(&d, 3.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (2.0, 1.0), "{m}");
    assert_eq!(sample(&m, "rolegate_config_last_reload_successful"), Some(1.0), "{m}");

    // A renewed server certificate and key, and a CRL that revokes nothing again.
    let renewed = pki
        .root
        .server(
            &["localhost", "127.0.0.1"],
            KeyType::EcdsaP256,
            n - days(1),
            n + days(60),
        )
        .unwrap();
    replace_file(&d.dir.path().join("server.key"), &renewed.key_pem);
    replace_file(&d.dir.path().join("server.pem"), &renewed.cert_pem);
    replace_file(&crl, &pki.root.crl(&[], n, n + days(7)).unwrap());
    let m = wait_for_reloads(&d, 4.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (3.0, 1.0), "{m}");
    assert_eq!(
        sample(&m, "rolegate_server_certificate_expiry_timestamp_seconds"),
        Some((n + days(60)).unix_timestamp() as f64),
        "{m}"
    );
    create(&d, &leaf).await.unwrap();
}

/// A reload that shortens `config_watch_seconds` takes effect at once, not after the longer
/// interval in force has run out.
#[tokio::test]
async fn a_shortened_watch_interval_does_not_wait_out_the_old_one() {
    let pki = Pki::new();
    let n = now();
    let leaf = Pki::client(&pki.root, "watched-soon", KeyType::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let mut s = setup(&pki);
    s.crl_pem = Some(pki.root.crl(&[], n - days(1), n + days(7)).unwrap());
    let config = write_config(dir.path(), &s);
    add_server_keys(&config, "config_watch_seconds = 3600");
    let d = start_with_config(dir, &config);
    let text = std::fs::read_to_string(&config).unwrap();
    let shortened = text.replace("config_watch_seconds = 3600", "config_watch_seconds = 1");
    reload_config(&d, &shortened, 1.0).await;

    let revoking = pki
        .root
        .crl(&[leaf.serial_hex.as_str()], n - days(1), n + days(7))
        .unwrap();
    replace_file(&d.dir.path().join("root.crl"), &revoking);
    let m = wait_for_reloads(&d, 2.0).await;
    assert_eq!(reloads(&m, "success"), 2.0, "{m}");
    assert_access_denied(create(&d, &leaf).await, REVOKED, "certificate-revoked");
}

/// A daemon whose anchor's CRL (numbered after every CRL made before) revokes `revoked`.
fn start_revoking(pki: &Pki, revoked: &Issued, n: time::OffsetDateTime) -> Daemon {
    let mut s = setup(pki);
    s.crl_pem = Some(
        pki.root
            .crl(&[revoked.serial_hex.as_str()], n - days(1), n + days(7))
            .unwrap(),
    );
    start(&s)
}

/// A reload that would silently take away what the running daemon gives fails, naming the way
/// out, and the configuration in force stays: an older CRL of the same CA (its revocations
/// taken back), another key under a token key id in use (its sessions could no longer open),
/// a server certificate clients refuse.
#[tokio::test]
async fn a_reload_takes_back_no_revocation_session_or_usable_server_certificate() {
    let pki = Pki::new();
    // A server certificate for the daemon's names, valid from `from` to `to`.
    let server_certificate = |from, to| {
        pki.root
            .server(&["localhost", "127.0.0.1"], KeyType::EcdsaP256, from, to)
            .unwrap()
    };
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let good = Pki::client(&pki.root, "good", KeyType::EcdsaP256);
    // Made first, so numbered lower: the CRL before the revocation, and one whose numbering
    // started over (a lower number, but a later thisUpdate: not older).
    let before_revocation = pki.root.crl(&[], n - days(1), n + days(7)).unwrap();
    let renumbered = pki.root.crl(&[revoked.serial_hex.as_str()], n, n + days(7)).unwrap();
    let d = start_revoking(&pki, &revoked, n);
    let session = create(&d, &good).await.unwrap();
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");
    let failed_reload = |needle: &str| {
        let line = log_line(&d, "reload failed");
        assert!(line.contains(needle), "{line}");
        line
    };

    let crl = d.dir.path().join("root.crl");
    replace_file(&crl, &before_revocation);
    d.signal("HUP");
    let line = failed_reload(
        "trust_anchor[0].crls[0] (root.crl): this CRL of CN=test root is older than the one in force (cRLNumber ",
    );
    assert!(line.contains("it would take back the revocations made since. Install the CA's latest CRL, or to revoke more, issue a new CRL listing every serial still revoked; to go back to this one on purpose, restart rolegate"), "{line}");
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(sample(&m, "rolegate_config_last_reload_successful"), Some(0.0), "{m}");
    // The revocation stays.
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");
    let later = pki.root.crl(&[], n - days(1), n + days(7)).unwrap();
    replace_file(&crl, &later);

    let k1 = d.dir.path().join("k1.key");
    let in_force = std::fs::read_to_string(&k1).unwrap();
    replace_file(&k1, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n");
    d.signal("HUP");
    failed_reload(
        "tokens.keys[0].file (k1.key): token key 'k1' is not the key in force under that id: the sessions it sealed would stop opening. Give a new key a new id",
    );
    wait_for_reloads(&d, 2.0).await;
    assert_eq!(
        get_caller_identity(&d, &session).await.status,
        200,
        "k1 still opens its sessions"
    );
    replace_file(&k1, &in_force);

    let expired = server_certificate(n - days(10), n - days(1));
    let (server_key, server_pem) = (d.dir.path().join("server.key"), d.dir.path().join("server.pem"));
    let (key_in_force, cert_in_force) = (
        std::fs::read_to_string(&server_key).unwrap(),
        std::fs::read_to_string(&server_pem).unwrap(),
    );
    replace_file(&server_key, &expired.key_pem);
    replace_file(&server_pem, &expired.cert_pem);
    d.signal("HUP");
    failed_reload(&format!(
        "server.tls_cert: TLS clients would refuse this server certificate: it expired at {}. The certificate in force is kept; install a current one",
        rolegate::session::format_expiration((n - days(1)).unix_timestamp())
    ));
    wait_for_reloads(&d, 3.0).await;
    create(&d, &good).await.unwrap();

    // Put back: the later CRL (the revocation now taken back, by the CA), the key, the
    // certificate; the reload succeeds.
    replace_file(&server_key, &key_in_force);
    replace_file(&server_pem, &cert_in_force);
    d.signal("HUP");
    let m = wait_for_reloads(&d, 4.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 3.0), "{m}");
    let reloaded = log_line(&d, "configuration reloaded");
    let replaced = r#"changes="trust anchor arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/main: CRL of CN=test root replaced (cRLNumber "#;
    assert!(reloaded.contains(replaced), "{reloaded}");
    // The revocation taken back is named, as the CRL's revocations are counted.
    assert!(
        reloaded.contains(&format!(
            "; revoking 0 certificate(s), no longer {})",
            revoked.serial_hex
        )),
        "{reloaded}"
    );
    create(&d, &revoked).await.unwrap();

    // A CA whose numbering started over: a lower number with a later thisUpdate is taken.
    replace_file(&crl, &renumbered);
    d.signal("HUP");
    let m = wait_for_reloads(&d, 5.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (2.0, 3.0), "{m}");
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");

    // The CRL dropped while the anchor still trusts its CA: refused.
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let crls_line = "crls = [\"root.crl\"]\n";
    assert!(text.contains(crls_line), "{text}");
    replace_file(&config, &text.replace(crls_line, ""));
    d.signal("HUP");
    failed_reload(
        ".crls: the CRL of CN=test root in force is gone, while the anchor still trusts that CA: the certificates \
         it revokes would be accepted again. List its latest CRL; to drop it on purpose, restart rolegate",
    );
    wait_for_reloads(&d, 6.0).await;
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");
    replace_file(&config, &text);

    // A new server certificate not valid yet is staged: the certificate in force is kept (the
    // handshakes below still verify), and the rest of the reload applies — here a fresh CRL
    // revoking `good`, which must not wait a day for the certificate.
    let early = server_certificate(n + days(1), n + days(30));
    replace_file(&server_key, &early.key_pem);
    replace_file(&server_pem, &early.cert_pem);
    let revoking_good = pki
        .root
        .crl(&[revoked.serial_hex.as_str(), good.serial_hex.as_str()], n, n + days(7))
        .unwrap();
    replace_file(&crl, &revoking_good);
    d.signal("HUP");
    let m = wait_for_reloads(&d, 7.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (3.0, 4.0), "{m}");
    let reloaded = log_line(&d, "configuration reloaded");
    let staged = format!(
        "server certificate staged: not valid yet, it goes in at {} (the one in force is kept until then)",
        rolegate::session::format_expiration((n + days(1)).unix_timestamp())
    );
    assert!(reloaded.contains(&staged), "{reloaded}");
    assert_access_denied(create(&d, &good).await, REVOKED, "certificate-revoked");
}

/// A newer CRL that no longer lists a serial the CRL in force revoked (a `--revoke` left out,
/// or a certificate expired) is taken, with a warning naming the serial: the certificate is
/// accepted again.
#[tokio::test]
async fn a_newer_crl_without_a_revoked_serial_is_warned_about() {
    let pki = Pki::new();
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let d = start_revoking(&pki, &revoked, n);
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");
    let without = pki.root.crl(&[], n - days(1), n + days(7)).unwrap();
    replace_file(&d.dir.path().join("root.crl"), &without);
    d.signal("HUP");
    let warned = log_line(&d, "no longer lists");
    for needle in [
        "trust_anchor[0].crls[0] (root.crl): the CRL of CN=test root (cRLNumber ",
        &format!(
            "no longer lists 1 serial(s) the one in force revoked ({}): those certificates are accepted again unless \
             they have expired",
            revoked.serial_hex
        ),
    ] {
        assert!(warned.contains(needle), "{needle}: {warned}");
    }
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "success"), 1.0, "{m}");
    create(&d, &revoked).await.expect("no longer revoked");
}

/// A revocation cannot be taken back in two reloads either: one taking the CA (and its CRL)
/// out of the anchor, the next putting the CA back with an older CRL, or none.
#[tokio::test]
async fn a_reload_does_not_go_back_on_a_crl_an_earlier_reload_took_out() {
    let pki = Pki::new();
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let before_revocation = pki.root.crl(&[], n - days(1), n + days(7)).unwrap();
    let d = start_revoking(&pki, &revoked, n);
    assert_access_denied(create(&d, &revoked).await, REVOKED, "certificate-revoked");
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let main = "id = \"main\"\ncertificates = \"ca.pem\"\ncrls = [\"root.crl\"]\n";
    assert!(text.contains(main), "{text}");
    let failed_reload = |needle: &str| {
        let line = log_line(&d, "reload failed");
        assert!(line.contains(needle), "{line}");
    };

    // 1. The anchor trusts another CA for a while: the root's CRL is in force nowhere.
    reload_config(
        &d,
        &text.replace(main, "id = \"main\"\ncertificates = \"foreign.pem\"\n"),
        1.0,
    )
    .await;
    // 2. The root back with the CRL from before the revocation: refused.
    replace_file(&d.dir.path().join("root.crl"), &before_revocation);
    std::fs::write(&config, &text).unwrap();
    d.signal("HUP");
    failed_reload(
        "trust_anchor[0].crls[0] (root.crl): this CRL of CN=test root is older than one in force since rolegate \
         started (until a reload took it out) (cRLNumber ",
    );
    wait_for_reloads(&d, 2.0).await;
    // 3. The root back without a CRL: refused too.
    std::fs::write(
        &config,
        text.replace(main, "id = \"main\"\ncertificates = \"ca.pem\"\n"),
    )
    .unwrap();
    d.signal("HUP");
    failed_reload("trust_anchor[0].crls: this anchor trusts CN=test root, whose CRL (cRLNumber ");
    let m = wait_for_reloads(&d, 3.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 2.0), "{m}");
    // The anchor in force is still the other CA's: nothing of the root's is accepted.
    assert_access_denied(create(&d, &revoked).await, UNKNOWN_ISSUER, "untrusted-certificate");
}

/// A configuration that names a file not there yet fails to load; the file watch then watches
/// that file too, and reloads when it appears (a key Secret updated after its ConfigMap).
#[tokio::test]
async fn a_file_a_failed_reload_could_not_read_is_watched() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    add_server_keys(&config, "config_watch_seconds = 1");
    let d = start_with_config(dir, &config);
    let leaf = Pki::client(&pki.root, "rotating", KeyType::EcdsaP256);
    let before = create(&d, &leaf).await.unwrap();

    let text = std::fs::read_to_string(&config).unwrap();
    let k1_block = "active = \"k1\"\n[[tokens.keys]]\nid = \"k1\"\nfile = \"k1.key\"\n";
    assert!(text.contains(k1_block));
    let rotated = text.replace(
        k1_block,
        "active = \"k2\"\n[[tokens.keys]]\nid = \"k2\"\nfile = \"k2.key\"\n[[tokens.keys]]\nid = \"k1\"\nfile = \"k1.key\"\n",
    );
    replace_file(&config, &rotated);
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "failure"), 1.0, "k2.key is missing: {m}");

    replace_file(
        &d.dir.path().join("k2.key"),
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
    );
    let m = wait_for_reloads(&d, 2.0).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 1.0), "{m}");
    let after = create(&d, &leaf).await.unwrap();
    assert_eq!(get_caller_identity(&d, &before).await.status, 200, "k1 still verifies");
    assert_eq!(get_caller_identity(&d, &after).await.status, 200, "k2 seals");
}

/// Connections opened while there was no per-address bound count against one a reload sets.
#[tokio::test]
async fn a_per_address_bound_set_by_reload_counts_open_connections() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_connections_per_ip = 0", &[]);
    let config = d.dir.path().join("rolegate.toml");
    let _open = tls_connect(&d).await;
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("max_connections_per_ip = 0", "max_connections_per_ip = 1", 1),
    )
    .unwrap();
    d.signal("HUP");
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "success"), 1.0, "{m}");
    assert!(
        try_tls_connect(&d.endpoint, d.ca_bundle(), b"http/1.1", b"")
            .await
            .is_err(),
        "a second connection beside the one opened before the bound"
    );
}

/// A streaming answer is a request in progress of its client address for as long as it
/// streams (here a gRPC health `Watch` holds the address's one slot).
#[tokio::test]
async fn a_stream_holds_its_address_slot_while_it_streams() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "max_concurrent_requests_per_ip = 1", &[]);
    let channel = rolegate::client::grpc::GrpcClient::connect(
        &d.endpoint,
        &TlsOptions {
            ca_bundle: Some(d.ca_bundle()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut health = HealthClient::new(channel.channel());
    let mut watch = health
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().unwrap();
    let reply = https(&d, "POST", "/sessions", &[], "{}").await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.body.contains("already has 1 requests in progress"),
        "{}",
        reply.body
    );
    drop((watch, health, channel));
    let reply = post_empty_session_until(&d, |status| status != 429).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
}

/// With few file descriptors the daemon holds fewer connections instead of failing `accept`
/// (which used to be retried in a loop that burnt a core and wrote millions of log lines).
#[tokio::test]
async fn the_connection_limit_fits_in_the_open_file_limit() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let d = start_with_descriptor_limit(dir, &config, 400);
    let m = d.metrics_text();
    // 64 for the process; of the rest, half for the operations listener's connections.
    let ops_limit = (400 - 64) / 2;
    let limit = 400 - 64 - ops_limit;
    assert_eq!(sample(&m, "rolegate_connections_limit"), Some(f64::from(limit)), "{m}");

    // Clients that connect and never start TLS: more than the daemon has descriptors for.
    let mut idle = Vec::new();
    for _ in 0..limit + 40 {
        idle.push(TcpStream::connect(host_port(&d.endpoint)).await.unwrap());
    }
    let mut open = 0.0;
    for _ in 0..200 {
        open = sample(&d.metrics_text(), "rolegate_connections_open").unwrap();
        if open == f64::from(limit) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, f64::from(limit));
    drop(idle);
    // Served again once they are gone (their handshakes time out or fail).
    let reply = https(&d, "GET", "/nowhere", &[], "").await;
    assert_eq!(reply.status, 404);
    let mut log = Vec::new();
    while let Ok(line) = d.stderr_lines.recv_timeout(Duration::from_millis(200)) {
        log.push(line);
    }
    assert!(
        log.iter().any(|l| l.contains("does not fit in the open-file limit")),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("accept failed")), "{log:?}");

    // The operations listener, filled from several addresses beyond its share, leaves the
    // descriptors a reload reads its files with (it took 256, more than there were).
    let mut held = Vec::new();
    for n in 0..ops_limit + 40 {
        let source = u8::try_from(2 + n / 32).unwrap();
        held.push(connect_from([127, 0, 0, source], &d.metrics).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.signal("HUP");
    let reloaded = loop {
        let line = d
            .stderr_lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the reload logged nothing");
        assert!(!line.contains("accept failed"), "{line}");
        if line.contains("configuration reloaded") || line.contains("reload failed") {
            break line;
        }
    };
    assert!(reloaded.contains("configuration reloaded"), "{reloaded}");
    drop(held);
    let m = d.metrics_text();
    assert_eq!(
        sample(&m, r#"rolegate_config_reloads_total{outcome="success"}"#),
        Some(1.0),
        "{m}"
    );
}

/// One HTTP/1.1 request over TLS (`Connection: close`), answer read to the end.
async fn https(d: &Daemon, method: &str, path: &str, headers: &[(String, String)], body: &str) -> HttpReply {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        host_port(&d.endpoint),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    https_exchange(&d.endpoint, &d.ca_bundle(), req.as_bytes(), body.as_bytes()).await
}

/// An HTTP/2 connection over TLS to the daemon, driven in the background.
async fn h2_sender<B>(d: &Daemon) -> hyper::client::conn::http2::SendRequest<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tls = tls_connect_to(d.endpoint.clone(), d.ca_bundle(), b"h2").await;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// One gRPC call over TLS and HTTP/2 with `frame` as its body, refused (throttled or not a
/// request message): the `grpc-status` and `grpc-message` of the answer's headers (a refused
/// call has no body, its status is there).
async fn grpc_over_h2(d: &Daemon, path: &str, frame: Vec<u8>) -> (String, String) {
    grpc_over_h2_with(d, path, &[], frame).await
}

/// [`grpc_over_h2`] with more request headers.
async fn grpc_over_h2_with(d: &Daemon, path: &str, headers: &[(&str, &str)], frame: Vec<u8>) -> (String, String) {
    let mut sender = h2_sender(d).await;
    let mut request = http::Request::post(format!("{}{path}", d.endpoint))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let header = |name: &str| response_header(&response, name);
    assert_eq!(header("x-amzn-requestid").len(), 36, "{response:?}");
    // Refused before a handler or by one, the error is named as in the audit event.
    let code = header("grpc-status");
    let named = match code.as_str() {
        "8" if header("grpc-message").starts_with("Rate%20exceeded") => "Throttling",
        "8" if header("grpc-message").contains("message%20length%20too%20large") => "RequestEntityTooLarge",
        _ => "ValidationError",
    };
    assert_eq!(header("x-amzn-errortype"), named, "{response:?}");
    // And the google.rpc.ErrorInfo, as every refusal has it.
    assert!(!header("grpc-status-details-bin").is_empty(), "{response:?}");
    (code, header("grpc-message"))
}

/// The `grpc-status` and `grpc-message` of a call to a service rolegate does not wrap (health,
/// reflection) — in the answer's headers or, once the body is read, its trailers — and the
/// body's bytes.
async fn grpc_status_over_h2(d: &Daemon, path: &str, frame: Vec<u8>) -> (String, String, Vec<u8>) {
    use http_body_util::BodyExt;
    let mut sender = h2_sender(d).await;
    let request = http::Request::post(format!("{}{path}", d.endpoint))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes().to_vec();
    let field = |name: &str| {
        parts
            .headers
            .get(name)
            .or_else(|| trailers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (field("grpc-status"), field("grpc-message"), data)
}

/// `POST /sessions` with an empty JSON object, repeated (for up to 30 s) until `done` holds for
/// the reply: for waiting on the daemon to admit or refuse requests.
async fn post_empty_session_until(d: &Daemon, done: impl Fn(u16) -> bool) -> HttpReply {
    let mut reply = https(d, "POST", "/sessions", &[], "{}").await;
    for _ in 0..300 {
        if done(reply.status) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = https(d, "POST", "/sessions", &[], "{}").await;
    }
    reply
}

/// The operations endpoints are read-only: another method than GET or HEAD is 405.
#[tokio::test]
async fn the_operations_endpoints_answer_get_and_head_only() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(http_plain(&d.metrics, "HEAD", path, &[]).status, 200, "{path}");
        let refused = http_plain(&d.metrics, "POST", path, &[]);
        assert_eq!(refused.status, 405, "{path}");
        assert_eq!(refused.header("allow"), Some("GET, HEAD"), "{path}");
    }
    assert_eq!(http_plain(&d.metrics, "DELETE", "/nothing", &[]).status, 404);
}

/// A SIGHUP while the daemon is still reading its configuration at start (a config watcher
/// that saw the file change) is a reload once it serves, not the end of the process
/// (SIGHUP's default action, exit 129). The trust policy is read from a named pipe, so the
/// start waits inside the load for as long as the test holds it.
#[tokio::test]
async fn a_sighup_while_the_configuration_is_read_at_start_is_a_reload() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let text = std::fs::read_to_string(&config).unwrap();
    let at = text.find("trust_policy = '''").unwrap();
    let body = at + "trust_policy = '''".len();
    let body_end = body + text[body..].find("'''").unwrap();
    let policy = text[body..body_end].to_owned();
    let with_file = format!(
        "{}trust_policy_file = \"trust.json\"{}",
        &text[..at],
        &text[body_end + 3..]
    );
    std::fs::write(&config, with_file).unwrap();
    let fifo = dir.path().join("trust.json");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_lines = lines_of(child.stderr.take().unwrap());
    // Opening the pipe for writing returns once the daemon has opened it to read the policy.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    // The reload will read a plain file; the load at start reads the pipe it has open.
    std::fs::write(dir.path().join("trust.json.new"), &policy).unwrap();
    std::fs::rename(dir.path().join("trust.json.new"), &fifo).unwrap();
    writer.write_all(policy.as_bytes()).unwrap();
    drop(writer);
    let d = adopt(dir, child, stderr_lines);
    let m = wait_for_reloads(&d, 1.0).await;
    assert_eq!(reloads(&m, "success"), 1.0, "{m}");
}

fn reloads(metrics: &str, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!("rolegate_config_reloads_total{{outcome=\"{outcome}\"}}"),
    )
    .unwrap_or(0.0)
}

/// Writes `text` as the daemon's configuration, sends SIGHUP and waits for reload number `n`,
/// which must have succeeded like all before it.
async fn reload_config(d: &Daemon, text: &str, n: f64) -> String {
    std::fs::write(d.dir.path().join("rolegate.toml"), text).unwrap();
    d.signal("HUP");
    let m = wait_for_reloads(d, n).await;
    assert_eq!(reloads(&m, "success"), n, "{m}");
    m
}

/// Waits until the daemon has counted `n` reloads in total.
async fn wait_for_reloads(d: &Daemon, n: f64) -> String {
    for _ in 0..600 {
        let m = d.metrics_text();
        if reloads(&m, "success") + reloads(&m, "failure") >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the daemon did not count {n} reloads");
}

/// A GetCallerIdentity signed with session credentials (SigV4, service `sts`).
async fn get_caller_identity(d: &Daemon, creds: &SessionCredentials) -> HttpReply {
    sts_post(d, creds, "Action=GetCallerIdentity&Version=2011-06-15").await
}

/// An STS Query request with the form `body`, SigV4-signed with `creds`.
async fn sts_post(d: &Daemon, creds: &SessionCredentials, body: &str) -> HttpReply {
    sts_post_in(d, creds, body, REGION).await
}

/// [`sts_post`] signed for `region`.
async fn sts_post_in(d: &Daemon, creds: &SessionCredentials, body: &str, region: &str) -> HttpReply {
    let host = host_port(&d.endpoint);
    let base = [
        ("host", host.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
    };
    let added = sign_hmac(
        &req,
        &sha256_hex(body.as_bytes()),
        &creds.access_key_id,
        &creds.secret_access_key,
        Some(&creds.session_token),
        region,
        "sts",
        now(),
    );
    let mut headers = vec![(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    headers.extend(added);
    https(d, "POST", "/", &headers, body).await
}

#[tokio::test]
async fn metrics_after_known_traffic() {
    let pki = Pki::new();
    let crl_next_update = now() + days(3);
    let crl = pki.root.crl(&[], now() - days(1), crl_next_update).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &Setup {
            crl_pem: Some(crl),
            extra_toml: "[[trust_anchor]]\nid = \"strict\"\ncertificates = \"ca.pem\"\ncrls = [\"root.crl\"]\nstale_crls = \"refuse\"\n\n\
                         [[trust_anchor]]\nid = \"rollover\"\ncertificates = \"rollover.pem\"\n\n\
                         [[trust_anchor]]\nid = \"chain\"\ncertificates = \"chain.pem\"\n\n\
                         [[trust_anchor]]\nid = \"retired\"\nenabled = false\ncertificates = \"ca.pem\"\ncrls = [\"root.crl\"]\nstale_crls = \"refuse\"\n"
                .to_owned(),
            ..setup(&pki)
        },
    );
    // A CA rollover: the root re-keyed under its name, valid for longer; and a chain: the root
    // and the issuing CA it signed, which expires first.
    let rekeyed =
        rolegate::pki::Authority::new_root("test root", KeyType::EcdsaP256, now() - days(1), now() + days(700))
            .unwrap();
    let rollover = [pki.root.issued().cert_pem.as_str(), rekeyed.issued().cert_pem.as_str()].concat();
    std::fs::write(dir.path().join("rollover.pem"), rollover).unwrap();
    let chain = [
        pki.intermediate.issued().cert_pem.as_str(),
        pki.root.issued().cert_pem.as_str(),
    ]
    .concat();
    std::fs::write(dir.path().join("chain.pem"), chain).unwrap();
    let d = start_with_config(dir, &config);
    let leaf = Pki::client(&pki.root, "metrics-client", KeyType::EcdsaP256);
    let foreign = Pki::client(&pki.foreign, "stranger", KeyType::EcdsaP256);
    create(&d, &leaf).await.unwrap();
    create(&d, &leaf).await.unwrap();
    assert!(create(&d, &foreign).await.is_err());
    let before_reload = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    d.signal("HUP");
    let m = wait_for_reloads(&d, 1.0).await;
    let loaded = sample(&m, "rolegate_config_loaded_timestamp_seconds").unwrap();
    assert!(
        loaded >= before_reload && loaded <= now().unix_timestamp() as f64,
        "{loaded} {before_reload}"
    );
    assert_eq!(sample(&m, "rolegate_config_last_reload_successful"), Some(1.0), "{m}");

    let allow = r#"{api="rest",operation="CreateSession",outcome="allow"}"#;
    let deny = r#"{api="rest",operation="CreateSession",outcome="AccessDenied"}"#;
    assert_eq!(sample(&m, &format!("rolegate_requests_total{allow}")), Some(2.0), "{m}");
    assert_eq!(sample(&m, &format!("rolegate_requests_total{deny}")), Some(1.0), "{m}");
    // Why: a certificate of another CA, not a trust policy's denial (both AccessDenied).
    assert_eq!(
        sample(
            &m,
            r#"rolegate_refusals_total{api="rest",operation="CreateSession",reason="untrusted-certificate"}"#
        ),
        Some(1.0),
        "{m}"
    );
    // Which version runs, for dashboards comparing replicas.
    assert_eq!(
        sample(
            &m,
            &format!(r#"rolegate_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))
        ),
        Some(1.0),
        "{m}"
    );
    // The series an alert watches is there at 0 before the first such refusal, so that its
    // `increase()` sees the first one.
    assert_eq!(
        sample(
            &m,
            r#"rolegate_refusals_total{api="sts",operation="AssumeRole",reason="unknown-token-key"}"#
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            r#"rolegate_refusals_total{api="grpc",operation="AssumeRole",reason="token-key-mismatch"}"#
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            r#"rolegate_refusals_total{api="grpc",operation="Authorize",reason="newer-token-layout"}"#
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("rolegate_request_duration_seconds_count{allow}")),
        Some(2.0)
    );
    assert!(
        m.contains(r#"rolegate_request_duration_seconds_bucket{le="+Inf",api="rest""#),
        "{m}"
    );
    // Two answers, one session: the second reused the first's credentials.
    assert_eq!(
        sample(&m, &format!("rolegate_sessions_issued_total{{role=\"{ROLE}\"}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, r#"rolegate_cache_hits_total{cache="credentials"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(reloads(&m, "success"), 1.0);
    assert_eq!(
        sample(&m, r#"rolegate_config_reloads_total{outcome="failure"}"#),
        Some(0.0)
    );
    // The first verification of the chain misses, the second hits; the foreign chain misses.
    assert_eq!(
        sample(&m, r#"rolegate_cache_hits_total{cache="chains"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"rolegate_cache_misses_total{cache="chains"}"#),
        Some(2.0),
        "{m}"
    );
    let root = x509_parser::parse_x509_certificate(&pki.root.issued().cert_der)
        .unwrap()
        .1;
    let not_after = root.validity().not_after.timestamp() as f64;
    let expiry = format!(
        "rolegate_trust_anchor_expiry_timestamp_seconds{{anchor=\"{}\"}}",
        anchor_arn("main")
    );
    assert_eq!(sample(&m, &expiry), Some(not_after), "{m}");
    let intermediate = x509_parser::parse_x509_certificate(&pki.intermediate.issued().cert_der)
        .unwrap()
        .1;
    let intermediate_not_after = intermediate.validity().not_after.timestamp() as f64;
    assert!(intermediate_not_after < not_after);
    let anchor_expiry = |name: &str, anchor: &str| {
        sample(
            &m,
            &format!(
                "rolegate_trust_anchor_{name}_timestamp_seconds{{anchor=\"{}\"}}",
                anchor_arn(anchor)
            ),
        )
    };
    let rekeyed_not_after = x509_parser::parse_x509_certificate(&rekeyed.issued().cert_der)
        .unwrap()
        .1
        .validity()
        .not_after
        .timestamp() as f64;
    // The old root of the rollover does not count once renewed; the issuing CA of the chain does.
    let both = |anchor: &str| {
        (
            anchor_expiry("expiry", anchor),
            anchor_expiry("unrenewed_expiry", anchor),
        )
    };
    assert_eq!(both("rollover"), (Some(not_after), Some(rekeyed_not_after)), "{m}");
    assert_eq!(
        both("chain"),
        (Some(intermediate_not_after), Some(intermediate_not_after)),
        "{m}"
    );
    assert_eq!(both("main"), (Some(not_after), Some(not_after)), "{m}");
    let crl_metric = format!(
        "rolegate_trust_anchor_crl_next_update_timestamp_seconds{{anchor=\"{}\"}}",
        anchor_arn("main")
    );
    assert_eq!(
        sample(&m, &crl_metric),
        Some(crl_next_update.unix_timestamp() as f64),
        "{m}"
    );
    let refuses = |anchor: &str| {
        sample(
            &m,
            &format!(
                "rolegate_trust_anchor_refuses_stale_crls{{anchor=\"{}\"}}",
                anchor_arn(anchor)
            ),
        )
    };
    assert_eq!((refuses("main"), refuses("strict")), (Some(0.0), Some(1.0)), "{m}");
    // Every refusal reason is there from the start, at 0, before any refusal.
    for reason in ["rate-limit", "per-address-limit", "proxy-header", "proxy-untrusted"] {
        let series = format!("rolegate_connections_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&m, &series), Some(0.0), "{series} in {m}");
    }
    // A disabled anchor has no series: the alerts on them are about anchors in use.
    assert!(!m.contains(&anchor_arn("retired")), "{m}");
    let server_pem = std::fs::read(d.dir.path().join("server.pem")).unwrap();
    let server_der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(&server_pem).unwrap()
    };
    let server = x509_parser::parse_x509_certificate(&server_der).unwrap().1;
    assert_eq!(
        sample(&m, "rolegate_server_certificate_expiry_timestamp_seconds"),
        Some(server.validity().not_after.timestamp() as f64),
        "{m}"
    );
    assert!(sample(&m, "process_cpu_seconds_total").unwrap() > 0.0, "{m}");
    assert!(
        sample(&m, "process_resident_memory_bytes").unwrap() > 1_000_000.0,
        "{m}"
    );
    // The descriptors: the listeners and this scrape's connection at least, within the limit
    // the daemon raised its soft limit to.
    let (open, max) = (
        sample(&m, "process_open_fds").unwrap(),
        sample(&m, "process_max_fds").unwrap(),
    );
    assert!(open >= 3.0 && open < max, "{m}");
    let started = sample(&m, "process_start_time_seconds").unwrap();
    assert!(started <= now().unix_timestamp() as f64 + 1.0, "{m}");
    assert!(started > (now() - days(1)).unix_timestamp() as f64, "{m}");
    assert!(m.contains("# TYPE rolegate_requests counter"), "{m}");
    assert!(m.ends_with("# EOF\n"));
}

/// Collects the JSON audit events (target `audit`) the daemon logged until `want` arrived.
fn audit_events(d: &Daemon, want: usize, all_lines: &mut Vec<String>) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while events.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = d.stderr_lines.recv_timeout(left).expect("audit events");
        all_lines.push(line.clone());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["target"] == "audit" {
            events.push(v["fields"].clone());
        }
    }
    events
}

/// An error is named alike in the audit event and the request metric (STS's names), and a
/// session token sent as a session name is not written to the log.
#[tokio::test]
async fn audit_events_name_errors_as_the_metrics_do_and_never_hold_a_token() {
    let pki = Pki::new();
    let mut d = start_with_args_setup(&pki, &["--log-format", "json"]);
    let leaf = Pki::client(&pki.root, "mixed-up-client", KeyType::EcdsaP256);
    let creds = create(&d, &leaf).await.unwrap();
    let token = creds.session_token.to_string();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", ROLE)
        .append_pair("RoleSessionName", &token)
        .finish();
    let reply = sts_post(&d, &creds, &body).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("<Code>ValidationError</Code>"), "{}", reply.body);

    let mut lines = Vec::new();
    let events = audit_events(&d, 2, &mut lines);
    let refused = &events[1];
    assert_eq!(refused["error_code"], "ValidationError", "{refused}");
    assert_eq!(refused["session_name"], "rg2.<redacted>", "{refused}");
    let m = d.metrics_text();
    let counted = r#"rolegate_requests_total{api="sts",operation="AssumeRole",outcome="ValidationError"}"#;
    assert_eq!(sample(&m, counted), Some(1.0), "{m}");
    lines.extend(d.stop_and_read_log());
    let sealed = token.rsplit('.').next().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains(sealed)),
        "the token is in the log: {lines:?}"
    );
}

/// An AssumeRole into a role the configuration lacks answers STS's AccessDenied, word for word
/// as a trust policy's denial, but its audit event says `reason = "unknown-role"` (a typo in
/// the ARN), not the `trust-policy` of a policy that refused.
#[tokio::test]
async fn assume_role_into_an_unknown_role_is_audited_as_such() {
    let pki = Pki::new();
    let d = start_with_args_setup(&pki, &["--log-format", "json"]);
    let leaf = Pki::client(&pki.root, "typo-client", KeyType::EcdsaP256);
    let creds = create(&d, &leaf).await.unwrap();
    let unknown = "arn:aws:iam::123456789012:role/ap";
    let mut messages = Vec::new();
    for role in [unknown, ROLE] {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", role)
            .append_pair("RoleSessionName", "chain")
            .finish();
        let reply = sts_post(&d, &creds, &body).await;
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert!(reply.body.contains("<Code>AccessDenied</Code>"), "{}", reply.body);
        let message = format!("is not authorized to perform: sts:AssumeRole on resource: {role}</Message>");
        assert!(reply.body.contains(&message), "{}", reply.body);
        messages.push(
            reply
                .body
                .replace(role, "ROLE")
                .split("<RequestId>")
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(messages[0], messages[1], "the wire says the same of both");

    let mut lines = Vec::new();
    let events = audit_events(&d, 3, &mut lines);
    for (event, role, reason) in [
        (&events[1], unknown, "unknown-role"),
        (&events[2], ROLE, "trust-policy"),
    ] {
        assert_eq!(event["operation"], "AssumeRole", "{event}");
        assert_eq!(event["outcome"], "deny", "{event}");
        assert_eq!(event["error_code"], "AccessDenied", "{event}");
        assert_eq!(event["role"], role, "{event}");
        assert_eq!(event["reason"], reason, "{event}");
    }
}

/// The request series the shipped alerts watch exist from the start at 0, so `rate()` sees
/// the first error of each; series of other outcomes appear as they happen.
#[tokio::test]
async fn watched_request_series_start_at_zero() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let m = d.metrics_text();
    for (api, operation) in [
        ("rest", "CreateSession"),
        ("sts", "AssumeRole"),
        ("grpc", "VerifyRequest"),
    ] {
        for outcome in [
            "allow",
            "AccessDenied",
            "InternalFailure",
            "ServiceUnavailable",
            "Throttling",
        ] {
            let series =
                format!(r#"rolegate_requests_total{{api="{api}",operation="{operation}",outcome="{outcome}"}}"#);
            assert_eq!(sample(&m, &series), Some(0.0), "{series} in {m}");
        }
    }
    // An STS request refused at admission, before its action is read.
    for outcome in ["Throttling", "ServiceUnavailable"] {
        let series = format!(r#"rolegate_requests_total{{api="sts",operation="Any",outcome="{outcome}"}}"#);
        assert_eq!(sample(&m, &series), Some(0.0), "{series} in {m}");
    }
    let unwatched = r#"rolegate_requests_total{api="sts",operation="AssumeRole",outcome="ValidationError"}"#;
    assert_eq!(sample(&m, unwatched), None, "{m}");
}

#[tokio::test]
async fn token_and_signing_key_cache_lookups_are_counted() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "signing-key-client", KeyType::EcdsaP256);
    let creds = create(&d, &leaf).await.unwrap();
    for _ in 0..3 {
        let who = get_caller_identity(&d, &creds).await;
        assert_eq!(who.status, 200, "{}", who.body);
    }
    // The first request opens the token and derives the session's signing key, the next two
    // find both cached.
    let m = d.metrics_text();
    for cache in ["tokens", "signing_keys"] {
        let misses = format!(r#"rolegate_cache_misses_total{{cache="{cache}"}}"#);
        let hits = format!(r#"rolegate_cache_hits_total{{cache="{cache}"}}"#);
        assert_eq!(sample(&m, &misses), Some(1.0), "{m}");
        assert_eq!(sample(&m, &hits), Some(2.0), "{m}");
    }
    // One session of one certificate: one entry in each cache, as soon as it is scraped.
    for cache in [
        "certificates",
        "chains",
        "credentials",
        "tokens",
        "signing_keys",
        "trust_decisions",
    ] {
        let entries = format!(r#"rolegate_cache_entries{{cache="{cache}"}}"#);
        assert_eq!(sample(&m, &entries), Some(1.0), "{m}");
    }
    assert_eq!(sample(&m, "rolegate_cache_max_entries"), Some(100_000.0), "{m}");
}

/// A request whose scope the endpoint refuses (another region, here) is refused before a
/// signing key is derived for it: a token holder cannot fill the signing-key cache with
/// scopes of its choosing and push real keys out.
#[tokio::test]
async fn a_refused_scope_derives_no_signing_key() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "scope-client", KeyType::EcdsaP256);
    let creds = create(&d, &leaf).await.unwrap();
    for region in ["eu-west-9", "ap-south-7", "xx-none-1"] {
        let refused = sts_post_in(&d, &creds, "Action=GetCallerIdentity&Version=2011-06-15", region).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.body.contains("<Code>SignatureDoesNotMatch</Code>") && refused.body.contains(region),
            "{}",
            refused.body
        );
    }
    let m = d.metrics_text();
    let count = |name: &str| sample(&m, &format!(r#"rolegate_cache_{name}{{cache="signing_keys"}}"#)).unwrap_or(0.0);
    assert_eq!((count("misses_total"), count("entries")), (0.0, 0.0), "{m}");
    let who = get_caller_identity(&d, &creds).await;
    assert_eq!(who.status, 200, "{}", who.body);
    let m = d.metrics_text();
    let count = |name: &str| sample(&m, &format!(r#"rolegate_cache_{name}{{cache="signing_keys"}}"#)).unwrap_or(0.0);
    assert_eq!((count("misses_total"), count("entries")), (1.0, 1.0), "{m}");
}

/// A certificate enters the cache only once its chain verified: an anonymous client sending
/// certificates of its own fills nothing.
#[tokio::test]
async fn only_certificates_of_a_trusted_chain_are_cached() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let stranger = Pki::client(&pki.foreign, "stranger", KeyType::EcdsaP256);
    for _ in 0..3 {
        assert!(create(&d, &stranger).await.is_err());
    }
    let lookups = |m: &str| {
        let count =
            |kind: &str| sample(m, &format!(r#"rolegate_cache_{kind}_total{{cache="certificates"}}"#)).unwrap_or(0.0);
        (count("hits"), count("misses"))
    };
    let entries = |m: &str| sample(m, r#"rolegate_cache_entries{cache="certificates"}"#);
    let m = d.metrics_text();
    assert_eq!(lookups(&m), (0.0, 3.0), "parsed each time, never kept: {m}");
    assert_eq!(entries(&m), Some(0.0), "{m}");

    let leaf = Pki::client(&pki.root, "member", KeyType::EcdsaP256);
    create(&d, &leaf).await.unwrap();
    create(&d, &leaf).await.unwrap();
    let m = d.metrics_text();
    assert_eq!(lookups(&m), (1.0, 4.0), "kept after its first session: {m}");
    assert_eq!(entries(&m), Some(1.0), "{m}");
}

#[tokio::test]
async fn audit_events_have_the_decision_and_no_secrets() {
    let pki = Pki::new();
    let mut d = start_with_args_setup(&pki, &["--log-format", "json"]);
    let leaf = Pki::client(&pki.root, "audit-client", KeyType::EcdsaP256);
    let foreign = Pki::client(&pki.foreign, "stranger", KeyType::EcdsaP256);
    let creds = create(&d, &leaf).await.unwrap();
    let who = get_caller_identity(&d, &creds).await;
    assert_eq!(who.status, 200, "{}", who.body);
    assert!(create(&d, &foreign).await.is_err());

    let mut lines = Vec::new();
    let events = audit_events(&d, 3, &mut lines);
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let created = &events[0];
    for (field, want) in [
        ("api", "rest"),
        ("operation", "CreateSession"),
        ("outcome", "allow"),
        ("error_code", ""),
        ("certificate_serial", cert.serial_hex()),
        ("certificate_subject", cert.subject_string()),
        ("certificate_issuer", cert.issuer_string()),
        ("trust_anchor", &anchor_arn("main")),
        ("profile", &profile_arn("main")),
        ("role", ROLE),
        ("session_name", cert.serial_hex()),
        ("source_identity", cert.source_identity()),
        ("issued_access_key_id", &creds.access_key_id),
        ("expiration", &creds.expiration),
        ("caller", ""),
        ("message", "decision"),
    ] {
        assert_eq!(created[field], want, "{field} in {created}");
    }
    assert_eq!(created["request_id"].as_str().unwrap().len(), 36, "{created}");
    assert!(
        created["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{created}"
    );
    assert!(created["elapsed_seconds"].as_f64().unwrap() > 0.0, "{created}");

    let sts = &events[1];
    for (field, want) in [
        ("api", "sts"),
        ("operation", "GetCallerIdentity"),
        ("outcome", "allow"),
        ("access_key_id", creds.access_key_id.as_str()),
        (
            "caller",
            &format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{}", cert.serial_hex()),
        ),
        ("source_identity", cert.source_identity()),
        ("role", ROLE),
        ("session_name", cert.serial_hex()),
        ("issued_access_key_id", ""),
        ("expiration", ""),
    ] {
        assert_eq!(sts[field], want, "{field} in {sts}");
    }
    let denied = &events[2];
    for (field, want) in [
        ("outcome", "deny"),
        ("error_code", "AccessDenied"),
        ("certificate_subject", "CN=stranger,O=Example"),
    ] {
        assert_eq!(denied[field], want, "{field} in {denied}");
    }
    assert_ne!(denied["reason"], "", "{denied}");

    lines.extend(d.stop_and_read_log());
    let log = lines.join("\n");
    let token_key = std::fs::read_to_string(d.dir.path().join("k1.key")).unwrap();
    for secret in [
        creds.secret_access_key.as_str(),
        creds.session_token.as_str(),
        token_key.trim(),
        "PRIVATE KEY",
    ] {
        assert!(!log.contains(secret), "the log holds a secret");
    }
}

/// A client chooses the names in its certificate; in the text log format they stay inside one
/// quoted field of one line, so they cannot forge an audit event or a field.
#[tokio::test]
async fn certificate_names_cannot_forge_text_audit_lines() {
    let pki = Pki::new();
    let d = start_with_args_setup(&pki, &["--log-format", "text"]);
    let forged = "FORGED INFO audit: decision outcome=\"allow\"";
    // (A CN with a line break is refused as a source identity; another attribute carries it.)
    let n = time::OffsetDateTime::now_utc();
    let mut spec = ClientSpec::new("x", KeyType::EcdsaP256, n - days(1), n + days(30));
    spec.organization = Some("Example".into());
    spec.organizational_unit = Some(format!("y\n{forged} role=\"r\""));
    let hostile = pki.foreign.client(&spec).unwrap();
    assert!(create(&d, &hostile).await.is_err());

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let decision = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = d.stderr_lines.recv_timeout(left).expect("the audit event");
        if line.contains(" audit: decision") {
            break line;
        }
        lines.push(line);
    };
    assert!(!lines.iter().any(|l| l.starts_with("FORGED")), "{lines:?}");
    let want = r#"certificate_subject="CN=x,O=Example,OU=y\\0aFORGED INFO audit: decision outcome\\=\\\"allow\\\" role\\=\\\"r\\\"""#;
    assert!(decision.contains(want), "{decision}");
    assert!(decision.contains(r#" outcome="deny" "#), "{decision}");
    assert!(decision.contains(&format!(r#" role="{ROLE}" "#)), "{decision}");
    assert!(!decision.contains(r#" role="r""#), "{decision}");
    assert!(decision.contains(r#" error_code="AccessDenied" "#), "{decision}");
}

fn start_with_args_setup(pki: &Pki, args: &[&str]) -> Daemon {
    start_with_server_keys(pki, "", args)
}

#[tokio::test]
async fn rate_limits_answer_each_api_in_its_format() {
    let pki = Pki::new();
    // Three requests per client address, then (practically) no refill.
    let d = start_with_server_keys(&pki, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 3", &[]);
    for _ in 0..3 {
        let r = https(&d, "POST", "/sessions", &[], "{}").await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let rest = https(&d, "POST", "/sessions", &[], "{}").await;
    assert_eq!(rest.status, 429, "{}", rest.body);
    assert_eq!(rest.header("x-amzn-errortype"), Some("ThrottlingException"));
    assert!(
        rest.body.contains("Rate exceeded for this client address"),
        "{}",
        rest.body
    );
    // When the address's bucket holds a token again: 1,000 s at 0.001/s, less the time since
    // the burst was spent.
    let retry_after: u64 = rest.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((900..=1000).contains(&retry_after), "{retry_after}");

    let form = [(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let sts = https(&d, "POST", "/", &form, "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(sts.status, 429, "{}", sts.body);
    assert!(sts.body.contains("<Code>Throttling</Code>"), "{}", sts.body);
    assert!(sts.header("retry-after").is_some(), "{:?}", sts.headers);

    let (code, message) = grpc_over_h2(&d, "/rolegate.v1.Sessions/CreateSession", Vec::new()).await;
    assert_eq!(code, "8", "RESOURCE_EXHAUSTED: {message}");
    assert!(
        message.contains("Rate%20exceeded%20for%20this%20client%20address"),
        "{message}"
    );

    // gRPC over HTTP/1.1 cannot carry a status (no trailers): refused or handled, it is
    // answered as a REST error.
    let grpc = [("Content-Type".to_owned(), "application/grpc".to_owned())];
    let g = https(&d, "POST", "/rolegate.v1.Sessions/CreateSession", &grpc, "").await;
    assert_eq!(g.status, 429, "{}", g.body);
    assert_eq!(g.header("x-amzn-errortype"), Some("ThrottlingException"));
    assert_eq!(g.header("grpc-status"), None);
    assert!(g.body.contains("Rate exceeded for this client address"), "{}", g.body);

    let m = d.metrics_text();
    let throttled = r#"rolegate_requests_total{api="rest",operation="CreateSession",outcome="Throttling"}"#;
    assert_eq!(sample(&m, throttled), Some(1.0), "{m}");
}

/// A throttled HTTP/1.1 request has its body read and dropped, so that its keep-alive
/// connection carries the client's retry (closing it would cost a handshake a retry, and a
/// close on unread bytes resets the connection, often before the answer is read); one whose
/// body does not arrive within 2 s is answered on a connection that then closes, and says so
/// (RFC 9112 §9.6).
#[tokio::test]
async fn a_throttled_request_keeps_its_connection_when_its_body_arrives() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 1", &[]);
    let host = host_port(&d.endpoint);
    let mut stream = tls_connect(&d).await;
    let request = format!("POST /sessions HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{}}");
    for want in [403, 429, 429] {
        stream.write_all(request.as_bytes()).await.unwrap();
        let reply = read_one_reply(&mut stream).await;
        assert_eq!(reply.status, want, "{}", reply.body);
        assert_eq!(reply.header("connection"), None);
    }
    let withheld = format!("POST /sessions HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{");
    stream.write_all(withheld.as_bytes()).await.unwrap();
    let reply = read_one_reply(&mut stream).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.header("connection"), Some("close"));
    read_until_closed(&mut stream).await;
}

/// Requests from an address in `rate_limit_exempt` (a platform that has every request verified)
/// are not counted by the per-address limits; a connection keeps the exemption it started
/// with, and connections made after a reload that lifts it are counted.
#[tokio::test]
async fn requests_from_exempt_addresses_are_not_rate_limited_per_address() {
    let pki = Pki::new();
    let d = start_with_server_keys(
        &pki,
        "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 1\nrate_limit_exempt = [\"127.0.0.0/30\"]",
        &[],
    );
    let host = host_port(&d.endpoint);
    let request = format!("POST /sessions HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{}}");
    let mut exempt = tls_connect(&d).await;
    for _ in 0..5 {
        exempt.write_all(request.as_bytes()).await.unwrap();
        let reply = read_one_reply(&mut exempt).await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    let config = d.dir.path().join("rolegate.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "rate_limit_exempt = [\"127.0.0.0/30\"]",
        "rate_limit_exempt = [\"10.0.0.0/8\"]",
    );
    let m = reload_config(&d, &text, 1.0).await;
    assert!(m.contains("rolegate_config_reloads_total"), "{m}");
    exempt.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(
        read_one_reply(&mut exempt).await.status,
        403,
        "the connection keeps its exemption"
    );
    let mut counted = tls_connect(&d).await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        counted.write_all(request.as_bytes()).await.unwrap();
        statuses.push(read_one_reply(&mut counted).await.status);
    }
    assert_eq!(statuses, [403, 429]);
}

/// A server reflection stream is charged one token of its address's bucket a request message,
/// as a call of its own would be (the first with the call): one stream cannot ask for thousands
/// of answers a second. Refused, the stream of requests ends; what was asked before is
/// answered, the call ends RESOURCE_EXHAUSTED, and the refusal is counted.
#[tokio::test]
async fn each_message_of_a_reflection_stream_takes_a_rate_limit_token() {
    use http_body_util::BodyExt;
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 3", &[]);
    // ServerReflectionRequest { host: "h", list_services: "*" }, length-prefixed.
    let list_services = bytes::Bytes::from_static(&[0, 0, 0, 0, 6, 0x0a, 1, b'h', 0x3a, 1, b'*']);
    let (requests, body_rx) = tokio::sync::mpsc::channel(4);
    let body: StalledBody = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(body_rx));
    let request = http::Request::post(format!(
        "{}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        d.endpoint
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(body)
    .unwrap();
    let mut sender = h2_sender(&d).await;
    // `n` requests in one DATA frame.
    let send = |requests: &tokio::sync::mpsc::Sender<_>, n: usize| {
        let requests = requests.clone();
        let frame = bytes::Bytes::from(list_services.repeat(n));
        async move { requests.send(Ok(http_body::Frame::data(frame))).await.unwrap() }
    };
    send(&requests, 1).await;
    let mut answers = sender.send_request(request).await.unwrap().into_body();
    let mut count = rolegate::service::grpc::MessageCount::default();
    // The call took the first token: its first message is answered; the second takes a
    // token, and then the third, sent with the fourth, the last.
    for next in [1, 2, 0] {
        let mut begun = 0;
        while begun == 0 {
            let frame = answers.frame().await.expect("an answer").unwrap();
            if let Some(data) = frame.data_ref() {
                assert!(
                    String::from_utf8_lossy(data).contains("rolegate.v1.Sessions"),
                    "{data:?}"
                );
                begun = count.begun_in(data).len();
            }
        }
        assert_eq!(begun, 1);
        if next > 0 {
            send(&requests, next).await;
        }
    }
    // The fourth finds the bucket empty: no answer, the stream ends.
    let rest = tokio::time::timeout(Duration::from_secs(10), answers.collect())
        .await
        .expect("the stream went on")
        .unwrap();
    let trailers = rest.trailers().cloned().expect("the stream ended with its status");
    assert!(rest.to_bytes().is_empty(), "the fourth request was answered");
    assert_eq!(trailers["grpc-status"], "8", "{trailers:?}");
    assert_eq!(trailers["x-rolegate-reason"], "rate-limit", "{trailers:?}");
    assert!(
        trailers["grpc-message"]
            .to_str()
            .unwrap()
            .starts_with("Rate%20exceeded%20for%20this%20client%20address"),
        "{trailers:?}"
    );
    let m = d.metrics_text();
    let throttled = r#"rolegate_requests_total{api="grpc",operation="Other",outcome="Throttling"}"#;
    assert_eq!(sample(&m, throttled), Some(1.0), "{m}");
}

/// Throttling refusals are audited within a budget a second; every one is accounted for, in
/// its own event or in a `skipped` count, and in the metrics.
#[tokio::test]
async fn throttling_refusals_are_audited_within_a_budget() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 1", &[]);
    assert_eq!(https(&d, "POST", "/sessions", &[], "{}").await.status, 403);
    let flood = 100;
    for _ in 0..flood {
        assert_eq!(https(&d, "POST", "/sessions", &[], "{}").await.status, 429);
    }
    // In a later second, one more: logged, after the count of those skipped before it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(https(&d, "POST", "/sessions", &[], "{}").await.status, 429);
    let (mut logged, mut skipped) = (0, 0);
    while logged + skipped < flood + 1 {
        let line = d
            .stderr_lines
            .recv_timeout(Duration::from_secs(30))
            .expect("every throttling refusal accounted for in the log");
        if line.contains("decision") && line.contains(r#"error_code="Throttling""#) {
            logged += 1;
        } else if let Some(count) = line.split("skipped=").nth(1) {
            skipped += count.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    // How many were skipped depends on how fast the flood came (the budget's arithmetic is
    // `audit`'s unit test); that none is lost does not.
    assert_eq!(logged + skipped, flood + 1);
    let m = d.metrics_text();
    let throttled = r#"rolegate_requests_total{api="rest",operation="CreateSession",outcome="Throttling"}"#;
    assert_eq!(sample(&m, throttled), Some((flood + 1) as f64), "{m}");
}

/// A reload is no refill: each bucket keeps its tokens, and a changed rate applies at once.
#[tokio::test]
async fn a_reload_keeps_the_rate_limit_buckets_and_applies_new_rates() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 2", &[]);
    for _ in 0..2 {
        let r = https(&d, "POST", "/sessions", &[], "{}").await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    assert_eq!(https(&d, "POST", "/sessions", &[], "{}").await.status, 429);

    let text = std::fs::read_to_string(d.dir.path().join("rolegate.toml")).unwrap();
    reload_config(
        &d,
        &text.replace("rate_limit_per_ip_burst = 2", "rate_limit_per_ip_burst = 5"),
        1.0,
    )
    .await;
    let still = https(&d, "POST", "/sessions", &[], "{}").await;
    assert_eq!(still.status, 429, "the emptied bucket stays empty: {}", still.body);
    assert!(still.body.contains("bursts of up to 5)"), "{}", still.body);

    reload_config(
        &d,
        &text.replace("rate_limit_per_ip = 0.001", "rate_limit_per_ip = 0"),
        2.0,
    )
    .await;
    let r = https(&d, "POST", "/sessions", &[], "{}").await;
    assert_eq!(r.status, 403, "no limit any more: {}", r.body);
}

/// Server settings: no per-address limit, and a bucket of two requests per client that
/// never refills within a test.
const TWO_REQUESTS_PER_CLIENT: &str =
    "rate_limit_per_ip = 0\nrate_limit_per_client = 0.001\nrate_limit_per_client_burst = 2";

#[tokio::test]
async fn rate_limit_per_certificate() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, TWO_REQUESTS_PER_CLIENT, &[]);
    let leaf = Pki::client(&pki.root, "busy", KeyType::EcdsaP256);
    let other = Pki::client(&pki.root, "quiet", KeyType::EcdsaP256);
    create(&d, &leaf).await.unwrap();
    create(&d, &leaf).await.unwrap();
    match create(&d, &leaf).await {
        Err(ClientError::Api {
            status,
            error_type,
            message,
        }) => {
            assert_eq!((status, error_type.as_str()), (429, "ThrottlingException"));
            assert!(message.contains("client certificate"), "{message}");
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    create(&d, &other)
        .await
        .expect("another certificate has its own bucket");
}

/// A certificate is public: requests that carry it without its key (a signature by another
/// key) are refused and spend none of its holder's tokens, so nobody who has seen a
/// certificate can throttle the workload that owns it.
#[tokio::test]
async fn forged_requests_do_not_spend_the_certificate_holders_tokens() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, TWO_REQUESTS_PER_CLIENT, &[]);
    let victim = Pki::client(&pki.root, "victim", KeyType::EcdsaP256);
    let attacker = Pki::client(&pki.root, "attacker", KeyType::EcdsaP256);
    let forged = Issued {
        cert_der: victim.cert_der.clone(),
        cert_pem: victim.cert_pem.clone(),
        key_pkcs8_der: attacker.key_pkcs8_der.clone(),
        key_pem: attacker.key_pem.clone(),
        serial_hex: victim.serial_hex.clone(),
    };
    for _ in 0..5 {
        match create(&d, &forged).await {
            Err(ClientError::Api {
                status,
                error_type,
                message,
            }) => {
                assert_eq!(
                    (status, error_type.as_str()),
                    (403, "AccessDeniedException"),
                    "{message}"
                );
                assert!(message.contains("signature"), "{message}");
            }
            other => panic!("a forged signature must be refused, got {other:?}"),
        }
    }
    create(&d, &victim)
        .await
        .expect("the holder's first token is still there");
    create(&d, &victim).await.expect("and its second");
    match create(&d, &victim).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 429, "its own requests spend its bucket"),
        other => panic!("expected throttling, got {other:?}"),
    }
}

#[tokio::test]
async fn reload_under_load_loses_no_request() {
    let pki = Pki::new();
    // The load runs flat out for as long as the reloads take, a new connection for each request:
    // no rate limit may answer it.
    let d = start_with_server_keys(
        &pki,
        "rate_limit_per_client = 0\nrate_limit_per_ip = 0\nrate_limit_connections_per_ip = 0",
        &[],
    );
    let config = d.dir.path().join("rolegate.toml");
    let valid = std::fs::read_to_string(&config).unwrap();
    let invalid = format!("{valid}\n[[profile]]\nid = \"broken\"\nrole_arns = [\"not an arn\"]\n");
    let leaf = Arc::new(Pki::client(&pki.root, "loaded", KeyType::EcdsaP256));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let load = {
        let (endpoint, ca) = (d.endpoint.clone(), d.ca_bundle());
        let (leaf, stop, ok) = (leaf.clone(), stop.clone(), ok.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match create_at(&endpoint, &ca, &leaf).await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        })
    };
    for i in 0..20 {
        let text = if i % 2 == 0 { &valid } else { &invalid };
        std::fs::write(&config, text).unwrap();
        d.signal("HUP");
        wait_for_reloads(&d, f64::from(i + 1)).await;
    }
    // Keep the load running until requests were answered after the last reload too.
    let after = ok.load(Ordering::SeqCst);
    while ok.load(Ordering::SeqCst) < after + 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let failures = load.await.unwrap();
    assert_eq!(failures, Vec::<String>::new());
    let m = d.metrics_text();
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (10.0, 10.0), "{m}");
    let allowed = sample(
        &m,
        r#"rolegate_requests_total{api="rest",operation="CreateSession",outcome="allow"}"#,
    );
    assert_eq!(allowed, Some(ok.load(Ordering::SeqCst) as f64));
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let pki = Pki::new();
    let mut d = start(&setup(&pki));
    let mut stream = tls_connect(&d).await;
    let body = "{\"profileArn\":\"x\"}";
    let head = format!(
        "POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The request is in flight: headers and half the body sent.
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.signal("TERM");
    // The daemon stops accepting connections...
    let addr = host_port(&d.endpoint);
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(refused, "the listener still accepts after SIGTERM");
    // ...but still answers the request in flight.
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let reply = HttpReply::parse(&raw);
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("Missing Authorization header"), "{}", reply.body);
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A connection the daemon accepted just before SIGTERM, whose client had not sent its first
/// request (not even finished the TLS handshake) when the drain began, is still answered:
/// HTTP/1.1 cannot tell it "not served, retry elsewhere".
#[tokio::test]
async fn a_connection_accepted_as_the_drain_begins_is_answered() {
    let pki = Pki::new();
    let mut d = start(&setup(&pki));
    let tcp = TcpStream::connect(host_port(&d.endpoint)).await.unwrap();
    wait_for_metric(&d, "rolegate_connections_open", 1.0).await;
    d.signal("TERM");
    first_log_line(&d, |line| line.contains("shutting down: draining connections"));
    let config = rolegate::client::client_config(&TlsOptions {
        ca_bundle: Some(d.ca_bundle()),
        ..Default::default()
    })
    .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    // A client that takes a moment between its handshake and its request (well inside the
    // 2 s the drain gives a connection for its first request, on however slow a machine).
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let reply = HttpReply::parse(&read_until_closed(&mut stream).await);
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("Missing Authorization header"), "{}", reply.body);
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A metrics port already taken: `serve` names the address and the key it came from, and
/// does not announce the main listener first (a script waiting for that line would believe
/// a daemon that is about to exit).
#[test]
fn a_taken_metrics_port_is_named_before_anything_is_announced() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "metrics_listen = \"127.0.0.1:0\"",
        &format!("metrics_listen = \"{addr}\""),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "error: cannot listen on {addr} (server.metrics_listen in {}): Address already in use (os error 98); \
         another process holds the port: stop it, or choose another address with --metrics-listen \
         (127.0.0.1:0 takes any free port)",
        config.display()
    );
    // The last word, after the configuration's summary the log wrote first: what a terminal
    // or the journal shows last is why it stopped.
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with(&want), "{stderr}");
    assert!(
        stderr.contains(&format!("configuration {}:", config.display())),
        "{stderr}"
    );
    assert!(!stdout.contains("listening on"), "{stdout}");
}

/// A `--listen` that takes the configuration's metrics port is refused as the pair it is,
/// not as a port "another process" holds (the daemon's own first listener).
#[test]
fn a_listen_flag_on_the_metrics_port_is_named_with_it() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "metrics_listen = \"127.0.0.1:0\"",
        "metrics_listen = \"127.0.0.1:39464\"",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(binary())
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:39464",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "error: 127.0.0.1:39464 (--listen) and 127.0.0.1:39464 (server.metrics_listen in {}) are the same port: give \
         each listener its own",
        config.display()
    );
    assert!(
        stderr.trim_end().lines().last().unwrap_or_default().starts_with(&want),
        "{stderr}"
    );
}

/// Started by systemd (`Type=notify`), the daemon says when it is ready (listeners bound), how
/// each reload went, and when it stops.
#[cfg(unix)]
#[test]
fn the_service_manager_is_told_ready_reloaded_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut d = start_with_env(dir, &config, &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())]);
    let ready = next();
    let listening = d.endpoint.trim_start_matches("https://");
    assert_eq!(ready, format!("READY=1\nSTATUS=serving on {listening}\n"));
    d.signal("HUP");
    assert_eq!(next(), "STATUS=serving; configuration reloaded\n");
    std::fs::write(&config, "[server]\nlisten = 1\n").unwrap();
    d.signal("HUP");
    let failed = next();
    assert!(
        failed.starts_with("STATUS=serving the previous configuration; reload failed: "),
        "{failed}"
    );
    d.signal("TERM");
    assert_eq!(
        next(),
        "STOPPING=1\nSTATUS=shutting down: not ready, then draining connections\n"
    );
    assert!(d.child.wait().unwrap().success());
}

/// With `--log-format json`, what the daemon announces on stdout (its addresses, which scripts
/// wait for) is JSON too: a container runtime or journal that merges stdout into the log feeds
/// a JSON pipeline nothing else.
#[test]
fn with_json_logs_the_announcements_on_stdout_are_json() {
    use std::io::BufRead;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let mut child = std::process::Command::new(binary())
        .args(["--log-format", "json", "serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let messages: Vec<String> = lines
        .iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(event["level"], "INFO", "{event}");
            event["fields"]["message"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        messages[0].starts_with("listening on https://127.0.0.1:"),
        "{messages:?}"
    );
    assert!(messages[1].starts_with("metrics on http://127.0.0.1:"), "{messages:?}");
    let url = rolegate::server::announced_url(&lines[0], "listening on ").unwrap();
    assert_eq!(format!("listening on {url}"), messages[0]);
}

/// With `--log-format json`, why the daemon cannot start is a JSON line too (what a log
/// pipeline reads when a pod or unit fails), whatever RUST_LOG filters.
#[test]
fn a_daemon_that_cannot_start_says_why_in_the_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rolegate.toml");
    std::fs::write(&config, "[server]\nlisten = 8443\n").unwrap();
    let out = std::process::Command::new(binary())
        .args(["--log-format", "json", "serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    // Keys in the order, and the time stamped as, the log's other JSON lines.
    assert!(
        lines[0].starts_with("{\"timestamp\":\"")
            && lines[0].contains("Z\",\"level\":\"ERROR\",\"fields\":{\"message\":\"cannot serve\",\"error\":"),
        "{stderr}"
    );
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["level"], "ERROR", "{event}");
    assert_eq!(event["fields"]["message"], "cannot serve", "{event}");
    let error = event["fields"]["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("{}: ", config.display())), "{error}");
    assert!(error.contains("server.listen"), "{error}");
}

/// The REST client says what to check when it cannot reach the server: a server certificate
/// from a CA it does not trust, or nothing listening.
#[tokio::test]
async fn the_rest_client_says_what_to_check_when_it_cannot_connect() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "lost", KeyType::EcdsaP256);
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let call = |endpoint: String| {
        let (key, cert, leaf) = (&key, &cert, &leaf);
        async move {
            RolesAnywhereClient::new(&endpoint, &TlsOptions::default())
                .unwrap()
                .create_session(&params(), key, &leaf.cert_der, &[], cert.serial_decimal(), now())
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let untrusted = call(d.endpoint.clone()).await;
    assert!(
        untrusted.ends_with(
            "invalid peer certificate: UnknownIssuer (the server's certificate is not issued by a CA this client \
             trusts: give that CA with --ca-bundle (AWS_CA_BUNDLE is not read, as aws_signing_helper does not \
             read it), or check that the bundle given holds it)"
        ),
        "{untrusted}"
    );
    // The plain-HTTP operations port, mistaken for the TLS one.
    let plain = call(format!("https://{}", d.metrics.trim_start_matches("http://"))).await;
    assert!(
        plain.ends_with(
            " (the server did not answer in TLS: is this a plain-HTTP port, such as the daemon's metrics_listen?)"
        ),
        "{plain}"
    );
    // Bound and never listening: connections are refused, and no other daemon can take the port.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = held.local_addr().unwrap();
    let refused = call(format!("https://{closed}")).await;
    assert!(
        refused.ends_with("(is the server running, and listening on that address and port?)"),
        "{refused}"
    );
}

/// A reload that changes a listen address applies the rest of the configuration and says
/// that the address needs a restart, as does every later reload of that file.
#[tokio::test]
async fn a_reload_that_moves_the_listener_warns() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let text = std::fs::read_to_string(d.dir.path().join("rolegate.toml")).unwrap();
    let moved = text.replacen("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"", 1);
    assert_ne!(moved, text);
    let restart_pending = || sample(&d.metrics_text(), "rolegate_config_restart_pending");
    assert_eq!(restart_pending(), Some(0.0));
    // Every reload says so while the file names another address, not only the first.
    for reloads in [1.0, 2.0] {
        reload_config(&d, &moved, reloads).await;
        let line = first_log_line(&d, |line| line.contains("WARN") && line.contains("server.listen"));
        assert!(
            line.contains("rolegate.toml: server.listen: changed from 127.0.0.1:0 to 127.0.0.1:1: listen addresses are read at start only; restart to apply it"),
            "{line}"
        );
        // A gauge tells monitoring what the log line tells a reader.
        assert_eq!(restart_pending(), Some(1.0));
    }
    // The file put back: nothing waits for a restart.
    reload_config(&d, &text, 3.0).await;
    assert_eq!(restart_pending(), Some(0.0));
}

/// A listen address set by `--listen` is not waiting for a restart when the file changes it:
/// the flag wins at every start. One the file set still is.
#[tokio::test]
async fn a_reload_leaves_a_listen_address_set_on_the_command_line_alone() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &setup(&pki));
    let text = std::fs::read_to_string(&config).unwrap();
    // The file names an address the daemon could not listen on; the flag overrides it.
    let unusable = text.replacen("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"", 1);
    assert_ne!(unusable, text);
    std::fs::write(&config, &unusable).unwrap();
    let d = start_with_serve_args(dir, &config, &["--listen", "127.0.0.1:0"]);
    let restart_pending = || sample(&d.metrics_text(), "rolegate_config_restart_pending");
    assert_eq!(restart_pending(), Some(0.0));

    let moved = unusable.replacen("listen = \"127.0.0.1:1\"", "listen = \"127.0.0.1:2\"", 1);
    reload_config(&d, &moved, 1.0).await;
    assert_eq!(restart_pending(), Some(0.0));

    // The metrics address comes from the file: its change waits for a restart.
    let metrics_moved = moved.replacen(
        "metrics_listen = \"127.0.0.1:0\"",
        "metrics_listen = \"127.0.0.1:3\"",
        1,
    );
    assert_ne!(metrics_moved, moved);
    reload_config(&d, &metrics_moved, 2.0).await;
    assert_eq!(restart_pending(), Some(1.0));
    let line = first_log_line(&d, |line| {
        assert!(!line.contains("server.listen:"), "{line}");
        line.contains("WARN") && line.contains("server.metrics_listen")
    });
    assert!(
        line.contains("rolegate.toml: server.metrics_listen: changed from 127.0.0.1:0 to 127.0.0.1:3: listen addresses are read at start only; restart to apply it"),
        "{line}"
    );
}

/// The first line of the daemon's log from now on that `wanted` picks (each line before it is
/// shown to `wanted` too); panics when none comes within 20 s.
fn first_log_line(d: &Daemon, mut wanted: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = d
            .stderr_lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the log line looked for");
        if wanted(&line) {
            return line;
        }
    }
}

/// `GET {path}` on the metrics listener: the reply's status.
async fn ops_status(d: &Daemon, path: &str) -> u16 {
    let mut tcp = TcpStream::connect(host_port(&d.metrics)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    HttpReply::parse(&raw).status
}

/// With `shutdown_delay_seconds`, SIGTERM makes the daemon unready at once but it keeps
/// accepting and serving new connections (a load balancer or Service stops routing to it in
/// the meantime, instead of its clients meeting a closed port); a second SIGTERM ends the
/// delay, and with nothing in flight the drain ends at once.
#[tokio::test]
async fn sigterm_with_a_delay_keeps_accepting_until_a_second_signal() {
    let pki = Pki::new();
    let mut d = start_with_server_keys(&pki, "shutdown_delay_seconds = 300", &[]);
    let leaf = Pki::client(&pki.root, "late", KeyType::EcdsaP256);
    assert_eq!(ops_status(&d, "/readyz").await, 200);
    // A keep-alive connection opened before the signal, as a balancer's or SDK's pool holds.
    let host = host_port(&d.endpoint);
    let request = format!("POST /sessions HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{}}");
    let mut pooled = tls_connect(&d).await;
    pooled.write_all(request.as_bytes()).await.unwrap();
    let reply = read_one_reply(&mut pooled).await;
    assert_eq!(
        (reply.status, reply.header("connection")),
        (403, None),
        "{}",
        reply.body
    );
    d.signal("TERM");
    let mut unready = false;
    for _ in 0..200 {
        if ops_status(&d, "/readyz").await == 503 {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(unready, "/readyz still answers 200 after SIGTERM");
    // Its next request is answered, and the connection closed after it: the client's next
    // one opens a new connection, which the balancer no longer routes here.
    pooled.write_all(request.as_bytes()).await.unwrap();
    let reply = read_one_reply(&mut pooled).await;
    assert_eq!(
        (reply.status, reply.header("connection")),
        (403, Some("close")),
        "{}",
        reply.body
    );
    read_until_closed(&mut pooled).await;
    create(&d, &leaf)
        .await
        .expect("a new connection is still served during the delay");
    d.signal("TERM");
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn two_daemons_share_the_key_ring_and_rotate_it() {
    let pki = Pki::new();
    let a = start(&setup(&pki));
    let b = start(&setup(&pki));
    assert_ne!(a.endpoint, b.endpoint);
    let leaf = Pki::client(&pki.root, "scaled", KeyType::EcdsaP256);
    let creds = create(&a, &leaf).await.unwrap();
    let on_b = get_caller_identity(&b, &creds).await;
    assert_eq!(on_b.status, 200, "{}", on_b.body);
    assert!(on_b.body.contains("<GetCallerIdentityResponse"), "{}", on_b.body);
    assert!(
        on_b.body
            .contains(&format!("<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/app/")),
        "{}",
        on_b.body
    );

    // Rotation on b: k2 becomes active, k1 verifies only.
    let dir = b.dir.path();
    let k2 = dir.join("k2.key");
    std::fs::write(&k2, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k2, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.join("rolegate.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let k1_block = "active = \"k1\"\n[[tokens.keys]]\nid = \"k1\"\nfile = \"k1.key\"\n";
    assert!(original.contains(k1_block));
    let rotated = original.replace(
        k1_block,
        "active = \"k2\"\n[[tokens.keys]]\nid = \"k2\"\nfile = \"k2.key\"\n[[tokens.keys]]\nid = \"k1\"\nfile = \"k1.key\"\n",
    );
    reload_config(&b, &rotated, 1.0).await;
    assert_eq!(
        get_caller_identity(&b, &creds).await.status,
        200,
        "old tokens still verify"
    );
    let new_creds = create(&b, &leaf).await.unwrap();
    assert_eq!(get_caller_identity(&b, &new_creds).await.status, 200);
    let on_a = get_caller_identity(&a, &new_creds).await;
    assert_eq!(on_a.status, 403, "a does not hold k2 yet: {}", on_a.body);
    assert!(on_a.body.contains("<Code>InvalidClientTokenId</Code>"), "{}", on_a.body);

    // Retire k1 on b: its tokens stop working there.
    let retired = original.replace(
        k1_block,
        "active = \"k2\"\n[[tokens.keys]]\nid = \"k2\"\nfile = \"k2.key\"\n",
    );
    reload_config(&b, &retired, 2.0).await;
    let old = get_caller_identity(&b, &creds).await;
    assert_eq!(old.status, 403, "{}", old.body);
    assert!(old.body.contains("<Code>InvalidClientTokenId</Code>"), "{}", old.body);
    // STS's one answer on the wire; the audit event tells the operator why.
    let audited = std::iter::from_fn(|| b.stderr_lines.recv_timeout(Duration::from_secs(10)).ok())
        .any(|l| l.contains(" audit: decision") && l.contains(r#" reason="unknown-token-key" "#));
    assert!(audited, "no audit event with reason unknown-token-key");
    assert_eq!(get_caller_identity(&b, &new_creds).await.status, 200);
}

#[tokio::test]
async fn oversized_heads_and_slow_bodies_are_refused() {
    let pki = Pki::new();
    // The request timeout also bounds the read of an oversized body before its 413: long
    // enough for a loaded machine, short enough for the slow bodies' cases below.
    let d = start_with_server_keys(&pki, "max_header_bytes = 8192\nrequest_timeout_seconds = 3", &[]);
    // Sends `request` (which may never be complete) on a connection of its own and reads
    // the answer until the server closes it; the server may close before reading it all.
    let exchange = |request: String| {
        let d = &d;
        async move {
            let mut stream = tls_connect(d).await;
            let _ = stream.write_all(request.as_bytes()).await;
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            raw
        }
    };

    let big = "a".repeat(16 * 1024);
    let raw = exchange(format!(
        "POST /sessions HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\nContent-Length: 0\r\n\r\n"
    ))
    .await;
    assert_eq!(HttpReply::parse(&raw).status, 431);

    // A body declared too large is refused on its Content-Length, without the `100 Continue`
    // that would invite the upload.
    let raw = exchange(
        "POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n"
            .to_owned(),
    )
    .await;
    assert!(raw.starts_with(b"HTTP/1.1 413 "), "{}", String::from_utf8_lossy(&raw));
    let reply = HttpReply::parse(&raw);
    assert!(
        reply.body.contains("exceeds the limit of 65536 bytes"),
        "{}",
        reply.body
    );

    // A body over the limit that the client sends anyway (no `Expect`) is read and thrown away
    // (up to 1 MiB) before the 413: the client, which writes it whole before it reads, gets
    // the answer instead of a reset connection, and the connection, its request read to the
    // end, carries the next request.
    let mut stream = tls_connect(&d).await;
    let oversized = 200 * 1024;
    let head = format!("POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: {oversized}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'a'; oversized]).await.unwrap();
    let refused = read_one_reply(&mut stream).await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(r#""message":"The request body exceeds the limit of 65536 bytes.""#),
        "{}",
        refused.body
    );
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    assert_eq!(HttpReply::parse(&raw).status, 404, "{}", String::from_utf8_lossy(&raw));

    // The rest of the body never comes: the request timeout answers.
    let raw = exchange(
        "POST /sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{".to_owned(),
    )
    .await;
    let reply = HttpReply::parse(&raw);
    assert_eq!(reply.status, 408, "{}", reply.body);
    assert_eq!(reply.header("x-amzn-errortype"), Some("RequestTimeoutException"));
    assert!(reply.body.contains("not received within 3 seconds"), "{}", reply.body);

    // The STS Query API answers both in its XML.
    let sts = |length: usize, body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n{body}"
        )
    };
    let reply = HttpReply::parse(&exchange(sts(1_000_000_000, "")).await);
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(
        reply.body.contains("<Code>RequestEntityTooLarge</Code>"),
        "{}",
        reply.body
    );
    let reply = HttpReply::parse(&exchange(sts(10, "Action")).await);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("<Code>RequestTimeout</Code>"), "{}", reply.body);
    assert!(reply.body.contains("<Type>Sender</Type>"), "{}", reply.body);
}

/// Over HTTP/2 only the header bytes bound a request's header fields; more than HTTP/1.1's 100
/// are refused in each API's wire format before anything reads them.
#[tokio::test]
async fn more_than_100_header_fields_are_refused_over_http2() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let mut sender = h2_sender(&d).await;
    let mut request =
        http::Request::post(format!("{}/sessions", d.endpoint)).header("content-type", "application/json");
    for i in 0..150 {
        request = request.header(format!("x-h{i}"), "v");
    }
    let response = sender
        .send_request(
            request
                .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
                .unwrap(),
        )
        .await
        .unwrap();
    let error_type = response.headers().get("x-amzn-errortype").cloned();
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        (status.as_u16(), error_type.unwrap().to_str().unwrap()),
        (400, "ValidationException")
    );
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"message":"The request has 152 header fields; at most 100 are accepted."}"#
    );
    // A gRPC call: INVALID_ARGUMENT with the same message.
    let metadata: Vec<(String, String)> = (0..150).map(|i| (format!("x-h{i}"), "v".to_owned())).collect();
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, message) = grpc_over_h2_with(
        &d,
        "/rolegate.v1.Sessions/CreateSession",
        &metadata,
        vec![0, 0, 0, 0, 0],
    )
    .await;
    assert_eq!(code, "3", "{message}");
    assert_eq!(
        message,
        "The%20request%20has%20153%20header%20fields;%20at%20most%20100%20are%20accepted."
    );
}

/// `--metrics-listen ''` turns the operations listener off, as `metrics_listen = ""` does.
#[test]
fn an_empty_metrics_listen_flag_turns_the_operations_listener_off() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--metrics-listen", ""])
        .arg("--state-dir")
        .arg(&state)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let announced: Vec<String> = stdout
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("listening on "))
        .collect();
    // Stopped by SIGTERM, so that it writes its last log lines.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!announced.iter().any(|l| l.starts_with("metrics on ")), "{announced:?}");
    assert!(
        stderr.contains("(region us-east-1, account 123456789012), metrics off"),
        "{stderr}"
    );
}

/// `serve --dev` on a dev setup an earlier start made, which no longer loads (its token key
/// deleted), says how to start over; another failure (a taken port) does not.
#[test]
fn a_broken_dev_setup_says_how_to_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev2");
    rolegate::dev::prepare(&state).unwrap();
    let serve = |listen: &str| {
        let out = std::process::Command::new(binary())
            .args(["serve", "--dev", "--metrics-listen", "", "--listen", listen])
            .arg("--state-dir")
            .arg(&state)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (code, stderr) = serve(&taken.local_addr().unwrap().to_string());
    assert_eq!(code, Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: cannot listen on "), "{stderr}");
    assert!(!last.contains("fresh dev setup"), "{stderr}");

    std::fs::remove_file(state.join("token-k1.key")).unwrap();
    let (code, stderr) = serve("127.0.0.1:0");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("reusing the dev setup"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: {}: tokens.keys[0].file",
            state.join("rolegate.toml").display()
        )) && last.ends_with(&format!(" (delete {} to create a fresh dev setup)", state.display())),
        "{stderr}"
    );
}

/// A reload that removes a role drops its `rolegate_sessions_issued_total` series; a reload
/// that keeps it keeps the count.
#[tokio::test]
async fn a_reload_drops_the_session_series_of_a_removed_role() {
    let pki = Pki::new();
    let d = start_with_server_keys(&pki, "", &[]);
    let leaf = Pki::client(&pki.root, "counted", KeyType::EcdsaP256);
    create(&d, &leaf).await.unwrap();
    let series = format!("rolegate_sessions_issued_total{{role=\"{ROLE}\"}}");
    let text = std::fs::read_to_string(d.dir.path().join("rolegate.toml")).unwrap();
    let m = reload_config(&d, &text, 1.0).await;
    assert_eq!(sample(&m, &series), Some(1.0), "{m}");
    // The log line of a reload lists what it changed (nothing, here).
    let reloaded = log_line(&d, "configuration reloaded");
    assert!(!reloaded.contains("changes="), "{reloaded}");
    let renamed = format!("{ROLE}-renamed");
    assert!(text.contains(ROLE));
    let m = reload_config(&d, &text.replace(ROLE, &renamed), 2.0).await;
    assert_eq!(sample(&m, &series), None, "{m}");
    assert!(!m.contains(&format!("role=\"{ROLE}\"")), "{m}");
    let reloaded = log_line(&d, "configuration reloaded");
    // The profiles naming the role list the change too, before the roles.
    assert!(
        reloaded.contains(r#"changes="profile "#)
            && reloaded.contains(&format!(": role {renamed} added; "))
            && reloaded.contains(&format!(r#"; role {renamed} added; role {ROLE} removed""#)),
        "{reloaded}"
    );
}

/// The next line of the daemon's log that contains `needle`.
fn log_line(d: &Daemon, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = d
            .stderr_lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no log line with {needle}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// `rolegate keys generate --out` an existing file refuses to replace it (it may be a key of
/// the ring, whose sessions would stop opening), exit 1, and leaves it as it was.
#[test]
fn keys_generate_never_overwrites_a_token_key() {
    let dir = tempfile::tempdir().unwrap();
    let generate = || {
        std::process::Command::new(binary())
            .args(["keys", "generate", "--out", "token-k1.key"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = generate();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let key = std::fs::read(dir.path().join("token-k1.key")).unwrap();
    let check_value = rolegate::session::TokenKey::from_base64(std::str::from_utf8(&key).unwrap().trim())
        .unwrap()
        .check_value();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("wrote token-k1.key (check value {check_value})\n")
    );
    let out = generate();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: token-k1.key already exists: keys generate never overwrites a token key (the sessions sealed with \
         it would stop opening); choose another file for the new key\n"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(dir.path().join("token-k1.key")).unwrap(), key);
    // A folder given as --out is named as one.
    let out = std::process::Command::new(binary())
        .args(["keys", "generate", "--out", "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: . is a folder: give --out the path of the key file to write\n"
    );
}

/// A client certificate that always comes with a signature by another key (a client whose
/// key file does not belong to its certificate).
#[derive(Debug)]
struct MismatchedKey(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for MismatchedKey {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Failed TLS handshakes are counted by what the client would have to change, every reason
/// exposed at 0 from the start: a client certificate whose proof of the key does not verify,
/// an ALPN protocol the server does not speak, a connection closed before its handshake.
#[tokio::test]
async fn failed_handshakes_are_counted_by_reason() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let failures = |reason: &str| {
        sample(
            &d.metrics_text(),
            &format!("rolegate_tls_handshake_failures_total{{reason=\"{reason}\"}}"),
        )
    };
    for reason in [
        "client-certificate",
        "server-certificate",
        "protocol",
        "timeout",
        "closed",
    ] {
        assert_eq!(failures(reason), Some(0.0), "{reason}");
    }
    // Waits (a hang guard, not a timing assertion) for the daemon to count the failure.
    let counted = |reason: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while failures(reason) != Some(1.0) {
            assert!(Instant::now() < deadline, "{reason}: {:?}", failures(reason));
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let leaf = Pki::client(&pki.root, "certified", KeyType::EcdsaP256);
    let other = Pki::client(&pki.root, "other-key", KeyType::EcdsaP256);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = provider
        .key_provider
        .load_private_key(rustls::pki_types::PrivateKeyDer::Pkcs8(
            other.key_pkcs8_der.to_vec().into(),
        ))
        .unwrap();
    let certified = rustls::sign::CertifiedKey::new(vec![leaf.cert_der.clone().into()], key);
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(d.ca_bundle()).unwrap();
    for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(MismatchedKey(Arc::new(certified))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(host_port(&d.endpoint)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    // TLS 1.3: the client finishes its side first and reads the refusal (an alert) after.
    if let Ok(mut tls) = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        let _ = tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let _ = tls.read(&mut [0u8; 64]).await;
    }
    counted("client-certificate");

    assert!(try_tls_connect(&d.endpoint, d.ca_bundle(), b"h3", b"").await.is_err());
    counted("protocol");

    drop(TcpStream::connect(host_port(&d.endpoint)).await.unwrap());
    counted("closed");

    // A client that does not trust the server's CA (no --ca-bundle) refuses its certificate.
    let foreign_ca = d.dir.path().join("foreign.pem");
    assert!(
        try_tls_connect(&d.endpoint, foreign_ca, b"http/1.1", b"")
            .await
            .is_err()
    );
    counted("server-certificate");
}

/// A call whose `grpc-timeout` deadline passes before its message arrives is answered
/// DEADLINE_EXCEEDED at that deadline, naming it, not at `request_timeout_seconds` (30 s here).
#[tokio::test]
async fn a_grpc_call_is_answered_at_its_own_deadline() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let mut sender = h2_sender(&d).await;
    let (body_tx, request) = stalled_create_session(&d.endpoint, &[("grpc-timeout", "300m")]).await;
    let response = sender.send_request(request).await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("grpc-status").as_deref(), Some("4"), "{response:?}");
    assert_eq!(
        header("grpc-message").as_deref(),
        Some("The%20call's%20deadline%20(grpc-timeout%20300ms)%20passed%20before%20it%20was%20answered."),
        "{response:?}"
    );
    drop(body_tx);
}

/// The body of [`stalled_create_session`]: what its sender sends.
type StalledBody = http_body_util::StreamBody<
    tokio_stream::wrappers::ReceiverStream<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>,
>;

/// A CreateSession call whose message never arrives (its header announces 100 bytes, then
/// nothing), with `headers` added; the sender keeps the body open until dropped.
async fn stalled_create_session(
    endpoint: &str,
    headers: &[(&str, &str)],
) -> (
    tokio::sync::mpsc::Sender<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>,
    http::Request<StalledBody>,
) {
    let (body_tx, body_rx) = tokio::sync::mpsc::channel(1);
    body_tx
        .send(Ok(http_body::Frame::data(bytes::Bytes::from_static(&[
            0, 0, 0, 0, 100,
        ]))))
        .await
        .unwrap();
    let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(body_rx));
    let mut request = http::Request::post(format!("{endpoint}/rolegate.v1.Sessions/CreateSession"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    (body_tx, request.body(body).unwrap())
}

/// A call whose messages are not protobuf (`application/grpc+json`) is refused as such, not
/// read as garbled protobuf; `+proto` is protobuf.
#[tokio::test]
async fn a_grpc_call_in_another_codec_is_refused_as_such() {
    use http_body_util::BodyExt;
    let pki = Pki::new();
    let d = start(&setup(&pki));
    // The call's grpc-status and grpc-message, from the answer's headers or its trailers.
    let call = async |content_type: &str, frame: &'static [u8]| {
        let mut sender = h2_sender(&d).await;
        let request = http::Request::post(format!("{}/grpc.health.v1.Health/Check", d.endpoint))
            .header("content-type", content_type)
            .header("te", "trailers")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(frame)))
            .unwrap();
        let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
        let trailers = body.collect().await.unwrap().trailers().cloned().unwrap_or_default();
        let field = |name: &str| {
            parts
                .headers
                .get(name)
                .or_else(|| trailers.get(name))
                .map(|v| v.to_str().unwrap().to_owned())
        };
        (field("grpc-status"), field("grpc-message"))
    };
    assert_eq!(
        call("application/grpc+json", &[0, 0, 0, 0, 2, b'{', b'}']).await,
        (
            Some("3".to_owned()),
            Some(
                "rolegate's%20gRPC%20messages%20are%20protobuf%20only%20(content-type%20application/grpc%20or%20application/grpc+proto),%20not%20json."
                    .to_owned()
            )
        )
    );
    // An empty HealthCheckRequest in protobuf: answered.
    assert_eq!(
        call("application/grpc+proto", &[0, 0, 0, 0, 0]).await.0.as_deref(),
        Some("0")
    );
}
