//! `public/domctl.h`: the two domctls the xenstore domain may issue,
//! `getdomaininfo` (versioned) and `get_domain_state` (stable, 4.21+),
//! and `destroydomain`, which needs the control capability.

use super::xen::DomidT;
use super::{assert_offset, assert_size};

/// `XEN_DOMCTL_destroydomain` (versioned, no arguments).
pub const XEN_DOMCTL_DESTROYDOMAIN: u32 = 2;
/// `XEN_DOMCTL_getdomaininfo`.
pub const XEN_DOMCTL_GETDOMAININFO: u32 = 5;

/// `XEN_DOMCTL_get_domain_state` (Xen 4.21+): a stable domctl, issued
/// with `interface_version` 0.
pub const XEN_DOMCTL_GET_DOMAIN_STATE: u32 = 90;
/// The `interface_version` of stable domctls.
pub const XEN_DOMCTL_STABLE_INTERFACE: u32 = 0;

/// `XEN_DOMCTL_GETDOMSTATE_STATE_EXIST`: the domain exists.
pub const GETDOMSTATE_STATE_EXIST: u16 = 0x1;
/// `XEN_DOMCTL_GETDOMSTATE_STATE_SHUTDOWN`: its shutdown has completed.
pub const GETDOMSTATE_STATE_SHUTDOWN: u16 = 0x2;
/// `XEN_DOMCTL_GETDOMSTATE_STATE_DYING`: it is being destroyed.
pub const GETDOMSTATE_STATE_DYING: u16 = 0x4;
/// `XEN_DOMCTL_GETDOMSTATE_STATE_DEAD`: it is dead.
pub const GETDOMSTATE_STATE_DEAD: u16 = 0x8;
/// `XEN_DOMCTL_GETDOMSTATE_CAP_CONTROL`: the control domain.
pub const GETDOMSTATE_CAP_CONTROL: u16 = 0x1;
/// `XEN_DOMCTL_GETDOMSTATE_CAP_HARDWARE`: the hardware domain.
pub const GETDOMSTATE_CAP_HARDWARE: u16 = 0x2;
/// `XEN_DOMCTL_GETDOMSTATE_CAP_XENSTORE`: the xenstore domain.
pub const GETDOMSTATE_CAP_XENSTORE: u16 = 0x4;

/// `struct xen_domctl_get_domain_state` (4.21+, stable).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenDomctlGetDomainState {
    /// OUT: `GETDOMSTATE_STATE_*` bits (0 for a domain that vanished).
    pub state: u16,
    /// OUT: `GETDOMSTATE_CAP_*` bits.
    pub caps: u16,
    /// IN: must be 0 (`-EINVAL` otherwise).
    pub pad0: u32,
    /// OUT: per-boot unique id of the domain, never reused.
    pub unique_id: u64,
}
assert_size!(XenDomctlGetDomainState, 16);
assert_offset!(XenDomctlGetDomainState, unique_id, 8);

/// `XEN_DOMINF_dying`: set once the domain is dead (`DOMDYING_dead`).
pub const XEN_DOMINF_DYING: u32 = 1 << 0;
/// `XEN_DOMINF_shutdown`: shutdown has completed.
pub const XEN_DOMINF_SHUTDOWN: u32 = 1 << 2;
/// `XEN_DOMINF_shutdownshift`: where the `SHUTDOWN_*` code sits in
/// `flags` (8 bits, `XEN_DOMINF_shutdownmask`).
pub const XEN_DOMINF_SHUTDOWN_SHIFT: u32 = 16;

/// `struct xen_domctl_getdomaininfo` (same layout 4.16 … 4.22).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenDomctlGetdomaininfo {
    /// OUT: the domain described (≤ 4.17: maybe the next higher one).
    pub domain: DomidT,
    /// Padding.
    pub pad1: u16,
    /// OUT: `XEN_DOMINF_*`.
    pub flags: u32,
    /// OUT: pages in use.
    pub tot_pages: u64,
    /// OUT: page limit.
    pub max_pages: u64,
    /// OUT.
    pub outstanding_pages: u64,
    /// OUT.
    pub shr_pages: u64,
    /// OUT.
    pub paged_pages: u64,
    /// OUT.
    pub shared_info_frame: u64,
    /// OUT.
    pub cpu_time: u64,
    /// OUT.
    pub nr_online_vcpus: u32,
    /// OUT.
    pub max_vcpu_id: u32,
    /// OUT.
    pub ssidref: u32,
    /// OUT: the domain's UUID.
    pub handle: [u8; 16],
    /// OUT.
    pub cpupool: u32,
    /// OUT.
    pub gpaddr_bits: u8,
    /// Padding.
    pub pad2: [u8; 7],
    /// OUT: `struct xen_arch_domainconfig` (x86: two u32).
    pub arch_config: [u32; 2],
}
assert_size!(XenDomctlGetdomaininfo, 112);
assert_offset!(XenDomctlGetdomaininfo, handle, 76);
assert_offset!(XenDomctlGetdomaininfo, arch_config, 104);

/// `struct xen_domctl`, with its union as one 8-aligned 128-byte member
/// type `U` (one per command we issue).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenDomctl<U> {
    /// IN: `XEN_DOMCTL_*`.
    pub cmd: u32,
    /// IN: the hypervisor's `XEN_DOMCTL_INTERFACE_VERSION`, or
    /// [`XEN_DOMCTL_STABLE_INTERFACE`] for a stable command.
    pub interface_version: u32,
    /// IN/OUT: the target domain.
    pub domain: DomidT,
    /// Padding.
    pub pad: [u16; 3],
    /// The per-command union (128 bytes).
    pub u: U,
}
assert_size!(XenDomctl<XenDomctlUnion>, 144);
assert_offset!(XenDomctl<XenDomctlUnion>, u, 16);
assert_size!(XenDomctl<XenDomctlStateUnion>, 144);
assert_offset!(XenDomctl<XenDomctlStateUnion>, u, 16);

/// The `u` union of `struct xen_domctl`, as `u.getdomaininfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenDomctlUnion {
    /// `u.getdomaininfo`.
    pub getdomaininfo: XenDomctlGetdomaininfo,
    /// The rest of the 128-byte union.
    pub pad: [u64; 2],
}
assert_size!(XenDomctlUnion, 128);

/// The `u` union of `struct xen_domctl`, as `u.get_domain_state`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenDomctlStateUnion {
    /// `u.get_domain_state`.
    pub get_domain_state: XenDomctlGetDomainState,
    /// The rest of the 128-byte union.
    pub pad: [u64; 14],
}
assert_size!(XenDomctlStateUnion, 128);
