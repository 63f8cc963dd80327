//! The two copies the trampoline makes, in an order that overwrites
//! nothing still to be read: the new kernel's memory image to its place
//! and the hand-over region to the top of the old heap. Both sources are
//! heap buffers of the old kernel, anywhere in the heap, and the new
//! kernel may be larger than the old one, so either copy may land on the
//! other's source; one order is always safe unless both do, when the
//! update is refused (the heap is then too full to hold the update's
//! buffers apart from where they go).

use core::ops::Range;

/// One copy (with `memmove` semantics: source and destination may
/// overlap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Move {
    /// Where to.
    pub dst: u32,
    /// Where from.
    pub src: u32,
    /// How many bytes.
    pub len: u32,
}

/// Why no order works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// An address is above 4 GiB (the trampoline runs in 32-bit mode).
    Above4G,
    /// The region would overlap the new kernel, or the trampoline either.
    Overlap,
    /// Each copy would overwrite the other's source.
    NoOrder,
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

fn span(start: u64, len: usize) -> Range<u64> {
    start..start.saturating_add(len as u64)
}

fn to_move(dst: &Range<u64>, src: u64) -> Result<Move, PlanError> {
    let u = |v: u64| u32::try_from(v).map_err(|_| PlanError::Above4G);
    let _ = u(dst.end)?;
    let _ = u(src.saturating_add(dst.end.saturating_sub(dst.start)))?;
    Ok(Move { dst: u(dst.start)?, src: u(src)?, len: u(dst.end.saturating_sub(dst.start))? })
}

/// The copies, in order: `image` (the new kernel's span) from
/// `image_src`, `region` from `region_src`; `trampoline` is the page the
/// trampoline runs in, which neither may touch.
pub fn moves(
    image: Range<u64>,
    image_src: u64,
    region: Range<u64>,
    region_src: u64,
    trampoline: Range<u64>,
) -> Result<[Move; 2], PlanError> {
    if overlaps(&image, &region) || overlaps(&trampoline, &image) || overlaps(&trampoline, &region)
    {
        return Err(PlanError::Overlap);
    }
    let image_len = usize::try_from(image.end.saturating_sub(image.start)).unwrap_or(usize::MAX);
    let region_len = usize::try_from(region.end.saturating_sub(region.start)).unwrap_or(usize::MAX);
    let (image_from, region_from) = (span(image_src, image_len), span(region_src, region_len));
    if overlaps(&trampoline, &image_from) || overlaps(&trampoline, &region_from) {
        return Err(PlanError::Overlap);
    }
    let (img, reg) = (to_move(&image, image_src)?, to_move(&region, region_src)?);
    if !overlaps(&region, &image_from) {
        Ok([reg, img])
    } else if !overlaps(&image, &region_from) {
        Ok([img, reg])
    } else {
        Err(PlanError::NoOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Range<u64> = 0x8000..0x9000;

    #[test]
    fn the_region_goes_first_unless_it_lands_on_the_image() {
        let m = moves(0x10_0000..0x16_0000, 0x20_0000, 0x3f_f000..0x40_0000, 0x18_0000, T).unwrap();
        assert_eq!(m[0], Move { dst: 0x3f_f000, src: 0x18_0000, len: 0x1000 });
        assert_eq!(m[1], Move { dst: 0x10_0000, src: 0x20_0000, len: 0x6_0000 });
        // The image's source lies under the region: the image goes first.
        let m = moves(0x10_0000..0x16_0000, 0x3a_0000, 0x3f_f000..0x40_0000, 0x18_0000, T).unwrap();
        assert_eq!(m[0].dst, 0x10_0000);
    }

    #[test]
    fn impossible_plans_are_refused() {
        assert_eq!(
            moves(0x10_0000..0x16_0000, 0x3a_0000, 0x3f_f000..0x40_0000, 0x15_0000, T),
            Err(PlanError::NoOrder)
        );
        assert_eq!(
            moves(0x10_0000..0x40_0000, 0x3a_0000, 0x3f_f000..0x40_0000, 0x15_0000, T),
            Err(PlanError::Overlap)
        );
        assert_eq!(
            moves(0x8000..0x16_0000, 0x20_0000, 0x3f_f000..0x40_0000, 0x18_0000, T),
            Err(PlanError::Overlap)
        );
        assert_eq!(
            moves(0x10_0000..0x16_0000, 0x1_0000_0000, 0x3f_f000..0x40_0000, 0x18_0000, T),
            Err(PlanError::Above4G)
        );
    }
}
