//! Serving the guests' shared rings (simring, or dom0's private page).
//!
//! Each ring with work gets one turn of [`ring::serve`] per loop round:
//! a reconnection if the guest asked for one, at most
//! [`INPUT_BYTES_PER_TURN`](ring::serve::INPUT_BYTES_PER_TURN) request
//! bytes (fairness), then as much output as fits, and one notification.
//! Bad indices or a protocol violation set the page's `error` field and end
//! the ring's service until the guest reconnects it (the domain stays until
//! it dies, XSA-325); reconnections are rate-limited per domain, and the
//! engine reports a deferred one ready when it may be honoured
//! (`store::reconnect`). What turns do is logged through
//! [`RingLog`](store::RingLog), which bounds the lines a guest can cause.
//! [`EngineRing`] is the view of the engine and the platform that routine
//! needs for one connection; the platform's part is its
//! [`RingPlatform`](store::RingPlatform) implementation.

use log::Level;
use ring::serve::{self, Turn};
use store::{log_limited, ConnId, EngineRing, RingName};

use super::Daemon;
use crate::platform::HostPlatform;

/// Longest time a ring's unannounced work waits while nothing else wakes
/// the daemon, in milliseconds (the kernel's sweep interval).
pub(super) const RING_SWEEP_MS: u64 = 2_000;

impl Daemon {
    /// Queues for a turn every ring with work no event announced
    /// ([`serve::pending_work`]: requests or room for responses a guest
    /// did not notify about, a reconnection, bad indices). Done after
    /// every poll that returned events, as C xenstored looks at every
    /// connection each time its loop wakes, and at least every
    /// [`RING_SWEEP_MS`] (a lost notification never stalls a guest).
    pub(super) fn sweep_rings(&mut self, now: u64) {
        self.next_sweep_ms = now.saturating_add(RING_SWEEP_MS);
        let mut conns = std::mem::take(&mut self.sweep_conns);
        self.platform.ring_conns(&mut conns);
        for &conn in &conns {
            if self.platform.pending.contains(&conn) {
                continue;
            }
            if let Some(work) = serve::pending_work(&self.engine_ring(conn, now)) {
                let ring = self.ring_name(conn);
                log_limited!(self.sweep_log, now, Level::Debug, "{ring}: {work} without an event");
                self.platform.pending.insert(conn);
            }
        }
        self.sweep_conns = conns;
    }

    /// Serves every ring that had an event, became ready or has leftovers.
    pub(super) fn serve_rings(&mut self, now: u64) {
        if self.platform.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.platform.pending);
        for conn in pending {
            let turn = serve::serve(&mut self.engine_ring(conn, now));
            if turn.more_input {
                // Come back next round, after the others.
                self.platform.pending.insert(conn);
            }
            self.finish_turn(conn, now, turn);
        }
    }

    /// Copies queued output into the response ring and notifies the guest.
    pub(super) fn flush_ring(&mut self, conn: ConnId) {
        let now = self.now_ms();
        let turn = serve::flush(&mut self.engine_ring(conn, now));
        self.finish_turn(conn, now, turn);
    }

    /// Names the guest of `conn` in log lines.
    fn ring_name(&self, conn: ConnId) -> RingName {
        RingName { domid: self.platform.ring(conn).map(|rc| rc.domid.0), conn }
    }

    /// The engine and platform as the ring of `conn` sees them.
    fn engine_ring(&mut self, conn: ConnId, now_ms: u64) -> EngineRing<'_, HostPlatform> {
        EngineRing { engine: &mut self.engine, platform: &mut self.platform, conn, now_ms }
    }

    /// Logs what a turn did and notifies the guest if it is owed a
    /// notification.
    fn finish_turn(&mut self, conn: ConnId, now: u64, turn: Turn) {
        let ring = self.ring_name(conn);
        self.ring_log.turn(now, ring, &turn);
        if turn.notify {
            self.platform.notify(conn);
        }
    }
}
