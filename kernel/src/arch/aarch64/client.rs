//! `xs-arm-client`: the dom0less test client on Arm (see
//! [`crate::guest::dom0less`]). A dom0less domain with
//! `xen,enhanced = "enabled"`: the same bring-up as the stub, then its
//! ring from `HVM_PARAM_STORE_PFN` and `HVM_PARAM_STORE_EVTCHN` (Xen sets
//! both at build time), a wait until the xenstore domain has connected
//! the ring (`connection` goes from `XENSTORE_RECONNECT` to
//! `XENSTORE_CONNECTED`), the steps, one console line per step and a
//! summary:
//!
//! ```text
//! xs-arm-client: PASS read-domid
//! xs-arm-client: 9 passed, 0 failed
//! ```
//!
//! `watch-release=<peer>` (with `expect-release=gone|kept`) and
//! `wait-for=<watcher>` add the release check of
//! [`crate::guest::release`]. With `poweroff` in its `bootargs` it then
//! powers itself off, so that the xenstore domain sees it go
//! (`VIRQ_DOM_EXC`).

use core::ptr::NonNull;

use ring::wire::XENSTORE_CONNECTED;
use ring::RingPage;

use super::setup::{bring_up, Booted};
use super::sleep;
use crate::abi::hvm::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use crate::abi::sched::SHUTDOWN_POWEROFF;
use crate::guest::client::{Client, Link};
use crate::guest::link::EventLink;
use crate::guest::tally::{self, Tally};
use crate::guest::{dom0less, release};
use crate::memmap::PAGE_SIZE;
use crate::panic::fatal;
use crate::{console_line, xen};

/// The image name of the console lines.
const NAME: &str = "xs-arm-client";
/// How long the client waits for the xenstore domain to connect its ring.
const CONNECT_TIMEOUT_MS: u64 = 60_000;
/// Longest sleep between looks at the ring while waiting for the store.
const WAIT_SLICE_MS: u64 = 50;

/// The words of the bootargs.
fn words(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline.split_ascii_whitespace()
}

/// Boots, waits for the store, runs the steps, reports, and idles forever.
pub fn run(dtb: u64) -> ! {
    let Booted { cmdline, domid, shared, clock, .. } = bring_up(NAME, dtb);
    let poweroff = words(&cmdline).any(|w| w == "poweroff");
    let Some(domid) = domid else { fatal(format_args!("no domain id")) };
    let (pfn, port) =
        match (xen::hvm_get_param(HVM_PARAM_STORE_PFN), xen::hvm_get_param(HVM_PARAM_STORE_EVTCHN))
        {
            (Ok(pfn), Ok(port)) if pfn != 0 => (pfn, port),
            (a, b) => fatal(format_args!("no xenstore ring: STORE_PFN {a:?}, STORE_EVTCHN {b:?}")),
        };
    let Ok(port) = u32::try_from(port) else { fatal(format_args!("bad store port {port}")) };
    let Some(base) = NonNull::new(pfn.saturating_mul(PAGE_SIZE) as *mut u8) else {
        fatal(format_args!("null ring page"))
    };
    // SAFETY: the store page is this domain's magic page (GUEST_MAGIC_BASE,
    // mapped Normal write-back by the boot code) for the kernel's life;
    // only the `RingPage` accesses it, with volatile and atomic accesses.
    let page = unsafe { RingPage::new(base) };
    console_line!(
        "{}: domain {}, ring pfn {:#x}, port {}, waiting for the store",
        NAME,
        domid,
        pfn,
        port
    );
    let mut link = EventLink { port, timer: None, shared, clock };
    let start = link.now_ms();
    while page.connection() != XENSTORE_CONNECTED {
        if link.now_ms().saturating_sub(start) > CONNECT_TIMEOUT_MS {
            fatal(format_args!("the store did not connect the ring in {CONNECT_TIMEOUT_MS} ms"));
        }
        let deadline = link.now_ms().saturating_add(WAIT_SLICE_MS);
        link.wait(deadline);
    }
    console_line!("{}: ring connected after {} ms", NAME, link.now_ms().saturating_sub(start));
    let mut client = Client::new(page, link);
    let mut verdicts = Tally::new(NAME);
    dom0less::run(&mut client, domid, port, &mut |n, v| verdicts.report(n, v), &mut |t| {
        tally::note(NAME, t)
    });
    let arg = |key: &str| words(&cmdline).find_map(|w| w.strip_prefix(key)?.parse::<u16>().ok());
    if let Some(peer) = arg("watch-release=") {
        let expect = if words(&cmdline).any(|w| w == "expect-release=kept") {
            release::Expect::Kept
        } else {
            release::Expect::Gone
        };
        verdicts
            .report("release-watched", &release::watch_release(&mut client, domid, peer, expect));
    }
    if let Some(watcher) = arg("wait-for=") {
        verdicts.report("bye", &release::say_bye(&mut client, domid, watcher));
    }
    verdicts.summary();
    if poweroff {
        console_line!("{}: powering off", NAME);
        xen::shutdown(SHUTDOWN_POWEROFF);
    }
    let link = client.link();
    loop {
        let far = link.now_ms().saturating_add(3_600_000);
        sleep(&link.clock, far, core::iter::empty());
    }
}
