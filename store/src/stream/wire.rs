//! Integers in either byte order: appending them, and reading them from a
//! slice with every bound checked.

use alloc::vec::Vec;

use super::records::{ByteOrder, ALIGN};

/// Rounds `n` up to a multiple of [`ALIGN`]; `None` on overflow.
pub(super) fn pad8(n: usize) -> Option<usize> {
    n.checked_add(ALIGN - 1).map(|m| m & !(ALIGN - 1))
}

/// Appends integers in one byte order.
pub(super) struct Put<'a> {
    pub(super) out: &'a mut Vec<u8>,
    pub(super) order: ByteOrder,
}

impl Put<'_> {
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub(super) fn u16(&mut self, v: u16) {
        match self.order {
            ByteOrder::Little => self.bytes(&v.to_le_bytes()),
            ByteOrder::Big => self.bytes(&v.to_be_bytes()),
        }
    }

    pub(super) fn u32(&mut self, v: u32) {
        match self.order {
            ByteOrder::Little => self.bytes(&v.to_le_bytes()),
            ByteOrder::Big => self.bytes(&v.to_be_bytes()),
        }
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.u32(u32::from_ne_bytes(v.to_ne_bytes()));
    }

    pub(super) fn u64(&mut self, v: u64) {
        match self.order {
            ByteOrder::Little => self.bytes(&v.to_le_bytes()),
            ByteOrder::Big => self.bytes(&v.to_be_bytes()),
        }
    }

    /// Zero bytes up to the next multiple of 8 from `start`.
    pub(super) fn align_from(&mut self, start: usize) {
        let used = self.out.len().saturating_sub(start);
        let pad = pad8(used).map_or(0, |p| p.saturating_sub(used));
        for _ in 0..pad {
            self.out.push(0);
        }
    }
}

/// Reads integers in one byte order from a slice; every read is bounded
/// by the slice and returns `None` past its end.
#[derive(Clone)]
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    order: ByteOrder,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8], order: ByteOrder) -> Self {
        Cursor { bytes, pos: 0, order }
    }

    /// Bytes read so far.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let a = self.array()?;
        Some(match self.order {
            ByteOrder::Little => u16::from_le_bytes(a),
            ByteOrder::Big => u16::from_be_bytes(a),
        })
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let a = self.array()?;
        Some(match self.order {
            ByteOrder::Little => u32::from_le_bytes(a),
            ByteOrder::Big => u32::from_be_bytes(a),
        })
    }

    pub(super) fn i32(&mut self) -> Option<i32> {
        self.u32().map(|v| i32::from_ne_bytes(v.to_ne_bytes()))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        let a = self.array()?;
        Some(match self.order {
            ByteOrder::Little => u64::from_le_bytes(a),
            ByteOrder::Big => u64::from_be_bytes(a),
        })
    }
}
