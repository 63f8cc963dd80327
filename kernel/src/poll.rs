//! Adaptive polling: after a round that served a ring, stay awake for a
//! bounded time watching for the next event before halting.
//!
//! A guest's round trip pays for two wake-ups of halted vCPUs: the stub's
//! (Xen unblocks it, schedules it, injects the upcall) and the guest's. A
//! client that sends its next request soon after the reply finds the stub
//! still awake and skips the first. The price is CPU: at most one window
//! per served round, nothing at all while nobody sends requests (a timer
//! or watchdog wake-up that serves no ring never polls), so an idle stub
//! stays at zero.
//!
//! The window is `--poll-us` (microseconds, 0 = off, at most
//! [`MAX_POLL_US`]); its default, [`DEFAULT_POLL_US`], is what
//! `bench/rig.py` measured (README, "Numbers").

/// The default window, in microseconds.
pub const DEFAULT_POLL_US: u32 = 0;

/// The longest window accepted (a command line cannot turn the stub into a
/// busy loop): 10 ms.
pub const MAX_POLL_US: u32 = 10_000;

/// How many spins between two clock reads (a clock read may trap to Xen).
const SPINS_PER_CLOCK_READ: u32 = 32;

/// The polling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    /// The window in nanoseconds; 0 = never poll.
    window_ns: u64,
}

/// What polling found, counted since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Windows that saw an event (a wake-up saved).
    pub hits: u64,
    /// Windows that ran out (the stub then halted).
    pub misses: u64,
}

impl Poll {
    /// A policy with a window of `us` microseconds (clamped to
    /// [`MAX_POLL_US`]).
    pub fn new(us: u32) -> Poll {
        Poll { window_ns: u64::from(us.min(MAX_POLL_US)) * 1000 }
    }

    /// Whether polling is on.
    pub fn enabled(&self) -> bool {
        self.window_ns > 0
    }

    /// Spins until `event()` is true (returns true) or `now_ns()` is
    /// `window` past its first reading (returns false). `event` is checked
    /// on every spin, the clock every [`SPINS_PER_CLOCK_READ`] spins.
    pub fn wait(
        &self,
        stats: &mut PollStats,
        mut now_ns: impl FnMut() -> u64,
        mut event: impl FnMut() -> bool,
    ) -> bool {
        if !self.enabled() {
            return false;
        }
        let end = now_ns().saturating_add(self.window_ns);
        loop {
            for _ in 0..SPINS_PER_CLOCK_READ {
                if event() {
                    stats.hits = stats.hits.saturating_add(1);
                    return true;
                }
                core::hint::spin_loop();
            }
            if now_ns() >= end {
                stats.misses = stats.misses.saturating_add(1);
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn off_never_spins() {
        let mut s = PollStats::default();
        let calls = Cell::new(0);
        let p = Poll::new(0);
        assert!(!p.wait(
            &mut s,
            || 0,
            || {
                calls.set(calls.get() + 1);
                true
            }
        ));
        assert_eq!(calls.get(), 0, "neither the clock nor the event is looked at");
        assert_eq!(s, PollStats::default());
    }

    #[test]
    fn an_event_in_the_window_ends_the_wait() {
        let mut s = PollStats::default();
        let looks = Cell::new(0);
        let p = Poll::new(50);
        let hit = p.wait(
            &mut s,
            || 0,
            || {
                looks.set(looks.get() + 1);
                looks.get() == 100
            },
        );
        assert!(hit);
        assert_eq!(s, PollStats { hits: 1, misses: 0 });
    }

    #[test]
    fn the_window_is_bounded_by_the_clock() {
        let mut s = PollStats::default();
        let t = Cell::new(1_000u64);
        // Each clock read advances 10 us: a 50 us window ends after 5 reads.
        let reads = Cell::new(0);
        let p = Poll::new(50);
        let hit = p.wait(
            &mut s,
            || {
                reads.set(reads.get() + 1);
                let now = t.get();
                t.set(now + 10_000);
                now
            },
            || false,
        );
        assert!(!hit);
        assert_eq!(reads.get(), 1 + 5, "the start, then one read per 10 us");
        assert_eq!(s, PollStats { hits: 0, misses: 1 });
    }

    #[test]
    fn windows_are_capped() {
        assert_eq!(Poll::new(u32::MAX), Poll::new(MAX_POLL_US));
        assert!(Poll::new(1).enabled());
    }
}
