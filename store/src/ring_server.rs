//! The engine and a ring-holding platform as one ring connection sees
//! them: the [`ring::serve::RingServer`] adapter every platform that serves
//! shared rings (the Linux daemon's simring guests, the PVH stub's
//! grant-mapped pages) hands to [`ring::serve::serve`], and [`RingLog`],
//! which logs what a turn did.
//!
//! The engine owns the connection's state (including whether it failed,
//! and the reconnection rate limit of `reconnect.rs`) and the platform
//! owns the page; [`EngineRing`] borrows both for one turn. All a platform
//! adds is [`RingPlatform`]: which page it has mapped for a connection.

use core::fmt;

use ring::decode::ProtoError;
use ring::serve::{RingServer, Turn};
use ring::RingPage;

use crate::engine::{Engine, Platform};
use crate::ids::ConnId;
use crate::log_limited;
use crate::ratelimit::LogGate;
use crate::reconnect::RECONNECT_RATE;

/// A platform that holds the shared ring pages of its connections.
pub trait RingPlatform: Platform {
    /// The ring page of `conn` while it is mapped; `None` for a connection
    /// without a ring. A page stays mapped after its connection failed
    /// (the guest may reconnect it) until the engine unmaps it when the
    /// domain goes.
    fn ring_page(&self, conn: ConnId) -> Option<&RingPage>;
}

/// One ring connection's view of the engine and its platform, for one turn
/// of [`ring::serve`].
pub struct EngineRing<'a, P: RingPlatform> {
    /// The engine serving the connection.
    pub engine: &'a mut Engine,
    /// The platform holding the ring page.
    pub platform: &'a mut P,
    /// The connection.
    pub conn: ConnId,
    /// The engine's clock for this turn, in milliseconds.
    pub now_ms: u64,
}

impl<P: RingPlatform> RingServer for EngineRing<'_, P> {
    fn page(&self) -> Option<&RingPage> {
        self.platform.ring_page(self.conn)
    }

    fn failed(&self) -> bool {
        self.engine.is_ignored(self.conn)
    }

    fn wants_input(&self) -> bool {
        self.engine.wants_input(self.conn)
    }

    fn input(&mut self, bytes: &[u8]) -> Result<usize, ProtoError> {
        self.engine.input(self.conn, bytes, self.now_ms, self.platform)
    }

    fn output(&self) -> &[u8] {
        self.engine.output(self.conn)
    }

    fn output_done(&mut self, n: usize) {
        self.engine.output_done(self.conn, n);
    }

    fn admit_reconnect(&mut self) -> bool {
        self.engine.admit_reconnect(self.conn, self.now_ms)
    }

    fn reconnect_ready(&self) -> bool {
        self.engine.reconnect_ready(self.conn, self.now_ms)
    }

    fn reset(&mut self) {
        self.engine.reset_connection(self.conn);
    }

    fn ignore(&mut self) {
        self.engine.ignore(self.conn);
    }
}

/// Whom a log line about a ring is about: its domain when the platform
/// knows it, else the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingName {
    /// The guest, if known.
    pub domid: Option<u16>,
    /// The connection.
    pub conn: ConnId,
}

impl fmt::Display for RingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.domid {
            Some(d) => write!(f, "domain {d}"),
            None => write!(f, "connection {}", self.conn.0),
        }
    }
}

/// The log lines about ring turns, which guests trigger at will: each kind
/// through its own [`LogGate`] at the guest rate
/// ([`GUEST_LOG_RATE`](crate::ratelimit::GUEST_LOG_RATE)). Platforms keep
/// one and report every turn to it.
#[derive(Clone, Debug, Default)]
pub struct RingLog {
    /// "reconnects its ring".
    reconnected: LogGate,
    /// "reconnection deferred".
    deferred: LogGate,
    /// "connection ignored".
    stopped: LogGate,
}

impl RingLog {
    /// Logs what `turn` did on `ring`'s ring at `now_ms`: a reconnection
    /// (info), a deferred one (debug), a failure (warning).
    pub fn turn(&mut self, now_ms: u64, ring: RingName, turn: &Turn) {
        use log::Level;
        if turn.reconnected {
            log_limited!(self.reconnected, now_ms, Level::Info, "{ring} reconnects its ring");
        }
        if turn.deferred {
            log_limited!(
                self.deferred,
                now_ms,
                Level::Debug,
                "{ring}: ring reconnection deferred (at most {} at once, then one per {} ms)",
                RECONNECT_RATE.burst,
                RECONNECT_RATE.refill_ms
            );
        }
        if let Some(why) = turn.stopped {
            log_limited!(
                self.stopped,
                now_ms,
                Level::Warn,
                "{ring}: {why}; connection ignored until the guest reconnects its ring"
            );
        }
    }
}
