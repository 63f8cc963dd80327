//! One node of the tree: value, permissions, child names and generation.
//!
//! Child names are kept as C does, one buffer of NUL-terminated names in
//! creation order: `XS_DIRECTORY` replies with the buffer as is, and
//! `XS_DIRECTORY_PART` slices it by byte offset. Appending a child is
//! amortised O(1); the engine never scans the buffer to find a child (it
//! asks the tree), only to remove one.
//!
//! The representation is compact because a store holds many small nodes:
//! short values live inside the node ([`VALUE_INLINE`] bytes), leaves
//! carry no children buffer, and permission lists are shared (a new node
//! inherits its parent's list by reference).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use smallvec::SmallVec;

use crate::engine::DomId;
use crate::perms::{Perm, Perms, PERM_ACC_BYTES};

/// Generation of a node that does not exist (C `NO_GENERATION`).
pub const NO_GENERATION: u64 = u64::MAX;

/// Bytes C counts for a node header (`struct node_hdr` in C 4.22), kept so
/// memory accounting and the `node-size` quota match C's numbers.
pub const NODE_HDR_BYTES: usize = 16;

/// Values up to this many bytes are stored inside the node.
pub const VALUE_INLINE: usize = 16;

/// A node's value.
pub type Value = SmallVec<[u8; VALUE_INLINE]>;

/// A stored node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value (binary, usually ASCII without NUL).
    pub value: Value,
    /// Permissions; the first entry is the owner.
    pub perms: Perms,
    /// Child names, each followed by a NUL, in creation order (`None`
    /// when there are none). Boxed on purpose: a leaf pays one pointer
    /// instead of an empty `Vec`'s three words.
    #[allow(clippy::box_collection)]
    children: Option<Box<Vec<u8>>>,
    /// Generation count of the last modification.
    pub generation: u64,
}

impl Node {
    /// A node with no value and no children.
    pub fn new(perms: Perms) -> Node {
        Node { value: Value::new(), perms, children: None, generation: 0 }
    }

    /// A node with permissions built from `perms`.
    pub fn with_perms(perms: &[Perm]) -> Node {
        Node::new(Arc::from(perms))
    }

    /// The owner's entry id.
    pub fn owner(&self) -> u32 {
        self.perms.first().map_or(0, |p| p.id)
    }

    /// The owner as a domain id (owners always name an existing domain:
    /// `XS_SET_PERMS` refuses others, so the fallback is never used).
    pub fn owner_dom(&self) -> DomId {
        DomId(u16::try_from(self.owner()).unwrap_or(u16::MAX))
    }

    /// The size C accounts for the node (header, perms, value, children),
    /// which the `node-size` quota limits.
    pub fn size(&self) -> usize {
        NODE_HDR_BYTES
            .saturating_add(self.perms.len().saturating_mul(PERM_ACC_BYTES))
            .saturating_add(self.value.len())
            .saturating_add(self.children().len())
    }

    /// The child-name buffer (`name\0name\0…`).
    pub fn children(&self) -> &[u8] {
        self.children.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Appends child `name`.
    pub fn add_child(&mut self, name: &str) {
        let buf = self.children.get_or_insert_with(Box::default);
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
    }

    /// Removes child `name`; returns whether it was there.
    pub fn remove_child(&mut self, name: &str) -> bool {
        let Some(buf) = self.children.as_mut() else {
            return false;
        };
        let mut off = 0usize;
        let mut found = None;
        for entry in buf.split(|&c| c == 0) {
            let end = off.saturating_add(entry.len());
            if end >= buf.len() {
                break;
            }
            if entry == name.as_bytes() {
                found = Some((off, end));
                break;
            }
            off = end.saturating_add(1);
        }
        let Some((start, end)) = found else {
            return false;
        };
        buf.drain(start..=end);
        if buf.is_empty() {
            self.children = None;
        }
        true
    }

    /// Iterates the child names.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children()
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
        let mut n = Node::with_perms(&[Perm { id: 0, bits: 0 }]);
        n.add_child("b");
        n.add_child("ab");
        n.add_child("a");
        assert_eq!(n.children(), b"b\0ab\0a\0");
        assert!(n.remove_child("a"));
        assert_eq!(n.children(), b"b\0ab\0");
        assert!(!n.remove_child("x"));
        assert!(n.remove_child("b"));
        assert_eq!(n.child_names().collect::<Vec<_>>(), vec!["ab"]);
        assert_eq!(n.size(), 16 + 8 + 3);
        assert!(n.remove_child("ab"));
        assert_eq!(n.children(), b"");
        assert!(!n.remove_child("ab"));
    }

    #[test]
    fn node_stays_small() {
        // Short values inline, shared perms, no buffer for leaves.
        assert!(core::mem::size_of::<Node>() <= 56);
        let mut n = Node::with_perms(&[Perm { id: 0, bits: 0 }]);
        n.value = Value::from_slice(b"0123456789abcdef");
        assert!(!n.value.spilled());
    }
}
