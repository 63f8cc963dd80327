//! `public/memory.h`.

use super::assert_size;
use super::xen::DomidT;

/// `XENMEM_current_reservation`: pages currently allocated to a domain.
pub const XENMEM_CURRENT_RESERVATION: usize = 3;
/// `XENMEM_add_to_physmap`.
pub const XENMEM_ADD_TO_PHYSMAP: usize = 7;
/// `XENMAPSPACE_shared_info`.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;

/// `struct xen_add_to_physmap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenAddToPhysmap {
    /// IN: `DOMID_SELF`.
    pub domid: DomidT,
    /// IN: only for `gmfn_range`.
    pub size: u16,
    /// IN: `XENMAPSPACE_*`.
    pub space: u32,
    /// IN: index into the space.
    pub idx: u64,
    /// IN: GFN where the frame appears.
    pub gpfn: u64,
}
assert_size!(XenAddToPhysmap, 24);
