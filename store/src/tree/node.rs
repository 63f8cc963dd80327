//! A node: value, permissions, child names and generation, as an owned
//! [`Node`] (a transaction's private copy, or a node being built) or a
//! borrowed [`NodeRef`] (a node stored in the tree, or an owned one).
//!
//! An owned node keeps its child names as C does, one buffer of
//! NUL-terminated names in creation order. The tree stores nodes far more
//! compactly (see `tree.rs`), so readers see both through [`NodeRef`].
//! Short values live inside an owned node ([`VALUE_INLINE`] bytes), leaves
//! carry no children buffer, and permission lists are shared.

use alloc::boxed::Box;
use alloc::vec::Vec;

use smallvec::SmallVec;

use super::arena::Handle;
use super::dir::Dir;
#[cfg(doc)]
use super::dir::MARK_EVERY;
use super::Tree;
use crate::ids::DomId;
use crate::perms::{Perms, PERM_ACC_BYTES};

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
    #[cfg(test)]
    pub fn with_perms(perms: &[crate::perms::Perm]) -> Node {
        Node::new(alloc::sync::Arc::from(perms))
    }

    /// A read-only view of the node.
    pub fn view(&self) -> NodeRef<'_> {
        NodeRef {
            value: &self.value,
            perms: &self.perms,
            generation: self.generation,
            kids: Kids::Buf(self.children()),
        }
    }

    /// The owner's entry id.
    pub fn owner(&self) -> u32 {
        self.view().owner()
    }

    /// The size C accounts for the node (header, perms, value, children),
    /// which the `node-size` quota limits.
    pub fn size(&self) -> usize {
        self.view().size()
    }

    /// The heap this copy owns beyond its own struct: a value too long to
    /// be inline, and the children buffer (the permission list is shared).
    pub fn heap_bytes(&self) -> usize {
        let value = if self.value.spilled() { self.value.capacity() } else { 0 };
        let kids = self
            .children
            .as_ref()
            .map_or(0, |b| core::mem::size_of::<Vec<u8>>().saturating_add(b.capacity()));
        value.saturating_add(kids)
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
    #[cfg(test)]
    pub fn child_names(&self) -> ChildNames<'_> {
        self.view().child_names()
    }
}

/// A read-only view of a node, stored in the tree or owned.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    /// The value (binary, usually ASCII without NUL).
    pub value: &'a [u8],
    /// Permissions; the first entry is the owner.
    pub perms: &'a Perms,
    /// Generation of the node's last change as `XS_DIRECTORY_PART`
    /// reports it. The tree keeps one only for nodes with children (the
    /// list it versions) and reports 0 for leaves.
    pub generation: u64,
    kids: Kids<'a>,
}

/// Where a view's child names are.
#[derive(Clone, Copy)]
enum Kids<'a> {
    /// An owned node's `name\0…` buffer.
    Buf(&'a [u8]),
    /// A stored node's children list (`None` for a leaf).
    Tree(&'a Tree, Option<&'a Dir>),
}

impl<'a> NodeRef<'a> {
    /// The view of a node stored in `tree`.
    pub(crate) fn stored(
        tree: &'a Tree,
        value: &'a [u8],
        perms: &'a Perms,
        dir: Option<&'a Dir>,
    ) -> NodeRef<'a> {
        let generation = dir.map_or(0, |d| d.generation);
        NodeRef { value, perms, generation, kids: Kids::Tree(tree, dir) }
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
            .saturating_add(self.children_len())
    }

    /// Bytes of the `name\0name\0…` children list.
    pub fn children_len(&self) -> usize {
        match self.kids {
            Kids::Buf(b) => b.len(),
            Kids::Tree(_, d) => d.map_or(0, Dir::names_bytes),
        }
    }

    /// Whether the node has children.
    pub fn has_children(&self) -> bool {
        self.children_len() != 0
    }

    /// Appends the `name\0name\0…` children list to `out`.
    pub fn write_children(&self, out: &mut Vec<u8>) {
        match self.kids {
            Kids::Buf(b) => out.extend_from_slice(b),
            Kids::Tree(..) => {
                for name in self.child_names() {
                    out.extend_from_slice(name.as_bytes());
                    out.push(0);
                }
            }
        }
    }

    /// Appends the children list from byte `off` on (C's `children +
    /// off`: the first name may be cut) to `out`, name by name with their
    /// NULs, until more than `limit` bytes were appended or the list ends.
    /// Costs what it appends plus, for a stored node, a binary search and
    /// at most [`MARK_EVERY`] names ([`Dir::seek`]): paging through a list
    /// costs its length once, not once per page.
    pub fn write_children_from(&self, off: usize, limit: usize, out: &mut Vec<u8>) {
        let start = out.len();
        let full = |out: &Vec<u8>| out.len().saturating_sub(start) > limit;
        match self.kids {
            Kids::Buf(b) => {
                for piece in b.get(off..).unwrap_or(&[]).split_inclusive(|&c| c == 0) {
                    out.extend_from_slice(piece);
                    if full(out) {
                        break;
                    }
                }
            }
            Kids::Tree(t, Some(d)) => {
                let name_of = |h| t.name_of(h);
                let (i, name_start) = d.seek(off, name_of);
                let mut skip = off.saturating_sub(name_start);
                for &h in d.order().get(i..).unwrap_or(&[]) {
                    out.extend_from_slice(name_of(h).get(skip..).unwrap_or(&[]));
                    out.push(0);
                    skip = 0;
                    if full(out) {
                        break;
                    }
                }
            }
            Kids::Tree(_, None) => {}
        }
    }

    /// Iterates the child names in creation order.
    pub fn child_names(&self) -> ChildNames<'a> {
        match self.kids {
            Kids::Buf(b) => ChildNames::Buf(b),
            Kids::Tree(t, d) => ChildNames::Tree(t, d.map_or(&[][..], Dir::order).iter()),
        }
    }

    /// An owned copy (a transaction's private copy of the node).
    pub fn to_node(self) -> Node {
        let mut children = Vec::new();
        self.write_children(&mut children);
        Node {
            value: Value::from_slice(self.value),
            perms: self.perms.clone(),
            children: (!children.is_empty()).then(|| Box::new(children)),
            generation: self.generation,
        }
    }
}

/// The child names of a node, in creation order.
pub enum ChildNames<'a> {
    /// The rest of a `name\0…` buffer.
    Buf(&'a [u8]),
    /// The rest of a stored children list.
    Tree(&'a Tree, core::slice::Iter<'a, Handle>),
}

impl<'a> Iterator for ChildNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let name = match self {
                ChildNames::Buf(b) => {
                    let len = b.iter().position(|&c| c == 0)?;
                    let name = b.get(..len)?;
                    *b = b.get(len.saturating_add(1)..).unwrap_or(&[]);
                    name
                }
                ChildNames::Tree(t, it) => t.name_of(*it.next()?),
            };
            // Names are validated path segments (ASCII); skip anything else.
            match core::str::from_utf8(name) {
                Ok(s) if !s.is_empty() => return Some(s),
                _ => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perms::Perm;
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
