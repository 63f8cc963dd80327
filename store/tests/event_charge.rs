//! The memory a watcher's queued events are charged, against the heap
//! they really take: buffers, queue slots and the de-duplication index,
//! spare capacity included (a queue that just doubled holds twice the
//! slots it uses). Measured with a counting global allocator; one test
//! in this file, so that nothing else allocates while it counts.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};

use common::{ok, World};
use ring::wire::MsgType;

/// Net live bytes of the process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn count(bytes: usize, sign: isize) {
    LIVE.fetch_add(sign * bytes as isize, SeqCst);
}

// SAFETY: every call is forwarded to `System` with the caller's layout and
// size; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(layout.size(), -1);
            count(new_size, 1);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn queued_events_are_charged_within_a_quarter_of_their_heap() {
    // (watches, dom0 writes): event counts just past each doubling of the
    // queue and of the index, and a 127-watch flood.
    for (watches, writes) in [(1, 1), (1, 5), (1, 17), (1, 65), (1, 257), (1, 1025), (127, 20)] {
        let mut w = World::new();
        let s = w.sock();
        let g = w.dom(1);
        ok(&w.write(s, "/local/domain/1", ""));
        ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/1", "n1"]));
        // The nodes exist first: rewriting them below allocates nothing
        // lasting but the events.
        for i in 0..writes {
            ok(&w.write(s, &format!("/local/domain/1/n{i}"), "v"));
        }
        for i in 0..watches {
            ok(&w.args(g, MsgType::Watch, 0, &["/local/domain/1", &format!("t{i}")]));
        }
        w.recv_all(g);
        let (heap0, charged0) = (LIVE.load(SeqCst), w.usage(1, "memory"));
        for i in 0..writes {
            ok(&w.write(s, &format!("/local/domain/1/n{i}"), "v"));
        }
        let heap = (LIVE.load(SeqCst) - heap0) as f64;
        let charged = (w.usage(1, "memory") - charged0) as f64;
        let ratio = charged / heap;
        println!(
            "{watches} watches, {writes} writes: heap +{heap}, charged +{charged} ({ratio:.2})"
        );
        assert!(
            (0.75..=1.25).contains(&ratio),
            "{watches} x {writes}: charged {charged}, heap {heap}"
        );
    }
}
