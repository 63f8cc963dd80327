//! Write-rate limiting (XSA-206): a guest that writes in a tight loop must
//! not keep aborting the toolstack's transactions forever.
//!
//! The mechanism is C 4.22's (`domain.c`, `wrl_*`), restated:
//!
//! - Every introduced domain holds a *credit*, counted in thousandths of a
//!   write ([`WRL_FACTOR`]). A write-type request (`WRITE`, `MKDIR`, `RM`,
//!   `SET_PERMS` outside a transaction, or a successful commit) costs one
//!   write, but only while some transaction is open anywhere: writes that
//!   can abort nobody are free. The privileged domain and socket clients
//!   are never charged.
//! - Credit grows with time at [`WRL_RATE`] writes per second, shared
//!   evenly by all introduced domains, and only whole milliseconds count.
//!   A domain keeps at most [`WRL_DBURST`] writes; what it earns beyond that
//!   goes to a global reserve of at most [`WRL_GBURST`] writes, which tops
//!   up any domain whose credit is negative. A newly introduced domain
//!   starts with up to `WRL_DBURST` writes taken from the reserve, which
//!   may go negative by up to [`WRL_NEWDOMS`] such bursts; a domain that
//!   goes away returns its positive credit to the reserve.
//! - A domain with negative credit is flow-controlled: the engine stops
//!   reading its connection until its credit is back to zero, which
//!   [`Limiter::wakeup_ms`] predicts so that platforms wake up then.
//! - The first time a domain is limited a warning names it; later episodes
//!   log "rate limiting restarts" once, and after [`WRL_LOGEVERY_S`]
//!   seconds without limiting "not in force recently" is logged.
//!
//! All arithmetic is on `i64` and clamped to [`WRL_CREDIT_MAX`], so no
//! value a guest or the clock can produce overflows.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use ring::wire::MsgType;

use crate::engine::Engine;
use crate::ids::DomId;
use crate::request::Req;

/// Fixed-point scale: one write costs this much credit.
pub const WRL_FACTOR: i64 = 1000;
/// Writes per second shared by all introduced domains.
pub const WRL_RATE: i64 = 200;
/// Writes one domain may save up (its burst).
pub const WRL_DBURST: i64 = 10;
/// Writes the global reserve may save up.
pub const WRL_GBURST: i64 = 1000;
/// How many new domains' initial bursts the reserve may owe.
pub const WRL_NEWDOMS: i64 = 5;
/// Bound of every credit value (keeps the sums far from overflow).
pub const WRL_CREDIT_MAX: i64 = 1_000_000_000;
/// Seconds without limiting after which "not in force recently" is logged.
pub const WRL_LOGEVERY_S: u64 = 120;

/// Credit one write costs.
const WRITE_COST: i64 = WRL_FACTOR;
/// Credit earned per second (to share between domains).
const RATE: i64 = WRL_RATE * WRL_FACTOR;
/// Most credit a domain keeps.
const DBURST: i64 = WRL_DBURST * WRL_FACTOR;
/// Most credit the reserve keeps.
const GBURST: i64 = WRL_GBURST * WRL_FACTOR;
/// Lowest the reserve goes when handing new domains their burst.
const NEWDOMS_DBURST: i64 = WRL_DBURST * WRL_NEWDOMS * WRL_FACTOR;
/// Longest stretch of time credited at once (keeps products in range).
const MAX_ELAPSED_MS: u64 = 1_000_000_000;

/// One domain's write credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    /// Credit in thousandths of a write; negative means throttled.
    pub credit: i64,
    /// When the credit was last brought up to date.
    pub timestamp_ms: u64,
    /// The domain was named in a warning already.
    pub delay_logged: bool,
}

impl Credit {
    /// Whether the domain must not be read from.
    pub fn throttled(&self) -> bool {
        self.credit < 0
    }
}

/// The global state of the limiter (C's `wrl_*` globals).
#[derive(Debug, Default)]
pub struct Limiter {
    /// Open transactions, of every connection.
    ntransactions: u64,
    /// Introduced domains holding a [`Credit`].
    ndomains: u64,
    /// The shared reserve, in `[-NEWDOMS_DBURST, GBURST]`.
    reserve: i64,
    /// When (in seconds) limiting was last in force; `None` when that was
    /// logged as over.
    last_warning_s: Option<u64>,
    /// Domains whose credit is negative (to re-check on `tick`).
    throttled: BTreeSet<u16>,
    /// How many writes found the domain's credit exhausted.
    delays: u64,
}

/// Moves as much credit as possible from `debit` to `credit` keeping
/// `debit >= debit_floor` and `credit <= credit_ceil` (nothing if either
/// is violated already; C `wrl_xfer_credit`).
fn transfer(debit: &mut i64, debit_floor: i64, credit: &mut i64, credit_ceil: i64) {
    let amount = debit.saturating_sub(debit_floor).min(credit_ceil.saturating_sub(*credit));
    if amount > 0 {
        *debit = debit.saturating_sub(amount);
        *credit = credit.saturating_add(amount);
    }
}

impl Limiter {
    /// Whether any transaction is open, so that writes are charged.
    pub fn active(&self) -> bool {
        self.ntransactions > 0
    }

    /// A transaction was opened.
    pub fn tx_opened(&mut self) {
        self.ntransactions = self.ntransactions.saturating_add(1);
    }

    /// A transaction ended (committed, aborted or dropped).
    pub fn tx_closed(&mut self) {
        self.ntransactions = self.ntransactions.saturating_sub(1);
    }

    /// Writes that found their domain's credit exhausted.
    pub fn delays(&self) -> u64 {
        self.delays
    }

    /// Stops tracking `domid` as throttled (its credit is gone).
    pub fn forget(&mut self, domid: u16) {
        self.throttled.remove(&domid);
    }

    /// Domains currently throttled.
    pub fn throttled_domains(&self) -> impl Iterator<Item = u16> + '_ {
        self.throttled.iter().copied()
    }

    /// The credit of a newly introduced domain: up to a burst taken from
    /// the reserve (C `wrl_domain_new`).
    pub fn domain_new(&mut self, now_ms: u64) -> Credit {
        self.ndomains = self.ndomains.saturating_add(1);
        let mut c = Credit { credit: 0, timestamp_ms: now_ms, delay_logged: false };
        transfer(&mut self.reserve, -NEWDOMS_DBURST, &mut c.credit, DBURST);
        c
    }

    /// `domid` with credit `c` is gone: its positive credit returns to the
    /// reserve (C `wrl_domain_destroy`).
    pub fn domain_destroy(&mut self, domid: u16, c: &mut Credit) {
        self.ndomains = self.ndomains.saturating_sub(1);
        self.throttled.remove(&domid);
        transfer(&mut c.credit, 0, &mut self.reserve, DBURST);
    }

    /// Brings `c` up to `now_ms` (C `wrl_credit_update`).
    pub fn update(&mut self, domid: u16, c: &mut Credit, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(c.timestamp_ms).min(MAX_ELAPSED_MS);
        let earned = i64::try_from(elapsed)
            .unwrap_or(i64::MAX)
            .saturating_mul(RATE)
            .checked_div(self.share_divisor())
            .unwrap_or(0);
        c.credit = c.credit.saturating_add(earned).min(WRL_CREDIT_MAX);
        // Top up a negative credit from the reserve.
        transfer(&mut self.reserve, 0, &mut c.credit, 0);
        // Hand what exceeds a domain's burst to the reserve, then drop
        // whatever does not fit there either.
        let mut surplus = 0;
        transfer(&mut c.credit, DBURST, &mut surplus, WRL_CREDIT_MAX);
        transfer(&mut surplus, 0, &mut self.reserve, GBURST);
        // Only advance the clock when credit was given, so fractions of a
        // write accumulate instead of being lost (C keeps whole
        // milliseconds only; we do too, plus this).
        if earned > 0 || elapsed >= MAX_ELAPSED_MS {
            c.timestamp_ms = now_ms;
        }
        if c.throttled() {
            self.throttled.insert(domid);
        } else {
            self.throttled.remove(&domid);
        }
    }

    /// `ndomains * 1000`: the divisor turning `ms * RATE` into a domain's
    /// share of credit.
    fn share_divisor(&self) -> i64 {
        i64::try_from(self.ndomains.max(1)).unwrap_or(i64::MAX).saturating_mul(1000)
    }

    /// Charges one write to unprivileged `domid` (C
    /// `wrl_apply_debit_actual`); logs when it starts being limited.
    pub fn debit(&mut self, domid: u16, c: &mut Credit, now_ms: u64) {
        self.update(domid, c, now_ms);
        c.credit = c.credit.saturating_sub(WRITE_COST);
        if !c.throttled() {
            return;
        }
        self.throttled.insert(domid);
        self.delays = self.delays.saturating_add(1);
        if !c.delay_logged {
            c.delay_logged = true;
            log::warn!("write rate limit: domain {domid} is affected");
        } else if self.last_warning_s.is_none() {
            log::warn!("write rate limit: rate limiting restarts");
        }
        self.last_warning_s = Some(now_ms / 1000);
    }

    /// Logs once when limiting has not been in force for
    /// [`WRL_LOGEVERY_S`] seconds (C `wrl_log_periodic`).
    pub fn log_periodic(&mut self, now_ms: u64) {
        if let Some(last) = self.last_warning_s {
            if (now_ms / 1000).saturating_sub(last) > WRL_LOGEVERY_S {
                log::warn!("write rate limit: not in force recently");
                self.last_warning_s = None;
            }
        }
    }

    /// When [`Limiter::log_periodic`] will next log, if limiting was in
    /// force recently.
    pub fn log_deadline_ms(&self) -> Option<u64> {
        let s = self.last_warning_s?.saturating_add(WRL_LOGEVERY_S).saturating_add(1);
        Some(s.saturating_mul(1000))
    }

    /// When `c`'s credit will be back to zero, if it is negative: the
    /// moment its domain may be read from again.
    pub fn wakeup_ms(&self, c: &Credit) -> Option<u64> {
        if !c.throttled() {
            return None;
        }
        // -credit = ms * RATE / (ndomains * 1000), solved for ms and
        // rounded up so that the update at that time clears the debt.
        let owed = c.credit.checked_neg().unwrap_or(i64::MAX);
        let scaled = owed.saturating_mul(self.share_divisor());
        let ms = scaled.saturating_add(RATE - 1).checked_div(RATE).unwrap_or(0);
        Some(c.timestamp_ms.saturating_add(u64::try_from(ms).unwrap_or(u64::MAX)))
    }
}

impl Engine {
    /// Charges a write to the domain behind `req` after a successful
    /// request of type `ty` (C `wrl_apply_debit_direct` and
    /// `wrl_apply_debit_trans_commit`): node changes outside a transaction,
    /// and commits, while another transaction is open. For a commit the
    /// ended transaction is already uncounted, so "another" is "any".
    pub(crate) fn charge_write(&mut self, req: &Req, ty: MsgType, payload: &[u8]) {
        if req.who.privileged || !self.wrl.active() {
            return;
        }
        let write = match ty {
            MsgType::Write | MsgType::Mkdir | MsgType::Rm | MsgType::SetPerms => req.tx.is_none(),
            MsgType::TransactionEnd => payload == b"T\0",
            _ => false,
        };
        if !write {
            return;
        }
        let now = self.now_ms;
        let domid = req.who.domid;
        let Some(d) = self.domains.get_mut(&domid.0) else { return };
        if let Some(c) = d.wrl.as_mut() {
            self.wrl.debit(domid.0, c, now);
        }
    }

    /// Starts the credit of a domain being introduced.
    pub(crate) fn wrl_domain_new(&mut self, domid: DomId) {
        let now = self.now_ms;
        let Some(d) = self.domains.get_mut(&domid.0) else { return };
        if d.wrl.is_none() {
            d.wrl = Some(self.wrl.domain_new(now));
        }
    }

    /// Returns the credit of a domain being forgotten.
    pub(crate) fn wrl_domain_destroy(&mut self, domid: DomId) {
        let Some(d) = self.domains.get_mut(&domid.0) else { return };
        if let Some(mut c) = d.wrl.take() {
            self.wrl.domain_destroy(domid.0, &mut c);
        }
    }

    /// Whether `domid` is write-rate limited right now.
    pub(crate) fn wrl_throttled(&self, domid: DomId) -> bool {
        self.domain(domid).and_then(|d| d.wrl.as_ref()).is_some_and(Credit::throttled)
    }

    /// Brings a throttled domain's credit up to `now_ms`.
    pub(crate) fn wrl_refresh(&mut self, domid: DomId, now_ms: u64) {
        let Some(d) = self.domains.get_mut(&domid.0) else { return };
        if let Some(c) = d.wrl.as_mut().filter(|c| c.throttled()) {
            self.wrl.update(domid.0, c, now_ms);
        }
    }

    /// On `tick`: refreshes every throttled domain and wakes the
    /// connections whose credit recovered (C `wrl_check_timeout`,
    /// `wrl_log_periodic`).
    pub(crate) fn wrl_tick(&mut self, now_ms: u64) {
        self.wrl.log_periodic(now_ms);
        let ids: Vec<u16> = self.wrl.throttled_domains().collect();
        for id in ids {
            if self.domains.get(&id).and_then(|d| d.wrl.as_ref()).is_none() {
                self.wrl.forget(id);
                continue;
            }
            self.wrl_refresh(DomId(id), now_ms);
            if !self.wrl_throttled(DomId(id)) {
                self.update_blocked_domain(DomId(id));
            }
        }
    }

    /// The earliest moment a throttled domain may be read from again, or
    /// the end of limiting is to be logged.
    pub(crate) fn wrl_next_wakeup(&self) -> Option<u64> {
        self.wrl
            .throttled_domains()
            .filter_map(|id| self.domains.get(&id).and_then(|d| d.wrl.as_ref()))
            .filter_map(|c| self.wrl.wakeup_ms(c))
            .chain(self.wrl.log_deadline_ms())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_domain_gets_a_burst_from_the_reserve() {
        let mut l = Limiter::default();
        let c = l.domain_new(0);
        assert_eq!(c.credit, DBURST);
        assert_eq!(l.reserve, -DBURST);
        // Five new domains may borrow; the sixth starts with nothing.
        for _ in 0..4 {
            assert_eq!(l.domain_new(0).credit, DBURST);
        }
        assert_eq!(l.domain_new(0).credit, 0);
        assert_eq!(l.reserve, -NEWDOMS_DBURST);
    }

    #[test]
    fn burst_then_throttled_then_recovers_at_the_rate() {
        let mut l = Limiter::default();
        let mut c = l.domain_new(0);
        for _ in 0..WRL_DBURST {
            l.debit(7, &mut c, 0);
            assert!(!c.throttled());
        }
        l.debit(7, &mut c, 0);
        assert!(c.throttled());
        assert_eq!(l.delays(), 1);
        // "Not in force recently" is due once 120 whole seconds passed.
        assert_eq!(l.log_deadline_ms(), Some(121_000));
        assert_eq!(l.throttled_domains().collect::<alloc::vec::Vec<_>>(), [7]);
        // One write at 200/s with one domain: 5 ms.
        assert_eq!(l.wakeup_ms(&c), Some(5));
        l.update(7, &mut c, 4);
        assert!(c.throttled());
        l.update(7, &mut c, 5);
        assert!(!c.throttled());
        assert_eq!(l.throttled_domains().count(), 0);
        assert_eq!(l.wakeup_ms(&c), None);
        l.log_periodic(120_999);
        assert_eq!(l.log_deadline_ms(), Some(121_000));
        l.log_periodic(121_000);
        assert_eq!(l.log_deadline_ms(), None);
    }

    #[test]
    fn rate_is_shared_between_domains() {
        let mut l = Limiter::default();
        let mut a = l.domain_new(0);
        let _b = l.domain_new(0);
        a.credit = -WRITE_COST;
        // Two domains: each earns one write per 10 ms.
        assert_eq!(l.wakeup_ms(&a), Some(10));
        l.update(1, &mut a, 9);
        assert!(a.throttled());
        l.update(1, &mut a, 10);
        assert!(!a.throttled());
    }

    #[test]
    fn idle_credit_is_capped_and_feeds_the_reserve() {
        let mut l = Limiter::default();
        let mut c = l.domain_new(0);
        l.update(1, &mut c, 1_000_000);
        assert_eq!(c.credit, DBURST);
        assert_eq!(l.reserve, GBURST);
        // The reserve tops up a negative credit at once.
        c.credit = -WRITE_COST;
        l.update(1, &mut c, 1_000_000);
        assert_eq!(c.credit, 0);
        assert_eq!(l.reserve, GBURST - WRITE_COST);
    }

    #[test]
    fn destroy_returns_credit_and_huge_times_do_not_overflow() {
        let mut l = Limiter::default();
        let mut c = l.domain_new(0);
        l.domain_destroy(3, &mut c);
        assert_eq!(l.reserve, 0);
        assert_eq!(l.ndomains, 0);
        let mut c = l.domain_new(u64::MAX - 1);
        l.update(3, &mut c, 0);
        l.update(3, &mut c, u64::MAX);
        assert!(c.credit <= DBURST);
        c.credit = i64::MIN;
        assert!(l.wakeup_ms(&c).is_some());
        l.update(3, &mut c, u64::MAX);
    }

    #[test]
    fn transactions_are_counted() {
        let mut l = Limiter::default();
        assert!(!l.active());
        l.tx_opened();
        assert!(l.active());
        l.tx_closed();
        l.tx_closed();
        assert!(!l.active());
        l.log_periodic(0);
    }
}
