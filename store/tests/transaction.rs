//! The worked traces of `src/transaction.rs`, one test each.
mod common;
use common::*;
use ring::wire::MsgType;
use store::ConnId;

#[test]
fn trace_1_read_a_write_b_commits() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/A", "1"));
    let t = w.start(s);
    assert_eq!(w.one(s, MsgType::Read, t, "/A").body, b"1");
    ok(&w.write_tx(s, t, "/B", "2"));
    err(&w.read(s, "/B"), "ENOENT");
    ok(&w.one(s, MsgType::TransactionEnd, t, "T"));
    assert_eq!(w.read(s, "/B").body, b"2");
}

/// The start of traces 2 and 3: `/A` holds 1 and `s` has a transaction
/// `t` that read it; `o` is another client. Returns `(world, s, o, t)`.
fn transaction_read_a() -> (World, ConnId, ConnId, u32) {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/A", "1"));
    let t = w.start(s);
    w.one(s, MsgType::Read, t, "/A");
    (w, s, o, t)
}

#[test]
fn trace_2_conflicting_write_is_eagain() {
    let (mut w, s, o, t) = transaction_read_a();
    ok(&w.write(o, "/A", "other"));
    ok(&w.write_tx(s, t, "/B", "2"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    err(&w.read(s, "/B"), "ENOENT");
}

#[test]
fn trace_3_conflicting_delete_is_eagain() {
    let (mut w, s, o, t) = transaction_read_a();
    ok(&w.one(o, MsgType::Rm, 0, "/A"));
    ok(&w.write_tx(s, t, "/B", "2"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
}

#[test]
fn trace_4_two_interfering_transactions() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/A", "1"));
    ok(&w.write(s, "/B", "1"));
    let t1 = w.start(s);
    let t2 = w.start(s);
    w.one(s, MsgType::Read, t1, "/A");
    w.one(s, MsgType::Read, t2, "/B");
    ok(&w.write_tx(s, t1, "/B", "t1"));
    ok(&w.write_tx(s, t2, "/A", "t2"));
    ok(&w.one(s, MsgType::TransactionEnd, t1, "T"));
    err(&w.one(s, MsgType::TransactionEnd, t2, "T"), "EAGAIN");
    assert_eq!(w.read(s, "/B").body, b"t1");
    assert_eq!(w.read(s, "/A").body, b"1");
}

#[test]
fn abort_discards_and_end_needs_t_or_f() {
    let mut w = World::new();
    let s = w.sock();
    let t = w.start(s);
    ok(&w.write_tx(s, t, "/x", "1"));
    err(&w.one(s, MsgType::TransactionEnd, t, "X"), "EINVAL");
    ok(&w.one(s, MsgType::TransactionEnd, t, "F"));
    err(&w.read(s, "/x"), "ENOENT");
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "ENOENT");
    err(&w.one(s, MsgType::TransactionEnd, 0, "T"), "ENOENT");
}

#[test]
fn watches_fire_at_commit() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.args(o, MsgType::Watch, 0, &["/w", "tok"]));
    assert_eq!(w.events(o), vec![("/w".into(), "tok".into())]);
    let t = w.start(s);
    ok(&w.write_tx(s, t, "/w/a", "1"));
    assert!(w.events(o).is_empty());
    ok(&w.one(s, MsgType::TransactionEnd, t, "T"));
    assert_eq!(w.events(o), vec![("/w/a".into(), "tok".into())]);
}

#[test]
fn transaction_quota_and_nested_start() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(6);
    for _ in 0..9 {
        w.start(d);
    }
    err(&w.req(d, MsgType::TransactionStart, 0, b"\0"), "ENOSPC");
    let t = w.start(s);
    err(&w.req(s, MsgType::TransactionStart, t, b"\0"), "EBUSY");
}
