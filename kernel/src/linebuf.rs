//! A first-in first-out store of console lines in a fixed buffer: what the
//! console holds back while the stub starts ([`crate::console::hold`]).

/// Bytes in a fixed array, consumed from the front a line at a time.
pub struct LineBuf<const N: usize> {
    /// The bytes; `start..end` are held.
    buf: [u8; N],
    /// First held byte.
    start: usize,
    /// One past the last held byte.
    end: usize,
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        LineBuf { buf: [0; N], start: 0, end: 0 }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Appends `bytes` whole; false, and nothing appended, when they do
    /// not fit beside what is held.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        let held = self.end.saturating_sub(self.start);
        if bytes.len() > N.saturating_sub(held) {
            return false;
        }
        if bytes.len() > N.saturating_sub(self.end) {
            // Room only once the consumed front is reclaimed.
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = held;
        }
        let new_end = self.end.saturating_add(bytes.len());
        match self.buf.get_mut(self.end..new_end) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => return false,
        }
        self.end = new_end;
        true
    }

    /// Takes the oldest line (through its newline; the rest of the buffer
    /// if it has none), or `None` when nothing is held.
    pub fn pop_line(&mut self) -> Option<&[u8]> {
        let held = self.buf.get(self.start..self.end)?;
        if held.is_empty() {
            return None;
        }
        let len = held.iter().position(|&b| b == b'\n').map_or(held.len(), |i| i.saturating_add(1));
        Some(self.consume(len))
    }

    /// Takes everything held.
    pub fn take_all(&mut self) -> &[u8] {
        self.consume(self.end.saturating_sub(self.start))
    }

    /// Consumes `len` held bytes from the front (an emptied buffer starts
    /// again at 0) and returns them.
    fn consume(&mut self, len: usize) -> &[u8] {
        let from = self.start;
        let to = from.saturating_add(len).min(self.end);
        if to == self.end {
            self.start = 0;
            self.end = 0;
        } else {
            self.start = to;
        }
        self.buf.get(from..to).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_in_order_one_at_a_time() {
        let mut b = LineBuf::<64>::new();
        assert!(b.is_empty());
        assert!(b.push(b"one\n"));
        assert!(b.push(b"two\nthree\n"));
        assert_eq!(b.pop_line(), Some(&b"one\n"[..]));
        assert_eq!(b.pop_line(), Some(&b"two\n"[..]));
        assert!(!b.is_empty());
        assert_eq!(b.pop_line(), Some(&b"three\n"[..]));
        assert!(b.is_empty());
        assert_eq!(b.pop_line(), None);
    }

    #[test]
    fn a_tail_without_newline_is_a_line() {
        let mut b = LineBuf::<16>::new();
        assert!(b.push(b"a\nbc"));
        assert_eq!(b.pop_line(), Some(&b"a\n"[..]));
        assert_eq!(b.pop_line(), Some(&b"bc"[..]));
        assert_eq!(b.pop_line(), None);
    }

    #[test]
    fn what_does_not_fit_is_refused_whole() {
        let mut b = LineBuf::<8>::new();
        assert!(b.push(b"12345\n"));
        assert!(!b.push(b"abc\n"));
        assert!(b.push(b"x\n"));
        assert!(!b.push(b"y"));
        assert_eq!(b.take_all(), b"12345\nx\n");
        assert!(b.is_empty());
        assert!(!b.push(b"123456789"));
        assert!(b.push(b"12345678"));
    }

    #[test]
    fn the_consumed_front_is_reused() {
        let mut b = LineBuf::<8>::new();
        assert!(b.push(b"abc\nde\n"));
        assert_eq!(b.pop_line(), Some(&b"abc\n"[..]));
        // 3 held, 1 free at the end: the front is reclaimed for 5 more.
        assert!(b.push(b"fghi\n"));
        assert_eq!(b.take_all(), b"de\nfghi\n");
        assert_eq!(b.take_all(), b"");
    }
}
