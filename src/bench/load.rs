//! The load itself: `concurrency` workers, each holding one keep-alive TLS connection to the
//! server (HTTP/1.1 over tokio-rustls, reconnecting after an error), sending requests built and
//! signed fresh for every send — exactly what real clients make the server do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio_rustls::TlsConnector;

use super::requests::{self, ClientRequest};
use super::setup::{CHAINED_ROLE_ARN, ClientIdentity};
use crate::client::{SessionCredentials, parse_create_session_answer};

/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Which request every worker sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RequestKind {
    /// `POST /sessions` signed with AWS4-X509.
    CreateSession { reuse: bool },
    /// A fresh `POST /sessions`, and after every `sts_every`-th one (0: never) an STS
    /// `GetCallerIdentity` signed with the session just minted, so that the server's
    /// opened-token and signing-key caches fill as they do when sessions call the STS API
    /// (the memory benchmark).
    MintAndUse { sts_every: u64 },
    /// STS `GetCallerIdentity` signed with SigV4.
    GetCallerIdentity,
    /// STS `AssumeRole` (role chaining) signed with SigV4.
    AssumeRole,
}

/// Everything the workers share.
pub(super) struct Target {
    pub addr: SocketAddr,
    pub authority: String,
    pub tls: TlsConnector,
    pub clients: Vec<ClientIdentity>,
    pub kind: RequestKind,
    /// Requests started so far (picks the certificate and the session name).
    pub sequence: AtomicU64,
    /// The successful requests to stop after (memory benchmark), if any.
    pub tickets: Tickets,
    pub succeeded: AtomicU64,
    /// Set when the run is given up (the server stopped): the workers stop.
    pub abandoned: std::sync::atomic::AtomicBool,
}

/// A bound on the successful requests of a run (the memory benchmark's `--sessions`): a worker
/// takes a ticket before it sends and gives it back when the server did not do the work (the
/// mint failed; a failed STS call after it keeps the ticket, the session being minted), so
/// that the workers together succeed exactly `limit` times — not `limit` and the requests in
/// flight when the limit is reached.
pub(super) struct Tickets {
    limit: Option<u64>,
    /// Tickets held by requests in flight or that succeeded.
    taken: AtomicU64,
}

impl Tickets {
    /// `limit` tickets, or as many as asked for without one.
    pub(super) fn new(limit: Option<u64>) -> Tickets {
        Tickets {
            limit,
            taken: AtomicU64::new(0),
        }
    }

    /// Takes a ticket: false when all are taken (a request in flight may still give its own
    /// back). Always true without a limit.
    fn take(&self) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        self.taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1))
            .is_ok()
    }

    /// Gives back the ticket of a request that did not succeed, for another to take.
    fn give_back(&self) {
        if self.limit.is_some() {
            self.taken.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether `succeeded` requests have used every ticket.
    fn used_up(&self, succeeded: u64) -> bool {
        self.limit.is_some_and(|limit| succeeded >= limit)
    }
}

/// How long a worker that found every ticket taken waits before it looks again.
const TICKET_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// What one worker observed during the measured window.
#[derive(Default)]
pub(super) struct WorkerResult {
    /// Latency in microseconds of every request completed in the window.
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Runs one worker until `end`; only requests that start at or after `measure_from` and
/// complete before `end` are recorded.
pub(super) async fn worker(target: Arc<Target>, id: usize, measure_from: Instant, end: Instant) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut creds: Option<SessionCredentials> = None;
    // Errors outside the window (while warming up) are kept as the first error to show, not
    // counted: the window's requests are what the report counts.
    let in_window = || (measure_from..end).contains(&Instant::now());
    while Instant::now() < end && !target.abandoned.load(Ordering::Relaxed) {
        if target.tickets.used_up(target.succeeded.load(Ordering::Relaxed)) {
            break;
        }
        let conn = match sender.as_mut() {
            Some(s) if !s.is_closed() => s,
            _ => match connect(&target).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    record_error(&mut result, e, in_window());
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if matches!(target.kind, RequestKind::GetCallerIdentity | RequestKind::AssumeRole) && creds.is_none() {
            match obtain_credentials(&target, conn, id).await {
                Ok(c) => creds = Some(c),
                Err(e) => {
                    record_error(&mut result, e, in_window());
                    sender = None;
                    continue;
                }
            }
        }
        if !target.tickets.take() {
            tokio::time::sleep(TICKET_WAIT).await;
            continue;
        }
        let seq = target.sequence.fetch_add(1, Ordering::Relaxed);
        let request = match build_request(&target, seq, creds.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                record_error(&mut result, e, in_window());
                target.tickets.give_back();
                continue;
            }
        };
        let started = Instant::now();
        let mut outcome = send(conn, request.http, request.expected_status).await;
        // The server did the work asked for (minted the session): its ticket is used, whatever
        // the STS call that may follow does.
        let done = outcome.is_ok();
        if let RequestKind::MintAndUse { sts_every } = target.kind
            && sts_every > 0
            && seq.is_multiple_of(sts_every)
            && let Ok(minted) = &outcome
        {
            outcome = call_sts_with(&target, conn, minted).await;
        }
        // A connection that delivered a whole answer (another status than expected) serves
        // the next request; a broken one is replaced, its handshake outside the latency.
        if outcome.as_ref().is_err_and(|f| !f.answered) {
            sender = None;
        }
        let outcome = outcome.map(drop).map_err(|f| f.message);
        result.record(measure_from, end, started, Instant::now(), outcome);
        if done {
            target.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            target.tickets.give_back();
        }
    }
    result
}

impl WorkerResult {
    /// Records a request that ran from `started` to `finished` with `outcome`, when it finished
    /// in the measured window (`measure_from` to `end`): its latency if it succeeded, else the
    /// error. True when a success was recorded. Counting by the finish, whatever the start,
    /// counts at the window's opening the requests in flight there and leaves out those in
    /// flight at its close: on average as many as the window's CPU reading holds a share of
    /// (counting only requests wholly inside left out both, about one per worker, against
    /// CPU that was read in full).
    pub(super) fn record(
        &mut self,
        measure_from: Instant,
        end: Instant,
        started: Instant,
        finished: Instant,
        outcome: Result<(), String>,
    ) -> bool {
        if finished < measure_from || finished > end {
            return false;
        }
        match outcome {
            Ok(()) => {
                let us = finished.duration_since(started).as_micros();
                self.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                true
            }
            Err(e) => {
                record_error(self, e, true);
                false
            }
        }
    }
}

/// Keeps `e` as the first error to show, and counts it when it happened in the window.
fn record_error(result: &mut WorkerResult, e: String, counted: bool) {
    result.errors += u64::from(counted);
    result.first_error.get_or_insert(e);
}

/// One keep-alive TLS connection speaking HTTP/1.1.
async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", target.addr))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = target
        .tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

struct BuiltRequest {
    http: http::Request<Full<Bytes>>,
    expected_status: u16,
}

/// Builds and signs request number `seq` now.
fn build_request(target: &Target, seq: u64, creds: Option<&SessionCredentials>) -> Result<BuiltRequest, String> {
    match (target.kind, creds) {
        (RequestKind::CreateSession { .. } | RequestKind::MintAndUse { .. }, _) => {
            let client = round_robin(&target.clients, seq)?;
            let reuse = target.kind == RequestKind::CreateSession { reuse: true };
            let name = (!reuse).then(|| format!("bench-{seq}"));
            Ok(BuiltRequest {
                http: create_session_request(&target.authority, client, name.as_deref())?,
                expected_status: 201,
            })
        }
        (RequestKind::GetCallerIdentity, Some(c)) => Ok(BuiltRequest {
            http: get_caller_identity_request(&target.authority, c)?,
            expected_status: 200,
        }),
        (RequestKind::AssumeRole, Some(c)) => {
            let body = format!(
                "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=chain-{seq}",
                form_urlencoded::byte_serialize(CHAINED_ROLE_ARN.as_bytes()).collect::<String>()
            );
            Ok(BuiltRequest {
                http: sts_request(&target.authority, c, body)?,
                expected_status: 200,
            })
        }
        (_, None) => Err("no session credentials to sign the STS request with".to_owned()),
    }
}

/// The item request number `seq` uses: `items` in turn (certificates, channels).
pub(super) fn round_robin<T>(items: &[T], seq: u64) -> Result<&T, String> {
    let n = items.len() as u64;
    usize::try_from(seq % n.max(1))
        .ok()
        .and_then(|i| items.get(i))
        .ok_or_else(|| "no client certificate".to_owned())
}

/// `POST /sessions` with the parameters in the JSON body, signed with AWS4-X509 now.
fn create_session_request(
    authority: &str,
    client: &ClientIdentity,
    session_name: Option<&str>,
) -> Result<http::Request<Full<Bytes>>, String> {
    http_request(requests::create_session(
        authority,
        client,
        session_name,
        OffsetDateTime::now_utc(),
    )?)
}

/// STS `GetCallerIdentity` signed with `creds` now.
fn get_caller_identity_request(
    authority: &str,
    creds: &SessionCredentials,
) -> Result<http::Request<Full<Bytes>>, String> {
    sts_request(
        authority,
        creds,
        "Action=GetCallerIdentity&Version=2011-06-15".to_owned(),
    )
}

/// A `GetCallerIdentity` signed with the credentials of the CreateSession answer `minted`.
async fn call_sts_with(
    target: &Target,
    sender: &mut SendRequest<Full<Bytes>>,
    minted: &Bytes,
) -> Result<Bytes, Failure> {
    let creds = parse_create_session_answer(minted).map_err(|e| e.to_string())?;
    let req = get_caller_identity_request(&target.authority, &creds)?;
    send(sender, req, 200).await
}

/// `POST /` with a form body, signed with SigV4 (service `sts`) now.
fn sts_request(
    authority: &str,
    creds: &SessionCredentials,
    body: String,
) -> Result<http::Request<Full<Bytes>>, String> {
    http_request(requests::sts(authority, creds, &body, OffsetDateTime::now_utc()))
}

fn http_request(signed: ClientRequest) -> Result<http::Request<Full<Bytes>>, String> {
    let mut req = http::Request::post(signed.path);
    for (k, v) in &signed.headers {
        req = req.header(k, v);
    }
    req.body(Full::new(signed.body)).map_err(|e| e.to_string())
}

/// Sends `req` and reads the whole answer; an unexpected status is an error quoting the body.
/// Why a request failed, and whether its connection delivered a whole answer (and so may
/// carry the next request).
struct Failure {
    answered: bool,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            answered: false,
            message,
        }
    }
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
    expected_status: u16,
) -> Result<Bytes, Failure> {
    sender.ready().await.map_err(|e| format!("connection: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| format!("response body: {e}"))?
        .to_bytes();
    if status != expected_status {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(Failure {
            answered: true,
            message: format!("HTTP {status}: {text}"),
        });
    }
    Ok(body)
}

/// A CreateSession (one per worker, not measured) for the credentials STS requests are signed with.
async fn obtain_credentials(
    target: &Target,
    sender: &mut SendRequest<Full<Bytes>>,
    worker: usize,
) -> Result<SessionCredentials, String> {
    let client = round_robin(&target.clients, worker as u64)?;
    let req = create_session_request(&target.authority, client, Some(&format!("bench-worker-{worker}")))?;
    let body = send(sender, req, 201).await.map_err(|f| f.message)?;
    parse_create_session_answer(&body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers racing for a limit's tickets take exactly the limit; a ticket given back is
    /// taken again; without a limit, every take succeeds.
    #[test]
    fn tickets_bound_the_requests_sent() {
        let tickets = Tickets::new(Some(1_000));
        let taken = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| std::iter::from_fn(|| tickets.take().then_some(())).count()))
                .collect();
            workers.into_iter().map(|w| w.join().expect("a worker")).sum::<usize>()
        });
        assert_eq!(taken, 1_000);
        assert!(!tickets.take());
        assert!(!tickets.used_up(999));
        tickets.give_back();
        assert!(tickets.take());
        assert!(tickets.used_up(1_000));
        let unlimited = Tickets::new(None);
        assert!((0..10).all(|_| unlimited.take()));
        assert!(!unlimited.used_up(u64::MAX));
    }

    /// A request counts when it finished in the window, whatever its start: those in flight
    /// as the window opens count, those in flight as it closes do not.
    #[test]
    fn requests_count_by_when_they_finished() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let (from, end) = (at(100), at(200));
        let mut result = WorkerResult::default();
        assert!(
            result.record(from, end, at(90), at(110), Ok(())),
            "in flight at the opening"
        );
        assert!(result.record(from, end, at(120), at(130), Ok(())), "inside");
        assert!(
            !result.record(from, end, at(190), at(210), Ok(())),
            "in flight at the close"
        );
        assert!(!result.record(from, end, at(10), at(20), Ok(())), "before");
        assert!(!result.record(from, end, at(150), at(160), Err("HTTP 500".into())));
        assert_eq!(result.latencies_us, [20_000, 10_000]);
        assert_eq!(result.errors, 1);
    }
}
