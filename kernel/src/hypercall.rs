//! Hypercalls as the shared modules issue them: the architecture's raw
//! call (x86: the hypercall page, `arch/x86_64/hypercall.rs`; Arm:
//! `hvc #0xEA1`, `arch/aarch64/hypercall.rs`) and [`hypercall_with`] over
//! it.

pub use crate::arch::hypercall::hypercall;

/// A hypercall whose only pointer argument is `arg`, an ABI struct we own.
///
/// # Safety
///
/// `T` must be the argument structure Xen expects for `nr`/`cmd`, and the
/// operation must be one that only reads and writes `*arg` in our memory
/// (plus hypervisor state), or also buffers `*arg` points to, which the
/// caller then keeps valid for everything Xen does with them.
pub unsafe fn hypercall_with<T>(nr: usize, cmd: usize, arg: &mut T) -> isize {
    // SAFETY: `arg` is a live exclusive reference; the caller vouches that Xen
    // treats it as a `T` for this command.
    unsafe { hypercall(nr, cmd, arg as *mut T as usize, 0, 0, 0) }
}
