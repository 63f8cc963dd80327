//! The xenstore migration stream (Xen's `docs/designs/xenstore-migration.md`,
//! the state C xenstored hands to its successor on live update), as a
//! sans-I/O codec: typed records, an encoder appending to a `Vec<u8>`, and
//! a decoder over `&[u8]` for hostile input.
//!
//! A stream is a 16-byte header (`"xenstore"`, the version and the flags,
//! big-endian) and records, each a type, a length and a body padded to 8
//! bytes, in the byte order flag bit 0 names, until `END`. Versions 1 and
//! 2 are read and written, in both byte orders.
//!
//! What the decoder guarantees, whatever the input:
//!
//! * it returns `Ok` or a [`DecodeError`] and never panics;
//! * it never holds more heap than the caller's budget (the records it
//!   returns, the vector holding them and its checks' indices), every
//!   allocation being asked of the budget first and made fallibly;
//! * what it accepts, [`encode`] writes back to a stream it decodes to
//!   the same records.
//!
//! It refuses: a short input or one without `END`, bytes after `END`, a
//! bad ident, version or reserved flag, an undefined record type (a
//! version 1 or 2 stream defines them all), a `WATCH_DATA_EXTENDED` in
//! version 1, a record whose length is not its content padded to 8 bytes
//! (so lengths and counts that disagree), unterminated strings, unknown
//! connection types, connection field bits, permission letters or flags,
//! records breaking a rule of the format ([`Invalid`]), duplicates and
//! references to connections or transactions not defined earlier
//! ([`check()`]). Padding bytes are not looked at (the format asks readers
//! to ignore them, and C leaves some uninitialised).
//!
//! Dumping an engine to records and restoring one is `Engine::dump_state`
//! and `Engine::restore` (`migrate.rs`).

mod budget;
mod check;
mod error;
mod reader;
mod records;
mod rules;
mod wire;
mod writer;

use alloc::vec::Vec;

pub use check::check;
pub use error::{DecodeError, EncodeError, Invalid};
pub use reader::Reader;
pub use records::{
    ByteOrder, ConnKind, ConnectionData, DomainData, GlobalData, GlobalQuotaData, Header, NodeData,
    NodePerm, NodeTx, PermAccess, QuotaValue, Record, RecordType, TransactionData, Version,
    WatchData, CONN_FIELD_UNIQUE_ID, DOMID_INVALID, FLAG_BIG_ENDIAN, HEADER_LEN, NODE_ACCESS_READ,
    NODE_ACCESS_WRITTEN, PERM_FLAG_IGNORE, RECORD_HEADER_LEN, STREAM_IDENT, WATCH_DEPTH_UNLIMITED,
};
pub use writer::Writer;

/// A whole stream: its header and its records (`END` implied).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stream {
    /// Version and byte order.
    pub header: Header,
    /// The records, in stream order.
    pub records: Vec<Record>,
}

/// Decodes a whole stream, which must end with `END` and nothing after it,
/// holding at most `budget` bytes of heap at any moment (the records
/// returned, the vector holding them, and the indices [`check()`] sorts).
/// The record headers are walked first, so a stream whose headers are
/// malformed is refused before anything is allocated.
pub fn decode(input: &[u8], budget: usize) -> Result<Stream, DecodeError> {
    let mut reader = Reader::new(input, budget)?;
    // One allocation for the vector, of the size the headers announce.
    let n = reader.count_records()?;
    let at = reader.position();
    let mut records = reader.budget_mut().vec(n, at)?;
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    let end = reader.position();
    if end != input.len() {
        return Err(DecodeError::TrailingData { offset: end });
    }
    check::check_in(&records, reader.budget_mut(), end)?;
    Ok(Stream { header: reader.header(), records })
}

/// Appends `stream` (header, records, `END`) to `out`. On error `out`
/// holds the header and the records before the refused one.
///
/// Each record is checked on its own ([`Invalid`]); whether they belong
/// together is [`check()`]'s to say.
pub fn encode(stream: &Stream, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut w = Writer::new(stream.header, out)?;
    for r in &stream.records {
        w.record(r)?;
    }
    w.end()
}
