//! Constants and shared structures of `public/xen.h` and `public/version.h`.

use super::{assert_offset, assert_size};

/// Hypercall numbers (`__HYPERVISOR_*`).
pub mod hypercall {
    /// `__HYPERVISOR_memory_op`.
    pub const MEMORY_OP: usize = 12;
    /// `__HYPERVISOR_xen_version`.
    pub const XEN_VERSION: usize = 17;
    /// `__HYPERVISOR_console_io`.
    pub const CONSOLE_IO: usize = 18;
    /// `__HYPERVISOR_grant_table_op`.
    pub const GRANT_TABLE_OP: usize = 20;
    /// `__HYPERVISOR_vcpu_op`.
    pub const VCPU_OP: usize = 24;
    /// `__HYPERVISOR_sched_op`.
    pub const SCHED_OP: usize = 29;
    /// `__HYPERVISOR_event_channel_op`.
    pub const EVENT_CHANNEL_OP: usize = 32;
    /// `__HYPERVISOR_hvm_op`.
    pub const HVM_OP: usize = 34;
    /// `__HYPERVISOR_domctl`.
    pub const DOMCTL: usize = 36;
}

/// `XENVER_version`: returns `(major << 16) | minor`.
pub const XENVER_VERSION: usize = 0;

/// `CONSOLEIO_write`: print a buffer on Xen's console (allowed to the
/// console domains: on Arm every dom0less domain is one).
pub const CONSOLEIO_WRITE: usize = 0;

/// `domid_t`.
pub type DomidT = u16;
/// `evtchn_port_t`.
pub type EvtchnPort = u32;

/// `DOMID_SELF`: "the calling domain" in hypercall arguments.
pub const DOMID_SELF: DomidT = 0x7FF0;
/// `DOMID_INVALID`: "no domain"; for `get_domain_state`, "any changed one".
pub const DOMID_INVALID: DomidT = 0x7FF4;

/// `VIRQ_TIMER`: per-vCPU timer (single-shot timer and `set_timer_op`).
pub const VIRQ_TIMER: u32 = 0;
/// `VIRQ_DOM_EXC`: a domain shut down or died (global, bound on vCPU 0).
pub const VIRQ_DOM_EXC: u32 = 3;

/// `XEN_LEGACY_MAX_VCPUS` on x86: `vcpu_info` slots in `shared_info`.
#[cfg(not(target_arch = "aarch64"))]
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;
/// `XEN_LEGACY_MAX_VCPUS` on Arm (`public/arch-arm.h`): one slot.
#[cfg(target_arch = "aarch64")]
pub const XEN_LEGACY_MAX_VCPUS: usize = 1;
/// Bits per word of the 2-level event channel bitmaps.
pub const BITS_PER_EVTCHN_WORD: usize = 64;
/// `EVTCHN_2L_NR_CHANNELS` on x86_64: 64 × 64 ports.
pub const EVTCHN_2L_NR_CHANNELS: usize = BITS_PER_EVTCHN_WORD * BITS_PER_EVTCHN_WORD;

/// `struct vcpu_time_info`: the per-vCPU pvclock, read like a seqlock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuTimeInfo {
    /// OUT: odd while Xen updates the record.
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// OUT: TSC at the last update.
    pub tsc_timestamp: u64,
    /// OUT: Xen system time (ns since boot) at `tsc_timestamp`.
    pub system_time: u64,
    /// OUT: TSC → ns multiplier (32.32 fixed point).
    pub tsc_to_system_mul: u32,
    /// OUT: shift applied to the TSC delta before multiplying.
    pub tsc_shift: i8,
    /// OUT: `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad1: [u8; 2],
}
assert_size!(VcpuTimeInfo, 32);

/// `struct vcpu_info` (x86_64: 64 bytes; Arm: 48, its `arch_vcpu_info`
/// is empty).
#[repr(C)]
pub struct VcpuInfo {
    /// OUT: set when a selector bit goes 0 → 1; cleared by the guest.
    pub evtchn_upcall_pending: u8,
    /// Unused for HVM/PVH event delivery.
    pub evtchn_upcall_mask: u8,
    /// Padding.
    pub pad0: [u8; 6],
    /// OUT: bit `w` ⇒ `evtchn_pending[w]` may hold new unmasked bits.
    pub evtchn_pending_sel: u64,
    /// `struct arch_vcpu_info` (`cr2`, pad): PV only; empty on Arm.
    pub arch: [u64; ARCH_VCPU_INFO_WORDS],
    /// OUT: the pvclock.
    pub time: VcpuTimeInfo,
}
#[cfg(not(target_arch = "aarch64"))]
const ARCH_VCPU_INFO_WORDS: usize = 2;
#[cfg(target_arch = "aarch64")]
const ARCH_VCPU_INFO_WORDS: usize = 0;
#[cfg(not(target_arch = "aarch64"))]
assert_size!(VcpuInfo, 64);
#[cfg(target_arch = "aarch64")]
assert_size!(VcpuInfo, 48);
assert_offset!(VcpuInfo, evtchn_pending_sel, 8);
#[cfg(not(target_arch = "aarch64"))]
assert_offset!(VcpuInfo, time, 32);
#[cfg(target_arch = "aarch64")]
assert_offset!(VcpuInfo, time, 16);

/// `struct shared_info` (x86_64 or Arm), mapped with
/// `XENMAPSPACE_shared_info`.
#[repr(C)]
pub struct SharedInfo {
    /// Per-vCPU event and time state.
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// Pending bit per port (2-level ABI).
    pub evtchn_pending: [u64; BITS_PER_EVTCHN_WORD],
    /// Mask bit per port (2-level ABI).
    pub evtchn_mask: [u64; BITS_PER_EVTCHN_WORD],
    /// Wall-clock seqcount.
    pub wc_version: u32,
    /// Wall-clock seconds (low 32 bits).
    pub wc_sec: u32,
    /// Wall-clock nanoseconds.
    pub wc_nsec: u32,
    /// Wall-clock seconds (high 32 bits).
    pub wc_sec_hi: u32,
    /// `struct arch_shared_info` (PV only; empty on Arm).
    pub arch: [u64; ARCH_SHARED_INFO_WORDS],
}
#[cfg(not(target_arch = "aarch64"))]
const ARCH_SHARED_INFO_WORDS: usize = 6;
#[cfg(target_arch = "aarch64")]
const ARCH_SHARED_INFO_WORDS: usize = 0;
#[cfg(not(target_arch = "aarch64"))]
mod layout {
    use super::*;
    assert_size!(SharedInfo, 3136);
    assert_offset!(SharedInfo, evtchn_pending, 2048);
    assert_offset!(SharedInfo, evtchn_mask, 2560);
    assert_offset!(SharedInfo, wc_version, 3072);
}
#[cfg(target_arch = "aarch64")]
mod layout {
    use super::*;
    assert_size!(SharedInfo, 1088);
    assert_offset!(SharedInfo, evtchn_pending, 48);
    assert_offset!(SharedInfo, evtchn_mask, 560);
    assert_offset!(SharedInfo, wc_version, 1072);
}
