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
        let entry = Entry { perms: Perms::from(perms), refs: 1 };
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
