//! The reader's byte budget: every allocation the reader makes is asked of
//! it first, and made fallibly, so a hostile stream can neither make the
//! reader hold more than the caller allowed nor abort on a refused
//! allocation.

use alloc::vec::Vec;
use core::mem::size_of;

use super::error::DecodeError;

/// Bytes the reader may hold, and holds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Self {
        Budget { limit, used: 0 }
    }

    /// Bytes charged and not released.
    pub(super) fn used(&self) -> usize {
        self.used
    }

    /// Charges `bytes`, or refuses if that would pass the limit.
    pub(super) fn charge(&mut self, bytes: usize, offset: usize) -> Result<(), DecodeError> {
        match self.used.checked_add(bytes) {
            Some(now) if now <= self.limit => {
                self.used = now;
                Ok(())
            }
            _ => Err(DecodeError::OverBudget { offset }),
        }
    }

    /// Gives back `bytes` charged before.
    pub(super) fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// An empty vector with room for exactly `n` elements, charged.
    pub(super) fn vec<T>(&mut self, n: usize, offset: usize) -> Result<Vec<T>, DecodeError> {
        let mut v = Vec::new();
        if n == 0 || size_of::<T>() == 0 {
            return Ok(v);
        }
        let bytes = n.checked_mul(size_of::<T>()).ok_or(DecodeError::OverBudget { offset })?;
        self.charge(bytes, offset)?;
        v.try_reserve_exact(n).map_err(|_| DecodeError::AllocFailed { offset })?;
        Ok(v)
    }

    /// A charged copy of `bytes`.
    pub(super) fn copy(&mut self, bytes: &[u8], offset: usize) -> Result<Vec<u8>, DecodeError> {
        let mut v = self.vec(bytes.len(), offset)?;
        v.extend_from_slice(bytes);
        Ok(v)
    }
}
