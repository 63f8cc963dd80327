//! Findings of the fuzz targets (`fuzz/`, `fuzz/CAMPAIGN.md`), reduced to
//! deterministic tests.
//!
//! Most set the budget's meter by hand, to put the heap exactly where the
//! finding needed it; the growth test counts the real heap with this
//! binary's allocator, which counts a reallocation as the stub's allocator
//! makes it (new block, copy, old block freed). The tests take a lock so
//! that none allocates while another counts.

mod common;

use ring::wire::MsgType;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use common::{ok, request, World};
use store::REQUEST_HEADROOM;
use store::{Config, MemoryBudget};

/// Live bytes of the process, and the most they reached since reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn take(size: usize) {
    let now = LIVE.fetch_add(size, SeqCst) + size;
    PEAK.fetch_max(now, SeqCst);
}

// SAFETY: every call is forwarded to `System` with the caller's layout and
// size; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        take(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        take(new_size);
        // SAFETY: forwarded with the caller's layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        LIVE.fetch_sub(if p.is_null() { new_size } else { layout.size() }, SeqCst);
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stub's heap at `--memory 4`, as `engine_heap` and `heap_cap` use it.
const STUB_HEAP: usize = 2_804 * 1024;

/// `engine_heap` (Xen 4.18, dom0 filling the reserve with an unread
/// socket): with the heap over the privileged domain's admission line,
/// every request is answered `ENOMEM` without being handled, but those
/// small replies are queued whatever the budget says. The privileged
/// domain has no `outstanding` quota, so a toolstack that writes without
/// reading grew the heap by one reply per request, without bound, past
/// `limit + REQUEST_HEADROOM` (found 7 KiB over, after a few hundred
/// requests). A connection with unsent output is now not read while the
/// heap is over its caller's line: one refusal per connection is queued at
/// most, and it is read again once it has read its output.
#[test]
fn unread_refusals_do_not_grow_the_heap_past_the_limit() {
    let _serial = serial();
    static METER: AtomicUsize = AtomicUsize::new(0);
    fn meter() -> usize {
        METER.load(SeqCst)
    }
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let mut w = World::with(Config { budget: Some(budget), ..Config::default() });
    let s = w.sock();
    let g = w.dom(3);
    // Over both lines: every request, privileged or not, is refused.
    METER.store(budget.limit - REQUEST_HEADROOM + 1, SeqCst);
    for c in [s, g] {
        let one = request(MsgType::Read, 1, 0, b"/local\0");
        let stream: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
        let mut taken = 0;
        for _ in 0..1000 {
            taken += w.raw(c, &stream[taken..]).unwrap();
            if taken == stream.len() || !w.e.wants_input(c) {
                break;
            }
        }
        assert_eq!(taken, one.len(), "one request taken, then the connection is held");
        assert!(!w.e.wants_input(c), "held while its refusal is unread");
        let replies = w.recv_all(c);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].text(), "ENOMEM\0");
        assert!(w.e.wants_input(c), "read again once its output was read");
    }
    assert_eq!(w.queued_bytes(), 0);
    // Below the line again, requests are served as before.
    METER.store(0, SeqCst);
    assert_eq!(w.read(s, "/tool").ty, MsgType::Read as u32);
}

/// A path `depth` components deep under `top`, NUL-terminated.
fn deep(top: &str, depth: usize) -> Vec<u8> {
    let mut p = String::from(top);
    for _ in 1..depth {
        p.push_str("/a");
    }
    p.push('\0');
    p.into_bytes()
}

/// `engine_heap` (Xen 4.18, dom0's socket, heap 40 KiB under the limit):
/// one `XS_WRITE` of a path 1403 components deep under a missing node
/// took the heap from 2 439 976 to 2 554 163 bytes, 9 KiB past
/// `limit + REQUEST_HEADROOM`. `create_node` asks the budget for nothing:
/// each node created costs its record, its parent's new children list and
/// a share of the tree's vectors, about 60-90 bytes, so a deep path
/// (up to ~1500 nodes for the privileged domain, 1000 for a guest at its
/// `nodes` quota) grows the heap by 60-140 KiB in one request, beyond
/// the 32 KiB headroom. Expected: the write asks the budget for the nodes
/// it creates (a bound per node times `missing`) before creating any, and
/// is refused with `ENOMEM` here.
#[test]
fn a_deep_write_asks_the_budget_for_the_nodes_it_creates() {
    let _serial = serial();
    static METER: AtomicUsize = AtomicUsize::new(0);
    fn meter() -> usize {
        METER.load(SeqCst)
    }
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let mut w = World::with(Config { budget: Some(budget), ..Config::default() });
    let s = w.sock();
    let g = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    // Room for one request's headroom and a little more, not for 1400
    // nodes.
    METER.store(budget.limit - REQUEST_HEADROOM - 8 * 1024, SeqCst);
    let r = w.req(s, MsgType::Write, 0, &deep("/deep", 1400));
    assert_eq!(r.text(), "ENOMEM\0", "privileged: 1400 nodes in one request");
    METER.store(budget.limit_for(false) - REQUEST_HEADROOM - 8 * 1024, SeqCst);
    let r = w.req(g, MsgType::Write, 0, &deep("chain", 900));
    assert_eq!(r.text(), "ENOMEM\0", "guest: 900 nodes in one request");
    // With room, the same writes succeed.
    METER.store(0, SeqCst);
    ok(&w.req(s, MsgType::Write, 0, &deep("/deep", 1400)));
    ok(&w.req(g, MsgType::Write, 0, &deep("chain", 900)));
}

/// `engine_heap`, same run, measured: the tree's children lists live in
/// one `Vec<Dir>` (`dir::Dirs`, 40 bytes a list) that doubles when full,
/// so the request that creates directory number 4097 grows the live heap
/// by 160 KiB, and by 320 KiB while the stub's allocator (no realloc of
/// its own) copies the old block into the new one, whatever the budget
/// says. At 16 384 directories (the privileged domain, or 17 guests at
/// their `nodes` quota, can make them) the step is 640 KiB live and
/// 1.25 MiB during the copy: with the 1.5 MiB those directories already
/// take, the stub's whole heap. Expected: no single small request grows
/// the heap (peak included) by more than `REQUEST_HEADROOM`; e.g. `Dirs`
/// kept in fixed chunks like the node arena, or its growth asked of the
/// budget before it is taken.
///
/// The slab is now chunked; what remains is one directory's own list: a
/// directory with thousands of children (only the privileged domain can
/// make one: a guest stops at its 1000-node quota) keeps them in one
/// vector that still doubles, 64 KiB at 4096 children. The budget is
/// asked for that block (`Tree::child_growth`), so it is refused near the
/// limit, but one request can still take more than the headroom.
#[test]
#[ignore = "open: a directory's children vector doubles without asking the budget (privileged domain only)"]
fn one_small_write_never_grows_the_heap_by_more_than_the_headroom() {
    let _serial = serial();
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/d", ""));
    let mut worst = (0usize, 0usize);
    for i in 0..5000 {
        // One new directory (`/d/<i>`, with child `x`) per request.
        let p = format!("/d/{i}/x\0").into_bytes();
        let b = request(MsgType::Write, 1, 0, &p);
        let before = LIVE.load(SeqCst);
        PEAK.store(before, SeqCst);
        assert_eq!(w.raw(s, &b).unwrap(), b.len());
        let grew = PEAK.load(SeqCst) - before;
        if grew > worst.0 {
            worst = (grew, i);
        }
        w.recv_all(s);
    }
    let (grew, at) = worst;
    assert!(grew <= REQUEST_HEADROOM, "directory {at}: one write grew the heap by {grew} bytes");
}

/// A new child whose directory's vector must double asks the budget for
/// the new block: near the limit the write is refused, and nothing grows.
#[test]
fn listing_a_child_asks_the_budget_for_the_directory_growth() {
    let _serial = serial();
    static METER: AtomicUsize = AtomicUsize::new(0);
    fn meter() -> usize {
        METER.load(SeqCst)
    }
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let mut w = World::with(Config { budget: Some(budget), ..Config::default() });
    let s = w.sock();
    // 4096 children fill the vector: the next one needs its next block.
    for i in 0..4096 {
        ok(&w.write(s, &format!("/wide/{i}"), ""));
    }
    // Room for the request, not for the block.
    METER.store(budget.limit - REQUEST_HEADROOM - 1024, SeqCst);
    let r = w.write(s, "/wide/next", "");
    assert_eq!((r.ty, r.text()), (MsgType::Error as u32, String::from("ENOMEM\0")));
    METER.store(0, SeqCst);
    ok(&w.write(s, "/wide/next", ""));
}
