//! A resizable number of things held at once — requests being answered, connections open —
//! which a reload may change without cutting anything: growing adds free slots at once;
//! shrinking takes the free slots away at once and retires the others as their holders give
//! them back, so what is held falls to the new limit as it ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

pub struct Slots {
    semaphore: Semaphore,
    /// Slots to retire as their holders give them back.
    retiring: AtomicUsize,
    /// The limit in force.
    limit: AtomicUsize,
    /// Held by a resize, so two never interleave.
    resizing: Mutex<()>,
}

/// One slot of [`Slots`], given back when dropped — or retired, if a resize lowered the limit
/// below the slots held.
pub struct Slot {
    slots: Arc<Slots>,
}

impl Slots {
    pub fn new(limit: usize) -> Arc<Slots> {
        Arc::new(Slots {
            semaphore: Semaphore::new(limit),
            retiring: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            resizing: Mutex::new(()),
        })
    }

    /// How many slots may be held at once.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Makes `new` the limit.
    pub fn resize(&self, new: usize) {
        let _one_at_a_time = self.resizing.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = self.limit();
        if new > limit {
            let more = new - limit;
            // Slots still to retire need not be: cancel that first.
            let kept = take_up_to(&self.retiring, more);
            self.semaphore.add_permits(more - kept);
        } else if new < limit {
            let fewer = limit - new;
            let taken_now = self.semaphore.forget_permits(fewer);
            self.retiring.fetch_add(fewer - taken_now, Ordering::AcqRel);
        }
        self.limit.store(new, Ordering::Release);
    }

    /// A free slot now, if there is one.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.semaphore.try_acquire().ok()?.forget();
        Some(Slot { slots: self.clone() })
    }

    /// The next free slot.
    pub async fn take(self: &Arc<Self>) -> Slot {
        match self.semaphore.acquire().await {
            Ok(permit) => permit.forget(),
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        }
        Slot { slots: self.clone() }
    }

    /// `slot`, taken earlier and not used yet, if it is still within the limit; otherwise (a
    /// resize lowered the limit meanwhile, and this slot is the first to retire) the next free
    /// slot.
    pub async fn renew(self: &Arc<Self>, mut slot: Slot) -> Slot {
        while self.retiring.load(Ordering::Acquire) > 0 {
            drop(slot);
            slot = self.take().await;
        }
        slot
    }

    /// Free slots now (tests).
    #[cfg(test)]
    pub fn free(&self) -> usize {
        self.semaphore.available_permits()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if take_up_to(&self.slots.retiring, 1) == 0 {
            self.slots.semaphore.add_permits(1);
        }
    }
}

/// Subtracts up to `n` from `counter` without going below 0; returns what it subtracted.
/// At 0 (nearly always) it only reads: no write to a line every thread shares.
fn take_up_to(counter: &AtomicUsize, n: usize) -> usize {
    match counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| (c > 0).then(|| c - c.min(n))) {
        Ok(previous) | Err(previous) => previous.min(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_limit_is_reached_as_slots_are_given_back() {
        let slots = Slots::new(3);
        let held: Vec<_> = (0..3).map(|_| slots.try_take().expect("a free slot")).collect();
        assert!(slots.try_take().is_none());

        slots.resize(1);
        assert_eq!(slots.limit(), 1);
        let mut held = held.into_iter();
        drop(held.next());
        assert!(
            slots.try_take().is_none(),
            "2 held, limit 1: the given-back slot is retired"
        );
        drop(held.next());
        assert!(slots.try_take().is_none(), "1 held, limit 1");
        drop(held.next());
        let only = slots.try_take().expect("0 held, limit 1");
        assert!(slots.try_take().is_none());
        drop(only);
        assert_eq!(slots.free(), 1);
    }

    #[test]
    fn free_slots_go_at_once_and_a_raise_cancels_what_is_still_to_retire() {
        let slots = Slots::new(4);
        let (a, b) = (slots.try_take().unwrap(), slots.try_take().unwrap());
        // 2 held, 2 free: lowered to 1, the 2 free slots go at once and 1 is still to retire.
        slots.resize(1);
        assert_eq!(slots.free(), 0);
        // Raised to 3 before anything was given back: 1 more slot than the 2 held.
        slots.resize(3);
        let c = slots.try_take().expect("3 held, limit 3");
        assert!(slots.try_take().is_none());
        drop((a, b, c));
        assert_eq!(slots.free(), 3);
        assert_eq!(slots.limit(), 3);
    }

    #[tokio::test]
    async fn a_slot_held_unused_across_a_lowering_is_retired_and_taken_anew() {
        let slots = Slots::new(2);
        let waiting = slots.take().await;
        let busy = slots.try_take().unwrap();
        // Lowered to 1 while both are held: one of them is to retire.
        slots.resize(1);
        let renewing = tokio::spawn({
            let slots = slots.clone();
            async move { slots.renew(waiting).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!renewing.is_finished(), "the unused slot was retired; 1 held, limit 1");
        drop(busy);
        let renewed = renewing.await.unwrap();
        assert!(slots.try_take().is_none());
        drop(renewed);
        assert_eq!(slots.free(), 1);
    }
}
