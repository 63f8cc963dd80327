//! Sleeping until an event or a deadline, without interrupts.
//!
//! The stub keeps IRQs masked and has no GIC driver. `SCHEDOP_poll`
//! blocks the vCPU until one of the listed ports is pending or the timeout
//! (absolute Xen system time) passes; with more than one port listed Xen
//! wakes the poller for an event on any port (`evtchn_check_pollers`), and
//! it returns at once when a listed port is already pending, so an event
//! that arrived since the last scan is never slept through. At most
//! [`MAX_POLL_PORTS`] ports can be listed: an event on another port still
//! wakes the poll, and only one that arrived between the scan and the
//! poll waits for the ring sweep (`ring::sched`, 2 s).
//!
//! The timeout needs Xen's system time, learned from the runstate area
//! (see [`super::clock`]), registered here at bring-up.

use core::cell::UnsafeCell;

use super::clock::Clock;
use crate::abi::sched::{
    SchedPoll, VcpuRunstateInfo, SCHEDOP_POLL, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
};
use crate::abi::xen::hypercall as nr;
use crate::hypercall::{hypercall, hypercall_with};
use crate::xen::{check, Errno};

/// Xen's limit on the ports of one `SCHEDOP_poll`.
pub const MAX_POLL_PORTS: usize = 128;

/// vCPU 0's runstate, written by Xen whenever it schedules the vCPU.
struct Runstate(UnsafeCell<VcpuRunstateInfo>);

// SAFETY: one vCPU; Xen writes the area only while the vCPU is not
// running, and the kernel only reads it with volatile reads.
unsafe impl Sync for Runstate {}

static RUNSTATE: Runstate = Runstate(UnsafeCell::new(VcpuRunstateInfo {
    state: 0,
    pad: 0,
    state_entry_time: 0,
    time: [0; 4],
}));

/// Registers vCPU 0's runstate area and takes a first reading into `clock`.
pub fn init(clock: &Clock) -> Result<(), Errno> {
    let mut area: u64 = RUNSTATE.0.get() as u64;
    // SAFETY: the argument is one guest address (`vcpu_register_runstate_
    // memory_area`) of a static `vcpu_runstate_info`, identity-mapped
    // for the kernel's lifetime, which Xen then writes on every schedule.
    check(unsafe {
        hypercall(
            nr::VCPU_OP,
            VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
            0,
            &mut area as *mut u64 as usize,
            0,
            0,
        )
    })?;
    calibrate(clock);
    Ok(())
}

/// Feeds the runstate's `state_entry_time` (Xen's time when the vCPU last
/// started running) to the clock.
fn calibrate(clock: &Clock) {
    // SAFETY: in-bounds projection of the static; a volatile read of a
    // field Xen updates only while this vCPU is not running.
    let entry = unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!((*RUNSTATE.0.get()).state_entry_time))
    };
    if entry != 0 {
        clock.calibrate(entry);
    }
}

/// Sleeps until an event on any port (those of `ports` that fit are
/// listed) or until the clock reaches `wake_ms`.
pub fn sleep(clock: &Clock, wake_ms: u64, ports: impl Iterator<Item = u32>) {
    let mut list = [0u32; MAX_POLL_PORTS];
    let mut n: usize = 0;
    for (d, s) in list.iter_mut().zip(ports) {
        *d = s;
        n = n.saturating_add(1);
    }
    // One listed port would make Xen wake us for that port only.
    let n = if n == 1 {
        list[1] = list[0];
        2
    } else {
        n
    };
    let mut poll = SchedPoll {
        ports: list.as_ptr() as u64,
        nr_ports: u32::try_from(n).unwrap_or(0),
        pad: 0,
        timeout: clock.deadline_ns(wake_ms).max(1),
    };
    // SAFETY: SCHEDOP_poll reads `poll` and `nr_ports` ports of `list`,
    // which lives until the call returns.
    let _ = unsafe { hypercall_with(nr::SCHED_OP, SCHEDOP_POLL, &mut poll) };
    calibrate(clock);
}
