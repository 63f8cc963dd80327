//! The new kernel of a live update, as `xenstore-control` sends it (the
//! unpacked ELF image, `xc_dom_kernel_file`): its loadable segments and
//! its PVH entry point, checked before anything is overwritten.
//!
//! Facts from the ELF-64 specification and Xen's `public/elfnote.h`:
//! `PT_LOAD` segments are placed at their physical address (`p_paddr`,
//! as Xen's domain builder places a PVH kernel), `p_filesz` bytes from
//! the file then zeros up to `p_memsz`; `XEN_ELFNOTE_PHYS32_ENTRY` (18)
//! in a `PT_NOTE` segment, owner `"Xen"`, holds the 32-bit entry address.

use alloc::vec::Vec;
use core::ops::Range;

use super::le::{u16_at, u32_at, u64_at};

/// `PT_LOAD`.
const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
const PT_NOTE: u32 = 4;
/// `EM_X86_64`.
const EM_X86_64: u16 = 62;
/// `XEN_ELFNOTE_PHYS32_ENTRY`.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// Size of an ELF-64 program header.
const PHDR_SIZE: usize = 56;
/// Most program headers looked at.
const MAX_PHDRS: usize = 16;

/// Why a new kernel is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a little-endian x86-64 ELF-64 image.
    NotElf64,
    /// A header or segment lies outside the file, or sizes do not add up.
    Truncated,
    /// No loadable segment.
    NoSegments,
    /// A segment outside the memory the new kernel may use.
    OutOfBounds,
    /// No `XEN_ELFNOTE_PHYS32_ENTRY`, or an entry outside the image.
    NoPvhEntry,
}

/// One loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it goes.
    pub paddr: u64,
    /// Its bytes in the file.
    pub file: Range<usize>,
    /// Its size in memory (the rest of `file` is zeros).
    pub memsz: u64,
}

/// A checked new kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// The loadable segments.
    pub segments: Vec<Segment>,
    /// The memory they cover, from the lowest start to the highest end.
    pub span: Range<u64>,
    /// The PVH 32-bit entry point.
    pub entry: u32,
}

/// Checks `image` and returns its segments and entry; every segment
/// must lie within `allowed`.
pub fn parse(image: &[u8], allowed: Range<u64>) -> Result<Kernel, ElfError> {
    if image.get(..4) != Some(b"\x7fELF")
        || image.get(4) != Some(&2)
        || image.get(5) != Some(&1)
        || u16_at(image, 18) != Some(EM_X86_64)
    {
        return Err(ElfError::NotElf64);
    }
    let phoff = usize::try_from(u64_at(image, 32).ok_or(ElfError::Truncated)?)
        .map_err(|_| ElfError::Truncated)?;
    let phentsize = usize::from(u16_at(image, 54).ok_or(ElfError::Truncated)?);
    let phnum = usize::from(u16_at(image, 56).ok_or(ElfError::Truncated)?);
    if phentsize < PHDR_SIZE || phnum > MAX_PHDRS {
        return Err(ElfError::Truncated);
    }
    let mut segments = Vec::new();
    let mut entry = None;
    for i in 0..phnum {
        let ph = i.checked_mul(phentsize).and_then(|o| o.checked_add(phoff));
        let ph = ph.and_then(|at| image.get(at..at.checked_add(PHDR_SIZE)?));
        let ph = ph.ok_or(ElfError::Truncated)?;
        let field = |at| u64_at(ph, at).ok_or(ElfError::Truncated);
        let ty = u32_at(ph, 0).ok_or(ElfError::Truncated)?;
        let (offset, paddr, filesz, memsz) = (field(8)?, field(24)?, field(32)?, field(40)?);
        let start = usize::try_from(offset).map_err(|_| ElfError::Truncated)?;
        let len = usize::try_from(filesz).map_err(|_| ElfError::Truncated)?;
        let end = start.checked_add(len).filter(|&e| e <= image.len());
        let file = start..end.ok_or(ElfError::Truncated)?;
        match ty {
            PT_LOAD if memsz > 0 => {
                let top = paddr.checked_add(memsz).ok_or(ElfError::OutOfBounds)?;
                if filesz > memsz {
                    return Err(ElfError::Truncated);
                }
                if paddr < allowed.start || top > allowed.end {
                    return Err(ElfError::OutOfBounds);
                }
                segments.push(Segment { paddr, file, memsz });
            }
            PT_NOTE => entry = entry.or(pvh_entry(image.get(file).unwrap_or(&[]))),
            _ => {}
        }
    }
    let lo = segments.iter().map(|s| s.paddr).min().ok_or(ElfError::NoSegments)?;
    let hi = segments.iter().map(|s| s.paddr.saturating_add(s.memsz)).max().unwrap_or(lo);
    let entry = entry.ok_or(ElfError::NoPvhEntry)?;
    if !(lo..hi).contains(&u64::from(entry)) {
        return Err(ElfError::NoPvhEntry);
    }
    Ok(Kernel { segments, span: lo..hi, entry })
}

/// The `XEN_ELFNOTE_PHYS32_ENTRY` value among the notes in `notes`.
fn pvh_entry(notes: &[u8]) -> Option<u32> {
    let pad4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0usize;
    while at < notes.len() {
        let namesz = usize::try_from(u32_at(notes, at)?).ok()?;
        let descsz = usize::try_from(u32_at(notes, at.checked_add(4)?)?).ok()?;
        let ty = u32_at(notes, at.checked_add(8)?)?;
        let name = at.checked_add(12)?;
        let desc = name.checked_add(pad4(namesz)?)?;
        if ty == XEN_ELFNOTE_PHYS32_ENTRY
            && notes.get(name..name.checked_add(namesz)?) == Some(b"Xen\0")
        {
            // libelf reads a 4- or 8-byte number.
            return match descsz {
                4 => u32_at(notes, desc),
                8 => u64_at(notes, desc).and_then(|v| u32::try_from(v).ok()),
                _ => None,
            };
        }
        at = desc.checked_add(pad4(descsz)?)?;
    }
    None
}

/// The memory image of `kernel` over its span: each segment's file bytes
/// at its place, zeros elsewhere. `None` if the heap has no room.
pub fn flatten(image: &[u8], kernel: &Kernel) -> Option<Vec<u8>> {
    let len = usize::try_from(kernel.span.end.checked_sub(kernel.span.start)?).ok()?;
    let mut flat = Vec::new();
    flat.try_reserve_exact(len).ok()?;
    flat.resize(len, 0);
    for s in &kernel.segments {
        let at = usize::try_from(s.paddr.checked_sub(kernel.span.start)?).ok()?;
        let bytes = image.get(s.file.clone())?;
        flat.get_mut(at..at.checked_add(bytes.len())?)?.copy_from_slice(bytes);
    }
    Some(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal image: one PT_LOAD at 1 MiB (8 file bytes, 16 in
    /// memory) and a PT_NOTE with the entry.
    pub(crate) fn image(entry: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 2 * PHDR_SIZE];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[56..58].copy_from_slice(&2u16.to_le_bytes());
        let data_off = b.len() as u64;
        let note_off = data_off + 8;
        let ph = |b: &mut Vec<u8>, i: usize, ty: u32, off: u64, paddr: u64, fsz: u64, msz: u64| {
            let at = 64 + i * PHDR_SIZE;
            b[at..at + 4].copy_from_slice(&ty.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            b[at + 24..at + 32].copy_from_slice(&paddr.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&fsz.to_le_bytes());
            b[at + 40..at + 48].copy_from_slice(&msz.to_le_bytes());
        };
        ph(&mut b, 0, PT_LOAD, data_off, 0x10_0000, 8, 16);
        ph(&mut b, 1, PT_NOTE, note_off, 0, 20, 20);
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        for w in [4u32, 4, XEN_ELFNOTE_PHYS32_ENTRY] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(b"Xen\0");
        b.extend_from_slice(&entry.to_le_bytes());
        b
    }

    #[test]
    fn a_pvh_image_is_parsed_and_flattened() {
        let img = image(0x10_0004);
        let k = parse(&img, 0x10_0000..0x40_0000).unwrap();
        assert_eq!(k.entry, 0x10_0004);
        assert_eq!(k.span, 0x10_0000..0x10_0010);
        assert_eq!(flatten(&img, &k).unwrap(), [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_images_are_refused() {
        let img = image(0x10_0004);
        assert_eq!(parse(&img, 0x20_0000..0x40_0000), Err(ElfError::OutOfBounds));
        assert_eq!(parse(&img, 0x10_0000..0x10_0008), Err(ElfError::OutOfBounds));
        assert_eq!(parse(&image(0x20_0000), 0..u64::MAX), Err(ElfError::NoPvhEntry));
        assert_eq!(parse(&img[..100], 0..u64::MAX), Err(ElfError::Truncated));
        assert_eq!(parse(b"\x7fELF\x01\x01", 0..u64::MAX), Err(ElfError::NotElf64));
        let mut no_note = img.clone();
        no_note[64 + PHDR_SIZE] = 0; // the PT_NOTE becomes PT_NULL
        assert_eq!(parse(&no_note, 0..u64::MAX), Err(ElfError::NoPvhEntry));
        for cut in 0..img.len() {
            assert!(parse(&img[..cut], 0..u64::MAX).is_err(), "cut at {cut}");
        }
    }
}
