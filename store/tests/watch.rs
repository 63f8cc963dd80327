//! Scenario tests: watch.
mod common;
use common::*;
use ring::wire::MsgType;

#[test]
fn relative_watch_reports_relative_paths_and_depth() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(3);
    ok(&w.write(s, "/local/domain/3", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/3", "n3"]));
    ok(&w.args(d, MsgType::Watch, 0, &["data", "t1"]));
    ok(&w.args(d, MsgType::Watch, 0, &["data", "t0", "0"]));
    assert_eq!(w.events(d).len(), 2);
    ok(&w.write(d, "data/x/y", "1"));
    assert_eq!(w.events(d), vec![("data/x/y".into(), "t1".into())]);
    ok(&w.write(d, "data", "v"));
    let ev = w.events(d);
    assert!(
        ev.contains(&("data".into(), "t0".into())) && ev.contains(&("data".into(), "t1".into()))
    );
}

#[test]
fn rm_fires_for_removed_nodes_and_watch_errors() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/r/a/b", "1"));
    ok(&w.args(s, MsgType::Watch, 0, &["/r/a/b", "deep"]));
    ok(&w.args(s, MsgType::Watch, 0, &["/r", "top"]));
    err(&w.args(s, MsgType::Watch, 0, &["/r", "top"]), "EEXIST");
    w.events(s);
    ok(&w.one(s, MsgType::Rm, 0, "/r/a"));
    let ev = w.events(s);
    assert!(ev.contains(&("/r/a/b".into(), "deep".into())), "{ev:?}");
    assert!(ev.contains(&("/r/a".into(), "top".into())), "{ev:?}");
    ok(&w.args(s, MsgType::Unwatch, 0, &["/r", "top"]));
    err(&w.args(s, MsgType::Unwatch, 0, &["/r", "top"]), "ENOENT");
}

#[test]
fn identical_pending_events_are_deduplicated() {
    let mut w = World::new();
    let s = w.sock();
    let o = w.sock();
    ok(&w.args(o, MsgType::Watch, 0, &["/k", "t"]));
    w.events(o);
    ok(&w.write(s, "/k", "1"));
    ok(&w.write(s, "/k", "2"));
    assert_eq!(w.events(o).len(), 1);
}

#[test]
fn unread_events_expire_for_unprivileged_watchers() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(8);
    ok(&w.args(d, MsgType::Watch, 0, &["/tool", "t"]));
    w.events(d);
    ok(&w.args(s, MsgType::SetPerms, 0, &["/tool", "n0", "r8"]));
    w.e.tick(1_000);
    assert_eq!(w.e.next_deadline(), Some(20_000));
    w.e.tick(20_000);
    assert!(w.events(d).is_empty());
    assert_eq!(w.e.next_deadline(), None);
}

#[test]
fn events_read_in_time_do_not_expire_and_leave_no_deadline() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(8);
    ok(&w.args(d, MsgType::Watch, 0, &["/tool", "t"]));
    w.events(d);
    ok(&w.args(s, MsgType::SetPerms, 0, &["/tool", "n0", "r8"]));
    assert_eq!(w.events(d).len(), 1);
    w.now = 5_000;
    ok(&w.write(s, "/tool", "x"));
    // The bound still names the first event's expiry; at that time
    // nothing expires and the second event's expiry takes its place.
    assert_eq!(w.e.next_deadline(), Some(20_000));
    w.e.tick(20_000);
    assert_eq!(w.e.next_deadline(), Some(25_000));
    w.e.tick(24_999);
    assert_eq!(w.events(d).len(), 1);
    w.e.tick(25_000);
    assert_eq!(w.e.next_deadline(), None);
    assert_eq!(w.e.stats().events_dropped, 0);
}

#[test]
fn introduce_and_release_special_watches() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.args(s, MsgType::Watch, 0, &["@introduceDomain", "i"]));
    ok(&w.args(s, MsgType::Watch, 0, &["@releaseDomain", "r"]));
    ok(&w.args(s, MsgType::Watch, 0, &["@releaseDomain/9", "r9"]));
    w.events(s);
    ok(&w.args(s, MsgType::Introduce, 0, &["9", "0", "5"]));
    assert_eq!(w.events(s), vec![("@introduceDomain".into(), "i".into())]);
    assert_eq!(w.one(s, MsgType::IsDomainIntroduced, 0, "9").body, b"T\0");
    w.pf.states.insert(9, store::DomainState::Shutdown);
    w.e.check_domains(0, &mut w.pf);
    let ev = w.events(s);
    assert!(ev.contains(&("@releaseDomain/9".into(), "r9".into())), "{ev:?}");
    assert!(ev.contains(&("@releaseDomain".into(), "r".into())), "{ev:?}");
    ok(&w.one(s, MsgType::Release, 0, "9"));
    assert_eq!(w.one(s, MsgType::IsDomainIntroduced, 0, "9").body, b"F\0");
    err(&w.one(s, MsgType::Release, 0, "9"), "ENOENT");
    err(&w.one(s, MsgType::Release, 0, "0"), "EINVAL");
}

#[test]
fn tokens_are_opaque_bytes() {
    // C keeps the token as given: spaces and non-UTF-8 bytes included.
    let mut w = World::new();
    let s = w.sock();
    ok(&w.req(s, MsgType::Watch, 0, b"/wt\0a b\xff\0"));
    let ev = w.recv_all(s);
    assert!(ev.is_empty() || ev.iter().all(|m| m.ty == MsgType::WatchEvent as u32));
    w.stash.clear();
    ok(&w.write(s, "/wt", "v"));
    let got: Vec<Vec<u8>> = w.stash.drain(..).map(|(_, m)| m.body).collect();
    assert_eq!(got, vec![b"/wt\0a b\xff\0".to_vec()]);
    err(&w.req(s, MsgType::Watch, 0, b"/wt\0a b\xff\0"), "EEXIST");
    ok(&w.req(s, MsgType::Unwatch, 0, b"/wt\0a b\xff\0"));
}
