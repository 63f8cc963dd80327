//! Engine dump and restore: an [`Engine`]'s state as the records of a
//! migration stream (what C xenstored hands its successor on live update,
//! `stream`), and an engine rebuilt from such records.
//!
//! Facts from C 4.22 (`lu.c`, `core.c`, `domain.c`, `watch.c`):
//!
//! * C writes `GLOBAL_DATA`, `GLOBAL_QUOTA_DATA`, then for every
//!   connection its `CONNECTION_DATA` followed by its watches, then every
//!   node (`/` and its subtree parents first, then `@releaseDomain` and
//!   `@introduceDomain`), then a `DOMAIN_DATA` per domain. No
//!   `TRANSACTION_DATA`: live update waits until no transaction is open,
//!   and when forced (all open ones older than the timeout) dumps the
//!   committed tree and drops them; its reader ignores transaction
//!   records. Here open transactions are written after the nodes and
//!   restored (`migrate/tx.rs`).
//! * A ring's `evtchn` is the port C bound (its local end), which the new
//!   process rebinds in the event channel descriptor it inherits; a ring
//!   whose port or page cannot be restored is kept, ignored, so that its
//!   domain's death is still reported.
//! * Restoring charges every node to its owner, every watch and queued
//!   message to its connection's domain, without quota checks (the new
//!   quotas may be smaller; they apply to what comes next); a queued
//!   reply, and the partly sent message at the front, count as
//!   outstanding, events never do; unread events of unprivileged
//!   connections get a fresh expiry. Afterwards C checks every domain, as
//!   `VIRQ_DOM_EXC` may have been missed.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ring::wire::{Header as WireHeader, MsgType, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};

use crate::budget::REQUEST_HEADROOM;
use crate::conn::OutMsg;
use crate::engine::{Config, Conn, Engine, Platform, RestoreRing};
use crate::ids::{ConnId, DomId};
use crate::path;
use crate::perms::{Perm, PERM_IGNORE, PERM_READ, PERM_WRITE};
use crate::quota::{self, Limit, Quota, Quotas, QUOTA_DISABLED};
use crate::stream::{
    self, ConnKind, ConnectionData, DecodeError, DomainData, EncodeError, GlobalData,
    GlobalQuotaData, NodeData, NodePerm, PermAccess, QuotaValue, Record, Stream, TransactionData,
    Version, WatchData, DOMID_INVALID, WATCH_DEPTH_UNLIMITED,
};
use crate::tree::{Node, TreeError, Value};
use crate::watch::Watch;

mod tx;

/// The first reserved domid (`DOMID_FIRST_RESERVED`): no domain has it.
const DOMID_FIRST_RESERVED: u16 = 0x7FF0;

/// The special nodes a stream may hold (C dumps exactly these two).
const SPECIAL_NODES: [&str; 2] = ["@releaseDomain", "@introduceDomain"];

/// What the platform knows about connections and the engine does not,
/// asked while dumping.
pub trait DumpSource {
    /// The event channel port the platform bound for `conn`'s ring (its
    /// local end, as C dumps it; 0 if none). Asked only for rings that
    /// are mapped and not ignored.
    fn ring_port(&self, conn: ConnId) -> u32;
    /// The descriptor of socket connection `conn` (-1 if none).
    fn socket_fd(&self, conn: ConnId) -> i32;
    /// Bytes the platform read from `conn` that [`Engine::input`] has not
    /// taken yet (flow control): they follow the engine's partial
    /// message in the dump. None by default.
    fn unread_input(&self, conn: ConnId) -> &[u8] {
        let _ = conn;
        &[]
    }
}

/// How to dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    /// The stream's version and byte order.
    pub header: stream::Header,
    /// The descriptors for `GLOBAL_DATA` (the platform's; none is written
    /// when `None`, as a platform without descriptors has nothing to say).
    pub global: Option<GlobalData>,
    /// Dump even while transactions that cannot be carried exactly are
    /// open: they are written *doomed* (restored, their commit answers
    /// `EAGAIN`) where C's forced live update drops them. Transactions
    /// that can be carried are written either way (`migrate/tx.rs`).
    pub force: bool,
}

/// Why an engine could not be dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpError {
    /// Transactions the stream cannot carry exactly are open and the
    /// dump was not forced (C answers such a live update with the
    /// connections holding them, or waits).
    Busy,
    /// A watch has a depth, which only a version 2 stream can hold.
    WatchDepthInV1,
    /// A connection's partial input or partly sent message does not fit
    /// its 16-bit length (the engine never holds such).
    TooLong,
    /// The stream could not be written.
    Encode(EncodeError),
    /// No memory for the records.
    NoMemory,
}

/// Why a stream could not be restored; `index` counts records from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The records do not belong together ([`stream::check()`]).
    Stream(DecodeError),
    /// A node path the engine would not accept (not canonical, too long,
    /// a special node other than `@releaseDomain` and `@introduceDomain`).
    BadPath {
        /// The record.
        index: usize,
    },
    /// A node whose parent is not an earlier record.
    NoParent {
        /// The record.
        index: usize,
    },
    /// A node the tree cannot hold.
    NodeTooBig {
        /// The record.
        index: usize,
    },
    /// A ring for a reserved domid or a domain that already has one, or
    /// domain data for a reserved domid.
    BadDomain {
        /// The record.
        index: usize,
    },
    /// A watch path the engine would not accept, or a watch the
    /// connection already has (the same canonical path and token).
    BadWatch {
        /// The record.
        index: usize,
    },
    /// Pending output that is not whole messages after the partial one.
    BadOutput {
        /// The record.
        index: usize,
    },
    /// A transaction record the engine would not accept: id 0, a node
    /// neither read nor written, `/` deleted, a path twice, a present
    /// node whose parent is absent from the transaction's view.
    BadTransaction {
        /// The record.
        index: usize,
    },
    /// The memory budget has no room for the record.
    NoMemory {
        /// The record.
        index: usize,
    },
}

/// A restored engine and what the platform must take over.
pub struct Restored {
    /// The engine.
    pub engine: Engine,
    /// The stream's `GLOBAL_DATA`, if it had one.
    pub global: Option<GlobalData>,
    /// Each socket connection with the descriptor the stream names: the
    /// platform serves that descriptor as that connection.
    pub sockets: Vec<(ConnId, i32)>,
    /// Input the old server had read and not handled that the engine did
    /// not take yet (the memory budget; quotas do not stop it, as in C):
    /// the platform offers it with [`Engine::input`] before anything it
    /// reads from the connection.
    pub unread: Vec<(ConnId, Vec<u8>)>,
}

/// A ring to take over once the records are restored.
struct PendingRing {
    conn: ConnId,
    domid: DomId,
    port: u32,
}

/// The quota values of `q` as C names them: every hard limit, and the
/// soft ones that are not disabled.
fn quota_values(q: &Quotas) -> Vec<QuotaValue> {
    let mut out = Vec::new();
    for def in quota::QUOTA_TABLE.iter() {
        for limit in [Limit::Hard, Limit::Soft] {
            let value = q.get(def.quota, limit);
            if value == QUOTA_DISABLED {
                continue;
            }
            let mut name = Vec::new();
            if limit == Limit::Soft {
                name.extend_from_slice(b"soft-");
            }
            name.extend_from_slice(def.name.as_bytes());
            out.push(QuotaValue { name, value });
        }
    }
    out
}

/// Applies named quota values (unknown names are ignored, as C does).
fn apply_quotas(q: &mut Quotas, values: &[QuotaValue]) {
    for v in values {
        let parsed = core::str::from_utf8(&v.name).ok().and_then(quota::parse_name);
        if let Some((which, limit)) = parsed {
            q.set(which, limit, v.value);
        }
    }
}

/// A permission entry as the stream writes it. Entries naming no domain
/// (ids over 16 bits, always ignored: `mark_unknown_domains`) keep their
/// low 16 bits and the ignore flag, as C writes them.
fn perm_to_stream(p: &Perm) -> NodePerm {
    let access = match p.bits & (PERM_READ | PERM_WRITE) {
        PERM_READ => PermAccess::Read,
        PERM_WRITE => PermAccess::Write,
        0 => PermAccess::None,
        _ => PermAccess::Both,
    };
    let (domid, wide) = match u16::try_from(p.id) {
        Ok(d) => (d, false),
        Err(_) => (u16::try_from(p.id & 0xFFFF).unwrap_or(0), true),
    };
    NodePerm { access, ignore: p.ignored() || wide, domid }
}

/// A permission entry as the engine keeps it.
fn perm_from_stream(p: &NodePerm) -> Perm {
    let access = match p.access {
        PermAccess::None => 0,
        PermAccess::Read => PERM_READ,
        PermAccess::Write => PERM_WRITE,
        PermAccess::Both => PERM_READ | PERM_WRITE,
    };
    let ignore = if p.ignore { PERM_IGNORE } else { 0 };
    Perm { id: u32::from(p.domid), bits: access | ignore }
}

/// Heap a record's restoration may take, roughly: what it holds.
fn record_bytes(r: &Record) -> usize {
    match r {
        Record::Connection(c) => c.out_data.len().saturating_add(c.in_data.len()),
        Record::Watch(w) => w.path.len().saturating_add(w.token.len()),
        Record::Node(n) => node_bytes(n),
        _ => 0,
    }
}

/// Heap a node record's restoration may take, roughly.
fn node_bytes(n: &NodeData) -> usize {
    n.path
        .len()
        .saturating_add(n.value.len())
        .saturating_add(n.perms.len().saturating_mul(core::mem::size_of::<Perm>()))
}

impl Engine {
    /// The engine's state as a migration stream, in C's order (see the
    /// module documentation). Refused with [`DumpError::Busy`] while a
    /// transaction the stream cannot carry is open unless `opts.force`. Holds every record at
    /// once: [`Engine::dump_bytes`] holds one.
    pub fn dump_state(
        &self,
        opts: &DumpOptions,
        src: &dyn DumpSource,
    ) -> Result<Stream, DumpError> {
        let mut records: Vec<Record> = Vec::new();
        self.dump_each(opts, src, &mut |r| {
            records.try_reserve(1).map_err(|_| DumpError::NoMemory)?;
            records.push(r);
            Ok(())
        })?;
        Ok(Stream { header: opts.header, records })
    }

    /// [`Engine::dump_state`], encoded and appended to `out` one record at
    /// a time (on error `out` holds a truncated stream).
    pub fn dump_bytes(
        &self,
        opts: &DumpOptions,
        src: &dyn DumpSource,
        out: &mut Vec<u8>,
    ) -> Result<(), DumpError> {
        let mut w = stream::Writer::new(opts.header, out).map_err(DumpError::Encode)?;
        self.dump_each(opts, src, &mut |r| w.record(&r).map_err(DumpError::Encode))?;
        w.end().map_err(DumpError::Encode)
    }

    /// Hands every record of the dump to `f`, in stream order.
    fn dump_each(
        &self,
        opts: &DumpOptions,
        src: &dyn DumpSource,
        f: &mut dyn FnMut(Record) -> Result<(), DumpError>,
    ) -> Result<(), DumpError> {
        let version = opts.header.version;
        if !opts.force && self.conns.values().any(|c| c.txs.iter().any(|t| !self.tx_carryable(t))) {
            return Err(DumpError::Busy);
        }
        if version < Version::V2
            && self.conns.values().any(|c| c.watches.iter().any(|w| w.depth.is_some()))
        {
            return Err(DumpError::WatchDepthInV1);
        }
        if let Some(g) = opts.global {
            f(Record::Global(g))?;
        }
        let per_domain = quota_values(&self.cfg.quotas);
        f(Record::GlobalQuota(GlobalQuotaData { per_domain, global: Vec::new() }))?;
        for (&id, c) in &self.conns {
            f(Record::Connection(self.dump_conn(id, c, src)?))?;
            for w in &c.watches {
                let shown = w.path.get(w.prefix_len..).unwrap_or(&w.path);
                let depth = w.depth.map(|d| u16::try_from(d).unwrap_or(WATCH_DEPTH_UNLIMITED));
                f(Record::Watch(WatchData {
                    conn_id: id.0,
                    path: Vec::from(shown.as_bytes()),
                    token: Vec::from(&*w.token),
                    depth,
                }))?;
            }
        }
        self.tree.try_for_each_path(|p, n| {
            f(Record::Node(NodeData {
                path: Vec::from(p.as_bytes()),
                tx: None,
                perms: n.perms.iter().map(perm_to_stream).collect(),
                value: Vec::from(n.value),
            }))
        })?;
        for (&id, c) in &self.conns {
            for t in &c.txs {
                self.dump_tx(id, t, f)?;
            }
        }
        for d in self.domains.values() {
            f(Record::Domain(DomainData {
                domid: d.domid.0,
                features: if version >= Version::V2 { d.features } else { 0 },
                quotas: quota_values(&d.quotas),
            }))?;
        }
        Ok(())
    }

    /// One connection's record.
    fn dump_conn(
        &self,
        id: ConnId,
        c: &Conn,
        src: &dyn DumpSource,
    ) -> Result<ConnectionData, DumpError> {
        let dom = self.domain(c.domid);
        let kind = if c.socket {
            ConnKind::Socket { fd: src.socket_fd(id) }
        } else {
            // An ignored ring, or one not mapped, is written without a
            // port: C's reader restores such a ring ignored.
            let mapped = dom.is_some_and(|d| d.ring_mapped);
            let port = if c.ignored || !mapped { 0 } else { src.ring_port(id) };
            let tdomid = c.target.map_or(DOMID_INVALID, |t| t.0);
            ConnKind::Ring { domid: c.domid.0, tdomid, evtchn: port }
        };
        let (head, body) = c.decoder.partial();
        let mut in_data = Vec::new();
        self.lu_held_input(id, &mut in_data);
        in_data.extend_from_slice(head);
        in_data.extend_from_slice(body);
        in_data.extend_from_slice(src.unread_input(id));
        let mut out_data = Vec::new();
        let mut out_resp_len = 0u16;
        // A restored partial message partly sent again has its rest after
        // the new offset; one untouched is all rest.
        let rest = c.out.front_rest().or_else(|| c.resumed.then(|| c.out.front()).flatten());
        if let Some(rest) = rest {
            out_resp_len = u16::try_from(rest.len()).map_err(|_| DumpError::TooLong)?;
            out_data.extend_from_slice(rest);
        }
        for m in c.out.iter().skip(usize::from(rest.is_some())) {
            out_data.extend_from_slice(&m.bytes);
        }
        // A due live update's `OK`, which the new server delivers.
        if let Some(ok) = self.lu_response(id) {
            out_data.extend_from_slice(&ok);
        }
        let unique_id = if c.socket { None } else { dom.and_then(|d| d.unique_id) };
        Ok(ConnectionData { conn_id: id.0, kind, in_data, out_data, out_resp_len, unique_id })
    }

    /// An engine rebuilt from `stream` with configuration `cfg` (its
    /// privileged domain, budget, hash seed; the quotas the stream holds
    /// replace `cfg`'s, as in C), at time `now_ms`. Connections keep their
    /// stream ids as [`ConnId`]s. Rings are taken over through
    /// [`Platform::restore_ring`] once every record is restored; then
    /// domains are checked ([`Engine::check_domains`]) and the input the
    /// old server had not handled is fed to the engine, whatever the
    /// connections' quotas.
    ///
    /// The stream is hostile input: it is checked as a whole
    /// ([`stream::check()`]), each record against what the engine accepts
    /// (canonical node and watch paths, parents before children, what the
    /// tree holds, the memory budget), and on any error nothing is
    /// returned and the platform was asked nothing. Quotas are not
    /// applied to what is restored (C: the new quotas may be smaller).
    /// Transactions are restored once the committed tree is, before the
    /// rings are taken over (`migrate/tx.rs`; C ignores them and its
    /// writer writes none).
    pub fn restore<P: Platform>(
        cfg: Config,
        stream: &Stream,
        now_ms: u64,
        platform: &mut P,
    ) -> Result<Restored, RestoreError> {
        stream::check(&stream.records, usize::MAX).map_err(RestoreError::Stream)?;
        let version = stream.header.version;
        let mut e = Engine::blank(cfg);
        e.now_ms = now_ms;
        // The root exists before the records, as in C's restarted process.
        let owner = u32::from(e.cfg.priv_domid.0);
        let root = Node::new(Arc::from(&[Perm { id: owner, bits: 0 }][..]));
        e.tree_try_store("/", &root).map_err(|_| RestoreError::NoMemory { index: 0 })?;
        let mut global = None;
        let mut sockets = Vec::new();
        let mut unread = Vec::new();
        let mut rings: Vec<PendingRing> = Vec::new();
        let mut inputs: Vec<(ConnId, &[u8])> = Vec::new();
        let mut txs: Vec<(usize, &TransactionData)> = Vec::new();
        let mut tx_nodes: Vec<(u32, u32, usize, &NodeData)> = Vec::new();
        for (index, r) in stream.records.iter().enumerate() {
            if !e.heap_allows(true, REQUEST_HEADROOM.saturating_add(record_bytes(r))) {
                return Err(RestoreError::NoMemory { index });
            }
            match r {
                Record::Global(g) => global = Some(*g),
                Record::GlobalQuota(q) => {
                    apply_quotas(&mut e.cfg.quotas, &q.per_domain);
                    apply_quotas(&mut e.cfg.quotas, &q.global);
                }
                Record::Connection(c) => {
                    let id = ConnId(c.conn_id);
                    match c.kind {
                        ConnKind::Socket { fd } => {
                            let priv_domid = e.cfg.priv_domid;
                            e.conns.insert(id, Conn::new(priv_domid, true));
                            sockets.push((id, fd));
                        }
                        ConnKind::Ring { domid, tdomid, evtchn } => {
                            e.restore_ring_conn(index, id, c, domid, tdomid)?;
                            rings.push(PendingRing { conn: id, domid: DomId(domid), port: evtchn });
                        }
                    }
                    let room = e.ready_shortfall();
                    e.ready.try_reserve(room).map_err(|_| RestoreError::NoMemory { index })?;
                    e.restore_output(index, id, c)?;
                    if !c.in_data.is_empty() {
                        inputs.push((id, &c.in_data));
                    }
                }
                Record::Watch(w) => e.restore_watch(index, w)?,
                Record::Transaction(t) => {
                    txs.try_reserve(1).map_err(|_| RestoreError::NoMemory { index })?;
                    txs.push((index, t));
                }
                Record::Node(n) => match n.tx {
                    Some(t) => {
                        tx_nodes.try_reserve(1).map_err(|_| RestoreError::NoMemory { index })?;
                        tx_nodes.push((t.conn_id, t.tx_id, index, n));
                    }
                    None => e.restore_node(index, n)?,
                },
                Record::Domain(d) => {
                    if d.domid >= DOMID_FIRST_RESERVED {
                        return Err(RestoreError::BadDomain { index });
                    }
                    let all = e.cfg.server_features;
                    let dom = e.domain_or_create(DomId(d.domid));
                    if version >= Version::V2 {
                        dom.features = d.features & all;
                    }
                    apply_quotas(&mut dom.quotas, &d.quotas);
                }
            }
        }
        // Each transaction's nodes in stream order, found by key.
        tx_nodes.sort_unstable_by_key(|&(c, t, i, _)| (c, t, i));
        for (index, t) in txs {
            let key = (t.conn_id, t.tx_id);
            let from = tx_nodes.partition_point(|&(c, x, _, _)| (c, x) < key);
            let nodes = tx_nodes.iter().skip(from).take_while(|&&(c, x, _, _)| (c, x) == key);
            e.restore_tx(index, t, nodes.map(|&(_, _, i, n)| (i, n)))?;
        }
        let max = e.conns.keys().map(|c| c.0).max().unwrap_or(0);
        e.next_conn = max.wrapping_add(1).max(1);
        if let Some(b) = e.cfg.budget {
            b.cap_quotas(&mut e.cfg.quotas);
            for d in e.domains.values_mut() {
                b.cap_quotas(&mut d.quotas);
            }
        }
        // Nothing can fail from here on: the platform takes the rings over.
        for ring in rings {
            let taken = ring.port != 0
                && platform
                    .restore_ring(RestoreRing {
                        conn: ring.conn,
                        domid: ring.domid,
                        port: ring.port,
                    })
                    .is_ok();
            if taken {
                if let Some(d) = e.domain_mut(ring.domid) {
                    d.ring_mapped = true;
                }
            } else {
                log::warn!("cannot restore the ring of domain {}", ring.domid.0);
                e.ignore(ring.conn);
            }
        }
        let ids: Vec<ConnId> = e.conns.keys().copied().collect();
        for id in ids {
            e.update_blocked(id);
        }
        e.check_domains(now_ms, platform);
        for (id, bytes) in inputs {
            if e.conns.get(&id).is_none_or(|c| c.ignored) {
                continue;
            }
            // Handled whatever the quotas, as C handles the requests it
            // restores; a protocol violation leaves the connection
            // ignored, as live.
            if let Ok(n) = e.feed(id, bytes, now_ms, platform, false) {
                if let Some(rest) = bytes.get(n..).filter(|r| !r.is_empty()) {
                    unread.push((id, Vec::from(rest)));
                }
            }
        }
        Ok(Restored { engine: e, global, sockets, unread })
    }

    /// Restores ring connection `id` of `domid` (introduced, its ring not
    /// yet taken over).
    fn restore_ring_conn(
        &mut self,
        index: usize,
        id: ConnId,
        c: &ConnectionData,
        domid: u16,
        tdomid: u16,
    ) -> Result<(), RestoreError> {
        let dom = DomId(domid);
        if domid >= DOMID_FIRST_RESERVED || self.domain(dom).is_some_and(|d| d.introduced) {
            return Err(RestoreError::BadDomain { index });
        }
        let mut conn = Conn::new(dom, false);
        conn.target = (tdomid != DOMID_INVALID).then_some(DomId(tdomid));
        self.conns.insert(id, conn);
        let d = self.domain_or_create(dom);
        d.introduced = true;
        d.ring_mapped = false;
        d.shutdown = false;
        d.conn = Some(id);
        d.unique_id = c.unique_id.or(d.unique_id);
        self.wrl_domain_new(dom);
        Ok(())
    }

    /// Queues `c`'s pending output on `id`: the rest of a partly sent
    /// message, then whole messages.
    fn restore_output(
        &mut self,
        index: usize,
        id: ConnId,
        c: &ConnectionData,
    ) -> Result<(), RestoreError> {
        let bad = RestoreError::BadOutput { index };
        let (partial, mut rest) =
            c.out_data.split_at_checked(usize::from(c.out_resp_len)).ok_or(bad)?;
        if !partial.is_empty() {
            self.restore_msg(index, id, partial, false)?;
            if let Some(c) = self.conns.get_mut(&id) {
                c.resumed = true;
            }
        }
        while !rest.is_empty() {
            let (raw, _) = rest.split_first_chunk::<HEADER_SIZE>().ok_or(bad)?;
            let h = WireHeader::from_bytes(raw);
            let len =
                usize::try_from(h.len).ok().filter(|&l| l <= XENSTORE_PAYLOAD_MAX).ok_or(bad)?;
            let total = HEADER_SIZE.saturating_add(len);
            let msg = rest.get(..total).ok_or(bad)?;
            self.restore_msg(index, id, msg, h.ty == MsgType::WatchEvent as u32)?;
            rest = rest.get(total..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Queues one restored message, charged as a queued one.
    fn restore_msg(
        &mut self,
        index: usize,
        id: ConnId,
        bytes: &[u8],
        event: bool,
    ) -> Result<(), RestoreError> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(bytes.len()).map_err(|_| RestoreError::NoMemory { index })?;
        buf.extend_from_slice(bytes);
        let unpriv = self.conns.get(&id).is_some_and(|c| !self.is_privileged(c.domid));
        let timeout = self.cfg.watch_event_timeout_ms;
        let expire_ms =
            (event && unpriv && timeout != 0).then(|| self.now_ms.saturating_add(timeout));
        self.queue_out(id, OutMsg { bytes: buf, event, expire_ms, req: None });
        Ok(())
    }

    /// Restores one watch, charged as `XS_WATCH` charges it (no quota).
    fn restore_watch(&mut self, index: usize, w: &WatchData) -> Result<(), RestoreError> {
        let bad = RestoreError::BadWatch { index };
        let id = ConnId(w.conn_id);
        let Some(c) = self.conns.get(&id) else { return Err(bad) };
        if c.ignored {
            return Ok(());
        }
        let domid = c.domid;
        let canon = path::canonicalize(&w.path, domid, true).map_err(|_| bad)?;
        if c.watches.iter().any(|x| x.path == *canon.path && *x.token == *w.token) {
            return Err(bad);
        }
        let prefix_len =
            if canon.relative { path::domain_path(domid).len().saturating_add(1) } else { 0 };
        let watch = Watch {
            path: String::from(&*canon.path),
            token: Box::from(w.token.as_slice()),
            prefix_len,
            depth: w.depth.map(u32::from),
        };
        let size = watch.size();
        if let Some(c) = self.conns.get_mut(&id) {
            c.watches.push(watch);
        }
        let d = self.domain_or_create(domid);
        d.usage.add(Quota::Watches, 1);
        d.usage.add(Quota::Memory, quota::delta(0, size));
        Ok(())
    }

    /// Restores one committed node under its restored parent.
    fn restore_node(&mut self, index: usize, n: &NodeData) -> Result<(), RestoreError> {
        let bad = RestoreError::BadPath { index };
        let canon = path::canonicalize(&n.path, self.cfg.priv_domid, true).map_err(|_| bad)?;
        if canon.relative {
            return Err(bad);
        }
        let p: &str = &canon.path;
        let special = p.starts_with('@');
        if special && !SPECIAL_NODES.contains(&p) {
            return Err(bad);
        }
        if !special && p != "/" && !self.tree.contains(path::parent(p)) {
            return Err(RestoreError::NoParent { index });
        }
        let perms: Vec<Perm> = n.perms.iter().map(perm_from_stream).collect();
        let mut node = Node::new(Arc::from(perms));
        node.value = Value::from_slice(&n.value);
        self.tree_try_store(p, &node).map_err(|e| match e {
            TreeError::NotFound | TreeError::NoParent => RestoreError::NoParent { index },
            TreeError::TooBig | TreeError::HasChildren => RestoreError::NodeTooBig { index },
            TreeError::Full => RestoreError::NoMemory { index },
        })
    }
}
