//! The shared xenbus ring page (`struct xenstore_domain_interface`).
//!
//! Layout (`xen/include/public/io/xs_wire.h`; `docs/misc/xenstore-ring.txt`):
//!
//! | offset | field             | written by                              |
//! |--------|-------------------|-----------------------------------------|
//! | 0      | `req[1024]`       | guest: requests to xenstored            |
//! | 1024   | `rsp[1024]`       | server: replies and watch events        |
//! | 2048   | `req_cons`        | server                                  |
//! | 2052   | `req_prod`        | guest                                   |
//! | 2056   | `rsp_cons`        | guest                                   |
//! | 2060   | `rsp_prod`        | server                                  |
//! | 2064   | `server_features` | server (bits are only ever added)       |
//! | 2068   | `connection`      | guest sets 1, server sets 0             |
//! | 2072   | `error`           | server (Xen 4.17+)                      |
//! | 2076   | `evtchn_port`     | Xen/toolstack (4.21+, 0 = not provided) |
//!
//! Indices are free-running `u32`s that wrap at 2^32; byte `x` of a stream
//! lives at `buf[x & 1023]`. `prod - cons` (wrapping) is the number of bytes
//! in flight and must never exceed [`XENSTORE_RING_SIZE`]; when it does the
//! server stops serving the ring and reports [`XENSTORE_ERROR_RINGIDX`]. A
//! side may only overwrite bytes the other side has consumed.
//!
//! The other side is another domain, possibly hostile, that can write any
//! byte of the page at any time. Hence, as in `readchn`/`writechn` of C
//! xenstored:
//! * No `&`/`&mut` reference to the page is ever created. Data bytes are
//!   read and written with volatile accesses through raw pointers (aligned
//!   8-byte words, single bytes at the edges of a run); index and control
//!   fields with atomic accesses through raw pointers (a transient
//!   `&AtomicU32`, which is allowed to be written concurrently).
//! * Each index is read once per operation, validated, and only the local
//!   copy is used afterwards (no double fetch).
//! * Fences: after reading the indices, an `Acquire` fence orders those
//!   reads before every access to the data they describe. Before publishing
//!   an index, a full (`SeqCst`) fence, where C uses `xen_mb()`, orders all
//!   data accesses (the producer's writes, the consumer's reads) before the
//!   index store that hands the bytes over.

#![allow(unsafe_code)]

use core::fmt;
use core::mem::offset_of;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::wire::XENSTORE_ERROR_RINGIDX;

/// Size of each of the two byte rings (`XENSTORE_RING_SIZE`).
pub const XENSTORE_RING_SIZE: usize = 1024;

/// Size of the page that holds the interface (`XEN_PAGE_SIZE`).
pub const XEN_PAGE_SIZE: usize = 4096;

/// `XENSTORE_RING_SIZE` as a ring index quantity.
const RING_SIZE_IDX: u32 = 1024;

/// `MASK_XENSTORE_IDX`: the bits of an index that select a byte.
const RING_MASK: u32 = RING_SIZE_IDX - 1;

/// Size of the word used for bulk copies.
const WORD: usize = core::mem::size_of::<u64>();

/// A C mirror of `struct xenstore_domain_interface`, used only for its
/// offsets and size. It is never placed over the shared page: the page is
/// accessed field by field through raw pointers.
#[repr(C)]
#[allow(dead_code)]
struct XenstoreDomainInterface {
    /// IN (guest to server): request bytes.
    req: [u8; XENSTORE_RING_SIZE],
    /// OUT (server to guest): reply and watch-event bytes.
    rsp: [u8; XENSTORE_RING_SIZE],
    /// OUT: how far the server has read `req`.
    req_cons: u32,
    /// IN: how far the guest has written `req`.
    req_prod: u32,
    /// IN: how far the guest has read `rsp`.
    rsp_cons: u32,
    /// OUT: how far the server has written `rsp`.
    rsp_prod: u32,
    /// OUT: `XENSTORE_SERVER_FEATURE_*` bits.
    server_features: u32,
    /// IN/OUT: `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    connection: u32,
    /// OUT: `XENSTORE_ERROR_*`.
    error: u32,
    /// IN (from Xen): the guest's event channel, 0 if not provided.
    evtchn_port: u32,
}

const _: () = {
    assert!(offset_of!(XenstoreDomainInterface, req) == 0);
    assert!(offset_of!(XenstoreDomainInterface, rsp) == 1024);
    assert!(offset_of!(XenstoreDomainInterface, req_cons) == 2048);
    assert!(offset_of!(XenstoreDomainInterface, req_prod) == 2052);
    assert!(offset_of!(XenstoreDomainInterface, rsp_cons) == 2056);
    assert!(offset_of!(XenstoreDomainInterface, rsp_prod) == 2060);
    assert!(offset_of!(XenstoreDomainInterface, server_features) == 2064);
    assert!(offset_of!(XenstoreDomainInterface, connection) == 2068);
    assert!(offset_of!(XenstoreDomainInterface, error) == 2072);
    assert!(offset_of!(XenstoreDomainInterface, evtchn_port) == 2076);
    assert!(core::mem::size_of::<XenstoreDomainInterface>() == 2080);
    assert!(core::mem::size_of::<XenstoreDomainInterface>() <= XEN_PAGE_SIZE);
};

/// One direction of the page: a byte ring and its two indices.
#[derive(Clone, Copy)]
struct Half {
    /// Offset of the 1024-byte ring.
    buf: usize,
    /// Offset of the consumer index.
    cons: usize,
    /// Offset of the producer index.
    prod: usize,
}

/// Requests: the guest produces, the server consumes.
const REQ: Half = Half {
    buf: offset_of!(XenstoreDomainInterface, req),
    cons: offset_of!(XenstoreDomainInterface, req_cons),
    prod: offset_of!(XenstoreDomainInterface, req_prod),
};

/// Responses: the server produces, the guest consumes.
const RSP: Half = Half {
    buf: offset_of!(XenstoreDomainInterface, rsp),
    cons: offset_of!(XenstoreDomainInterface, rsp_cons),
    prod: offset_of!(XenstoreDomainInterface, rsp_prod),
};

/// A ring the server must stop serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// `prod - cons` exceeds [`XENSTORE_RING_SIZE`] on one of the rings.
    BadIndex,
}

impl RingError {
    /// The value the server writes to the page's `error` field.
    pub fn code(self) -> u32 {
        match self {
            RingError::BadIndex => XENSTORE_ERROR_RINGIDX,
        }
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::BadIndex => f.write_str("inconsistent ring indices"),
        }
    }
}

/// The four ring indices as stored, without validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawIndices {
    /// How far the server has read requests.
    pub req_cons: u32,
    /// How far the guest has written requests.
    pub req_prod: u32,
    /// How far the guest has read responses.
    pub rsp_cons: u32,
    /// How far the server has written responses.
    pub rsp_prod: u32,
}

/// A page of ordinary memory with the alignment of a real ring page, for
/// tests, fuzzing and simulated guests (see [`RingPage::with_local`]).
#[repr(C, align(4096))]
pub struct LocalPage(pub [u8; XEN_PAGE_SIZE]);

impl Default for LocalPage {
    fn default() -> Self {
        LocalPage([0; XEN_PAGE_SIZE])
    }
}

/// A handle on a shared xenstore ring page.
///
/// Server-side and guest-side operations are both provided; each side must
/// use only its own, from one handle at a time (the type is `Send` but not
/// `Sync`).
pub struct RingPage {
    /// Start of the 4096-byte page.
    base: NonNull<u8>,
}

// SAFETY: a `RingPage` is only a pointer to memory that `RingPage::new`'s
// caller guarantees stays mapped, and every access through it is volatile
// or atomic, so moving the handle to another thread is sound.
unsafe impl Send for RingPage {}

impl RingPage {
    /// Wraps the ring page at `base`.
    ///
    /// # Safety
    ///
    /// * `base` points to 4096 bytes, aligned to at least 4 bytes (a page
    ///   mapping is), readable and writable for the whole life of the
    ///   returned value and of anything derived from it.
    /// * No Rust reference to that memory exists while the `RingPage` lives;
    ///   other parties (another domain, process or thread) may read and
    ///   write it concurrently only through this ring protocol, i.e. with
    ///   volatile or atomic accesses of their own.
    pub unsafe fn new(base: NonNull<u8>) -> RingPage {
        RingPage { base }
    }

    /// Runs `f` with a ring handle over `page`, a private page: the `&mut`
    /// borrow guarantees nothing else touches it meanwhile, and the handle
    /// cannot outlive the call.
    pub fn with_local<R>(page: &mut LocalPage, f: impl FnOnce(&RingPage) -> R) -> R {
        let ring = RingPage { base: NonNull::from(page).cast::<u8>() };
        f(&ring)
    }

    // ---- Server side -------------------------------------------------------

    /// Copies up to `buf.len()` pending request bytes into `buf` without
    /// consuming them; returns how many were copied.
    pub fn peek_requests(&self, buf: &mut [u8]) -> Result<usize, RingError> {
        self.peek(REQ, buf)
    }

    /// Marks `n` request bytes as consumed, freeing their space for the
    /// guest. `n` is clamped to the bytes present, so a server bug cannot
    /// make the indices inconsistent.
    pub fn consume_requests(&self, n: u32) {
        self.consume(REQ, n);
    }

    /// Copies as much of `data` as fits into the response ring, then
    /// publishes it; returns how many bytes were written.
    pub fn write_responses(&self, data: &[u8]) -> Result<usize, RingError> {
        self.produce(RSP, data)
    }

    /// How many request bytes are waiting to be read.
    pub fn requests_available(&self) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(REQ)?;
        Ok(in_flight(cons, prod))
    }

    /// How many response bytes can be written now.
    pub fn responses_space(&self) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(RSP)?;
        Ok(XENSTORE_RING_SIZE.saturating_sub(in_flight(cons, prod)))
    }

    // ---- Guest side (tests, simulated and hostile test guests) -------------

    /// Copies as much of `data` as fits into the request ring, then
    /// publishes it; returns how many bytes were written.
    pub fn write_requests(&self, data: &[u8]) -> Result<usize, RingError> {
        self.produce(REQ, data)
    }

    /// Reads and consumes up to `buf.len()` response bytes; returns how
    /// many were read.
    pub fn read_responses(&self, buf: &mut [u8]) -> Result<usize, RingError> {
        let n = self.peek(RSP, buf)?;
        self.consume(RSP, len_u32(n));
        Ok(n)
    }

    /// How many response bytes are waiting to be read.
    pub fn responses_available(&self) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(RSP)?;
        Ok(in_flight(cons, prod))
    }

    /// How many request bytes can be written now.
    pub fn requests_space(&self) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(REQ)?;
        Ok(XENSTORE_RING_SIZE.saturating_sub(in_flight(cons, prod)))
    }

    // ---- Control fields ----------------------------------------------------

    /// The `XENSTORE_SERVER_FEATURE_*` bits advertised by the server.
    pub fn server_features(&self) -> u32 {
        self.load(offset_of!(XenstoreDomainInterface, server_features))
    }

    /// Advertises `XENSTORE_SERVER_FEATURE_*` bits (server only; set them
    /// before serving the ring, and never clear a bit).
    pub fn set_server_features(&self, bits: u32) {
        self.publish(offset_of!(XenstoreDomainInterface, server_features), bits);
    }

    /// The `connection` field (`XENSTORE_CONNECTED` or
    /// `XENSTORE_RECONNECT`).
    pub fn connection(&self) -> u32 {
        self.load(offset_of!(XenstoreDomainInterface, connection))
    }

    /// Sets the `connection` field: the guest sets `XENSTORE_RECONNECT`, the
    /// server answers with `XENSTORE_CONNECTED` once the ring is reset.
    pub fn set_connection(&self, value: u32) {
        self.publish(offset_of!(XenstoreDomainInterface, connection), value);
    }

    /// The `error` field (`XENSTORE_ERROR_*`).
    pub fn error(&self) -> u32 {
        self.load(offset_of!(XenstoreDomainInterface, error))
    }

    /// Sets the `error` field (server only), e.g. to [`RingError::code`].
    pub fn set_error(&self, value: u32) {
        self.publish(offset_of!(XenstoreDomainInterface, error), value);
    }

    /// The event channel Xen filled in for the guest (0 = not provided).
    pub fn evtchn_port(&self) -> u32 {
        self.load(offset_of!(XenstoreDomainInterface, evtchn_port))
    }

    /// Sets `evtchn_port`, as Xen does for dom0less/hyperlaunch guests (for
    /// tests and simulated guests; the server never writes it).
    pub fn set_evtchn_port(&self, port: u32) {
        self.publish(offset_of!(XenstoreDomainInterface, evtchn_port), port);
    }

    /// Sets all four indices to 0: the server's part of a reconnection,
    /// done before it sets `connection` back to `XENSTORE_CONNECTED`.
    pub fn reset_indices(&self) {
        self.set_raw_indices(RawIndices::default());
    }

    /// The four indices as stored, unvalidated (diagnostics and tests).
    pub fn raw_indices(&self) -> RawIndices {
        RawIndices {
            req_cons: self.load(REQ.cons),
            req_prod: self.load(REQ.prod),
            rsp_cons: self.load(RSP.cons),
            rsp_prod: self.load(RSP.prod),
        }
    }

    /// Stores arbitrary index values. Only for tests, fuzzing and a hostile
    /// test guest: a real server or guest never writes the other side's
    /// indices.
    pub fn set_raw_indices(&self, idx: RawIndices) {
        self.publish(REQ.cons, idx.req_cons);
        self.publish(REQ.prod, idx.req_prod);
        self.publish(RSP.cons, idx.rsp_cons);
        self.publish(RSP.prod, idx.rsp_prod);
    }

    // ---- The ring protocol -------------------------------------------------

    /// Reads `half`'s consumer and producer indices, once each, and checks
    /// them.
    fn indices(&self, half: Half) -> Result<(u32, u32), RingError> {
        let cons = self.load(half.cons);
        let prod = self.load(half.prod);
        // Orders the index reads above before every later access to the
        // ring bytes: the consumer must not read bytes before it has seen
        // `prod` cover them, the producer must not overwrite bytes before
        // it has seen `cons` pass them.
        fence(Ordering::Acquire);
        if prod.wrapping_sub(cons) > RING_SIZE_IDX {
            return Err(RingError::BadIndex);
        }
        Ok((cons, prod))
    }

    /// Copies pending bytes of `half` into `buf` without consuming them.
    fn peek(&self, half: Half, buf: &mut [u8]) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(half)?;
        let n = in_flight(cons, prod).min(buf.len());
        let (out, _) = buf.split_at_mut_checked(n).unwrap_or_default();
        let [(first_slot, first_len), (second_slot, _)] = runs(cons, n);
        let (first, second) = out.split_at_mut_checked(first_len).unwrap_or_default();
        self.read_run(half.buf.wrapping_add(first_slot), first);
        self.read_run(half.buf.wrapping_add(second_slot), second);
        Ok(n)
    }

    /// Advances `half`'s consumer index by `n`, clamped to the bytes
    /// present.
    fn consume(&self, half: Half, n: u32) {
        let Ok((cons, prod)) = self.indices(half) else {
            // The indices are already inconsistent; the next operation
            // reports it, and moving `cons` cannot repair them.
            return;
        };
        let n = n.min(prod.wrapping_sub(cons));
        // Full barrier, as `xen_mb()` in C `readchn`: the reads of the
        // consumed bytes complete before the producer can see their space
        // as free.
        fence(Ordering::SeqCst);
        self.store(half.cons, cons.wrapping_add(n));
    }

    /// Copies as much of `data` as fits into `half`, then publishes it.
    fn produce(&self, half: Half, data: &[u8]) -> Result<usize, RingError> {
        let (cons, prod) = self.indices(half)?;
        let space = XENSTORE_RING_SIZE.saturating_sub(in_flight(cons, prod));
        let n = space.min(data.len());
        let (data, _) = data.split_at_checked(n).unwrap_or_default();
        let [(first_slot, first_len), (second_slot, _)] = runs(prod, n);
        let (first, second) = data.split_at_checked(first_len).unwrap_or_default();
        self.write_run(half.buf.wrapping_add(first_slot), first);
        self.write_run(half.buf.wrapping_add(second_slot), second);
        // Full barrier, as `xen_mb()` in C `writechn`: the data writes are
        // visible before the consumer can see the new producer index.
        fence(Ordering::SeqCst);
        self.store(half.prod, prod.wrapping_add(len_u32(n)));
        Ok(n)
    }

    // ---- Raw access: the only unsafe code in the crate ---------------------

    /// Copies the page bytes `off..off + dst.len()` into `dst`, with
    /// volatile accesses: 8 bytes at a time where aligned, single bytes at
    /// the edges. Callers pass a run inside one ring (see [`runs`]).
    fn read_run(&self, off: usize, dst: &mut [u8]) {
        let lead = self.base.as_ptr().wrapping_add(off).align_offset(WORD).min(dst.len());
        let (head, body) = dst.split_at_mut_checked(lead).unwrap_or_default();
        let mut off = off;
        for byte in head {
            *byte = self.read_u8(off);
            off = off.wrapping_add(1);
        }
        let mut words = body.chunks_exact_mut(WORD);
        for word in &mut words {
            word.copy_from_slice(&self.read_u64(off).to_ne_bytes());
            off = off.wrapping_add(WORD);
        }
        for byte in words.into_remainder() {
            *byte = self.read_u8(off);
            off = off.wrapping_add(1);
        }
    }

    /// Copies `src` to the page bytes `off..off + src.len()`, like
    /// [`read_run`](Self::read_run) in the other direction.
    fn write_run(&self, off: usize, src: &[u8]) {
        let lead = self.base.as_ptr().wrapping_add(off).align_offset(WORD).min(src.len());
        let (head, body) = src.split_at_checked(lead).unwrap_or_default();
        let mut off = off;
        for &byte in head {
            self.write_u8(off, byte);
            off = off.wrapping_add(1);
        }
        let mut words = body.chunks_exact(WORD);
        for word in &mut words {
            let mut w = [0u8; WORD];
            w.copy_from_slice(word);
            self.write_u64(off, u64::from_ne_bytes(w));
            off = off.wrapping_add(WORD);
        }
        for &byte in words.remainder() {
            self.write_u8(off, byte);
            off = off.wrapping_add(1);
        }
    }

    // ---- Raw access: the only unsafe code in the crate ---------------------
    //
    // Every `off` below comes from `read_run`/`write_run`, whose runs lie
    // inside `req[]` or `rsp[]` (offsets below 2048), or is a field offset
    // of `XenstoreDomainInterface` (below 2080): always inside the page.

    /// Reads the byte at `off`.
    fn read_u8(&self, off: usize) -> u8 {
        let ptr = self.base.as_ptr().wrapping_add(off);
        // SAFETY: `ptr` is inside the page, which `new`'s caller guarantees
        // is mapped and readable; the access is volatile, so it happens
        // exactly once, and no reference is created.
        unsafe { ptr.read_volatile() }
    }

    /// Reads the 8-byte-aligned word at `off`.
    fn read_u64(&self, off: usize) -> u64 {
        let ptr = self.base.as_ptr().wrapping_add(off).cast::<u64>();
        // SAFETY: as in `read_u8`; the run functions only call this at
        // 8-aligned addresses (`align_offset`) with 8 bytes left in the run.
        unsafe { ptr.read_volatile() }
    }

    /// Writes the byte at `off`.
    fn write_u8(&self, off: usize, byte: u8) {
        let ptr = self.base.as_ptr().wrapping_add(off);
        // SAFETY: as in `read_u8`; the page is also writable.
        unsafe { ptr.write_volatile(byte) }
    }

    /// Writes the 8-byte-aligned word at `off`.
    fn write_u64(&self, off: usize, word: u64) {
        let ptr = self.base.as_ptr().wrapping_add(off).cast::<u64>();
        // SAFETY: as in `read_u64`; the page is also writable.
        unsafe { ptr.write_volatile(word) }
    }

    /// Atomically reads the `u32` field at `off`.
    fn load(&self, off: usize) -> u32 {
        let ptr = self.base.as_ptr().wrapping_add(off).cast::<u32>();
        // SAFETY: every `off` passed here is a field offset of
        // `XenstoreDomainInterface`, a multiple of 4 below 2080, so `ptr` is
        // inside the page and 4-byte aligned (the page is, per `new`). The
        // `&AtomicU32` lives only for this load; atomic types may be written
        // concurrently by other parties, which is the point.
        unsafe { AtomicU32::from_ptr(ptr) }.load(Ordering::Relaxed)
    }

    /// Atomically writes the `u32` field at `off` (ordering is the caller's
    /// business: see the fences in `consume` and `produce`).
    fn store(&self, off: usize, value: u32) {
        let ptr = self.base.as_ptr().wrapping_add(off).cast::<u32>();
        // SAFETY: as in `load`.
        unsafe { AtomicU32::from_ptr(ptr) }.store(value, Ordering::Relaxed);
    }

    /// Writes a control field after a full barrier, so that everything done
    /// to the page before is visible first.
    fn publish(&self, off: usize, value: u32) {
        fence(Ordering::SeqCst);
        self.store(off, value);
    }
}

/// Splits the `len <= 1024` stream bytes starting at index `start` into
/// the two runs `(slot, length)` they occupy in a ring: up to its end, then
/// from its start. The second is empty when the bytes do not wrap.
fn runs(start: u32, len: usize) -> [(usize, usize); 2] {
    let slot = usize::from(u16::try_from(start & RING_MASK).unwrap_or(0));
    let first = XENSTORE_RING_SIZE.saturating_sub(slot).min(len);
    [(slot, first), (0, len.saturating_sub(first))]
}

/// A byte count of at most 1024 as an index distance.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Bytes in flight between validated `cons` and `prod` (at most 1024).
fn in_flight(cons: u32, prod: u32) -> usize {
    usize::try_from(prod.wrapping_sub(cons)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, Decoder};
    use crate::testutil::{encode, XorShift};
    use crate::wire::{Header, XENSTORE_PAYLOAD_MAX};
    use std::boxed::Box;
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};
    use std::vec::Vec;

    fn with_indices<R>(idx: RawIndices, f: impl FnOnce(&RingPage) -> R) -> R {
        let mut page = Box::new(LocalPage::default());
        RingPage::with_local(&mut page, |r| {
            r.set_raw_indices(idx);
            f(r)
        })
    }

    fn all(i: u32) -> RawIndices {
        RawIndices { req_cons: i, req_prod: i, rsp_cons: i, rsp_prod: i }
    }

    fn word(page: &LocalPage, off: usize) -> u32 {
        u32::from_le_bytes(page.0[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn fields_sit_at_the_xs_wire_offsets() {
        let mut page = Box::new(LocalPage::default());
        RingPage::with_local(&mut page, |r| {
            r.set_raw_indices(RawIndices { req_cons: 1, req_prod: 2, rsp_cons: 3, rsp_prod: 4 });
            r.set_server_features(5);
            r.set_connection(6);
            r.set_error(7);
            r.set_evtchn_port(8);
            assert_eq!(r.write_requests(b"Q").unwrap(), 1);
        });
        for (off, v) in
            [(2048, 1), (2052, 3), (2056, 3), (2060, 4), (2064, 5), (2068, 6), (2072, 7), (2076, 8)]
        {
            assert_eq!(word(&page, off), v, "offset {off}");
        }
        // Byte 2 of the request stream lives at req[2].
        assert_eq!(page.0[2], b'Q');
        // Nothing past the structure was touched.
        assert!(page.0[2080..].iter().all(|&b| b == 0));
        RingPage::with_local(&mut page, |r| {
            assert_eq!(r.server_features(), 5);
            assert_eq!(r.connection(), 6);
            assert_eq!(r.error(), 7);
            assert_eq!(r.evtchn_port(), 8);
            r.reset_indices();
            assert_eq!(r.raw_indices(), RawIndices::default());
        });
    }

    #[test]
    fn requests_flow_from_guest_to_server() {
        with_indices(all(0), |r| {
            assert_eq!(r.requests_available(), Ok(0));
            assert_eq!(r.write_requests(b"hello"), Ok(5));
            assert_eq!(r.requests_available(), Ok(5));
            assert_eq!(r.requests_space(), Ok(1019));
            let mut buf = [0u8; 3];
            // Peeking twice sees the same bytes: nothing is consumed.
            assert_eq!(r.peek_requests(&mut buf), Ok(3));
            assert_eq!(&buf, b"hel");
            assert_eq!(r.peek_requests(&mut buf), Ok(3));
            assert_eq!(&buf, b"hel");
            r.consume_requests(2);
            let mut buf = [0u8; 16];
            assert_eq!(r.peek_requests(&mut buf), Ok(3));
            assert_eq!(&buf[..3], b"llo");
            // Consuming more than present is clamped.
            r.consume_requests(1000);
            assert_eq!(r.requests_available(), Ok(0));
            assert_eq!(r.raw_indices().req_cons, 5);
        });
    }

    #[test]
    fn responses_flow_from_server_to_guest() {
        with_indices(all(7), |r| {
            assert_eq!(r.responses_space(), Ok(1024));
            assert_eq!(r.write_responses(b"world"), Ok(5));
            assert_eq!(r.responses_available(), Ok(5));
            assert_eq!(r.responses_space(), Ok(1019));
            let mut buf = [0u8; 4];
            assert_eq!(r.read_responses(&mut buf), Ok(4));
            assert_eq!(&buf, b"worl");
            assert_eq!(r.read_responses(&mut buf), Ok(1));
            assert_eq!(buf[0], b'd');
            assert_eq!(r.read_responses(&mut buf), Ok(0));
            assert_eq!(r.raw_indices().rsp_cons, 12);
        });
    }

    #[test]
    fn full_ring_and_partial_writes() {
        with_indices(all(0), |r| {
            let data: Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
            // Only 1024 bytes fit; the write is partial, not an error.
            assert_eq!(r.write_responses(&data), Ok(1024));
            assert_eq!(r.responses_space(), Ok(0));
            assert_eq!(r.write_responses(&data[1024..]), Ok(0));
            let mut buf = [0u8; 100];
            assert_eq!(r.read_responses(&mut buf), Ok(100));
            assert_eq!(&buf[..], &data[..100]);
            // The freed 100 bytes are reused at the start of the ring.
            assert_eq!(r.write_responses(&data[1024..]), Ok(100));
            let mut rest = Vec::new();
            let mut big = [0u8; 2048];
            let n = r.read_responses(&mut big).unwrap();
            rest.extend_from_slice(&big[..n]);
            assert_eq!(&rest[..], &data[100..1124]);
        });
    }

    #[test]
    fn indices_wrap_at_two_to_the_thirty_two() {
        let start = u32::MAX - 2;
        with_indices(all(start), |r| {
            assert_eq!(r.write_requests(b"abcdefgh"), Ok(8));
            let idx = r.raw_indices();
            assert_eq!(idx.req_prod, 5);
            assert_eq!(r.requests_available(), Ok(8));
            let mut buf = [0u8; 8];
            assert_eq!(r.peek_requests(&mut buf), Ok(8));
            assert_eq!(&buf, b"abcdefgh");
            r.consume_requests(8);
            assert_eq!(r.raw_indices().req_cons, 5);
        });
    }

    #[test]
    fn bad_indices_are_detected_on_every_path() {
        let bad = [
            // One byte more than the ring holds.
            RawIndices { req_cons: 0, req_prod: 1025, rsp_cons: 0, rsp_prod: 1025 },
            // The consumer ahead of the producer.
            RawIndices { req_cons: 10, req_prod: 9, rsp_cons: 10, rsp_prod: 9 },
            // Far apart, across the wrap.
            RawIndices { req_cons: 2000, req_prod: u32::MAX, rsp_cons: 5, rsp_prod: 1 << 31 },
        ];
        for idx in bad {
            with_indices(idx, |r| {
                let mut buf = [0u8; 8];
                assert_eq!(r.peek_requests(&mut buf), Err(RingError::BadIndex));
                assert_eq!(r.requests_available(), Err(RingError::BadIndex));
                assert_eq!(r.requests_space(), Err(RingError::BadIndex));
                assert_eq!(r.write_requests(b"x"), Err(RingError::BadIndex));
                assert_eq!(r.write_responses(b"x"), Err(RingError::BadIndex));
                assert_eq!(r.responses_space(), Err(RingError::BadIndex));
                assert_eq!(r.responses_available(), Err(RingError::BadIndex));
                assert_eq!(r.read_responses(&mut buf), Err(RingError::BadIndex));
                // Consuming from a bad ring changes nothing.
                r.consume_requests(5);
                assert_eq!(r.raw_indices(), idx);
            });
        }
        assert_eq!(RingError::BadIndex.code(), XENSTORE_ERROR_RINGIDX);
        // Exactly full is consistent.
        let full = RawIndices { req_cons: u32::MAX, req_prod: 1023, rsp_cons: 0, rsp_prod: 0 };
        with_indices(full, |r| {
            assert_eq!(r.requests_available(), Ok(1024));
            assert_eq!(r.write_requests(b"x"), Ok(0));
        });
    }

    #[test]
    fn each_side_writes_only_its_own_ring_and_index() {
        let mut rng = XorShift::new(42);
        for _ in 0..500 {
            let mut page = Box::new(LocalPage::default());
            for b in page.0.iter_mut() {
                *b = rng.next_u64() as u8;
            }
            let req_cons = rng.next_u64() as u32;
            let rsp_cons = rng.next_u64() as u32;
            let idx = RawIndices {
                req_cons,
                req_prod: req_cons.wrapping_add(rng.below_or(1024) as u32),
                rsp_cons,
                rsp_prod: rsp_cons.wrapping_add(rng.below_or(1024) as u32),
            };
            RingPage::with_local(&mut page, |r| r.set_raw_indices(idx));
            let before = page.0;
            let len = rng.below_or(1100);
            let data = rng.bytes(len);
            let n = RingPage::with_local(&mut page, |r| r.write_responses(&data)).unwrap();
            let space = 1024 - idx.rsp_prod.wrapping_sub(idx.rsp_cons) as usize;
            assert_eq!(n, data.len().min(space));
            for (off, (a, b)) in before.iter().zip(page.0.iter()).enumerate() {
                let slot = (off.wrapping_sub(1024)) as u32;
                let written = (1024..2048).contains(&off)
                    && slot.wrapping_sub(idx.rsp_prod) & RING_MASK < n as u32;
                if written {
                    let k = (slot.wrapping_sub(idx.rsp_prod) & RING_MASK) as usize;
                    assert_eq!(*b, data[k], "offset {off}");
                } else if !(2060..2064).contains(&off) {
                    assert_eq!(a, b, "write_responses touched offset {off}");
                }
            }
            assert_eq!(word(&page, 2060), idx.rsp_prod.wrapping_add(n as u32));
        }
    }

    #[test]
    fn random_operations_match_a_queue_model() {
        let mut rng = XorShift::new(7);
        for round in 0..200 {
            let start = if round % 2 == 0 { u32::MAX - rng.below_or(3000) as u32 } else { 0 };
            let mut req_model: VecDeque<u8> = VecDeque::new();
            let mut rsp_model: VecDeque<u8> = VecDeque::new();
            with_indices(all(start), |r| {
                for _ in 0..200 {
                    let len = rng.below_or(1500);
                    match rng.below_or(4) {
                        0 => {
                            let data = rng.bytes(len);
                            let n = r.write_requests(&data).unwrap();
                            assert_eq!(n, len.min(XENSTORE_RING_SIZE - req_model.len()));
                            req_model.extend(&data[..n]);
                        }
                        1 => {
                            let data = rng.bytes(len);
                            let n = r.write_responses(&data).unwrap();
                            assert_eq!(n, len.min(XENSTORE_RING_SIZE - rsp_model.len()));
                            rsp_model.extend(&data[..n]);
                        }
                        2 => {
                            let mut buf = std::vec![0u8; len];
                            let n = r.peek_requests(&mut buf).unwrap();
                            assert_eq!(n, len.min(req_model.len()));
                            assert!(buf[..n].iter().eq(req_model.iter().take(n)));
                            let k = rng.below_or(n);
                            r.consume_requests(k as u32);
                            req_model.drain(..k);
                        }
                        _ => {
                            let mut buf = std::vec![0u8; len];
                            let n = r.read_responses(&mut buf).unwrap();
                            assert_eq!(n, len.min(rsp_model.len()));
                            assert!(buf[..n].iter().copied().eq(rsp_model.drain(..n)));
                        }
                    }
                    assert_eq!(r.requests_available(), Ok(req_model.len()));
                    assert_eq!(r.responses_available(), Ok(rsp_model.len()));
                    assert_eq!(r.requests_space(), Ok(XENSTORE_RING_SIZE - req_model.len()));
                    assert_eq!(r.responses_space(), Ok(XENSTORE_RING_SIZE - rsp_model.len()));
                }
            });
        }
    }

    #[test]
    fn server_survives_a_guest_rewriting_indices_concurrently() {
        let page = Box::into_raw(Box::new(LocalPage::default()));
        let base = NonNull::new(page).unwrap().cast::<u8>();
        // SAFETY: as in `exchange`: a live aligned page, freed after both
        // threads joined, touched only through these handles. The hostile
        // side writes only indices (atomics), so nothing races on data.
        let (server, hostile) = unsafe { (RingPage::new(base), RingPage::new(base)) };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stop = &stop;
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut rng = XorShift::new(9);
                while !stop.load(Ordering::Relaxed) {
                    let near = rng.next_u64() as u32;
                    let pick = |rng: &mut XorShift| match rng.below_or(3) {
                        0 => rng.next_u64() as u32,
                        _ => near.wrapping_add(rng.below_or(1100) as u32),
                    };
                    let idx = RawIndices {
                        req_cons: pick(&mut rng),
                        req_prod: pick(&mut rng),
                        rsp_cons: pick(&mut rng),
                        rsp_prod: pick(&mut rng),
                    };
                    hostile.set_raw_indices(idx);
                }
            });
            let mut buf = [0u8; 2 * XENSTORE_RING_SIZE];
            let data = [0x5a; 2 * XENSTORE_RING_SIZE];
            let (mut ok, mut bad) = (0, 0);
            let started = Instant::now();
            let mut round = 0u32;
            // Run until both outcomes were seen, so the race was real.
            while round < 20_000 || ok == 0 || bad == 0 {
                assert!(started.elapsed() < DEADLINE, "ok {ok}, bad {bad}");
                round += 1;
                let results = [
                    server.peek_requests(&mut buf),
                    server.write_responses(&data),
                    server.requests_available(),
                    server.responses_space(),
                ];
                for r in results {
                    match r {
                        Ok(n) => {
                            assert!(n <= XENSTORE_RING_SIZE);
                            ok += 1;
                        }
                        Err(RingError::BadIndex) => bad += 1,
                    }
                }
                server.consume_requests(round);
            }
            stop.store(true, Ordering::Relaxed);
        });
        // SAFETY: from `Box::into_raw` above; both handles are gone.
        drop(unsafe { Box::from_raw(page) });
    }

    /// How long the threaded exchange may take before it counts as stuck.
    const DEADLINE: Duration = Duration::from_secs(60);

    /// A payload length: mostly small, sometimes larger than the ring, and
    /// now and then the maximum or zero.
    fn payload_len(rng: &mut XorShift) -> usize {
        match rng.below_or(9) {
            0 => 0,
            1 => XENSTORE_PAYLOAD_MAX,
            2 | 3 => rng.below_or(XENSTORE_PAYLOAD_MAX),
            _ => rng.below_or(200),
        }
    }

    /// The server's answer to a request: same header, payload reversed.
    fn answer(h: Header, payload: &[u8]) -> Vec<u8> {
        let mut p = payload.to_vec();
        p.reverse();
        encode(h, &p)
    }

    /// Server thread: frames requests from the ring, answers each, and
    /// stops reading while an answer is still being written (flow control).
    fn serve(ring: RingPage, messages: usize) {
        let started = Instant::now();
        let mut dec = Decoder::new();
        let mut buf = [0u8; XENSTORE_RING_SIZE];
        let mut out: Vec<u8> = Vec::new();
        let mut sent = 0;
        let mut handled = 0;
        while handled < messages || sent < out.len() {
            assert!(started.elapsed() < DEADLINE, "server stuck after {handled} messages");
            if sent < out.len() {
                sent += ring.write_responses(&out[sent..]).unwrap();
                continue;
            }
            let n = ring.peek_requests(&mut buf).unwrap();
            if n == 0 {
                std::thread::yield_now();
                continue;
            }
            let (used, state) = dec.push(&buf[..n]);
            ring.consume_requests(used as u32);
            match state {
                Decoded::Incomplete => {}
                Decoded::Message => {
                    let (h, p) = dec.message();
                    out = answer(h, p);
                    sent = 0;
                    dec.reset();
                    handled += 1;
                }
                Decoded::Error(e) => panic!("server: {e}"),
            }
        }
    }

    /// Guest side: sends `messages` random requests while reading and
    /// checking the answers, in random-sized pieces.
    fn guest(ring: RingPage, messages: usize, seed: u64) {
        let started = Instant::now();
        let mut rng = XorShift::new(seed);
        let mut expected = VecDeque::new();
        let mut dec = Decoder::new();
        let mut req: Vec<u8> = Vec::new();
        let mut req_sent = 0;
        let mut next = 0;
        let mut received = 0;
        let mut buf = [0u8; 2 * XENSTORE_RING_SIZE];
        while received < messages {
            assert!(started.elapsed() < DEADLINE, "guest stuck after {received} answers");
            if req_sent == req.len() && next < messages {
                let len = payload_len(&mut rng);
                let payload = rng.bytes(len);
                let h = Header { ty: 2, req_id: next as u32, tx_id: 0, len: payload.len() as u32 };
                req = encode(h, &payload);
                req_sent = 0;
                expected.push_back(answer(h, &payload));
                next += 1;
            }
            if req_sent < req.len() {
                let piece = (rng.below_or(1100) + 1).min(req.len() - req_sent);
                req_sent += ring.write_requests(&req[req_sent..req_sent + piece]).unwrap();
            }
            let want = rng.below_or(buf.len() - 1) + 1;
            let n = ring.read_responses(&mut buf[..want]).unwrap();
            if n == 0 {
                std::thread::yield_now();
            }
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let (used, state) = dec.push(rest);
                rest = &rest[used..];
                match state {
                    Decoded::Incomplete => {}
                    Decoded::Message => {
                        let (h, p) = dec.message();
                        let want = expected.pop_front().expect("an answer nobody asked for");
                        assert_eq!(encode(h, p), want, "answer {received}");
                        dec.reset();
                        received += 1;
                    }
                    Decoded::Error(e) => panic!("guest: {e}"),
                }
            }
        }
        assert!(expected.is_empty());
        assert!(!dec.has_partial());
    }

    /// Runs a guest and a server thread over one heap page whose indices
    /// all start at `start`.
    fn exchange(start: u32, messages: usize, seed: u64) {
        let page = Box::into_raw(Box::new(LocalPage::default()));
        let base = NonNull::new(page).unwrap().cast::<u8>();
        // SAFETY: `page` is a live, 4096-aligned, 4096-byte allocation that
        // is freed only after both threads have joined, and no reference to
        // it exists meanwhile: both sides use only these two handles.
        let (server, client) = unsafe { (RingPage::new(base), RingPage::new(base)) };
        client.set_raw_indices(all(start));
        std::thread::scope(|s| {
            s.spawn(move || serve(server, messages));
            guest(client, messages, seed);
        });
        // SAFETY: `page` came from `Box::into_raw` above and both handles
        // are gone (moved into the joined scope).
        let page = unsafe { Box::from_raw(page) };
        // Everything sent was consumed, on both rings.
        assert_eq!(word(&page, 2048), word(&page, 2052));
        assert_eq!(word(&page, 2056), word(&page, 2060));
    }

    /// Messages per threaded exchange.
    const MESSAGES: usize = 3000;

    #[test]
    fn threads_exchange_thousands_of_messages() {
        exchange(0, MESSAGES, 1);
    }

    #[test]
    fn threads_exchange_across_the_index_wrap() {
        // The indices pass 2^32 within the first few messages.
        exchange(u32::MAX - 3000, MESSAGES, 2);
        exchange(u32::MAX, MESSAGES / 4, 3);
    }
}
