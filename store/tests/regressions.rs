//! Hostile-input regressions, named after the XSA they cover.
mod common;
use common::*;
use ring::wire::MsgType;
use store::DomainState;

fn home(w: &mut World, s: store::ConnId, d: u16) {
    ok(&w.write(s, &format!("/local/domain/{d}"), ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &[&format!("/local/domain/{d}"), &format!("n{d}")]));
}

#[test]
fn xsa_72_oversized_reply_is_e2big() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/v", &"x".repeat(4000)));
    for i in 0..300 {
        ok(&w.write(s, &format!("/v/{i:020}"), ""));
    }
    err(&w.one(s, MsgType::Directory, 0, "/v"), "E2BIG");
}

#[test]
fn xsa_115_events_only_to_readers() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.args(d, MsgType::Watch, 0, &["/", "root"]));
    w.events(d);
    ok(&w.write(s, "/hidden/x", "1"));
    assert!(w.events(d).is_empty());
    ok(&w.args(d, MsgType::Watch, 0, &["@introduceDomain", "i"]));
    w.events(d);
    w.dom(6);
    assert!(w.events(d).is_empty());
}

#[test]
fn xsa_324_oversized_watch_event_dropped() {
    let mut w = World::new();
    let s = w.sock();
    let token = "t".repeat(3000);
    ok(&w.args(s, MsgType::Watch, 0, &["/p", &token]));
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
    ok(&w.one(s, MsgType::Rm, 0, "/a"));
    err(&w.read(s, "/a"), "ENOENT");
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
}

#[test]
fn xsa_421_create_and_delete_in_one_transaction() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    let t = w.start(d);
    ok(&w.write_tx(d, t, "tmp/a", "1"));
    ok(&w.one(d, MsgType::Rm, t, "tmp"));
    ok(&w.one(d, MsgType::TransactionEnd, t, "T"));
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
    ok(&w.one(d, MsgType::Rm, t1, "x"));
    ok(&w.one(d, MsgType::Rm, t2, "x"));
    ok(&w.one(d, MsgType::TransactionEnd, t1, "T"));
    err(&w.one(d, MsgType::TransactionEnd, t2, "T"), "EAGAIN");
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
    ok(&w.req(s, MsgType::ResetWatches, t, b""));
    err(&w.one(s, MsgType::TransactionEnd, t, "T"), "ENOENT");
    ok(&w.req(s, MsgType::ResetWatches, 0, b""));
}

#[test]
fn xsa_417_419_483_dead_domain_is_scrubbed() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(s, "/shared", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/shared", "n0", "b5"]));
    ok(&w.write(d, "/shared/orphan", "1"));
    ok(&w.write(d, "data", "1"));
    w.pf.states.insert(5, DomainState::Gone);
    w.e.check_domains(0, &mut w.pf);
    err(&w.read(s, "/shared/orphan"), "ENOENT");
    err(&w.read(s, "/local/domain/5"), "ENOENT");
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/shared").body, b"n0\0");
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

/// A raw header (no payload) announcing `len` payload bytes.
fn header(ty: MsgType, len: u32) -> Vec<u8> {
    ring::wire::Header { ty: ty as u32, req_id: 1, tx_id: 0, len }.to_bytes().to_vec()
}

#[test]
fn xsa_38_oversize_message_is_a_protocol_error() {
    // Payloads above 4096 bytes are refused at the header, before any of
    // the payload is read; the guest stays known (XSA-325) and everybody
    // else is served.
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    let mut bytes = header(MsgType::Write, 4097);
    bytes.extend(vec![b'a'; 4097]);
    let e = w.raw(d, &bytes).unwrap_err();
    assert_eq!(e.code(), ring::wire::XENSTORE_ERROR_PROTO);
    assert!(!w.e.wants_input(d));
    assert_eq!(w.raw(d, &header(MsgType::Read, 3)).unwrap(), 0, "an ignored ring reads nothing");
    assert!(w.e.output(d).is_empty());
    assert_eq!(w.e.domain_conn(store::DomId(5)), Some(d));
    assert_eq!(w.e.stats().ignored_conns, 1);
    // The largest legal payload is still taken.
    let d6 = w.dom(6);
    let mut max = header(MsgType::Read, 4096);
    max.extend(vec![b'a'; 4095]);
    max.push(0);
    assert_eq!(w.raw(d6, &max).unwrap(), max.len());
    assert_eq!(w.recv_all(d6).len(), 1);
    ok(&w.write(s, "/still", "served"));
}

#[test]
fn xsa_420_gigabyte_lengths_fail_at_once() {
    // A header announcing 1-2 GiB (negative as a 32-bit int) is a protocol
    // error as soon as the header is complete: nothing is waited for or
    // allocated, and the bytes after the header are not consumed.
    for len in [0x4000_0000u32, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        let mut w = World::new();
        let d = w.dom(5);
        let mut bytes = header(MsgType::Write, len);
        bytes.extend_from_slice(b"/x\0y");
        let before = w.queued_bytes();
        assert!(w.raw(d, &bytes).is_err(), "len {len:#x}");
        assert!(!w.e.wants_input(d));
        assert_eq!(w.queued_bytes(), before);
        let s = w.sock();
        ok(&w.write(s, "/ok", "1"));
    }
    // The same header split byte by byte fails on its last byte.
    let mut w = World::new();
    let d = w.dom(5);
    let h = header(MsgType::Read, 0x6000_0000);
    for b in &h[..15] {
        assert_eq!(w.raw(d, std::slice::from_ref(b)).unwrap(), 1);
    }
    assert!(w.raw(d, &h[15..]).is_err());
}

#[test]
fn xsa_233_release_then_death_then_release_is_harmless() {
    let mut w = World::new();
    let s = w.sock();
    let base_conns = w.e.memreport().lines().nth(1).unwrap().to_string();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.args(d, MsgType::Watch, 0, &["data", "t"]));
    let _t = w.start(d);
    ok(&w.write(d, "data/x", "1"));
    ok(&w.args(s, MsgType::Watch, 0, &["@releaseDomain", "r"]));
    w.events(s);
    ok(&w.one(s, MsgType::Release, 0, "5"));
    assert_eq!(w.events(s).len(), 1);
    // The domain dies while the toolstack releases it: the VIRQ arrives
    // after the release, and the toolstack releases again.
    w.pf.states.insert(5, DomainState::Dying);
    w.e.check_domains(0, &mut w.pf);
    w.pf.states.insert(5, DomainState::Gone);
    w.e.check_domains(0, &mut w.pf);
    err(&w.one(s, MsgType::Release, 0, "5"), "ENOENT");
    assert!(w.events(s).is_empty(), "@releaseDomain fired once only");
    // The platform may still report the old connection's socket or ring.
    w.e.disconnect(d, &mut w.pf);
    w.e.ignore(d);
    w.e.reset_connection(d);
    assert_eq!(w.raw(d, &header(MsgType::Read, 2)).unwrap(), 0);
    assert!(w.e.output(d).is_empty());
    assert_eq!(w.pf.unmaps.get(&d), Some(&1), "the ring is unmapped exactly once");
    assert_eq!(w.e.memreport().lines().nth(1).unwrap(), base_conns);
    assert!(!w.e.memreport().contains("domain 5:"));
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
}

#[test]
fn xsa_272_node_quota_charged_on_every_creation_path() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "nodes", "7"]));
    // Implicit parents count: home + a + a/b + a/b/c = 4.
    ok(&w.write(d, "a/b/c", ""));
    assert_eq!(w.usage(5, "nodes"), 4);
    // Three more would reach 7: refused whole, nothing created.
    err(&w.write(d, "x/y/z", ""), "ENOSPC");
    err(&w.one(d, MsgType::Mkdir, 0, "x/y/z"), "ENOSPC");
    err(&w.read(d, "x"), "ENOENT");
    ok(&w.one(d, MsgType::Mkdir, 0, "m"));
    assert_eq!(w.usage(5, "nodes"), 5);
    // Inside a transaction the nodes are charged when created...
    let t = w.start(d);
    err(&w.write_tx(d, t, "p/q", ""), "ENOSPC");
    ok(&w.one(d, MsgType::TransactionEnd, t, "T"));
    err(&w.read(d, "p"), "ENOENT");
    assert_eq!(w.usage(5, "nodes"), 5);
    // ...and checked again at commit against what happened meanwhile.
    let t = w.start(d);
    ok(&w.write_tx(d, t, "p", ""));
    ok(&w.write(d, "m/z", ""));
    assert_eq!(w.usage(5, "nodes"), 6);
    err(&w.one(d, MsgType::TransactionEnd, t, "T"), "ENOSPC");
    err(&w.read(d, "p"), "ENOENT");
    assert_eq!(w.usage(5, "nodes"), 6);
    err(&w.write(d, "one-more", ""), "ENOSPC");
    let nodes = w.node_count();
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
    assert_eq!(w.node_count(), nodes);
}

#[test]
fn xsa_322_reused_domid_inherits_nothing() {
    // Xen 4.21+: domain 5 (unique id 1) dies without the store noticing,
    // and a new domain 5 (unique id 2) is introduced.
    let mut w = World::new();
    let s = w.sock();
    w.pf.uids.insert(5, 1);
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(d, "secret", "old"));
    ok(&w.write(s, "/shared", "x"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/shared", "n0", "b5"]));
    ok(&w.args(d, MsgType::Watch, 0, &["/shared", "t"]));
    ok(&w.write(d, "/shared/by5", "1"));
    w.pf.uids.insert(5, 2);
    let d2 = w.dom(5);
    assert_ne!(d, d2);
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/shared").body, b"n0\0");
    err(&w.read(s, "/shared/by5"), "ENOENT");
    err(&w.read(s, "/local/domain/5/secret"), "ENOENT");
    err(&w.read(d2, "/shared"), "EACCES");
    assert_eq!(w.usage(5, "nodes"), 0);
    assert_eq!(w.usage(5, "watches"), 0);
    ok(&w.write(s, "/shared", "y"));
    assert!(w.events(d2).is_empty(), "the old domain's watch is gone");
    // Up to 4.20 (no unique id) the death is seen by check_domains.
    w.pf.uids.clear();
    home(&mut w, s, 5);
    ok(&w.write(d2, "data", "1"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/shared", "n0", "r5"]));
    w.pf.states.insert(5, DomainState::Gone);
    w.e.check_domains(0, &mut w.pf);
    w.pf.states.remove(&5);
    let d3 = w.dom(5);
    err(&w.read(d3, "/shared"), "EACCES");
    err(&w.read(s, "/local/domain/5"), "ENOENT");
}

/// A relative path of exactly `len` bytes made of names of at most 99
/// bytes (so no directory grows past the node-size quota).
fn segmented(c: char, len: usize) -> String {
    let mut p = String::new();
    while p.len() < len {
        if !p.is_empty() && p.len() % 100 == 99 {
            p.push('/');
        } else {
            p.push(c);
        }
    }
    p
}

#[test]
fn xsa_323_path_max_applies_to_the_canonical_path() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    // Below the home, path-max (2048) counts what follows
    // /local/domain/5/, whether the guest wrote it relative or absolute.
    let rel = segmented('r', 2047);
    ok(&w.write(d, &rel, "1"));
    let abs = format!("/local/domain/5/{rel}");
    assert_eq!(w.read(d, &abs).body, b"1");
    assert_eq!(w.read(s, &abs).body, b"1");
    err(&w.write(d, &format!("{rel}r"), "1"), "EINVAL");
    err(&w.write(d, &format!("{abs}r"), "1"), "EINVAL");
    // Elsewhere the whole path counts.
    ok(&w.write(s, "/pub", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/pub", "b5"]));
    let other = format!("/pub/{}", segmented('p', 2042));
    ok(&w.write(d, &other, "1"));
    err(&w.write(d, &format!("{other}p"), "1"), "EINVAL");
    // A raised path-max still cannot take a relative path past the
    // absolute limit once prefixed (3072 bytes).
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "path-max", "4000"]));
    let long = segmented('l', 3072 - "/local/domain/5/".len());
    ok(&w.write(d, &long, "1"));
    err(&w.write(d, &format!("{long}l"), "1"), "EINVAL");
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
}

#[test]
fn xsa_330_reset_watches_frees_every_watch() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(s, "/local/domain/5/w/1", ""));
    let mem = w.usage(5, "memory");
    for round in 0..3 {
        for i in 0..100 {
            ok(&w.args(
                d,
                MsgType::Watch,
                0,
                &[&format!("w/{i}/{}", "p".repeat(200)), &format!("{round}-{i}")],
            ));
        }
        w.events(d);
        assert_eq!(w.usage(5, "watches"), 100);
        assert!(w.usage(5, "memory") > mem);
        ok(&w.req(d, MsgType::ResetWatches, 0, b""));
        assert_eq!(w.usage(5, "watches"), 0);
        assert_eq!(w.usage(5, "memory"), mem, "round {round}");
        ok(&w.write(s, "/local/domain/5/w/1", ""));
        assert!(w.events(d).is_empty());
    }
}

#[test]
fn xsa_352_unprivileged_owner_change_is_eperm() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(d, "mine", ""));
    let nodes5 = w.usage(5, "nodes");
    for owner in ["n0", "b0", "r6", "n65535"] {
        err(&w.args(d, MsgType::SetPerms, 0, &["/local/domain/5/mine", owner]), "EPERM");
    }
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/local/domain/5/mine").body, b"n5\0");
    assert_eq!(w.usage(5, "nodes"), nodes5);
    // Also inside a transaction.
    let t = w.start(d);
    err(&w.args(d, MsgType::SetPerms, t, &["/local/domain/5/mine", "n0"]), "EPERM");
    ok(&w.one(d, MsgType::TransactionEnd, t, "T"));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/local/domain/5/mine").body, b"n5\0");
    // The privileged domain may hand a node over.
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5/mine", "n0"]));
    assert_eq!(w.usage(5, "nodes"), nodes5 - 1);
}

#[test]
fn xsa_353_root_node_is_permission_checked() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    let root_perms = w.one(s, MsgType::GetPerms, 0, "/").body;
    let root_dir = w.one(s, MsgType::Directory, 0, "/").body;
    err(&w.args(d, MsgType::SetPerms, 0, &["/", "n5"]), "EACCES");
    err(&w.args(d, MsgType::SetPerms, 0, &["/", "b5"]), "EACCES");
    err(&w.one(d, MsgType::Rm, 0, "/"), "EACCES");
    err(&w.write(d, "/", "x"), "EACCES");
    err(&w.one(d, MsgType::Mkdir, 0, "/"), "EACCES");
    err(&w.one(d, MsgType::Directory, 0, "/"), "EACCES");
    err(&w.read(d, "/"), "EACCES");
    err(&w.write(d, "/newtop", "x"), "EACCES");
    let t = w.start(d);
    err(&w.one(d, MsgType::Rm, t, "/"), "EACCES");
    err(&w.args(d, MsgType::SetPerms, t, &["/", "n5"]), "EACCES");
    ok(&w.one(d, MsgType::TransactionEnd, t, "T"));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/").body, root_perms);
    assert_eq!(w.one(s, MsgType::Directory, 0, "/").body, root_dir);
    // Even the privileged domain cannot remove the root.
    err(&w.one(s, MsgType::Rm, 0, "/"), "EINVAL");
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
}

#[test]
fn xsa_414_failed_creation_leaves_nothing() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    let nodes = w.node_count();
    let mem = w.usage(5, "memory");
    let count = w.usage(5, "nodes");
    // The leaf's value is over node-size: none of the parents stay.
    err(&w.write(d, "p/q/r", &"v".repeat(3000)), "ENOSPC");
    // Too many nodes for the quota.
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "nodes", "3"]));
    err(&w.write(d, "p/q/r", ""), "ENOSPC");
    // Too many permissions for a new node's parent (inherited): the
    // parent chain is not left half-built either.
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "nodes", "1000"]));
    ok(&w.write(s, "/acl", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/acl", "n0", "b5"]));
    let nodes = nodes + 1;
    err(&w.write(d, &format!("/acl/{}/x", "a".repeat(3100)), ""), "EINVAL");
    err(&w.read(d, "p"), "ENOENT");
    assert_eq!(w.node_count(), nodes);
    assert_eq!(w.usage(5, "nodes"), count);
    assert_eq!(w.usage(5, "memory"), mem);
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
    // And the same creation succeeds afterwards.
    ok(&w.write(d, "p/q/r", "v"));
    assert_eq!(w.usage(5, "nodes"), count + 3);
}

#[test]
fn xsa_415_failed_create_in_a_transaction_orphans_nothing() {
    for commit in ["T", "F"] {
        let mut w = World::new();
        let s = w.sock();
        let d = w.dom(5);
        home(&mut w, s, 5);
        let nodes = w.node_count();
        let count = w.usage(5, "nodes");
        let mem = w.usage(5, "memory");
        let t = w.start(d);
        ok(&w.write_tx(d, t, "keep", "1"));
        err(&w.write_tx(d, t, "p/q/r", &"v".repeat(3000)), "ENOSPC");
        let end = w.one(d, MsgType::TransactionEnd, t, commit);
        if commit == "T" {
            // Committing keeps everything else the transaction did.
            assert_eq!(end.ty, MsgType::TransactionEnd as u32, "{}", end.text());
            assert_eq!(w.node_count(), nodes + 1);
            assert_eq!(w.usage(5, "nodes"), count + 1);
        } else {
            ok(&end);
            assert_eq!(w.node_count(), nodes);
            assert_eq!(w.usage(5, "nodes"), count);
        }
        err(&w.read(s, "/local/domain/5/p"), "ENOENT");
        assert!(w.usage(5, "memory") <= mem + 64, "transaction memory refunded");
        assert_eq!(w.usage(5, "transactions"), 0);
        ok(&w.args(s, MsgType::Control, 0, &["check"]));
    }
    // A creation that fails once it has started changing the
    // transaction's view (here the parent's children list outgrows
    // node-size) fails the whole transaction: commit is ENOMEM and
    // nothing of it lands.
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    for i in 0..21 {
        ok(&w.write(d, &format!("full/{i:090}"), ""));
    }
    let nodes = w.node_count();
    let t = w.start(d);
    ok(&w.write_tx(d, t, "keep", "1"));
    err(&w.write_tx(d, t, &format!("full/{}/y", "x".repeat(120)), ""), "ENOSPC");
    err(&w.one(d, MsgType::TransactionEnd, t, "T"), "ENOMEM");
    assert_eq!(w.node_count(), nodes);
    assert_eq!(
        w.one(s, MsgType::Directory, 0, "/local/domain/5/full").text().matches('\0').count(),
        21
    );
    err(&w.read(s, "/local/domain/5/keep"), "ENOENT");
    ok(&w.args(s, MsgType::Control, 0, &["check"]));
}

#[test]
fn xsa_416_reply_memory_returns_to_baseline_once_read() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    home(&mut w, s, 5);
    ok(&w.write(d, "big", &"b".repeat(2000)));
    for i in 0..40 {
        ok(&w.write(d, &format!("dir/{i:030}"), ""));
    }
    let mem = w.usage(5, "memory");
    let queued = w.queued_bytes();
    // Unread replies are charged while queued...
    let mut bytes = Vec::new();
    for (ty, arg) in [
        (MsgType::Read, "big"),
        (MsgType::Directory, "dir"),
        (MsgType::GetPerms, "big"),
        (MsgType::Read, "missing"),
    ] {
        let mut p = arg.as_bytes().to_vec();
        p.push(0);
        bytes.extend(header(ty, p.len() as u32));
        bytes.extend(p);
    }
    let all = bytes.repeat(4);
    assert_eq!(w.raw(d, &all).unwrap(), all.len());
    assert!(w.usage(5, "memory") > mem + 8000);
    assert_eq!(w.usage(5, "outstanding"), 16);
    // ...and only those: once read, every byte is refunded.
    assert_eq!(w.recv_all(d).len(), 16);
    assert_eq!(w.usage(5, "memory"), mem);
    assert_eq!(w.usage(5, "outstanding"), 0);
    assert_eq!(w.queued_bytes(), queued);
}

#[test]
fn xsa_425_release_twice_and_with_requests_pending() {
    let mut w = World::new();
    let s = w.sock();
    let conns = |w: &World| w.e.memreport().lines().nth(1).unwrap().to_string();
    let base = conns(&w);
    for _kexec in 0..3 {
        let d = w.dom(5);
        home(&mut w, s, 5);
        ok(&w.args(d, MsgType::Watch, 0, &["data", "t"]));
        let t = w.start(d);
        ok(&w.write_tx(d, t, "data/x", "1"));
        // Replies the guest has not read, and half a request.
        let mut p = b"data\0".to_vec();
        let mut bytes = header(MsgType::Read, p.len() as u32);
        bytes.append(&mut p);
        assert_eq!(w.raw(d, &bytes).unwrap(), bytes.len());
        assert_eq!(w.raw(d, &header(MsgType::Write, 100)).unwrap(), 16);
        assert!(!w.e.output(d).is_empty());
        // The toolstack releases it (soft reset / kexec), twice.
        ok(&w.one(s, MsgType::Release, 0, "5"));
        err(&w.one(s, MsgType::Release, 0, "5"), "ENOENT");
        assert!(w.e.output(d).is_empty());
        assert_eq!(w.raw(d, b"rest of the payload").unwrap(), 0);
        w.e.output_done(d, 100);
        w.e.tick(1_000_000);
        assert_eq!(w.pf.unmaps.get(&d), Some(&1));
        assert_eq!(conns(&w), base);
        assert!(!w.e.memreport().contains("domain 5:"), "{}", w.e.memreport());
        // The guest can only release itself through the toolstack.
        let g = w.dom(6);
        err(&w.one(g, MsgType::Release, 0, "6"), "EACCES");
        ok(&w.one(s, MsgType::Release, 0, "6"));
        ok(&w.args(s, MsgType::Control, 0, &["check"]));
    }
}
