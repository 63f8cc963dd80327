//! The ring scheduler: which guest rings get a turn of [`crate::serve`],
//! in what order, when the engine's timed work runs, and when every ring
//! is looked at again. The PVH stub's main loop and the Linux daemon's
//! poll loop both drive their rings with one [`Scheduler`].
//!
//! Primer. A ring is *queued* when something says it may have work: an
//! event on its channel, the engine reporting it ready (new output, flow
//! control lifted, a deferred reconnection admitted), a fresh mapping, or
//! the sweep below. Each ring is queued at most once, in FIFO order, except
//! the privileged domain's ring ([`Scheduler::set_first`]): the toolstack's
//! requests wait for no guest's turn, so it goes to the front.
//!
//! A [`round`](Scheduler::round) gives every ring queued when it starts one
//! turn ([`Rings::serve`]); a ring with more input waiting goes to the back
//! of the queue (whoever it is), so a busy guest cannot starve the others.
//! Then, and only then, [`Rings::expire`] runs the engine's timed work
//! (watch-event expiry, the end of write-rate limiting, deferred
//! reconnections). Expiry after serving: an event whose guest made room
//! for it in this round is delivered rather than dropped, so only events
//! that stayed unread after the guest's turn expire. C xenstored has the
//! same order (it handles the connections after `poll`, and expires watch
//! events in `initialize_fds`, before the next `poll`).
//!
//! The sweep is a safety net: events can go missing without any bug of
//! ours (a Linux guest notifies only when it believes the server idle, and
//! has no full fence between publishing its index and reading ours; see the
//! [`crate::serve`] module docs). A server that never looks again would
//! leave that guest, or dom0 and with it the whole host, waiting forever.
//! So, as oxenstored's periodic ring scan does, every
//! [`SWEEP_INTERVAL_MS`] the platform asks
//! [`pending_work`](crate::serve::pending_work) about every ring not
//! already queued ([`Scheduler::sweep`]) and queues those with work; it
//! sleeps no longer than [`Scheduler::deadline`]. One wake-up every two
//! seconds that reads a few words per ring keeps an idle server idle.
//!
//! Memory is fixed: a queue and a sorted membership list of `N` keys each
//! ([`MAX_RINGS`] by default, 32 KiB for 4-byte keys), no allocation. A
//! platform maps at most [`MAX_RINGS`] rings and [removes](Scheduler::remove)
//! the ones it unmaps, so the queue never overflows; if it did,
//! [`Scheduler::enqueue`] would refuse the ring and the next sweep would
//! find its work.

use heapless::{Deque, Vec};

/// Most rings a platform serves at once: the 2-level event channel ABI
/// gives 4096 ports, so more rings could never be notified.
pub const MAX_RINGS: usize = 4096;

/// How often every ring is looked at, whether or not an event announced
/// work on it, in milliseconds.
pub const SWEEP_INTERVAL_MS: u64 = 2_000;

/// What the scheduler asks of the platform that owns the rings and the
/// engine.
pub trait Rings<K> {
    /// Gives `ring` one turn (e.g. [`crate::serve::serve`], logging it and
    /// notifying the guest); true if it has more input waiting.
    fn serve(&mut self, ring: K) -> bool;
    /// Runs the engine's timed work if its deadline has passed (watch
    /// event expiry etc.). Called once per round, after every turn.
    fn expire(&mut self);
}

/// The queue of rings owed a turn and the sweep's schedule.
#[derive(Debug)]
pub struct Scheduler<K, const N: usize = MAX_RINGS> {
    /// Rings owed a turn, in order.
    queue: Deque<K, N>,
    /// The members of `queue`, sorted.
    queued: Vec<K, N>,
    /// The ring that goes to the front when queued (the privileged one).
    first: Option<K>,
    /// The next sweep is due at this time (ms).
    next_sweep_ms: u64,
}

impl<K: Copy + Ord, const N: usize> Scheduler<K, N> {
    /// An empty queue whose first sweep is one interval after `now_ms`.
    /// `const`, so a platform with a small stack can keep it in a static.
    pub const fn new(now_ms: u64) -> Self {
        Scheduler {
            queue: Deque::new(),
            queued: Vec::new(),
            first: None,
            next_sweep_ms: now_ms.saturating_add(SWEEP_INTERVAL_MS),
        }
    }

    /// Starts the sweep's schedule again from `now_ms` (for a scheduler
    /// made before the clock ran).
    pub fn restart_sweep(&mut self, now_ms: u64) {
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_INTERVAL_MS);
    }

    /// Names the ring queued at the front rather than the back (the
    /// privileged domain's; `None`: no such ring).
    pub fn set_first(&mut self, ring: Option<K>) {
        self.first = ring;
    }

    /// Queues `ring` for a turn unless it is queued already: at the back,
    /// or at the front if it is the [first](Scheduler::set_first) ring.
    /// False if it was not newly queued (already queued, or the queue is
    /// full).
    pub fn enqueue(&mut self, ring: K) -> bool {
        self.push(ring, self.first == Some(ring))
    }

    /// Queues `ring` at the front or the back unless it is queued.
    fn push(&mut self, ring: K, front: bool) -> bool {
        let Err(at) = self.queued.binary_search(&ring) else { return false };
        let pushed = if front { self.queue.push_front(ring) } else { self.queue.push_back(ring) };
        pushed.is_ok() && self.queued.insert(at, ring).is_ok()
    }

    /// Takes `ring` out of the queue (its ring was unmapped).
    pub fn remove(&mut self, ring: K) {
        let Ok(at) = self.queued.binary_search(&ring) else { return };
        self.queued.remove(at);
        for _ in 0..self.queue.len() {
            match self.queue.pop_front() {
                Some(r) if r != ring => {
                    let _ = self.queue.push_back(r);
                }
                _ => {}
            }
        }
    }

    /// Whether `ring` is queued.
    pub fn is_queued(&self, ring: K) -> bool {
        self.queued.binary_search(&ring).is_ok()
    }

    /// Whether no ring is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many rings are queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// One round: every ring queued now gets one turn, in order; one with
    /// more input goes to the back. Then the engine's timed work runs
    /// (module docs: why after serving).
    pub fn round<R: Rings<K> + ?Sized>(&mut self, rings: &mut R) {
        for _ in 0..self.queue.len() {
            let Some(ring) = self.queue.pop_front() else { break };
            if let Ok(at) = self.queued.binary_search(&ring) {
                self.queued.remove(at);
            }
            if rings.serve(ring) {
                // More input: back of the queue, whoever it is.
                self.push(ring, false);
            }
        }
        rings.expire();
    }

    /// Whether a sweep is due at `now_ms`.
    pub fn sweep_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_sweep_ms
    }

    /// When the next sweep is due (ms).
    pub fn next_sweep_ms(&self) -> u64 {
        self.next_sweep_ms
    }

    /// Sweeps at `now_ms` (the next sweep is an interval later): queues
    /// every ring of `rings` not already queued for which `has_work` (the
    /// platform's [`pending_work`](crate::serve::pending_work), which may
    /// also log what it found) returns true.
    pub fn sweep<I, F>(&mut self, now_ms: u64, rings: I, mut has_work: F)
    where
        I: IntoIterator<Item = K>,
        F: FnMut(K) -> bool,
    {
        self.restart_sweep(now_ms);
        for ring in rings {
            if !self.is_queued(ring) && has_work(ring) {
                self.enqueue(ring);
            }
        }
    }

    /// When to wake up at the latest: `engine_ms` (the engine's next
    /// deadline) or the next sweep, whichever comes first.
    pub fn deadline(&self, engine_ms: Option<u64>) -> u64 {
        engine_ms.map_or(self.next_sweep_ms, |d| d.min(self.next_sweep_ms))
    }
}

#[cfg(test)]
mod tests;
