//! The hostile test guest's entry point (see `kernel::guest`): the same
//! PVH entry as the stub, then `kernel::guest::run`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
core::arch::global_asm!(include_str!("../../../boot/pvh.s"), options(att_syntax));

/// Called once by the boot code; never returns. (x86 PVH only.)
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[no_mangle]
extern "C" fn kernel_main(start_info_paddr: u64, _boot_tsc: u64) -> ! {
    kernel::guest::run(start_info_paddr)
}

/// The guest only runs under Xen; on the host this binary does nothing.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("xs-hostile-guest is a Xen PVH test guest: build it with `make hostile-guest` and boot it with xl create");
}

// The hostile guest is x86 PVH only; on Arm this links the kernel crate
// (its panic handler) so the target still builds.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
use kernel as _;
