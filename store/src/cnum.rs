//! Number parsing with the exact leniency of the C library calls C
//! xenstored uses, because the protocol's numbers are whatever those calls
//! accept:
//!
//! * [`atoi`]: ports, feature words, quota values, `XS_DIRECTORY_PART`
//!   offsets and watch depths (`atoi`: garbage gives 0);
//! * [`parse_domid`]: domain ids (`parse_domid` in C 4.22 `domain.c`:
//!   `strtoul(s, &end, 10)`, the whole string consumed, at most 65535; an
//!   empty string is domain 0);
//! * [`perm_id`]: the domain id of a permission entry
//!   (`xenstore_strings_to_perms`: `strtol(s, &end, 0)` — decimal, `0x`
//!   hex or `0` octal — stored in an `unsigned int`).
//!
//! None of them can panic or overflow: values saturate as C's do.

/// Whether `c` is a C `isspace` character.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The value of digit `c` in `base`, if it is one.
fn digit(c: u8, base: u32) -> Option<u32> {
    char::from(c).to_digit(base)
}

/// What C's `strto*` functions found: the magnitude (saturated at
/// `u64::MAX`), its sign, and how many bytes were consumed (0 when no
/// digits were found, as C leaves `endptr` at the start then).
struct Parsed {
    magnitude: u64,
    negative: bool,
    consumed: usize,
}

/// The common part of `strtol`/`strtoul`: spaces, a sign, an optional
/// base prefix (base 0), digits.
fn strto(s: &[u8], base: u32) -> Parsed {
    let mut i = s.iter().take_while(|&&c| is_space(c)).count();
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
        negative = sign == b'-';
        i = i.saturating_add(1);
    }
    let mut base = base;
    let starts_zero = s.get(i) == Some(&b'0');
    let hex_prefix = starts_zero
        && matches!(s.get(i.saturating_add(1)), Some(b'x' | b'X'))
        && s.get(i.saturating_add(2)).and_then(|&c| digit(c, 16)).is_some();
    if base == 0 {
        base = if hex_prefix {
            16
        } else if starts_zero {
            8
        } else {
            10
        };
    }
    if base == 16 && hex_prefix {
        i = i.saturating_add(2);
    }
    let mut magnitude: u64 = 0;
    let mut digits = 0usize;
    while let Some(d) = s.get(i).and_then(|&c| digit(c, base)) {
        magnitude = magnitude.saturating_mul(u64::from(base)).saturating_add(u64::from(d));
        digits = digits.saturating_add(1);
        i = i.saturating_add(1);
    }
    let consumed = if digits == 0 { 0 } else { i };
    Parsed { magnitude, negative, consumed }
}

/// C `atoi` (as glibc's `strtol(s, NULL, 10)` truncated to `int`).
pub fn atoi(s: &[u8]) -> i32 {
    let p = strto(s, 10);
    let v = i64::try_from(p.magnitude).unwrap_or(i64::MAX);
    let v = if p.negative { v.saturating_neg() } else { v };
    // glibc's atoi is strtol (a 64-bit long) converted to int, keeping the
    // low 32 bits.
    let low = v.rem_euclid(1 << 32);
    let low = u32::try_from(low).unwrap_or(0);
    i32::from_ne_bytes(low.to_ne_bytes())
}

/// C 4.22 `parse_domid`: `None` where C sets `errno = EINVAL`.
pub fn parse_domid(s: &[u8]) -> Option<u16> {
    let p = strto(s, 10);
    // With no digits `endptr` stays at the start: valid only for "".
    if p.consumed != s.len() && !(p.consumed == 0 && s.is_empty()) {
        return None;
    }
    if p.negative && p.magnitude != 0 {
        // strtoul negates in unsigned arithmetic: always above 65535.
        return None;
    }
    u16::try_from(p.magnitude).ok()
}

/// The id of a permission entry, as `xenstore_strings_to_perms` stores it
/// (`strtol` base 0, then kept in an `unsigned int`). `None` where C
/// reports `EINVAL`: no digits or trailing garbage.
pub fn perm_id(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let p = strto(s, 0);
    if p.consumed != s.len() {
        return None;
    }
    // strtol saturates at LONG_MAX / LONG_MIN, then the value is stored
    // in an unsigned int (low 32 bits).
    let v = if p.negative {
        i64::try_from(p.magnitude).map_or(i64::MIN, i64::wrapping_neg)
    } else {
        i64::try_from(p.magnitude).unwrap_or(i64::MAX)
    };
    u32::try_from(v.rem_euclid(1 << 32)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_is_c_atoi() {
        assert_eq!(atoi(b"12x"), 12);
        assert_eq!(atoi(b"  -3"), -3);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"4294967295"), -1);
        assert_eq!(atoi(b"99999999999999999999"), -1);
    }

    #[test]
    fn parse_domid_is_c_4_22() {
        assert_eq!(parse_domid(b"0"), Some(0));
        assert_eq!(parse_domid(b""), Some(0));
        assert_eq!(parse_domid(b" 1"), Some(1));
        assert_eq!(parse_domid(b"+1"), Some(1));
        assert_eq!(parse_domid(b"007"), Some(7));
        assert_eq!(parse_domid(b"-0"), Some(0));
        assert_eq!(parse_domid(b"65535"), Some(65535));
        for bad in [&b"-1"[..], b"65536", b"99999999999999999999", b"abc", b"12abc", b"0x10", b" "]
        {
            assert_eq!(parse_domid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn perm_id_is_strtol_base_0() {
        assert_eq!(perm_id(b"5"), Some(5));
        assert_eq!(perm_id(b"00"), Some(0));
        assert_eq!(perm_id(b"+1"), Some(1));
        assert_eq!(perm_id(b" 1"), Some(1));
        assert_eq!(perm_id(b"0x10"), Some(16));
        assert_eq!(perm_id(b"010"), Some(8));
        assert_eq!(perm_id(b"-1"), Some(u32::MAX));
        assert_eq!(perm_id(b"65536"), Some(65536));
        assert_eq!(perm_id(b"99999999999999999999"), Some(u32::MAX));
        for bad in [&b""[..], b" ", b"08", b"0x", b"5a", b"r"] {
            assert_eq!(perm_id(bad), None, "{bad:?}");
        }
    }
}
