//! `XS_CONTROL live-update`: the session an operator drives to replace
//! the running server by a new one that takes its state over (C 4.22
//! `lu.c`; the sub-commands are those `xenstore-control live-update`
//! sends).
//!
//! A session belongs to the connection that began it:
//!
//! 1. the new binary is named: `-f FILE` on a daemon, `-b SIZE` then
//!    `-d SIZE DATA`… on a stub domain. The engine does not know
//!    binaries: the platform answers these ([`Platform::live_update_arch`],
//!    C `lu_arch`) and, when it accepts one, the session begins;
//! 2. `-c CMDLINE` (optional) replaces the command line the new binary
//!    gets;
//! 3. `-s [-F] [-t SECS] [-v VERSION]` starts it. The request gets no
//!    reply now: the platform asks [`Engine::live_update_due`] on every
//!    round of its loop. While a transaction the stream cannot carry is
//!    open (`migrate/tx.rs`; those it can are carried and do not make it
//!    wait) the update waits, up to `SECS` (from the start; 0 by default)
//!    or, with `-F`, until every such transaction's connection has had
//!    one open that long (they are then carried doomed); past the time
//!    without `-F` the request is answered with the connections holding
//!    them and the session ends. Once due, the platform dumps the state (the
//!    engine adds the `OK` reply to the requester's pending output, as
//!    C's `lu_write_response`: the new server delivers it), and hands
//!    over; if that fails it reports why ([`Engine::live_update_failed`])
//!    and the requester gets the reason.
//!
//! `-a` ends any session (the started request is answered `Cancellation
//! was requested`), and a session ends with its connection. Replies are
//! C's strings: `OK`, or the reason.
//!
//! While a session is active (from `-f`/`-b` on, C `lu_is_pending`), a
//! `TRANSACTION_START` from a connection without an open transaction is
//! held rather than handled (C 4.17 to 4.22 `consider_message`, which
//! delays it with `delay_request`), so that new transactions cannot keep
//! the update waiting; everything else is handled as usual. An
//! unprivileged connection may hold one: at a second it stalls (C
//! `is_stalled`: not read until the session ends), which holds that one
//! too; a privileged one stalls once it holds 32 KiB, which keeps its
//! dumped input within the stream's 16-bit length. Held requests are answered once the session ends without an
//! update (refused, aborted, failed, its connection gone: the next
//! [`Engine::live_update_due`] handles them), or by the new server: the
//! dump writes them first in the connection's unprocessed input, as C's
//! `dump_state_buffered_data` does, and the new server handles them as
//! it restores.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ring::wire::{Header, MsgType, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};

use crate::budget::REQUEST_HEADROOM;
use crate::conn::OutMsg;
use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::ConnId;
use crate::request::{encode, Reply, Req};
use crate::stream::Version;

/// Arguments of `live-update` after the command that C looks at (its
/// `cmds[]` entry's `max_pars`, 7, counts the command too); more are
/// ignored.
const MAX_ARGS: usize = 6;

/// What the platform makes of a `live-update` sub-command the engine
/// does not handle (C `lu_arch`: `-f FILE` on a daemon, `-b`/`-d` on a
/// stub domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LuArch {
    /// Not a sub-command of this platform: `EINVAL`.
    Invalid,
    /// Refused, with C's reason (`File not accessible.`, ...).
    Refused(&'static str),
    /// The new binary, as the platform will name it to
    /// [`LiveUpdate::binary`]: the session begins.
    Binary(String),
    /// `-b SIZE` on a stub domain: a new kernel of `SIZE` bytes follows
    /// in `-d` chunks, which the engine keeps (bounded by the memory
    /// budget) until the platform takes it
    /// ([`Engine::take_live_update_image`]): the session begins.
    Image(usize),
    /// `-d SIZE DATA` on a stub domain: the next `SIZE` bytes of the
    /// kernel, which start at the command's third string and may hold
    /// NULs (C copies `SIZE` bytes from there).
    ImageData(usize),
}

/// C's `lu_arch` of a stub domain (Mini-OS): `-b SIZE` and `-d SIZE
/// DATA`, numbers as C's `atol`/`atoi` read them (a negative size is
/// refused here; C would allocate or copy a huge one and fail). For
/// platforms that take their new kernel through the protocol.
pub fn image_arch(args: &[&str]) -> LuArch {
    let size = |s: &str| usize::try_from(crate::cnum::atoi(s.as_bytes())).ok();
    match args {
        ["-b", n] => size(n).map_or(LuArch::Refused("Allocation failure."), LuArch::Image),
        ["-d", n, _, ..] => size(n).map_or(LuArch::Invalid, LuArch::ImageData),
        _ => LuArch::Invalid,
    }
}

/// A live update that is due: what the platform needs to hand over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveUpdate {
    /// The connection that asked (its `OK` is in the dump).
    pub conn: ConnId,
    /// The new binary ([`LuArch::Binary`]).
    pub binary: String,
    /// The command line given with `-c`, if any (C splits it at spaces
    /// and tabs and adds `-U`); else the new binary gets the current
    /// one.
    pub cmdline: Option<String>,
    /// The migration stream version to write (`-v`, default 2).
    pub version: Version,
}

/// An active session (C `struct live_update`).
pub(crate) struct Session {
    /// The connection that began it.
    conn: ConnId,
    /// The new binary.
    binary: String,
    /// `-c`'s command line.
    cmdline: Option<String>,
    /// A stub's new kernel as it arrives (`-b`, `-d`) and its announced
    /// size; `None` for a daemon's file.
    image: Option<(Vec<u8>, usize)>,
    /// Set by `-s`.
    start: Option<Start>,
}

/// Bytes of held requests past which a connection stalls, whatever its
/// privilege: a dump writes them in its `CONNECTION_DATA`, whose
/// `in-data-len` is 16 bits, with its partial message (at most a largest
/// one) and what the platform read ahead (the daemon: 8 KiB). C holds any
/// number for the privileged domain and would truncate the length.
const HELD_STALL_BYTES: usize = 32 * 1024;

/// The requests one connection holds while a session is active (C's
/// delayed `TRANSACTION_START`s).
#[derive(Default)]
pub(crate) struct Held {
    /// Header and payload of each, in arrival order.
    reqs: Vec<(Header, Vec<u8>)>,
    /// Their size on the wire.
    bytes: usize,
    /// Not read until the session ends (C `is_stalled`): an unprivileged
    /// connection sent a second request to hold, or any one held
    /// [`HELD_STALL_BYTES`].
    stalled: bool,
}

/// A started update's parameters and the request to answer.
#[derive(Clone, Copy, Debug)]
struct Start {
    /// The `-s` request's id and transaction id.
    req_id: u32,
    tx_id: u32,
    /// `-F`.
    force: bool,
    /// `-t`, in milliseconds.
    timeout_ms: u64,
    /// When `-s` arrived.
    started_ms: u64,
    /// `-v`.
    version: Version,
}

/// `XS_CONTROL live-update ARGS…` (C `do_control_lu`).
///
/// `raw` is the request's payload after the command's name: a `-d`
/// chunk's data is taken from it, since it may hold NULs.
pub fn do_control_lu(
    e: &mut Engine,
    req: &Req,
    args: &[&str],
    raw: &[u8],
    platform: &mut dyn Platform,
) -> Result<Reply, Error> {
    let args = args.get(..MAX_ARGS).unwrap_or(args);
    let (&first, rest) = args.split_first().ok_or(Error::Inval)?;
    let answer = match (first, rest) {
        ("-a", []) => e.lu_abort(),
        ("-c", [cmdline]) => e.lu_cmdline(req.conn, cmdline),
        ("-a" | "-c", _) => return Err(Error::Inval),
        ("-s", _) => {
            let start = parse_start(req, rest, e.now_ms)?;
            return Ok(match e.lu_start(req.conn, start) {
                Ok(()) => Reply::deferred(),
                Err(why) => Reply::string(why),
            });
        }
        _ => match platform.live_update_arch(args) {
            LuArch::Invalid => return Err(Error::Inval),
            LuArch::Refused(why) => Err(why),
            LuArch::Binary(binary) => e.lu_begin(req.conn, binary, None),
            LuArch::Image(size) => e.lu_begin_image(req.conn, size),
            LuArch::ImageData(size) => {
                let data = chunk_data(raw).ok_or(Error::Inval)?;
                e.lu_image_data(req.conn, data.get(..size).ok_or(Error::Inval)?)
            }
        },
    };
    Ok(Reply::string(answer.err().unwrap_or("OK")))
}

/// The bytes of a `-d SIZE DATA` request from its third string on.
fn chunk_data(raw: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    for _ in 0..2 {
        let nul = raw.get(at..)?.iter().position(|&c| c == 0)?;
        at = at.checked_add(nul)?.checked_add(1)?;
    }
    raw.get(at..)
}

/// `-s`'s options: `-F`, `-t SECS`, `-v VERSION` (numbers as C's `atoi`
/// read them into an unsigned int); anything else is `EINVAL`. The
/// version is checked later, after the session ([`Engine::lu_start`]).
fn parse_start(req: &Req, args: &[&str], now_ms: u64) -> Result<(Start, u32), Error> {
    let mut start = Start {
        req_id: req.req_id,
        tx_id: req.tx.unwrap_or(0),
        force: false,
        timeout_ms: 0,
        started_ms: now_ms,
        version: Version::V2,
    };
    let mut version = Version::V2 as u32;
    let mut it = args.iter();
    while let Some(&arg) = it.next() {
        // C: `-t`/`-v` take the next argument only if there is one.
        let number = |v: Option<&&str>| v.map(|v| crate::cnum::atoi(v.as_bytes()).cast_unsigned());
        match arg {
            "-F" => start.force = true,
            "-t" => {
                let secs = number(it.next()).ok_or(Error::Inval)?;
                start.timeout_ms = u64::from(secs).saturating_mul(1000);
            }
            "-v" => version = number(it.next()).ok_or(Error::Inval)?,
            _ => return Err(Error::Inval),
        }
    }
    Ok((start, version))
}

impl Engine {
    /// `-f`/`-b`: a session begins for `conn` (C `lu_begin`).
    fn lu_begin(
        &mut self,
        conn: ConnId,
        binary: String,
        image: Option<(Vec<u8>, usize)>,
    ) -> Result<(), &'static str> {
        if self.lu.is_some() {
            return Err("live-update session already active.");
        }
        log::info!("live-update: binary {binary}");
        self.lu = Some(Session { conn, binary, cmdline: None, image, start: None });
        Ok(())
    }

    /// `-b SIZE` (C `lu_binary_alloc`): the kernel's buffer, taken whole
    /// now and within the privileged domain's memory budget (with a
    /// request's headroom left), or `Allocation failure.`.
    fn lu_begin_image(&mut self, conn: ConnId, size: usize) -> Result<(), &'static str> {
        if self.lu.is_some() {
            return Err("live-update session already active.");
        }
        if !self.heap_allows(true, size.saturating_add(REQUEST_HEADROOM)) {
            log::warn!("live-update: no room for a kernel of {size} bytes");
            return Err("Allocation failure.");
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(size).map_err(|_| "Allocation failure.")?;
        self.lu_begin(conn, format!("kernel of {size} bytes"), Some((buf, size)))
    }

    /// `-d SIZE DATA` (C `lu_binary_save`): the next bytes of the kernel.
    fn lu_image_data(&mut self, conn: ConnId, data: &[u8]) -> Result<(), &'static str> {
        let s = self.lu.as_mut().filter(|s| s.conn == conn).ok_or("Not in live-update session.")?;
        let (buf, size) = s.image.as_mut().ok_or("Not in live-update session.")?;
        if buf.len().saturating_add(data.len()) > *size {
            return Err("Too much kernel data.");
        }
        // Within the capacity reserved by `-b`: no allocation.
        buf.extend_from_slice(data);
        Ok(())
    }

    /// The new kernel of a due live update (`-b`/`-d`), taken out of the
    /// session: the platform hands over to it. `None` for a daemon's
    /// session or once taken.
    pub fn take_live_update_image(&mut self) -> Option<Vec<u8>> {
        self.lu.as_mut()?.image.take().map(|(buf, _)| buf)
    }

    /// `-c CMDLINE` (C `lu_cmdline`).
    fn lu_cmdline(&mut self, conn: ConnId, cmdline: &str) -> Result<(), &'static str> {
        log::info!("live-update: cmdline {cmdline}");
        let s = self.lu.as_mut().filter(|s| s.conn == conn).ok_or("Not in live-update session.")?;
        s.cmdline = Some(String::from(cmdline));
        Ok(())
    }

    /// `-s` (C `lu_start`): the session's connection only, a version this
    /// engine writes.
    fn lu_start(
        &mut self,
        conn: ConnId,
        (mut start, version): (Start, u32),
    ) -> Result<(), &'static str> {
        log::info!(
            "live-update: start, force={}, to={}",
            u8::from(start.force),
            start.timeout_ms / 1000
        );
        let s = self.lu.as_mut().filter(|s| s.conn == conn).ok_or("Not in live-update session.")?;
        if s.image.as_ref().is_some_and(|(buf, size)| buf.len() != *size) {
            return Err("Kernel not complete.");
        }
        start.version =
            Version::from_u32(version).ok_or("Migration stream version not supported.")?;
        s.start = Some(start);
        Ok(())
    }

    /// `-a` (C `lu_abort`): a started request is answered now (C answers
    /// it when it next looks).
    fn lu_abort(&mut self) -> Result<(), &'static str> {
        log::info!("live-update: abort");
        let s = self.lu_end().ok_or("No live-update session active.")?;
        if let Some(start) = s.start {
            self.lu_reply(s.conn, start, "Cancellation was requested");
        }
        Ok(())
    }

    /// Queues `text` as the reply to the `-s` request.
    fn lu_reply(&mut self, conn: ConnId, start: Start, text: &str) {
        // A text no message can carry (the refusal's list of connections
        // with long transactions, on a host with hundreds of them) is
        // `E2BIG`, as C's `send_reply` answers it.
        let (ty, text) = if text.len() >= XENSTORE_PAYLOAD_MAX {
            (MsgType::Error, Error::TooBig.xs().as_str())
        } else {
            (MsgType::Control, text)
        };
        let mut payload = Vec::with_capacity(text.len().saturating_add(1));
        payload.extend_from_slice(text.as_bytes());
        payload.push(0);
        let bytes = encode(ty as u32, start.req_id, start.tx_id, &payload);
        self.queue_out(conn, OutMsg { bytes, event: false, expire_ms: None, req: None });
    }

    /// When `c` went from no open transaction to one, if it holds one the
    /// stream cannot carry (the update waits for those).
    fn lu_waits_for(&self, c: &crate::engine::Conn) -> Option<u64> {
        c.ta_start_ms.filter(|_| c.txs.iter().any(|t| !self.tx_carryable(t)))
    }

    /// Whether a started update may go on (C `lu_check_lu_allowed`): no
    /// connection has a transaction open that the stream cannot carry,
    /// or it is forced and every such connection's has been open for the
    /// timeout.
    fn lu_allowed(&self, start: &Start, now_ms: u64) -> bool {
        let mut open = self.conns.values().filter_map(|c| self.lu_waits_for(c)).peekable();
        if open.peek().is_none() {
            return true;
        }
        start.force && open.all(|t| now_ms.saturating_sub(t) >= start.timeout_ms)
    }

    /// Why a started update is refused (C `lu_reject_reason`).
    fn lu_reject_reason(&self, start: &Start, now_ms: u64) -> String {
        let mut why = String::new();
        for c in self.conns.values() {
            let Some(t) = self.lu_waits_for(c) else { continue };
            let age = now_ms.saturating_sub(t);
            if age >= start.timeout_ms {
                if why.is_empty() {
                    why.push_str("Domains with long running transactions:");
                }
                why.push_str(&format!("\nDomain {}: {} s", c.domid.0, age / 1000));
            }
        }
        if why.is_empty() {
            why.push_str("Overlapping transactions");
        }
        why
    }

    /// Whether the platform must call [`Engine::live_update_due`] on this
    /// round: a live-update session is active (C `lu_is_pending`), or one
    /// ended and left held requests to handle.
    pub fn live_update_pending(&self) -> bool {
        self.lu.is_some() || self.lu_release
    }

    /// Ends the session; held requests are handled by the next
    /// [`Engine::live_update_due`].
    fn lu_end(&mut self) -> Option<Session> {
        self.lu_release = !self.lu_held.is_empty();
        self.lu.take()
    }

    /// Whether `conn` is not read because of the session (C `is_stalled`).
    pub(crate) fn lu_stalled(&self, conn: ConnId) -> bool {
        !self.lu_held.is_empty() && self.lu_held.get(&conn).is_some_and(|h| h.stalled)
    }

    /// Holds request `hdr`/`payload` of `conn` if a session is active and
    /// it starts a connection's first transaction (C `consider_message`);
    /// false if it is to be handled now.
    pub(crate) fn lu_hold(&mut self, conn: ConnId, hdr: Header, payload: &[u8]) -> bool {
        if self.lu.is_none() || hdr.ty != MsgType::TransactionStart as u32 {
            return false;
        }
        let Some(c) = self.conns.get(&conn) else { return false };
        if !c.txs.is_empty() {
            return false;
        }
        let privileged = self.is_privileged(c.domid);
        let mut copy = Vec::new();
        if copy.try_reserve_exact(payload.len()).is_err() {
            return false;
        }
        copy.extend_from_slice(payload);
        log::debug!("live-update: holding transaction start {} of {conn:?}", hdr.req_id);
        let held = self.lu_held.entry(conn).or_default();
        held.stalled |= !privileged && !held.reqs.is_empty();
        held.bytes = held.bytes.saturating_add(HEADER_SIZE).saturating_add(copy.len());
        held.stalled |= held.bytes >= HELD_STALL_BYTES;
        held.reqs.push((hdr, copy));
        true
    }

    /// Handles the requests held by a session that ended, in arrival
    /// order per connection, and lets stalled connections be read again.
    fn lu_release_held(&mut self, platform: &mut dyn Platform) {
        self.lu_release = false;
        for (id, held) in core::mem::take(&mut self.lu_held) {
            for (hdr, payload) in held.reqs {
                self.process(id, hdr, &payload, platform);
            }
            self.mark_ready(id);
        }
    }

    /// The requests `conn` holds, as the bytes that carried them: the
    /// start of its unprocessed input in a dump.
    pub(crate) fn lu_held_input(&self, conn: ConnId, out: &mut Vec<u8>) {
        for (hdr, payload) in self.lu_held.get(&conn).map_or(&[][..], |h| &h.reqs[..]) {
            out.extend_from_slice(&hdr.to_bytes());
            out.extend_from_slice(payload);
        }
    }

    /// The platform's check, on every round of its loop, of a started
    /// live update (C `do_lu_start`): `Some` when it is due now, and the
    /// platform dumps the state ([`Engine::dump_bytes`], forced: open
    /// transactions the stream cannot carry are written doomed) and hands over, or calls
    /// [`Engine::live_update_failed`]. `None` while it waits for
    /// transactions (until [`Engine::next_deadline`] says), or when there
    /// is nothing to do; a refused update is answered here and its
    /// session ends. Requests held by a session that ended are handled
    /// here (hence `platform`).
    pub fn live_update_due(
        &mut self,
        now_ms: u64,
        platform: &mut dyn Platform,
    ) -> Option<LiveUpdate> {
        self.now_ms = now_ms;
        if self.lu.is_none() && self.lu_release {
            self.lu_release_held(platform);
        }
        let s = self.lu.as_ref()?;
        let start = s.start?;
        if !self.lu_allowed(&start, now_ms) {
            if now_ms < start.started_ms.saturating_add(start.timeout_ms) {
                return None;
            }
            if !start.force {
                let why = self.lu_reject_reason(&start, now_ms);
                let conn = s.conn;
                self.lu_end();
                self.lu_reply(conn, start, &why);
                self.lu_release_held(platform);
                return None;
            }
        }
        Some(LiveUpdate {
            conn: s.conn,
            binary: s.binary.clone(),
            cmdline: s.cmdline.clone(),
            version: start.version,
        })
    }

    /// The hand-over of a due live update failed: the requester gets
    /// `why` and the session ends (the server goes on as before).
    pub fn live_update_failed(&mut self, why: &str) {
        let Some(s) = self.lu_end() else { return };
        log::warn!("live-update failed: {why}");
        if let Some(start) = s.start {
            self.lu_reply(s.conn, start, why);
        }
    }

    /// When [`Engine::live_update_due`] next changes its answer by
    /// itself: the start plus the timeout, or (forced) when the last
    /// open transaction has been open that long; now (0) if a session
    /// ended and its held requests wait to be handled.
    pub(crate) fn lu_deadline(&self) -> Option<u64> {
        if self.lu_release && self.lu.is_none() {
            return Some(0);
        }
        let start = self.lu.as_ref()?.start?;
        let end = start.started_ms.saturating_add(start.timeout_ms);
        if !start.force {
            return Some(end);
        }
        let newest = self.conns.values().filter_map(|c| self.lu_waits_for(c)).max();
        Some(newest.map_or(end, |t| t.saturating_add(start.timeout_ms).min(end)))
    }

    /// The `OK` the requester of a due live update gets from the new
    /// server (C `lu_write_response`), if `conn` is that requester.
    pub(crate) fn lu_response(&self, conn: ConnId) -> Option<Vec<u8>> {
        let s = self.lu.as_ref().filter(|s| s.conn == conn)?;
        let start = s.start?;
        Some(encode(MsgType::Control as u32, start.req_id, start.tx_id, b"OK\0"))
    }

    /// `conn` goes away: its session with it (C frees the session with
    /// the connection).
    pub(crate) fn lu_conn_gone(&mut self, conn: ConnId) {
        if self.lu.as_ref().is_some_and(|s| s.conn == conn) {
            self.lu_end();
        }
    }
}
