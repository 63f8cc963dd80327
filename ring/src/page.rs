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

    /// Copies the page bytes from offset `off` into `dst` (clipped to the
    /// page): for the fuzz oracles, which compare the page before and after
    /// each server step (fuzzing and tests only).
    ///
    /// One plain copy, not [`read_run`](Self::read_run)'s volatile words:
    /// `serve_race` snapshots the interface at every callback, and under
    /// the fuzzer's instrumentation (a comparison hook per word) that loop
    /// was 85 % of the target's time. Nothing else writes the page while
    /// an oracle reads it (the fuzzed "guest" is the same thread), so the
    /// volatile accesses bought nothing here.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        let room = XEN_PAGE_SIZE.saturating_sub(off);
        let (dst, _) = dst.split_at_mut_checked(room.min(dst.len())).unwrap_or_default();
        self.copy_out(off, dst);
    }

    /// Writes `bytes` at offset `off` of the page, clipped to the page: a
    /// hostile guest rewriting any byte it likes (fuzzing and tests only).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn write_bytes(&self, off: usize, bytes: &[u8]) {
        let room = XEN_PAGE_SIZE.saturating_sub(off);
        let (bytes, _) = bytes.split_at_checked(room.min(bytes.len())).unwrap_or_default();
        self.write_run(off, bytes);
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
    // inside `req[]` or `rsp[]` (offsets below 2048) or, for `read_bytes`
    // and `write_bytes`, inside the page's 4096 bytes, or is a field offset of
    // `XenstoreDomainInterface` (below 2080): always inside the page.

    /// Copies the page bytes `off..off + dst.len()` into `dst` with one
    /// non-volatile copy (`read_bytes`: fuzzing and tests only).
    #[cfg(any(test, feature = "fuzzing"))]
    fn copy_out(&self, off: usize, dst: &mut [u8]) {
        let src = self.base.as_ptr().wrapping_add(off);
        // SAFETY: `read_bytes` clipped `dst` to the page, so
        // `off..off + dst.len()` is inside it (mapped, readable, per `new`);
        // `dst` is a distinct, writable buffer of that length, so the two
        // do not overlap. No reference to the page is created, and the
        // fuzzing and test callers have no other party writing the page
        // during the copy.
        unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
    }

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
mod tests;
