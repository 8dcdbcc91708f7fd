//! The sidecar's open connections: at most a fixed number at once and, when all are taken, a
//! newly accepted connection closes the one that has been idle the longest (no request in
//! flight, for at least [`MIN_IDLE_SILENT`], or [`MIN_IDLE_SERVED`] once it has carried a
//! request) and takes its place. The SDKs of a machine or pod open a connection, fetch and go
//! (or keep it idle in a pool, which reconnects), so a local process that opens connections
//! and stays silent loses them first instead of keeping every SDK waiting until its
//! connections reach the 10-second head timeout, again and again. A burst of more SDK
//! processes than slots waits for slots, as it would without the rule: a connection that has
//! just been accepted, whose client is about to write its request, is not closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

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
/// close it: an SDK's keep-alive connection, which its pool may take again at any moment (a
/// request sent as the connection closes fails where the SDK does not retry, as botocore's IMDS
/// fetcher does not). Silent connections go first.
const MIN_IDLE_SERVED: Duration = Duration::from_secs(5);

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
    close: Arc<Notify>,
    /// Told to close already: not chosen twice.
    closing: bool,
}

/// An admitted connection: its slot (given back when this drops), its requests' activity, and
/// the signal to close.
pub(super) struct Admitted {
    id: u64,
    connections: Arc<OpenConnections>,
    _slot: OwnedSemaphorePermit,
    pub(super) activity: Arc<Activity>,
    close: Arc<Notify>,
}

impl Admitted {
    /// Returns when another connection needs this one's slot.
    pub(super) async fn close_requested(&self) {
        self.close.notified().await;
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

    /// A slot for a connection just accepted: a free one, else that of the connection idle
    /// longest, once it has closed. Waits while no open connection has been idle long enough.
    pub(super) async fn admit(self: &Arc<Self>) -> Admitted {
        let slot = loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                break slot;
            }
            if self.close_longest_idle(Instant::now()) {
                tracing::debug!("every sidecar connection was taken: closing the one idle longest");
            }
            tokio::select! {
                Ok(slot) = self.slots.clone().acquire_owned() => break slot,
                () = tokio::time::sleep(RECHECK) => {}
            }
        };
        let activity = Activity::new(Instant::now());
        let close = Arc::new(Notify::new());
        let mut open = self.lock();
        let id = open.next_id;
        open.next_id += 1;
        open.entries.push(Entry {
            id,
            activity: activity.clone(),
            close: close.clone(),
            closing: false,
        });
        Admitted {
            id,
            connections: self.clone(),
            _slot: slot,
            activity,
            close,
        }
    }

    /// Tells the connection idle longest at `now` to close — one that never carried a request
    /// before one that did, each only past its floor ([`MIN_IDLE_SILENT`], [`MIN_IDLE_SERVED`])
    /// — unless one told already is closing (one slot at a time: a newcomer that waits for it
    /// is not to close others meanwhile); false if none may be closed yet.
    fn close_longest_idle(&self, now: Instant) -> bool {
        let mut open = self.lock();
        if open.entries.iter().any(|e| e.closing) {
            return true;
        }
        let longest_idle = open
            .entries
            .iter_mut()
            .filter_map(|e| {
                let since = e.activity.idle_since()?;
                let served = e.activity.has_served();
                let floor = if served { MIN_IDLE_SERVED } else { MIN_IDLE_SILENT };
                (now.saturating_duration_since(since) >= floor).then_some(((served, since), e))
            })
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
}
