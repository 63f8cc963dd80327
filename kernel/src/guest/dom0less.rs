//! The test client of a dom0less system (`xs-arm-client`): a well-behaved
//! guest whose home the xenstore domain wrote itself, checked over any
//! [`Link`]. Steps: the ring's features; `domid` and the home the store
//! wrote (`name`, `store/port`); a write and read-back under its home; a
//! write outside it refused with `EACCES`; a watch firing; a transaction
//! that commits two writes at once (seen together afterwards) and one
//! aborted (its write gone).

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
) {
    let mut step = |name: &str, v: Verdict| report(name, &v);
    step("features", features(c));
    step("read-domid", read_domid(c, domid));
    step("home-written", home_written(c, domid, store_port));
    step("write-home", write_home(c));
    step("eacces-outside", eacces_outside(c));
    step("watch-fires", watch_fires(c));
    step("transaction-commit", transaction(c, true));
    step("transaction-abort", transaction(c, false));
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
