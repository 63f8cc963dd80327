//! Walks over the tree: all nodes, and subtrees in pre- and post-order.
//! Only [`Tree::for_each_node`] serves requests: the others list paths
//! (memory the sum of their lengths) and exist for tests.
//! Iterative with an explicit stack (XSA-418: no recursion on
//! guest-controlled depth).

#[cfg(test)]
use alloc::string::String;
use alloc::vec::Vec;

use super::arena::Handle;
use super::dir::Dir;
#[cfg(test)]
use super::dir::Pos;
use super::node::NodeRef;
use super::permtab::PermId;
#[cfg(test)]
use super::Slot;
use super::{Loc, Tree, NO_PERMS};
#[cfg(test)]
use crate::path;

/// Where [`Tree::walk_all`] is: a record's name, the length of its parent's
/// path as a prefix of its own (`None` for a root; `/`'s children add
/// their separator to an empty prefix), and the length of its own path.
#[derive(Clone, Copy)]
struct WalkStep<'a> {
    parent_len: Option<usize>,
    name: &'a [u8],
    len: usize,
}

impl Tree {
    #[cfg(test)]
    /// Iterates all nodes with their paths (roots in creation order, then
    /// each subtree parents first).
    pub fn iter(&self) -> impl Iterator<Item = (String, NodeRef<'_>)> {
        let mut out = Vec::with_capacity(self.count);
        for (i, &handle) in self.roots.iter().enumerate() {
            let Some(rec) = self.record(handle) else { continue };
            let root = core::str::from_utf8(rec.name).unwrap_or("");
            let p = if root.is_empty() { String::from("/") } else { String::from(root) };
            let loc =
                Loc { slot: Some(Slot::Root(i)), handle, perms: rec.perms.unwrap_or(NO_PERMS) };
            self.walk_pre_order(p, loc, |p, loc| {
                if let Some(n) = self.view(&loc) {
                    out.push((p, n));
                }
            });
        }
        out.into_iter()
    }

    /// Calls `f(path_len, node)` for every node (roots in creation order,
    /// then each subtree parents first, children in creation order) with
    /// a stack of one entry per level: the walk's memory follows the
    /// tree's depth, not its size, so it can serve requests (`memreport`,
    /// `check`) on a tree that fills the heap.
    pub fn for_each_node(&self, mut f: impl FnMut(usize, NodeRef<'_>)) {
        let walked: Result<(), core::convert::Infallible> = self.walk_all(|step, node| {
            if let Some(n) = node {
                f(step.len, n);
            }
            Ok(())
        });
        let Ok(()) = walked;
    }

    /// As [`Tree::for_each_node`], with each node's path: `f(path, node)`
    /// for every node, in the same order. One path buffer and a stack of
    /// one entry per level, so the walk's memory follows the tree's depth
    /// (a migration stream is written this way, `migrate.rs`). `f` may
    /// stop the walk with an error, which is returned.
    pub fn try_for_each_path<E>(
        &self,
        mut f: impl FnMut(&str, NodeRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut path = alloc::string::String::new();
        self.walk_all(|step, node| {
            let name = core::str::from_utf8(step.name).unwrap_or("");
            match step.parent_len {
                // `/` is named by its separator.
                None if name.is_empty() => {
                    path.clear();
                    path.push('/');
                }
                None => {
                    path.clear();
                    path.push_str(name);
                }
                Some(prefix) => {
                    path.truncate(prefix);
                    path.push('/');
                    path.push_str(name);
                }
            }
            node.map_or(Ok(()), |n| f(&path, n))
        })
    }

    /// The walk both of the above make: `f(step, node)` for every record
    /// (roots in creation order, then each subtree parents first,
    /// children in creation order; `node` is `None` where a record has
    /// no view), with a stack of one entry per level.
    fn walk_all<E>(
        &self,
        mut f: impl FnMut(WalkStep<'_>, Option<NodeRef<'_>>) -> Result<(), E>,
    ) -> Result<(), E> {
        for &root in &self.roots {
            let Some(rec) = self.record(root) else { continue };
            let perms = rec.perms.unwrap_or(NO_PERMS);
            // `/` is named by its separator; its children add theirs.
            let (len, prefix) =
                if rec.name.is_empty() { (1, 0) } else { (rec.name.len(), rec.name.len()) };
            let step = WalkStep { parent_len: None, name: rec.name, len };
            f(step, self.view(&Loc { slot: None, handle: root, perms }))?;
            // (directory, its permissions, next child, its path's length
            // as a prefix of its children's)
            let mut stack: Vec<(Handle, PermId, usize, usize)> = Vec::new();
            stack.push((root, perms, 0, prefix));
            while let Some(top) = stack.last_mut() {
                let (h, perms, i, prefix) = *top;
                let Some(&c) = self.children(h).get(i) else {
                    stack.pop();
                    continue;
                };
                top.2 = i.saturating_add(1);
                let Some(rec) = self.record(c) else { continue };
                let perms = rec.perms.unwrap_or(perms);
                let len = prefix.saturating_add(1).saturating_add(rec.name.len());
                let step = WalkStep { parent_len: Some(prefix), name: rec.name, len };
                f(step, self.view(&Loc { slot: None, handle: c, perms }))?;
                stack.push((c, perms, 0, len));
            }
        }
        Ok(())
    }

    #[cfg(test)]
    /// The paths of `root` and everything below it, children before their
    /// parent (post-order, children in creation order), as C's
    /// `walk_node_tree` exit order. Iterative.
    pub fn subtree_post_order(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Some(loc) = self.locate(root) else {
            return out;
        };
        // Each stack entry is a path, its record and the next child index.
        let mut stack: Vec<(String, Handle, usize)> = Vec::new();
        stack.push((String::from(root), loc.handle, 0));
        while let Some((p, h, i)) = stack.pop() {
            match self.children(h).get(i).copied() {
                Some(c) => {
                    let name = core::str::from_utf8(self.name_of(c)).unwrap_or("");
                    let child = path::child(&p, name);
                    stack.push((p, h, i.saturating_add(1)));
                    stack.push((child, c, 0));
                }
                None => out.push(p),
            }
        }
        out
    }

    #[cfg(test)]
    /// The paths of `root` and everything below it, parents first
    /// (pre-order). Iterative.
    pub fn subtree_pre_order(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(loc) = self.locate(root) {
            self.walk_pre_order(String::from(root), loc, |p, _| out.push(p));
        }
        out
    }

    /// The children handles of record `h` in creation order.
    fn children(&self, h: Handle) -> &[Handle] {
        self.record(h).and_then(|r| r.dir).and_then(|d| self.dirs.get(d)).map_or(&[], Dir::order)
    }

    #[cfg(test)]
    /// Pre-order walk from `loc` (at path `p`), children in creation
    /// order, with an explicit stack.
    fn walk_pre_order(&self, p: String, loc: Loc, mut visit: impl FnMut(String, Loc)) {
        let mut stack: Vec<(String, Loc)> = Vec::new();
        stack.push((p, loc));
        while let Some((p, loc)) = stack.pop() {
            let Some(dir_id) = self.record(loc.handle).and_then(|r| r.dir) else {
                visit(p, loc);
                continue;
            };
            let kids = self.dirs.get(dir_id).map_or(&[][..], Dir::order);
            for (i, &h) in kids.iter().enumerate().rev() {
                let Some(rec) = self.record(h) else { continue };
                let name = core::str::from_utf8(rec.name).unwrap_or("");
                let pos = Pos { order: i, sorted: 0 };
                let child = Loc {
                    slot: Some(Slot::Child { dir: dir_id, pos }),
                    handle: h,
                    perms: rec.perms.unwrap_or(loc.perms),
                };
                stack.push((path::child(&p, name), child));
            }
            visit(p, loc);
        }
    }
}
