//! Incremental framing: a byte stream in, whole messages out.
//!
//! A xenstore stream (socket or ring) is a sequence of 16-byte headers, each
//! followed by exactly `len` payload bytes (`xs_wire.h`). Bytes arrive in
//! arbitrary pieces, so the [`Decoder`] keeps what it has of the current
//! message and says, after each [`Decoder::push`], whether it needs more
//! ([`Decoded::Incomplete`]), has a whole message ([`Decoded::Message`]),
//! could not get room for a payload ([`Decoded::NoMemory`]), or has seen a
//! protocol violation ([`Decoded::Error`]).
//!
//! Rules it implements:
//! * Check, then parse: the header is checked as soon as its 16 bytes are
//!   in. A `len` above [`XENSTORE_PAYLOAD_MAX`] is a protocol violation
//!   (`XENSTORE_ERROR_PROTO`, XSA-38): the decoder neither allocates nor
//!   waits for those bytes, and stays in the error state until
//!   [`Decoder::clear`].
//! * One message at a time: `push` never consumes bytes past the end of the
//!   message it completes, so the caller can apply flow control between
//!   messages. The message borrows the decoder (or the pushed bytes) until
//!   the caller is done with it; [`Decoder::reset`] then gives back the
//!   payload's storage at once (the next `push` would too).
//! * Small when idle: the decoder itself holds only the header state. A
//!   message whose payload is wholly in the bytes pushed is returned in
//!   place, never copied. Only a payload that arrives in pieces is
//!   gathered in a [`PayloadBuf`], prepared for exactly the header's `len`
//!   (already checked) when its first byte arrives; storage that cannot be
//!   had is [`Decoded::NoMemory`]: nothing past the header is taken, and a
//!   later `push` tries again. So a payload is copied at most once.
//!
//! The crate does not allocate: [`FixedPayload`] is storage for one maximal
//! payload inside the decoder (about 4.1 KiB); allocating platforms
//! implement [`PayloadBuf`] over heap memory.

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

/// What a [`Decoder::push`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// The current message is not complete yet: push more bytes.
    Incomplete,
    /// A whole message: its header and payload (borrowed from the pushed
    /// bytes or from the decoder's storage).
    Message(Header, &'a [u8]),
    /// The payload arrives in pieces and storage for it could not be had
    /// now: nothing past the header was taken. Push the rest again later.
    NoMemory,
    /// The stream violated the protocol; nothing more will be decoded.
    Error(ProtoError),
}

/// Storage for a payload that arrives in pieces.
///
/// The decoder calls [`prepare`](PayloadBuf::prepare) once per such
/// payload with its exact length (never above [`XENSTORE_PAYLOAD_MAX`]),
/// appends no more than that, and calls [`release`](PayloadBuf::release)
/// once the message was handled or dropped.
pub trait PayloadBuf {
    /// Empties the storage and makes room for `len` bytes; `false` when that
    /// memory cannot be had now.
    fn prepare(&mut self, len: usize) -> bool;
    /// Appends `bytes` (the decoder stays within the prepared length).
    fn append(&mut self, bytes: &[u8]);
    /// The bytes appended since [`prepare`](PayloadBuf::prepare).
    fn bytes(&self) -> &[u8];
    /// Drops the bytes held, giving back whatever memory can be given back.
    fn release(&mut self);
}

/// Room for one maximal payload inside the decoder: never fails, never
/// allocates (platforms without a heap, tests, fuzzing).
pub struct FixedPayload {
    /// The storage; the first `len` bytes are valid.
    buf: [u8; XENSTORE_PAYLOAD_MAX],
    /// How many bytes are held.
    len: usize,
}

impl FixedPayload {
    /// Empty storage.
    pub const fn new() -> FixedPayload {
        FixedPayload { buf: [0; XENSTORE_PAYLOAD_MAX], len: 0 }
    }
}

impl Default for FixedPayload {
    fn default() -> Self {
        FixedPayload::new()
    }
}

impl PayloadBuf for FixedPayload {
    fn prepare(&mut self, len: usize) -> bool {
        self.len = 0;
        len <= XENSTORE_PAYLOAD_MAX
    }

    fn append(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn release(&mut self) {
        self.len = 0;
    }
}

/// Where a [`Decoder`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Gathering a header (`header_len` bytes of it so far; 0 = idle).
    Header,
    /// The header is in and passed its checks; no payload byte is held and
    /// no storage is prepared.
    Body,
    /// Payload bytes are being gathered in the prepared storage.
    Filling,
    /// The message last returned lives in the storage, until the next
    /// `push` or `reset`.
    Delivered,
    /// A protocol violation was seen (sticky until `clear`).
    Failed(ProtoError),
}

/// Incremental decoder for one connection's input stream, gathering
/// split payloads in `B`.
///
/// With [`FixedPayload`] it is about 4.1 KiB; with heap storage it is a few
/// dozen bytes while no split message is in progress.
pub struct Decoder<B = FixedPayload> {
    /// Header bytes received so far (the first `header_len` are valid).
    header: [u8; HEADER_SIZE],
    /// How many header bytes have been received.
    header_len: u8,
    /// Where the decoder stands.
    stage: Stage,
    /// Storage of a payload that arrives in pieces.
    buf: B,
}

impl<B: PayloadBuf + Default> Default for Decoder<B> {
    fn default() -> Self {
        Decoder::with_storage(B::default())
    }
}

impl Decoder<FixedPayload> {
    /// An empty decoder with room for one maximal payload inside it.
    pub const fn new() -> Decoder<FixedPayload> {
        Decoder::with_storage(FixedPayload::new())
    }
}

/// The payload length `h` announces, if it is within the protocol's limit.
fn checked_len(h: &Header) -> Option<usize> {
    usize::try_from(h.len).ok().filter(|&len| len <= XENSTORE_PAYLOAD_MAX)
}

impl<B: PayloadBuf> Decoder<B> {
    /// An empty decoder gathering split payloads in `buf`.
    pub const fn with_storage(buf: B) -> Decoder<B> {
        Decoder { header: [0; HEADER_SIZE], header_len: 0, stage: Stage::Header, buf }
    }

    /// Feeds `bytes` and returns how many of them were taken, with what was
    /// found. Bytes past the end of a completed message are not taken;
    /// after a protocol error nothing is taken and the error is returned
    /// again. A message returned earlier is forgotten first.
    pub fn push<'a>(&'a mut self, bytes: &'a [u8]) -> (usize, Decoded<'a>) {
        self.push_with(bytes, |_| true)
    }

    /// [`push`](Decoder::push), asking `grant` first whenever it would
    /// prepare storage for a split payload (with the payload's length):
    /// `false` is [`Decoded::NoMemory`] without asking the storage. A
    /// platform with a memory budget asks it here, before the storage
    /// allocates.
    pub fn push_with<'a>(
        &'a mut self,
        bytes: &'a [u8],
        grant: impl FnOnce(usize) -> bool,
    ) -> (usize, Decoded<'a>) {
        self.reset();
        let mut taken = 0;
        match self.stage {
            Stage::Failed(e) => return (0, Decoded::Error(e)),
            Stage::Header => {
                if self.header_len == 0 {
                    if let Some(found) = Self::whole(bytes) {
                        if let Decoded::Error(e) = found.1 {
                            self.stage = Stage::Failed(e);
                        }
                        return found;
                    }
                }
                taken = self.fill_header(bytes);
                if usize::from(self.header_len) < HEADER_SIZE {
                    return (taken, Decoded::Incomplete);
                }
                if checked_len(&self.header()).is_none() {
                    self.stage = Stage::Failed(ProtoError::TooLong);
                    return (taken, Decoded::Error(ProtoError::TooLong));
                }
                self.stage = Stage::Body;
            }
            Stage::Body | Stage::Filling | Stage::Delivered => {}
        }
        let header = self.header();
        let len = checked_len(&header).unwrap_or(0);
        let rest = bytes.get(taken..).unwrap_or(&[]);
        if self.stage == Stage::Body {
            if let Some(payload) = rest.get(..len) {
                // The whole payload is here: no storage needed.
                self.header_len = 0;
                self.stage = Stage::Header;
                return (taken.saturating_add(len), Decoded::Message(header, payload));
            }
            if rest.is_empty() {
                return (taken, Decoded::Incomplete);
            }
            if !grant(len) || !self.buf.prepare(len) {
                return (taken, Decoded::NoMemory);
            }
            self.stage = Stage::Filling;
        }
        let missing = len.saturating_sub(self.buf.bytes().len());
        let piece = rest.get(..missing).unwrap_or(rest);
        self.buf.append(piece);
        taken = taken.saturating_add(piece.len());
        if self.buf.bytes().len() < len {
            return (taken, Decoded::Incomplete);
        }
        self.stage = Stage::Delivered;
        (taken, Decoded::Message(header, self.buf.bytes()))
    }

    /// A message (or an oversize header) wholly at the front of `bytes`,
    /// returned in place; `None` when `bytes` holds less.
    fn whole(bytes: &[u8]) -> Option<(usize, Decoded<'_>)> {
        let (raw, rest) = bytes.split_first_chunk::<HEADER_SIZE>()?;
        let header = Header::from_bytes(raw);
        let Some(len) = checked_len(&header) else {
            return Some((HEADER_SIZE, Decoded::Error(ProtoError::TooLong)));
        };
        let payload = rest.get(..len)?;
        Some((HEADER_SIZE.saturating_add(len), Decoded::Message(header, payload)))
    }

    /// Forgets the message last returned by [`push`](Decoder::push),
    /// giving back its storage. It does nothing while a message is
    /// incomplete, and does not leave the error state (use
    /// [`clear`](Decoder::clear) for that).
    pub fn reset(&mut self) {
        if self.stage == Stage::Delivered {
            self.clear();
        }
    }

    /// Whether bytes of a message that is not complete yet are held (a
    /// header or payload prefix). A message already returned, or a header
    /// that violated the protocol, is not partial.
    pub fn has_partial(&self) -> bool {
        match self.stage {
            Stage::Header => self.header_len > 0,
            Stage::Body | Stage::Filling => true,
            Stage::Delivered | Stage::Failed(_) => false,
        }
    }

    /// The bytes of a message that is not complete yet, as received: the
    /// header bytes so far and the payload bytes so far (both empty when
    /// nothing [`partial`](Decoder::has_partial) is held). Pushing them,
    /// header then payload, into a fresh decoder puts it where this one
    /// stands (a migration stream carries them this way).
    pub fn partial(&self) -> (&[u8], &[u8]) {
        let header = self.header.get(..usize::from(self.header_len)).unwrap_or(&[]);
        match self.stage {
            Stage::Header | Stage::Body => (header, &[]),
            Stage::Filling => (header, self.buf.bytes()),
            Stage::Delivered | Stage::Failed(_) => (&[], &[]),
        }
    }

    /// Drops everything held, including a protocol error, and gives back
    /// the payload's storage: the state of a fresh decoder. Used when a
    /// ring is reconnected.
    pub fn clear(&mut self) {
        self.header_len = 0;
        self.stage = Stage::Header;
        self.buf.release();
    }

    /// The header gathered so far (meaningful once all of it is in).
    fn header(&self) -> Header {
        Header::from_bytes(&self.header)
    }

    /// Copies header bytes from the front of `bytes`; returns how many.
    fn fill_header(&mut self, bytes: &[u8]) -> usize {
        let have = usize::from(self.header_len);
        let dst = self.header.get_mut(have..).unwrap_or(&mut []);
        let n = dst.len().min(bytes.len());
        if let (Some(dst), Some(src)) = (dst.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            // `have + n <= HEADER_SIZE`, which fits a u8.
            self.header_len = u8::try_from(have.saturating_add(n)).unwrap_or(u8::MAX);
        }
        n
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

    /// Storage that counts its use and can refuse to prepare.
    #[derive(Default)]
    struct Counted {
        inner: FixedPayload,
        prepared: Vec<usize>,
        releases: usize,
        refuse: bool,
        held: bool,
    }

    impl PayloadBuf for Counted {
        fn prepare(&mut self, len: usize) -> bool {
            if self.refuse {
                return false;
            }
            self.prepared.push(len);
            self.held = true;
            self.inner.prepare(len)
        }
        fn append(&mut self, bytes: &[u8]) {
            assert!(self.held, "append before prepare");
            self.inner.append(bytes);
        }
        fn bytes(&self) -> &[u8] {
            self.inner.bytes()
        }
        fn release(&mut self) {
            self.releases += 1;
            self.held = false;
            self.inner.release();
        }
    }

    /// Feeds `stream` in pieces of `chunk` bytes; returns every message.
    fn decode_all(stream: &[u8], chunk: usize) -> Vec<(Header, Vec<u8>)> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let (n, state) = d.push(piece);
                match state {
                    Decoded::Incomplete => assert_eq!(n, piece.len()),
                    Decoded::Message(h, p) => out.push((h, p.to_vec())),
                    other => panic!("unexpected {other:?}"),
                }
                d.reset();
                piece = &piece[n..];
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
            } else {
                assert_eq!(state, Decoded::Message(h, &b"/foo\0"[..]));
                assert!(!d.has_partial());
            }
        }
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
            assert_eq!(n, HEADER_SIZE + p.len(), "push must stop at the end of one message");
            assert_eq!(state, Decoded::Message(*h, &p[..]));
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
        for chunk in [1000, stream.len()] {
            assert_eq!(decode_all(&stream, chunk), [(h, payload.clone())]);
        }
    }

    #[test]
    fn oversize_header_is_an_error_without_waiting_for_the_payload() {
        let h = header(11, 1, XENSTORE_PAYLOAD_MAX + 1);
        let mut stream = encode(h, &[]);
        stream.extend_from_slice(&[0xaa; 32]);
        for first in [stream.len(), 10] {
            let mut d = Decoder::with_storage(Counted::default());
            let (mut n, mut state) = d.push(&stream[..first]);
            if first < HEADER_SIZE {
                assert_eq!((n, state), (first, Decoded::Incomplete));
                (n, state) = d.push(&stream[first..]);
                n += first;
            }
            assert_eq!(n, HEADER_SIZE);
            assert_eq!(state, Decoded::Error(ProtoError::TooLong));
            assert!(d.buf.prepared.is_empty(), "nothing is allocated for it");
            assert!(!d.has_partial());
            // The error is sticky and takes nothing, even after reset().
            d.reset();
            assert_eq!(d.push(&stream[n..]), (0, Decoded::Error(ProtoError::TooLong)));
            // clear() gives a working decoder back.
            d.clear();
            let good = encode(header(2, 5, 0), &[]);
            assert_eq!(d.push(&good), (HEADER_SIZE, Decoded::Message(header(2, 5, 0), &[][..])));
        }
        assert_eq!(ProtoError::TooLong.code(), XENSTORE_ERROR_PROTO);
        // The largest possible length is refused the same way.
        let mut huge = header(2, 1, 0).to_bytes();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut d = Decoder::new();
        assert_eq!(d.push(&huge), (HEADER_SIZE, Decoded::Error(ProtoError::TooLong)));
    }

    #[test]
    fn zero_length_payload_completes_with_the_header() {
        let h = header(6, 3, 0);
        let mut stream = encode(h, &[]);
        stream.extend(encode(h, &[]));
        let mut d = Decoder::new();
        assert_eq!(d.push(&stream[..15]), (15, Decoded::Incomplete));
        assert!(d.has_partial());
        assert_eq!(d.push(&stream[15..]), (1, Decoded::Message(h, &[][..])));
        assert!(!d.has_partial());
        assert_eq!(d.push(&stream[16..]), (16, Decoded::Message(h, &[][..])));
    }

    #[test]
    fn clear_drops_a_partial_message() {
        let stream = encode(header(2, 1, 10), b"0123456789");
        let mut d = Decoder::with_storage(Counted::default());
        assert_eq!(d.push(&stream[..20]), (20, Decoded::Incomplete));
        assert!(d.has_partial());
        // reset() keeps a partial message; clear() drops it and its storage.
        d.reset();
        assert!(d.has_partial());
        d.clear();
        assert!(!d.has_partial());
        assert!(!d.buf.held);
        let (n, state) = d.push(&stream);
        assert_eq!((n, state), (stream.len(), Decoded::Message(header(2, 1, 10), b"0123456789")));
    }

    #[test]
    fn empty_push_changes_nothing() {
        let mut d = Decoder::new();
        assert_eq!(d.push(&[]), (0, Decoded::Incomplete));
        assert!(!d.has_partial());
    }

    #[test]
    fn a_whole_message_is_returned_in_place_without_storage() {
        let h = header(2, 1, 4);
        let mut stream = encode(h, b"abc\0");
        stream.extend(encode(h, b"xyz\0"));
        let mut d = Decoder::with_storage(Counted::default());
        let (n, state) = d.push(&stream);
        let Decoded::Message(_, payload) = state else { panic!("{state:?}") };
        assert_eq!(payload.as_ptr(), stream[HEADER_SIZE..].as_ptr(), "not copied");
        // The header alone, then its payload whole: still no storage.
        assert_eq!(d.push(&stream[n..n + HEADER_SIZE]), (HEADER_SIZE, Decoded::Incomplete));
        let (m, state) = d.push(&stream[n + HEADER_SIZE..]);
        assert_eq!((m, state), (4, Decoded::Message(h, b"xyz\0")));
        assert!(d.buf.prepared.is_empty());
    }

    #[test]
    fn a_split_payload_gets_storage_of_its_exact_length_until_reset() {
        let h = header(2, 1, 300);
        let payload: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let stream = encode(h, &payload);
        let mut d = Decoder::with_storage(Counted::default());
        assert_eq!(d.push(&stream[..100]), (100, Decoded::Incomplete));
        assert_eq!(d.buf.prepared, [300]);
        assert_eq!(d.push(&stream[100..]), (216, Decoded::Message(h, &payload[..])));
        assert!(d.buf.held, "the message lives in the storage");
        d.reset();
        assert!(!d.buf.held, "reset gives the storage back");
        // Without reset, the next push gives it back first.
        assert_eq!(d.push(&stream[..100]), (100, Decoded::Incomplete));
        assert_eq!(d.push(&stream[100..]).1, Decoded::Message(h, &payload[..]));
        assert!(d.buf.held);
        assert_eq!(d.push(&[]), (0, Decoded::Incomplete));
        assert!(!d.buf.held);
        assert_eq!(d.buf.prepared, [300, 300]);
    }

    #[test]
    fn no_memory_takes_nothing_past_the_header_and_retries() {
        let h = header(2, 1, 40);
        let payload = [7u8; 40];
        let stream = encode(h, &payload);
        let mut d = Decoder::with_storage(Counted { refuse: true, ..Counted::default() });
        assert_eq!(d.push(&stream[..30]), (HEADER_SIZE, Decoded::NoMemory));
        assert!(d.has_partial(), "the header is kept");
        assert_eq!(d.push(&stream[HEADER_SIZE..30]), (0, Decoded::NoMemory));
        d.buf.refuse = false;
        assert_eq!(d.push(&stream[HEADER_SIZE..30]), (14, Decoded::Incomplete));
        assert_eq!(d.push(&stream[30..]), (26, Decoded::Message(h, &payload[..])));
        assert_eq!(d.buf.prepared, [40]);
    }

    #[test]
    fn a_refused_grant_is_no_memory_and_the_storage_is_not_asked() {
        let h = header(2, 1, 40);
        let payload = [7u8; 40];
        let stream = encode(h, &payload);
        let mut d = Decoder::with_storage(Counted::default());
        let mut asked = Vec::new();
        let mut deny = |len| {
            asked.push(len);
            false
        };
        assert_eq!(d.push_with(&stream[..30], &mut deny), (HEADER_SIZE, Decoded::NoMemory));
        assert!(d.buf.prepared.is_empty(), "the storage was not asked");
        // A whole message needs no storage: the grant is not asked.
        let whole = encode(h, &payload);
        let mut fresh = Decoder::with_storage(Counted::default());
        assert_eq!(fresh.push_with(&whole, &mut deny).1, Decoded::Message(h, &payload[..]));
        assert_eq!(asked, [40]);
        assert_eq!(d.push_with(&stream[HEADER_SIZE..30], |_| true), (14, Decoded::Incomplete));
        assert_eq!(d.buf.prepared, [40]);
    }
}
