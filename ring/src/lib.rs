//! The xenstore wire protocol, with no Xen calls and no allocation.
//!
//! * [`wire`]: the `xs_wire.h` facts we use — message header, message types,
//!   error names and size limits — under Xen's own names.
//! * [`decode`]: incremental framing of a byte stream into messages.
//! * [`page`]: the shared 4 KiB xenbus ring page (`struct
//!   xenstore_domain_interface`), read and written with volatile accesses.
//!
//! Sources: `xen/include/public/io/xs_wire.h`, `docs/misc/xenstore.txt`,
//! `docs/misc/xenstore-ring.txt`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation
    )
)]

pub mod decode;
pub mod page;
pub mod wire;

pub use wire::{Header, MsgType, XsError, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};
