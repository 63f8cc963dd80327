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
//! Creating a child reads its parent (to add the child name), so two
//! transactions adding children to the same directory conflict, as in C.
//!
//! Accounting is recomputed from what a commit really changes (node counts
//! and memory move between owners only when the global tree changes), so
//! a node created and deleted inside one transaction costs nothing
//! (XSA-421) and two transactions deleting the same nodes can never drive
//! a counter negative (XSA-440).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::dispatch::Req;
use crate::engine::{ConnId, DomId, Engine};
use crate::error::Error;
use crate::node::{Node, NO_GENERATION};
use crate::perms::Perm;
use crate::quota::Quota;
use crate::tree::Hasher;
use crate::watch::Match;

/// A transaction's record of one node it touched.
#[derive(Clone, Debug)]
pub struct Accessed {
    /// Global generation when first read (`NO_GENERATION` if absent).
    pub generation: u64,
    /// Whether the generation must still match at commit (it was read).
    pub check_gen: bool,
    /// Written or deleted in the transaction.
    pub modified: bool,
    /// The transaction's view (`None`: absent/deleted).
    pub node: Option<Node>,
    /// A watch event to fire at commit.
    pub fire: Option<Match>,
    /// Permissions before the transaction changed them (for watch checks).
    pub old_perms: Option<Box<[Perm]>>,
}

/// An open transaction.
pub struct Transaction {
    /// Connection-local id (never 0).
    pub id: u32,
    /// Accessed nodes by path.
    pub accessed: HashMap<String, Accessed, Hasher>,
    /// Paths in first-access order (commit and event order).
    pub order: Vec<String>,
    /// Set when an operation could not be recorded: commit gives `ENOMEM`
    /// as C's `fail_transaction`.
    pub fail: bool,
    /// Memory charged for the view.
    pub mem: usize,
}

impl Transaction {
    fn entry_size(path: &str, node: Option<&Node>) -> usize {
        path.len().saturating_add(node.map_or(0, Node::size))
    }
}

impl Engine {
    fn tx_mut(&mut self, conn: ConnId, id: u32) -> Option<&mut Transaction> {
        self.conns.get_mut(&conn)?.txs.iter_mut().find(|t| t.id == id)
    }

    /// The caller's current view of `path`.
    pub(crate) fn peek(&self, req: &Req, path: &str) -> Option<&Node> {
        if let Some(id) = req.tx {
            let tx = self.conns.get(&req.conn).and_then(|c| c.txs.iter().find(|t| t.id == id));
            if let Some(a) = tx.and_then(|t| t.accessed.get(path)) {
                return a.node.as_ref();
            }
        }
        self.tree.get(path)
    }

    /// Records a read of `path` in the caller's transaction (if any).
    pub(crate) fn note_read(&mut self, req: &Req, path: &str) -> Result<(), Error> {
        self.note_access(req, path, true)
    }

    fn note_access(&mut self, req: &Req, path: &str, read: bool) -> Result<(), Error> {
        let Some(id) = req.tx else {
            return Ok(());
        };
        let privileged = req.who.privileged;
        let limit = self.domain_mut(req.who.domid).quotas.clone();
        let snapshot = self.tree.get(path).cloned();
        let Some(tx) = self.tx_mut(req.conn, id) else {
            return Err(Error::NoEnt);
        };
        if tx.accessed.contains_key(path) {
            return Ok(());
        }
        let count = tx.order.len().saturating_add(1) as u64;
        if !privileged && limit.exceeds(Quota::TransactionNodes, count) {
            tx.fail = true;
            return Err(Error::Quota);
        }
        let generation = snapshot.as_ref().map_or(NO_GENERATION, |n| n.generation);
        let size = Transaction::entry_size(path, snapshot.as_ref());
        let old_perms = snapshot.as_ref().map(|n| n.perms.clone());
        tx.accessed.insert(
            String::from(path),
            Accessed {
                generation,
                check_gen: read,
                modified: false,
                node: snapshot,
                fire: None,
                old_perms,
            },
        );
        tx.order.push(String::from(path));
        tx.mem = tx.mem.saturating_add(size);
        self.domain_mut(req.who.domid).usage.add(Quota::Memory, size as i64);
        Ok(())
    }

    /// Writes `node` at `path` through the caller's view. Outside a
    /// transaction this changes the tree, its generation and accounting.
    pub(crate) fn put_node(&mut self, req: &Req, path: &str, node: Node) -> Result<(), Error> {
        if !req.who.privileged {
            let limit = self.domain_mut(req.who.domid).quotas.clone();
            if limit.exceeds(Quota::NodeSize, node.size() as u64) {
                return Err(Error::Quota);
            }
        }
        match req.tx {
            None => {
                self.check_memory(req, path, &node)?;
                self.tree_put(path, node);
                Ok(())
            }
            Some(id) => {
                self.note_access(req, path, false)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                let delta = node.size() as i64 - a.node.as_ref().map_or(0, |n| n.size() as i64);
                a.node = Some(node);
                a.modified = true;
                tx.mem = (tx.mem as i64).saturating_add(delta).max(0) as usize;
                self.domain_mut(req.who.domid).usage.add(Quota::Memory, delta);
                Ok(())
            }
        }
    }

    /// An unprivileged write must keep the owner's memory under quota
    /// (C reports `EIO` for this).
    fn check_memory(&mut self, req: &Req, path: &str, node: &Node) -> Result<(), Error> {
        if req.who.privileged {
            return Ok(());
        }
        let old = self.tree.get(path).map_or(0, |n| n.size() as u64);
        let new = node.size() as u64;
        let d = self.domain_mut(req.who.domid);
        let after = d.usage.get(Quota::Memory).saturating_add(new.saturating_sub(old));
        if new > old && d.quotas.exceeds(Quota::Memory, after) {
            return Err(Error::Io);
        }
        Ok(())
    }

    /// Stores `node` in the global tree with a fresh generation, moving
    /// node-count and memory accounting between owners.
    pub(crate) fn tree_put(&mut self, path: &str, mut node: Node) {
        self.generation = self.generation.wrapping_add(1);
        node.generation = self.generation;
        let new_owner = DomId(node.owner());
        let new_size = (node.size() + path.len()) as i64;
        let old = self.tree.insert(path, node);
        match old {
            Some(o) => {
                let old_owner = DomId(o.owner());
                let d = self.domain_mut(old_owner);
                d.usage.add(Quota::Memory, -((o.size() + path.len()) as i64));
                if old_owner != new_owner {
                    d.usage.add(Quota::Nodes, -1);
                    self.domain_mut(new_owner).usage.add(Quota::Nodes, 1);
                }
            }
            None => self.domain_mut(new_owner).usage.add(Quota::Nodes, 1),
        }
        self.domain_mut(new_owner).usage.add(Quota::Memory, new_size);
    }

    /// Removes `path` from the global tree with its accounting.
    pub(crate) fn tree_remove(&mut self, path: &str) -> Option<Node> {
        let o = self.tree.remove(path)?;
        let d = self.domain_mut(DomId(o.owner()));
        d.usage.add(Quota::Nodes, -1);
        d.usage.add(Quota::Memory, -((o.size() + path.len()) as i64));
        self.generation = self.generation.wrapping_add(1);
        Some(o)
    }

    /// Deletes `path` through the caller's view.
    pub(crate) fn drop_node(&mut self, req: &Req, path: &str) -> Result<(), Error> {
        match req.tx {
            None => {
                self.tree_remove(path);
                Ok(())
            }
            Some(id) => {
                self.note_access(req, path, true)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                a.node = None;
                a.modified = true;
                Ok(())
            }
        }
    }

    /// Queues a watch event for commit time (inside a transaction) or
    /// fires it now.
    pub(crate) fn notify(
        &mut self,
        req: &Req,
        path: &str,
        perms: Option<&[Perm]>,
        m: Match,
        old: Option<&[Perm]>,
    ) {
        match req.tx {
            None => self.fire_watches(req.serial, path, perms, m, old),
            Some(id) => {
                let Some(tx) = self.tx_mut(req.conn, id) else {
                    return;
                };
                match tx.accessed.get_mut(path) {
                    Some(a) => {
                        a.fire = match (a.fire, m) {
                            (_, Match::Subtree) => Some(Match::Subtree),
                            (Some(f), _) => Some(f),
                            (None, m) => Some(m),
                        }
                    }
                    None => tx.fail = true,
                }
            }
        }
    }

    /// `XS_TRANSACTION_START`.
    pub(crate) fn tx_start(&mut self, req: &Req) -> Result<u32, Error> {
        if req.tx.is_some() {
            return Err(Error::Busy);
        }
        if !req.who.privileged {
            let d = self.domain_mut(req.who.domid);
            if d.quotas
                .exceeds(Quota::Transactions, d.usage.get(Quota::Transactions).saturating_add(1))
            {
                return Err(Error::Quota);
            }
        }
        let seed = self.cfg.hash_seed;
        let c = self.conns.get_mut(&req.conn).ok_or(Error::NoEnt)?;
        let mut id = c.next_tx;
        while id == 0 || c.txs.iter().any(|t| t.id == id) {
            id = id.wrapping_add(1);
        }
        c.next_tx = id.wrapping_add(1);
        c.txs.push(Transaction {
            id,
            accessed: HashMap::with_hasher(Hasher::with_seed(seed)),
            order: Vec::new(),
            fail: false,
            mem: 0,
        });
        self.generation = self.generation.wrapping_add(1);
        self.domain_mut(req.who.domid).usage.add(Quota::Transactions, 1);
        Ok(id)
    }

    fn tx_take(&mut self, conn: ConnId, id: u32) -> Option<Transaction> {
        let c = self.conns.get_mut(&conn)?;
        let i = c.txs.iter().position(|t| t.id == id)?;
        let tx = c.txs.remove(i);
        let domid = c.domid;
        let d = self.domain_mut(domid);
        d.usage.add(Quota::Transactions, -1);
        d.usage.add(Quota::Memory, -(tx.mem as i64));
        Some(tx)
    }

    /// `XS_TRANSACTION_END`: commit (`true`) or abort.
    pub(crate) fn tx_end(&mut self, req: &Req, commit: bool) -> Result<(), Error> {
        let id = req.tx.ok_or(Error::NoEnt)?;
        let tx = self.tx_take(req.conn, id).ok_or(Error::NoEnt)?;
        if !commit {
            return Ok(());
        }
        if tx.fail {
            return Err(Error::NoMem);
        }
        for p in &tx.order {
            let Some(a) = tx.accessed.get(p) else { continue };
            if a.check_gen
                && self.tree.get(p).map_or(NO_GENERATION, |n| n.generation) != a.generation
            {
                self.stats.tx_conflicts = self.stats.tx_conflicts.saturating_add(1);
                return Err(Error::Conflict);
            }
        }
        if !req.who.privileged && !self.tx_nodes_fit(req, &tx) {
            return Err(Error::Quota);
        }
        let mut tx = tx;
        for p in &tx.order {
            let Some(a) = tx.accessed.get_mut(p) else { continue };
            if !a.modified {
                continue;
            }
            match a.node.take() {
                Some(n) => self.tree_put(p, n),
                None => {
                    self.tree_remove(p);
                }
            }
        }
        for p in &tx.order {
            let Some(a) = tx.accessed.get(p) else { continue };
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
        let mut delta: HashMap<u16, i64> = HashMap::new();
        let mut created = false;
        for p in &tx.order {
            let Some(a) = tx.accessed.get(p) else { continue };
            if !a.modified {
                continue;
            }
            let old = self.tree.get(p).map(Node::owner);
            let new = a.node.as_ref().map(Node::owner);
            if old != new {
                if let Some(o) = old {
                    *delta.entry(o).or_default() -= 1;
                }
                if let Some(n) = new {
                    *delta.entry(n).or_default() += 1;
                    created = true;
                }
            }
        }
        if !created {
            return true;
        }
        let _ = req;
        for (dom, dlt) in delta {
            if dlt <= 0 || self.is_privileged(DomId(dom)) {
                continue;
            }
            let d = self.domain_mut(DomId(dom));
            let after = (d.usage.get(Quota::Nodes) as i64).saturating_add(dlt);
            if d.quotas.exceeds(Quota::Nodes, after.max(0) as u64) {
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
