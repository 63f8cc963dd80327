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
//! The tree does not store a generation in every node (it would cost more
//! than most nodes' names): it tracks one only for the paths some open
//! transaction has read (`txgen.rs`), stamped on every later change, which
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

use crate::dispatch::{onearg, Reply, Req};
use crate::engine::{ConnId, DomId, Engine, Platform};
use crate::error::Error;
use crate::node::{Node, NodeRef, Value, NO_GENERATION};
use crate::path;
use crate::perms::{Perm, Perms};
use crate::quota::Quota;
use crate::tree::{Hasher, Stat, TreeError};
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
    /// Written or deleted in the transaction.
    pub modified: bool,
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
}

impl Transaction {
    /// The heap one record takes, as a counting allocator sees it: its
    /// path, its copy's own buffers, and its slot in the map; for a read,
    /// the path again and a slot in the generation table (`txgen.rs`).
    /// Slots count twice: a map is at most half full after growing.
    fn entry_size(path: &str, node: Option<&Node>, read: bool) -> usize {
        let slot = core::mem::size_of::<(String, Accessed)>().saturating_add(1);
        let own = path.len().saturating_add(node.map_or(0, Node::heap_bytes));
        let tracked = if read {
            path.len().saturating_add(crate::txgen::SLOT_BYTES.saturating_mul(2))
        } else {
            0
        };
        own.saturating_add(slot.saturating_mul(2)).saturating_add(tracked)
    }

    /// The records in first-access order.
    fn in_order(&self) -> Vec<(&str, &Accessed)> {
        let mut v: Vec<(&str, &Accessed)> =
            self.accessed.iter().map(|(p, a)| (p.as_str(), a)).collect();
        v.sort_unstable_by_key(|(_, a)| a.seq);
        v
    }
}

/// A change [`Engine::update_node`] makes to a node.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change<'a> {
    /// Replace the value.
    Value(&'a [u8]),
    /// List a new child (created next by `put_node`).
    AddChild(&'a str),
    /// Unlist a child (removed before by `drop_node`).
    RemoveChild(&'a str),
}

impl Change<'_> {
    /// The node's size once changed.
    fn size_after(self, n: NodeRef<'_>) -> usize {
        match self {
            Change::Value(v) => n.size().saturating_sub(n.value.len()).saturating_add(v.len()),
            Change::AddChild(name) => n.size().saturating_add(name.len()).saturating_add(1),
            Change::RemoveChild(name) => n.size().saturating_sub(name.len().saturating_add(1)),
        }
    }

    /// Applies the change to a transaction's copy.
    fn apply(self, n: &mut Node) {
        match self {
            Change::Value(v) => n.value = Value::from_slice(v),
            Change::AddChild(name) => n.add_child(name),
            Change::RemoveChild(name) => {
                n.remove_child(name);
            }
        }
    }
}

/// Depth of a path (for commit order).
fn depth(path: &str) -> usize {
    path.bytes().filter(|&c| c == b'/').count()
}

impl Engine {
    fn tx_mut(&mut self, conn: ConnId, id: u32) -> Option<&mut Transaction> {
        self.conns.get_mut(&conn)?.txs.iter_mut().find(|t| t.id == id)
    }

    /// The caller's current view of `path`.
    pub(crate) fn peek(&self, req: &Req, path: &str) -> Option<NodeRef<'_>> {
        if let Some(id) = req.tx {
            let tx = self.conns.get(&req.conn).and_then(|c| c.txs.iter().find(|t| t.id == id));
            if let Some(a) = tx.and_then(|t| t.accessed.get(path)) {
                return a.node.as_ref().map(Node::view);
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
        let limit = self.domain_quotas(req.who.domid).clone();
        let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
        if tx.accessed.contains_key(path) {
            return Ok(());
        }
        let seq = u32::try_from(tx.accessed.len()).unwrap_or(u32::MAX);
        let count = as_u64(tx.accessed.len().saturating_add(1));
        if !privileged && limit.exceeds(Quota::TransactionNodes, count) {
            tx.fail = true;
            return Err(Error::Quota);
        }
        // The record's real size, asked of the domain's memory quota and
        // of the budget before it is taken: a transaction that would take
        // its domain over the quota fails (`ENOMEM`, as C's
        // `domain_memory_add_chk`) instead of stalling the domain, which
        // could then not even end it.
        let value_len = self.tree.get(path).map_or(0, |n| n.size());
        let cost = Transaction::entry_size(path, None, read).saturating_add(value_len);
        let over_quota = !privileged
            && limit.exceeds(Quota::Memory, self.mem_usage(req).saturating_add(as_u64(cost)));
        if over_quota || !self.heap_allows(privileged, cost) {
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
                modified: false,
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

    /// Writes `node` at `path` through the caller's view. Outside a
    /// transaction this changes the tree, its generation and accounting.
    pub(crate) fn put_node(&mut self, req: &Req, path: &str, node: Node) -> Result<(), Error> {
        if !req.who.privileged
            && self.domain_quotas(req.who.domid).exceeds(Quota::NodeSize, as_u64(node.size()))
        {
            return Err(Error::Quota);
        }
        match req.tx {
            None => {
                self.tree_put(path, node);
                Ok(())
            }
            Some(id) => {
                self.note_access(req, path, false)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                let old = a.node.as_ref().map_or(0, Node::size);
                let new = node.size();
                a.node = Some(node);
                a.modified = true;
                tx.mem = tx.mem.saturating_sub(old).saturating_add(new);
                self.domain_or_create(req.who.domid).usage.add(Quota::Memory, delta(old, new));
                Ok(())
            }
        }
    }

    /// Changes the node at `path` in place through the caller's view (its
    /// value or children list; never its owner), with the checks and
    /// accounting of a write. As in C 4.22 (`domain_memory_add_nochk` in
    /// `write_node`), node memory is charged but never refused: a domain
    /// over its memory quota is stalled by flow control instead. The
    /// `node-size` quota is checked before anything changes.
    pub(crate) fn update_node(
        &mut self,
        req: &Req,
        path: &str,
        change: Change<'_>,
    ) -> Result<(), Error> {
        let node = self.peek(req, path).ok_or(Error::NoEnt)?;
        let (old, new, owner) = (node.size(), change.size_after(node), node.owner_dom());
        self.check_quota(&req.who, Error::Quota, |d| {
            d.quotas.exceeds(Quota::NodeSize, as_u64(new))
        })?;
        match req.tx {
            None => {
                self.generation = self.generation.wrapping_add(1);
                let generation = self.generation;
                match change {
                    Change::Value(v) => {
                        self.tree.set_value(path, v, generation).map_err(tree_error)?;
                        self.domain_or_create(owner).usage.add(Quota::Memory, delta(old, new));
                    }
                    // Listing and unlisting a child is accounted when the
                    // child is stored or removed (`tree_put`, `tree_remove`).
                    Change::AddChild(_) | Change::RemoveChild(_) => {
                        self.tree.touch(path, generation);
                    }
                }
                Ok(())
            }
            Some(id) => {
                self.note_access(req, path, false)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                let node = a.node.as_mut().ok_or(Error::NoEnt)?;
                change.apply(node);
                a.modified = true;
                tx.mem = tx.mem.saturating_sub(old).saturating_add(new);
                self.domain_or_create(req.who.domid).usage.add(Quota::Memory, delta(old, new));
                Ok(())
            }
        }
    }

    /// Moves node-count and memory accounting for a change of the node at
    /// `path` from (`old` owner, size) to (`new` owner, size); `None` is an
    /// absent node.
    fn account(&mut self, path: &str, old: Option<Stat>, new: Option<Stat>) {
        let plen = path.len();
        if let Some(Stat { owner, size }) = old {
            if let Some(d) = self.domain_mut(owner) {
                d.usage.add(Quota::Memory, delta(size.saturating_add(plen), 0));
                if new.map(|n| n.owner) != Some(owner) {
                    d.usage.add(Quota::Nodes, -1);
                }
            }
        }
        if let Some(Stat { owner, size }) = new {
            let d = self.domain_or_create(owner);
            d.usage.add(Quota::Memory, delta(0, size.saturating_add(plen)));
            if old.map(|o| o.owner) != Some(owner) {
                d.usage.add(Quota::Nodes, 1);
            }
        }
    }

    /// Charges (`grow`) or refunds the owner of the parent of `path` for
    /// listing the node's name in its children.
    fn account_listing(&mut self, path: &str, parent_owner: Option<DomId>, grow: bool) {
        let Some(owner) = parent_owner else {
            return;
        };
        let bytes = path::basename(path).len().saturating_add(1);
        if grow {
            self.domain_or_create(owner).usage.add(Quota::Memory, delta(0, bytes));
        } else if let Some(d) = self.domain_mut(owner) {
            d.usage.add(Quota::Memory, delta(bytes, 0));
        }
    }

    /// Stores `node` in the global tree with a fresh generation, moving
    /// node-count and memory accounting between owners.
    pub(crate) fn tree_put(&mut self, path: &str, node: Node) {
        self.tree_store(path, &node);
    }

    fn tree_store(&mut self, path: &str, node: &Node) {
        self.generation = self.generation.wrapping_add(1);
        match self.tree.insert(path, node, self.generation) {
            Ok(put) => {
                self.account(path, put.old, Some(put.new));
                self.account_listing(path, put.linked, true);
            }
            // Callers store nodes under existing parents; a failure here
            // is a bug or memory exhaustion, and the tree is unchanged.
            Err(e) => log::error!("cannot store node {path}: {e:?}"),
        }
    }

    /// Replaces the permissions of the node at `path` in the global tree
    /// without a new generation (domain clean-up, which transactions do
    /// not conflict on).
    pub(crate) fn tree_set_perms(&mut self, path: &str, perms: Perms) {
        if let Ok((old, new)) = self.tree.set_perms(path, &perms) {
            self.account(path, Some(old), Some(new));
        }
    }

    /// Removes `path` (and anything still below it, children first) from
    /// the global tree with its accounting; returns whether it existed.
    pub(crate) fn tree_remove(&mut self, path: &str) -> bool {
        if !self.tree.contains(path) {
            return false;
        }
        self.drain_subtree(path, |e, p| e.tree_remove_leaf(p));
        true
    }

    /// Visits `root` and everything below it in the global tree children
    /// first (post-order, children in creation order, as C's
    /// `walk_node_tree` exit order), calling `leave` on each node, which
    /// must remove it. Iterative with one path buffer: however deep or
    /// wide the subtree, the walk holds one path (XSA-418; a deep chain's
    /// paths listed one by one would take its depth squared in bytes).
    pub(crate) fn drain_subtree(&mut self, root: &str, mut leave: impl FnMut(&mut Engine, &str)) {
        let mut cur = String::from(root);
        loop {
            // Down to the first leaf below `cur`.
            while let Some(name) = self.tree.get(&cur).and_then(|n| n.child_names().next()) {
                if cur != "/" {
                    cur.push('/');
                }
                cur.push_str(name);
            }
            leave(self, &cur);
            // A node `leave` could not remove would be found again.
            if self.tree.contains(&cur) || cur.len() <= root.len() {
                return;
            }
            let up = path::parent(&cur).len();
            cur.truncate(up);
        }
    }

    pub(crate) fn tree_remove_leaf(&mut self, path: &str) {
        self.generation = self.generation.wrapping_add(1);
        if let Ok(r) = self.tree.remove(path, self.generation) {
            self.account(path, Some(r.old), None);
            self.account_listing(path, r.unlinked, false);
        }
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
        self.check_quota(&req.who, Error::Quota, |d| d.exceeds_with(Quota::Transactions, 1))?;
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
            fail: false,
            mem: 0,
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

    /// Whether a node `tx` read has changed since (commit must fail).
    fn tx_conflicts(&self, tx: &Transaction) -> bool {
        tx.accessed
            .iter()
            .any(|(p, a)| a.check_gen && self.tree.tx_generation(p) != Some(a.generation))
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
        // Removals deepest first, then writes parents first, so every
        // node is stored under an existing parent and removed childless.
        let mut writes: Vec<(&str, &Node)> = Vec::new();
        let mut removes: Vec<&str> = Vec::new();
        let ordered = tx.in_order();
        for &(p, a) in ordered.iter().filter(|(_, a)| a.modified) {
            match a.node.as_ref() {
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
        for (p, n) in &writes {
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

/// The error a request gets when the tree refuses a change.
fn tree_error(e: TreeError) -> Error {
    match e {
        TreeError::NotFound | TreeError::NoParent => Error::NoEnt,
        TreeError::HasChildren => Error::Inval,
        TreeError::TooBig => Error::TooBig,
        TreeError::Full => Error::NoMem,
    }
}

/// A byte count as a quota value.
pub(crate) fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The signed change from `old` to `new` bytes, for usage counters.
pub(crate) fn delta(old: usize, new: usize) -> i64 {
    let d = |a: usize, b: usize| i64::try_from(a.saturating_sub(b)).unwrap_or(i64::MAX);
    d(new, old).saturating_sub(d(old, new))
}
