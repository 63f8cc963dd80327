//! Byte storage for node records: many small byte strings addressed by
//! 4-byte handles instead of 8-byte pointers, without a per-record
//! allocator header.
//!
//! Records live in fixed chunks of [`CHUNK_BYTES`], allocated in units of
//! [`UNIT_BYTES`]. A handle is the record's unit index counted over all
//! chunks, so `u32` handles reach 16 GiB. New records are carved from the
//! end of the last chunk (its unused tail is zeroed memory the platform
//! has not yet had to back with pages); freed records go to a free list
//! of their exact unit count, whose link is kept in the record's first
//! four bytes, and are reused first.
//!
//! Exact-size free lists alone can be made to grow without bound
//! (fragment one size, then allocate another), so the owner compacts the
//! arena (copies every live record into a fresh arena, see
//! [`Arena::should_compact`]) once free space outweighs live records:
//! memory stays within about twice the live bytes, and the copying costs
//! amortised O(1) per freed byte.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Bytes per allocation unit (and the alignment of every record).
pub const UNIT_BYTES: usize = 4;

/// Bytes per chunk. A record never spans chunks, so this bounds the size
/// of one record.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// Units per chunk.
const CHUNK_UNITS: u32 = 16 * 1024 / 4;
const _: () = assert!(CHUNK_UNITS as usize * UNIT_BYTES == CHUNK_BYTES);
const CHUNK_UNITS_USIZE: usize = CHUNK_BYTES / UNIT_BYTES;

/// The largest record, in units.
const MAX_UNITS: usize = CHUNK_BYTES / UNIT_BYTES;

/// Free space below which the arena is never compacted.
const COMPACT_MIN_FREE_BYTES: usize = CHUNK_BYTES;

/// End of a free list.
const NONE: u32 = u32::MAX;

/// A handle to a record in an [`Arena`].
pub type Handle = u32;

/// Chunked byte storage with 4-byte handles.
pub struct Arena {
    /// The chunks, each `CHUNK_BYTES` long.
    chunks: Vec<Box<[u8]>>,
    /// The next never-used unit (a handle).
    top: u32,
    /// Heads of the free lists, indexed by unit count.
    free: Vec<Handle>,
    /// Bytes held by live records (whole units).
    live_bytes: usize,
    /// Bytes on the free lists.
    free_bytes: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

/// Units needed for `len` bytes (at least one, to hold a free-list link).
fn units(len: usize) -> usize {
    len.div_ceil(UNIT_BYTES).max(1)
}

impl Arena {
    /// An empty arena (allocates nothing until the first record).
    pub fn new() -> Arena {
        Arena { chunks: Vec::new(), top: 0, free: Vec::new(), live_bytes: 0, free_bytes: 0 }
    }

    /// Bytes held by live records.
    #[cfg(test)]
    pub fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// Bytes of freed records not yet reused.
    #[cfg(test)]
    pub fn free_bytes(&self) -> usize {
        self.free_bytes
    }

    /// Whether free space outweighs live records enough that the owner
    /// should copy the live records into a fresh arena.
    pub fn should_compact(&self) -> bool {
        self.free_bytes > COMPACT_MIN_FREE_BYTES && self.free_bytes > self.live_bytes
    }

    /// Allocates `len` bytes (zeroed, or left over from a freed record:
    /// the caller writes them all). `None` if `len` exceeds a chunk or
    /// the handles are exhausted.
    pub fn alloc(&mut self, len: usize) -> Option<Handle> {
        let n = units(len);
        if n > MAX_UNITS {
            return None;
        }
        let bytes = n.saturating_mul(UNIT_BYTES);
        if let Some(h) = self.pop_free(n) {
            self.free_bytes = self.free_bytes.saturating_sub(bytes);
            self.live_bytes = self.live_bytes.saturating_add(bytes);
            return Some(h);
        }
        let n32 = u32::try_from(n).ok()?;
        let cap = self.chunks.len().saturating_mul(CHUNK_UNITS as usize);
        let top = self.top as usize;
        if top < cap && cap.saturating_sub(top) < n {
            // The tail of the last chunk is too short: keep it on its
            // free list and start the next chunk.
            let tail = cap.saturating_sub(top);
            self.push_free(self.top, tail);
            self.free_bytes = self.free_bytes.saturating_add(tail.saturating_mul(UNIT_BYTES));
            self.top = u32::try_from(cap).ok()?;
        }
        if self.top as usize >= cap {
            self.chunks.push(vec![0u8; CHUNK_BYTES].into_boxed_slice());
        }
        let h = self.top;
        self.top = self.top.checked_add(n32)?;
        self.live_bytes = self.live_bytes.saturating_add(bytes);
        Some(h)
    }

    /// The heap that allocating records of `lens` bytes in turn would take
    /// at once: the chunks [`Arena::alloc`] would add, carving each record
    /// from the end of the arena as it does when no free record fits (free
    /// lists could only lower it).
    pub fn growth_for(&self, lens: impl IntoIterator<Item = usize>) -> usize {
        let mut cap = self.chunks.len().saturating_mul(CHUNK_UNITS_USIZE);
        let mut top = self.top as usize;
        let mut chunks = 0usize;
        for n in lens.into_iter().map(units).filter(|&n| n <= MAX_UNITS) {
            if top < cap && cap.saturating_sub(top) < n {
                top = cap;
            }
            if top >= cap {
                cap = cap.saturating_add(CHUNK_UNITS_USIZE);
                chunks = chunks.saturating_add(1);
            }
            top = top.saturating_add(n);
        }
        chunks.saturating_mul(CHUNK_BYTES)
    }

    /// Returns the `len`-byte record `h` to its free list.
    pub fn free(&mut self, h: Handle, len: usize) {
        let n = units(len);
        let bytes = n.saturating_mul(UNIT_BYTES);
        self.push_free(h, n);
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
        self.free_bytes = self.free_bytes.saturating_add(bytes);
    }

    /// Whether a record of `old` bytes can hold `new` bytes in place.
    pub fn fits(old: usize, new: usize) -> bool {
        units(old) == units(new)
    }

    /// The `len` bytes of record `h` (empty if out of range).
    pub fn get(&self, h: Handle, len: usize) -> &[u8] {
        let (chunk, off) = locate(h);
        self.chunks.get(chunk).and_then(|c| c.get(off..off.saturating_add(len))).unwrap_or(&[])
    }

    /// Everything from record `h` to the end of its chunk (a record's
    /// length is known only after reading its header).
    pub fn tail(&self, h: Handle) -> &[u8] {
        let (chunk, off) = locate(h);
        self.chunks.get(chunk).and_then(|c| c.get(off..)).unwrap_or(&[])
    }

    /// Everything from record `h` to the end of its chunk, mutably.
    pub fn tail_mut(&mut self, h: Handle) -> &mut [u8] {
        let (chunk, off) = locate(h);
        match self.chunks.get_mut(chunk).and_then(|c| c.get_mut(off..)) {
            Some(s) => s,
            None => &mut [],
        }
    }

    /// The `len` bytes of record `h`, mutably (empty if out of range).
    pub fn get_mut(&mut self, h: Handle, len: usize) -> &mut [u8] {
        let (chunk, off) = locate(h);
        match self.chunks.get_mut(chunk).and_then(|c| c.get_mut(off..off.saturating_add(len))) {
            Some(s) => s,
            None => &mut [],
        }
    }

    /// Compacts in place: slides the live records `live` (every live
    /// handle, ascending) towards the start of the arena, keeping their
    /// order, and writes each one's new handle over its old one. Emptied
    /// chunks go back to the allocator, so compaction needs no memory
    /// beyond `live` itself (a copy into a fresh arena would need the
    /// live bytes again). `len_of` reads a record's length from its
    /// bytes.
    pub fn slide(&mut self, live: &mut [Handle], len_of: impl Fn(&[u8]) -> usize) {
        let mut cursor = 0usize;
        // Chunk tails skipped because a record did not fit (listed free
        // only at the end: they may still hold records not yet moved).
        let mut tails: Vec<(usize, usize)> = Vec::new();
        let mut live_units = 0usize;
        for h in live.iter_mut() {
            let n = units(len_of(self.tail(*h)));
            let used = cursor % CHUNK_UNITS_USIZE;
            if used.saturating_add(n) > CHUNK_UNITS_USIZE {
                let rest = CHUNK_UNITS_USIZE.saturating_sub(used);
                tails.push((cursor, rest));
                cursor = cursor.saturating_add(rest);
            }
            let Ok(new) = u32::try_from(cursor) else { return };
            self.move_record(*h, new, n.saturating_mul(UNIT_BYTES));
            *h = new;
            cursor = cursor.saturating_add(n);
            live_units = live_units.saturating_add(n);
        }
        self.top = u32::try_from(cursor).unwrap_or(self.top);
        self.free.clear();
        self.free_bytes = 0;
        self.live_bytes = live_units.saturating_mul(UNIT_BYTES);
        self.chunks.truncate(cursor.div_ceil(CHUNK_UNITS_USIZE));
        self.chunks.shrink_to_fit();
        self.free.shrink_to_fit();
        for (at, n) in tails {
            if let Ok(h) = u32::try_from(at) {
                self.push_free(h, n);
                self.free_bytes = self.free_bytes.saturating_add(n.saturating_mul(UNIT_BYTES));
            }
        }
    }

    /// Copies `bytes` bytes of record `from` to `to`, which is not after
    /// it (overlap allowed).
    fn move_record(&mut self, from: Handle, to: Handle, bytes: usize) {
        let ((fc, fo), (tc, tof)) = (locate(from), locate(to));
        let src = fo..fo.saturating_add(bytes);
        if fc == tc {
            if let Some(c) = self.chunks.get_mut(fc) {
                if src.end <= c.len() && tof.saturating_add(bytes) <= c.len() {
                    c.copy_within(src, tof);
                }
            }
            return;
        }
        let split = fc.min(self.chunks.len());
        let (lower, upper) = self.chunks.split_at_mut(split);
        let dst = lower.get_mut(tc).and_then(|c| c.get_mut(tof..tof.saturating_add(bytes)));
        let src = upper.first().and_then(|c| c.get(src));
        if let (Some(d), Some(s)) = (dst, src) {
            d.copy_from_slice(s);
        }
    }

    fn push_free(&mut self, h: Handle, n: usize) {
        if self.free.len() <= n {
            self.free.resize(n.saturating_add(1), NONE);
        }
        let head = self.free.get(n).copied().unwrap_or(NONE);
        if let Some(link) = self.get_mut(h, 4).get_mut(..4) {
            link.copy_from_slice(&head.to_le_bytes());
        }
        if let Some(slot) = self.free.get_mut(n) {
            *slot = h;
        }
    }

    fn pop_free(&mut self, n: usize) -> Option<Handle> {
        let h = self.free.get(n).copied().filter(|&h| h != NONE)?;
        let next = self.get(h, 4).try_into().map_or(NONE, u32::from_le_bytes);
        if let Some(slot) = self.free.get_mut(n) {
            *slot = next;
        }
        Some(h)
    }
}

/// Chunk index and byte offset of handle `h`.
fn locate(h: Handle) -> (usize, usize) {
    let chunk = (h / CHUNK_UNITS) as usize;
    let off = ((h % CHUNK_UNITS) as usize).saturating_mul(UNIT_BYTES);
    (chunk, off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_the_chunks_the_allocations_add() {
        let mut a = Arena::new();
        // Sizes that leave chunk tails too short for the next record.
        let lens: Vec<usize> = (0..200).map(|i| 1 + (i * 977) % 6000).collect();
        for start in [0, 3, 50] {
            for &len in &lens[..start] {
                a.alloc(len).unwrap();
            }
            let before = a.chunks.len();
            let predicted = a.growth_for(lens[start..].iter().copied());
            for &len in &lens[start..] {
                a.alloc(len).unwrap();
            }
            assert_eq!(predicted, (a.chunks.len() - before) * CHUNK_BYTES, "from {start}");
        }
    }

    #[test]
    fn records_round_trip_and_freed_space_is_reused() {
        let mut a = Arena::new();
        let x = a.alloc(10).unwrap();
        a.get_mut(x, 10).copy_from_slice(b"0123456789");
        let y = a.alloc(3).unwrap();
        a.get_mut(y, 3).copy_from_slice(b"abc");
        assert_eq!(a.get(x, 10), b"0123456789");
        assert_eq!(a.get(y, 3), b"abc");
        assert_eq!(a.live_bytes(), 12 + 4);
        a.free(x, 10);
        assert_eq!(a.free_bytes(), 12);
        // Same unit count: the freed record comes back.
        assert_eq!(a.alloc(9), Some(x));
        assert_eq!(a.free_bytes(), 0);
        assert!(Arena::fits(9, 12));
        assert!(!Arena::fits(12, 13));
    }

    #[test]
    fn records_never_span_chunks() {
        let mut a = Arena::new();
        let big = CHUNK_BYTES - 8;
        let first = a.alloc(big).unwrap();
        let second = a.alloc(16).unwrap();
        assert_eq!(locate(first).0, 0);
        assert_eq!(locate(second), (1, 0));
        // The 8-byte tail of chunk 0 went to a free list.
        assert_eq!(a.free_bytes(), 8);
        assert_eq!(a.alloc(8).map(|h| locate(h).0), Some(0));
        assert_eq!(a.alloc(CHUNK_BYTES + 1), None);
        assert_eq!(a.get(u32::MAX, 4), b"");
    }

    #[test]
    fn sliding_keeps_live_records_and_gives_chunks_back() {
        let mut a = Arena::new();
        // Records whose first byte is their length.
        let mut hs: Vec<(Handle, u8)> = Vec::new();
        for i in 0..40_000u32 {
            let len = 5 + (i % 200) as u8;
            let h = a.alloc(len as usize).unwrap();
            a.get_mut(h, len as usize).fill(len);
            hs.push((h, len));
        }
        let chunks_before = a.chunks.len();
        let (keep, gone): (Vec<_>, Vec<_>) = hs.iter().partition(|(h, _)| h % 7 == 0);
        for (h, len) in &gone {
            a.free(*h, *len as usize);
        }
        let mut live: Vec<Handle> = keep.iter().map(|(h, _)| *h).collect();
        a.slide(&mut live, |b| b.first().copied().unwrap_or(0) as usize);
        for (new, (_, len)) in live.iter().zip(&keep) {
            assert!(a.get(*new, *len as usize).iter().all(|b| b == len));
        }
        assert!(a.chunks.len() * 5 < chunks_before, "{} of {chunks_before}", a.chunks.len());
        // New records go after the live ones, not over them.
        let h = a.alloc(300).unwrap();
        a.get_mut(h, 300).fill(0);
        for (new, (_, len)) in live.iter().zip(&keep) {
            assert!(a.get(*new, *len as usize).iter().all(|b| b == len));
        }
    }

    #[test]
    fn compaction_is_advised_only_when_free_space_dominates() {
        let mut a = Arena::new();
        let hs: Vec<Handle> = (0..100_000).map(|_| a.alloc(8).unwrap()).collect();
        assert!(!a.should_compact());
        for h in &hs[..60_000] {
            a.free(*h, 8);
        }
        assert!(a.should_compact());
    }
}
