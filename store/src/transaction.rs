//! Transactions and the generation-count model of conflict detection.
//!
//! # The model (restated from the top of C `transaction.c`)
//!
//! The engine keeps one global generation counter `G`. Every change of a
//! node outside a transaction, and every node a transaction commits,
//! first increments `G` and then stamps the node with it, so no two
//! versions of any node ever share a generation. A node that does not
//! exist has the pseudo-generation `NO_GENERATION`.
//!
//! A transaction keeps a private view of only the nodes it touches. The
//! first time it *reads* a node it records the node's generation at that
//! moment (or `NO_GENERATION` if the node was absent) and copies it into
//! its view; later accesses use the copy. Writes and deletes change only
//! the view.
//!
//! On commit (`XS_TRANSACTION_END T`), every node the transaction read is
//! compared with the global tree: if its generation differs (it was
//! written, deleted or created by someone else since the first read) the
//! commit fails with `EAGAIN` and nothing is applied. Nodes the
//! transaction wrote without reading are not checked: the commit simply
//! overwrites them (last writer wins). Otherwise every modified node is
//! written to the tree with a fresh generation, deleted nodes are removed,
//! and the watch events collected during the transaction fire.
//!
//! # Worked traces (each is a test in `tests/transaction.rs`)
//!
//! `g(X)` is the generation of node X, `t:X` the transaction's record.
//!
//! 1. Read A, write B, commit: `t:A = g(A)`; B changes only in the view;
//!    at commit `g(A)` is unchanged, so B is written with a new
//!    generation. Result: OK.
//! 2. Conflicting write: T reads A (`t:A = g(A)`); another client writes A
//!    (`g(A)` grows); T writes B; commit sees `t:A != g(A)`: `EAGAIN`, B
//!    is not written.
//! 3. Conflicting delete: as 2, but A is deleted (`g(A)` becomes
//!    `NO_GENERATION`): `EAGAIN`.
//! 4. Two interfering transactions: T1 reads A and writes B, T2 reads B
//!    and writes A. T1 commits first (A unchanged): OK, B gets a new
//!    generation. T2 then finds `t:B != g(B)`: `EAGAIN`.
//!
//! Creating or removing a child reads its parent only *as a parent*
//! ([`Accessed::weak`]): unlike C, where that read is an ordinary one and
//! two transactions adding children to the same directory conflict, the
//! commit fails only if the parent was removed or its permissions changed
//! meanwhile. What else the outcome depends on is read as usual: the
//! created node itself and the first missing node on the way to it (both
//! absent; a creation by someone else fails the commit), a removed node
//! and everything below it. A transaction that lists or reads the parent
//! itself (`DIRECTORY`, `READ`, `GET_PERMS`) conflicts on any change of it,
//! as in C. At commit a parent whose children alone changed is not stored
//! back ([`Accessed::listing_only`]): its new and removed children are
//! linked into and unlinked from the tree as it is then, so the result is
//! that of the transactions run one after the other in commit order.
//! Concurrent domain creation (the toolstack's transactions all create
//! children of `/local/domain`, `/vm`, `/libxl` and the backend
//! directories) therefore stops retrying: `bench/storm.py` counts it.
//!
//! 5. Siblings: T1 creates `/d/1`, T2 creates `/d/2`; T2 commits, then
//!    T1: both OK, `/d` lists `2` then `1` (`tests/sibling_transactions.rs`,
//!    with the cases that still conflict).
//!
//! The tree does not store a generation in every node (it would cost more
//! than most nodes' names): it tracks one only for the paths some open
//! transaction has read (`tree/txgen.rs`), stamped on every later change, which
//! decides conflicts exactly as per-node generations do. A commit replays
//! the transaction's changes onto the tree removals first (deepest
//! first), then writes (parents first), and then lists re-created
//! children in the order the transaction's copy of their parent has.
//!
//! Accounting is recomputed from what a commit really changes (node counts
//! and memory move between owners only when the global tree changes), so
//! a node created and deleted inside one transaction costs nothing
//! (XSA-421) and two transactions deleting the same nodes can never drive
//! a counter negative (XSA-440).

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::{ConnId, DomId};
use crate::perms::Perms;
use crate::quota::{as_u64, delta, Quota};
use crate::request::{onearg, Reply, Req};
use crate::tree::Hasher;
use crate::tree::{Node, NO_GENERATION};
use crate::watch::Match;

/// A transaction's record of one node it touched.
#[derive(Clone, Debug)]
pub struct Accessed {
    /// Position in first-access order (commit and event order).
    pub seq: u32,
    /// Global generation when first read (`NO_GENERATION` if absent).
    pub generation: u64,
    /// Whether the generation must still match at commit (it was read).
    pub check_gen: bool,
    /// Read only as the parent of a node the transaction creates or
    /// removes (or as the nearest existing ancestor of a missing one): at
    /// commit it must still exist with the same permissions, but another
    /// client's change of its children is no conflict (see the module
    /// comment). A full read later makes it an ordinary read.
    pub weak: bool,
    /// Written or deleted in the transaction.
    pub modified: bool,
    /// Modified only by listing or unlisting children: the commit links
    /// and unlinks those children and leaves this node's value and
    /// permissions as the tree has them then.
    pub listing_only: bool,
    /// Set at a commit of a [`Accessed::listing_only`] record whose
    /// children others changed meanwhile: the transaction's new children
    /// then follow theirs, instead of taking the transaction's order.
    pub others_listed: bool,
    /// The transaction's view (`None`: absent/deleted).
    pub node: Option<Node>,
    /// A watch event to fire at commit.
    pub fire: Option<Match>,
    /// Permissions before the transaction changed them (for watch checks).
    pub old_perms: Option<Perms>,
}

/// An open transaction.
pub struct Transaction {
    /// Connection-local id (never 0).
    pub id: u32,
    /// Accessed nodes by path; [`Accessed::seq`] keeps their order.
    pub accessed: HashMap<String, Accessed, Hasher>,
    /// Set when an operation could not be recorded: commit gives `ENOMEM`
    /// as C's `fail_transaction`.
    pub fail: bool,
    /// Memory charged for the view.
    pub mem: usize,
    /// Restored from a migration stream that could not carry it exactly
    /// (`migrate/tx.rs`): its commit conflicts (`EAGAIN`).
    pub doomed: bool,
}

impl Transaction {
    /// The heap one record takes, as a counting allocator sees it: its
    /// path, its copy's own buffers, and its slot in the map; for a read,
    /// the path again and a slot in the generation table (`tree/txgen.rs`).
    /// Slots count twice: a map is at most half full after growing.
    pub(crate) fn entry_size(path: &str, node: Option<&Node>, read: bool) -> usize {
        let slot = core::mem::size_of::<(String, Accessed)>().saturating_add(1);
        let own = path.len().saturating_add(node.map_or(0, Node::heap_bytes));
        let tracked = if read {
            path.len().saturating_add(crate::tree::txgen::SLOT_BYTES.saturating_mul(2))
        } else {
            0
        };
        own.saturating_add(slot.saturating_mul(2)).saturating_add(tracked)
    }

    /// The records in first-access order.
    pub(crate) fn in_order(&self) -> Vec<(&str, &Accessed)> {
        let mut v: Vec<(&str, &Accessed)> =
            self.accessed.iter().map(|(p, a)| (p.as_str(), a)).collect();
        v.sort_unstable_by_key(|(_, a)| a.seq);
        v
    }
}

/// How a request touches a node, for its transaction's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read: any change by others before the commit is a conflict.
    Read,
    /// Read only as a parent ([`Accessed::weak`]).
    Parent,
    /// Written without being read: never a conflict (last writer wins).
    Write,
}

/// Depth of a path (for commit order).
fn depth(path: &str) -> usize {
    path.bytes().filter(|&c| c == b'/').count()
}

impl Engine {
    pub(crate) fn tx_mut(&mut self, conn: ConnId, id: u32) -> Option<&mut Transaction> {
        self.conns.get_mut(&conn)?.txs.iter_mut().find(|t| t.id == id)
    }

    /// Records a read of `path` in the caller's transaction (if any).
    pub(crate) fn note_read(&mut self, req: &Req, path: &str) -> Result<(), Error> {
        self.note_access(req, path, Access::Read)
    }

    /// Records a read of `path` only as a parent ([`Accessed::weak`]).
    pub(crate) fn note_parent(&mut self, req: &Req, path: &str) -> Result<(), Error> {
        self.note_access(req, path, Access::Parent)
    }

    pub(crate) fn note_access(&mut self, req: &Req, path: &str, how: Access) -> Result<(), Error> {
        let Some(id) = req.tx else {
            return Ok(());
        };
        let privileged = req.who.privileged;
        let limit = self.domain_quotas(req.who.domid).clone();
        let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
        if let Some(a) = tx.accessed.get_mut(path) {
            if how == Access::Read {
                a.weak = false;
            }
            return Ok(());
        }
        let read = how != Access::Write;
        let seq = u32::try_from(tx.accessed.len()).unwrap_or(u32::MAX);
        let count = as_u64(tx.accessed.len().saturating_add(1));
        if !privileged && limit.exceeds(Quota::TransactionNodes, count) {
            tx.fail = true;
            return Err(Error::Quota);
        }
        // The map's next table, and the tracked paths' (a read), when the
        // record fills them: asked of the budget, not the quota (which
        // charges each record its share, slots counted twice).
        let map = crate::budget::map_insert_growth(&tx.accessed);
        let tracked = if read { self.tree.tx_read_growth(path) } else { 0 };
        let tables = map.saturating_add(tracked);
        // The record's real size, asked of the domain's memory quota and
        // of the budget before it is taken: a transaction that would take
        // its domain over the quota fails (`ENOMEM`, as C's
        // `domain_memory_add_chk`) instead of stalling the domain, which
        // could then not even end it.
        let value_len = self.tree.get(path).map_or(0, |n| n.size());
        let cost = Transaction::entry_size(path, None, read).saturating_add(value_len);
        let over_quota = !privileged
            && limit.exceeds(Quota::Memory, self.mem_usage(req).saturating_add(as_u64(cost)));
        if over_quota || !self.heap_allows(privileged, cost.saturating_add(tables)) {
            if let Some(tx) = self.tx_mut(req.conn, id) {
                tx.fail = true;
            }
            return Err(Error::NoMem);
        }
        let snapshot = self.tree.get(path).map(|n| n.to_node());
        // Only reads are compared at commit, so only they are tracked.
        let generation = if read {
            self.tree.tx_read(path, self.generation)
        } else {
            snapshot.as_ref().map_or(NO_GENERATION, |_| self.generation)
        };
        let size = Transaction::entry_size(path, snapshot.as_ref(), read);
        let old_perms = snapshot.as_ref().map(|n| n.perms.clone());
        let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
        tx.accessed.insert(
            String::from(path),
            Accessed {
                seq,
                generation,
                check_gen: read,
                weak: how == Access::Parent,
                modified: false,
                listing_only: false,
                others_listed: false,
                node: snapshot,
                fire: None,
                old_perms,
            },
        );
        tx.mem = tx.mem.saturating_add(size);
        self.domain_or_create(req.who.domid).usage.add(Quota::Memory, delta(0, size));
        Ok(())
    }

    /// The caller's domain's memory usage.
    fn mem_usage(&self, req: &Req) -> u64 {
        self.domain(req.who.domid).map_or(0, |d| d.usage.get(Quota::Memory))
    }

    /// `XS_TRANSACTION_START`.
    pub(crate) fn tx_start(&mut self, req: &Req) -> Result<u32, Error> {
        if req.tx.is_some() {
            return Err(Error::Busy);
        }
        self.check_quota(&req.who, Error::Quota, |d| d.exceeds_with(Quota::Transactions, 1))?;
        let (seed, now) = (self.cfg.hash_seed, self.now_ms);
        let c = self.conns.get_mut(&req.conn).ok_or(Error::NoEnt)?;
        let mut id = c.next_tx;
        while id == 0 || c.txs.iter().any(|t| t.id == id) {
            id = id.wrapping_add(1);
        }
        c.next_tx = id.wrapping_add(1);
        if c.txs.is_empty() {
            c.ta_start_ms = Some(now);
        }
        c.txs.push(Transaction {
            id,
            accessed: HashMap::with_hasher(Hasher::with_seed(seed)),
            fail: false,
            mem: 0,
            doomed: false,
        });
        self.generation = self.generation.wrapping_add(1);
        self.wrl.tx_opened();
        self.domain_or_create(req.who.domid).usage.add(Quota::Transactions, 1);
        Ok(id)
    }

    fn tx_take(&mut self, conn: ConnId, id: u32) -> Option<Transaction> {
        let c = self.conns.get_mut(&conn)?;
        let i = c.txs.iter().position(|t| t.id == id)?;
        let tx = c.txs.remove(i);
        if c.txs.is_empty() {
            c.ta_start_ms = None;
        }
        let domid = c.domid;
        self.wrl.tx_closed();
        if let Some(d) = self.domain_mut(domid) {
            d.usage.add(Quota::Transactions, -1);
            d.usage.add(Quota::Memory, delta(tx.mem, 0));
        }
        for (p, a) in &tx.accessed {
            if a.check_gen {
                self.tree.tx_release(p);
            }
        }
        if self.tree.tx_tracked() != 0 && self.conns.values().all(|c| c.txs.is_empty()) {
            // Nothing can still read these (a connection dropped without
            // ending its transactions would otherwise leave them).
            self.tree.tx_forget_all();
        }
        Some(tx)
    }

    /// Whether a node `tx` read has changed since (commit must fail): any
    /// change of a node it read, and of a node it read only as a parent
    /// ([`Accessed::weak`]) its removal or a change of its permissions.
    fn tx_conflicts(&self, tx: &Transaction) -> bool {
        tx.doomed || self.tx_stale(tx)
    }

    /// Whether a node `tx` read has changed since its first read (for a
    /// node read only as a parent: removed, or its permissions changed).
    pub(crate) fn tx_stale(&self, tx: &Transaction) -> bool {
        tx.accessed.iter().any(|(p, a)| {
            a.check_gen
                && self.tree.tx_generation(p) != Some(a.generation)
                && (!a.weak || self.tree.get(p).map(|n| &**n.perms) != a.old_perms.as_deref())
        })
    }

    /// Marks the records of transaction `id` whose children alone it
    /// changed and whose children others changed meanwhile
    /// ([`Accessed::others_listed`]), while its reads are still tracked.
    fn note_changed_listings(&mut self, conn: ConnId, id: u32) {
        let Some(tx) =
            self.conns.get_mut(&conn).and_then(|c| c.txs.iter_mut().find(|t| t.id == id))
        else {
            return;
        };
        for (p, a) in tx.accessed.iter_mut().filter(|(_, a)| a.listing_only) {
            a.others_listed = self.tree.tx_generation(p) != Some(a.generation);
        }
    }

    /// `XS_TRANSACTION_END`: commit (`true`) or abort.
    pub(crate) fn tx_end(&mut self, req: &Req, commit: bool) -> Result<(), Error> {
        let id = req.tx.ok_or(Error::NoEnt)?;
        // Compare generations while the transaction's reads are tracked.
        let conflict =
            match self.conns.get(&req.conn).and_then(|c| c.txs.iter().find(|t| t.id == id)) {
                Some(tx) => commit && self.tx_conflicts(tx),
                None => return Err(Error::NoEnt),
            };
        if commit && !conflict {
            self.note_changed_listings(req.conn, id);
        }
        let tx = self.tx_take(req.conn, id).ok_or(Error::NoEnt)?;
        if !commit {
            return Ok(());
        }
        if tx.fail {
            return Err(Error::NoMem);
        }
        if conflict {
            self.stats.tx_conflicts = self.stats.tx_conflicts.saturating_add(1);
            return Err(Error::Conflict);
        }
        if !req.who.privileged && !self.tx_nodes_fit(req, &tx) {
            return Err(Error::Quota);
        }
        // Storing copies every written node into the tree while the
        // records still hold theirs: that copy is asked of the budget
        // first, and a commit it does not fit fails `ENOMEM` with the
        // tree unchanged.
        // A node given another permission list also moves the records of
        // its children that shared the old one (`Tree::perms_change_growth`),
        // and a node's children are put in the transaction's order
        // (`Tree::reorder_growth`).
        let stored = tx.accessed.iter().filter(|(_, a)| a.modified).fold(0usize, |sum, (p, a)| {
            let node = a.node.as_ref().map_or(0, |n| {
                let moved =
                    if a.listing_only { 0 } else { self.tree.perms_change_growth(p, &n.perms) };
                let reordered = crate::tree::Tree::reorder_growth(n.children());
                p.len()
                    .saturating_add(n.heap_bytes())
                    .saturating_add(moved)
                    .saturating_add(reordered)
            });
            sum.saturating_add(node).saturating_add(crate::ops::NODE_GROWTH_BYTES)
        });
        if !self.heap_allows(req.who.privileged, stored) {
            return Err(Error::NoMem);
        }
        // Removals deepest first, then writes parents first, so every
        // node is stored under an existing parent and removed childless.
        // A node whose children alone changed is not stored: storing and
        // removing its children lists and unlists them in the tree as it
        // is now, whatever others changed there meanwhile. Its children
        // keep the transaction's order only if nobody else changed them
        // (otherwise the transaction's new ones follow the others', as if
        // it had committed last, which it did).
        let mut writes: Vec<(&str, &Node)> = Vec::new();
        let mut listings: Vec<(&str, &Node)> = Vec::new();
        let mut removes: Vec<&str> = Vec::new();
        let ordered = tx.in_order();
        for &(p, a) in ordered.iter().filter(|(_, a)| a.modified) {
            match a.node.as_ref() {
                Some(n) if a.listing_only => {
                    if !a.others_listed {
                        listings.push((p, n));
                    }
                }
                Some(n) => writes.push((p, n)),
                None => removes.push(p),
            }
        }
        removes.sort_by_key(|p| core::cmp::Reverse(depth(p)));
        writes.sort_by_key(|(p, _)| depth(p));
        for p in removes {
            self.tree_remove(p);
        }
        for (p, n) in &writes {
            self.tree_store(p, n);
        }
        // A child deleted and re-created in the transaction is listed
        // last, as the transaction's copy of its parent lists it.
        for (p, n) in writes.iter().chain(&listings) {
            if n.view().has_children() {
                self.tree.reorder_children(p, n.children());
            }
        }
        for &(p, a) in &ordered {
            if let Some(m) = a.fire {
                let perms =
                    self.tree.get(p).map(|n| n.perms.clone()).or_else(|| a.old_perms.clone());
                self.fire_watches(req.serial, p, perms.as_deref(), m, a.old_perms.as_deref());
            }
        }
        Ok(())
    }

    /// Whether committing `tx` keeps every unprivileged owner's node count
    /// under quota (C `acc_fix_domains` with `chk_quota`).
    fn tx_nodes_fit(&mut self, req: &Req, tx: &Transaction) -> bool {
        let mut delta: HashMap<u32, i64> = HashMap::new();
        let mut created = false;
        for (p, a) in tx.accessed.iter().filter(|(_, a)| a.modified) {
            let old = self.tree.get(p).map(|n| n.owner());
            let new = a.node.as_ref().map(Node::owner);
            if old != new {
                if let Some(o) = old {
                    let d = delta.entry(o).or_default();
                    *d = d.saturating_sub(1);
                }
                if let Some(n) = new {
                    let d = delta.entry(n).or_default();
                    *d = d.saturating_add(1);
                    created = true;
                }
            }
        }
        if !created {
            return true;
        }
        let _ = req;
        for (dom, dlt) in delta {
            let Ok(dom) = u16::try_from(dom) else { continue };
            let Ok(add) = u64::try_from(dlt) else { continue };
            if add == 0 || self.is_privileged(DomId(dom)) {
                continue;
            }
            if self.domain_exceeds_with(DomId(dom), Quota::Nodes, add) {
                return false;
            }
        }
        true
    }

    /// Drops every transaction of `conn` (idempotent; XSA-484).
    pub(crate) fn delete_all_transactions(&mut self, conn: ConnId) {
        let ids: Vec<u32> = match self.conns.get(&conn) {
            Some(c) => c.txs.iter().map(|t| t.id).collect(),
            None => return,
        };
        for id in ids {
            self.tx_take(conn, id);
        }
    }
}

/// `XS_TRANSACTION_START`: replies with the new transaction's id.
pub fn do_tx_start(
    e: &mut Engine,
    req: &Req,
    _: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let id = e.tx_start(req)?;
    Ok(Reply::number(id))
}

/// `XS_TRANSACTION_END T\0` (commit) or `F\0` (abort).
pub fn do_tx_end(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let commit = match onearg(payload) {
        Ok(b"T") => true,
        Ok(b"F") => false,
        _ => return Err(Error::Inval),
    };
    e.tx_end(req, commit)?;
    Ok(Reply::ok())
}
