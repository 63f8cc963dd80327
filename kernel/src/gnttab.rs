//! Grant mapping of other domains' pages (`public/grant_table.h`).
//!
//! A PVH caller passes a guest-physical `host_addr` and only
//! `GNTMAP_host_map`; Xen puts the foreign frame into our p2m at that GFN.
//! The GFN must be a hole (see [`crate::memmap`]). The stub needs no grant
//! table of its own.

use crate::abi::grant_table::*;
use crate::abi::xen::hypercall as nr;
use crate::hypercall::hypercall;
use crate::xen::check;

/// Why a grant operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The hypercall itself failed (negative errno).
    Hypercall(i32),
    /// Xen processed the entry and refused it (`GNTST_*`).
    Status(i16),
}

/// Maps `domid`'s grant `gref` at guest-physical `gpa`; returns the handle.
///
/// # Safety
///
/// `gpa` must be a page-aligned hole of our physmap used for nothing else
/// until [`unmap`] is called with the returned handle.
pub unsafe fn map(domid: u16, gref: GrantRef, gpa: u64) -> Result<GrantHandle, GrantError> {
    let mut op = GnttabMapGrantRef {
        host_addr: gpa,
        flags: GNTMAP_HOST_MAP,
        ref_: gref,
        dom: domid,
        ..GnttabMapGrantRef::default()
    };
    // SAFETY: GNTTABOP_map_grant_ref with count 1 reads and writes `op`; the
    // caller vouches that the target GFN is an unused hole.
    let ret = unsafe {
        hypercall(nr::GRANT_TABLE_OP, GNTTABOP_MAP_GRANT_REF, &mut op as *mut _ as usize, 1, 0, 0)
    };
    check(ret).map_err(|e| GrantError::Hypercall(e.0))?;
    if op.status != GNTST_OKAY {
        return Err(GrantError::Status(op.status));
    }
    Ok(op.handle)
}

/// Unmaps what [`map`] mapped at `gpa` under `handle`.
///
/// # Safety
///
/// Nothing may access the page at `gpa` afterwards (it becomes a hole).
pub unsafe fn unmap(gpa: u64, handle: GrantHandle) -> Result<(), GrantError> {
    let mut op =
        GnttabUnmapGrantRef { host_addr: gpa, dev_bus_addr: 0, handle, ..Default::default() };
    // SAFETY: GNTTABOP_unmap_grant_ref with count 1 reads and writes `op`.
    let ret = unsafe {
        hypercall(nr::GRANT_TABLE_OP, GNTTABOP_UNMAP_GRANT_REF, &mut op as *mut _ as usize, 1, 0, 0)
    };
    check(ret).map_err(|e| GrantError::Hypercall(e.0))?;
    if op.status != GNTST_OKAY {
        return Err(GrantError::Status(op.status));
    }
    Ok(())
}
