//! Helpers shared by the unit tests of this crate.

use std::vec::Vec;

pub use crate::prng::XorShift;
use crate::wire::Header;

impl XorShift {
    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The wire bytes of one message.
pub fn encode(h: Header, payload: &[u8]) -> Vec<u8> {
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}
