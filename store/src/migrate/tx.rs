//! Open transactions in a migration stream: each one as a
//! `TRANSACTION_DATA` record and a `NODE_DATA` record per node it
//! touched, in first-access order (`access` read and/or written, the
//! transaction's value and permissions; no permissions for a node absent
//! from its view), and back.
//!
//! The stream holds less than a transaction: not the generation each read
//! recorded, nor the watch event each record fires at commit, nor the
//! view's children lists, nor whether a node absent from the view was
//! deleted or only read while absent. The restore derives them from the
//! committed tree and the transaction's other records
//! ([`Engine::restore_tx`]):
//!
//! * a node the transaction read is tracked again (`tree/txgen.rs`) at
//!   the restored tree's state, so any change after the update makes the
//!   commit conflict; a node written without a read is not;
//! * a node absent from the view (no permissions) was deleted if the tree
//!   has it, and read while absent otherwise; either way it was read;
//! * a view node's children are the tree's, less those absent from the
//!   view, then those the transaction created (its present records the
//!   tree lacks), in first-access order;
//! * a deleted node fires `Exact` if its parent was deleted too, else
//!   `Subtree` (the top of an `RM`); a written node that was also read
//!   fires `Subtree` unless only its children changed (same value and
//!   permissions as the tree's); other records fire nothing;
//! * the memory charged is what `note_access` and the changes would have
//!   charged from the tree's node to the view's.
//!
//! So a transaction is written as it is ([`Engine::tx_carryable`]) only
//! when none of its reads has gone stale (then the derivations start
//! from the tree it read) and every derivation gives back exactly what it
//! holds; then its commit after the update conflicts exactly when it
//! would have without it, and changes the tree and fires the events it
//! would have. The others (a stale read, a node created then deleted, a
//! child deleted and re-created, children created in another order than
//! first read, an `ENOMEM`-failed one, …) make an unforced update wait,
//! as all of them do in C; a forced one writes them *doomed*: the
//! transaction record and one read of a node the tree does not have
//! ([`DOOM_MARK`]), which the restore finds changed since, so the
//! transaction exists with its id and answers requests (from the tree
//! as it is) but its commit answers `EAGAIN`, which every client must
//! retry. C drops such transactions, leaving their ids unknown.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use hashbrown::HashMap;

use super::{node_bytes, perm_from_stream, perm_to_stream, RestoreError};
use crate::budget::REQUEST_HEADROOM;
use crate::engine::Engine;
use crate::ids::ConnId;
use crate::path;
use crate::perms::{Perm, Perms};
use crate::quota::{delta, Quota};
use crate::stream::{
    NodeData, NodePerm, NodeTx, PermAccess, Record, TransactionData, NODE_ACCESS_READ,
    NODE_ACCESS_WRITTEN,
};
use crate::transaction::{Accessed, Transaction};
use crate::tree::{Hasher, Node, Tree, Value, NO_GENERATION};
use crate::watch::Match;

/// The node a doomed transaction is written as having read: one the tree
/// does not have (a number is appended until it does not).
pub(crate) const DOOM_MARK: &str = "/xenstored-rs-doomed-transaction";

/// A transaction's records by path.
type Records = HashMap<String, Accessed, Hasher>;

/// The present records of nodes the tree does not have, as (parent,
/// first access, name), sorted: what the view's children lists gained.
fn created<'a>(tree: &Tree, acc: &'a Records) -> Vec<(&'a str, u32, &'a str)> {
    let mut v: Vec<(&str, u32, &str)> = acc
        .iter()
        .filter(|(p, a)| a.node.is_some() && p.as_str() != "/" && !tree.contains(p))
        .map(|(p, a)| (path::parent(p), a.seq, path::basename(p)))
        .collect();
    v.sort_unstable();
    v
}

/// The children of view node `p` as the stream gives them back (module
/// documentation), as a `name\0…` buffer.
fn view_children(tree: &Tree, acc: &Records, created: &[(&str, u32, &str)], p: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(n) = tree.get(p) {
        for name in n.child_names() {
            let gone = acc.get(&path::child(p, name)).is_some_and(|a| a.node.is_none());
            if !gone {
                out.extend_from_slice(name.as_bytes());
                out.push(0);
            }
        }
    }
    let from = created.partition_point(|&(q, _, _)| q < p);
    for &(_, _, name) in created.iter().skip(from).take_while(|&&(q, _, _)| q == p) {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
    }
    out
}

/// The event record `a` of `p` fires at commit, as derived from what the
/// stream holds (its view node with its children).
fn derived_fire(tree: &Tree, acc: &Records, p: &str, a: &Accessed) -> Option<Match> {
    match &a.node {
        None if a.modified => {
            let parent_gone =
                p != "/" && acc.get(path::parent(p)).is_some_and(|q| q.node.is_none());
            Some(if parent_gone { Match::Exact } else { Match::Subtree })
        }
        None => None,
        Some(_) if !a.modified || !a.check_gen => None,
        // Created: the node a write named fires; the first missing node
        // on the way to it, also read (absent), does not, and has the
        // next one created below it.
        Some(n) if !tree.contains(p) => n.children().is_empty().then_some(Match::Subtree),
        Some(n) => {
            let only_children = tree.get(p).is_some_and(|c| {
                let mut kids = Vec::new();
                c.write_children(&mut kids);
                c.value == n.value.as_slice() && **c.perms == *n.perms && kids != n.children()
            });
            (!only_children).then_some(Match::Subtree)
        }
    }
}

/// The memory record `a` of `p` is charged: its entry as first taken
/// from the tree's node, and the change from that node to the view's.
fn derived_mem(tree: &Tree, p: &str, a: &Accessed) -> usize {
    let snapshot = tree.get(p).map(|c| c.to_node());
    let entry = Transaction::entry_size(p, snapshot.as_ref(), a.check_gen);
    match (&a.node, a.modified) {
        (Some(n), true) => {
            entry.saturating_add(n.size()).saturating_sub(snapshot.as_ref().map_or(0, Node::size))
        }
        _ => entry,
    }
}

impl Engine {
    /// Whether `tx` can be written to a migration stream and restored
    /// exactly (module documentation): a live update need not wait for
    /// it.
    pub(crate) fn tx_carryable(&self, tx: &Transaction) -> bool {
        if tx.fail || tx.doomed || self.tx_stale(tx) {
            return false;
        }
        let created = created(&self.tree, &tx.accessed);
        let mut mem = 0usize;
        for (p, a) in &tx.accessed {
            if p.starts_with('@') || (!a.check_gen && !a.modified) {
                return false;
            }
            let committed = self.tree.get(p);
            let exact = match &a.node {
                // Written as deleted: deleted if the tree has it.
                None => a.check_gen && a.modified == committed.is_some(),
                // Read only as a parent: others may have changed its
                // children (and its value) since. It comes back as an
                // ordinary read of the tree's node with the transaction's
                // own children changes, which is what its commit would
                // make of it, provided its value is still the tree's.
                Some(n) if a.weak || a.listing_only => {
                    committed.is_some_and(|c| c.value == n.value.as_slice())
                }
                Some(n) => view_children(&self.tree, &tx.accessed, &created, p) == n.children(),
            };
            if !exact
                || a.old_perms.as_deref() != committed.map(|c| &**c.perms)
                || a.fire != derived_fire(&self.tree, &tx.accessed, p, a)
            {
                return false;
            }
            mem = mem.saturating_add(derived_mem(&self.tree, p, a));
        }
        mem == tx.mem
    }

    /// Hands `tx` of `conn` to `f` as stream records: carried as it is if
    /// it can be ([`Engine::tx_carryable`]), doomed otherwise.
    pub(super) fn dump_tx<E>(
        &self,
        conn: ConnId,
        tx: &Transaction,
        f: &mut dyn FnMut(Record) -> Result<(), E>,
    ) -> Result<(), E> {
        f(Record::Transaction(TransactionData { conn_id: conn.0, tx_id: tx.id }))?;
        let on = |access: u16| Some(NodeTx { conn_id: conn.0, tx_id: tx.id, access });
        if !self.tx_carryable(tx) {
            let owner = self.cfg.priv_domid.0;
            let perms =
                alloc::vec![NodePerm { access: PermAccess::None, ignore: false, domid: owner }];
            return f(Record::Node(NodeData {
                path: self.doom_mark().into_bytes(),
                tx: on(NODE_ACCESS_READ),
                perms,
                value: Vec::new(),
            }));
        }
        for (p, a) in tx.in_order() {
            let record = match &a.node {
                None => {
                    NodeData { path: p.into(), tx: on(0), perms: Vec::new(), value: Vec::new() }
                }
                Some(n) => {
                    let read = if a.check_gen { NODE_ACCESS_READ } else { 0 };
                    let written = if a.modified { NODE_ACCESS_WRITTEN } else { 0 };
                    NodeData {
                        path: p.into(),
                        tx: on(read | written),
                        perms: n.perms.iter().map(perm_to_stream).collect(),
                        value: Vec::from(n.value.as_slice()),
                    }
                }
            };
            f(Record::Node(record))?;
        }
        Ok(())
    }

    /// [`DOOM_MARK`], numbered until the tree does not have it.
    fn doom_mark(&self) -> String {
        let mut mark = String::from(DOOM_MARK);
        let mut n = 0u32;
        while self.tree.contains(&mark) {
            n = n.wrapping_add(1);
            mark = alloc::format!("{DOOM_MARK}-{n}");
        }
        mark
    }

    /// Restores transaction `t` (record `index`) with its node records
    /// `nodes` (record index, record; in stream order), once the
    /// committed tree is restored: the transaction exists again under its
    /// connection and id, its reads tracked, its records charged to the
    /// connection's domain (no quota, as nodes are restored), doomed if a
    /// node it only read differs from the tree's.
    pub(super) fn restore_tx<'a>(
        &mut self,
        index: usize,
        t: &TransactionData,
        nodes: impl Iterator<Item = (usize, &'a NodeData)>,
    ) -> Result<(), RestoreError> {
        let bad = RestoreError::BadTransaction { index };
        let conn = ConnId(t.conn_id);
        let domid = match self.conns.get(&conn) {
            Some(c) if t.tx_id != 0 && !c.txs.iter().any(|x| x.id == t.tx_id) => c.domid,
            _ => return Err(bad),
        };
        let mut tx = Transaction {
            id: t.tx_id,
            accessed: HashMap::with_hasher(Hasher::with_seed(self.cfg.hash_seed)),
            fail: false,
            mem: 0,
            doomed: false,
        };
        let mut seq = 0u32;
        for (i, n) in nodes {
            let bytes = node_bytes(n);
            if !self.heap_allows(true, REQUEST_HEADROOM.saturating_add(bytes)) {
                return Err(RestoreError::NoMemory { index: i });
            }
            self.restore_tx_node(i, &mut tx, seq, n)?;
            seq = seq.saturating_add(1);
        }
        self.derive_tx(index, &mut tx)?;
        let d = self.domain_or_create(domid);
        d.usage.add(Quota::Memory, delta(0, tx.mem));
        d.usage.add(Quota::Transactions, 1);
        self.wrl.tx_opened();
        self.generation = self.generation.wrapping_add(1);
        let now = self.now_ms;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ta_start_ms.get_or_insert(now);
            if c.next_tx <= t.tx_id {
                c.next_tx = t.tx_id.wrapping_add(1).max(1);
            }
            c.txs.try_reserve(1).map_err(|_| RestoreError::NoMemory { index })?;
            c.txs.push(tx);
        }
        Ok(())
    }

    /// Adds record `n` (index `i`) to `tx` as its `seq`th record: the
    /// stream's facts, the tree's node's permissions, the read tracked.
    fn restore_tx_node(
        &mut self,
        i: usize,
        tx: &mut Transaction,
        seq: u32,
        n: &NodeData,
    ) -> Result<(), RestoreError> {
        let bad = RestoreError::BadPath { index: i };
        let canon = path::canonicalize(&n.path, self.cfg.priv_domid, false).map_err(|_| bad)?;
        if canon.relative {
            return Err(bad);
        }
        let p: &str = &canon.path;
        let access = n.tx.map_or(0, |t| t.access);
        let deleted = n.is_deleted();
        let (check_gen, modified) = if deleted {
            (true, self.tree.contains(p))
        } else {
            (access & NODE_ACCESS_READ != 0, access & NODE_ACCESS_WRITTEN != 0)
        };
        let nameless = (deleted && p == "/") || (!check_gen && !modified);
        if nameless || tx.accessed.contains_key(p) {
            return Err(RestoreError::BadTransaction { index: i });
        }
        let committed = self.tree.get(p);
        let node = (!deleted).then(|| {
            let perms: Vec<Perm> = n.perms.iter().map(perm_from_stream).collect();
            let mut node = Node::new(Arc::from(perms));
            node.value = Value::from_slice(&n.value);
            node.generation = committed.map_or(0, |c| c.generation);
            node
        });
        let old_perms: Option<Perms> = committed.map(|c| c.perms.clone());
        let present = committed.is_some();
        tx.accessed.try_reserve(1).map_err(|_| RestoreError::NoMemory { index: i })?;
        let generation = if check_gen {
            self.tree.tx_read(p, self.generation)
        } else if present {
            self.generation
        } else {
            NO_GENERATION
        };
        // A record read only as a parent (`weak`, `listing_only`) comes back
        // as an ordinary read: the stream cannot say which it was, and the
        // stronger read can only make more commits conflict.
        let a = Accessed {
            seq,
            generation,
            check_gen,
            weak: false,
            modified,
            listing_only: false,
            others_listed: false,
            node,
            fire: None,
            old_perms,
        };
        tx.accessed.insert(String::from(p), a);
        Ok(())
    }

    /// Completes `tx`'s records from the tree and each other (module
    /// documentation): checks its view has every present node's parent,
    /// dooms it if a node it only read differs from the tree's, and sets
    /// children, events and the memory charged.
    fn derive_tx(&self, index: usize, tx: &mut Transaction) -> Result<(), RestoreError> {
        let tree = &self.tree;
        for (p, a) in &tx.accessed {
            if a.node.is_none() || p == "/" {
                continue;
            }
            let parent = path::parent(p);
            let present =
                tx.accessed.get(parent).map_or(tree.contains(parent), |q| q.node.is_some());
            if !present {
                return Err(RestoreError::BadTransaction { index });
            }
        }
        tx.doomed = tx.accessed.iter().any(|(p, a)| match &a.node {
            Some(n) if a.check_gen && !a.modified => {
                tree.get(p).is_none_or(|c| c.value != n.value.as_slice() || **c.perms != *n.perms)
            }
            _ => false,
        });
        let paths: Vec<String> =
            tx.accessed.iter().filter(|(_, a)| a.node.is_some()).map(|(p, _)| p.clone()).collect();
        let kids: Vec<Vec<u8>> = {
            let created = created(tree, &tx.accessed);
            paths.iter().map(|p| view_children(tree, &tx.accessed, &created, p)).collect()
        };
        for (p, buf) in paths.iter().zip(kids) {
            if let Some(n) = tx.accessed.get_mut(p).and_then(|a| a.node.as_mut()) {
                for name in buf.split(|&c| c == 0).filter(|s| !s.is_empty()) {
                    n.add_child(core::str::from_utf8(name).unwrap_or_default());
                }
            }
        }
        let derived: Vec<(String, Option<Match>, usize)> = tx
            .accessed
            .iter()
            .map(|(p, a)| {
                (p.clone(), derived_fire(tree, &tx.accessed, p, a), derived_mem(tree, p, a))
            })
            .collect();
        for (p, fire, mem) in derived {
            if let Some(a) = tx.accessed.get_mut(&p) {
                a.fire = fire;
            }
            tx.mem = tx.mem.saturating_add(mem);
        }
        Ok(())
    }
}
