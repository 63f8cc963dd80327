//! Page slots in the foreign-mapping window (see [`crate::memmap`]).
//!
//! Slot 0 holds the shared-info page; the others receive guests' ring pages
//! by grant mapping. A bitmap keeps which slots are in use, so every mapped
//! page has exactly one GFN and a freed GFN is a hole again.

use crate::memmap::{PAGE_SIZE, WINDOW_PAGES};

/// Words of the slot bitmap.
#[allow(clippy::cast_possible_truncation)] // A small compile-time constant.
const WORDS: usize = WINDOW_PAGES.div_ceil(64) as usize;

/// The window and its slot bitmap.
pub struct Window {
    /// Physical address of slot 0.
    base: u64,
    /// Number of usable slots.
    slots: usize,
    /// Bit `i` set ⇒ slot `i` is in use.
    used: [u64; WORDS],
}

/// A slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot(usize);

impl Window {
    /// A window of `pages` pages at physical address `base`; at most
    /// [`WINDOW_PAGES`] slots are used.
    pub fn new(base: u64, pages: u64) -> Window {
        let slots = usize::try_from(pages.min(WINDOW_PAGES)).unwrap_or(0);
        Window { base, slots, used: [0; WORDS] }
    }

    /// Takes a free slot, lowest first.
    pub fn alloc(&mut self) -> Option<Slot> {
        for (w, word) in self.used.iter_mut().enumerate() {
            if *word == u64::MAX {
                continue;
            }
            let bit = (!*word).trailing_zeros() as usize;
            let idx = w.saturating_mul(64).saturating_add(bit);
            if idx >= self.slots {
                return None;
            }
            *word |= 1 << bit;
            return Some(Slot(idx));
        }
        None
    }

    /// Takes the slot at guest-physical `addr` (a page the previous
    /// kernel mapped there before a live update), if it is one of ours
    /// and free.
    pub fn claim(&mut self, addr: u64) -> Option<Slot> {
        let off = addr.checked_sub(self.base).filter(|o| o % PAGE_SIZE == 0)?;
        let idx = usize::try_from(off / PAGE_SIZE).ok().filter(|&i| i < self.slots)?;
        let word = self.used.get_mut(idx / 64)?;
        let bit = 1u64 << (idx % 64);
        if *word & bit != 0 {
            return None;
        }
        *word |= bit;
        Some(Slot(idx))
    }

    /// Returns a slot.
    pub fn free(&mut self, slot: Slot) {
        if let Some(word) = self.used.get_mut(slot.0 / 64) {
            *word &= !(1u64 << (slot.0 % 64));
        }
    }

    /// The guest-physical address of a slot.
    pub fn addr(&self, slot: Slot) -> u64 {
        self.base.saturating_add((slot.0 as u64).saturating_mul(PAGE_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_reuse() {
        let mut w = Window::new(0x1000_0000, 130);
        let a = w.alloc().unwrap();
        let b = w.alloc().unwrap();
        assert_eq!(w.addr(a), 0x1000_0000);
        assert_eq!(w.addr(b), 0x1000_1000);
        w.free(a);
        assert_eq!(w.alloc(), Some(a));
        let mut n = 2;
        while w.alloc().is_some() {
            n += 1;
        }
        assert_eq!(n, 130);
        w.free(Slot(129));
        assert_eq!(w.alloc(), Some(Slot(129)));
    }

    #[test]
    fn claimed_slots_are_in_use() {
        let mut w = Window::new(0x1000_0000, 4);
        assert_eq!(w.claim(0x1000_1000), Some(Slot(1)));
        assert_eq!(w.claim(0x1000_1000), None, "taken");
        assert_eq!(w.claim(0x1000_1800), None, "not a page");
        assert_eq!(w.claim(0x1000_4000), None, "outside");
        assert_eq!(w.claim(0x0fff_f000), None, "below");
        assert_eq!(w.alloc(), Some(Slot(0)));
        assert_eq!(w.alloc(), Some(Slot(2)));
    }
}
