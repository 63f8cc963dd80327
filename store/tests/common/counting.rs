//! A counting global allocator for the tests that measure the real heap.
//!
//! It counts live bytes and their peak *per thread*: the engine runs on
//! the test's own thread, and libtest's other threads (printing a
//! result, freeing a finished test's memory) never move a test's figures.
//! A reallocation is counted as the stub's allocator makes it: the new
//! block is live before the old one is freed.
//!
//! A test binary installs it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// This thread's live bytes and the most they reached since
    /// [`reset_peak`].
    static COUNTS: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

/// Adds `bytes` (negative: freed) to this thread's count.
fn count(bytes: isize) {
    // `try_with`: the allocator may be called while the thread's locals
    // are torn down; those bytes are no test's.
    let _ = COUNTS.try_with(|c| {
        let (live, peak) = c.get();
        let live = live.wrapping_add(bytes);
        c.set((live, peak.max(live)));
    });
}

/// A size as a count.
fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

/// Bytes this thread allocated and has not freed.
pub fn live() -> usize {
    COUNTS.with(|c| usize::try_from(c.get().0).unwrap_or(0))
}

/// The most [`live`] reached since [`reset_peak`].
pub fn peak() -> usize {
    COUNTS.with(|c| usize::try_from(c.get().1).unwrap_or(0))
}

/// Starts measuring the peak from the live bytes now.
pub fn reset_peak() {
    COUNTS.with(|c| {
        let (live, _) = c.get();
        c.set((live, live));
    });
}

/// The allocator: `System`, counted.
pub struct Counting;

// SAFETY: every call is forwarded to `System` with the caller's layout and
// size; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(signed(layout.size()));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-signed(layout.size()));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(signed(new_size));
        // SAFETY: forwarded with the caller's layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        count(-signed(if p.is_null() { new_size } else { layout.size() }));
        p
    }
}
