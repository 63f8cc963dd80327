//! The stub image's entry point: `boot/pvh.s` calls `kernel_main` in long
//! mode with the `hvm_start_info` address and the TSC read at entry.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("../../boot/pvh.s"), options(att_syntax));

/// Called once by the boot code; never returns.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn kernel_main(start_info_paddr: u64, boot_tsc: u64) -> ! {
    kernel::start::start(start_info_paddr, boot_tsc)
}

/// The image only runs under Xen; on the host this binary does nothing.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("xenstore-stubdom-rs is a Xen PVH kernel: build it with `make image` and boot it with init-xenstore-domain");
}
