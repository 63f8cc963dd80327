//! A model of the hypervisor for host tests (feature `model`, never in the
//! kernel image): domains that are created, shut down, killed and destroyed,
//! answering [`Platform`] queries with the semantics of a chosen Xen
//! release, plus ring pages whose mapping and unmapping are recorded.
//!
//! What each [`Semantics`] reproduces (xen-abi §5.2, §5.4):
//!
//! - [`Semantics::Getdomaininfo417`]: `XEN_DOMCTL_getdomaininfo` answers a
//!   missing domid with the next existing domain above it; the platform
//!   layer must compare the returned id and call it gone when it differs.
//! - [`Semantics::Getdomaininfo418`]: a missing domid is `-ESRCH`.
//! - [`Semantics::GetDomainState421`]: `XEN_DOMCTL_get_domain_state`, with
//!   the changed-domain bitmap: binding `VIRQ_DOM_EXC` marks every existing
//!   domain, creation, completed shutdown, death and final destruction mark
//!   one; each poll reports (and clears) one domain, the lowest first as
//!   4.21.0 does, with all-zero info once it no longer exists. Unique ids
//!   never repeat, even when a domid is reused, and capabilities are given.
//!
//! With getdomaininfo a domain that is only dying (`DOMDYING_dying`) looks
//! alive: `XEN_DOMINF_dying` is set once it is dead.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::engine::{
    ChangedDomain, DomainCaps, DomainInfo, DomainState, MapError, MapRequest, Platform, RestoreRing,
};
use crate::ids::{ConnId, DomId};

/// Which hypervisor interface the model plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantics {
    /// Xen ≤ 4.17 `getdomaininfo` ("next existing domain" for a missing id).
    Getdomaininfo417,
    /// Xen 4.18–4.20 `getdomaininfo` (`-ESRCH` for a missing id).
    Getdomaininfo418,
    /// Xen 4.21+ `get_domain_state` with the changed-domain poll.
    GetDomainState421,
}

impl Semantics {
    /// Every mode, for tests that apply to all of them.
    pub const ALL: [Semantics; 3] =
        [Semantics::Getdomaininfo417, Semantics::Getdomaininfo418, Semantics::GetDomainState421];
}

/// How far a domain's destruction has gone (`d->is_dying`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Teardown {
    /// Alive.
    No,
    /// `DOMDYING_dying`.
    Dying,
    /// `DOMDYING_dead`.
    Dead,
}

/// One existing domain.
#[derive(Clone, Copy, Debug)]
struct ModelDomain {
    shutdown: bool,
    teardown: Teardown,
    unique_id: u64,
    caps: DomainCaps,
    /// The page's `evtchn_port` (0 before 4.21, which has no such field).
    evtchn_port: u32,
}

/// A ring the engine asked to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The domain whose page it is.
    pub domid: DomId,
    /// The event channel bound (the page's `evtchn_port` for port 0).
    pub port: u32,
    /// The `server_features` written into the page.
    pub features: u32,
    /// The page's indices were zeroed ([`MapRequest::reset`]).
    pub reset: bool,
}

/// The hypervisor model; see the module documentation.
#[derive(Debug)]
pub struct HypervisorModel {
    semantics: Semantics,
    domains: BTreeMap<u16, ModelDomain>,
    /// The changed-domain bitmap (4.21+), armed once `VIRQ_DOM_EXC` is bound.
    changed: Option<BTreeSet<u16>>,
    /// Unique ids handed out so far.
    created: u64,
    /// Domains whose ring fails to map.
    fail_map: BTreeSet<u16>,
    /// Rings currently mapped.
    pub mapped: BTreeMap<ConnId, Mapping>,
    /// Every `unmap_ring` call, in order.
    pub unmaps: Vec<ConnId>,
    /// Number of `domain_info` calls.
    pub domain_info_calls: u64,
    /// Number of `next_changed_domain` calls.
    pub changed_calls: u64,
    /// A dom0less system: `home_info` answers for every domain (store
    /// port = the page's `evtchn_port`, ring-ref 0x39001, one vCPU, memory
    /// unknown).
    pub dom0less: bool,
}

impl HypervisorModel {
    /// A hypervisor with no domain yet, playing `semantics`.
    pub fn new(semantics: Semantics) -> HypervisorModel {
        HypervisorModel {
            semantics,
            domains: BTreeMap::new(),
            changed: None,
            created: 0,
            fail_map: BTreeSet::new(),
            mapped: BTreeMap::new(),
            unmaps: Vec::new(),
            domain_info_calls: 0,
            changed_calls: 0,
            dom0less: false,
        }
    }

    /// The semantics played.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// Creates `domid` without capabilities; returns its unique id.
    /// An existing domain with that id is replaced (as if it had been
    /// destroyed first).
    pub fn create(&mut self, domid: DomId) -> u64 {
        self.create_with_caps(domid, DomainCaps::default())
    }

    /// Creates `domid` with `caps`; returns its unique id.
    pub fn create_with_caps(&mut self, domid: DomId, caps: DomainCaps) -> u64 {
        self.created = self.created.wrapping_add(1);
        // An odd multiplier is a bijection on u64: ids never repeat, and
        // their order says nothing, as with Xen's pseudo-random sequence.
        let unique_id = self.created.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let evtchn_port = match self.semantics {
            Semantics::GetDomainState421 => 100u32.wrapping_add(u32::from(domid.0)),
            _ => 0,
        };
        let d =
            ModelDomain { shutdown: false, teardown: Teardown::No, unique_id, caps, evtchn_port };
        self.domains.insert(domid.0, d);
        self.mark(domid);
        unique_id
    }

    /// `domid` completes a shutdown (or crashes).
    pub fn shutdown(&mut self, domid: DomId) {
        if let Some(d) = self.domains.get_mut(&domid.0) {
            d.shutdown = true;
            self.mark(domid);
        }
    }

    /// `domid` starts dying (`domain_kill`): no changed mark yet.
    pub fn kill(&mut self, domid: DomId) {
        if let Some(d) = self.domains.get_mut(&domid.0) {
            d.teardown = Teardown::Dying;
        }
    }

    /// `domid` is dead (`DOMDYING_dead`) but still referenced.
    pub fn dead(&mut self, domid: DomId) {
        if let Some(d) = self.domains.get_mut(&domid.0) {
            d.teardown = Teardown::Dead;
            self.mark(domid);
        }
    }

    /// `domid` is destroyed for good: it no longer exists.
    pub fn destroy(&mut self, domid: DomId) {
        if self.domains.remove(&domid.0).is_some() {
            self.mark(domid);
        }
    }

    /// Binds `VIRQ_DOM_EXC` (4.21+ arms the bitmap with every domain).
    pub fn bind_virq(&mut self) {
        self.changed = Some(self.domains.keys().copied().collect());
    }

    /// Makes mapping `domid`'s ring fail.
    pub fn fail_map(&mut self, domid: DomId) {
        self.fail_map.insert(domid.0);
    }

    /// How many times `conn` was unmapped.
    pub fn unmap_count(&self, conn: ConnId) -> usize {
        self.unmaps.iter().filter(|&&c| c == conn).count()
    }

    /// The mapping of `domid`'s ring, if mapped.
    pub fn mapping_of(&self, domid: DomId) -> Option<(ConnId, Mapping)> {
        self.mapped.iter().find(|(_, m)| m.domid == domid).map(|(c, m)| (*c, *m))
    }

    /// Sets `domid`'s bit in the changed-domain bitmap, if armed.
    fn mark(&mut self, domid: DomId) {
        if let Some(set) = self.changed.as_mut() {
            set.insert(domid.0);
        }
    }

    /// `get_domain_state` of an existing domain.
    fn domain_state(d: &ModelDomain) -> DomainInfo {
        let state = match d.teardown {
            Teardown::Dead => DomainState::Dead,
            Teardown::Dying => DomainState::Dying,
            Teardown::No if d.shutdown => DomainState::Shutdown,
            Teardown::No => DomainState::Running,
        };
        DomainInfo { state, unique_id: Some(d.unique_id), caps: d.caps }
    }

    /// `getdomaininfo` flags of an existing domain, as a state: only a
    /// dead domain shows `XEN_DOMINF_dying`.
    fn getdomaininfo_state(d: &ModelDomain) -> DomainState {
        match d.teardown {
            Teardown::Dead => DomainState::Dead,
            _ if d.shutdown => DomainState::Shutdown,
            _ => DomainState::Running,
        }
    }
}

impl Platform for HypervisorModel {
    fn home_info(&mut self, domid: DomId) -> Option<crate::HomeInfo> {
        let d = self.domains.get(&domid.0).filter(|_| self.dom0less)?;
        Some(crate::HomeInfo {
            store_port: d.evtchn_port,
            ring_ref: 0x39001,
            vcpus: 1,
            max_memkb: None,
            target_memkb: None,
        })
    }

    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        let MapRequest { conn, domid, port, features, reset, .. } = ring;
        let d = self.domains.get(&domid.0).ok_or(MapError)?;
        let port = if port == 0 { d.evtchn_port } else { port };
        if port == 0 || self.fail_map.contains(&domid.0) || self.mapped.contains_key(&conn) {
            return Err(MapError);
        }
        self.mapped.insert(conn, Mapping { domid, port, features, reset });
        Ok(())
    }

    fn restore_ring(&mut self, ring: RestoreRing) -> Result<(), MapError> {
        let RestoreRing { conn, domid, port } = ring;
        if !self.domains.contains_key(&domid.0)
            || port == 0
            || self.fail_map.contains(&domid.0)
            || self.mapped.contains_key(&conn)
        {
            return Err(MapError);
        }
        // The page is not written on restore: its features are unknown.
        self.mapped.insert(conn, Mapping { domid, port, features: 0, reset: false });
        Ok(())
    }

    fn unmap_ring(&mut self, conn: ConnId) {
        self.unmaps.push(conn);
        self.mapped.remove(&conn);
    }

    fn domain_info(&mut self, domid: DomId) -> DomainInfo {
        self.domain_info_calls = self.domain_info_calls.saturating_add(1);
        match self.semantics {
            Semantics::Getdomaininfo417 => {
                // The hypercall answers for the first domain at or above
                // `domid`; the platform layer compares the returned id.
                match self.domains.range(domid.0..).next() {
                    Some((&found, d)) if found == domid.0 => {
                        DomainInfo::of_state(Self::getdomaininfo_state(d))
                    }
                    _ => DomainInfo::GONE,
                }
            }
            Semantics::Getdomaininfo418 => self
                .domains
                .get(&domid.0)
                .map_or(DomainInfo::GONE, |d| DomainInfo::of_state(Self::getdomaininfo_state(d))),
            Semantics::GetDomainState421 => {
                self.domains.get(&domid.0).map_or(DomainInfo::GONE, Self::domain_state)
            }
        }
    }

    fn next_changed_domain(&mut self) -> ChangedDomain {
        self.changed_calls = self.changed_calls.saturating_add(1);
        if self.semantics != Semantics::GetDomainState421 {
            return ChangedDomain::Unsupported;
        }
        // Without a bound VIRQ there is no bitmap: -ENOENT.
        let Some(set) = self.changed.as_mut() else {
            return ChangedDomain::Done;
        };
        let Some(domid) = set.pop_first() else {
            return ChangedDomain::Done;
        };
        let info = self.domains.get(&domid).map_or(DomainInfo::GONE, Self::domain_state);
        ChangedDomain::Changed(DomId(domid), info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getdomaininfo_417_gone_when_next_domain_answers() {
        let mut m = HypervisorModel::new(Semantics::Getdomaininfo417);
        m.create(DomId(3));
        m.create(DomId(7));
        assert_eq!(m.domain_info(DomId(3)).state, DomainState::Running);
        assert_eq!(m.domain_info(DomId(5)), DomainInfo::GONE, "7 answered for 5");
        assert_eq!(m.domain_info(DomId(9)), DomainInfo::GONE);
        assert_eq!(m.next_changed_domain(), ChangedDomain::Unsupported);
    }

    #[test]
    fn dying_is_visible_only_to_get_domain_state() {
        for s in Semantics::ALL {
            let mut m = HypervisorModel::new(s);
            m.create(DomId(4));
            m.shutdown(DomId(4));
            m.kill(DomId(4));
            let want = if s == Semantics::GetDomainState421 {
                DomainState::Dying
            } else {
                DomainState::Shutdown
            };
            assert_eq!(m.domain_info(DomId(4)).state, want, "{s:?}");
            m.dead(DomId(4));
            assert_eq!(m.domain_info(DomId(4)).state, DomainState::Dead, "{s:?}");
        }
    }

    #[test]
    fn changed_bitmap_reports_each_domain_once() {
        let mut m = HypervisorModel::new(Semantics::GetDomainState421);
        let a = m.create(DomId(2));
        assert_eq!(m.next_changed_domain(), ChangedDomain::Done, "no bitmap before the bind");
        m.create(DomId(1));
        m.bind_virq();
        let ChangedDomain::Changed(DomId(1), _) = m.next_changed_domain() else { panic!() };
        let ChangedDomain::Changed(DomId(2), i) = m.next_changed_domain() else { panic!() };
        assert_eq!(i.unique_id, Some(a));
        assert_eq!(m.next_changed_domain(), ChangedDomain::Done);
        m.destroy(DomId(2));
        assert_eq!(m.next_changed_domain(), ChangedDomain::Changed(DomId(2), DomainInfo::GONE));
        let b = m.create(DomId(2));
        assert_ne!(a, b, "unique ids never repeat");
        let ChangedDomain::Changed(DomId(2), i) = m.next_changed_domain() else { panic!() };
        assert_eq!(i.unique_id, Some(b));
    }

    #[test]
    fn rings_map_for_existing_domains_only() {
        let mut m = HypervisorModel::new(Semantics::GetDomainState421);
        m.create(DomId(5));
        m.create(DomId(6));
        m.fail_map(DomId(6));
        let ring = |conn, domid, port, features| MapRequest {
            conn: ConnId(conn),
            domid: DomId(domid),
            gfn: 0,
            port,
            features,
            reset: false,
        };
        assert!(m.map_ring(ring(1, 5, 0, 7)).is_ok());
        assert_eq!(
            m.mapping_of(DomId(5)),
            Some((ConnId(1), Mapping { domid: DomId(5), port: 105, features: 7, reset: false }))
        );
        assert!(m.map_ring(ring(2, 6, 9, 0)).is_err());
        assert!(m.map_ring(ring(3, 8, 9, 0)).is_err());
        m.unmap_ring(ConnId(1));
        assert_eq!(m.unmap_count(ConnId(1)), 1);
        assert!(m.mapped.is_empty());
    }
}
