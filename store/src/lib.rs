//! The xenstore engine (sans-I/O): bytes in, replies and watch events out.
//!
//! See `DESIGN.md` at the workspace root for the contract between the engine
//! and its platforms (host daemon, PVH kernel, tests).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(unnameable_types)]
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

mod access;
mod budget;
mod cnum;
mod conn;
mod control;
mod dispatch;
mod domain;
mod engine;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod home;
mod ids;
mod lifecycle;
mod liveupdate;
mod migrate;
#[cfg(any(test, feature = "model"))]
pub mod model;
mod ops;
mod options;
mod path;
mod perms;
mod quota;
mod ratelimit;
mod reconnect;
mod request;
mod ring_server;
/// The xenstore migration stream: records, encoder and hostile-input decoder.
pub mod stream;
mod trace;
mod transaction;
mod tree;
mod watch;
mod wrl;

// The public surface: everything platforms, tests and fuzzers use, at the
// root. The modules stay private but for the test and fuzzing harnesses.
pub use budget::{MemWait, MemoryBudget, REQUEST_HEADROOM};
pub use engine::{
    ChangedDomain, Config, DomainCaps, DomainInfo, DomainState, Engine, MapError, MapRequest,
    Platform, RestoreRing, Stats,
};
pub use error::{Error, ProtoError};
pub use home::{HomeError, HomeInfo};
pub use ids::{ConnId, DomId};
pub use lifecycle::StartReport;
pub use liveupdate::{image_arch, LiveUpdate, LuArch};
pub use migrate::{DumpError, DumpOptions, DumpSource, RestoreError, Restored};
pub use options::{EngineOptions, QuotaOption};
pub use quota::{Limit, Quota, Quotas};
pub use ratelimit::{LogGate, Rate, TokenBucket, GUEST_LOG_RATE};
pub use reconnect::{Reconnects, RECONNECT_RATE};
pub use ring_server::{EngineRing, RingLog, RingName, RingPlatform};
pub use wrl::{WRL_DBURST, WRL_RATE};

/// The `log` crate, for [`log_limited!`] expanded in other crates.
#[doc(hidden)]
pub use log as __log;
