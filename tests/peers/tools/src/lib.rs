//! The xenstore wire format as the two benchmark tools need it: the 16-byte
//! header `struct xsd_sockmsg { u32 type, req_id, tx_id, len }` (little-endian
//! on x86, `xs_wire.h`) followed by `len` payload bytes, at most
//! [`XENSTORE_PAYLOAD_MAX`].
//!
//! Deliberately separate from the repository's `ring` crate: the tools
//! measure daemons, ours among them, so they share no code with ours.

use std::io::{self, Read, Write};

/// `XS_DIRECTORY`.
pub const XS_DIRECTORY: u32 = 1;
/// `XS_READ`.
pub const XS_READ: u32 = 2;
/// `XS_WATCH`.
pub const XS_WATCH: u32 = 4;
/// `XS_TRANSACTION_START`.
pub const XS_TRANSACTION_START: u32 = 6;
/// `XS_TRANSACTION_END`.
pub const XS_TRANSACTION_END: u32 = 7;
/// `XS_INTRODUCE`.
pub const XS_INTRODUCE: u32 = 8;
/// `XS_RELEASE`.
pub const XS_RELEASE: u32 = 9;
/// `XS_WRITE`.
pub const XS_WRITE: u32 = 11;
/// `XS_MKDIR`.
pub const XS_MKDIR: u32 = 12;
/// `XS_RM`.
pub const XS_RM: u32 = 13;
/// `XS_SET_PERMS`.
pub const XS_SET_PERMS: u32 = 14;
/// `XS_WATCH_EVENT`.
pub const XS_WATCH_EVENT: u32 = 15;
/// `XS_ERROR`.
pub const XS_ERROR: u32 = 16;
/// `XS_DIRECTORY_PART`.
pub const XS_DIRECTORY_PART: u32 = 22;

/// Largest payload a message may carry (`XENSTORE_PAYLOAD_MAX`).
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;

/// Size of the header.
pub const HEADER_BYTES: usize = 16;

/// A message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message type (`XS_*`).
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id.
    pub tx_id: u32,
    /// Payload length in bytes.
    pub len: u32,
}

impl Header {
    /// The header's wire bytes.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        for (chunk, word) in
            out.chunks_exact_mut(4).zip([self.ty, self.req_id, self.tx_id, self.len])
        {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Decodes wire bytes.
    pub fn decode(bytes: &[u8; HEADER_BYTES]) -> Header {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
            u32::from_le_bytes(w)
        };
        Header { ty: word(0), req_id: word(1), tx_id: word(2), len: word(3) }
    }
}

/// Appends one message (header and payload parts) to `out`.
pub fn encode_msg(out: &mut Vec<u8>, ty: u32, req_id: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(len).expect("payload fits in u32");
    out.extend_from_slice(&Header { ty, req_id, tx_id: 0, len }.encode());
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// Reads one message into `payload` (replacing its contents) and returns its
/// header. A length above [`XENSTORE_PAYLOAD_MAX`] is an `InvalidData` error;
/// end of stream is `UnexpectedEof`.
pub fn read_msg(stream: &mut impl Read, payload: &mut Vec<u8>) -> io::Result<Header> {
    let mut raw = [0u8; HEADER_BYTES];
    stream.read_exact(&mut raw)?;
    let header = Header::decode(&raw);
    let len = usize::try_from(header.len).unwrap_or(usize::MAX);
    if len > XENSTORE_PAYLOAD_MAX {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "payload over 4096 bytes"));
    }
    payload.resize(len, 0);
    stream.read_exact(payload)?;
    Ok(header)
}

/// Why a benchmark client's run stopped.
pub enum Failure {
    /// The device or socket failed (exit status 2).
    Io(io::Error),
    /// The server answered something else than expected (exit status 3).
    Reply(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// One connection of a benchmark client, one request in flight, and its
/// reusable buffers.
pub struct Client<S> {
    chan: S,
    out: Vec<u8>,
    /// The last reply's payload.
    pub reply: Vec<u8>,
    req_id: u32,
}

impl<S: Read + Write> Client<S> {
    /// A client on `chan` (a socket, or a xenbus device that takes one
    /// whole message per write).
    pub fn new(chan: S) -> Client<S> {
        Client { chan, out: Vec::new(), reply: Vec::new(), req_id: 0 }
    }

    /// Sends one request made of `parts` and returns the reply's type (its
    /// payload is left in `self.reply`).
    pub fn request(&mut self, ty: u32, parts: &[&[u8]]) -> Result<u32, Failure> {
        self.req_id = self.req_id.wrapping_add(1);
        self.out.clear();
        encode_msg(&mut self.out, ty, self.req_id, parts);
        // One write per message: the xenbus device parses what each write
        // brings.
        self.chan.write_all(&self.out)?;
        let header = read_msg(&mut self.chan, &mut self.reply)?;
        if header.req_id != self.req_id {
            return Err(Failure::Reply(format!(
                "reply for request {} while waiting for {} (type {})",
                header.req_id, self.req_id, header.ty
            )));
        }
        Ok(header.ty)
    }

    /// The reply payload as text, for messages.
    pub fn reply_text(&self) -> String {
        String::from_utf8_lossy(&self.reply).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_is_little_endian() {
        let h = Header { ty: XS_WRITE, req_id: 0x0102_0304, tx_id: 7, len: 3 };
        let bytes = h.encode();
        assert_eq!(bytes[..8], [11, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(Header::decode(&bytes), h);
    }

    #[test]
    fn messages_round_trip_and_oversize_is_refused() {
        let mut wire = Vec::new();
        encode_msg(&mut wire, XS_WRITE, 9, &[b"/a\0", b"v"]);
        let mut payload = Vec::new();
        let h = read_msg(&mut wire.as_slice(), &mut payload).unwrap();
        assert_eq!((h.ty, h.req_id, h.len, payload.as_slice()), (XS_WRITE, 9, 4, &b"/a\0v"[..]));

        let big = Header { ty: XS_READ, req_id: 1, tx_id: 0, len: 4097 }.encode();
        let err = read_msg(&mut &big[..], &mut payload).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let err = read_msg(&mut &b"short"[..], &mut payload).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
