//! What differs between the architectures the stub runs on, behind one
//! interface the shared platform layer uses: the raw console write, the
//! clock, sleeping until an event or a deadline, and a seed.
//!
//! - `x86_64/`: Xen PVH (`boot/pvh.s`, the start info, the hypercall
//!   page, the IDT, port 0xE9, the pvclock, `VIRQ_TIMER` and `sti; hlt`),
//!   and the live update's hand-over.
//! - `aarch64/`: Xen on Arm64 (the Image header, `hvc #0xEA1`,
//!   `CONSOLEIO_write`, the generic timer, `SCHEDOP_poll`), a dom0less
//!   xenstore domain.
//!
//! Both provide [`Clock`] (`now_ms`, `ms_since_entry`), [`debug_write`],
//! [`sleep`], [`timer_fired`] and [`entropy`].

#[cfg(not(target_arch = "aarch64"))]
pub mod x86_64;
#[cfg(not(target_arch = "aarch64"))]
pub use x86_64::{debug_write, entropy, hypercall, sleep, timer_fired, Clock};

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::{debug_write, entropy, hypercall, sleep, timer_fired, Clock};
