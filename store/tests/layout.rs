//! Behaviour the compact node layout (`src/tree.rs`) must keep: children
//! order, permissions shared with parents, generations, and transactions
//! replayed onto the tree.
mod common;
use common::*;
use ring::wire::MsgType;

fn dir(w: &mut World, c: store::ConnId, p: &str) -> Vec<String> {
    let r = w.one(c, MsgType::Directory, 0, p);
    assert_eq!(r.ty, MsgType::Directory as u32, "{}", r.text());
    r.text().split('\0').filter(|s| !s.is_empty()).map(String::from).collect()
}

fn gen(w: &mut World, c: store::ConnId, p: &str) -> String {
    let r = w.args(c, MsgType::DirectoryPart, 0, &[p, "0"]);
    assert_eq!(r.ty, MsgType::DirectoryPart as u32, "{}", r.text());
    r.text().split('\0').next().unwrap().to_string()
}

#[test]
fn a_child_deleted_and_recreated_in_a_transaction_is_listed_last() {
    let mut w = World::new();
    let s = w.sock();
    for n in ["a", "b", "c"] {
        ok(&w.write(s, &format!("/d/{n}"), n));
    }
    ok(&w.write(s, "/d/b/deep", "x"));
    let t = w.start(s);
    ok(&w.one(s, MsgType::Rm, t, "/d/b"));
    ok(&w.write_tx(s, t, "/d/b", "again"));
    ok(&w.write_tx(s, t, "/d/e/f/g", "new chain"));
    assert_eq!(dir(&mut w, s, "/d"), ["a", "b", "c"]);
    ok(&w.one(s, MsgType::TransactionEnd, t, "T"));
    assert_eq!(dir(&mut w, s, "/d"), ["a", "c", "b", "e"]);
    assert_eq!(w.read(s, "/d/b").body, b"again");
    err(&w.read(s, "/d/b/deep"), "ENOENT");
    assert_eq!(w.read(s, "/d/e/f/g").body, b"new chain");
    assert_eq!(dir(&mut w, s, "/d/b"), Vec::<String>::new());
}

#[test]
fn concurrent_transactions_on_one_node_conflict_once_each_change() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.write(s, "/n", "0"));
    let t1 = w.start(s);
    let t2 = w.start(o);
    w.one(s, MsgType::Read, t1, "/n");
    w.one(o, MsgType::Read, t2, "/n");
    ok(&w.write_tx(s, t1, "/n", "1"));
    ok(&w.one(s, MsgType::TransactionEnd, t1, "T"));
    ok(&w.write_tx(o, t2, "/n", "2"));
    err(&w.one(o, MsgType::TransactionEnd, t2, "T"), "EAGAIN");
    assert_eq!(w.read(s, "/n").body, b"1");
    // Reads by transactions that ended leave nothing behind.
    let t3 = w.start(o);
    w.one(o, MsgType::Read, t3, "/n");
    ok(&w.one(o, MsgType::TransactionEnd, t3, "F"));
    ok(&w.write(s, "/n", "3"));
}

#[test]
fn directory_generations_change_with_the_directory_only() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/g/a", ""));
    let g1 = gen(&mut w, s, "/g");
    assert_eq!(gen(&mut w, s, "/g"), g1);
    ok(&w.write(s, "/g/a", "value of a child"));
    assert_eq!(gen(&mut w, s, "/g"), g1);
    ok(&w.write(s, "/g/b", ""));
    let g2 = gen(&mut w, s, "/g");
    assert_ne!(g2, g1);
    ok(&w.one(s, MsgType::Rm, 0, "/g/b"));
    let g3 = gen(&mut w, s, "/g");
    assert!(g3 != g1 && g3 != g2);
    ok(&w.write(s, "/g", "own value"));
    assert_ne!(gen(&mut w, s, "/g"), g3);
}

#[test]
fn set_perms_on_a_directory_leaves_its_childrens_lists() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/p/x", ""));
    ok(&w.write(s, "/p/y/z", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/p", "n3", "r4"]));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/p").body, b"n3\0r4\0");
    for c in ["/p/x", "/p/y", "/p/y/z"] {
        assert_eq!(w.one(s, MsgType::GetPerms, 0, c).body, b"n0\0", "{c}");
    }
    // New children take the directory's new list.
    ok(&w.write(s, "/p/w", ""));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/p/w").body, b"n3\0r4\0");
}

#[test]
fn node_memory_is_refunded_when_nodes_go() {
    let mut w = World::new();
    let s = w.sock();
    let before = w.e.memreport();
    for i in 0..300 {
        ok(&w.write(s, &format!("/m/d{}/n{i}", i % 7), &"v".repeat(i % 50)));
    }
    ok(&w.args(s, MsgType::SetPerms, 0, &["/m/d3", "n5"]));
    ok(&w.one(s, MsgType::Rm, 0, "/m"));
    assert_eq!(w.e.memreport().lines().next(), before.lines().next());
    let line = |r: &str| r.lines().find(|l| l.starts_with("domain 0:")).map(String::from);
    assert_eq!(line(&w.e.memreport()), line(&before));
}
