//! The bytes of one stored node (a record in the tree's [`Arena`]).
//!
//! ```text
//! u16 LE   value length (bits 0..=13), HAS_PERMS (bit 14), HAS_DIR (bit 15)
//! u32 LE   permission list id          only with HAS_PERMS
//! u32 LE   children list id            only with HAS_DIR
//! name, NUL                            the last path segment ("" for "/")
//! value
//! ```
//!
//! A node without its own permission list has its parent's: most nodes
//! are created with their parent's list, so they store none. Names never
//! contain NUL (the path character set excludes it). A leaf without
//! children stores no list id. For the `fill` benchmark's nodes
//! (`n12345`, 16-byte values) a record is 25 bytes, 28 in the arena.
//!
//! [`Arena`]: super::arena::Arena

use super::dir::DirId;
use super::permtab::PermId;

/// The longest value a record holds (14 bits; xenstore values are at most
/// `XENSTORE_PAYLOAD_MAX` bytes).
pub const VALUE_MAX: usize = 0x3FFF;

const VALUE_MASK: u16 = 0x3FFF;
const HAS_PERMS: u16 = 1 << 14;
const HAS_DIR: u16 = 1 << 15;

/// A decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The node's own permission list, if it has one.
    pub perms: Option<PermId>,
    /// The node's children list, if it has one.
    pub dir: Option<DirId>,
    /// The node's name.
    pub name: &'a [u8],
    /// The node's value.
    pub value: &'a [u8],
}

impl<'a> Record<'a> {
    /// Decodes the record at the start of `bytes` (which may run past its
    /// end). `None` if the bytes are not a record.
    pub fn decode(bytes: &'a [u8]) -> Option<Record<'a>> {
        let (head, mut rest) = bytes.split_first_chunk::<2>()?;
        let head = u16::from_le_bytes(*head);
        let mut take_u32 = |present: bool| -> Option<Option<u32>> {
            if !present {
                return Some(None);
            }
            let (v, r) = rest.split_first_chunk::<4>()?;
            rest = r;
            Some(Some(u32::from_le_bytes(*v)))
        };
        let perms = take_u32(head & HAS_PERMS != 0)?;
        let dir = take_u32(head & HAS_DIR != 0)?;
        let nul = rest.iter().position(|&c| c == 0)?;
        let (name, rest) = rest.split_at_checked(nul)?;
        let value = rest.get(1..usize::from(head & VALUE_MASK).checked_add(1)?)?;
        Some(Record { perms, dir, name, value })
    }

    /// Only the name of the record at the start of `bytes` (cheaper than
    /// [`Record::decode`], for lookups).
    pub fn name(bytes: &'a [u8]) -> Option<&'a [u8]> {
        let (head, _) = bytes.split_first_chunk::<2>()?;
        let head = u16::from_le_bytes(*head);
        let skip = 2usize
            .saturating_add(if head & HAS_PERMS != 0 { 4 } else { 0 })
            .saturating_add(if head & HAS_DIR != 0 { 4 } else { 0 });
        let rest = bytes.get(skip..)?;
        rest.get(..rest.iter().position(|&c| c == 0)?)
    }

    /// The encoded length.
    pub fn len(&self) -> usize {
        encoded_len(self.name.len(), self.value.len(), self.perms.is_some(), self.dir.is_some())
    }

    /// Writes the record into `out`, which is [`Record::len`] bytes long.
    /// `None` if the value is too long or `out` too short.
    pub fn encode(&self, out: &mut [u8]) -> Option<()> {
        let vlen = u16::try_from(self.value.len()).ok().filter(|&l| l <= VALUE_MASK)?;
        let mut head = vlen;
        if self.perms.is_some() {
            head |= HAS_PERMS;
        }
        if self.dir.is_some() {
            head |= HAS_DIR;
        }
        let mut w = Writer { out, at: 0 };
        w.put(&head.to_le_bytes())?;
        if let Some(p) = self.perms {
            w.put(&p.to_le_bytes())?;
        }
        if let Some(d) = self.dir {
            w.put(&d.to_le_bytes())?;
        }
        w.put(self.name)?;
        w.put(&[0])?;
        w.put(self.value)
    }
}

/// The bytes of the children list id of the record at the start of
/// `bytes`, if it has one (to renumber it in place).
pub fn dir_id_mut(bytes: &mut [u8]) -> Option<&mut [u8; 4]> {
    let (head, rest) = bytes.split_first_chunk_mut::<2>()?;
    let head = u16::from_le_bytes(*head);
    if head & HAS_DIR == 0 {
        return None;
    }
    let rest = if head & HAS_PERMS != 0 { rest.get_mut(4..)? } else { rest };
    rest.first_chunk_mut::<4>()
}

/// The encoded length of a record.
pub fn encoded_len(name: usize, value: usize, perms: bool, dir: bool) -> usize {
    2usize
        .saturating_add(if perms { 4 } else { 0 })
        .saturating_add(if dir { 4 } else { 0 })
        .saturating_add(name)
        .saturating_add(1)
        .saturating_add(value)
}

/// Sequential writes into a byte slice.
struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.at.checked_add(bytes.len())?;
        self.out.get_mut(self.at..end)?.copy_from_slice(bytes);
        self.at = end;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_and_without_optional_fields() {
        for (perms, dir) in [(None, None), (Some(7), None), (None, Some(9)), (Some(1), Some(2))] {
            let r = Record { perms, dir, name: b"n12345", value: b"0123456789abcdef" };
            let mut buf = [0xAAu8; 64];
            r.encode(&mut buf[..r.len()]).unwrap();
            assert_eq!(Record::decode(&buf), Some(r));
            assert_eq!(Record::name(&buf), Some(&b"n12345"[..]));
        }
        let fill = Record { perms: None, dir: None, name: b"n12345", value: b"0123456789abcdef" };
        assert_eq!(fill.len(), 25);
    }

    #[test]
    fn bad_records_decode_to_none() {
        let r = Record { perms: None, dir: None, name: b"x", value: &[1; 20] };
        let mut buf = [0u8; 24];
        assert_eq!(r.encode(&mut buf[..10]), None);
        r.encode(&mut buf[..r.len()]).unwrap();
        assert_eq!(Record::decode(&buf[..10]), None);
        assert_eq!(Record::decode(&[]), None);
        let long = [0u8; VALUE_MAX + 1];
        let r = Record { perms: None, dir: None, name: b"x", value: &long };
        let mut buf = alloc::vec![0u8; r.len()];
        assert_eq!(r.encode(&mut buf), None);
    }
}
