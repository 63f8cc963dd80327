//! The Arm64 stub's boot sequence: [`super::setup`], then the shared
//! start-up of [`crate::service`]: on Xen 4.21+ the engine enumerates the
//! domains and introduces every one with a store page (the dom0less
//! service). The ready time counts from the first instruction; the line
//! `created N ms before entry` says how long Xen took to get to us.

use super::entropy;
use super::setup::{bring_up, Booted};
use crate::service::{serve, Service};
use crate::{cmdline, console, console_line};

/// The image name the console markers start with.
const NAME: &str = "xenstore-stubdom-rs";

/// Boots the stub from the device tree at `dtb` and serves xenstore
/// forever; `entry` is the virtual counter read at the first instruction.
pub fn start(dtb: u64, entry: u64) -> ! {
    console::hold();
    let Booted { cmdline, xen_version, domid, shared, window, clock } = bring_up(NAME, dtb);
    console_line!("{}: entered {} ms after Xen created the domain", NAME, clock.ms_at(entry));
    serve(Service {
        name: NAME,
        opts: cmdline::parse(&cmdline),
        xen_version,
        domid,
        shared,
        window,
        clock,
        entry_stamp: entry,
        seed: entropy() ^ entry.rotate_left(17),
        timer_virq: false,
        dom0less: true,
    })
}
