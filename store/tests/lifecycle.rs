//! Domain lifecycle against the hypervisor model, in every Xen mode it
//! plays: shutdown and death notifications, the clean-up of a dead domain,
//! domid reuse, O(changed) work on 4.21+, and start-up enumeration.

mod common;

use ring::wire::{Header, MsgType};
use store::model::{HypervisorModel, Semantics};
use store::{Config, ConnId, DomId, DomainCaps, Engine, Platform};

/// An engine, the model it runs on, and a clock.
struct Rig {
    e: Engine,
    xen: HypervisorModel,
    now: u64,
}

impl Rig {
    /// A rig playing `s`; on 4.21 `VIRQ_DOM_EXC` is bound first, as the
    /// stub does at boot.
    fn new(s: Semantics) -> Rig {
        Rig::with(s, Config::default())
    }

    fn with(s: Semantics, cfg: Config) -> Rig {
        let mut xen = HypervisorModel::new(s);
        xen.create_with_caps(DomId(0), DomainCaps { control: true, ..Default::default() });
        xen.bind_virq();
        Rig { e: Engine::new(cfg), xen, now: 0 }
    }

    /// Creates domain `d` in the model and introduces it as the toolstack
    /// would.
    fn guest(&mut self, d: u16) -> ConnId {
        self.xen.create(DomId(d));
        self.e.introduce(DomId(d), 0, 1, &mut self.xen).expect("introduce")
    }

    fn check(&mut self) {
        self.now += 1;
        self.e.check_domains(self.now, &mut self.xen);
    }

    /// Sends one request and returns the reply's type and body; watch
    /// events that arrive meanwhile are dropped.
    fn req(&mut self, c: ConnId, ty: MsgType, args: &[&str]) -> (u32, String) {
        let mut body = Vec::new();
        for a in args {
            body.extend_from_slice(a.as_bytes());
            body.push(0);
        }
        let bytes = common::request(ty, 7, 0, &body);
        self.e.input(c, &bytes, self.now, &mut self.xen).expect("input");
        let msgs = self.recv(c);
        let (ty, body) =
            msgs.into_iter().find(|(t, _)| *t != MsgType::WatchEvent as u32).expect("reply");
        (ty, String::from_utf8_lossy(&body).into_owned())
    }

    fn ok(&mut self, c: ConnId, ty: MsgType, args: &[&str]) -> String {
        let (t, body) = self.req(c, ty, args);
        assert_ne!(t, MsgType::Error as u32, "{ty:?} {args:?}: {body}");
        body
    }

    /// Every queued message of `c` as (type, body).
    fn recv(&mut self, c: ConnId) -> Vec<(u32, Vec<u8>)> {
        common::drain(&mut self.e, c).into_iter().map(|m| (m.ty, m.body)).collect()
    }

    /// The paths of the watch events queued on `c`.
    fn events(&mut self, c: ConnId) -> Vec<String> {
        self.recv(c)
            .into_iter()
            .filter(|(t, _)| *t == MsgType::WatchEvent as u32)
            .map(|(_, b)| {
                String::from_utf8_lossy(b.split(|&x| x == 0).next().unwrap()).into_owned()
            })
            .collect()
    }

    /// A dom0 socket client watching `@releaseDomain` and
    /// `@releaseDomain/<d>` for each of `doms`.
    fn watcher(&mut self, doms: impl IntoIterator<Item = u16>) -> ConnId {
        let s = self.e.connect_socket().unwrap();
        self.ok(s, MsgType::Watch, &["@releaseDomain", "rel"]);
        for d in doms {
            self.ok(s, MsgType::Watch, &[&format!("@releaseDomain/{d}"), "rel"]);
        }
        self.events(s);
        s
    }

    /// The watch events queued on `c`, sorted.
    fn sorted_events(&mut self, c: ConnId) -> Vec<String> {
        let mut ev = self.events(c);
        ev.sort();
        ev
    }

    /// The memory report without the request counters.
    fn memory(&self) -> String {
        self.e
            .memreport()
            .lines()
            .filter(|l| !l.starts_with("requests:"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills `d` the way `s` lets the store see it.
    fn destroy(&mut self, d: u16) {
        self.xen.kill(DomId(d));
        self.xen.dead(DomId(d));
        self.xen.destroy(DomId(d));
    }
}

#[test]
fn shutdown_fires_release_domain_once() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        r.check();
        let w = r.watcher([5]);
        r.guest(5);
        r.check();
        assert_eq!(r.events(w), Vec::<String>::new(), "{s:?}: a running domain");
        r.xen.shutdown(DomId(5));
        r.check();
        assert_eq!(r.sorted_events(w), ["@releaseDomain", "@releaseDomain/5"], "{s:?}");
        r.check();
        r.xen.shutdown(DomId(5));
        r.check();
        assert_eq!(r.events(w), Vec::<String>::new(), "{s:?}: reported once");
        assert!(r.e.domain_conn(DomId(5)).is_some(), "{s:?}: a shut-down domain stays");
    }
}

#[test]
fn destroy_frees_everything_the_domain_held() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        r.check();
        let w = r.watcher([5]);
        r.xen.create(DomId(5));
        r.ok(w, MsgType::Mkdir, &["/local/domain"]);
        r.ok(w, MsgType::Write, &["/shared", "x"]);
        r.ok(w, MsgType::Mkdir, &["/vm"]);
        let before = r.memory();

        let c = r.e.introduce(DomId(5), 0, 1, &mut r.xen).unwrap();
        r.ok(w, MsgType::Mkdir, &["/local/domain/5"]);
        r.ok(w, MsgType::SetPerms, &["/local/domain/5", "n5"]);
        r.ok(w, MsgType::Mkdir, &["/vm/5"]);
        r.ok(w, MsgType::SetPerms, &["/vm/5", "n5"]);
        r.ok(w, MsgType::SetPerms, &["/shared", "n0", "r5"]);
        r.ok(c, MsgType::Write, &["/local/domain/5/data", "hello"]);
        r.ok(c, MsgType::Write, &["/vm/5/outside", "there"]);
        r.ok(c, MsgType::Watch, &["/shared", "t"]);
        r.ok(c, MsgType::TransactionStart, &[""]);
        assert!(r.ok(w, MsgType::Control, &["quota", "5"]).contains("nodes"), "{s:?}");
        assert_ne!(r.memory(), before, "{s:?}");
        r.events(w);

        r.destroy(5);
        r.check();
        assert_eq!(r.sorted_events(w), ["@releaseDomain", "@releaseDomain/5"], "{s:?}");
        assert_eq!(r.xen.unmap_count(c), 1, "{s:?}: unmapped once");
        assert!(r.xen.mapped.is_empty(), "{s:?}");
        assert_eq!(r.req(w, MsgType::Read, &["/local/domain/5/data"]).1, "ENOENT\0", "{s:?}");
        assert_eq!(r.req(w, MsgType::Read, &["/vm/5"]).1, "ENOENT\0", "{s:?}: outside its home");
        assert_eq!(r.ok(w, MsgType::GetPerms, &["/shared"]), "n0\0", "{s:?}: ACL entry gone");
        assert_eq!(r.req(w, MsgType::Control, &["quota", "5"]).1, "ENOENT\0", "{s:?}");
        assert_eq!(r.ok(w, MsgType::IsDomainIntroduced, &["5"]), "F\0", "{s:?}");
        r.events(w);
        assert_eq!(r.memory(), before, "{s:?}: every byte given back");

        // Later checks do not touch it again.
        r.check();
        assert_eq!(r.xen.unmap_count(c), 1, "{s:?}");
        assert_eq!(r.events(w), Vec::<String>::new(), "{s:?}");
    }
}

#[test]
fn reused_domid_is_a_new_domain_on_4_21() {
    let mut r = Rig::new(Semantics::GetDomainState421);
    r.check();
    let w = r.watcher([5]);
    let c = r.guest(5);
    r.ok(w, MsgType::Mkdir, &["/local/domain/5"]);
    r.ok(w, MsgType::SetPerms, &["/local/domain/5", "n5"]);
    r.ok(c, MsgType::Write, &["/local/domain/5/old", "1"]);
    r.ok(w, MsgType::SetQuota, &["5", "nodes", "77"]);
    r.check();
    r.events(w);

    // Domain 5 dies and a new domain 5 appears before the store looks:
    // the bitmap reports domid 5 once, running, with a new unique id.
    r.destroy(5);
    r.xen.create(DomId(5));
    r.check();
    assert_eq!(r.sorted_events(w), ["@releaseDomain", "@releaseDomain/5"]);
    assert_eq!(r.xen.unmap_count(c), 1);
    assert_eq!(r.req(w, MsgType::Read, &["/local/domain/5/old"]).1, "ENOENT\0");
    assert_eq!(r.ok(w, MsgType::IsDomainIntroduced, &["5"]), "F\0");

    // The new domain starts with nothing of the old one.
    let c2 = r.e.introduce(DomId(5), 0, 1, &mut r.xen).unwrap();
    assert_ne!(c, c2);
    assert_eq!(r.ok(w, MsgType::GetQuota, &["5", "nodes"]), "1000\0");
    let usage = r.ok(w, MsgType::Control, &["quota", "5"]);
    let nodes = usage.lines().find(|l| l.starts_with("nodes")).unwrap();
    assert!(nodes.split(':').nth(1).unwrap().trim().starts_with("0 "), "{usage}");
}

#[test]
fn reintroducing_a_reused_domid_cleans_up_the_old_domain_first() {
    let mut r = Rig::new(Semantics::GetDomainState421);
    r.check();
    let w = r.watcher([5]);
    let c = r.guest(5);
    r.ok(w, MsgType::Mkdir, &["/vm/5"]);
    r.ok(w, MsgType::SetPerms, &["/vm/5", "n5"]);
    r.ok(c, MsgType::Watch, &["/vm", "old"]);
    r.events(w);
    // The toolstack introduces the new domain 5 before VIRQ_DOM_EXC is seen.
    r.destroy(5);
    r.xen.create(DomId(5));
    let c2 = r.e.introduce(DomId(5), 0, 1, &mut r.xen).unwrap();
    assert_ne!(c, c2, "a fresh connection");
    assert_eq!(r.xen.unmap_count(c), 1);
    let ev = r.events(w);
    assert!(ev.contains(&"@releaseDomain/5".to_string()), "{ev:?}");
    assert_eq!(r.req(w, MsgType::Read, &["/vm/5"]).1, "ENOENT\0");
    // The new domain's record stays through the pending changed report.
    r.check();
    assert_eq!(r.e.domain_conn(DomId(5)), Some(c2));
    assert_eq!(r.xen.unmap_count(c2), 0);
}

/// A small deterministic shuffle (xorshift), so the test needs no crate.
fn shuffled(n: u16, mut seed: u64) -> Vec<u16> {
    let mut v: Vec<u16> = (1..=n).collect();
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

#[test]
fn a_thousand_domains_die_in_random_order() {
    const N: u16 = 1000;
    const BATCH: usize = 10;
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        r.check();
        let w = r.watcher(1..=N);
        let before = r.memory();
        let conns: Vec<ConnId> = (1..=N).map(|d| r.guest(d)).collect();
        r.check();
        r.events(w);
        r.xen.domain_info_calls = 0;
        r.xen.changed_calls = 0;
        let order = shuffled(N, 0x2545_f491_4f6c_dd1d);
        let mut released = 0;
        for batch in order.chunks(BATCH) {
            for &d in batch {
                r.destroy(d);
            }
            r.check();
            let ev = r.events(w);
            released += ev.iter().filter(|p| p.starts_with("@releaseDomain/")).count();
            for &d in batch {
                assert!(ev.contains(&format!("@releaseDomain/{d}")), "{s:?}: {d} in {ev:?}");
            }
        }
        assert_eq!(released, usize::from(N), "{s:?}");
        for c in &conns {
            assert_eq!(r.xen.unmap_count(*c), 1, "{s:?}");
        }
        assert_eq!(r.memory(), before, "{s:?}");
        let checks = order.len().div_ceil(BATCH) as u64;
        if s == Semantics::GetDomainState421 {
            // One poll per changed domain plus the closing -ENOENT per check.
            assert_eq!(r.xen.changed_calls, u64::from(N) + checks, "{s:?}");
            assert_eq!(r.xen.domain_info_calls, 0, "{s:?}");
        } else {
            // Every check asks about every domain still known: O(all).
            assert_eq!(r.xen.changed_calls, checks, "{s:?}");
            assert!(
                r.xen.domain_info_calls > 40 * u64::from(N),
                "{s:?}: {}",
                r.xen.domain_info_calls
            );
        }
    }
}

#[test]
fn start_up_learns_the_control_domain_and_introduces_the_rest() {
    let mut xen = HypervisorModel::new(Semantics::GetDomainState421);
    xen.create_with_caps(DomId(1), DomainCaps { xenstore: true, ..Default::default() });
    xen.create(DomId(2));
    xen.create_with_caps(DomId(3), DomainCaps { control: true, ..Default::default() });
    xen.create(DomId(4));
    xen.bind_virq();
    let mut e = Engine::new(Config::default());
    let report = e.start_domains(&mut xen);
    assert!(report.enumerated);
    assert_eq!(report.introduced, [DomId(3), DomId(2), DomId(4)], "control domain first");
    assert!(report.failed.is_empty());
    assert_eq!(e.config().priv_domid, DomId(3));
    assert_eq!(e.config().store_domid, DomId(1));
    assert!(xen.mapping_of(DomId(1)).is_none(), "the store domain is ourselves");
    let (_, m) = xen.mapping_of(DomId(2)).unwrap();
    assert_eq!((m.port, m.features), (102, e.page_features(DomId(2))), "port from the page");

    // The initial nodes belong to the control domain, and it is privileged.
    let mut r = Rig { e, xen, now: 0 };
    let s = r.e.connect_socket().unwrap();
    assert_eq!(r.ok(s, MsgType::GetPerms, &["/"]), "n3\0");
    let c3 = r.e.domain_conn(DomId(3)).unwrap();
    r.ok(c3, MsgType::Write, &["/top", "x"]);
    let c2 = r.e.domain_conn(DomId(2)).unwrap();
    assert_eq!(r.req(c2, MsgType::Write, &["/top2", "x"]).1, "EACCES\0");
    assert_eq!(r.xen.next_changed_domain(), store::ChangedDomain::Done, "drained");
}

#[test]
fn a_dom0less_start_writes_the_homes_and_skips_the_store_domain() {
    // Xen 4.21+ on Arm: the xenstore domain is also the control domain
    // (capabilities = <0x5>), no toolstack writes the guests' homes.
    let mut xen = HypervisorModel::new(Semantics::GetDomainState421);
    xen.dom0less = true;
    let both = DomainCaps { control: true, xenstore: true, ..Default::default() };
    xen.create_with_caps(DomId(1), both);
    xen.create(DomId(2));
    xen.create(DomId(3));
    xen.bind_virq();
    let mut e = Engine::new(Config::default());
    let report = e.start_domains(&mut xen);
    assert_eq!(report.introduced, [DomId(2), DomId(3)], "not the store domain itself");
    assert!(report.failed.is_empty());
    assert_eq!(e.config().priv_domid, DomId(1));
    assert!(xen.mapping_of(DomId(1)).is_none());

    let mut r = Rig { e, xen, now: 0 };
    let c2 = r.e.domain_conn(DomId(2)).unwrap();
    assert_eq!(r.ok(c2, MsgType::Read, &["name"]), "dom0less-2");
    assert_eq!(r.ok(c2, MsgType::Read, &["domid"]), "2");
    assert_eq!(r.ok(c2, MsgType::Read, &["store/port"]), "102");
    assert_eq!(r.ok(c2, MsgType::Read, &["store/ring-ref"]), "233473");
    assert_eq!(r.ok(c2, MsgType::Read, &["cpu/0/availability"]), "online");
    assert_eq!(r.ok(c2, MsgType::GetPerms, &["/local/domain/2/data"]), "n2\0r1\0");
    r.ok(c2, MsgType::Write, &["data/x", "1"]);
    assert_eq!(r.req(c2, MsgType::Write, &["/local/domain/3/x", "1"]).1, "EACCES\0");
    assert_eq!(r.req(c2, MsgType::Read, &["/local/domain/3/name"]).1, "EACCES\0");
    let s = r.e.connect_socket().unwrap();
    assert_eq!(r.ok(s, MsgType::Read, &["/local/domain/3/name"]), "dom0less-3");
}

#[test]
fn start_up_keeps_an_explicit_priv_domid_and_skips_introduced_domains() {
    let mut xen = HypervisorModel::new(Semantics::GetDomainState421);
    xen.create_with_caps(DomId(0), DomainCaps { control: true, hardware: true, xenstore: false });
    xen.create_with_caps(DomId(1), DomainCaps { xenstore: true, ..Default::default() });
    xen.create_with_caps(DomId(7), DomainCaps { control: true, ..Default::default() });
    xen.bind_virq();
    let cfg = Config { discover_priv_domid: false, ..Config::default() };
    let mut e = Engine::new(cfg);
    let dom0 = e.introduce(DomId(0), 0, 9, &mut xen).unwrap();
    let report = e.start_domains(&mut xen);
    assert_eq!(e.config().priv_domid, DomId(0));
    assert_eq!(report.introduced, [DomId(7)]);
    assert_eq!(e.domain_conn(DomId(0)), Some(dom0), "dom0 was already served");
    assert_eq!(xen.mapping_of(DomId(0)).unwrap().1.port, 9);
}

#[test]
fn a_failed_auto_introduce_is_not_fatal() {
    let mut xen = HypervisorModel::new(Semantics::GetDomainState421);
    xen.create_with_caps(DomId(0), DomainCaps { control: true, ..Default::default() });
    xen.create(DomId(4));
    xen.create(DomId(5));
    xen.fail_map(DomId(4));
    xen.bind_virq();
    let mut e = Engine::new(Config::default());
    let report = e.start_domains(&mut xen);
    assert_eq!(report.introduced, [DomId(0), DomId(5)]);
    assert_eq!(report.failed, [DomId(4)]);
    assert!(e.domain_conn(DomId(4)).is_none());
    // The toolstack can still introduce it later.
    let mut xen2 = HypervisorModel::new(Semantics::GetDomainState421);
    xen2.create(DomId(4));
    assert!(e.introduce(DomId(4), 0, 3, &mut xen2).is_ok());
}

#[test]
fn start_up_does_nothing_before_4_21() {
    for s in [Semantics::Getdomaininfo417, Semantics::Getdomaininfo418] {
        let mut r = Rig::new(s);
        r.xen.create(DomId(3));
        let report = r.e.start_domains(&mut r.xen);
        assert!(!report.enumerated, "{s:?}");
        assert!(report.introduced.is_empty() && r.xen.mapped.is_empty(), "{s:?}");
        assert_eq!(r.e.config().priv_domid, DomId(0));
    }
}

#[test]
fn an_ignored_connection_keeps_its_domain_until_it_dies() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        r.check();
        let w = r.watcher([5]);
        let c = r.guest(5);
        r.events(w);
        // A header announcing more than 4096 payload bytes (XSA-325).
        let h = Header { ty: MsgType::Read as u32, req_id: 1, tx_id: 0, len: 5000 };
        assert!(r.e.input(c, &h.to_bytes(), r.now, &mut r.xen).is_err(), "{s:?}");
        assert!(!r.e.wants_input(c), "{s:?}");
        r.check();
        assert_eq!(r.ok(w, MsgType::IsDomainIntroduced, &["5"]), "T\0", "{s:?}");
        assert_eq!(r.xen.unmap_count(c), 0, "{s:?}");
        assert_eq!(r.events(w), Vec::<String>::new(), "{s:?}");
        r.destroy(5);
        r.check();
        assert_eq!(r.sorted_events(w), ["@releaseDomain", "@releaseDomain/5"], "{s:?}");
        assert_eq!(r.xen.unmap_count(c), 1, "{s:?}");
    }
}

#[test]
fn the_page_gets_the_domains_own_features() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        let w = r.e.connect_socket().unwrap();
        r.xen.create(DomId(6));
        r.ok(w, MsgType::SetFeature, &["6", "2"]);
        let c = r.e.introduce(DomId(6), 0, 1, &mut r.xen).unwrap();
        let reconnection = ring::wire::XENSTORE_SERVER_FEATURE_RECONNECTION;
        assert_eq!(r.xen.mapped[&c].features, 2 | reconnection, "{s:?}");
        assert_eq!(r.e.domain_features(DomId(6)), 2, "{s:?}: the domain's own word");
    }
}

/// Guest 5 writes in its home while a dom0 watcher does not read its
/// events, then dies: its request stays pending until the watcher reads
/// the event it caused. Returns the watcher.
fn dead_domain_with_a_pending_request(r: &mut Rig) -> ConnId {
    r.check();
    let w = r.watcher([5]);
    let c = r.guest(5);
    r.ok(w, MsgType::Watch, &["/local/domain/5", "home"]);
    r.ok(w, MsgType::Mkdir, &["/local/domain/5"]);
    r.ok(w, MsgType::SetPerms, &["/local/domain/5", "n5"]);
    r.events(w);
    r.ok(c, MsgType::Write, &["/local/domain/5/x", "1"]);
    r.destroy(5);
    r.check();
    w
}

/// The `outstanding` usage `XS_CONTROL quota <d>` reports (asked on a
/// connection of its own, so no other connection's events are read).
fn outstanding(r: &mut Rig, d: u16) -> String {
    let q = r.e.connect_socket().unwrap();
    let report = r.ok(q, MsgType::Control, &["quota", &d.to_string()]);
    let line = report.lines().find(|l| l.starts_with("outstanding")).expect("outstanding line");
    line.split(':').nth(1).and_then(|v| v.split_whitespace().next()).unwrap_or("").to_owned()
}

#[test]
fn events_a_dead_domain_caused_do_not_bring_its_record_back() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        let w = dead_domain_with_a_pending_request(&mut r);
        // Reading the event finishes the dead domain's request.
        assert!(r.events(w).contains(&String::from("/local/domain/5/x")), "{s:?}");
        assert_eq!(r.req(w, MsgType::Control, &["quota", "5"]).1, "ENOENT\0", "{s:?}");
        assert!(!r.memory().contains("domain 5:"), "{s:?}: no record for the dead domain");
    }
}

#[test]
fn a_dead_domains_requests_are_not_credited_to_its_successor() {
    for s in Semantics::ALL {
        let mut r = Rig::new(s);
        let w = dead_domain_with_a_pending_request(&mut r);
        // A new domain 5 sends a request and leaves the reply unread.
        let c = r.guest(5);
        let read = common::request(MsgType::GetDomainPath, 1, 0, b"5\0");
        r.e.input(c, &read, r.now, &mut r.xen).expect("input");
        assert_eq!(outstanding(&mut r, 5), "1", "{s:?}");
        // The old domain's event is read: the new domain still owes one.
        assert!(r.events(w).contains(&String::from("/local/domain/5/x")), "{s:?}");
        assert_eq!(outstanding(&mut r, 5), "1", "{s:?}");
        r.recv(c);
        assert_eq!(outstanding(&mut r, 5), "0", "{s:?}");
    }
}

/// Every node under `p` (itself first) as "path = value [perms]", as dom0
/// on `c` lists it.
fn listing(r: &mut Rig, c: ConnId, p: &str, out: &mut Vec<String>) {
    let (t, value) = r.req(c, MsgType::Read, &[p]);
    if t == MsgType::Error as u32 {
        return;
    }
    let perms = r.ok(c, MsgType::GetPerms, &[p]);
    out.push(format!("{p} = {value:?} {perms:?}"));
    let kids = r.ok(c, MsgType::Directory, &[p]);
    for k in kids.split('\0').filter(|k| !k.is_empty()) {
        let child = if p == "/" { format!("/{k}") } else { format!("{p}/{k}") };
        listing(r, c, &child, out);
    }
}

/// The whole tree, the memory report and the events a watch on `/` saw.
fn state(r: &mut Rig, c: ConnId) -> (Vec<String>, String, Vec<String>) {
    let events = r.events(c);
    let mut tree = Vec::new();
    for root in ["/", "@releaseDomain", "@introduceDomain"] {
        listing(r, c, root, &mut tree);
    }
    (tree, r.memory(), events)
}

/// Domains die the same through the owners index as through C's walk of
/// the whole tree: the same nodes removed in the same order (the same
/// watch events), the same ACL entries gone, the same usage refunded. A
/// seeded random tree of nested ownership and ACLs naming eight guests,
/// some with open transactions; guests then die one by one.
#[test]
fn deaths_through_the_index_match_the_walk_of_the_whole_tree() {
    for (seed, keep_orphans) in [(1u64, false), (2, false), (3, true), (4, false)] {
        let cfg = Config { keep_orphans, ..Config::default() };
        let mut rigs = [
            Rig::with(Semantics::Getdomaininfo417, cfg.clone()),
            Rig::with(Semantics::Getdomaininfo417, cfg),
        ];
        rigs[1].e.set_walk_deaths(true);
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        const GUESTS: u16 = 8;
        let mut socks = Vec::new();
        let mut guests = Vec::new();
        for r in &mut rigs {
            r.check();
            let w = r.e.connect_socket().unwrap();
            r.ok(w, MsgType::Watch, &["/", "all"]);
            socks.push(w);
            guests.push((1..=GUESTS).map(|d| r.guest(d)).collect::<Vec<_>>());
        }
        let segs = ["a", "b", "local", "domain", "1", "2", "3", "vm"];
        for _ in 0..600 {
            let depth = 1 + next(4);
            let mut p = String::new();
            for _ in 0..depth {
                p.push('/');
                p.push_str(segs[next(segs.len() as u64) as usize]);
            }
            let d = next(u64::from(GUESTS) + 1) as u16;
            let op = next(10);
            let mut acl = vec![format!("n{d}")];
            for _ in 0..next(3) {
                let bits = ["r", "w", "b"][next(3) as usize];
                acl.push(format!("{bits}{}", next(u64::from(GUESTS) + 1)));
            }
            let mut replies = Vec::new();
            for (i, r) in rigs.iter_mut().enumerate() {
                // Time passes: guests' writes stay under the rate limit.
                r.now += 1000;
                let (w, g) = (socks[i], guests[i][usize::from(d.max(1)) - 1]);
                let reply = match op {
                    0..=3 => r.req(w, MsgType::Write, &[&p, "v"]),
                    4 | 5 => {
                        let mut args = vec![p.as_str()];
                        args.extend(acl.iter().map(String::as_str));
                        r.req(w, MsgType::SetPerms, &args)
                    }
                    6 | 7 => r.req(g, MsgType::Write, &[&p, "g"]),
                    8 => r.req(w, MsgType::Rm, &[&p]),
                    _ => r.req(g, MsgType::TransactionStart, &[""]),
                };
                replies.push(reply);
            }
            assert_eq!(replies[0], replies[1], "seed {seed}: op {op} on {p}");
        }
        let before = [state(&mut rigs[0], socks[0]), state(&mut rigs[1], socks[1])];
        assert_eq!(before[0], before[1], "seed {seed}: before");
        for d in shuffled(GUESTS, seed) {
            let mut after = Vec::new();
            for (i, r) in rigs.iter_mut().enumerate() {
                r.destroy(d);
                r.check();
                after.push(state(r, socks[i]));
            }
            assert_eq!(after[0], after[1], "seed {seed}: after domain {d} died");
            let listed = after[0].0.join("\n");
            if !keep_orphans {
                assert!(
                    !listed.contains(&format!("\\0{d}\\0")),
                    "seed {seed}: {d} left in\n{listed}"
                );
            }
        }
    }
}

/// The owners index's entries and bytes, from the memory report.
fn owners_index(r: &Rig) -> (usize, usize) {
    let rep = r.e.memreport();
    let line = rep.lines().find(|l| l.starts_with("owners index: ")).expect("owners line");
    let words: Vec<&str> = line.split(' ').collect();
    (words[2].parse().unwrap(), words[4].trim_start_matches('(').parse().unwrap())
}

/// What the owners index costs for domains laid out as libxl lays them
/// out (a home owned by dom0 with directories the guest owns, frontends
/// the guest owns holding an entry of dom0's), and that it is empty again
/// once they are gone.
#[test]
fn the_owners_index_costs_a_few_hundred_bytes_per_domain() {
    const N: u16 = 200;
    let mut r = Rig::new(Semantics::Getdomaininfo417);
    r.check();
    let w = r.e.connect_socket().unwrap();
    let before = owners_index(&r);
    for d in 1..=N {
        r.guest(d);
        let home = format!("/local/domain/{d}");
        let ro = [String::from("n0"), format!("r{d}")];
        let rw = [format!("n{d}")];
        let fe = [format!("n{d}"), String::from("r0")];
        let node = |r: &mut Rig, p: &str, perms: &[String]| {
            r.ok(w, MsgType::Write, &[p, ""]);
            let mut args = vec![p];
            args.extend(perms.iter().map(String::as_str));
            r.ok(w, MsgType::SetPerms, &args);
        };
        node(&mut r, &home, &ro);
        for sub in ["control", "device"] {
            node(&mut r, &format!("{home}/{sub}"), &ro);
        }
        for sub in
            ["data", "drivers", "feature", "attr", "error", "control/shutdown", "control/sysrq"]
        {
            node(&mut r, &format!("{home}/{sub}"), &rw);
        }
        for dev in ["vif/0", "vbd/51712"] {
            let fe_path = format!("{home}/device/{dev}");
            node(&mut r, &fe_path, &fe);
            node(&mut r, &format!("{fe_path}/state"), &fe);
            node(&mut r, &format!("{fe_path}/mtu"), &ro);
        }
    }
    let (entries, bytes) = owners_index(&r);
    let per_domain = (bytes - before.1) / usize::from(N);
    eprintln!("owners index: {entries} entries, {bytes} bytes, {per_domain} bytes per domain");
    assert_eq!(entries - before.0, 6 * usize::from(N), "home, control, vif, vbd; dom0's two");
    assert!(per_domain <= 500, "{per_domain} bytes per domain");
    for d in 1..=N {
        r.destroy(d);
    }
    r.check();
    assert_eq!(owners_index(&r), before, "given back");
}
