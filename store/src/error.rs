//! Errors: one precise error per failure, one mapping to the wire name.
//!
//! Request handlers return [`Error`]; [`Error::xs`] turns it into the
//! [`XsError`] whose name goes back in `XS_ERROR`. Protocol violations are
//! not request errors: they are [`ProtoError`]s that stop the connection.

use core::fmt;
use ring::wire::XsError;

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A malformed payload or argument.
    Inval,
    /// A path failed validation (charset, `//`, trailing `/`, length).
    BadPath,
    /// The caller may not access the node.
    Access,
    /// The node, domain, watch or transaction does not exist.
    NoEnt,
    /// The node or watch already exists.
    Exist,
    /// A quota was exceeded.
    Quota,
    /// The reply would exceed `XENSTORE_PAYLOAD_MAX`.
    TooBig,
    /// The transaction conflicts with a concurrent change.
    Conflict,
    /// Only the privileged domain may do this.
    Perm,
    /// A transaction is already active (nested transactions).
    Busy,
    /// Mapping a ring or another platform step failed.
    Io,
    /// The operation is not implemented.
    NoSys,
    /// The connection is already established (re-introduce mismatch).
    IsConn,
    /// Memory is exhausted (a failed transaction also reports this).
    NoMem,
}

impl Error {
    /// The wire error this maps to (the one place the mapping is made).
    pub fn xs(self) -> XsError {
        match self {
            Error::Inval | Error::BadPath => XsError::Inval,
            Error::Access => XsError::Acces,
            Error::NoEnt => XsError::NoEnt,
            Error::Exist => XsError::Exist,
            Error::Quota => XsError::NoSpc,
            Error::TooBig => XsError::TooBig,
            Error::Conflict => XsError::Again,
            Error::Perm => XsError::Perm,
            Error::Busy => XsError::Busy,
            Error::Io => XsError::Io,
            Error::NoSys => XsError::NoSys,
            Error::IsConn => XsError::IsConn,
            Error::NoMem => XsError::NoMem,
        }
    }
}

impl From<Error> for XsError {
    fn from(e: Error) -> XsError {
        e.xs()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.xs().as_str())
    }
}

/// A protocol violation: the connection is ignored from now on and the
/// platform reports [`ProtoError::code`] in the ring's `error` field. It is
/// `ring`'s framing error, re-exported for the platforms.
pub use ring::decode::ProtoError;
