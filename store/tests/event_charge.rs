//! The memory a watcher's queued events are charged, against the heap
//! they really take: buffers, queue slots and the de-duplication index,
//! spare capacity included (a queue that just doubled holds twice the
//! slots it uses). Measured on the test's own thread
//! (`common::counting`).

mod common;

use common::counting::{live, Counting};
use common::{ok, World};
use ring::wire::MsgType;

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
        let (heap0, charged0) = (live() as isize, w.usage(1, "memory"));
        for i in 0..writes {
            ok(&w.write(s, &format!("/local/domain/1/n{i}"), "v"));
        }
        let heap = (live() as isize - heap0) as f64;
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

#[test]
fn expiring_a_flooded_queue_takes_no_more_heap() {
    use common::counting::{peak, reset_peak};
    let mut w = World::new();
    let s = w.sock();
    let g = w.dom(1);
    ok(&w.write(s, "/local/domain/1", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/1", "n1"]));
    for i in 0..127 {
        ok(&w.args(g, MsgType::Watch, 0, &["/local/domain/1", &format!("t{i}")]));
    }
    w.recv_all(g);
    // The guest never reads while dom0 writes: events pile up, 127 a write.
    for i in 0..20 {
        ok(&w.write(s, &format!("/local/domain/1/n{i}"), "v"));
    }
    let queued = w.e.stats().events_dropped;
    let held = live();
    reset_peak();
    let later = w.now + w.e.config().watch_event_timeout_ms;
    w.e.tick(later);
    let dropped = w.e.stats().events_dropped - queued;
    println!(
        "{dropped} events expired; heap {held} before, peak {} during, {} after",
        peak(),
        live()
    );
    assert!(dropped > 1000, "the flood expired ({dropped} events)");
    // Expiry only gives memory back: nothing is copied or collected on
    // the way (the de-duplication index is rebuilt after the old one is
    // freed) but the list of connections to look at.
    assert!(peak() <= held + 64, "expiry took the heap from {held} to {}", peak());
    assert!(live() < held / 4, "the queue's memory came back: {} of {held}", live());
}
