//! `store::Platform` on Xen: a guest's ring is its grant ref 1 mapped into
//! a window slot, plus an interdomain event channel; liveness comes from
//! `XEN_DOMCTL_getdomaininfo`.
//!
//! As C xenstored (`domain.c`, MiniOS build), the `gfn` of `XS_INTRODUCE`
//! is ignored: the ABI reserves grant entry 1 of every guest for its
//! xenstore page, granted to the xenstore domain by the toolstack (for dom0,
//! by dom0's kernel in `IOCTL_XENBUS_BACKEND_SETUP`). After mapping, the
//! server writes `server_features`, marks the ring connected and notifies
//! the guest, as C xenstored 4.21+ does on introduction (a page that still
//! says `XENSTORE_RECONNECT`, as dom0less guests' pages do, is switched to
//! connected the same way).
//!
//! A start-up introduction (port 0, Xen 4.21+) finds the guest's store
//! port in the page's `evtchn_port`, or, as Xen 4.21 and 4.22 leave that
//! 0, in the guest's `HVM_PARAM_STORE_EVTCHN` (readable with the control
//! capability). On a dom0less system ([`XenPlatform::dom0less`]) a
//! xenstore domain without it probes instead: Xen allocated the store
//! channel unbound with its remote end at us, so binding the guest's
//! ports 1 to [`STORE_PORT_PROBE`] finds it (the first one Xen lets us
//! bind). There the platform also answers [`Platform::home_info`], so the
//! engine writes the guests' homes.
//!
//! Memory: mapping a ring is the one place that grows this state. It runs
//! inside a request the engine admitted with its headroom
//! (`store::budget::REQUEST_HEADROOM`: the privileged domain's
//! `XS_INTRODUCE`, or dom0's own introduction at start), which covers the
//! two map nodes it may add; the lists the main loop drains are grown
//! fallibly before anything is mapped, with room for every mapped ring's
//! eventual unmapping, so that an unmap (on `VIRQ_DOM_EXC`, outside any
//! request) never allocates and a map that cannot get memory is refused
//! with [`MapError`] (the introduction is answered with an error). The
//! store port found for [`Platform::home_info`] waits in one slot until
//! the ring is mapped, right after.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;

use ring::page::RingPage;
use ring::wire::XENSTORE_CONNECTED;
#[cfg(target_arch = "aarch64")]
use store::HomeInfo;
use store::{
    ChangedDomain, ConnId, DomId, DomainInfo, MapError, MapRequest, Platform, RingPlatform,
};
#[cfg(not(target_arch = "aarch64"))]
use store::{LuArch, RestoreRing};

use crate::abi::grant_table::{GrantHandle, GNTST_PERMISSION_DENIED, GNTTAB_RESERVED_XENSTORE};
use crate::abi::hvm::HVM_PARAM_STORE_EVTCHN;
use crate::domctl::DomainQuery;
use crate::fallible::move_all;
use crate::gnttab::GrantError;
#[cfg(not(target_arch = "aarch64"))]
use crate::handover::record::RingState;
use crate::memmap::MAX_MAPPED_RINGS;
use crate::reap::Reaper;
use crate::window::{Slot, Window};
use crate::{evtchn, gnttab, xen};

/// How many of a guest's ports a dom0less xenstore domain tries to bind
/// when nothing tells it the store port (Xen allocates it among the
/// domain's first).
pub const STORE_PORT_PROBE: u32 = 8;
/// The store page's frame in a dom0less guest when `HVM_PARAM_STORE_PFN`
/// cannot be read: `GUEST_MAGIC_BASE` plus `XENSTORE_PFN_OFFSET` pages
/// (`public/arch-arm.h`, `dom0less-build.c`).
pub const DOM0LESS_STORE_PFN: u64 = 0x3900_0000 / 4096 + 1;

/// One served guest ring.
pub struct RingConn {
    /// The guest.
    pub domid: u16,
    /// Our end of its event channel.
    pub port: u32,
    /// The mapped page.
    pub page: RingPage,
    /// Where the page is mapped.
    slot: Slot,
    /// The grant handle for the unmap.
    handle: GrantHandle,
}

/// The Xen platform state: mapped rings and the port → connection map.
pub struct XenPlatform {
    /// Slots for ring pages.
    window: Window,
    /// How domains are looked up on the running hypervisor.
    query: DomainQuery,
    /// Mapped rings.
    conns: BTreeMap<ConnId, RingConn>,
    /// Our local ports of the rings.
    ports: BTreeMap<u32, ConnId>,
    /// Rings mapped since the main loop last looked.
    fresh: Vec<ConnId>,
    /// Rings unmapped since the main loop last looked.
    unmapped: Vec<ConnId>,
    /// A dom0less system: probe for store ports, answer `home_info` (with
    /// this domctl interface version for `getdomaininfo`).
    dom0less: Option<u32>,
    /// The store port [`Platform::home_info`] found for the domain it is
    /// about to introduce: (domid, remote, local if a probe bound it). One
    /// slot: the engine introduces each domain right after writing its
    /// home.
    found_port: Option<(u16, u32, Option<u32>)>,
    /// `--on-shutdown destroy`: destroys domains that shut down for good.
    reaper: Option<Reaper>,
    #[cfg(not(target_arch = "aarch64"))]
    /// Rings the previous kernel handed over that the engine has not
    /// restored yet (live update).
    adopted: BTreeMap<ConnId, RingState>,
}

impl XenPlatform {
    /// A platform mapping rings into `window`.
    pub fn new(window: Window, query: DomainQuery) -> XenPlatform {
        XenPlatform {
            window,
            query,
            conns: BTreeMap::new(),
            ports: BTreeMap::new(),
            fresh: Vec::new(),
            unmapped: Vec::new(),
            dom0less: None,
            found_port: None,
            reaper: None,
            #[cfg(not(target_arch = "aarch64"))]
            adopted: BTreeMap::new(),
        }
    }

    /// The platform of a dom0less system's xenstore domain (see the module
    /// documentation); `iface` is the domctl interface version.
    pub fn dom0less(mut self, iface: u32) -> XenPlatform {
        self.dom0less = Some(iface);
        self
    }

    /// Destroys the domains that shut down for good (see [`crate::reap`]);
    /// `iface` is the domctl interface version.
    pub fn destroy_on_shutdown(mut self, iface: u32) -> XenPlatform {
        self.reaper = Some(Reaper::new(iface));
        self
    }

    /// Finds `domid`'s store port when the introduction did not name it:
    /// its `HVM_PARAM_STORE_EVTCHN`, else (dom0less) a probe that leaves
    /// the port bound. Returns (remote, local if bound).
    fn find_store_port(&mut self, domid: u16) -> Option<(u32, Option<u32>)> {
        if let Some((d, remote, local)) = self.found_port {
            if d == domid {
                return Some((remote, local));
            }
        }
        let param = xen::hvm_get_param_of(domid, HVM_PARAM_STORE_EVTCHN)
            .map_err(|e| log::debug!("HVM_PARAM_STORE_EVTCHN of domain {}: {}", domid, e))
            .ok()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p != 0);
        let found = match param {
            Some(p) => (p, None),
            None if self.dom0less.is_some() => {
                let probe = (1..=STORE_PORT_PROBE)
                    .find_map(|p| evtchn::bind_interdomain(domid, p).ok().map(|l| (p, Some(l))));
                if probe.is_none() {
                    log::warn!("no port of domain {} up to {} is for us", domid, STORE_PORT_PROBE);
                }
                probe?
            }
            None => return None,
        };
        self.found_port = Some((domid, found.0, found.1));
        Some(found)
    }

    /// The connection served on local `port`.
    pub fn conn_of_port(&self, port: u32) -> Option<ConnId> {
        self.ports.get(&port).copied()
    }

    /// The ring of `conn`.
    pub fn ring(&self, conn: ConnId) -> Option<&RingConn> {
        self.conns.get(&conn)
    }

    /// Signals the guest of `conn`, if its ring is mapped.
    pub fn notify(&self, conn: ConnId) {
        if let Some(rc) = self.conns.get(&conn) {
            let _ = evtchn::send(rc.port);
        }
    }

    /// Appends the connections whose ring is mapped; false (and nothing
    /// appended) if `out` cannot grow to hold them.
    pub fn ring_conns(&self, out: &mut Vec<ConnId>) -> bool {
        if out.try_reserve(self.conns.len()).is_err() {
            return false;
        }
        out.extend(self.conns.keys().copied());
        true
    }

    /// Moves the connections mapped since the last call into `out` (they
    /// stay for the next call if `out` cannot grow).
    pub fn take_fresh(&mut self, out: &mut Vec<ConnId>) {
        move_all(&mut self.fresh, out);
    }

    /// Moves the connections unmapped since the last call into `out`
    /// (they stay for the next call if `out` cannot grow).
    pub fn take_unmapped(&mut self, out: &mut Vec<ConnId>) {
        move_all(&mut self.unmapped, out);
    }

    /// Grows the lists the main loop drains so that mapping one more ring,
    /// and later unmapping every mapped ring, pushes without allocating.
    fn reserve_for_map(&mut self) -> Result<(), MapError> {
        let rings = self.conns.len().saturating_add(1);
        self.fresh.try_reserve(1).map_err(|_| MapError)?;
        self.unmapped.try_reserve(rings).map_err(|_| MapError)
    }

    /// Our ports of the mapped rings.
    pub fn ports(&self) -> impl Iterator<Item = u32> + '_ {
        self.ports.keys().copied()
    }

    /// Number of mapped rings.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no ring is mapped.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

impl RingPlatform for XenPlatform {
    fn ring_page(&self, conn: ConnId) -> Option<&RingPage> {
        self.conns.get(&conn).map(|rc| &rc.page)
    }
}

/// Live update (x86: the hand-over of [`crate::handover`]).
#[cfg(not(target_arch = "aarch64"))]
impl XenPlatform {
    /// The mapped rings as a live update hands them over.
    pub fn handover_rings(&self) -> Vec<RingState> {
        let state = |(conn, rc): (&ConnId, &RingConn)| RingState {
            conn: conn.0,
            port: rc.port,
            domid: rc.domid,
            handle: rc.handle,
            gpa: self.window.addr(rc.slot),
        };
        self.conns.iter().map(state).collect()
    }

    /// Keeps the rings a previous kernel handed over, for
    /// [`Platform::restore_ring`] to take.
    pub fn adopt(&mut self, rings: &[RingState]) {
        self.adopted.extend(rings.iter().map(|r| (ConnId(r.conn), *r)));
    }

    /// Unmaps and closes the handed-over rings the engine did not
    /// restore (rings it had stopped serving: they are dumped without a
    /// port, and their domains are kept, ignored, until they die).
    pub fn release_unadopted(&mut self) {
        for (_, r) in core::mem::take(&mut self.adopted) {
            let _ = evtchn::close(r.port);
            // SAFETY: the page at `r.gpa` was mapped by the previous
            // kernel under `r.handle`; no `RingPage` of ours covers it.
            if let Err(e) = unsafe { gnttab::unmap(r.gpa, r.handle) } {
                log::warn!("cannot unmap the ring of domain {}: {:?}", r.domid, e);
            }
            log::info!("domain {} ring not taken over: unmapped", r.domid);
        }
    }
}

impl Platform for XenPlatform {
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        let MapRequest { conn, domid, port, features, reset, .. } = ring;
        if self.conns.len() as u64 >= MAX_MAPPED_RINGS || self.conns.contains_key(&conn) {
            log::warn!("cannot map the ring of domain {}: ring limit reached", domid.0);
            return Err(MapError);
        }
        if self.reserve_for_map().is_err() {
            log::warn!("cannot map the ring of domain {}: out of memory", domid.0);
            return Err(MapError);
        }
        let slot = self.window.alloc().ok_or(MapError)?;
        let gpa = self.window.addr(slot);
        // SAFETY: `gpa` is a free slot of the hole window, used by nothing
        // else until the matching unmap in `unmap_ring`.
        let handle = match unsafe { gnttab::map(domid.0, GNTTAB_RESERVED_XENSTORE, gpa) } {
            Ok(h) => h,
            Err(e) => {
                log::warn!("cannot grant-map the ring of domain {}: {:?}", domid.0, e);
                if self.dom0less.is_some() && e == GrantError::Status(GNTST_PERMISSION_DENIED) {
                    log::error!("XSM refuses the grant map: under XSM SILO a dom0less xenstore domain needs `capabilities = <0x5>` (xenstore + control), or Xen booted with xsm=dummy");
                }
                self.window.free(slot);
                return Err(MapError);
            }
        };
        // SAFETY: `gpa` now holds the guest's 4 KiB ring page, identity-mapped
        // by the page tables until `unmap_ring` drops this `RingPage` before
        // unmapping; no reference to it is ever created.
        let page = unsafe { RingPage::new(NonNull::new(gpa as *mut u8).ok_or(MapError)?) };
        // Port 0: the start-up introduction of Xen 4.21+, where Xen or the
        // toolstack wrote the guest's port into the page, or where it has
        // to be found (see the module documentation).
        let known = if port == 0 { page.evtchn_port() } else { port };
        let found = if known == 0 { self.find_store_port(domid.0) } else { Some((known, None)) };
        self.found_port = None;
        let bound = match found {
            None => {
                log::warn!("domain {} has no store event channel we can find", domid.0);
                None
            }
            Some((port, Some(local))) => Some((port, local)),
            Some((port, None)) => evtchn::bind_interdomain(domid.0, port)
                .map_err(|e| log::warn!("cannot bind port {} of domain {}: {}", port, domid.0, e))
                .ok()
                .map(|local| (port, local)),
        };
        let Some((port, local)) = bound else {
            // SAFETY: `page` is not used on this path any more; the slot is
            // freed after the unmap.
            let _ = unsafe { gnttab::unmap(gpa, handle) };
            self.window.free(slot);
            return Err(MapError);
        };
        if reset {
            page.reset_indices();
        }
        page.set_server_features(features);
        page.set_connection(XENSTORE_CONNECTED);
        log::info!("domain {} ring mapped, port {} (remote {})", domid.0, local, port);
        self.conns.insert(conn, RingConn { domid: domid.0, port: local, page, slot, handle });
        self.ports.insert(local, conn);
        self.fresh.push(conn);
        let _ = evtchn::send(local);
        Ok(())
    }

    #[cfg(not(target_arch = "aarch64"))]
    fn restore_ring(&mut self, ring: RestoreRing) -> Result<(), MapError> {
        let RestoreRing { conn, domid, port } = ring;
        let r = self.adopted.remove(&conn).ok_or(MapError)?;
        if r.domid != domid.0 || r.port != port || self.conns.contains_key(&conn) {
            log::warn!("domain {} ring: the stream and the hand-over disagree", domid.0);
            self.adopted.insert(conn, r);
            return Err(MapError);
        }
        if self.reserve_for_map().is_err() {
            log::warn!("domain {} ring: no memory to take it over", domid.0);
            self.adopted.insert(conn, r);
            return Err(MapError);
        }
        let Some(slot) = self.window.claim(r.gpa) else {
            log::warn!("domain {} ring at {:#x}: not a free window slot", domid.0, r.gpa);
            self.adopted.insert(conn, r);
            return Err(MapError);
        };
        // SAFETY: the previous kernel grant-mapped the guest's ring page
        // at `r.gpa`, now our claimed slot, identity-mapped; the mapping
        // lasts until `unmap_ring` drops this `RingPage` and unmaps.
        let page = unsafe { RingPage::new(NonNull::new(r.gpa as *mut u8).ok_or(MapError)?) };
        log::info!("domain {} ring taken over, port {}", domid.0, port);
        self.conns.insert(conn, RingConn { domid: domid.0, port, page, slot, handle: r.handle });
        self.ports.insert(port, conn);
        self.fresh.push(conn);
        Ok(())
    }

    fn unmap_ring(&mut self, conn: ConnId) {
        let Some(rc) = self.conns.remove(&conn) else { return };
        self.ports.remove(&rc.port);
        // Within the capacity `reserve_for_map` set aside: no allocation.
        self.unmapped.push(conn);
        let _ = evtchn::close(rc.port);
        // Consuming `rc` ends the `RingPage` over the page before the unmap.
        let RingConn { slot, handle, domid, .. } = rc;
        let gpa = self.window.addr(slot);
        // SAFETY: the `RingPage` over `gpa` was consumed just above, so
        // nothing accesses the page any more.
        match unsafe { gnttab::unmap(gpa, handle) } {
            Ok(()) => self.window.free(slot),
            // A slot whose unmap failed stays in use: mapping over it again
            // could not work.
            Err(e) => log::warn!("cannot unmap the ring of domain {}: {:?}", domid, e),
        }
        log::info!("domain {} ring unmapped", domid);
        if let Some(r) = self.reaper.as_mut() {
            r.released(domid, self.query);
        }
    }

    fn domain_info(&mut self, domid: DomId) -> DomainInfo {
        self.query.info(domid.0)
    }

    fn next_changed_domain(&mut self) -> ChangedDomain {
        let Some(r) = self.reaper.as_mut() else { return self.query.next_changed() };
        // The shut-down domain the engine saw in the last report: Xen
        // reports it again, dead, in this poll.
        r.destroy_pending();
        let changed = self.query.next_changed();
        if let ChangedDomain::Changed(domid, info) = &changed {
            r.seen(*domid, info);
        }
        changed
    }

    // Dom0less systems exist on Arm only; elsewhere the default (no home)
    // keeps the home writer out of the image.
    #[cfg(target_arch = "aarch64")]
    fn home_info(&mut self, domid: DomId) -> Option<HomeInfo> {
        let iface = self.dom0less?;
        let (store_port, _) = self.find_store_port(domid.0)?;
        let ring_ref = xen::hvm_get_param_of(domid.0, crate::abi::hvm::HVM_PARAM_STORE_PFN)
            .ok()
            .filter(|&p| p != 0)
            .unwrap_or(DOM0LESS_STORE_PFN);
        // vCPUs and memory need the control capability; without it the
        // home says one vCPU and no memory sizes.
        let info = crate::domctl::getdomaininfo(iface, domid.0)
            .map_err(|e| log::debug!("getdomaininfo({}): {}", domid.0, e))
            .ok()
            .filter(|i| i.domain == domid.0);
        let kib = |pages: u64| pages.saturating_mul(crate::memmap::PAGE_SIZE / 1024);
        Some(HomeInfo {
            store_port,
            ring_ref,
            vcpus: info.map_or(1, |i| i.max_vcpu_id.saturating_add(1)),
            max_memkb: info.map(|i| kib(i.max_pages)),
            target_memkb: info.map(|i| kib(i.tot_pages)),
        })
    }

    /// The new kernel comes through the protocol (`-b`, `-d`), as to C's
    /// Mini-OS stub ([`crate::handover`]). Arm has no hand-over yet: the
    /// default refuses.
    #[cfg(not(target_arch = "aarch64"))]
    fn live_update_arch(&mut self, args: &[&str]) -> LuArch {
        store::image_arch(args)
    }
}
