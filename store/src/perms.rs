//! Node permissions: parsing, printing and the access decision.
//!
//! A node's permission list is `<letter><domid>` entries (`docs/misc/
//! xenstore.txt`): the first entry names the owner and, by its letter, what
//! everyone else may do by default; later entries grant specific domains
//! `r` (read), `w` (write), `b` (both) or `n` (none). The owner, the
//! privileged domain, and a domain acting for the owner's domain through
//! `XS_SET_TARGET` have full access. [`DOMID_ANY`] (0x7FF5) in an entry
//! matches every domain (Xen 4.22). The decision is C's `perm_for_conn`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::engine::DomId;
use crate::error::Error;

/// Read access.
pub const PERM_READ: u8 = 1;
/// Write access.
pub const PERM_WRITE: u8 = 2;
/// Owner rights (change permissions).
pub const PERM_OWNER: u8 = 8;
/// Everything an owner gets.
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE | PERM_OWNER;

/// An entry that matches any domain (`DOMID_ANY`).
pub const DOMID_ANY: u16 = 0x7FF5;

/// One permission entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The domain the entry is about.
    pub id: u16,
    /// `PERM_READ | PERM_WRITE` bits.
    pub bits: u8,
}

/// A node's permission list; never empty (the first entry is the owner).
pub type Perms = Box<[Perm]>;

/// Who is asking: the caller's domain, its target and privilege.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    /// The caller's domain.
    pub domid: DomId,
    /// The domain it acts for (`XS_SET_TARGET`), if any.
    pub target: Option<DomId>,
    /// Whether the caller is the privileged domain.
    pub privileged: bool,
}

impl Who {
    fn matches(&self, id: u16) -> bool {
        id == self.domid.0 || self.target.is_some_and(|t| t.0 == id) || id == DOMID_ANY
    }
}

/// What `who` may do with a node carrying `perms` (`PERM_*` bits).
pub fn perm_for(who: &Who, perms: &[Perm]) -> u8 {
    let Some(owner) = perms.first() else {
        return if who.privileged { PERM_ALL } else { 0 };
    };
    if who.privileged || who.matches(owner.id) {
        return PERM_ALL;
    }
    for p in perms.iter().skip(1) {
        if who.matches(p.id) {
            return p.bits;
        }
    }
    owner.bits
}

/// Parses one entry such as `r5`, `b0`, `n32757`.
pub fn parse_one(s: &[u8]) -> Result<Perm, Error> {
    let (&letter, digits) = s.split_first().ok_or(Error::Inval)?;
    let bits = match letter {
        b'r' => PERM_READ,
        b'w' => PERM_WRITE,
        b'b' => PERM_READ | PERM_WRITE,
        b'n' => 0,
        _ => return Err(Error::Inval),
    };
    let id = parse_u16(digits).ok_or(Error::Inval)?;
    Ok(Perm { id, bits })
}

/// Parses a decimal number into a `u16`, with C `strtoul` leniency
/// removed: only digits, at least one, no overflow.
pub fn parse_u16(s: &[u8]) -> Option<u16> {
    let v = parse_u32(s)?;
    u16::try_from(v).ok()
}

/// Parses a decimal `u32`: only digits, at least one, no overflow.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// Appends the wire form of `perms` (`"b0\0r5\0"`) to `out`.
pub fn format(perms: &[Perm], out: &mut Vec<u8>) {
    for p in perms {
        let letter = match p.bits & (PERM_READ | PERM_WRITE) {
            PERM_READ => 'r',
            PERM_WRITE => 'w',
            0 => 'n',
            _ => 'b',
        };
        let mut s = heapless_fmt::Buf::new();
        let _ = write!(s, "{letter}{}", p.id);
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
}

/// A tiny stack buffer for formatting numbers without allocating.
pub mod heapless_fmt {
    /// A 32-byte formatting buffer.
    pub struct Buf {
        data: [u8; 32],
        len: usize,
    }

    impl Buf {
        /// An empty buffer.
        pub fn new() -> Self {
            Buf { data: [0; 32], len: 0 }
        }

        /// The formatted bytes.
        pub fn as_bytes(&self) -> &[u8] {
            self.data.get(..self.len).unwrap_or(&[])
        }
    }

    impl Default for Buf {
        fn default() -> Self {
            Self::new()
        }
    }

    impl core::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
            let dst = self.data.get_mut(self.len..end).ok_or(core::fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(d: u16) -> Who {
        Who { domid: DomId(d), target: None, privileged: false }
    }

    #[test]
    fn owner_gets_all_others_default() {
        let p = [Perm { id: 5, bits: PERM_READ }];
        assert_eq!(perm_for(&who(5), &p), PERM_ALL);
        assert_eq!(perm_for(&who(6), &p), PERM_READ);
        let privileged = Who { privileged: true, ..who(0) };
        assert_eq!(perm_for(&privileged, &[Perm { id: 5, bits: 0 }]), PERM_ALL);
    }

    #[test]
    fn first_matching_acl_entry_wins_and_domid_any_matches() {
        let p = [
            Perm { id: 5, bits: 0 },
            Perm { id: 7, bits: PERM_WRITE },
            Perm { id: DOMID_ANY, bits: PERM_READ },
        ];
        assert_eq!(perm_for(&who(7), &p), PERM_WRITE);
        assert_eq!(perm_for(&who(9), &p), PERM_READ);
    }

    #[test]
    fn target_inherits_rights() {
        let p = [Perm { id: 5, bits: 0 }];
        let dm = Who { target: Some(DomId(5)), ..who(9) };
        assert_eq!(perm_for(&dm, &p), PERM_ALL);
    }

    #[test]
    fn parse_and_format_round_trip() {
        let p: Vec<Perm> =
            ["b0", "r5", "w7", "n32757"].iter().map(|s| parse_one(s.as_bytes()).unwrap()).collect();
        let mut out = Vec::new();
        format(&p, &mut out);
        assert_eq!(out, b"b0\0r5\0w7\0n32757\0");
        assert!(parse_one(b"x5").is_err());
        assert!(parse_one(b"r").is_err());
        assert!(parse_one(b"r65536").is_err());
        assert!(parse_one(b"r5a").is_err());
    }
}
