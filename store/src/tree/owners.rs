//! Where each domain's nodes begin: for every domain, the directories
//! holding a child it owns while the directory's owner is someone else,
//! with how many such children each holds.
//!
//! Every node a domain owns is either one of those children or below one
//! of them through nodes it owns (a node's nearest ancestor not owned by
//! the domain is the parent of such a child), or a root. So when a domain
//! dies, its nodes are found by listing these directories, in time
//! proportional to what the domain has rather than to the whole tree
//! (C 4.22 walks the whole tree). The tree keeps the index as it creates,
//! removes and re-owns nodes.
//!
//! A domain made by libxl has six entries (four directories of its home
//! hold nodes it owns, two of its frontends an entry of dom0's): about
//! 360 bytes (`store/tests/lifecycle.rs`). The entries are one ordered
//! map keyed by domain then directory, so a domain's entries are a range
//! and the index grows by small nodes, never by copying a large table
//! (a domain with entries in a thousand directories, as dom0 has with a
//! thousand guests, never needs one large block). Its memory is the
//! heap's like any other: the budget's meter counts it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::ops::Bound;

use smallvec::SmallVec;

use crate::ids::DomId;

/// A key: the domain (big-endian, so a domain's keys are one range), then
/// the directory's path.
type Key = Box<[u8]>;

/// Keys of this many bytes are built on the stack for look-ups.
const KEY_INLINE: usize = 64;

/// The key of (`dom`, `dir`), for look-ups.
fn key(dom: DomId, dir: &str) -> SmallVec<[u8; KEY_INLINE]> {
    let mut k = SmallVec::new();
    k.extend_from_slice(&dom.0.to_be_bytes());
    k.extend_from_slice(dir.as_bytes());
    k
}

/// The index.
#[derive(Default)]
pub struct Owners {
    map: BTreeMap<Key, u32>,
    key_bytes: usize,
}

impl Owners {
    /// Records one more child of `dir` owned by `dom`.
    pub fn add(&mut self, dom: DomId, dir: &str) {
        let k = key(dom, dir);
        if let Some(count) = self.map.get_mut(k.as_slice()) {
            *count = count.saturating_add(1);
            return;
        }
        self.key_bytes = self.key_bytes.saturating_add(k.len());
        self.map.insert(Box::from(k.as_slice()), 1);
    }

    /// Records one child of `dir` owned by `dom` fewer.
    pub fn remove(&mut self, dom: DomId, dir: &str) {
        let k = key(dom, dir);
        let Some(count) = self.map.get_mut(k.as_slice()) else { return };
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.map.remove(k.as_slice());
            self.key_bytes = self.key_bytes.saturating_sub(k.len());
        }
    }

    /// The directories holding children `dom` owns, sorted by path.
    pub fn dirs(&self, dom: DomId) -> impl Iterator<Item = &str> {
        let from = dom.0.to_be_bytes();
        self.map
            .range::<[u8], _>((Bound::Included(&from[..]), Bound::Unbounded))
            .map_while(move |(k, _)| k.strip_prefix(&from[..]))
            .map(|dir| core::str::from_utf8(dir).unwrap_or(""))
    }

    /// The (domain, directory) entries and about the heap bytes they take:
    /// their keys and the map's nodes (eleven entries a node, two thirds
    /// full on average).
    pub fn size(&self) -> (usize, usize) {
        let per_entry = core::mem::size_of::<Key>().saturating_add(core::mem::size_of::<u32>());
        let nodes = self.map.len().saturating_mul(per_entry).saturating_mul(3) / 2;
        (self.map.len(), self.key_bytes.saturating_add(nodes))
    }

    /// How many children of `dir` the index says `dom` owns.
    #[cfg(test)]
    pub fn count(&self, dom: DomId, dir: &str) -> u32 {
        self.map.get(key(dom, dir).as_slice()).copied().unwrap_or(0)
    }

    /// Number of (domain, directory) entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn entries_count_children_and_go_with_the_last() {
        let mut o = Owners::default();
        o.add(DomId(5), "/local/domain/5");
        o.add(DomId(5), "/local/domain/5");
        o.add(DomId(5), "/vm");
        o.add(DomId(6), "/vm");
        o.add(DomId(4), "/z");
        o.add(DomId(261), "/x");
        assert_eq!(o.count(DomId(5), "/local/domain/5"), 2);
        assert_eq!(o.dirs(DomId(5)).collect::<Vec<_>>(), ["/local/domain/5", "/vm"]);
        o.remove(DomId(5), "/local/domain/5");
        o.remove(DomId(5), "/vm");
        assert_eq!(o.dirs(DomId(5)).collect::<Vec<_>>(), ["/local/domain/5"]);
        o.remove(DomId(5), "/local/domain/5");
        o.remove(DomId(5), "/nothing");
        assert_eq!(o.dirs(DomId(5)).count(), 0);
        assert_eq!(o.dirs(DomId(261)).collect::<Vec<_>>(), ["/x"]);
        assert_eq!(o.len(), 3);
        for (d, dir) in [(6, "/vm"), (4, "/z"), (261, "/x")] {
            o.remove(DomId(d), dir);
        }
        assert_eq!(o.size(), (0, 0));
    }
}
