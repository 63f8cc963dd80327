//! What can be wrong with a stream or a record.

use super::records::RecordType;

/// A record that breaks a rule of the format (or of the protocol limits
/// the format implies). The writer refuses to write it and the reader
/// refuses to return it, so both agree on what a valid record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// A `CONNECTION_DATA`, `WATCH_DATA*` or `TRANSACTION_DATA` with
    /// connection id 0 (0 marks "no connection").
    ConnIdZero,
    /// Connection input over `u16::MAX` bytes.
    InDataTooLong,
    /// Connection output over `u32::MAX` bytes.
    OutDataTooLong,
    /// A partial response longer than the output holding it.
    RespLenTooLong,
    /// An empty node or watch path.
    EmptyPath,
    /// A NUL inside a path, token or quota name (they are NUL-terminated).
    NulInString,
    /// A node path longer, with its NUL, than `XENSTORE_PAYLOAD_MAX` (the
    /// request that created it; C does not hold the privileged domain to
    /// `XENSTORE_ABS_PATH_MAX`).
    PathTooLong,
    /// A watch path and token longer together (with their NULs) than
    /// `XENSTORE_PAYLOAD_MAX`, the request they came in.
    WatchTooLong,
    /// A node value longer than `XENSTORE_PAYLOAD_MAX`.
    ValueTooLong,
    /// A committed node without permissions (the first names its owner).
    NoOwner,
    /// A node deleted in a transaction (no permissions) with a value or
    /// access bits.
    DeletedNotEmpty,
    /// Access bits other than read (1) and written (2).
    UnknownAccess(u16),
    /// More than `u16::MAX` permissions.
    TooManyPerms,
    /// More than `u16::MAX` quota values in one count.
    TooManyQuotas,
    /// `WATCH_DATA_EXTENDED` in a version 1 stream.
    ExtendedInV1,
}

/// Why a stream was refused. `offset` is a byte offset in the input;
/// `index` counts records from 0 (the header is not one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends inside the header or a record, or before `END`.
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
    },
    /// The first 8 bytes are not "xenstore".
    BadIdent,
    /// A version other than 1 or 2.
    BadVersion(u32),
    /// Header flags with a reserved bit (1–31) set.
    BadFlags(u32),
    /// A record type code not defined (9 and up).
    UnknownRecord {
        /// The record header's offset.
        offset: usize,
        /// Its type code.
        code: u32,
    },
    /// A record's length is not its content padded to 8 bytes (this
    /// covers lengths, counts and padding that disagree).
    BadLength {
        /// The record header's offset.
        offset: usize,
        /// The record's type.
        rtype: RecordType,
        /// The length it declares.
        len: u32,
    },
    /// `END` with a non-empty body.
    EndNotEmpty {
        /// The record header's offset.
        offset: usize,
    },
    /// A path, token or quota name without its NUL terminator.
    Unterminated {
        /// The record header's offset.
        offset: usize,
        /// The record's type.
        rtype: RecordType,
    },
    /// A `conn-type` other than ring (0) or socket (1).
    UnknownConnType {
        /// The record header's offset.
        offset: usize,
        /// The type found.
        conn_type: u16,
    },
    /// `fields` bits other than `unique-id` (0x0001): fields of unknown
    /// size would follow.
    UnknownConnFields {
        /// The record header's offset.
        offset: usize,
        /// The bits found.
        fields: u16,
    },
    /// A permission letter other than `n r w b`.
    BadPermAccess {
        /// The record header's offset.
        offset: usize,
        /// The byte found.
        letter: u8,
    },
    /// Permission flags other than "ignore" (0x01).
    BadPermFlags {
        /// The record header's offset.
        offset: usize,
        /// The byte found.
        flags: u8,
    },
    /// A well-formed record breaking a rule of the format.
    Invalid {
        /// The record header's offset.
        offset: usize,
        /// The record's type.
        rtype: RecordType,
        /// The rule.
        what: Invalid,
    },
    /// Decoding would hold more than the caller's byte budget.
    OverBudget {
        /// The offset of the record being decoded (the input's length
        /// when checking the whole stream; `usize::MAX` from
        /// [`super::check()`]).
        offset: usize,
    },
    /// The allocator refused memory within the budget.
    AllocFailed {
        /// The offset of the record being decoded.
        offset: usize,
    },
    /// A second `GLOBAL_DATA` or `GLOBAL_QUOTA_DATA`, or a second record
    /// for one connection id, transaction, domain, watch (connection,
    /// path, token) or node (transaction or none, path).
    Duplicate {
        /// The later record.
        index: usize,
        /// Its type.
        rtype: RecordType,
    },
    /// A watch or transaction whose connection, or a pending node whose
    /// transaction, no earlier record defines.
    Dangling {
        /// The record.
        index: usize,
        /// Its type.
        rtype: RecordType,
    },
    /// Bytes after `END`.
    TrailingData {
        /// Where they start.
        offset: usize,
    },
}

/// Why a record could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The record breaks a rule of the format.
    Invalid {
        /// The record's type.
        rtype: RecordType,
        /// The rule.
        what: Invalid,
    },
    /// The record's body would not fit the 32-bit length.
    TooLong {
        /// The record's type.
        rtype: RecordType,
    },
    /// The output buffer could not grow.
    AllocFailed,
}
