//! Where the heap, our grant-table frame and the mapping window go on Arm,
//! from what the device tree says ([`crate::fdt::XenNode`]).
//!
//! - The heap is the first RAM bank from the end of the image to the bank's
//!   end, or to the device tree when Xen placed it above the image (it
//!   does, near the end of the bank: the tree is read before the heap is
//!   used, but its `bootargs` are copied anyway).
//! - Our grant-table frame 0 goes to the start of the grant-table region
//!   (`/hypervisor`'s first `reg`).
//! - Foreign pages (shared info, guests' rings) go into the first extended
//!   region (free guest-physical space Xen lists after the grant region)
//!   that the boot code's identity map covers; without one, into the upper
//!   half of the grant-table region, which no grant frame of ours reaches.
//! - Without a `/hypervisor` node (Xen before 4.21 gives one only to
//!   `xen,enhanced` domains) the fixed guest layout of
//!   `public/arch-arm.h` stands in: the grant region at 0x38000000.

use core::ops::Range;

use crate::memmap::{Layout, LayoutError, MIN_HEAP_BYTES, PAGE_SIZE, WINDOW_PAGES};

/// `GUEST_GNTTAB_BASE` and `GUEST_GNTTAB_SIZE` of `public/arch-arm.h`.
pub const FIXED_GRANT_REGION: (u64, u64) = (0x3800_0000, 0x0100_0000);
/// The end of the boot code's identity map (39-bit addresses).
pub const IDENTITY_MAP_END: u64 = 1 << 39;
/// `GUEST_RAM0_BASE`: where the first RAM bank starts when the tree does
/// not say.
pub const FIXED_RAM_BASE: u64 = 0x4000_0000;

/// The planned layout on Arm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmLayout {
    /// The heap and the window, as on x86.
    pub layout: Layout,
    /// Guest-physical address of our grant-table frame 0.
    pub grant_frame: u64,
}

/// Rounds `x` up to a page.
fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Plans the layout: `ram` is the first RAM bank, `image` and `dtb` where
/// the image and the device tree are, `grant` the grant-table region,
/// `extended` the extended regions, `heap_max` the `--heap-max` cap.
pub fn plan(
    ram: (u64, u64),
    image: Range<u64>,
    dtb: Range<u64>,
    grant: (u64, u64),
    extended: &[(u64, u64)],
    heap_max: Option<u64>,
) -> Result<ArmLayout, LayoutError> {
    let ram_end = ram.0.checked_add(ram.1).ok_or(LayoutError::NoRamForImage)?;
    if image.start < ram.0 || image.end > ram_end {
        return Err(LayoutError::NoRamForImage);
    }
    let start = page_up(image.end).ok_or(LayoutError::NoRamForImage)?;
    let mut end = ram_end & !(PAGE_SIZE - 1);
    if dtb.start >= start && dtb.start < end {
        end = dtb.start & !(PAGE_SIZE - 1);
    }
    if let Some(max) = heap_max {
        end = end.min(start.saturating_add(max));
    }
    let heap_bytes = end.saturating_sub(start);
    if heap_bytes < MIN_HEAP_BYTES {
        return Err(LayoutError::HeapTooSmall(heap_bytes));
    }
    let fits = |&(base, size): &(u64, u64)| -> Option<Range<u64>> {
        let s = page_up(base)?;
        let e = base.checked_add(size)?.min(IDENTITY_MAP_END) & !(PAGE_SIZE - 1);
        let e = e.min(s.checked_add(WINDOW_PAGES.checked_mul(PAGE_SIZE)?)?);
        (e >= s.checked_add(2 * PAGE_SIZE)?).then_some(s..e)
    };
    let window = match extended.iter().find_map(fits) {
        Some(w) => w,
        None => {
            let half = (grant.0.saturating_add(grant.1 / 2), grant.1 / 2);
            fits(&half).ok_or(LayoutError::WindowOverlapsMemmap)?
        }
    };
    Ok(ArmLayout { layout: Layout { heap: start..end, window }, grant_frame: grant.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: (u64, u64) = (0x4000_0000, 0x0400_0000);
    const IMAGE: Range<u64> = 0x4000_0000..0x4008_1234;
    const DTB: Range<u64> = 0x43e0_0000..0x43e0_2000;

    #[test]
    fn heap_stops_at_the_device_tree_and_window_takes_an_extended_region() {
        let l =
            plan(RAM, IMAGE, DTB, FIXED_GRANT_REGION, &[(0x4400_0000, 0x3c00_0000)], None).unwrap();
        assert_eq!(l.layout.heap, 0x4008_2000..0x43e0_0000);
        assert_eq!(l.layout.window.start, 0x4400_0000);
        assert_eq!(l.layout.window.end, 0x4400_0000 + WINDOW_PAGES * PAGE_SIZE);
        assert_eq!(l.grant_frame, 0x3800_0000);
    }

    #[test]
    fn without_extended_regions_the_grant_regions_upper_half() {
        let l = plan(RAM, IMAGE, DTB, FIXED_GRANT_REGION, &[], Some(1 << 20)).unwrap();
        assert_eq!(l.layout.heap, 0x4008_2000..0x4018_2000);
        assert_eq!(l.layout.window, 0x3880_0000..0x3900_0000);
    }

    #[test]
    fn regions_out_of_the_identity_map_or_too_small_are_skipped() {
        let ext = [(0x80_0000_0000, 0x1000_0000), (0x5000_0000, 0x1000), (0x6000_0000, 0x10_0000)];
        let l = plan(RAM, IMAGE, DTB, FIXED_GRANT_REGION, &ext, None).unwrap();
        assert_eq!(l.layout.window, 0x6000_0000..0x6010_0000);
    }

    #[test]
    fn an_image_outside_ram_or_a_tiny_heap_is_refused() {
        assert_eq!(
            plan(RAM, 0x1000..0x2000, DTB, FIXED_GRANT_REGION, &[], None),
            Err(LayoutError::NoRamForImage)
        );
        let small = (0x4000_0000, 0x0009_0000);
        assert!(matches!(
            plan(small, IMAGE, DTB, FIXED_GRANT_REGION, &[], None),
            Err(LayoutError::HeapTooSmall(_))
        ));
    }
}
