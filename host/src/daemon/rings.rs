//! Serving the guests' shared rings (simring, or dom0's private page).
//!
//! Per round a ring gives at most [`RING_ROUND_BYTES`] of requests: peek
//! (nothing is consumed yet), feed the engine, consume what it took, so
//! bytes the engine refuses under flow control simply stay in the ring.
//! After consuming or producing we notify the guest. Bad indices mark the
//! ring with `XENSTORE_ERROR_RINGIDX` and the engine ignores the connection;
//! a protocol violation reported by the engine sets its code instead. Either
//! way the ring is never served again (the domain stays until it dies, as
//! XSA-325 requires). A guest that sets `connection = XENSTORE_RECONNECT`
//! gets its connection reset, the indices zeroed, `XENSTORE_CONNECTED`
//! written back and a notification.

use ring::wire::{XENSTORE_CONNECTED, XENSTORE_RECONNECT};
use ring::XENSTORE_RING_SIZE;
use store::ConnId;

use super::Daemon;

/// Request bytes taken from one ring per loop round: one ring's worth, so a
/// busy guest cannot starve the others.
pub const RING_ROUND_BYTES: usize = XENSTORE_RING_SIZE;

impl Daemon {
    /// Serves every ring that had an event, became ready or has leftovers.
    pub(super) fn serve_rings(&mut self, now: u64) {
        let pending = std::mem::take(&mut self.platform.pending);
        for conn in pending {
            self.serve_ring(conn, now);
        }
    }

    /// One round for the ring of `conn`.
    fn serve_ring(&mut self, conn: ConnId, now: u64) {
        let Some(rc) = self.platform.ring(conn) else {
            return;
        };
        if rc.ignored {
            return;
        }
        if rc.ring.page().connection() == XENSTORE_RECONNECT {
            self.reconnect(conn);
        }
        let mut buf = [0u8; RING_ROUND_BYTES];
        let mut budget = RING_ROUND_BYTES;
        let mut consumed = false;
        while budget > 0 && self.engine.wants_input(conn) {
            let Some(rc) = self.platform.ring(conn) else {
                return;
            };
            let Some(chunk) = buf.get_mut(..budget) else {
                break;
            };
            let n = match rc.ring.page().peek_requests(chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    log::warn!("domain {}: {e}; no longer served", rc.domid.0);
                    self.fail_ring(conn, e.code());
                    self.engine.ignore(conn);
                    return;
                }
            };
            let Some(request_bytes) = buf.get(..n) else {
                break;
            };
            match self.engine.input(conn, request_bytes, now, &mut self.platform) {
                Ok(used) => {
                    let used = used.min(n);
                    if let Some(rc) = self.platform.ring(conn) {
                        rc.ring.page().consume_requests(u32::try_from(used).unwrap_or(0));
                    }
                    consumed |= used > 0;
                    budget = budget.saturating_sub(used);
                    if used < n {
                        break;
                    }
                }
                Err(e) => {
                    log::warn!("{conn:?} violated the protocol ({e:?}); no longer served");
                    self.fail_ring(conn, e.code());
                    return;
                }
            }
        }
        if budget == 0 {
            // More may be waiting: come back next round, after the others.
            self.platform.pending.insert(conn);
        }
        if consumed {
            self.platform.notify(conn);
        }
        self.flush_ring(conn);
    }

    /// Copies queued output into the response ring and notifies the guest.
    pub(super) fn flush_ring(&mut self, conn: ConnId) {
        let mut wrote = false;
        loop {
            let Some(rc) = self.platform.ring(conn) else {
                return;
            };
            if rc.ignored {
                return;
            }
            let out = self.engine.output(conn);
            if out.is_empty() {
                break;
            }
            match rc.ring.page().write_responses(out) {
                Ok(0) => break,
                Ok(n) => {
                    self.engine.output_done(conn, n);
                    wrote = true;
                }
                Err(e) => {
                    log::warn!("domain {}: {e}; no longer served", rc.domid.0);
                    self.fail_ring(conn, e.code());
                    self.engine.ignore(conn);
                    return;
                }
            }
        }
        if wrote {
            self.platform.notify(conn);
        }
    }

    /// Writes `code` into the ring's `error` field and stops serving it.
    fn fail_ring(&mut self, conn: ConnId, code: u32) {
        if let Some(rc) = self.platform.ring_mut(conn) {
            rc.ring.page().set_error(code);
            rc.ignored = true;
        }
        self.platform.notify(conn);
    }

    /// The guest asked to reconnect: drop the connection's state and start
    /// the ring afresh.
    fn reconnect(&mut self, conn: ConnId) {
        self.engine.reset_connection(conn);
        if let Some(rc) = self.platform.ring(conn) {
            log::debug!("domain {} reconnects", rc.domid.0);
            let page = rc.ring.page();
            page.reset_indices();
            page.set_connection(XENSTORE_CONNECTED);
        }
        self.platform.notify(conn);
    }
}
