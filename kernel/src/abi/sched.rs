//! `public/sched.h` and `public/vcpu.h` (timer).

use super::assert_size;

/// `SCHEDOP_shutdown`.
pub const SCHEDOP_SHUTDOWN: usize = 2;
/// `SHUTDOWN_poweroff`.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// `SHUTDOWN_crash`.
pub const SHUTDOWN_CRASH: u32 = 3;

/// `struct sched_shutdown`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedShutdown {
    /// IN: `SHUTDOWN_*`.
    pub reason: u32,
}
assert_size!(SchedShutdown, 4);

/// `VCPUOP_set_singleshot_timer`.
pub const VCPUOP_SET_SINGLESHOT_TIMER: usize = 8;
/// `VCPUOP_stop_singleshot_timer`.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: usize = 9;

/// `struct vcpu_set_singleshot_timer`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuSetSingleshotTimer {
    /// IN: absolute Xen system time in ns.
    pub timeout_abs_ns: u64,
    /// IN: `VCPU_SSHOTTMR_*` (0: fire at once if already past).
    pub flags: u32,
    /// Padding.
    pub pad: u32,
}
assert_size!(VcpuSetSingleshotTimer, 16);
