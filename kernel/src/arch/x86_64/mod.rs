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

/// Sleeps until an event arrives or the clock reaches `wake_ms`: arms
/// vCPU 0's single-shot timer (`VIRQ_TIMER`) and halts with interrupts
/// enabled. `ports` (the bound ports) is for architectures that poll;
/// here every unmasked port raises the upcall vector.
pub fn sleep(clock: &Clock, wake_ms: u64, ports: impl Iterator<Item = u32>) {
    let _ = ports;
    if let Err(e) = time::set_singleshot(clock.deadline_ns(wake_ms)) {
        log::warn!("cannot arm the timer: {}", e);
    }
    cpu::sti_hlt_cli();
}
