//! Monotonic time from the generic timer's virtual counter, and Xen's
//! system time for `SCHEDOP_poll` timeouts.
//!
//! Arm's Xen keeps no pvclock in shared info, and its timer hypercall
//! (`VCPUOP_set_singleshot_timer`) is refused; the only timed wake-up a
//! guest without a GIC driver has is `SCHEDOP_poll`'s timeout, absolute Xen
//! system time. That is `ns(CNTPCT - boot)` in Xen, while the guest counts
//! `CNTVCT = CNTPCT - CNTVOFF`, so the two differ by a constant: Xen's time
//! when it created the domain. [`Clock::calibrate`] learns it from the
//! registered runstate area, whose `state_entry_time` is Xen's time when
//! the vCPU last started running: each reading gives a lower bound, the
//! largest one is kept (right after a wake-up it is exact to within the
//! time since), so timeouts are at worst a little early, never late.

use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu;
use crate::time::NS_PER_MS;

/// Nanoseconds per second.
const NS_PER_S: u128 = 1_000_000_000;

/// Monotonic time from the virtual counter.
pub struct Clock {
    /// Counter ticks per second.
    hz: u64,
    /// The counter when the clock was created.
    start: u64,
    /// Xen system time minus the counter's time, in ns (lower bound).
    xen_offset_ns: AtomicU64,
}

impl Clock {
    /// A clock counting from now.
    pub fn new() -> Clock {
        Clock {
            hz: cpu::counter_hz().max(1),
            start: cpu::counter(),
            xen_offset_ns: AtomicU64::new(0),
        }
    }

    /// Nanoseconds of `ticks` counter ticks.
    fn ns(&self, ticks: u64) -> u64 {
        let ns = u128::from(ticks).saturating_mul(NS_PER_S).checked_div(u128::from(self.hz));
        let ns = ns.unwrap_or_default();
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Counter ticks in `ms` milliseconds.
    fn ticks(&self, ms: u64) -> u64 {
        let t = u128::from(ms).saturating_mul(u128::from(self.hz)).checked_div(1000);
        let t = t.unwrap_or_default();
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    /// Milliseconds since the clock was created.
    pub fn now_ms(&self) -> u64 {
        self.now_ns() / NS_PER_MS
    }

    /// Nanoseconds since the clock was created.
    pub fn now_ns(&self) -> u64 {
        self.ns(cpu::counter().saturating_sub(self.start))
    }

    /// Milliseconds since the counter read `stamp` (at entry); `None` if
    /// it is later than the counter now.
    pub fn ms_since_entry(&self, stamp: u64) -> Option<u64> {
        Some(self.ns(cpu::counter().checked_sub(stamp)?) / NS_PER_MS)
    }

    /// Milliseconds from Xen's creation of the domain (the counter's
    /// zero) to the counter reading `stamp`.
    pub fn ms_at(&self, stamp: u64) -> u64 {
        self.ns(stamp) / NS_PER_MS
    }

    /// Takes `xen_now_ns`, a Xen system time no later than now, as a lower
    /// bound of the offset between Xen's time and the counter's.
    pub fn calibrate(&self, xen_now_ns: u64) {
        let bound = xen_now_ns.saturating_sub(self.ns(cpu::counter()));
        self.xen_offset_ns.fetch_max(bound, Ordering::Relaxed);
    }

    /// Xen system time of `ms` on this clock (at worst early).
    pub fn deadline_ns(&self, ms: u64) -> u64 {
        let at = self.start.saturating_add(self.ticks(ms));
        self.ns(at).saturating_add(self.xen_offset_ns.load(Ordering::Relaxed))
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
