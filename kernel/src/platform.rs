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

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;

use ring::page::RingPage;
use ring::wire::XENSTORE_CONNECTED;
use store::{
    ChangedDomain, ConnId, DomId, DomainInfo, LuArch, MapError, MapRequest, Platform, RestoreRing,
    RingPlatform,
};

use crate::abi::grant_table::{GrantHandle, GNTTAB_RESERVED_XENSTORE};
use crate::domctl::DomainQuery;
use crate::handover::record::RingState;
use crate::memmap::MAX_MAPPED_RINGS;
use crate::window::{Slot, Window};
use crate::{evtchn, gnttab};

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
            adopted: BTreeMap::new(),
        }
    }

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

    /// Appends the connections whose ring is mapped.
    pub fn ring_conns(&self, out: &mut Vec<ConnId>) {
        out.extend(self.conns.keys().copied());
    }

    /// Moves the connections mapped since the last call into `out`.
    pub fn take_fresh(&mut self, out: &mut Vec<ConnId>) {
        out.append(&mut self.fresh);
    }

    /// Moves the connections unmapped since the last call into `out`.
    pub fn take_unmapped(&mut self, out: &mut Vec<ConnId>) {
        out.append(&mut self.unmapped);
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

impl Platform for XenPlatform {
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        let MapRequest { conn, domid, port, features, .. } = ring;
        if self.conns.len() as u64 >= MAX_MAPPED_RINGS || self.conns.contains_key(&conn) {
            log::warn!("cannot map the ring of domain {}: ring limit reached", domid.0);
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
                self.window.free(slot);
                return Err(MapError);
            }
        };
        // SAFETY: `gpa` now holds the guest's 4 KiB ring page, identity-mapped
        // by the page tables until `unmap_ring` drops this `RingPage` before
        // unmapping; no reference to it is ever created.
        let page = unsafe { RingPage::new(NonNull::new(gpa as *mut u8).ok_or(MapError)?) };
        // Port 0: the start-up introduction of Xen 4.21+, where Xen or the
        // toolstack wrote the guest's port into the page.
        let port = if port == 0 { page.evtchn_port() } else { port };
        let bound = if port == 0 {
            log::warn!("domain {} has no event channel in its ring page", domid.0);
            None
        } else {
            evtchn::bind_interdomain(domid.0, port)
                .map_err(|e| log::warn!("cannot bind port {} of domain {}: {}", port, domid.0, e))
                .ok()
        };
        let Some(local) = bound else {
            // SAFETY: `page` is not used on this path any more; the slot is
            // freed after the unmap.
            let _ = unsafe { gnttab::unmap(gpa, handle) };
            self.window.free(slot);
            return Err(MapError);
        };
        page.set_server_features(features);
        page.set_connection(XENSTORE_CONNECTED);
        log::info!("domain {} ring mapped, port {} (remote {})", domid.0, local, port);
        self.conns.insert(conn, RingConn { domid: domid.0, port: local, page, slot, handle });
        self.ports.insert(local, conn);
        self.fresh.push(conn);
        let _ = evtchn::send(local);
        Ok(())
    }

    fn restore_ring(&mut self, ring: RestoreRing) -> Result<(), MapError> {
        let RestoreRing { conn, domid, port } = ring;
        let r = self.adopted.remove(&conn).ok_or(MapError)?;
        if r.domid != domid.0 || r.port != port || self.conns.contains_key(&conn) {
            log::warn!("domain {} ring: the stream and the hand-over disagree", domid.0);
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
    }

    fn domain_info(&mut self, domid: DomId) -> DomainInfo {
        self.query.info(domid.0)
    }

    fn next_changed_domain(&mut self) -> ChangedDomain {
        self.query.next_changed()
    }

    /// The new kernel comes through the protocol (`-b`, `-d`), as to C's
    /// Mini-OS stub ([`crate::handover`]).
    fn live_update_arch(&mut self, args: &[&str]) -> LuArch {
        store::image_arch(args)
    }
}
