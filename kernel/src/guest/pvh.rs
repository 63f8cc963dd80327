//! The hostile guest on x86 PVH: the common bring-up, the ring from the
//! HVM parameters, the steps, then idling.

use core::ptr::NonNull;

use ring::RingPage;

use super::client::{Client, Link};
use super::steps::{self, Mode};
use crate::abi::hvm::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use crate::abi::xen::VIRQ_TIMER;
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::setup::{bring_up, fatal, Booted};
use crate::main_loop::Clock;
use crate::memmap::PAGE_SIZE;
use crate::shared_info::Shared;
use crate::{console_line, evtchn, time, xen};

/// The image name of the console lines.
const NAME: &str = "hostile-guest";
/// Longest sleep between looks at the ring, in case a wake-up is missed.
const WAIT_SLICE_MS: u64 = 50;
/// The special pages of a PVH guest sit below 4 GiB, in the identity map.
const IDENTITY_MAP_PFNS: u64 = 0x10_0000;

/// The ring's event channel and the pvclock on Xen.
struct XenLink {
    /// Our end of the xenstore event channel.
    port: u32,
    /// Event bitmaps and vCPU 0's upcall flag.
    shared: Shared,
    /// Time.
    clock: Clock,
}

impl Link for XenLink {
    fn notify(&mut self) {
        let _ = evtchn::send(self.port);
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn wait(&mut self, deadline_ms: u64) {
        let now = self.clock.now_ms();
        if now >= deadline_ms {
            return;
        }
        let wake = deadline_ms.min(now.saturating_add(WAIT_SLICE_MS));
        if time::set_singleshot(self.clock.deadline_ns(wake)).is_err() {
            return;
        }
        // An event that arrived since the caller last looked left
        // `evtchn_upcall_pending` set, which ends the HLT at once.
        cpu::sti_hlt_cli();
        // Clear what woke us so that the next event raises the upcall again.
        let s = &self.shared;
        s.upcall_pending().store(0, core::sync::atomic::Ordering::Release);
        evtchn::scan(s.pending_sel(), s.pending(), s.mask(), |_| {});
    }
}

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
    if let Err(e) = evtchn::bind_virq(VIRQ_TIMER) {
        fatal(format_args!("cannot bind VIRQ_TIMER: {e}"));
    }
    let Some(base) = NonNull::new(pfn.saturating_mul(PAGE_SIZE) as *mut u8) else {
        fatal(format_args!("null ring page"))
    };
    console_line!("{}: domain {}, ring pfn {:#x}, port {}, {:?}", NAME, domid, pfn, port, mode);
    // SAFETY: the store page is a special page of this domain below 4 GiB
    // (checked above), identity-mapped for the life of the kernel; only the
    // `RingPage` accesses it, with volatile and atomic accesses.
    let page = unsafe { RingPage::new(base) };
    let mut client = Client::new(page, XenLink { port, shared, clock });
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut report = |name: &str, verdict: &steps::Verdict| match verdict {
        Ok(()) => {
            passed = passed.saturating_add(1);
            console_line!("{}: PASS {}", NAME, name);
        }
        Err(why) => {
            failed = failed.saturating_add(1);
            console_line!("{}: FAIL {}: {}", NAME, name, why);
        }
    };
    steps::run(&mut client, domid, mode, &mut report, &mut |text| {
        console_line!("{}: {}", NAME, text)
    });
    console_line!("{}: {} passed, {} failed", NAME, passed, failed);
    loop {
        cpu::sti_hlt_cli();
    }
}
