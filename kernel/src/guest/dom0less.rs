//! The test client of a dom0less system (`xs-arm-client`): a well-behaved
//! guest whose home the xenstore domain wrote itself, checked over any
//! [`Link`]. Steps: the ring's features; `domid` and the home the store
//! wrote (`name`, `store/port`); a write and read-back under its home; a
//! write outside it refused with `EACCES`; a watch firing; a transaction
//! that commits two writes at once (seen together afterwards) and one
//! aborted (its write gone); a request put on the ring without a
//! notification, which the store's periodic ring sweep must find (on Arm
//! that needs the poll's timeout, the stub's only timed wake-up, to work).

use alloc::format;

use ring::MsgType;

use super::client::{Client, Link};
use super::steps::{
    check, eacces_outside, features, ok, read_domid, text, watch_fires, write_home, Verdict,
    REPLY_TIMEOUT_MS,
};

/// Runs every step, reporting each with `report(name, verdict)`.
pub fn run<L: Link>(
    c: &mut Client<L>,
    domid: u16,
    store_port: u32,
    report: &mut dyn FnMut(&str, &Verdict),
    note: &mut dyn FnMut(&str),
) {
    let mut step = |name: &str, v: Verdict| report(name, &v);
    step("features", features(c));
    step("read-domid", read_domid(c, domid));
    step("home-written", home_written(c, domid, store_port));
    // Written only when the store may ask Xen (the control capability).
    if let Ok(r) = c.request(MsgType::Read, b"memory/static-max\0", REPLY_TIMEOUT_MS) {
        note(&format!("memory/static-max: {}", text(&r)));
    }
    step("write-home", write_home(c));
    step("eacces-outside", eacces_outside(c));
    step("watch-fires", watch_fires(c));
    step("transaction-commit", transaction(c, true));
    step("transaction-abort", transaction(c, false));
    step("unannounced-request", unannounced(c, note));
}

/// The longest the sweep may take to find an unannounced request: its
/// interval (2 s) and a margin for a loaded emulator.
const SWEEP_WAIT_MS: u64 = 10_000;

/// Quiet time before the unannounced request, so the store is asleep.
const QUIET_MS: u64 = 500;

/// A request written to the ring with no event, once the store has had
/// time to fall asleep: its sweep must answer it within
/// [`SWEEP_WAIT_MS`]; `note` says how long it took.
fn unannounced<L: Link>(c: &mut Client<L>, note: &mut dyn FnMut(&str)) -> Verdict {
    c.sleep(QUIET_MS);
    let payload = b"domid\0";
    let header = ring::Header { ty: MsgType::Read as u32, req_id: 0x5eeb, tx_id: 0, len: 6 };
    let mut msg = alloc::vec::Vec::from(header.to_bytes());
    msg.extend_from_slice(payload);
    let written = c.page().write_requests(&msg).map_err(|e| format!("ring: {e:?}"))?;
    check(written == msg.len(), || format!("wrote {written} of {} bytes", msg.len()))?;
    let start = c.link().now_ms();
    let answered = c.wait_for(SWEEP_WAIT_MS, |p| p.responses_available().is_ok_and(|n| n > 0));
    check(answered, || format!("no answer in {SWEEP_WAIT_MS} ms without a notification"))?;
    let took = c.link().now_ms().saturating_sub(start);
    note(&format!("unannounced request answered after {took} ms"));
    // The next request reads past the unannounced one's reply.
    ok(c.request(MsgType::Read, b"domid\0", REPLY_TIMEOUT_MS)).map(|_| ())
}

/// The home the xenstore domain wrote: our name and store port.
fn home_written<L: Link>(c: &mut Client<L>, domid: u16, store_port: u32) -> Verdict {
    let name = ok(c.request(MsgType::Read, b"name\0", REPLY_TIMEOUT_MS))?;
    let want = format!("dom0less-{domid}");
    check(name.payload == want.as_bytes(), || format!("name reads {:?}", text(&name)))?;
    let port = ok(c.request(MsgType::Read, b"store/port\0", REPLY_TIMEOUT_MS))?;
    let want = format!("{store_port}");
    check(port.payload == want.as_bytes(), || format!("store/port reads {:?}", text(&port)))
}

/// A transaction writing `data/tx/a` and `data/tx/b`, committed or
/// aborted; afterwards both are there, or neither.
fn transaction<L: Link>(c: &mut Client<L>, commit: bool) -> Verdict {
    let (dir, end): (&str, &[u8]) = if commit { ("tc", b"T\0") } else { ("ta", b"F\0") };
    let started = ok(c.request(MsgType::TransactionStart, b"\0", REPLY_TIMEOUT_MS))?;
    let tx: u32 =
        core::str::from_utf8(started.payload.strip_suffix(&[0]).unwrap_or(&started.payload))
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("transaction id {:?}", text(&started)))?;
    for leaf in ["a", "b"] {
        let w = format!("data/{dir}/{leaf}\0{leaf}");
        ok(c.request_in(tx, MsgType::Write, w.as_bytes(), REPLY_TIMEOUT_MS))?;
    }
    ok(c.request_in(tx, MsgType::TransactionEnd, end, REPLY_TIMEOUT_MS))?;
    for leaf in ["a", "b"] {
        let path = format!("data/{dir}/{leaf}\0");
        let r = c
            .request(MsgType::Read, path.as_bytes(), REPLY_TIMEOUT_MS)
            .map_err(|e| format!("read {dir}/{leaf}: {e:?}"))?;
        let seen = r.error().is_none();
        check(seen == commit, || format!("after the transaction {dir}/{leaf}: {}", text(&r)))?;
    }
    Ok(())
}
