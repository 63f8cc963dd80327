//! `public/hvm/hvm_op.h` and `public/hvm/params.h`.

use super::assert_size;
use super::xen::DomidT;

/// `HVMOP_set_param`.
pub const HVMOP_SET_PARAM: usize = 0;
/// `HVMOP_get_param`.
pub const HVMOP_GET_PARAM: usize = 1;

/// `HVM_PARAM_CALLBACK_IRQ`: how event upcalls are delivered.
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_STORE_PFN`: GFN of the xenstore ring page.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: local port of the xenstore event channel.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_CONSOLE_PFN`: GFN of the PV console ring.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: local port of the PV console.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_PARAM_CALLBACK_TYPE_VECTOR` in bits 63:56 of the callback value:
/// the low 8 bits are an IDT vector injected directly (no LAPIC EOI).
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;

/// `struct xen_hvm_param`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenHvmParam {
    /// IN: `DOMID_SELF`.
    pub domid: DomidT,
    /// Padding.
    pub pad: u16,
    /// IN: `HVM_PARAM_*`.
    pub index: u32,
    /// IN (set) / OUT (get).
    pub value: u64,
}
assert_size!(XenHvmParam, 16);

/// `struct xencons_interface` (`public/io/console.h`) sizes and offsets.
pub mod console {
    /// Bytes of the guest → console daemon ring.
    pub const OUT_SIZE: u32 = 2048;
    /// Offset of `out[]`.
    pub const OUT_OFFSET: usize = 1024;
    /// Offset of `out_cons` (u32, written by the console daemon).
    pub const OUT_CONS_OFFSET: usize = 3080;
    /// Offset of `out_prod` (u32, written by us).
    pub const OUT_PROD_OFFSET: usize = 3084;
}
