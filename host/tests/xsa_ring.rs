//! XSA regressions that need the daemon's front end rather than the engine
//! alone: hostile message lengths arriving over a connection.
mod common;

use common::*;

#[test]
fn xsa_38_payload_limit_is_exactly_4096() {
    let d = Daemon::start(&[]);
    let mut c = d.connect();
    // A 4096-byte payload is served (here: a path too long, EINVAL).
    let mut max = vec![b'a'; 4095];
    max.push(0);
    assert_eq!(c.request(XS_READ, &max), (XS_ERROR, b"EINVAL\0".to_vec()));
    // One byte more is a protocol violation: the connection is closed.
    let mut over = vec![b'a'; 4096];
    over.push(0);
    c.send(XS_READ, 1, 0, &over);
    assert_eq!(c.recv(), None);
    let mut other = d.connect();
    assert_eq!(other.request(XS_WRITE, b"/ok\0\x31"), (XS_WRITE, b"OK\0".to_vec()));
}

#[test]
fn xsa_420_gigabyte_lengths_drop_the_client_at_once() {
    // Lengths of 1-2 GiB (negative as 32-bit ints) and above: the header
    // alone ends the connection, with no wait for a payload that never
    // comes (a daemon that waited would never close: recv() fails the test
    // on its timeout rather than returning None), and everybody else is
    // served.
    let d = Daemon::start(&[]);
    let mut good = d.connect();
    for len in [0x4000_0000u32, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        let mut bad = d.connect();
        bad.send_raw(&frame(XS_WRITE, 1, 0, len, b"/x\0"));
        assert_eq!(bad.recv(), None, "len {len:#x}");
        assert_eq!(good.request(XS_WRITE, b"/ok\0\x31"), (XS_WRITE, b"OK\0".to_vec()));
    }
}
