//! `#[repr(C)]` mirrors of the Xen public headers the stub uses, under Xen's
//! own names, each with a compile-time size (and key offset) assertion.
//!
//! Source: `xen/include/public/` of Xen 4.17 … 4.22 (each layout checked
//! against those headers). Only what the stub calls is mirrored.
//! Fields marked IN are filled by us, OUT by Xen.

pub mod domctl;
pub mod event_channel;
pub mod grant_table;
pub mod hvm;
pub mod memory;
pub mod sched;
pub mod start_info;
pub mod xen;

/// Asserts at compile time that a type has the given size.
macro_rules! assert_size {
    ($ty:ty, $size:expr) => {
        const _: () = assert!(core::mem::size_of::<$ty>() == $size);
    };
}

/// Asserts at compile time that a field sits at the given offset.
macro_rules! assert_offset {
    ($ty:ty, $field:ident, $off:expr) => {
        const _: () = assert!(core::mem::offset_of!($ty, $field) == $off);
    };
}

pub(crate) use assert_offset;
pub(crate) use assert_size;
