//! Links the stub image with `linker.ld` (x86) or
//! `src/arch/aarch64/linker.ld` (Arm64) when building for a bare-metal
//! target; host builds (tests, clippy) need nothing special.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    println!("cargo:rerun-if-changed=../linker.ld");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    println!("cargo:rerun-if-changed=../boot/pvh.s");
    println!("cargo:rerun-if-changed=src/arch/aarch64/linker.ld");
    println!("cargo:rerun-if-changed=src/arch/aarch64/boot.s");
    let script = if arch == "aarch64" {
        format!("{manifest}/src/arch/aarch64/linker.ld")
    } else {
        format!("{manifest}/../linker.ld")
    };
    println!("cargo:rerun-if-changed=../boot/trampoline.s");
    if os == "none" {
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
