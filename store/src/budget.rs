//! The global memory budget: how many real heap bytes the engine may hold.
//!
//! Quotas bound what one domain can make the engine hold, counted as C
//! xenstored counts; they say nothing about all domains together, and
//! counted bytes are not heap bytes. The budget closes both gaps. The
//! platform hands in a *meter*, its allocator's count of live bytes (the
//! stub's `linked_list_allocator`, the daemon's counting allocator, a
//! test's capped allocator), and the engine asks it before every growth a
//! request can drive:
//!
//! * a request is admitted only while the heap has [`REQUEST_HEADROOM`]
//!   bytes left below the caller's limit; otherwise it is answered
//!   `ENOMEM` without being handled. Whatever a request allocates without
//!   asking again (its reply, small bookkeeping) fits in that headroom. A
//!   request that only gives memory back (ending a transaction, dropping
//!   watches, removing nodes outside a transaction) is admitted until
//!   [`RELEASE_HEADROOM`] is left under the limit plus that headroom, so
//!   that what holds memory can be ended (a toolstack that filled the
//!   budget with nodes can remove them);
//! * growth a single request can make large (transaction records, the
//!   paths of a subtree being removed, watch events queued for guests,
//!   replies) asks for its own bytes before it is taken;
//! * what a request costs before it is looked at is asked too: the
//!   buffer of a payload that arrives in pieces is granted only if the
//!   request it carries will then be admitted, and a request that will be
//!   refused is read only if its refusal ([`crate::dispatch::REFUSAL_BYTES`])
//!   fits in the headroom. A connection that cannot have either is not
//!   read ([`MemWait`]) until the heap has room again;
//! * unprivileged domains stop at `limit - reserve`: the last `reserve`
//!   bytes serve only the privileged domain (the toolstack), so guests
//!   that used up theirs cannot stop domains from being created,
//!   destroyed or cleaned up.
//!
//! With a meter, a guest can therefore never take the heap past
//! `limit - reserve + REQUEST_HEADROOM`, and the privileged domain never
//! past `limit + REQUEST_HEADROOM`; the platform picks `limit` below its
//! real heap by at least that headroom plus what fragmentation may waste.
//! Without a budget (the default) only the quotas apply.
//!
//! Each domain's `memory` quota is also capped at a share of the guests'
//! part of the budget ([`DOMAIN_SHARE_DIVISOR`]), so that the default
//! quotas stay coherent on a small stub: one domain at its quota leaves
//! room for the others.

use hashbrown::HashMap;

use crate::quota::{Limit, Quota, Quotas};

/// Bytes one request may allocate beyond what it asks the budget for:
/// its reply (at most one payload), a new chunk of node records
/// (`arena::CHUNK_BYTES`), the request's bookkeeping and small transient
/// buffers.
pub const REQUEST_HEADROOM: usize = 32 * 1024;

/// Bytes a request that only gives memory back (`XS_TRANSACTION_END`,
/// `XS_UNWATCH`, `XS_RESET_WATCHES`, `XS_RM` outside a transaction) may
/// allocate beyond what it asks for: its reply and a copy of its path made
/// absolute (two payloads), and for `XS_RM` the removal walk's path and
/// what the lookup cache grows by (three paths of at most
/// `XENSTORE_ABS_PATH_MAX` and 3 KiB of directories). The arena's
/// compaction list, after a removal, is reserved fallibly and the
/// compaction skipped when it does not fit. Such a request is admitted
/// while this much is left under the caller's limit plus
/// [`REQUEST_HEADROOM`] (`Engine::admitted`), so that what holds memory
/// can always be ended.
pub const RELEASE_HEADROOM: usize = 24 * 1024;
const _: () = assert!(
    2 * ring::wire::XENSTORE_PAYLOAD_MAX + 4 * ring::wire::XENSTORE_ABS_PATH_MAX + 3 * 1024
        <= RELEASE_HEADROOM
);
const _: () = assert!(RELEASE_HEADROOM < REQUEST_HEADROOM);

/// What inserting one more entry into `map` may allocate at once: nothing
/// while it has a free slot; when it is full, hashbrown moves it into a
/// table twice the size (the old table is freed only after the move, and
/// is already in the heap), or allocates its first table of four buckets.
/// Asking for a record's own slot ("slots count twice") covers a table in
/// the long run, not this step: a transaction map of 1024 records or a
/// table of thousands of tracked paths grows by hundreds of KiB at once.
pub(crate) fn map_insert_growth<K, V, S>(map: &HashMap<K, V, S>) -> usize
where
    K: Eq + core::hash::Hash,
    S: core::hash::BuildHasher,
{
    if map.len() < map.capacity() {
        return 0;
    }
    let slot = core::mem::size_of::<(K, V)>().saturating_add(1);
    // The first table: four buckets, their control bytes and a group.
    let first = slot.saturating_mul(4).saturating_add(32);
    map.allocation_size().saturating_mul(2).max(first)
}

/// One domain may hold at most this fraction of the guests' part of the
/// budget (`limit - reserve`), whatever its `memory` quota says.
pub const DOMAIN_SHARE_DIVISOR: usize = 8;

/// What a connection that is not read for memory waits for: the bytes the
/// budget did not grant it (`Conn::waiting`, [`MemoryBudget::grants`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemWait {
    /// Room to queue the refusal of its next request within the headroom
    /// (the heap is over its caller's admission line).
    Refusal,
    /// A buffer for a split payload of this length, with the request's
    /// headroom after it.
    Payload(u16),
}

/// A budget: the platform's heap meter and the limits it enforces.
#[derive(Clone, Copy, Debug)]
pub struct MemoryBudget {
    /// Live heap bytes the engine may reach (privileged requests).
    pub limit: usize,
    /// The part of `limit` only the privileged domain may use.
    pub reserve: usize,
    /// Live heap bytes now, as the platform's allocator counts them.
    pub meter: fn() -> usize,
}

impl MemoryBudget {
    /// A budget for a heap of `heap` bytes: keeps an eighth of it (at
    /// least twice [`REQUEST_HEADROOM`]) out of reach for fragmentation
    /// and the last request's headroom, and reserves a quarter of the
    /// rest for the privileged domain.
    pub fn for_heap(heap: usize, meter: fn() -> usize) -> MemoryBudget {
        let margin = (heap / 8).max(REQUEST_HEADROOM.saturating_mul(2));
        let limit = heap.saturating_sub(margin);
        MemoryBudget { limit, reserve: limit / 4, meter }
    }

    /// The limit for a privileged or unprivileged caller.
    pub fn limit_for(&self, privileged: bool) -> usize {
        if privileged {
            self.limit
        } else {
            self.limit.saturating_sub(self.reserve)
        }
    }

    /// Whether `bytes` more may be taken for a caller now.
    pub fn allows(&self, privileged: bool, bytes: usize) -> bool {
        (self.meter)().saturating_add(bytes) <= self.limit_for(privileged)
    }

    /// Whether `bytes` more stay within the caller's limit plus
    /// [`REQUEST_HEADROOM`]: what a request that is not handled (its
    /// refusal) may take, as a handled one may take its headroom.
    pub fn allows_in_headroom(&self, privileged: bool, bytes: usize) -> bool {
        let max = self.limit_for(privileged).saturating_add(REQUEST_HEADROOM);
        (self.meter)().saturating_add(bytes) <= max
    }

    /// Whether a connection waiting for `wait` can be read again now.
    pub fn grants(&self, privileged: bool, wait: MemWait) -> bool {
        match wait {
            MemWait::Refusal => self.allows_in_headroom(privileged, crate::dispatch::REFUSAL_BYTES),
            MemWait::Payload(len) => {
                self.allows(privileged, usize::from(len).saturating_add(REQUEST_HEADROOM))
            }
        }
    }

    /// The most one domain may hold.
    pub fn domain_share(&self) -> usize {
        self.limit_for(false) / DOMAIN_SHARE_DIVISOR
    }

    /// Caps the `memory` quota (hard, and soft at four fifths of it) of
    /// `quotas` at one domain's share.
    pub fn cap_quotas(&self, quotas: &mut Quotas) {
        let share = u32::try_from(self.domain_share()).unwrap_or(u32::MAX);
        let soft = (share / 5).saturating_mul(4);
        if quotas.get(Quota::Memory, Limit::Hard) > share {
            quotas.set(Quota::Memory, Limit::Hard, share);
        }
        if quotas.get(Quota::Memory, Limit::Soft) > soft {
            quotas.set(Quota::Memory, Limit::Soft, soft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    static USED: AtomicUsize = AtomicUsize::new(0);
    fn meter() -> usize {
        USED.load(Ordering::Relaxed)
    }

    #[test]
    fn guests_stop_at_the_reserve_the_privileged_domain_at_the_limit() {
        let b = MemoryBudget::for_heap(2_804 * 1024, meter);
        assert!(b.limit < 2_804 * 1024 - REQUEST_HEADROOM);
        USED.store(b.limit - b.reserve - 100, Ordering::Relaxed);
        assert!(b.allows(false, 100));
        assert!(!b.allows(false, 101));
        assert!(b.allows(true, b.reserve + 100));
        assert!(!b.allows(true, b.reserve + 101));
    }

    #[test]
    fn the_memory_quota_is_capped_at_a_share() {
        let b = MemoryBudget::for_heap(2_804 * 1024, meter);
        let mut q = Quotas::default();
        b.cap_quotas(&mut q);
        let hard = q.get(Quota::Memory, Limit::Hard) as usize;
        assert_eq!(hard, b.domain_share());
        assert!(q.get(Quota::Memory, Limit::Soft) < q.get(Quota::Memory, Limit::Hard));
        // A budget bigger than the quota leaves the quota alone.
        let big = MemoryBudget::for_heap(1 << 30, meter);
        let mut q = Quotas::default();
        big.cap_quotas(&mut q);
        assert_eq!(q, Quotas::default());
    }
}
