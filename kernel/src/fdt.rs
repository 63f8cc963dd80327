//! A flattened device tree reader: just what a Xen guest on Arm needs to
//! learn from the tree Xen hands it in `x0` (the devicetree specification's
//! "Flattened Devicetree (DTB) Format": a header, a structure block of
//! big-endian tokens, a strings block).
//!
//! [`Fdt::node`] finds a node by path (`/hypervisor`, `/chosen`; a path
//! component without a unit address also matches `name@unit`, so `/memory`
//! finds `memory@40000000`); [`Node::prop`] reads one of its properties.
//! [`XenNode`] collects what the stub uses: the `/hypervisor` node's
//! compatible strings, its `reg` regions (the grant-table region first,
//! then the extended regions, free guest-physical space for foreign
//! mappings) and its event interrupt, the first RAM bank and `/chosen`'s
//! `bootargs`.
//!
//! Everything read is checked against the blob's bounds; a malformed tree
//! gives errors or `None`, never a panic.

/// The header's magic number.
const FDT_MAGIC: u32 = 0xd00d_feed;
/// Structure block tokens.
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Bytes of the header the reader uses (up to `size_dt_struct`).
const HEADER_BYTES: usize = 40;
/// Most regions kept per `reg` property.
pub const MAX_REGIONS: usize = 8;
/// The first PPI's interrupt ID (GIC: SGIs 0–15, PPIs 16–31).
const PPI_BASE: u32 = 16;
/// `interrupts` type cell of a PPI.
const GIC_PPI: u32 = 1;

/// Why a blob is not a usable device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// Shorter than its header or its `totalsize`.
    Truncated,
    /// Not the FDT magic number.
    BadMagic,
    /// A block lies outside the blob.
    BadLayout,
}

/// Reads the big-endian `u32` at `off`.
fn be32(b: &[u8], off: usize) -> Option<u32> {
    let bytes = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads the total size from a blob's header (to know how much to map or
/// copy before parsing).
pub fn total_size(header: &[u8]) -> Result<usize, FdtError> {
    if be32(header, 0).ok_or(FdtError::Truncated)? != FDT_MAGIC {
        return Err(FdtError::BadMagic);
    }
    usize::try_from(be32(header, 4).ok_or(FdtError::Truncated)?).map_err(|_| FdtError::BadLayout)
}

/// A parsed device tree blob.
#[derive(Clone, Copy, Debug)]
pub struct Fdt<'a> {
    /// The structure block.
    structs: &'a [u8],
    /// The strings block.
    strings: &'a [u8],
}

/// One token of the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Begin(&'a str),
    End,
    Prop(&'a str, &'a [u8]),
}

/// Walks the structure block from a byte offset.
struct Tokens<'a> {
    fdt: Fdt<'a>,
    off: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let s = self.fdt.structs;
        loop {
            let tok = be32(s, self.off)?;
            let body = self.off.checked_add(4)?;
            match tok {
                FDT_BEGIN_NODE => {
                    let rest = s.get(body..)?;
                    let len = rest.iter().position(|&b| b == 0)?;
                    let name = core::str::from_utf8(rest.get(..len)?).ok()?;
                    self.off = align4(body.checked_add(len)?.checked_add(1)?)?;
                    return Some(Token::Begin(name));
                }
                FDT_END_NODE => {
                    self.off = body;
                    return Some(Token::End);
                }
                FDT_PROP => {
                    let len = usize::try_from(be32(s, body)?).ok()?;
                    let name_off = usize::try_from(be32(s, body.checked_add(4)?)?).ok()?;
                    let data_at = body.checked_add(8)?;
                    let value = s.get(data_at..data_at.checked_add(len)?)?;
                    self.off = align4(data_at.checked_add(len)?)?;
                    return Some(Token::Prop(self.fdt.string(name_off)?, value));
                }
                FDT_NOP => self.off = body,
                FDT_END => return None,
                _ => return None,
            }
        }
    }
}

/// Rounds up to a multiple of 4.
fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Whether node `name` matches path component `comp` (`comp` or
/// `comp@unit`).
fn name_matches(name: &str, comp: &str) -> bool {
    name == comp || name.strip_prefix(comp).is_some_and(|rest| rest.starts_with('@'))
}

impl<'a> Fdt<'a> {
    /// Parses the header of `blob` (at least `totalsize` bytes).
    pub fn new(blob: &'a [u8]) -> Result<Fdt<'a>, FdtError> {
        if blob.len() < HEADER_BYTES {
            return Err(FdtError::Truncated);
        }
        let total = total_size(blob)?;
        let blob = blob.get(..total).ok_or(FdtError::Truncated)?;
        let field = |i: usize| -> Result<usize, FdtError> {
            let v = be32(blob, i.saturating_mul(4)).ok_or(FdtError::Truncated)?;
            usize::try_from(v).map_err(|_| FdtError::BadLayout)
        };
        let (off_struct, off_strings) = (field(2)?, field(3)?);
        let (size_strings, size_struct) = (field(8)?, field(9)?);
        let block = |off: usize, len: usize| {
            blob.get(off..off.checked_add(len).ok_or(FdtError::BadLayout)?)
                .ok_or(FdtError::BadLayout)
        };
        Ok(Fdt {
            structs: block(off_struct, size_struct)?,
            strings: block(off_strings, size_strings)?,
        })
    }

    /// The NUL-terminated string at `off` of the strings block.
    fn string(&self, off: usize) -> Option<&'a str> {
        let rest = self.strings.get(off..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        core::str::from_utf8(rest.get(..len)?).ok()
    }

    /// The tokens from byte `off` of the structure block.
    fn tokens(&self, off: usize) -> Tokens<'a> {
        Tokens { fdt: *self, off }
    }

    /// The node at `path` (`/` is the root), the first one if several
    /// match.
    pub fn node(&self, path: &str) -> Option<Node<'a>> {
        let comps = || path.split('/').filter(|c| !c.is_empty());
        let want = comps().count();
        // Depth of the current node (the root is 1), and how many leading
        // nodes of the current branch match the path.
        let (mut depth, mut matched) = (0usize, 0usize);
        let mut walk = self.tokens(0);
        while let Some(tok) = walk.next() {
            match tok {
                Token::Begin(name) => {
                    depth = depth.checked_add(1)?;
                    let on_path = matched.checked_add(1) == Some(depth);
                    if depth == 1 {
                        matched = 1;
                    } else if on_path
                        && comps().nth(depth.checked_sub(2)?).is_some_and(|c| name_matches(name, c))
                    {
                        matched = depth;
                    }
                    if matched == depth && depth == want.checked_add(1)? {
                        return Some(Node { fdt: *self, off: walk.off });
                    }
                }
                Token::End => {
                    if matched == depth {
                        matched = matched.saturating_sub(1);
                    }
                    depth = depth.checked_sub(1)?;
                }
                Token::Prop(..) => {}
            }
        }
        None
    }
}

/// A node of the tree: where its properties start.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    off: usize,
}

impl<'a> Node<'a> {
    /// The value of property `name` (properties come before child nodes).
    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.fdt
            .tokens(self.off)
            .map_while(|t| match t {
                Token::Prop(n, v) => Some((n, v)),
                _ => None,
            })
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A property holding one `u32`.
    pub fn prop_u32(&self, name: &str) -> Option<u32> {
        self.prop(name).and_then(|v| be32(v, 0))
    }

    /// A string property, without its NUL.
    pub fn prop_str(&self, name: &str) -> Option<&'a str> {
        let v = self.prop(name)?;
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        core::str::from_utf8(v.get(..end)?).ok()
    }

    /// The strings of a string-list property.
    pub fn prop_strings(&self, name: &str) -> impl Iterator<Item = &'a str> {
        self.prop(name)
            .unwrap_or_default()
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// The `(address, size)` pairs of a `reg` property with the given cell
    /// counts, at most [`MAX_REGIONS`].
    pub fn regions(&self, address_cells: u32, size_cells: u32) -> Regions {
        let mut out = Regions::new();
        let (Some(v), Ok(a), Ok(s)) =
            (self.prop("reg"), usize::try_from(address_cells), usize::try_from(size_cells))
        else {
            return out;
        };
        let entry = a.saturating_add(s).saturating_mul(4);
        if entry == 0 || a > 2 || s > 2 {
            return out;
        }
        for chunk in v.chunks_exact(entry) {
            let addr = cells(chunk, 0, a);
            let size = cells(chunk, a.saturating_mul(4), s);
            if let (Some(addr), Some(size)) = (addr, size) {
                if out.push((addr, size)).is_err() {
                    break;
                }
            }
        }
        out
    }
}

/// `(address, size)` regions of a `reg` property.
pub type Regions = heapless::Vec<(u64, u64), MAX_REGIONS>;

/// A number of `n` (at most 2) big-endian cells at byte `off` of `b`.
fn cells(b: &[u8], off: usize, n: usize) -> Option<u64> {
    (0..n).try_fold(0u64, |acc, i| {
        let c = be32(b, off.checked_add(i.checked_mul(4)?)?)?;
        Some(acc.checked_shl(32).unwrap_or(0) | u64::from(c))
    })
}

/// What a Xen guest on Arm learns from its device tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenNode<'a> {
    /// The `/hypervisor` node's compatible strings' version,
    /// `xen,xen-X.Y`: `(X << 16) | Y`.
    pub version: Option<u32>,
    /// `/hypervisor`'s `reg`: the grant-table region, then the extended
    /// regions.
    pub regions: Regions,
    /// The event upcall's interrupt ID (a PPI).
    pub event_irq: Option<u32>,
    /// The first RAM bank (`/memory`'s first `reg` entry).
    pub ram: Option<(u64, u64)>,
    /// `/chosen`'s `bootargs`.
    pub bootargs: &'a str,
}

impl<'a> XenNode<'a> {
    /// Reads the parts of `fdt` the stub uses; `None` without a
    /// `/hypervisor` node compatible with `xen,xen`.
    pub fn read(fdt: &Fdt<'a>) -> Option<XenNode<'a>> {
        let root = fdt.node("/")?;
        let ac = root.prop_u32("#address-cells").unwrap_or(2);
        let sc = root.prop_u32("#size-cells").unwrap_or(1);
        let hv = fdt.node("/hypervisor")?;
        if !hv.prop_strings("compatible").any(|c| c == "xen,xen") {
            return None;
        }
        let version = hv.prop_strings("compatible").find_map(parse_version);
        let irq = hv.prop("interrupts").and_then(|v| {
            let (ty, num) = (be32(v, 0)?, be32(v, 4)?);
            (ty == GIC_PPI).then(|| num.checked_add(PPI_BASE)).flatten()
        });
        Some(XenNode {
            version,
            regions: hv.regions(ac, sc),
            event_irq: irq,
            ram: fdt.node("/memory").and_then(|m| m.regions(ac, sc).first().copied()),
            bootargs: fdt.node("/chosen").and_then(|c| c.prop_str("bootargs")).unwrap_or(""),
        })
    }

    /// The grant-table region (the first `reg` entry).
    pub fn grant_region(&self) -> Option<(u64, u64)> {
        self.regions.first().copied()
    }

    /// The extended regions (the other `reg` entries).
    pub fn extended_regions(&self) -> &[(u64, u64)] {
        self.regions.get(1..).unwrap_or_default()
    }
}

/// `xen,xen-X.Y` → `(X << 16) | Y`.
fn parse_version(compat: &str) -> Option<u32> {
    let (major, minor) = compat.strip_prefix("xen,xen-")?.split_once('.')?;
    let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
    Some(major.checked_shl(16)? | minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Builds a blob: `nodes` is a token list in a small language.
    struct Builder {
        structs: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Builder {
        fn new() -> Builder {
            Builder { structs: Vec::new(), strings: Vec::new() }
        }
        fn word(&mut self, w: u32) {
            self.structs.extend_from_slice(&w.to_be_bytes());
        }
        fn pad(&mut self) {
            while !self.structs.len().is_multiple_of(4) {
                self.structs.push(0);
            }
        }
        fn begin(&mut self, name: &str) -> &mut Self {
            self.word(FDT_BEGIN_NODE);
            self.structs.extend_from_slice(name.as_bytes());
            self.structs.push(0);
            self.pad();
            self
        }
        fn end(&mut self) -> &mut Self {
            self.word(FDT_END_NODE);
            self
        }
        fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            self.word(FDT_PROP);
            self.word(value.len() as u32);
            self.word(off);
            self.structs.extend_from_slice(value);
            self.pad();
            self
        }
        fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
            let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
            self.prop(name, &v)
        }
        fn finish(&mut self) -> Vec<u8> {
            self.word(FDT_END);
            let off_struct = 40 + 16; // header, empty reservation map
            let off_strings = off_struct + self.structs.len();
            let total = off_strings + self.strings.len();
            let mut b = Vec::new();
            for w in [
                FDT_MAGIC,
                total as u32,
                off_struct as u32,
                off_strings as u32,
                40,
                17,
                16,
                0,
                self.strings.len() as u32,
                self.structs.len() as u32,
            ] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            b.extend_from_slice(&[0; 16]);
            b.extend_from_slice(&self.structs);
            b.extend_from_slice(&self.strings);
            b
        }
    }

    /// A tree like the one Xen 4.22 gives a dom0less domain.
    fn xen_tree() -> Vec<u8> {
        let mut b = Builder::new();
        b.begin("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .begin("chosen")
            .prop("bootargs", b"--log-level debug\0")
            .end()
            .begin("memory@40000000")
            .prop("device_type", b"memory\0")
            .cells("reg", &[0, 0x4000_0000, 0, 0x0400_0000])
            .end()
            .begin("hypervisor")
            .prop("compatible", b"xen,xen-4.22\0xen,xen\0")
            .cells(
                "reg",
                &[0, 0x3800_0000, 0, 0x0100_0000, 0, 0x4400_0000, 0, 0x3c00_0000, 0x2, 0, 0x1, 0],
            )
            .cells("interrupts", &[1, 15, 0xf08])
            .begin("child")
            .prop("compatible", b"decoy\0")
            .end()
            .end()
            .end();
        b.finish()
    }

    #[test]
    fn reads_what_xen_describes() {
        let blob = xen_tree();
        assert_eq!(total_size(&blob), Ok(blob.len()));
        let fdt = Fdt::new(&blob).unwrap();
        let x = XenNode::read(&fdt).unwrap();
        assert_eq!(x.version, Some(0x4_0016));
        assert_eq!(x.grant_region(), Some((0x3800_0000, 0x0100_0000)));
        assert_eq!(
            x.extended_regions(),
            &[(0x4400_0000, 0x3c00_0000), (0x2_0000_0000, 0x1_0000_0000)]
        );
        assert_eq!(x.event_irq, Some(31));
        assert_eq!(x.ram, Some((0x4000_0000, 0x0400_0000)));
        assert_eq!(x.bootargs, "--log-level debug");
    }

    #[test]
    fn paths_match_unit_addresses_and_only_their_branch() {
        let blob = xen_tree();
        let fdt = Fdt::new(&blob).unwrap();
        assert!(fdt.node("/memory").is_some());
        assert!(fdt.node("/memory@40000000").is_some());
        assert!(fdt.node("/mem").is_none());
        assert_eq!(fdt.node("/hypervisor/child").unwrap().prop_str("compatible"), Some("decoy"));
        assert!(fdt.node("/chosen/child").is_none());
        assert!(fdt.node("/child").is_none());
        // Properties of a child do not leak into the parent.
        assert_eq!(fdt.node("/hypervisor").unwrap().prop_strings("compatible").count(), 2);
    }

    #[test]
    fn no_hypervisor_node_no_xen() {
        let mut b = Builder::new();
        b.begin("").begin("chosen").end().end();
        let blob = b.finish();
        assert_eq!(XenNode::read(&Fdt::new(&blob).unwrap()), None);
    }

    #[test]
    fn malformed_blobs_give_errors_not_panics() {
        let blob = xen_tree();
        assert_eq!(Fdt::new(&blob[..20]).unwrap_err(), FdtError::Truncated);
        let mut bad = blob.clone();
        bad[0] = 0;
        assert_eq!(Fdt::new(&bad).unwrap_err(), FdtError::BadMagic);
        // Every truncation of the structure block parses or fails cleanly.
        for cut in 0..blob.len() {
            let mut b = blob.clone();
            b.truncate(cut);
            if let Ok(f) = Fdt::new(&b) {
                let _ = XenNode::read(&f);
            }
        }
        // Every single-byte corruption, too.
        for i in 40..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0xff;
            if let Ok(f) = Fdt::new(&b) {
                let _ = XenNode::read(&f);
            }
        }
    }
}
