//! Where the heap and the mapping window go, from the PVH memory map.
//!
//! `init-xenstore-domain` gives the stub an e820 of RAM `0 .. min(maxmem,
//! 0xfee00000)` (plus RAM above 4 GiB when `maxmem` is larger), the reserved
//! special pages `0xfeff8000 .. 0xff000000`, and populates only `memory` MiB
//! from address 0: e820 RAM between `memory` and `maxmem` is balloon space
//! with no pages behind it. So the heap is the RAM entry holding the kernel,
//! from the end of the image (and of the start-info data placed after it)
//! up to the lower of the entry's end and what our reservation covers.
//!
//! Foreign pages (shared info, guests' ring pages) must be mapped into GFNs
//! that are *not* RAM: Xen would silently drop a RAM page mapped over
//! (xen-abi §4.2). They go into a window just below the LAPIC page
//! 0xfee00000, which the boot page tables map, and which no e820 entry
//! may overlap.

use core::ops::Range;

use crate::abi::start_info::{HvmMemmapTableEntry, XEN_HVM_MEMMAP_TYPE_RAM};

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;
/// Pages counted in our reservation that are not low RAM: the builder's
/// special pages at 0xfeff8000 (`NR_SPECIAL_PAGES` in `xg_dom_x86.c`).
/// Subtracted so the heap never runs into unpopulated balloon space when
/// `maxmem > memory`.
pub const RESERVATION_SLACK_PAGES: u64 = 8;
/// The smallest heap worth starting with.
pub const MIN_HEAP_BYTES: u64 = 256 * 1024;
/// Guest rings mappable at once: as many as the ring scheduler holds
/// ([`ring::sched::MAX_RINGS`], the 2-level event channel ABI's 4096 ports).
pub const MAX_MAPPED_RINGS: u64 = ring::sched::MAX_RINGS as u64;
/// Pages in the mapping window: shared info plus one per ring.
pub const WINDOW_PAGES: u64 = 1 + MAX_MAPPED_RINGS;
/// The emulated LAPIC page; the window ends below it.
pub const LAPIC_BASE: u64 = 0xfee0_0000;
/// The window starts on a 2 MiB boundary, like the boot page tables' pages.
const WINDOW_ALIGN: u64 = 2 * 1024 * 1024;

/// The planned physical layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Physical range of the heap.
    pub heap: Range<u64>,
    /// Physical range of the foreign-mapping window (page aligned).
    pub window: Range<u64>,
}

/// Why no layout fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// No RAM entry holds the kernel image.
    NoRamForImage,
    /// Less than [`MIN_HEAP_BYTES`] of RAM after the image.
    HeapTooSmall(u64),
    /// An e820 entry overlaps the mapping window (maxmem close to 4 GiB).
    WindowOverlapsMemmap,
}

/// Rounds `x` up to a multiple of `align` (a power of two).
fn align_up(x: u64, align: u64) -> u64 {
    let mask = align.saturating_sub(1);
    x.saturating_add(mask) & !mask
}

/// Plans the heap and window. `image` is the kernel's physical range,
/// `data_end` the end of the start-info data, `reservation_pages` our
/// current reservation (if known), `heap_max` the command-line cap.
pub fn plan(
    memmap: &[HvmMemmapTableEntry],
    image: Range<u64>,
    data_end: u64,
    reservation_pages: Option<u64>,
    heap_max: Option<u64>,
) -> Result<Layout, LayoutError> {
    let ram = memmap
        .iter()
        .filter(|e| e.ty == XEN_HVM_MEMMAP_TYPE_RAM)
        .find(|e| e.addr <= image.start && image.end <= e.addr.saturating_add(e.size))
        .ok_or(LayoutError::NoRamForImage)?;
    let mut end = ram.addr.saturating_add(ram.size);
    if let Some(pages) = reservation_pages {
        end = end.min(pages.saturating_sub(RESERVATION_SLACK_PAGES).saturating_mul(PAGE_SIZE));
    }
    end &= !(PAGE_SIZE - 1);
    let mut start = image.end;
    if data_end > image.start {
        start = start.max(data_end);
    }
    let start = align_up(start, PAGE_SIZE);
    if let Some(max) = heap_max {
        end = end.min(start.saturating_add(max));
    }
    let size = end.saturating_sub(start);
    if size < MIN_HEAP_BYTES {
        return Err(LayoutError::HeapTooSmall(size));
    }
    let window_end = LAPIC_BASE & !(WINDOW_ALIGN - 1);
    let window_start = (window_end - WINDOW_PAGES * PAGE_SIZE) & !(WINDOW_ALIGN - 1);
    let overlaps =
        memmap.iter().any(|e| e.addr < window_end && window_start < e.addr.saturating_add(e.size));
    if overlaps {
        return Err(LayoutError::WindowOverlapsMemmap);
    }
    Ok(Layout { heap: start..end, window: window_start..window_end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::start_info::HvmMemmapTableEntry as E;

    const MIB: u64 = 1024 * 1024;

    fn stub_map(maxmem: u64) -> [E; 2] {
        [
            E { addr: 0, size: maxmem, ty: 1, reserved: 0 },
            E { addr: 0xfeff_8000, size: 0x8000, ty: 2, reserved: 0 },
        ]
    }

    #[test]
    fn four_mib_stub() {
        let l = plan(&stub_map(4 * MIB), 0x10_0000..0x14_0123, 0x14_1200, Some(1024 + 8), None)
            .unwrap();
        assert_eq!(l.heap, 0x14_2000..4 * MIB);
        assert!(l.window.end <= LAPIC_BASE);
        assert!(l.window.end - l.window.start >= WINDOW_PAGES * PAGE_SIZE);
        assert_eq!(l.window.start % WINDOW_ALIGN, 0);
    }

    #[test]
    fn balloon_space_is_not_heap() {
        // memory = 4 MiB, maxmem = 64 MiB: only the reservation is populated.
        let l = plan(&stub_map(64 * MIB), 0x10_0000..0x14_0000, 0, Some(1024 + 8), None).unwrap();
        assert_eq!(l.heap.end, (1024 + 8 - RESERVATION_SLACK_PAGES) * PAGE_SIZE);
    }

    #[test]
    fn heap_cap_applies() {
        let l = plan(&stub_map(8 * MIB), 0x10_0000..0x14_0000, 0, None, Some(MIB)).unwrap();
        assert_eq!(l.heap, 0x14_0000..0x24_0000);
    }

    #[test]
    fn errors() {
        let map = stub_map(4 * MIB);
        assert_eq!(
            plan(&map, 0x50_0000..0x60_0000, 0, None, None),
            Err(LayoutError::NoRamForImage)
        );
        assert!(matches!(
            plan(&map, 0x10_0000..0x3f_0000, 0, None, None),
            Err(LayoutError::HeapTooSmall(_))
        ));
        assert_eq!(
            plan(&stub_map(0xfee0_0000), 0x10_0000..0x14_0000, 0, None, None),
            Err(LayoutError::WindowOverlapsMemmap)
        );
    }
}
