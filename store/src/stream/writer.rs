//! The encoder: a header, records, `END`, appended to a `Vec<u8>`.
//!
//! Every record is checked ([`super::rules`]) and measured before a byte
//! is written, and the output grows fallibly, so a refused record leaves
//! the output as it was.

use alloc::vec::Vec;

use super::error::EncodeError;
use super::records::{
    ByteOrder, ConnKind, ConnectionData, DomainData, GlobalQuotaData, Header, NodeData, QuotaValue,
    Record, RecordType, Version, WatchData, CONN_FIELD_UNIQUE_ID, CONN_FIXED_LEN, CONN_TYPE_RING,
    CONN_TYPE_SOCKET, DOMAIN_FIXED_LEN, FLAG_BIG_ENDIAN, GLOBAL_LEN, GLOBAL_QUOTA_FIXED_LEN,
    HEADER_LEN, NODE_FIXED_LEN, PERM_FLAG_IGNORE, PERM_LEN, RECORD_HEADER_LEN, STREAM_IDENT,
    TRANSACTION_LEN, WATCH_EXT_FIXED_LEN, WATCH_FIXED_LEN,
};
use super::rules;
use super::wire::{pad8, Put};

/// Writes one stream into a buffer: [`Writer::new`] writes the header,
/// [`Writer::record`] each record, [`Writer::end`] the `END` record.
/// Whether the records belong together (unique ids, references to earlier
/// records) is the caller's to ensure; [`super::check()`] tells.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    header: Header,
}

impl<'a> Writer<'a> {
    /// Appends the stream header to `out`.
    pub fn new(header: Header, out: &'a mut Vec<u8>) -> Result<Self, EncodeError> {
        out.try_reserve(HEADER_LEN).map_err(|_| EncodeError::AllocFailed)?;
        out.extend_from_slice(&STREAM_IDENT);
        out.extend_from_slice(&header.version.as_u32().to_be_bytes());
        let flags = match header.order {
            ByteOrder::Little => 0,
            ByteOrder::Big => FLAG_BIG_ENDIAN,
        };
        out.extend_from_slice(&flags.to_be_bytes());
        Ok(Writer { out, header })
    }

    /// Appends one record, or nothing if it is refused.
    pub fn record(&mut self, record: &Record) -> Result<(), EncodeError> {
        let rtype = record.record_type();
        rules::check(record, self.header.version)
            .map_err(|what| EncodeError::Invalid { rtype, what })?;
        let too_long = EncodeError::TooLong { rtype };
        let body = body_len(record).ok_or(too_long)?;
        let len = u32::try_from(body).map_err(|_| too_long)?;
        let total = body.checked_add(RECORD_HEADER_LEN).ok_or(too_long)?;
        self.out.try_reserve(total).map_err(|_| EncodeError::AllocFailed)?;
        let mut put = Put { out: self.out, order: self.header.order };
        put.u32(rtype.code());
        put.u32(len);
        let start = put.out.len();
        write_body(&mut put, record, self.header.version);
        put.align_from(start);
        Ok(())
    }

    /// Appends `END`, finishing the stream.
    pub fn end(self) -> Result<(), EncodeError> {
        self.out.try_reserve(RECORD_HEADER_LEN).map_err(|_| EncodeError::AllocFailed)?;
        let mut put = Put { out: self.out, order: self.header.order };
        put.u32(RecordType::End.code());
        put.u32(0);
        Ok(())
    }
}

/// Bytes of `names` on the wire, each with its NUL.
fn names_len(q: &[QuotaValue]) -> Option<usize> {
    q.iter().try_fold(0usize, |acc, v| acc.checked_add(v.name.len())?.checked_add(1))
}

/// Bytes of `n` quota values.
fn values_len(n: usize) -> Option<usize> {
    n.checked_mul(4)
}

/// The padded body length of `record` (after [`rules::check`] passed).
fn body_len(record: &Record) -> Option<usize> {
    let content = match record {
        Record::Global(_) => GLOBAL_LEN,
        Record::Connection(c) => {
            let data =
                CONN_FIXED_LEN.checked_add(c.in_data.len())?.checked_add(c.out_data.len())?;
            let uid = if c.unique_id.is_some() { 8 } else { 0 };
            return pad8(data)?.checked_add(uid);
        }
        Record::Watch(w) => {
            let fixed = if w.depth.is_some() { WATCH_EXT_FIXED_LEN } else { WATCH_FIXED_LEN };
            fixed.checked_add(w.path.len())?.checked_add(w.token.len())?.checked_add(2)?
        }
        Record::Transaction(_) => TRANSACTION_LEN,
        Record::Node(n) => NODE_FIXED_LEN
            .checked_add(n.perms.len().checked_mul(PERM_LEN)?)?
            .checked_add(n.path.len())?
            .checked_add(1)?
            .checked_add(n.value.len())?,
        Record::GlobalQuota(q) => {
            let all = q.per_domain.len().checked_add(q.global.len())?;
            GLOBAL_QUOTA_FIXED_LEN
                .checked_add(values_len(all)?)?
                .checked_add(names_len(&q.per_domain)?)?
                .checked_add(names_len(&q.global)?)?
        }
        Record::Domain(d) => DOMAIN_FIXED_LEN
            .checked_add(values_len(d.quotas.len())?)?
            .checked_add(names_len(&d.quotas)?)?,
    };
    pad8(content)
}

/// A count the rules bounded to 16 bits.
fn count16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn write_body(put: &mut Put<'_>, record: &Record, version: Version) {
    match record {
        Record::Global(g) => {
            put.i32(g.socket_fd);
            put.i32(g.evtchn_fd);
        }
        Record::Connection(c) => connection(put, c),
        Record::Watch(w) => watch(put, w),
        Record::Transaction(t) => {
            put.u32(t.conn_id);
            put.u32(t.tx_id);
        }
        Record::Node(n) => node(put, n),
        Record::GlobalQuota(q) => global_quota(put, q),
        Record::Domain(d) => domain(put, d, version),
    }
}

fn connection(put: &mut Put<'_>, c: &ConnectionData) {
    let start = put.out.len();
    put.u32(c.conn_id);
    let fields = if c.unique_id.is_some() { CONN_FIELD_UNIQUE_ID } else { 0 };
    match c.kind {
        ConnKind::Ring { domid, tdomid, evtchn } => {
            put.u16(CONN_TYPE_RING);
            put.u16(fields);
            put.u16(domid);
            put.u16(tdomid);
            put.u32(evtchn);
        }
        ConnKind::Socket { fd } => {
            put.u16(CONN_TYPE_SOCKET);
            put.u16(fields);
            put.i32(fd);
            put.u32(0);
        }
    }
    put.u16(count16(c.in_data.len()));
    put.u16(c.out_resp_len);
    put.u32(u32::try_from(c.out_data.len()).unwrap_or(u32::MAX));
    put.bytes(&c.in_data);
    put.bytes(&c.out_data);
    if let Some(uid) = c.unique_id {
        put.align_from(start);
        put.u64(uid);
    }
}

fn watch(put: &mut Put<'_>, w: &WatchData) {
    put.u32(w.conn_id);
    put.u16(count16(w.path.len().saturating_add(1)));
    put.u16(count16(w.token.len().saturating_add(1)));
    if let Some(depth) = w.depth {
        put.u16(depth);
        put.u16(0);
    }
    put.bytes(&w.path);
    put.bytes(&[0]);
    put.bytes(&w.token);
    put.bytes(&[0]);
}

fn node(put: &mut Put<'_>, n: &NodeData) {
    let (conn_id, tx_id, access) = n.tx.map_or((0, 0, 0), |t| (t.conn_id, t.tx_id, t.access));
    put.u32(conn_id);
    put.u32(tx_id);
    put.u16(count16(n.path.len().saturating_add(1)));
    put.u16(count16(n.value.len()));
    put.u16(access);
    put.u16(count16(n.perms.len()));
    for p in &n.perms {
        put.bytes(&[p.access.letter(), if p.ignore { PERM_FLAG_IGNORE } else { 0 }]);
        put.u16(p.domid);
    }
    put.bytes(&n.path);
    put.bytes(&[0]);
    put.bytes(&n.value);
}

fn quota_values(put: &mut Put<'_>, q: &[QuotaValue]) {
    q.iter().for_each(|v| put.u32(v.value));
}

fn quota_names(put: &mut Put<'_>, q: &[QuotaValue]) {
    for v in q {
        put.bytes(&v.name);
        put.bytes(&[0]);
    }
}

fn global_quota(put: &mut Put<'_>, q: &GlobalQuotaData) {
    put.u16(count16(q.per_domain.len()));
    put.u16(count16(q.global.len()));
    quota_values(put, &q.per_domain);
    quota_values(put, &q.global);
    quota_names(put, &q.per_domain);
    quota_names(put, &q.global);
}

fn domain(put: &mut Put<'_>, d: &DomainData, version: Version) {
    put.u16(d.domid);
    put.u16(count16(d.quotas.len()));
    // Not valid in version 1: written as zero, as the format asks.
    put.u32(if version >= Version::V2 { d.features } else { 0 });
    quota_values(put, &d.quotas);
    quota_names(put, &d.quotas);
}
