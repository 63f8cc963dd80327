//! Memory per node: the heap the store keeps for `xsbench fill` (new
//! nodes `/fill/d<i/1000>/n<i>` with 16-byte values, written by dom0),
//! measured with a counting global allocator. This file holds one test so
//! no other test allocates while it counts.

mod common;

use common::{ok, World};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Nodes written, as `make bench` does.
const NODES: usize = 100_000;

/// Live heap bytes per node the store may keep, everything included
/// (node records, names, values, indexes, slack of growing vectors).
const MAX_BYTES_PER_NODE: usize = 40;

/// Live heap allocations per node (each costs the allocator a header).
const MAX_ALLOCS_PER_NODE: f64 = 0.05;

#[test]
fn fill_keeps_few_bytes_per_node() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/warm", "x"));
    let region = Region::new(GLOBAL);
    for i in 0..NODES {
        ok(&w.write(s, &format!("/fill/d{}/n{}", i / 1000, i), "0123456789abcdef"));
    }
    let st = region.change();
    // Reallocations are already counted in both byte totals.
    let bytes = st.bytes_allocated - st.bytes_deallocated;
    let allocs = st.allocations - st.deallocations;
    let per_node = bytes as f64 / NODES as f64;
    let allocs_per_node = allocs as f64 / NODES as f64;
    println!("fill {NODES}: {bytes} bytes live ({per_node:.1} B/node), {allocs} allocations ({allocs_per_node:.3}/node)");
    assert_eq!(w.read(s, "/fill/d42/n42424").body, b"0123456789abcdef");
    assert!(per_node <= MAX_BYTES_PER_NODE as f64, "{per_node:.1} B/node");
    assert!(allocs_per_node <= MAX_ALLOCS_PER_NODE, "{allocs_per_node:.3} allocations/node");
}
