//! The xenstore engine (sans-I/O): bytes in, replies and watch events out.
//!
//! See `DESIGN.md` at the workspace root for the contract between the engine
//! and its platforms (host daemon, PVH kernel, tests).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod engine;

pub use engine::{Config, ConnId, DomId, DomainInfo, Engine, MapError, Platform};
