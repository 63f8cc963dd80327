//! The node store: a hash map from full path to [`Node`].
//!
//! Full-path keys make every lookup one hash probe (no walk from the root),
//! and the children buffer in each node makes directory listings a copy.
//! Keys up to [`KEY_INLINE`] bytes are stored inside the table entry.
//! The hasher is keyed by `Config::hash_seed` because guests choose the
//! names (hash flooding). Subtree walks are iterative with an explicit
//! stack (XSA-418: no recursion on guest-controlled depth).

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::node::Node;
use crate::path;

/// The keyed hasher used for guest-named keys.
pub type Hasher = foldhash::fast::FixedState;

/// Paths up to this many bytes are stored without a separate allocation.
pub const KEY_INLINE: usize = 24;

/// A canonical path as a table key.
type Key = SmallVec<[u8; KEY_INLINE]>;

/// All nodes, by canonical path.
pub struct Tree {
    nodes: HashMap<Key, Node, Hasher>,
}

impl Tree {
    /// An empty tree hashing with `seed`.
    pub fn new(seed: u64) -> Tree {
        Tree { nodes: HashMap::with_hasher(Hasher::with_seed(seed)) }
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path.as_bytes())
    }

    /// The node at `path`, mutably.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        self.nodes.get_mut(path.as_bytes())
    }

    /// Stores `node` at `path`, returning the previous node.
    pub fn insert(&mut self, path: &str, node: Node) -> Option<Node> {
        if let Some(slot) = self.nodes.get_mut(path.as_bytes()) {
            return Some(core::mem::replace(slot, node));
        }
        self.nodes.insert(Key::from_slice(path.as_bytes()), node);
        None
    }

    /// Removes the node at `path`.
    pub fn remove(&mut self, path: &str) -> Option<Node> {
        self.nodes.remove(path.as_bytes())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Iterates all nodes (any order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        // Keys are validated paths (ASCII), so the conversion never fails.
        self.nodes.iter().map(|(k, v)| (core::str::from_utf8(k).unwrap_or(""), v))
    }

    /// The paths of `root` and everything below it, children before their
    /// parent (post-order, children in creation order), as C's
    /// `walk_node_tree` exit order. Iterative.
    pub fn subtree_post_order(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.get(root).is_none() {
            return out;
        }
        // Each stack entry is a path and the offset of the next child name.
        let mut stack: Vec<(String, usize)> = Vec::new();
        stack.push((String::from(root), 0));
        while let Some((p, off)) = stack.pop() {
            let next = self.get(&p).and_then(|n| next_child(n.children(), off));
            match next {
                Some((name, next_off)) => {
                    let c = path::child(&p, name);
                    stack.push((p, next_off));
                    if self.get(&c).is_some() {
                        stack.push((c, 0));
                    }
                }
                None => out.push(p),
            }
        }
        out
    }

    /// The paths of `root` and everything below it, parents first
    /// (pre-order). Iterative.
    pub fn subtree_pre_order(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        if self.get(root).is_some() {
            stack.push(String::from(root));
        }
        while let Some(p) = stack.pop() {
            if let Some(n) = self.get(&p) {
                let mut kids: Vec<String> = n.child_names().map(|c| path::child(&p, c)).collect();
                kids.reverse();
                stack.extend(kids);
            }
            out.push(p);
        }
        out
    }
}

/// The child name starting at `off` in a children buffer, and the offset
/// after it.
fn next_child(children: &[u8], off: usize) -> Option<(&str, usize)> {
    let rest = children.get(off..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    let name = core::str::from_utf8(rest.get(..len)?).ok()?;
    Some((name, off.checked_add(len)?.checked_add(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perms::Perm;
    use alloc::vec;

    fn node() -> Node {
        Node::with_perms(&[Perm { id: 0, bits: 0 }])
    }

    #[test]
    fn deep_trees_walk_without_recursion() {
        let mut t = Tree::new(1);
        t.insert("/", node());
        let mut p = String::new();
        let mut parent = String::from("/");
        for _ in 0..1_500 {
            p.push_str("/a");
            if let Some(n) = t.get_mut(&parent) {
                n.add_child("a");
            }
            t.insert(&p, node());
            parent = p.clone();
        }
        let post = t.subtree_post_order("/");
        assert_eq!(post.len(), 1_501);
        assert_eq!(post.last().map(String::as_str), Some("/"));
        assert_eq!(t.subtree_pre_order("/").len(), 1_501);
    }

    #[test]
    fn post_order_is_children_first_in_creation_order() {
        let mut t = Tree::new(1);
        let mut root = node();
        root.add_child("b");
        root.add_child("a");
        t.insert("/", root);
        t.insert("/b", node());
        t.insert("/a", node());
        assert_eq!(t.subtree_post_order("/"), vec!["/b", "/a", "/"]);
        assert_eq!(t.subtree_pre_order("/"), vec!["/", "/b", "/a"]);
    }
}
