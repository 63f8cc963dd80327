//! The stub image's entry point. x86: `boot/pvh.s` calls `kernel_main` in
//! long mode with the `hvm_start_info` address and the TSC read at entry.
//! Arm64: `kernel/src/arch/aarch64/boot.s` calls it at EL1 with the device
//! tree's address and the virtual counter read at entry.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
core::arch::global_asm!(include_str!("../../boot/pvh.s"), options(att_syntax));

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(include_str!("arch/aarch64/boot.s"));

/// Called once by the boot code; never returns.
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[no_mangle]
extern "C" fn kernel_main(start_info_paddr: u64, boot_tsc: u64) -> ! {
    kernel::arch::x86_64::start::start(start_info_paddr, boot_tsc)
}

/// Called once by the boot code; never returns.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[no_mangle]
extern "C" fn kernel_main(dtb: u64, entry_counter: u64) -> ! {
    kernel::arch::aarch64::start::start(dtb, entry_counter)
}

/// The image only runs under Xen; on the host this binary does nothing.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("xenstore-stubdom-rs is a Xen PVH kernel: build it with `make image` and boot it with init-xenstore-domain");
}
