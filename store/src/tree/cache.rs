//! A one-entry cache of the last directory a lookup went through.
//!
//! Requests touch a node and its parent several times (permission
//! checks, creation, watch events), and clients write many nodes into
//! the same directory, so starting lookups from the last directory seen
//! skips most of the walk from the root. The entry holds the directory's
//! path, record handle and effective permission list; the tree clears it
//! whenever a record moves, permissions change or a node is removed, so
//! it never names a stale record.

use alloc::string::String;

use crate::arena::Handle;
use crate::permtab::PermId;

/// The cached directory.
#[derive(Default)]
pub struct LookupCache {
    path: String,
    handle: Handle,
    perms: PermId,
    valid: bool,
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

    /// Forgets the entry.
    pub fn clear(&mut self) {
        self.valid = false;
    }
}

#[cfg(test)]
mod tests {
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
}
