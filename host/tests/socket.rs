//! End-to-end tests over the Unix socket with raw wire bytes. Expected
//! replies are those of C xenstored 4.17 for the same bytes.

mod common;

use common::*;

#[test]
fn write_read_directory_and_errors() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    assert_eq!(c.request(XS_WRITE, b"/raw/a\0hello"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(c.request(XS_READ, b"/raw/a\0"), (XS_READ, b"hello".to_vec()));
    assert_eq!(c.request(XS_DIRECTORY, b"/raw\0"), (XS_DIRECTORY, b"a\0".to_vec()));
    assert_eq!(c.request(XS_READ, b"/raw/nope\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
    // Unknown types, including the removed XS_RESTRICT (20), are ENOSYS.
    assert_eq!(c.request(20, b""), (XS_ERROR, b"ENOSYS\0".to_vec()));
    assert_eq!(c.request(999, b"x\0"), (XS_ERROR, b"ENOSYS\0".to_vec()));
    // A relative path from a socket client is relative to dom0's home.
    assert_eq!(c.request(XS_READ, b"relative\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
    assert_eq!(c.request(XS_RM, b"/raw\0"), (XS_RM, b"OK\0".to_vec()));
    assert_eq!(c.request(XS_READ, b"/raw/a\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
}

#[test]
fn replies_echo_ids_and_an_unknown_transaction_is_enoent() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    c.send(XS_READ, 0xdead_beef, 55, b"/\0");
    let reply = c.recv().unwrap();
    assert_eq!((reply.ty, reply.req_id, reply.tx_id), (XS_ERROR, 0xdead_beef, 55));
    assert_eq!(reply.payload, b"ENOENT\0");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    let mut batch = Vec::new();
    for i in 0..200u32 {
        let payload = format!("/pipe/n{i}\0value{i}");
        batch.extend(frame(
            XS_WRITE,
            i,
            0,
            u32::try_from(payload.len()).unwrap(),
            payload.as_bytes(),
        ));
    }
    c.send_raw(&batch);
    for i in 0..200u32 {
        let reply = c.recv().unwrap();
        assert_eq!((reply.ty, reply.req_id, reply.payload.as_slice()), (XS_WRITE, i, &b"OK\0"[..]));
    }
    assert_eq!(c.request(XS_READ, b"/pipe/n199\0"), (XS_READ, b"value199".to_vec()));
}

#[test]
fn replies_held_up_by_a_full_socket_are_sent_once_the_client_reads() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    let mut other = d.connect();
    let value = vec![b'v'; 4000];
    let mut write = b"/big\0".to_vec();
    write.extend_from_slice(&value);
    assert_eq!(c.request(XS_WRITE, &write), (XS_WRITE, b"OK\0".to_vec()));
    // About 1.2 MB of replies: far more than the socket buffers hold, so
    // the daemon's writes block until the client reads.
    let mut batch = Vec::new();
    for i in 0..300u32 {
        batch.extend(frame(XS_READ, i, 0, 5, b"/big\0"));
    }
    c.send_raw(&batch);
    // Before reading anything: the daemon, with replies it cannot write
    // yet, still serves everybody else. Once this answer is here it has
    // also had the batch (it was sent first).
    assert_eq!(other.request(XS_READ, b"/nope\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
    for i in 0..300u32 {
        let reply = c.recv().expect("every reply arrives");
        assert_eq!((reply.ty, reply.req_id), (XS_READ, i));
        assert_eq!(reply.payload, value);
    }
    assert_eq!(c.request(XS_READ, b"/nope\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
}

#[test]
fn a_request_split_across_writes_is_reassembled() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    let mut other = d.connect();
    let value = vec![b'v'; 4000];
    let mut payload = b"/split\0".to_vec();
    payload.extend_from_slice(&value);
    let bytes = frame(XS_WRITE, 1, 0, u32::try_from(payload.len()).unwrap(), &payload);
    for chunk in bytes.chunks(333) {
        c.send_raw(chunk);
        // A round trip on another connection: by its answer the daemon has
        // had its turn at this chunk before the next one is sent, so it
        // sees the message in pieces.
        assert_eq!(other.request(XS_READ, b"/nope\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
    }
    assert_eq!(c.recv().unwrap().payload, b"OK\0");
    assert_eq!(c.request(XS_READ, b"/split\0"), (XS_READ, value));
}

#[test]
fn oversized_length_drops_only_that_connection() {
    let d = Daemon::start(&[]);
    let mut bad = d.connect();
    let mut good = d.connect();
    assert_eq!(good.request(XS_WRITE, b"/ok\0\x31"), (XS_WRITE, b"OK\0".to_vec()));
    bad.send_raw(&frame(XS_READ, 1, 0, 5000, &[b'x'; 100]));
    assert_eq!(bad.recv(), None, "the violating connection is closed");
    assert_eq!(good.request(XS_READ, b"/ok\0"), (XS_READ, b"1".to_vec()));
    let mut late = d.connect();
    assert_eq!(late.request(XS_READ, b"/ok\0"), (XS_READ, b"1".to_vec()));
}

#[test]
fn watch_events_cross_connections() {
    let d = Daemon::start(&[]);
    let mut watcher = d.connect();
    let mut writer = d.connect();
    assert_eq!(watcher.request(XS_WATCH, b"/w\0tok\0"), (XS_WATCH, b"OK\0".to_vec()));
    let initial = watcher.recv().unwrap();
    assert_eq!((initial.ty, initial.payload), (XS_WATCH_EVENT, b"/w\0tok\0".to_vec()));
    assert_eq!(writer.request(XS_WRITE, b"/w/x\0v"), (XS_WRITE, b"OK\0".to_vec()));
    let event = watcher.recv().unwrap();
    assert_eq!(
        (event.ty, event.req_id, event.payload),
        (XS_WATCH_EVENT, 0, b"/w/x\0tok\0".to_vec())
    );
}

#[test]
fn a_client_that_closes_mid_message_does_not_disturb_others() {
    let d = Daemon::start(&[]);
    let mut other = d.connect();
    {
        let mut quitter = d.connect();
        quitter.send_raw(&frame(XS_WRITE, 1, 0, 100, b"/half"));
    }
    assert_eq!(other.request(XS_WRITE, b"/still\0here"), (XS_WRITE, b"OK\0".to_vec()));
    assert_eq!(other.request(XS_READ, b"/half\0"), (XS_ERROR, b"ENOENT\0".to_vec()));
}

#[test]
fn sigterm_removes_socket_and_pid_file_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let d = Daemon::start(&["--pid-file", pid_file.to_str().unwrap()]);
    // The pid file is written right after the socket starts listening.
    let read_pid = || std::fs::read_to_string(&pid_file).ok()?.trim().parse::<u32>().ok();
    common::wait_for(|| read_pid().is_some(), "the pid file");
    let pid = read_pid().unwrap();
    assert_eq!(pid, d.child.id());
    let mut c = d.connect();
    assert_eq!(c.request(XS_WRITE, b"/x\0y"), (XS_WRITE, b"OK\0".to_vec()));
    let (status, _dir, socket) = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists());
    assert!(!pid_file.exists());
}

#[test]
fn help_and_bad_options() {
    let bin = env!("CARGO_BIN_EXE_xenstored-rs");
    let out = std::process::Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--simring DIR"));
    let out = std::process::Command::new(bin).args(["-E", "many"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(bin).args(["-Q", "bogus=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unknown_options_are_ignored_as_c_does() {
    let d = Daemon::start(&["--frobnicate", "-x", "stray", "-T", "/dev/null"]);
    let mut c = d.connect();
    assert_eq!(c.request(XS_WRITE, b"/x\0y"), (XS_WRITE, b"OK\0".to_vec()));
}
