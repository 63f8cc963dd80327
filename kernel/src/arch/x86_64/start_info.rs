//! Reading `struct hvm_start_info` (PVH boot ABI, `public/arch-x86/hvm/start_info.h`).
//!
//! The builder places the structure, the command line and the memory map in
//! RAM after the kernel image; they are copied into fixed-size buffers here,
//! before the heap (which may cover that RAM) exists.

use heapless::{String, Vec};

use super::handover::record::MODULE_TAG;
use crate::abi::start_info::{
    HvmMemmapTableEntry, HvmModlistEntry, HvmStartInfo, XEN_HVM_START_MAGIC_VALUE,
};

/// Longest command line kept; longer ones are truncated (logged). The C
/// launcher passes `--event N` plus the admin's `--param` string.
pub const MAX_CMDLINE_BYTES: usize = 1024;
/// Most memory-map entries kept (`init-xenstore-domain` passes 2 or 3).
pub const MAX_MEMMAP_ENTRIES: usize = 16;

/// What the kernel keeps of the start info.
#[derive(Debug, Default)]
pub struct BootInfo {
    /// The command line (ASCII; non-ASCII bytes are replaced by `?`).
    pub cmdline: String<MAX_CMDLINE_BYTES>,
    /// True if the command line was longer than [`MAX_CMDLINE_BYTES`].
    pub cmdline_truncated: bool,
    /// The memory map.
    pub memmap: Vec<HvmMemmapTableEntry, MAX_MEMMAP_ENTRIES>,
    /// End (exclusive) of the highest start-info data (struct, cmdline,
    /// memory map, module list): the heap must start above it.
    pub data_end: u64,
    /// The live-update hand-over module (address and size), if the
    /// previous kernel started this one ([`crate::handover`]).
    pub handover: Option<(u64, u64)>,
}

/// Why the start info is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartInfoError {
    /// The magic value is wrong: not started as a PVH guest.
    BadMagic(u32),
}

/// Copies the start info at guest-physical address `paddr`.
///
/// # Safety
///
/// `paddr` must be the value the PVH entry received in `%ebx`, with the low
/// 4 GiB identity-mapped, so the structure and everything it points to is
/// readable RAM.
pub unsafe fn read(paddr: u64) -> Result<BootInfo, StartInfoError> {
    // SAFETY: per the caller, `paddr` is the builder's start info, which is
    // identity-mapped RAM that nothing else writes while we copy it.
    // The ABI does not promise its alignment, hence the unaligned read.
    let si: HvmStartInfo = unsafe { core::ptr::read_unaligned(paddr as *const HvmStartInfo) };
    if si.magic != XEN_HVM_START_MAGIC_VALUE {
        return Err(StartInfoError::BadMagic(si.magic));
    }
    let mut info = BootInfo {
        data_end: paddr.saturating_add(core::mem::size_of::<HvmStartInfo>() as u64),
        ..BootInfo::default()
    };
    if si.cmdline_paddr != 0 {
        // The address of each byte, up to the NUL; a line running past the
        // end of the address space is cut there.
        let mut at = si.cmdline_paddr;
        loop {
            // SAFETY: the command line is a NUL-terminated string in RAM the
            // builder wrote; we stop at the NUL, at MAX_CMDLINE_BYTES, or
            // where the address would wrap.
            let b = unsafe { core::ptr::read_volatile(at as *const u8) };
            if b == 0 {
                break;
            }
            if info.cmdline.push(if b.is_ascii() { char::from(b) } else { '?' }).is_err() {
                info.cmdline_truncated = true;
                break;
            }
            let Some(next) = at.checked_add(1) else {
                info.cmdline_truncated = true;
                break;
            };
            at = next;
        }
        info.data_end = info.data_end.max(at.saturating_add(1));
    }
    if si.version >= 1 && si.memmap_paddr != 0 {
        let n = usize::try_from(si.memmap_entries).unwrap_or(0).min(MAX_MEMMAP_ENTRIES);
        let entry_bytes = core::mem::size_of::<HvmMemmapTableEntry>() as u64;
        let mut at = si.memmap_paddr;
        for _ in 0..n {
            let Some(end) = at.checked_add(entry_bytes) else { break };
            // SAFETY: an entry `< memmap_entries` of the builder's table, in
            // RAM below `end` (no wrap); read unaligned, as for the start
            // info itself.
            let e = unsafe { core::ptr::read_unaligned(at as *const HvmMemmapTableEntry) };
            // Cannot fail: at most MAX_MEMMAP_ENTRIES iterations.
            let _ = info.memmap.push(e);
            info.data_end = info.data_end.max(end);
            at = end;
        }
    }
    if si.modlist_paddr != 0 {
        // Only the hand-over module is used, but the list must not end up
        // in the heap.
        let list_bytes = u64::from(si.nr_modules).saturating_mul(32);
        info.data_end = info.data_end.max(si.modlist_paddr.saturating_add(list_bytes));
        // SAFETY: the builder's (or the previous kernel's) module list,
        // in RAM, `nr_modules` entries long.
        info.handover = unsafe { handover_module(si.modlist_paddr, si.nr_modules) };
    }
    Ok(info)
}

/// The module whose command line is [`MODULE_TAG`], among the first few.
///
/// # Safety
///
/// `list` must hold `n` module entries in identity-mapped RAM, each with
/// a NUL-terminated command line or none.
unsafe fn handover_module(list: u64, n: u32) -> Option<(u64, u64)> {
    let entry_bytes = core::mem::size_of::<HvmModlistEntry>() as u64;
    (0..u64::from(n.min(4))).find_map(|i| {
        let at = list.checked_add(i.checked_mul(entry_bytes)?)?;
        // SAFETY: entry `i < n` of the list, read unaligned.
        let m = unsafe { core::ptr::read_unaligned(at as *const HvmModlistEntry) };
        if m.cmdline_paddr == 0 {
            return None;
        }
        // At most the tag's length is read, stopping at the first byte
        // that differs (the line's NUL included).
        let tagged = MODULE_TAG.iter().enumerate().all(|(k, &want)| {
            let p = m.cmdline_paddr.saturating_add(k as u64);
            // SAFETY: a byte of the NUL-terminated line, not past its NUL.
            let got = unsafe { core::ptr::read_volatile(p as *const u8) };
            got == want
        });
        tagged.then_some((m.paddr, m.size))
    })
}
