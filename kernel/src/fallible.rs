//! Fallible growth of the kernel's own lists.
//!
//! Out of heap, `alloc` panics in `no_std` (the default
//! `handle_alloc_error`), which crashes the stub. The engine keeps the heap
//! clear of that (`store::budget`); the few lists the kernel grows outside
//! the engine's requests grow through here instead, so that a failure
//! leaves them as they were and the caller retries or refuses.

use alloc::vec::Vec;

/// Moves every element of `from` to the end of `to`, if `to` can grow to
/// hold them; otherwise leaves both as they are. True if moved.
pub fn move_all<T>(from: &mut Vec<T>, to: &mut Vec<T>) -> bool {
    if to.try_reserve(from.len()).is_err() {
        return false;
    }
    to.append(from);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_everything_and_keeps_the_source_capacity() {
        let mut from = Vec::with_capacity(8);
        from.extend([1, 2, 3]);
        let mut to = vec![0];
        assert!(move_all(&mut from, &mut to));
        assert_eq!(to, [0, 1, 2, 3]);
        assert!(from.is_empty());
        assert_eq!(from.capacity(), 8, "the source keeps its room for later pushes");
    }

    #[test]
    fn a_destination_that_cannot_grow_leaves_both_lists_alone() {
        // A list of zero-sized elements that is already as long as a list
        // can be: reserving one more fails as an exhausted heap would.
        // SAFETY: for a zero-sized type a dangling pointer is valid for any
        // length and capacity, and dropping `()`s does nothing.
        let mut to: Vec<()> = unsafe {
            Vec::from_raw_parts(core::ptr::NonNull::dangling().as_ptr(), usize::MAX, usize::MAX)
        };
        let mut from = vec![(), ()];
        assert!(!move_all(&mut from, &mut to));
        assert_eq!((from.len(), to.len()), (2, usize::MAX), "nothing moved, nothing lost");
    }
}
