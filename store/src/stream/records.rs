//! The records of a migration stream as Rust values, and the facts of
//! their wire layout (type codes, fixed part sizes, flag bits).
//!
//! Facts from Xen's `docs/designs/xenstore-migration.md` and
//! `tools/xenstored/xenstore_state.h` (4.17–4.22). Strings (paths, tokens,
//! quota names) are kept as bytes without their NUL terminator; the wire
//! lengths that count the terminator are derived when encoding.

use alloc::vec::Vec;

/// The 8 bytes every stream starts with ("xenstore", no NUL).
pub const STREAM_IDENT: [u8; 8] = *b"xenstore";

/// Size of the stream header: ident, version, flags.
pub const HEADER_LEN: usize = 16;

/// Size of a record header: type, length.
pub const RECORD_HEADER_LEN: usize = 8;

/// Every record body is padded to a multiple of this.
pub const ALIGN: usize = 8;

/// `DOMID_INVALID`: a ring connection's `tdomid` when it has no target.
pub const DOMID_INVALID: u16 = 0x7ff4;

/// The version of the format a stream declares in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// Version 1 (Xen 4.17–4.20 write it; 4.21+ on request): no
    /// `WATCH_DATA_EXTENDED`, and `DOMAIN_DATA`'s `features` is not valid.
    V1 = 1,
    /// Version 2 (Xen 4.21+ by default): adds `WATCH_DATA_EXTENDED` and
    /// `DOMAIN_DATA`'s `features`.
    V2 = 2,
}

impl Version {
    /// The version for a header's number, if it is one this crate knows.
    pub fn from_u32(v: u32) -> Option<Version> {
        match v {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            _ => None,
        }
    }

    /// The number written in the header.
    pub fn as_u32(self) -> u32 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// The byte order of every record field (bit 0 of the header's flags).
/// The header itself is always big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Flag bit 0 clear (x86, what every Xen host writes).
    Little,
    /// Flag bit 0 set.
    Big,
}

/// Header flag: records are big-endian.
pub const FLAG_BIG_ENDIAN: u32 = 1;

/// The stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The format version.
    pub version: Version,
    /// The byte order of the records.
    pub order: ByteOrder,
}

/// A record's type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `END` (0): the last record, empty.
    End = 0,
    /// `GLOBAL_DATA` (1).
    Global = 1,
    /// `CONNECTION_DATA` (2).
    Connection = 2,
    /// `WATCH_DATA` (3).
    Watch = 3,
    /// `TRANSACTION_DATA` (4).
    Transaction = 4,
    /// `NODE_DATA` (5).
    Node = 5,
    /// `GLOBAL_QUOTA_DATA` (6).
    GlobalQuota = 6,
    /// `DOMAIN_DATA` (7).
    Domain = 7,
    /// `WATCH_DATA_EXTENDED` (8, version 2 and up).
    WatchExtended = 8,
}

impl RecordType {
    /// The type for a code, if it is defined.
    pub fn from_u32(code: u32) -> Option<RecordType> {
        Some(match code {
            0 => RecordType::End,
            1 => RecordType::Global,
            2 => RecordType::Connection,
            3 => RecordType::Watch,
            4 => RecordType::Transaction,
            5 => RecordType::Node,
            6 => RecordType::GlobalQuota,
            7 => RecordType::Domain,
            8 => RecordType::WatchExtended,
            _ => return None,
        })
    }

    /// The code on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Fixed part of `GLOBAL_DATA`: two file descriptors.
pub(super) const GLOBAL_LEN: usize = 8;
/// Fixed part of `CONNECTION_DATA`: id, type, fields, spec (8), in/resp/out
/// lengths; the pending data follows.
pub(super) const CONN_FIXED_LEN: usize = 24;
/// Fixed part of `WATCH_DATA`: conn id, path length, token length.
pub(super) const WATCH_FIXED_LEN: usize = 8;
/// Fixed part of `WATCH_DATA_EXTENDED`: as `WATCH_DATA`, then depth and two
/// pad bytes (the design document's layout; see [`WatchData::depth`]).
pub(super) const WATCH_EXT_FIXED_LEN: usize = 12;
/// `TRANSACTION_DATA`: conn id, tx id.
pub(super) const TRANSACTION_LEN: usize = 8;
/// Fixed part of `NODE_DATA`: conn id, tx id, path length, value length,
/// access, permission count; the permissions follow.
pub(super) const NODE_FIXED_LEN: usize = 16;
/// One node permission: access letter, flags, domid.
pub(super) const PERM_LEN: usize = 4;
/// Fixed part of `GLOBAL_QUOTA_DATA`: the two counts.
pub(super) const GLOBAL_QUOTA_FIXED_LEN: usize = 4;
/// Fixed part of `DOMAIN_DATA`: domid, count, features.
pub(super) const DOMAIN_FIXED_LEN: usize = 8;

/// `CONNECTION_DATA` `conn-type`: a shared ring.
pub(super) const CONN_TYPE_RING: u16 = 0;
/// `CONNECTION_DATA` `conn-type`: a socket.
pub(super) const CONN_TYPE_SOCKET: u16 = 1;
/// `CONNECTION_DATA` `fields`: a `unique-id` follows the data.
pub const CONN_FIELD_UNIQUE_ID: u16 = 0x0001;

/// `NODE_DATA` `access`: the transaction read the node.
pub const NODE_ACCESS_READ: u16 = 0x0001;
/// `NODE_DATA` `access`: the transaction wrote the node.
pub const NODE_ACCESS_WRITTEN: u16 = 0x0002;

/// Node permission `flags`: a stale permission, ignored when checking.
pub const PERM_FLAG_IGNORE: u8 = 0x01;

/// `WATCH_DATA_EXTENDED` `depth` for "unlimited".
pub const WATCH_DEPTH_UNLIMITED: u16 = 0xffff;

/// One record of a stream (`END` is not one: it is where a stream stops).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// `GLOBAL_DATA`.
    Global(GlobalData),
    /// `CONNECTION_DATA`.
    Connection(ConnectionData),
    /// `WATCH_DATA`, or `WATCH_DATA_EXTENDED` when it has a depth.
    Watch(WatchData),
    /// `TRANSACTION_DATA`.
    Transaction(TransactionData),
    /// `NODE_DATA`.
    Node(NodeData),
    /// `GLOBAL_QUOTA_DATA`.
    GlobalQuota(GlobalQuotaData),
    /// `DOMAIN_DATA`.
    Domain(DomainData),
}

impl Record {
    /// The type code this record is written with.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::Global(_) => RecordType::Global,
            Record::Connection(_) => RecordType::Connection,
            Record::Watch(w) if w.depth.is_some() => RecordType::WatchExtended,
            Record::Watch(_) => RecordType::Watch,
            Record::Transaction(_) => RecordType::Transaction,
            Record::Node(_) => RecordType::Node,
            Record::GlobalQuota(_) => RecordType::GlobalQuota,
            Record::Domain(_) => RecordType::Domain,
        }
    }
}

/// `GLOBAL_DATA`: the old process's descriptors (live update only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalData {
    /// The read-write socket accepting connections, or -1.
    pub socket_fd: i32,
    /// The event channel driver's descriptor.
    pub evtchn_fd: i32,
}

/// What a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnKind {
    /// A shared ring (`conn-type` 0).
    Ring {
        /// The domain owning the ring page.
        domid: u16,
        /// The domain `domid` acts for after `SET_TARGET`, or
        /// [`DOMID_INVALID`].
        tdomid: u16,
        /// The interdomain event channel port.
        evtchn: u32,
    },
    /// A socket (`conn-type` 1), live update only.
    Socket {
        /// The connected socket's descriptor.
        fd: i32,
    },
}

/// `CONNECTION_DATA`: one connection with its unprocessed input and
/// unsent output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionData {
    /// Non-zero; how later records name this connection.
    pub conn_id: u32,
    /// Ring or socket.
    pub kind: ConnKind,
    /// Bytes read but not yet processed: whole requests (header and
    /// payload) and at most one partial request, as read. At most
    /// `u16::MAX` bytes (`in-data-len` is 16 bits).
    pub in_data: Vec<u8>,
    /// Bytes not yet written: first the rest of a partly sent response
    /// (its first `out_resp_len` bytes, no header), then whole messages.
    pub out_data: Vec<u8>,
    /// Length of the partly sent response at the start of `out_data`;
    /// 0 when none. At most `out_data.len()`.
    pub out_resp_len: u16,
    /// The domain's unique id (`fields` bit 0x0001), written by Xen 4.21+
    /// for ring connections.
    pub unique_id: Option<u64>,
}

/// `WATCH_DATA` / `WATCH_DATA_EXTENDED`: one registered watch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchData {
    /// The connection that registered it (an earlier `CONNECTION_DATA`).
    pub conn_id: u32,
    /// The watched path as the `WATCH` request gave it (no NUL).
    pub path: Vec<u8>,
    /// The token (no NUL).
    pub token: Vec<u8>,
    /// `None`: a `WATCH_DATA` record. `Some(depth)`: a
    /// `WATCH_DATA_EXTENDED` record (version 2 and up), the number of
    /// levels below `path` that match, [`WATCH_DEPTH_UNLIMITED`] for all.
    /// Laid out as the design document says: depth at offset 8, two pad
    /// bytes, the path at offset 12 (C's header struct would put the path
    /// at 10, and C 4.22's writer omits the depth; see `DESIGN.md`).
    pub depth: Option<u16>,
}

/// `TRANSACTION_DATA`: an open transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransactionData {
    /// The connection that started it (an earlier `CONNECTION_DATA`).
    pub conn_id: u32,
    /// The id `TRANSACTION_START` returned.
    pub tx_id: u32,
}

/// The transaction a pending `NODE_DATA` belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeTx {
    /// The transaction's connection; non-zero (0 marks a committed node).
    pub conn_id: u32,
    /// The transaction (an earlier `TRANSACTION_DATA`).
    pub tx_id: u32,
    /// [`NODE_ACCESS_READ`] | [`NODE_ACCESS_WRITTEN`]; 0 for a node the
    /// transaction deleted.
    pub access: u16,
}

/// A node permission's access letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermAccess {
    /// `n`.
    None,
    /// `r`.
    Read,
    /// `w`.
    Write,
    /// `b`.
    Both,
}

impl PermAccess {
    /// The letter on the wire.
    pub fn letter(self) -> u8 {
        match self {
            PermAccess::None => b'n',
            PermAccess::Read => b'r',
            PermAccess::Write => b'w',
            PermAccess::Both => b'b',
        }
    }

    /// The access for a letter, if it is one of `n r w b`.
    pub fn from_letter(letter: u8) -> Option<PermAccess> {
        Some(match letter {
            b'n' => PermAccess::None,
            b'r' => PermAccess::Read,
            b'w' => PermAccess::Write,
            b'b' => PermAccess::Both,
            _ => return None,
        })
    }
}

/// One node permission specifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodePerm {
    /// What the domain may do.
    pub access: PermAccess,
    /// Stale (flag 0x01): kept but ignored when checking access.
    pub ignore: bool,
    /// The domain; the first permission names the owner.
    pub domid: u16,
}

/// `NODE_DATA`: a committed node, or a node as a pending transaction sees
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeData {
    /// Absolute path, or a special name (`@releaseDomain`); no NUL.
    pub path: Vec<u8>,
    /// `None`: a committed node (`conn-id` 0; `tx-id` and `access` are
    /// written as 0 and ignored when read). `Some`: pending in that
    /// transaction.
    pub tx: Option<NodeTx>,
    /// Permissions, owner first. Empty only for a node deleted in a
    /// transaction (then `value` is empty and `access` 0).
    pub perms: Vec<NodePerm>,
    /// The value (may contain NULs).
    pub value: Vec<u8>,
}

impl NodeData {
    /// Whether this records a node deleted by its transaction.
    pub fn is_deleted(&self) -> bool {
        self.tx.is_some() && self.perms.is_empty()
    }
}

/// One named quota value of `GLOBAL_QUOTA_DATA` or `DOMAIN_DATA`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuotaValue {
    /// The quota's name as `GET_QUOTA` spells it, `soft-` prefixed for a
    /// soft limit (C's names); no NUL. Names a reader does not know are to
    /// be ignored or preserved, so any bytes but NUL are accepted.
    pub name: Vec<u8>,
    /// The limit; 0 is "unlimited".
    pub value: u32,
}

/// `GLOBAL_QUOTA_DATA`: the global quota settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalQuotaData {
    /// Defaults applying to every domain (`n-dom-quota`).
    pub per_domain: Vec<QuotaValue>,
    /// Quotas applying globally only (`n-glob-quota`; C writes none).
    pub global: Vec<QuotaValue>,
}

/// `DOMAIN_DATA`: one domain's own quotas and features.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainData {
    /// The domain.
    pub domid: u16,
    /// The ring page's server features word for this domain. Version 2
    /// only: a version 1 stream carries 0 here (the writer writes 0, the
    /// reader reports 0 whatever was written).
    pub features: u32,
    /// The domain's quota values.
    pub quotas: Vec<QuotaValue>,
}
