//! The rules one record must keep, shared by the writer (which refuses to
//! write a record breaking them) and the reader (which refuses to return
//! one), so that whatever the writer writes the reader reads back.

use ring::wire::XENSTORE_PAYLOAD_MAX;

use super::error::Invalid;
use super::records::{
    ConnectionData, DomainData, GlobalQuotaData, NodeData, QuotaValue, Record, Version, WatchData,
    NODE_ACCESS_READ, NODE_ACCESS_WRITTEN,
};

/// Checks `record` against the rules of a `version` stream.
pub(super) fn check(record: &Record, version: Version) -> Result<(), Invalid> {
    match record {
        Record::Global(_) => Ok(()),
        Record::Connection(c) => connection(c),
        Record::Watch(w) => watch(w, version),
        Record::Transaction(t) => nonzero(t.conn_id),
        Record::Node(n) => node(n),
        Record::GlobalQuota(q) => global_quota(q),
        Record::Domain(d) => domain(d),
    }
}

fn nonzero(conn_id: u32) -> Result<(), Invalid> {
    if conn_id == 0 {
        Err(Invalid::ConnIdZero)
    } else {
        Ok(())
    }
}

fn no_nul(s: &[u8]) -> Result<(), Invalid> {
    if s.contains(&0) {
        Err(Invalid::NulInString)
    } else {
        Ok(())
    }
}

/// A path: not empty, no NUL.
fn path(p: &[u8]) -> Result<(), Invalid> {
    if p.is_empty() {
        return Err(Invalid::EmptyPath);
    }
    no_nul(p)
}

fn connection(c: &ConnectionData) -> Result<(), Invalid> {
    nonzero(c.conn_id)?;
    if u16::try_from(c.in_data.len()).is_err() {
        return Err(Invalid::InDataTooLong);
    }
    if u32::try_from(c.out_data.len()).is_err() {
        return Err(Invalid::OutDataTooLong);
    }
    if usize::from(c.out_resp_len) > c.out_data.len() {
        return Err(Invalid::RespLenTooLong);
    }
    Ok(())
}

fn watch(w: &WatchData, version: Version) -> Result<(), Invalid> {
    nonzero(w.conn_id)?;
    path(&w.path)?;
    no_nul(&w.token)?;
    // Path and token, each with its NUL, came in one WATCH payload.
    let wire = w.path.len().saturating_add(w.token.len()).saturating_add(2);
    if wire > XENSTORE_PAYLOAD_MAX {
        return Err(Invalid::WatchTooLong);
    }
    if w.depth.is_some() && version < Version::V2 {
        return Err(Invalid::ExtendedInV1);
    }
    Ok(())
}

fn node(n: &NodeData) -> Result<(), Invalid> {
    path(&n.path)?;
    if n.path.len() >= XENSTORE_PAYLOAD_MAX {
        return Err(Invalid::PathTooLong);
    }
    if n.value.len() > XENSTORE_PAYLOAD_MAX {
        return Err(Invalid::ValueTooLong);
    }
    if u16::try_from(n.perms.len()).is_err() {
        return Err(Invalid::TooManyPerms);
    }
    match n.tx {
        None if n.perms.is_empty() => Err(Invalid::NoOwner),
        None => Ok(()),
        Some(tx) => {
            nonzero(tx.conn_id)?;
            if tx.access & !(NODE_ACCESS_READ | NODE_ACCESS_WRITTEN) != 0 {
                return Err(Invalid::UnknownAccess(tx.access));
            }
            if n.perms.is_empty() && (!n.value.is_empty() || tx.access != 0) {
                return Err(Invalid::DeletedNotEmpty);
            }
            Ok(())
        }
    }
}

fn quotas(q: &[QuotaValue]) -> Result<(), Invalid> {
    if u16::try_from(q.len()).is_err() {
        return Err(Invalid::TooManyQuotas);
    }
    q.iter().try_for_each(|v| no_nul(&v.name))
}

fn global_quota(q: &GlobalQuotaData) -> Result<(), Invalid> {
    quotas(&q.per_domain)?;
    quotas(&q.global)
}

fn domain(d: &DomainData) -> Result<(), Invalid> {
    quotas(&d.quotas)
}
