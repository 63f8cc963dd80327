//! The xenstore wire protocol, with no Xen calls and no allocation.
//!
//! * [`wire`]: the `xs_wire.h` facts we use — message header, message types,
//!   error names and size limits — under Xen's own names.
//! * [`decode`]: incremental framing of a byte stream into messages.
//! * [`page`]: the shared 4 KiB xenbus ring page (`struct
//!   xenstore_domain_interface`), read and written with volatile accesses.
//! * [`serve`]: one server turn on a guest's ring (reconnection, requests,
//!   responses, error field), shared by every platform.
//! * [`sched`]: which rings get a turn and in what order, when the engine's
//!   timed work runs, and the periodic sweep for missed notifications;
//!   shared by every platform.
//!
//! Sources: `xen/include/public/io/xs_wire.h`, `docs/misc/xenstore.txt`,
//! `docs/misc/xenstore-ring.txt`.
#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(test)]
extern crate std;

pub mod decode;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod page;
#[cfg(any(test, feature = "fuzzing"))]
mod prng;
pub mod sched;
pub mod serve;
#[cfg(test)]
mod testutil;
pub mod wire;

pub use decode::{Decoded, Decoder, ProtoError};
pub use page::{RingError, RingPage, XENSTORE_RING_SIZE};
pub use wire::{Header, MsgType, XsError, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};
