//! `public/arch-x86/hvm/start_info.h`: what the domain builder hands a PVH
//! kernel in `%ebx`.

use super::{assert_offset, assert_size};

/// `XEN_HVM_START_MAGIC_VALUE` ("xEn3" with bit 7 of 'E' set).
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;

/// `XEN_HVM_MEMMAP_TYPE_RAM` (e820 type 1).
pub const XEN_HVM_MEMMAP_TYPE_RAM: u32 = 1;

/// `struct hvm_start_info` (version 1 layout; version 0 stops at offset 40).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HvmStartInfo {
    /// Must be [`XEN_HVM_START_MAGIC_VALUE`].
    pub magic: u32,
    /// Layout version (libxenguest writes 1).
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Number of module list entries.
    pub nr_modules: u32,
    /// Guest-physical address of the module list (0 = none).
    pub modlist_paddr: u64,
    /// Guest-physical address of the NUL-terminated command line (0 = none).
    pub cmdline_paddr: u64,
    /// Guest-physical address of the ACPI RSDP (0 for the stub).
    pub rsdp_paddr: u64,
    /// Version 1+: guest-physical address of the memory map.
    pub memmap_paddr: u64,
    /// Version 1+: number of memory map entries.
    pub memmap_entries: u32,
    /// Must be 0.
    pub reserved: u32,
}
assert_size!(HvmStartInfo, 56);
assert_offset!(HvmStartInfo, cmdline_paddr, 24);
assert_offset!(HvmStartInfo, memmap_paddr, 40);

/// `struct hvm_memmap_table_entry` (e820-style).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmMemmapTableEntry {
    /// Base guest-physical address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub ty: u32,
    /// Must be 0.
    pub reserved: u32,
}
assert_size!(HvmMemmapTableEntry, 24);

/// `struct hvm_modlist_entry`: one module of the start info's list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmModlistEntry {
    /// Guest-physical address of the module.
    pub paddr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Guest-physical address of its NUL-terminated command line (0 = none).
    pub cmdline_paddr: u64,
    /// Must be 0.
    pub reserved: u64,
}
assert_size!(HvmModlistEntry, 32);
