//! The new kernel's side of the hand-over region: found through the
//! start info's module (`start_info::BootInfo::handover`), kept out of
//! the heap until the state is restored, then given to it.

use core::ops::Range;

use super::le::u64_at;
use super::record::MAGIC;
use crate::memmap::PAGE_SIZE;

/// A hand-over region left by the previous kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The whole region (page aligned): start info, record.
    pub region: Range<u64>,
    /// The record (the module).
    record: Range<u64>,
}

impl Incoming {
    /// The region holding the record module at `paddr` of `size` bytes,
    /// if it is this kernel's record and lies inside its region.
    ///
    /// # Safety
    ///
    /// The module must be identity-mapped RAM (the start info says so).
    pub unsafe fn find(paddr: u64, size: u64) -> Option<Incoming> {
        let mut head = [0u8; 24];
        if size < head.len() as u64 {
            return None;
        }
        // SAFETY: the first 24 bytes of the module, per the caller RAM.
        unsafe { core::ptr::copy_nonoverlapping(paddr as *const u8, head.as_mut_ptr(), 24) };
        if head.get(..8) != Some(&MAGIC[..]) {
            return None;
        }
        let region = u64_at(&head, 8)?..u64_at(&head, 16)?;
        let record = paddr..paddr.checked_add(size)?;
        let aligned = region.start % PAGE_SIZE == 0 && region.end % PAGE_SIZE == 0;
        let inside = region.start <= record.start && record.end <= region.end;
        (aligned && inside).then_some(Incoming { region, record })
    }

    /// The region's size in bytes (withheld from the heap until the state
    /// is restored).
    pub fn region_len(&self) -> usize {
        usize::try_from(self.region.end.saturating_sub(self.region.start)).unwrap_or(0)
    }

    /// The record's bytes.
    ///
    /// # Safety
    ///
    /// The region must not have been given to the heap
    /// ([`crate::heap::extend`]) while the slice is used.
    pub unsafe fn record(&self) -> &[u8] {
        let len = usize::try_from(self.record.end.saturating_sub(self.record.start)).unwrap_or(0);
        // SAFETY: `find` checked the record lies in the region, which the
        // heap does not cover (per the caller) and nothing writes.
        unsafe { core::slice::from_raw_parts(self.record.start as *const u8, len) }
    }
}
