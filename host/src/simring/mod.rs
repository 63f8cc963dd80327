//! The simring convention: simulated guest domains on plain Linux.
//!
//! Normative description: `tests/peers/README.md`. Each guest's
//! ring page is a file both sides map ([`ring_file`]), event channels are
//! Unix datagram sockets ([`evtchn`]), and domain state is a set of marker
//! files ([`domains`]). A directory serves one daemon instance.

pub mod domains;
pub mod evtchn;
#[allow(unsafe_code)]
pub mod ring_file;

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use store::DomId;

use evtchn::EventChannels;
use ring_file::SharedRing;

/// The daemon's view of one simring directory.
pub struct Simring {
    /// The directory.
    dir: PathBuf,
    /// `evtchn-server` and the notification sender.
    pub channels: EventChannels,
}

impl Simring {
    /// Creates `dir` if needed, binds `evtchn-server` in it and creates a
    /// fresh zeroed `ring-0` (the daemon stands in for `/proc/xen/xsd_kva`).
    pub fn open(dir: &Path) -> io::Result<Simring> {
        std::fs::create_dir_all(dir)?;
        let channels = EventChannels::bind(dir)?;
        let simring = Simring { dir: dir.to_owned(), channels };
        SharedRing::open(&simring.ring_path(DomId(0)), true)?;
        Ok(simring)
    }

    /// `dir` after a live update: the previous server's `evtchn-server`
    /// socket if it handed it over (`inherited`), else one bound anew
    /// (C's event channel is not a socket); every ring, `ring-0` too,
    /// is kept as it is.
    pub fn take_over(dir: &Path, inherited: Option<UnixDatagram>) -> io::Result<Simring> {
        let channels = match inherited {
            Some(server) => EventChannels::adopt(dir, server)?,
            None => EventChannels::bind(dir)?,
        };
        Ok(Simring { dir: dir.to_owned(), channels })
    }

    /// The path of `dir`'s `evtchn-server`.
    pub fn server_path(dir: &Path) -> PathBuf {
        EventChannels::server_path(dir)
    }

    /// The path of `domid`'s ring page.
    fn ring_path(&self, domid: DomId) -> PathBuf {
        self.dir.join(format!("ring-{}", domid.0))
    }

    /// Maps `ring-<domid>`, creating it if the guest has not yet.
    pub fn map_ring(&self, domid: DomId) -> io::Result<SharedRing> {
        SharedRing::open(&self.ring_path(domid), false)
    }

    /// Removes `evtchn-server` (at shutdown).
    pub fn close(&self) {
        self.channels.remove();
    }

    /// The state of `domid` per the marker files.
    pub fn domain_state(&self, domid: DomId) -> store::DomainState {
        domains::domain_state(&self.dir, domid)
    }
}
