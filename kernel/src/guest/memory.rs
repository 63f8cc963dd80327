//! The hostile guest's memory attacks, and a well-behaved guest to run
//! beside them (`kernel/checks/hostile-memory.sh`).
//!
//! The stub's heap is metered (`store::budget`): guests stop at
//! `limit - reserve`, a request over the budget is answered `ENOMEM`, and
//! each domain's `memory` quota is capped at a share of the guests' part.
//! These modes push one domain to that share in every way a guest can
//! make the stub hold memory, while dom0 and a well-behaved guest must
//! keep being served:
//!
//! * `memory` runs three attacks in turn:
//!   - **deep-tx**: transactions (as many as the quota allows), each with
//!     READs of missing relative paths about 1020 components deep (about
//!     2 KiB, under `path-max`) until the stub refuses them (`ENOMEM` or
//!     `ENOSPC`): each read makes the transaction record the path, which
//!     is what once took the stub's heap (`memory allocation of 851 bytes
//!     failed`). Then the transactions are ended and a normal write and
//!     read must work again;
//!   - **deep-rm**: a WRITE of a relative path [`DEEP_RM_FIT_DEPTH`]
//!     components deep (`data/chain/a/…`; the home itself belongs to the
//!     toolstack), then an RM of its top, [`DEEP_RM_ROUNDS`] times.
//!     The depth is what fits the domain's share: a node is charged its
//!     whole path, as C xenstored charges it, so a chain's charge grows
//!     with the square of its depth (a 998-deep one is charged about
//!     1 MB, four times the share of a domain of the 4 MiB stub);
//!   - **fill**: WRITEs of [`FILL_VALUE_BYTES`]-byte values under the home
//!     until the stub refuses one or stops reading the ring (flow control:
//!     a domain at its `memory` quota is simply not read). One request is
//!     outstanding at a time, so "no reply for [`STALL_MS`] while the ring
//!     still holds request bytes" is the flow-control answer; a request
//!     the stub took but never answered fails the step. The domain stays
//!     stalled, holding its share, until it is destroyed.
//! * `deep-rm`: the same attack from [`DEEP_RM_DEPTH`] (998) components.
//!   Such a chain is charged about 1 MB, four times a domain's share, so
//!   the stub refuses it (`ENOMEM`, as C xenstored refuses a node write
//!   past the memory quota; `ENOSPC` from the `nodes` quota, which counts
//!   the toolstack's nodes in the home too) and creates nothing. The
//!   guest takes [`DEEP_RM_STEP`] components off after each refusal until
//!   a chain is taken, then writes and removes that chain every round:
//!   the domain is never stalled, and says how deep it got.
//! * `flood`: [`FLOOD_WATCHES`] watches on the home, then the guest stops
//!   reading its ring for good and says so (`flood: not reading`); dom0
//!   then writes many nodes under the home, each firing every watch. The
//!   stub must drop the events beyond the guest's quota (and expire the
//!   rest), not hold them.
//! * `good`: writes and reads back nodes under its home in a loop
//!   (pausing [`GOOD_PAUSE_MS`] after each pair), counting failures, until
//!   dom0 creates `data/stop` in its home; it prints `good: running` after
//!   its first pair, how far it got every [`GOOD_REPORT_MS`], and a line
//!   with its own round-trip figures at the end.
//!
//! Every wait is bounded by a deadline of a minute or more ([`REPLY_MS`],
//! [`STALL_MS`], [`GOOD_MAX_MS`]): only a hang fails a step, never a slow
//! machine. Only the attacks that end in flow control wait out
//! [`STALL_MS`] once, to tell a stub that stopped reading the guest.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ring::MsgType;

use super::client::{Client, ClientError, Link, Reply};
use super::steps::{Mode, Verdict};

/// How long any request of these modes may take: a hang detector, far
/// beyond a normal reply even on a loaded TCG host.
pub const REPLY_MS: u64 = 120_000;

/// Components of a deep-tx path: `t<n>-<i>/a/a/…` stays under
/// [`DEEP_TX_MAX_LEN`].
pub const DEEP_TX_COMPONENTS: usize = 1020;
/// The longest deep-tx path (`path-max` refuses 2048 and more).
pub const DEEP_TX_MAX_LEN: usize = 2044;
/// Transactions tried: beyond the default `transactions` quota (10), so
/// that the last start is refused.
pub const DEEP_TX_TRANSACTIONS: u32 = 12;
/// Deep reads tried per transaction at most: the domain's share of the
/// stub's heap (about 230 KiB) holds about a hundred.
pub const DEEP_TX_READS: u32 = 300;

/// Components of the `deep-rm` mode's chain (fewer if the `nodes` quota
/// says so).
pub const DEEP_RM_DEPTH: usize = 998;
/// Components of the `memory` mode's chain: charged about 100 KB (the
/// sum of its paths' lengths), well within a domain's share of the 4 MiB
/// stub (about 230 KiB), so the domain is served on.
pub const DEEP_RM_FIT_DEPTH: usize = 300;
/// The shallowest chain deep-rm tries after refusals.
pub const DEEP_RM_MIN_DEPTH: usize = 100;
/// Components taken off the chain after each refusal (`ENOMEM`,
/// `ENOSPC`).
pub const DEEP_RM_STEP: usize = 16;
/// Write + remove rounds of deep-rm.
pub const DEEP_RM_ROUNDS: u32 = 5;

/// Bytes of each value the fill attack writes.
pub const FILL_VALUE_BYTES: usize = 2000;
/// Values the fill attack tries at most: 4 MB, more than the stub's heap.
pub const FILL_MAX: u32 = 2000;
/// No reply for this long while the ring still holds the request's bytes
/// means the stub stopped reading the guest (flow control). A stub that
/// serves the domain reads its ring within milliseconds even under TCG;
/// a minute without doing so is not slowness.
pub const STALL_MS: u64 = 60_000;

/// Watches of the flood mode: one less than the `watches` quota (128).
pub const FLOOD_WATCHES: u32 = 127;

/// Nodes the good guest writes in turn (`data/good/<k>`).
pub const GOOD_KEYS: u32 = 16;
/// The good guest looks for `data/stop` after every this many pairs.
pub const GOOD_STOP_EVERY: u32 = 8;
/// The good guest gives up waiting for `data/stop` after this long (a
/// hang detector: dom0 gives the attackers 600 s at most).
pub const GOOD_MAX_MS: u64 = 1_200_000;
/// The good guest says how it is doing this often (a guest that stops
/// saying so is stuck, one that says slow pairs is not served well).
pub const GOOD_REPORT_MS: u64 = 30_000;
/// The good guest pauses this long after each pair, as a guest that has
/// other work does. (Flat out it made about 600 pairs a second on the TCG
/// rig, where a PVH guest busy with hypercalls has been seen to corrupt
/// dom0 processes, and twice to triple-fault itself on the return from a
/// hypercall: an emulation fault that pacing makes rarer, not one of the
/// stub's.)
pub const GOOD_PAUSE_MS: u64 = 10;

/// One step's report.
type Step<'a> = &'a mut dyn FnMut(&str, Verdict);

/// Runs the steps of a memory mode after `features` and `read-domid`.
pub fn run<L: Link>(
    c: &mut Client<L>,
    domid: u16,
    mode: Mode,
    step: Step<'_>,
    note: &mut dyn FnMut(&str),
) {
    match mode {
        Mode::Memory => {
            let mut txs = Vec::new();
            step("deep-tx", deep_tx(c, &mut txs, note));
            step("after-deep-tx", end_transactions(c, &txs));
            step("deep-rm", deep_rm(c, DEEP_RM_FIT_DEPTH, note));
            step("fill", fill(c, note));
        }
        Mode::DeepRm => step("deep-rm", deep_rm(c, DEEP_RM_DEPTH, note)),
        Mode::Flood => {
            step("flood-watches", flood_watches(c, domid));
            note("flood: not reading the ring from now on");
        }
        Mode::Good => step("good", good(c, note)),
        _ => {}
    }
}

/// How the stub answered a request that may be refused.
enum Answer {
    /// A reply that is not an error.
    Ok(Reply),
    /// `ENOMEM` or `ENOSPC`: over the budget or a quota.
    Refused(String),
    /// Another error reply (by name).
    Error(String),
}

/// Sends a request in transaction `tx` and sorts its answer; no reply
/// within [`REPLY_MS`] is an error.
fn ask<L: Link>(c: &mut Client<L>, tx: u32, ty: MsgType, payload: &[u8]) -> Result<Answer, String> {
    let r = c.request_in(tx, ty, payload, REPLY_MS).map_err(|e| format!("no reply: {e:?}"))?;
    Ok(sort(r))
}

/// Sorts a reply into [`Answer`].
fn sort(r: Reply) -> Answer {
    match r.error() {
        None => Answer::Ok(r),
        Some(e @ (b"ENOMEM" | b"ENOSPC")) => Answer::Refused(lossy(e)),
        Some(e) => Answer::Error(lossy(e)),
    }
}

/// A request that must succeed.
fn must<L: Link>(c: &mut Client<L>, tx: u32, ty: MsgType, payload: &[u8]) -> Result<Reply, String> {
    match ask(c, tx, ty, payload)? {
        Answer::Ok(r) => Ok(r),
        Answer::Refused(e) | Answer::Error(e) => Err(format!("{} answered {e}", ty.name())),
    }
}

/// `first/a/a/…/a` with `components` components, cut to `max_len` bytes
/// at a component boundary, NUL-terminated.
pub fn deep_path(first: &str, components: usize, max_len: usize) -> Vec<u8> {
    let full = first.len().saturating_add(components.saturating_mul(2));
    let mut p = Vec::with_capacity(full.min(max_len).saturating_add(1));
    p.extend_from_slice(first.as_bytes());
    for _ in 1..components {
        if p.len().saturating_add(2) > max_len {
            break;
        }
        p.extend_from_slice(b"/a");
    }
    p.push(0);
    p
}

/// deep-tx: READs of missing deep paths in as many transactions as the
/// stub allows, until it refuses them. Leaves the transactions it opened
/// in `txs`.
fn deep_tx<L: Link>(c: &mut Client<L>, txs: &mut Vec<u32>, note: &mut dyn FnMut(&str)) -> Verdict {
    let (mut missing, mut refused) = (0u32, Vec::<String>::new());
    let mut start_refused = None;
    for t in 0..DEEP_TX_TRANSACTIONS {
        let tx = match ask(c, 0, MsgType::TransactionStart, b"\0")? {
            Answer::Ok(r) => parse_u32(&r.payload)
                .ok_or_else(|| format!("transaction id {:?}", lossy(&r.payload)))?,
            Answer::Refused(e) => {
                start_refused = Some(e);
                break;
            }
            Answer::Error(e) => return Err(format!("TRANSACTION_START {t} answered {e}")),
        };
        txs.push(tx);
        for i in 0..DEEP_TX_READS {
            let path = deep_path(&format!("t{t}-{i}"), DEEP_TX_COMPONENTS, DEEP_TX_MAX_LEN);
            match ask(c, tx, MsgType::Read, &path)? {
                Answer::Error(e) if e == "ENOENT" => missing = missing.saturating_add(1),
                Answer::Refused(e) => {
                    refused.push(e);
                    break;
                }
                Answer::Error(e) => return Err(format!("deep read {i} in transaction {t}: {e}")),
                Answer::Ok(r) => {
                    return Err(format!("deep read {i} found a node: {:?}", lossy(&r.payload)))
                }
            }
        }
    }
    note(&format!(
        "deep-tx: {} transactions, {missing} deep reads answered ENOENT, {} refused ({}), \
         next start: {}",
        txs.len(),
        refused.len(),
        refused.first().map_or("-", String::as_str),
        start_refused.as_deref().unwrap_or("not refused")
    ));
    check(!refused.is_empty(), || format!("{missing} deep reads and never refused"))?;
    check(missing > 0, || String::from("the first deep read was refused"))
}

/// Ends (aborts) every transaction of deep-tx, then writes and reads back
/// a node: the domain is served normally again.
fn end_transactions<L: Link>(c: &mut Client<L>, txs: &[u32]) -> Verdict {
    for &tx in txs {
        must(c, tx, MsgType::TransactionEnd, b"F\0")?;
    }
    write_read(c, "data/after-tx", "ok")
}

/// Writes `value` at `path` and reads it back.
fn write_read<L: Link>(c: &mut Client<L>, path: &str, value: &str) -> Verdict {
    must(c, 0, MsgType::Write, format!("{path}\0{value}").as_bytes())?;
    let r = must(c, 0, MsgType::Read, format!("{path}\0").as_bytes())?;
    check(r.payload == value.as_bytes(), || format!("{path} reads {:?}", lossy(&r.payload)))
}

/// deep-rm: a chain at most `depth` nodes deep written and removed,
/// [`DEEP_RM_ROUNDS`] times. In the first round a refused chain
/// (`ENOMEM`, `ENOSPC`) is tried again [`DEEP_RM_STEP`] components
/// shorter; a stub that stops reading the domain fails the step.
fn deep_rm<L: Link>(c: &mut Client<L>, mut depth: usize, note: &mut dyn FnMut(&str)) -> Verdict {
    let first = depth;
    let mut refused: Vec<String> = Vec::new();
    let stalled =
        |round: u32, what: &str| Err(format!("round {round}: {what}: the ring is no longer read"));
    for round in 0..DEEP_RM_ROUNDS {
        loop {
            let mut w = deep_path("data/chain", depth, usize::MAX);
            w.extend_from_slice(b"x");
            match ask_or_stall(c, MsgType::Write, &w)? {
                Some(Answer::Ok(_)) => break,
                Some(Answer::Refused(e))
                    if (e == "ENOMEM" || e == "ENOSPC")
                        && round == 0
                        && depth > DEEP_RM_MIN_DEPTH =>
                {
                    if !refused.contains(&e) {
                        refused.push(e);
                    }
                    depth = depth.saturating_sub(DEEP_RM_STEP);
                }
                Some(Answer::Refused(e) | Answer::Error(e)) => {
                    return Err(format!("round {round}: writing the {depth}-deep chain: {e}"))
                }
                None => return stalled(round, "writing"),
            }
        }
        match ask_or_stall(c, MsgType::Read, &deep_path("data/chain", depth, usize::MAX))? {
            Some(Answer::Ok(r)) if r.payload == b"x" => {}
            Some(Answer::Ok(r)) => {
                return Err(format!("round {round}: the chain's end reads {:?}", lossy(&r.payload)))
            }
            Some(Answer::Refused(e) | Answer::Error(e)) => {
                return Err(format!("round {round}: reading the chain's end: {e}"))
            }
            None => return stalled(round, "reading its end"),
        }
        match ask_or_stall(c, MsgType::Rm, b"data/chain\0")? {
            Some(Answer::Ok(_)) => {}
            Some(Answer::Refused(e) | Answer::Error(e)) => {
                return Err(format!("round {round}: RM of the chain: {e}"))
            }
            None => return stalled(round, "removing it"),
        }
        match ask(c, 0, MsgType::Read, b"data/chain\0")? {
            Answer::Error(e) if e == "ENOENT" => {}
            Answer::Ok(_) => return Err(format!("round {round}: chain still there after RM")),
            Answer::Refused(e) | Answer::Error(e) => {
                return Err(format!("round {round}: reading the removed chain: {e}"))
            }
        }
    }
    if !refused.is_empty() {
        let errors = refused.join(", then ");
        note(&format!("deep-rm: the {first}-deep chain was refused ({errors}), down to {depth}"));
    }
    note(&format!("deep-rm: {DEEP_RM_ROUNDS} rounds of a {depth}-deep chain written and removed"));
    Ok(())
}

/// Sends a request with one outstanding at a time; `None` if the stub
/// stopped reading the ring (no reply for [`STALL_MS`] while the ring
/// still holds request bytes). A request the stub took but never
/// answered is an error.
fn ask_or_stall<L: Link>(
    c: &mut Client<L>,
    ty: MsgType,
    payload: &[u8],
) -> Result<Option<Answer>, String> {
    match c.request(ty, payload, STALL_MS) {
        Ok(r) => Ok(Some(sort(r))),
        Err(ClientError::Timeout) => {
            if c.page().requests_available().unwrap_or(0) == 0 {
                Err(format!(
                    "{}: the stub took the request but sent no reply in {STALL_MS} ms",
                    ty.name()
                ))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(format!("{}: {e:?}", ty.name())),
    }
}

/// How the fill attack ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FillEnd {
    /// A write was refused with this error.
    Refused(String),
    /// The stub stopped reading the ring (flow control).
    Stalled,
}

/// fill: [`FILL_VALUE_BYTES`]-byte values under `data/fill/` until the
/// stub refuses one or stops reading the ring.
fn fill<L: Link>(c: &mut Client<L>, note: &mut dyn FnMut(&str)) -> Verdict {
    let mut stored = 0u32;
    let mut end = None;
    let value = [b'v'; FILL_VALUE_BYTES];
    for i in 0..FILL_MAX {
        let mut w = format!("data/fill/{i}\0").into_bytes();
        w.extend_from_slice(&value);
        match ask_or_stall(c, MsgType::Write, &w).map_err(|e| format!("write {i}: {e}"))? {
            Some(Answer::Ok(_)) => stored = stored.saturating_add(1),
            Some(Answer::Refused(e)) => {
                end = Some(FillEnd::Refused(e));
                break;
            }
            Some(Answer::Error(e)) => return Err(format!("write {i} answered {e}")),
            None => {
                end = Some(FillEnd::Stalled);
                break;
            }
        }
    }
    let how = match &end {
        Some(FillEnd::Refused(e)) => format!("then refused ({e})"),
        Some(FillEnd::Stalled) => String::from("then the ring was no longer read (flow control)"),
        None => String::from("never stopped"),
    };
    note(&format!("fill: {stored} values of {FILL_VALUE_BYTES} bytes stored, {how}"));
    check(end.is_some(), || format!("{FILL_MAX} values of {FILL_VALUE_BYTES} bytes stored"))?;
    check(stored > 0, || String::from("not a single value stored"))
}

/// flood: [`FLOOD_WATCHES`] watches on the home.
fn flood_watches<L: Link>(c: &mut Client<L>, domid: u16) -> Verdict {
    for i in 0..FLOOD_WATCHES {
        must(c, 0, MsgType::Watch, format!("/local/domain/{domid}\0f{i}\0").as_bytes())
            .map_err(|e| format!("watch {i}: {e}"))?;
    }
    Ok(())
}

/// good: write/read pairs under the home until dom0 creates `data/stop`.
fn good<L: Link>(c: &mut Client<L>, note: &mut dyn FnMut(&str)) -> Verdict {
    let start = c.link().now_ms();
    let mut reported = start;
    let (mut pairs, mut failures, mut slowest, mut busy) = (0u32, 0u32, 0u64, 0u64);
    let mut first_failure = None;
    let mut stopped = false;
    let mut i = 0u32;
    while c.link().now_ms().saturating_sub(start) < GOOD_MAX_MS {
        let t = c.link().now_ms();
        let v = format!("{i}");
        match write_read(c, &format!("data/good/{}", i % GOOD_KEYS), &v) {
            Ok(()) => {
                pairs = pairs.saturating_add(1);
                if pairs == 1 {
                    note("good: running");
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                first_failure.get_or_insert(format!("pair {i}: {e}"));
            }
        }
        let took = c.link().now_ms().saturating_sub(t);
        slowest = slowest.max(took);
        busy = busy.saturating_add(took);
        if c.link().now_ms().saturating_sub(reported) >= GOOD_REPORT_MS {
            reported = c.link().now_ms();
            note(&format!("good: {pairs} pairs so far, slowest {slowest} ms, {failures} failed"));
        }
        c.sleep(GOOD_PAUSE_MS);
        i = i.wrapping_add(1);
        if i.is_multiple_of(GOOD_STOP_EVERY) {
            match ask(c, 0, MsgType::Read, b"data/stop\0") {
                Ok(Answer::Ok(_)) => {
                    stopped = true;
                    break;
                }
                Ok(Answer::Error(e)) if e == "ENOENT" => {}
                Ok(Answer::Refused(e) | Answer::Error(e)) => {
                    failures = failures.saturating_add(1);
                    first_failure.get_or_insert(format!("reading data/stop: {e}"));
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    first_failure.get_or_insert(format!("reading data/stop: {e}"));
                }
            }
        }
    }
    let ms = c.link().now_ms().saturating_sub(start);
    let mean = busy.saturating_mul(1000).checked_div(u64::from(pairs)).unwrap_or(0);
    note(&format!(
        "good: {pairs} write/read pairs in {ms} ms (a pair took {}.{:03} ms on average, \
         {GOOD_PAUSE_MS} ms pause after each), slowest {slowest} ms, {failures} failed",
        mean / 1000,
        mean % 1000
    ));
    if let Some(f) = first_failure {
        return Err(format!("{failures} failures, the first: {f}"));
    }
    check(stopped, || format!("data/stop never appeared in {GOOD_MAX_MS} ms"))?;
    check(pairs > 0, || String::from("no pair done"))
}

/// The decimal number at the start of `b` (a transaction id).
fn parse_u32(b: &[u8]) -> Option<u32> {
    let digits = b.strip_suffix(b"\0").unwrap_or(b);
    core::str::from_utf8(digits).ok()?.parse().ok()
}

fn check(cond: bool, why: impl FnOnce() -> String) -> Verdict {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

fn lossy(b: &[u8]) -> String {
    b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '.' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_paths_stay_under_path_max() {
        let p = deep_path("t11-299", DEEP_TX_COMPONENTS, DEEP_TX_MAX_LEN);
        assert!(p.len() <= DEEP_TX_MAX_LEN + 1, "{}", p.len());
        assert!(p.len() > DEEP_TX_MAX_LEN - 2);
        assert_eq!(p.last(), Some(&0));
        let p = deep_path("t0-0", DEEP_TX_COMPONENTS, DEEP_TX_MAX_LEN);
        assert_eq!(p.iter().filter(|&&b| b == b'/').count(), DEEP_TX_COMPONENTS - 1);
        let p = deep_path("t11-299", DEEP_TX_COMPONENTS, DEEP_TX_MAX_LEN);
        assert_eq!(p.iter().filter(|&&b| b == b'/').count(), DEEP_TX_COMPONENTS - 2);
        let chain = deep_path("data/chain", DEEP_RM_DEPTH, usize::MAX);
        assert_eq!(chain.iter().filter(|&&b| b == b'/').count(), DEEP_RM_DEPTH);
        assert!(chain.len() < ring::wire::XENSTORE_REL_PATH_MAX);
    }

    #[test]
    fn modes_from_the_command_line() {
        assert_eq!(Mode::from_cmdline("memory"), Mode::Memory);
        assert_eq!(Mode::from_cmdline("--log-level info deep-rm"), Mode::DeepRm);
        assert_eq!(Mode::from_cmdline("flood"), Mode::Flood);
        assert_eq!(Mode::from_cmdline("good"), Mode::Good);
        assert_eq!(Mode::from_cmdline("goodness"), Mode::BadIndex);
    }

    #[test]
    fn transaction_ids_parse() {
        assert_eq!(parse_u32(b"17\0"), Some(17));
        assert_eq!(parse_u32(b"x\0"), None);
    }
}
