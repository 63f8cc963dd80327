//! Domains: the per-domain record and the domain requests (introduce,
//! release, resume, set-target, features, quotas).
//!
//! Semantics follow C `domain.c` (4.22): `@introduceDomain` fires on
//! introduction (not for the privileged domain); `XS_RELEASE` forgets a
//! domain as its death would. Introduction, death and the clean-up rules
//! live in `lifecycle.rs`.

use alloc::string::String;
use alloc::sync::Arc;

use crate::cnum::atoi;
use crate::engine::{Engine, Platform};
use crate::error::Error;
use crate::ids::{ConnId, DomId};
use crate::path;
use crate::perms::{self, Perm, Who};
use crate::quota::{self, Limit, Quota, Quotas, Usage};
use crate::request::{args, count_strings, exact_args, num, onearg, Reply, Req};
use crate::watch::Match;

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7FF0;

/// What the engine knows about one domain.
pub struct Domain {
    /// Its id.
    pub domid: DomId,
    /// Its ring connection, once introduced.
    pub conn: Option<ConnId>,
    /// Introduced (has a ring).
    pub introduced: bool,
    /// Its ring is mapped (cleared when a re-introduction failed to map).
    pub ring_mapped: bool,
    /// Shutdown already reported.
    pub shutdown: bool,
    /// Xen's unique id of the domain this record belongs to (4.21+), to
    /// tell a reused domid from the domain we knew.
    pub unique_id: Option<u64>,
    /// Server features for this domain.
    pub features: u32,
    /// Its quotas (copied from the global table, changed by SET_QUOTA).
    pub quotas: Quotas,
    /// Its usage.
    pub usage: Usage,
    /// Memory quota messages logged about it.
    pub mem_warnings: quota::MemoryWarnings,
    /// Its write credit (XSA-206), from introduction until it is forgotten.
    pub wrl: Option<crate::wrl::Credit>,
    /// Its ring reconnections (`reconnect.rs`).
    pub reconnects: crate::ratelimit::TokenBucket,
}

impl Domain {
    /// Whether `more` on top of its current usage of `q` would reach its
    /// quota (C `domain_quota_val_exceeds` of usage plus the request).
    pub fn exceeds_with(&self, q: Quota, more: u64) -> bool {
        self.quotas.exceeds(q, self.usage.get(q).saturating_add(more))
    }

    /// A record with the global quotas.
    pub fn new(domid: DomId, quotas: Quotas, features: u32) -> Domain {
        Domain {
            domid,
            conn: None,
            introduced: false,
            ring_mapped: false,
            shutdown: false,
            unique_id: None,
            features,
            quotas,
            usage: Usage::default(),
            mem_warnings: quota::MemoryWarnings::default(),
            wrl: None,
            reconnects: crate::ratelimit::TokenBucket::new(),
        }
    }
}

/// Parses a domid as C 4.22 `parse_domid` (`strtoul` base 10, whole
/// string, at most 65535).
pub(crate) fn parse_domid(s: &[u8]) -> Result<DomId, Error> {
    crate::cnum::parse_domid(s).map(DomId).ok_or(Error::Inval)
}

impl Engine {
    /// The feature word of `domid` (`XS_SET_FEATURE` changes it before
    /// introduction, `XS_GET_FEATURE` reads it): what decides `WATCHDEPTH`
    /// and `DOMID_ANY` for the domain's requests.
    pub fn domain_features(&self, domid: DomId) -> u32 {
        self.domain(domid).map_or(self.cfg.server_features, |d| d.features)
    }

    /// The `server_features` word advertised in `domid`'s ring page (the
    /// one place that decides it; [`MapRequest::features`](crate::MapRequest)
    /// carries it to the platform): the domain's features plus what the
    /// ring turn every ring-serving platform runs implements itself
    /// ([`ring::serve::SERVE_FEATURES`]: `RECONNECTION`).
    pub fn page_features(&self, domid: DomId) -> u32 {
        self.domain_features(domid) | ring::serve::SERVE_FEATURES
    }

    /// The initial tree (C `setup_structure`).
    pub(crate) fn setup_structure(&mut self) {
        let owner = u32::from(self.cfg.priv_domid.0);
        let none = || Arc::from(&[Perm { id: owner, bits: 0 }][..]);
        let mut root = crate::tree::Node::new(none());
        root.add_child("tool");
        let mut tool = crate::tree::Node::new(none());
        tool.add_child("xenstored");
        self.tree_put("/", root);
        self.tree_put("/tool", tool);
        self.tree_put("/tool/xenstored", crate::tree::Node::new(none()));
        let release: crate::perms::Perms = Arc::from(
            &[Perm { id: owner, bits: 0 }, Perm { id: perms::DOMID_ANY, bits: perms::PERM_READ }][..],
        );
        self.tree_put("@releaseDomain", crate::tree::Node::new(release));
        self.tree_put("@introduceDomain", crate::tree::Node::new(none()));
    }

    /// Fires `@<name>` and/or `@<name>/<domid>` (C `fire_special_watches`).
    pub(crate) fn fire_special(
        &mut self,
        name: &str,
        domid: DomId,
        generic: bool,
        per_domain: bool,
    ) {
        let Some(perms) = self.tree.get(name).map(|n| n.perms.clone()) else {
            return;
        };
        if generic {
            self.fire_watches(None, name, Some(&perms), Match::NoDepth, None);
        }
        if per_domain {
            let mut p = String::from(name);
            p.push('/');
            p.push_str(core::str::from_utf8(num(domid.0).as_bytes()).unwrap_or("0"));
            self.fire_watches(None, &p, Some(&perms), Match::Depth, None);
        }
    }

    /// Applies a quota check to an unprivileged caller's domain: `Err(err)`
    /// when `over` says the request would reach a limit. The privileged
    /// domain is exempt from every quota.
    pub(crate) fn check_quota(
        &self,
        who: &Who,
        err: Error,
        over: impl FnOnce(&Domain) -> bool,
    ) -> Result<(), Error> {
        if who.privileged {
            return Ok(());
        }
        let over = match self.domain(who.domid) {
            Some(d) => over(d),
            // What a new record would say; reading creates none.
            None => {
                over(&Domain::new(who.domid, self.cfg.quotas.clone(), self.cfg.server_features))
            }
        };
        if over {
            return Err(err);
        }
        Ok(())
    }

    /// The record of `domid`, created if the platform knows the domain (C
    /// `find_or_alloc_existing_domain`); `ENOENT` for a domain that does
    /// not exist.
    fn existing_domain(
        &mut self,
        domid: DomId,
        platform: &mut dyn Platform,
    ) -> Result<&mut Domain, Error> {
        if !self.domain_known(domid, platform) {
            return Err(Error::NoEnt);
        }
        Ok(self.domain_or_create(domid))
    }

    /// Whether `domid` has a record or the platform says it exists.
    pub(crate) fn domain_known(&self, domid: DomId, platform: &mut dyn Platform) -> bool {
        self.domains.contains_key(&domid.0) || platform.domain_info(domid).exists()
    }
}

/// A quota name argument (`nodes`, `soft-memory`, …).
fn quota_name(arg: &[u8]) -> Result<(Quota, Limit), Error> {
    core::str::from_utf8(arg).ok().and_then(quota::parse_name).ok_or(Error::Inval)
}

/// Checks a RELEASE/RESUME target (C `onearg_domain`).
fn onearg_domain(e: &Engine, payload: &[u8]) -> Result<DomId, Error> {
    let domid = parse_domid(onearg(payload)?)?;
    if domid == e.cfg.store_domid || domid == e.cfg.priv_domid {
        return Err(Error::Inval);
    }
    connected(e, domid)
}

fn connected(e: &Engine, domid: DomId) -> Result<DomId, Error> {
    let d = e.domain(domid).filter(|d| d.introduced).ok_or(Error::NoEnt)?;
    d.conn.map(|_| domid).ok_or(Error::Inval)
}

/// `XS_INTRODUCE domid\0gfn\0port\0`.
pub fn do_introduce(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let [domid, gfn, port] = args(payload)?;
    let domid = parse_domid(domid)?;
    let gfn = u64::try_from(atoi(gfn)).unwrap_or(0);
    let port = u32::try_from(atoi(port)).ok().filter(|&p| p > 0).ok_or(Error::Inval)?;
    e.introduce_dyn(domid, gfn, port, pf)?;
    Ok(Reply::ok())
}

/// `XS_RELEASE domid\0`.
pub fn do_release(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let domid = onearg_domain(e, payload)?;
    e.release_domain(domid, pf);
    Ok(Reply::ok())
}

/// `XS_RESUME domid\0`.
pub fn do_resume(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let domid = onearg_domain(e, payload)?;
    if let Some(d) = e.domain_mut(domid) {
        d.shutdown = false;
    }
    Ok(Reply::ok())
}

/// `XS_GET_DOMAIN_PATH domid\0`.
pub fn do_get_domain_path(
    _: &mut Engine,
    _: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let domid = parse_domid(onearg(payload)?)?;
    Ok(Reply::string(&path::domain_path(domid)))
}

/// `XS_IS_DOMAIN_INTRODUCED domid\0`.
pub fn do_is_domain_introduced(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let domid = parse_domid(onearg(payload)?)?;
    let yes = domid.0 == DOMID_SELF || e.domain(domid).is_some_and(|d| d.introduced);
    Ok(Reply::string(if yes { "T" } else { "F" }))
}

/// `XS_SET_TARGET domid\0target\0`.
pub fn do_set_target(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let [domid, tdomid] = args(payload)?;
    let (domid, tdomid) = (parse_domid(domid)?, parse_domid(tdomid)?);
    connected(e, domid)?;
    connected(e, tdomid)?;
    let conn = e.domain(domid).and_then(|d| d.conn).ok_or(Error::NoEnt)?;
    if let Some(c) = e.conns.get_mut(&conn) {
        c.target = Some(tdomid);
    }
    Ok(Reply::ok())
}

/// `XS_GET_FEATURE [domid\0]`.
pub fn do_get_feature(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let n = count_strings(payload);
    let features = if n == 0 {
        e.domain_features(req.who.domid)
    } else {
        if !req.who.privileged {
            return Err(Error::Access);
        }
        if n > 1 {
            return Err(Error::Inval);
        }
        let [domid] = args(payload)?;
        e.existing_domain(parse_domid(domid)?, pf)?.features
    };
    Ok(Reply::number(features))
}

/// `XS_SET_FEATURE domid\0features\0` (only before introduction).
pub fn do_set_feature(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let [domid, features] = exact_args(payload)?;
    let domid = parse_domid(domid)?;
    let features = u32::from_ne_bytes(atoi(features).to_ne_bytes());
    let all = e.cfg.server_features;
    let d = e.existing_domain(domid, pf)?;
    if d.introduced {
        return Err(Error::Busy);
    }
    if features & !all != 0 {
        return Err(Error::Inval);
    }
    d.features = features;
    Ok(Reply::ok())
}

/// `XS_GET_QUOTA [[domid\0]name\0]`.
pub fn do_get_quota(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    match count_strings(payload) {
        0 => {
            let mut s = String::new();
            for def in quota::QUOTA_TABLE.iter() {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(def.name);
                if def.soft != quota::QUOTA_DISABLED {
                    s.push_str(" soft-");
                    s.push_str(def.name);
                }
            }
            Ok(Reply::string(&s))
        }
        1 => {
            let [name] = args(payload)?;
            let (q, limit) = quota_name(name)?;
            Ok(Reply::number(e.cfg.quotas.get(q, limit)))
        }
        2 => {
            let [domid, name] = args(payload)?;
            let quotas = &e.existing_domain(parse_domid(domid)?, pf)?.quotas;
            let (q, limit) = quota_name(name)?;
            Ok(Reply::number(quotas.get(q, limit)))
        }
        _ => Err(Error::Inval),
    }
}

/// `XS_SET_QUOTA [domid\0]name\0value\0`.
pub fn do_set_quota(
    e: &mut Engine,
    _: &Req,
    payload: &[u8],
    pf: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (domid, name, val) = match count_strings(payload) {
        2 => {
            let [name, val] = args(payload)?;
            (None, name, val)
        }
        3 => {
            let [domid, name, val] = args(payload)?;
            (Some(parse_domid(domid)?), name, val)
        }
        _ => return Err(Error::Inval),
    };
    let (q, limit) = quota_name(name)?;
    let val = u32::from_ne_bytes(atoi(val).to_ne_bytes());
    if val == quota::QUOTA_DISABLED {
        return Err(Error::Inval);
    }
    match domid {
        None => e.cfg.quotas.set(q, limit, val),
        Some(d) => {
            e.existing_domain(d, pf)?.quotas.set(q, limit, val);
            e.update_blocked_domain(d);
        }
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Config;

    /// Reading a domain's quotas and refunding its usage find no record
    /// for a domain the engine does not know (or has forgotten), and
    /// create none: only charging a live domain does (364fcf3).
    #[test]
    fn reads_and_refunds_create_no_domain_record() {
        let mut e = Engine::new(Config::default());
        let gone = DomId(7);
        let who = Who { domid: gone, target: None, privileged: false };
        assert!(e.check_quota(&who, Error::Quota, |d| d.exceeds_with(Quota::Watches, 1)).is_ok());
        assert!(!e.domain_exceeds_with(gone, Quota::Watches, 1));
        assert_eq!(e.domain_quotas(gone).hard(Quota::Nodes), e.cfg.quotas.hard(Quota::Nodes));
        assert!(e.domain_mut(gone).is_none());
        assert!(e.domain(gone).is_none(), "a read created a record");

        e.domain_or_create(gone).usage.add(Quota::Watches, 1);
        assert_eq!(e.domain(gone).map(|d| d.usage.get(Quota::Watches)), Some(1));
    }
}
