//! The dom0less test client's entry point (see `kernel::arch::aarch64::client`):
//! the same Arm entry as the stub, then the client.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(include_str!("../arch/aarch64/boot.s"));

/// Called once by the boot code; never returns.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[no_mangle]
extern "C" fn kernel_main(dtb: u64, _entry_counter: u64) -> ! {
    kernel::arch::aarch64::client::run(dtb)
}

// The client is Arm64 only; on x86 this links the kernel crate (its panic
// handler) so the target still builds.
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
use kernel as _;

/// The client only runs under Xen on Arm; on the host this binary does
/// nothing.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "xs-arm-client is a dom0less test domain for Xen on Arm: build it with `make arm-image`"
    );
}
