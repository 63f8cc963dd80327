//! `xs_wire.h`: the message header, message types, error names and limits.
//!
//! Every message in either direction is a 16-byte header
//! `{type, req_id, tx_id, len}` (four little-endian `u32`s) followed by `len`
//! payload bytes, `len <= XENSTORE_PAYLOAD_MAX`. Replies echo the request's
//! type, `req_id` and `tx_id`; errors come back as `XS_ERROR` carrying the
//! error *name* (`"ENOENT\0"`). Watch events are unsolicited
//! `XS_WATCH_EVENT` messages with `req_id = tx_id = 0`.

use core::fmt;

/// Size of [`Header`] on the wire.
pub const HEADER_SIZE: usize = 16;

/// Largest payload of one message. A peer that announces more violates the
/// protocol: its connection is no longer served (`XENSTORE_ERROR_PROTO`).
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;

/// Longest absolute path, in bytes, excluding the terminating NUL.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;

/// Longest relative path, in bytes, excluding the terminating NUL.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// `server_features` bit: guest-initiated ring reconnection is supported.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `server_features` bit: the `error` field of the ring page is used.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `server_features` bit: `XS_WATCH` accepts a depth argument.
pub const XENSTORE_SERVER_FEATURE_WATCHDEPTH: u32 = 4;
/// `server_features` bit: `DOMID_ANY` is accepted in permissions.
pub const XENSTORE_SERVER_FEATURE_DOMID_ANY: u32 = 8;

/// `connection` value: the ring is connected and in use.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection` value: the guest asks for (or Xen preset) a reconnection.
pub const XENSTORE_RECONNECT: u32 = 1;

/// `error` value: no error.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error` value: the event channel is unusable.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error` value: inconsistent producer/consumer indices.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error` value: protocol violation (e.g. a payload longer than 4096).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// Message types (`enum xsd_sockmsg_type`). 20 was `XS_RESTRICT` and is
/// invalid since Xen 4.9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum MsgType {
    /// Implementation-specific control commands (also `XS_DEBUG`).
    #[doc(alias = "XS_CONTROL")]
    #[doc(alias = "XS_DEBUG")]
    Control = 0,
    /// List the children of a node.
    #[doc(alias = "XS_DIRECTORY")]
    Directory = 1,
    /// Read a node's value.
    #[doc(alias = "XS_READ")]
    Read = 2,
    /// Read a node's permissions.
    #[doc(alias = "XS_GET_PERMS")]
    GetPerms = 3,
    /// Register a watch.
    #[doc(alias = "XS_WATCH")]
    Watch = 4,
    /// Remove a watch.
    #[doc(alias = "XS_UNWATCH")]
    Unwatch = 5,
    /// Start a transaction.
    #[doc(alias = "XS_TRANSACTION_START")]
    TransactionStart = 6,
    /// Commit (`T`) or abort (`F`) a transaction.
    #[doc(alias = "XS_TRANSACTION_END")]
    TransactionEnd = 7,
    /// Introduce a domain's ring (privileged).
    #[doc(alias = "XS_INTRODUCE")]
    Introduce = 8,
    /// Forget a domain (privileged).
    #[doc(alias = "XS_RELEASE")]
    Release = 9,
    /// Ask for `/local/domain/<domid>`.
    #[doc(alias = "XS_GET_DOMAIN_PATH")]
    GetDomainPath = 10,
    /// Write a node's value, creating missing parents.
    #[doc(alias = "XS_WRITE")]
    Write = 11,
    /// Create a node if missing.
    #[doc(alias = "XS_MKDIR")]
    Mkdir = 12,
    /// Remove a node and its subtree.
    #[doc(alias = "XS_RM")]
    Rm = 13,
    /// Set a node's permissions.
    #[doc(alias = "XS_SET_PERMS")]
    SetPerms = 14,
    /// A watch fired (server to client only).
    #[doc(alias = "XS_WATCH_EVENT")]
    WatchEvent = 15,
    /// An error reply (server to client only).
    #[doc(alias = "XS_ERROR")]
    Error = 16,
    /// Is a domain introduced? (privileged)
    #[doc(alias = "XS_IS_DOMAIN_INTRODUCED")]
    IsDomainIntroduced = 17,
    /// Clear a domain's shutdown state (privileged).
    #[doc(alias = "XS_RESUME")]
    Resume = 18,
    /// Let a domain act with another's rights (privileged).
    #[doc(alias = "XS_SET_TARGET")]
    SetTarget = 19,
    /// Drop all watches and transactions of the connection.
    #[doc(alias = "XS_RESET_WATCHES")]
    ResetWatches = 21,
    /// List a large directory in parts.
    #[doc(alias = "XS_DIRECTORY_PART")]
    DirectoryPart = 22,
    /// Read a domain's feature word.
    #[doc(alias = "XS_GET_FEATURE")]
    GetFeature = 23,
    /// Set a domain's feature word before it is introduced (privileged).
    #[doc(alias = "XS_SET_FEATURE")]
    SetFeature = 24,
    /// Read a quota (privileged).
    #[doc(alias = "XS_GET_QUOTA")]
    GetQuota = 25,
    /// Set a quota (privileged).
    #[doc(alias = "XS_SET_QUOTA")]
    SetQuota = 26,
}

impl MsgType {
    /// Every valid type, in numeric order.
    pub const ALL: [MsgType; 26] = [
        MsgType::Control,
        MsgType::Directory,
        MsgType::Read,
        MsgType::GetPerms,
        MsgType::Watch,
        MsgType::Unwatch,
        MsgType::TransactionStart,
        MsgType::TransactionEnd,
        MsgType::Introduce,
        MsgType::Release,
        MsgType::GetDomainPath,
        MsgType::Write,
        MsgType::Mkdir,
        MsgType::Rm,
        MsgType::SetPerms,
        MsgType::WatchEvent,
        MsgType::Error,
        MsgType::IsDomainIntroduced,
        MsgType::Resume,
        MsgType::SetTarget,
        MsgType::ResetWatches,
        MsgType::DirectoryPart,
        MsgType::GetFeature,
        MsgType::SetFeature,
        MsgType::GetQuota,
        MsgType::SetQuota,
    ];

    /// Decodes a wire type number; `None` for 20 (removed `XS_RESTRICT`),
    /// numbers past `XS_SET_QUOTA` and `XS_INVALID`.
    pub fn from_u32(ty: u32) -> Option<MsgType> {
        MsgType::ALL.iter().copied().find(|t| *t as u32 == ty)
    }

    /// The C name of the type, e.g. `"XS_READ"` (for logs and traces).
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Control => "XS_CONTROL",
            MsgType::Directory => "XS_DIRECTORY",
            MsgType::Read => "XS_READ",
            MsgType::GetPerms => "XS_GET_PERMS",
            MsgType::Watch => "XS_WATCH",
            MsgType::Unwatch => "XS_UNWATCH",
            MsgType::TransactionStart => "XS_TRANSACTION_START",
            MsgType::TransactionEnd => "XS_TRANSACTION_END",
            MsgType::Introduce => "XS_INTRODUCE",
            MsgType::Release => "XS_RELEASE",
            MsgType::GetDomainPath => "XS_GET_DOMAIN_PATH",
            MsgType::Write => "XS_WRITE",
            MsgType::Mkdir => "XS_MKDIR",
            MsgType::Rm => "XS_RM",
            MsgType::SetPerms => "XS_SET_PERMS",
            MsgType::WatchEvent => "XS_WATCH_EVENT",
            MsgType::Error => "XS_ERROR",
            MsgType::IsDomainIntroduced => "XS_IS_DOMAIN_INTRODUCED",
            MsgType::Resume => "XS_RESUME",
            MsgType::SetTarget => "XS_SET_TARGET",
            MsgType::ResetWatches => "XS_RESET_WATCHES",
            MsgType::DirectoryPart => "XS_DIRECTORY_PART",
            MsgType::GetFeature => "XS_GET_FEATURE",
            MsgType::SetFeature => "XS_SET_FEATURE",
            MsgType::GetQuota => "XS_GET_QUOTA",
            MsgType::SetQuota => "XS_SET_QUOTA",
        }
    }
}

/// The 16-byte message header (`struct xsd_sockmsg`). `ty` stays a raw
/// `u32` so that unknown types can be answered (`ENOSYS`/`EINVAL`) with the
/// type echoed as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Message type (see [`MsgType`]).
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length in bytes.
    pub len: u32,
}

impl Header {
    /// Parses a header from its 16 wire bytes (little-endian).
    pub fn from_bytes(b: &[u8; HEADER_SIZE]) -> Header {
        let [t0, t1, t2, t3, r0, r1, r2, r3, x0, x1, x2, x3, l0, l1, l2, l3] = *b;
        Header {
            ty: u32::from_le_bytes([t0, t1, t2, t3]),
            req_id: u32::from_le_bytes([r0, r1, r2, r3]),
            tx_id: u32::from_le_bytes([x0, x1, x2, x3]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
        }
    }

    /// Serialises the header to its 16 wire bytes (little-endian).
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        for (chunk, w) in b.chunks_exact_mut(4).zip([self.ty, self.req_id, self.tx_id, self.len]) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// The message type, if it is a valid one.
    pub fn msg_type(&self) -> Option<MsgType> {
        MsgType::from_u32(self.ty)
    }
}

/// Error names sent in `XS_ERROR` replies, in `xsd_errors[]` order (the
/// table is append-only; clients treat unknown names as `EINVAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XsError {
    /// Invalid argument: malformed payload, bad path, unknown type.
    #[doc(alias = "EINVAL")]
    Inval,
    /// Permission denied.
    #[doc(alias = "EACCES")]
    Acces,
    /// The node already exists.
    #[doc(alias = "EEXIST")]
    Exist,
    /// Is a directory.
    #[doc(alias = "EISDIR")]
    IsDir,
    /// No such node, domain, watch or transaction.
    #[doc(alias = "ENOENT")]
    NoEnt,
    /// Out of memory.
    #[doc(alias = "ENOMEM")]
    NoMem,
    /// A quota was exceeded.
    #[doc(alias = "ENOSPC")]
    NoSpc,
    /// I/O error (e.g. mapping a ring failed).
    #[doc(alias = "EIO")]
    Io,
    /// Directory not empty.
    #[doc(alias = "ENOTEMPTY")]
    NotEmpty,
    /// Operation not implemented.
    #[doc(alias = "ENOSYS")]
    NoSys,
    /// Read-only.
    #[doc(alias = "EROFS")]
    RoFs,
    /// Busy.
    #[doc(alias = "EBUSY")]
    Busy,
    /// Try again (transaction conflict).
    #[doc(alias = "EAGAIN")]
    Again,
    /// Already connected.
    #[doc(alias = "EISCONN")]
    IsConn,
    /// Reply or argument too big (over 4096 bytes; old watch quota).
    #[doc(alias = "E2BIG")]
    TooBig,
    /// Operation not permitted (e.g. changing an owner unprivileged).
    #[doc(alias = "EPERM")]
    Perm,
}

impl XsError {
    /// Every error, in `xsd_errors[]` order.
    pub const ALL: [XsError; 16] = [
        XsError::Inval,
        XsError::Acces,
        XsError::Exist,
        XsError::IsDir,
        XsError::NoEnt,
        XsError::NoMem,
        XsError::NoSpc,
        XsError::Io,
        XsError::NotEmpty,
        XsError::NoSys,
        XsError::RoFs,
        XsError::Busy,
        XsError::Again,
        XsError::IsConn,
        XsError::TooBig,
        XsError::Perm,
    ];

    /// The name sent on the wire, e.g. `"ENOENT"` (without the NUL).
    pub const fn as_str(self) -> &'static str {
        match self {
            XsError::Inval => "EINVAL",
            XsError::Acces => "EACCES",
            XsError::Exist => "EEXIST",
            XsError::IsDir => "EISDIR",
            XsError::NoEnt => "ENOENT",
            XsError::NoMem => "ENOMEM",
            XsError::NoSpc => "ENOSPC",
            XsError::Io => "EIO",
            XsError::NotEmpty => "ENOTEMPTY",
            XsError::NoSys => "ENOSYS",
            XsError::RoFs => "EROFS",
            XsError::Busy => "EBUSY",
            XsError::Again => "EAGAIN",
            XsError::IsConn => "EISCONN",
            XsError::TooBig => "E2BIG",
            XsError::Perm => "EPERM",
        }
    }

    /// Looks an error up by its wire name.
    pub fn from_name(name: &str) -> Option<XsError> {
        XsError::ALL.iter().copied().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_is_little_endian() {
        let h = Header { ty: 2, req_id: 0x01020304, tx_id: 7, len: 4096 };
        let b = h.to_bytes();
        assert_eq!(&b[4..8], &[4, 3, 2, 1]);
        assert_eq!(Header::from_bytes(&b), h);
    }

    #[test]
    fn type_numbers_match_xs_wire() {
        assert_eq!(MsgType::from_u32(0), Some(MsgType::Control));
        assert_eq!(MsgType::from_u32(19), Some(MsgType::SetTarget));
        assert_eq!(MsgType::from_u32(20), None);
        assert_eq!(MsgType::from_u32(21), Some(MsgType::ResetWatches));
        assert_eq!(MsgType::from_u32(26), Some(MsgType::SetQuota));
        assert_eq!(MsgType::from_u32(27), None);
        assert_eq!(MsgType::from_u32(0xffff), None);
        for t in MsgType::ALL {
            assert_eq!(MsgType::from_u32(t as u32), Some(t));
        }
    }

    #[test]
    fn error_table_order_is_xsd_errors() {
        let names: [&str; 16] = [
            "EINVAL",
            "EACCES",
            "EEXIST",
            "EISDIR",
            "ENOENT",
            "ENOMEM",
            "ENOSPC",
            "EIO",
            "ENOTEMPTY",
            "ENOSYS",
            "EROFS",
            "EBUSY",
            "EAGAIN",
            "EISCONN",
            "E2BIG",
            "EPERM",
        ];
        for (e, n) in XsError::ALL.iter().zip(names) {
            assert_eq!(e.as_str(), n);
            assert_eq!(XsError::from_name(n), Some(*e));
        }
    }
}
