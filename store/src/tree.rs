//! The node store: every node as one small record, found by walking from
//! its root.
//!
//! # Layout
//!
//! A store holds many small nodes, so each costs as few bytes as
//! possible (about 36 for a node with a 6-byte name and a 16-byte value,
//! where a map from full path to node would cost over 100):
//!
//! * a node is one record in an [`Arena`] (`tree/record.rs`): a 2-byte
//!   header, its name and value, and only when needed a permission list id
//!   and a children list id, all addressed by a 4-byte handle;
//! * a node's children are a [`Dir`] (`tree/dir.rs`): their handles in
//!   creation order (what `XS_DIRECTORY` lists) and their positions sorted
//!   by name (for lookups), 8 bytes per child, and the node's generation;
//! * permission lists are interned ([`PermTable`]); a node created with
//!   its parent's list stores none and uses its parent's. Before a node's
//!   list changes, its children that used it get their own reference
//!   ("pinning"), so nothing else changes;
//! * generations: see [`NodeRef::generation`] and `tree/txgen.rs`.
//!
//! A record is referenced only from its parent's children list (or the
//! list of roots: `/` and the special `@…` nodes), so records can move:
//! when one grows, and when the arena is compacted.
//!
//! # Lookups
//!
//! A path is resolved from its root one segment at a time, by binary
//! search in each children list: no hash of guest-chosen names (nothing to
//! flood), O(depth × log children) comparisons. Subtree walks are
//! iterative with an explicit stack (XSA-418: no recursion on
//! guest-controlled depth).

use alloc::vec::Vec;
use core::cell::RefCell;

use smallvec::SmallVec;

use crate::ids::DomId;
use crate::path;
use crate::perms::Perm;
use arena::{Arena, Handle};
use dir::{Dir, DirId, Dirs, Pos};
use owners::Owners;
use permtab::{PermId, PermTable};
use record::{Record, VALUE_MAX};
use txgen::TxGens;

pub(crate) use node::{Node, NodeRef, Value, NO_GENERATION};
pub(crate) use permtab::Dropped;

use cache::LookupCache;

mod arena;
mod cache;
mod dir;
mod node;
mod owners;
mod permtab;
mod record;
pub(crate) mod txgen;
mod walk;

/// The keyed hasher used for guest-named keys.
pub type Hasher = foldhash::fast::FixedState;

/// The permission id of no list (reads as an empty list).
const NO_PERMS: PermId = PermId::MAX;

/// Records up to this many bytes are re-encoded without an allocation.
const RECORD_INLINE: usize = 96;

/// A node's owner and the size C accounts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The owner.
    pub owner: DomId,
    /// The accounted size ([`NodeRef::size`]).
    pub size: usize,
}

/// What storing a node changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Put {
    /// The node before (`None`: it was created).
    pub old: Option<Stat>,
    /// The node after.
    pub new: Stat,
    /// The owner of the parent the new node was listed in (its size grew
    /// by the name and a NUL).
    pub linked: Option<DomId>,
}

/// What removing a node changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The node removed.
    pub old: Stat,
    /// The owner of the parent it was unlisted from (its size shrank by
    /// the name and a NUL).
    pub unlinked: Option<DomId>,
}

/// Why a tree change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// The node does not exist.
    NotFound,
    /// The parent of a new node does not exist.
    NoParent,
    /// The node to remove still has children.
    HasChildren,
    /// The value is longer than a record holds.
    TooBig,
    /// Out of handles or memory.
    Full,
}

/// Where a node's handle is kept.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// `roots[i]`.
    Root(usize),
    /// In a children list.
    Child { dir: DirId, pos: Pos },
}

/// A resolved node: where it is (`None` when resolved from the lookup
/// cache), its record, its effective permissions.
#[derive(Clone, Copy, Debug)]
struct Loc {
    slot: Option<Slot>,
    handle: Handle,
    perms: PermId,
}

/// The result of resolving a path.
enum Found<'p> {
    /// The node exists (`parent` is `None` for roots).
    Node { parent: Option<Loc>, loc: Loc },
    /// Only the last segment is missing (`parent` is `None` for roots);
    /// `at` is where its name would go in the parent's children list, if
    /// the parent has one.
    Missing { parent: Option<Loc>, name: &'p str, at: Option<usize> },
}

/// All nodes.
pub struct Tree {
    arena: Arena,
    dirs: Dirs,
    perms: PermTable,
    /// `/` and the special `@…` nodes.
    roots: Vec<Handle>,
    count: usize,
    gens: TxGens,
    cache: RefCell<LookupCache>,
    /// Where each domain's nodes begin (for its death).
    owners: Owners,
    /// Children lists searched by lookups so far (tests count a walk's
    /// steps with it).
    #[cfg(test)]
    pub(crate) steps: core::cell::Cell<usize>,
}

/// The owner of permission list `id`.
fn owner_in(perms: &PermTable, id: PermId) -> DomId {
    let id = perms.get(id).first().map_or(0, |p| p.id);
    DomId(u16::try_from(id).unwrap_or(u16::MAX))
}

/// The name in record `h`.
fn name_in(arena: &Arena, h: Handle) -> &[u8] {
    Record::name(arena.tail(h)).unwrap_or(&[])
}

/// The root name and the rest of a canonical path (`"/"` has root `""`).
fn split(path: &str) -> Option<(&str, &str)> {
    if let Some(rest) = path.strip_prefix('/') {
        return Some(("", rest));
    }
    if !path.starts_with('@') {
        return None;
    }
    Some(path.split_once('/').unwrap_or((path, "")))
}

/// The bytes of `rec`.
fn encode(rec: &Record<'_>) -> Result<SmallVec<[u8; RECORD_INLINE]>, TreeError> {
    let mut buf: SmallVec<[u8; RECORD_INLINE]> = SmallVec::new();
    buf.resize(rec.len(), 0);
    rec.encode(&mut buf).ok_or(TreeError::TooBig)?;
    Ok(buf)
}

impl Tree {
    /// An empty tree; `seed` keys the hashes of guest-chosen keys.
    pub fn new(seed: u64) -> Tree {
        Tree {
            arena: Arena::new(),
            dirs: Dirs::default(),
            perms: PermTable::new(seed),
            roots: Vec::new(),
            count: 0,
            gens: TxGens::new(seed),
            cache: RefCell::new(LookupCache::default()),
            owners: Owners::default(),
            #[cfg(test)]
            steps: core::cell::Cell::new(0),
        }
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        self.view(&self.locate(path)?)
    }

    /// Whether a node exists at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.locate(path).is_some()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes of node records (whole arena units, free ones excluded).
    #[cfg(test)]
    pub fn record_bytes(&self) -> usize {
        self.arena.live_bytes()
    }

    /// The name in record `h` (empty if not a record).
    pub(crate) fn name_of(&self, h: Handle) -> &[u8] {
        name_in(&self.arena, h)
    }

    /// Stores `node` at `path` (its value and permissions; its children
    /// are the nodes stored below it), creating it under its existing
    /// parent or replacing it in place. Changes are stamped with
    /// `generation`.
    pub fn insert(&mut self, path: &str, node: &Node, generation: u64) -> Result<Put, TreeError> {
        if node.value.len() > VALUE_MAX {
            return Err(TreeError::TooBig);
        }
        // A new node under a known directory needs no exact location.
        let found = match self.find(path, true) {
            Some(Found::Missing { parent: Some(p), name, at }) => {
                Found::Missing { parent: Some(p), name, at }
            }
            _ => self.find(path, false).ok_or(TreeError::NoParent)?,
        };
        match found {
            Found::Node { parent, loc } => {
                let parent = parent.map(|p| p.perms);
                let old = self.stat(&loc)?;
                let loc = self.rewrite(path, loc, parent, Some(&node.value), Some(&node.perms))?;
                self.stamp(path, &loc, generation);
                Ok(Put { old: Some(old), new: self.stat(&loc)?, linked: None })
            }
            Found::Missing { parent, name, at } => {
                self.create(path, parent, name, at, node, generation)
            }
        }
    }

    /// Replaces the value of the node at `path`, stamped with `generation`.
    pub fn set_value(
        &mut self,
        path: &str,
        value: &[u8],
        generation: u64,
    ) -> Result<(), TreeError> {
        if value.len() > VALUE_MAX {
            return Err(TreeError::TooBig);
        }
        let (parent, loc) = self.existing(path)?;
        let loc = if self.overwrite_value(loc.handle, value) {
            loc
        } else {
            self.rewrite(path, loc, parent, Some(value), None)?
        };
        self.stamp(path, &loc, generation);
        Ok(())
    }

    /// Replaces the value of record `h` where it is stored when the new
    /// value has the old one's length (a value ends its record); false
    /// otherwise.
    fn overwrite_value(&mut self, h: Handle, value: &[u8]) -> bool {
        let Some(rec) = self.record(h) else {
            return false;
        };
        if rec.value.len() != value.len() {
            return false;
        }
        let len = rec.len();
        let start = len.saturating_sub(value.len());
        match self.arena.get_mut(h, len).get_mut(start..) {
            Some(dst) if dst.len() == value.len() => {
                dst.copy_from_slice(value);
                true
            }
            _ => false,
        }
    }

    /// Replaces the permissions of the node at `path` without a new
    /// generation; returns the node before and after.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(Stat, Stat), TreeError> {
        let (parent, loc) = self.existing(path)?;
        let old = self.stat(&loc)?;
        let loc = self.rewrite(path, loc, parent, None, Some(perms))?;
        Ok((old, self.stat(&loc)?))
    }

    /// The heap that giving the node at `path` the list `perms` may
    /// allocate at once, for the memory budget (0 if the node is missing
    /// or keeps its list). Its children that share its list are each given
    /// that list as their own first, so each record grows by a list id and
    /// moves to a new place (its old place is free only for a record of
    /// its old size); the node's own record may move too. A directory of
    /// big values therefore costs about its whole size again.
    pub fn perms_change_growth(&self, path: &str, perms: &[Perm]) -> usize {
        let Some(loc) = self.locate(path) else { return 0 };
        if **self.perms.get(loc.perms) == *perms {
            return 0;
        }
        let Some(rec) = self.record(loc.handle) else { return 0 };
        let pinned = |r: Record<'_>| Record { perms: Some(0), ..r }.len();
        let children = rec
            .dir
            .and_then(|d| self.dirs.get(d))
            .into_iter()
            .flat_map(|d| d.order().iter())
            .filter_map(|&h| self.record(h))
            .filter(|r| r.perms.is_none())
            .map(pinned);
        self.arena.growth_for(core::iter::once(pinned(rec)).chain(children))
    }

    /// Stamps the node at `path` with `generation` without changing it
    /// (its children list changes).
    pub fn touch(&mut self, path: &str, generation: u64) {
        if let Some(loc) = self.locate(path) {
            self.stamp(path, &loc, generation);
        }
    }

    /// Removes the node at `path`, which must have no children; its
    /// parent's list change is stamped with `generation`.
    pub fn remove(&mut self, path: &str, generation: u64) -> Result<Removed, TreeError> {
        let (parent, loc) = self.existing_in_parent(path)?;
        let slot = loc.slot.ok_or(TreeError::NotFound)?;
        let rec = self.record(loc.handle).ok_or(TreeError::NotFound)?;
        if rec.dir.and_then(|d| self.dirs.get(d)).is_some_and(|d| !d.is_empty()) {
            return Err(TreeError::HasChildren);
        }
        let old = self.stat(&loc)?;
        let (own, dir, len, name_len) = (rec.perms, rec.dir, rec.len(), rec.name.len());
        if parent.is_some_and(|p| self.owner_of(p.perms) != old.owner) {
            self.owners.remove(old.owner, path::parent(path));
        }
        self.perms.use_list(loc.perms, false);
        if let Some(id) = own {
            self.perms.release(id);
        }
        if let Some(d) = dir {
            self.dirs.free(d);
        }
        self.arena.free(loc.handle, len);
        self.count = self.count.saturating_sub(1);
        match slot {
            Slot::Root(i) => {
                self.forget();
                if i < self.roots.len() {
                    self.roots.remove(i);
                }
            }
            Slot::Child { dir, pos } => {
                // Nothing else moved: lookups of the parent and the rest
                // of the chain removed still start where they were.
                self.cache.borrow_mut().cut(path);
                let arena = &self.arena;
                if let Some(d) = self.dirs.get_mut(dir) {
                    d.remove(pos, name_len, |h| name_in(arena, h));
                    d.generation = generation;
                }
                self.gens.stamp(path::parent(path), generation);
            }
        }
        self.gens.stamp(path, NO_GENERATION);
        let removed = Removed { old, unlinked: parent.map(|p| self.owner_of(p.perms)) };
        if self.arena.should_compact() {
            self.compact();
        }
        if dir.is_some() && self.dirs.should_compact() {
            self.compact_dirs();
        }
        Ok(removed)
    }

    /// Puts the children of the node at `path` in the order of `names`
    /// (`name\0…`), as a transaction that deleted and re-created some of
    /// them lists them; children `names` omits keep their order after the
    /// listed ones.
    pub fn reorder_children(&mut self, path: &str, names: &[u8]) {
        let listed = || names.split(|&c| c == 0).filter(|s| !s.is_empty());
        let Some(dir_id) =
            self.locate(path).and_then(|l| self.record(l.handle)).and_then(|r| r.dir)
        else {
            return;
        };
        let arena = &self.arena;
        let Some(dir) = self.dirs.get_mut(dir_id) else {
            return;
        };
        if dir.order().iter().map(|&h| name_in(arena, h)).eq(listed()) {
            return;
        }
        // Creation-order positions change.
        self.cache.get_mut().clear_exact();
        let mut taken: Vec<bool> = Vec::new();
        taken.resize(dir.len(), false);
        let mut order: Vec<Handle> = Vec::with_capacity(dir.len());
        for name in listed() {
            let Ok(pos) = dir.find(name, |h| name_in(arena, h)) else { continue };
            if let (Some(t), Some(&h)) = (taken.get_mut(pos.order), dir.order().get(pos.order)) {
                if !*t {
                    *t = true;
                    order.push(h);
                }
            }
        }
        for (&h, &t) in dir.order().iter().zip(&taken) {
            if !t {
                order.push(h);
            }
        }
        dir.reorder(&order, |h| name_in(arena, h));
    }

    /// What [`Tree::reorder_children`] may allocate at once for a
    /// transaction's copy of a node listing `names` (`name\0…`): per child,
    /// a mark, a handle and an entry of the new sorted index (for the
    /// memory budget).
    pub fn reorder_growth(names: &[u8]) -> usize {
        const PER_CHILD: usize = size_of::<bool>() + size_of::<Handle>() + size_of::<u32>();
        names.iter().filter(|&&c| c == 0).count().saturating_mul(PER_CHILD)
    }

    /// Registers a transaction's first read of `path` and returns the
    /// generation to record for it (see `tree/txgen.rs`); `current` is the
    /// global generation.
    pub fn tx_read(&mut self, path: &str, current: u64) -> u64 {
        let current = if self.contains(path) { current } else { NO_GENERATION };
        self.gens.read(path, current)
    }

    /// What [`Tree::tx_read`] of `path` may allocate at once beyond the
    /// path and its slot (the tracked paths' table growing).
    pub fn tx_read_growth(&self, path: &str) -> usize {
        self.gens.read_growth(path)
    }

    /// Ends a transaction's read of `path`.
    pub fn tx_release(&mut self, path: &str) {
        self.gens.release(path);
    }

    /// The generation of `path` as its transaction readers compare it.
    pub fn tx_generation(&self, path: &str) -> Option<u64> {
        self.gens.get(path)
    }

    /// Forgets every transaction read (none is open).
    pub fn tx_forget_all(&mut self) {
        self.gens.clear();
    }

    /// The heap that listing one more child under `parent` may allocate
    /// (its children vector's next block; 0 when it has room or `parent`
    /// is missing), for the memory budget.
    pub fn child_growth(&self, parent: &str) -> usize {
        self.locate(parent)
            .and_then(|loc| self.record(loc.handle)?.dir)
            .and_then(|d| self.dirs.get(d))
            .map_or(0, Dir::insert_growth)
    }

    /// Number of paths tracked for transactions.
    pub fn tx_tracked(&self) -> usize {
        self.gens.len()
    }

    // ----- A domain's nodes -----

    /// The owners index's (domain, directory) entries and heap bytes.
    pub fn owners_size(&self) -> (usize, usize) {
        self.owners.size()
    }

    /// The nodes `dom` owns whose parent it does not own, in the order a
    /// walk of the whole tree meets them (parents first, children in
    /// creation order). With the roots `dom` owns, they and what lies
    /// below them are everything it owns. Costs the children of the
    /// directories holding them, not the tree.
    pub fn owned_tops(&self, dom: DomId) -> Vec<alloc::string::String> {
        let mut found: Vec<(Vec<u32>, alloc::string::String)> = Vec::new();
        for dir in self.owners.dirs(dom) {
            let (Some(key), Some(loc)) = (self.order_key(dir), self.locate(dir)) else { continue };
            let Some(d) =
                self.record(loc.handle).and_then(|r| r.dir).and_then(|d| self.dirs.get(d))
            else {
                continue;
            };
            for (i, &h) in d.order().iter().enumerate() {
                let Some(rec) = self.record(h) else { continue };
                if self.owner_of(rec.perms.unwrap_or(loc.perms)) != dom {
                    continue;
                }
                let name = core::str::from_utf8(rec.name).unwrap_or("");
                let mut k = key.clone();
                k.push(u32::try_from(i).unwrap_or(u32::MAX));
                found.push((k, path::child(dir, name)));
            }
        }
        found.sort_unstable();
        found.into_iter().map(|(_, p)| p).collect()
    }

    /// Where `path` comes in a walk of the whole tree: its root's index,
    /// then each node's index in its parent's creation order.
    fn order_key(&self, path: &str) -> Option<Vec<u32>> {
        let (root, rest) = split(path)?;
        let mut cur = self.root(root)?;
        let Some(Slot::Root(i)) = cur.slot else { return None };
        let mut key = alloc::vec![u32::try_from(i).ok()?];
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            cur = self.child(&cur, seg).ok()?;
            let Some(Slot::Child { pos, .. }) = cur.slot else { return None };
            key.push(u32::try_from(pos.order).ok()?);
        }
        Some(key)
    }

    /// Removes domain `dom` from every permission list it does not own,
    /// in place (no node is visited, no generation changes); `dropped`
    /// hears of each list changed, to account its nodes' sizes. Returns
    /// how many lists `dom` still owns.
    pub fn drop_domain_entries(&mut self, dom: DomId, dropped: impl FnMut(Dropped)) -> usize {
        self.perms.drop_domain(u32::from(dom.0), dropped)
    }

    // ----- Resolution -----

    fn record(&self, h: Handle) -> Option<Record<'_>> {
        Record::decode(self.arena.tail(h))
    }

    fn view(&self, loc: &Loc) -> Option<NodeRef<'_>> {
        let rec = self.record(loc.handle)?;
        let dir = rec.dir.and_then(|d| self.dirs.get(d));
        Some(NodeRef::stored(self, rec.value, self.perms.get(loc.perms), dir))
    }

    fn stat(&self, loc: &Loc) -> Result<Stat, TreeError> {
        let n = self.view(loc).ok_or(TreeError::NotFound)?;
        Ok(Stat { owner: n.owner_dom(), size: n.size() })
    }

    fn owner_of(&self, perms: PermId) -> DomId {
        owner_in(&self.perms, perms)
    }

    fn root(&self, name: &str) -> Option<Loc> {
        self.roots.iter().enumerate().find_map(|(i, &handle)| {
            let rec = self.record(handle)?;
            (rec.name == name.as_bytes()).then(|| Loc {
                slot: Some(Slot::Root(i)),
                handle,
                perms: rec.perms.unwrap_or(NO_PERMS),
            })
        })
    }

    /// Child `name` of `parent`; if there is none, where its name would
    /// go in the parent's children list (`None`: no list).
    fn child(&self, parent: &Loc, name: &str) -> Result<Loc, Option<usize>> {
        #[cfg(test)]
        self.steps.set(self.steps.get().saturating_add(1));
        let dir_id = self.record(parent.handle).and_then(|r| r.dir).ok_or(None)?;
        let dir = self.dirs.get(dir_id).ok_or(None)?;
        let pos = dir.find(name.as_bytes(), |h| self.name_of(h)).map_err(Some)?;
        let handle = *dir.order().get(pos.order).ok_or(None)?;
        let perms = self.record(handle).ok_or(None)?.perms.unwrap_or(parent.perms);
        Ok(Loc { slot: Some(Slot::Child { dir: dir_id, pos }), handle, perms })
    }

    /// The length of the longest prefix of `path` that is an existing
    /// node, ending at a separator or at its end (`/` counts as 1; 0 if
    /// `path`'s root is missing). Every shorter such prefix exists too, so
    /// this answers for all of `path`'s ancestors below its root at once,
    /// with one walk from the lookup cache (which it keeps as a lookup of
    /// `path` would).
    pub fn existing_prefix(&self, path: &str) -> usize {
        let Some((root, rest)) = split(path) else { return 0 };
        let start = self.cache.borrow().start(path);
        let (mut cur, mut end, tail, mut depth) = match start {
            Some(s) => {
                (Loc { slot: None, handle: s.handle, perms: s.perms }, s.end, s.rest, s.depth)
            }
            None => match self.root(root) {
                Some(r) => (r, root.len(), rest, 0),
                None => return 0,
            },
        };
        for seg in tail.split('/').filter(|_| !tail.is_empty()) {
            let Ok(next) = self.child(&cur, seg) else { break };
            cur = next;
            end = end.saturating_add(1).saturating_add(seg.len());
            if self.is_dir(&cur) {
                let prefix = path.get(..end).unwrap_or(path);
                depth = self.cache.borrow_mut().push(depth, prefix, cur.handle, cur.perms);
            }
        }
        end.max(1)
    }

    /// Resolves `path`; `cached`: start from the lookup caches when they
    /// hold the path or an ancestor (the result's location and parent may
    /// then be unknown) and remember the deepest directory reached.
    /// Either way the outcome is remembered for the next lookup of `path`.
    fn find<'p>(&self, path: &'p str, cached: bool) -> Option<Found<'p>> {
        if let Some(hit) = self.cache.borrow_mut().exact(path, !cached) {
            return Some(hit);
        }
        let found = self.walk(path, cached)?;
        self.cache.borrow_mut().set_exact(path, &found);
        Some(found)
    }

    /// Resolves `path` by walking from its root, or from the directory
    /// cache when `cached` (see [`Tree::find`]); a cached walk remembers
    /// the directories it goes through.
    fn walk<'p>(&self, path: &'p str, cached: bool) -> Option<Found<'p>> {
        let (root, rest) = split(path)?;
        // `cur` is the node at `path[..end]`, `tail` what is left below it;
        // `depth` directories remembered are `cur` and its ancestors.
        let start = if cached { self.cache.borrow().start(path) } else { None };
        let (mut cur, mut end, tail, mut depth) = match start {
            Some(s) => {
                (Loc { slot: None, handle: s.handle, perms: s.perms }, s.end, s.rest, s.depth)
            }
            None => {
                let Some(r) = self.root(root) else {
                    let missing = Found::Missing { parent: None, name: root, at: None };
                    return rest.is_empty().then_some(missing);
                };
                (r, root.len(), rest, 0)
            }
        };
        let mut segments = tail.split('/').filter(|_| !tail.is_empty()).peekable();
        let mut parent: Option<Loc> = None;
        while let Some(seg) = segments.next() {
            match self.child(&cur, seg) {
                Ok(next) => {
                    parent = Some(cur);
                    cur = next;
                    end = end.saturating_add(1).saturating_add(seg.len());
                    // The next lookup may start here, or at any ancestor
                    // (a removal goes up the chain a creation went down).
                    if cached && self.is_dir(&cur) {
                        let prefix = path.get(..end).unwrap_or(path);
                        depth = self.cache.borrow_mut().push(depth, prefix, cur.handle, cur.perms);
                    }
                }
                Err(at) => {
                    if segments.peek().is_some() {
                        // An ancestor is missing. Its own lookup and its
                        // missing ancestors' (a permission check walks up
                        // them) start from the deepest directory reached.
                        return None;
                    }
                    return Some(Found::Missing { parent: Some(cur), name: seg, at });
                }
            }
        }
        Some(Found::Node { parent, loc: cur })
    }

    fn is_dir(&self, loc: &Loc) -> bool {
        self.record(loc.handle).is_some_and(|r| r.dir.is_some())
    }

    /// Remembers the directory `loc` at `path[..end]` in the lookup cache
    /// (roots are found fast enough without it).
    fn remember(&self, path: &str, end: usize, loc: &Loc) {
        if matches!(loc.slot, Some(Slot::Root(_))) || !self.is_dir(loc) {
            return;
        }
        if let Some(prefix) = path.get(..end) {
            self.cache.borrow_mut().set(prefix, loc.handle, loc.perms);
        }
    }

    /// Forgets the lookup cache (a record moved or permissions changed).
    fn forget(&self) {
        self.cache.borrow_mut().clear();
    }

    fn locate(&self, path: &str) -> Option<Loc> {
        match self.find(path, true)? {
            Found::Node { loc, .. } => Some(loc),
            Found::Missing { .. } => None,
        }
    }

    fn existing_with_parent(&self, path: &str) -> Result<(Option<Loc>, Loc), TreeError> {
        match self.find(path, false) {
            Some(Found::Node { parent, loc }) => Ok((parent, loc)),
            _ => Err(TreeError::NotFound),
        }
    }

    /// As [`Tree::existing_with_parent`], the parent found as any lookup
    /// finds it (from the lookup cache: its location may be unknown) and
    /// the node by name in its parent's children list, so that the node's
    /// place there is known without walking from the root.
    fn existing_in_parent(&self, path: &str) -> Result<(Option<Loc>, Loc), TreeError> {
        let (_, rest) = split(path).ok_or(TreeError::NotFound)?;
        if rest.is_empty() {
            return self.existing_with_parent(path);
        }
        let parent = self.locate(path::parent(path)).ok_or(TreeError::NotFound)?;
        let loc = self.child(&parent, path::basename(path)).map_err(|_| TreeError::NotFound)?;
        Ok((Some(parent), loc))
    }

    /// The node at `path` and its parent's effective permissions.
    fn existing(&self, path: &str) -> Result<(Option<PermId>, Loc), TreeError> {
        let (parent, loc) = self.existing_with_parent(path)?;
        Ok((parent.map(|p| p.perms), loc))
    }

    // ----- Changes -----

    /// Records a change of the node at `loc` (path `path`).
    fn stamp(&mut self, path: &str, loc: &Loc, generation: u64) {
        if let Some(d) =
            self.record(loc.handle).and_then(|r| r.dir).and_then(|d| self.dirs.get_mut(d))
        {
            d.generation = generation;
        }
        self.gens.stamp(path, generation);
    }

    /// Creates node `name` under `parent` (a root if `None`); `at` is
    /// where a lookup found its name goes in the parent's list (checked).
    fn create(
        &mut self,
        path: &str,
        parent: Option<Loc>,
        name: &str,
        at: Option<usize>,
        node: &Node,
        generation: u64,
    ) -> Result<Put, TreeError> {
        let own = self.intern_own(&node.perms, parent.map(|p| p.perms))?;
        let perms = own.or(parent.map(|p| p.perms)).unwrap_or(NO_PERMS);
        let rec = Record { perms: own, dir: None, name: name.as_bytes(), value: &node.value };
        let made = encode(&rec).and_then(|bytes| self.place(None, None, &bytes));
        let made = made.and_then(|h| match parent {
            None => {
                self.roots.try_reserve(1).map_err(|_| TreeError::Full)?;
                self.roots.push(h);
                Ok((h, Some(Slot::Root(self.roots.len().saturating_sub(1))), None))
            }
            Some(p) => self.link(path, p, (name, at), h, generation).inspect_err(|_| {
                self.arena.free(h, rec.len());
            }),
        });
        let (handle, slot, parent_now) = match made {
            Ok(x) => x,
            Err(e) => {
                if let Some(id) = own {
                    self.perms.release(id);
                }
                return Err(e);
            }
        };
        self.count = self.count.saturating_add(1);
        self.perms.use_list(perms, true);
        if let Some(p) = parent {
            let owner = self.owner_of(perms);
            if self.owner_of(p.perms) != owner {
                self.owners.add(owner, path::parent(path));
            }
        }
        self.gens.stamp(path, generation);
        if parent.is_some() {
            self.gens.stamp(path::parent(path), generation);
        }
        // A children list grew: sorted positions moved and a remembered
        // "missing" may be this node. Remember the node instead.
        let loc = Loc { slot, handle, perms };
        let mut cache = self.cache.borrow_mut();
        cache.clear_exact();
        cache.set_exact(path, &Found::Node { parent: parent_now, loc });
        drop(cache);
        // The parent is a directory now (its record may have moved, which
        // cleared the cache): lookups below it, as the next node of a
        // chain being created, start there rather than at the root, so
        // creating a chain costs its depth, not its depth squared.
        if let Some(p) = parent_now.filter(|_| path::parent(path) != "/") {
            self.remember(path, path::parent(path).len(), &p);
        }
        let new = self.stat(&loc)?;
        Ok(Put { old: None, new, linked: parent.map(|p| self.owner_of(p.perms)) })
    }

    /// Lists record `h`, named `name`, as the last child of `parent`
    /// (giving the parent a children list if it has none); `at` is a hint
    /// of its place in name order, used only if it fits. Returns `h`,
    /// where it is listed, and the parent's location now (its record may
    /// have moved).
    fn link(
        &mut self,
        path: &str,
        parent: Loc,
        (name, at): (&str, Option<usize>),
        h: Handle,
        generation: u64,
    ) -> Result<(Handle, Option<Slot>, Option<Loc>), TreeError> {
        let prec = self.record(parent.handle).ok_or(TreeError::NoParent)?;
        let (dir_id, parent) = match prec.dir {
            Some(d) => (d, parent),
            None => {
                // The parent's record grows: find where it is kept.
                let parent = match parent.slot {
                    Some(_) => parent,
                    None => self.existing_with_parent(path::parent(path))?.1,
                };
                let old = Some((parent.handle, prec.len()));
                let d = self.dirs.alloc(generation).ok_or(TreeError::Full)?;
                let bytes = self
                    .record(parent.handle)
                    .ok_or(TreeError::NoParent)
                    .and_then(|prec| encode(&Record { dir: Some(d), ..prec }));
                match bytes.and_then(|b| self.place(parent.slot, old, &b)) {
                    Ok(handle) => (d, Loc { handle, ..parent }),
                    Err(e) => {
                        self.dirs.free(d);
                        return Err(e);
                    }
                }
            }
        };
        let arena = &self.arena;
        let dir = self.dirs.get_mut(dir_id).ok_or(TreeError::NoParent)?;
        let name_of = |h| name_in(arena, h);
        let at = match at.filter(|&at| dir.fits_at(at, name.as_bytes(), name_of)) {
            Some(at) => at,
            None => dir.find(name.as_bytes(), name_of).err().ok_or(TreeError::Full)?,
        };
        dir.insert(at, h, name.len()).ok_or(TreeError::Full)?;
        dir.generation = generation;
        let pos = Pos { order: dir.len().saturating_sub(1), sorted: at };
        Ok((h, Some(Slot::Child { dir: dir_id, pos }), Some(parent)))
    }

    /// The id a new node with `perms` under a parent with `parent` stores:
    /// `None` when it is the parent's list.
    fn intern_own(
        &mut self,
        perms: &[Perm],
        parent: Option<PermId>,
    ) -> Result<Option<PermId>, TreeError> {
        // Most nodes get their parent's list: no need to intern it.
        if parent.is_some_and(|p| **self.perms.get(p) == *perms) {
            return Ok(None);
        }
        let id = self.perms.intern(perms).ok_or(TreeError::Full)?;
        if Some(id) == parent {
            self.perms.release(id);
            return Ok(None);
        }
        Ok(Some(id))
    }

    /// Re-encodes the node at `loc` (path `path`) with a new value and/or
    /// permission list; `parent` is the parent's effective list. Returns
    /// the node's new location.
    fn rewrite(
        &mut self,
        path: &str,
        loc: Loc,
        parent: Option<PermId>,
        value: Option<&[u8]>,
        perms: Option<&[Perm]>,
    ) -> Result<Loc, TreeError> {
        let rec = self.record(loc.handle).ok_or(TreeError::NotFound)?;
        let (mut own, dir, mut eff) = (rec.perms, rec.dir, loc.perms);
        if let Some(perms) = perms {
            let id = self.perms.intern(perms).ok_or(TreeError::Full)?;
            if id == loc.perms {
                self.perms.release(id);
            } else {
                // Effective lists below may change.
                self.forget();
                if let Some(d) = dir {
                    self.pin_children(d, loc.perms)?;
                }
                let was = self.owner_of(loc.perms);
                self.perms.use_list(loc.perms, false);
                if let Some(old) = own {
                    self.perms.release(old);
                }
                own = self.intern_own(perms, parent)?;
                self.perms.release(id);
                eff = own.or(parent).unwrap_or(NO_PERMS);
                self.perms.use_list(eff, true);
                let now = self.owner_of(eff);
                if now != was {
                    self.reown(path, parent, dir, (was, now));
                }
            }
        }
        let rec = self.record(loc.handle).ok_or(TreeError::NotFound)?;
        let new = Record { perms: own, dir, name: rec.name, value: value.unwrap_or(rec.value) };
        let bytes = encode(&new)?;
        let old = Some((loc.handle, rec.len()));
        let handle = self.place(loc.slot, old, &bytes)?;
        Ok(Loc { handle, perms: eff, ..loc })
    }

    /// Keeps the owners index when the node at `path` (parent's list
    /// `parent`, children list `dir`, its children pinned) passes from
    /// owner `was` to `now`: against its parent and each child.
    fn reown(
        &mut self,
        path: &str,
        parent: Option<PermId>,
        dir: Option<DirId>,
        (was, now): (DomId, DomId),
    ) {
        if let Some(p) = parent.map(|p| self.owner_of(p)) {
            if p != was {
                self.owners.remove(was, path::parent(path));
            }
            if p != now {
                self.owners.add(now, path::parent(path));
            }
        }
        let Some(d) = dir.and_then(|d| self.dirs.get(d)) else { return };
        let (arena, perms, owners) = (&self.arena, &self.perms, &mut self.owners);
        for &h in d.order() {
            // Pinned: every child has a list of its own.
            let Some(id) = Record::decode(arena.tail(h)).and_then(|r| r.perms) else { continue };
            let child = owner_in(perms, id);
            if child != was {
                owners.remove(child, path);
            }
            if child != now {
                owners.add(child, path);
            }
        }
    }

    /// Gives every child in list `dir` that uses its parent's permission
    /// list (`perms`) a reference of its own, before the parent's changes.
    fn pin_children(&mut self, dir: DirId, perms: PermId) -> Result<(), TreeError> {
        let n = self.dirs.get(dir).map_or(0, Dir::len);
        for i in 0..n {
            let Some(&h) = self.dirs.get(dir).and_then(|d| d.order().get(i)) else { continue };
            let Some(rec) = self.record(h) else { continue };
            if rec.perms.is_some() {
                continue;
            }
            let bytes = encode(&Record { perms: Some(perms), ..rec })?;
            let slot = Some(Slot::Child { dir, pos: Pos { order: i, sorted: 0 } });
            self.place(slot, Some((h, rec.len())), &bytes)?;
            self.perms.retain(perms);
        }
        Ok(())
    }

    /// Writes `bytes` as the record kept at `slot`, over the record `old`
    /// (handle, length) if it fits, else in a new record (freeing `old`).
    /// Returns the record's handle.
    fn place(
        &mut self,
        slot: Option<Slot>,
        old: Option<(Handle, usize)>,
        bytes: &[u8],
    ) -> Result<Handle, TreeError> {
        if let Some((h, len)) = old {
            if Arena::fits(len, bytes.len()) {
                self.write(h, bytes);
                return Ok(h);
            }
        }
        if old.is_some() && slot.is_none() {
            // A record that moves must be re-linked where it is kept.
            return Err(TreeError::NotFound);
        }
        let h = self.arena.alloc(bytes.len()).ok_or(TreeError::Full)?;
        self.write(h, bytes);
        if let Some((oh, olen)) = old {
            self.arena.free(oh, olen);
            self.forget();
        }
        if let Some(slot) = slot {
            self.set_slot(slot, h);
        }
        Ok(h)
    }

    fn write(&mut self, h: Handle, bytes: &[u8]) {
        let dst = self.arena.get_mut(h, bytes.len());
        if dst.len() == bytes.len() {
            dst.copy_from_slice(bytes);
        }
    }

    fn set_slot(&mut self, slot: Slot, h: Handle) {
        let target = match slot {
            Slot::Root(i) => self.roots.get_mut(i),
            Slot::Child { dir, pos } => {
                self.dirs.get_mut(dir).and_then(|d| d.order_mut().get_mut(pos.order))
            }
        };
        if let Some(t) = target {
            *t = h;
        }
    }

    /// Renumbers the children lists into the lowest ids and gives the
    /// rest of their slab back ([`Dirs`]): every record that names a list
    /// gets its new id, written in place.
    fn compact_dirs(&mut self) {
        self.forget();
        self.dirs.sort_free();
        let (dirs, arena) = (&self.dirs, &mut self.arena);
        let mut renumber = |h: Handle| {
            if let Some(id) = record::dir_id_mut(arena.tail_mut(h)) {
                *id = dirs.renumbered(DirId::from_le_bytes(*id)).to_le_bytes();
            }
        };
        // Every record is listed once: as a root or in its parent's list.
        self.roots.iter().copied().for_each(&mut renumber);
        for d in dirs.iter() {
            d.order().iter().copied().for_each(&mut renumber);
        }
        self.dirs.compact();
    }

    /// Copies every live record into a fresh arena, leaving the free
    /// space behind.
    fn compact(&mut self) {
        self.forget();
        // Every live record, ascending. While they move, the tree holds
        // each one's rank in this list instead of its handle. Compaction
        // only gives memory back later: without room for the list now it
        // waits for a later removal.
        let count = self.roots.len().saturating_add(self.dirs.iter().map(Dir::len).sum());
        let mut live: Vec<Handle> = Vec::new();
        if live.try_reserve_exact(count).is_err() {
            return;
        }
        live.extend_from_slice(&self.roots);
        for d in self.dirs.iter_mut() {
            live.extend_from_slice(d.order_mut());
        }
        live.sort_unstable();
        let rank = |h: &mut Handle| {
            if let Ok(i) = live.binary_search(h) {
                *h = u32::try_from(i).unwrap_or(*h);
            }
        };
        self.roots.iter_mut().for_each(rank);
        for d in self.dirs.iter_mut() {
            d.order_mut().iter_mut().for_each(rank);
        }
        self.arena.slide(&mut live, |b| Record::decode(b).map_or(0, |r| r.len()));
        let moved = |h: &mut Handle| {
            if let Some(&new) = usize::try_from(*h).ok().and_then(|i| live.get(i)) {
                *h = new;
            }
        };
        self.roots.iter_mut().for_each(moved);
        for d in self.dirs.iter_mut() {
            d.order_mut().iter_mut().for_each(moved);
        }
    }
}

#[cfg(test)]
mod tests;
