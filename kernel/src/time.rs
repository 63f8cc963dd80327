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

/// Milliseconds from TSC reading `then` to TSC reading `now` on the scale
/// of `t`; `None` when `then` is later than `now` (not one TSC).
pub fn tsc_ms_between(t: &VcpuTimeInfo, then: u64, now: u64) -> Option<u64> {
    let delta = now.checked_sub(then)?;
    Some(scale_delta(delta, t) / NS_PER_MS)
}

/// The longest bring-up (entry to the clock's creation) taken as real:
/// a longer one means the entry TSC is not on the clock's scale.
pub const MAX_BRING_UP_MS: u64 = 10_000;

/// The time since entry, `since_entry` (from the entry TSC), checked
/// against `since_clock`, the time since the clock was created after
/// entry: `None` unless `since_entry` is at least `since_clock` and at
/// most [`MAX_BRING_UP_MS`] more (else Xen re-offset the TSC after entry).
pub fn plausible_since_entry(since_entry: Option<u64>, since_clock: u64) -> Option<u64> {
    since_entry.filter(|&ms| ms >= since_clock && ms.saturating_sub(since_clock) <= MAX_BRING_UP_MS)
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

/// No single-shot timer armed (see [`needs_arming`]).
pub const NOT_ARMED: u64 = u64::MAX;

/// Whether a sleep until `wake_ms` must (re-)arm the single-shot timer,
/// given the `armed` deadline (or [`NOT_ARMED`]) and the time `now_ms` on
/// the same clock: when nothing is armed, when the deadline moved, or when
/// the armed one has come.
///
/// `armed` must be reset to [`NOT_ARMED`] whenever the timer's
/// `VIRQ_TIMER` is taken from the pending bitmap (the arch's
/// `timer_fired`): a single-shot timer fires once, and whether it has is
/// known exactly only from its event. Our clock cannot tell: Xen may fire
/// a timer early (its `timer_slop`), and a vCPU's time record and the
/// physical CPU that runs the timer may disagree by milliseconds under
/// emulation. A sleep that trusted the clock and did not arm again would
/// last until some other event, for a guest that waits on nothing else,
/// for ever.
pub fn needs_arming(armed: u64, wake_ms: u64, now_ms: u64) -> bool {
    armed == NOT_ARMED || armed != wake_ms || now_ms >= armed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_is_armed_again_only_when_its_deadline_moves_comes_or_fired() {
        assert!(needs_arming(NOT_ARMED, 100, 0), "nothing armed yet");
        assert!(!needs_arming(100, 100, 97), "armed for the same future deadline");
        assert!(!needs_arming(100, 100, 99), "its event says when it fired, not the clock");
        assert!(needs_arming(100, 100, 100), "the deadline came: it fired");
        assert!(needs_arming(100, 100, 150));
        assert!(needs_arming(100, 50, 10), "an earlier deadline");
        assert!(needs_arming(100, 200, 10), "a later deadline");
    }

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

    #[test]
    fn tsc_intervals_use_the_record_scale_and_no_wrap() {
        // 0.5 ns per tick: 4 000 000 ticks are 2 ms, wherever the record's
        // own timestamp is (the entry TSC may precede it).
        let t = VcpuTimeInfo {
            tsc_timestamp: 10_000_000_000,
            tsc_to_system_mul: 1 << 31,
            ..Default::default()
        };
        assert_eq!(tsc_ms_between(&t, 1_000, 4_001_000), Some(2));
        assert_eq!(tsc_ms_between(&t, 5, 5), Some(0));
        assert_eq!(tsc_ms_between(&t, 4_001_000, 1_000), None);
    }

    #[test]
    fn the_entry_time_must_fit_the_clock() {
        assert_eq!(plausible_since_entry(Some(25), 12), Some(25));
        assert_eq!(plausible_since_entry(Some(12), 12), Some(12));
        assert_eq!(plausible_since_entry(Some(11), 12), None, "entry after the clock's creation");
        assert_eq!(
            plausible_since_entry(Some(12 + MAX_BRING_UP_MS), 12),
            Some(12 + MAX_BRING_UP_MS)
        );
        assert_eq!(plausible_since_entry(Some(13 + MAX_BRING_UP_MS), 12), None);
        assert_eq!(plausible_since_entry(None, 12), None);
    }
}
