//! Hypercalls on Arm: `hvc #0xEA1` with the number in x16 and up to five
//! arguments in x0–x4; the result comes back in x0 (negative errno on
//! failure). Xen may clobber the argument registers and x16
//! (`xen/arch/arm/traps.c`, debug builds scribble them), so they are all
//! declared clobbered. The same raw call as the x86 hypercall page offers,
//! so the shared modules ([`crate::hypercall`]) call it the same way.

use core::arch::asm;

/// Issues hypercall `nr` with up to five arguments and returns x0.
///
/// # Safety
///
/// Each pointer argument must point to memory that is valid for what Xen does
/// with it for this hypercall (the caller's `#[repr(C)]` argument struct), and
/// the hypercall must not break the kernel's own invariants (e.g. mapping a
/// frame over memory still in use).
pub unsafe fn hypercall(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    let ret: isize;
    // SAFETY: `hvc #0xEA1` traps to Xen, which reads x16 and x0–x4 and
    // returns in x0; every register it may change is declared clobbered.
    // The caller vouches for the memory the hypercall touches.
    unsafe {
        asm!(
            "hvc #0xEA1",
            inlateout("x0") a1 => ret,
            inlateout("x1") a2 => _,
            inlateout("x2") a3 => _,
            inlateout("x3") a4 => _,
            inlateout("x4") a5 => _,
            inlateout("x16") nr => _,
            clobber_abi("C"),
        );
    }
    ret
}
