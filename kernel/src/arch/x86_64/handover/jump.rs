//! The jump into the new kernel: the trampoline (`boot/trampoline.s`)
//! copied to its page, its parameters written, and entered. Nothing
//! returns from here once the copies start; everything that can fail is
//! checked before ([`enter`] refuses a trampoline that does not fit or
//! a page that does not keep what is written to it).

use core::ops::Range;

use super::plan::Move;

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("../../../../../boot/trampoline.s"), options(att_syntax));

/// The trampoline's page (below the images, which start at 1 MiB; RAM
/// the domain builder populates and no one uses). `boot/trampoline.s`
/// has the same numbers.
pub const TRAMPOLINE: Range<u64> = 0x8000..0x9000;
/// Where its parameters go in the page.
#[cfg(target_os = "none")]
const PARAMS_OFFSET: usize = 0x800;

/// The trampoline's parameters, as `boot/trampoline.s` reads them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    /// The new kernel's PVH entry.
    pub entry: u32,
    /// The start info's physical address.
    pub start_info: u32,
    /// Copies in `moves` (2).
    pub count: u32,
    pad: u32,
    moves: [MoveWords; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct MoveWords {
    dst: u32,
    src: u32,
    len: u32,
    pad: u32,
}

impl Params {
    /// Parameters for entering `entry` with `start_info` after `moves`.
    pub fn new(entry: u32, start_info: u32, moves: [Move; 2]) -> Params {
        let w = |m: Move| MoveWords { dst: m.dst, src: m.src, len: m.len, pad: 0 };
        Params { entry, start_info, count: 2, pad: 0, moves: moves.map(w) }
    }
}

/// Why the jump was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JumpError {
    /// The trampoline's code is larger than its part of the page.
    TooLarge,
    /// The page did not keep what was written (not populated RAM).
    NotRam,
}

#[cfg(target_os = "none")]
extern "C" {
    static lu_trampoline_start: u8;
    static lu_trampoline_end: u8;
}

/// Copies the trampoline and its parameters to [`TRAMPOLINE`] and jumps
/// to it, interrupts off: the copies are made and the new kernel
/// entered. Returns only if the page cannot take it.
///
/// # Safety
///
/// The copies must have been planned by [`super::plan::moves`] over
/// buffers that stay alive until now; nothing else may run after (the
/// old kernel's memory is gone once the trampoline starts).
#[cfg(target_os = "none")]
pub unsafe fn enter(params: &Params) -> JumpError {
    let start = core::ptr::addr_of!(lu_trampoline_start);
    let len = (core::ptr::addr_of!(lu_trampoline_end) as usize).saturating_sub(start as usize);
    if len > PARAMS_OFFSET {
        return JumpError::TooLarge;
    }
    let page = TRAMPOLINE.start as *mut u8;
    let at = page.wrapping_add(PARAMS_OFFSET);
    crate::arch::x86_64::cpu::cli();
    // SAFETY: the trampoline page is identity-mapped RAM below the
    // images that nothing else uses; `len` bytes of code fit below the
    // parameters, which fit in the page (a few dozen bytes at 0x800).
    unsafe {
        core::ptr::copy_nonoverlapping(start, page, len);
        core::ptr::write_unaligned(at.cast::<Params>(), *params);
    }
    // SAFETY: reading back what was just written to that page.
    let kept = unsafe {
        core::slice::from_raw_parts(page.cast_const(), len)
            == core::slice::from_raw_parts(start, len)
    };
    if !kept {
        return JumpError::NotRam;
    }
    // SAFETY: the trampoline is in place with its parameters; it leaves
    // long mode, makes the planned copies and enters the new kernel.
    unsafe { core::arch::asm!("jmp {}", in(reg) page, options(noreturn)) }
}

/// On the host there is nothing to jump to.
///
/// # Safety
///
/// None needed; the signature matches the stub's.
#[cfg(not(target_os = "none"))]
pub unsafe fn enter(params: &Params) -> JumpError {
    let _ = params;
    JumpError::NotRam
}
