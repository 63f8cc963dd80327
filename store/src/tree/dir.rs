//! Children lists: the children of one node, in creation order (what
//! `XS_DIRECTORY` lists, as C keeps them) and by name (for lookups).
//!
//! One vector holds both: the first half is the children's record handles
//! in creation order, the second half their positions in the first half,
//! sorted by name. Finding a child is a binary search (no hash, so nothing
//! for a guest to flood), appending one is two `memmove`s of at most the
//! list, and removing one also renumbers the positions after it: O(n)
//! like C's `memmove` of the children buffer. Four bytes per child per
//! half, no per-child allocation.
//!
//! `XS_DIRECTORY_PART` addresses the list by byte offset into its
//! `name\0name\0…` form. So that a client paging through a large
//! directory costs O(n) in all rather than O(n) per call, the vector also
//! ends with a third part, the byte offset of every [`MARK_EVERY`]th child
//! (4 bytes per 64 children): [`Dir::seek`] finds the child holding any
//! offset with a binary search and at most [`MARK_EVERY`] names.
//!
//! Lists are kept in [`Dirs`], a slab addressed by 4-byte ids, and also
//! carry the node's generation (only directories need one, for
//! `XS_DIRECTORY_PART`) and the byte length of the `name\0…` list (which
//! counts toward the node's size as C computes it).

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::arena::Handle;

/// A children list's id.
pub type DirId = u32;

/// A children list keeps the byte offset of every this many children.
pub const MARK_EVERY: usize = 64;

/// The children of one node.
#[derive(Debug, Default)]
pub struct Dir {
    /// `[handles in creation order | positions sorted by name | marks]`,
    /// mark `k` being the byte offset of child `(k + 1) * MARK_EVERY` in
    /// the `name\0…` list.
    kids: Vec<Handle>,
    /// Generation of the node's last change.
    pub generation: u64,
    /// Bytes of the `name\0name\0…` list.
    names_bytes: u32,
    /// Number of children.
    len: u32,
}

/// Where a child is in a [`Dir`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// Index in creation order.
    pub order: usize,
    /// Index in name order.
    pub sorted: usize,
}

/// The number of marks a list of `n` children keeps.
fn marks_for(n: usize) -> usize {
    n.saturating_sub(1) / MARK_EVERY
}

/// `x` as a stored offset (lists never reach 4 GiB: the heap is smaller).
fn as_u32(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

impl Dir {
    /// Number of children.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no children.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the `name\0name\0…` list.
    pub fn names_bytes(&self) -> usize {
        self.names_bytes as usize
    }

    /// The children's handles in creation order.
    pub fn order(&self) -> &[Handle] {
        self.kids.get(..self.len()).unwrap_or(&[])
    }

    /// The children's handles in creation order, mutably (to move
    /// records).
    pub fn order_mut(&mut self) -> &mut [Handle] {
        let n = self.len();
        self.kids.get_mut(..n).unwrap_or(&mut [])
    }

    fn sorted(&self) -> &[Handle] {
        let n = self.len();
        self.kids.get(n..n.saturating_mul(2)).unwrap_or(&[])
    }

    fn marks(&self) -> &[u32] {
        self.kids.get(self.len().saturating_mul(2)..).unwrap_or(&[])
    }

    /// The child whose bytes in the `name\0…` list hold byte `off`, and
    /// the offset where its name starts: `(len(), names_bytes())` past the
    /// end. A binary search over the marks, then at most [`MARK_EVERY`]
    /// names.
    pub fn seek<'a>(&self, off: usize, name_of: impl Fn(Handle) -> &'a [u8]) -> (usize, usize) {
        let marks = self.marks();
        let k = marks.partition_point(|&m| m as usize <= off);
        let (mut i, mut start) = match k.checked_sub(1).and_then(|j| marks.get(j)) {
            Some(&m) => (k.saturating_mul(MARK_EVERY), m as usize),
            None => (0, 0),
        };
        while let Some(&h) = self.order().get(i) {
            let end = start.saturating_add(name_of(h).len()).saturating_add(1);
            if end > off {
                break;
            }
            (i, start) = (i.saturating_add(1), end);
        }
        (i, start)
    }

    /// Finds child `name`, given the name of each handle: `Ok` with its
    /// position, or `Err` with the name-order index to insert it at.
    pub fn find<'a>(
        &self,
        name: &[u8],
        name_of: impl Fn(Handle) -> &'a [u8],
    ) -> Result<Pos, usize> {
        let order = self.order();
        let found = self.sorted().binary_search_by(|&pos| {
            order.get(pos as usize).map_or(Ordering::Less, |&h| name_of(h).cmp(name))
        });
        match found {
            Ok(sorted) => {
                let order = self.sorted().get(sorted).map_or(0, |&p| p as usize);
                Ok(Pos { order, sorted })
            }
            Err(at) => Err(at),
        }
    }

    /// Whether a child `name` belongs at name-order index `at` (a hint
    /// from an earlier [`Dir::find`]): it sorts after the child before
    /// `at` and before the child at `at`. Two comparisons instead of a
    /// search.
    pub fn fits_at<'a>(
        &self,
        at: usize,
        name: &[u8],
        name_of: impl Fn(Handle) -> &'a [u8],
    ) -> bool {
        let (order, sorted) = (self.order(), self.sorted());
        let name_at =
            |i: usize| sorted.get(i).and_then(|&p| order.get(p as usize)).map(|&h| name_of(h));
        if at > self.len() {
            return false;
        }
        let after_prev = match at.checked_sub(1) {
            None => true,
            Some(prev) => name_at(prev).is_some_and(|n| n < name),
        };
        let before_next = at == self.len() || name_at(at).is_some_and(|n| name < n);
        after_prev && before_next
    }

    /// The heap one more child may allocate: the vector's next block when
    /// it is full (it doubles, and the old block is freed only after the
    /// copy), else nothing.
    pub fn insert_growth(&self) -> usize {
        let (len, cap) = (self.kids.len(), self.kids.capacity());
        if len.saturating_add(3) <= cap {
            return 0;
        }
        let next = cap.saturating_mul(2).max(len.saturating_add(3)).max(4);
        next.saturating_mul(core::mem::size_of::<Handle>())
    }

    /// Appends child `h`, named `name_len` bytes, at name-order index
    /// `sorted` (from [`Dir::find`]). `None` if the index is out of range
    /// or the list is full.
    pub fn insert(&mut self, sorted: usize, h: Handle, name_len: usize) -> Option<()> {
        let n = self.len();
        let at = u32::try_from(n).ok()?;
        let len = at.checked_add(1)?;
        if sorted > n {
            return None;
        }
        self.kids.try_reserve(3).ok()?;
        self.kids.insert(n, h);
        self.kids.insert(n.checked_add(1)?.checked_add(sorted)?, at);
        if n > 0 && n.is_multiple_of(MARK_EVERY) {
            // The new child starts where the list ended.
            self.kids.push(self.names_bytes);
        }
        self.len = len;
        self.names_bytes = as_u32(self.names_bytes().saturating_add(name_len).saturating_add(1));
        Some(())
    }

    /// Removes the child at `pos`, named `name_len` bytes, given the name
    /// of each other handle (the marks after it move; the removed child's
    /// record may already be gone).
    pub fn remove<'a>(&mut self, pos: Pos, name_len: usize, name_of: impl Fn(Handle) -> &'a [u8]) {
        let n = self.len();
        if pos.order >= n || pos.sorted >= n {
            return;
        }
        // The child at a marked index from `pos.order` on becomes the one
        // after it, which starts one name later less the removed name.
        let gone = name_len.saturating_add(1);
        for k in 0..marks_for(n) {
            let i = k.saturating_add(1).saturating_mul(MARK_EVERY);
            if i < pos.order {
                continue;
            }
            let here = match self.order().get(i) {
                Some(&h) if i != pos.order => name_of(h).len().saturating_add(1),
                _ => gone,
            };
            if let Some(m) = self.kids.get_mut(n.saturating_mul(2).saturating_add(k)) {
                *m = as_u32((*m as usize).saturating_add(here).saturating_sub(gone));
            }
        }
        self.kids.remove(n.saturating_add(pos.sorted));
        self.kids.remove(pos.order);
        let m = n.saturating_sub(1);
        for p in self.kids.get_mut(m..m.saturating_mul(2)).unwrap_or(&mut []) {
            if *p as usize > pos.order {
                *p = p.saturating_sub(1);
            }
        }
        self.kids.truncate(m.saturating_mul(2).saturating_add(marks_for(m)));
        self.len = as_u32(m);
        self.names_bytes = as_u32(self.names_bytes().saturating_sub(gone));
        if self.kids.capacity() > self.kids.len().saturating_mul(4).max(16) {
            self.kids.shrink_to(self.kids.len().saturating_mul(2));
        }
    }

    /// Replaces the creation order with `order` (the same children,
    /// permuted), given the name of each handle.
    pub fn reorder<'a>(&mut self, order: &[Handle], name_of: impl Fn(Handle) -> &'a [u8]) {
        if order.len() != self.len() {
            return;
        }
        let mut sorted: Vec<u32> = Vec::with_capacity(order.len());
        sorted.extend((0..order.len()).filter_map(|i| u32::try_from(i).ok()));
        sorted.sort_unstable_by(|&a, &b| {
            let name = |i: u32| order.get(i as usize).map_or(&[][..], |&h| name_of(h));
            name(a).cmp(name(b))
        });
        self.kids.clear();
        self.kids.extend_from_slice(order);
        self.kids.extend_from_slice(&sorted);
        let mut off = 0usize;
        for (i, &h) in order.iter().enumerate() {
            if i > 0 && i.is_multiple_of(MARK_EVERY) {
                self.kids.push(as_u32(off));
            }
            off = off.saturating_add(name_of(h).len()).saturating_add(1);
        }
    }
}

/// Children lists per chunk of a [`Dirs`] slab (about 10 KiB each).
const DIRS_PER_CHUNK: usize = 256;

/// A slab of children lists, in fixed chunks: growing it allocates one
/// chunk, never a copy of all the lists (a doubling vector would need
/// three times their size at once, past any per-request headroom).
///
/// Freed slots are reused first, but the slab only grows: a guest that
/// made a deep chain (one list per node, up to its `nodes` quota) would
/// leave its chunks behind for good. So once a chunk's worth of slots is
/// free and free slots outnumber the live lists ([`Dirs::should_compact`]),
/// the owner renumbers the lists into the lowest ids
/// ([`Dirs::renumbered`], [`Dirs::compact`]), rewriting the ids its
/// records hold, and the chunks left empty go back to the allocator.
/// Renumbering needs no memory (the ids follow from the sorted free list);
/// the owner's walk over every node comes at most once per
/// [`DIRS_PER_CHUNK`] frees.
#[derive(Default)]
pub struct Dirs {
    chunks: Vec<Vec<Dir>>,
    len: usize,
    free: Vec<DirId>,
}

impl Dirs {
    /// A new empty list with `generation`. `None` when ids are exhausted
    /// or a chunk cannot be allocated.
    pub fn alloc(&mut self, generation: u64) -> Option<DirId> {
        let dir = Dir { generation, ..Dir::default() };
        if let Some(id) = self.free.pop() {
            if let Some(slot) = self.get_mut(id) {
                *slot = dir;
                return Some(id);
            }
        }
        let id = DirId::try_from(self.len).ok()?;
        if self.len.is_multiple_of(DIRS_PER_CHUNK) {
            let mut chunk = Vec::new();
            chunk.try_reserve_exact(DIRS_PER_CHUNK).ok()?;
            self.chunks.try_reserve(1).ok()?;
            self.chunks.push(chunk);
        }
        self.chunks.last_mut()?.push(dir);
        self.len = self.len.saturating_add(1);
        Some(id)
    }

    /// Frees list `id` (its children are gone).
    pub fn free(&mut self, id: DirId) {
        if let Some(d) = self.get_mut(id) {
            *d = Dir::default();
            self.free.push(id);
        }
    }

    /// List `id`.
    pub fn get(&self, id: DirId) -> Option<&Dir> {
        let i = id as usize;
        self.chunks.get(i / DIRS_PER_CHUNK)?.get(i % DIRS_PER_CHUNK)
    }

    /// List `id`, mutably.
    pub fn get_mut(&mut self, id: DirId) -> Option<&mut Dir> {
        let i = id as usize;
        self.chunks.get_mut(i / DIRS_PER_CHUNK)?.get_mut(i % DIRS_PER_CHUNK)
    }

    /// Every list (free ones are empty), mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Dir> {
        self.chunks.iter_mut().flat_map(|c| c.iter_mut())
    }

    /// Every list (free ones are empty).
    pub fn iter(&self) -> impl Iterator<Item = &Dir> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Slots in the slab (live and free), and its chunks.
    #[cfg(test)]
    pub fn slots(&self) -> (usize, usize) {
        (self.len, self.chunks.len())
    }

    /// Whether a chunk's worth of slots is free and free slots outnumber
    /// the live lists: compacting then gives at least one chunk back.
    pub fn should_compact(&self) -> bool {
        self.free.len() >= DIRS_PER_CHUNK && self.free.len() > self.len / 2
    }

    /// Starts a compaction: after this, [`Dirs::renumbered`] tells the
    /// id each live list will have, until [`Dirs::compact`].
    pub fn sort_free(&mut self) {
        self.free.sort_unstable();
        self.free.dedup();
    }

    /// The id live list `id` gets from [`Dirs::compact`] (after
    /// [`Dirs::sort_free`]): `id` less the free slots below it.
    pub fn renumbered(&self, id: DirId) -> DirId {
        let below = self.free.partition_point(|&f| f < id);
        id.saturating_sub(DirId::try_from(below).unwrap_or(DirId::MAX))
    }

    /// Moves every live list into the lowest slots, in order (list `id`
    /// becomes [`Dirs::renumbered`]`(id)`), and gives the chunks left
    /// empty back. [`Dirs::sort_free`] must have been called.
    pub fn compact(&mut self) {
        let mut free = core::mem::take(&mut self.free).into_iter().peekable();
        let mut next: DirId = 0;
        for id in 0..DirId::try_from(self.len).unwrap_or(DirId::MAX) {
            if free.next_if(|&f| f == id).is_some() {
                continue;
            }
            // Slots below `next` hold the lists already moved; slot `next`
            // is free (or `id` itself).
            if next != id {
                let dir = self.get_mut(id).map(core::mem::take).unwrap_or_default();
                if let Some(slot) = self.get_mut(next) {
                    *slot = dir;
                }
            }
            next = next.saturating_add(1);
        }
        self.len = next as usize;
        self.chunks.truncate(self.len.div_ceil(DIRS_PER_CHUNK));
        if let Some(last) = self.chunks.last_mut() {
            // The last chunk keeps its capacity: it is filled again first.
            last.truncate((self.len.saturating_sub(1) % DIRS_PER_CHUNK).saturating_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles are indexes into a name table in these tests.
    fn names() -> Vec<&'static [u8]> {
        vec![b"b", b"ab", b"a", b"c"]
    }

    fn add(d: &mut Dir, names: &[&'static [u8]], h: Handle) {
        let name = names[h as usize];
        let at = d.find(name, |h| names[h as usize]).unwrap_err();
        d.insert(at, h, name.len()).unwrap();
    }

    #[test]
    fn an_insertion_hint_is_used_only_where_the_name_sorts() {
        let n = names();
        let mut d = Dir::default();
        // Sorted: a, b, c.
        for h in [0, 2, 3] {
            add(&mut d, &n, h);
        }
        let name_of = |h: Handle| n[h as usize];
        assert!(d.fits_at(1, b"ab", name_of));
        assert!(d.fits_at(0, b"0", name_of));
        assert!(d.fits_at(3, b"d", name_of));
        assert!(!d.fits_at(0, b"ab", name_of));
        assert!(!d.fits_at(2, b"ab", name_of));
        assert!(!d.fits_at(1, b"b", name_of), "an existing name fits nowhere");
        assert!(!d.fits_at(4, b"d", name_of));
        assert!(Dir::default().fits_at(0, b"x", name_of));
    }

    #[test]
    fn creation_order_is_kept_and_lookups_use_names() {
        let n = names();
        let mut d = Dir::default();
        for h in 0..4 {
            add(&mut d, &n, h);
        }
        assert_eq!(d.order(), &[0, 1, 2, 3]);
        assert_eq!(d.names_bytes(), 2 + 3 + 2 + 2);
        let pos = d.find(b"a", |h| n[h as usize]).unwrap();
        assert_eq!(pos, Pos { order: 2, sorted: 0 });
        assert!(d.find(b"zz", |h| n[h as usize]).is_err());
        d.remove(pos, 1, |h| n[h as usize]);
        assert_eq!(d.order(), &[0, 1, 3]);
        for (name, order) in [(&b"b"[..], 0), (b"ab", 1), (b"c", 2)] {
            assert_eq!(d.find(name, |h| n[h as usize]).map(|p| p.order), Ok(order));
        }
        d.reorder(&[3, 0, 1], |h| n[h as usize]);
        assert_eq!(d.order(), &[3, 0, 1]);
        assert_eq!(d.find(b"ab", |h| n[h as usize]).map(|p| p.order), Ok(2));
        d.remove(Pos { order: 9, sorted: 0 }, 1, |h| n[h as usize]);
        assert_eq!(d.len(), 3);
    }

    /// The `name\0…` list of `d` and, for each byte, the child holding
    /// it and where that child's name starts (what [`Dir::seek`] finds).
    fn layout<'a>(d: &Dir, name_of: impl Fn(Handle) -> &'a [u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &h) in d.order().iter().enumerate() {
            let len = name_of(h).len() + 1;
            out.extend(core::iter::repeat_n((i, start), len));
            start += len;
        }
        assert_eq!(start, d.names_bytes());
        out
    }

    fn check_seek<'a>(d: &Dir, name_of: impl Fn(Handle) -> &'a [u8] + Copy) {
        let want = layout(d, name_of);
        for (off, &w) in want.iter().enumerate() {
            assert_eq!(d.seek(off, name_of), w, "offset {off}");
        }
        let end = (d.len(), d.names_bytes());
        assert_eq!(d.seek(d.names_bytes(), name_of), end);
        assert_eq!(d.seek(usize::MAX, name_of), end);
    }

    #[test]
    fn seek_finds_the_child_at_any_offset_through_changes() {
        // Distinct names of 1 to 7 bytes (i -> i * a mod p is one to one
        // below p), handle = index.
        let names: Vec<Vec<u8>> = (0..600u64)
            .map(|i| alloc::format!("{:x}", i * 2_654_435_761 % 10_000_019).into_bytes())
            .collect();
        let name_of = |h: Handle| names[h as usize].as_slice();
        let mut d = Dir::default();
        check_seek(&d, name_of);
        for h in 0..400 {
            add_named(&mut d, name_of, h);
        }
        check_seek(&d, name_of);
        assert_eq!(d.marks().len(), marks_for(400));
        // Remove from the front, the middle, at marked indices and the end.
        let mut state = 7u32;
        for round in 0..300 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = match round % 4 {
                0 => 0,
                1 => d.len() - 1,
                2 => (d.len() / MARK_EVERY) * MARK_EVERY % d.len(),
                _ => (state >> 8) as usize % d.len(),
            };
            let h = d.order()[i];
            let pos = d.find(name_of(h), name_of).unwrap();
            d.remove(pos, name_of(h).len(), name_of);
            if round % 3 == 0 {
                add_named(&mut d, name_of, 400 + round / 3);
            }
            assert_eq!(d.marks().len(), marks_for(d.len()));
            if round % 50 == 0 {
                check_seek(&d, name_of);
            }
        }
        check_seek(&d, name_of);
        let mut order = d.order().to_vec();
        order.reverse();
        d.reorder(&order, name_of);
        check_seek(&d, name_of);
        for &h in &order {
            assert_eq!(d.find(name_of(h), name_of).map(|p| d.order()[p.order]), Ok(h));
        }
    }

    fn add_named<'a>(d: &mut Dir, name_of: impl Fn(Handle) -> &'a [u8] + Copy, h: Handle) {
        let at = d.find(name_of(h), name_of).unwrap_err();
        d.insert(at, h, name_of(h).len()).unwrap();
    }

    #[test]
    fn compaction_moves_live_lists_down_in_order_and_frees_chunks() {
        let mut dirs = Dirs::default();
        let ids: Vec<DirId> = (0..1000).map(|g| dirs.alloc(g).unwrap()).collect();
        assert_eq!(dirs.slots(), (1000, 4));
        assert!(!dirs.should_compact());
        // Free all but every hundredth list.
        for &id in ids.iter().filter(|&&id| id % 100 != 7) {
            dirs.free(id);
        }
        assert!(dirs.should_compact());
        dirs.sort_free();
        let live: Vec<DirId> = (0..10).map(|k| k * 100 + 7).collect();
        let new: Vec<DirId> = live.iter().map(|&id| dirs.renumbered(id)).collect();
        assert_eq!(new, (0..10).collect::<Vec<_>>());
        dirs.compact();
        assert_eq!(dirs.slots(), (10, 1));
        for (k, &id) in new.iter().enumerate() {
            assert_eq!(dirs.get(id).unwrap().generation, u64::from(live[k]));
        }
        assert!(!dirs.should_compact());
        // New lists come after the live ones, and fill the kept chunk.
        assert_eq!(dirs.alloc(5), Some(10));
        for g in 11..300 {
            assert_eq!(dirs.alloc(g), DirId::try_from(g).ok());
        }
        assert_eq!(dirs.slots(), (300, 2));
    }

    #[test]
    fn a_full_last_chunk_is_kept_whole() {
        let mut dirs = Dirs::default();
        for g in 0..(3 * DIRS_PER_CHUNK as u64) {
            dirs.alloc(g).unwrap();
        }
        for id in DIRS_PER_CHUNK..3 * DIRS_PER_CHUNK {
            dirs.free(DirId::try_from(id).unwrap());
        }
        assert!(dirs.should_compact());
        dirs.sort_free();
        dirs.compact();
        assert_eq!(dirs.slots(), (DIRS_PER_CHUNK, 1));
        assert_eq!(dirs.get(255).map(|d| d.generation), Some(255));
        assert_eq!(dirs.alloc(9), DirId::try_from(DIRS_PER_CHUNK).ok());
        assert_eq!(dirs.slots(), (DIRS_PER_CHUNK + 1, 2));
    }

    #[test]
    fn slab_reuses_freed_ids() {
        let mut s = Dirs::default();
        let a = s.alloc(5).unwrap();
        let b = s.alloc(6).unwrap();
        assert_eq!(s.get(b).map(|d| d.generation), Some(6));
        s.free(a);
        assert_eq!(s.alloc(7), Some(a));
        assert_eq!(s.get(a).map(|d| d.generation), Some(7));
    }
}
