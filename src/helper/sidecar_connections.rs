//! The sidecar's open connections: at most a fixed number at once and, when all are taken, a
//! newly accepted connection closes one that is doing nothing for its client and takes its
//! place — in this order:
//! 1. one that has carried no request, idle for at least [`MIN_IDLE_SILENT`];
//! 2. one whose answers its client has left untaken for at least [`MIN_STALLED`]
//!    ([`super::sidecar_writes`]), request in flight or not;
//! 3. one that has carried requests, idle (no request in flight) for at least
//!    [`MIN_IDLE_SERVED`];
//!
//! the longest idle or stalled first within each. The SDKs of a machine or pod open a
//! connection, fetch and go (or keep it idle in a pool, which reconnects), so a local process
//! that opens connections and stays silent, or pipelines requests on them and never reads the
//! answers, loses them first instead of keeping every SDK waiting until its connections reach
//! the 10-second head or write timeout, again and again. A burst of more SDK processes than
//! slots waits for slots, as it would without the rule: a connection that has just been
//! accepted, whose client is about to write its request, is not closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::sidecar_writes::Writes;
use crate::server::connections::Activity;

/// How often a connection waiting for a slot looks again for an idle one to close, when none
/// was idle long enough.
const RECHECK: Duration = Duration::from_millis(50);

/// How long a connection that has carried no request must have been open before a newcomer may
/// close it: long enough for a client in a burst, which connected and is about to write its
/// request (a process waiting for its turn on a busy CPU), short enough that a local process
/// holding connections silent keeps SDKs waiting about this long at most (botocore's IMDS
/// provider gives up after 1 second).
const MIN_IDLE_SILENT: Duration = Duration::from_millis(750);

/// How long a connection that has carried requests must have been idle before a newcomer may
/// close it: an SDK's keep-alive connection. Within one fetch an SDK sends its requests on it
/// milliseconds apart (PUT a token, then GET the role and the credentials), and a request sent
/// as the connection closes fails where the SDK does not retry (botocore's IMDS fetcher tries
/// once); that gap is what this bound protects. Between fetches the SDK's pool keeps the
/// connection idle for minutes, and urllib3, hyper and Node notice that the sidecar closed it
/// before they reuse it (they open another), so closing it then cuts nothing. A quarter of a
/// second is a hundred times the gap, and short enough that a newcomer finding every slot held
/// by idle keep-alive connections is answered well within the 1 second that botocore's and the
/// JavaScript SDK's IMDS clients wait, once (5 seconds left a burst of more such clients than
/// slots without credentials). Silent connections still go first.
const MIN_IDLE_SERVED: Duration = Duration::from_millis(250);

/// How long a connection's answers must have waited unsent ([`Writes::stalled_since`]) before
/// a newcomer may close it. No request of the sidecar's takes time to answer (each is answered
/// from memory, the first fetch is over before the first connection is accepted), and an
/// answer waits only once its client has left dozens unread (no SDK pipelines; each reads its
/// one answer, which the kernel's buffers take whole even while the SDK is descheduled): a
/// tenth of a second is ample for a client that pipelines many requests and is slow to start
/// reading, and shorter than a silent connection is kept ([`MIN_IDLE_SILENT`]), since a client
/// that has left its answers unread is not about to send a request the sidecar must wait for.
/// It is shorter than [`MIN_IDLE_SERVED`] too, so that a flooding connection is closable
/// before an SDK's keep-alive connection that went idle about when it stalled. The shorter the
/// bound, the less a process that floods reconnected connections delays SDKs. Silent
/// connections still go first.
pub(super) const MIN_STALLED: Duration = Duration::from_millis(100);

/// Which connections a newcomer may close, in the order it closes them (see the module's
/// documentation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Closable {
    /// Idle, never carried a request, for [`MIN_IDLE_SILENT`].
    Silent,
    /// Answers left unsent for [`MIN_STALLED`].
    Stalled,
    /// Idle after carrying requests, for [`MIN_IDLE_SERVED`].
    Served,
}

/// The connections open, and the slots they take.
pub(super) struct OpenConnections {
    slots: Arc<Semaphore>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    entries: Vec<Entry>,
}

struct Entry {
    id: u64,
    activity: Arc<Activity>,
    writes: Arc<Writes>,
    close: Arc<Notify>,
    /// Told to close already: not chosen twice.
    closing: bool,
}

impl Entry {
    /// Whether a newcomer may close this connection at `now`, and if so in which rank and
    /// since when it has been idle or stalled (the rule of the module's documentation).
    fn closable(&self, now: Instant) -> Option<(Closable, Instant)> {
        let past = |since: Instant, floor: Duration| now.saturating_duration_since(since) >= floor;
        if let Some(since) = self.writes.stalled_since().filter(|&since| past(since, MIN_STALLED)) {
            return Some((Closable::Stalled, since));
        }
        let since = self.activity.idle_since()?;
        let (rank, floor) = match self.activity.has_served() {
            true => (Closable::Served, MIN_IDLE_SERVED),
            false => (Closable::Silent, MIN_IDLE_SILENT),
        };
        past(since, floor).then_some((rank, since))
    }
}

/// An admitted connection: its slot (given back when this drops), its requests' activity, its
/// answers' wait, and the signal to close.
pub(super) struct Admitted {
    id: u64,
    connections: Arc<OpenConnections>,
    _slot: OwnedSemaphorePermit,
    pub(super) activity: Arc<Activity>,
    pub(super) writes: Arc<Writes>,
    close: Arc<Notify>,
}

impl Admitted {
    /// Returns when another connection needs this one's slot.
    pub(super) async fn close_requested(&self) {
        self.close.notified().await;
    }

    /// Whether closing the connection now cuts nothing its client is waiting for: no request
    /// is in flight, or the client is not taking its answers.
    pub(super) fn nothing_to_finish(&self) -> bool {
        self.activity.idle_since().is_some() || self.writes.stalled_since().is_some()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        open.entries.retain(|e| e.id != self.id);
    }
}

impl OpenConnections {
    pub(super) fn new(limit: usize) -> Arc<OpenConnections> {
        Arc::new(OpenConnections {
            slots: Arc::new(Semaphore::new(limit)),
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection just accepted: a free one, else that of the connection the rule
    /// of the module's documentation picks, once it has closed. Waits while no open connection
    /// has been idle or stalled long enough.
    pub(super) async fn admit(self: &Arc<Self>) -> Admitted {
        let slot = loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                break slot;
            }
            if self.close_longest_idle(Instant::now()) {
                tracing::debug!("every sidecar connection was taken: closing an idle or stalled one");
            }
            tokio::select! {
                Ok(slot) = self.slots.clone().acquire_owned() => break slot,
                () = tokio::time::sleep(RECHECK) => {}
            }
        };
        let now = Instant::now();
        let (activity, writes) = (Activity::new(now), Writes::new(now));
        let close = Arc::new(Notify::new());
        let mut open = self.lock();
        let id = open.next_id;
        open.next_id += 1;
        open.entries.push(Entry {
            id,
            activity: activity.clone(),
            writes: writes.clone(),
            close: close.clone(),
            closing: false,
        });
        Admitted {
            id,
            connections: self.clone(),
            _slot: slot,
            activity,
            writes,
            close,
        }
    }

    /// Tells the connection to close that the rule of the module's documentation picks at
    /// `now` ([`Entry::closable`]: silent, then stalled, then served; the longest idle or
    /// stalled first) — unless one told already is closing (one slot at a time: a newcomer that
    /// waits for it is not to close others meanwhile); false if none may be closed yet.
    fn close_longest_idle(&self, now: Instant) -> bool {
        let mut open = self.lock();
        if open.entries.iter().any(|e| e.closing) {
            return true;
        }
        let longest_idle = open
            .entries
            .iter_mut()
            .filter_map(|e| Some((e.closable(now)?, e)))
            .min_by_key(|(order, _)| *order);
        match longest_idle {
            Some((_, entry)) => {
                entry.closing = true;
                // Stored if the connection's task is not waiting yet: it sees it when it does.
                entry.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// How many open connections have answers waiting unsent (for tests that wait for a
    /// client's pipelined requests to fill the sidecar's buffers).
    #[cfg(test)]
    pub(super) fn stalled(&self) -> usize {
        let open = self.lock();
        open.entries
            .iter()
            .filter(|e| e.writes.stalled_since().is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection told to close answers with its slot, which the newcomer then takes.
    async fn closes_when_told(admitted: Admitted) {
        admitted.close_requested().await;
    }

    fn ids(connections: &OpenConnections, closing_only: bool) -> Vec<u64> {
        let open = connections.lock();
        open.entries
            .iter()
            .filter(|e| e.closing || !closing_only)
            .map(|e| e.id)
            .collect()
    }

    /// Time stands still (`start_paused`) unless advanced, or but for the newcomer's waits.
    #[tokio::test(start_paused = true)]
    async fn a_newcomer_closes_the_connection_idle_longest_and_takes_its_slot() {
        let connections = OpenConnections::new(3);
        let oldest = connections.admit().await;
        let busy = connections.admit().await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let newer = connections.admit().await;
        let _request = busy.activity.request();
        let (oldest_id, newer_id) = (oldest.id, newer.id);
        let closing = tokio::spawn(closes_when_told(oldest));
        let newcomer = connections.admit().await;
        closing.await.unwrap();
        assert_eq!(
            ids(&connections, false),
            [busy.id, newer_id, newcomer.id],
            "the oldest, {oldest_id}, closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn connections_with_a_request_in_flight_are_not_closed() {
        let connections = OpenConnections::new(1);
        let busy = connections.admit().await;
        tokio::time::advance(Duration::from_secs(60)).await;
        let request = busy.activity.request();
        assert!(!connections.close_longest_idle(Instant::now()));
        drop(request);
        // It has carried a request: closed once idle for MIN_IDLE_SERVED.
        assert!(!connections.close_longest_idle(Instant::now()));
        tokio::time::advance(MIN_IDLE_SERVED).await;
        assert!(connections.close_longest_idle(Instant::now()));
        tokio::time::timeout(Duration::from_secs(5), busy.close_requested())
            .await
            .expect("the connection was told to close");
    }

    /// A connection just accepted, whose client is about to write its request (one of a burst
    /// of more processes than slots), is not closed: the newcomer waits for a slot.
    #[tokio::test(start_paused = true)]
    async fn a_connection_just_accepted_is_not_closed() {
        let connections = OpenConnections::new(1);
        let fresh = connections.admit().await;
        assert!(!connections.close_longest_idle(Instant::now()));
        tokio::time::advance(MIN_IDLE_SILENT - Duration::from_millis(1)).await;
        assert!(!connections.close_longest_idle(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [fresh.id]);
    }

    /// Every slot held by SDKs' keep-alive connections, idle after their requests: a newcomer
    /// gets the slot of the one idle longest as soon as it has been idle MIN_IDLE_SERVED, well
    /// within the 1 second botocore's IMDS client waits for its answer, once.
    #[tokio::test(start_paused = true)]
    async fn a_newcomer_to_idle_keep_alive_connections_is_admitted_after_min_idle_served() {
        let connections = OpenConnections::new(2);
        let first = connections.admit().await;
        let second = connections.admit().await;
        drop(first.activity.request());
        drop(second.activity.request());
        let (first_id, arrived) = (first.id, Instant::now());
        let closing = tokio::spawn(closes_when_told(first));
        let newcomer = connections.admit().await;
        closing.await.unwrap();
        assert_eq!(Instant::now() - arrived, Duration::from_millis(250));
        assert_eq!(
            ids(&connections, false),
            [second.id, newcomer.id],
            "the first, {first_id}, closed"
        );
    }

    /// Silent connections go before ones that have carried requests (an SDK's keep-alive
    /// connection, which its pool may take again), however long those have been idle.
    #[tokio::test(start_paused = true)]
    async fn silent_connections_go_first() {
        let connections = OpenConnections::new(2);
        let served = connections.admit().await;
        drop(served.activity.request());
        tokio::time::advance(Duration::from_secs(60)).await;
        let silent = connections.admit().await;
        tokio::time::advance(MIN_IDLE_SILENT).await;
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [silent.id]);
    }

    /// One slot at a time: while the connection told to close has not closed, newcomers wait
    /// for its slot instead of closing others.
    #[tokio::test(start_paused = true)]
    async fn one_connection_closes_at_a_time() {
        let connections = OpenConnections::new(2);
        let oldest = connections.admit().await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let _newer = connections.admit().await;
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [oldest.id]);
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [oldest.id]);
    }

    /// A connection whose answers have waited unsent for MIN_STALLED is closed for a newcomer,
    /// request in flight or not; one stalled for less is not.
    #[tokio::test(start_paused = true)]
    async fn a_connection_whose_answers_wait_past_the_bound_is_closed() {
        let connections = OpenConnections::new(1);
        let flooding = connections.admit().await;
        let _request = flooding.activity.request();
        tokio::time::advance(Duration::from_secs(60)).await;
        flooding.writes.blocked(Instant::now());
        tokio::time::advance(MIN_STALLED - Duration::from_millis(1)).await;
        assert!(!connections.close_longest_idle(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [flooding.id]);
        assert!(
            flooding.nothing_to_finish(),
            "closed at once, its answer not waited for"
        );
    }

    /// Answers that went out end the wait: a request in flight then keeps its connection.
    #[tokio::test(start_paused = true)]
    async fn a_connection_whose_answers_went_out_is_busy_again() {
        let connections = OpenConnections::new(1);
        let reading = connections.admit().await;
        let _request = reading.activity.request();
        reading.writes.blocked(Instant::now());
        tokio::time::advance(MIN_STALLED).await;
        reading.writes.drained();
        assert!(!connections.close_longest_idle(Instant::now()));
        assert!(!reading.nothing_to_finish(), "its answer is finished before it closes");
    }

    /// Stalled connections go after silent ones and before idle served ones, however long
    /// those have been idle.
    #[tokio::test(start_paused = true)]
    async fn stalled_connections_go_after_silent_ones_and_before_served_ones() {
        let connections = OpenConnections::new(3);
        let served = connections.admit().await;
        drop(served.activity.request());
        tokio::time::advance(Duration::from_secs(60)).await;
        let stalled = connections.admit().await;
        let _request = stalled.activity.request();
        stalled.writes.blocked(Instant::now());
        let silent = connections.admit().await;
        tokio::time::advance(MIN_IDLE_SILENT.max(MIN_STALLED)).await;
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [silent.id]);
        drop(silent);
        assert!(connections.close_longest_idle(Instant::now()));
        assert_eq!(ids(&connections, true), [stalled.id]);
    }
}
