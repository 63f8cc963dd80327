//! A dom0less system's toolstack duty the stub can take on
//! (`--on-shutdown destroy`): destroying a domain that shut down for good.
//!
//! On a system with a toolstack, xenstored never destroys a domain: it
//! reports the shutdown (`@releaseDomain`), the toolstack destroys the
//! domain (or rebuilds it), and xenstored releases the connection once Xen
//! says the domain is dying. A dom0less system without dom0 has no
//! toolstack, and Xen itself never destroys a domain that shut down
//! (`domain_shutdown` only pauses it), so a powered-off domain would keep
//! its memory until the next boot. A stub that also holds the control
//! capability (`capabilities = <0x5>`) may issue
//! `XEN_DOMCTL_destroydomain`; with this option it does, after the
//! shutdown was reported, for the codes a toolstack's default
//! configuration destroys on (poweroff, reboot, which nobody can rebuild
//! here, crash, watchdog). A suspended domain or one asking for a soft
//! reset is kept: the shutdown is not final. Domains with a capability
//! (control, hardware, xenstore) are never destroyed.
//!
//! The destroy is issued from the changed-domain poll
//! ([`crate::platform::XenPlatform`]): the report that says "shut down"
//! goes to the engine first (which fires `@releaseDomain`), the destroy
//! follows before the next report is asked for, and Xen marks the domain
//! changed again once it is dead, so the same poll hands the engine the
//! dead domain, which it releases (ring unmapped, nodes removed,
//! `@releaseDomain` again). Unmapping the ring drops the last reference
//! to the domain's pages, so Xen frees it; [`Reaper::released`] checks and
//! logs that.

use alloc::vec::Vec;

use store::{DomId, DomainInfo, DomainState};

use crate::abi::sched::{
    SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_SOFT_RESET, SHUTDOWN_SUSPEND,
    SHUTDOWN_WATCHDOG,
};
use crate::console_line;
use crate::domctl::{self, DomainQuery};

/// Whether a domain that shut down with `code` is destroyed.
pub fn destroys(code: u32) -> bool {
    matches!(code, SHUTDOWN_POWEROFF | SHUTDOWN_REBOOT | SHUTDOWN_CRASH | SHUTDOWN_WATCHDOG)
}

/// The name of a `SHUTDOWN_*` code in the console lines.
fn code_name(code: u32) -> &'static str {
    match code {
        SHUTDOWN_POWEROFF => "poweroff",
        SHUTDOWN_REBOOT => "reboot",
        SHUTDOWN_CRASH => "crash",
        SHUTDOWN_WATCHDOG => "watchdog",
        SHUTDOWN_SUSPEND => "suspend",
        SHUTDOWN_SOFT_RESET => "soft reset",
        _ => "unknown",
    }
}

/// The domains to destroy and the ones destroyed.
pub struct Reaper {
    /// The domctl interface version (destroydomain and getdomaininfo are
    /// versioned).
    iface: u32,
    /// Shut down, reported to the engine, not destroyed yet: domid, the
    /// `SHUTDOWN_*` code and its memory in KiB.
    pending: Vec<(u16, u32, u64)>,
    /// Destroyed, ring not released yet.
    destroyed: Vec<u16>,
}

impl Reaper {
    /// A reaper issuing domctls with interface version `iface`.
    pub fn new(iface: u32) -> Reaper {
        Reaper { iface, pending: Vec::new(), destroyed: Vec::new() }
    }

    /// Looks at one changed-domain report: a capability-less domain that
    /// shut down with a final code is queued for destruction.
    pub fn seen(&mut self, domid: DomId, info: &DomainInfo) {
        if info.state != DomainState::Shutdown
            || info.caps.control
            || info.caps.hardware
            || info.caps.xenstore
            || self.pending.iter().any(|p| p.0 == domid.0)
            || self.destroyed.contains(&domid.0)
        {
            return;
        }
        let kib = |pages: u64| pages.saturating_mul(crate::memmap::PAGE_SIZE / 1024);
        let found = match domctl::getdomaininfo(self.iface, domid.0) {
            Ok(i) if i.domain == domid.0 => {
                domctl::shutdown_code(&i).map(|c| (c, kib(i.tot_pages)))
            }
            Ok(_) => None,
            Err(e) => {
                log::warn!("getdomaininfo({}): {}; domain kept", domid.0, e);
                None
            }
        };
        let Some((code, kib)) = found else { return };
        if destroys(code) {
            self.pending.push((domid.0, code, kib));
        } else {
            console_line!("domain {} shut down ({}): kept", domid.0, code_name(code));
        }
    }

    /// Destroys the domains queued by [`Reaper::seen`].
    pub fn destroy_pending(&mut self) {
        for (domid, code, kib) in core::mem::take(&mut self.pending) {
            match domctl::destroy_domain(self.iface, domid) {
                Ok(()) => {
                    console_line!(
                        "domain {} shut down for good ({}): destroyed, {} KiB to free",
                        domid,
                        code_name(code),
                        kib
                    );
                    self.destroyed.push(domid);
                }
                Err(e) => log::error!("cannot destroy domain {}: {}", domid, e),
            }
        }
    }

    /// After the ring of `domid` was unmapped: says whether Xen has freed
    /// a domain this reaper destroyed (it keeps a dead domain as long as
    /// anyone maps one of its pages).
    pub fn released(&mut self, domid: u16, query: DomainQuery) {
        let Some(i) = self.destroyed.iter().position(|&d| d == domid) else { return };
        self.destroyed.swap_remove(i);
        let info = query.info(domid);
        if info == DomainInfo::GONE {
            console_line!("domain {} released: Xen has freed it and its memory", domid);
        } else {
            console_line!("domain {} still held by Xen after its release: {:?}", domid, info.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_shutdowns_only() {
        for code in [SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_CRASH, SHUTDOWN_WATCHDOG] {
            assert!(destroys(code), "{}", code_name(code));
        }
        for code in [SHUTDOWN_SUSPEND, SHUTDOWN_SOFT_RESET, 6, 255] {
            assert!(!destroys(code), "{}", code_name(code));
        }
    }
}
