//! Transactions that add or remove children of one directory do not
//! conflict with each other (the parent is read only as a parent:
//! `Accessed::weak` in `src/transaction.rs`), while everything that would
//! make the result differ from running them one after the other still
//! does: the parent removed or its permissions changed, the created node
//! (or a missing node on the way to it) created by someone else, the
//! directory listed by the transaction itself.
mod common;
use common::*;
use ring::wire::MsgType;

/// `DIRECTORY` of `path` on `c`, as a list of names.
fn dir(w: &mut World, c: store::ConnId, path: &str) -> Vec<String> {
    let m = w.one(c, MsgType::Directory, 0, path);
    m.body
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into())
        .collect()
}

/// A world with `/dom`, two socket clients `s` and `o`, and a transaction
/// `t` of `s` started: (world, s, o, t).
fn dom_and_a_transaction() -> (World, store::ConnId, store::ConnId, u32) {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom", ""));
    let t = w.start(s);
    (w, s, o, t)
}

#[test]
fn two_transactions_creating_siblings_both_commit() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom", ""));
    let t1 = w.start(s);
    let t2 = w.start(o);
    ok(&w.write_tx(s, t1, "/dom/1/name", "one"));
    ok(&w.write_tx(o, t2, "/dom/2/name", "two"));
    ok(&w.one(o, MsgType::TransactionEnd, t2, "T"));
    ok(&w.one(s, MsgType::TransactionEnd, t1, "T"));
    assert_eq!(w.read(s, "/dom/1/name").body, b"one");
    assert_eq!(w.read(s, "/dom/2/name").body, b"two");
    assert_eq!(dir(&mut w, s, "/dom"), ["2", "1"]);
}

#[test]
fn removing_and_creating_siblings_both_commit() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom/old/x", "1"));
    let t1 = w.start(s);
    let t2 = w.start(o);
    ok(&w.one(s, MsgType::Rm, t1, "/dom/old"));
    ok(&w.write_tx(o, t2, "/dom/new", "n"));
    ok(&w.one(s, MsgType::TransactionEnd, t1, "T"));
    ok(&w.one(o, MsgType::TransactionEnd, t2, "T"));
    assert_eq!(dir(&mut w, s, "/dom"), ["new"]);
}

#[test]
fn a_creation_leaves_the_parents_new_value() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom", "old"));
    let t = w.start(s);
    ok(&w.write_tx(s, t, "/dom/1", "x"));
    ok(&w.write(o, "/dom", "new"));
    ok(&w.one(s, MsgType::TransactionEnd, t, "T"));
    assert_eq!(w.read(s, "/dom").body, b"new");
    assert_eq!(w.read(s, "/dom/1").body, b"x");
}

#[test]
fn the_parent_removed_meanwhile_is_eagain() {
    let (mut w, s, o, t) = dom_and_a_transaction();
    ok(&w.write_tx(s, t, "/dom/1", "x"));
    ok(&w.one(o, MsgType::Rm, 0, "/dom"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    err(&w.read(s, "/dom"), "ENOENT");
}

#[test]
fn the_parents_permissions_changed_meanwhile_is_eagain() {
    let (mut w, s, o, t) = dom_and_a_transaction();
    ok(&w.write_tx(s, t, "/dom/1", "x"));
    ok(&w.args(o, MsgType::SetPerms, 0, &["/dom", "n0", "r5"]));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    err(&w.read(s, "/dom/1"), "ENOENT");
}

#[test]
fn the_same_node_created_meanwhile_is_eagain() {
    let (mut w, s, o, t) = dom_and_a_transaction();
    ok(&w.write_tx(s, t, "/dom/1", "mine"));
    ok(&w.write(o, "/dom/1", "theirs"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    assert_eq!(w.read(s, "/dom/1").body, b"theirs");
}

#[test]
fn a_missing_node_on_the_way_created_meanwhile_is_eagain() {
    // The transaction creates /dom/1 implicitly (with /dom/1/a/b); another
    // client creates /dom/1 with a value first: storing the transaction's
    // empty /dom/1 over it would not be what either order gives.
    let (mut w, s, o, t) = dom_and_a_transaction();
    ok(&w.write_tx(s, t, "/dom/1/a/b", "deep"));
    ok(&w.write(o, "/dom/1", "theirs"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    assert_eq!(w.read(s, "/dom/1").body, b"theirs");
    err(&w.read(s, "/dom/1/a"), "ENOENT");
}

#[test]
fn a_node_deeper_on_the_way_created_meanwhile_is_eagain() {
    let (mut w, s, o, t) = dom_and_a_transaction();
    err(&w.one(s, MsgType::Read, t, "/dom/1/a/b"), "ENOENT");
    ok(&w.write_tx(s, t, "/other", "v"));
    ok(&w.write(o, "/dom/1/a/b", "now"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
}

#[test]
fn listing_the_directory_in_the_transaction_still_conflicts() {
    let (mut w, s, o, t) = dom_and_a_transaction();
    w.one(s, MsgType::Directory, t, "/dom");
    ok(&w.write_tx(s, t, "/dom/1", "x"));
    ok(&w.write(o, "/dom/2", "y"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
}

#[test]
fn reading_the_parent_after_creating_under_it_still_conflicts() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom", "v"));
    let t = w.start(s);
    ok(&w.write_tx(s, t, "/dom/1", "x"));
    w.one(s, MsgType::Read, t, "/dom");
    ok(&w.write(o, "/dom/2", "y"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
}

#[test]
fn removing_a_node_another_client_added_a_child_to_is_eagain() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/dom/1/a", "1"));
    let t = w.start(s);
    ok(&w.one(s, MsgType::Rm, t, "/dom/1"));
    ok(&w.write(o, "/dom/1/b", "2"));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "EAGAIN");
    assert_eq!(w.read(s, "/dom/1/b").body, b"2");
}

#[test]
fn two_transactions_creating_siblings_are_both_counted() {
    // Accounting follows what the commits really change: a guest's two
    // nodes created by two transactions at once are both counted.
    let (mut w, _s, d) = guest_5_world();
    ok(&w.write(d, "data", ""));
    let before = w.usage(5, "nodes");
    let t1 = w.start(d);
    let t2 = w.start(d);
    ok(&w.write_tx(d, t1, "data/a", "1"));
    ok(&w.write_tx(d, t2, "data/b", "2"));
    ok(&w.one(d, MsgType::TransactionEnd, t1, "T"));
    ok(&w.one(d, MsgType::TransactionEnd, t2, "T"));
    assert_eq!(w.read(d, "data/a").body, b"1");
    assert_eq!(w.read(d, "data/b").body, b"2");
    assert_eq!(w.usage(5, "nodes"), before + 2);
}
