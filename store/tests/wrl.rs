//! XSA-206: write-rate limiting of unprivileged domains while
//! transactions are open (C `wrl_*`).
mod common;
use common::*;
use ring::wire::MsgType;
use store::ConnId;
use store::{WRL_DBURST, WRL_RATE};

/// `n` copies of a `WRITE path value` request, as one byte stream.
fn writes(path: &str, n: usize) -> Vec<u8> {
    request(MsgType::Write, 1, 0, format!("{path}\0v").as_bytes()).repeat(n)
}

/// Feeds `bytes` to `c`, draining the replies, until the engine stops
/// taking them (as a platform would at one moment `w.now`); returns the
/// number of whole requests consumed.
fn feed(w: &mut World, c: ConnId, bytes: &[u8], frame: usize) -> usize {
    let mut used = 0;
    loop {
        let rest = &bytes[used..];
        let n = w.e.input(c, rest, w.now, &mut w.pf).unwrap();
        w.recv_all(c);
        used += n;
        if n == 0 || used == bytes.len() {
            break;
        }
    }
    assert_eq!(used % frame, 0, "a request was split");
    used / frame
}

#[test]
fn xsa_206_guest_is_throttled_while_a_transaction_is_open() {
    let (mut w, s, d) = guest_5_world();
    let _t = w.start(s);
    let burst = writes("/local/domain/5/x", 1000);
    let frame = burst.len() / 1000;
    // The burst (10 writes) plus the one that exhausts the credit.
    let done = feed(&mut w, d, &burst, frame);
    assert_eq!(done, WRL_DBURST as usize + 1);
    assert!(!w.e.wants_input(d));
    assert!(w.e.memreport().contains("wrl_delays: 1"), "{}", w.e.memreport());
    // Nothing more is read until credit comes back: one write at
    // 200/s for the one introduced domain is 5 ms.
    assert_eq!(feed(&mut w, d, &burst[done * frame..], frame), 0);
    let wake = 1000 / WRL_RATE as u64;
    assert_eq!(w.e.next_deadline(), Some(wake));
    w.e.tick(wake - 1);
    assert!(!w.e.wants_input(d));
    let mut ready = Vec::new();
    w.e.take_ready(&mut ready);
    ready.clear();
    w.e.tick(wake);
    assert!(w.e.wants_input(d));
    w.e.take_ready(&mut ready);
    assert!(ready.contains(&d), "a recovered connection is reported ready");
    w.now = wake;
    // One write's worth of credit: one more write, then throttled again.
    assert_eq!(feed(&mut w, d, &burst[done * frame..], frame), 1);
    assert!(!w.e.wants_input(d));
    // One second later the guest has earned 200 writes: it keeps its
    // burst and the rest goes to the global reserve, which first repays
    // the burst the new domain borrowed and then tops the guest up again.
    w.now = wake + 1000;
    let more = feed(&mut w, d, &burst[(done + 1) * frame..], frame);
    assert_eq!(more, WRL_RATE as usize - WRL_DBURST as usize);
    assert!(!w.e.wants_input(d));
}

#[test]
fn xsa_206_no_limit_without_open_transactions() {
    let (mut w, s, d) = guest_5_world();
    let burst = writes("/local/domain/5/x", 100);
    assert_eq!(feed(&mut w, d, &burst, burst.len() / 100), 100);
    assert!(w.e.wants_input(d));
    assert_eq!(w.e.next_deadline(), None);
    // Once the last transaction ends, a throttled guest is free again.
    let t = w.start(s);
    assert_eq!(feed(&mut w, d, &burst, burst.len() / 100), WRL_DBURST as usize + 1);
    ok(&w.one(s, MsgType::TransactionEnd, t, "F"));
    w.now += 1000;
    assert_eq!(feed(&mut w, d, &burst, burst.len() / 100), 100);
}

#[test]
fn xsa_206_privileged_domain_is_never_limited() {
    let mut w = World::new();
    let g = w.dom(5);
    let _t = w.start(g);
    // Domain 0's own ring (and its socket) write as much as they like.
    let d0 = w.dom(0);
    let burst = writes("/x", 100);
    assert_eq!(feed(&mut w, d0, &burst, burst.len() / 100), 100);
    let s = w.sock();
    assert_eq!(feed(&mut w, s, &burst, burst.len() / 100), 100);
    assert_eq!(w.e.next_deadline(), None);
}

#[test]
fn xsa_206_reads_and_transaction_writes_are_free() {
    let (mut w, s, d) = guest_5_world();
    let _t = w.start(s);
    ok(&w.write(d, "x", "1"));
    for _ in 0..100 {
        assert_eq!(w.read(d, "x").body, b"1");
    }
    // Writes inside the guest's own transaction cost nothing; its commit
    // costs one write (another transaction is open).
    let t = w.start(d);
    for _ in 0..100 {
        ok(&w.write_tx(d, t, "x", "2"));
    }
    ok(&w.one(d, MsgType::TransactionEnd, t, "T"));
    assert!(w.e.wants_input(d));
    assert!(!w.e.memreport().contains("wrl_delays: 1"));
}

#[test]
fn xsa_206_toolstack_transaction_commits_despite_a_writing_guest() {
    // The guest writes a node the toolstack's transaction reads, as fast
    // as it is allowed to, every millisecond. Without the limit every
    // commit would conflict; with it the toolstack gets through.
    let (mut w, s, d) = guest_5_world();
    ok(&w.write(d, "state", "0"));
    let burst = writes("/local/domain/5/state", 1000);
    let frame = burst.len() / 1000;
    let mut committed = None;
    for attempt in 0..100 {
        let t = w.start(s);
        assert_eq!(w.one(s, MsgType::Read, t, "/local/domain/5/state").ty, 2);
        w.now += 1;
        w.e.tick(w.now);
        feed(&mut w, d, &burst, frame);
        let mut p = b"/local/domain/5/seen\0".to_vec();
        p.extend_from_slice(b"1");
        ok(&w.req(s, MsgType::Write, t, &p));
        let r = w.one(s, MsgType::TransactionEnd, t, "T");
        if r.ty == MsgType::TransactionEnd as u32 {
            committed = Some(attempt);
            break;
        }
        err(&r, "EAGAIN");
    }
    let attempt = committed.expect("the toolstack's transaction never committed");
    // The guest's burst covers the first attempts only.
    assert!(attempt <= WRL_DBURST as usize, "committed at attempt {attempt}");
    assert_eq!(w.read(s, "/local/domain/5/seen").body, b"1");
}

#[test]
fn xsa_206_released_domain_returns_its_credit() {
    let (mut w, s, d) = guest_5_world();
    let _t = w.start(s);
    let burst = writes("/local/domain/5/x", 100);
    feed(&mut w, d, &burst, burst.len() / 100);
    assert!(w.e.next_deadline().is_some());
    ok(&w.one(s, MsgType::Release, 0, "5"));
    // No wake-up is left for the domain; only the log line saying that
    // limiting ended is due, 120 whole seconds after it was last in force.
    assert_eq!(w.e.next_deadline(), Some(121_000));
    w.e.tick(121_000);
    assert_eq!(w.e.next_deadline(), None);
    // A new domain with the domid starts with a fresh burst.
    let d2 = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    assert_eq!(feed(&mut w, d2, &burst, burst.len() / 100), WRL_DBURST as usize + 1);
}
