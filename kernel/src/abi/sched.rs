//! `public/sched.h` and `public/vcpu.h` (timer, runstate).

use super::assert_size;

/// `SCHEDOP_shutdown`.
pub const SCHEDOP_SHUTDOWN: usize = 2;
/// `SHUTDOWN_poweroff`.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// `SHUTDOWN_reboot`.
pub const SHUTDOWN_REBOOT: u32 = 1;
/// `SHUTDOWN_suspend`.
pub const SHUTDOWN_SUSPEND: u32 = 2;
/// `SHUTDOWN_crash`.
pub const SHUTDOWN_CRASH: u32 = 3;
/// `SHUTDOWN_watchdog`.
pub const SHUTDOWN_WATCHDOG: u32 = 4;
/// `SHUTDOWN_soft_reset`.
pub const SHUTDOWN_SOFT_RESET: u32 = 5;

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

/// `SCHEDOP_poll`: block until one of the listed ports is pending, or a
/// timeout (absolute Xen system time in ns, 0 = none).
pub const SCHEDOP_POLL: usize = 3;

/// `struct sched_poll`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedPoll {
    /// IN: guest handle of an `evtchn_port_t` array (8 bytes on both
    /// architectures).
    pub ports: u64,
    /// IN: entries in `ports` (at most 128).
    pub nr_ports: u32,
    /// Padding.
    pub pad: u32,
    /// IN: absolute Xen system time in ns, 0 = no timeout.
    pub timeout: u64,
}
assert_size!(SchedPoll, 24);

/// `VCPUOP_register_runstate_memory_area` (allowed on Arm, which has no
/// other vCPU operation the stub uses).
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: usize = 5;

/// `struct vcpu_runstate_info`, which Xen keeps up to date once registered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuRunstateInfo {
    /// OUT: `RUNSTATE_*` (0 = running).
    pub state: i32,
    /// Padding.
    pub pad: u32,
    /// OUT: Xen system time (ns) when `state` was entered.
    pub state_entry_time: u64,
    /// OUT: ns spent in each state.
    pub time: [u64; 4],
}
assert_size!(VcpuRunstateInfo, 48);
