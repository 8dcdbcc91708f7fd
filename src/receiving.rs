//! Requests whose body is still arriving. A request is answered, and holds one of the
//! `max_concurrent_requests` slots of [`crate::ratelimit`], only once it has been received;
//! while its body arrives it holds a place here instead. The places are bounded too (each
//! holds the body read so far), but a client cannot keep them: when every place is taken, the
//! request that has waited longest for its body is cut to make room for the new one. A client
//! that sends its body as every SDK does — with its headers — is never among the longest
//! waiting; one that opens requests and withholds their bodies loses them to the next
//! arrivals, instead of holding every answering slot for `request_timeout_seconds`.
//!
//! A body already there when the request is first looked at needs no place at all
//! ([`receive`]): over HTTP/2, usually, as its DATA frames come in the same packets as the
//! headers. hyper reads an HTTP/1.1 body only once it is asked for it, so an HTTP/1.1 request
//! with a body holds a place for the moment that takes (one whose client waits for
//! `100 Continue` for a round trip).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::HeaderMap;
use http_body::{Body, Frame};
use tokio::sync::oneshot;

/// The places of requests whose body is still arriving.
pub struct Receivers {
    /// At most this many requests wait at once; a reload may change it.
    limit: AtomicUsize,
    waiting: Mutex<Waiting>,
}

/// The requests waiting, oldest first, each with the means to cut it.
#[derive(Default)]
struct Waiting {
    next: u64,
    by_arrival: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One request's place among the [`Receivers`], given back when dropped.
struct Place {
    receivers: Arc<Receivers>,
    id: u64,
    /// Resolves when a newer request took the place.
    cut: oneshot::Receiver<()>,
    _counted: crate::metrics::RequestInGauge,
}

/// A request that lost its place to newer arrivals before its body had arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    /// How many requests were waiting for their bodies at once (the limit).
    pub waiting: usize,
}

impl Receivers {
    pub fn new(limit: usize) -> Arc<Receivers> {
        Arc::new(Receivers {
            limit: AtomicUsize::new(limit),
            waiting: Mutex::new(Waiting::default()),
        })
    }

    /// Makes `limit` the bound; requests waiting beyond it are cut as the next ones arrive.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A place for a request that starts waiting now, cutting the longest-waiting requests
    /// while the places are all taken.
    fn enter(self: &Arc<Self>) -> Place {
        let (cut_it, cut) = oneshot::channel();
        let limit = self.limit().max(1);
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        while waiting.by_arrival.len() >= limit {
            let Some((_, oldest)) = waiting.by_arrival.pop_first() else {
                break;
            };
            // A request that has just finished (its receiver dropped) needs no telling.
            let _ = oldest.send(());
        }
        let id = waiting.next;
        waiting.next += 1;
        waiting.by_arrival.insert(id, cut_it);
        drop(waiting);
        Place {
            receivers: self.clone(),
            id,
            cut,
            _counted: crate::metrics::request_receiving(),
        }
    }

    /// Requests waiting now, and how many have ever entered (tests).
    #[cfg(test)]
    fn counts(&self) -> (usize, u64) {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        (waiting.by_arrival.len(), waiting.next)
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.counts().0
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut waiting = self.receivers.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.by_arrival.remove(&self.id);
    }
}

/// Runs `receiving` (a request's body read) to its end, with a place among `receivers` while
/// it waits: none when it completes at its first poll. `Err` when newer arrivals took the
/// place first; the read is dropped then.
pub async fn receive<F: Future>(receiving: F, receivers: &Arc<Receivers>) -> Result<F::Output, Cut> {
    let mut receiving = std::pin::pin!(receiving);
    if let Some(received) = receiving.as_mut().now_or_never() {
        return Ok(received);
    }
    let mut place = receivers.enter();
    tokio::select! {
        // A body that arrived whole is answered, even if a newcomer cut it meanwhile.
        biased;
        received = receiving => Ok(received),
        _ = &mut place.cut => Err(Cut { waiting: receivers.limit() }),
    }
}

/// A request body read ahead — up to a bound, or to its end — and then the rest as it comes:
/// the body a handler that reads it itself (gRPC's) is given once the request has been
/// received ([`ReadAhead::read`]), or as it arrives for a call that streams
/// ([`ReadAhead::unread`]). What was read is kept as one buffer of its bytes, however many
/// frames brought them: a body sent as thousands of 1-byte DATA frames costs its bytes, not a
/// queue entry a frame.
pub struct ReadAhead<B: Body> {
    /// The data read ahead, given as one frame.
    data: BytesMut,
    /// The trailers that ended the body while it was read ahead, given after its data.
    trailers: Option<HeaderMap>,
    /// The error the body ended with while it was read ahead, given after its data.
    error: Option<B::Error>,
    /// The rest of the body; `None` once it ended.
    rest: Option<B>,
}

impl<B: Body<Data = Bytes> + Unpin> ReadAhead<B> {
    /// `body` with nothing read ahead.
    pub fn unread(body: B) -> Self {
        ReadAhead {
            data: BytesMut::new(),
            trailers: None,
            error: None,
            rest: Some(body),
        }
    }

    /// Reads `body` to its end, or until more than `bound` bytes of data were read (what is
    /// beyond is the handler's to refuse), or until it fails.
    pub async fn read(body: B, bound: usize) -> Self {
        let mut ahead = ReadAhead::unread(body);
        while ahead.data.len() <= bound {
            let Some(rest) = ahead.rest.as_mut() else { break };
            match std::future::poll_fn(|cx| Pin::new(&mut *rest).poll_frame(cx)).await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => ahead.data.extend_from_slice(&data),
                    Err(frame) => {
                        // Trailers end the body.
                        ahead.trailers = frame.into_trailers().ok();
                        ahead.rest = None;
                    }
                },
                Some(Err(e)) => {
                    ahead.error = Some(e);
                    ahead.rest = None;
                }
                None => ahead.rest = None,
            }
        }
        ahead
    }
}

impl<B> Body for ReadAhead<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if !this.data.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.data.split().freeze()))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
            && self.trailers.is_none()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    type Waiter = tokio::task::JoinHandle<Result<Result<u8, oneshot::error::RecvError>, Cut>>;

    /// A request waiting for its body among `receivers`, once it holds its place: the means to
    /// send the body, and the request.
    async fn waiting_request(receivers: &Arc<Receivers>) -> (oneshot::Sender<u8>, Waiter) {
        let entered = receivers.counts().1;
        let (send, body) = oneshot::channel();
        let request = tokio::spawn({
            let receivers = receivers.clone();
            async move { receive(body, &receivers).await }
        });
        while receivers.counts().1 == entered {
            tokio::task::yield_now().await;
        }
        (send, request)
    }

    #[tokio::test]
    async fn a_body_already_there_takes_no_place() {
        let receivers = Receivers::new(1);
        let (_send, waiting) = waiting_request(&receivers).await;
        assert_eq!(receive(async { 7 }, &receivers).await, Ok(7));
        assert!(!waiting.is_finished(), "the only place was not needed");
        assert_eq!(receivers.waiting(), 1);
    }

    #[tokio::test]
    async fn the_longest_waiting_request_is_cut_for_a_new_one() {
        let receivers = Receivers::new(2);
        let (_first_body, first) = waiting_request(&receivers).await;
        let (second_body, second) = waiting_request(&receivers).await;
        let (third_body, third) = waiting_request(&receivers).await;
        assert_eq!(first.await.unwrap(), Err(Cut { waiting: 2 }));
        second_body.send(2).unwrap();
        third_body.send(3).unwrap();
        assert_eq!(second.await.unwrap(), Ok(Ok(2)));
        assert_eq!(third.await.unwrap(), Ok(Ok(3)));
        assert_eq!(receivers.waiting(), 0, "every place given back");
    }

    #[tokio::test]
    async fn a_lowered_limit_cuts_the_excess_as_the_next_request_arrives() {
        let receivers = Receivers::new(3);
        let mut earlier = Vec::new();
        for _ in 0..3 {
            earlier.push(waiting_request(&receivers).await);
        }
        receivers.set_limit(1);
        let (last_body, last) = waiting_request(&receivers).await;
        for (_body, request) in earlier {
            assert_eq!(request.await.unwrap(), Err(Cut { waiting: 1 }));
        }
        last_body.send(9).unwrap();
        assert_eq!(last.await.unwrap(), Ok(Ok(9)));
    }

    #[tokio::test]
    async fn a_body_read_ahead_is_given_whole_and_the_rest_follows() {
        let frames = |chunks: &[&'static [u8]]| {
            let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
                chunks.iter().map(|c| Ok(Frame::data(Bytes::from_static(c)))).collect();
            http_body_util::StreamBody::new(futures_util::stream::iter(chunks))
        };
        // Read to its end within the bound, its frames kept as one buffer.
        let ahead = ReadAhead::read(frames(&[b"ab", b"c", b"d"]), 10).await;
        assert_eq!(&ahead.data[..], b"abcd");
        assert!(ahead.rest.is_none());
        assert_eq!(ahead.collect().await.unwrap().to_bytes(), &b"abcd"[..]);
        // Past the bound: read no further; the rest is still given, in order.
        let ahead = ReadAhead::read(frames(&[b"abc", b"def", b"gh"]), 4).await;
        assert_eq!(&ahead.data[..], b"abcdef", "stopped just past 4 bytes");
        assert!(ahead.rest.is_some());
        assert_eq!(ahead.collect().await.unwrap().to_bytes(), &b"abcdefgh"[..]);
        // Trailers that end the body follow its data.
        let mut trailers = HeaderMap::new();
        trailers.insert("x-end", http::HeaderValue::from_static("1"));
        let with_trailers: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"xy"))),
            Ok(Frame::trailers(trailers.clone())),
        ];
        let ahead = ReadAhead::read(
            http_body_util::StreamBody::new(futures_util::stream::iter(with_trailers)),
            10,
        )
        .await;
        assert!(!ahead.is_end_stream());
        let collected = ahead.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(collected.to_bytes(), &b"xy"[..]);
    }
}
