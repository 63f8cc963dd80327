//! The engine's [`Platform`] on Linux: ring pages from simring files (or
//! private pages without `--simring`), domain state from marker files.
//!
//! The platform owns every mapped ring. The engine maps one while it handles
//! `XS_INTRODUCE` (or [`Engine::introduce`](store::Engine::introduce) for
//! dom0 at start-up) and unmaps it when the domain is released or dies. On
//! mapping we write the engine's `server_features` word, answer a pending
//! `XENSTORE_RECONNECT` with `XENSTORE_CONNECTED` (C xenstored does the same
//! since 4.17) and notify the guest, like C's `new_domain`.

use std::collections::BTreeMap;

use ring::sched::MAX_RINGS;
use ring::wire::{XENSTORE_CONNECTED, XENSTORE_RECONNECT};
use ring::RingPage;
use store::{
    ConnId, DomId, DomainInfo, DomainState, LuArch, MapError, MapRequest, Platform, RestoreRing,
    RingPlatform,
};

use crate::simring::domains::DOMID_FIRST_RESERVED;
use crate::simring::ring_file::SharedRing;
use crate::simring::Simring;

/// One mapped guest ring.
pub struct RingConn {
    /// The guest.
    pub domid: DomId,
    /// The guest end of its event channel.
    pub port: u32,
    /// The mapped page.
    pub ring: SharedRing,
}

/// The host's implementation of the engine's platform.
pub struct HostPlatform {
    /// The simring directory, when serving simulated guests.
    pub simring: Option<Simring>,
    /// Mapped rings by engine connection.
    rings: BTreeMap<ConnId, RingConn>,
    /// Rings mapped since the loop last looked (to be queued for a turn).
    fresh: Vec<ConnId>,
    /// Rings unmapped since the loop last looked.
    unmapped: Vec<ConnId>,
}

impl HostPlatform {
    /// A platform without rings yet.
    pub fn new(simring: Option<Simring>) -> HostPlatform {
        HostPlatform { simring, rings: BTreeMap::new(), fresh: Vec::new(), unmapped: Vec::new() }
    }

    /// The ring served as `conn`, if it is a ring connection.
    pub fn ring(&self, conn: ConnId) -> Option<&RingConn> {
        self.rings.get(&conn)
    }

    /// How many rings are mapped.
    pub fn ring_count(&self) -> usize {
        self.rings.len()
    }

    /// Whether any ring is mapped.
    pub fn has_rings(&self) -> bool {
        !self.rings.is_empty()
    }

    /// Puts the connections of the mapped rings into `out` (emptied
    /// first).
    pub fn ring_conns(&self, out: &mut Vec<ConnId>) {
        out.clear();
        out.extend(self.rings.keys().copied());
    }

    /// Moves the connections mapped since the last call into `out`.
    pub fn take_fresh(&mut self, out: &mut Vec<ConnId>) {
        out.append(&mut self.fresh);
    }

    /// Moves the connections unmapped since the last call into `out`.
    pub fn take_unmapped(&mut self, out: &mut Vec<ConnId>) {
        out.append(&mut self.unmapped);
    }

    /// Signals the guest of `conn` (a no-op without simring).
    pub fn notify(&self, conn: ConnId) {
        if let (Some(simring), Some(rc)) = (&self.simring, self.rings.get(&conn)) {
            simring.channels.notify(rc.domid, rc.port);
        }
    }

    /// The connection an event on guest end (`domid`, `port`) is for: an
    /// exact match first, else any ring of `domid`.
    pub fn route(&self, domid: DomId, port: u32) -> Option<ConnId> {
        let mut of_domain = self.rings.iter().filter(|(_, rc)| rc.domid == domid);
        of_domain
            .clone()
            .find(|(_, rc)| rc.port == port)
            .or_else(|| of_domain.next())
            .map(|(conn, _)| *conn)
    }
}

impl RingPlatform for HostPlatform {
    fn ring_page(&self, conn: ConnId) -> Option<&RingPage> {
        self.rings.get(&conn).map(|rc| rc.ring.page())
    }
}

impl HostPlatform {
    /// Maps `domid`'s page: its simring file, or a private page.
    fn map_page(&self, domid: DomId) -> Result<SharedRing, MapError> {
        if self.rings.len() >= MAX_RINGS {
            // As many as the ring scheduler holds (and Xen could notify).
            log::warn!("cannot map the ring of domain {}: ring limit reached", domid.0);
            return Err(MapError);
        }
        let mapped = match &self.simring {
            Some(simring) => simring.map_ring(domid),
            None => SharedRing::anonymous(),
        };
        mapped.map_err(|e| {
            log::warn!("cannot map the ring of domain {}: {e}", domid.0);
            MapError
        })
    }
}

impl Platform for HostPlatform {
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        let MapRequest { conn, domid, port, features, reset, .. } = ring;
        let ring = self.map_page(domid)?;
        let page = ring.page();
        if reset {
            page.reset_indices();
        }
        page.set_server_features(features);
        if page.connection() == XENSTORE_RECONNECT {
            page.set_connection(XENSTORE_CONNECTED);
        }
        log::debug!("serving domain {} on port {port} as {conn:?}", domid.0);
        self.rings.insert(conn, RingConn { domid, port, ring });
        // The guest may have queued requests before it was introduced.
        self.fresh.push(conn);
        self.notify(conn);
        Ok(())
    }

    /// The page as the previous server left it; `port` is what it bound:
    /// ours writes the guest's port (simring has no local ends), C's its
    /// local port, which only names the channel in our notifications
    /// (guests look at the ring whatever the port; theirs reach the
    /// ring by domain, [`HostPlatform::route`]). The ring gets a turn.
    fn restore_ring(&mut self, ring: RestoreRing) -> Result<(), MapError> {
        let RestoreRing { conn, domid, port } = ring;
        let page = self.map_page(domid)?;
        log::debug!("serving domain {} again on port {port} as {conn:?}", domid.0);
        self.rings.insert(conn, RingConn { domid, port, ring: page });
        self.fresh.push(conn);
        Ok(())
    }

    /// `-f FILE` (C `lu_binary`): a file that exists and has an execute
    /// bit is the new binary.
    fn live_update_arch(&mut self, args: &[&str]) -> LuArch {
        use std::os::unix::fs::PermissionsExt;
        match args {
            ["-f", file] => match std::fs::metadata(file) {
                Err(_) => LuArch::Refused("File not accessible."),
                Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                    LuArch::Refused("File not executable.")
                }
                Ok(_) => LuArch::Binary((*file).to_owned()),
            },
            _ => LuArch::Invalid,
        }
    }

    fn unmap_ring(&mut self, conn: ConnId) {
        if let Some(rc) = self.rings.remove(&conn) {
            log::debug!("stopped serving domain {} ({conn:?})", rc.domid.0);
            self.unmapped.push(conn);
        }
    }

    fn domain_info(&mut self, domid: DomId) -> DomainInfo {
        match &self.simring {
            Some(simring) => DomainInfo::of_state(simring.domain_state(domid)),
            None if domid.0 < DOMID_FIRST_RESERVED => DomainInfo::of_state(DomainState::Running),
            None => DomainInfo::GONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_ring_prepares_the_page_and_route_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let guest = SharedRing::open(&dir.path().join("ring-5"), false).unwrap();
        guest.page().set_connection(XENSTORE_RECONNECT);
        let simring = Simring::open(dir.path()).unwrap();
        let mut p = HostPlatform::new(Some(simring));
        p.map_ring(MapRequest {
            conn: ConnId(9),
            domid: DomId(5),
            gfn: 0,
            port: 17,
            features: 1,
            reset: false,
        })
        .unwrap();
        assert_eq!(guest.page().server_features(), 1, "the engine's word");
        assert_eq!(guest.page().connection(), XENSTORE_CONNECTED);
        let mut fresh = Vec::new();
        p.take_fresh(&mut fresh);
        assert_eq!(fresh, [ConnId(9)], "to be queued: the guest may have written already");
        assert_eq!(p.route(DomId(5), 17), Some(ConnId(9)));
        assert_eq!(p.route(DomId(5), 99), Some(ConnId(9)));
        assert_eq!(p.route(DomId(6), 17), None);
        p.unmap_ring(ConnId(9));
        assert!(p.ring(ConnId(9)).is_none());
        let mut gone = Vec::new();
        p.take_unmapped(&mut gone);
        assert_eq!(gone, [ConnId(9)]);
    }

    #[test]
    fn a_ring_mapped_again_with_reset_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let guest = SharedRing::open(&dir.path().join("ring-5"), false).unwrap();
        assert_eq!(guest.page().write_requests(b"hi").unwrap(), 2);
        let mut p = HostPlatform::new(Some(Simring::open(dir.path()).unwrap()));
        let req = MapRequest {
            conn: ConnId(9),
            domid: DomId(5),
            gfn: 0,
            port: 17,
            features: 0,
            reset: false,
        };
        p.map_ring(req).unwrap();
        let page = p.ring_page(ConnId(9)).unwrap();
        assert_eq!(page.requests_available().unwrap(), 2, "a first introduction keeps them");
        assert_eq!(page.write_responses(b"rep").unwrap(), 3);
        p.unmap_ring(ConnId(9));
        p.map_ring(MapRequest { reset: true, ..req }).unwrap();
        let page = p.ring_page(ConnId(9)).unwrap();
        assert_eq!(page.raw_indices(), ring::page::RawIndices::default());
    }

    #[test]
    fn a_restored_ring_keeps_its_page_and_gets_a_turn() {
        let dir = tempfile::tempdir().unwrap();
        let guest = SharedRing::open(&dir.path().join("ring-5"), false).unwrap();
        guest.page().set_server_features(7);
        assert_eq!(guest.page().write_requests(b"hi").unwrap(), 2);
        let mut p = HostPlatform::new(Some(Simring::open(dir.path()).unwrap()));
        p.restore_ring(RestoreRing { conn: ConnId(4), domid: DomId(5), port: 3 }).unwrap();
        let page = p.ring_page(ConnId(4)).unwrap();
        assert_eq!(page.server_features(), 7, "the page is not rewritten");
        assert_eq!(page.requests_available().unwrap(), 2, "pending requests stay");
        let mut fresh = Vec::new();
        p.take_fresh(&mut fresh);
        assert_eq!(fresh, [ConnId(4)]);
        assert_eq!(p.route(DomId(5), 105), Some(ConnId(4)), "found by domain");
    }

    #[test]
    fn f_names_an_executable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new");
        std::fs::write(&file, "").unwrap();
        let name = file.to_str().unwrap();
        let mut p = HostPlatform::new(None);
        assert_eq!(p.live_update_arch(&["-f", name]), LuArch::Refused("File not executable."));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(p.live_update_arch(&["-f", name]), LuArch::Binary(name.into()));
        let missing = dir.path().join("missing");
        assert_eq!(
            p.live_update_arch(&["-f", missing.to_str().unwrap()]),
            LuArch::Refused("File not accessible.")
        );
        assert_eq!(p.live_update_arch(&["-b", "100"]), LuArch::Invalid, "a stub's");
    }

    #[test]
    fn without_simring_rings_are_private_and_domains_run() {
        let mut p = HostPlatform::new(None);
        p.map_ring(MapRequest {
            conn: ConnId(1),
            domid: DomId(2),
            gfn: 0,
            port: 1,
            features: 0,
            reset: false,
        })
        .unwrap();
        assert!(p.ring(ConnId(1)).is_some());
        assert_eq!(p.domain_info(DomId(2)).state, DomainState::Running);
        assert_eq!(p.domain_info(DomId(DOMID_FIRST_RESERVED)), DomainInfo::GONE);
    }
}
