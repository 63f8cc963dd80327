//! Watches: registration, matching and event delivery.
//!
//! Rules (C `watch.c`, `docs/misc/xenstore.txt`):
//! * `XS_WATCH path\0token\0[depth\0]` fires once straight away; a
//!   relative path is reported relative; `depth` limits how far below the
//!   path changes are reported (advertised by `WATCHDEPTH`).
//! * A change to a node fires watches on it and on its ancestors
//!   (`Match::Subtree`); removing a subtree fires, in addition, watches on
//!   each removed node below the root (`Match::Exact`).
//! * Special paths: `@introduceDomain`, `@releaseDomain` fire on domain
//!   events; `@releaseDomain/<domid>` (or a depth-1 watch on the special
//!   node) fires for one domain.
//! * Only watchers that may read the node (or its parent, or the node's
//!   old permissions) get the event (XSA-115).
//! * Identical pending events are not queued twice (except `@…`), found in
//!   O(1) with the output queue's event index (`conn::OutQueue`); events
//!   longer than `XENSTORE_PAYLOAD_MAX` are dropped (XSA-324); unread
//!   events of unprivileged watchers expire. An unprivileged watcher's
//!   queued events are charged to its domain in real bytes
//!   (`OutMsg::charge`) and refused at its memory quota before any other
//!   work, so a guest that never reads its ring costs a writer O(1) per
//!   event and holds no more than its quota.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use ring::wire::{MsgType, HEADER_SIZE, XENSTORE_PAYLOAD_MAX, XENSTORE_SERVER_FEATURE_WATCHDEPTH};

use crate::cnum::atoi;
use crate::conn::OutMsg;
use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::ConnId;
use crate::path;
use crate::perms::{perm_for, Perm, Who, PERM_READ};
use crate::quota::Quota;
use crate::quota::{as_u64, delta};
use crate::request::frame;
use crate::request::{args, count_strings, exact_args, strings, Reply, Req};

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Canonical (absolute or `@…`) path.
    pub path: String,
    /// Client token (any bytes but NUL, as C).
    pub token: Box<[u8]>,
    /// Bytes stripped from event paths (relative watches).
    pub prefix_len: usize,
    /// Depth limit (`None` = unlimited).
    pub depth: Option<u32>,
}

impl Watch {
    /// Memory C charges for a watch.
    pub fn size(&self) -> usize {
        self.path.len().saturating_add(self.token.len())
    }
}

/// How a change matches watches (C `enum watch_match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Only watches on exactly this path.
    Exact,
    /// Watches on this path and its ancestors (within their depth).
    Subtree,
    /// Special per-domain event: exact, or depth > 0 watches above.
    Depth,
    /// Special generic event: exact watches without depth.
    NoDepth,
}

impl Match {
    fn matches(self, name: &str, w: &Watch) -> bool {
        match self {
            Match::Exact => name == w.path,
            Match::Subtree => path::is_child(name, &w.path, w.depth),
            Match::Depth => {
                name == w.path
                    || (w.depth.is_some_and(|d| d > 0) && path::is_child(name, &w.path, w.depth))
            }
            Match::NoDepth => name == w.path && w.depth.is_none(),
        }
    }
}

impl Engine {
    /// Whether the watcher `who` may learn about a change of `name`.
    fn watch_permitted(
        &self,
        who: &Who,
        name: &str,
        perms: Option<&[Perm]>,
        old: Option<&[Perm]>,
    ) -> bool {
        if old.is_some_and(|p| perm_for(who, p) & PERM_READ != 0) {
            return true;
        }
        let node_perms = match perms {
            Some(p) => p,
            None => match self.tree.get(name) {
                Some(n) => n.perms,
                None => return false,
            },
        };
        if perm_for(who, node_perms) & PERM_READ != 0 {
            return true;
        }
        match self.tree.get(path::parent(name)) {
            Some(p) => perm_for(who, p.perms) & PERM_READ != 0,
            None => false,
        }
    }

    /// Fires the watches matching a change of `name` whose permissions are
    /// `perms` (`None`: read them from the tree), on behalf of request
    /// `req` (for the `outstanding` accounting).
    pub(crate) fn fire_watches(
        &mut self,
        req: Option<u64>,
        name: &str,
        perms: Option<&[Perm]>,
        m: Match,
        old: Option<&[Perm]>,
    ) {
        let mut events: Vec<(ConnId, &str, Box<[u8]>)> = Vec::new();
        for (&id, c) in &self.conns {
            // The cheap test first: most connections watch other paths.
            if c.ignored || !c.watches.iter().any(|w| m.matches(name, w)) {
                continue;
            }
            let who = self.who(c.domid, c.target);
            if !self.watch_permitted(&who, name, perms, old) {
                continue;
            }
            for w in &c.watches {
                if m.matches(name, w) {
                    let shown = name.get(w.prefix_len..).unwrap_or(name);
                    events.push((id, shown, w.token.clone()));
                }
            }
        }
        for (id, p, t) in events {
            self.send_event(req, id, p.as_bytes(), &t);
        }
    }

    /// Queues one watch event on `conn`. An event the watcher's memory
    /// quota cannot hold is refused first, at the cost of one comparison;
    /// then an identical unsent event already queued (not for `@…`) makes
    /// it redundant, found with one hash look-up. Only then is it built.
    pub(crate) fn send_event(&mut self, req: Option<u64>, conn: ConnId, p: &[u8], token: &[u8]) {
        let len = p.len().saturating_add(token.len()).saturating_add(2);
        if len > XENSTORE_PAYLOAD_MAX {
            self.stats.events_dropped = self.stats.events_dropped.saturating_add(1);
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.ignored {
            return;
        }
        let domid = c.domid;
        let dedup = p.first() != Some(&b'@');
        let unpriv = !self.is_privileged(domid);
        let charge = OutMsg::charge_for(HEADER_SIZE.saturating_add(len), dedup)
            .saturating_add(c.out.event_growth(dedup));
        // Over the watcher's quota or the budget (`budget.rs`) the event is
        // dropped before it is built.
        if (unpriv && self.domain_exceeds_with(domid, Quota::Memory, as_u64(charge)))
            || !self.heap_allows(!unpriv, charge)
        {
            self.stats.events_dropped = self.stats.events_dropped.saturating_add(1);
            return;
        }
        let seed = self.cfg.hash_seed;
        if dedup && self.conns.get_mut(&conn).is_some_and(|c| c.out.has_event(seed, p, token)) {
            return;
        }
        let mut buf = Reply::buffer(len);
        buf.extend_from_slice(p);
        buf.push(0);
        buf.extend_from_slice(token);
        buf.push(0);
        let bytes = frame(MsgType::WatchEvent as u32, 0, 0, buf);
        let timeout = self.cfg.watch_event_timeout_ms;
        let expire_ms = (unpriv && timeout != 0).then(|| self.now_ms.saturating_add(timeout));
        if let Some(r) = req {
            if let Some(pend) = self.pending.get_mut(&r) {
                pend.events = pend.events.saturating_add(1);
            }
        }
        self.queue_out(conn, OutMsg { bytes, event: true, expire_ms, req });
    }

    /// Queued events that watch-event de-duplication compared byte for
    /// byte with a new event, over the live connections: a work counter
    /// (at most one comparison per event fired, barring a 64-bit hash
    /// collision), for tests and diagnostics.
    pub fn event_comparisons(&self) -> u64 {
        self.conns.values().map(|c| c.out.compared()).sum()
    }

    /// Removes every watch of `conn`, releasing its accounting.
    pub(crate) fn delete_all_watches(&mut self, conn: ConnId) {
        let (domid, freed, n) = match self.conns.get_mut(&conn) {
            Some(c) => {
                let freed: usize = c.watches.iter().map(Watch::size).sum();
                let n = c.watches.len();
                c.watches.clear();
                (c.domid, freed, n)
            }
            None => return,
        };
        if let Some(d) = self.domain_mut(domid) {
            d.usage.add(Quota::Memory, delta(freed, 0));
            d.usage.add(Quota::Watches, delta(n, 0));
        }
    }
}

/// `XS_WATCH path\0token\0[depth\0]` (C 4.22 `do_watch`): the depth is
/// accepted only with `WATCHDEPTH`; the token may hold any bytes.
pub fn do_watch(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let n = count_strings(payload);
    let features = e.domain_features(req.who.domid);
    let depth = if n == 3 && features & XENSTORE_SERVER_FEATURE_WATCHDEPTH != 0 {
        let d = strings(payload).nth(2).map(atoi).unwrap_or(0);
        Some(u32::try_from(d).map_err(|_| Error::Inval)?)
    } else if n != 2 {
        return Err(Error::Inval);
    } else {
        None
    };
    let [raw, token] = args(payload)?;
    let c = e.canon(req, raw, true)?;
    let conn = e.conns.get(&req.conn).ok_or(Error::NoEnt)?;
    if conn.watches.iter().any(|w| w.path == *c.path && *w.token == *token) {
        return Err(Error::Exist);
    }
    let prefix_len =
        if c.relative { path::domain_path(req.who.domid).len().saturating_add(1) } else { 0 };
    let w = Watch { path: String::from(&*c.path), token: Box::from(token), prefix_len, depth };
    e.check_quota(&req.who, Error::Quota, |d| d.exceeds_with(Quota::Watches, 1))?;
    let size = as_u64(w.size());
    e.check_quota(&req.who, Error::NoMem, |d| d.exceeds_with(Quota::Memory, size))?;
    let shown = Vec::from(w.path.get(prefix_len..).unwrap_or(&w.path).as_bytes());
    let token = Vec::from(&*w.token);
    let d = e.domain_or_create(req.who.domid);
    d.usage.add(Quota::Watches, 1);
    d.usage.add(Quota::Memory, delta(0, w.size()));
    if let Some(c) = e.conns.get_mut(&req.conn) {
        c.watches.push(w);
    }
    let mut reply = Reply::ok();
    reply.then_event = Some((shown, token));
    Ok(reply)
}

/// `XS_UNWATCH path\0token\0`.
pub fn do_unwatch(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let [raw, token] = exact_args(payload)?;
    let c = e.canon(req, raw, true)?;
    let conn = e.conns.get_mut(&req.conn).ok_or(Error::NoEnt)?;
    let i = conn
        .watches
        .iter()
        .position(|w| w.path == *c.path && *w.token == *token)
        .ok_or(Error::NoEnt)?;
    let w = conn.watches.remove(i);
    if let Some(d) = e.domain_mut(req.who.domid) {
        d.usage.add(Quota::Watches, -1);
        d.usage.add(Quota::Memory, delta(w.size(), 0));
    }
    Ok(Reply::ok())
}

/// `XS_RESET_WATCHES`: drops the caller's watches and transactions.
pub fn do_reset_watches(
    e: &mut Engine,
    req: &Req,
    _: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    e.delete_all_watches(req.conn);
    e.delete_all_transactions(req.conn);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &str, depth: Option<u32>) -> Watch {
        Watch { path: String::from(p), token: Box::from(&b"t"[..]), prefix_len: 0, depth }
    }

    #[test]
    fn match_kinds() {
        assert!(Match::Subtree.matches("/a/b", &w("/a", None)));
        assert!(!Match::Exact.matches("/a/b", &w("/a", None)));
        assert!(Match::Depth.matches("@releaseDomain/5", &w("@releaseDomain/5", None)));
        assert!(Match::Depth.matches("@releaseDomain/5", &w("@releaseDomain", Some(1))));
        assert!(!Match::Depth.matches("@releaseDomain/5", &w("@releaseDomain", None)));
        assert!(Match::NoDepth.matches("@releaseDomain", &w("@releaseDomain", None)));
        assert!(!Match::NoDepth.matches("@releaseDomain", &w("@releaseDomain", Some(1))));
    }
}
