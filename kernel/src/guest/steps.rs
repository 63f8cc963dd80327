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
//!
//! The reconnection modes check that a ring that reported an error comes
//! back: after bad indices or an oversize header the ring is not served
//! (even with the guest's side repaired), then the guest asks for a
//! reconnection, must see `XENSTORE_CONNECTED` with the error field
//! cleared and the indices zeroed, be served again, and find its watch
//! gone. The storm mode loops [`STORM_CYCLES`] error → reconnect cycles
//! (alternating the two errors, reading `domid` after each), far beyond
//! the stub's reconnection burst, so that most reconnections wait for its
//! rate limit; dom0 keeps using xenstore meanwhile.

use alloc::format;
use alloc::string::String;

use ring::page::{RawIndices, XENSTORE_RING_SIZE};
use ring::wire::{
    XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX,
    XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_RECONNECTION,
};
use ring::{Header, MsgType};

use super::client::{Client, ClientError, Link, Reply};

/// How long a request may take before the step fails: only a hang
/// detector (a loaded host may leave the stub unscheduled for seconds).
pub const REPLY_TIMEOUT_MS: u64 = 60_000;
/// How long the guest listens to be sure nothing arrives.
pub const SILENCE_MS: u64 = 2_000;
/// How long the `reintro` guest waits for dom0 to introduce it again (a
/// hang detector: dom0 does so as soon as it reads `data/reintro`).
pub const REINTRO_WAIT_MS: u64 = 300_000;

/// How long a reconnection may take, including the wait for the stub's
/// reconnection rate limit: a hang detector, like [`REPLY_TIMEOUT_MS`].
pub const RECONNECT_TIMEOUT_MS: u64 = 60_000;
/// Error → reconnect cycles of the storm mode.
pub const STORM_CYCLES: u32 = 50;

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
    /// Bad indices, then a reconnection that must bring the service back.
    ReconnectIndex,
    /// An oversize header, then a reconnection that must bring the service
    /// back.
    ReconnectOversize,
    /// [`STORM_CYCLES`] error → reconnect cycles.
    Storm,
    /// Memory attacks: deep transaction reads, a deep chain, fill
    /// ([`super::memory`]).
    Memory,
    /// A chain 998 nodes deep, written and removed ([`super::memory`]).
    DeepRm,
    /// Many watches, then a ring left unread ([`super::memory`]).
    Flood,
    /// A well-behaved guest beside the attackers ([`super::memory`]).
    Good,
    /// Introduced again while it lives (`XS_INTRODUCE` from dom0, after it
    /// wrote `data/reintro`): the ring restarts with zeroed indices, the
    /// old watch gone, and serves it again.
    Reintroduce,
}

impl Mode {
    /// `oversize`, `expiry`, `reconnect-idx`, `reconnect-big` or `storm`
    /// anywhere on the command line picks that mode; the default is
    /// [`Mode::BadIndex`].
    pub fn from_cmdline(cmdline: &str) -> Mode {
        let words = [
            ("oversize", Mode::Oversize),
            ("expiry", Mode::Expiry),
            ("reconnect-idx", Mode::ReconnectIndex),
            ("reconnect-big", Mode::ReconnectOversize),
            ("storm", Mode::Storm),
            ("memory", Mode::Memory),
            ("deep-rm", Mode::DeepRm),
            ("flood", Mode::Flood),
            ("good", Mode::Good),
            ("reintro", Mode::Reintroduce),
        ];
        let has = |w: &str| cmdline.split_ascii_whitespace().any(|x| x == w);
        words.into_iter().find(|(w, _)| has(w)).map_or(Mode::BadIndex, |(_, m)| m)
    }
}

/// The two ways the guest breaks its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Violation {
    /// `req_prod - req_cons` beyond the ring size (`XENSTORE_ERROR_RINGIDX`).
    BadIndex,
    /// A header with `len = XENSTORE_PAYLOAD_MAX + 1` (`XENSTORE_ERROR_PROTO`).
    Oversize,
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
    let violation = match mode {
        Mode::Expiry => {
            step("watch-event-expiry", expiry(c, note));
            return;
        }
        Mode::Storm => {
            step("storm", storm(c, domid, note));
            step("served-after-storm", served_again(c, domid));
            return;
        }
        Mode::ReconnectIndex => Violation::BadIndex,
        Mode::ReconnectOversize => Violation::Oversize,
        Mode::BadIndex | Mode::Oversize => {
            return run_to_the_end(c, domid, mode, &mut step);
        }
        Mode::Memory | Mode::DeepRm | Mode::Flood | Mode::Good => {
            return super::memory::run(c, domid, mode, &mut step, note);
        }
        Mode::Reintroduce => {
            step("watch-fires", watch_fires(c));
            step("reintroduced", reintroduced(c));
            step("served-after-reintro", served_again(c, domid));
            step("reintro-dropped-watch", dropped_watch(c));
            return;
        }
    };
    step("watch-fires", watch_fires(c));
    step(violation.name(), break_ring(c, violation));
    step("no-service-while-failed", no_service_while_failed(c));
    step("reconnect-after-error", reconnect_after_error(c));
    step("served-after-reconnect", served_again(c, domid));
    step("reconnect-dropped-watch", dropped_watch(c));
}

/// The full run of [`Mode::BadIndex`] and [`Mode::Oversize`] after the
/// first two steps: normal requests, a reconnection, then the violation
/// and silence.
fn run_to_the_end<L: Link>(
    c: &mut Client<L>,
    domid: u16,
    mode: Mode,
    step: &mut dyn FnMut(&str, Verdict),
) {
    step("write-home", write_home(c));
    step("eacces-outside", eacces_outside(c));
    step("watch-fires", watch_fires(c));
    step("reconnect", reconnect(c, domid));
    step("reconnect-dropped-watch", dropped_watch(c));
    let violation = if mode == Mode::Oversize { Violation::Oversize } else { Violation::BadIndex };
    step(violation.name(), break_ring(c, violation));
    step("no-more-service", no_more_service(c));
}

impl Violation {
    /// The step's name.
    fn name(self) -> &'static str {
        match self {
            Violation::BadIndex => "bad-index",
            Violation::Oversize => "oversize",
        }
    }
}

/// Breaks the ring one way and waits for the error field to say so.
fn break_ring<L: Link>(c: &mut Client<L>, violation: Violation) -> Verdict {
    match violation {
        Violation::BadIndex => bad_index(c),
        Violation::Oversize => oversize(c),
    }
}

/// A failed ring is not served, though the guest's side is consistent.
fn no_service_while_failed<L: Link>(c: &mut Client<L>) -> Verdict {
    no_more_service(c)?;
    let e = c.page().error();
    check(e != 0, || String::from("the error field was cleared without a reconnection"))
}

/// Asks for a reconnection; it must complete with the error field cleared
/// and the indices zeroed.
fn reconnect_after_error<L: Link>(c: &mut Client<L>) -> Verdict {
    if !c.reconnect(RECONNECT_TIMEOUT_MS) {
        return Err(String::from("connection never went back to 0"));
    }
    let e = c.page().error();
    check(e == XENSTORE_ERROR_NONE, || format!("error field {e} after reconnection"))?;
    let idx = c.page().raw_indices();
    check(idx == RawIndices::default(), || format!("indices after reconnection: {idx:?}"))
}

/// Writes `data/reintro`, for dom0 to introduce this live domain again,
/// and waits for the `XS_INTRODUCE`, which zeroes the ring's indices (as
/// C's `domain_conn_reset`): nothing else can, since they only grow while
/// the guest is served. The write's reply is not waited for: dom0 may
/// act before the guest reads it, and the reset throws it away.
fn reintroduced<L: Link>(c: &mut Client<L>) -> Verdict {
    let payload = b"data/reintro\0ready";
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let h = Header { ty: MsgType::Write as u32, req_id: 7, tx_id: 0, len }.to_bytes();
    c.send_raw(&[&h[..], payload].concat(), REPLY_TIMEOUT_MS)
        .map_err(|e| format!("cannot write data/reintro: {e:?}"))?;
    let zeroed = c.wait_for(REINTRO_WAIT_MS, |p| p.raw_indices() == RawIndices::default());
    c.forget();
    check(zeroed, || format!("indices {:?} after {REINTRO_WAIT_MS} ms", c.page().raw_indices()))
}

/// Reads `domid`, writes under the home and reads it back.
fn served_again<L: Link>(c: &mut Client<L>, domid: u16) -> Verdict {
    read_domid(c, domid)?;
    write_home(c)
}

/// [`STORM_CYCLES`] cycles of: break the ring, reconnect, read `domid`.
fn storm<L: Link>(c: &mut Client<L>, domid: u16, note: &mut dyn FnMut(&str)) -> Verdict {
    let start = c.link().now_ms();
    let mut slowest = 0u64;
    for i in 0..STORM_CYCLES {
        let violation = if i % 2 == 0 { Violation::BadIndex } else { Violation::Oversize };
        let at = |e: String| format!("cycle {i}, {}: {e}", violation.name());
        break_ring(c, violation).map_err(at)?;
        let t = c.link().now_ms();
        reconnect_after_error(c).map_err(at)?;
        slowest = slowest.max(c.link().now_ms().saturating_sub(t));
        read_domid(c, domid).map_err(at)?;
    }
    let total = c.link().now_ms().saturating_sub(start);
    note(&format!(
        "storm: {STORM_CYCLES} error/reconnect cycles in {total} ms, slowest reconnection {slowest} ms"
    ));
    Ok(())
}

pub(super) fn features<L: Link>(c: &mut Client<L>) -> Verdict {
    let f = c.page().server_features();
    let want = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR;
    check(f & want == want, || format!("server_features {f:#x} lacks {want:#x}"))
}

pub(super) fn read_domid<L: Link>(c: &mut Client<L>, domid: u16) -> Verdict {
    let r = ok(c.request(MsgType::Read, b"domid\0", REPLY_TIMEOUT_MS))?;
    let want = format!("{domid}");
    check(r.payload == want.as_bytes(), || format!("domid reads {:?}, not {want}", text(&r)))
}

pub(super) fn write_home<L: Link>(c: &mut Client<L>) -> Verdict {
    ok(c.request(MsgType::Write, b"data/hostile\0ok", REPLY_TIMEOUT_MS))?;
    let r = ok(c.request(MsgType::Read, b"data/hostile\0", REPLY_TIMEOUT_MS))?;
    check(r.payload == b"ok", || format!("read back {:?}", text(&r)))
}

pub(super) fn eacces_outside<L: Link>(c: &mut Client<L>) -> Verdict {
    let r = reply(c.request(MsgType::Write, b"/local/domain/0/hostile\0x", REPLY_TIMEOUT_MS))?;
    check(r.error() == Some(b"EACCES"), || format!("write outside home answered {}", describe(&r)))
}

pub(super) fn watch_fires<L: Link>(c: &mut Client<L>) -> Verdict {
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
pub(super) fn ok(r: Result<Reply, ClientError>) -> Result<Reply, String> {
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

pub(super) fn check(cond: bool, why: impl FnOnce() -> String) -> Verdict {
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

pub(super) fn text(r: &Reply) -> String {
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
        assert_eq!(Mode::from_cmdline("reconnect-idx"), Mode::ReconnectIndex);
        assert_eq!(Mode::from_cmdline("x reconnect-big"), Mode::ReconnectOversize);
        assert_eq!(Mode::from_cmdline("storm"), Mode::Storm);
    }
}
