//! Scenario tests: domain requests (introduce, release, features, reset).
mod common;
use common::*;
use ring::wire::MsgType;
use store::{DomId, DomainState};

#[test]
fn introduce_failing_to_map_is_eio_and_leaves_nothing() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.args(s, MsgType::Watch, 0, &["@introduceDomain", "i"]));
    w.events(s);
    w.pf.fail_map = true;
    err(&w.args(s, MsgType::Introduce, 0, &["7", "4660", "1"]), "EIO");
    assert_eq!(w.one(s, MsgType::IsDomainIntroduced, 0, "7").body, b"F\0");
    assert!(w.events(s).is_empty());
    assert_eq!(w.e.domain_conn(DomId(7)), None);
    w.pf.fail_map = false;
    err(&w.args(s, MsgType::Introduce, 0, &["7", "4660", "0"]), "EINVAL");
    ok(&w.args(s, MsgType::Introduce, 0, &["7", "4660", "1"]));
    assert_eq!(w.one(s, MsgType::IsDomainIntroduced, 0, "7").body, b"T\0");
    assert_eq!(w.events(s), vec![("@introduceDomain".into(), "i".into())]);
}

#[test]
fn set_and_get_feature() {
    let mut w = World::new();
    let s = w.sock();
    assert_eq!(w.one(s, MsgType::GetFeature, 0, "7").body, b"14\0");
    ok(&w.args(s, MsgType::SetFeature, 0, &["7", "2"]));
    assert_eq!(w.one(s, MsgType::GetFeature, 0, "7").body, b"2\0");
    assert_eq!(w.e.domain_features(DomId(7)), 2);
    err(&w.args(s, MsgType::SetFeature, 0, &["7", "16"]), "EINVAL");
    err(&w.args(s, MsgType::SetFeature, 0, &["7"]), "EINVAL");
    w.pf.states.insert(8, DomainState::Gone);
    err(&w.args(s, MsgType::SetFeature, 0, &["8", "2"]), "ENOENT");
    err(&w.one(s, MsgType::GetFeature, 0, "8"), "ENOENT");
    let g = w.dom(7);
    err(&w.args(s, MsgType::SetFeature, 0, &["7", "6"]), "EBUSY");
    // The guest sees its own word; asking about others is privileged.
    assert_eq!(w.req(g, MsgType::GetFeature, 0, b"").body, b"2\0");
    err(&w.one(g, MsgType::GetFeature, 0, "7"), "EACCES");
    // Without WATCHDEPTH a depth argument is refused.
    err(&w.args(g, MsgType::Watch, 0, &["/a", "t", "1"]), "EINVAL");
}

#[test]
fn reset_watches_drops_watches_and_transactions() {
    let mut w = World::new();
    let s = w.sock();
    let g = w.dom(5);
    ok(&w.write(s, "/pub", "1"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/pub", "b5"]));
    ok(&w.args(g, MsgType::Watch, 0, &["/pub", "t"]));
    let t = w.start(g);
    w.events(g);
    ok(&w.req(g, MsgType::ResetWatches, 0, b""));
    err(&w.one(g, MsgType::TransactionEnd, t, "T"), "ENOENT");
    ok(&w.write(s, "/pub", "2"));
    assert!(w.events(g).is_empty());
    // The watch accounting was released: the same watch can come back.
    ok(&w.args(g, MsgType::Watch, 0, &["/pub", "t"]));
    assert!(w.e.memreport().contains("domain 5: nodes 1 watches 1 transactions 0"));
}

#[test]
fn release_fires_and_forgets_the_domain() {
    let mut w = World::new();
    let s = w.sock();
    let g = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    ok(&w.write(g, "data", "x"));
    ok(&w.args(s, MsgType::Watch, 0, &["@releaseDomain", "r"]));
    w.events(s);
    err(&w.one(s, MsgType::Release, 0, "0"), "EINVAL");
    err(&w.one(s, MsgType::Release, 0, "9"), "ENOENT");
    err(&w.one(s, MsgType::Release, 0, "x"), "EINVAL");
    ok(&w.one(s, MsgType::Release, 0, "5"));
    assert_eq!(w.events(s), vec![("@releaseDomain".into(), "r".into())]);
    assert_eq!(w.one(s, MsgType::IsDomainIntroduced, 0, "5").body, b"F\0");
    err(&w.read(s, "/local/domain/5"), "ENOENT");
    assert!(w.pf.mapped.is_empty());
    err(&w.one(s, MsgType::Release, 0, "5"), "ENOENT");
}

#[test]
fn domain_ids_parse_as_c_4_22() {
    let mut w = World::new();
    let s = w.sock();
    assert_eq!(w.one(s, MsgType::GetDomainPath, 0, " 7").body, b"/local/domain/7\0");
    assert_eq!(w.one(s, MsgType::GetDomainPath, 0, "").body, b"/local/domain/0\0");
    err(&w.one(s, MsgType::GetDomainPath, 0, "7x"), "EINVAL");
    err(&w.one(s, MsgType::GetDomainPath, 0, "65536"), "EINVAL");
    // SET_TARGET " 0": parses, then domain 7 is not connected.
    err(&w.args(s, MsgType::SetTarget, 0, &["7", " 0"]), "ENOENT");
}
