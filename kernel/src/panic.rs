//! The panic handler: prints file:line and the message on the console,
//! then crashes the domain with `SCHEDOP_shutdown(SHUTDOWN_crash)`.
//!
//! No guest input may reach a panic; this exists for kernel bugs and boot
//! failures (wrong boot ABI, no heap), and for an infallible allocation
//! that finds the heap exhausted (see [`crate::heap`]), in which case the
//! heap's figures printed after the message show it. Nothing here
//! allocates.

use core::panic::PanicInfo;

use crate::abi::sched::SHUTDOWN_CRASH;

/// Reports `info` and crashes the domain.
pub fn report_and_crash(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(l) => crate::console::write_line_now(format_args!(
            "PANIC at {}:{}: {}",
            l.file(),
            l.line(),
            info.message()
        )),
        None => crate::console::write_line_now(format_args!("PANIC: {}", info.message())),
    }
    if let Some((used, free)) = crate::heap::usage() {
        crate::console::write_line_now(format_args!(
            "PANIC: heap {} bytes used, {} free",
            used, free
        ));
    }
    crate::xen::shutdown(SHUTDOWN_CRASH)
}

/// Prints a fatal boot error and crashes the domain.
pub fn fatal(what: core::fmt::Arguments<'_>) -> ! {
    crate::console::write_line_now(format_args!("FATAL: {}", what));
    crate::xen::shutdown(SHUTDOWN_CRASH)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    report_and_crash(info)
}
