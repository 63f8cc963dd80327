//! The engine's list of ready connections (`Engine::take_ready`) under a
//! hostile pattern and an exhausted heap, and a request refused for memory
//! on a connection that keeps working once memory is back.
//!
//! This binary's allocator fails every allocation of a thread while that
//! thread's [`FAIL`] is set, as the stub's heap does when it is exhausted;
//! an infallible allocation there would abort the test.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ring::wire::MsgType;
use store::{Config, ConnId, MemoryBudget, REQUEST_HEADROOM};

thread_local! {
    /// Fail this thread's allocations.
    static FAIL: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, failing while [`FAIL`] is set.
struct Failing;

// SAFETY: forwards to `System`, or returns null (allowed: an allocation
// failure).
unsafe impl GlobalAlloc for Failing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if FAIL.try_with(Cell::get).unwrap_or(false) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Failing = Failing;

/// Runs `f` with this thread's allocations failing.
fn without_memory<R>(f: impl FnOnce() -> R) -> R {
    FAIL.set(true);
    let r = f();
    FAIL.set(false);
    r
}

/// Watchers on `/a`, and one writer that makes each of them ready with
/// every write, `writes` times over, with nobody taking the ready list.
fn hostile_world(watchers: usize, writes: usize) -> (World, Vec<ConnId>) {
    let mut w = World::new();
    let admin = w.sock();
    ok(&w.write(admin, "/a", ""));
    ok(&w.args(admin, MsgType::SetPerms, 0, &["/a", "r0"]));
    let mut conns = Vec::new();
    for i in 0..watchers {
        let c = if i % 2 == 0 { w.sock() } else { w.dom(u16::try_from(i + 1).unwrap()) };
        w.args(c, MsgType::Watch, 0, &["/a", "t"]);
        conns.push(c);
    }
    let writer = w.sock();
    conns.push(writer);
    let mut ready = Vec::new();
    w.e.take_ready(&mut ready);
    for n in 0..writes {
        w.send(writer, MsgType::Write, 0, format!("/a\0{n}").as_bytes());
        // Partly sent output makes a connection ready again.
        for &c in &conns {
            let half = w.e.output(c).len() / 2;
            w.e.output_done(c, half);
        }
    }
    (w, conns)
}

#[test]
fn the_ready_list_holds_each_connection_once() {
    let (mut w, conns) = hostile_world(16, 200);
    let mut ready = Vec::new();
    w.e.take_ready(&mut ready);
    let distinct: HashSet<_> = ready.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ready.len(),
        "{} entries for {} connections",
        ready.len(),
        distinct.len()
    );
    // `conns` and the connection that set up `/a`.
    let total = conns.len() + 1;
    assert!(ready.len() <= total, "{} listed for {total} connections", ready.len());
    assert!(conns.iter().all(|c| distinct.contains(c)), "every watcher and the writer");
    ready.clear();
    w.e.take_ready(&mut ready);
    assert!(ready.is_empty(), "taken once: {ready:?}");
}

#[test]
fn take_ready_without_memory_keeps_the_list_for_later() {
    let (mut w, conns) = hostile_world(8, 3);
    let mut ready = Vec::new();
    without_memory(|| w.e.take_ready(&mut ready));
    assert!(ready.is_empty(), "nothing taken without room: {ready:?}");
    w.e.take_ready(&mut ready);
    let distinct: HashSet<_> = ready.iter().copied().collect();
    assert!(conns.iter().all(|c| distinct.contains(c)), "all still listed: {ready:?}");
    assert_eq!(distinct.len(), ready.len());
}

/// The heap meter of the budget test.
static METER: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_request_refused_for_memory_leaves_its_connection_working() {
    let limit = 1 << 20;
    let budget = MemoryBudget { limit, reserve: 0, meter: || METER.load(Ordering::Relaxed) };
    let (mut w, _, g) = guest_5_world_with(Config { budget: Some(budget), ..Config::default() });
    ok(&w.write(g, "/local/domain/5/a", "1"));
    METER.store(limit - REQUEST_HEADROOM + 1, Ordering::Relaxed);
    err(&w.write(g, "/local/domain/5/b", "2"), "ENOMEM");
    METER.store(0, Ordering::Relaxed);
    ok(&w.write(g, "/local/domain/5/b", "2"));
    assert_eq!(w.read(g, "/local/domain/5/b").text(), "2");
}
