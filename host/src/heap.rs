//! The daemon's heap meter: a counting global allocator, so that the
//! engine's memory budget (`--memory-budget`) is measured on the
//! process's real live heap bytes, as the stub measures its own heap.

use std::alloc::System;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes of the process now.
pub fn live_bytes() -> usize {
    let s = GLOBAL.stats();
    s.bytes_allocated.saturating_sub(s.bytes_deallocated)
}
