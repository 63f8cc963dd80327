//! Lookup caches: the last directory a lookup went through, and the last
//! two paths resolved.
//!
//! Requests touch a node and its parent several times (permission
//! checks, creation, watch events), and clients write many nodes into
//! the same directory. So the tree keeps:
//!
//! * the last directory walked (path, record handle, effective permission
//!   list), from which a lookup below it starts instead of at the root;
//! * the outcome of the last two lookups ([`Exact`]): the node and its
//!   parent, or "missing, under this parent". A request resolving the
//!   same path again gets it without walking; two entries cover the usual
//!   alternation between a node and its parent.
//!
//! The tree clears both whenever a record moves, permissions change or a
//! node is removed ([`LookupCache::clear`]), and the exact entries also
//! whenever a children list gains a member or is reordered (which shifts
//! sorted positions and turns "missing" into "exists";
//! [`LookupCache::clear_exact`]), so neither ever names a stale record.

use alloc::string::String;

use super::arena::Handle;
use super::permtab::PermId;
use super::{Found, Loc};

/// Path buffers up to this capacity are kept when the cache is cleared.
const KEEP_PATH_BYTES: usize = 256;

/// How many lookup outcomes are remembered.
const EXACT_ENTRIES: usize = 2;

/// The outcome of resolving one path.
#[derive(Default)]
struct Exact {
    /// The path resolved.
    path: String,
    /// The entry holds an outcome.
    valid: bool,
    /// The node's parent (`None` for roots).
    parent: Option<Loc>,
    /// The node, or `None` when only its last segment is missing.
    loc: Option<Loc>,
    /// For a missing node: the length of its name (the end of `path`).
    name_len: usize,
    /// For a missing node: where its name goes in the parent's list.
    at: Option<usize>,
}

impl Exact {
    /// Whether the locations are all known (resolved without starting
    /// from the directory cache), as callers that may move records need.
    fn complete(&self) -> bool {
        self.loc.is_none_or(|l| l.slot.is_some()) && self.parent.is_none_or(|p| p.slot.is_some())
    }
}

/// The cached directory and lookup outcomes.
#[derive(Default)]
pub struct LookupCache {
    path: String,
    handle: Handle,
    perms: PermId,
    valid: bool,
    /// The remembered outcomes.
    exact: [Exact; EXACT_ENTRIES],
    /// The entry used most recently (the other one is replaced first).
    recent: usize,
}

impl LookupCache {
    /// Where a lookup of `path` can start: the directory's handle and
    /// permissions, the length of its path, and the rest of `path` below
    /// it (empty for the directory itself).
    pub fn start<'p>(&self, path: &'p str) -> Option<(Handle, PermId, usize, &'p str)> {
        if !self.valid {
            return None;
        }
        let below = path.strip_prefix(self.path.as_str())?;
        let rest = match below.strip_prefix('/') {
            Some(rest) => rest,
            None if below.is_empty() => below,
            None => return None,
        };
        Some((self.handle, self.perms, self.path.len(), rest))
    }

    /// Remembers directory `path`.
    pub fn set(&mut self, path: &str, handle: Handle, perms: PermId) {
        if !(self.valid && self.path == path) {
            self.path.clear();
            self.path.push_str(path);
        }
        self.handle = handle;
        self.perms = perms;
        self.valid = true;
    }

    /// The remembered outcome of resolving `path`; `complete`: only if
    /// every location in it is known.
    pub(super) fn exact<'p>(&mut self, path: &'p str, complete: bool) -> Option<Found<'p>> {
        let i = self.exact.iter().position(|e| e.valid && e.path == path)?;
        let e = self.exact.get(i)?;
        if complete && !e.complete() {
            return None;
        }
        let found = match e.loc {
            Some(loc) => Found::Node { parent: e.parent, loc },
            None => {
                let name = path.get(path.len().saturating_sub(e.name_len)..)?;
                Found::Missing { parent: e.parent, name, at: e.at }
            }
        };
        self.recent = i;
        Some(found)
    }

    /// Remembers the outcome of resolving `path`.
    pub(super) fn set_exact(&mut self, path: &str, found: &Found<'_>) {
        let i = match self.exact.iter().position(|e| e.valid && e.path == path) {
            Some(i) => i,
            None => self.recent.wrapping_add(1) % EXACT_ENTRIES,
        };
        let Some(e) = self.exact.get_mut(i) else {
            return;
        };
        if !(e.valid && e.path == path) {
            e.path.clear();
            e.path.push_str(path);
        }
        (e.parent, e.loc, e.name_len, e.at) = match *found {
            Found::Node { parent, loc } => (parent, Some(loc), 0, None),
            Found::Missing { parent, name, at } => (parent, None, name.len(), at),
        };
        e.valid = true;
        self.recent = i;
    }

    /// Forgets the lookup outcomes (a children list changed).
    pub fn clear_exact(&mut self) {
        for e in &mut self.exact {
            e.valid = false;
        }
    }

    /// Forgets everything. Path buffers a long path grew are given back
    /// (a deep chain's paths are 2 KiB), so that memory a removed subtree
    /// used does not stay behind in the cache.
    pub fn clear(&mut self) {
        self.valid = false;
        self.clear_exact();
        for p in core::iter::once(&mut self.path).chain(self.exact.iter_mut().map(|e| &mut e.path))
        {
            if p.capacity() > KEEP_PATH_BYTES {
                *p = String::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Slot;
    use super::*;

    #[test]
    fn lookups_start_below_the_cached_directory_only() {
        let mut c = LookupCache::default();
        assert_eq!(c.start("/a/b"), None);
        c.set("/a", 7, 2);
        assert_eq!(c.start("/a/b/c"), Some((7, 2, 2, "b/c")));
        assert_eq!(c.start("/a"), Some((7, 2, 2, "")));
        assert_eq!(c.start("/ab"), None);
        assert_eq!(c.start("/"), None);
        c.clear();
        assert_eq!(c.start("/a/b"), None);
    }

    fn loc(handle: Handle, slot: bool) -> Loc {
        Loc { slot: slot.then_some(Slot::Root(0)), handle, perms: 0 }
    }

    fn handle_of(f: Option<Found<'_>>) -> Option<Handle> {
        match f? {
            Found::Node { loc, .. } => Some(loc.handle),
            Found::Missing { .. } => None,
        }
    }

    #[test]
    fn exact_outcomes_keep_the_two_most_recent_paths() {
        let mut c = LookupCache::default();
        c.set_exact("/a", &Found::Node { parent: None, loc: loc(1, true) });
        let missing = Found::Missing { parent: Some(loc(1, true)), name: "b", at: Some(4) };
        c.set_exact("/a/b", &missing);
        assert_eq!(handle_of(c.exact("/a", true)), Some(1));
        match c.exact("/a/b", true) {
            Some(Found::Missing { parent: Some(p), name, at }) => {
                assert_eq!((p.handle, name, at), (1, "b", Some(4)));
            }
            _ => panic!("missing /a/b not remembered"),
        }
        // "/a/b" was used last, so "/a" makes room for "/c".
        c.set_exact("/c", &Found::Node { parent: None, loc: loc(3, false) });
        assert!(c.exact("/a", false).is_none());
        assert!(c.exact("/a/b", false).is_some());
        // Outcomes found from the directory cache lack locations.
        assert!(c.exact("/c", true).is_none());
        assert_eq!(handle_of(c.exact("/c", false)), Some(3));
        c.clear_exact();
        assert!(c.exact("/c", false).is_none());
        assert!(c.exact("/a/b", false).is_none());
    }
}
