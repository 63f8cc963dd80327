//! Tests of the ring page: layout, both sides' operations, index
//! validation, a queue model, and threads playing guest and server
//! (including a hostile guest).

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
fn xsa_38_bad_indices_are_detected_on_every_path() {
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
            assert!(started.elapsed() < STALL, "ok {ok}, bad {bad}");
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

/// How long a side of the threaded exchange may go without moving a byte
/// before it counts as stuck: only a hang gets there. (A deadline on the
/// whole exchange failed on a loaded machine where both threads were
/// making progress, slowly.)
const STALL: Duration = Duration::from_secs(300);

/// When one side of the exchange last moved bytes.
struct Progress(Instant);

impl Progress {
    fn new() -> Progress {
        Progress(Instant::now())
    }

    /// Notes that `n` bytes moved (nothing when `n` is 0).
    fn moved(&mut self, n: usize) {
        if n > 0 {
            self.0 = Instant::now();
        }
    }

    /// Whether the side has been stuck for longer than [`STALL`].
    fn stuck(&self) -> bool {
        self.0.elapsed() > STALL
    }
}

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
    let mut progress = Progress::new();
    let mut dec = Decoder::new();
    let mut buf = [0u8; XENSTORE_RING_SIZE];
    let mut out: Vec<u8> = Vec::new();
    let mut sent = 0;
    let mut handled = 0;
    while handled < messages || sent < out.len() {
        assert!(!progress.stuck(), "server stuck after {handled} messages");
        if sent < out.len() {
            let n = ring.write_responses(&out[sent..]).unwrap();
            progress.moved(n);
            sent += n;
            continue;
        }
        let n = ring.peek_requests(&mut buf).unwrap();
        progress.moved(n);
        if n == 0 {
            std::thread::yield_now();
            continue;
        }
        let (used, state) = dec.push(&buf[..n]);
        ring.consume_requests(used as u32);
        match state {
            Decoded::Incomplete => {}
            Decoded::Message(h, p) => {
                out = answer(h, p);
                sent = 0;
                handled += 1;
            }
            other => panic!("server: {other:?}"),
        }
    }
}

/// Guest side: sends `messages` random requests while reading and
/// checking the answers, in random-sized pieces.
fn guest(ring: RingPage, messages: usize, seed: u64) {
    let mut progress = Progress::new();
    let mut rng = XorShift::new(seed);
    let mut expected = VecDeque::new();
    let mut dec = Decoder::new();
    let mut req: Vec<u8> = Vec::new();
    let mut req_sent = 0;
    let mut next = 0;
    let mut received = 0;
    let mut buf = [0u8; 2 * XENSTORE_RING_SIZE];
    while received < messages {
        assert!(!progress.stuck(), "guest stuck after {received} answers");
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
            let n = ring.write_requests(&req[req_sent..req_sent + piece]).unwrap();
            progress.moved(n);
            req_sent += n;
        }
        let want = rng.below_or(buf.len() - 1) + 1;
        let n = ring.read_responses(&mut buf[..want]).unwrap();
        progress.moved(n);
        if n == 0 {
            std::thread::yield_now();
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (used, state) = dec.push(rest);
            rest = &rest[used..];
            match state {
                Decoded::Incomplete => {}
                Decoded::Message(h, p) => {
                    let want = expected.pop_front().expect("an answer nobody asked for");
                    assert_eq!(encode(h, p), want, "answer {received}");
                    received += 1;
                }
                other => panic!("guest: {other:?}"),
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
