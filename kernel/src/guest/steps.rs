//! The hostile test guest's checks, in order, over any [`Link`].
//!
//! Well-behaved requests first (its own `domid`, a write under its home, a
//! write outside it refused with `EACCES`, a watch firing), then a ring
//! reconnection (`docs/misc/xenstore-ring.txt`: a half-sent request and the
//! watch must be gone, requests must work again), then one violation that
//! must end the service for good: inconsistent indices
//! (`XENSTORE_ERROR_RINGIDX`) or a header announcing more than
//! `XENSTORE_PAYLOAD_MAX` bytes (`XENSTORE_ERROR_PROTO`).
//!
//! The third mode checks watch-event expiry instead: the guest watches
//! `data/flood`, says `flood me`, and stops reading its ring while dom0
//! writes [`FLOOD_EVENTS`] nodes under it; the events that did not fit in
//! the ring wait in the stub, which must drop them once they are older than
//! its `-w watch-event=` timeout. The guest waits for its ring to fill up
//! (the flood has arrived, however long dom0 took), leaves it unread for
//! [`EXPIRY_GRACE_MS`] more, then reads what is left.

use alloc::format;
use alloc::string::String;

use ring::page::{RawIndices, XENSTORE_RING_SIZE};
use ring::wire::{
    XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX,
    XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_RECONNECTION,
};
use ring::{Header, MsgType};

use super::client::{Client, ClientError, Link, Reply};

/// How long a request may take before the step fails.
pub const REPLY_TIMEOUT_MS: u64 = 5_000;
/// How long the guest listens to be sure nothing arrives.
pub const SILENCE_MS: u64 = 2_000;

/// How many nodes dom0 writes under `data/flood` in the expiry mode.
pub const FLOOD_EVENTS: usize = 60;
/// How long the guest waits for dom0's flood to fill its ring after saying
/// `flood me`: only a hang detector (dom0 may be slow on a loaded host).
pub const FLOOD_WAIT_MS: u64 = 600_000;
/// The ring counts as full when less than this is free: no flood event
/// (about 33 bytes with its header) fits any more.
pub const FULL_SLACK: usize = 64;
/// How long the guest leaves its full ring unread: five times the short
/// `-w watch-event=2` timeout the boot check gives the stub, so the events
/// queued behind the full ring expire first; shorter than the default
/// 20 s timeout.
pub const EXPIRY_GRACE_MS: u64 = 10_000;

/// What the run checks, chosen by the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The full run, ending with `req_prod - req_cons` beyond the ring size.
    BadIndex,
    /// The full run, ending with a header of `len = XENSTORE_PAYLOAD_MAX + 1`.
    Oversize,
    /// Watch-event expiry with an unread ring.
    Expiry,
}

impl Mode {
    /// `oversize` or `expiry` anywhere on the command line picks that
    /// mode; the default is [`Mode::BadIndex`].
    pub fn from_cmdline(cmdline: &str) -> Mode {
        let has = |w: &str| cmdline.split_ascii_whitespace().any(|x| x == w);
        if has("oversize") {
            Mode::Oversize
        } else if has("expiry") {
            Mode::Expiry
        } else {
            Mode::BadIndex
        }
    }
}

/// One step's verdict: `Err` carries what went wrong.
pub type Verdict = Result<(), String>;

/// Runs the steps of `mode`, reporting each with `report(name, verdict)`
/// and progress for dom0 with `note(text)`.
pub fn run<L: Link>(
    c: &mut Client<L>,
    domid: u16,
    mode: Mode,
    report: &mut dyn FnMut(&str, &Verdict),
    note: &mut dyn FnMut(&str),
) {
    let mut step = |name: &str, v: Verdict| report(name, &v);
    step("features", features(c));
    step("read-domid", read_domid(c, domid));
    if mode == Mode::Expiry {
        step("watch-event-expiry", expiry(c, note));
        return;
    }
    step("write-home", write_home(c));
    step("eacces-outside", eacces_outside(c));
    step("watch-fires", watch_fires(c));
    step("reconnect", reconnect(c, domid));
    step("reconnect-dropped-watch", dropped_watch(c));
    match mode {
        Mode::Oversize => step("oversize", oversize(c)),
        _ => step("bad-index", bad_index(c)),
    }
    step("no-more-service", no_more_service(c));
}

fn features<L: Link>(c: &mut Client<L>) -> Verdict {
    let f = c.page().server_features();
    let want = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR;
    check(f & want == want, || format!("server_features {f:#x} lacks {want:#x}"))
}

fn read_domid<L: Link>(c: &mut Client<L>, domid: u16) -> Verdict {
    let r = ok(c.request(MsgType::Read, b"domid\0", REPLY_TIMEOUT_MS))?;
    let want = format!("{domid}");
    check(r.payload == want.as_bytes(), || format!("domid reads {:?}, not {want}", text(&r)))
}

fn write_home<L: Link>(c: &mut Client<L>) -> Verdict {
    ok(c.request(MsgType::Write, b"data/hostile\0ok", REPLY_TIMEOUT_MS))?;
    let r = ok(c.request(MsgType::Read, b"data/hostile\0", REPLY_TIMEOUT_MS))?;
    check(r.payload == b"ok", || format!("read back {:?}", text(&r)))
}

fn eacces_outside<L: Link>(c: &mut Client<L>) -> Verdict {
    let r = reply(c.request(MsgType::Write, b"/local/domain/0/hostile\0x", REPLY_TIMEOUT_MS))?;
    check(r.error() == Some(b"EACCES"), || format!("write outside home answered {}", describe(&r)))
}

fn watch_fires<L: Link>(c: &mut Client<L>) -> Verdict {
    ok(c.request(MsgType::Watch, b"data/w\0tok\0", REPLY_TIMEOUT_MS))?;
    // Registering fires one event for the watched path itself.
    expect_event(c, "registration")?;
    ok(c.request(MsgType::Write, b"data/w\0one", REPLY_TIMEOUT_MS))?;
    expect_event(c, "write")
}

fn reconnect<L: Link>(c: &mut Client<L>, domid: u16) -> Verdict {
    // Half a request header: the reconnection must throw it away, or the
    // next request would be misframed.
    let half = Header { ty: MsgType::Read as u32, req_id: 99, tx_id: 0, len: 6 }.to_bytes();
    c.send_raw(half.get(..8).unwrap_or_default(), REPLY_TIMEOUT_MS)
        .map_err(|e| format!("cannot send a partial header: {e:?}"))?;
    if !c.reconnect(REPLY_TIMEOUT_MS) {
        return Err(String::from("connection never went back to 0"));
    }
    let idx = c.page().raw_indices();
    check(idx == RawIndices::default(), || format!("indices after reconnection: {idx:?}"))?;
    read_domid(c, domid)
}

fn dropped_watch<L: Link>(c: &mut Client<L>) -> Verdict {
    ok(c.request(MsgType::Write, b"data/w\0two", REPLY_TIMEOUT_MS))?;
    match c.next_event(SILENCE_MS) {
        Err(ClientError::Timeout) => Ok(()),
        Ok(e) => Err(format!("the watch survived the reconnection: event {:?}", lossy(&e))),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn bad_index<L: Link>(c: &mut Client<L>) -> Verdict {
    let mut idx = c.page().raw_indices();
    idx.req_prod = idx.req_cons.wrapping_add(2 * 1024);
    c.page().set_raw_indices(idx);
    c.link().notify();
    expect_error(c, XENSTORE_ERROR_RINGIDX)?;
    // Make our own side consistent again for the last step.
    let mut idx = c.page().raw_indices();
    idx.req_prod = idx.req_cons;
    c.page().set_raw_indices(idx);
    Ok(())
}

fn oversize<L: Link>(c: &mut Client<L>) -> Verdict {
    let len = u32::try_from(XENSTORE_PAYLOAD_MAX + 1).unwrap_or(u32::MAX);
    let h = Header { ty: MsgType::Write as u32, req_id: 7, tx_id: 0, len }.to_bytes();
    c.send_raw(&h, REPLY_TIMEOUT_MS).map_err(|e| format!("cannot send the header: {e:?}"))?;
    expect_error(c, XENSTORE_ERROR_PROTO)
}

fn no_more_service<L: Link>(c: &mut Client<L>) -> Verdict {
    match c.request(MsgType::Read, b"domid\0", SILENCE_MS) {
        Err(ClientError::Timeout) => Ok(()),
        Ok(r) => Err(format!("still served: {}", describe(&r))),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn expiry<L: Link>(c: &mut Client<L>, note: &mut dyn FnMut(&str)) -> Verdict {
    ok(c.request(MsgType::Watch, b"data/flood\0fl\0", REPLY_TIMEOUT_MS))?;
    let e = c.next_event(REPLY_TIMEOUT_MS).map_err(|e| format!("no registration event: {e:?}"))?;
    check(e == b"data/flood\0fl\0", || format!("registration event {:?}", lossy(&e)))?;
    note("flood me");
    let full = |p: &ring::RingPage| {
        let i = p.raw_indices();
        let unread = usize::try_from(i.rsp_prod.wrapping_sub(i.rsp_cons)).unwrap_or(usize::MAX);
        unread >= XENSTORE_RING_SIZE.saturating_sub(FULL_SLACK)
    };
    if !c.wait_for(FLOOD_WAIT_MS, full) {
        return Err(String::from("the ring never filled up: no flood from dom0"));
    }
    note("ring full");
    c.sleep(EXPIRY_GRACE_MS);
    note("reading events");
    let mut got = 0usize;
    loop {
        match c.next_event(SILENCE_MS) {
            Ok(e) if e.starts_with(b"data/flood/") && e.ends_with(b"\0fl\0") => {
                got = got.saturating_add(1)
            }
            Ok(e) => return Err(format!("unexpected event {:?}", lossy(&e))),
            Err(ClientError::Timeout) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    note(&format!("got {got} of {FLOOD_EVENTS} flood events"));
    // What fitted in the ring arrives; what waited in the stub expired.
    check(got > 0 && got < FLOOD_EVENTS, || format!("{got} of {FLOOD_EVENTS} events arrived"))
}

fn expect_event<L: Link>(c: &mut Client<L>, why: &str) -> Verdict {
    let e = c.next_event(REPLY_TIMEOUT_MS).map_err(|e| format!("no event on {why}: {e:?}"))?;
    check(e == b"data/w\0tok\0", || format!("event on {why}: {:?}", lossy(&e)))
}

fn expect_error<L: Link>(c: &mut Client<L>, code: u32) -> Verdict {
    let seen = c.wait_for(REPLY_TIMEOUT_MS, |p| p.error() != 0);
    let got = c.page().error();
    check(seen && got == code, || format!("error field {got}, expected {code}"))
}

/// A reply that is not an error.
fn ok(r: Result<Reply, ClientError>) -> Result<Reply, String> {
    let r = reply(r)?;
    match r.error() {
        Some(_) => Err(format!("answered {}", describe(&r))),
        None => Ok(r),
    }
}

/// Any reply.
fn reply(r: Result<Reply, ClientError>) -> Result<Reply, String> {
    r.map_err(|e| format!("no reply: {e:?}"))
}

fn check(cond: bool, why: impl FnOnce() -> String) -> Verdict {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

fn describe(r: &Reply) -> String {
    match r.error() {
        Some(e) => format!("error {:?}", lossy(e)),
        None => format!("type {} {:?}", r.header.ty, text(r)),
    }
}

fn text(r: &Reply) -> String {
    lossy(&r.payload)
}

fn lossy(b: &[u8]) -> String {
    b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '.' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_from_cmdline() {
        assert_eq!(Mode::from_cmdline(""), Mode::BadIndex);
        assert_eq!(Mode::from_cmdline("--log-level debug oversize"), Mode::Oversize);
        assert_eq!(Mode::from_cmdline("expiry"), Mode::Expiry);
        assert_eq!(Mode::from_cmdline("expiryx"), Mode::BadIndex);
    }
}
