//! `xs-hostile-guest`: a PVH test guest that is a xenstore client on its own
//! ring and misbehaves on purpose, to test the stub on real Xen.
//!
//! Booted by `xl create` as an ordinary PVH domU (the common bring-up of
//! [`crate::arch::x86_64::setup`]), it finds its ring through `HVM_PARAM_STORE_PFN` and
//! `HVM_PARAM_STORE_EVTCHN`, runs [`steps::run`], prints one line per step
//! and a summary on its console (port 0xE9, so dom0 reads them with
//! `xl dmesg` as `(dN) ...` lines), then idles until destroyed:
//!
//! ```text
//! hostile-guest: PASS read-domid
//! hostile-guest: FAIL bad-index: error field 0, expected 2
//! hostile-guest: 8 passed, 1 failed
//! ```
//!
//! `oversize` on its command line (`cmdline = "oversize"` in the xl config)
//! ends the run with an oversized header instead of bad indices; `expiry`
//! checks watch-event expiry instead (see [`steps`]), printing
//! `hostile-guest: flood me` when dom0 should write the watched nodes;
//! `reconnect-idx` and `reconnect-big` break the ring (bad indices, an
//! oversized header) and then reconnect it, which must bring the service
//! back; `storm` loops error → reconnect cycles (`kernel/checks/
//! hostile-reconnect.sh`). `memory` (deep transaction reads, a deep
//! chain, fill), `flood` (watches and an unread ring) and `good` (a
//! well-behaved guest beside them) are the memory attacks of
//! [`memory`] (`kernel/checks/hostile-memory.sh`). `sim_tests` runs every
//! mode against the real engine on the host.

pub mod client;
pub mod dom0less;
pub mod link;
pub mod memory;
#[cfg(not(target_arch = "aarch64"))]
mod pvh;
pub mod release;
#[cfg(test)]
mod sim_tests;
pub mod steps;
pub mod tally;

#[cfg(not(target_arch = "aarch64"))]
pub use pvh::run;
