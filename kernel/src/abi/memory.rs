//! `public/memory.h`.

use super::assert_size;
use super::xen::DomidT;

/// `XENMEM_current_reservation`: pages currently allocated to a domain.
pub const XENMEM_CURRENT_RESERVATION: usize = 3;
/// `XENMEM_memory_map`: our e820, as set by the domain builder.
pub const XENMEM_MEMORY_MAP: usize = 9;
/// `XENMEM_add_to_physmap`.
pub const XENMEM_ADD_TO_PHYSMAP: usize = 7;
/// `XENMAPSPACE_shared_info`.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// `XENMAPSPACE_grant_table`: frame `idx` of our own grant table.
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;

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

/// `struct xen_memory_map`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenMemoryMap {
    /// IN: entries the buffer holds; OUT: entries written.
    pub nr_entries: u32,
    /// Padding.
    pub pad: u32,
    /// IN: the buffer of [`E820Entry`].
    pub buffer: u64,
}
assert_size!(XenMemoryMap, 16);

/// `struct e820entry` (packed, as in Xen's `e820.h`).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct E820Entry {
    /// Base address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// E820 type (1 = RAM).
    pub ty: u32,
}
assert_size!(E820Entry, 20);
