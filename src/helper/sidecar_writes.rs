//! The answers a sidecar client leaves untaken. The sidecar answers from memory in
//! microseconds, and the kernel takes an answer (a few hundred bytes to 2 KiB) whole into the
//! client's receive buffer whether or not the client reads it yet: a write of the sidecar's
//! blocks only when its client has left a receive buffer and a send buffer full of answers
//! unread, dozens of them. No SDK does that (each sends one request and reads its answer; none
//! pipelines), but a local process that pipelines requests and never reads makes its
//! connection look busy for ever: hyper keeps the next request in flight while the previous
//! answer is unsent (it takes no answer while one waits, so it reads at most one request
//! ahead).
//!
//! [`WatchedStream`] notes since when a connection's answers have waited unsent
//! ([`Writes::stalled_since`]) — from the first write the socket could not take until hyper
//! has written all it holds, whatever trickles out in between — so that
//! - a newcomer to a full sidecar may close a connection stalled for
//!   [`super::sidecar_connections::MIN_STALLED`], as it closes idle ones
//!   ([`super::sidecar_connections`]);
//! - a connection stalled for [`WRITE_TIMEOUT`] is closed in any case, as one that has not
//!   sent its request head within 10 seconds is
//!   ([`crate::server::connections::plain_http1`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a connection's answers may wait unsent before it is closed, newcomer or not: as
/// long as a client may take to send a request head. Only a client that leaves dozens of
/// answers unread gets here (see the module's documentation).
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Since when a connection's answers have waited unsent, if they do. Shared by the connection's
/// stream and the newcomers that look for a connection to close.
pub(super) struct Writes {
    opened: Instant,
    /// Milliseconds after `opened` when the answers started to wait, plus one; 0 while they
    /// do not.
    stalled_since_ms: AtomicU64,
}

impl Writes {
    pub(super) fn new(opened: Instant) -> Arc<Writes> {
        Arc::new(Writes {
            opened,
            stalled_since_ms: AtomicU64::new(0),
        })
    }

    /// Since when the answers have waited unsent: from the first write the socket could not
    /// take until all were written. `None` while none waits.
    pub(super) fn stalled_since(&self) -> Option<Instant> {
        match self.stalled_since_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.opened + Duration::from_millis(ms - 1)),
        }
    }

    /// Notes that a write could not go through at `now`, unless answers were waiting already.
    pub(super) fn blocked(&self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.opened);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .stalled_since_ms
            .compare_exchange(0, ms, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Notes that every answer has been written.
    pub(super) fn drained(&self) {
        self.stalled_since_ms.store(0, Ordering::Release);
    }
}

/// A connection's stream, noting in [`Writes`] since when its answers have waited unsent, and
/// failing its writes once they have for [`WRITE_TIMEOUT`] (hyper then drops the connection).
/// hyper flushes the stream only when it has written everything it holds, so a flush that
/// succeeds ends the wait.
pub(super) struct WatchedStream<S> {
    io: S,
    writes: Arc<Writes>,
    /// Armed at the first write that could not go through; disarmed by a successful flush.
    timeout: Option<Pin<Box<Sleep>>>,
}

impl<S> WatchedStream<S> {
    pub(super) fn new(io: S, writes: Arc<Writes>) -> WatchedStream<S> {
        WatchedStream {
            io,
            writes,
            timeout: None,
        }
    }

    /// `written` as it is, unless the socket took nothing (`Pending`): then the wait is noted,
    /// and once it has lasted [`WRITE_TIMEOUT`] the write fails with `TimedOut`. A write that
    /// takes part of the answers does not end the wait: a client that reads a few bytes now
    /// and then still leaves its answers waiting.
    fn watch<T>(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if written.is_ready() {
            return written;
        }
        let writes = &self.writes;
        let timeout = self.timeout.get_or_insert_with(|| {
            writes.blocked(Instant::now());
            Box::pin(tokio::time::sleep(WRITE_TIMEOUT))
        });
        match timeout.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has not taken its answers",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, written)
    }

    /// As the stream's: hyper queues an answer's body beside its head for a vectored write,
    /// and then takes no further answer while one is unsent (it would copy answers into one
    /// buffer of up to about 400 KB otherwise).
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            this.timeout = None;
            this.writes.drained();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stream whose peer reads nothing: a pipe of `capacity` bytes.
    fn unread(
        capacity: usize,
    ) -> (
        WatchedStream<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<Writes>,
    ) {
        let (ours, theirs) = tokio::io::duplex(capacity);
        let writes = Writes::new(Instant::now());
        (WatchedStream::new(ours, writes.clone()), theirs, writes)
    }

    #[tokio::test(start_paused = true)]
    async fn answers_the_client_takes_never_wait() {
        let (mut stream, mut client, writes) = unread(64);
        stream.write_all(b"answer").await.unwrap();
        stream.flush().await.unwrap();
        assert_eq!(writes.stalled_since(), None);
        let mut got = [0; 6];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"answer");
    }

    /// The wait starts at the first write the socket could not take, lasts while only part of
    /// the answers trickles out, and ends once all are written.
    #[tokio::test(start_paused = true)]
    async fn the_wait_lasts_until_every_answer_is_written() {
        let (mut stream, mut client, writes) = unread(4);
        let blocked_at = Instant::now();
        let writing = tokio::spawn(async move {
            stream.write_all(b"123456789abc").await.unwrap();
            stream.flush().await.unwrap();
            stream
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(writes.stalled_since(), Some(blocked_at));
        let mut got = [0; 4];
        client.read_exact(&mut got).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(writes.stalled_since(), Some(blocked_at), "part of the answers went out");
        client.read_exact(&mut got).await.unwrap();
        let _stream = writing.await.unwrap();
        assert_eq!(&got, b"5678");
        assert_eq!(writes.stalled_since(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_left_unsent_for_the_write_timeout_fail_the_write() {
        let (mut stream, _client, writes) = unread(4);
        let failed = stream.write_all(b"12345678").await.unwrap_err();
        assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
        let since = writes.stalled_since().expect("the answers waited");
        assert_eq!(Instant::now() - since, WRITE_TIMEOUT);
    }
}
