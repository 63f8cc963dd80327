//! The xenstore engine (sans-I/O): bytes in, replies and watch events out.
//!
//! See `DESIGN.md` at the workspace root for the contract between the engine
//! and its platforms (host daemon, PVH kernel, tests).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
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

extern crate alloc;

mod arena;
pub mod budget;
pub mod cnum;
pub mod conn;
pub mod control;
mod dir;
pub mod dispatch;
pub mod domain;
pub mod engine;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod lifecycle;
#[cfg(any(test, feature = "model"))]
pub mod model;
pub mod node;
pub mod ops;
pub mod options;
pub mod path;
pub mod perms;
mod permtab;
pub mod quota;
pub mod ratelimit;
pub mod reconnect;
mod record;
pub mod ring_server;
pub mod trace;
pub mod transaction;
pub mod tree;
mod txgen;
pub mod watch;
pub mod wrl;

pub use budget::MemoryBudget;
pub use engine::{
    ChangedDomain, Config, ConnId, DomId, DomainCaps, DomainInfo, DomainState, Engine, MapError,
    MapRequest, Platform, Stats,
};
pub use error::{Error, ProtoError};
pub use lifecycle::StartReport;
pub use options::{EngineOptions, QuotaOption};
pub use ring_server::{EngineRing, RingLog, RingName, RingPlatform};
