//! Node access: every read and write of a node a request makes, through
//! its transaction's view when it has one and on the global tree
//! otherwise, and every change of the global tree with its accounting
//! (node counts and memory moved between owners, a fresh generation per
//! change).
//!
//! Handlers (`ops.rs`, `domain.rs`, `lifecycle.rs`) and transaction
//! commits (`transaction.rs`) change nodes only through here.

use alloc::string::String;

use ring::wire::XENSTORE_PAYLOAD_MAX;

use crate::engine::Engine;
use crate::error::Error;
use crate::ids::DomId;
use crate::path;
use crate::perms::{Perm, Perms, Who};
use crate::quota::{as_u64, delta, Quota};
use crate::request::Req;
use crate::transaction::{Access, Transaction};
use crate::tree::{Node, NodeRef, Value};
use crate::tree::{Stat, TreeError};
use crate::watch::Match;

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

/// What a transaction's records say of the ancestors of one path, from
/// one pass over them: which of those ancestors (by length) it has a
/// record of, and which of those exist in its view. A walk over the many
/// ancestors of the path (`Engine::nearest_ancestor`) then answers each
/// one from here or from the tree, looking none up by its whole path:
/// looking up only the ancestors whose length some record had made a
/// transaction whose records had every such length (a guest's reads of
/// missing paths) cost a 1000-deep missing READ a lookup of each
/// ancestor, eight times the cost without records. Exact for ancestors
/// up to [`XENSTORE_PAYLOAD_MAX`] bytes (no request can name a longer
/// path); a longer one is [`Recorded::Unknown`].
pub(crate) struct RecordedAncestors {
    /// Bit `n`: the record of the ancestor `n` bytes long.
    recorded: [u64; LENGTH_WORDS],
    /// Bit `n`: that record holds a node.
    present: [u64; LENGTH_WORDS],
}

/// Words of a [`RecordedAncestors`] bitmap.
const LENGTH_WORDS: usize = XENSTORE_PAYLOAD_MAX / 64 + 1;

/// A transaction's answer for one ancestor ([`RecordedAncestors::get`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// No record: the tree's answer holds.
    No,
    /// A record, of a node that exists (`true`) or not.
    Yes(bool),
    /// Past the bitmaps: look it up.
    Unknown,
}

impl RecordedAncestors {
    /// The records of `tx` that are proper ancestors of `p` (one pass
    /// over them; only a record as long as one of `p`'s ancestors is
    /// compared with `p`).
    pub(crate) fn of(tx: &Transaction, p: &str) -> RecordedAncestors {
        let mut r = RecordedAncestors { recorded: [0; LENGTH_WORDS], present: [0; LENGTH_WORDS] };
        let bytes = p.as_bytes();
        for (q, a) in &tx.accessed {
            let len = q.len();
            let below = if q == "/" { bytes.len() > 1 } else { bytes.get(len) == Some(&b'/') };
            if below && bytes.starts_with(q.as_bytes()) {
                set(&mut r.recorded, len);
                if a.node.is_some() {
                    set(&mut r.present, len);
                }
            }
        }
        r
    }

    /// The record of the ancestor `len` bytes long of the path this was
    /// made for.
    pub(crate) fn get(&self, len: usize) -> Recorded {
        match (self.recorded.get(len / 64), self.present.get(len / 64)) {
            (Some(w), Some(p)) if w & length_bit(len) != 0 => {
                Recorded::Yes(p & length_bit(len) != 0)
            }
            (Some(_), Some(_)) => Recorded::No,
            _ => Recorded::Unknown,
        }
    }
}

/// Sets bit `len` of `bits` (none past its end).
fn set(bits: &mut [u64; LENGTH_WORDS], len: usize) {
    if let Some(w) = bits.get_mut(len / 64) {
        *w |= length_bit(len);
    }
}

/// The bit of length `len` in its word.
fn length_bit(len: usize) -> u64 {
    1u64 << (len % 64)
}

impl Engine {
    /// The caller's current view of `path`.
    pub(crate) fn peek(&self, req: &Req, path: &str) -> Option<NodeRef<'_>> {
        self.peek_in(self.req_tx(req), path)
    }

    /// The caller's open transaction, if the request is in one.
    pub(crate) fn req_tx(&self, req: &Req) -> Option<&Transaction> {
        let id = req.tx?;
        self.conns.get(&req.conn)?.txs.iter().find(|t| t.id == id)
    }

    /// `path` as transaction `tx` sees it (as the tree has it, without
    /// one).
    pub(crate) fn peek_in<'a>(
        &'a self,
        tx: Option<&'a Transaction>,
        path: &str,
    ) -> Option<NodeRef<'a>> {
        if let Some(a) = tx.and_then(|t| t.accessed.get(path)) {
            return a.node.as_ref().map(Node::view);
        }
        self.tree.get(path)
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
                self.note_access(req, path, Access::Write)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                let old = a.node.as_ref().map_or(0, Node::size);
                let new = node.size();
                a.node = Some(node);
                a.modified = true;
                a.listing_only = false;
                tx.mem = tx.mem.saturating_sub(old).saturating_add(new);
                self.domain_or_create(req.who.domid).usage.add(Quota::Memory, delta(old, new));
                Ok(())
            }
        }
    }

    /// Changes the node at `path` in place through the caller's view (its
    /// value or children list; never its owner), with the checks and
    /// accounting of a write. The `node-size` quota is checked before
    /// anything changes, and a value an unprivileged caller grows past the
    /// memory quota of the domain charged for it is refused with `ENOMEM`
    /// (C `do_write` → `write_node` → `domain_memory_add` with its check
    /// of the owner).
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
        if let Change::Value(_) = change {
            let more = as_u64(new.saturating_sub(old));
            if more > 0 {
                // The domain that pays for the growth is checked, as C
                // checks the node's owner: the owner outside a
                // transaction, the writer inside one (its copies are
                // charged to it until the commit).
                let payer = if req.tx.is_none() { owner } else { req.who.domid };
                let who = Who { domid: payer, ..req.who };
                self.check_quota(&who, Error::NoMem, |d| d.exceeds_with(Quota::Memory, more))?;
            }
        }
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
                self.note_access(req, path, Access::Write)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                let node = a.node.as_mut().ok_or(Error::NoEnt)?;
                change.apply(node);
                a.listing_only = match change {
                    Change::Value(_) => false,
                    Change::AddChild(_) | Change::RemoveChild(_) => !a.modified || a.listing_only,
                };
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

    pub(crate) fn tree_store(&mut self, path: &str, node: &Node) {
        // Callers store nodes under existing parents; a failure here is a
        // bug or memory exhaustion, and the tree is unchanged.
        if let Err(e) = self.tree_try_store(path, node) {
            log::error!("cannot store node {path}: {e:?}");
        }
    }

    /// [`Engine::tree_put`], saying why the tree refused the node (then
    /// nothing changed).
    pub(crate) fn tree_try_store(&mut self, path: &str, node: &Node) -> Result<(), TreeError> {
        self.generation = self.generation.wrapping_add(1);
        let put = self.tree.insert(path, node, self.generation)?;
        self.account(path, put.old, Some(put.new));
        self.account_listing(path, put.linked, true);
        Ok(())
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
        // Room for the longest path at once: growing by doubling would
        // hold two copies for a moment (an `XS_RM` admitted past the
        // budget's line has only `RELEASE_HEADROOM`).
        let mut cur = String::with_capacity(root.len().max(path::XENSTORE_ABS_PATH_MAX));
        cur.push_str(root);
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
                self.note_read(req, path)?;
                let tx = self.tx_mut(req.conn, id).ok_or(Error::NoEnt)?;
                let a = tx.accessed.get_mut(path).ok_or(Error::NoMem)?;
                a.node = None;
                a.modified = true;
                a.listing_only = false;
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
