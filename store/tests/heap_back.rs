//! Memory comes back: what a guest made the engine hold is given back to
//! the allocator once it is removed or the guest is gone, measured on the
//! real heap (a counting allocator), for each way a guest can make the
//! engine hold memory. What stays is the engine's lookup cache (its path
//! buffers keep their capacity) and free slots below the compaction
//! thresholds; [`SLACK`] bounds it.
//!
//! Counted on the test's own thread (`common::counting`).

mod common;

use common::counting::{live, peak, reset_peak, Counting};
use common::{deep, ok, World};
use store::{Config, ConnId, DomainState};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes the engine may keep after an attacker is gone.
const SLACK: usize = 8 * 1024;

/// Guest 5 (its home and `data` as the toolstack makes them) runs
/// `attack`; then it dies and its home is removed. Returns the most heap
/// the attack held and what stayed after, both over the heap before the
/// guest.
fn attacked(attack: impl FnOnce(&mut World, ConnId, ConnId)) -> (usize, isize) {
    let mut w = World::with(Config::default());
    let s = w.sock();
    ok(&w.write(s, "/local/domain/0/name", "dom0"));
    ok(&w.write(s, "/tool/x", "1"));
    let _ = w.recv_all(s);
    let before = live();
    reset_peak();
    let d = w.dom(5);
    ok(&w.write(s, "/local/domain/5/data", ""));
    ok(&w.args(s, 14, 0, &["/local/domain/5/data", "n5"]));
    attack(&mut w, s, d);
    let held = peak().saturating_sub(before);
    w.pf.states.insert(5, DomainState::Gone);
    let now = w.now;
    w.e.check_domains(now, &mut w.pf);
    ok(&w.args(s, 13, 0, &["/local/domain/5"]));
    ok(&w.write(s, "/tool/x", "2"));
    let _ = w.recv_all(s);
    (held, live() as isize - before as isize)
}

/// What a guest does: `(world, dom0's socket, the guest)`.
type Attack = dyn FnOnce(&mut World, ConnId, ConnId);

/// Sends one request of guest `d` and drops what comes back.
fn send(w: &mut World, d: ConnId, ty: u32, tx: u32, payload: &[u8]) {
    w.send(d, ty, tx, payload);
    let _ = w.recv_all(d);
}

#[test]
fn attackers_give_the_heap_back() {
    let cases: Vec<(&str, Box<Attack>)> = vec![
        (
            "transactions reading deep missing paths",
            Box::new(|w, _, d| {
                for t in 0..3 {
                    let tx = w.start(d);
                    for i in 0..50 {
                        let p = deep(&format!("t{t}-{i}"), 1019);
                        send(w, d, 2, tx, &p);
                    }
                }
            }),
        ),
        (
            "a 300-deep chain written and removed five times",
            Box::new(|w, _, d| {
                for _ in 0..5 {
                    let mut p = deep("data/chain", 300);
                    p.push(b'x');
                    send(w, d, 11, 0, &p);
                    send(w, d, 13, 0, b"data/chain\0");
                }
            }),
        ),
        (
            "a 998-deep chain left for the guest's death",
            Box::new(|w, _, d| {
                let mut p = deep("data/chain", 980);
                p.push(b'x');
                send(w, d, 11, 0, &p);
            }),
        ),
        (
            "100 values of 2000 bytes",
            Box::new(|w, _, d| {
                let v = vec![b'v'; 2000];
                for i in 0..100 {
                    let mut p = format!("data/f{i}\0").into_bytes();
                    p.extend_from_slice(&v);
                    send(w, d, 11, 0, &p);
                }
            }),
        ),
        (
            "127 watches and 300 unread writes",
            Box::new(|w, s, d| {
                for i in 0..127 {
                    send(w, d, 4, 0, format!("/local/domain/5\0f{i}\0").as_bytes());
                }
                for i in 0..300 {
                    ok(&w.write(s, &format!("/local/domain/5/data/flood/{i}"), "x"));
                }
            }),
        ),
    ];
    for (name, attack) in cases {
        let (held, after) = attacked(attack);
        println!("{name}: held up to {held} bytes, {after} after the guest");
        assert!(held > 2 * SLACK, "{name}: the attack held only {held} bytes");
        assert!(after <= SLACK as isize, "{name}: {after} bytes stayed");
    }
}
