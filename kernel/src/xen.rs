//! Small typed wrappers over single hypercalls: version, HVM parameters,
//! reservation, `add_to_physmap`, shutdown, and the Xen errno type.

use crate::abi::hvm::{XenHvmParam, HVMOP_GET_PARAM, HVMOP_SET_PARAM};
use crate::abi::memory::{
    E820Entry, XenAddToPhysmap, XenMemoryMap, XENMEM_ADD_TO_PHYSMAP, XENMEM_CURRENT_RESERVATION,
    XENMEM_MEMORY_MAP,
};
use crate::abi::sched::{SchedShutdown, SCHEDOP_SHUTDOWN};
use crate::abi::start_info::HvmMemmapTableEntry;
use crate::abi::xen::{hypercall as nr, DOMID_SELF, XENVER_VERSION};
use crate::hypercall::{hypercall, hypercall_with};

/// A negative Xen errno returned by a hypercall (`public/errno.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `ENOSYS`: the hypercall or operation does not exist.
    pub const ENOSYS: Errno = Errno(38);
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Xen errno {}", self.0)
    }
}

/// Turns a hypercall's RAX into a result: negative values are errnos.
pub fn check(ret: isize) -> Result<usize, Errno> {
    if ret < 0 {
        Err(Errno(i32::try_from(ret.unsigned_abs()).unwrap_or(i32::MAX)))
    } else {
        Ok(ret.unsigned_abs())
    }
}

/// `XENVER_version`: `(major << 16) | minor`.
pub fn version() -> u32 {
    // SAFETY: XENVER_version takes a NULL argument and touches no memory.
    let ret = unsafe { hypercall(nr::XEN_VERSION, XENVER_VERSION, 0, 0, 0, 0) };
    u32::try_from(ret).unwrap_or(0)
}

/// Reads one of our own HVM parameters.
pub fn hvm_get_param(index: u32) -> Result<u64, Errno> {
    hvm_get_param_of(DOMID_SELF, index)
}

/// Reads an HVM parameter of `domid` (another domain's needs the control
/// capability, or an XSM policy allowing it).
pub fn hvm_get_param_of(domid: u16, index: u32) -> Result<u64, Errno> {
    let mut p = XenHvmParam { domid, pad: 0, index, value: 0 };
    // SAFETY: HVMOP_get_param reads and writes exactly one `xen_hvm_param`.
    check(unsafe { hypercall_with(nr::HVM_OP, HVMOP_GET_PARAM, &mut p) })?;
    Ok(p.value)
}

/// Sets one of our own HVM parameters.
pub fn hvm_set_param(index: u32, value: u64) -> Result<(), Errno> {
    let mut p = XenHvmParam { domid: DOMID_SELF, pad: 0, index, value };
    // SAFETY: HVMOP_set_param reads exactly one `xen_hvm_param`; the callers
    // only set parameters that do not affect memory (the callback vector).
    check(unsafe { hypercall_with(nr::HVM_OP, HVMOP_SET_PARAM, &mut p) }).map(|_| ())
}

/// `XENMEM_current_reservation` for ourselves: pages allocated to us.
pub fn current_reservation() -> Result<u64, Errno> {
    let mut domid: u16 = DOMID_SELF;
    // SAFETY: the argument is a `domid_t` Xen only reads.
    let ret = unsafe { hypercall_with(nr::MEMORY_OP, XENMEM_CURRENT_RESERVATION, &mut domid) };
    check(ret).map(|n| n as u64)
}

/// `XENMEM_memory_map`: our memory map, for start infos without one
/// (libxenguest 4.17 leaves `memmap_entries` at 0). Returns the entries
/// written into `out`.
pub fn memory_map(out: &mut [HvmMemmapTableEntry]) -> Result<usize, Errno> {
    let mut raw = [E820Entry::default(); 16];
    let mut m = XenMemoryMap {
        nr_entries: u32::try_from(raw.len()).unwrap_or(0),
        pad: 0,
        buffer: raw.as_mut_ptr() as u64,
    };
    // SAFETY: `m` is the `xen_memory_map` XENMEM_memory_map takes; its
    // buffer is `raw`, writable for `nr_entries` (16) E820 entries, of which
    // Xen writes at most that many, and which outlives the call.
    check(unsafe { hypercall_with(nr::MEMORY_OP, XENMEM_MEMORY_MAP, &mut m) })?;
    let n = usize::try_from(m.nr_entries).unwrap_or(0).min(raw.len()).min(out.len());
    for (o, e) in out.iter_mut().zip(raw.iter()).take(n) {
        *o = HvmMemmapTableEntry { addr: e.addr, size: e.size, ty: e.ty, reserved: 0 };
    }
    Ok(n)
}

/// `XENMEM_add_to_physmap` of index `idx` of `space` at `gfn` in our physmap.
///
/// # Safety
///
/// `gfn` must not hold RAM the kernel uses (it would be replaced), nor any
/// other mapping still in use.
pub unsafe fn add_to_physmap(space: u32, idx: u64, gfn: u64) -> Result<(), Errno> {
    let mut a = XenAddToPhysmap { domid: DOMID_SELF, size: 0, space, idx, gpfn: gfn };
    // SAFETY: the struct is the one XENMEM_add_to_physmap reads; the caller
    // vouches that replacing `gfn` is harmless.
    check(unsafe { hypercall_with(nr::MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, &mut a) }).map(|_| ())
}

/// `SCHEDOP_shutdown` with `reason`; does not return.
pub fn shutdown(reason: u32) -> ! {
    let mut s = SchedShutdown { reason };
    loop {
        // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown`; the domain is
        // torn down afterwards, so nothing the kernel relies on changes.
        unsafe { hypercall_with(nr::SCHED_OP, SCHEDOP_SHUTDOWN, &mut s) };
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_results_are_errnos() {
        assert_eq!(check(-22), Err(Errno(22)));
        assert_eq!(check(0), Ok(0));
        assert_eq!(check(7), Ok(7));
    }
}
