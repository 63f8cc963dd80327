//! Interned permission lists: each distinct list is stored once, with a
//! reference count, and nodes name it by a 4-byte id.
//!
//! A store holds few distinct lists (one or two per domain, plus the
//! toolstack's device lists), so sharing them costs a node four bytes
//! instead of a list of its own. Lookup by content uses a table keyed
//! with the store's seeded hasher, because guests choose the lists.

use alloc::vec::Vec;
use core::hash::{BuildHasher, Hasher as _};

use hashbrown::HashTable;

use super::Hasher;
use crate::perms::{Perm, Perms};

/// An interned list's id.
pub type PermId = u32;

/// One interned list.
struct Entry {
    perms: Perms,
    /// Number of holders; 0 marks a free slot.
    refs: u32,
    /// Number of nodes whose permissions it is (its holders and the nodes
    /// that inherit it from them), so that changing the list in place can
    /// account the size of every one of them.
    users: u32,
}

/// What [`PermTable::drop_domain`] removed from one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The list's owner (its first entry).
    pub owner: u32,
    /// The nodes using the list.
    pub users: u32,
    /// The entries removed from it.
    pub entries: usize,
}

/// The interned lists.
pub struct PermTable {
    entries: Vec<Entry>,
    /// Free slots.
    free: Vec<PermId>,
    /// Ids of the live entries, by content.
    index: HashTable<PermId>,
    hasher: Hasher,
    /// The list of free slots (empty, shared).
    empty: Perms,
}

impl PermTable {
    /// An empty table hashing with `seed`.
    pub fn new(seed: u64) -> PermTable {
        PermTable {
            entries: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: Hasher::with_seed(seed),
            empty: Perms::from(&[][..]),
        }
    }

    /// The list `id` (empty for an unknown id).
    pub fn get(&self, id: PermId) -> &Perms {
        self.entries.get(id as usize).map_or(&self.empty, |e| &e.perms)
    }

    /// The id of `perms`, adding a reference. `None` when the ids are
    /// exhausted.
    pub fn intern(&mut self, perms: &[Perm]) -> Option<PermId> {
        let hash = self.hash(perms);
        let entries = &self.entries;
        if let Some(&id) = self
            .index
            .find(hash, |&id| entries.get(id as usize).is_some_and(|e| *e.perms == *perms))
        {
            self.retain(id);
            return Some(id);
        }
        let entry = Entry { perms: Perms::from(perms), refs: 1, users: 0 };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.entries.get_mut(id as usize) {
                    *slot = entry;
                }
                id
            }
            None => {
                let id = PermId::try_from(self.entries.len()).ok()?;
                self.entries.push(entry);
                id
            }
        };
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, id, |&i| {
            entries.get(i as usize).map_or(0, |e| hash_list(hasher, &e.perms))
        });
        Some(id)
    }

    /// Adds a reference to `id`.
    pub fn retain(&mut self, id: PermId) {
        if let Some(e) = self.entries.get_mut(id as usize) {
            e.refs = e.refs.saturating_add(1);
        }
    }

    /// Drops a reference to `id`, forgetting the list with its last one.
    pub fn release(&mut self, id: PermId) {
        let Some(e) = self.entries.get_mut(id as usize) else {
            return;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs > 0 {
            return;
        }
        let perms = core::mem::replace(&mut e.perms, self.empty.clone());
        let hash = self.hash(&perms);
        if let Ok(found) = self.index.find_entry(hash, |&i| i == id) {
            found.remove();
        }
        self.free.push(id);
    }

    /// Counts one node more (`true`) or fewer using list `id`.
    pub fn use_list(&mut self, id: PermId, more: bool) {
        if let Some(e) = self.entries.get_mut(id as usize) {
            e.users = if more { e.users.saturating_add(1) } else { e.users.saturating_sub(1) };
        }
    }

    /// Removes the entries naming domain `dom` after the first from every
    /// list, in place: every node using a list changes at once (C 4.22
    /// removes a dead domain's entries node by node). Calls `dropped` for
    /// each list changed. A list whose owner is `dom` is left as it is
    /// and counted in the result: its nodes must be removed or re-owned
    /// one by one.
    ///
    /// A changed list may become equal to another: it then stays a
    /// separate entry, not found by [`PermTable::intern`], until its last
    /// holder goes. O(lists), which is a few per domain.
    pub fn drop_domain(&mut self, dom: u32, mut dropped: impl FnMut(Dropped)) -> usize {
        let mut owned = 0usize;
        for id in 0..self.entries.len() {
            let id = PermId::try_from(id).unwrap_or(PermId::MAX);
            let Some(e) = self.entries.get(id as usize).filter(|e| e.refs > 0) else { continue };
            let owner = e.perms.first().map_or(dom, |p| p.id);
            if owner == dom {
                owned = owned.saturating_add(1);
                continue;
            }
            let keep = |(i, p): &(usize, &Perm)| *i == 0 || p.id != dom;
            let entries = e.perms.iter().enumerate().filter(|x| !keep(x)).count();
            if entries == 0 {
                continue;
            }
            let new: Vec<Perm> = e.perms.iter().enumerate().filter(keep).map(|(_, p)| *p).collect();
            dropped(Dropped { owner, users: e.users, entries });
            let old_hash = self.hash(&e.perms);
            if let Ok(found) = self.index.find_entry(old_hash, |&i| i == id) {
                found.remove();
            }
            let hash = self.hash(&new);
            if let Some(e) = self.entries.get_mut(id as usize) {
                e.perms = Perms::from(new);
            }
            let (entries, hasher) = (&self.entries, &self.hasher);
            let content = |i: PermId| entries.get(i as usize).map(|x| &*x.perms);
            if self.index.find(hash, |&i| content(i) == content(id)).is_none() {
                self.index
                    .insert_unique(hash, id, |&i| content(i).map_or(0, |p| hash_list(hasher, p)));
            }
        }
        owned
    }

    /// Number of distinct live lists.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    fn hash(&self, perms: &[Perm]) -> u64 {
        hash_list(&self.hasher, perms)
    }
}

/// The keyed hash of a list's content.
fn hash_list(hasher: &Hasher, perms: &[Perm]) -> u64 {
    let mut h = hasher.build_hasher();
    for p in perms {
        h.write_u32(p.id);
        h.write_u8(p.bits);
    }
    h.write_usize(perms.len());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[u32]) -> Vec<Perm> {
        ids.iter().map(|&id| Perm { id, bits: 0 }).collect()
    }

    #[test]
    fn a_domain_is_dropped_from_lists_in_place() {
        let mut t = PermTable::new(7);
        let a = t.intern(&list(&[0, 5, 6, 5])).unwrap();
        let b = t.intern(&list(&[0])).unwrap();
        let c = t.intern(&list(&[5, 0])).unwrap();
        let d = t.intern(&list(&[6, 7])).unwrap();
        for _ in 0..3 {
            t.use_list(a, true);
        }
        t.use_list(a, false);
        let mut seen = Vec::new();
        assert_eq!(t.drop_domain(5, |x| seen.push(x)), 1, "the list 5 owns is left");
        assert_eq!(seen, [Dropped { owner: 0, users: 2, entries: 2 }]);
        assert_eq!(&**t.get(a), &list(&[0, 6])[..]);
        assert_eq!(&**t.get(c), &list(&[5, 0])[..]);
        // The changed list is found by its new content; an unchanged one
        // still by its own.
        assert_eq!(t.intern(&list(&[0, 6])), Some(a));
        assert_eq!(t.intern(&list(&[6, 7])), Some(d));
        // Dropping 6 makes `a` equal to `b`: both stay, `b` is the one
        // found, and `a` goes with its last holder.
        t.drop_domain(6, |_| {});
        assert_eq!(&**t.get(a), &list(&[0])[..]);
        assert_eq!(t.intern(&list(&[0])), Some(b));
        for _ in 0..2 {
            t.release(a);
        }
        assert!(t.get(a).is_empty());
        assert_eq!(t.intern(&list(&[0])), Some(b));
        assert_eq!(t.intern(&list(&[9])), Some(a), "its slot is free again");
    }

    #[test]
    fn equal_lists_share_one_id_until_the_last_release() {
        let mut t = PermTable::new(7);
        let a = t.intern(&list(&[0])).unwrap();
        let b = t.intern(&list(&[1, 2])).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.intern(&list(&[0])), Some(a));
        assert_eq!(t.len(), 2);
        assert_eq!(&**t.get(b), &list(&[1, 2])[..]);
        t.release(a);
        assert_eq!(t.len(), 2);
        t.release(a);
        assert_eq!(t.len(), 1);
        assert!(t.get(a).is_empty());
        // The slot is reused for the next new list.
        assert_eq!(t.intern(&list(&[5])), Some(a));
        assert_eq!(t.intern(&list(&[1, 2])), Some(b));
    }
}
