//! One server turn on a guest's shared ring: the routine every platform
//! (the Linux daemon's simring guests, the PVH stub's grant-mapped rings)
//! runs for a connection that had an event or became ready.
//!
//! Primer. The platform owns the page and the event channel, the engine
//! owns the connection's state; [`RingServer`] is the small view of both
//! that [`serve`] needs for one connection. A turn, in order:
//! 1. *Reconnection* (`docs/misc/xenstore-ring.txt`, feature
//!    `XENSTORE_SERVER_FEATURE_RECONNECTION`): when the guest has set
//!    `connection` to `XENSTORE_RECONNECT`, and the reconnection rate limit
//!    lets it through ([`RingServer::admit_reconnect`]), the engine drops
//!    the connection's partial input, queued output, watches and
//!    transactions ([`RingServer::reset`]), the server zeroes the four
//!    indices and the `error` field and only then writes
//!    `XENSTORE_CONNECTED` back, since the guest touches nothing else until
//!    it sees that. A request beyond the limit is deferred: the turn ends
//!    there, leaving the ring alone, and the engine asks for another turn
//!    when the limit allows.
//! 2. *Requests*: at most [`INPUT_BYTES_PER_TURN`] bytes, so that a busy
//!    guest cannot starve the others. Bytes are peeked, handed to the
//!    engine, and only the ones it took are consumed: under flow control
//!    (`outstanding` or memory quota) the rest simply stay in the ring.
//! 3. *Responses*: as many queued output bytes as fit in the ring.
//! 4. The guest is owed one notification if the turn reconnected, consumed
//!    or produced anything, or stopped the ring.
//!
//! Violations stop the ring until the guest reconnects it: inconsistent
//! indices ([`RingError::BadIndex`], `XENSTORE_ERROR_RINGIDX`) or a framing
//! violation reported by the engine ([`ProtoError`], e.g.
//! `XENSTORE_ERROR_PROTO`) set the page's `error` field and the engine
//! ignores the connection ([`RingServer::ignore`]), as `ignore_connection`
//! in C xenstored's `domain.c` does. From then on a turn looks at nothing
//! but the `connection` field ([`RingServer::failed`]): the spec allows a
//! reconnection after an error ("there is no guarantee this will
//! succeed"), and it is how a kdump or kexec kernel taking over from a
//! crashed one gets its xenstore back. The domain itself stays until it
//! dies either way (XSA-325).
//!
//! The routine never does I/O itself: it returns a [`Turn`] saying whether
//! to notify the guest and whether more input is waiting.
//!
//! Notification rules of the other side. Linux's xenbus (`xb_write`,
//! `xb_read` in `drivers/xen/xenbus/xenbus_comms.c`) notifies after writing
//! requests only if the server had consumed everything before them (`old
//! req_prod <= req_cons`), and after reading responses only if the ring had
//! been full. It counts on the server to look at the indices again after
//! moving its own. So after consuming requests or producing responses a
//! turn re-reads the other index behind a full fence (a store-to-load
//! ordering, which x86 does not give for free): either the guest sees our
//! new index and notifies, or we see its new bytes or space. The guest has
//! no such fence between its index store and its load, so a tiny window
//! remains on its side; platforms therefore also look at every ring now and
//! then ([`pending_work`]), as oxenstored's periodic ring scan does.

use core::fmt;
use core::sync::atomic::{fence, Ordering};

use crate::decode::ProtoError;
use crate::page::{RingError, RingPage, XENSTORE_RING_SIZE};
use crate::wire::{
    XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_RECONNECT,
    XENSTORE_SERVER_FEATURE_RECONNECTION,
};

/// The `server_features` bits a ring served by [`serve`] has beyond what
/// the engine implements: guest-initiated reconnection (step 1 above).
/// Added to every ring page's word by `store::Engine::page_features`.
pub const SERVE_FEATURES: u32 = XENSTORE_SERVER_FEATURE_RECONNECTION;

/// Request bytes taken from one ring per turn: one ring's worth, so a busy
/// guest cannot starve the others.
pub const INPUT_BYTES_PER_TURN: usize = XENSTORE_RING_SIZE;

/// The engine and platform as one ring connection sees them.
///
/// Implementations are thin adapters over `(engine, connection id,
/// platform)`. [`page`](RingServer::page) is asked again after every call
/// that can change the platform ([`input`](RingServer::input) may introduce
/// or release domains), so a ring unmapped meanwhile is simply left alone.
pub trait RingServer {
    /// The ring page while it is mapped; `None` once it is unmapped.
    fn page(&self) -> Option<&RingPage>;

    /// Whether the connection failed ([`ignore`](RingServer::ignore)) and
    /// only a reconnection revives it.
    fn failed(&self) -> bool;

    /// Whether the engine takes input now (false while flow-controlled or
    /// ignored).
    fn wants_input(&self) -> bool;

    /// Feeds request bytes; returns how many were taken (fewer under flow
    /// control). `Err` is a protocol violation.
    fn input(&mut self, bytes: &[u8]) -> Result<usize, ProtoError>;

    /// The next output bytes to send (empty when there are none).
    fn output(&self) -> &[u8];

    /// `n` bytes of [`output`](RingServer::output) were written to the ring.
    fn output_done(&mut self, n: usize);

    /// The guest asks for a reconnection: whether the rate limit lets it
    /// through now (counting it). `false` defers it; the implementation
    /// then arranges another turn for when it would be let through.
    fn admit_reconnect(&mut self) -> bool;

    /// Whether [`admit_reconnect`](RingServer::admit_reconnect) would let a
    /// reconnection through now (counting nothing).
    fn reconnect_ready(&self) -> bool;

    /// The guest reconnected its ring: drop partial input, queued output,
    /// watches and transactions, and serve the connection again if it had
    /// failed.
    fn reset(&mut self);

    /// The connection violated the protocol: ignore it until the guest
    /// reconnects its ring (a no-op if the engine already does).
    fn ignore(&mut self);
}

/// Why a ring stopped being served (until the guest reconnects it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The page's indices were inconsistent.
    Ring(RingError),
    /// The guest's byte stream violated the protocol.
    Proto(ProtoError),
}

impl Stop {
    /// The value written to the page's `error` field (`XENSTORE_ERROR_*`).
    pub fn code(self) -> u32 {
        match self {
            Stop::Ring(e) => e.code(),
            Stop::Proto(e) => e.code(),
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Ring(e) => e.fmt(f),
            Stop::Proto(e) => e.fmt(f),
        }
    }
}

/// What a turn did, for the platform to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// The guest's reconnection request was honoured.
    pub reconnected: bool,
    /// The guest's reconnection request waits for the rate limit; nothing
    /// else was done.
    pub deferred: bool,
    /// Notify the guest: the turn reconnected, consumed requests, produced
    /// responses or stopped the ring.
    pub notify: bool,
    /// The input budget ran out with requests still waiting: give the
    /// connection another turn after the others.
    pub more_input: bool,
    /// The ring was stopped in this turn, and why.
    pub stopped: Option<Stop>,
}

/// Runs one turn (reconnection, requests, responses) for `server`'s ring.
pub fn serve<S: RingServer + ?Sized>(server: &mut S) -> Turn {
    let mut turn = Turn::default();
    let Some(page) = server.page() else {
        return turn;
    };
    if page.connection() == XENSTORE_RECONNECT {
        if !server.admit_reconnect() {
            // The guest reads nothing but `connection` until we answer, so
            // there is nothing else to do meanwhile.
            turn.deferred = true;
            return turn;
        }
        reconnect(server);
        turn.reconnected = true;
        turn.notify = true;
    }
    if server.failed() {
        return turn;
    }
    if let Err(why) = read_requests(server, &mut turn) {
        return fail(server, turn, why);
    }
    if let Err(why) = write_responses(server, &mut turn) {
        return fail(server, turn, why);
    }
    turn
}

/// Writes queued output only (no reconnection check, no input): for
/// connections the engine reports ready outside their turn.
pub fn flush<S: RingServer + ?Sized>(server: &mut S) -> Turn {
    let mut turn = Turn::default();
    if server.failed() {
        return turn;
    }
    match write_responses(server, &mut turn) {
        Ok(()) => turn,
        Err(why) => fail(server, turn, why),
    }
}

/// Work a ring has for the server that no event may have announced: what
/// [`pending_work`] finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// The guest asks for a reconnection, and the rate limit lets it
    /// through.
    Reconnect,
    /// Request bytes wait and the engine takes input.
    Requests(usize),
    /// Queued output and room for it in the response ring.
    Responses(usize),
    /// The indices are inconsistent: a turn stops the ring.
    BadIndex,
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::Reconnect => f.write_str("a reconnection request"),
            Work::Requests(n) => write!(f, "{n} request bytes"),
            Work::Responses(n) => write!(f, "{n} response bytes to send"),
            Work::BadIndex => f.write_str("inconsistent ring indices"),
        }
    }
}

/// Looks at `server`'s ring without changing anything: `Some` when a turn
/// ([`serve`]) would do something now. Platforms call it for rings that
/// had no event for a while, to recover from a notification the guest
/// never sent (module docs) or the platform lost.
pub fn pending_work<S: RingServer + ?Sized>(server: &S) -> Option<Work> {
    let page = server.page()?;
    if page.connection() == XENSTORE_RECONNECT {
        // A deferred request gets its turn from the engine, not from here.
        return server.reconnect_ready().then_some(Work::Reconnect);
    }
    if server.failed() {
        return None;
    }
    if server.wants_input() {
        match page.requests_available() {
            Ok(0) => {}
            Ok(n) => return Some(Work::Requests(n)),
            Err(_) => return Some(Work::BadIndex),
        }
    }
    let queued = server.output().len();
    if queued > 0 {
        match page.responses_space() {
            Ok(0) => {}
            Ok(n) => return Some(Work::Responses(n.min(queued))),
            Err(_) => return Some(Work::BadIndex),
        }
    }
    None
}

/// The server's half of a ring reconnection: the engine forgets the
/// connection's state (and serves it again if it had failed), then the
/// indices restart at 0, the `error` field says `XENSTORE_ERROR_NONE`
/// ("connection is valid") and `connection` says `XENSTORE_CONNECTED` again
/// (in that order: the guest waits for the latter before touching the
/// ring).
fn reconnect<S: RingServer + ?Sized>(server: &mut S) {
    server.reset();
    if let Some(page) = server.page() {
        page.reset_indices();
        page.set_error(XENSTORE_ERROR_NONE);
        page.set_connection(XENSTORE_CONNECTED);
    }
}

/// Feeds up to [`INPUT_BYTES_PER_TURN`] request bytes to the engine and
/// consumes what it took.
fn read_requests<S: RingServer + ?Sized>(server: &mut S, turn: &mut Turn) -> Result<(), Stop> {
    let mut buf = [0u8; INPUT_BYTES_PER_TURN];
    let mut budget = INPUT_BYTES_PER_TURN;
    while budget > 0 && server.wants_input() {
        let Some(page) = server.page() else {
            return Ok(());
        };
        let n = match page.peek_requests(buf.get_mut(..budget).unwrap_or_default()) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => return Err(Stop::Ring(e)),
        };
        let used = server.input(buf.get(..n).unwrap_or_default()).map_err(Stop::Proto)?.min(n);
        if let Some(page) = server.page() {
            // `used <= n <= INPUT_BYTES_PER_TURN`, so it always fits.
            page.consume_requests(u32::try_from(used).unwrap_or(0));
        }
        // Our new `req_cons` must be visible before the next look at
        // `req_prod` (module docs: the guest's notification rule).
        fence(Ordering::SeqCst);
        turn.notify |= used > 0;
        budget = budget.saturating_sub(used);
        if used < n {
            // Flow control: the rest waits in the ring until the engine
            // reports the connection ready again.
            return Ok(());
        }
    }
    // An error reading the indices counts as waiting input: the next turn
    // reports it.
    turn.more_input = budget == 0
        && server.wants_input()
        && server.page().is_some_and(|page| page.requests_available() != Ok(0));
    Ok(())
}

/// Copies queued output into the response ring while both have bytes and
/// room.
fn write_responses<S: RingServer + ?Sized>(server: &mut S, turn: &mut Turn) -> Result<(), Stop> {
    loop {
        let Some(page) = server.page() else {
            return Ok(());
        };
        let out = server.output();
        if out.is_empty() {
            return Ok(());
        }
        match page.write_responses(out) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                server.output_done(n);
                turn.notify = true;
                // Our new `rsp_prod` must be visible before the next look
                // at `rsp_cons` (module docs).
                fence(Ordering::SeqCst);
            }
            Err(e) => return Err(Stop::Ring(e)),
        }
    }
}

/// Stops the ring until the guest reconnects it: the engine ignores the
/// connection, the page's `error` field says why and the guest is
/// notified.
fn fail<S: RingServer + ?Sized>(server: &mut S, mut turn: Turn, why: Stop) -> Turn {
    server.ignore();
    if let Some(page) = server.page() {
        page.set_error(why.code());
    }
    turn.notify = true;
    turn.more_input = false;
    turn.stopped = Some(why);
    turn
}

#[cfg(test)]
mod tests;
