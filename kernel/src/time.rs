//! Time: Xen system time from the pvclock, and the single-shot timer.
//!
//! Xen system time (ns since host boot) is `system_time + scale(tsc -
//! tsc_timestamp)` where `scale` shifts the TSC delta by `tsc_shift` and
//! multiplies by the 32.32 fixed-point `tsc_to_system_mul`
//! (`public/xen.h`, `struct vcpu_time_info`). Timeouts of
//! `VCPUOP_set_singleshot_timer` are absolute Xen system time; the timer
//! raises `VIRQ_TIMER`.

use crate::abi::sched::{VcpuSetSingleshotTimer, VCPUOP_SET_SINGLESHOT_TIMER};
use crate::abi::xen::{hypercall as nr, VcpuTimeInfo};
use crate::hypercall::hypercall;
use crate::xen::{check, Errno};

/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;

/// Converts a TSC delta to nanoseconds with the record's scale.
pub fn scale_delta(delta: u64, t: &VcpuTimeInfo) -> u64 {
    let shifted = if t.tsc_shift >= 0 {
        delta.checked_shl(u32::from(t.tsc_shift.unsigned_abs())).unwrap_or(u64::MAX)
    } else {
        delta.checked_shr(u32::from(t.tsc_shift.unsigned_abs())).unwrap_or(0)
    };
    let ns = u128::from(shifted).saturating_mul(u128::from(t.tsc_to_system_mul)) >> 32;
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Xen system time at TSC value `tsc`.
pub fn system_time_ns(t: &VcpuTimeInfo, tsc: u64) -> u64 {
    t.system_time.wrapping_add(scale_delta(tsc.wrapping_sub(t.tsc_timestamp), t))
}

/// Arms vCPU 0's single-shot timer for absolute system time `deadline_ns`
/// (a deadline already past fires at once).
pub fn set_singleshot(deadline_ns: u64) -> Result<(), Errno> {
    let mut a = VcpuSetSingleshotTimer { timeout_abs_ns: deadline_ns, flags: 0, pad: 0 };
    // SAFETY: VCPUOP_set_singleshot_timer reads one such struct for vCPU 0.
    let ret = unsafe {
        hypercall(nr::VCPU_OP, VCPUOP_SET_SINGLESHOT_TIMER, 0, &mut a as *mut _ as usize, 0, 0)
    };
    check(ret).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvclock_math() {
        // A 2 GHz TSC: 0.5 ns per tick = mul 2^31 with shift 0.
        let t = VcpuTimeInfo {
            version: 2,
            tsc_timestamp: 1000,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
            ..Default::default()
        };
        assert_eq!(system_time_ns(&t, 3000), 5_000 + 1000);
        let t2 = VcpuTimeInfo { tsc_shift: -1, ..t };
        assert_eq!(scale_delta(4000, &t2), 1000);
        let t3 = VcpuTimeInfo { tsc_shift: 1, ..t };
        assert_eq!(scale_delta(4000, &t3), 4000);
        assert_eq!(scale_delta(u64::MAX, &t3), u64::MAX >> 1);
    }
}
