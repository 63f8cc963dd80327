//! Scenario tests: perms.
mod common;
use common::*;
use ring::wire::MsgType;

#[test]
fn unreadable_parent_hides_missing_nodes_and_owner_changes_need_privilege() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/secret/x", "1"));
    err(&w.read(d, "/secret/x"), "EACCES");
    err(&w.read(d, "/secret/missing"), "EACCES");
    ok(&w.args(s, MsgType::SetPerms, 0, &["/secret", "n0", "r5"]));
    err(&w.read(d, "/secret/missing"), "ENOENT");
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    ok(&w.write(d, "mine", "1"));
    err(&w.args(d, MsgType::SetPerms, 0, &["/local/domain/5/mine", "n0"]), "EPERM");
    ok(&w.args(d, MsgType::SetPerms, 0, &["/local/domain/5/mine", "n5", "r7"]));
    err(&w.args(d, MsgType::SetPerms, 0, &["/local/domain/5/mine", "x5"]), "EINVAL");
    err(&w.args(d, MsgType::Control, 0, &["help"]), "EACCES");
    err(&w.args(d, MsgType::Introduce, 0, &["7", "0", "1"]), "EACCES");
}

#[test]
fn domid_any_and_set_target() {
    let mut w = World::new();
    let s = w.sock();
    let a = w.dom(5);
    let b = w.dom(6);
    ok(&w.write(s, "/pub", "v"));
    err(&w.read(a, "/pub"), "EACCES");
    ok(&w.args(s, MsgType::SetPerms, 0, &["/pub", "n0", "r32757"]));
    assert_eq!(w.read(a, "/pub").body, b"v");
    ok(&w.write(s, "/dm", "x"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/dm", "n5"]));
    err(&w.read(b, "/dm"), "EACCES");
    ok(&w.args(s, MsgType::SetTarget, 0, &["6", "5"]));
    assert_eq!(w.read(b, "/dm").body, b"x");
}

#[test]
fn entries_for_missing_domains_are_kept_but_ignored() {
    // C 4.22 `domain_alloc_permrefs`: an owner that does not exist is
    // ENOENT; other entries naming no domain are listed but grant nothing,
    // even to a domain created later with that id.
    let mut w = World::new();
    let s = w.sock();
    w.pf.states.insert(9, store::DomainState::Gone);
    ok(&w.write(s, "/p", "v"));
    err(&w.args(s, MsgType::SetPerms, 0, &["/p", "r9"]), "ENOENT");
    err(&w.args(s, MsgType::SetPerms, 0, &["/p", "r65536"]), "ENOENT");
    err(&w.args(s, MsgType::SetPerms, 0, &["/p", "r-1"]), "ENOENT");
    err(&w.args(s, MsgType::SetPerms, 0, &["/missing", "r9"]), "ENOENT");
    ok(&w.args(s, MsgType::SetPerms, 0, &["/p", "n0", "r9", "r 5", "b0x6"]));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/p").body, b"n0\0r9\0r5\0b6\0");
    w.pf.states.remove(&9);
    let d9 = w.dom(9);
    err(&w.read(d9, "/p"), "EACCES");
    let d6 = w.dom(6);
    assert_eq!(w.read(d6, "/p").body, b"v");
}

#[test]
fn domid_any_needs_the_feature() {
    // Without DOMID_ANY in the caller's features the entry is ignored.
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/pub", "v"));
    // Dom0 is not introduced in this world, so its features may change.
    ok(&w.args(s, MsgType::SetFeature, 0, &["0", "6"]));
    assert_eq!(w.args(s, MsgType::GetFeature, 0, &[]).body, b"6\0");
    ok(&w.args(s, MsgType::SetPerms, 0, &["/pub", "n0", "r32757"]));
    err(&w.read(d, "/pub"), "EACCES");
}
