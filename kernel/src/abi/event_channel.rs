//! `public/event_channel.h`.

use super::xen::{DomidT, EvtchnPort};
use super::{assert_offset, assert_size};

/// `EVTCHNOP_bind_interdomain`.
pub const EVTCHNOP_BIND_INTERDOMAIN: usize = 0;
/// `EVTCHNOP_bind_virq`.
pub const EVTCHNOP_BIND_VIRQ: usize = 1;
/// `EVTCHNOP_close`.
pub const EVTCHNOP_CLOSE: usize = 3;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: usize = 4;
/// `EVTCHNOP_alloc_unbound`.
pub const EVTCHNOP_ALLOC_UNBOUND: usize = 6;
/// `EVTCHNOP_unmask`.
pub const EVTCHNOP_UNMASK: usize = 9;

/// `struct evtchn_bind_interdomain`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnBindInterdomain {
    /// IN: the peer domain.
    pub remote_dom: DomidT,
    /// Padding.
    pub pad: u16,
    /// IN: the peer's unbound port.
    pub remote_port: EvtchnPort,
    /// OUT: our new port.
    pub local_port: EvtchnPort,
}
assert_size!(EvtchnBindInterdomain, 12);
assert_offset!(EvtchnBindInterdomain, local_port, 8);

/// `struct evtchn_bind_virq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnBindVirq {
    /// IN: `VIRQ_*`.
    pub virq: u32,
    /// IN: vCPU (0 for global VIRQs).
    pub vcpu: u32,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
assert_size!(EvtchnBindVirq, 12);

/// `struct evtchn_alloc_unbound`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnAllocUnbound {
    /// IN: `DOMID_SELF`.
    pub dom: DomidT,
    /// IN: the domain allowed to bind it.
    pub remote_dom: DomidT,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
assert_size!(EvtchnAllocUnbound, 8);

/// `struct evtchn_close`, `evtchn_send` and `evtchn_unmask`: one port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnPortArg {
    /// IN: the port.
    pub port: EvtchnPort,
}
assert_size!(EvtchnPortArg, 4);

/// `EVTCHNOP_status`.
pub const EVTCHNOP_STATUS: usize = 5;
/// `EVTCHNSTAT_unbound`.
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// `EVTCHNSTAT_interdomain`.
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;

/// `struct evtchn_status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnStatus {
    /// IN: `DOMID_SELF`.
    pub dom: DomidT,
    /// Padding.
    pub pad: u16,
    /// IN: the port.
    pub port: EvtchnPort,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: the vCPU notified.
    pub vcpu: u32,
    /// OUT: for unbound and interdomain ports, the remote domain.
    pub remote_dom: DomidT,
    /// Padding.
    pub pad2: u16,
    /// OUT: for interdomain ports, the remote port.
    pub remote_port: EvtchnPort,
}
assert_size!(EvtchnStatus, 24);
assert_offset!(EvtchnStatus, remote_dom, 16);
