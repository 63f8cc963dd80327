//! The x86 (PVH) side of [`crate::arch`]: the boot sequence ([`start`],
//! [`setup`], [`start_info`]), the CPU ([`cpu`], [`idt`]), the hypercall
//! page ([`hypercall`]), the clock, and the live update's hand-over
//! ([`handover`]).

mod clock;
pub mod cpu;
pub mod handover;
pub mod hypercall;
pub mod idt;
pub mod setup;
pub mod start;
pub mod start_info;

pub use clock::Clock;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::time;

/// The Xen debug I/O port: Xen prints what is written there as `(dN) ...`
/// lines.
const DEBUG_PORT: u16 = 0xE9;

/// Writes `bytes` to Xen's debug console in one piece (one `rep outsb`,
/// one trap to Xen).
pub fn debug_write(bytes: &[u8]) {
    // SAFETY: port 0xE9 is Xen's debug console; writing it only logs.
    unsafe { cpu::outsb(DEBUG_PORT, bytes) };
}

/// Bits that differ from boot to boot, for hash seeds.
pub fn entropy() -> u64 {
    cpu::rdtsc()
}

/// The `wake_ms` vCPU 0's single-shot timer is armed for, if any
/// ([`time::NOT_ARMED`] if none).
static ARMED_MS: AtomicU64 = AtomicU64::new(time::NOT_ARMED);

/// Sleeps until an event arrives or the clock reaches `wake_ms`: arms
/// vCPU 0's single-shot timer (`VIRQ_TIMER`) and halts with interrupts
/// enabled. `ports` (the bound ports) is for architectures that poll;
/// here every unmasked port raises the upcall vector.
///
/// The timer is armed only when its deadline changed, has come, or its
/// event was taken ([`timer_fired`]; see [`time::needs_arming`]): a busy
/// stub sleeps between requests with the same deadline (the next ring
/// sweep), and each `VCPUOP` is a trip to Xen on a guest's round trip.
pub fn sleep(clock: &Clock, wake_ms: u64, ports: impl Iterator<Item = u32>) {
    let _ = ports;
    // One vCPU, interrupts off: nothing else touches ARMED_MS meanwhile.
    let armed = ARMED_MS.load(Ordering::Relaxed);
    if time::needs_arming(armed, wake_ms, clock.now_ms()) {
        match time::set_singleshot(clock.deadline_ns(wake_ms)) {
            Ok(()) => ARMED_MS.store(wake_ms, Ordering::Relaxed),
            Err(e) => {
                ARMED_MS.store(time::NOT_ARMED, Ordering::Relaxed);
                log::warn!("cannot arm the timer: {}", e);
            }
        }
    }
    cpu::sti_hlt_cli();
}

/// Records that the single-shot timer fired: its `VIRQ_TIMER` port was
/// taken from the pending bitmap. Every scan that can take that port
/// calls it, so the next [`sleep`] arms the timer again.
pub fn timer_fired() {
    ARMED_MS.store(time::NOT_ARMED, Ordering::Relaxed);
}
