//! The decoder: records out of a byte slice, one at a time.
//!
//! The input is hostile. Every length is checked against the bytes its
//! record holds before anything is copied or allocated, every allocation
//! is asked of the caller's byte budget first and made fallibly, and a
//! record must fill its declared length exactly (its content padded to 8
//! bytes). Padding bytes are not looked at: the format says readers ignore
//! them, and C's `DOMAIN_DATA` and `GLOBAL_QUOTA_DATA` writers leave them
//! uninitialised.

use alloc::vec::Vec;

use super::budget::Budget;
use super::error::DecodeError;
use super::records::{
    ByteOrder, ConnKind, ConnectionData, DomainData, GlobalData, GlobalQuotaData, Header, NodeData,
    NodePerm, NodeTx, PermAccess, QuotaValue, Record, RecordType, TransactionData, Version,
    WatchData, CONN_FIELD_UNIQUE_ID, CONN_TYPE_RING, CONN_TYPE_SOCKET, FLAG_BIG_ENDIAN, HEADER_LEN,
    PERM_FLAG_IGNORE, PERM_LEN, RECORD_HEADER_LEN, STREAM_IDENT,
};
use super::rules;
use super::wire::{pad8, Cursor};

/// Reads the records of one stream. [`Reader::new`] reads the header;
/// [`Reader::next_record`] returns records until `END`.
///
/// Every byte the records it returns hold is charged to its budget, and
/// stays charged: it cannot know when the caller drops them.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    header: Header,
    budget: Budget,
    done: bool,
}

impl<'a> Reader<'a> {
    /// Reads the header of `input`; the records may hold at most `budget`
    /// bytes of heap altogether.
    pub fn new(input: &'a [u8], budget: usize) -> Result<Self, DecodeError> {
        let mut cur = Cursor::new(input, ByteOrder::Big);
        let truncated = DecodeError::Truncated { offset: input.len() };
        if cur.take(STREAM_IDENT.len()).ok_or(truncated)? != STREAM_IDENT {
            return Err(DecodeError::BadIdent);
        }
        let version = cur.u32().ok_or(truncated)?;
        let flags = cur.u32().ok_or(truncated)?;
        let version = Version::from_u32(version).ok_or(DecodeError::BadVersion(version))?;
        let order = match flags {
            0 => ByteOrder::Little,
            FLAG_BIG_ENDIAN => ByteOrder::Big,
            _ => return Err(DecodeError::BadFlags(flags)),
        };
        Ok(Reader {
            input,
            pos: HEADER_LEN,
            header: Header { version, order },
            budget: Budget::new(budget),
            done: false,
        })
    }

    /// The stream's header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Bytes read so far (after `END`: the stream's length).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes charged to the budget so far.
    pub fn used(&self) -> usize {
        self.budget.used()
    }

    pub(super) fn budget_mut(&mut self) -> &mut Budget {
        &mut self.budget
    }

    /// How many records are left before `END`, walking their headers only
    /// (no allocation): the input must hold each record's body and end
    /// with `END`. Bodies are not looked at.
    pub fn count_records(&self) -> Result<usize, DecodeError> {
        let mut pos = self.pos;
        let mut n = 0usize;
        if self.done {
            return Ok(0);
        }
        loop {
            let (rtype, len, next) = self.record_header(pos)?;
            if rtype == RecordType::End {
                if len != 0 {
                    return Err(DecodeError::EndNotEmpty { offset: pos });
                }
                return Ok(n);
            }
            n = n.saturating_add(1);
            pos = next;
        }
    }

    /// The type and length of the record at `offset`, and where the next
    /// one starts, once the input is known to hold it.
    fn record_header(&self, offset: usize) -> Result<(RecordType, u32, usize), DecodeError> {
        let rest = self.input.get(offset..).unwrap_or_default();
        let mut cur = Cursor::new(rest, self.header.order);
        let truncated = DecodeError::Truncated { offset: self.input.len() };
        let code = cur.u32().ok_or(truncated)?;
        let len = cur.u32().ok_or(truncated)?;
        let rtype =
            RecordType::from_u32(code).ok_or(DecodeError::UnknownRecord { offset, code })?;
        let body_len = usize::try_from(len).map_err(|_| truncated)?;
        let next = offset
            .checked_add(RECORD_HEADER_LEN)
            .and_then(|o| o.checked_add(body_len))
            .filter(|next| *next <= self.input.len())
            .ok_or(truncated)?;
        Ok((rtype, len, next))
    }

    /// The next record, or `None` once `END` was read.
    pub fn next_record(&mut self) -> Result<Option<Record>, DecodeError> {
        if self.done {
            return Ok(None);
        }
        let offset = self.pos;
        let (rtype, len, next) = self.record_header(offset)?;
        let body = self
            .input
            .get(offset.saturating_add(RECORD_HEADER_LEN)..next)
            .ok_or(DecodeError::Truncated { offset: self.input.len() })?;
        let body_len = body.len();
        if rtype == RecordType::End {
            if len != 0 {
                return Err(DecodeError::EndNotEmpty { offset });
            }
            self.done = true;
            self.pos = next;
            return Ok(None);
        }
        let ctx = Ctx { offset, rtype, len };
        let mut body_cur = Cursor::new(body, self.header.order);
        let record = ctx.parse(&mut body_cur, self.header.version, &mut self.budget)?;
        // The content, padded to 8 bytes, must be exactly the body.
        if pad8(body_cur.pos()) != Some(body_len) {
            return Err(ctx.bad_length());
        }
        rules::check(&record, self.header.version).map_err(|what| DecodeError::Invalid {
            offset,
            rtype,
            what,
        })?;
        self.pos = next;
        Ok(Some(record))
    }
}

/// The record being parsed, for its errors.
#[derive(Clone, Copy)]
struct Ctx {
    offset: usize,
    rtype: RecordType,
    len: u32,
}

impl Ctx {
    fn bad_length(self) -> DecodeError {
        DecodeError::BadLength { offset: self.offset, rtype: self.rtype, len: self.len }
    }

    fn unterminated(self) -> DecodeError {
        DecodeError::Unterminated { offset: self.offset, rtype: self.rtype }
    }

    /// A field the body is too short for.
    fn need<T>(self, v: Option<T>) -> Result<T, DecodeError> {
        v.ok_or(self.bad_length())
    }

    fn parse(
        self,
        cur: &mut Cursor<'_>,
        version: Version,
        budget: &mut Budget,
    ) -> Result<Record, DecodeError> {
        Ok(match self.rtype {
            RecordType::Global => Record::Global(GlobalData {
                socket_fd: self.need(cur.i32())?,
                evtchn_fd: self.need(cur.i32())?,
            }),
            RecordType::Connection => Record::Connection(self.connection(cur, budget)?),
            RecordType::Watch => Record::Watch(self.watch(cur, false, budget)?),
            RecordType::WatchExtended => Record::Watch(self.watch(cur, true, budget)?),
            RecordType::Transaction => Record::Transaction(TransactionData {
                conn_id: self.need(cur.u32())?,
                tx_id: self.need(cur.u32())?,
            }),
            RecordType::Node => Record::Node(self.node(cur, budget)?),
            RecordType::GlobalQuota => Record::GlobalQuota(self.global_quota(cur, budget)?),
            RecordType::Domain => Record::Domain(self.domain(cur, version, budget)?),
            // `next_record` handles END before parsing.
            RecordType::End => return Err(self.bad_length()),
        })
    }

    /// `n` bytes, copied under the budget.
    fn bytes(
        self,
        cur: &mut Cursor<'_>,
        n: usize,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, DecodeError> {
        let b = self.need(cur.take(n))?;
        budget.copy(b, self.offset)
    }

    /// A string of `n` bytes counting its NUL terminator, without it.
    fn string(
        self,
        cur: &mut Cursor<'_>,
        n: u16,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, DecodeError> {
        let b = self.need(cur.take(usize::from(n)))?;
        match b.split_last() {
            Some((0, s)) => budget.copy(s, self.offset),
            _ => Err(self.unterminated()),
        }
    }

    fn connection(
        self,
        cur: &mut Cursor<'_>,
        budget: &mut Budget,
    ) -> Result<ConnectionData, DecodeError> {
        let conn_id = self.need(cur.u32())?;
        let conn_type = self.need(cur.u16())?;
        let fields = self.need(cur.u16())?;
        if fields & !CONN_FIELD_UNIQUE_ID != 0 {
            return Err(DecodeError::UnknownConnFields { offset: self.offset, fields });
        }
        let kind = match conn_type {
            CONN_TYPE_RING => ConnKind::Ring {
                domid: self.need(cur.u16())?,
                tdomid: self.need(cur.u16())?,
                evtchn: self.need(cur.u32())?,
            },
            CONN_TYPE_SOCKET => {
                let fd = self.need(cur.i32())?;
                // `pad`, ignored.
                self.need(cur.u32())?;
                ConnKind::Socket { fd }
            }
            _ => {
                return Err(DecodeError::UnknownConnType { offset: self.offset, conn_type });
            }
        };
        let in_len = self.need(cur.u16())?;
        let out_resp_len = self.need(cur.u16())?;
        let out_len = self.need(cur.u32())?;
        let out_len = usize::try_from(out_len).map_err(|_| self.bad_length())?;
        // Both lengths against the body before either copy.
        if usize::from(in_len).checked_add(out_len).is_none_or(|n| n > cur.remaining()) {
            return Err(self.bad_length());
        }
        let in_data = self.bytes(cur, usize::from(in_len), budget)?;
        let out_data = self.bytes(cur, out_len, budget)?;
        let unique_id = if fields & CONN_FIELD_UNIQUE_ID != 0 {
            // After the data, at the next multiple of 8.
            let at = cur.pos();
            let pad = self.need(pad8(at))?.saturating_sub(at);
            self.need(cur.take(pad))?;
            Some(self.need(cur.u64())?)
        } else {
            None
        };
        Ok(ConnectionData { conn_id, kind, in_data, out_data, out_resp_len, unique_id })
    }

    fn watch(
        self,
        cur: &mut Cursor<'_>,
        extended: bool,
        budget: &mut Budget,
    ) -> Result<WatchData, DecodeError> {
        let conn_id = self.need(cur.u32())?;
        let path_len = self.need(cur.u16())?;
        let token_len = self.need(cur.u16())?;
        let depth = if extended {
            let depth = self.need(cur.u16())?;
            // `pad`, ignored.
            self.need(cur.u16())?;
            Some(depth)
        } else {
            None
        };
        if usize::from(path_len).saturating_add(usize::from(token_len)) > cur.remaining() {
            return Err(self.bad_length());
        }
        let path = self.string(cur, path_len, budget)?;
        let token = self.string(cur, token_len, budget)?;
        Ok(WatchData { conn_id, path, token, depth })
    }

    fn node(self, cur: &mut Cursor<'_>, budget: &mut Budget) -> Result<NodeData, DecodeError> {
        let conn_id = self.need(cur.u32())?;
        let tx_id = self.need(cur.u32())?;
        let path_len = self.need(cur.u16())?;
        let value_len = self.need(cur.u16())?;
        let access = self.need(cur.u16())?;
        let perm_n = usize::from(self.need(cur.u16())?);
        let wanted = perm_n
            .saturating_mul(PERM_LEN)
            .saturating_add(usize::from(path_len))
            .saturating_add(usize::from(value_len));
        if wanted > cur.remaining() {
            return Err(self.bad_length());
        }
        let mut perms = budget.vec(perm_n, self.offset)?;
        for _ in 0..perm_n {
            let letter = self.need(cur.u8())?;
            let flags = self.need(cur.u8())?;
            let domid = self.need(cur.u16())?;
            let access = PermAccess::from_letter(letter)
                .ok_or(DecodeError::BadPermAccess { offset: self.offset, letter })?;
            if flags & !PERM_FLAG_IGNORE != 0 {
                return Err(DecodeError::BadPermFlags { offset: self.offset, flags });
            }
            perms.push(NodePerm { access, ignore: flags & PERM_FLAG_IGNORE != 0, domid });
        }
        let path = self.string(cur, path_len, budget)?;
        let value = self.bytes(cur, usize::from(value_len), budget)?;
        // `tx-id` and `access` mean nothing for a committed node.
        let tx = (conn_id != 0).then_some(NodeTx { conn_id, tx_id, access });
        Ok(NodeData { path, tx, perms, value })
    }

    /// `n` quota values, then as many NUL-terminated names.
    fn quotas(
        self,
        cur: &mut Cursor<'_>,
        n: usize,
        budget: &mut Budget,
    ) -> Result<Vec<QuotaValue>, DecodeError> {
        // Each value is 4 bytes and each name at least its NUL.
        if n.saturating_mul(5) > cur.remaining() {
            return Err(self.bad_length());
        }
        let mut q: Vec<QuotaValue> = budget.vec(n, self.offset)?;
        for _ in 0..n {
            q.push(QuotaValue { name: Vec::new(), value: self.need(cur.u32())? });
        }
        Ok(q)
    }

    fn names(
        self,
        cur: &mut Cursor<'_>,
        q: &mut [QuotaValue],
        budget: &mut Budget,
    ) -> Result<(), DecodeError> {
        for v in q {
            let rest = self.need(cur.clone().take(cur.remaining()))?;
            let len = rest.iter().position(|&b| b == 0).ok_or(self.unterminated())?;
            let name = self.need(cur.take(len))?;
            v.name = budget.copy(name, self.offset)?;
            self.need(cur.u8())?;
        }
        Ok(())
    }

    fn global_quota(
        self,
        cur: &mut Cursor<'_>,
        budget: &mut Budget,
    ) -> Result<GlobalQuotaData, DecodeError> {
        let n_dom = usize::from(self.need(cur.u16())?);
        let n_glob = usize::from(self.need(cur.u16())?);
        if n_dom.saturating_add(n_glob).saturating_mul(5) > cur.remaining() {
            return Err(self.bad_length());
        }
        let mut per_domain = self.quotas(cur, n_dom, budget)?;
        let mut global = self.quotas(cur, n_glob, budget)?;
        self.names(cur, &mut per_domain, budget)?;
        self.names(cur, &mut global, budget)?;
        Ok(GlobalQuotaData { per_domain, global })
    }

    fn domain(
        self,
        cur: &mut Cursor<'_>,
        version: Version,
        budget: &mut Budget,
    ) -> Result<DomainData, DecodeError> {
        let domid = self.need(cur.u16())?;
        let n = usize::from(self.need(cur.u16())?);
        let features = self.need(cur.u32())?;
        // Not valid in version 1: ignored, as the format asks.
        let features = if version >= Version::V2 { features } else { 0 };
        let mut quotas = self.quotas(cur, n, budget)?;
        self.names(cur, &mut quotas, budget)?;
        Ok(DomainData { domid, features, quotas })
    }
}
