//! Domain lifecycle: introduction, start-up enumeration, the reaction to
//! `VIRQ_DOM_EXC`, and the clean-up of a domain that is gone.
//!
//! Facts from the hypervisor (xen-abi §5, C 4.22 `domain.c`):
//!
//! - Up to Xen 4.20 the only per-domain query is `XEN_DOMCTL_getdomaininfo`,
//!   and `VIRQ_DOM_EXC` does not say which domain changed, so every known
//!   domain is asked again ([`Platform::domain_info`], O(known domains)).
//! - Xen 4.21+ keeps a changed-domain bitmap that
//!   `XEN_DOMCTL_get_domain_state(DOMID_INVALID)` drains one domain at a
//!   time ([`Platform::next_changed_domain`]): only those domains are
//!   looked at (O(changed)). Binding `VIRQ_DOM_EXC` marks every existing
//!   domain, which [`Engine::start_domains`] uses to enumerate them.
//! - 4.21+ also gives each domain a `unique_id` that Xen never hands out
//!   twice in a boot, even when a domid is reused.
//!
//! Rules, for each domain looked at that has a record here:
//!
//! 1. The `unique_id` seen first is remembered (at introduction, or on the
//!    first report). A different `unique_id` for the same domid means the
//!    domain we knew died and a new one took its domid: the old one is
//!    cleaned up as dead before anything else, and the new one starts with
//!    nothing (the toolstack introduces it as usual).
//! 2. The first observed shutdown of an introduced domain fires
//!    `@releaseDomain/<domid>` once, and `@releaseDomain` once per check.
//!    `XS_RESUME` or a new introduction re-arms it.
//! 3. A domain that is dying, dead or gone is cleaned up: its ring is
//!    unmapped (once), its connection with watches, transactions and queued
//!    output dropped, its nodes deleted wherever they are (XSA-419; with
//!    `keep_orphans` they are handed to the privileged domain), its entries
//!    removed from every ACL (XSA-417), and its record with all quota usage
//!    forgotten (XSA-483). An introduced domain then fires `@releaseDomain`
//!    and `@releaseDomain/<domid>`. A connection ignored for a protocol
//!    violation keeps its record until this point (XSA-325).
//! 4. The privileged domain is never cleaned up this way: the store would
//!    lose the nodes the whole system relies on (deliberate: C would).

use alloc::string::String;
use alloc::vec::Vec;

use ring::wire::XsError;

use crate::engine::{ChangedDomain, DomainInfo, DomainState, Engine, MapRequest, Platform};
use crate::error::Error;
use crate::ids::{ConnId, DomId};
use crate::path;
use crate::perms::{Perm, Who, PERM_ACC_BYTES};
use crate::quota::{delta, Quota};
use crate::request::Req;

/// Most changed-domain reports handled in one [`Engine::check_domains`] or
/// [`Engine::start_domains`]: Xen reports each of at most 32 752 domids
/// once per change, so twice that is only reached by a misbehaving
/// platform, which must not keep the engine looping.
pub const MAX_CHANGED_PER_CHECK: usize = 65_536;

/// Paths the engine creates at start (`setup_structure`), owned by the
/// privileged domain.
pub(crate) const INITIAL_NODES: [&str; 5] =
    ["/", "/tool", "/tool/xenstored", "@releaseDomain", "@introduceDomain"];

/// The roots of the tree: `/` and the special nodes.
const ROOTS: [&str; 3] = ["/", "@releaseDomain", "@introduceDomain"];

/// What [`Engine::start_domains`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartReport {
    /// Whether the platform could enumerate domains (Xen 4.21+).
    pub enumerated: bool,
    /// The domains introduced, in order.
    pub introduced: Vec<DomId>,
    /// The domains whose ring could not be mapped.
    pub failed: Vec<DomId>,
}

impl Engine {
    /// Introduces `domid`'s ring (platform-initiated, e.g. dom0 at start).
    pub fn introduce<P: Platform>(
        &mut self,
        domid: DomId,
        gfn: u64,
        port: u32,
        platform: &mut P,
    ) -> Result<ConnId, XsError> {
        if port == 0 {
            return Err(XsError::Inval);
        }
        self.introduce_dyn(domid, gfn, port, platform).map_err(Error::xs)
    }

    /// Introduces `domid` (`XS_INTRODUCE`, [`Engine::introduce`] or start-up
    /// enumeration with `port` 0). A second introduction of a live domain
    /// remaps its ring with its indices zeroed and resets its connection
    /// (C rebinds the channel and resets the ring and the connection).
    pub(crate) fn introduce_dyn(
        &mut self,
        domid: DomId,
        gfn: u64,
        port: u32,
        platform: &mut dyn Platform,
    ) -> Result<ConnId, Error> {
        let unique_id = platform.domain_info(domid).unique_id;
        if self.reused(domid, unique_id) {
            // The record belongs to a previous domain with this domid.
            self.release_domain(domid, platform);
        }
        let features = self.page_features(domid);
        let request = |conn, reset| MapRequest { conn, domid, gfn, port, features, reset };
        let existing = self.domain(domid).filter(|d| d.introduced).and_then(|d| d.conn);
        if let Some(conn) = existing {
            if self.domain(domid).is_some_and(|d| d.ring_mapped) {
                platform.unmap_ring(conn);
            }
            let mapped = platform.map_ring(request(conn, true)).is_ok();
            if let Some(d) = self.domain_mut(domid) {
                d.ring_mapped = mapped;
            }
            if !mapped {
                // The domain keeps its record and nodes until it dies, but
                // without a ring it cannot be served.
                self.ignore(conn);
                return Err(Error::Io);
            }
            self.reset_connection(conn);
            return Ok(conn);
        }
        let conn = self.alloc_conn(domid, false);
        if platform.map_ring(request(conn, false)).is_err() {
            self.remove_conn(conn);
            return Err(Error::Io);
        }
        let d = self.domain_or_create(domid);
        d.introduced = true;
        d.ring_mapped = true;
        d.shutdown = false;
        d.conn = Some(conn);
        if d.unique_id.is_none() {
            d.unique_id = unique_id;
        }
        self.wrl_domain_new(domid);
        if !self.is_privileged(domid) {
            self.fire_special("@introduceDomain", domid, true, true);
        }
        Ok(conn)
    }

    /// Whether `unique_id` shows that `domid`'s record belongs to an earlier
    /// domain with the same domid.
    fn reused(&self, domid: DomId, unique_id: Option<u64>) -> bool {
        let known = self.domain(domid).and_then(|d| d.unique_id);
        matches!((known, unique_id), (Some(old), Some(new)) if old != new)
    }

    /// Enumerates the domains that exist when the store starts (Xen 4.21+;
    /// call once, after `VIRQ_DOM_EXC` is bound and before any socket
    /// client connects). It learns the privileged domain from `CAP_CONTROL`
    /// (the first one found, unless [`Config::discover_priv_domid`] is off)
    /// and the store domain from `CAP_XENSTORE` (the last one found), then
    /// introduces the privileged domain and every other existing domain
    /// except the store domain (unless it is the privileged one, as when no
    /// domain has `CAP_XENSTORE`) and those already introduced, reading each
    /// event channel from its ring page (gfn 0, port 0). A failed mapping is
    /// logged and skipped. Before 4.21 nothing happens: the toolstack
    /// introduces domains.
    ///
    /// [`Config::discover_priv_domid`]: crate::Config::discover_priv_domid
    pub fn start_domains<P: Platform>(&mut self, platform: &mut P) -> StartReport {
        let mut report = StartReport::default();
        let mut found: Vec<(DomId, DomainInfo)> = Vec::new();
        let mut control: Option<DomId> = None;
        for _ in 0..MAX_CHANGED_PER_CHECK {
            match platform.next_changed_domain() {
                ChangedDomain::Unsupported => return report,
                ChangedDomain::Done => break,
                ChangedDomain::Changed(domid, info) => {
                    report.enumerated = true;
                    if !info.exists() {
                        continue;
                    }
                    if info.caps.control && control.is_none() {
                        control = Some(domid);
                    }
                    if info.caps.xenstore {
                        self.cfg.store_domid = domid;
                    }
                    found.push((domid, info));
                }
            }
        }
        if let Some(domid) = control.filter(|_| self.cfg.discover_priv_domid) {
            self.set_priv_domid(domid);
        }
        // The privileged domain first, as C does, so that its records exist
        // before any other introduction fires `@introduceDomain`.
        let priv_id = self.cfg.priv_domid;
        found.sort_by_key(|(d, _)| (*d != priv_id, d.0));
        for (domid, info) in found {
            let already = self.domain(domid).is_some_and(|d| d.introduced);
            // The store domain has no ring of its own to serve, even when
            // it is also the control domain (a dom0less xenstore domain
            // with `capabilities = <0x5>`).
            let ourselves =
                info.caps.xenstore || (domid == self.cfg.store_domid && domid != priv_id);
            if ourselves || already {
                continue;
            }
            // Without a toolstack the store writes the domain's home, before
            // the ring is connected, so the guest finds it on its first
            // request.
            if let Some(home) = platform.home_info(domid) {
                let now = self.now_ms;
                if let Err(e) = self.write_home(domid, &home, now, platform) {
                    log::warn!("cannot write the home of domain {}: {:?}", domid.0, e);
                }
            }
            match self.introduce_dyn(domid, 0, 0, platform) {
                Ok(_) => report.introduced.push(domid),
                Err(_) => {
                    log::warn!("cannot introduce existing domain {} at start", domid.0);
                    report.failed.push(domid);
                }
            }
        }
        report
    }

    /// Makes `domid` the privileged domain, handing it the nodes of the
    /// initial structure that the previous one owned.
    fn set_priv_domid(&mut self, domid: DomId) {
        let old = self.cfg.priv_domid;
        if old == domid {
            return;
        }
        log::info!("privileged domain is {} (CAP_CONTROL)", domid.0);
        self.cfg.priv_domid = domid;
        for p in INITIAL_NODES {
            let Some(n) = self.tree.get(p) else { continue };
            if n.owner_dom() != old {
                continue;
            }
            let perms = reowned(n.perms, u32::from(domid.0), None);
            self.tree_set_perms(p, perms.into());
        }
    }

    /// Reacts to `VIRQ_DOM_EXC`: reports shutdowns and cleans up domains
    /// that are gone (rules in the module documentation).
    pub fn check_domains<P: Platform>(&mut self, now_ms: u64, platform: &mut P) {
        self.now_ms = now_ms;
        let mut notify = false;
        let mut first = platform.next_changed_domain();
        if first == ChangedDomain::Unsupported {
            let ids: Vec<DomId> = self.domains.values().map(|d| d.domid).collect();
            for domid in ids {
                let info = platform.domain_info(domid);
                self.check_domain(domid, info, &mut notify, platform);
            }
        } else {
            for _ in 0..MAX_CHANGED_PER_CHECK {
                let ChangedDomain::Changed(domid, info) = first else { break };
                self.check_domain(domid, info, &mut notify, platform);
                first = platform.next_changed_domain();
            }
        }
        if notify {
            self.fire_special("@releaseDomain", DomId(0), true, false);
        }
    }

    /// Applies the lifecycle rules to one domain.
    fn check_domain(
        &mut self,
        domid: DomId,
        info: DomainInfo,
        notify: &mut bool,
        platform: &mut dyn Platform,
    ) {
        if self.is_privileged(domid) {
            return;
        }
        let reused = self.reused(domid, info.unique_id);
        let Some(d) = self.domain_mut(domid) else { return };
        let introduced = d.introduced;
        let dead = reused
            || matches!(info.state, DomainState::Gone | DomainState::Dying | DomainState::Dead);
        if dead {
            self.release_domain(domid, platform);
            if introduced {
                // The release fired `@releaseDomain` itself.
                *notify = false;
            }
            return;
        }
        d.unique_id = d.unique_id.or(info.unique_id);
        if info.state == DomainState::Shutdown && introduced && !d.shutdown {
            d.shutdown = true;
            *notify = true;
            log::info!("domain {} shut down: @releaseDomain", domid.0);
            self.fire_special("@releaseDomain", domid, false, true);
        }
    }

    /// Forgets a domain: connection, watches, transactions, nodes, ACL
    /// entries and usage; fires `@releaseDomain` if it was introduced (C
    /// `destroy_domain`).
    pub(crate) fn release_domain(&mut self, domid: DomId, platform: &mut dyn Platform) {
        let (conn, mapped) = self.domain(domid).map_or((None, false), |d| (d.conn, d.ring_mapped));
        if let Some(c) = conn {
            self.clear_conn_state(c);
            self.remove_conn(c);
            if mapped {
                platform.unmap_ring(c);
            }
        }
        self.domain_tree_remove(domid);
        let introduced = self.domain(domid).is_some_and(|d| d.introduced);
        self.wrl_domain_destroy(domid);
        self.domains.remove(&domid.0);
        // Its requests whose watch events still wait on other connections
        // are forgotten with it, so delivering those events later neither
        // recreates its record nor credits a new domain with its domid.
        self.pending.retain(|_, p| p.domid != domid);
        // Drop any SET_TARGET link to the dead domain.
        for c in self.conns.values_mut() {
            if c.target == Some(domid) {
                c.target = None;
            }
        }
        if introduced {
            self.fire_special("@releaseDomain", domid, true, true);
        }
    }

    /// Deletes (or hands over) the nodes `domid` owns and removes its
    /// entries from every ACL, with the outcome of C 4.22's
    /// `domain_tree_remove`, which walks the whole tree. Here the cost is
    /// what the domain has: its nodes are found through the tree's owners
    /// index ([`Tree::owned_tops`]: the nodes it owns under a parent it
    /// does not, met in the order C's walk meets them) and removed there
    /// with their subtrees, and its entries in other domains' ACLs are
    /// removed from the interned permission lists, every node using a list
    /// at once, its owner refunded for each. The whole tree is walked only
    /// when the domain owns a root (only the privileged domain can give it
    /// one), or if a list it owns is left afterwards (logged: the index
    /// missed a node).
    ///
    /// When the domain owns a root, the walk of the whole tree only
    /// removes what it owns and hands the root over once the root's
    /// children are done; the ACLs are then cleaned in the interned lists
    /// as above. Changing ACLs node by node as a walk meets them (what
    /// `walk_deaths` keeps, as the reference the tests compare with) gives
    /// every child that shares its parent's list a list of its own first,
    /// a bigger record in a new place: a whole tree's worth of records
    /// allocated at once, by a domain's death, which cannot be refused.
    ///
    /// [`Tree::owned_tops`]: crate::tree::Tree::owned_tops
    fn domain_tree_remove(&mut self, domid: DomId) {
        if self.walk_deaths {
            self.walk_remove_all(domid, AclFix::AsMet);
            return;
        }
        let owns_root =
            ROOTS.iter().any(|r| self.tree.get(r).is_some_and(|n| n.owner_dom() == domid));
        if owns_root {
            // Kept orphans are handed over one by one, as met.
            let acl = if self.cfg.keep_orphans { AclFix::AsMet } else { AclFix::Roots };
            self.walk_remove_all(domid, acl);
        } else {
            for top in self.tree.owned_tops(domid) {
                // An earlier one's subtree may have held it.
                if self.tree.get(&top).is_some_and(|n| n.owner_dom() == domid) {
                    self.walk_remove(domid, &top, AclFix::AsMet);
                }
            }
        }
        let mut refunds: Vec<(DomId, usize)> = Vec::new();
        let owned = self.tree.drop_domain_entries(domid, |d| {
            let per_node = d.entries.saturating_mul(PERM_ACC_BYTES);
            let bytes = per_node.saturating_mul(d.users as usize);
            refunds.push((DomId(u16::try_from(d.owner).unwrap_or(u16::MAX)), bytes));
        });
        for (owner, bytes) in refunds {
            if let Some(d) = self.domain_mut(owner) {
                d.usage.add(Quota::Memory, delta(bytes, 0));
            }
        }
        if owned > 0 {
            // Not expected: the index missed a node the domain owns.
            log::error!("domain {} still owns {owned} permission lists: walking the tree", domid.0);
            self.walk_remove_all(domid, AclFix::AsMet);
        }
    }

    /// [`Engine::walk_remove`] from every root.
    fn walk_remove_all(&mut self, domid: DomId, acl: AclFix) {
        for root in ROOTS {
            self.walk_remove(domid, root, acl);
        }
    }

    /// Deletes (or hands over) the nodes `domid` owns at and below `top`
    /// and removes its entries from their ACLs (C 4.22
    /// `domain_tree_remove_sub`, from `top`), walking iteratively with one
    /// path buffer and a child index per level, changing nodes as it meets
    /// them: the walk's memory is the depth of the tree, whatever its
    /// shape (a list of the paths to change would cost the sum of their
    /// lengths). A root is never removed, only handed over. `acl` says
    /// which ACLs the walk cleans ([`AclFix`]).
    fn walk_remove(&mut self, domid: DomId, top: &str, acl: AclFix) {
        let id = u32::from(domid.0);
        let internal = Req {
            conn: ConnId(0),
            req_id: 0,
            who: Who { domid: self.cfg.priv_domid, target: None, privileged: true },
            tx: None,
            serial: None,
        };
        let priv_id = u32::from(self.cfg.priv_domid.0);
        let is_root = ROOTS.contains(&top);
        let mut cur = String::from(top);
        if !is_root
            && self.tree.get(&cur).is_some_and(|n| n.owner() == id)
            && !self.cfg.keep_orphans
        {
            let _ = self.rm_node(&internal, &cur);
            return;
        }
        // Per level below `top`: the index of the next child to visit.
        let mut next: Vec<usize> = alloc::vec![0];
        if acl == AclFix::AsMet {
            self.fix_acl(&cur, id, priv_id);
        }
        while let Some(&i) = next.last() {
            let child = self.tree.get(&cur).and_then(|n| n.child_names().nth(i));
            let Some(name) = child else {
                // Every child done: back to the parent's next one.
                next.pop();
                if let Some(up) = next.last_mut() {
                    *up = up.saturating_add(1);
                }
                let len = if cur.len() > top.len() { path::parent(&cur).len() } else { 0 };
                cur.truncate(len.max(top.len()));
                continue;
            };
            let len = cur.len();
            if cur != "/" {
                cur.push('/');
            }
            cur.push_str(name);
            let owner = self.tree.get(&cur).and_then(|n| n.perms.first().map(|x| x.id));
            if owner == Some(id) && !self.cfg.keep_orphans {
                // The node and its subtree go; the next child takes
                // its index.
                let _ = self.rm_node(&internal, &cur);
                let gone = !self.tree.contains(&cur);
                cur.truncate(len);
                if !gone {
                    if let Some(up) = next.last_mut() {
                        *up = up.saturating_add(1);
                    }
                }
                continue;
            }
            if acl == AclFix::AsMet {
                self.fix_acl(&cur, id, priv_id);
            }
            next.push(0);
        }
        if acl == AclFix::Roots && is_root && self.tree.get(top).is_some_and(|n| n.owner() == id) {
            // Its children that shared its list were the domain's, and
            // are gone: handing it over moves no other record. (A root
            // that only names the domain is cleaned in the lists.)
            self.fix_acl(top, id, priv_id);
        }
    }

    /// Removes `id` from the ACL of the node at `p` (handing ownership to
    /// the privileged domain if `id` owns it). ACL clean-up is not a
    /// modification transactions conflict on, so the generation stays.
    fn fix_acl(&mut self, p: &str, id: u32, priv_id: u32) {
        let Some(n) = self.tree.get(p) else { return };
        if !n.perms.iter().any(|x| x.id == id) {
            return;
        }
        let owner = n.perms.first().map_or(priv_id, |o| if o.id == id { priv_id } else { o.id });
        let new = reowned(n.perms, owner, Some(id));
        self.tree_set_perms(p, new.into());
    }
}

/// Which ACLs a death's walk ([`Engine::walk_remove`]) cleans itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AclFix {
    /// Every node's, as the walk meets it (C's walk).
    AsMet,
    /// Only a root's, after its children: the caller cleans the others in
    /// the interned lists.
    Roots,
}

/// `perms` with the owner entry's domain replaced by `owner` and, with
/// `drop`, every other entry naming that domain removed.
fn reowned(perms: &[Perm], owner: u32, drop: Option<u32>) -> Vec<Perm> {
    perms
        .iter()
        .enumerate()
        .filter(|&(i, x)| i == 0 || Some(x.id) != drop)
        .map(|(i, x)| if i == 0 { Perm { id: owner, bits: x.bits } } else { *x })
        .collect()
}
