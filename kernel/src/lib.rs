//! The Xen platform layer of the xenstore stub domain: x86 PVH and, for
//! a dom0less system, Arm64 (see [`arch`]).
//!
//! `boot/pvh.s` enters in 32-bit mode, switches to long mode and calls
//! `kernel_main` (in `main.rs`), which runs [`arch::x86_64::start::start`]: find Xen,
//! read the start info and command line, set up the console, heap, shared
//! info, interrupts and event channels, introduce dom0 to the
//! [`store::Engine`], and run [`main_loop::Server`] forever.
//!
//! Pure parts (command line, layout planning, event scanning, pvclock math,
//! domctl versions) are unit-tested on the host: `cargo test -p kernel`.
//! Sources of the ABI facts: Xen's `xen/include/public/` headers (4.17 to
//! 4.22), `docs/misc/pvh.pandoc` and `docs/misc/xenstore-ring.txt`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

pub mod abi;
pub mod arch;
pub mod cmdline;
pub mod console;
pub mod domctl;
pub mod dtlayout;
pub mod evtchn;
pub mod fallible;
pub mod fdt;
pub mod gnttab;
pub mod guest;
pub mod heap;
pub mod hypercall;
pub mod linebuf;
pub mod logger;
pub mod main_loop;
pub mod memmap;
pub mod panic;
pub mod platform;
pub mod poll;
pub mod reap;
pub mod service;
pub mod shared_info;
pub mod time;
pub mod window;
pub mod xen;

// The live update's hand-over (x86 only) under the path the shared
// service and main loop use.
#[cfg(not(target_arch = "aarch64"))]
pub use arch::x86_64::handover;
