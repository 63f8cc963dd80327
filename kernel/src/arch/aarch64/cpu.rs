//! The Arm registers the platform reads: the generic timer's virtual
//! counter and its frequency.

/// `CNTVCT_EL0`: the virtual counter (0 when Xen created the domain).
pub fn counter() -> u64 {
    let v: u64;
    // SAFETY: reading the virtual counter has no side effect; EL1 may
    // always read it.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// `CNTFRQ_EL0`: the counter's frequency in Hz.
pub fn counter_hz() -> u64 {
    let v: u64;
    // SAFETY: reading the frequency register has no side effect.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack)) };
    v
}
