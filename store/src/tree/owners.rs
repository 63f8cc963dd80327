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
//! A toolstack's domain typically has two or three such directories
//! (`/local/domain/<id>` and its `device/<kind>` folders), so the index
//! costs a few dozen bytes per domain. Its memory is the heap's like any
//! other (the budget's meter counts it); if an allocation fails, the index
//! is marked incomplete and a dying domain's nodes are found by walking
//! the whole tree instead.

use alloc::boxed::Box;
use alloc::vec::Vec;

use hashbrown::HashMap;

use super::Hasher;
use crate::ids::DomId;

/// A directory holding `count` children a domain owns.
struct Entry {
    dir: Box<str>,
    count: u32,
}

/// The index: per domain, its entries sorted by directory (a domain
/// whose children sit in many directories, as dom0's read-only frontend
/// entries sit in every guest's, costs a binary search per change).
pub struct Owners {
    by_dom: HashMap<u16, Vec<Entry>, Hasher>,
    complete: bool,
}

impl Owners {
    /// An empty index; `seed` keys its hasher.
    pub fn new(seed: u64) -> Owners {
        Owners { by_dom: HashMap::with_hasher(Hasher::with_seed(seed)), complete: true }
    }

    /// Whether every change was recorded (no allocation failed).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Records one more child of `dir` owned by `dom`.
    pub fn add(&mut self, dom: DomId, dir: &str) {
        if self.by_dom.try_reserve(1).is_err() {
            self.complete = false;
            return;
        }
        let list = self.by_dom.entry(dom.0).or_default();
        let at = match list.binary_search_by(|e| (*e.dir).cmp(dir)) {
            Ok(i) => {
                if let Some(e) = list.get_mut(i) {
                    e.count = e.count.saturating_add(1);
                }
                return;
            }
            Err(at) => at,
        };
        let mut name: Vec<u8> = Vec::new();
        if list.try_reserve(1).is_err() || name.try_reserve_exact(dir.len()).is_err() {
            self.complete = false;
            return;
        }
        name.extend_from_slice(dir.as_bytes());
        let dir = alloc::string::String::from_utf8(name).unwrap_or_default().into_boxed_str();
        list.insert(at, Entry { dir, count: 1 });
    }

    /// Records one child of `dir` owned by `dom` fewer.
    pub fn remove(&mut self, dom: DomId, dir: &str) {
        let Some(list) = self.by_dom.get_mut(&dom.0) else { return };
        let Ok(i) = list.binary_search_by(|e| (*e.dir).cmp(dir)) else { return };
        if let Some(e) = list.get_mut(i) {
            e.count = e.count.saturating_sub(1);
            if e.count > 0 {
                return;
            }
        }
        list.remove(i);
        if list.is_empty() {
            self.by_dom.remove(&dom.0);
            // The table is given back as domains go (all of it when empty).
            if self.by_dom.capacity() > self.by_dom.len().saturating_mul(4) {
                self.by_dom.shrink_to(self.by_dom.len().saturating_mul(2));
            }
        } else if list.capacity() > list.len().saturating_mul(4) {
            list.shrink_to(list.len().saturating_mul(2));
        }
    }

    /// The directories holding children `dom` owns, sorted by path.
    pub fn dirs(&self, dom: DomId) -> impl Iterator<Item = &str> {
        self.by_dom.get(&dom.0).into_iter().flatten().map(|e| &*e.dir)
    }

    /// The (domain, directory) entries and the heap bytes they take (the
    /// table, each domain's vector, each directory's name).
    pub fn size(&self) -> (usize, usize) {
        let mut entries = 0usize;
        let mut bytes = self.by_dom.allocation_size();
        for list in self.by_dom.values() {
            entries = entries.saturating_add(list.len());
            let names: usize = list.iter().map(|e| e.dir.len()).sum();
            bytes = bytes
                .saturating_add(list.capacity().saturating_mul(core::mem::size_of::<Entry>()))
                .saturating_add(names);
        }
        (entries, bytes)
    }

    /// How many children of `dir` the index says `dom` owns.
    #[cfg(test)]
    pub fn count(&self, dom: DomId, dir: &str) -> u32 {
        let list = self.by_dom.get(&dom.0);
        let found = list
            .and_then(|l| l.binary_search_by(|e| (*e.dir).cmp(dir)).ok().and_then(|i| l.get(i)));
        found.map_or(0, |e| e.count)
    }

    /// Number of (domain, directory) entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_dom.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_count_children_and_go_with_the_last() {
        let mut o = Owners::new(3);
        o.add(DomId(5), "/local/domain/5");
        o.add(DomId(5), "/local/domain/5");
        o.add(DomId(5), "/vm");
        o.add(DomId(6), "/vm");
        assert_eq!(o.count(DomId(5), "/local/domain/5"), 2);
        assert_eq!(o.dirs(DomId(5)).collect::<Vec<_>>(), ["/local/domain/5", "/vm"]);
        o.remove(DomId(5), "/local/domain/5");
        o.remove(DomId(5), "/vm");
        assert_eq!(o.dirs(DomId(5)).collect::<Vec<_>>(), ["/local/domain/5"]);
        o.remove(DomId(5), "/local/domain/5");
        o.remove(DomId(5), "/nothing");
        assert_eq!(o.dirs(DomId(5)).count(), 0);
        assert_eq!(o.len(), 1);
        assert!(o.complete());
    }
}
