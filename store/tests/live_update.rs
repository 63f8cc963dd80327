//! `XS_CONTROL live-update` through the engine: C's sub-commands and
//! replies, the wait for transactions (timeout, force), and the `OK` the
//! new server delivers from the dump.

mod common;
use common::*;
use ring::wire::MsgType;
use store::stream::{ByteOrder, Header, Record, Version};
use store::{ConnId, DumpOptions, DumpSource, Engine, Limit, LiveUpdate, Quota};

/// The platform's side of a dump: made-up descriptors.
struct Fds;

impl DumpSource for Fds {
    fn ring_port(&self, conn: ConnId) -> u32 {
        conn.0
    }
    fn socket_fd(&self, conn: ConnId) -> i32 {
        100 + conn.0 as i32
    }
}

/// `live-update ARGS…` on `c`: its reply, or `None` (deferred).
fn lu(w: &mut World, c: ConnId, args: &[&str]) -> Option<String> {
    let mut p = b"live-update\0".to_vec();
    for a in args {
        p.extend_from_slice(a.as_bytes());
        p.push(0);
    }
    w.send(c, MsgType::Control, 0, &p);
    let mut msgs = w.recv_all(c);
    assert!(msgs.len() <= 1, "{msgs:?}");
    msgs.pop().map(|m| {
        if m.ty == MsgType::Error as u32 {
            format!("error {}", m.text().trim_end_matches('\0'))
        } else {
            assert_eq!(m.ty, MsgType::Control as u32);
            m.text().trim_end_matches('\0').to_string()
        }
    })
}

/// Starts a transaction on `c` that the stream cannot carry: it reads
/// `/held`, which `c` then writes outside it (a stale read: its commit
/// would conflict), so an update waits for it.
fn stuck(w: &mut World, c: ConnId) -> u32 {
    let tx = w.start(c);
    w.one(c, MsgType::Read, tx, "/held");
    ok(&w.write(c, "/held", "changed"));
    tx
}

fn reply(w: &mut World, c: ConnId) -> Vec<String> {
    w.recv_all(c).iter().map(|m| m.text().trim_end_matches('\0').to_string()).collect()
}

#[test]
fn a_session_runs_as_xenstore_control_drives_it() {
    let mut w = World::new();
    let s = w.sock();
    assert_eq!(lu(&mut w, s, &["-f", "/usr/sbin/xenstored-rs"]).as_deref(), Some("OK"));
    assert!(w.e.live_update_pending());
    assert_eq!(lu(&mut w, s, &["-c", "-N --log-level debug"]).as_deref(), Some("OK"));
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None, "not started");
    assert_eq!(lu(&mut w, s, &["-s", "-t", "60"]), None, "answered by the new server");
    let due = w.e.live_update_due(w.now, &mut w.pf);
    assert_eq!(
        due,
        Some(LiveUpdate {
            conn: s,
            binary: "/usr/sbin/xenstored-rs".into(),
            cmdline: Some("-N --log-level debug".into()),
            version: Version::V2,
        })
    );
    // The hand-over fails: the requester is told why, and the session ends.
    w.e.live_update_failed("Error activating new binary.");
    let m = w.recv_all(s);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].ty, m[0].req_id), (MsgType::Control as u32, 42));
    assert_eq!(m[0].text(), "Error activating new binary.\0");
    assert!(!w.e.live_update_pending());
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None);
}

#[test]
fn refusals_are_c_strings_and_bad_arguments_einval() {
    let mut w = World::new();
    let (a, b) = (w.sock(), w.sock());
    assert_eq!(lu(&mut w, a, &["-c", "x"]).as_deref(), Some("Not in live-update session."));
    assert_eq!(lu(&mut w, a, &["-s"]).as_deref(), Some("Not in live-update session."));
    assert_eq!(lu(&mut w, a, &["-a"]).as_deref(), Some("No live-update session active."));
    assert_eq!(lu(&mut w, a, &["-f", "missing"]).as_deref(), Some("File not accessible."));
    assert_eq!(lu(&mut w, a, &["-f", "/bin/new"]).as_deref(), Some("OK"));
    assert_eq!(
        lu(&mut w, b, &["-f", "/bin/new"]).as_deref(),
        Some("live-update session already active.")
    );
    assert_eq!(lu(&mut w, b, &["-c", "x"]).as_deref(), Some("Not in live-update session."));
    assert_eq!(lu(&mut w, b, &["-s"]).as_deref(), Some("Not in live-update session."));
    assert_eq!(
        lu(&mut w, a, &["-s", "-v", "3"]).as_deref(),
        Some("Migration stream version not supported.")
    );
    assert_eq!(
        lu(&mut w, a, &["-s", "-v", "0"]).as_deref(),
        Some("Migration stream version not supported.")
    );
    for bad in [
        &[][..],
        &["-x"],
        &["-a", "1"],
        &["-c"],
        &["-c", "a", "b"],
        &["-s", "-t"],
        &["-s", "-q"],
        &["-b", "10"],
    ] {
        assert_eq!(lu(&mut w, a, bad).as_deref(), Some("error EINVAL"), "{bad:?}");
    }
    // Anyone privileged may abort.
    assert_eq!(lu(&mut w, b, &["-a"]).as_deref(), Some("OK"));
    assert!(!w.e.live_update_pending());
    // Only the privileged domain may ask at all.
    let d = w.dom(5);
    assert_eq!(lu(&mut w, d, &["-a"]).as_deref(), Some("error EACCES"));
}

#[test]
fn version_one_is_chosen_with_v_and_arguments_past_six_are_ignored() {
    let mut w = World::new();
    let s = w.sock();
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "5", "-F", "-v", "1", "junk"]), None);
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf).map(|l| l.version), Some(Version::V1));
}

#[test]
fn a_refusal_too_long_for_a_message_is_e2big() {
    let mut w = World::new();
    let s = w.sock();
    w.now = 1_000;
    for _ in 0..300 {
        let t = w.sock();
        let _tx = stuck(&mut w, t);
    }
    w.now = 2_000;
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    assert_eq!(w.e.live_update_due(12_000, &mut w.pf), None, "refused");
    let m = w.recv_all(s);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].ty, m[0].text().as_str()), (MsgType::Error as u32, "E2BIG\0"));
}

#[test]
fn an_update_waits_for_transactions_then_is_refused_with_c_reason() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    w.now = 1_000;
    let _tx = stuck(&mut w, t);
    w.now = 2_000;
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    assert_eq!(w.e.live_update_due(2_000, &mut w.pf), None, "a transaction is open");
    assert_eq!(w.e.next_deadline(), Some(12_000), "the start plus the timeout");
    assert_eq!(w.e.live_update_due(11_999, &mut w.pf), None);
    assert_eq!(w.e.live_update_due(12_000, &mut w.pf), None, "refused");
    assert_eq!(reply(&mut w, s), ["Domains with long running transactions:\nDomain 0: 11 s"]);
    assert!(!w.e.live_update_pending());
    assert_eq!(w.e.next_deadline(), None);
}

#[test]
fn a_busy_writer_cannot_keep_the_update_waiting() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    let tx = stuck(&mut w, t);
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    w.now = 1_000;
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None, "a transaction is open");
    // The writer ends its transaction and at once starts the next: that
    // start is held (no reply), so nothing is open and the update goes on.
    ok(&w.req(t, MsgType::TransactionEnd, tx, b"F\0"));
    w.send(t, MsgType::TransactionStart, 0, b"\0");
    assert!(w.recv_all(t).is_empty(), "held, not answered nor refused");
    ok(&w.write(t, "/busy", "1"));
    let due = w.e.live_update_due(w.now, &mut w.pf).expect("due before the timeout");
    // The new server answers the held start.
    let opts = DumpOptions { header: native(due.version), global: None, force: false };
    let stream = w.e.dump_state(&opts, &Fds).unwrap();
    let mut pf = Model::default();
    let r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    let mut w2 = World::restored(r.engine, pf, 0);
    let m = w2.recv_all(t);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!((m[0].ty, m[0].req_id), (MsgType::TransactionStart as u32, 42));
    let id: u32 = m[0].text().trim_end_matches('\0').parse().unwrap();
    ok(&w2.write_tx(t, id, "/after", "1"));
    ok(&w2.req(t, MsgType::TransactionEnd, id, b"T\0"));
}

#[test]
fn held_starts_are_answered_when_the_session_ends() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    let d = w.dom(5);
    let tx = stuck(&mut w, t);
    lu(&mut w, s, &["-f", "/bin/new"]);
    // A connection with a transaction open starts more at once.
    let _more = w.start(t);
    // One without: held. An unprivileged one may hold one and is served
    // meanwhile; at a second it stalls.
    w.send(s, MsgType::TransactionStart, 0, b"\0");
    w.send(s, MsgType::TransactionStart, 0, b"\0");
    w.send(d, MsgType::TransactionStart, 0, b"\0");
    assert_eq!(w.write(d, "/x", "1").text(), "EACCES\0", "served");
    w.send(d, MsgType::TransactionStart, 0, b"\0");
    assert!(!w.e.wants_input(d), "stalled");
    assert!(w.e.wants_input(s), "a privileged connection holds any number");
    assert!(w.recv_all(s).is_empty() && w.recv_all(d).is_empty());
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    w.now = 10_000;
    // Refused at the timeout: the held starts are answered with it.
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None);
    let starts = |m: &[Msg]| m.iter().filter(|m| m.ty == MsgType::TransactionStart as u32).count();
    let m = w.recv_all(s);
    assert_eq!(m[0].text(), "Domains with long running transactions:\nDomain 0: 10 s\0");
    assert_eq!(starts(&m), 2, "{m:?}");
    assert_eq!(starts(&w.recv_all(d)), 2);
    assert!(w.e.wants_input(d));
    assert!(!w.e.live_update_pending());
    ok(&w.req(t, MsgType::TransactionEnd, tx, b"F\0"));
}

#[test]
fn held_starts_are_answered_after_abort_or_a_lost_requester() {
    for abort in [true, false] {
        let mut w = World::new();
        let (s, t) = (w.sock(), w.sock());
        lu(&mut w, s, &["-f", "/bin/new"]);
        w.send(t, MsgType::TransactionStart, 0, b"\0");
        if abort {
            assert_eq!(lu(&mut w, t, &["-a"]).as_deref(), Some("OK"));
        } else {
            w.e.disconnect(s, &mut w.pf);
        }
        assert!(w.e.live_update_pending(), "held requests to handle");
        assert_eq!(w.e.next_deadline(), Some(0));
        assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None);
        let m = w.recv_all(t);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].ty, MsgType::TransactionStart as u32);
        assert!(!w.e.live_update_pending());
        assert_eq!(w.e.next_deadline(), None);
    }
}

#[test]
fn an_update_goes_on_once_transactions_end() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    let tx = stuck(&mut w, t);
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "60"]), None);
    assert_eq!(w.e.live_update_due(1_000, &mut w.pf), None);
    ok(&w.req(t, MsgType::TransactionEnd, tx, b"F\0"));
    assert!(w.e.live_update_due(1_000, &mut w.pf).is_some());
}

#[test]
fn a_forced_update_goes_on_once_every_transaction_is_old_enough() {
    let mut w = World::new();
    let (s, t, u) = (w.sock(), w.sock(), w.sock());
    let _ = stuck(&mut w, t);
    w.now = 3_000;
    let _ = stuck(&mut w, u);
    w.now = 5_000;
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-F", "-t", "10"]), None);
    assert_eq!(w.e.next_deadline(), Some(13_000), "the youngest transaction's age");
    assert_eq!(w.e.live_update_due(12_999, &mut w.pf), None);
    assert!(w.e.live_update_due(13_000, &mut w.pf).is_some());
    // Forced, the dump writes them (doomed: see `stream_tx.rs`).
    let opts = DumpOptions { header: native(Version::V2), global: None, force: true };
    let stream = w.e.dump_state(&opts, &Fds).unwrap();
    let txs = stream.records.iter().filter(|r| matches!(r, Record::Transaction(_))).count();
    assert_eq!(txs, 2);
}

#[test]
fn an_update_does_not_wait_for_transactions_the_stream_carries() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    let stale = stuck(&mut w, s);
    let tx = w.start(t);
    ok(&w.write_tx(t, tx, "/carried", "1"));
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    assert_eq!(w.e.live_update_due(w.now, &mut w.pf), None, "the stale one is waited for");
    ok(&w.req(s, MsgType::TransactionEnd, stale, b"F\0"));
    let due = w.e.live_update_due(w.now, &mut w.pf).expect("due with one open");
    let opts = DumpOptions { header: native(due.version), global: None, force: false };
    let stream = w.e.dump_state(&opts, &Fds).unwrap();
    let mut pf = Model::default();
    let r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    let mut w2 = World::restored(r.engine, pf, 0);
    assert_eq!(reply(&mut w2, s), ["OK"]);
    assert_eq!(w2.one(t, MsgType::Read, tx, "/carried").text(), "1");
    ok(&w2.req(t, MsgType::TransactionEnd, tx, b"T\0"));
    assert_eq!(w2.read(s, "/carried").text(), "1");
}

#[test]
fn abort_answers_the_started_request() {
    let mut w = World::new();
    let (s, t, other) = (w.sock(), w.sock(), w.sock());
    let _ = w.start(t);
    lu(&mut w, s, &["-f", "/bin/new"]);
    assert_eq!(lu(&mut w, s, &["-s", "-t", "10"]), None);
    assert_eq!(lu(&mut w, other, &["-a"]).as_deref(), Some("OK"));
    assert_eq!(reply(&mut w, s), ["Cancellation was requested"]);
    assert_eq!(w.e.live_update_due(60_000, &mut w.pf), None);
}

#[test]
fn a_session_ends_with_its_connection() {
    let mut w = World::new();
    let s = w.sock();
    lu(&mut w, s, &["-f", "/bin/new"]);
    w.e.disconnect(s, &mut w.pf);
    assert!(!w.e.live_update_pending());
    let t = w.sock();
    assert_eq!(lu(&mut w, t, &["-f", "/bin/new"]).as_deref(), Some("OK"));
}

fn native(version: Version) -> Header {
    let order = if cfg!(target_endian = "little") { ByteOrder::Little } else { ByteOrder::Big };
    Header { version, order }
}

#[test]
fn the_new_server_answers_ok_from_the_dump() {
    let mut w = World::new();
    let (s, watcher) = (w.sock(), w.sock());
    ok(&w.args(watcher, MsgType::Watch, 0, &["/a", "tok"]));
    assert_eq!(w.events(watcher).len(), 1, "the initial event");
    lu(&mut w, s, &["-f", "/bin/new"]);
    let p = b"live-update\0-s\0-t\x0060\0";
    w.e.input(s, &request(MsgType::Control, 77, 0, p), w.now, &mut w.pf).unwrap();
    assert!(w.recv_all(s).is_empty());
    let due = w.e.live_update_due(w.now, &mut w.pf).unwrap();
    let opts = DumpOptions { header: native(due.version), global: None, force: true };
    let mut bytes = Vec::new();
    w.e.dump_bytes(&opts, &Fds, &mut bytes).unwrap();

    let stream = store::stream::decode(&bytes, usize::MAX).unwrap();
    let mut pf = Model::default();
    let r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    assert!(!r.engine.live_update_pending(), "the session is not carried over");
    assert_eq!(r.sockets, [(s, 100 + s.0 as i32), (watcher, 100 + watcher.0 as i32)]);
    let mut w2 = World::restored(r.engine, pf, 0);
    let m = w2.recv_all(s);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].ty, m[0].req_id, m[0].text().as_str()), (MsgType::Control as u32, 77, "OK\0"));
    // The watch registered before the update fires after it.
    ok(&w2.write(s, "/a", "1"));
    assert_eq!(w2.events(watcher), [("/a".to_string(), "tok".to_string())]);
}

#[test]
fn unread_platform_input_follows_the_partial_message() {
    struct Unread(Vec<u8>);
    impl DumpSource for Unread {
        fn ring_port(&self, _: ConnId) -> u32 {
            0
        }
        fn socket_fd(&self, _: ConnId) -> i32 {
            3
        }
        fn unread_input(&self, _: ConnId) -> &[u8] {
            &self.0
        }
    }
    let mut w = World::new();
    let s = w.sock();
    let req = request(MsgType::Write, 9, 0, b"/x\0hello");
    // The engine has the header and 2 bytes; the platform holds the rest.
    assert_eq!(w.raw(s, &req[..18]).unwrap(), 18);
    let opts = DumpOptions { header: native(Version::V2), global: None, force: false };
    let stream = w.e.dump_state(&opts, &Unread(req[18..].to_vec())).unwrap();
    let mut pf = Model::default();
    let mut r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    let m = drain(&mut r.engine, s);
    assert_eq!((m[0].req_id, m[0].text().as_str()), (9, "OK\0"), "the write was handled");
}

#[test]
fn restored_input_is_handled_whatever_the_quotas() {
    struct Unread(ConnId, Vec<u8>);
    impl DumpSource for Unread {
        fn ring_port(&self, conn: ConnId) -> u32 {
            conn.0
        }
        fn socket_fd(&self, _: ConnId) -> i32 {
            3
        }
        fn unread_input(&self, conn: ConnId) -> &[u8] {
            if conn == self.0 {
                &self.1
            } else {
                &[]
            }
        }
    }
    let mut cfg = store::Config::default();
    cfg.quotas.set(Quota::Outstanding, Limit::Hard, 1);
    let (mut w, _, d) = guest_5_world_with(cfg);
    // The guest's reply is not read yet: it has its one outstanding
    // request, and the platform holds what it sent next.
    let first = request(MsgType::Write, 1, 0, b"/local/domain/5/a\0x");
    assert_eq!(w.raw(d, &first).unwrap(), first.len());
    assert!(!w.e.wants_input(d));
    let next = request(MsgType::Write, 2, 0, b"/local/domain/5/b\0y");
    let opts = DumpOptions { header: native(Version::V2), global: None, force: false };
    let stream = w.e.dump_state(&opts, &Unread(d, next)).unwrap();
    let mut pf = Model::default();
    let mut r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    assert!(r.unread.is_empty(), "handled, as C handles what it restores");
    let m = drain(&mut r.engine, d);
    let ids: Vec<(u32, String)> = m.iter().map(|m| (m.req_id, m.text())).collect();
    assert_eq!(ids, [(1, "OK\0".to_string()), (2, "OK\0".to_string())]);
}

#[test]
fn a_privileged_connection_stalls_before_its_held_input_outgrows_the_stream() {
    let mut w = World::new();
    let (s, t) = (w.sock(), w.sock());
    lu(&mut w, s, &["-f", "/bin/new"]);
    let start = request(MsgType::TransactionStart, 1, 0, b"\0");
    let mut held = 0;
    while w.e.wants_input(t) {
        assert_eq!(w.raw(t, &start).unwrap(), start.len());
        held += 1;
        assert!(held < 10_000, "never stalls");
    }
    assert!(held * start.len() >= 32 * 1024, "{held} held");
    let opts = DumpOptions { header: native(Version::V2), global: None, force: false };
    let stream = w.e.dump_state(&opts, &Fds).unwrap();
    let mut pf = Model::default();
    let mut r = Engine::restore(store::Config::default(), &stream, 0, &mut pf).unwrap();
    let m = drain(&mut r.engine, t);
    assert_eq!(m.len(), held, "all answered by the new server");
}

/// `live-update -d SIZE DATA` as `xenstore-control` sends a chunk: the
/// data may hold NULs and is followed by one.
fn chunk(w: &mut World, c: ConnId, data: &[u8]) -> String {
    let mut p = b"live-update\0-d\0".to_vec();
    p.extend_from_slice(format!("{}\0", data.len()).as_bytes());
    p.extend_from_slice(data);
    p.push(0);
    w.send(c, MsgType::Control, 0, &p);
    let m = w.recv_all(c);
    assert_eq!(m.len(), 1);
    m[0].text().trim_end_matches('\0').to_string()
}

#[test]
fn a_stub_receives_its_new_kernel_in_chunks() {
    let mut w = World::new();
    w.pf.stub = true;
    let (s, t) = (w.sock(), w.sock());
    assert_eq!(chunk(&mut w, s, b"x"), "Not in live-update session.");
    assert_eq!(lu(&mut w, s, &["-f", "/bin/new"]).as_deref(), Some("error EINVAL"));
    let kernel: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
    assert_eq!(lu(&mut w, s, &["-b", "5000"]).as_deref(), Some("OK"));
    assert_eq!(
        lu(&mut w, t, &["-b", "10"]).as_deref(),
        Some("live-update session already active.")
    );
    assert_eq!(chunk(&mut w, t, b"x"), "Not in live-update session.");
    for part in kernel[..4096].chunks(2048) {
        assert_eq!(chunk(&mut w, s, part), "OK");
    }
    assert_eq!(lu(&mut w, s, &["-s"]).as_deref(), Some("Kernel not complete."));
    assert_eq!(chunk(&mut w, s, &kernel[4096..]), "OK");
    assert_eq!(chunk(&mut w, s, b"y"), "Too much kernel data.");
    assert_eq!(lu(&mut w, s, &["-s", "-t", "60"]), None, "answered by the new kernel");
    let due = w.e.live_update_due(w.now, &mut w.pf).unwrap();
    assert_eq!(due.binary, "kernel of 5000 bytes");
    assert_eq!(w.e.take_live_update_image().as_deref(), Some(&kernel[..]));
    assert_eq!(w.e.take_live_update_image(), None, "taken once");
}

#[test]
fn a_stub_kernel_is_bounded_by_the_memory_budget() {
    let budget = store::MemoryBudget { limit: 1 << 20, reserve: 0, meter: || 0 };
    let mut w = World::with(store::Config { budget: Some(budget), ..Default::default() });
    w.pf.stub = true;
    let s = w.sock();
    let too_big = (1 << 20).to_string();
    assert_eq!(lu(&mut w, s, &["-b", &too_big]).as_deref(), Some("Allocation failure."));
    assert_eq!(lu(&mut w, s, &["-b", "-1"]).as_deref(), Some("Allocation failure."));
    assert!(!w.e.live_update_pending());
    assert_eq!(lu(&mut w, s, &["-b", "4096"]).as_deref(), Some("OK"));
}
