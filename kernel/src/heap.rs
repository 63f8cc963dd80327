//! The kernel heap: one region of RAM (planned by [`crate::memmap`]) under
//! `linked_list_allocator`.
//!
//! Running out of heap is not recoverable where an allocation is
//! infallible: `alloc`'s default `handle_alloc_error` in `no_std` (stable
//! Rust has no other) panics with "memory allocation of N bytes failed",
//! and the panic handler ([`crate::panic`]) prints that line with the
//! heap's figures ([`usage`]) and crashes the domain. It allocates
//! nothing on the way, so it needs no reserve. Requests never drive the
//! heap there: [`used`] is the meter of the engine's memory budget
//! (`store::budget`), set from [`size`] at start, which refuses requests
//! before the heap runs short and keeps a reserve for the privileged
//! domain and a margin for fragmentation; what the kernel grows itself
//! outside the engine's requests grows fallibly ([`crate::fallible`]).

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

/// Bytes allocated and free, if the allocator is not locked (a panic
/// inside it must not wait for itself).
pub fn usage() -> Option<(usize, usize)> {
    #[cfg(target_os = "none")]
    return ALLOCATOR.try_lock().map(|h| (h.used(), h.free()));
    #[cfg(not(target_os = "none"))]
    None
}
