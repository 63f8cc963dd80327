//! The Arm64 side of [`crate::arch`]: a dom0less xenstore domain on Xen on
//! Arm.
//!
//! `boot.s` is the entry (Image header, FP/SIMD, exception vectors, an
//! identity map with Normal write-back memory, the stack); [`setup`]
//! reads the device tree and brings the platform up (console, heap,
//! shared info, grant table, event channels, the clock); [`start`] hands
//! over to the shared [`crate::service`]. Events are polled
//! ([`events`]): the stub never unmasks interrupts and needs no GIC driver.

pub mod client;
pub mod clock;
pub mod cpu;
pub mod events;
pub mod hypercall;
pub mod setup;
pub mod start;

pub use clock::Clock;
pub use events::sleep;

use crate::abi::xen::{hypercall as nr, CONSOLEIO_WRITE};

/// Writes `bytes` to Xen's console with `CONSOLEIO_write` (every dom0less
/// domain is a console domain: `d->is_console`); Xen prints them as
/// `(dN) ...` lines when `guest_loglvl` lets guest messages through.
pub fn debug_write(bytes: &[u8]) {
    // SAFETY: CONSOLEIO_write only reads `bytes.len()` bytes of `bytes`.
    let _ = unsafe {
        hypercall::hypercall(
            nr::CONSOLE_IO,
            CONSOLEIO_WRITE,
            bytes.len(),
            bytes.as_ptr() as usize,
            0,
            0,
        )
    };
}

/// Nothing to record: Arm sleeps with `SCHEDOP_poll`'s timeout, not a
/// single-shot timer that stays armed between sleeps (x86's
/// `timer_fired`).
pub fn timer_fired() {}

/// Bits that differ from boot to boot, for hash seeds.
pub fn entropy() -> u64 {
    cpu::counter()
}

/// Called by `boot.s` for any exception: the stub never expects one.
#[no_mangle]
extern "C" fn arm64_exception(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    crate::panic::fatal(format_args!(
        "exception {kind} (vector {kind:#x}): ESR {esr:#x} ELR {elr:#x} FAR {far:#x}"
    ))
}
