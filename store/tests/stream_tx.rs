//! Open transactions across a dump and restore (`migrate/tx.rs`): a
//! transaction the stream carries commits after the update exactly as it
//! would have without it (the same result, tree and watch events; a
//! conflict exactly when the same change makes it conflict), is charged
//! the same memory, and holds about the same heap; one it cannot carry
//! makes an unforced dump busy and is restored doomed when forced. The
//! same holds for 300 seeded random sets of transactions.
//!
//! Counted on the test's own thread (`common::counting`).

mod common;
mod stream_common;

use common::counting::{live, Counting};
use common::dump::{reencoded, usage, Ports};
use common::*;
use ring::wire::MsgType;
use store::stream::{self, ByteOrder, Header, Record, Stream, Version};
use store::{ConnId, DumpError, DumpOptions, Engine};
use stream_common::Rng;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn opts(force: bool) -> DumpOptions {
    DumpOptions {
        header: Header { version: Version::V2, order: ByteOrder::Little },
        global: None,
        force,
    }
}

/// Dumps `w` (refused if busy), encodes, decodes and restores.
fn roundtrip(w: &World, force: bool) -> Result<(World, Stream), DumpError> {
    let s = w.e.dump_state(&opts(force), &Ports)?;
    let back = reencoded(&s);
    let mut pf = Model::default();
    let r = Engine::restore(w.e.config().clone(), &back, w.now, &mut pf).expect("restore");
    Ok((World::restored(r.engine, pf, w.now), s))
}

/// The committed tree: every node with its value and permissions, in the
/// dump's order (parents first, children in list order).
fn tree(w: &World) -> Vec<Record> {
    let s = w.e.dump_state(&opts(true), &Ports).unwrap();
    s.records.into_iter().filter(|r| matches!(r, Record::Node(n) if n.tx.is_none())).collect()
}

/// A world with transactions of every kind the stream carries.
struct TxWorld {
    w: World,
    /// dom0's socket.
    s: ConnId,
    /// The watching socket.
    watcher: ConnId,
    /// Open transactions, in the order they are committed.
    txs: Vec<(ConnId, u32)>,
}

fn tx_world() -> TxWorld {
    let (mut w, s, d) = guest_5_world();
    ok(&w.write(s, "/tool/a", "1"));
    ok(&w.write(s, "/tool/a/b", "2"));
    ok(&w.write(s, "/tool/a/k", "keep"));
    ok(&w.write(s, "/tool/gone/x/y", "3"));
    ok(&w.write(s, "/tool/gone/z", "4"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/tool/a", "n0", "r5"]));
    ok(&w.write(d, "data/v", "old"));
    let watcher = w.sock();
    for (path, token) in [
        ("/", "root"),
        ("/tool/a/b/c", "deep"),
        ("/tool/gone/x", "gone"),
        ("/local/domain/5", "home"),
        ("/tool/n/m", "new"),
    ] {
        ok(&w.args(watcher, MsgType::Watch, 0, &[path, token]));
    }
    let _ = w.events(watcher);
    // dom0: reads, writes, a nested creation, a removed subtree,
    // permissions, a directory, reads of missing nodes.
    let t1 = w.sock();
    let x1 = w.start(t1);
    assert_eq!(w.one(t1, MsgType::Read, x1, "/tool/a").text(), "1");
    ok(&w.write_tx(t1, x1, "/tool/a", "new"));
    ok(&w.write_tx(t1, x1, "/tool/n/m/o", "v"));
    ok(&w.one(t1, MsgType::Rm, x1, "/tool/gone"));
    ok(&w.args(t1, MsgType::SetPerms, x1, &["/tool/a/b", "n0", "b5"]));
    ok(&w.one(t1, MsgType::Mkdir, x1, "/tool/dir"));
    err(&w.one(t1, MsgType::Read, x1, "/tool/none"), "ENOENT");
    ok(&w.one(t1, MsgType::Rm, x1, "/tool/a/none"));
    assert_eq!(w.one(t1, MsgType::Directory, x1, "/tool").text(), "xenstored\0a\0n\0dir\0");
    // The guest: its own home, relative paths.
    let x2 = w.start(d);
    assert_eq!(w.one(d, MsgType::Read, x2, "data/v").text(), "old");
    ok(&w.write_tx(d, x2, "data/v", "new"));
    ok(&w.write_tx(d, x2, "data/w/deep", "created"));
    assert_eq!(w.one(d, MsgType::Directory, x2, "data").text(), "v\0w\0");
    // One that only reads what the first changes, and an empty one.
    let t3 = w.sock();
    let x3 = w.start(t3);
    assert_eq!(w.one(t3, MsgType::Read, x3, "/tool/a/b").text(), "2");
    let x4 = w.start(t3);
    TxWorld { w, s, watcher, txs: vec![(d, x2), (t1, x1), (t3, x3), (t3, x4)] }
}

/// Commits every transaction in order: their results, then the tree and
/// the watcher's events.
fn commit_all(t: &mut TxWorld) -> (Vec<String>, Vec<Record>, Vec<(String, String)>) {
    let results = t
        .txs
        .clone()
        .into_iter()
        .map(|(c, x)| t.w.one(c, MsgType::TransactionEnd, x, "T").text())
        .collect();
    (results, tree(&t.w), t.w.events(t.watcher))
}

#[test]
fn carried_transactions_commit_as_without_the_update() {
    let mut plain = tx_world();
    let expected = commit_all(&mut plain);
    assert_eq!(expected.0, ["OK\0", "OK\0", "EAGAIN\0", "OK\0"]);
    assert!(expected.2.len() >= 8, "{:?}", expected.2);

    let before = tx_world();
    let (mut after, s) = roundtrip(&before.w, false).expect("carried: not busy");
    let kinds = s.records.iter().filter(|r| matches!(r, Record::Transaction(_))).count();
    assert_eq!(kinds, 4);
    assert_eq!(usage(&after), usage(&before.w), "charged as before");
    // Dumped again, the restored engine writes the same stream.
    assert_eq!(after.e.dump_state(&opts(false), &Ports).unwrap(), s);
    // Requests in the transactions are answered from their views.
    let (t1, x1) = before.txs[1];
    assert_eq!(after.one(t1, MsgType::Directory, x1, "/tool").text(), "xenstored\0a\0n\0dir\0");
    assert_eq!(after.one(t1, MsgType::Read, x1, "/tool/n/m/o").text(), "v");
    err(&after.one(t1, MsgType::Read, x1, "/tool/gone/z"), "ENOENT");
    assert_eq!(after.one(t1, MsgType::GetPerms, x1, "/tool/a/b").text(), "n0\0b5\0");
    let mut after = TxWorld { w: after, ..before };
    assert_eq!(commit_all(&mut after), expected);
    assert_eq!(usage(&after.w), usage(&plain.w), "refunded as without the update");
}

#[test]
fn a_change_after_the_update_conflicts_exactly_when_it_would_have() {
    // Nodes the first transaction read (present or missing), a node it
    // only created below one it read, and nodes it never touched.
    let changes = [
        ("/tool/a", true),
        ("/tool/none", true),
        ("/tool/gone/x/y", true),
        ("/tool/a/none", true),
        ("/tool/a/k", false),
        ("/tool/n/m", true),
        ("/tool/other", true),
        ("/local/domain/5/data/v", false),
        ("/local/other", false),
    ];
    for (path, conflicts) in changes {
        let mut outcomes = Vec::new();
        for update in [false, true] {
            let t = tx_world();
            let mut t = if update {
                let (w, _) = roundtrip(&t.w, false).unwrap();
                TxWorld { w, ..t }
            } else {
                t
            };
            let s = t.s;
            ok(&t.w.write(s, path, "changed"));
            let (c, x) = t.txs[1];
            let r = t.w.one(c, MsgType::TransactionEnd, x, "T").text();
            outcomes.push((r, tree(&t.w)));
        }
        assert_eq!(outcomes[0], outcomes[1], "{path}");
        let want = if conflicts { "EAGAIN\0" } else { "OK\0" };
        assert_eq!(outcomes[0].0, want, "{path}");
    }
}

/// A world whose transaction on `t` the stream cannot carry: it read
/// `/tool/a`, which dom0 then changed (its commit will conflict).
fn stale_world() -> (World, ConnId, u32) {
    let (mut w, s, _) = guest_5_world();
    ok(&w.write(s, "/tool/a", "1"));
    let t = w.sock();
    let x = w.start(t);
    assert_eq!(w.one(t, MsgType::Read, x, "/tool/a").text(), "1");
    ok(&w.write_tx(t, x, "/tool/b", "mine"));
    ok(&w.write(s, "/tool/a", "2"));
    (w, t, x)
}

#[test]
fn a_transaction_the_stream_cannot_carry_is_waited_for_or_doomed() {
    let (w, t, x) = stale_world();
    assert!(matches!(roundtrip(&w, false), Err(DumpError::Busy)));
    let (mut b, s) = roundtrip(&w, true).unwrap();
    assert!(s.records.iter().any(|r| matches!(r, Record::Transaction(_))));
    assert_eq!(usage(&b).len(), usage(&w).len());
    // It exists and answers; its commit conflicts and changes nothing.
    let before = tree(&b);
    assert_eq!(b.one(t, MsgType::Read, x, "/tool/a").text(), "2");
    ok(&b.write_tx(t, x, "/tool/c", "more"));
    assert_eq!(b.usage(0, "transactions"), 1);
    err(&b.one(t, MsgType::TransactionEnd, x, "T"), "EAGAIN");
    assert_eq!(tree(&b), before);
    assert_eq!(b.usage(0, "transactions"), 0);
    // Dumped again while still open, it stays doomed.
    let (w, t, x) = stale_world();
    let (b, _) = roundtrip(&w, true).unwrap();
    let (mut c, _) = roundtrip(&b, true).unwrap();
    err(&c.one(t, MsgType::TransactionEnd, x, "T"), "EAGAIN");
}

#[test]
fn a_node_created_then_removed_in_a_transaction_is_not_carried() {
    // Its removal would fire an event the stream cannot say: the update
    // waits, and forced, the transaction is doomed (without the update
    // it would commit).
    let (mut w, s, _) = guest_5_world();
    let watcher = w.sock();
    ok(&w.args(watcher, MsgType::Watch, 0, &["/tool", "w"]));
    let t = w.sock();
    let x = w.start(t);
    ok(&w.write_tx(t, x, "/tool/tmp", "1"));
    ok(&w.one(t, MsgType::Rm, x, "/tool/tmp"));
    let _ = s;
    assert!(matches!(roundtrip(&w, false), Err(DumpError::Busy)));
    let (mut b, _) = roundtrip(&w, true).unwrap();
    err(&b.one(t, MsgType::TransactionEnd, x, "T"), "EAGAIN");
}

#[test]
fn restored_transactions_hold_about_the_heap_they_held() {
    // The heap the open transactions hold: what aborting them gives back,
    // before the update and after it.
    let held = |t: &mut TxWorld| {
        let at = live();
        for (c, x) in t.txs.clone() {
            ok(&t.w.one(c, MsgType::TransactionEnd, x, "F"));
        }
        at.saturating_sub(live())
    };
    let mut before = tx_world();
    let (w, _) = roundtrip(&before.w, false).unwrap();
    let mut after = TxWorld { w, s: before.s, watcher: before.watcher, txs: before.txs.clone() };
    let (a, b) = (held(&mut before), held(&mut after));
    assert!(a > 1000, "{a}");
    println!("held before {a} bytes, after {b}");
    assert!(b.abs_diff(a) <= a / 10, "before {a} bytes, after {b}");
    assert_eq!(usage(&after.w), usage(&before.w));
}

/// A stream with socket connection 1 and, for transaction `tx` of it, the
/// node records `nodes` (path, access, value; `None`: absent from the
/// view).
fn tx_stream(tx: u32, nodes: &[(&str, u16, Option<&str>)]) -> Stream {
    use store::stream::{ConnKind, ConnectionData, NodeData, NodePerm, NodeTx, PermAccess};
    let mut records = vec![
        Record::Connection(ConnectionData {
            conn_id: 1,
            kind: ConnKind::Socket { fd: 5 },
            in_data: Vec::new(),
            out_data: Vec::new(),
            out_resp_len: 0,
            unique_id: None,
        }),
        Record::Transaction(stream::TransactionData { conn_id: 1, tx_id: tx }),
    ];
    for &(path, access, value) in nodes {
        let owner = NodePerm { access: PermAccess::None, ignore: false, domid: 0 };
        records.push(Record::Node(NodeData {
            path: path.as_bytes().to_vec(),
            tx: Some(NodeTx { conn_id: 1, tx_id: tx, access }),
            perms: value.map_or(Vec::new(), |_| vec![owner]),
            value: value.unwrap_or("").as_bytes().to_vec(),
        }));
    }
    Stream { header: opts(false).header, records }
}

/// Whether a restore error is the one expected.
type Want = fn(&store::RestoreError) -> bool;

#[test]
fn hostile_transaction_records_are_refused() {
    use store::RestoreError::{BadPath, BadTransaction};
    let cases: Vec<(Stream, Want)> = vec![
        (tx_stream(0, &[]), |e| matches!(e, BadTransaction { index: 1 })),
        (tx_stream(1, &[("/", 0, None)]), |e| matches!(e, BadTransaction { index: 2 })),
        (tx_stream(1, &[("/a", 0, Some("v"))]), |e| matches!(e, BadTransaction { index: 2 })),
        (tx_stream(1, &[("/a/b", 2, Some("v"))]), |e| matches!(e, BadTransaction { .. })),
        (tx_stream(1, &[("/a", 0, None), ("/a/b", 2, Some(""))]), |e| {
            matches!(e, BadTransaction { .. })
        }),
        (tx_stream(1, &[("a", 1, Some(""))]), |e| matches!(e, BadPath { index: 2 })),
        (tx_stream(1, &[("/a/", 1, Some(""))]), |e| matches!(e, BadPath { index: 2 })),
        (tx_stream(1, &[("@releaseDomain", 1, Some(""))]), |e| matches!(e, BadPath { .. })),
    ];
    for (s, want) in cases {
        let mut pf = Model::default();
        match Engine::restore(store::Config::default(), &s, 0, &mut pf) {
            Err(e) => assert!(want(&e), "{e:?} for {:?}", s.records),
            Ok(_) => panic!("restored {:?}", s.records),
        }
    }
}

#[test]
fn a_stream_transaction_commits_or_is_doomed_by_what_it_read() {
    let restore = |s: &Stream| {
        let mut pf = Model::default();
        let r = Engine::restore(store::Config::default(), s, 0, &mut pf).unwrap();
        World::restored(r.engine, pf, 0)
    };
    // Created below the root it read: commits.
    let mut w =
        restore(&tx_stream(9, &[("/", 1, Some("")), ("/a", 3, Some("x")), ("/a/b", 2, Some("y"))]));
    assert_eq!(w.usage(0, "transactions"), 1);
    let c = ConnId(1);
    assert_eq!(w.one(c, MsgType::Directory, 9, "/").text(), "a\0");
    ok(&w.one(c, MsgType::TransactionEnd, 9, "T"));
    assert_eq!(w.read(c, "/a/b").text(), "y");
    assert_eq!(w.usage(0, "transactions"), 0);
    // It read "/" with a value the tree does not have: doomed.
    let mut w = restore(&tx_stream(9, &[("/", 1, Some("other")), ("/a", 3, Some("x"))]));
    err(&w.one(c, MsgType::TransactionEnd, 9, "T"), "EAGAIN");
    err(&w.read(c, "/a"), "ENOENT");
    // A new transaction on the connection gets another id.
    let next = w.start(c);
    assert_ne!(next, 9);
}

/// The paths random transactions touch: a small tree, so that they meet.
const PATHS: [&str; 9] =
    ["/r", "/r/a", "/r/a/b", "/r/a/b/c", "/r/d", "/r/d/e", "/r/f", "/q", "/q/g/h"];

/// A world built by `seed`: a tree, a watcher on `/` and `/r/a`, and
/// transactions on three connections (one a guest's) with random reads,
/// writes, creations, removals, permission changes and listings, and
/// random writes outside them in between. Returns the world, the
/// watcher and the transactions in the order they are to be committed.
fn random_world(seed: u64) -> (World, ConnId, Vec<(ConnId, u32)>) {
    let mut rng = Rng::new(seed);
    let (mut w, s, d) = guest_5_world();
    for p in PATHS {
        if rng.chance(60) {
            ok(&w.write(s, p, "0"));
        }
    }
    let watcher = w.sock();
    ok(&w.args(watcher, MsgType::Watch, 0, &["/", "all"]));
    ok(&w.args(watcher, MsgType::Watch, 0, &["/r/a", "a"]));
    let _ = w.events(watcher);
    let conns = [w.sock(), w.sock(), d];
    let mut txs = Vec::new();
    for &c in &conns {
        if rng.chance(90) {
            txs.push((c, w.start(c)));
        }
    }
    for step in 0..rng.below(24) {
        let p = PATHS[rng.below(PATHS.len())];
        if txs.is_empty() || rng.chance(8) {
            // Outside any transaction (a stale read, often).
            let _ = w.write(s, p, &format!("out{step}"));
            continue;
        }
        let (c, x) = txs[rng.below(txs.len())];
        let _ = match rng.below(7) {
            0 | 1 => w.one(c, MsgType::Read, x, p),
            2 | 3 => w.write_tx(c, x, p, &format!("v{step}")),
            4 => w.one(c, MsgType::Rm, x, p),
            5 => w.args(c, MsgType::SetPerms, x, &[p, "n0", "r5"]),
            _ => w.one(c, MsgType::Directory, x, p),
        };
    }
    // Commit in a random order.
    for i in (1..txs.len()).rev() {
        txs.swap(i, rng.below(i + 1));
    }
    (w, watcher, txs)
}

#[test]
fn random_transactions_commit_as_without_the_update() {
    let (mut carried, mut doomed, mut stronger) = (0, 0, 0);
    for seed in 0..300u64 {
        let (a, watcher, txs) = random_world(seed);
        let busy = matches!(a.e.dump_state(&opts(false), &Ports), Err(DumpError::Busy));
        let (b, _) = roundtrip(&a, true).unwrap();
        let mut b = TxWorld { w: b, s: ConnId(0), watcher, txs: txs.clone() };
        if busy {
            // Forced: the transactions it could not carry are doomed, the
            // others commit; none is lost.
            doomed += 1;
            for (c, x) in txs {
                let r = b.w.one(c, MsgType::TransactionEnd, x, "T").text();
                assert!(r == "OK\0" || r == "EAGAIN\0" || r == "ENOMEM\0", "seed {seed}: {r}");
            }
            continue;
        }
        carried += 1;
        let usage_before = usage(&a);
        assert_eq!(usage(&b.w), usage_before, "seed {seed}: charged as before");
        let mut a = TxWorld { w: a, s: ConnId(0), watcher, txs };
        let (after, plain) = (commit_all(&mut b), commit_all(&mut a));
        if after.0 != plain.0 {
            // A record read only as a parent comes back as an ordinary
            // read (the stream cannot say which it was): a sibling another
            // transaction created after the update may then fail a commit
            // that would have succeeded. Only that is allowed: never a
            // success where there was a conflict, never another error.
            for (x, y) in after.0.iter().zip(&plain.0) {
                assert!(x == y || (x == "EAGAIN\0" && y == "OK\0"), "seed {seed}: {x} for {y}");
            }
            stronger += 1;
            continue;
        }
        assert_eq!(after, plain, "seed {seed}");
        assert_eq!(usage(&b.w), usage(&a.w), "seed {seed}");
    }
    println!(
        "{carried} carried ({stronger} of them with a commit refused that was not before), \
         {doomed} with one the stream cannot carry"
    );
    assert!(carried >= 100 && doomed >= 20, "{carried} carried, {doomed} not");
    assert!(stronger * 10 <= carried, "{stronger} of {carried} carried conflicted more");
}
