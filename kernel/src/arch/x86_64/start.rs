//! The x86 stub's boot sequence: the PVH bring-up ([`super::setup`]), then
//! the shared start-up of [`crate::service`]. Below `--log-level debug`
//! the boot's lines are held back and written once the main loop is idle
//! ([`crate::console::hold`]); the ready time is counted from the first
//! instruction (the TSC `boot/pvh.s` read).

use alloc::string::String;

use super::cpu;
use super::handover::Context;
use super::setup::{bring_up, Booted};
use crate::service::{serve, Service};
use crate::{cmdline, console};

/// The image name the console markers start with.
const NAME: &str = "xenstore-stubdom-rs";

/// Boots the stub and serves xenstore forever.
pub fn start(start_info_paddr: u64, boot_tsc: u64) -> ! {
    // The boot's console lines wait until the main loop is idle (below
    // `--log-level debug`): the toolstack waits for the stub to serve,
    // not for its log.
    console::hold();
    let Booted { boot, xen_version, domid, shared, window, clock, heap_end, incoming } =
        bring_up(NAME, start_info_paddr);
    serve(Service {
        name: NAME,
        opts: cmdline::parse(&boot.cmdline),
        xen_version,
        domid,
        shared,
        window,
        clock,
        entry_stamp: boot_tsc,
        seed: cpu::rdtsc() ^ boot_tsc.rotate_left(17),
        timer_virq: true,
        dom0less: false,
        ctx: Context { heap_end, cmdline: String::from(boot.cmdline.as_str()) },
        incoming,
    })
}
