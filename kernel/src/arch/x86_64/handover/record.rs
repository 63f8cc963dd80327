//! The hand-over region: what the old kernel leaves in memory for the
//! new one, as a PVH start info whose one module is the hand-over
//! record (the platform's state, then the engine's migration stream).
//!
//! The region is page aligned at the top of the old heap, so the new
//! kernel keeps it out of its heap until it has restored, then gives it
//! to the heap ([`crate::heap::extend`]). Its layout:
//!
//! | offset | what |
//! |---|---|
//! | 0 | `struct hvm_start_info` (version 1, one module, no memory map: the new kernel asks Xen, as at any boot) |
//! | 64 | the module list entry |
//! | 96 | the module's command line, [`MODULE_TAG`] |
//! | 128 | the kernel command line (NUL-terminated) |
//! | [`RECORD_OFFSET`] | the record |
//!
//! The record (little endian, private to this kernel; a new kernel that
//! does not know its magic refuses it and crashes rather than serve a
//! half-adopted state): magic, the region's bounds, the `VIRQ_DOM_EXC`
//! and `VIRQ_TIMER` ports (0: not bound), the rings (connection, local
//! port, domain, grant handle, where the page is mapped), then the
//! stream's length and bytes.

use alloc::vec::Vec;
use core::ops::Range;

use super::le::{u16_at, u32_at, u64_at};
use crate::abi::start_info::{HvmModlistEntry, HvmStartInfo, XEN_HVM_START_MAGIC_VALUE};

/// The module's command line that marks a hand-over.
pub const MODULE_TAG: &[u8] = b"xenstore-stubdom-rs handover\0";
/// Where the record starts in the region.
pub const RECORD_OFFSET: usize = 0x800;
/// The record's magic (version 1 of this layout).
pub const MAGIC: &[u8; 8] = b"XSRS-LU1";
/// Bytes of one ring's entry.
const RING_BYTES: usize = 24;
/// Bytes before the rings.
const HEAD_BYTES: usize = 40;
/// Offsets in the region.
const MODLIST_OFFSET: usize = 64;
const TAG_OFFSET: usize = 96;
const CMDLINE_OFFSET: usize = 128;

/// A ring the old kernel served, as the new one adopts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingState {
    /// The engine's connection id (the stream's `conn-id`).
    pub conn: u32,
    /// Our bound local port.
    pub port: u32,
    /// The guest.
    pub domid: u16,
    /// The grant handle of the mapping.
    pub handle: u32,
    /// Where the page is mapped.
    pub gpa: u64,
}

/// The platform's state handed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformState {
    /// `VIRQ_DOM_EXC`'s port, 0 if not bound.
    pub dom_exc: u32,
    /// `VIRQ_TIMER`'s port, 0 if not bound.
    pub timer: u32,
    /// The mapped rings.
    pub rings: Vec<RingState>,
}

/// A record read back.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The region it lives in.
    pub region: Range<u64>,
    /// The platform's state.
    pub platform: PlatformState,
    /// The engine's migration stream.
    pub stream: &'a [u8],
}

/// Why a record is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Not this kernel's record (magic).
    Magic,
    /// Shorter than its fields say.
    Truncated,
    /// No memory for the rings.
    NoMemory,
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

/// Writes `bytes` over `out` at `off`.
fn place(out: &mut [u8], off: usize, bytes: &[u8]) -> Option<()> {
    out.get_mut(off..off.checked_add(bytes.len())?)?.copy_from_slice(bytes);
    Some(())
}

/// The region's bytes for a region at `start` of `len` bytes (page
/// aligned, at least [`region_len`]): start info, module, `cmdline`,
/// record. `None` without memory.
pub fn region_bytes(
    start: u64,
    len: usize,
    cmdline: &[u8],
    platform: &PlatformState,
    stream: &[u8],
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).ok()?;
    out.resize(RECORD_OFFSET, 0);
    let at = |off: usize| start.checked_add(off as u64);
    let cmdline = cmdline.get(..cmdline.len().min(RECORD_OFFSET - CMDLINE_OFFSET - 1))?;
    let record_len = record_len(platform, stream)?;
    let si = HvmStartInfo {
        magic: XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        nr_modules: 1,
        modlist_paddr: at(MODLIST_OFFSET)?,
        cmdline_paddr: at(CMDLINE_OFFSET)?,
        ..HvmStartInfo::default()
    };
    let module = HvmModlistEntry {
        paddr: at(RECORD_OFFSET)?,
        size: record_len as u64,
        cmdline_paddr: at(TAG_OFFSET)?,
        reserved: 0,
    };
    let mut head = Vec::new();
    for v in [si.magic, si.version, si.flags, si.nr_modules] {
        put(&mut head, &v.to_le_bytes());
    }
    for v in [si.modlist_paddr, si.cmdline_paddr, si.rsdp_paddr, si.memmap_paddr] {
        put(&mut head, &v.to_le_bytes());
    }
    place(&mut out, 0, &head)?;
    let mut m = Vec::new();
    for v in [module.paddr, module.size, module.cmdline_paddr, module.reserved] {
        put(&mut m, &v.to_le_bytes());
    }
    place(&mut out, MODLIST_OFFSET, &m)?;
    place(&mut out, TAG_OFFSET, MODULE_TAG)?;
    place(&mut out, CMDLINE_OFFSET, cmdline)?;
    put(&mut out, MAGIC);
    put(&mut out, &start.to_le_bytes());
    put(&mut out, &start.checked_add(len as u64)?.to_le_bytes());
    put(&mut out, &platform.dom_exc.to_le_bytes());
    put(&mut out, &platform.timer.to_le_bytes());
    put(&mut out, &u32::try_from(platform.rings.len()).ok()?.to_le_bytes());
    put(&mut out, &0u32.to_le_bytes());
    for r in &platform.rings {
        put(&mut out, &r.conn.to_le_bytes());
        put(&mut out, &r.port.to_le_bytes());
        put(&mut out, &r.domid.to_le_bytes());
        put(&mut out, &0u16.to_le_bytes());
        put(&mut out, &r.handle.to_le_bytes());
        put(&mut out, &r.gpa.to_le_bytes());
    }
    put(&mut out, &(stream.len() as u64).to_le_bytes());
    put(&mut out, stream);
    (out.len() <= len).then_some(out)
}

/// The record's length.
fn record_len(platform: &PlatformState, stream: &[u8]) -> Option<usize> {
    platform
        .rings
        .len()
        .checked_mul(RING_BYTES)?
        .checked_add(HEAD_BYTES)?
        .checked_add(8)?
        .checked_add(stream.len())
}

/// The bytes a region needs, rounded up to whole pages.
pub fn region_len(platform: &PlatformState, stream: &[u8]) -> Option<usize> {
    let len = record_len(platform, stream)?.checked_add(RECORD_OFFSET)?;
    Some(len.checked_add(4095)? & !4095)
}

/// Reads a record (the module's bytes).
pub fn parse(b: &[u8]) -> Result<Record<'_>, RecordError> {
    let u32_at = |at: usize| u32_at(b, at);
    let u64_at = |at: usize| u64_at(b, at);
    if b.get(..8) != Some(&MAGIC[..]) {
        return Err(RecordError::Magic);
    }
    let t = RecordError::Truncated;
    let region = u64_at(8).ok_or(t)?..u64_at(16).ok_or(t)?;
    let dom_exc = u32_at(24).ok_or(t)?;
    let timer = u32_at(28).ok_or(t)?;
    let n = usize::try_from(u32_at(32).ok_or(t)?).map_err(|_| t)?;
    let rings_end = n.checked_mul(RING_BYTES).and_then(|r| r.checked_add(HEAD_BYTES)).ok_or(t)?;
    if rings_end > b.len() {
        return Err(t);
    }
    let mut rings = Vec::new();
    rings.try_reserve_exact(n).map_err(|_| RecordError::NoMemory)?;
    for i in 0..n {
        // In bounds: `rings_end` fits in `b`.
        let at = i.saturating_mul(RING_BYTES).saturating_add(HEAD_BYTES);
        let field = |off: usize| at.saturating_add(off);
        rings.push(RingState {
            conn: u32_at(at).ok_or(t)?,
            port: u32_at(field(4)).ok_or(t)?,
            domid: u16_at(b, field(8)).ok_or(t)?,
            handle: u32_at(field(12)).ok_or(t)?,
            gpa: u64_at(field(16)).ok_or(t)?,
        });
    }
    let len = usize::try_from(u64_at(rings_end).ok_or(t)?).map_err(|_| t)?;
    let start = rings_end.saturating_add(8);
    let stream = b.get(start..start.checked_add(len).ok_or(t)?).ok_or(t)?;
    Ok(Record { region, platform: PlatformState { dom_exc, timer, rings }, stream })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_reads_back() {
        let platform = PlatformState {
            dom_exc: 3,
            timer: 4,
            rings: vec![
                RingState { conn: 1, port: 5, domid: 0, handle: 7, gpa: 0xfc00_1000 },
                RingState { conn: 9, port: 6, domid: 12, handle: 8, gpa: 0xfc00_2000 },
            ],
        };
        let stream = b"stream bytes";
        let len = region_len(&platform, stream).unwrap();
        assert_eq!(len, 4096);
        let start = 0x3f_f000;
        let r = region_bytes(start, len, b"--event 14", &platform, stream).unwrap();
        assert!(r.len() <= len);
        // The start info points into the region.
        assert_eq!(&r[..4], &XEN_HVM_START_MAGIC_VALUE.to_le_bytes());
        assert_eq!(&r[16..24], &(start + 64).to_le_bytes());
        assert_eq!(&r[24..32], &(start + 128).to_le_bytes());
        assert_eq!(&r[128..139], b"--event 14\0");
        assert_eq!(&r[96..96 + MODULE_TAG.len()], MODULE_TAG);
        let module_paddr = u64::from_le_bytes(r[64..72].try_into().unwrap());
        let module_len = u64::from_le_bytes(r[72..80].try_into().unwrap()) as usize;
        assert_eq!(module_paddr, start + RECORD_OFFSET as u64);
        let rec = parse(&r[RECORD_OFFSET..RECORD_OFFSET + module_len]).unwrap();
        assert_eq!(rec.region, start..start + 4096);
        assert_eq!(rec.platform, platform);
        assert_eq!(rec.stream, stream);
    }

    #[test]
    fn bad_records_are_refused() {
        let platform = PlatformState { rings: vec![RingState::default()], ..Default::default() };
        let r = region_bytes(0x1000, 4096, b"", &platform, b"abc").unwrap();
        let rec = &r[RECORD_OFFSET..];
        assert_eq!(parse(b"XSRS-LU0"), Err(RecordError::Magic));
        for cut in 0..rec.len() {
            assert!(parse(&rec[..cut]).is_err(), "cut at {cut}");
        }
        assert!(region_bytes(0x1000, 2048, b"", &platform, b"abc").is_none(), "too small");
    }
}
