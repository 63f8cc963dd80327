//! Arbitrary bytes into the migration stream reader (`store::stream`),
//! under a budget, with a heap oracle.
//!
//! Input: `[u16 budget / 16, little-endian][stream bytes]`. Checks:
//!
//! 1. `decode` returns (a panic is a finding);
//! 2. the peak of live heap bytes during the call, counted by this
//!    binary's global allocator, is at most the budget;
//! 3. it leaves nothing allocated behind (nor do the restores of 5);
//! 4. a stream it accepts is written back by `encode` (the writer refuses
//!    nothing the reader accepts) and the bytes decode to the same records;
//! 5. a stream it accepts is restored into an engine or refused without a
//!    panic (open transactions included: `migrate/tx.rs`), and a restored
//!    engine's forced dump is restored in turn.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use libfuzzer_sys::fuzz_target;
use store::model::{HypervisorModel, Semantics};
use store::stream::{decode, encode, Stream};
use store::{Config, ConnId, DumpOptions, DumpSource, Engine};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn add(size: usize) {
    let now = LIVE.fetch_add(size, SeqCst) + size;
    PEAK.fetch_max(now, SeqCst);
}

// SAFETY: every call is forwarded to `System` with the caller's layout;
// the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the move it may be: both blocks live at once.
        add(new_size);
        // SAFETY: forwarded with the caller's layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        LIVE.fetch_sub(layout.size(), SeqCst);
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The platform's side of a dump: ports and descriptors made up.
struct Made;

impl DumpSource for Made {
    fn ring_port(&self, conn: ConnId) -> u32 {
        conn.0
    }
    fn socket_fd(&self, conn: ConnId) -> i32 {
        i32::try_from(conn.0).unwrap_or(-1)
    }
}

/// Restores `s`; if it is, dumps the engine (forced) and restores that.
fn restore_twice(s: &Stream) {
    let mut xen = HypervisorModel::new(Semantics::Getdomaininfo418);
    let Ok(r) = Engine::restore(Config::default(), s, 0, &mut xen) else { return };
    let opts = DumpOptions { header: s.header, global: None, force: true };
    if let Ok(again) = r.engine.dump_state(&opts, &Made) {
        let mut xen = HypervisorModel::new(Semantics::Getdomaininfo418);
        let _ = Engine::restore(Config::default(), &again, 0, &mut xen);
    }
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, stream @ ..] = data else { return };
    let budget = usize::from(u16::from_le_bytes([*b0, *b1])) * 16;
    let base = LIVE.load(SeqCst);
    PEAK.store(base, SeqCst);
    let got = decode(stream, budget);
    let peak = PEAK.load(SeqCst) - base;
    assert!(peak <= budget, "held {peak} bytes over a budget of {budget}");
    if let Ok(s) = got {
        let mut again = Vec::new();
        encode(&s, &mut again).expect("the writer refused what the reader accepted");
        assert_eq!(decode(&again, usize::MAX).as_ref(), Ok(&s));
        restore_twice(&s);
    }
    assert_eq!(LIVE.load(SeqCst), base, "the reader or a restore leaked");
});
