//! The hostile guest on x86 PVH: the common bring-up, the ring from the
//! HVM parameters, the steps, then idling.

use core::ptr::NonNull;

use ring::RingPage;

use super::client::Client;
use super::link::EventLink;
use super::steps::{self, Mode};
use super::tally::{self, Tally};
use crate::abi::hvm::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use crate::abi::xen::VIRQ_TIMER;
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::setup::{bring_up, fatal, Booted};
use crate::memmap::PAGE_SIZE;
use crate::{console_line, evtchn, xen};

/// The image name of the console lines.
const NAME: &str = "hostile-guest";
/// The special pages of a PVH guest sit below 4 GiB, in the identity map.
const IDENTITY_MAP_PFNS: u64 = 0x10_0000;

/// Boots, runs the steps, reports, and idles forever.
pub fn run(start_info_paddr: u64) -> ! {
    let Booted { boot, domid, shared, clock, .. } = bring_up(NAME, start_info_paddr);
    let mode = Mode::from_cmdline(&boot.cmdline);
    let Some(domid) = domid else { fatal(format_args!("Xen does not tell us our domain id")) };
    let (pfn, port) =
        match (xen::hvm_get_param(HVM_PARAM_STORE_PFN), xen::hvm_get_param(HVM_PARAM_STORE_EVTCHN))
        {
            (Ok(pfn), Ok(port)) => (pfn, port),
            (a, b) => fatal(format_args!("no xenstore ring: STORE_PFN {a:?}, STORE_EVTCHN {b:?}")),
        };
    if pfn == 0 || pfn >= IDENTITY_MAP_PFNS {
        fatal(format_args!("xenstore ring at pfn {pfn:#x} is outside the identity map"));
    }
    let Ok(port) = u32::try_from(port) else { fatal(format_args!("bad store port {port}")) };
    if let Err(e) = evtchn::unmask(port) {
        fatal(format_args!("cannot unmask the store port {port}: {e}"));
    }
    let timer = match evtchn::bind_virq(VIRQ_TIMER) {
        Ok(p) => p,
        Err(e) => fatal(format_args!("cannot bind VIRQ_TIMER: {e}")),
    };
    let Some(base) = NonNull::new(pfn.saturating_mul(PAGE_SIZE) as *mut u8) else {
        fatal(format_args!("null ring page"))
    };
    console_line!("{}: domain {}, ring pfn {:#x}, port {}, {:?}", NAME, domid, pfn, port, mode);
    // SAFETY: the store page is a special page of this domain below 4 GiB
    // (checked above), identity-mapped for the life of the kernel; only the
    // `RingPage` accesses it, with volatile and atomic accesses.
    let page = unsafe { RingPage::new(base) };
    let mut client = Client::new(page, EventLink { port, timer: Some(timer), shared, clock });
    let mut verdicts = Tally::new(NAME);
    steps::run(&mut client, domid, mode, &mut |n, v| verdicts.report(n, v), &mut |t| {
        tally::note(NAME, t)
    });
    verdicts.summary();
    loop {
        cpu::sti_hlt_cli();
    }
}
