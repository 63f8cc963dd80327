//! Hypercalls through the hypercall page.
//!
//! Xen is found by scanning the CPUID leaves `0x40000000 + k*0x100` for the
//! "XenVMMXenVMM" signature (`public/arch-x86/cpuid.h`). Leaf base+2 names
//! the MSR that installs the hypercall page: writing a page's guest-physical
//! address there makes Xen fill it with one 32-byte stub per hypercall
//! (`mov $n, %eax; vmcall/vmmcall; ret`), so the same kernel runs on Intel
//! and AMD. 64-bit convention (`xen/arch/x86/hvm/hypercall.c`): RAX = number,
//! arguments in RDI, RSI, RDX, R10, R8, result in RAX (negative errno on
//! failure). Debug builds of Xen scribble the argument registers, so they
//! are declared clobbered.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::cpu;

/// First CPUID leaf searched for the Xen signature.
const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// Distance between candidate Xen leaf bases.
const XEN_CPUID_LEAF_STEP: u32 = 0x100;
/// "XenVMMXenVMM" in EBX, ECX, EDX.
const XEN_CPUID_SIGNATURE: (u32, u32, u32) = (0x566e_6558, 0x6558_4d4d, 0x4d4d_566e);
/// `XEN_HVM_CPUID_DOMID_PRESENT` in leaf base+4 EAX.
const XEN_HVM_CPUID_DOMID_PRESENT: u32 = 1 << 4;
/// Bytes per hypercall stub in the page.
const HYPERCALL_STUB_BYTES: usize = 32;
/// Hypercall numbers are below this (`NR_hypercalls` is 64 in Xen).
const HYPERCALL_MAX: usize = 4096 / HYPERCALL_STUB_BYTES;

/// Where Xen's CPUID leaves start, and what they report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCpuid {
    /// The base leaf (normally 0x40000000).
    pub base: u32,
    /// `(major << 16) | minor` from leaf base+1.
    pub version: u32,
    /// The hypercall-page MSR from leaf base+2.
    pub msr: u32,
    /// Our own domain id from leaf base+4, if Xen reports it.
    pub domid: Option<u16>,
}

/// Looks for Xen's CPUID leaves; `None` when not running on Xen.
pub fn detect() -> Option<XenCpuid> {
    (0..0x100u32).find_map(|k| {
        // Leaves stay below 0x4001_0000: none of this arithmetic wraps.
        let base = XEN_CPUID_FIRST_LEAF.wrapping_add(k.wrapping_mul(XEN_CPUID_LEAF_STEP));
        let leaf = |i: u32| base.wrapping_add(i);
        let r = cpu::cpuid(base, 0);
        if (r.ebx, r.ecx, r.edx) != XEN_CPUID_SIGNATURE || r.eax < leaf(2) {
            return None;
        }
        let version = cpu::cpuid(leaf(1), 0).eax;
        let msr = cpu::cpuid(leaf(2), 0).ebx;
        let domid = if r.eax >= leaf(4) {
            let l4 = cpu::cpuid(leaf(4), 0);
            if l4.eax & XEN_HVM_CPUID_DOMID_PRESENT != 0 {
                u16::try_from(l4.ecx).ok()
            } else {
                None
            }
        } else {
            None
        };
        Some(XenCpuid { base, version, msr, domid })
    })
}

extern "C" {
    /// The page-aligned, zeroed page reserved in `boot/pvh.s`.
    static hypercall_page: [u8; 4096];
}

/// Set once the hypercall page has been filled by Xen.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Asks Xen to fill the hypercall page, using the MSR found by [`detect`].
pub fn install(xen: &XenCpuid) {
    let page = page_addr();
    // SAFETY: the MSR is the one Xen named in CPUID leaf base+2, and the value
    // is the guest-physical (= identity-mapped virtual) address of a
    // page-aligned page of our .bss that nothing else uses.
    unsafe { cpu::wrmsr(xen.msr, page as u64) };
    INSTALLED.store(true, Ordering::Release);
}

/// The address of the hypercall page.
fn page_addr() -> usize {
    core::ptr::addr_of!(hypercall_page) as usize
}

/// Issues hypercall `nr` with up to five arguments and returns RAX.
///
/// # Safety
///
/// Each pointer argument must point to memory that is valid for what Xen does
/// with it for this hypercall (the caller's `#[repr(C)]` argument struct), and
/// the hypercall must not break the kernel's own invariants (e.g. mapping a
/// frame over memory still in use).
pub unsafe fn hypercall(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    if nr >= HYPERCALL_MAX || !INSTALLED.load(Ordering::Acquire) {
        return -38; // -ENOSYS: no page yet, or no such slot.
    }
    // `nr < HYPERCALL_MAX`, so the stub lies inside the page.
    let entry = page_addr().saturating_add(nr.saturating_mul(HYPERCALL_STUB_BYTES));
    let ret: isize;
    // SAFETY: `entry` is the stub Xen wrote for `nr` in the installed page;
    // the stub only executes VMCALL/VMMCALL and RET. Argument registers are
    // declared clobbered (debug Xen scribbles them), as is every other
    // caller-saved register through `clobber_abi`. The caller vouches for the
    // memory the hypercall touches.
    unsafe {
        asm!(
            "call {entry}",
            entry = in(reg) entry,
            inlateout("rax") nr => ret,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            clobber_abi("C"),
        );
    }
    ret
}
