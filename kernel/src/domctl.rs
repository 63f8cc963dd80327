//! Domain liveness through `XEN_DOMCTL_getdomaininfo`, the only domctl the
//! xenstore domain may issue under the default XSM policy.
//!
//! Its `interface_version` must equal the running hypervisor's
//! `XEN_DOMCTL_INTERFACE_VERSION` (else `-EACCES`), so the kernel reads
//! `XENVER_version` at boot and picks it from the table below
//! (xen-abi §0; point releases keep their branch's number). The result
//! semantics changed over time (xen-abi §5.2): up to 4.17 a missing domid
//! yields the next higher domain (so the returned id must be compared),
//! 4.18–4.21 return `-ESRCH`, 4.22+ `-EPERM` for the stub; all mean "gone".
//! `XEN_DOMINF_dying` means the domain is already dead.

use store::DomainState;

use crate::abi::domctl::*;
use crate::abi::xen::hypercall as nr;
use crate::hypercall::hypercall;
use crate::xen::{check, Errno};

/// `-ESRCH`: no such domain (4.18+).
const ESRCH: Errno = Errno(3);
/// `-EPERM`: what 4.22+ answers the stub for a missing domain.
const EPERM: Errno = Errno(1);

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

/// Issues `XEN_DOMCTL_getdomaininfo` for `domid` with interface `iface`.
pub fn getdomaininfo(iface: u32, domid: u16) -> Result<XenDomctlGetdomaininfo, Errno> {
    let mut d = XenDomctl {
        cmd: XEN_DOMCTL_GETDOMAININFO,
        interface_version: iface,
        domain: domid,
        pad: [0; 3],
        u: XenDomctlUnion { getdomaininfo: XenDomctlGetdomaininfo::default(), pad: [0; 2] },
    };
    // SAFETY: the domctl hypercall reads and writes one `xen_domctl`.
    check(unsafe { hypercall(nr::DOMCTL, &mut d as *mut _ as usize, 0, 0, 0, 0) })?;
    Ok(d.u.getdomaininfo)
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
}
