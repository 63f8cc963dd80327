//! Hostile-input regressions, named after the XSA they cover.
mod common;
use common::*;
use store::DomainState;

fn home(w: &mut World, s: store::ConnId, d: u16) {
    ok(&w.write(s, &format!("/local/domain/{d}"), ""));
    ok(&w.args(s, 14, 0, &[&format!("/local/domain/{d}"), &format!("n{d}")]));
}

#[test]
fn xsa_72_oversized_reply_is_e2big() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/v", &"x".repeat(4000)));
    for i in 0..300 {
        ok(&w.write(s, &format!("/v/{i:020}"), ""));
    }
    err(&w.one(s, 1, 0, "/v"), "E2BIG");
}

#[test]
fn xsa_115_events_only_to_readers() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.args(d, 4, 0, &["/", "root"]));
    w.events(d);
    ok(&w.write(s, "/hidden/x", "1"));
    assert!(w.events(d).is_empty());
    ok(&w.args(d, 4, 0, &["@introduceDomain", "i"]));
    w.events(d);
    w.dom(6);
    assert!(w.events(d).is_empty());
}

#[test]
fn xsa_324_oversized_watch_event_dropped() {
    let mut w = World::new();
    let s = w.sock();
    let token = "t".repeat(3000);
    ok(&w.args(s, 4, 0, &["/p", &token]));
    assert_eq!(w.events(s).len(), 1);
    ok(&w.write(s, &format!("/p/{}", "q".repeat(1200)), ""));
    assert!(w.events(s).is_empty());
    ok(&w.write(s, "/p/short", ""));
    assert_eq!(w.events(s).len(), 1);
}

#[test]
fn xsa_418_deep_tree_rm_is_iterative() {
    let mut w = World::new();
    let s = w.sock();
    let mut p = String::new();
    for _ in 0..1500 {
        p.push_str("/a");
    }
    ok(&w.write(s, &p, "deep"));
    ok(&w.one(s, 13, 0, "/a"));
    err(&w.read(s, "/a"), "ENOENT");
    ok(&w.args(s, 0, 0, &["check"]));
}

#[test]
fn xsa_421_create_and_delete_in_one_transaction() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    let t = w.start(d);
    ok(&w.write_tx(d, t, "tmp/a", "1"));
    ok(&w.one(d, 13, t, "tmp"));
    ok(&w.one(d, 7, t, "T"));
    let rep = w.e.memreport();
    assert!(rep.contains("domain 5: nodes 1 "), "{rep}");
}

#[test]
fn xsa_440_conflicting_deletes_never_go_negative() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(d, "x/y", "1"));
    let t1 = w.start(d);
    let t2 = w.start(d);
    ok(&w.one(d, 13, t1, "x"));
    ok(&w.one(d, 13, t2, "x"));
    ok(&w.one(d, 7, t1, "T"));
    err(&w.one(d, 7, t2, "T"), "EAGAIN");
    let rep = w.e.memreport();
    assert!(rep.contains("domain 5: nodes 1 "), "{rep}");
}

#[test]
fn xsa_481_local_domain_slash_is_einval() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    for p in ["/local/domain/", "/local/domain//", "/local/domain/5/"] {
        err(&w.read(s, p), "EINVAL");
        err(&w.write(d, p, "x"), "EINVAL");
    }
}

#[test]
fn xsa_484_reset_watches_inside_transaction() {
    let mut w = World::new();
    let s = w.sock();
    let t = w.start(s);
    ok(&w.write_tx(s, t, "/x", "1"));
    ok(&w.req(s, 21, t, b""));
    err(&w.one(s, 7, t, "T"), "ENOENT");
    ok(&w.req(s, 21, 0, b""));
}

#[test]
fn xsa_417_419_483_dead_domain_is_scrubbed() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(s, "/shared", ""));
    ok(&w.args(s, 14, 0, &["/shared", "n0", "b5"]));
    ok(&w.write(d, "/shared/orphan", "1"));
    ok(&w.write(d, "data", "1"));
    w.pf.states.insert(5, DomainState::Gone);
    w.e.check_domains(0, &mut w.pf);
    err(&w.read(s, "/shared/orphan"), "ENOENT");
    err(&w.read(s, "/local/domain/5"), "ENOENT");
    assert_eq!(w.one(s, 3, 0, "/shared").body, b"n0\0");
    assert!(w.pf.mapped.is_empty());
    assert!(!w.e.memreport().contains("domain 5:"));
    w.pf.states.remove(&5);
    let d2 = w.dom(5);
    err(&w.write(d2, "/shared/x", "1"), "EACCES");
}

#[test]
fn xsa_325_violating_guest_stays_until_dead() {
    let mut w = World::new();
    let d = w.dom(5);
    w.e.ignore(d);
    assert_eq!(w.e.domain_conn(store::DomId(5)), Some(d));
    w.pf.states.insert(5, DomainState::Dying);
    w.e.check_domains(0, &mut w.pf);
    assert_eq!(w.e.domain_conn(store::DomId(5)), None);
}
