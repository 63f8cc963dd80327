//! The x86 instructions the platform layer needs besides hypercalls: CPUID,
//! MSR writes, port output, the TSC, and interrupt-flag control for idling.
//!
//! Everything here runs at CPL 0 in the stub; on the host (unit tests) these
//! functions are compiled but never called.

use core::arch::asm;

/// The four registers one CPUID leaf returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Executes CPUID for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    Cpuid { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads a counter; CR4.TSD is clear in the stub and on
    // Linux user space, so it cannot fault.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Writes a model-specific register.
///
/// # Safety
///
/// The caller must be at CPL 0 and the write must have the effect it wants
/// (e.g. the Xen hypercall-page MSR with the address of a writable page the
/// kernel owns).
#[allow(clippy::cast_possible_truncation)] // Splitting into the EDX:EAX halves.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    let lo = value as u32;
    let hi = (value >> 32) as u32;
    // SAFETY: the caller guarantees CPL 0 and a meaningful MSR/value pair.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack)) };
}

/// Writes one byte to an I/O port.
///
/// # Safety
///
/// The caller must be at CPL 0 (or have I/O permission) and the port must be
/// one whose write has no effect on memory safety (the stub only uses the
/// Xen debug port 0xE9).
pub unsafe fn outb(port: u16, byte: u8) {
    // SAFETY: the caller guarantees the port is harmless to write.
    unsafe { asm!("out dx, al", in("dx") port, in("al") byte, options(nomem, nostack)) };
}

/// Writes `bytes` to an I/O port with one `rep outsb`: under Xen a single
/// trap (the emulator repeats the write for the whole string, or restarts
/// the instruction for what is left) instead of one per byte.
///
/// # Safety
///
/// As [`outb`].
pub unsafe fn outsb(port: u16, bytes: &[u8]) {
    // SAFETY: the caller guarantees the port is harmless to write; the
    // instruction reads `bytes.len()` bytes from `bytes.as_ptr()` (DF is
    // clear, as the ABI guarantees at every call) and writes no memory.
    unsafe {
        asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, readonly, preserves_flags)
        )
    };
}

/// Disables maskable interrupts.
pub fn cli() {
    #[cfg(target_os = "none")]
    // SAFETY: the kernel runs at CPL 0; clearing IF only defers interrupts.
    unsafe {
        asm!("cli", options(nomem, nostack))
    };
}

/// Enables interrupts and halts until one arrives, atomically: the STI
/// shadow delays interrupt delivery until HLT has started, so an interrupt
/// made pending before this call wakes the HLT instead of being taken
/// before it. Returns with interrupts disabled again.
pub fn sti_hlt_cli() {
    #[cfg(target_os = "none")]
    // SAFETY: the IDT is installed before the main loop first idles, so any
    // interrupt taken while IF=1 has a handler; HLT with IF=1 is the Xen
    // guest idle idiom (HLT with IF=0 would take the vCPU down).
    unsafe {
        asm!("sti", "hlt", "cli", options(nomem, nostack))
    };
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn read_cr2() -> u64 {
    #[cfg(target_os = "none")]
    {
        let cr2: u64;
        // SAFETY: reading CR2 at CPL 0 has no side effect.
        unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        cr2
    }
    #[cfg(not(target_os = "none"))]
    0
}
