//! One node of the tree: value, permissions, child names and generation.
//!
//! Child names are kept as C does, one buffer of NUL-terminated names in
//! creation order: `XS_DIRECTORY` replies with the buffer as is, and
//! `XS_DIRECTORY_PART` slices it by byte offset.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::perms::{Perm, Perms};

/// Generation of a node that does not exist (C `NO_GENERATION`).
pub const NO_GENERATION: u64 = u64::MAX;

/// Bytes C counts for a node header (`struct node_hdr`), kept so memory
/// accounting and the `node-size` quota match C's numbers.
pub const NODE_HDR_BYTES: usize = 16;

/// A stored node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value (binary, usually ASCII without NUL).
    pub value: Box<[u8]>,
    /// Permissions; the first entry is the owner.
    pub perms: Perms,
    /// Child names, each followed by a NUL, in creation order.
    pub children: Vec<u8>,
    /// Generation count of the last modification.
    pub generation: u64,
}

impl Node {
    /// A node with no value and no children.
    pub fn new(perms: Perms) -> Node {
        Node { value: Box::default(), perms, children: Vec::new(), generation: 0 }
    }

    /// The owner domain.
    pub fn owner(&self) -> u16 {
        self.perms.first().map_or(0, |p| p.id)
    }

    /// The size C accounts for the node (header, perms, value, children),
    /// which the `node-size` quota limits.
    pub fn size(&self) -> usize {
        NODE_HDR_BYTES
            .saturating_add(self.perms.len().saturating_mul(core::mem::size_of::<Perm>()))
            .saturating_add(self.value.len())
            .saturating_add(self.children.len())
    }

    /// Appends child `name`.
    pub fn add_child(&mut self, name: &str) {
        self.children.extend_from_slice(name.as_bytes());
        self.children.push(0);
    }

    /// Removes child `name`; returns whether it was there.
    pub fn remove_child(&mut self, name: &str) -> bool {
        let mut off = 0usize;
        for entry in self.children.split(|&c| c == 0) {
            let len = entry.len();
            if entry == name.as_bytes() && off + len < self.children.len() {
                self.children.drain(off..off + len + 1);
                return true;
            }
            off = off.saturating_add(len).saturating_add(1);
            if off >= self.children.len() {
                break;
            }
        }
        false
    }

    /// Iterates the child names.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children
            .split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn children_keep_creation_order_and_remove_exact_names() {
        let mut n = Node::new(vec![Perm { id: 0, bits: 0 }].into_boxed_slice());
        n.add_child("b");
        n.add_child("ab");
        n.add_child("a");
        assert_eq!(n.children, b"b\0ab\0a\0");
        assert!(n.remove_child("a"));
        assert_eq!(n.children, b"b\0ab\0");
        assert!(!n.remove_child("x"));
        assert!(n.remove_child("b"));
        assert_eq!(n.child_names().collect::<Vec<_>>(), vec!["ab"]);
        assert_eq!(n.size(), 16 + 4 + 3);
    }
}
