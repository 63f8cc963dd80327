//! Watch events on a watcher's output queue: the work de-duplication does
//! per event (counted, never timed), the index it uses staying true as
//! events are sent, expire or are dropped, and the memory a watcher that
//! never reads may make the store hold.
mod common;
use common::*;
use ring::wire::MsgType;
use store::ConnId;

/// Watches the guest registers: one short of the default quota (128).
const WATCHES: usize = 127;

/// Guest 5 (never reading its ring from here on) with `WATCHES` watches on
/// `path`, each with its own token; their first events are read. `/data`
/// is dom0's, readable by the guest.
fn silent_watcher(path: &str) -> (World, ConnId, ConnId) {
    let (mut w, s, d) = guest_5_world();
    ok(&w.write(s, "/data", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/data", "n0", "r5"]));
    for i in 0..WATCHES {
        ok(&w.args(d, MsgType::Watch, 0, &[path, &format!("t{i}")]));
    }
    w.events(d);
    (w, s, d)
}

/// The events queued on `d`, in order, as (path, token).
fn drain_events(w: &mut World, d: ConnId) -> Vec<(String, String)> {
    w.events(d)
}

#[test]
fn a_silent_watcher_with_127_watches_costs_o1_per_dom0_write() {
    let (mut w, s, d) = silent_watcher("/local/domain/5");
    const NODES: usize = 20;
    const ROUNDS: usize = 5;
    let before = w.e.event_comparisons();
    for round in 0..ROUNDS {
        for i in 0..NODES {
            ok(&w.write(s, &format!("/local/domain/5/n{i}"), &round.to_string()));
        }
        let compared = w.e.event_comparisons() - before;
        // Each write fires one event per watch. The first round queues
        // them all; later rounds find each one already queued. Scanning
        // the queue would visit up to NODES * WATCHES queued events per
        // event fired; the index compares at most one.
        let fired = (round + 1) * NODES * WATCHES;
        let duplicates = round * NODES * WATCHES;
        assert!(compared <= fired as u64, "round {round}: {compared} comparisons");
        assert_eq!(compared, duplicates as u64, "round {round}");
    }
    // Exactly the first round's events, in the order they fired.
    let got = drain_events(&mut w, d);
    let want: Vec<(String, String)> = (0..NODES)
        .flat_map(|i| (0..WATCHES).map(move |t| (format!("/local/domain/5/n{i}"), format!("t{t}"))))
        .collect();
    assert_eq!(got, want);
    // Once read, the same change queues its events again.
    ok(&w.write(s, "/local/domain/5/n0", "again"));
    assert_eq!(drain_events(&mut w, d).len(), WATCHES);
}

#[test]
fn an_event_being_sent_no_longer_stands_in_for_a_duplicate() {
    let (mut w, s, d) = guest_5_world();
    ok(&w.args(d, MsgType::Watch, 0, &["/local/domain/5/k", "t"]));
    w.events(d);
    ok(&w.write(s, "/local/domain/5/k", "1"));
    // Half of the event goes out; the rest must follow whole.
    let n = w.e.output(d).len() / 2;
    let first = w.e.output(d)[..n].to_vec();
    w.e.output_done(d, n);
    ok(&w.write(s, "/local/domain/5/k", "2"));
    ok(&w.write(s, "/local/domain/5/k", "3"));
    let mut rest = first;
    loop {
        let out = w.e.output(d).to_vec();
        if out.is_empty() {
            break;
        }
        w.e.output_done(d, out.len());
        rest.extend(out);
    }
    // The one being sent, then one (de-duplicated) copy queued after it.
    let event = request(MsgType::WatchEvent, 0, 0, b"/local/domain/5/k\0t\0");
    assert_eq!(rest, [event.clone(), event].concat());
}

#[test]
fn expired_and_dropped_events_leave_the_index() {
    let (mut w, s, d) = guest_5_world();
    ok(&w.args(d, MsgType::Watch, 0, &["/local/domain/5/k", "t"]));
    ok(&w.args(d, MsgType::Watch, 0, &["/local/domain/5/j", "t"]));
    w.events(d);
    ok(&w.write(s, "/local/domain/5/k", "1"));
    w.now = 10_000;
    ok(&w.write(s, "/local/domain/5/j", "1"));
    // The first event expires; the second stays and still de-duplicates.
    w.e.tick(20_000);
    ok(&w.write(s, "/local/domain/5/j", "2"));
    let before = w.e.event_comparisons();
    ok(&w.write(s, "/local/domain/5/k", "2"));
    assert_eq!(w.e.event_comparisons(), before, "nothing left to compare with");
    assert_eq!(
        drain_events(&mut w, d),
        [("/local/domain/5/j".into(), "t".into()), ("/local/domain/5/k".into(), "t".into())]
    );
    // A reset connection forgets its queue, and its index with it.
    ok(&w.write(s, "/local/domain/5/j", "3"));
    w.e.reset_connection(d);
    ok(&w.args(d, MsgType::Watch, 0, &["/local/domain/5/j", "t"]));
    w.events(d);
    ok(&w.write(s, "/local/domain/5/j", "4"));
    assert_eq!(drain_events(&mut w, d), [("/local/domain/5/j".into(), "t".into())]);
}

#[test]
fn a_silent_watcher_holds_no_more_event_memory_than_its_quota() {
    let (mut w, s, d) = silent_watcher("/data");
    let base = w.queued_bytes();
    let mem = w.usage(5, "memory");
    let quota = mem + 20_000;
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "memory", &quota.to_string()]));
    // dom0's nodes are charged to dom0: only the guest's events count.
    for i in 0..100 {
        ok(&w.write(s, &format!("/data/n{i}"), "x"));
    }
    assert!(w.e.stats().events_dropped > 0);
    let used = w.usage(5, "memory");
    assert!(used <= quota, "memory {used} over its quota {quota}");
    // What is charged is real memory: each queued event's buffer, its
    // slot in the queue (64 bytes) and its index entry, not just the bytes
    // it will send.
    let queued = w.queued_bytes() - base;
    let n = drain_events(&mut w, d).len() as u64;
    assert!(n > 0);
    assert!(
        used - mem >= queued + 64 * n,
        "{} charged for {n} events of {queued} bytes",
        used - mem
    );
    // Reading them gives every byte back.
    assert_eq!(w.usage(5, "memory"), mem);
}
