//! Generations kept only for the paths open transactions have read.
//!
//! The conflict model (see `transaction.rs`) compares, at commit, a node's
//! generation with the one the transaction recorded at its first read.
//! Storing eight bytes of generation in every node would cost more than
//! the node's name, so the tree tracks one only for the paths some open
//! transaction has read, with the number of such readers:
//!
//! * on a transaction's first read of a tracked path, it records the
//!   tracked generation and becomes a reader;
//! * on a first read of an untracked path, the path becomes tracked with
//!   the current global generation (every later change stamps a larger
//!   one) or `NO_GENERATION` if there is no node;
//! * every change of a tracked path (write, create, delete) stamps it
//!   with the change's new generation (`NO_GENERATION` for a delete);
//! * when the last reader ends, the path is forgotten.
//!
//! So a tracked path's generation differs from a reader's record exactly
//! when the node was written, created or deleted since that reader's first
//! read, which is what comparing per-node generations decides.

use alloc::string::String;

use hashbrown::HashMap;

use super::Hasher;

/// A tracked path's generation and number of readers.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    generation: u64,
    readers: u32,
}

/// The tracked paths.
/// The heap one tracked path takes besides its bytes: its slot in the
/// map (one control byte included).
pub const SLOT_BYTES: usize = core::mem::size_of::<(String, Stamp)>() + 1;

pub struct TxGens {
    map: HashMap<String, Stamp, Hasher>,
}

impl TxGens {
    /// Nothing tracked; paths hashed with `seed` (guests choose them).
    pub fn new(seed: u64) -> TxGens {
        TxGens { map: HashMap::with_hasher(Hasher::with_seed(seed)) }
    }

    /// Registers a reader of `path` and returns the generation to record:
    /// the tracked one, else `current` (which becomes tracked).
    pub fn read(&mut self, path: &str, current: u64) -> u64 {
        if let Some(s) = self.map.get_mut(path) {
            s.readers = s.readers.saturating_add(1);
            return s.generation;
        }
        self.map.insert(String::from(path), Stamp { generation: current, readers: 1 });
        current
    }

    /// What tracking `path` may allocate beyond its bytes and slot: a new
    /// table when the map is full and `path` is not tracked yet.
    pub fn read_growth(&self, path: &str) -> usize {
        if self.map.contains_key(path) {
            return 0;
        }
        crate::budget::map_insert_growth(&self.map)
    }

    /// Drops a reader of `path`.
    pub fn release(&mut self, path: &str) {
        if let Some(s) = self.map.get_mut(path) {
            s.readers = s.readers.saturating_sub(1);
            if s.readers == 0 {
                self.map.remove(path);
                if self.map.is_empty() {
                    // Give back the table a burst of reads grew.
                    self.clear();
                }
            }
        }
    }

    /// The tracked generation of `path`.
    pub fn get(&self, path: &str) -> Option<u64> {
        self.map.get(path).map(|s| s.generation)
    }

    /// Records a change of `path` with `generation`, if it is tracked.
    pub fn stamp(&mut self, path: &str, generation: u64) {
        if self.map.is_empty() {
            return;
        }
        if let Some(s) = self.map.get_mut(path) {
            s.generation = generation;
        }
    }

    /// Forgets every path (no transaction is open).
    pub fn clear(&mut self) {
        self.map = HashMap::with_hasher(*self.map.hasher());
    }

    /// Number of tracked paths.
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::NO_GENERATION;

    #[test]
    fn changes_after_a_read_are_seen_and_paths_are_forgotten_after_readers() {
        let mut g = TxGens::new(3);
        assert_eq!(g.read("/a", 10), 10);
        assert_eq!(g.read("/a", 99), 10);
        assert_eq!(g.read("/gone", NO_GENERATION), NO_GENERATION);
        g.stamp("/a", 11);
        g.stamp("/untracked", 12);
        assert_eq!(g.get("/a"), Some(11));
        assert_eq!(g.get("/untracked"), None);
        g.release("/a");
        assert_eq!(g.get("/a"), Some(11));
        g.release("/a");
        assert_eq!(g.get("/a"), None);
        assert_eq!(g.len(), 1);
        g.clear();
        assert_eq!(g.len(), 0);
    }
}
