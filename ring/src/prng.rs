//! A small deterministic PRNG (xorshift64*) for tests and fuzz targets, so
//! neither needs a dependency and every run replays from its seed.

/// xorshift64* state.
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced by a fixed odd value,
    /// since xorshift stays at 0 forever).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..=max`.
    pub fn below_or(&mut self, max: usize) -> usize {
        let bound = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        usize::try_from(self.next_u64().checked_rem(bound).unwrap_or(0)).unwrap_or(max)
    }
}
