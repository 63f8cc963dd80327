//! The rate limit on guest-initiated ring reconnection.
//!
//! A guest reconnects its ring by setting `connection = XENSTORE_RECONNECT`
//! (`docs/misc/xenstore-ring.txt`); [`ring::serve`] does the ring's part
//! and [`Engine::reset_connection`] drops the connection's state. That is
//! also how a ring that reported an error (`XENSTORE_ERROR_RINGIDX`,
//! `XENSTORE_ERROR_PROTO`) is revived: the spec leaves it open ("it might
//! be possible ... there is no guarantee"), and it is what a kdump or kexec
//! kernel taking over from a crashed one needs. (C xenstored 4.22 never
//! honours it: its `ignore_connection` says the restart is "not yet
//! implemented", and it only answers a pending `XENSTORE_RECONNECT` when
//! the toolstack introduces the domain.)
//!
//! A guest looping error → reconnect, or reconnect alone, would make us
//! drop and rebuild its connection state and log about it as fast as it
//! can flip a word. So each unprivileged domain holds a
//! [`TokenBucket`](crate::ratelimit::TokenBucket) in its record (which
//! lives until the domain dies, XSA-325, so dying is the only way to get a
//! fresh one): at most [`RECONNECT_RATE`] reconnections, 8 at once then 4
//! a second. A request beyond that is deferred, not refused: the ring
//! stays as the guest left it (`XENSTORE_RECONNECT`, nothing else served),
//! the connection is remembered with the time its next token comes, and
//! from then on [`Engine::next_deadline`] includes that time and
//! [`Engine::tick`] reports the connection through [`Engine::take_ready`],
//! so every platform gives it the turn that honours the request.

use alloc::collections::BTreeSet;

use crate::engine::Engine;
use crate::ids::ConnId;
use crate::ratelimit::Rate;

/// Reconnections per unprivileged domain: 8 back to back, then one every
/// 250 ms.
pub const RECONNECT_RATE: Rate = Rate { burst: 8, refill_ms: 250 };

/// Deferred reconnection requests.
#[derive(Debug, Default)]
pub struct Reconnects {
    /// `(when its domain next has a token, connection)`, earliest first;
    /// at most one entry per connection (its domain's bucket does not
    /// change while it waits, so a repeated deferral is the same entry).
    waiting: BTreeSet<(u64, ConnId)>,
    /// Reconnections honoured.
    honoured: u64,
    /// Requests deferred (counting a request once per turn it waited).
    deferred: u64,
}

impl Reconnects {
    /// Reconnections honoured since start.
    pub fn honoured(&self) -> u64 {
        self.honoured
    }

    /// Times a reconnection request was deferred since start.
    pub fn deferred(&self) -> u64 {
        self.deferred
    }
}

impl Engine {
    /// The guest of ring connection `conn` asks for a reconnection at
    /// `now_ms`: true if it may be honoured now (its domain's token is
    /// taken); false if it is deferred, in which case the engine reports
    /// `conn` ready again ([`Engine::take_ready`], after [`Engine::tick`])
    /// once its domain has a token. The privileged domain is not limited.
    pub fn admit_reconnect(&mut self, conn: ConnId, now_ms: u64) -> bool {
        let Some(domid) = self.conns.get(&conn).map(|c| c.domid) else {
            return false;
        };
        let privileged = self.is_privileged(domid);
        let admitted = match self.domain_mut(domid) {
            Some(d) if !privileged => {
                if d.reconnects.try_take(RECONNECT_RATE, now_ms) {
                    true
                } else {
                    let due = d.reconnects.next_token_ms(RECONNECT_RATE, now_ms);
                    self.reconnects.waiting.insert((due, conn));
                    false
                }
            }
            _ => true,
        };
        let r = &mut self.reconnects;
        if admitted {
            r.honoured = r.honoured.saturating_add(1);
        } else {
            r.deferred = r.deferred.saturating_add(1);
        }
        admitted
    }

    /// Whether [`Engine::admit_reconnect`] would honour a request of
    /// `conn` at `now_ms` (nothing is taken or deferred).
    pub fn reconnect_ready(&self, conn: ConnId, now_ms: u64) -> bool {
        let Some(domid) = self.conns.get(&conn).map(|c| c.domid) else {
            return false;
        };
        self.is_privileged(domid)
            || self.domain(domid).is_none_or(|d| d.reconnects.ready(RECONNECT_RATE, now_ms))
    }

    /// Counters of the reconnection limit.
    pub fn reconnects(&self) -> &Reconnects {
        &self.reconnects
    }

    /// On [`Engine::tick`]: reports the connections whose deferred
    /// reconnection may now be honoured. A connection gone meanwhile is
    /// simply dropped ([`Engine::mark_ready`] ignores it).
    pub(crate) fn reconnect_tick(&mut self, now_ms: u64) {
        while let Some(&(due, conn)) = self.reconnects.waiting.first() {
            if due > now_ms {
                break;
            }
            self.reconnects.waiting.remove(&(due, conn));
            self.mark_ready(conn);
        }
    }

    /// When a deferred reconnection may next be honoured.
    pub(crate) fn reconnect_deadline(&self) -> Option<u64> {
        self.reconnects.waiting.first().map(|&(due, _)| due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HypervisorModel, Semantics};
    use crate::{Config, DomId};
    use alloc::vec::Vec;

    fn model() -> HypervisorModel {
        let mut m = HypervisorModel::new(Semantics::Getdomaininfo418);
        m.create(DomId(0));
        m.create(DomId(5));
        m
    }

    fn engine_with_guest() -> (Engine, ConnId) {
        let mut m = model();
        let mut e = Engine::new(Config::default());
        let conn = e.introduce(DomId(5), 1, 7, &mut m).unwrap();
        (e, conn)
    }

    fn ready(e: &mut Engine) -> Vec<ConnId> {
        let mut v = Vec::new();
        e.take_ready(&mut v);
        v
    }

    #[test]
    fn a_burst_is_honoured_then_requests_wait_for_a_token() {
        let (mut e, conn) = engine_with_guest();
        ready(&mut e);
        for _ in 0..RECONNECT_RATE.burst {
            assert!(e.reconnect_ready(conn, 100));
            assert!(e.admit_reconnect(conn, 100));
        }
        assert!(!e.reconnect_ready(conn, 100));
        assert!(!e.admit_reconnect(conn, 100));
        // Asking again while deferred keeps one entry.
        assert!(!e.admit_reconnect(conn, 120));
        let due = 100 + RECONNECT_RATE.refill_ms;
        assert_eq!(e.next_deadline(), Some(due));
        e.tick(due - 1);
        assert!(ready(&mut e).is_empty());
        e.tick(due);
        assert_eq!(ready(&mut e), [conn], "the engine asks for the deferred turn");
        assert_eq!(e.next_deadline(), None);
        assert!(e.admit_reconnect(conn, due));
        assert!(!e.admit_reconnect(conn, due));
        assert_eq!(e.reconnects().honoured(), u64::from(RECONNECT_RATE.burst) + 1);
        assert_eq!(e.reconnects().deferred(), 3);
    }

    #[test]
    fn the_privileged_domain_is_not_limited() {
        let mut m = model();
        let mut e = Engine::new(Config::default());
        let conn = e.introduce(DomId(0), 1, 7, &mut m).unwrap();
        assert!((0..100).all(|_| e.admit_reconnect(conn, 0)));
        assert_eq!(e.next_deadline(), None);
    }

    #[test]
    fn unknown_connections_are_not_honoured() {
        let mut e = Engine::new(Config::default());
        assert!(!e.admit_reconnect(ConnId(99), 0));
        assert!(!e.reconnect_ready(ConnId(99), 0));
    }

    #[test]
    fn a_connection_gone_while_deferred_is_forgotten() {
        let (mut e, conn) = engine_with_guest();
        for _ in 0..=RECONNECT_RATE.burst {
            e.admit_reconnect(conn, 0);
        }
        e.release_domain(DomId(5), &mut model());
        ready(&mut e);
        e.tick(u64::MAX);
        assert!(ready(&mut e).is_empty());
        assert_eq!(e.next_deadline(), None);
    }
}
