//! The ring sweep: a safety net that looks at every mapped ring now and
//! then, whether or not an event announced work on it.
//!
//! Events can go missing without any bug of ours: a Linux guest notifies
//! only when it believes the server idle, and has no full fence between
//! publishing its index and reading ours (`ring::serve` module docs). A
//! xenstored that never looks again would leave that guest, or dom0 and
//! with it the whole host, waiting forever. So, as oxenstored's periodic
//! ring scan does, the main loop wakes every [`SWEEP_INTERVAL_MS`] (the
//! timer is armed for the earlier of this and the engine's deadline),
//! asks [`ring::serve::pending_work`] about every ring not already queued,
//! and gives a turn to those with work. Work found on a ring whose port
//! is not pending was announced by nobody: that is counted and reported
//! with a warning through a [`LogGate`] at [`SWEEP_WARN_RATE`] (a guest can
//! cause it at will by never notifying).
//!
//! One wake-up every two seconds that reads a few words per ring keeps the
//! stub idle in the boot checks' sense (far below 0.5 s of CPU per 5 s).

use store::ratelimit::{LogGate, Rate};

/// How often every mapped ring is looked at, in milliseconds.
pub const SWEEP_INTERVAL_MS: u64 = 2_000;

/// Warnings about unannounced work: one a minute (a race of the guest's,
/// rare in a well-behaved one, so one line says enough).
pub const SWEEP_WARN_RATE: Rate = Rate { burst: 1, refill_ms: 60_000 };

/// When the next sweep is due, and what sweeps found.
#[derive(Debug)]
pub struct Sweep {
    /// The next sweep is due at this time (ms).
    next_ms: u64,
    /// Rings found with work no event announced, since boot.
    unannounced: u64,
    /// The warnings about them.
    pub warnings: LogGate,
}

impl Sweep {
    /// A schedule whose first sweep is one interval after `now_ms`.
    pub fn new(now_ms: u64) -> Sweep {
        Sweep {
            next_ms: now_ms.saturating_add(SWEEP_INTERVAL_MS),
            unannounced: 0,
            warnings: LogGate::new(SWEEP_WARN_RATE),
        }
    }

    /// Whether a sweep is due at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_ms
    }

    /// A sweep ran at `now_ms`: the next one is an interval later.
    pub fn done(&mut self, now_ms: u64) {
        self.next_ms = now_ms.saturating_add(SWEEP_INTERVAL_MS);
    }

    /// When to wake up at the latest: the engine's deadline or the next
    /// sweep, whichever comes first.
    pub fn deadline(&self, engine_ms: Option<u64>) -> u64 {
        engine_ms.map_or(self.next_ms, |d| d.min(self.next_ms))
    }

    /// Counts a ring found with work that no event announced.
    pub fn unannounced(&mut self) {
        self.unannounced = self.unannounced.saturating_add(1);
    }

    /// Rings found with work no event announced, since boot.
    pub fn total_unannounced(&self) -> u64 {
        self.unannounced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_every_interval_from_the_last_one() {
        let mut s = Sweep::new(100);
        assert!(!s.due(100 + SWEEP_INTERVAL_MS - 1));
        assert!(s.due(100 + SWEEP_INTERVAL_MS));
        // A late sweep (the loop was busy) counts from when it ran.
        s.done(5_000);
        assert!(!s.due(5_000 + SWEEP_INTERVAL_MS - 1));
        assert!(s.due(5_000 + SWEEP_INTERVAL_MS));
    }

    #[test]
    fn the_timer_is_armed_for_the_earlier_of_engine_and_sweep() {
        let s = Sweep::new(0);
        assert_eq!(s.deadline(None), SWEEP_INTERVAL_MS, "idle: the sweep alone");
        assert_eq!(s.deadline(Some(5)), 5);
        assert_eq!(s.deadline(Some(SWEEP_INTERVAL_MS + 1)), SWEEP_INTERVAL_MS);
    }

    #[test]
    fn warnings_are_rate_limited_and_count_what_they_skipped() {
        let mut s = Sweep::new(0);
        let warn = |s: &mut Sweep, now| {
            s.unannounced();
            s.warnings.admit(now)
        };
        assert_eq!(warn(&mut s, 10), Some(0), "the first finding is reported");
        assert_eq!(warn(&mut s, 20), None);
        assert_eq!(warn(&mut s, 10 + SWEEP_WARN_RATE.refill_ms - 1), None);
        assert_eq!(warn(&mut s, 10 + SWEEP_WARN_RATE.refill_ms), Some(2), "after two kept quiet");
        assert_eq!(s.total_unannounced(), 4);
    }
}
