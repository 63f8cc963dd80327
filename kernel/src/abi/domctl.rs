//! `public/domctl.h`: the one domctl the xenstore domain may issue.

use super::xen::DomidT;
use super::{assert_offset, assert_size};

/// `XEN_DOMCTL_getdomaininfo`.
pub const XEN_DOMCTL_GETDOMAININFO: u32 = 5;

/// `XEN_DOMINF_dying`: set once the domain is dead (`DOMDYING_dead`).
pub const XEN_DOMINF_DYING: u32 = 1 << 0;
/// `XEN_DOMINF_shutdown`: shutdown has completed.
pub const XEN_DOMINF_SHUTDOWN: u32 = 1 << 2;

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

/// `struct xen_domctl`, with its union as raw 8-aligned bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenDomctl {
    /// IN: `XEN_DOMCTL_*`.
    pub cmd: u32,
    /// IN: must equal the hypervisor's `XEN_DOMCTL_INTERFACE_VERSION`.
    pub interface_version: u32,
    /// IN/OUT: the target domain.
    pub domain: DomidT,
    /// Padding.
    pub pad: [u16; 3],
    /// The per-command union (128 bytes).
    pub u: XenDomctlUnion,
}
assert_size!(XenDomctl, 144);
assert_offset!(XenDomctl, u, 16);

/// The `u` union of `struct xen_domctl`, reduced to the member we use.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenDomctlUnion {
    /// `u.getdomaininfo`.
    pub getdomaininfo: XenDomctlGetdomaininfo,
    /// The rest of the 128-byte union.
    pub pad: [u64; 2],
}
assert_size!(XenDomctlUnion, 128);
