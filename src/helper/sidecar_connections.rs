//! The sidecar's open connections: at most a fixed number at once and, when all are taken, a
//! newly accepted connection closes the one that has been idle the longest (no request in
//! flight) and takes its place. The SDKs of a machine or pod open a connection, fetch and go
//! (or keep it idle in a pool, which reconnects), so a local process that opens connections
//! and stays silent loses them first instead of keeping every SDK waiting until its
//! connections reach the 10-second head timeout, again and again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::server::connections::Activity;

/// How often a connection waiting for a slot looks again for an idle one to close, when every
/// connection had a request in flight (a sidecar request takes microseconds, so this is a race
/// with a request's end rather than a state that lasts).
const RECHECK: Duration = Duration::from_millis(50);

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

    /// A slot for a connection accepted at `now`: a free one, else that of the connection idle
    /// longest, once it has closed. Waits only while every open connection has a request in
    /// flight.
    pub(super) async fn admit(self: &Arc<Self>, now: Instant) -> Admitted {
        let slot = loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                break slot;
            }
            if self.close_longest_idle() {
                tracing::debug!("every sidecar connection was taken: closing the one idle longest");
            }
            tokio::select! {
                Ok(slot) = self.slots.clone().acquire_owned() => break slot,
                () = tokio::time::sleep(RECHECK) => {}
            }
        };
        let activity = Activity::new(now);
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

    /// Tells the connection idle longest to close, unless one told already is closing (one
    /// slot at a time: a newcomer that waits for it is not to close others meanwhile); false
    /// if every connection has a request in flight.
    fn close_longest_idle(&self) -> bool {
        let mut open = self.lock();
        if open.entries.iter().any(|e| e.closing) {
            return true;
        }
        let longest_idle = open
            .entries
            .iter_mut()
            .filter(|e| !e.closing)
            .filter_map(|e| e.activity.idle_since().map(|since| (since, e)))
            .min_by_key(|(since, _)| *since);
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

    #[tokio::test]
    async fn a_newcomer_closes_the_connection_idle_longest_and_takes_its_slot() {
        let start = Instant::now();
        let connections = OpenConnections::new(3);
        let oldest = connections.admit(start).await;
        let busy = connections.admit(start).await;
        let newer = connections.admit(start + Duration::from_secs(1)).await;
        let _request = busy.activity.request();
        let (oldest_id, newer_id) = (oldest.id, newer.id);
        let closing = tokio::spawn(closes_when_told(oldest));
        let newcomer = connections.admit(start + Duration::from_secs(2)).await;
        closing.await.unwrap();
        let open: Vec<u64> = connections.lock().entries.iter().map(|e| e.id).collect();
        assert_eq!(
            open,
            [busy.id, newer_id, newcomer.id],
            "the oldest, {oldest_id}, closed"
        );
        drop(newer);
    }

    #[tokio::test]
    async fn connections_with_a_request_in_flight_are_not_closed() {
        let start = Instant::now();
        let connections = OpenConnections::new(1);
        let busy = connections.admit(start).await;
        let request = busy.activity.request();
        assert!(!connections.close_longest_idle());
        drop(request);
        assert!(connections.close_longest_idle());
        tokio::time::timeout(Duration::from_secs(5), busy.close_requested())
            .await
            .expect("the connection was told to close");
    }

    /// One slot at a time: while the connection told to close has not closed, newcomers wait
    /// for its slot instead of closing others.
    #[tokio::test]
    async fn one_connection_closes_at_a_time() {
        let start = Instant::now();
        let connections = OpenConnections::new(2);
        let oldest = connections.admit(start).await;
        let _newer = connections.admit(start + Duration::from_secs(1)).await;
        let closing = || {
            connections
                .lock()
                .entries
                .iter()
                .filter(|e| e.closing)
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert!(connections.close_longest_idle());
        assert_eq!(closing(), [oldest.id]);
        assert!(connections.close_longest_idle());
        assert_eq!(closing(), [oldest.id]);
    }
}
