//! The kernel heap: one region of RAM (planned by [`crate::memmap`]) under
//! `linked_list_allocator`.
//!
//! Running out of heap panics (the `alloc` default in `no_std`), which
//! crashes the stub. The engine never drives it there: [`used`] is the
//! meter of its memory budget (`store::budget`), set from [`size`] at
//! start, which refuses requests before the heap runs short and keeps a
//! reserve for the privileged domain and a margin for fragmentation.

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

/// Gives the heap the `by` bytes right above its end (the live-update
/// hand-over region, once the state it held is restored).
///
/// # Safety
///
/// The range must be identity-mapped RAM that nothing else uses from now
/// on, directly above the heap.
pub unsafe fn extend(by: usize) {
    HEAP_BYTES.fetch_add(by, Ordering::Relaxed);
    #[cfg(target_os = "none")]
    // SAFETY: the caller guarantees the unused range above the heap.
    unsafe {
        ALLOCATOR.lock().extend(by)
    };
}

/// Bytes given to the heap.
pub fn size() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}

/// Bytes currently allocated from the heap (the engine's meter).
pub fn used() -> usize {
    #[cfg(target_os = "none")]
    return ALLOCATOR.lock().used();
    #[cfg(not(target_os = "none"))]
    0
}

/// Bytes currently free in the heap.
pub fn free() -> usize {
    #[cfg(target_os = "none")]
    return ALLOCATOR.lock().free();
    #[cfg(not(target_os = "none"))]
    0
}
