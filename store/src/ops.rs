//! The node requests: `READ`, `WRITE`, `MKDIR`, `RM`, `DIRECTORY`,
//! `DIRECTORY_PART`, `GET_PERMS`, `SET_PERMS`, and the tree operations
//! they share (C `core.c`: `canonicalize`, `get_node`, `create_node`,
//! `delete_node`, `errno_from_parents`).
//!
//! Hot paths do not allocate beyond the reply: absolute paths are used in
//! place from the request payload, an existing node is changed where it
//! is stored (never cloned), and a new child name is appended to its
//! parent's buffer.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ring::wire::{XENSTORE_PAYLOAD_MAX, XENSTORE_SERVER_FEATURE_DOMID_ANY};

use crate::access::{Change, Recorded, RecordedAncestors};
use crate::cnum::atoi;
use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::DomId;
use crate::path::{self, Canonical};
use crate::perms::{self, Perm, Who, DOMID_ANY, PERM_IGNORE, PERM_OWNER, PERM_READ, PERM_WRITE};
use crate::quota::as_u64;
use crate::quota::Quota;
use crate::request::{count_strings, exact_args, num, onearg, strings, Reply, Req};
use crate::tree::{Node, NodeRef, Value};
use crate::watch::Match;

/// Heap one created node may take at most: its record (header, name),
/// its parent's children-list entries and its share of the tree's tables.
pub(crate) const NODE_GROWTH_BYTES: usize = 160;

impl Engine {
    /// Canonicalises a path argument and applies the `path-max` quota
    /// (unprivileged callers only, as C 4.22 `canonicalize`).
    pub(crate) fn canon<'a>(
        &mut self,
        req: &Req,
        raw: &'a [u8],
        special: bool,
    ) -> Result<Canonical<'a>, Error> {
        let c = path::canonicalize(raw, req.who.domid, special)?;
        let len = as_u64(path::quota_len(&c.path));
        self.check_quota(&req.who, Error::BadPath, |d| d.quotas.exceeds(Quota::PathMax, len))?;
        Ok(c)
    }

    /// The node named by a single-path request (`READ`, `DIRECTORY`,
    /// `GET_PERMS`), as the caller sees it, once the caller may read it.
    fn readable_node(
        &mut self,
        req: &Req,
        payload: &[u8],
        special: bool,
    ) -> Result<NodeRef<'_>, Error> {
        let c = self.canon(req, onearg(payload)?, special)?;
        self.check_node(req, &c.path, PERM_READ)?;
        self.peek(req, &c.path).ok_or(Error::NoEnt)
    }

    /// Canonicalises the path argument of a changing request (`WRITE`,
    /// `MKDIR`, `RM`) and checks the caller may write the node; says
    /// whether it exists (the check's `ENOENT` becomes `false`).
    fn writable<'a>(&mut self, req: &Req, raw: &'a [u8]) -> Result<(Canonical<'a>, bool), Error> {
        let c = self.canon(req, raw, false)?;
        match self.check_node(req, &c.path, PERM_WRITE) {
            Ok(()) => Ok((c, true)),
            Err(Error::NoEnt) => Ok((c, false)),
            Err(err) => Err(err),
        }
    }

    /// C `get_node` + `get_node_chk_perm`: Ok if the node exists and the
    /// caller has `perm`; otherwise `EACCES`, or `ENOENT` only when the
    /// closest existing ancestor would grant `perm` (so a missing node
    /// under an unreadable parent reveals nothing).
    pub(crate) fn check_node(&mut self, req: &Req, p: &str, perm: u8) -> Result<(), Error> {
        self.note_read(req, p)?;
        let err = match self.peek(req, p) {
            Some(n) if perms::perm_for(&req.who, n.perms) & perm == perm => return Ok(()),
            Some(_) => Error::Access,
            None => Error::NoEnt,
        };
        // errno_from_parents: ask the nearest existing ancestor.
        let Some(cur) = self.nearest_ancestor(req, p)? else {
            return Err(Error::Access);
        };
        let pp = self.peek(req, cur).map_or(0, |n| perms::perm_for(&req.who, n.perms));
        Err(if pp & perm != 0 { err } else { Error::Access })
    }

    /// The nearest existing proper ancestor of the missing node `p` in the
    /// caller's view (`None`: there is none), recorded in its transaction
    /// as read only as a parent (its existence and permissions matter,
    /// not its other children), with the missing node just below it on
    /// the way to `p` recorded as read (absent). The missing ones further
    /// down are not recorded: none can appear before that one does, so a
    /// transaction reading a path thousands of components deep keeps
    /// three records, not thousands.
    ///
    /// In a transaction, looking an ancestor's record up by its whole
    /// path made the walk quadratic in the depth (hashing each ancestor
    /// of a path 1000 components deep): the records of `p`'s ancestors
    /// are found in one pass over the transaction's
    /// ([`RecordedAncestors`]); the other ancestors are as the tree has
    /// them.
    fn nearest_ancestor<'p>(&mut self, req: &Req, p: &'p str) -> Result<Option<&'p str>, Error> {
        let tx = self.req_tx(req);
        let records = tx.map(|t| RecordedAncestors::of(t, p));
        // The tree's answer for every ancestor under `p`'s root, from one
        // walk (looking each one up cost a deep path its depth times its
        // length).
        let in_tree = self.tree.existing_prefix(p);
        let mut cur = p;
        let found = loop {
            if cur == "/" || path::parent(cur) == cur {
                break None;
            }
            cur = path::parent(cur);
            let recorded = records.as_ref().map_or(Recorded::No, |r| r.get(cur.len()));
            let exists = match recorded {
                Recorded::Yes(exists) => exists,
                Recorded::Unknown => self.peek_in(tx, cur).is_some(),
                // `/` is no prefix of a special path: it is looked up.
                Recorded::No if cur == "/" => self.peek_in(tx, cur).is_some(),
                Recorded::No => cur.len() <= in_tree,
            };
            if exists {
                break Some(cur);
            }
        };
        if let Some(cur) = found {
            self.note_parent(req, cur)?;
            let start = if cur == "/" { 1 } else { cur.len().saturating_add(1) };
            let top_end = p
                .get(start..)
                .and_then(|b| b.find('/'))
                .map_or(p.len(), |i| start.saturating_add(i));
            if let Some(top) = p.get(..top_end) {
                self.note_read(req, top)?;
            }
        }
        Ok(found)
    }

    /// Creates `p` and any missing ancestors, `p` with `value` (C
    /// `construct_node` + `create_node`): new nodes inherit the existing
    /// ancestor's permissions, and an unprivileged creator becomes their
    /// owner.
    pub(crate) fn create_node(&mut self, req: &Req, p: &str, value: &[u8]) -> Result<(), Error> {
        // The nearest existing ancestor; `top` is the top-most missing
        // node, `missing` how many are created.
        let parent = self.nearest_ancestor(req, p)?.ok_or(Error::NoEnt)?;
        // `below` is what follows the ancestor, from its '/' on.
        let plen = if parent == "/" { 0 } else { parent.len() };
        let below = p.get(plen..).unwrap_or("");
        let missing = as_u64(below.bytes().filter(|&c| c == b'/').count().max(1));
        let top_end = below
            .get(1..)
            .and_then(|b| b.find('/'))
            .map_or(p.len(), |i| plen.saturating_add(1).saturating_add(i));
        let top = p.get(..top_end).unwrap_or(p);
        self.check_quota(&req.who, Error::Quota, |d| d.exceeds_with(Quota::Nodes, missing))?;
        // A deep path creates up to a node per component: their heap is
        // asked of the budget first (`budget.rs`).
        let growth = usize::try_from(missing)
            .unwrap_or(usize::MAX)
            .saturating_mul(NODE_GROWTH_BYTES)
            .saturating_add(p.len())
            .saturating_add(self.tree.child_growth(parent));
        if !self.heap_allows(req.who.privileged, growth) {
            return Err(Error::NoMem);
        }
        let inherited = self.peek(req, parent).map(|n| n.perms.clone()).ok_or(Error::NoEnt)?;
        let caller = u32::from(req.who.domid.0);
        let perms = match inherited.first() {
            Some(owner) if !req.who.privileged && owner.id != caller => {
                let mut v: Vec<Perm> = inherited.to_vec();
                if let Some(first) = v.first_mut() {
                    first.id = caller;
                }
                Arc::from(v)
            }
            _ => inherited,
        };
        let mut leaf = Node::new(perms.clone());
        leaf.value = Value::from_slice(value);
        let size = as_u64(leaf.size());
        self.check_quota(&req.who, Error::Quota, |d| d.quotas.exceeds(Quota::NodeSize, size))?;
        // What the new nodes will be charged, against an unprivileged
        // creator's memory quota (it owns them): over it, `ENOMEM` and
        // nothing created (C `create_node` → `write_node` →
        // `domain_memory_add` with its quota check).
        let base = Node::new(perms.clone()).size();
        let charge = as_u64(creation_charge(p, top_end, base, value.len()));
        self.check_quota(&req.who, Error::NoMem, |d| d.exceeds_with(Quota::Memory, charge))?;
        let name = path::basename(top);
        let link = self.update_node(req, parent, Change::AddChild(name));
        if let Err(e) = link {
            self.fail_tx(req);
            return Err(e);
        }
        // Create the chain from `top` down to `p`.
        let mut cur = top;
        let mut leaf = Some(leaf);
        loop {
            let below = p.get(cur.len().saturating_add(1)..).filter(|_| cur.len() < p.len());
            let (node, next) = match below {
                Some(rest) => {
                    let child = rest.split('/').next().unwrap_or(rest);
                    let mut n = Node::new(perms.clone());
                    n.add_child(child);
                    let end = cur.len().saturating_add(1).saturating_add(child.len());
                    (n, p.get(..end))
                }
                None => (leaf.take().unwrap_or_else(|| Node::new(perms.clone())), None),
            };
            if let Err(e) = self.put_node(req, cur, node) {
                self.fail_tx(req);
                return Err(e);
            }
            match next {
                Some(n) => cur = n,
                None => return Ok(()),
            }
        }
    }

    /// Marks the caller's transaction failed (commit gives `ENOMEM`).
    fn fail_tx(&mut self, req: &Req) {
        if let Some(id) = req.tx {
            if let Some(t) =
                self.conns.get_mut(&req.conn).and_then(|c| c.txs.iter_mut().find(|t| t.id == id))
            {
                t.fail = true;
            }
        }
    }

    /// Removes `p` and its subtree through the caller's view, firing
    /// watches children-first; then unlinks it from its parent.
    pub(crate) fn rm_node(&mut self, req: &Req, p: &str) -> Result<(), Error> {
        let parent_path = path::parent(p);
        self.note_parent(req, parent_path)?;
        if self.peek(req, parent_path).is_none() {
            return Err(Error::Inval);
        }
        if req.tx.is_none() {
            self.drain_subtree(p, |e, cur| {
                let perms = e.tree.get(cur).map(|n| n.perms.clone());
                e.tree_remove_leaf(cur);
                let m = if cur == p { Match::Subtree } else { Match::Exact };
                e.notify(req, cur, perms.as_deref(), m, None);
            });
        } else {
            self.rm_in_transaction(req, p)?;
        }
        let name = path::basename(p);
        // Unlinking only shrinks the parent: no quota applies.
        let internal = Req { who: Who { privileged: true, ..req.who }, ..*req };
        self.update_node(&internal, parent_path, Change::RemoveChild(name))
    }

    /// Removes `p` and its subtree in the caller's transaction view. Each
    /// node becomes a transaction record (asked of the budget); the paths
    /// listed meanwhile are asked for too.
    fn rm_in_transaction(&mut self, req: &Req, p: &str) -> Result<(), Error> {
        // Iterative post-order walk (XSA-418): a node is entered (read)
        // parents first, children in creation order, and left (listed for
        // removal) after its children.
        enum Step {
            Enter(String),
            Leave(String),
        }
        /// What one listed path costs beyond its bytes (its `String` in
        /// the stack, then in `order`).
        const STEP_BYTES: usize = 2 * core::mem::size_of::<String>();
        let mut listed = 0usize;
        let mut order: Vec<String> = Vec::new();
        let mut stack: Vec<Step> = Vec::new();
        stack.push(Step::Enter(String::from(p)));
        while let Some(step) = stack.pop() {
            let cur = match step {
                Step::Leave(cur) => {
                    order.push(cur);
                    continue;
                }
                Step::Enter(cur) => cur,
            };
            self.note_read(req, &cur)?;
            let Some(n) = self.peek(req, &cur) else { continue };
            let kids: Vec<String> = n.child_names().map(|c| path::child(&cur, c)).collect();
            listed = kids.iter().fold(listed.saturating_add(cur.len()), |sum, k| {
                sum.saturating_add(k.len()).saturating_add(STEP_BYTES)
            });
            if !self.heap_allows(req.who.privileged, listed) {
                self.fail_tx(req);
                return Err(Error::NoMem);
            }
            stack.push(Step::Leave(cur));
            stack.extend(kids.into_iter().rev().map(Step::Enter));
        }
        for cur in &order {
            let perms = self.peek(req, cur).map(|n| n.perms.clone());
            self.drop_node(req, cur)?;
            let m = if cur == p { Match::Subtree } else { Match::Exact };
            self.notify(req, cur, perms.as_deref(), m, None);
        }
        Ok(())
    }

    /// Fires the watches for a change of `p` as the caller sees it.
    fn notify_changed(&mut self, req: &Req, p: &str) {
        let perms = self.peek(req, p).map(|n| n.perms.clone());
        self.notify(req, p, perms.as_deref(), Match::Subtree, None);
    }

    /// C 4.22 `domain_alloc_permrefs`: marks entries naming a domain that
    /// does not exist ignored, and `DOMID_ANY` entries ignored unless the
    /// caller's domain has the `DOMID_ANY` feature.
    fn mark_unknown_domains(&mut self, req: &Req, list: &mut [Perm], pf: &mut dyn Platform) {
        let any_ok = self.domain_features(req.who.domid) & XENSTORE_SERVER_FEATURE_DOMID_ANY != 0;
        for p in list {
            let exists = if p.id == DOMID_ANY {
                any_ok
            } else {
                u16::try_from(p.id).is_ok_and(|d| self.domain_known(DomId(d), pf))
            };
            if !exists {
                p.bits |= PERM_IGNORE;
            }
        }
    }
}

/// `XS_READ path\0`.
pub fn do_read(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    e.readable_node(req, payload, false).map(|n| Reply::data(n.value))
}

/// `XS_WRITE path\0value`.
pub fn do_write(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let nul = payload.iter().position(|&c| c == 0).ok_or(Error::Inval)?;
    let raw = payload.get(..nul).unwrap_or(&[]);
    let value = payload.get(nul.saturating_add(1)..).unwrap_or(&[]);
    let (c, exists) = e.writable(req, raw)?;
    let p: &str = &c.path;
    if exists {
        e.update_node(req, p, Change::Value(value))?;
    } else {
        e.create_node(req, p, value)?;
    }
    e.notify_changed(req, p);
    Ok(Reply::ok())
}

/// `XS_MKDIR path\0`.
pub fn do_mkdir(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (c, exists) = e.writable(req, onearg(payload)?)?;
    if !exists {
        e.create_node(req, &c.path, &[])?;
        e.notify_changed(req, &c.path);
    }
    Ok(Reply::ok())
}

/// `XS_RM path\0`.
pub fn do_rm(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (c, exists) = e.writable(req, onearg(payload)?)?;
    let p: &str = &c.path;
    if !exists {
        // Removing a missing node succeeds when its parent exists.
        let parent = path::parent(p);
        e.note_parent(req, parent)?;
        return if e.peek(req, parent).is_some() { Ok(Reply::ok()) } else { Err(Error::NoEnt) };
    }
    if p == "/" {
        return Err(Error::Inval);
    }
    e.rm_node(req, p)?;
    Ok(Reply::ok())
}

/// `XS_DIRECTORY path\0`.
pub fn do_directory(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let n = e.readable_node(req, payload, false)?;
    // Refused before the list is built.
    if n.children_len() > XENSTORE_PAYLOAD_MAX {
        return Err(Error::TooBig);
    }
    let mut out = Reply::buffer(n.children_len());
    n.write_children(&mut out);
    Ok(Reply::framed(out))
}

/// `XS_DIRECTORY_PART path\0offset\0`: the node's generation, then as
/// many whole child names from byte `offset` as fit, then an empty string
/// if the list is complete.
pub fn do_directory_part(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let [raw, off_arg] = exact_args(payload)?;
    let c = e.canon(req, raw, false)?;
    e.check_node(req, &c.path, PERM_READ)?;
    let node = e.peek(req, &c.path).ok_or(Error::NoEnt)?;
    // C: `off = atoi(...)` stored in an unsigned int.
    let off = u32::from_ne_bytes(atoi(off_arg).to_ne_bytes());
    let off = usize::try_from(off).unwrap_or(usize::MAX);
    let gen = num(node.generation);
    let total = node.children_len();
    let mut out = Reply::buffer(total.min(XENSTORE_PAYLOAD_MAX).saturating_add(24));
    out.extend_from_slice(gen.as_bytes());
    out.push(0);
    let head = gen.as_bytes().len().saturating_add(1);
    if off >= total {
        out.push(0);
        return Ok(Reply::framed(out));
    }
    let maxlen = XENSTORE_PAYLOAD_MAX.saturating_sub(head).saturating_sub(1);
    // Only the part of the list from `off` that can be sent is copied
    // (one reply's worth and one name more), found without walking the
    // names before it.
    let mut rest: Vec<u8> = Vec::with_capacity(maxlen.min(total.saturating_sub(off)));
    node.write_children_from(off, maxlen, &mut rest);
    let children_len = total;
    let rest = rest.as_slice();
    let mut len = 0usize;
    loop {
        let tail = rest.get(len..).unwrap_or(&[]);
        let clen = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        if len.saturating_add(clen) >= maxlen {
            break;
        }
        len = len.saturating_add(clen).saturating_add(1);
        if off.saturating_add(len) >= children_len {
            break;
        }
    }
    out.extend_from_slice(rest.get(..len).unwrap_or(&[]));
    if off.saturating_add(len) >= children_len {
        out.push(0);
    }
    Ok(Reply::framed(out))
}

/// `XS_GET_PERMS path\0`.
pub fn do_get_perms(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let n = e.readable_node(req, payload, true)?;
    let mut out = Reply::buffer(n.perms.len().saturating_mul(8));
    perms::format(n.perms, &mut out);
    Ok(Reply::framed(out))
}

/// `XS_SET_PERMS path\0perm\0…`, in C 4.22's order of checks: count,
/// `node-permissions` quota, syntax, owner existence, then the node.
pub fn do_set_perms(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let count = count_strings(payload);
    if count < 2 {
        return Err(Error::Inval);
    }
    let entries = as_u64(count.saturating_sub(1));
    e.check_quota(&req.who, Error::Quota, |d| d.quotas.exceeds(Quota::NodePermissions, entries))?;
    let mut args = strings(payload);
    let raw = args.next().ok_or(Error::Inval)?;
    let mut new: Vec<Perm> = args.map(perms::parse_one).collect::<Result<_, _>>()?;
    e.mark_unknown_domains(req, &mut new, pf);
    let owner = new.first().copied().ok_or(Error::Inval)?;
    if owner.ignored() {
        return Err(Error::NoEnt);
    }
    let c = e.canon(req, raw, true)?;
    let p: &str = &c.path;
    e.check_node(req, p, PERM_WRITE | PERM_OWNER)?;
    let mut node = e.peek(req, p).map(|n| n.to_node()).ok_or(Error::NoEnt)?;
    if !req.who.privileged && owner.id != node.owner() {
        return Err(Error::Perm);
    }
    // Outside a transaction the tree changes now: the records it moves
    // are asked of the budget first (a commit asks for its own).
    if req.tx.is_none() && !e.heap_allows(req.who.privileged, e.tree.perms_change_growth(p, &new)) {
        return Err(Error::NoMem);
    }
    let old = core::mem::replace(&mut node.perms, Arc::from(new));
    e.put_node(req, p, node)?;
    let perms = e.peek(req, p).map(|n| n.perms.clone());
    e.notify(req, p, perms.as_deref(), Match::Subtree, Some(&old));
    Ok(Reply::ok())
}

/// What creating `p` with a value of `value_len` bytes charges, when its
/// nodes from `p[..top_end]` down are new and each new node holds `base`
/// bytes before its value and children names: as C counts a node (its
/// path, header, permissions, value, children names).
fn creation_charge(p: &str, top_end: usize, base: usize, value_len: usize) -> usize {
    let mut total = p.len().saturating_add(base).saturating_add(value_len);
    let mut end = top_end;
    while let Some(rest) = p.get(end..).and_then(|r| r.strip_prefix('/')) {
        let child = rest.split('/').next().unwrap_or(rest);
        // The node at `p[..end]`, listing `child`.
        total = total
            .saturating_add(end)
            .saturating_add(base)
            .saturating_add(child.len())
            .saturating_add(1);
        end = end.saturating_add(1).saturating_add(child.len());
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// `top` followed by `depth` components `/d`.
    fn deep(top: &str, depth: usize) -> String {
        let mut p = String::from(top);
        for _ in 0..depth {
            p.push_str("/d");
        }
        p
    }

    /// The walk without the length filter: every ancestor looked up in
    /// the caller's view.
    fn every_ancestor<'p>(e: &Engine, req: &Req, p: &'p str) -> Option<&'p str> {
        let mut cur = p;
        while cur != "/" && path::parent(cur) != cur {
            cur = path::parent(cur);
            if e.peek(req, cur).is_some() {
                return Some(cur);
            }
        }
        None
    }

    /// Ancestors removed or created in a transaction's view are found as
    /// the view has them, though none is looked up in it; and the records
    /// of a path's ancestors found in one pass are exactly its records of
    /// them.
    #[test]
    fn the_nearest_ancestor_in_a_transaction_is_its_views() {
        let mut e = Engine::new(Config::default());
        let conn = e.connect_socket().unwrap();
        let who = Who { domid: DomId(0), target: None, privileged: true };
        let plain = Req { conn, req_id: 0, who, tx: None, serial: None };
        e.create_node(&plain, &deep("/a/b/c", 3), b"").unwrap();
        e.create_node(&plain, "/a/x", b"").unwrap();
        let id = e.tx_start(&plain).unwrap();
        let req = Req { tx: Some(id), ..plain };
        e.rm_node(&req, "/a/b").unwrap();
        e.create_node(&req, "/a/n/m", b"").unwrap();
        // A missing path 1000 deep, read: recorded with its nearest
        // ancestor.
        let _ = e.check_node(&req, &deep("/a/x", 1000), PERM_READ);

        let cases = [
            // In the tree, removed in the view.
            (deep("/a/b/c", 500), Some("/a")),
            // Created in the view only.
            (deep("/a/n/m", 500), Some("/a/n/m")),
            (deep("/a/x", 1000), Some("/a/x")),
            (deep("/a/x", 999), Some("/a/x")),
            (deep("/q", 10), Some("/")),
        ];
        for (p, want) in &cases {
            assert_eq!(every_ancestor(&e, &req, p), *want, "{}", &p[..p.len().min(12)]);
            assert_eq!(e.nearest_ancestor(&req, p), Ok(*want), "{}", &p[..p.len().min(12)]);
        }
        // Outside the transaction, the tree's.
        let p = deep("/a/b/c", 500);
        assert_eq!(e.nearest_ancestor(&plain, &p), Ok(Some("/a/b/c/d/d/d")));

        // The records of each case's ancestors are exactly the
        // transaction's records of them.
        let tx = e.req_tx(&req).unwrap();
        for (p, _) in &cases {
            let records = RecordedAncestors::of(tx, p);
            let mut cur = p.as_str();
            while cur != "/" {
                cur = path::parent(cur);
                let want =
                    tx.accessed.get(cur).map_or(Recorded::No, |a| Recorded::Yes(a.node.is_some()));
                assert_eq!(records.get(cur.len()), want, "{}", &cur[..cur.len().min(12)]);
            }
            assert_eq!(records.get(p.len()), Recorded::No, "{p} itself is no ancestor");
        }
        let records = RecordedAncestors::of(tx, &deep("/a/x", 10));
        assert_eq!(records.get(usize::MAX), Recorded::Unknown, "past the bitmap");
    }

    /// A transaction with a record as long as every ancestor of a missing
    /// path 1000 deep (reads of missing paths that differ from it in
    /// their last byte) does not make finding that path's nearest
    /// existing ancestor look each of them up: the tree's children lists
    /// are searched a bounded number of times, not once per ancestor
    /// (about 1 000 when the records' lengths chose which to look up).
    #[test]
    fn records_as_long_as_every_ancestor_cost_no_lookup_each() {
        const DEPTH: usize = 1000;
        let mut e = Engine::new(Config::default());
        let conn = e.connect_socket().unwrap();
        let who = Who { domid: DomId(0), target: None, privileged: true };
        let plain = Req { conn, req_id: 0, who, tx: None, serial: None };
        e.create_node(&plain, "/a/x", b"").unwrap();
        let id = e.tx_start(&plain).unwrap();
        let req = Req { tx: Some(id), ..plain };
        let p = deep("/a/x", DEPTH);
        let mut cur = p.as_str();
        while cur.len() > "/a/x/d".len() {
            cur = path::parent(cur);
            let other = format!("{}e", &cur[..cur.len() - 1]);
            assert_eq!(e.check_node(&req, &other, PERM_READ), Err(Error::NoEnt));
        }
        e.tree.steps.set(0);
        assert_eq!(e.nearest_ancestor(&req, &p), Ok(Some("/a/x")));
        let steps = e.tree.steps.get();
        assert!(steps <= 8, "{steps} lookup steps for {DEPTH} missing ancestors");
        assert_eq!(every_ancestor(&e, &req, &p), Some("/a/x"));
    }
}
