//! Entry points for the cargo-fuzz targets (feature `fuzzing`).
//!
//! Each function takes the fuzzer's raw bytes, drives one part of the crate
//! with them and asserts its invariants; a failed assertion is a finding.
//! They live here, not in `fuzz/`, so they see the crate's internals and
//! stay in step with it.
//!
//! Panicking is how a fuzz target reports a finding, so `clippy::panic` is
//! allowed here; this module is compiled only with the `fuzzing` feature
//! (and for this crate's own tests, which run the entry points on sample
//! inputs).
#![allow(clippy::panic)]

use core::ops::Range;

use crate::decode::{Decoded, Decoder, FixedPayload, PayloadBuf};
use crate::page::{LocalPage, RawIndices, RingPage, XENSTORE_RING_SIZE, XEN_PAGE_SIZE};
use crate::prng::XorShift;
use crate::wire::{Header, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};

mod serve_race;
pub use serve_race::serve_race;

/// Splits `data` as `[seed: 8 bytes][rest]`; short inputs get seed 0.
fn split_seed(data: &[u8]) -> (u64, &[u8]) {
    match data.split_first_chunk::<8>() {
        Some((seed, rest)) => (u64::from_le_bytes(*seed), rest),
        None => (0, data),
    }
}

/// Feeds the stream after an 8-byte seed into a [`Decoder`] in chunks whose
/// sizes come from the seed, and checks every result against a
/// straightforward parse of the whole stream: the same messages in the same
/// order, `TooLong` exactly at the first oversize header, no byte taken
/// past a message's end, a partial message held only when the stream
/// stops inside one, and storage that is refused now and then
/// ([`Decoded::NoMemory`]) costing nothing but a retry.
pub fn decode(data: &[u8]) {
    let (seed, stream) = split_seed(data);
    let mut rng = XorShift::new(seed);
    let mut dec =
        Decoder::with_storage(Flaky { inner: FixedPayload::new(), rng: XorShift::new(!seed) });
    // How many stream bytes the decoder has taken so far.
    let mut taken = 0usize;
    // Where the next message starts, according to the reference parse.
    let mut next = 0usize;
    while let Some(rest) = stream.get(taken..) {
        let chunk_len = rng.below_or(XENSTORE_PAYLOAD_MAX + HEADER_SIZE).min(rest.len());
        let chunk = rest.get(..chunk_len).unwrap_or(&[]);
        let (n, state) = dec.push(chunk);
        assert!(n <= chunk.len(), "took more than given");
        taken = taken.saturating_add(n);
        let want = reference_message(stream, next);
        match (state, want) {
            (Decoded::Message(got_h, got_payload), Reference::Message(h, payload, end)) => {
                assert_eq!(taken, end, "a message must end where the reference says");
                assert_eq!((got_h, got_payload), (h, payload));
                assert!(!dec.has_partial());
                next = end;
                if rng.below_or(1) == 0 {
                    // Otherwise the next push forgets it.
                    dec.reset();
                }
            }
            (Decoded::Error(e), Reference::TooLong(end)) => {
                assert_eq!(taken, end, "only the oversize header is taken");
                assert_eq!(dec.push(chunk), (0, Decoded::Error(e)), "errors are sticky");
                return;
            }
            (Decoded::NoMemory, Reference::Message(..) | Reference::Incomplete) => {
                assert!(taken <= next.saturating_add(HEADER_SIZE), "no payload byte taken");
                assert!(dec.has_partial(), "the header is kept");
            }
            (Decoded::Incomplete, Reference::Incomplete) => {
                assert_eq!(n, chunk.len(), "Incomplete must take everything");
                assert_eq!(dec.has_partial(), taken > next);
                if taken == stream.len() {
                    return;
                }
            }
            (Decoded::Incomplete, _) => {
                assert_eq!(n, chunk.len(), "Incomplete must take everything");
                assert!(taken < stream.len(), "the stream has a whole message but none came");
            }
            (state, _) => panic!("decoder said {state:?}, the reference parse disagrees"),
        }
    }
}

/// Payload storage that refuses one `prepare` in four.
struct Flaky {
    /// The storage once granted.
    inner: FixedPayload,
    /// Decides the refusals.
    rng: XorShift,
}

impl PayloadBuf for Flaky {
    fn prepare(&mut self, len: usize) -> bool {
        self.rng.below_or(3) != 0 && self.inner.prepare(len)
    }

    fn append(&mut self, bytes: &[u8]) {
        self.inner.append(bytes);
    }

    fn bytes(&self) -> &[u8] {
        self.inner.bytes()
    }

    fn release(&mut self) {
        self.inner.release();
    }
}

/// What the reference parse finds at one position of a stream.
enum Reference<'a> {
    /// A whole message, and the position just past it.
    Message(Header, &'a [u8], usize),
    /// An oversize header, and the position just past it.
    TooLong(usize),
    /// The stream ends inside a message.
    Incomplete,
}

/// The reference parse: the message starting at `at` in `stream`.
fn reference_message(stream: &[u8], at: usize) -> Reference<'_> {
    let Some(hdr) = stream.get(at..).and_then(|s| s.first_chunk::<HEADER_SIZE>()) else {
        return Reference::Incomplete;
    };
    let h = Header::from_bytes(hdr);
    let body = at.saturating_add(HEADER_SIZE);
    let len = usize::try_from(h.len).unwrap_or(usize::MAX);
    if len > XENSTORE_PAYLOAD_MAX {
        return Reference::TooLong(body);
    }
    let end = body.saturating_add(len);
    match stream.get(body..end) {
        Some(payload) => Reference::Message(h, payload, end),
        None => Reference::Incomplete,
    }
}

/// Reads little-endian `u32`s off the front of the fuzzer's bytes.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    /// The next byte (0 once the input is exhausted).
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }

    /// The next `u32` (zero-extended when the input runs out).
    fn word(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// The next `len` bytes, or fewer at the end.
    fn take(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// Which bytes of the page an operation may change: two ranges of offsets.
type Allowed = [Range<usize>; 2];

/// An operation that must not change the page.
const NOTHING: Allowed = [0..0, 0..0];

/// All four indices.
const ALL_INDICES: Range<usize> = REQ_CONS..RSP_PROD + 4;

/// The ring at `buf` and the `u32` field at `field`.
fn ring_and_field(buf: usize, field: usize) -> Allowed {
    [buf..buf.saturating_add(XENSTORE_RING_SIZE), field..field.saturating_add(4)]
}

/// Drives a ring page with arbitrary index values and operations (both
/// sides' calls, raw index rewrites) and checks after each one: it never
/// touched a byte it had no business with, producers copied exactly the
/// bytes they reported and moved their index by that much, consumers got
/// the bytes at the right slots, and `BadIndex` came exactly when the
/// indices were inconsistent.
pub fn ring_page(page: &mut LocalPage, data: &[u8]) {
    page.0.fill(0);
    let mut input = Input(data);
    let first = RawIndices {
        req_cons: input.word(),
        req_prod: input.word(),
        rsp_cons: input.word(),
        rsp_prod: input.word(),
    };
    RingPage::with_local(page, |r| r.set_raw_indices(first));
    let mut buf = [0u8; 2 * XENSTORE_RING_SIZE];
    while !input.0.is_empty() {
        let before = page.0;
        let idx = RingPage::with_local(page, |r| r.raw_indices());
        let op = input.byte() % 8;
        let len = usize::from(input.byte()).saturating_mul(8);
        let allowed = match op {
            0 => check_produce(page, &idx, true, input.take(len)),
            1 => check_produce(page, &idx, false, input.take(len)),
            2 => check_peek(page, &idx, buf.get_mut(..len).unwrap_or(&mut [])),
            3 => check_consume(page, &idx, true, input.word()),
            4 => check_consume(page, &idx, false, len_u32(len)),
            5 => check_space(page, &idx),
            6 => {
                let new = RawIndices {
                    req_cons: input.word(),
                    req_prod: input.word(),
                    rsp_cons: input.word(),
                    rsp_prod: input.word(),
                };
                RingPage::with_local(page, |r| r.set_raw_indices(new));
                assert_eq!(RingPage::with_local(page, |r| r.raw_indices()), new);
                [ALL_INDICES, 0..0]
            }
            _ => {
                RingPage::with_local(page, |r| r.reset_indices());
                assert_eq!(RingPage::with_local(page, |r| r.raw_indices()), RawIndices::default());
                [ALL_INDICES, 0..0]
            }
        };
        check_untouched(&before, &page.0, &allowed);
    }
}

/// Offset of the request ring.
const REQ_BUF: usize = 0;
/// Offset of the response ring.
const RSP_BUF: usize = 1024;
/// Offset of `req_cons`.
const REQ_CONS: usize = 2048;
/// Offset of `req_prod`.
const REQ_PROD: usize = 2052;
/// Offset of `rsp_cons`.
const RSP_CONS: usize = 2056;
/// Offset of `rsp_prod`.
const RSP_PROD: usize = 2060;
/// Offset of `error`.
const ERROR: usize = 2072;

/// `len` as a `u32` (lengths here are at most 2040).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Whether `cons`/`prod` are consistent, and the bytes in flight.
fn in_flight(cons: u32, prod: u32) -> Option<usize> {
    let n = usize::try_from(prod.wrapping_sub(cons)).ok()?;
    (n <= XENSTORE_RING_SIZE).then_some(n)
}

/// Byte `x` of the ring at `buf` in `page`.
fn slot(page: &[u8], buf: usize, x: u32) -> u8 {
    let off = usize::try_from(x).unwrap_or(0) % XENSTORE_RING_SIZE;
    page.get(buf.saturating_add(off)).copied().unwrap_or(0)
}

/// The `u32` field at `off` in `page`.
fn field(page: &[u8], off: usize) -> u32 {
    let b = page.get(off..).and_then(|s| s.first_chunk::<4>()).copied().unwrap_or([0; 4]);
    u32::from_le_bytes(b)
}

/// Writes `data` as the guest (`requests`) or the server, and checks it.
fn check_produce(page: &mut LocalPage, idx: &RawIndices, requests: bool, data: &[u8]) -> Allowed {
    let (buf, cons, prod, prod_off) = if requests {
        (REQ_BUF, idx.req_cons, idx.req_prod, REQ_PROD)
    } else {
        (RSP_BUF, idx.rsp_cons, idx.rsp_prod, RSP_PROD)
    };
    let got = RingPage::with_local(page, |r| {
        if requests {
            r.write_requests(data)
        } else {
            r.write_responses(data)
        }
    });
    match (in_flight(cons, prod), got) {
        (Some(used), Ok(n)) => {
            assert_eq!(n, data.len().min(XENSTORE_RING_SIZE.saturating_sub(used)));
            let mut x = prod;
            for &byte in data.iter().take(n) {
                assert_eq!(slot(&page.0, buf, x), byte, "data lands at prod & 1023");
                x = x.wrapping_add(1);
            }
            assert_eq!(field(&page.0, prod_off), x, "prod moves by what was written");
        }
        (None, Err(_)) => {}
        (ok, got) => panic!("indices consistent: {}, but got {got:?}", ok.is_some()),
    }
    ring_and_field(buf, prod_off)
}

/// Peeks at requests as the server and checks the bytes it got.
fn check_peek(page: &mut LocalPage, idx: &RawIndices, out: &mut [u8]) -> Allowed {
    let got = RingPage::with_local(page, |r| r.peek_requests(out));
    match (in_flight(idx.req_cons, idx.req_prod), got) {
        (Some(used), Ok(n)) => {
            assert_eq!(n, used.min(out.len()));
            let mut x = idx.req_cons;
            for &byte in out.iter().take(n) {
                assert_eq!(byte, slot(&page.0, REQ_BUF, x), "bytes come from cons & 1023");
                x = x.wrapping_add(1);
            }
        }
        (None, Err(_)) => {}
        (ok, got) => panic!("indices consistent: {}, but got {got:?}", ok.is_some()),
    }
    NOTHING
}

/// Consumes requests (server) or reads responses (guest), and checks the
/// consumer index.
fn check_consume(page: &mut LocalPage, idx: &RawIndices, requests: bool, n: u32) -> Allowed {
    let (cons, prod, cons_off) = if requests {
        (idx.req_cons, idx.req_prod, REQ_CONS)
    } else {
        (idx.rsp_cons, idx.rsp_prod, RSP_CONS)
    };
    let mut out = [0u8; XENSTORE_RING_SIZE];
    let want = usize::try_from(n).unwrap_or(usize::MAX).min(out.len());
    RingPage::with_local(page, |r| {
        if requests {
            r.consume_requests(n);
        } else {
            let got = r.read_responses(out.get_mut(..want).unwrap_or(&mut []));
            assert_eq!(got.is_ok(), in_flight(cons, prod).is_some());
        }
    });
    let expect = match in_flight(cons, prod) {
        Some(used) if requests => cons.wrapping_add(n.min(len_u32(used))),
        Some(used) => cons.wrapping_add(len_u32(used.min(want))),
        None => cons,
    };
    assert_eq!(field(&page.0, cons_off), expect, "cons moves by what was consumed");
    [cons_off..cons_off.saturating_add(4), 0..0]
}

/// Checks the four size queries against the indices.
fn check_space(page: &mut LocalPage, idx: &RawIndices) -> Allowed {
    let req = in_flight(idx.req_cons, idx.req_prod);
    let rsp = in_flight(idx.rsp_cons, idx.rsp_prod);
    let free = |used: Option<usize>| used.map(|u| XENSTORE_RING_SIZE.saturating_sub(u));
    RingPage::with_local(page, |r| {
        assert_eq!(r.requests_available().ok(), req);
        assert_eq!(r.requests_space().ok(), free(req));
        assert_eq!(r.responses_available().ok(), rsp);
        assert_eq!(r.responses_space().ok(), free(rsp));
    });
    NOTHING
}

/// Checks that only the bytes `allowed` differ between `before` and `page`.
fn check_untouched(
    before: &[u8; XEN_PAGE_SIZE],
    page: &[u8; XEN_PAGE_SIZE],
    allowed: &[Range<usize>],
) {
    // Patch the allowed ranges of the old page with their new contents;
    // everything else must then compare equal (one memcmp, not a loop).
    let mut expect = *before;
    for r in allowed {
        if let (Some(dst), Some(src)) = (expect.get_mut(r.clone()), page.get(r.clone())) {
            dst.copy_from_slice(src);
        }
    }
    if expect != *page {
        let off = expect.iter().zip(page.iter()).position(|(a, b)| a != b);
        panic!("byte {off:?} of the page changed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{encode, XorShift};
    use std::boxed::Box;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn decode_target_accepts_valid_and_hostile_streams() {
        let mut rng = XorShift::new(5);
        for round in 0..200u64 {
            let mut data = round.to_le_bytes().to_vec();
            for i in 0..rng.below_or(6) {
                let len = if i == 5 { XENSTORE_PAYLOAD_MAX + 1 } else { rng.below_or(300) };
                let h = Header { ty: 2, req_id: i as u32, tx_id: 0, len: len as u32 };
                let payload = rng.bytes(len.min(XENSTORE_PAYLOAD_MAX));
                data.extend(encode(h, &payload));
            }
            // Cut the stream anywhere, including inside a header.
            let cut = rng.below_or(data.len());
            decode(&data[..cut]);
            decode(&data);
        }
    }

    #[test]
    fn ring_page_target_accepts_random_operations() {
        let mut page = Box::new(LocalPage::default());
        let mut rng = XorShift::new(6);
        for _ in 0..300 {
            let mut data: Vec<u8> = Vec::new();
            // Start from consistent indices half of the time.
            let start = rng.next_u64() as u32;
            if rng.below_or(1) == 0 {
                for _ in 0..4 {
                    data.extend_from_slice(&start.to_le_bytes());
                }
            }
            let len = rng.below_or(3000);
            data.extend(rng.bytes(len));
            ring_page(&mut page, &data);
        }
    }

    /// A `serve_race` input: zero indices, `tokens` reconnections, then
    /// `ops`.
    fn race_input(tokens: u8, ops: &[&[u8]]) -> Vec<u8> {
        let mut data = vec![0u8; 16];
        data.extend([0, tokens]);
        for op in ops {
            data.extend_from_slice(op);
        }
        data
    }

    #[test]
    fn serve_race_target_accepts_scripted_and_random_inputs() {
        let mut page = Box::new(LocalPage::default());
        // A guest writes a request (op 6: guest action 4, 8 bytes), a quiet
        // turn echoes it, the guest reads the echo (action 5), asks for a
        // reconnection (action 9) and a racing turn honours it while the
        // guest rewrites `req_prod` (action 6) in every callback.
        let write = [6, 4, 1, b'r', b'e', b'q', b'u', b'e', b's', b't'];
        let read = [6, 5, 1];
        let reconnect = [6, 9, 0];
        let mut racing_turn = vec![0x10];
        for _ in 0..8 {
            racing_turn.extend([6, 0, 0xff, 0xff, 0xff, 0xff]);
        }
        let write16 = [&[6, 4, 2][..], b"sixteen bytes..."].concat();
        let scripts: [&[&[u8]]; 5] = [
            &[&write, &[0], &read, &[5], &reconnect, &[5], &racing_turn],
            &[&write, &[0x7, 0x21, 7, 7, 7, 7], &[0x17], &[4], &[5], &reconnect, &[0]],
            // Inconsistent request indices stop the ring; a reconnection
            // revives it.
            &[&[6, 6, 0, 0, 8, 0, 0], &[0], &reconnect, &[0], &write, &[0]],
            // Flow control, then a protocol error from the engine.
            &[&[7, 0], &write, &[0], &[7, 0], &[0, 0xff], &[5]],
            // The engine takes 8 bytes of 16.
            &[&write16, &[0, 0x81], &[0]],
        ];
        for ops in scripts {
            serve_race(&mut page, &race_input(3, ops));
        }
        // A full response ring: the turn notifies for the input alone.
        let full = [&[6, 8, 0][..], &[0; 12], &1024u32.to_le_bytes()].concat();
        serve_race(&mut page, &race_input(0, &[&full, &write, &[0]]));
        // A full request ring, and a guest that writes 8 more bytes in every
        // callback of a racing turn: the turn stops at its budget.
        let mut busy = [&[6, 4, 128][..], &[b'a'; 1024]].concat();
        let more = [4, 1, b'b', b'b', b'b', b'b', b'b', b'b', b'b', b'b'];
        busy.push(0x10);
        busy.extend(more.repeat(2));
        for _ in 0..6 {
            busy.extend(more.repeat(3));
            busy.push(0);
            busy.extend(more);
        }
        serve_race(&mut page, &race_input(0, &[&busy]));
        let mut rng = XorShift::new(7);
        for _ in 0..300 {
            let len = rng.below_or(2000);
            serve_race(&mut page, &rng.bytes(len));
        }
    }
}
