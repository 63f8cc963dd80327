//! Lookup caches: the last directories a lookup went through, and the
//! last two paths resolved.
//!
//! Requests touch a node and its parent several times (permission
//! checks, creation, watch events), and clients write many nodes into
//! the same directory. So the tree keeps:
//!
//! * the directories of the last walk ([`Link`]): the deepest one's path
//!   and, for it and each ancestor walked through (below the roots),
//!   where its path ends, its record handle and effective permission
//!   list. A lookup starts from the deepest of them that is the path or
//!   an ancestor of it instead of at the root, so a lookup next to the
//!   last one costs the levels between them, whichever way it goes
//!   (down to create a chain, up to remove one);
//! * the outcome of the last two lookups ([`Exact`]): the node and its
//!   parent, or "missing, under this parent". A request resolving the
//!   same path again gets it without walking; two entries cover the usual
//!   alternation between a node and its parent.
//!
//! The tree clears both whenever a record moves or permissions change
//! ([`LookupCache::clear`]), drops the directories at or below a removed
//! node ([`LookupCache::cut`]), and clears the exact entries whenever a
//! children list gains or loses a member or is reordered (which shifts
//! sorted positions and turns "missing" into "exists";
//! [`LookupCache::clear_exact`]), so neither ever names a stale record.
//!
//! Memory: one path and 12 bytes per directory level, for at most the
//! last [`MAX_LINKS`] levels of a walk (3 KiB: a path at the length
//! limit has up to 1 536 levels, whose 18 KiB, doubled while the list
//! grows, would not fit in a request's headroom). A removal going up a
//! deeper chain walks from the root again once every [`MAX_LINKS`]
//! levels: still its depth, times at most six. Every growth is fallible
//! (a failed one only leaves the cache shorter), and buffers a deep path
//! grew are given back once the cache holds a shallow path again.

use alloc::string::String;
use alloc::vec::Vec;

use super::arena::Handle;
use super::permtab::PermId;
use super::{Found, Loc};

/// Path buffers up to this capacity are kept when the cache is cleared.
const KEEP_PATH_BYTES: usize = 256;

/// Directory lists up to this capacity are kept when the cache is
/// cleared.
const KEEP_LINKS: usize = 32;

/// At most this many directories are remembered (the deepest ones).
pub const MAX_LINKS: usize = 256;

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

/// A remembered directory: the end of its path (a prefix of
/// [`LookupCache`]'s path), its record, its effective permissions.
#[derive(Clone, Copy, Debug)]
struct Link {
    end: u32,
    handle: Handle,
    perms: PermId,
}

/// Where a lookup can start ([`LookupCache::start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start<'p> {
    /// The directory's record.
    pub handle: Handle,
    /// Its effective permissions.
    pub perms: PermId,
    /// The length of its path.
    pub end: usize,
    /// The rest of the path looked up, below it (empty for itself).
    pub rest: &'p str,
    /// How many remembered directories are it and its ancestors (what a
    /// walk down from it passes to [`LookupCache::push`]).
    pub depth: usize,
}

/// The length of the longest common prefix of `a` and `b`, compared a
/// block at a time (`memcmp`): lookups compare whole paths, which a deep
/// chain makes kilobytes long.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    // Most lookups are below or above the last one: one comparison.
    if a.starts_with(b) || b.starts_with(a) {
        return a.len().min(b.len());
    }
    let same = a.chunks(BLOCK).zip(b.chunks(BLOCK)).take_while(|(x, y)| x == y).count();
    // The last block of the shorter one may be short.
    let done = same.saturating_mul(BLOCK).min(a.len()).min(b.len());
    let (a, b) = (a.get(done..).unwrap_or(&[]), b.get(done..).unwrap_or(&[]));
    done.saturating_add(a.iter().zip(b).take_while(|(x, y)| x == y).count())
}

/// The cached directories and lookup outcomes.
#[derive(Default)]
pub struct LookupCache {
    /// The path of the deepest remembered directory.
    path: String,
    /// The remembered directories, ancestors first, each a prefix of
    /// `path` (not necessarily every level), the last one `path` itself.
    links: Vec<Link>,
    /// The remembered outcomes.
    exact: [Exact; EXACT_ENTRIES],
    /// The entry used most recently (the other one is replaced first).
    recent: usize,
}

impl LookupCache {
    /// Where a lookup of `path` can start: the deepest remembered
    /// directory that is `path` or an ancestor of it.
    pub fn start<'p>(&self, path: &'p str) -> Option<Start<'p>> {
        let common = common_prefix(self.path.as_bytes(), path.as_bytes());
        // Directories ending within the common prefix are ancestors of
        // `path` if it has a separator (or ends) there.
        let mut depth = self.links.partition_point(|l| l.end as usize <= common);
        while let Some(i) = depth.checked_sub(1) {
            let l = self.links.get(i)?;
            let end = l.end as usize;
            let rest = match path.get(end..) {
                Some("") => Some(""),
                Some(below) => below.strip_prefix('/'),
                None => None,
            };
            if let Some(rest) = rest {
                return Some(Start { handle: l.handle, perms: l.perms, end, rest, depth });
            }
            depth = i;
        }
        None
    }

    /// Remembers directory `path` (record `handle`, effective list
    /// `perms`) below the first `depth` remembered directories, which
    /// must be ancestors of it, forgetting the others. Returns how many
    /// are remembered now (`depth` + 1, or fewer if memory ran out).
    pub fn push(&mut self, depth: usize, path: &str, handle: Handle, perms: PermId) -> usize {
        self.links.truncate(depth);
        let keep = self.links.last().map_or(0, |l| l.end as usize);
        self.path.truncate(keep);
        let (Some(add), Ok(end)) = (path.get(keep..), u32::try_from(path.len())) else {
            return self.links.len();
        };
        if self.links.len() >= MAX_LINKS {
            // The shallowest one goes (the path stays: the others end in it).
            self.links.remove(0);
        }
        if self.path.try_reserve(add.len()).is_err() || self.links.try_reserve(1).is_err() {
            return self.links.len();
        }
        self.path.push_str(add);
        self.links.push(Link { end, handle, perms });
        self.links.len()
    }

    /// Remembers directory `path` below those of its ancestors that are
    /// remembered.
    pub fn set(&mut self, path: &str, handle: Handle, perms: PermId) {
        let depth = match self.start(path) {
            Some(s) if s.end == path.len() => s.depth.saturating_sub(1),
            Some(s) => s.depth,
            None => 0,
        };
        self.push(depth, path, handle, perms);
    }

    /// Forgets the directories at or below `path` (a node removed) and
    /// the lookup outcomes.
    pub fn cut(&mut self, path: &str) {
        self.clear_exact();
        let below =
            self.path.strip_prefix(path).is_some_and(|r| r.is_empty() || r.starts_with('/'));
        if below {
            let keep = self.links.partition_point(|l| (l.end as usize) < path.len());
            self.links.truncate(keep);
            self.path.truncate(self.links.last().map_or(0, |l| l.end as usize));
        }
        self.give_back();
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

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.links.clear();
        self.path.clear();
        self.clear_exact();
        self.give_back();
    }

    /// Gives back buffers a deep path grew (a deep chain's paths are
    /// 2 KiB) once they hold a shallow one, so that memory a removed
    /// subtree used does not stay behind in the cache. Unused outcomes'
    /// paths are given back whatever their length.
    fn give_back(&mut self) {
        let shallow_path = self.path.len() <= KEEP_PATH_BYTES / 2;
        let shallow_links = self.links.len() <= KEEP_LINKS / 2;
        if (self.path.capacity() > KEEP_PATH_BYTES && shallow_path)
            || (self.links.capacity() > KEEP_LINKS && shallow_links)
        {
            // Re-made from their ancestors by the next walk.
            self.path = String::new();
            self.links = Vec::new();
        }
        for e in self.exact.iter_mut().filter(|e| !e.valid) {
            if e.path.capacity() > KEEP_PATH_BYTES {
                e.path = String::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Slot;
    use super::*;

    /// `start`'s directory handle, path length, rest and depth.
    fn at<'p>(c: &LookupCache, path: &'p str) -> Option<(Handle, usize, &'p str, usize)> {
        c.start(path).map(|s| (s.handle, s.end, s.rest, s.depth))
    }

    #[test]
    fn lookups_start_below_the_cached_directory_only() {
        let mut c = LookupCache::default();
        assert_eq!(c.start("/a/b"), None);
        c.set("/a", 7, 2);
        let s = c.start("/a/b/c");
        assert_eq!(s, Some(Start { handle: 7, perms: 2, end: 2, rest: "b/c", depth: 1 }));
        assert_eq!(at(&c, "/a"), Some((7, 2, "", 1)));
        assert_eq!(c.start("/ab"), None);
        assert_eq!(c.start("/"), None);
        c.clear();
        assert_eq!(c.start("/a/b"), None);
    }

    #[test]
    fn common_prefixes_are_found_across_blocks() {
        let a: Vec<u8> = (0..200u8).collect();
        for n in [0, 1, 63, 64, 65, 130, 199] {
            let mut b = a.clone();
            b[n] = b'x';
            assert_eq!(common_prefix(&a, &b), n);
            assert_eq!(common_prefix(&a[..n], &b), n);
        }
        assert_eq!(common_prefix(&a, &a), 200);
    }

    #[test]
    fn lookups_start_at_the_deepest_remembered_ancestor() {
        let mut c = LookupCache::default();
        let mut depth = 0;
        for (i, p) in ["/a", "/a/b", "/a/b/c"].into_iter().enumerate() {
            depth = c.push(depth, p, i as Handle + 1, 0);
        }
        assert_eq!(depth, 3);
        assert_eq!(at(&c, "/a/b"), Some((2, 4, "", 2)));
        assert_eq!(at(&c, "/a/bx"), Some((1, 2, "bx", 1)));
        assert_eq!(at(&c, "/a/b/d/e"), Some((2, 4, "d/e", 2)));
        assert_eq!(at(&c, "/a/b/c/d"), Some((3, 6, "d", 3)));
        // Going down from `/a` forgets `/a/b` and below.
        c.push(1, "/a/x", 9, 0);
        assert_eq!(at(&c, "/a/b/c"), Some((1, 2, "b/c", 1)));
        assert_eq!(at(&c, "/a/x/y"), Some((9, 4, "y", 2)));
        // A removed directory is forgotten, its ancestors kept.
        c.cut("/a/x");
        assert_eq!(at(&c, "/a/x"), Some((1, 2, "x", 1)));
        c.cut("/b");
        assert_eq!(at(&c, "/a/x"), Some((1, 2, "x", 1)));
        // `set` keeps the ancestors remembered.
        c.set("/a/b", 2, 0);
        c.set("/a/b", 5, 0);
        assert_eq!(at(&c, "/a/b/c"), Some((5, 4, "c", 2)));
    }

    #[test]
    fn only_the_deepest_directories_are_remembered() {
        let mut c = LookupCache::default();
        let mut p = String::new();
        let mut depth = 0;
        for h in 1..=1000 {
            p.push_str("/a");
            depth = c.push(depth, &p, h, 0);
        }
        assert_eq!((depth, c.links.len()), (MAX_LINKS, MAX_LINKS));
        assert!(c.links.capacity() <= MAX_LINKS);
        let first = 1000 - MAX_LINKS + 1;
        assert_eq!(at(&c, &p[..2 * first]), Some((first as Handle, 2 * first, "", 1)));
        assert_eq!(c.start(&p[..2 * first - 2]), None);
    }

    #[test]
    fn a_shallow_cache_gives_back_what_a_deep_path_grew() {
        let mut c = LookupCache::default();
        let mut p = String::from("/a");
        let mut depth = c.push(0, &p, 1, 0);
        for h in 2..200 {
            p.push_str("/a");
            depth = c.push(depth, &p, h, 0);
        }
        assert_eq!(depth, 199);
        assert!(c.path.capacity() > KEEP_PATH_BYTES && c.links.capacity() > KEEP_LINKS);
        // Removing the chain bottom up keeps what is left...
        for _ in 0..100 {
            c.cut(&p);
            p.truncate(p.len() - 2);
        }
        assert_eq!(at(&c, &p), Some((99, p.len(), "", 99)));
        // ...until it is shallow.
        while p.len() > 2 {
            c.cut(&p);
            p.truncate(p.len() - 2);
        }
        assert_eq!((c.path.capacity(), c.links.capacity()), (0, 0));
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
