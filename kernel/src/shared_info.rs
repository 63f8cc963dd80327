//! The `shared_info` page: event-channel bitmaps and vCPU 0's time and
//! upcall state, written by Xen at any time.
//!
//! A PVH guest maps it with `XENMEM_add_to_physmap(XENMAPSPACE_shared_info)`
//! at a GFN of its choice; we use slot 0 of the mapping window, a hole, so
//! no RAM page is lost. It is only ever accessed through atomics and
//! volatile reads of raw pointers, never through references to the struct.

use core::sync::atomic::{AtomicU64, AtomicU8};

use crate::abi::memory::XENMAPSPACE_SHARED_INFO;
use crate::abi::xen::{SharedInfo, VcpuInfo, VcpuTimeInfo, BITS_PER_EVTCHN_WORD};
use crate::xen::{self, Errno};

/// A mapped shared-info page.
#[derive(Clone, Copy)]
pub struct Shared {
    /// The page (identity-mapped guest-physical address).
    page: *mut SharedInfo,
}

// SAFETY: `Shared` is a pointer to the hypervisor-owned page; all accesses
// are atomic or volatile, and the kernel has a single vCPU.
unsafe impl Send for Shared {}
// SAFETY: as above; no access creates a reference to non-atomic data.
unsafe impl Sync for Shared {}

impl Shared {
    /// Maps the shared-info page at `gpa`.
    ///
    /// # Safety
    ///
    /// `gpa` must be a page-aligned hole in our physmap, identity-mapped by
    /// the page tables and used for nothing else, for the kernel's lifetime.
    pub unsafe fn map(gpa: u64) -> Result<Shared, Errno> {
        // SAFETY: per the caller the GFN is an unused hole.
        unsafe { xen::add_to_physmap(XENMAPSPACE_SHARED_INFO, 0, gpa / 4096)? };
        Ok(Shared { page: gpa as *mut SharedInfo })
    }

    /// vCPU 0's `vcpu_info`.
    fn vcpu0(&self) -> *mut VcpuInfo {
        // SAFETY: in-bounds field projection of the mapped page (no reference).
        unsafe { core::ptr::addr_of_mut!((*self.page).vcpu_info).cast::<VcpuInfo>() }
    }

    /// The address of vCPU 0's `evtchn_upcall_pending` byte.
    pub fn upcall_pending_addr(&self) -> usize {
        self.vcpu0() as usize
    }

    /// vCPU 0's `evtchn_upcall_pending`, as an atomic.
    pub fn upcall_pending(&self) -> &AtomicU8 {
        // SAFETY: the byte lives as long as the mapping (forever); Xen writes
        // it with atomic operations, we only access it atomically.
        unsafe { AtomicU8::from_ptr(self.vcpu0().cast::<u8>()) }
    }

    /// vCPU 0's `evtchn_pending_sel`.
    pub fn pending_sel(&self) -> &AtomicU64 {
        // SAFETY: 8-aligned field of the mapping, only accessed atomically.
        unsafe { AtomicU64::from_ptr(core::ptr::addr_of_mut!((*self.vcpu0()).evtchn_pending_sel)) }
    }

    /// The `evtchn_pending` bitmap.
    pub fn pending(&self) -> &[AtomicU64; BITS_PER_EVTCHN_WORD] {
        // SAFETY: `[u64; 64]` and `[AtomicU64; 64]` have the same layout; the
        // words are only accessed atomically, by us and by Xen.
        unsafe { &*core::ptr::addr_of_mut!((*self.page).evtchn_pending).cast() }
    }

    /// The `evtchn_mask` bitmap.
    pub fn mask(&self) -> &[AtomicU64; BITS_PER_EVTCHN_WORD] {
        // SAFETY: as for `pending`.
        unsafe { &*core::ptr::addr_of_mut!((*self.page).evtchn_mask).cast() }
    }

    /// A consistent snapshot of vCPU 0's pvclock record (seqlock read).
    pub fn time_info(&self) -> VcpuTimeInfo {
        // SAFETY: in-bounds projection of the mapping.
        let p = unsafe { core::ptr::addr_of!((*self.vcpu0()).time) };
        loop {
            // SAFETY: `p` points into the mapping; volatile reads of a
            // record Xen may be rewriting, validated by the version below.
            let v1 = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*p).version)) };
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            // SAFETY: as above.
            let t = unsafe { core::ptr::read_volatile(p) };
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            // SAFETY: as above.
            let v2 = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*p).version)) };
            if v1 == v2 && v1 & 1 == 0 {
                return t;
            }
            core::hint::spin_loop();
        }
    }
}
