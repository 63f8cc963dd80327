//! Incremental framing: a byte stream in, whole messages out.
//!
//! A xenstore stream (socket or ring) is a sequence of 16-byte headers, each
//! followed by exactly `len` payload bytes (`xs_wire.h`). Bytes arrive in
//! arbitrary pieces, so the [`Decoder`] keeps what it has of the current
//! message and says, after each [`Decoder::push`], whether it needs more
//! ([`Decoded::Incomplete`]), holds a whole message ([`Decoded::Message`]),
//! or has seen a protocol violation ([`Decoded::Error`]).
//!
//! Rules it implements:
//! * Check, then parse: the header is checked as soon as its 16 bytes are
//!   in. A `len` above [`XENSTORE_PAYLOAD_MAX`] is a protocol violation
//!   (`XENSTORE_ERROR_PROTO`, XSA-38): the decoder neither allocates nor
//!   waits for those bytes, and stays in the error state until
//!   [`Decoder::clear`].
//! * One message at a time: `push` never consumes bytes past the end of the
//!   message it completes, so the caller can apply flow control between
//!   messages. After `Message`, read [`Decoder::message`], then call
//!   [`Decoder::reset`] before pushing more.
//! * No allocation: the payload buffer is a fixed `XENSTORE_PAYLOAD_MAX`
//!   bytes inside the decoder.

use core::fmt;

use crate::wire::{Header, HEADER_SIZE, XENSTORE_ERROR_PROTO, XENSTORE_PAYLOAD_MAX};

/// A framing violation. The connection that sent it is no longer served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// A header announced a payload longer than [`XENSTORE_PAYLOAD_MAX`].
    TooLong,
}

impl ProtoError {
    /// The value the server writes to the ring page's `error` field.
    pub fn code(self) -> u32 {
        match self {
            ProtoError::TooLong => XENSTORE_ERROR_PROTO,
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::TooLong => f.write_str("message payload longer than XENSTORE_PAYLOAD_MAX"),
        }
    }
}

/// What the decoder holds after a [`Decoder::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The current message is not complete yet: push more bytes.
    Incomplete,
    /// A whole message is ready: read it with [`Decoder::message`].
    Message,
    /// The stream violated the protocol; nothing more will be decoded.
    Error(ProtoError),
}

/// Incremental decoder for one connection's input stream.
///
/// It is about 4.1 KiB (one maximal payload), so platforms usually keep it
/// boxed inside the connection.
pub struct Decoder {
    /// Header bytes received so far (the first `header_len` are valid).
    header: [u8; HEADER_SIZE],
    /// How many header bytes have been received.
    header_len: usize,
    /// Payload bytes received so far (the first `payload_len` are valid).
    payload: [u8; XENSTORE_PAYLOAD_MAX],
    /// How many payload bytes have been received.
    payload_len: usize,
    /// The parsed header once all of its bytes are in and it passed checks.
    parsed: Option<Header>,
    /// Where the decoder stands.
    state: Decoded,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// An empty decoder, waiting for the first header byte.
    pub const fn new() -> Decoder {
        Decoder {
            header: [0; HEADER_SIZE],
            header_len: 0,
            payload: [0; XENSTORE_PAYLOAD_MAX],
            payload_len: 0,
            parsed: None,
            state: Decoded::Incomplete,
        }
    }

    /// Feeds `bytes` and returns how many of them were taken, with the new
    /// state. Bytes past the end of a completed message are not taken.
    /// While a message is waiting to be [`reset`](Decoder::reset) or after a
    /// protocol error, nothing is taken and the state is returned again.
    pub fn push(&mut self, bytes: &[u8]) -> (usize, Decoded) {
        if self.state != Decoded::Incomplete {
            return (0, self.state);
        }
        let mut consumed = 0;
        if self.parsed.is_none() {
            consumed = self.fill_header(bytes);
            if self.header_len < HEADER_SIZE {
                return (consumed, self.state);
            }
            let header = Header::from_bytes(&self.header);
            if usize::try_from(header.len).map_or(true, |len| len > XENSTORE_PAYLOAD_MAX) {
                self.state = Decoded::Error(ProtoError::TooLong);
                return (consumed, self.state);
            }
            self.parsed = Some(header);
        }
        let rest = bytes.get(consumed..).unwrap_or(&[]);
        consumed = consumed.saturating_add(self.fill_payload(rest));
        if self.payload_len == self.wanted() {
            self.state = Decoded::Message;
        }
        (consumed, self.state)
    }

    /// The message framed by the last [`push`](Decoder::push) that returned
    /// [`Decoded::Message`]. Before that, it is a default header and an
    /// empty payload.
    pub fn message(&self) -> (Header, &[u8]) {
        match (self.state, self.parsed) {
            (Decoded::Message, Some(header)) => {
                (header, self.payload.get(..self.payload_len).unwrap_or(&[]))
            }
            _ => (Header::default(), &[]),
        }
    }

    /// Forgets a completed message so the next one can be decoded. It does
    /// nothing while a message is incomplete, and does not leave the error
    /// state (use [`clear`](Decoder::clear) for that).
    pub fn reset(&mut self) {
        if self.state == Decoded::Message {
            self.clear();
        }
    }

    /// Whether bytes of a message that is not complete yet are held (a
    /// header or payload prefix). A completed message waiting for
    /// [`reset`](Decoder::reset) is not partial.
    pub fn has_partial(&self) -> bool {
        self.state != Decoded::Message && self.header_len > 0
    }

    /// Drops everything held, including a protocol error: the state of a
    /// fresh decoder. Used when a ring is reconnected.
    pub fn clear(&mut self) {
        self.header_len = 0;
        self.payload_len = 0;
        self.parsed = None;
        self.state = Decoded::Incomplete;
    }

    /// Copies header bytes from the front of `bytes`; returns how many.
    fn fill_header(&mut self, bytes: &[u8]) -> usize {
        let dst = self.header.get_mut(self.header_len..).unwrap_or(&mut []);
        let n = dst.len().min(bytes.len());
        if let (Some(dst), Some(src)) = (dst.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.header_len = self.header_len.saturating_add(n);
        }
        n
    }

    /// Copies payload bytes from the front of `bytes`, up to the announced
    /// length; returns how many.
    fn fill_payload(&mut self, bytes: &[u8]) -> usize {
        let missing = self.wanted().saturating_sub(self.payload_len);
        let n = missing.min(bytes.len());
        let end = self.payload_len.saturating_add(n);
        if let (Some(dst), Some(src)) =
            (self.payload.get_mut(self.payload_len..end), bytes.get(..n))
        {
            dst.copy_from_slice(src);
            self.payload_len = end;
            return n;
        }
        0
    }

    /// The payload length announced by the parsed header (0 before it).
    fn wanted(&self) -> usize {
        self.parsed.and_then(|h| usize::try_from(h.len).ok()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::encode;
    use std::vec::Vec;

    fn header(ty: u32, req_id: u32, len: usize) -> Header {
        Header { ty, req_id, tx_id: 7, len: len as u32 }
    }

    /// Feeds `stream` in pieces of `chunk` bytes; returns every message.
    fn decode_all(stream: &[u8], chunk: usize) -> Vec<(Header, Vec<u8>)> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let (n, state) = d.push(piece);
                piece = &piece[n..];
                match state {
                    Decoded::Incomplete => assert!(piece.is_empty()),
                    Decoded::Message => {
                        let (h, p) = d.message();
                        out.push((h, p.to_vec()));
                        d.reset();
                    }
                    Decoded::Error(e) => panic!("unexpected {e}"),
                }
            }
        }
        assert!(!d.has_partial());
        out
    }

    #[test]
    fn byte_by_byte_feeding_yields_the_message() {
        let h = header(2, 99, 5);
        let stream = encode(h, b"/foo\0");
        let mut d = Decoder::new();
        for (i, b) in stream.iter().enumerate() {
            let (n, state) = d.push(core::slice::from_ref(b));
            assert_eq!(n, 1);
            if i + 1 < stream.len() {
                assert_eq!(state, Decoded::Incomplete);
                assert!(d.has_partial());
                assert_eq!(d.message(), (Header::default(), &[][..]));
            } else {
                assert_eq!(state, Decoded::Message);
                assert!(!d.has_partial());
            }
        }
        assert_eq!(d.message(), (h, &b"/foo\0"[..]));
    }

    #[test]
    fn many_messages_in_one_buffer_are_taken_one_at_a_time() {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for i in 0..50u32 {
            let payload: Vec<u8> = (0..(i * 37 % 300)).map(|b| b as u8).collect();
            let h = header(i % 27, i, payload.len());
            stream.extend(encode(h, &payload));
            want.push((h, payload));
        }
        let mut d = Decoder::new();
        let mut rest = &stream[..];
        for (h, p) in &want {
            let (n, state) = d.push(rest);
            assert_eq!(state, Decoded::Message);
            assert_eq!(n, HEADER_SIZE + p.len(), "push must stop at the end of one message");
            assert_eq!(d.message(), (*h, &p[..]));
            // Pushing again before reset takes nothing.
            assert_eq!(d.push(&rest[n..]), (0, Decoded::Message));
            d.reset();
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        for chunk in [1, 3, 16, 17, 1000, stream.len()] {
            assert_eq!(decode_all(&stream, chunk), want, "chunk size {chunk}");
        }
    }

    #[test]
    fn max_size_payload_is_accepted() {
        let payload: Vec<u8> = (0..XENSTORE_PAYLOAD_MAX).map(|i| (i * 7) as u8).collect();
        let h = header(11, 1, XENSTORE_PAYLOAD_MAX);
        let stream = encode(h, &payload);
        let got = decode_all(&stream, 1000);
        assert_eq!(got, [(h, payload)]);
    }

    #[test]
    fn oversize_header_is_an_error_without_waiting_for_the_payload() {
        let h = header(11, 1, XENSTORE_PAYLOAD_MAX + 1);
        let mut stream = encode(h, &[]);
        stream.extend_from_slice(&[0xaa; 32]);
        let mut d = Decoder::new();
        let (n, state) = d.push(&stream);
        assert_eq!(n, HEADER_SIZE);
        assert_eq!(state, Decoded::Error(ProtoError::TooLong));
        assert_eq!(ProtoError::TooLong.code(), XENSTORE_ERROR_PROTO);
        // The error is sticky and takes nothing, even after reset().
        d.reset();
        assert_eq!(d.push(&stream[n..]), (0, Decoded::Error(ProtoError::TooLong)));
        assert_eq!(d.message(), (Header::default(), &[][..]));
        // The largest possible length is refused the same way.
        let mut d2 = Decoder::new();
        let huge = header(2, 1, 0).to_bytes();
        let mut huge = huge;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(d2.push(&huge), (HEADER_SIZE, Decoded::Error(ProtoError::TooLong)));
        // clear() gives a working decoder back.
        d.clear();
        let good = encode(header(2, 5, 0), &[]);
        assert_eq!(d.push(&good), (HEADER_SIZE, Decoded::Message));
    }

    #[test]
    fn zero_length_payload_completes_with_the_header() {
        let h = header(6, 3, 0);
        let mut stream = encode(h, &[]);
        stream.extend(encode(h, &[]));
        let mut d = Decoder::new();
        assert_eq!(d.push(&stream[..15]), (15, Decoded::Incomplete));
        assert!(d.has_partial());
        assert_eq!(d.push(&stream[15..]), (1, Decoded::Message));
        assert_eq!(d.message(), (h, &[][..]));
        d.reset();
        assert!(!d.has_partial());
        assert_eq!(d.push(&stream[16..]), (16, Decoded::Message));
    }

    #[test]
    fn clear_drops_a_partial_message() {
        let stream = encode(header(2, 1, 10), b"0123456789");
        let mut d = Decoder::new();
        assert_eq!(d.push(&stream[..20]), (20, Decoded::Incomplete));
        assert!(d.has_partial());
        // reset() keeps a partial message; clear() drops it.
        d.reset();
        assert!(d.has_partial());
        d.clear();
        assert!(!d.has_partial());
        assert_eq!(d.push(&stream), (stream.len(), Decoded::Message));
        assert_eq!(d.message().1, b"0123456789");
    }

    #[test]
    fn empty_push_changes_nothing() {
        let mut d = Decoder::new();
        assert_eq!(d.push(&[]), (0, Decoded::Incomplete));
        assert!(!d.has_partial());
    }
}
