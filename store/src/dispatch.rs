//! Request dispatch: the table from each request type ([`MsgType`]) to its
//! handler and flags, and [`Engine::process`], which runs one request.
//! Handlers live with their concept: node operations in `ops.rs`, watches
//! in `watch.rs`, transactions in `transaction.rs`, domains in
//! `domain.rs`, `XS_CONTROL` in `control.rs`.
//!
//! As C's `wire_funcs[]`: unknown types get `ENOSYS`, privileged-only
//! types `EACCES` for others, and an unknown transaction id `ENOENT`;
//! these checks run once, before any handler. Handlers return the reply
//! payload or an [`Error`]; [`Engine::process`] turns either into one
//! queued message (errors as `XS_ERROR "<NAME>\0"`), and replies over
//! `XENSTORE_PAYLOAD_MAX` become `E2BIG` (XSA-72).

use alloc::vec::Vec;

use ring::wire::{Header, MsgType, XsError, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};

use crate::budget::{RELEASE_HEADROOM, REQUEST_HEADROOM};
use crate::conn::OutMsg;
use crate::engine::{Engine, Pending, Platform};
use crate::error::Error;
use crate::ids::{ConnId, DomId};
use crate::perms::Who;
use crate::quota::as_u64;
use crate::quota::Quota;
use crate::request::{frame, Reply, Req};
use crate::{control, domain, ops, transaction, watch};

/// A handler.
pub type Handler = fn(&mut Engine, &Req, &[u8], &mut dyn Platform) -> Result<Reply, Error>;

/// One row of the dispatch table: a request type, its handler, and the
/// checks made before the handler runs.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The request type.
    pub ty: MsgType,
    /// The handler.
    pub handler: Handler,
    /// Only the privileged domain may call it.
    pub privileged: bool,
    /// The transaction id is ignored (`WATCH`, `UNWATCH`).
    pub no_tx: bool,
    /// Whether it only gives memory back, taking no more than
    /// [`RELEASE_HEADROOM`] without asking the budget: then it is admitted
    /// past the line that refuses other requests (`Engine::admitted`).
    pub releases: Release,
}

/// When a request type only gives memory back ([`Entry::releases`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Never: it may hold more.
    Never,
    /// Always (ending a transaction, dropping watches).
    Always,
    /// Outside a transaction (`XS_RM`: inside one, each node removed
    /// becomes a record).
    OutsideTransaction,
}

impl Release {
    /// Whether a request with transaction id `tx` only gives memory back.
    pub fn gives_back(self, tx: u32) -> bool {
        match self {
            Release::Never => false,
            Release::Always => true,
            Release::OutsideTransaction => tx == 0,
        }
    }
}

impl Entry {
    /// A request anyone may make, in or out of a transaction.
    const fn new(ty: MsgType, handler: Handler) -> Entry {
        Entry { ty, handler, privileged: false, no_tx: false, releases: Release::Never }
    }

    /// Only the privileged domain may make it.
    const fn privileged(self) -> Entry {
        Entry { privileged: true, ..self }
    }

    /// Its transaction id is ignored.
    const fn no_tx(self) -> Entry {
        Entry { no_tx: true, ..self }
    }

    /// It only gives memory back.
    const fn releases(self) -> Entry {
        Entry { releases: Release::Always, ..self }
    }

    /// It only gives memory back outside a transaction.
    const fn releases_outside_transaction(self) -> Entry {
        Entry { releases: Release::OutsideTransaction, ..self }
    }
}

/// The dispatch table: every request type and its handler, in wire order.
/// `XS_WATCH_EVENT` and `XS_ERROR` are replies only (a request of either
/// type, like an unknown one, gets `ENOSYS`).
pub static TABLE: [Entry; 24] = [
    Entry::new(MsgType::Control, control::do_control).privileged(),
    Entry::new(MsgType::Directory, ops::do_directory),
    Entry::new(MsgType::Read, ops::do_read),
    Entry::new(MsgType::GetPerms, ops::do_get_perms),
    Entry::new(MsgType::Watch, watch::do_watch).no_tx(),
    Entry::new(MsgType::Unwatch, watch::do_unwatch).no_tx().releases(),
    Entry::new(MsgType::TransactionStart, transaction::do_tx_start),
    Entry::new(MsgType::TransactionEnd, transaction::do_tx_end).releases(),
    Entry::new(MsgType::Introduce, domain::do_introduce).privileged(),
    Entry::new(MsgType::Release, domain::do_release).privileged(),
    Entry::new(MsgType::GetDomainPath, domain::do_get_domain_path),
    Entry::new(MsgType::Write, ops::do_write),
    Entry::new(MsgType::Mkdir, ops::do_mkdir),
    Entry::new(MsgType::Rm, ops::do_rm).releases_outside_transaction(),
    Entry::new(MsgType::SetPerms, ops::do_set_perms),
    Entry::new(MsgType::IsDomainIntroduced, domain::do_is_domain_introduced).privileged(),
    Entry::new(MsgType::Resume, domain::do_resume).privileged(),
    Entry::new(MsgType::SetTarget, domain::do_set_target).privileged(),
    Entry::new(MsgType::ResetWatches, watch::do_reset_watches).releases(),
    Entry::new(MsgType::DirectoryPart, ops::do_directory_part),
    Entry::new(MsgType::GetFeature, domain::do_get_feature),
    Entry::new(MsgType::SetFeature, domain::do_set_feature).privileged(),
    Entry::new(MsgType::GetQuota, domain::do_get_quota).privileged(),
    Entry::new(MsgType::SetQuota, domain::do_set_quota).privileged(),
];

/// One past the highest request type number.
const TYPE_SLOTS: usize = MsgType::SetQuota as usize + 1;

/// [`TABLE`] indexed by type number, built at compile time (a type listed
/// twice, or past [`TYPE_SLOTS`], fails the build).
static BY_NUMBER: [Option<Entry>; TYPE_SLOTS] = by_number(&TABLE);

#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // evaluated at compile time only
const fn by_number(rows: &[Entry]) -> [Option<Entry>; TYPE_SLOTS] {
    let mut out: [Option<Entry>; TYPE_SLOTS] = [None; TYPE_SLOTS];
    let mut i = 0;
    while i < rows.len() {
        let ty = rows[i].ty as usize;
        assert!(out[ty].is_none(), "a request type listed twice");
        out[ty] = Some(rows[i]);
        i += 1;
    }
    out
}

/// The table's row for wire type number `ty`.
pub fn entry(ty: u32) -> Option<&'static Entry> {
    BY_NUMBER.get(usize::try_from(ty).ok()?)?.as_ref()
}

/// A wire type number for logs: its C name when it is known.
struct TypeName(u32);

impl core::fmt::Display for TypeName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match MsgType::from_u32(self.0) {
            Some(t) => f.write_str(t.name()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Engine {
    /// The access identity of a connection's domain.
    pub(crate) fn who(&self, domid: DomId, target: Option<DomId>) -> Who {
        Who { domid, target, privileged: self.is_privileged(domid) }
    }

    /// Handles one complete request from `conn`.
    pub(crate) fn process(
        &mut self,
        conn: ConnId,
        hdr: Header,
        payload: &[u8],
        platform: &mut dyn Platform,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.stats.requests = self.stats.requests.saturating_add(1);
        let who = self.who(c.domid, c.target);
        // Over budget: answered without being handled (`budget.rs`). Such a
        // refusal costs `REFUSAL_BYTES` (the connection's queue is empty,
        // `held_for_memory`, and it gets no serial), which `Engine::input`
        // made sure the headroom has.
        let entry = entry(hdr.ty);
        let releases = entry.is_some_and(|e| e.releases.gives_back(hdr.tx_id));
        let refused = !self.admitted(who.privileged, releases, c);
        let serial = (!who.privileged && !refused).then(|| {
            let s = self.next_req;
            self.next_req = self.next_req.wrapping_add(1);
            self.pending.insert(s, Pending { domid: who.domid, events: 0, reply_done: false });
            s
        });
        let mut req = Req { conn, req_id: hdr.req_id, who, tx: None, serial };
        let result = match entry {
            _ if refused => Err(Error::NoMem),
            None => Err(Error::NoSys),
            Some(entry) if entry.privileged && !who.privileged => Err(Error::Access),
            Some(entry) => {
                let tx_ok = if entry.no_tx || hdr.tx_id == 0 {
                    Ok(())
                } else if self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.txs.iter().any(|t| t.id == hdr.tx_id))
                {
                    req.tx = Some(hdr.tx_id);
                    Ok(())
                } else {
                    Err(Error::NoEnt)
                };
                tx_ok.and_then(|()| (entry.handler)(self, &req, payload, platform))
            }
        };
        if let (Ok(_), Some(entry)) = (&result, entry) {
            self.charge_write(&req, entry.ty, payload);
        }
        if result.as_ref().is_ok_and(Reply::is_deferred) {
            // Answered later by the handler's own module (live update).
            return;
        }
        let result = match result {
            Ok(r) if self.reply_over_memory(&who, r.len()) => Err(Error::NoMem),
            other => other,
        };
        let (bytes, then_event) = match result {
            Ok(r) if r.len() > XENSTORE_PAYLOAD_MAX => (error_message(&hdr, Error::TooBig), None),
            Ok(mut r) => {
                let then = r.then_event.take();
                (r.into_message(hdr.ty, hdr.req_id, hdr.tx_id), then)
            }
            Err(e) => {
                if e == Error::Quota {
                    self.stats.quota_hits = self.stats.quota_hits.saturating_add(1);
                }
                (error_message(&hdr, e), None)
            }
        };
        if self.trace.io() {
            let reply_ty =
                bytes.first_chunk::<HEADER_SIZE>().map_or(0, |h| Header::from_bytes(h).ty);
            log::info!(
                "IN  {conn:?} dom{} {} req {} tx {} len {} -> OUT {} len {}",
                who.domid.0,
                TypeName(hdr.ty),
                hdr.req_id,
                hdr.tx_id,
                hdr.len,
                TypeName(reply_ty),
                bytes.len().saturating_sub(HEADER_SIZE)
            );
        }
        self.queue_out(conn, OutMsg { bytes, event: false, expire_ms: None, req: serial });
        if let Some((p, t)) = then_event {
            self.send_event(None, conn, &p, &t);
        }
    }

    /// Whether a request of `c` is admitted (`budget.rs`): while the heap
    /// has its admission line's room ([`Engine::admission_bytes`]: the
    /// request headroom and the queue growth) under the caller's limit;
    /// one that only gives memory back (`releases`) while it has
    /// [`RELEASE_HEADROOM`] and the queue growth under the limit plus the
    /// request headroom. Such a request ends what holds memory (a
    /// transaction, watches), so refusing it could stall its connection
    /// with that memory held: a transaction that filled the budget could
    /// not even be aborted.
    fn admitted(&self, privileged: bool, releases: bool, c: &crate::engine::Conn) -> bool {
        let line = self.admission_bytes(c);
        if self.heap_allows(privileged, line) {
            return true;
        }
        let release = line.saturating_sub(REQUEST_HEADROOM).saturating_add(RELEASE_HEADROOM);
        releases && self.cfg.budget.is_none_or(|b| b.allows_in_headroom(privileged, release))
    }
}

/// Replies up to this many payload bytes are queued whatever the memory
/// quota says, so an error can always be returned (C `DEFAULT_BUFFER_SIZE`).
pub const SMALL_REPLY_BYTES: usize = 16;

impl Engine {
    /// C 4.22 `send_reply`: a reply longer than [`SMALL_REPLY_BYTES`] that
    /// would take an unprivileged caller to its memory limit, or any
    /// caller past the memory budget, is replaced by `ENOMEM`.
    fn reply_over_memory(&mut self, who: &Who, len: usize) -> bool {
        if len <= SMALL_REPLY_BYTES {
            return false;
        }
        let charge = OutMsg::charge_for(len.saturating_add(HEADER_SIZE), false);
        if !self.heap_allows(who.privileged, charge) {
            return true;
        }
        !who.privileged && self.domain_exceeds_with(who.domid, Quota::Memory, as_u64(charge))
    }
}

/// What refusing a request for memory allocates, on a connection with
/// nothing queued: the `ENOMEM` message (built in a buffer of exactly its
/// length by `error_message`) and its slot in the output queue
/// (`OutQueue::push` makes room for exactly one in an empty queue).
pub const REFUSAL_BYTES: usize = OutMsg::charge_for(
    HEADER_SIZE.saturating_add(XsError::NoMem.as_str().len()).saturating_add(1),
    false,
);

/// An `XS_ERROR` reply to `hdr` carrying `e`'s name.
fn error_message(hdr: &Header, e: Error) -> Vec<u8> {
    let name = e.xs().as_str().as_bytes();
    let mut v = Reply::buffer(name.len().saturating_add(1));
    v.extend_from_slice(name);
    v.push(0);
    frame(MsgType::Error as u32, hdr.req_id, hdr.tx_id, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_wire_numbers() {
        for ty in MsgType::ALL {
            let row = entry(ty as u32);
            match ty {
                MsgType::WatchEvent | MsgType::Error => assert!(row.is_none(), "{ty:?}"),
                _ => assert_eq!(row.map(|r| r.ty), Some(ty)),
            }
        }
        assert!(entry(20).is_none());
        assert!(entry(MsgType::SetQuota as u32).is_some_and(|e| e.privileged));
        assert!(entry(27).is_none());
        assert!(entry(u32::MAX).is_none());
    }
}
