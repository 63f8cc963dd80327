//! The kernel heap: one region of RAM (planned by [`crate::memmap`]) under
//! `linked_list_allocator`.
//!
//! Running out of heap aborts (the `alloc` default), which crashes the
//! stub; the engine's per-domain memory quota and the fixed connection
//! limits keep guests from driving it there.

use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Bytes given to the heap.
static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Hands `[start, start + size)` to the allocator.
///
/// # Safety
///
/// The range must be identity-mapped RAM that nothing else uses, for the
/// kernel's lifetime, and this may be called only once.
pub unsafe fn init(start: usize, size: usize) {
    HEAP_BYTES.store(size, Ordering::Relaxed);
    #[cfg(target_os = "none")]
    // SAFETY: the caller guarantees an unused, mapped range, given once.
    unsafe {
        ALLOCATOR.lock().init(start as *mut u8, size)
    };
    #[cfg(not(target_os = "none"))]
    let _ = start;
}

/// Bytes given to the heap.
pub fn size() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}

/// Bytes currently free in the heap.
pub fn free() -> usize {
    #[cfg(target_os = "none")]
    return ALLOCATOR.lock().free();
    #[cfg(not(target_os = "none"))]
    0
}
