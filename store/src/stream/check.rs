//! The rules a stream's records keep together: one `GLOBAL_DATA` and one
//! `GLOBAL_QUOTA_DATA` at most, unique connection ids, transactions,
//! domains, watches and nodes, and every reference to a connection or a
//! transaction pointing to an earlier record ("records upon which other
//! records depend must always appear earlier in the stream").
//!
//! Each kind is sorted by key in a vector of record indices (charged to
//! the budget), so checking takes O(n log n) time and one index per
//! record, whatever the records hold.

use core::cmp::Ordering;
use core::mem::size_of;

use alloc::vec::Vec;

use super::budget::Budget;
use super::error::DecodeError;
use super::records::Record;

/// Checks that `records` belong together, holding at most `budget` bytes
/// meanwhile (one index per record, at most).
pub fn check(records: &[Record], budget: usize) -> Result<(), DecodeError> {
    check_in(records, &mut Budget::new(budget), usize::MAX)
}

/// As [`check()`], charging `budget`; `offset` names the place in the input
/// an over-budget error reports.
pub(super) fn check_in(
    records: &[Record],
    budget: &mut Budget,
    offset: usize,
) -> Result<(), DecodeError> {
    singletons(records)?;
    let conns = Index::build(records, budget, offset, |r| matches!(r, Record::Connection(_)))?;
    let conns = conns.sorted(records, conn_key)?;
    let txs = Index::build(records, budget, offset, |r| matches!(r, Record::Transaction(_)))?;
    let txs = txs.sorted(records, tx_key)?;
    for (i, r) in records.iter().enumerate() {
        let found = match r {
            Record::Watch(w) => conns.earlier(records, i, |c| conn_key(c).cmp(&Some(w.conn_id))),
            Record::Transaction(t) => {
                conns.earlier(records, i, |c| conn_key(c).cmp(&Some(t.conn_id)))
            }
            Record::Node(n) => match n.tx {
                Some(tx) => {
                    txs.earlier(records, i, |t| tx_key(t).cmp(&Some((tx.conn_id, tx.tx_id))))
                }
                None => true,
            },
            _ => true,
        };
        if !found {
            return Err(DecodeError::Dangling { index: i, rtype: r.record_type() });
        }
    }
    txs.release(budget);
    conns.release(budget);
    for (pick, key) in [
        (is_watch as fn(&Record) -> bool, watch_cmp as fn(&Record, &Record) -> Ordering),
        (is_node, node_cmp),
        (is_domain, domain_cmp),
    ] {
        let idx = Index::build(records, budget, offset, pick)?;
        let idx = idx.sorted_by(records, key)?;
        idx.release(budget);
    }
    Ok(())
}

fn is_watch(r: &Record) -> bool {
    matches!(r, Record::Watch(_))
}

fn is_node(r: &Record) -> bool {
    matches!(r, Record::Node(_))
}

fn is_domain(r: &Record) -> bool {
    matches!(r, Record::Domain(_))
}

/// At most one `GLOBAL_DATA` and one `GLOBAL_QUOTA_DATA`.
fn singletons(records: &[Record]) -> Result<(), DecodeError> {
    let (mut global, mut quota) = (false, false);
    for (i, r) in records.iter().enumerate() {
        let seen = match r {
            Record::Global(_) => &mut global,
            Record::GlobalQuota(_) => &mut quota,
            _ => continue,
        };
        if *seen {
            return Err(DecodeError::Duplicate { index: i, rtype: r.record_type() });
        }
        *seen = true;
    }
    Ok(())
}

fn conn_key(r: &Record) -> Option<u32> {
    match r {
        Record::Connection(c) => Some(c.conn_id),
        _ => None,
    }
}

fn tx_key(r: &Record) -> Option<(u32, u32)> {
    match r {
        Record::Transaction(t) => Some((t.conn_id, t.tx_id)),
        _ => None,
    }
}

fn watch_cmp(a: &Record, b: &Record) -> Ordering {
    match (a, b) {
        (Record::Watch(a), Record::Watch(b)) => {
            (a.conn_id, &a.path, &a.token).cmp(&(b.conn_id, &b.path, &b.token))
        }
        _ => Ordering::Equal,
    }
}

fn node_cmp(a: &Record, b: &Record) -> Ordering {
    match (a, b) {
        (Record::Node(a), Record::Node(b)) => {
            let ka = a.tx.map(|t| (t.conn_id, t.tx_id));
            let kb = b.tx.map(|t| (t.conn_id, t.tx_id));
            (ka, &a.path).cmp(&(kb, &b.path))
        }
        _ => Ordering::Equal,
    }
}

fn domain_cmp(a: &Record, b: &Record) -> Ordering {
    match (a, b) {
        (Record::Domain(a), Record::Domain(b)) => a.domid.cmp(&b.domid),
        _ => Ordering::Equal,
    }
}

/// Indices of the records of one kind.
struct Index {
    idx: Vec<usize>,
}

impl Index {
    fn build(
        records: &[Record],
        budget: &mut Budget,
        offset: usize,
        pick: impl Fn(&Record) -> bool,
    ) -> Result<Index, DecodeError> {
        let n = records.iter().filter(|r| pick(r)).count();
        let mut idx = budget.vec(n, offset)?;
        idx.extend(records.iter().enumerate().filter(|(_, r)| pick(r)).map(|(i, _)| i));
        Ok(Index { idx })
    }

    fn release(self, budget: &mut Budget) {
        budget.release(self.idx.capacity().saturating_mul(size_of::<usize>()));
    }

    /// Sorted by `key`, refusing two records with the same key.
    fn sorted<K: Ord>(
        self,
        records: &[Record],
        key: fn(&Record) -> K,
    ) -> Result<Self, DecodeError> {
        self.sorted_by(records, |a, b| key(a).cmp(&key(b)))
    }

    /// Sorted by `cmp` then by position, refusing two records `cmp` finds
    /// equal (the later one is reported).
    fn sorted_by(
        mut self,
        records: &[Record],
        cmp: impl Fn(&Record, &Record) -> Ordering,
    ) -> Result<Self, DecodeError> {
        let get = |i: &usize| records.get(*i);
        self.idx.sort_unstable_by(|a, b| match (get(a), get(b)) {
            (Some(ra), Some(rb)) => cmp(ra, rb).then(a.cmp(b)),
            _ => a.cmp(b),
        });
        for pair in self.idx.windows(2) {
            if let [a, b] = *pair {
                if let (Some(ra), Some(rb)) = (get(&a), get(&b)) {
                    if cmp(ra, rb) == Ordering::Equal {
                        return Err(DecodeError::Duplicate { index: b, rtype: rb.record_type() });
                    }
                }
            }
        }
        Ok(self)
    }

    /// Whether the record `find` matches (0 or 1, the index being free of
    /// duplicates) comes before record `before`.
    fn earlier(
        &self,
        records: &[Record],
        before: usize,
        find: impl Fn(&Record) -> Ordering,
    ) -> bool {
        let found = self.idx.binary_search_by(|i| records.get(*i).map_or(Ordering::Less, &find));
        match found {
            Ok(at) => self.idx.get(at).is_some_and(|i| *i < before),
            Err(_) => false,
        }
    }
}
