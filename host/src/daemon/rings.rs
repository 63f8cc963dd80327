//! Serving the guests' shared rings (simring, or dom0's private page).
//!
//! Rings are scheduled by a [`ring::sched::Scheduler`], as the stub's are.
//! Each ring with work gets one turn of [`ring::serve`] per loop round:
//! a reconnection if the guest asked for one, at most
//! [`INPUT_BYTES_PER_TURN`](ring::serve::INPUT_BYTES_PER_TURN) request
//! bytes (fairness), then as much output as fits, and one notification;
//! dom0's ring goes to the front of the queue, a ring with more input to
//! the back, and the engine's timed work runs after the turns.
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
use ring::sched::Rings;
use ring::serve::{self, Turn};
use store::{log_limited, ConnId, Engine, EngineRing, RingLog, RingName};

use super::Daemon;
use crate::platform::HostPlatform;

impl Daemon {
    /// Queues for a turn every ring with work no event announced
    /// ([`serve::pending_work`]: requests or room for responses a guest
    /// did not notify about, a reconnection, bad indices). Done every
    /// [`SWEEP_INTERVAL_MS`](ring::sched::SWEEP_INTERVAL_MS), as the stub
    /// does (a lost notification never stalls a guest), not each time
    /// the loop wakes as C xenstored does: with a thousand rings that
    /// look cost about 100 us per request.
    pub(super) fn sweep_rings(&mut self, now: u64) {
        let mut conns = std::mem::take(&mut self.sweep_conns);
        self.platform.ring_conns(&mut conns);
        let Daemon { engine, platform, sched, sweep_log, .. } = self;
        sched.sweep(now, conns.iter().copied(), |conn| {
            let ring = EngineRing { engine, platform, conn, now_ms: now };
            let Some(work) = serve::pending_work(&ring) else { return false };
            let ring = ring_name(platform, conn);
            log_limited!(*sweep_log, now, Level::Debug, "{ring}: {work} without an event");
            true
        });
        self.sweep_conns = conns;
    }

    /// Queues the rings the platform mapped, forgets the ones it
    /// unmapped, and names the privileged domain's ring, which goes to the
    /// front of the queue (its requests wait for no guest's turn).
    pub(super) fn collect_rings(&mut self) {
        self.sched.set_first(self.engine.domain_conn(self.engine.config().priv_domid));
        let mut conns = std::mem::take(&mut self.sweep_conns);
        conns.clear();
        self.platform.take_fresh(&mut conns);
        for &conn in &conns {
            self.sched.enqueue(conn);
        }
        conns.clear();
        self.platform.take_unmapped(&mut conns);
        for &conn in &conns {
            self.sched.remove(conn);
        }
        conns.clear();
        self.sweep_conns = conns;
    }

    /// Gives every queued ring one turn, then runs the engine's timed
    /// work ([`ring::sched::Scheduler::round`]).
    pub(super) fn serve_rings(&mut self, now: u64) {
        self.collect_rings();
        let Daemon { engine, platform, sched, ring_log, .. } = self;
        sched.round(&mut Turns { engine, platform, ring_log, now });
    }

    /// Copies queued output into the response ring and notifies the guest.
    pub(super) fn flush_ring(&mut self, conn: ConnId) {
        let now = self.now_ms();
        let Daemon { engine, platform, ring_log, .. } = self;
        let turn = serve::flush(&mut EngineRing { engine, platform, conn, now_ms: now });
        finish_turn(platform, ring_log, conn, now, turn);
    }
}

/// What one round's ring turns and expiry need of the daemon.
struct Turns<'a> {
    engine: &'a mut Engine,
    platform: &'a mut HostPlatform,
    ring_log: &'a mut RingLog,
    now: u64,
}

impl Rings<ConnId> for Turns<'_> {
    /// One turn of [`ring::serve`]; true if more input waits.
    fn serve(&mut self, conn: ConnId) -> bool {
        let (engine, platform) = (&mut *self.engine, &mut *self.platform);
        let turn = serve::serve(&mut EngineRing { engine, platform, conn, now_ms: self.now });
        let more_input = turn.more_input;
        finish_turn(self.platform, self.ring_log, conn, self.now, turn);
        more_input
    }

    /// [`Engine::tick`] once its [deadline](Engine::next_deadline) has
    /// passed, as the kernel does.
    fn expire(&mut self) {
        if self.engine.next_deadline().is_some_and(|t| t <= self.now) {
            self.engine.tick(self.now);
        }
    }
}

/// Names the guest of `conn` in log lines.
fn ring_name(platform: &HostPlatform, conn: ConnId) -> RingName {
    RingName { domid: platform.ring(conn).map(|rc| rc.domid.0), conn }
}

/// Logs what a turn did and notifies the guest if it is owed a
/// notification.
fn finish_turn(
    platform: &HostPlatform,
    ring_log: &mut RingLog,
    conn: ConnId,
    now: u64,
    turn: Turn,
) {
    ring_log.turn(now, ring_name(platform, conn), &turn);
    if turn.notify {
        platform.notify(conn);
    }
}
