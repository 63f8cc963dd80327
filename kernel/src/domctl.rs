//! Domain liveness through the two domctls the xenstore domain may issue
//! under the default XSM policy (xen-abi §5): `XEN_DOMCTL_get_domain_state`
//! on Xen 4.21+, `XEN_DOMCTL_getdomaininfo` before.
//!
//! `get_domain_state` is stable (`interface_version` 0). For one domid it
//! gives the state bits, the capabilities (control, hardware, xenstore) and
//! a `unique_id` never reused within a boot; for `DOMID_INVALID` it reports
//! one domain whose state changed since it was last reported (an all-zero
//! state if that domain is gone), `-ENOENT` when none is left. Only the
//! `VIRQ_DOM_EXC` handler may ask the latter, and binding that VIRQ marks
//! every existing domain as changed, which is how start-up enumerates them.
//!
//! `getdomaininfo`'s `interface_version` must equal the running hypervisor's
//! `XEN_DOMCTL_INTERFACE_VERSION` (else `-EACCES`), so the kernel reads
//! `XENVER_version` at boot and picks it from the table below
//! (xen-abi §0; point releases keep their branch's number). The result
//! semantics changed over time (xen-abi §5.2): up to 4.17 a missing domid
//! yields the next higher domain (so the returned id must be compared),
//! 4.18–4.21 return `-ESRCH`, 4.22+ `-EPERM` for the stub; all mean "gone".
//! `XEN_DOMINF_dying` means the domain is already dead.
//!
//! A stub with the control capability may also destroy a domain
//! (`XEN_DOMCTL_destroydomain`, [`destroy_domain`]; see [`crate::reap`]).

use store::{ChangedDomain, DomId, DomainCaps, DomainInfo, DomainState};

use crate::abi::domctl::*;
use crate::abi::xen::{hypercall as nr, DOMID_INVALID};
use crate::hypercall::hypercall;
use crate::xen::{check, Errno};

/// `-ESRCH`: no such domain (4.18+).
const ESRCH: Errno = Errno(3);
/// `-EPERM`: what 4.22+ answers the stub for a missing domain.
const EPERM: Errno = Errno(1);
/// `-ENOENT`: no changed domain left to report (`get_domain_state`).
const ENOENT: Errno = Errno(2);

/// The first release with `XEN_DOMCTL_get_domain_state`.
const GET_DOMAIN_STATE_SINCE: (u32, u32) = (4, 21);

/// How the running Xen is asked about domains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainQuery {
    /// Xen 4.21+: `XEN_DOMCTL_get_domain_state`, with the changed-domain
    /// poll.
    GetDomainState,
    /// Xen 4.14–4.20: `XEN_DOMCTL_getdomaininfo` with this interface
    /// version; no poll, the engine scans its domains.
    GetDomainInfo(u32),
}

impl DomainQuery {
    /// The query for `XENVER_version` value `xen_version`, whose domctl
    /// interface version is `iface`.
    pub fn for_version(xen_version: u32, iface: u32) -> DomainQuery {
        if (xen_version >> 16, xen_version & 0xffff) >= GET_DOMAIN_STATE_SINCE {
            DomainQuery::GetDomainState
        } else {
            DomainQuery::GetDomainInfo(iface)
        }
    }

    /// The current info of `domid`.
    pub fn info(self, domid: u16) -> DomainInfo {
        match self {
            DomainQuery::GetDomainState => {
                let r = get_domain_state(domid).map(|(_, s)| s);
                if let Err(e) = r {
                    log::debug!("get_domain_state({}): {}", domid, e);
                }
                classify_state(r.as_ref().map_err(|e| *e))
            }
            DomainQuery::GetDomainInfo(iface) => {
                let r = getdomaininfo(iface, domid);
                if let Err(e) = r {
                    log::debug!("getdomaininfo({}): {}", domid, e);
                }
                DomainInfo::of_state(classify(domid, r.as_ref().map_err(|e| *e)))
            }
        }
    }

    /// One domain whose state changed since it was last reported.
    pub fn next_changed(self) -> ChangedDomain {
        match self {
            DomainQuery::GetDomainState => {
                let r = get_domain_state(DOMID_INVALID);
                if let Err(e) = r {
                    if e != ENOENT {
                        log::warn!(
                            "get_domain_state(DOMID_INVALID): {}; scanning domains instead",
                            e
                        );
                    }
                }
                classify_changed(r)
            }
            DomainQuery::GetDomainInfo(_) => ChangedDomain::Unsupported,
        }
    }
}

/// `XEN_DOMCTL_INTERFACE_VERSION` per Xen release `(major, minor)`.
const DOMCTL_VERSIONS: [((u32, u32), u32); 9] = [
    ((4, 14), 0x12),
    ((4, 15), 0x13),
    ((4, 16), 0x14),
    ((4, 17), 0x15),
    ((4, 18), 0x16),
    ((4, 19), 0x17),
    ((4, 20), 0x17),
    ((4, 21), 0x17),
    ((4, 22), 0x18),
];

/// The domctl interface version for `XENVER_version` value `xen_version`,
/// and whether it is a guess (a release newer than the table: the newest
/// known version is used; older than the table: `None`).
pub fn interface_version(xen_version: u32) -> Option<(u32, bool)> {
    let v = (xen_version >> 16, xen_version & 0xffff);
    if let Some(&(_, iface)) = DOMCTL_VERSIONS.iter().find(|(rel, _)| *rel == v) {
        return Some((iface, false));
    }
    let &(newest, iface) = DOMCTL_VERSIONS.last()?;
    (v > newest).then_some((iface, true))
}

/// What a getdomaininfo result says about `domid`.
pub fn classify(domid: u16, result: Result<&XenDomctlGetdomaininfo, Errno>) -> DomainState {
    match result {
        // ≤ 4.17 answers for the next existing domain when `domid` is gone.
        Ok(info) if info.domain != domid => DomainState::Gone,
        // `XEN_DOMINF_dying` is only set once the domain is dead.
        Ok(info) if info.flags & XEN_DOMINF_DYING != 0 => DomainState::Dead,
        Ok(info) if info.flags & XEN_DOMINF_SHUTDOWN != 0 => DomainState::Shutdown,
        Ok(_) => DomainState::Running,
        Err(e) if e == ESRCH || e == EPERM => DomainState::Gone,
        // Anything else (e.g. `-EACCES` for a wrong interface version) says
        // nothing about the domain: keep it rather than drop a live guest.
        Err(_) => DomainState::Running,
    }
}

/// What a `get_domain_state` result says about one domain.
pub fn classify_state(result: Result<&XenDomctlGetDomainState, Errno>) -> DomainInfo {
    let s = match result {
        Ok(s) if s.state & GETDOMSTATE_STATE_EXIST != 0 => s,
        // A vanished domain's state is all zero.
        Ok(_) => return DomainInfo::GONE,
        Err(e) if e == ESRCH || e == EPERM => return DomainInfo::GONE,
        // As for getdomaininfo: an error that says nothing about the domain
        // keeps it.
        Err(_) => return DomainInfo::of_state(DomainState::Running),
    };
    let state = if s.state & GETDOMSTATE_STATE_DEAD != 0 {
        DomainState::Dead
    } else if s.state & GETDOMSTATE_STATE_DYING != 0 {
        DomainState::Dying
    } else if s.state & GETDOMSTATE_STATE_SHUTDOWN != 0 {
        DomainState::Shutdown
    } else {
        DomainState::Running
    };
    let caps = DomainCaps {
        control: s.caps & GETDOMSTATE_CAP_CONTROL != 0,
        hardware: s.caps & GETDOMSTATE_CAP_HARDWARE != 0,
        xenstore: s.caps & GETDOMSTATE_CAP_XENSTORE != 0,
    };
    DomainInfo { state, unique_id: Some(s.unique_id), caps }
}

/// What a `get_domain_state(DOMID_INVALID)` result reports: `-ENOENT`
/// ends the drain; any other error (e.g. `-EACCES` when we are not the
/// `VIRQ_DOM_EXC` handler) makes the engine fall back to scanning.
pub fn classify_changed(result: Result<(u16, XenDomctlGetDomainState), Errno>) -> ChangedDomain {
    match result {
        Ok((domid, s)) => ChangedDomain::Changed(DomId(domid), classify_state(Ok(&s))),
        Err(e) if e == ENOENT => ChangedDomain::Done,
        Err(_) => ChangedDomain::Unsupported,
    }
}

/// Issues domctl `cmd` with interface version `iface` for `domid`, with
/// `u` as its argument union; returns the domctl as Xen left it.
fn issue<U>(cmd: u32, iface: u32, domid: u16, u: U) -> Result<XenDomctl<U>, Errno> {
    const { assert!(core::mem::size_of::<U>() == 128, "a domctl's union is 128 bytes") };
    let mut d = XenDomctl { cmd, interface_version: iface, domain: domid, pad: [0; 3], u };
    // SAFETY: the domctl hypercall reads and writes one `xen_domctl`, and
    // `U` fills its whole union (checked above) with plain data.
    check(unsafe { hypercall(nr::DOMCTL, &mut d as *mut _ as usize, 0, 0, 0, 0) })?;
    Ok(d)
}

/// Issues `XEN_DOMCTL_get_domain_state` for `domid` (or `DOMID_INVALID`);
/// returns the domid Xen answered for and its state.
pub fn get_domain_state(domid: u16) -> Result<(u16, XenDomctlGetDomainState), Errno> {
    let u = XenDomctlStateUnion::default();
    let d = issue(XEN_DOMCTL_GET_DOMAIN_STATE, XEN_DOMCTL_STABLE_INTERFACE, domid, u)?;
    Ok((d.domain, d.u.get_domain_state))
}

/// The argument union of a domctl that uses getdomaininfo's layout, or
/// none of the union.
fn info_union() -> XenDomctlUnion {
    XenDomctlUnion { getdomaininfo: XenDomctlGetdomaininfo::default(), pad: [0; 2] }
}

/// Issues `XEN_DOMCTL_getdomaininfo` for `domid` with interface `iface`.
pub fn getdomaininfo(iface: u32, domid: u16) -> Result<XenDomctlGetdomaininfo, Errno> {
    Ok(issue(XEN_DOMCTL_GETDOMAININFO, iface, domid, info_union())?.u.getdomaininfo)
}

/// The `SHUTDOWN_*` code of a domain whose shutdown has completed.
pub fn shutdown_code(info: &XenDomctlGetdomaininfo) -> Option<u32> {
    (info.flags & XEN_DOMINF_SHUTDOWN != 0)
        .then_some((info.flags >> XEN_DOMINF_SHUTDOWN_SHIFT) & 0xff)
}

/// Issues `XEN_DOMCTL_destroydomain` for `domid` with interface `iface`:
/// Xen tears the domain down (a preemptible operation it continues by
/// itself); the domain stays a zombie until the last mapping of its pages
/// is gone.
pub fn destroy_domain(iface: u32, domid: u16) -> Result<(), Errno> {
    issue(XEN_DOMCTL_DESTROYDOMAIN, iface, domid, info_union()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(interface_version(4 << 16 | 17), Some((0x15, false)));
        assert_eq!(interface_version(4 << 16 | 18), Some((0x16, false)));
        assert_eq!(interface_version(4 << 16 | 19), Some((0x17, false)));
        assert_eq!(interface_version(4 << 16 | 21), Some((0x17, false)));
        assert_eq!(interface_version(4 << 16 | 22), Some((0x18, false)));
        assert_eq!(interface_version(4 << 16 | 23), Some((0x18, true)));
        assert_eq!(interface_version(5 << 16), Some((0x18, true)));
        assert_eq!(interface_version(4 << 16 | 13), None);
    }

    #[test]
    fn query_by_version() {
        assert_eq!(DomainQuery::for_version(4 << 16 | 17, 0x15), DomainQuery::GetDomainInfo(0x15));
        assert_eq!(DomainQuery::for_version(4 << 16 | 20, 0x17), DomainQuery::GetDomainInfo(0x17));
        assert_eq!(DomainQuery::for_version(4 << 16 | 21, 0x17), DomainQuery::GetDomainState);
        assert_eq!(DomainQuery::for_version(5 << 16, 0x18), DomainQuery::GetDomainState);
    }

    #[test]
    fn domain_state_classification() {
        let mut s = XenDomctlGetDomainState {
            state: GETDOMSTATE_STATE_EXIST,
            caps: GETDOMSTATE_CAP_CONTROL | GETDOMSTATE_CAP_HARDWARE,
            pad0: 0,
            unique_id: 0x1234,
        };
        let i = classify_state(Ok(&s));
        assert_eq!(i.state, DomainState::Running);
        assert_eq!(i.unique_id, Some(0x1234));
        assert_eq!(i.caps, DomainCaps { control: true, hardware: true, xenstore: false });
        s.state |= GETDOMSTATE_STATE_SHUTDOWN;
        assert_eq!(classify_state(Ok(&s)).state, DomainState::Shutdown);
        s.state |= GETDOMSTATE_STATE_DYING;
        assert_eq!(classify_state(Ok(&s)).state, DomainState::Dying);
        s.state |= GETDOMSTATE_STATE_DEAD;
        assert_eq!(classify_state(Ok(&s)).state, DomainState::Dead);
        s.caps = GETDOMSTATE_CAP_XENSTORE;
        assert!(classify_state(Ok(&s)).caps.xenstore);
        let gone = XenDomctlGetDomainState::default();
        assert_eq!(classify_state(Ok(&gone)), DomainInfo::GONE, "vanished: all zero");
        assert_eq!(classify_state(Err(ESRCH)), DomainInfo::GONE);
        assert_eq!(classify_state(Err(EPERM)), DomainInfo::GONE, "4.22 answers the stub EPERM");
        assert_eq!(classify_state(Err(Errno(13))).state, DomainState::Running);
    }

    #[test]
    fn changed_domain_poll() {
        let s = XenDomctlGetDomainState {
            state: GETDOMSTATE_STATE_EXIST,
            caps: 0,
            pad0: 0,
            unique_id: 9,
        };
        match classify_changed(Ok((3, s))) {
            ChangedDomain::Changed(DomId(3), i) => assert_eq!(i.unique_id, Some(9)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            classify_changed(Ok((4, XenDomctlGetDomainState::default()))),
            ChangedDomain::Changed(DomId(4), DomainInfo::GONE)
        );
        assert_eq!(classify_changed(Err(ENOENT)), ChangedDomain::Done);
        assert_eq!(classify_changed(Err(Errno(13))), ChangedDomain::Unsupported);
    }

    #[test]
    fn classification() {
        let mut i = XenDomctlGetdomaininfo { domain: 5, ..Default::default() };
        assert_eq!(classify(5, Ok(&i)), DomainState::Running);
        assert_eq!(classify(4, Ok(&i)), DomainState::Gone, "4.17 returns the next domain");
        i.flags = XEN_DOMINF_SHUTDOWN;
        assert_eq!(classify(5, Ok(&i)), DomainState::Shutdown);
        i.flags |= XEN_DOMINF_DYING;
        assert_eq!(classify(5, Ok(&i)), DomainState::Dead);
        assert_eq!(classify(5, Err(Errno(3))), DomainState::Gone);
        assert_eq!(classify(5, Err(Errno(1))), DomainState::Gone);
        assert_eq!(classify(5, Err(Errno(13))), DomainState::Running, "EACCES is our problem");
    }

    #[test]
    fn shutdown_codes() {
        let mut i = XenDomctlGetdomaininfo { domain: 5, flags: 3 << 16, ..Default::default() };
        assert_eq!(shutdown_code(&i), None, "a code without the shutdown flag is not final");
        i.flags |= XEN_DOMINF_SHUTDOWN;
        assert_eq!(shutdown_code(&i), Some(3));
        i.flags = XEN_DOMINF_SHUTDOWN | XEN_DOMINF_DYING;
        assert_eq!(shutdown_code(&i), Some(0));
    }
}
