//! Monotonic time from the pvclock of vCPU 0 (`struct vcpu_time_info` in
//! the shared-info page) and the TSC.

use super::cpu;
use crate::shared_info::Shared;
use crate::time;

/// Monotonic time from the pvclock.
pub struct Clock {
    /// The shared-info page holding vCPU 0's pvclock.
    shared: Shared,
    /// Xen system time when the clock was created.
    start_ns: u64,
}

impl Clock {
    /// A clock counting from now.
    pub fn new(shared: Shared) -> Clock {
        let mut c = Clock { shared, start_ns: 0 };
        c.start_ns = c.system_ns();
        c
    }

    /// Xen system time in ns.
    pub fn system_ns(&self) -> u64 {
        time::system_time_ns(&self.shared.time_info(), cpu::rdtsc())
    }

    /// Milliseconds since the clock was created.
    pub fn now_ms(&self) -> u64 {
        self.now_ns() / time::NS_PER_MS
    }

    /// Nanoseconds since the clock was created.
    pub fn now_ns(&self) -> u64 {
        self.system_ns().saturating_sub(self.start_ns)
    }

    /// Milliseconds since the TSC read `tsc` on this vCPU at entry (`None`
    /// if it is later than the TSC now: Xen changed the vCPU's TSC since).
    pub fn ms_since_entry(&self, tsc: u64) -> Option<u64> {
        time::tsc_ms_between(&self.shared.time_info(), tsc, cpu::rdtsc())
    }

    /// Xen system time of `ms` on this clock.
    pub fn deadline_ns(&self, ms: u64) -> u64 {
        self.start_ns.saturating_add(ms.saturating_mul(time::NS_PER_MS))
    }
}
