//! The main loop: event channels in, engine work, ring bytes out, sleep.
//!
//! The rings are scheduled by a [`ring::sched::Scheduler`], as the Linux
//! daemon's are. Each round:
//! 1. clear vCPU 0's `evtchn_upcall_pending`, then scan the pending ports
//!    (see [`crate::evtchn::scan`]; nothing is collected, nothing
//!    allocated): a ring port queues its connection,
//!    `VIRQ_DOM_EXC` makes the engine check domains, `VIRQ_TIMER` is only a
//!    wake-up (and tells the sleep that the single-shot timer fired);
//! 2. queue the rings the platform mapped and the engine reports ready
//!    (new output, flow control lifted), forget the ones it unmapped;
//! 3. give every queued connection one turn of [`ring::serve`]: first a
//!    ring reconnection if the guest asked for one (`connection ==
//!    XENSTORE_RECONNECT`, `docs/misc/xenstore-ring.txt`), then at most one
//!    ring's worth of request bytes in
//!    ([`INPUT_BYTES_PER_TURN`](ring::serve::INPUT_BYTES_PER_TURN)), as many
//!    response bytes out as fit, one notification. A connection with more
//!    input waiting goes to the back of the queue, so a busy guest cannot
//!    starve others; the privileged domain's ring, when an event or the
//!    engine queues it, goes to the front. Bad indices or a protocol
//!    violation set the page's `error` field and end the ring's service
//!    until the guest reconnects
//!    it (the domain record stays, XSA-325); reconnections are
//!    rate-limited per domain, a deferred one is reported ready by the
//!    engine when it may be honoured (`store::reconnect`);
//! 4. expire watch events when the engine's deadline passed (after the
//!    turns, so an event its guest just made room for is delivered);
//! 5. queue what the engine reports ready again; every
//!    [`SWEEP_INTERVAL_MS`](ring::sched::SWEEP_INTERVAL_MS), also queue
//!    every ring that has work nobody announced (a guest's lost
//!    notification; the sweep, see [`ring::sched`]). The sweep comes last
//!    so that what the expiry made ready (a deferred reconnection now
//!    admitted) is queued already and not taken for a lost notification;
//! 6. if nothing is queued and this round served a ring, poll for the next
//!    event for at most `--poll-us` ([`crate::poll`]: a client's next
//!    request then finds the stub awake and saves a wake-up); then, or
//!    at once when the round served nothing, sleep until an event or the engine's next
//!    deadline or the next ring sweep, whichever is earlier
//!    ([`arch::sleep`]: on x86 the single-shot timer and `sti; hlt`, on
//!    Arm `SCHEDOP_poll` on the bound ports with a timeout).
//!
//! A sweep's finding on a ring whose port is not pending was announced by
//! no event: that is counted and reported with a warning through a
//! [`LogGate`] at [`SWEEP_WARN_RATE`] (a guest can cause it at will by never
//! notifying).
//!
//! No wake-up is lost: on x86 any event after step 1 sets
//! `evtchn_upcall_pending` again (the selector word was cleared by the
//! scan), which keeps the callback vector asserted; interrupts are off
//! while we work, and the STI shadow of `sti; hlt` makes the pending vector
//! end the HLT at once. On Arm `SCHEDOP_poll` returns at once when a listed
//! port is pending (see `arch::aarch64::events`).

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use log::Level;
use ring::sched::{Rings, Scheduler};
use ring::serve;
use spin::{Mutex, MutexGuard};
use store::{log_limited, ConnId, Engine, EngineRing, LiveUpdate, RingLog, RingName};
use store::{LogGate, Rate};

pub use crate::arch::Clock;
#[cfg(not(target_arch = "aarch64"))]
use crate::handover::{self, Context};
use crate::panic::fatal;
use crate::platform::XenPlatform;
use crate::poll::{Poll, PollStats};
use crate::shared_info::Shared;
use crate::{arch, console, evtchn, logger};

/// Warnings about work a sweep found that no event announced: one a minute
/// (a race of the guest's, rare in a well-behaved one, so one line says
/// enough).
pub const SWEEP_WARN_RATE: Rate = Rate { burst: 1, refill_ms: 60_000 };

/// The ring scheduler. Its fixed-size queue (32 KiB) lives here rather than
/// on the 64 KiB boot stack; the one [`Server`] holds the lock for good.
static SCHEDULER: Mutex<Scheduler<ConnId>> = Mutex::new(Scheduler::new(0));

/// Ports with a fixed meaning.
pub struct Virqs {
    /// `VIRQ_DOM_EXC`, if bound.
    pub dom_exc: Option<u32>,
    /// `VIRQ_TIMER`, if bound.
    pub timer: Option<u32>,
}

/// The server: the engine and everything that drives it.
pub struct Server {
    engine: Engine,
    platform: XenPlatform,
    shared: Shared,
    clock: Clock,
    virqs: Virqs,
    /// The rings owed a turn and the sweep's schedule.
    sched: MutexGuard<'static, Scheduler<ConnId>>,
    /// Rings sweeps found with work no event announced, since boot.
    unannounced: u64,
    /// The warnings about them.
    sweep_warnings: LogGate,
    /// The log lines about ring turns.
    ring_log: RingLog,
    /// The log lines about expired watch events.
    expired_log: LogGate,
    /// How long to stay awake after a served round.
    poll: Poll,
    /// What polling found.
    poll_stats: PollStats,
    /// Ring turns served since boot.
    turns: u64,
    /// Scratch list reused every round, allocated once for every ring the
    /// platform can map (it grows, fallibly, only past that).
    ready: Vec<ConnId>,
    /// What a live update's hand-over needs.
    #[cfg(not(target_arch = "aarch64"))]
    ctx: Context,
}

impl Server {
    /// A server over an engine whose initial connections are mapped.
    pub fn new(
        engine: Engine,
        platform: XenPlatform,
        shared: Shared,
        clock: Clock,
        virqs: Virqs,
        poll: Poll,
        #[cfg(not(target_arch = "aarch64"))] ctx: Context,
    ) -> Server {
        let Some(mut sched) = SCHEDULER.try_lock() else {
            fatal(format_args!("a second server started"))
        };
        sched.restart_sweep(clock.now_ms());
        Server {
            engine,
            platform,
            shared,
            clock,
            virqs,
            sched,
            unannounced: 0,
            sweep_warnings: LogGate::new(SWEEP_WARN_RATE),
            ring_log: RingLog::default(),
            expired_log: LogGate::guest(),
            poll,
            poll_stats: PollStats::default(),
            turns: 0,
            ready: Vec::with_capacity(ring::sched::MAX_RINGS),
            #[cfg(not(target_arch = "aarch64"))]
            ctx,
        }
    }

    /// Runs forever.
    pub fn run(&mut self) -> ! {
        // The first round looks at every port: events that arrived before
        // the upcall vector was set are pending without a selector bit.
        self.shared.pending_sel().store(u64::MAX, Ordering::Release);
        loop {
            let turns = self.turns;
            self.round();
            if self.sched.is_empty() {
                // Console lines held back at start go out while idle, one
                // per round: a request arriving meanwhile waits for one
                // line at most.
                if console::release_line() {
                    continue;
                }
                if self.turns != turns && self.poll_for_event() {
                    continue;
                }
                self.sleep();
            }
        }
    }

    /// One round of the loop (steps 1–5 of the module docs).
    fn round(&mut self) {
        self.shared.upcall_pending().store(0, Ordering::Release);
        let now = self.clock.now_ms();
        logger::set_now_ms(now);
        self.sched.set_first(self.engine.domain_conn(self.engine.config().priv_domid));
        // The pending ports are acted on as the scan finds them: nothing
        // is collected, so a round allocates nothing for its events.
        let Server { shared, platform, sched, virqs, .. } = self;
        let (mut dom_exc, mut ports, mut timer_ports) = (false, 0usize, 0usize);
        evtchn::scan(shared.pending_sel(), shared.pending(), shared.mask(), |port| {
            ports = ports.saturating_add(1);
            if Some(port) == virqs.timer {
                timer_ports = timer_ports.saturating_add(1);
                arch::timer_fired();
            } else if Some(port) == virqs.dom_exc {
                dom_exc = true;
            } else if let Some(c) = platform.conn_of_port(port) {
                sched.enqueue(c);
            }
        });
        // Whether only the timer woke us: then an expiry below shows the
        // timer doing its job (the boot checks look for it).
        let timer_only = ports > 0 && timer_ports == ports;
        if dom_exc {
            log::debug!("VIRQ_DOM_EXC: checking domains");
            self.engine.check_domains(now, &mut self.platform);
        }
        self.collect_ready();
        let mut turns = Turns {
            engine: &mut self.engine,
            platform: &mut self.platform,
            ring_log: &mut self.ring_log,
            expired_log: &mut self.expired_log,
            now,
            timer_only,
            served: 0,
        };
        self.sched.round(&mut turns);
        self.turns = self.turns.saturating_add(turns.served);
        self.collect_ready();
        if self.sched.sweep_due(now) {
            self.sweep_rings(now);
        }
        if self.engine.live_update_pending() {
            self.live_update(now);
        }
    }

    /// Hands over to a live update's new kernel once the engine says it
    /// is due ([`crate::handover`]); if that fails, the requester gets
    /// the reason and this kernel goes on.
    fn live_update(&mut self, now: u64) {
        if let Some(lu) = self.engine.live_update_due(now, &mut self.platform) {
            let why = self.hand_over(&lu);
            self.engine.live_update_failed(why);
        }
        // A refusal, the failure's reason or held requests' replies go out.
        self.collect_ready();
    }

    /// Starts `lu`'s new kernel; returns only if that failed, with the
    /// reason.
    #[cfg(not(target_arch = "aarch64"))]
    fn hand_over(&mut self, lu: &LiveUpdate) -> &'static str {
        handover::hand_over(&mut self.engine, &self.platform, &self.virqs, &self.ctx, lu)
    }

    /// Arm has no hand-over yet (its platform starts no session).
    #[cfg(target_arch = "aarch64")]
    fn hand_over(&mut self, _: &LiveUpdate) -> &'static str {
        "Live update is not supported on this architecture."
    }

    /// Queues the connections the platform mapped and the engine made
    /// ready, and forgets the ones the platform unmapped (each list is
    /// moved with a fallible reserve: one that cannot be moved stays for
    /// the next round). The privileged
    /// domain's ring (the toolstack) goes to the front: however many
    /// guests are busy, its requests wait for no guest's turn.
    fn collect_ready(&mut self) {
        self.sched.set_first(self.engine.domain_conn(self.engine.config().priv_domid));
        self.platform.take_fresh(&mut self.ready);
        self.engine.take_ready(&mut self.ready);
        for &c in &self.ready {
            self.sched.enqueue(c);
        }
        self.ready.clear();
        self.platform.take_unmapped(&mut self.ready);
        for &c in &self.ready {
            self.sched.remove(c);
        }
        self.ready.clear();
    }

    /// Queues every mapped ring not already queued that has work
    /// ([`serve::pending_work`]); work on a ring whose port is not pending
    /// was announced by no event, which is counted and reported
    /// (rate-limited).
    fn sweep_rings(&mut self, now: u64) {
        let mut conns = core::mem::take(&mut self.ready);
        conns.clear();
        if !self.platform.ring_conns(&mut conns) {
            // No memory for the list (it is allocated at start for every
            // ring the platform may map, so this is not expected): skip
            // this sweep, the next is an interval later.
            self.sched.restart_sweep(now);
            self.ready = conns;
            log_limited!(
                self.sweep_warnings,
                now,
                Level::Warn,
                "ring sweep skipped: out of memory"
            );
            return;
        }
        let Server { engine, platform, shared, sched, unannounced, sweep_warnings, .. } = self;
        sched.sweep(now, conns.iter().copied(), |conn| {
            let work = serve::pending_work(&EngineRing { engine, platform, conn, now_ms: now });
            let Some(work) = work else { return false };
            let Some((domid, port)) = platform.ring(conn).map(|rc| (rc.domid, rc.port)) else {
                return false;
            };
            if evtchn::is_pending(shared.pending(), port) {
                // An event is on its way: the next round would have seen it.
                return true;
            }
            *unannounced = unannounced.saturating_add(1);
            log_limited!(
                *sweep_warnings,
                now,
                Level::Warn,
                "ring sweep: domain {} had {} that no event announced ({} such rings since boot)",
                domid,
                work,
                *unannounced
            );
            true
        });
        conns.clear();
        self.ready = conns;
    }

    /// Polls for an event for at most the policy's window; true if one
    /// came.
    fn poll_for_event(&mut self) -> bool {
        let Server { poll, poll_stats, clock, shared, .. } = self;
        poll.wait(
            poll_stats,
            || clock.now_ns(),
            || shared.upcall_pending().load(Ordering::Acquire) != 0,
        )
    }

    /// Polling's counts since boot.
    pub fn poll_stats(&self) -> PollStats {
        self.poll_stats
    }

    /// Sleeps until an event, the engine's next deadline or the next ring
    /// sweep, whichever is earliest.
    fn sleep(&mut self) {
        let wake_ms = self.sched.deadline(self.engine.next_deadline());
        let virqs = self.virqs.dom_exc.into_iter().chain(self.virqs.timer);
        arch::sleep(&self.clock, wake_ms, virqs.chain(self.platform.ports()));
    }
}

/// What one round's turns and expiry need of the server.
struct Turns<'a> {
    engine: &'a mut Engine,
    platform: &'a mut XenPlatform,
    ring_log: &'a mut RingLog,
    expired_log: &'a mut LogGate,
    now: u64,
    /// Only the timer woke us this round.
    timer_only: bool,
    /// Ring turns served this round.
    served: u64,
}

impl Rings<ConnId> for Turns<'_> {
    /// One turn of `conn` ([`ring::serve`]); true if it has more input
    /// waiting.
    fn serve(&mut self, conn: ConnId) -> bool {
        let turn = serve::serve(&mut EngineRing {
            engine: self.engine,
            platform: self.platform,
            conn,
            now_ms: self.now,
        });
        self.served = self.served.saturating_add(1);
        let domid = self.platform.ring(conn).map(|rc| rc.domid);
        self.ring_log.turn(self.now, RingName { domid, conn }, &turn);
        if turn.notify {
            self.platform.notify(conn);
        }
        turn.more_input
    }

    /// Expires watch events once the engine's deadline has passed.
    fn expire(&mut self) {
        let now = self.now;
        if self.engine.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        let before = self.engine.stats().events_dropped;
        self.engine.tick(now);
        let dropped = self.engine.stats().events_dropped.saturating_sub(before);
        if dropped > 0 {
            // Debug level and rate-limited: guests can make this happen at
            // will.
            log_limited!(
                *self.expired_log,
                now,
                Level::Debug,
                "{} unread watch events expired{}",
                dropped,
                if self.timer_only { " (timer wake-up)" } else { "" }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_warnings_are_rate_limited_and_count_what_they_skipped() {
        let mut gate = LogGate::new(SWEEP_WARN_RATE);
        assert_eq!(gate.admit(10), Some(0), "the first finding is reported");
        assert_eq!(gate.admit(20), None);
        assert_eq!(gate.admit(10 + SWEEP_WARN_RATE.refill_ms - 1), None);
        assert_eq!(gate.admit(10 + SWEEP_WARN_RATE.refill_ms), Some(2), "after two kept quiet");
    }
}
