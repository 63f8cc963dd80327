//! Node permissions: parsing, printing and the access decision.
//!
//! A node's permission list is `<letter><domid>` entries (`docs/misc/
//! xenstore.txt`): the first entry names the owner and, by its letter, what
//! everyone else may do by default; later entries grant specific domains
//! `r` (read), `w` (write), `b` (both) or `n` (none). The owner, the
//! privileged domain, and a domain acting for the owner's domain through
//! `XS_SET_TARGET` have full access. [`DOMID_ANY`] (0x7FF5) in an entry
//! matches every domain (Xen 4.22). The decision is C's `perm_for_conn`.
//!
//! Entries naming a domain that does not exist when they are set, or
//! that later dies, carry [`PERM_IGNORE`] (C 4.22 `XS_PERM_IGNORE`): they
//! are still listed by `XS_GET_PERMS` but never grant anything, so a new
//! domain reusing the id inherits nothing. Entry ids are kept as C parses
//! them (`strtol` into an `unsigned int`), so any `u32` may appear.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::error::Error;
use crate::ids::DomId;

/// Read access.
pub const PERM_READ: u8 = 1;
/// Write access.
pub const PERM_WRITE: u8 = 2;
/// Owner rights (change permissions).
pub const PERM_OWNER: u8 = 8;
/// The entry names a domain that does not exist (C `XS_PERM_IGNORE`).
pub const PERM_IGNORE: u8 = 0x10;
/// Everything an owner gets.
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE | PERM_OWNER;

/// An entry that matches any domain (`DOMID_ANY`).
pub const DOMID_ANY: u32 = 0x7FF5;

/// Bytes C accounts per permission entry (`sizeof(struct
/// xs_permissions)`: an `unsigned int` id and an `enum`), used for the
/// `node-size` quota and memory accounting.
pub const PERM_ACC_BYTES: usize = 8;

/// One permission entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The domain the entry is about (as parsed; may name no domain).
    pub id: u32,
    /// `PERM_READ | PERM_WRITE` bits, plus [`PERM_IGNORE`].
    pub bits: u8,
}

impl Perm {
    /// Whether the entry is marked ignored.
    pub fn ignored(self) -> bool {
        self.bits & PERM_IGNORE != 0
    }
}

/// A node's permission list; never empty (the first entry is the owner).
/// Shared: nodes created under a parent reference the parent's list.
pub type Perms = Arc<[Perm]>;

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
    fn matches(&self, id: u32) -> bool {
        id == u32::from(self.domid.0)
            || self.target.is_some_and(|t| u32::from(t.0) == id)
            || id == DOMID_ANY
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
        if !p.ignored() && who.matches(p.id) {
            return p.bits & PERM_ALL;
        }
    }
    owner.bits & PERM_ALL
}

/// Parses one entry such as `r5`, `b0`, `n0x7ff5` (C
/// `xenstore_strings_to_perms`: a letter, then a `strtol` base-0 number).
pub fn parse_one(s: &[u8]) -> Result<Perm, Error> {
    let (&letter, digits) = s.split_first().ok_or(Error::Inval)?;
    let bits = match letter {
        b'r' => PERM_READ,
        b'w' => PERM_WRITE,
        b'b' => PERM_READ | PERM_WRITE,
        b'n' => 0,
        _ => return Err(Error::Inval),
    };
    let id = crate::cnum::perm_id(digits).ok_or(Error::Inval)?;
    Ok(Perm { id, bits })
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
    fn ignored_entries_grant_nothing() {
        let p = [Perm { id: 5, bits: 0 }, Perm { id: 7, bits: PERM_READ | PERM_IGNORE }];
        assert_eq!(perm_for(&who(7), &p), 0);
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
        assert!(parse_one(b"r5a").is_err());
        assert!(parse_one(b"r 1").is_ok_and(|p| p.id == 1));
        assert!(parse_one(b"n0x10").is_ok_and(|p| p.id == 16));
        assert!(parse_one(b"r65536").is_ok_and(|p| p.id == 65536));
        let ignored = [Perm { id: 5, bits: PERM_READ | PERM_IGNORE }];
        let mut out = Vec::new();
        format(&ignored, &mut out);
        assert_eq!(out, b"r5\0");
    }
}
