//! Scenario tests: perms.
mod common;
use common::*;

#[test]
fn unreadable_parent_hides_missing_nodes_and_owner_changes_need_privilege() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/secret/x", "1"));
    err(&w.read(d, "/secret/x"), "EACCES");
    err(&w.read(d, "/secret/missing"), "EACCES");
    ok(&w.args(s, 14, 0, &["/secret", "n0", "r5"]));
    err(&w.read(d, "/secret/missing"), "ENOENT");
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, 14, 0, &["/local/domain/5", "n5"]));
    ok(&w.write(d, "mine", "1"));
    err(&w.args(d, 14, 0, &["/local/domain/5/mine", "n0"]), "EPERM");
    ok(&w.args(d, 14, 0, &["/local/domain/5/mine", "n5", "r7"]));
    err(&w.args(d, 14, 0, &["/local/domain/5/mine", "x5"]), "EINVAL");
    err(&w.args(d, 0, 0, &["help"]), "EACCES");
    err(&w.args(d, 8, 0, &["7", "0", "1"]), "EACCES");
}

#[test]
fn domid_any_and_set_target() {
    let mut w = World::new();
    let s = w.sock();
    let a = w.dom(5);
    let b = w.dom(6);
    ok(&w.write(s, "/pub", "v"));
    err(&w.read(a, "/pub"), "EACCES");
    ok(&w.args(s, 14, 0, &["/pub", "n0", "r32757"]));
    assert_eq!(w.read(a, "/pub").body, b"v");
    ok(&w.write(s, "/dm", "x"));
    ok(&w.args(s, 14, 0, &["/dm", "n5"]));
    err(&w.read(b, "/dm"), "EACCES");
    ok(&w.args(s, 19, 0, &["6", "5"]));
    assert_eq!(w.read(b, "/dm").body, b"x");
}
