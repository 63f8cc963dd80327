//! Live update of the daemon into a copy of itself, driven over the
//! socket as `xenstore-control live-update` drives it: the same process
//! runs the new binary, serves the clients connected before (their
//! watches fire), answers the requester `OK` from the new image, and
//! serves new clients. Refusals leave the daemon as it was.

mod common;

use std::path::Path;

use common::*;

/// `XS_CONTROL`.
const XS_CONTROL: u32 = 0;
/// `XS_TRANSACTION_START`.
const XS_TRANSACTION_START: u32 = 6;
/// `XS_TRANSACTION_END`.
const XS_TRANSACTION_END: u32 = 7;

/// A `live-update` control request's payload.
fn lu(args: &[&str]) -> Vec<u8> {
    let mut p = b"live-update\0".to_vec();
    for a in args {
        p.extend_from_slice(a.as_bytes());
        p.push(0);
    }
    p
}

/// The executable of process `pid`.
fn exe(pid: u32) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// A copy of the daemon's binary at `dir/name`.
fn copy_binary(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::copy(env!("CARGO_BIN_EXE_xenstored-rs"), &path).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_daemon_becomes_its_new_binary_and_keeps_its_clients() {
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--state-dir", state.path().to_str().unwrap(), "-W", "7"]);
    let new = copy_binary(d.dir.path(), "new-xenstored");
    let pid = d.child.id();

    let mut watcher = d.connect();
    assert_eq!(watcher.request(XS_WATCH, b"/lu\0tok\0"), (XS_WATCH, b"OK\0".to_vec()));
    assert_eq!(watcher.recv().unwrap().payload, b"/lu\0tok\0", "the initial event");
    let mut c = d.connect();
    assert_eq!(c.request(XS_WRITE, b"/lu/a\0before"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(watcher.recv().unwrap().payload, b"/lu/a\0tok\0");
    // Half a request, sent before the update, completed after it.
    c.send_raw(&frame(XS_READ, 9, 0, 6, b"/lu"));

    let mut ctl = d.connect();
    assert_eq!(ctl.request(XS_CONTROL, &lu(&["-f", &new])), (XS_CONTROL, b"OK\0".to_vec()));
    ctl.send(XS_CONTROL, 77, 0, &lu(&["-s", "-t", "60"]));
    let ok = ctl.recv().expect("the new server's answer");
    assert_eq!((ok.ty, ok.req_id, ok.payload.as_slice()), (XS_CONTROL, 77, &b"OK\0"[..]));

    assert_eq!(d.child.id(), pid);
    assert_eq!(exe(pid), Path::new(&new), "the new binary runs in the same process");
    assert!(!state.path().join("state_dump").exists(), "the state file was read and removed");
    c.send_raw(b"/a\0");
    let r = c.recv().unwrap();
    assert_eq!((r.ty, r.req_id, r.payload.as_slice()), (XS_READ, 9, &b"before"[..]));
    let mut fresh = d.connect();
    assert_eq!(fresh.request(XS_WRITE, b"/lu/b\0after"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(watcher.recv().unwrap().payload, b"/lu/b\0tok\0", "the old watch fires");
    // The command line came along: the watch quota is still 7.
    let (ty, quotas) = fresh.request(XS_CONTROL, b"quota\0");
    assert_eq!(ty, XS_CONTROL);
    let quotas = String::from_utf8(quotas).unwrap();
    assert!(quotas.contains("\nwatches          :        7 "), "{quotas}");

    let (status, _, socket) = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists());
}

#[test]
fn a_failed_exec_is_reported_and_the_daemon_goes_on() {
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--state-dir", state.path().to_str().unwrap()]);
    // A directory passes C's checks (it exists, it has execute bits),
    // and exec refuses it.
    let bad = d.dir.path().join("a-directory");
    std::fs::create_dir(&bad).unwrap();
    let bad = bad.to_str().unwrap();
    let mut ctl = d.connect();
    let missing = d.dir.path().join("missing");
    assert_eq!(
        ctl.request(XS_CONTROL, &lu(&["-f", missing.to_str().unwrap()])),
        (XS_CONTROL, b"File not accessible.\0".to_vec())
    );
    assert_eq!(ctl.request(XS_CONTROL, &lu(&["-f", bad])), (XS_CONTROL, b"OK\0".to_vec()));
    assert_eq!(
        ctl.request(XS_CONTROL, &lu(&["-s"])),
        (XS_CONTROL, b"Error activating new binary.\0".to_vec())
    );
    assert_eq!(ctl.request(XS_WRITE, b"/still\0here"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(
        ctl.request(XS_CONTROL, &lu(&["-a"])),
        (XS_CONTROL, b"No live-update session active.\0".to_vec())
    );
}

#[test]
fn an_open_transaction_makes_the_update_wait_then_refused() {
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--state-dir", state.path().to_str().unwrap()]);
    let new = copy_binary(d.dir.path(), "new-xenstored");
    let mut t = d.connect();
    let (ty, id) = t.request(XS_TRANSACTION_START, b"\0");
    assert_eq!(ty, XS_TRANSACTION_START);
    let tx: u32 = String::from_utf8(id).unwrap().trim_end_matches('\0').parse().unwrap();
    let mut ctl = d.connect();
    // A transaction the stream cannot carry: its read went stale (one it
    // can carry does not make the update wait).
    t.send(XS_READ, 2, tx, b"/stale\0");
    assert_eq!(t.recv().unwrap().ty, XS_ERROR);
    assert_eq!(ctl.request(XS_WRITE, b"/stale\0changed"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(ctl.request(XS_CONTROL, &lu(&["-f", &new])), (XS_CONTROL, b"OK\0".to_vec()));
    // Refused after the (one-second) timeout, with C's reason.
    let (ty, why) = ctl.request(XS_CONTROL, &lu(&["-s", "-t", "1"]));
    assert_eq!(ty, XS_CONTROL);
    let why = String::from_utf8(why).unwrap();
    assert!(why.starts_with("Domains with long running transactions:\nDomain 0: "), "{why:?}");
    assert_eq!(exe(d.child.id()), Path::new(env!("CARGO_BIN_EXE_xenstored-rs")));
    // Forced, it goes on and the transaction is doomed.
    assert_eq!(ctl.request(XS_CONTROL, &lu(&["-f", &new])), (XS_CONTROL, b"OK\0".to_vec()));
    assert_eq!(
        ctl.request(XS_CONTROL, &lu(&["-s", "-t", "0", "-F"])),
        (XS_CONTROL, b"OK\0".to_vec())
    );
    assert_eq!(exe(d.child.id()), Path::new(&new));
    assert_eq!(t.request(XS_READ, b"/\0").0, XS_READ, "the connection stays");
    t.send(XS_TRANSACTION_END, 3, tx, b"T\0");
    let end = t.recv().unwrap();
    assert_eq!((end.ty, end.payload.as_slice()), (XS_ERROR, &b"EAGAIN\0"[..]));
}

#[test]
fn transaction_starts_held_for_the_update_are_answered_by_the_new_binary() {
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--state-dir", state.path().to_str().unwrap()]);
    let new = copy_binary(d.dir.path(), "new-xenstored");
    let mut ctl = d.connect();
    assert_eq!(ctl.request(XS_CONTROL, &lu(&["-f", &new])), (XS_CONTROL, b"OK\0".to_vec()));
    // More held starts than one input buffer (8 KiB) holds, then a write:
    // the write is answered at once, the starts are held.
    const STARTS: u32 = 700;
    let mut c = d.connect();
    let mut bytes = Vec::new();
    for id in 1..=STARTS {
        bytes.extend_from_slice(&frame(XS_TRANSACTION_START, id, 0, 1, b"\0"));
    }
    c.send_raw(&bytes);
    c.send(XS_WRITE, 1000, 0, b"/held\0x");
    let w = c.recv().unwrap();
    assert_eq!((w.ty, w.req_id), (XS_WRITE, 1000), "served while the starts wait");
    // They do not keep the update waiting: no transaction is open.
    ctl.send(XS_CONTROL, 77, 0, &lu(&["-s", "-t", "60"]));
    let ok = ctl.recv().expect("the new server's answer");
    assert_eq!((ok.req_id, ok.payload.as_slice()), (77, &b"OK\0"[..]));
    assert_eq!(exe(d.child.id()), Path::new(&new));
    for id in 1..=STARTS {
        let r = c.recv().unwrap();
        assert_eq!((r.ty, r.req_id), (XS_TRANSACTION_START, id), "{:?}", r.payload);
    }
}
