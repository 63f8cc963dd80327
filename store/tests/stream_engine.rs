//! Engine dump and restore: engines built by requests are dumped to a
//! migration stream, encoded, decoded and restored, and the restored
//! engine must be observably the same: the same stream again, the same
//! tree with values and permissions, the same per-domain usage, the same
//! pending output, the same watch events for the same writes, and
//! transactions that work.

mod common;
mod stream_common;

use common::dump::{reencoded, usage, Ports};
use common::*;
use ring::wire::MsgType;
use store::stream::{self, ByteOrder, Header, Record, Stream, Version};
use store::{ConnId, DomId, DumpError, DumpOptions, Engine, RestoreError};
use stream_common::Rng;

fn opts(version: Version, order: ByteOrder) -> DumpOptions {
    DumpOptions {
        header: Header { version, order },
        global: Some(stream::GlobalData { socket_fd: 3, evtchn_fd: 4 }),
        force: false,
    }
}

/// Dumps `w`, encodes, decodes and restores; returns the restored world
/// and the stream.
fn roundtrip_with(w: &World, o: DumpOptions) -> (World, Stream) {
    let s = w.e.dump_state(&o, &Ports).expect("dump");
    let mut bytes = Vec::new();
    stream::encode(&s, &mut bytes).expect("encode");
    let mut streamed = Vec::new();
    w.e.dump_bytes(&o, &Ports, &mut streamed).expect("dump_bytes");
    assert_eq!(bytes, streamed, "dump_bytes writes what dump_state returns");
    let back = reencoded(&s);
    let mut pf = Model::default();
    let r = Engine::restore(w.e.config().clone(), &back, w.now, &mut pf).expect("restore");
    assert_eq!(r.global, o.global);
    assert!(r.unread.is_empty());
    // Every ring is taken over with the port the platform had bound.
    for rec in &s.records {
        if let Record::Connection(c) = rec {
            if let stream::ConnKind::Ring { domid, evtchn, .. } = c.kind {
                if evtchn != 0 {
                    assert!(pf.restored.iter().any(|x| x.conn.0 == c.conn_id
                        && x.domid == DomId(domid)
                        && x.port == evtchn));
                }
            }
            if let stream::ConnKind::Socket { fd } = c.kind {
                assert!(r.sockets.contains(&(ConnId(c.conn_id), fd)));
            }
        }
    }
    let restored = World::restored(r.engine, pf, w.now);
    (restored, s)
}

/// Every node below and including `root`, as `xenstore-ls -p` would show
/// it: path, value, permissions (through a fresh privileged socket).
fn listing(w: &mut World) -> Vec<String> {
    let s = w.sock();
    let mut out = Vec::new();
    let mut todo = vec![String::from("/")];
    while let Some(p) = todo.pop() {
        let v = w.read(s, &p);
        let perms = w.one(s, MsgType::GetPerms, 0, &p);
        out.push(format!("{p} = {:?} [{}]", v.text(), perms.text()));
        let dir = w.one(s, MsgType::Directory, 0, &p);
        assert_eq!(dir.ty, MsgType::Directory as u32, "{p}: {}", dir.text());
        let names: Vec<String> = dir
            .body
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8(n.to_vec()).unwrap())
            .collect();
        for n in names.into_iter().rev() {
            todo.push(if p == "/" { format!("/{n}") } else { format!("{p}/{n}") });
        }
    }
    for special in ["@releaseDomain", "@introduceDomain"] {
        out.push(format!("{special} [{}]", w.one(s, MsgType::GetPerms, 0, special).text()));
    }
    w.e.disconnect(s, &mut w.pf);
    out
}

/// Every connection's pending bytes, taken.
fn take_output(w: &mut World, conns: &[ConnId]) -> Vec<(ConnId, Vec<u8>)> {
    let mut out = Vec::new();
    for &c in conns {
        let mut bytes = Vec::new();
        loop {
            let o = w.e.output(c).to_vec();
            if o.is_empty() {
                break;
            }
            w.e.output_done(c, o.len());
            bytes.extend(o);
        }
        out.push((c, bytes));
    }
    out
}

/// Asserts `a` and `b` are observably the same; `conns` are the
/// connections to compare output of. Leaves both with empty queues.
fn assert_same(a: &mut World, b: &mut World, conns: &[ConnId]) {
    let o = opts(Version::V2, ByteOrder::Little);
    let (da, db) = (a.e.dump_state(&o, &Ports).unwrap(), b.e.dump_state(&o, &Ports).unwrap());
    for (i, (ra, rb)) in da.records.iter().zip(&db.records).enumerate() {
        assert_eq!(ra, rb, "record {i} of the dumps differs");
    }
    assert_eq!(da.records.len(), db.records.len(), "the dumps differ in length");
    let used: Vec<String> =
        usage(a).iter().map(|l| l.split(" outstanding").next().unwrap().to_string()).collect();
    let used_b: Vec<String> =
        usage(b).iter().map(|l| l.split(" outstanding").next().unwrap().to_string()).collect();
    assert_eq!(used, used_b, "nodes, watches, transactions");
    assert_eq!(take_output(a, conns), take_output(b, conns), "pending output");
    assert_eq!(usage(a), usage(b), "usage once output is delivered");
    assert_eq!(listing(a), listing(b));
    assert_eq!(a.node_count(), b.node_count());
}

/// Sends the same request on `c` in both worlds and returns all output of
/// `conns` in each.
fn both(
    a: &mut World,
    b: &mut World,
    conns: &[ConnId],
    c: ConnId,
    ty: MsgType,
    args: &[&str],
) -> Vec<(ConnId, Vec<u8>)> {
    let mut p = Vec::new();
    for (i, x) in args.iter().enumerate() {
        p.extend_from_slice(x.as_bytes());
        if i + 1 < args.len() || ty != MsgType::Write {
            p.push(0);
        }
    }
    let req = request(ty, 42, 0, &p);
    let na = a.e.input(c, &req, a.now, &mut a.pf);
    let nb = b.e.input(c, &req, b.now, &mut b.pf);
    assert_eq!(na, nb, "{ty:?} {args:?} consumed");
    let (oa, ob) = (take_output(a, conns), take_output(b, conns));
    assert_eq!(oa, ob, "{ty:?} {args:?}");
    oa
}

/// A world with dom0's socket, guests 1, 2 and 3, nodes deep and wide,
/// multi-entry permissions, watches of every kind, per-domain quotas,
/// queued replies and events, a partly sent message and partial input.
fn rich_world() -> (World, Vec<ConnId>) {
    let mut w = World::new();
    let s = w.sock();
    let d1 = w.dom(1);
    let d2 = w.dom(2);
    let d3 = w.dom(3);
    for d in 1..=3 {
        let home = format!("/local/domain/{d}");
        ok(&w.write(s, &home, ""));
        ok(&w.args(s, MsgType::SetPerms, 0, &[&home, &format!("n{d}"), "r0"]));
    }
    // Deep.
    let mut p = String::from("/local/domain/1");
    for i in 0..40 {
        p.push_str(&format!("/l{i}"));
        ok(&w.write(d1, &p, &format!("v{i}")));
    }
    // Wide, with binary values.
    for i in 0..200 {
        ok(&w.write(d2, &format!("/local/domain/2/wide/n{i:03}"), &"x".repeat(i % 37)));
    }
    let mut bin = b"/local/domain/2/bin\0".to_vec();
    bin.extend_from_slice(&[0, 1, 2, 255, 0]);
    ok(&w.req(d2, MsgType::Write, 0, &bin));
    ok(&w.write(s, "/tool/xenstored/x", "dom0"));
    // Multi-entry permissions, one ignored (domain 99 is not known).
    ok(&w.write(d3, "data/shared", "s"));
    ok(&w.args(d3, MsgType::SetPerms, 0, &["data/shared", "r3", "b1", "w2"]));
    w.pf.states.insert(99, store::DomainState::Gone);
    ok(&w.args(s, MsgType::SetPerms, 0, &["/tool/xenstored/x", "n0", "r99", "b2"]));
    // Quotas: per domain and global.
    ok(&w.args(s, MsgType::SetQuota, 0, &["2", "nodes", "5000"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["3", "soft-memory", "12345"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["watches", "77"]));
    // Watches: absolute, relative, with depth, special, on the socket too.
    ok(&w.args(d1, MsgType::Watch, 0, &["/local/domain/2/wide", "abs"]));
    ok(&w.args(d1, MsgType::Watch, 0, &["l0/l1", "rel"]));
    ok(&w.args(d2, MsgType::Watch, 0, &["/local", "shallow", "2"]));
    ok(&w.args(d3, MsgType::Watch, 0, &["@releaseDomain", "rel-dom"]));
    ok(&w.args(d3, MsgType::Watch, 0, &["@introduceDomain", "intro", "1"]));
    ok(&w.args(s, MsgType::Watch, 0, &["/", "everything"]));
    w.events(d1);
    w.events(d2);
    w.events(d3);
    w.events(s);
    // Queued events and replies that nobody reads: d2 writes, d1's watch
    // fires; d3 sends requests without reading.
    w.send(d2, MsgType::Write, 0, b"/local/domain/2/wide/n007\0changed");
    w.send(d2, MsgType::Write, 0, b"/local/domain/2/wide/new\0new");
    let _ = take_output(&mut w, &[d2, s]);
    w.send(d3, MsgType::Read, 0, b"data/shared\0");
    w.send(d3, MsgType::Directory, 0, b"/local/domain/2/wide\0");
    // A message partly sent.
    let n = w.e.output(d3).len().min(7);
    w.e.output_done(d3, n);
    // Partial input: a header and part of a payload.
    let half = request(MsgType::Write, 9, 0, b"/local/domain/1/partial\0done");
    assert_eq!(w.raw(d1, &half[..20]).unwrap(), 20);
    (w, vec![s, d1, d2, d3])
}

#[test]
fn a_rich_engine_round_trips() {
    for version in [Version::V2] {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let (mut a, conns) = rich_world();
            let (mut b, _) = roundtrip_with(&a, opts(version, order));
            // The partial request completes in both.
            let half = request(MsgType::Write, 9, 0, b"/local/domain/1/partial\0done");
            assert_eq!(a.raw(conns[1], &half[20..]).unwrap(), half.len() - 20);
            assert_eq!(b.raw(conns[1], &half[20..]).unwrap(), half.len() - 20);
            assert_same(&mut a, &mut b, &conns);
            // The same writes fire the same watches.
            let [s, d1, d2, d3] = conns[..] else { unreachable!() };
            both(&mut a, &mut b, &conns, d2, MsgType::Write, &["/local/domain/2/wide/n001", "y"]);
            both(&mut a, &mut b, &conns, d1, MsgType::Write, &["l0/l1/l2/z", "1"]);
            both(&mut a, &mut b, &conns, s, MsgType::Write, &["/local/x/y/z", "deep"]);
            both(&mut a, &mut b, &conns, s, MsgType::Rm, &["/local/domain/2/wide"]);
            both(&mut a, &mut b, &conns, d3, MsgType::Read, &["/local/domain/1/l0"]);
            // Quota reads.
            both(&mut a, &mut b, &conns, s, MsgType::GetQuota, &["2", "nodes"]);
            both(&mut a, &mut b, &conns, s, MsgType::GetQuota, &["3", "soft-memory"]);
            both(&mut a, &mut b, &conns, s, MsgType::GetQuota, &["watches"]);
            // A transaction started after the restore.
            for w in [&mut a, &mut b] {
                let t = w.start(d1);
                ok(&w.write_tx(d1, t, "/local/domain/1/tx", "in"));
                let r = w.args(d1, MsgType::TransactionEnd, t, &["T"]);
                ok(&r);
                assert_eq!(w.read(d1, "/local/domain/1/tx").text(), "in");
            }
            // A domain that dies is cleaned up the same way.
            for w in [&mut a, &mut b] {
                w.pf.states.insert(2, store::DomainState::Gone);
                w.e.check_domains(w.now, &mut w.pf);
            }
            assert_same(&mut a, &mut b, &conns);
        }
    }
}

#[test]
fn a_fresh_engine_round_trips_in_either_version() {
    for version in [Version::V1, Version::V2] {
        let mut a = World::new();
        let (mut b, s) = roundtrip_with(&a, opts(version, ByteOrder::Little));
        // C's order: global data, global quotas, then the nodes.
        let kinds: Vec<_> = s.records.iter().map(Record::record_type).collect();
        assert_eq!(kinds[0], stream::RecordType::Global);
        assert_eq!(kinds[1], stream::RecordType::GlobalQuota);
        let nodes = kinds[2..].iter().take_while(|k| **k == stream::RecordType::Node).count();
        assert_eq!(nodes, 5, "{kinds:?}");
        assert!(kinds[2 + nodes..].iter().all(|k| *k == stream::RecordType::Domain));
        assert_same(&mut a, &mut b, &[]);
    }
}

#[test]
fn open_transactions_the_stream_cannot_carry_make_a_dump_busy_unless_forced() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(4);
    ok(&w.write(s, "/local/domain/4", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/4", "n4"]));
    let t = w.start(d);
    ok(&w.write_tx(d, t, "/local/domain/4/pending", "x"));
    // Its read of its home goes stale (more in `stream_tx.rs`).
    ok(&w.write(s, "/local/domain/4/other", "y"));
    let o = opts(Version::V2, ByteOrder::Little);
    assert_eq!(w.e.dump_state(&o, &Ports).unwrap_err(), DumpError::Busy);
    let (mut b, s) = roundtrip_with(&w, DumpOptions { force: true, ..o });
    assert!(s.records.iter().any(|r| matches!(r, Record::Transaction(_))));
    // The transaction is doomed: it exists, its commit conflicts, and its
    // write never happens.
    assert_eq!(b.usage(4, "transactions"), 1);
    let r = b.args(d, MsgType::TransactionEnd, t, &["T"]);
    err(&r, "EAGAIN");
    err(&b.read(d, "/local/domain/4/pending"), "ENOENT");
    assert_eq!(b.usage(4, "transactions"), 0);
}

#[test]
fn a_watch_depth_needs_version_2() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.args(s, MsgType::Watch, 0, &["/", "t", "1"]));
    let o = opts(Version::V1, ByteOrder::Little);
    assert_eq!(w.e.dump_state(&o, &Ports).unwrap_err(), DumpError::WatchDepthInV1);
}

#[test]
fn a_ring_that_cannot_be_taken_over_is_ignored_and_kept() {
    let (w, conns) = rich_world();
    let s = w.e.dump_state(&opts(Version::V2, ByteOrder::Little), &Ports).unwrap();
    let mut pf = Model { fail_map: true, ..Model::default() };
    let r = Engine::restore(w.e.config().clone(), &s, 0, &mut pf).unwrap();
    let mut b = World::restored(r.engine, pf, 0);
    for &d in &conns[1..] {
        assert!(b.e.is_ignored(d));
        assert!(b.e.output(d).is_empty());
    }
    assert_eq!(b.usage(1, "watches"), 0);
    // Its death is still reported.
    let s = b.sock();
    ok(&b.args(s, MsgType::Watch, 0, &["@releaseDomain", "r"]));
    b.events(s);
    b.pf.states.insert(1, store::DomainState::Gone);
    b.e.check_domains(0, &mut b.pf);
    assert!(b.events(s).iter().any(|(p, _)| p == "@releaseDomain"));
}

/// Records an engine would not accept are refused, and nothing is asked
/// of the platform.
#[test]
fn hostile_records_are_refused_cleanly() {
    let w = World::new();
    let good = w.e.dump_state(&opts(Version::V2, ByteOrder::Little), &Ports).unwrap();
    let node = |path: &[u8]| {
        Record::Node(stream::NodeData {
            path: path.to_vec(),
            tx: None,
            perms: vec![stream::NodePerm {
                access: stream::PermAccess::None,
                ignore: false,
                domid: 0,
            }],
            value: Vec::new(),
        })
    };
    let ring = |id: u32, domid: u16, out: &[u8], resp: u16| {
        Record::Connection(stream::ConnectionData {
            conn_id: id,
            kind: stream::ConnKind::Ring { domid, tdomid: stream::DOMID_INVALID, evtchn: 7 },
            in_data: Vec::new(),
            out_data: out.to_vec(),
            out_resp_len: resp,
            unique_id: None,
        })
    };
    type Case = (Vec<Record>, fn(RestoreError) -> bool);
    let cases: Vec<Case> = vec![
        (vec![node(b"/a/b")], |e| matches!(e, RestoreError::NoParent { .. })),
        (vec![node(b"/a//b")], |e| matches!(e, RestoreError::BadPath { .. })),
        (vec![node(b"/a/")], |e| matches!(e, RestoreError::BadPath { .. })),
        (vec![node(b"relative")], |e| matches!(e, RestoreError::BadPath { .. })),
        (vec![node(b"@other")], |e| matches!(e, RestoreError::BadPath { .. })),
        (vec![node(b"/a b")], |e| matches!(e, RestoreError::BadPath { .. })),
        (vec![node(format!("/{}", "x".repeat(3100)).as_bytes())], |e| {
            matches!(e, RestoreError::BadPath { .. })
        }),
        (vec![ring(1, 5, b"", 0), ring(2, 5, b"", 0)], |e| {
            matches!(e, RestoreError::BadDomain { .. })
        }),
        (vec![ring(1, 0x7ff2, b"", 0)], |e| matches!(e, RestoreError::BadDomain { .. })),
        (vec![ring(1, 5, b"short", 0)], |e| matches!(e, RestoreError::BadOutput { .. })),
        (vec![ring(1, 5, &[0xff; 16], 0)], |e| matches!(e, RestoreError::BadOutput { .. })),
        (
            vec![
                ring(1, 5, b"", 0),
                Record::Watch(stream::WatchData {
                    conn_id: 1,
                    path: b"a".to_vec(),
                    token: b"t".to_vec(),
                    depth: None,
                }),
                Record::Watch(stream::WatchData {
                    conn_id: 1,
                    path: b"/local/domain/5/a".to_vec(),
                    token: b"t".to_vec(),
                    depth: None,
                }),
            ],
            |e| matches!(e, RestoreError::BadWatch { .. }),
        ),
        (
            vec![
                ring(1, 5, b"", 0),
                Record::Watch(stream::WatchData {
                    conn_id: 1,
                    path: b"/a/".to_vec(),
                    token: b"t".to_vec(),
                    depth: None,
                }),
            ],
            |e| matches!(e, RestoreError::BadWatch { .. }),
        ),
        (
            vec![Record::Domain(stream::DomainData { domid: 0x7ff5, features: 0, quotas: vec![] })],
            |e| matches!(e, RestoreError::BadDomain { .. }),
        ),
        (vec![node(b"/"), node(b"/")], |e| matches!(e, RestoreError::Stream(_))),
    ];
    for (extra, want) in cases {
        let mut s = good.clone();
        s.records.extend(extra.clone());
        let mut pf = Model::default();
        match Engine::restore(w.e.config().clone(), &s, 0, &mut pf) {
            Ok(_) => panic!("accepted {extra:?}"),
            Err(e) => assert!(want(e), "{e:?} for {extra:?}"),
        }
        assert!(pf.restored.is_empty() && pf.mapped.is_empty(), "{extra:?}");
    }
}

/// A random engine: a socket, a few guests, random writes, permissions,
/// watches, quotas, unread output and partial sends.
fn random_world(seed: u64) -> (World, Vec<ConnId>) {
    let mut r = Rng::new(seed);
    let mut w = World::new();
    let s = w.sock();
    let mut conns = vec![s];
    let ndoms = 1 + r.below(4) as u16;
    for d in 1..=ndoms {
        let c = w.dom(d);
        conns.push(c);
        let home = format!("/local/domain/{d}");
        ok(&w.write(s, &home, ""));
        ok(&w.args(s, MsgType::SetPerms, 0, &[&home, &format!("n{d}")]));
    }
    let names = ["a", "b", "c", "dd", "e-1", "f_2"];
    let steps = 20 + r.below(60);
    // Connections whose output is left unread from now on.
    let mut quiet: Vec<ConnId> = Vec::new();
    for _ in 0..steps {
        let ci = r.below(conns.len());
        let c = conns[ci];
        let domid = ci as u16; // 0 for the socket
        let depth = 1 + r.below(4);
        let mut p = if r.below(3) == 0 && ci == 0 {
            String::from("/x")
        } else {
            String::from("/local/domain/") + &(1 + r.below(ndoms as usize)).to_string()
        };
        for _ in 0..depth {
            p.push('/');
            let name = names[r.below(names.len())];
            p.push_str(name);
        }
        let send = |w: &mut World, quiet: &[ConnId], ty: MsgType, payload: &[u8]| {
            if quiet.contains(&c) {
                // Flow control may refuse it: then it is not sent.
                let _ = w.raw(c, &request(ty, 42, 0, payload));
            } else {
                let _ = w.req(c, ty, 0, payload);
            }
        };
        match r.below(10) {
            0..=3 => {
                let v = "v".repeat(r.below(50));
                send(&mut w, &quiet, MsgType::Write, format!("{p}\0{v}").as_bytes());
            }
            4 => {
                let mut args = format!("{p}\0n{domid}\0");
                for _ in 0..r.below(4) {
                    let l = *r.pick(&["r", "w", "b", "n"]);
                    args.push_str(&format!("{l}{}\0", r.below(ndoms as usize + 2)));
                }
                send(&mut w, &quiet, MsgType::SetPerms, args.as_bytes());
            }
            5 => {
                let rel = r.below(2) == 0 && ci != 0;
                let wp = if rel {
                    p.splitn(5, '/').nth(4).unwrap_or("a").to_string()
                } else {
                    p.clone()
                };
                let mut args = format!("{wp}\0tok{}\0", r.below(3));
                if r.below(2) == 0 {
                    args.push_str(&format!("{}\0", r.below(3)));
                }
                send(&mut w, &quiet, MsgType::Watch, args.as_bytes());
            }
            6 => send(&mut w, &quiet, MsgType::Rm, format!("{p}\0").as_bytes()),
            7 => {
                if ndoms > 0 {
                    let d = 1 + r.below(ndoms as usize);
                    let q = *r.pick(&["nodes", "watches", "memory", "soft-memory"]);
                    let v = 100 + r.below(100_000);
                    let _ = w.args(s, MsgType::SetQuota, 0, &[&d.to_string(), q, &v.to_string()]);
                }
            }
            8 => {
                if !quiet.contains(&c) {
                    quiet.push(c);
                }
            }
            _ => {
                let _ = take_output(&mut w, &[c]);
            }
        }
    }
    // Partly sent output and partial input on some connections.
    for &c in &conns {
        let out = w.e.output(c).len();
        if out > 1 && r.below(2) == 0 {
            w.e.output_done(c, 1 + r.below(out - 1));
        }
        if r.below(3) == 0 {
            let req = request(MsgType::Read, 77, 0, b"/local\0");
            let cut = 1 + r.below(req.len() - 1);
            let _ = w.raw(c, &req[..cut]);
        }
    }
    // Drop the replies the harness stashed aside: they were taken.
    w.stash.clear();
    (w, conns)
}

#[test]
fn random_engines_round_trip() {
    for seed in 0..300u64 {
        let (mut a, conns) = random_world(seed);
        let order = if seed % 2 == 0 { ByteOrder::Little } else { ByteOrder::Big };
        let (mut b, _) = roundtrip_with(&a, opts(Version::V2, order));
        // Finish any partial input the same way in both.
        for &c in &conns {
            for w in [&mut a, &mut b] {
                let _ = w.raw(c, &request(MsgType::Read, 78, 0, b"/local\0"));
            }
        }
        assert_same(&mut a, &mut b, &conns);
        let s = conns[0];
        for (i, p) in
            ["/local/domain/1/a", "/local/domain/1/a/b/c", "/x/a", "/local"].iter().enumerate()
        {
            both(&mut a, &mut b, &conns, s, MsgType::Write, &[p, &i.to_string()]);
        }
        both(&mut a, &mut b, &conns, s, MsgType::Rm, &["/local/domain/1"]);
        assert_same(&mut a, &mut b, &conns);
    }
}
