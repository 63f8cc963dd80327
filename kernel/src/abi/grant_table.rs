//! `public/grant_table.h`.

use super::xen::DomidT;
use super::{assert_offset, assert_size};

/// `GNTTABOP_map_grant_ref`.
pub const GNTTABOP_MAP_GRANT_REF: usize = 0;
/// `GNTTABOP_unmap_grant_ref`.
pub const GNTTABOP_UNMAP_GRANT_REF: usize = 1;
/// `GNTTABOP_query_size`.
pub const GNTTABOP_QUERY_SIZE: usize = 6;
/// `GNTMAP_host_map`: the only mapping flag a translated guest may use.
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// `GNTTAB_RESERVED_XENSTORE`: every guest grants its ring page as ref 1.
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;
/// `GNTST_okay`.
pub const GNTST_OKAY: i16 = 0;
/// `GNTST_permission_denied`: the mapping is not allowed (e.g. by XSM).
pub const GNTST_PERMISSION_DENIED: i16 = -8;

/// `grant_ref_t`.
pub type GrantRef = u32;
/// `grant_handle_t`.
pub type GrantHandle = u32;

/// `struct gnttab_map_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabMapGrantRef {
    /// IN: guest-physical address where the page appears (PVH).
    pub host_addr: u64,
    /// IN: `GNTMAP_*`.
    pub flags: u32,
    /// IN: grant reference.
    pub ref_: GrantRef,
    /// IN: granting domain.
    pub dom: DomidT,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: handle for the unmap.
    pub handle: GrantHandle,
    /// OUT: bus address (unused).
    pub dev_bus_addr: u64,
}
assert_size!(GnttabMapGrantRef, 32);
assert_offset!(GnttabMapGrantRef, status, 18);
assert_offset!(GnttabMapGrantRef, handle, 20);

/// `struct gnttab_unmap_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabUnmapGrantRef {
    /// IN: the address given to the map.
    pub host_addr: u64,
    /// IN: 0 (ignore).
    pub dev_bus_addr: u64,
    /// IN: the map's handle.
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding.
    pub pad: u16,
}
assert_size!(GnttabUnmapGrantRef, 24);
assert_offset!(GnttabUnmapGrantRef, status, 20);

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabQuerySize {
    /// IN: `DOMID_SELF`.
    pub dom: DomidT,
    /// Padding.
    pub pad: u16,
    /// OUT: frames of the table now.
    pub nr_frames: u32,
    /// OUT: frames it may grow to.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
}
assert_size!(GnttabQuerySize, 16);

/// `GTF_permit_access` in a v1 entry's flags: the grantee may map the frame.
pub const GTF_PERMIT_ACCESS: u16 = 1;

/// `struct grant_entry_v1`: one entry of our own grant table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GrantEntryV1 {
    /// `GTF_*`, written last.
    pub flags: u16,
    /// The domain allowed to map the frame.
    pub domid: DomidT,
    /// The frame (GFN).
    pub frame: u32,
}
assert_size!(GrantEntryV1, 8);
