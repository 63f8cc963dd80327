//! The engine's public entry point (contract; see `DESIGN.md`).
//!
//! Primer: platforms create connections ([`Engine::connect_socket`],
//! [`Engine::introduce`]), push bytes in with [`Engine::input`], and drain
//! [`Engine::output`]. Each complete request is dispatched at once
//! (`dispatch.rs`); its reply and any watch events it causes are queued on
//! the connections concerned. The engine owns every piece of state; it
//! never does I/O and never reads a clock.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;
use ring::wire::{
    XsError, XENSTORE_SERVER_FEATURE_DOMID_ANY, XENSTORE_SERVER_FEATURE_ERROR,
    XENSTORE_SERVER_FEATURE_WATCHDEPTH,
};

use crate::budget::{MemWait, MemoryBudget, REQUEST_HEADROOM};
use crate::conn::{HeapPayload, OutMsg, OutQueue};
use crate::domain::Domain;
use crate::ids::{ConnId, DomId};
use crate::liveupdate::LuArch;
use crate::quota::{self, Limit, Quota, Quotas};
use crate::transaction::Transaction;
use crate::tree::Tree;
use crate::watch::Watch;
use ring::decode::Decoder;
use ring::decode::{Decoded, ProtoError};

/// Where a domain is in its life, as the hypervisor reports it.
///
/// `XEN_DOMCTL_getdomaininfo` (≤ 4.20) can tell `Gone`, `Running`,
/// `Shutdown` (`XEN_DOMINF_shutdown`) and `Dead` (`XEN_DOMINF_dying`, which
/// Xen sets only once the domain is dead); `XEN_DOMCTL_get_domain_state`
/// (4.21+) also reports `Dying` (`DOMDYING_dying`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainState {
    /// The domain does not exist (any more).
    Gone,
    /// It exists and has not shut down.
    Running,
    /// Its shutdown has completed (or it crashed); it is not dying yet.
    Shutdown,
    /// It is being destroyed (`DOMDYING_dying`): its resources are being
    /// torn down.
    Dying,
    /// It is dead (`DOMDYING_dead`): only references held by others keep it.
    Dead,
}

/// The capabilities Xen 4.21+ reports for a domain
/// (`XEN_DOMCTL_GETDOMSTATE_CAP_*`); all `false` before 4.21.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainCaps {
    /// `CAP_CONTROL`: the control (privileged) domain.
    pub control: bool,
    /// `CAP_HARDWARE`: the hardware domain.
    pub hardware: bool,
    /// `CAP_XENSTORE`: the xenstore domain.
    pub xenstore: bool,
}

/// What the platform knows about one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    /// Where it is in its life.
    pub state: DomainState,
    /// Xen's per-boot unique id of the domain (4.21+, never reused even
    /// when the domid is); `None` when the hypervisor does not say.
    pub unique_id: Option<u64>,
    /// Its capabilities (4.21+; empty otherwise).
    pub caps: DomainCaps,
}

impl DomainInfo {
    /// A domain that does not exist.
    pub const GONE: DomainInfo = DomainInfo::of_state(DomainState::Gone);

    /// Info with only a state: no unique id, no capabilities (≤ 4.20).
    pub const fn of_state(state: DomainState) -> DomainInfo {
        DomainInfo {
            state,
            unique_id: None,
            caps: DomainCaps { control: false, hardware: false, xenstore: false },
        }
    }

    /// Whether the domain exists (in any state but `Gone`).
    pub fn exists(&self) -> bool {
        self.state != DomainState::Gone
    }
}

/// One answer of [`Platform::next_changed_domain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangedDomain {
    /// The hypervisor cannot say which domains changed (before 4.21, or a
    /// platform without the interface): the engine scans its domains.
    Unsupported,
    /// No changed domain is left to report.
    Done,
    /// `domid` changed since it was last reported; this is its info now
    /// ([`DomainInfo::GONE`] when it no longer exists).
    Changed(DomId, DomainInfo),
}

/// What [`Platform::map_ring`] is asked to map and serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// The connection the ring is served as.
    pub conn: ConnId,
    /// The domain whose ring page it is (its grant ref 1).
    pub domid: DomId,
    /// The page's frame as the toolstack named it (advisory).
    pub gfn: u64,
    /// The domain's end of the event channel to bind; 0 means the port
    /// the guest wrote into the page's `evtchn_port` (4.21+ start-up
    /// introduction).
    pub port: u32,
    /// The `server_features` word to write into the page before the ring
    /// is used ([`Engine::page_features`]: the domain's features plus
    /// `RECONNECTION`, which [`ring::serve`] implements).
    pub features: u32,
    /// Zero the page's four indices before the ring is used (C
    /// `domain_conn_reset`): set when a live domain is introduced again,
    /// whose partial input and queued output, a partly sent reply
    /// included, the engine drops, so both byte streams start afresh. A
    /// ring left as it was would show the guest the head of a message
    /// that never ends, followed by the next one, and hand the engine the
    /// rest of a request as a new header. A first introduction leaves the
    /// indices alone: the guest may have queued requests before it.
    pub reset: bool,
}

/// What [`Platform::restore_ring`] is asked to take over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreRing {
    /// The connection the ring is served as.
    pub conn: ConnId,
    /// The domain whose ring page it is (its grant ref 1).
    pub domid: DomId,
    /// The event channel port as the migration stream names it: the
    /// previous server's local end (C xenstored writes the port it bound,
    /// and rebinds that port in the descriptor it inherits).
    pub port: u32,
}

/// Why a ring could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapError;

/// What the engine needs from the platform it runs on.
pub trait Platform {
    /// Maps `ring.domid`'s ring page (grant ref 1; `gfn` is advisory) and
    /// binds the interdomain event channel `ring.port`, serving it as
    /// `ring.conn`. Port 0 means "the port the guest wrote into the page's
    /// `evtchn_port`" (4.21+ dom0less-style start-up introduction). Before
    /// the ring is used the platform writes `ring.features` into the
    /// page's `server_features`.
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError>;
    /// Takes over `ring.domid`'s ring after a live update
    /// ([`Engine::restore`](crate::Engine::restore)): maps its page again
    /// and serves the event channel the previous server had bound as
    /// `ring.port`, without writing the page (C does not rewrite
    /// `server_features` on restore). An error leaves the connection
    /// ignored until the domain dies, as C does with a ring it cannot
    /// restore. The default, for platforms that cannot take a ring over,
    /// fails.
    fn restore_ring(&mut self, ring: RestoreRing) -> Result<(), MapError> {
        let _ = ring;
        Err(MapError)
    }
    /// Undoes [`Platform::map_ring`] (or [`Platform::restore_ring`]):
    /// unmaps the page, closes the channel.
    fn unmap_ring(&mut self, conn: ConnId);
    /// The current info of `domid`.
    fn domain_info(&mut self, domid: DomId) -> DomainInfo;
    /// One domain whose state changed since it was last reported (Xen
    /// 4.21+ `XEN_DOMCTL_get_domain_state(DOMID_INVALID)`), clearing its
    /// changed mark. The default, for hypervisors without the interface,
    /// is [`ChangedDomain::Unsupported`].
    fn next_changed_domain(&mut self) -> ChangedDomain {
        ChangedDomain::Unsupported
    }
    /// What a domain's home needs when the store writes it itself
    /// ([`Engine::start_domains`] on a system without a toolstack, see
    /// [`HomeInfo`](crate::HomeInfo)); `None`, the default, leaves homes
    /// to the toolstack.
    fn home_info(&mut self, domid: DomId) -> Option<crate::HomeInfo> {
        let _ = domid;
        None
    }
    /// A `live-update` sub-command the engine does not handle itself
    /// (C `lu_arch`: `-f FILE` names the new binary of a daemon, `-b
    /// SIZE` and `-d SIZE DATA` carry a stub domain's kernel); `args` are
    /// the command's arguments. The default, for a platform that cannot
    /// be live-updated, is [`LuArch::Invalid`] (`EINVAL`).
    fn live_update_arch(&mut self, args: &[&str]) -> LuArch {
        let _ = args;
        LuArch::Invalid
    }
}

/// The server features C 4.22 advertises (`XENSTORE_FEATURES`).
pub const DEFAULT_SERVER_FEATURES: u32 = XENSTORE_SERVER_FEATURE_ERROR
    | XENSTORE_SERVER_FEATURE_WATCHDEPTH
    | XENSTORE_SERVER_FEATURE_DOMID_ANY;

/// Default lifetime of an unread watch event (C `timeout_watch_event_msec`).
pub const WATCH_EVENT_TIMEOUT_MS: u64 = 20_000;

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The privileged (control) domain; socket clients act as it.
    pub priv_domid: DomId,
    /// Let [`Engine::start_domains`] replace `priv_domid` with the domain
    /// Xen 4.21+ reports with `CAP_CONTROL`; platforms clear it when the
    /// privileged domain was configured explicitly.
    pub discover_priv_domid: bool,
    /// The domain running the store (the stub itself).
    pub store_domid: DomId,
    /// Unread watch events are dropped after this long (0 = never).
    pub watch_event_timeout_ms: u64,
    /// Server features advertised to domains (ring `server_features`).
    pub server_features: u32,
    /// Keep the nodes of dead domains (C `--keep-orphans`), giving them to
    /// the privileged domain instead of deleting them.
    pub keep_orphans: bool,
    /// Key of the hasher for guest-chosen node names (hash flooding);
    /// platforms should seed it from a random source.
    pub hash_seed: u64,
    /// Global quotas (defaults as C's table in `quota.rs`).
    pub quotas: Quotas,
    /// The global memory budget in real heap bytes (`budget.rs`); `None`:
    /// only the quotas bound memory.
    pub budget: Option<MemoryBudget>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            priv_domid: DomId(0),
            discover_priv_domid: true,
            store_domid: DomId(0),
            watch_event_timeout_ms: WATCH_EVENT_TIMEOUT_MS,
            server_features: DEFAULT_SERVER_FEATURES,
            keep_orphans: false,
            hash_seed: 0x005e_ed0f_c0ff_ee00,
            quotas: Quotas::default(),
            budget: None,
        }
    }
}

impl Config {
    /// Sets the global hard limit of quota `name` (C `-Q name=value`).
    pub fn set_quota(&mut self, name: &str, value: u32) -> Result<(), XsError> {
        self.set_limit(name, value, Limit::Hard)
    }

    /// Sets the global soft limit of quota `name` (C `-q name=value`).
    pub fn set_quota_soft(&mut self, name: &str, value: u32) -> Result<(), XsError> {
        self.set_limit(name, value, Limit::Soft)
    }

    fn set_limit(&mut self, name: &str, value: u32, limit: Limit) -> Result<(), XsError> {
        let q = quota::QUOTA_TABLE.iter().find(|d| d.name == name).ok_or(XsError::Inval)?;
        if value == quota::QUOTA_DISABLED {
            return Err(XsError::Inval);
        }
        self.quotas.set(q.quota, limit, value);
        Ok(())
    }
}

/// An upper bound on the first table of [`Engine::pending`] (four
/// buckets of a serial and a [`Pending`], their control bytes, a group of
/// padding).
const PENDING_FIRST_TABLE_BYTES: usize = 256;

/// A request pending in the `outstanding` accounting: its reply was sent
/// but watch events it caused are still queued somewhere.
pub(crate) struct Pending {
    /// The domain charged.
    pub domid: DomId,
    /// Events still queued.
    pub events: u32,
    /// The reply has been handed to the platform.
    pub reply_done: bool,
}

/// One client connection.
pub struct Conn {
    /// The domain the connection speaks for.
    pub domid: DomId,
    /// A Unix socket client (privileged) rather than a ring.
    pub socket: bool,
    /// Protocol violation seen: nothing more is read or written.
    pub ignored: bool,
    /// Input framing (a fresh decoder stands in while the engine handles
    /// a message the connection's own decoder holds).
    pub decoder: Decoder<HeapPayload>,
    /// Replies and events not yet fully handed to the platform.
    pub out: OutQueue,
    /// Registered watches, in creation order.
    pub watches: Vec<Watch>,
    /// Open transactions.
    pub txs: Vec<Transaction>,
    /// When the connection went from no open transaction to one (C
    /// `ta_start_time`: kept while any stays open); live update waits
    /// for, or forces past, transactions by it.
    pub ta_start_ms: Option<u64>,
    /// Next transaction id to try.
    pub next_tx: u32,
    /// The domain this one acts for (`XS_SET_TARGET`).
    pub target: Option<DomId>,
    /// Already listed for `take_ready`.
    pub in_ready: bool,
    /// Flow-controlled at the last check.
    pub blocked: bool,
    /// Not read until the budget grants this ([`Engine::take_ready`]
    /// reports it then).
    pub waiting: Option<MemWait>,
    /// The front message of `out` is the rest of one whose start a
    /// previous server sent (restored from a migration stream), so a dump
    /// says so again.
    pub resumed: bool,
}

impl Conn {
    /// A fresh connection for `domid`.
    pub fn new(domid: DomId, socket: bool) -> Conn {
        Conn {
            domid,
            socket,
            ignored: false,
            decoder: Decoder::default(),
            out: OutQueue::default(),
            watches: Vec::new(),
            txs: Vec::new(),
            ta_start_ms: None,
            next_tx: 1,
            target: None,
            in_ready: false,
            blocked: false,
            waiting: None,
            resumed: false,
        }
    }
}

/// Plain counters, readable with `XS_CONTROL memreport`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests handled.
    pub requests: u64,
    /// Transactions that failed with `EAGAIN`.
    pub tx_conflicts: u64,
    /// Requests refused by a quota.
    pub quota_hits: u64,
    /// Connections ignored for protocol violations.
    pub ignored_conns: u64,
    /// Watch events dropped (too big, expired, memory quota).
    pub events_dropped: u64,
}

/// The xenstore engine.
pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) tree: Tree,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    pub(crate) domains: BTreeMap<u16, Domain>,
    pub(crate) generation: u64,
    pub(crate) next_conn: u32,
    /// Connections to report in [`Engine::take_ready`]: each live one at
    /// most once (`Conn::in_ready`), within a capacity of one slot per
    /// connection reserved when it is created.
    pub(crate) ready: Vec<ConnId>,
    pub(crate) pending: HashMap<u64, Pending>,
    pub(crate) next_req: u64,
    pub(crate) now_ms: u64,
    pub(crate) stats: Stats,
    pub(crate) trace: crate::trace::Trace,
    pub(crate) wrl: crate::wrl::Limiter,
    /// No queued message expires before this (it may be earlier than the
    /// true earliest expiry, never later): [`Engine::tick`] scans the
    /// queues only once it has passed.
    pub(crate) expiry_bound: Option<u64>,
    /// How many connections are flow-controlled (`Conn::blocked`).
    pub(crate) blocked_conns: usize,
    /// Deferred ring reconnections (`reconnect.rs`).
    pub(crate) reconnects: crate::reconnect::Reconnects,
    /// Some connection may wait for memory (`Conn::waiting`):
    /// [`Engine::take_ready`] looks for those the budget now lets go on.
    pub(crate) memory_waits: bool,
    /// The live-update session, if one is active (`liveupdate.rs`).
    pub(crate) lu: Option<crate::liveupdate::Session>,
    /// Requests held by connections for a live-update session
    /// (`liveupdate.rs`).
    pub(crate) lu_held: BTreeMap<ConnId, crate::liveupdate::Held>,
    /// A session ended while connections held requests: the next
    /// [`Engine::live_update_due`] handles them.
    pub(crate) lu_release: bool,
    /// Find a dying domain's nodes by walking the whole tree, as C does,
    /// rather than through the owners index (tests compare the two).
    pub(crate) walk_deaths: bool,
}

/// `count` after one connection's blocked flag went from `was` to `is`.
fn recount(count: usize, was: bool, is: bool) -> usize {
    match (was, is) {
        (false, true) => count.saturating_add(1),
        (true, false) => count.saturating_sub(1),
        _ => count,
    }
}

impl Engine {
    /// An engine with the initial tree of C's `setup_structure`.
    pub fn new(cfg: Config) -> Engine {
        let mut e = Engine::blank(cfg);
        e.setup_structure();
        e
    }

    /// An engine without nodes (its quotas capped by the budget).
    pub(crate) fn blank(mut cfg: Config) -> Engine {
        if let Some(b) = cfg.budget {
            b.cap_quotas(&mut cfg.quotas);
        }
        let tree = Tree::new(cfg.hash_seed);
        Engine {
            cfg,
            tree,
            conns: BTreeMap::new(),
            domains: BTreeMap::new(),
            generation: 0,
            next_conn: 1,
            ready: Vec::new(),
            pending: HashMap::new(),
            next_req: 1,
            now_ms: 0,
            stats: Stats::default(),
            trace: crate::trace::Trace::default(),
            wrl: crate::wrl::Limiter::default(),
            expiry_bound: None,
            blocked_conns: 0,
            reconnects: crate::reconnect::Reconnects::default(),
            memory_waits: false,
            lu: None,
            lu_held: BTreeMap::new(),
            lu_release: false,
            walk_deaths: false,
        }
    }

    /// Makes domain clean-up walk the whole tree, as C 4.22 does, instead
    /// of using the owners index: tests check that both agree.
    #[cfg(feature = "model")]
    pub fn set_walk_deaths(&mut self, walk: bool) {
        self.walk_deaths = walk;
    }

    /// The server features configured for domains (each domain's word
    /// starts as this; [`Engine::page_features`] is what its page gets).
    pub fn server_features(&self) -> u32 {
        self.cfg.server_features
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn alloc_conn(&mut self, domid: DomId, socket: bool) -> ConnId {
        // Skip ids still in use after the counter wraps.
        loop {
            let id = ConnId(self.next_conn);
            self.next_conn = self.next_conn.wrapping_add(1).max(1);
            if let alloc::collections::btree_map::Entry::Vacant(v) = self.conns.entry(id) {
                v.insert(Conn::new(domid, socket));
                // One slot of the ready list per connection, taken here
                // with the connection's other bookkeeping (inside the
                // admitted request's headroom), so that listing a
                // connection as ready, which happens outside requests
                // too (domain checks, `take_ready`), never allocates.
                self.ready.reserve(self.ready_shortfall());
                return id;
            }
        }
    }

    /// How many more entries the ready list needs room for to hold every
    /// connection once.
    pub(crate) fn ready_shortfall(&self) -> usize {
        self.conns.len().saturating_sub(self.ready.len())
    }

    /// Adds a privileged Unix-socket client (acting as `priv_domid`), as
    /// a privileged request is admitted (`budget.rs`): `None` while the
    /// heap is over the privileged domain's admission line, and the
    /// platform closes the socket (the client may try again later). What a
    /// connection takes, its record and a share of the connection table (a
    /// B-tree insertion: a few nodes of eleven records each, a few KiB), is
    /// covered by the request headroom, as a request's bookkeeping is.
    pub fn connect_socket(&mut self) -> Option<ConnId> {
        if !self.heap_allows(true, REQUEST_HEADROOM) {
            return None;
        }
        let d = self.cfg.priv_domid;
        Some(self.alloc_conn(d, true))
    }

    /// Feeds bytes read from `conn`; handles every complete request.
    /// Returns how many bytes were consumed (fewer than given when the
    /// connection is flow-controlled). An error means the connection is
    /// now ignored.
    pub fn input<P: Platform>(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now_ms: u64,
        platform: &mut P,
    ) -> Result<usize, ProtoError> {
        self.feed(conn, bytes, now_ms, platform, true)
    }

    /// [`Engine::input`]; `quotas` false lets the connection's quotas
    /// (flow control) not stop it, for input a previous server had
    /// already read (C handles such requests whatever the quotas).
    pub(crate) fn feed(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now_ms: u64,
        platform: &mut dyn Platform,
        quotas: bool,
    ) -> Result<usize, ProtoError> {
        self.now_ms = now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(0);
        };
        c.waiting = None;
        let domid = c.domid;
        let privileged = self.is_privileged(domid);
        self.wrl_refresh(domid, now_ms);
        let mut used = 0usize;
        while used < bytes.len() {
            if !self.may_read(conn, quotas) {
                break;
            }
            // Over the admission line the next request is refused, which
            // allocates: only if the headroom has room for that.
            let line = self.conns.get(&conn).map_or(REQUEST_HEADROOM, |c| self.admission_bytes(c));
            if !self.heap_allows(privileged, line) && !self.grants(privileged, MemWait::Refusal) {
                self.wait_for_memory(conn, MemWait::Refusal);
                break;
            }
            // Lend the decoder out so the payload is handled in place.
            let Some(mut dec) = self.conns.get_mut(&conn).map(|c| core::mem::take(&mut c.decoder))
            else {
                break;
            };
            let rest = bytes.get(used..).unwrap_or(&[]);
            // A split payload's buffer only if the request it carries will
            // be admitted with it (so it is never refused after the buffer
            // took the heap over the line).
            let mut asked = MemWait::Payload(0);
            let (n, state) = dec.push_with(rest, |len| {
                asked = MemWait::Payload(u16::try_from(len).unwrap_or(u16::MAX));
                self.grants(privileged, asked)
            });
            used = used.saturating_add(n);
            let outcome = match state {
                Decoded::Incomplete => Ok(true),
                // No memory for a split payload now: the rest stays with
                // the platform, which offers it again once `take_ready`
                // reports the connection (`wants_input` is false until the
                // budget grants the buffer).
                Decoded::NoMemory => {
                    self.wait_for_memory(conn, asked);
                    Ok(false)
                }
                Decoded::Error(e) => Err(e),
                Decoded::Message(hdr, payload) => {
                    if !self.lu_hold(conn, hdr, payload) {
                        self.process(conn, hdr, payload, platform);
                    }
                    Ok(true)
                }
            };
            dec.reset();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.decoder = dec;
            }
            match outcome {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.ignore(conn);
                    return Err(e);
                }
            }
        }
        self.update_blocked(conn);
        Ok(used)
    }

    /// Whether the platform should read more input for `conn`: not while it
    /// is flow-controlled, held with unsent output over its memory line,
    /// waiting for memory the budget does not grant yet (`Conn::waiting`),
    /// or stalled by a live-update session (`liveupdate.rs`).
    pub fn wants_input(&self, conn: ConnId) -> bool {
        self.may_read(conn, true)
    }

    /// [`Engine::wants_input`], flow control only if `quotas`.
    fn may_read(&self, conn: ConnId, quotas: bool) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        !c.ignored
            && !self.lu_stalled(conn)
            && (!quotas || !self.flow_blocked(c.domid))
            && !self.held_for_memory(c)
            && c.waiting.is_none_or(|w| self.grants(self.is_privileged(c.domid), w))
    }

    /// Whether the budget lets a connection of a caller that waits for
    /// `wait` go on now (always, without a budget).
    fn grants(&self, privileged: bool, wait: MemWait) -> bool {
        self.cfg.budget.is_none_or(|b| b.grants(privileged, wait))
    }

    /// `conn` is not read until the budget grants `wait`.
    fn wait_for_memory(&mut self, conn: ConnId, wait: MemWait) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.waiting = Some(wait);
            self.memory_waits = true;
        }
    }

    /// Reports the connections waiting for memory that the budget now
    /// lets go on, as ready, and forgets what they waited for.
    fn wake_memory_waits(&mut self) {
        let (budget, priv_domid) = (self.cfg.budget, self.cfg.priv_domid);
        let mut still = false;
        for (id, c) in &mut self.conns {
            let Some(wait) = c.waiting else { continue };
            if budget.is_some_and(|b| !b.grants(c.domid == priv_domid, wait)) {
                still = true;
                continue;
            }
            c.waiting = None;
            if !c.in_ready {
                c.in_ready = true;
                self.ready.push(*id);
            }
        }
        self.memory_waits = still;
    }

    /// Whether `c` is not read because it has unsent output while the heap
    /// is over its caller's admission line (`budget.rs`). Every request
    /// would be answered `ENOMEM`, and such small replies are queued
    /// whatever the budget says: a client that does not read (the
    /// privileged domain has no `outstanding` quota) would grow the heap
    /// by one reply per request. It is read again once its output is sent.
    fn held_for_memory(&self, c: &Conn) -> bool {
        !c.out.is_empty() && !self.heap_allows(self.is_privileged(c.domid), self.admission_bytes(c))
    }

    /// What the heap must have left for a request of `c` to be admitted
    /// (`budget.rs`): the request's headroom, what queuing its reply and
    /// an event may add to the connection's queue storage
    /// ([`crate::conn::OutQueue::push_growth`]) and, for an unprivileged
    /// caller, what recording it as pending may add to the table of
    /// pending requests (it doubles when full).
    pub(crate) fn admission_bytes(&self, c: &Conn) -> usize {
        let pending = if self.is_privileged(c.domid) || self.pending.len() < self.pending.capacity()
        {
            0
        } else {
            self.pending.allocation_size().saturating_mul(2).max(PENDING_FIRST_TABLE_BYTES)
        };
        REQUEST_HEADROOM.saturating_add(c.out.push_growth(true)).saturating_add(pending)
    }

    /// Whether `conn` is ignored after a protocol violation (until a ring
    /// reconnection, [`Engine::reset_connection`]).
    pub fn is_ignored(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.ignored)
    }

    /// Whether `domid` has reached its `outstanding` or `memory` quota, or
    /// used up its write credit (C `domain_can_read`).
    pub(crate) fn flow_blocked(&self, domid: DomId) -> bool {
        if self.is_privileged(domid) {
            return false;
        }
        let Some(d) = self.domain(domid) else {
            return false;
        };
        d.quotas.exceeds(Quota::Outstanding, d.usage.get(Quota::Outstanding))
            || d.quotas.exceeds(Quota::Memory, d.usage.get(Quota::Memory))
            || d.wrl.as_ref().is_some_and(crate::wrl::Credit::throttled)
    }

    /// Logs (rate-limited) when an unprivileged domain crosses its soft or
    /// hard memory limit.
    fn report_memory(&mut self, domid: DomId) {
        if self.is_privileged(domid) {
            return;
        }
        let now = self.now_ms;
        if let Some(d) = self.domain_mut(domid) {
            let mem = d.usage.get(Quota::Memory);
            d.mem_warnings.check(domid.0, mem, &d.quotas, now);
        }
    }

    pub(crate) fn update_blocked(&mut self, conn: ConnId) {
        let blocked = match self.conns.get(&conn) {
            Some(c) => {
                let domid = c.domid;
                self.report_memory(domid);
                self.flow_blocked(domid)
            }
            None => return,
        };
        let mut wake = false;
        if let Some(c) = self.conns.get_mut(&conn) {
            wake = c.blocked && !blocked;
            self.blocked_conns = recount(self.blocked_conns, c.blocked, blocked);
            c.blocked = blocked;
        }
        if wake {
            self.mark_ready(conn);
        }
    }

    /// Re-evaluates flow control of every connection of `domid`, as
    /// [`Engine::update_blocked`] on each of them.
    pub(crate) fn update_blocked_domain(&mut self, domid: DomId) {
        // The privileged domain is never blocked: with no connection
        // blocked either, nothing can change.
        if self.blocked_conns == 0 && self.is_privileged(domid) {
            return;
        }
        if !self.conns.values().any(|c| c.domid == domid) {
            return;
        }
        self.report_memory(domid);
        let blocked = self.flow_blocked(domid);
        for (id, c) in self.conns.iter_mut().filter(|(_, c)| c.domid == domid) {
            let wake = c.blocked && !blocked;
            self.blocked_conns = recount(self.blocked_conns, c.blocked, blocked);
            c.blocked = blocked;
            if wake && !c.in_ready {
                c.in_ready = true;
                self.ready.push(*id);
            }
        }
    }

    pub(crate) fn mark_ready(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.in_ready {
                c.in_ready = true;
                self.ready.push(conn);
            }
        }
    }

    /// The next bytes to send to `conn` (may be empty).
    pub fn output(&self, conn: ConnId) -> &[u8] {
        let Some(c) = self.conns.get(&conn) else {
            return &[];
        };
        if c.ignored {
            return &[];
        }
        c.out.pending()
    }

    /// `n` bytes of [`Engine::output`] were sent.
    pub fn output_done(&mut self, conn: ConnId, n: usize) {
        let seed = self.cfg.hash_seed;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(m) = c.out.sent(n, seed) else {
            return;
        };
        c.resumed = false;
        self.release_out(conn, m, true);
        self.settle_out(conn);
        // More to send; or all sent while the heap is over the caller's
        // line, when the connection may have been held for memory
        // (`held_for_memory`) and can be read again.
        let wake = self.conns.get(&conn).is_some_and(|c| {
            !c.out.is_empty()
                || !self.heap_allows(self.is_privileged(c.domid), self.admission_bytes(c))
        });
        if wake {
            self.mark_ready(conn);
        }
    }

    /// Moves connections with new output (or newly un-flow-controlled, or
    /// no longer waiting for memory) into `out`. The list holds each
    /// connection at most once (`Conn::in_ready`). If `out` cannot grow
    /// to take them (fallibly: the platform's heap is exhausted), they
    /// stay listed for the next call.
    pub fn take_ready(&mut self, out: &mut Vec<ConnId>) {
        if self.memory_waits {
            self.wake_memory_waits();
        }
        if out.try_reserve(self.ready.len()).is_err() {
            return;
        }
        for id in self.ready.drain(..) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.in_ready = false;
                out.push(id);
            }
        }
    }

    /// Stops serving `conn` after a platform-detected protocol violation
    /// (bad ring indices). Its watches, transactions and queued output are
    /// dropped; the domain record stays until the domain dies (XSA-325).
    pub fn ignore(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.ignored {
            return;
        }
        c.ignored = true;
        self.stats.ignored_conns = self.stats.ignored_conns.saturating_add(1);
        self.clear_conn_state(conn);
    }

    /// A guest reconnected its ring: drop partial input, queued output,
    /// watches and transactions, and serve it afresh.
    pub fn reset_connection(&mut self, conn: ConnId) {
        self.clear_conn_state(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ignored = false;
        }
    }

    /// Drops watches, transactions, partial input and queued output.
    pub(crate) fn clear_conn_state(&mut self, conn: ConnId) {
        self.lu_held.remove(&conn);
        self.delete_all_watches(conn);
        self.delete_all_transactions(conn);
        let msgs = match self.conns.get_mut(&conn) {
            Some(c) => {
                c.decoder.clear();
                c.waiting = None;
                c.resumed = false;
                c.out.take_all()
            }
            None => return,
        };
        for m in msgs {
            self.release_out(conn, m, false);
        }
        self.settle_out(conn);
    }

    /// The socket of `conn` closed.
    pub fn disconnect<P: Platform>(&mut self, conn: ConnId, platform: &mut P) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !c.socket {
            // A domain connection goes away only with its domain.
            let domid = c.domid;
            self.release_domain(domid, platform);
            return;
        }
        self.clear_conn_state(conn);
        self.remove_conn(conn);
    }

    /// Drops connection `conn` from the table.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) {
        self.lu_conn_gone(conn);
        if let Some(c) = self.conns.remove(&conn) {
            self.blocked_conns = recount(self.blocked_conns, c.blocked, false);
            if c.in_ready {
                // The list keeps at most one entry per live connection.
                self.ready.retain(|&id| id != conn);
            }
        }
    }

    /// When [`Engine::tick`] next has work: expiring a watch event,
    /// letting a write-rate limited domain be read again, or honouring a
    /// deferred ring reconnection; or when a started live update waiting
    /// for transactions is next due or refused
    /// ([`Engine::live_update_due`]). Cheap: the expiry part is a bound kept
    /// as events are queued, so it may be early (then `tick` finds nothing
    /// to expire and tightens it), never late.
    pub fn next_deadline(&self) -> Option<u64> {
        [self.expiry_bound, self.wrl_next_wakeup(), self.reconnect_deadline(), self.lu_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Drops unread watch events older than `watch_event_timeout_ms`, and
    /// lets write-rate limited domains whose credit recovered be read
    /// again and rings whose reconnection was deferred be reconnected
    /// (both are reported by [`Engine::take_ready`]). Does nothing before
    /// [`Engine::next_deadline`].
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.wrl_tick(now_ms);
        self.reconnect_tick(now_ms);
        if self.expiry_bound.is_some_and(|t| t <= now_ms) {
            self.expire_events(now_ms);
        }
    }

    /// Drops the queued events that expired by `now_ms` (never the one
    /// being sent) and recomputes [`Engine::expiry_bound`] exactly.
    fn expire_events(&mut self, now_ms: u64) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.out.unsent().any(|m| m.expired(now_ms)))
            .map(|(id, _)| *id)
            .collect();
        let seed = self.cfg.hash_seed;
        for id in ids {
            // The queue leaves its connection while its expired events are
            // released (which needs the engine, never the queue), so that
            // nothing is copied or collected on the way.
            let Some(mut out) = self.conns.get_mut(&id).map(|c| core::mem::take(&mut c.out)) else {
                continue;
            };
            out.remove_expired(now_ms, seed, |m| {
                self.stats.events_dropped = self.stats.events_dropped.saturating_add(1);
                self.release_out(id, m, false);
            });
            if let Some(c) = self.conns.get_mut(&id) {
                c.out = out;
            }
            self.settle_out(id);
        }
        self.expiry_bound =
            self.conns.values().flat_map(|c| c.out.unsent().filter_map(|m| m.expire_ms)).min();
    }

    /// The connection serving `domid`, if it is introduced.
    pub fn domain_conn(&self, domid: DomId) -> Option<ConnId> {
        self.domain(domid).filter(|d| d.introduced).and_then(|d| d.conn)
    }

    /// Whether the budget lets a caller take `bytes` more heap now
    /// (always, without a budget).
    pub(crate) fn heap_allows(&self, privileged: bool, bytes: usize) -> bool {
        self.cfg.budget.is_none_or(|b| b.allows(privileged, bytes))
    }

    /// Whether `domid` is the privileged domain.
    pub(crate) fn is_privileged(&self, domid: DomId) -> bool {
        domid == self.cfg.priv_domid
    }

    /// Queues a reply or event on `conn`, charging its memory
    /// ([`OutMsg::charge`]) to the connection's domain and the
    /// `outstanding` count for replies.
    pub(crate) fn queue_out(&mut self, conn: ConnId, msg: OutMsg) {
        let seed = self.cfg.hash_seed;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.ignored {
            return;
        }
        let domid = c.domid;
        let bytes = msg.charge();
        let reply = !msg.event;
        if let Some(t) = msg.expire_ms {
            self.expiry_bound = Some(self.expiry_bound.map_or(t, |b| b.min(t)));
        }
        c.out.push(msg, seed);
        let d = self.domain_or_create(domid);
        d.usage.add(Quota::Memory, crate::quota::delta(0, bytes));
        if reply {
            d.usage.add(Quota::Outstanding, 1);
        }
        self.settle_out(conn);
        self.mark_ready(conn);
    }

    /// Charges the change of `conn`'s output queue storage (its slots and
    /// event index, [`crate::conn::OutQueue::settle`]) to its domain.
    fn settle_out(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (was, now) = c.out.settle();
        let domid = c.domid;
        if was != now {
            if let Some(d) = self.domain_mut(domid) {
                d.usage.add(Quota::Memory, crate::quota::delta(was, now));
            }
        }
    }

    /// Releases a dequeued message's accounting.
    fn release_out(&mut self, conn: ConnId, m: OutMsg, _sent: bool) {
        let domid = match self.conns.get(&conn) {
            Some(c) => c.domid,
            None => return,
        };
        let freed = crate::quota::delta(m.charge(), 0);
        if m.event {
            if let Some(d) = self.domain_mut(domid) {
                d.usage.add(Quota::Memory, freed);
            }
            if let Some(req) = m.req {
                let mut finished = None;
                if let Some(p) = self.pending.get_mut(&req) {
                    p.events = p.events.saturating_sub(1);
                    if p.events == 0 && p.reply_done {
                        finished = Some(p.domid);
                    }
                }
                if let Some(d) = finished {
                    self.pending.remove(&req);
                    // Only a live record is credited: `release_domain` drops
                    // the pending requests of a domain it forgets, and a
                    // record must not come back for a dead domain.
                    if let Some(dom) = self.domain_mut(d) {
                        dom.usage.add(Quota::Outstanding, -1);
                    }
                    self.update_blocked_domain(d);
                }
            }
        } else {
            let mut keep = false;
            if let Some(req) = m.req {
                if let Some(p) = self.pending.get_mut(&req) {
                    if p.events > 0 {
                        p.reply_done = true;
                        keep = true;
                    } else {
                        self.pending.remove(&req);
                    }
                }
            }
            if let Some(d) = self.domain_mut(domid) {
                d.usage.add(Quota::Memory, freed);
                if !keep {
                    d.usage.add(Quota::Outstanding, -1);
                }
            }
        }
        self.update_blocked_domain(domid);
    }

    /// The record of `domid`, if it has one.
    pub(crate) fn domain(&self, domid: DomId) -> Option<&Domain> {
        self.domains.get(&domid.0)
    }

    /// The record of `domid`, if it has one, to change. Refunds go through
    /// here: they never bring back the record of a forgotten domain.
    pub(crate) fn domain_mut(&mut self, domid: DomId) -> Option<&mut Domain> {
        self.domains.get_mut(&domid.0)
    }

    /// The record of `domid`, created (global quotas, no usage) if it has
    /// none. Only for charging a domain known to be live: a request's
    /// caller, a connection's domain, a node's owner, an introduction.
    pub(crate) fn domain_or_create(&mut self, domid: DomId) -> &mut Domain {
        let q = &self.cfg.quotas;
        self.domains
            .entry(domid.0)
            .or_insert_with(|| Domain::new(domid, q.clone(), self.cfg.server_features))
    }

    /// The quotas of `domid`: its record's, or the global ones it would
    /// start with.
    pub(crate) fn domain_quotas(&self, domid: DomId) -> &Quotas {
        self.domain(domid).map_or(&self.cfg.quotas, |d| &d.quotas)
    }

    /// Whether `more` of `q` on top of `domid`'s usage would reach its
    /// quota ([`Domain::exceeds_with`]; a domain without a record has the
    /// global quotas and no usage).
    pub(crate) fn domain_exceeds_with(&self, domid: DomId, q: Quota, more: u64) -> bool {
        match self.domain(domid) {
            Some(d) => d.exceeds_with(q, more),
            None => self.cfg.quotas.exceeds(q, more),
        }
    }

    /// A report of memory use: nodes, connections, per-domain usage.
    pub fn memreport(&self) -> String {
        crate::control::memreport(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HypervisorModel, Semantics};
    use alloc::collections::BTreeSet;

    /// The ready list holds each live connection at most once, within the
    /// room reserved for it, however connections are made ready, taken,
    /// released and introduced again between two `take_ready` calls.
    #[test]
    fn the_ready_list_stays_within_one_slot_per_connection() {
        let mut hv = HypervisorModel::new(Semantics::Getdomaininfo417);
        let mut e = Engine::new(Config::default());
        let mut out = Vec::new();
        for round in 0..50u16 {
            for d in 1..=8u16 {
                let domid = DomId(d);
                hv.create(domid);
                let Ok(conn) = e.introduce(domid, 0, 1, &mut hv) else { panic!("introduce {d}") };
                assert!(e.ready.capacity() >= e.conns.len(), "listing it could allocate");
                for _ in 0..3 {
                    e.mark_ready(conn);
                }
                if (d + round) % 3 == 0 {
                    e.release_domain(domid, &mut hv);
                }
                let listed: BTreeSet<_> = e.ready.iter().collect();
                assert_eq!(listed.len(), e.ready.len(), "listed twice: {:?}", e.ready);
                assert!(e.ready.len() <= e.conns.len(), "{:?} for {:?}", e.ready, e.conns.keys());
            }
            if round % 2 == 0 {
                out.clear();
                e.take_ready(&mut out);
            }
            for d in 1..=8u16 {
                e.release_domain(DomId(d), &mut hv);
                hv.destroy(DomId(d));
            }
            assert!(e.ready.is_empty(), "released connections stay listed: {:?}", e.ready);
        }
    }
}
