//! A gRPC call's way around tonic: bounded in time (the server's request timeout or the
//! client's `grpc-timeout`), its request body watched as it arrives (sent whole yet, the
//! message's digest that AssumeRole's signature covers, the rate-limit charge of each message
//! of a stream), the services called with the connection's context, and a stream's answer
//! ended `RESOURCE_EXHAUSTED` when the rate limit refused its requests.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::*;
use crate::receiving::ReadAhead;

/// A gRPC call, bounded in time: a unary call's message is received first (holding a place
/// among the requests still arriving, [`crate::receiving`]), then answered under a slot of
/// the global concurrency limit; a streaming call (health `Watch`, reflection), or one of a
/// method rolegate does not serve, takes its slot at once, as its answer starts at once
/// ([`grpc::read_ahead_bound`]). The whole is given the server's
/// `request_timeout_seconds`, or the client's deadline (`grpc-timeout`) when that is sooner;
/// past it, the call is refused: `DEADLINE_EXCEEDED` when the client's deadline passed or the
/// client had not sent the whole request, `UNAVAILABLE` when it had and no answer came (the
/// server's delay).
pub(super) async fn dispatch_grpc_within_deadline(
    state: Arc<State>,
    conn: ConnInfo,
    req: ::http::Request<Incoming>,
    started: Instant,
) -> ::http::Response<Body> {
    // Bounded like a REST or STS request's read, or a client could stall every API by never
    // finishing its messages.
    let server_timeout = state.broker.config().server.request_timeout;
    let operation = grpc::operation_of(req.uri().path());
    let streams = grpc::streams_until_the_client_ends(req.uri().path());
    let read_ahead = grpc::read_ahead_bound(req.uri().path(), operation);
    // The client's deadline (`grpc-timeout`) when it is the sooner: the answer is of no
    // use to it after that, and the slot is better given back. Not for Admin.Reload: a
    // reload cannot be called back once it runs, so cutting its answer would tell the
    // client, and the audit trail, that a reload in force failed.
    let client_deadline = req
        .headers()
        .get("grpc-timeout")
        .and_then(|v| grpc::parse_timeout(v.as_bytes()))
        .filter(|d| *d < server_timeout && operation != grpc::ADMIN_RELOAD);
    let timeout = client_deadline.unwrap_or(server_timeout);
    let remote = conn.remote;
    let (broker, peer) = (state.broker.clone(), conn.peer_certificates.clone());
    let sent = Arc::new(AtomicBool::new(false));
    // A `rolegate.v1` call (each unary) carries one message, hashed as it streams past:
    // AssumeRole's signature covers it as sent, and a body of more is refused.
    let message_sha256 = (operation != grpc::OTHER_OPERATION).then(Default::default);
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(grpc::MessageSha256(message_sha256.clone()));
    let stream_refused = Arc::new(std::sync::OnceLock::new());
    let body = Watched {
        body,
        sent: sent.clone(),
        digest: message_sha256.map(|slot| (grpc::MessageDigest::default(), slot)),
        charge: streams.then(|| StreamCharge::new(state.limiter(), &conn, operation, stream_refused.clone())),
    };
    let refused = |e: &ApiError| {
        // The event names the handshake's certificate (an admin's timed-out
        // `Admin.Reload`), as the handler's own event would have.
        let certificate = grpc::handshake_certificate(&broker, peer.as_deref());
        refuse_grpc(remote, operation, certificate, e, started)
    };
    let answered = async {
        let limiter = state.limiter();
        let body = match read_ahead {
            None => ReadAhead::unread(body),
            // Read to its end or just past the largest message: tonic refuses what is beyond.
            Some(bound) => receive(ReadAhead::read(body, bound), limiter.receivers())
                .await
                .map_err(cut_while_receiving)?,
        };
        let _answering = limiter.answering()?;
        drop(limiter);
        let response = dispatch_grpc(state, conn, ::http::Request::from_parts(parts, body)).await;
        Ok(match streams {
            true => response.map(|body| {
                Body::new(RefusalTrailers {
                    body,
                    refused: stream_refused,
                })
            }),
            false => response,
        })
    };
    match tokio::time::timeout(timeout, answered).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => refused(&e),
        Err(_) => {
            // Sent whole and still not answered: the server's delay, not the client's.
            let e = match (client_deadline, sent.load(Ordering::Relaxed)) {
                (Some(deadline), _) => grpc::deadline_passed(deadline),
                (None, true) => answer_timeout(timeout),
                (None, false) => request_timeout(timeout),
            };
            refused(&e)
        }
    }
}

/// A gRPC request body that notes when the client has sent all of it, so that a call that
/// times out is told apart: still being sent (the client's delay) or sent and not answered;
/// and, for a call whose signature covers its message, the message's digest, set in its slot
/// once the body ended.
struct Watched<B> {
    body: B,
    sent: Arc<AtomicBool>,
    digest: Option<(grpc::MessageDigest, Arc<std::sync::OnceLock<String>>)>,
    /// For a call that streams requests: their per-address rate limit.
    charge: Option<StreamCharge>,
}

/// The per-address rate limit of a call that streams requests (server reflection): each
/// message after the first (the call took a token on arrival) takes a token from its
/// address's bucket, as a call of its own would, or one stream could ask for thousands of
/// answers a second. Refused, the stream of requests ends just before the refused message
/// (what was asked before is still answered) and the call ends `RESOURCE_EXHAUSTED`
/// ([`RefusalTrailers`]), audited and counted as a throttling refusal.
struct StreamCharge {
    count: grpc::MessageCount,
    /// Whether the first message, charged with the call, has begun.
    first_begun: bool,
    limiter: Arc<crate::ratelimit::Limiter>,
    address_group: std::net::IpAddr,
    /// Whether the address's bucket counts the messages ([`ConnInfo::address_limits`]).
    address_limits: bool,
    remote: SocketAddr,
    operation: &'static str,
    /// The refusal and its request id, once a message was refused: the stream of requests has
    /// ended.
    refused: Arc<std::sync::OnceLock<(ApiError, String)>>,
}

impl StreamCharge {
    fn new(
        limiter: Arc<crate::ratelimit::Limiter>,
        conn: &ConnInfo,
        operation: &'static str,
        refused: Arc<std::sync::OnceLock<(ApiError, String)>>,
    ) -> StreamCharge {
        StreamCharge {
            count: grpc::MessageCount::default(),
            first_begun: false,
            limiter,
            address_group: conn.address_group,
            address_limits: conn.address_limits,
            remote: conn.remote,
            operation,
            refused,
        }
    }

    fn has_refused(&self) -> bool {
        self.refused.get().is_some()
    }

    /// Charges the messages that begin in `data`; the offset of the first one the address's
    /// bucket refused, where the stream of requests is to end.
    fn refused_at(&mut self, data: &[u8]) -> Option<usize> {
        let now = Instant::now();
        for at in self.count.begun_in(data) {
            if !self.first_begun {
                self.first_begun = true;
                continue;
            }
            if !self.address_limits {
                continue;
            }
            if let Err(e) = self.limiter.charge_address(self.address_group, now) {
                let request_id = http::new_request_id();
                record_refusal(&request_id, "grpc", self.operation, self.remote, &e, now);
                let _ = self.refused.set((e, request_id));
                return Some(at);
            }
        }
        None
    }
}

/// A streaming call's answer whose requests were refused by the rate limit ([`StreamCharge`]):
/// its final status says so (`RESOURCE_EXHAUSTED`, the throttling message), where the
/// service, which saw its requests end, would end it OK.
struct RefusalTrailers<B> {
    body: B,
    refused: Arc<std::sync::OnceLock<(ApiError, String)>>,
}

impl<B: ::http_body::Body + Unpin> ::http_body::Body for RefusalTrailers<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<::http_body::Frame<B::Data>, B::Error>>> {
        let mut polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &mut polled
            && let Some(trailers) = frame.trailers_mut()
            && let Some((e, request_id)) = self.refused.get()
        {
            let _ = grpc::status(e, request_id).add_header(trailers);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> ::http_body::SizeHint {
        self.body.size_hint()
    }
}

impl<B: ::http_body::Body<Data = bytes::Bytes> + Unpin> ::http_body::Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<::http_body::Frame<B::Data>, B::Error>>> {
        if self.charge.as_ref().is_some_and(StreamCharge::has_refused) {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(charge)) = (&polled, &mut self.charge)
            && let Some(data) = frame.data_ref()
            && let Some(end) = charge.refused_at(data)
        {
            // The messages before the refused one, whole, then the end.
            return Poll::Ready((end > 0).then(|| Ok(::http_body::Frame::data(data.slice(..end)))));
        }
        if let (Poll::Ready(Some(Ok(frame))), Some((digest, _))) = (&polled, &mut self.digest)
            && let Some(data) = frame.data_ref()
        {
            digest.update(data);
        }
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.sent.store(true, Ordering::Relaxed);
            if let Some((digest, slot)) = self.digest.take()
                && let Some(sha256) = digest.finish()
            {
                let _ = slot.set(sha256);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream() || self.charge.as_ref().is_some_and(StreamCharge::has_refused)
    }

    fn size_hint(&self) -> ::http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The gRPC services, with the connection's [`ConnInfo`] in the request extensions.
async fn dispatch_grpc(
    state: Arc<State>,
    conn: ConnInfo,
    mut req: ::http::Request<ReadAhead<Watched<Incoming>>>,
) -> ::http::Response<Body> {
    use tower::Service;
    let operation = grpc::operation_of(req.uri().path());
    // Kept for the refusal of a method rolegate does not serve (no allocation for its own).
    let other_path = match operation {
        grpc::OTHER_OPERATION => req.uri().path().to_owned(),
        _ => String::new(),
    };
    let content_type = req.headers().get(::http::header::CONTENT_TYPE);
    if let Some(e) = content_type.and_then(|v| v.to_str().ok()).and_then(grpc::codec_refusal) {
        return refuse_grpc(conn.remote, operation, None, &e, std::time::Instant::now());
    }
    let authority: Arc<str> = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(::http::header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or_default()
        .into();
    let mut routes = state.grpc.clone();
    let request_id: Arc<str> = http::new_request_id().into();
    let (started, remote) = (std::time::Instant::now(), conn.remote);
    req.extensions_mut().insert(grpc::GrpcContext {
        state,
        conn,
        authority,
        request_id: request_id.clone(),
        started,
    });
    match routes.call(req).await {
        Ok(mut response) => {
            if let Some(refused) = grpc::contract_status(response.headers_mut(), operation, &other_path, &request_id) {
                record_refusal(&request_id, "grpc", operation, remote, &refused, started);
            }
            response
        }
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_watched_body_is_sent_once_the_client_ended_it() {
        let sent = Arc::new(AtomicBool::new(false));
        let whole = Watched {
            body: http_body_util::Full::new(Bytes::from_static(b"\0\0\0\0\0")),
            sent: sent.clone(),
            digest: None,
            charge: None,
        };
        assert!(!sent.load(Ordering::Relaxed));
        assert_eq!(whole.collect().await.unwrap().to_bytes().len(), 5);
        assert!(sent.load(Ordering::Relaxed));

        // A body whose sender is still there after its first frame is not sent whole.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<::http_body::Frame<Bytes>, std::convert::Infallible>>(1);
        tx.send(Ok(::http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\x64"))))
            .await
            .unwrap();
        let sent = Arc::new(AtomicBool::new(false));
        let mut partial = Watched {
            body: http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            sent: sent.clone(),
            digest: None,
            charge: None,
        };
        assert!(partial.frame().await.is_some());
        assert!(!sent.load(Ordering::Relaxed));
        drop(tx);
        assert!(partial.frame().await.is_none());
        assert!(sent.load(Ordering::Relaxed));
    }
}
