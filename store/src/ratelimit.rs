//! Token buckets over caller-provided time, and log lines limited by them.
//!
//! Anything a guest can make happen in a loop must cost bounded work and
//! bounded log output, yet the engine reads no clock (`DESIGN.md`, "Time").
//! So a [`TokenBucket`] is plain data and every operation takes `now_ms`,
//! the platform's monotonic milliseconds:
//!
//! * a bucket holds at most [`Rate::burst`] tokens and starts full;
//! * taking one succeeds while any is left;
//! * one token comes back every [`Rate::refill_ms`] after the first was
//!   taken (partial periods are kept, not lost, and nothing accumulates
//!   beyond the burst).
//!
//! A [`LogGate`] is a bucket for one class of log line: lines beyond the
//! rate are dropped and counted, and the next line let through is preceded
//! by "N similar messages suppressed". [`log_limited!`](crate::log_limited)
//! is the one way to log through a gate; every log line a guest can
//! trigger at will goes through one, at [`GUEST_LOG_RATE`] unless said
//! otherwise.

/// How fast a [`TokenBucket`] refills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens the bucket holds when full: events allowed back to back.
    pub burst: u32,
    /// One token comes back per this many milliseconds (0: at once).
    pub refill_ms: u64,
}

/// The rate of each class of log line a guest can trigger: 10 lines at
/// once, then one every 5 s (12 a minute).
pub const GUEST_LOG_RATE: Rate = Rate { burst: 10, refill_ms: 5_000 };

/// Tokens taken from a bucket of some [`Rate`], refilled with time.
///
/// The rate is not stored (it is a constant of each user), so that a
/// bucket is 16 bytes and `Default` is a full bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens taken and not yet given back (0: full).
    spent: u32,
    /// Refill periods are counted from this time; meaningless when full.
    since_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub const fn new() -> TokenBucket {
        TokenBucket { spent: 0, since_ms: 0 }
    }

    /// Takes one token at `now_ms` if the bucket has any; returns whether
    /// it did.
    pub fn try_take(&mut self, rate: Rate, now_ms: u64) -> bool {
        *self = self.refilled(rate, now_ms);
        if self.spent >= rate.burst {
            return false;
        }
        if self.spent == 0 {
            self.since_ms = now_ms;
        }
        self.spent = self.spent.saturating_add(1);
        true
    }

    /// Whether [`try_take`](Self::try_take) would succeed at `now_ms`
    /// (nothing is taken).
    pub fn ready(&self, rate: Rate, now_ms: u64) -> bool {
        self.refilled(rate, now_ms).spent < rate.burst
    }

    /// When the next token is available: `now_ms` if one is, otherwise
    /// the end of the current refill period.
    pub fn next_token_ms(&self, rate: Rate, now_ms: u64) -> u64 {
        let b = self.refilled(rate, now_ms);
        if b.spent < rate.burst {
            now_ms
        } else {
            b.since_ms.saturating_add(rate.refill_ms)
        }
    }

    /// The bucket as it is at `now_ms`: the tokens of every whole refill
    /// period since `since_ms` given back, the time of the last one kept.
    fn refilled(self, rate: Rate, now_ms: u64) -> TokenBucket {
        if self.spent == 0 {
            return self;
        }
        let elapsed = now_ms.saturating_sub(self.since_ms);
        let periods = elapsed.checked_div(rate.refill_ms).unwrap_or(u64::MAX);
        let back = u32::try_from(periods).unwrap_or(u32::MAX).min(self.spent);
        let spent = self.spent.saturating_sub(back);
        let since_ms = self.since_ms.saturating_add(u64::from(back).saturating_mul(rate.refill_ms));
        TokenBucket { spent, since_ms }
    }
}

/// One class of log line, limited to a [`Rate`]; counts what it drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGate {
    /// Its rate.
    rate: Rate,
    /// Its tokens.
    bucket: TokenBucket,
    /// Lines dropped since the last one let through.
    suppressed: u64,
    /// Lines dropped since the gate was made.
    total_suppressed: u64,
}

impl LogGate {
    /// A gate letting `rate` lines through.
    pub const fn new(rate: Rate) -> LogGate {
        LogGate { rate, bucket: TokenBucket::new(), suppressed: 0, total_suppressed: 0 }
    }

    /// A gate at [`GUEST_LOG_RATE`].
    pub const fn guest() -> LogGate {
        LogGate::new(GUEST_LOG_RATE)
    }

    /// Asks to log one line at `now_ms`: `Some(n)` lets it through, `n`
    /// being how many were dropped since the last one (to be reported
    /// first); `None` drops it, and counts it.
    pub fn admit(&mut self, now_ms: u64) -> Option<u64> {
        if self.bucket.try_take(self.rate, now_ms) {
            Some(core::mem::take(&mut self.suppressed))
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            self.total_suppressed = self.total_suppressed.saturating_add(1);
            None
        }
    }

    /// Lines dropped since the gate was made.
    pub fn total_suppressed(&self) -> u64 {
        self.total_suppressed
    }
}

impl Default for LogGate {
    fn default() -> LogGate {
        LogGate::guest()
    }
}

/// Logs one line through a [`LogGate`]:
/// `log_limited!(gate, now_ms, log::Level::Warn, "format", args...)`.
///
/// Nothing happens when the level is disabled (no token is taken). A line
/// let through after some were dropped is preceded, at the same level, by
/// "N similar messages suppressed".
#[macro_export]
macro_rules! log_limited {
    ($gate:expr, $now_ms:expr, $level:expr, $($arg:tt)+) => {{
        let level: $crate::__log::Level = $level;
        if $crate::__log::log_enabled!(level) {
            if let Some(dropped) = $crate::LogGate::admit(&mut $gate, $now_ms) {
                if dropped > 0 {
                    $crate::__log::log!(
                        level,
                        "{} similar messages suppressed",
                        dropped
                    );
                }
                $crate::__log::log!(level, $($arg)+);
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rate = Rate { burst: 3, refill_ms: 100 };

    #[test]
    fn a_full_bucket_allows_its_burst_then_refuses() {
        let mut b = TokenBucket::new();
        assert!(b.ready(R, 0));
        for _ in 0..3 {
            assert!(b.try_take(R, 1000));
        }
        assert!(!b.ready(R, 1000));
        assert!(!b.try_take(R, 1099));
        assert_eq!(b.next_token_ms(R, 1050), 1100);
    }

    #[test]
    fn one_token_returns_per_period_counted_from_the_first_taken() {
        let mut b = TokenBucket::new();
        assert!(b.try_take(R, 10));
        assert!(b.try_take(R, 50));
        assert!(b.try_take(R, 90));
        assert!(!b.try_take(R, 109));
        // Period 1 ends at 110: one token.
        assert!(b.try_take(R, 110));
        assert!(!b.try_take(R, 111));
        assert_eq!(b.next_token_ms(R, 111), 210);
        // Partial periods are not lost: 250 is 140 after 110, one token
        // (at 210) and 40 ms towards the next.
        assert!(b.try_take(R, 250));
        assert!(!b.try_take(R, 309));
        assert!(b.try_take(R, 310));
    }

    #[test]
    fn a_long_pause_refills_to_the_burst_only() {
        let mut b = TokenBucket::new();
        for _ in 0..3 {
            assert!(b.try_take(R, 0));
        }
        let later = 1_000_000;
        for _ in 0..3 {
            assert!(b.try_take(R, later));
        }
        assert!(!b.try_take(R, later));
    }

    #[test]
    fn sustained_use_is_held_to_the_rate() {
        // A caller trying every millisecond for 10 s gets the burst plus
        // one per period.
        let mut b = TokenBucket::new();
        let got = (0..10_000u64).filter(|&t| b.try_take(R, t)).count();
        assert_eq!(got, 3 + 99);
    }

    #[test]
    fn zero_refill_never_limits_and_zero_burst_always_does() {
        let mut b = TokenBucket::new();
        let free = Rate { burst: 1, refill_ms: 0 };
        assert!((0..100).all(|_| b.try_take(free, 5)));
        let mut b = TokenBucket::new();
        let shut = Rate { burst: 0, refill_ms: 10 };
        assert!(!b.try_take(shut, 0));
        assert!(!b.ready(shut, u64::MAX));
    }

    #[test]
    fn time_going_backwards_or_to_the_end_does_not_overflow() {
        let mut b = TokenBucket::new();
        assert!(b.try_take(R, u64::MAX));
        assert!(b.try_take(R, 5));
        assert!(b.try_take(R, u64::MAX));
        assert!(!b.try_take(R, u64::MAX));
        assert_eq!(b.next_token_ms(R, u64::MAX), u64::MAX);
    }

    #[test]
    fn a_gate_reports_what_it_dropped_when_it_reopens() {
        let mut g = LogGate::new(Rate { burst: 2, refill_ms: 1000 });
        assert_eq!(g.admit(0), Some(0));
        assert_eq!(g.admit(1), Some(0));
        assert_eq!(g.admit(2), None);
        assert_eq!(g.admit(3), None);
        assert_eq!(g.admit(1000), Some(2));
        assert_eq!(g.admit(1001), None);
        assert_eq!(g.admit(2000), Some(1));
        assert_eq!(g.total_suppressed(), 3);
    }

    #[test]
    fn a_guest_gate_bounds_a_flood() {
        // One attempt per millisecond for a minute: the burst, then one
        // line every 5 s.
        let mut g = LogGate::guest();
        let let_through = (0..60_000u64).filter(|&t| g.admit(t).is_some()).count();
        assert_eq!(let_through, 10 + 11);
    }
}
