//! Tests of the ring turn against a fake engine that frames requests with
//! the real [`Decoder`] and echoes each one back: reconnection (also after
//! an error, and its rate limit), bad indices, oversize headers,
//! wrap-around, the fairness budget, flow control and the notification
//! decisions.

use super::*;
use crate::decode::{Decoded, Decoder};
use crate::page::{LocalPage, RawIndices};
use crate::testutil::{encode, XorShift};
use crate::wire::{Header, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX};
use std::boxed::Box;
use std::cell::RefCell;
use std::string::ToString;
use std::vec::Vec;

/// A fake engine and platform for one connection. Each complete request
/// is answered by an echo of its header and payload.
struct Fake<'r> {
    /// The page, as the platform maps it.
    ring: &'r RingPage,
    /// Whether the platform still has the page mapped.
    mapped: bool,
    /// Set by [`RingServer::ignore`] or a framing error.
    ignored: bool,
    /// Calls of [`RingServer::reset`].
    resets: usize,
    /// Reconnections the rate limit still lets through.
    reconnect_tokens: usize,
    /// Reconnection requests the rate limit deferred.
    deferrals: usize,
    /// Framing of the input stream.
    decoder: Box<Decoder>,
    /// Queued output; `out[sent..]` is still to send.
    out: Vec<u8>,
    /// How much of `out` was sent.
    sent: usize,
    /// Flow control: no input while this many output bytes are queued.
    out_limit: usize,
    /// Sizes of the chunks given to `input`.
    inputs: Vec<usize>,
    /// Bytes a concurrent guest writes into the request ring whenever it
    /// has room (played each time the server looks up the page).
    refill: RefCell<Vec<u8>>,
    /// Unmap the ring while handling input (as a release of the domain
    /// would).
    unmap_on_input: bool,
}

impl<'r> Fake<'r> {
    fn new(ring: &'r RingPage) -> Fake<'r> {
        Fake {
            ring,
            mapped: true,
            ignored: false,
            resets: 0,
            reconnect_tokens: usize::MAX,
            deferrals: 0,
            decoder: Box::new(Decoder::new()),
            out: Vec::new(),
            sent: 0,
            out_limit: usize::MAX,
            inputs: Vec::new(),
            refill: RefCell::new(Vec::new()),
            unmap_on_input: false,
        }
    }

    fn queued(&self) -> usize {
        self.out.len() - self.sent
    }
}

impl RingServer for Fake<'_> {
    fn page(&self) -> Option<&RingPage> {
        if !self.mapped {
            return None;
        }
        let mut refill = self.refill.borrow_mut();
        if !refill.is_empty() {
            let n = self.ring.write_requests(&refill).unwrap();
            refill.drain(..n);
        }
        Some(self.ring)
    }

    fn failed(&self) -> bool {
        self.ignored
    }

    fn wants_input(&self) -> bool {
        !self.ignored && self.queued() < self.out_limit
    }

    fn input(&mut self, bytes: &[u8]) -> Result<usize, ProtoError> {
        self.inputs.push(bytes.len());
        let mut used = 0;
        while used < bytes.len() && self.wants_input() {
            let (n, state) = self.decoder.push(&bytes[used..]);
            used += n;
            match state {
                Decoded::Incomplete => {}
                Decoded::NoMemory => break,
                Decoded::Message(h, payload) => {
                    let reply = encode(h, payload);
                    self.out.extend_from_slice(&reply);
                }
                Decoded::Error(e) => {
                    self.ignored = true;
                    return Err(e);
                }
            }
        }
        if self.unmap_on_input {
            self.mapped = false;
        }
        Ok(used)
    }

    fn output(&self) -> &[u8] {
        if self.ignored {
            return &[];
        }
        &self.out[self.sent..]
    }

    fn output_done(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
    }

    fn admit_reconnect(&mut self) -> bool {
        if self.reconnect_tokens == 0 {
            self.deferrals += 1;
            return false;
        }
        self.reconnect_tokens -= 1;
        true
    }

    fn reconnect_ready(&self) -> bool {
        self.reconnect_tokens > 0
    }

    fn reset(&mut self) {
        self.resets += 1;
        self.decoder.clear();
        self.out.clear();
        self.sent = 0;
        self.ignored = false;
    }

    fn ignore(&mut self) {
        self.ignored = true;
    }
}

/// Runs `f` over a fresh zeroed page.
fn with_page<R>(f: impl FnOnce(&RingPage) -> R) -> R {
    let mut page = Box::new(LocalPage::default());
    RingPage::with_local(&mut page, f)
}

/// One request message with `payload`.
fn request(req_id: u32, payload: &[u8]) -> Vec<u8> {
    let h = Header { ty: 2, req_id, tx_id: 0, len: payload.len() as u32 };
    encode(h, payload)
}

/// Everything waiting in the response ring (guest side).
fn responses(ring: &RingPage) -> Vec<u8> {
    let mut buf = [0u8; XENSTORE_RING_SIZE];
    let n = ring.read_responses(&mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_request_is_answered_consumed_and_notified() {
    with_page(|ring| {
        let req = request(7, b"data/x\0");
        ring.write_requests(&req).unwrap();
        let mut fake = Fake::new(ring);
        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { notify: true, ..Turn::default() });
        assert_eq!(ring.requests_available().unwrap(), 0, "the request was consumed");
        assert_eq!(responses(ring), req, "the echo reached the response ring");
        assert_eq!(fake.inputs, [req.len()]);
    });
}

#[test]
fn an_idle_ring_needs_no_notification() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        assert_eq!(serve(&mut fake), Turn::default());
        assert!(fake.inputs.is_empty(), "the engine is not called without bytes");
        assert_eq!(flush(&mut fake), Turn::default());
    });
}

#[test]
fn consuming_a_partial_message_notifies() {
    // The guest may be waiting for space to write the rest.
    with_page(|ring| {
        let req = request(1, b"abc");
        ring.write_requests(&req[..10]).unwrap();
        let mut fake = Fake::new(ring);
        assert_eq!(serve(&mut fake), Turn { notify: true, ..Turn::default() });
        assert_eq!(responses(ring), b"");
        ring.write_requests(&req[10..]).unwrap();
        assert_eq!(serve(&mut fake), Turn { notify: true, ..Turn::default() });
        assert_eq!(responses(ring), req);
    });
}

#[test]
fn output_alone_notifies_and_flush_reads_no_input() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        fake.out.extend_from_slice(b"event");
        ring.write_requests(&request(1, b"x")).unwrap();
        assert_eq!(flush(&mut fake), Turn { notify: true, ..Turn::default() });
        assert_eq!(responses(ring), b"event");
        assert!(fake.inputs.is_empty(), "flush leaves requests alone");
        assert_eq!(ring.requests_available().unwrap(), 17);
    });
}

#[test]
fn reconnection_resets_the_connection_and_the_indices() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        // A half-sent request and unread output from before.
        ring.write_requests(&request(1, b"abc")[..5]).unwrap();
        serve(&mut fake);
        fake.out.extend_from_slice(b"stale");
        ring.set_raw_indices(RawIndices { req_cons: 5, req_prod: 5, rsp_cons: 3, rsp_prod: 9 });
        ring.set_connection(XENSTORE_RECONNECT);

        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { reconnected: true, notify: true, ..Turn::default() });
        assert_eq!(fake.resets, 1);
        assert_eq!(ring.raw_indices(), RawIndices::default());
        assert_eq!(ring.connection(), XENSTORE_CONNECTED);
        assert_eq!(ring.error(), XENSTORE_ERROR_NONE);

        // The ring works afresh, and the stale output is gone.
        let req = request(2, b"after");
        ring.write_requests(&req).unwrap();
        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { notify: true, ..Turn::default() });
        assert_eq!(responses(ring), req);
    });
}

#[test]
fn requests_written_before_a_reconnection_are_dropped() {
    // Indices are zeroed first, so only bytes the guest writes after it
    // sees XENSTORE_CONNECTED count; bytes present before are dropped.
    with_page(|ring| {
        ring.write_requests(&request(1, b"old")).unwrap();
        ring.set_connection(XENSTORE_RECONNECT);
        let mut fake = Fake::new(ring);
        let turn = serve(&mut fake);
        assert!(turn.reconnected);
        assert!(fake.inputs.is_empty());
        assert_eq!(responses(ring), b"");
    });
}

#[test]
fn xsa_38_bad_request_indices_stop_the_ring_until_a_reconnection() {
    with_page(|ring| {
        ring.set_raw_indices(RawIndices { req_cons: 0, req_prod: 1025, ..RawIndices::default() });
        let mut fake = Fake::new(ring);
        fake.out.extend_from_slice(b"pending");
        let turn = serve(&mut fake);
        assert_eq!(
            turn,
            Turn {
                notify: true,
                stopped: Some(Stop::Ring(RingError::BadIndex)),
                ..Turn::default()
            }
        );
        assert_eq!(ring.error(), XENSTORE_ERROR_RINGIDX);
        assert!(fake.ignored);
        assert_eq!(ring.raw_indices().rsp_prod, 0, "nothing is written to a stopped ring");

        // Repaired indices alone do not revive it.
        ring.reset_indices();
        ring.write_requests(&request(1, b"x")).unwrap();
        assert_eq!(serve(&mut fake), Turn::default());
        assert_eq!(flush(&mut fake), Turn::default());
        assert!(fake.inputs.is_empty());
        assert_eq!(pending_work(&fake), None);
        assert_eq!(ring.error(), XENSTORE_ERROR_RINGIDX);

        // A reconnection does.
        reconnect_and_check_service(ring, &mut fake);
    });
}

/// The guest asks for a reconnection: the turn honours it, the ring is
/// reset with its error field cleared, and a request is answered again.
fn reconnect_and_check_service(ring: &RingPage, fake: &mut Fake<'_>) {
    let resets = fake.resets;
    ring.set_connection(XENSTORE_RECONNECT);
    assert_eq!(pending_work(fake), Some(Work::Reconnect));
    let turn = serve(fake);
    assert_eq!(turn, Turn { reconnected: true, notify: true, ..Turn::default() });
    assert_eq!(fake.resets, resets + 1);
    assert!(!fake.ignored);
    assert_eq!(ring.raw_indices(), RawIndices::default());
    assert_eq!(ring.error(), XENSTORE_ERROR_NONE);
    assert_eq!(ring.connection(), XENSTORE_CONNECTED);
    let req = request(9, b"served again");
    ring.write_requests(&req).unwrap();
    assert_eq!(serve(fake), Turn { notify: true, ..Turn::default() });
    assert_eq!(responses(ring), req);
}

#[test]
fn bad_response_indices_stop_the_ring_when_writing() {
    with_page(|ring| {
        ring.set_raw_indices(RawIndices { rsp_cons: 2000, ..RawIndices::default() });
        let req = request(3, b"q");
        ring.write_requests(&req).unwrap();
        let mut fake = Fake::new(ring);
        let turn = serve(&mut fake);
        assert_eq!(turn.stopped, Some(Stop::Ring(RingError::BadIndex)));
        assert!(turn.notify);
        assert_eq!(ring.error(), XENSTORE_ERROR_RINGIDX);
        assert_eq!(fake.inputs, [req.len()], "the request was read before");
        assert!(fake.ignored);
        reconnect_and_check_service(ring, &mut fake);
    });
}

#[test]
fn flush_stops_a_ring_with_bad_response_indices() {
    with_page(|ring| {
        ring.set_raw_indices(RawIndices { rsp_prod: 5000, ..RawIndices::default() });
        let mut fake = Fake::new(ring);
        fake.out.extend_from_slice(b"event");
        let turn = flush(&mut fake);
        assert_eq!(turn.stopped, Some(Stop::Ring(RingError::BadIndex)));
        assert_eq!(ring.error(), XENSTORE_ERROR_RINGIDX);
        assert!(fake.ignored);
        reconnect_and_check_service(ring, &mut fake);
    });
}

#[test]
fn an_oversize_header_stops_the_ring_with_the_proto_error() {
    with_page(|ring| {
        let ok = request(1, b"fine");
        let bad = Header { ty: 2, req_id: 2, tx_id: 0, len: 4097 }.to_bytes();
        ring.write_requests(&ok).unwrap();
        ring.write_requests(&bad).unwrap();
        let mut fake = Fake::new(ring);
        let turn = serve(&mut fake);
        assert_eq!(
            turn,
            Turn {
                notify: true,
                stopped: Some(Stop::Proto(ProtoError::TooLong)),
                ..Turn::default()
            }
        );
        assert_eq!(ring.error(), XENSTORE_ERROR_PROTO);
        assert_eq!(Stop::Proto(ProtoError::TooLong).code(), XENSTORE_ERROR_PROTO);
        assert!(fake.ignored);
        assert_eq!(responses(ring), b"", "an ignored connection's output is not sent");
        // The rest of the oversize message is never read as requests.
        ring.write_requests(&[b'x'; 100]).unwrap();
        assert_eq!(serve(&mut fake), Turn::default());
        assert_eq!(fake.inputs.len(), 1);
        reconnect_and_check_service(ring, &mut fake);
    });
}

#[test]
fn indices_wrap_at_2_32() {
    with_page(|ring| {
        let start = u32::MAX - 20;
        ring.set_raw_indices(RawIndices {
            req_cons: start,
            req_prod: start,
            rsp_cons: start - 500,
            rsp_prod: start - 500,
        });
        let mut fake = Fake::new(ring);
        let mut rng = XorShift::new(11);
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for id in 0..40 {
            let len = rng.below_or(300);
            let req = request(id, &rng.bytes(len));
            ring.write_requests(&req).unwrap();
            sent.extend_from_slice(&req);
            let turn = serve(&mut fake);
            assert!(turn.notify && turn.stopped.is_none());
            got.extend_from_slice(&responses(ring));
        }
        assert_eq!(got, sent);
        let idx = ring.raw_indices();
        assert!(idx.req_prod < start && idx.rsp_prod < start, "both rings wrapped: {idx:?}");
    });
}

#[test]
fn the_input_budget_bounds_one_turn() {
    // A guest that refills its ring while the engine works cannot keep the
    // server on its connection for more than one ring's worth.
    with_page(|ring| {
        let mut rng = XorShift::new(5);
        let mut stream = Vec::new();
        for id in 0..30 {
            stream.extend_from_slice(&request(id, &rng.bytes(200)));
        }
        let first = ring.write_requests(&stream).unwrap();
        let mut fake = Fake::new(ring);
        fake.refill = RefCell::new(stream[first..].to_vec());
        let mut got = Vec::new();
        let mut turns = 0;
        loop {
            let turn = serve(&mut fake);
            turns += 1;
            let taken: usize = fake.inputs.drain(..).sum();
            assert!(taken <= INPUT_BYTES_PER_TURN, "turn {turns} took {taken}");
            got.extend_from_slice(&responses(ring));
            if !turn.more_input {
                break;
            }
            assert_eq!(taken, INPUT_BYTES_PER_TURN, "a turn with more input used its budget");
            assert!(ring.requests_available().unwrap() > 0);
        }
        assert!(turns >= stream.len() / INPUT_BYTES_PER_TURN, "{turns} turns");
        // What is left fits one ring; serve it out.
        while ring.requests_available().unwrap() > 0 {
            serve(&mut fake);
            got.extend_from_slice(&responses(ring));
        }
        assert!(fake.refill.borrow().is_empty());
        assert_eq!(got, stream);
    });
}

#[test]
fn exhausted_budget_with_an_empty_ring_is_not_more_input() {
    with_page(|ring| {
        // Exactly one ring's worth, all taken in one turn.
        let req = request(1, &[7u8; XENSTORE_RING_SIZE - 16]);
        assert_eq!(ring.write_requests(&req).unwrap(), XENSTORE_RING_SIZE);
        let mut fake = Fake::new(ring);
        let turn = serve(&mut fake);
        assert_eq!(fake.inputs, [XENSTORE_RING_SIZE]);
        assert!(!turn.more_input);
        assert!(turn.notify);
    });
}

#[test]
fn flow_control_leaves_bytes_in_the_ring() {
    with_page(|ring| {
        let a = request(1, b"first");
        let b = request(2, b"second");
        ring.write_requests(&a).unwrap();
        ring.write_requests(&b).unwrap();
        let mut fake = Fake::new(ring);
        // One queued reply blocks input, and the response ring is full, so
        // the reply stays queued.
        fake.out_limit = 1;
        ring.set_raw_indices(RawIndices {
            rsp_prod: XENSTORE_RING_SIZE as u32,
            ..ring.raw_indices()
        });
        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { notify: true, ..Turn::default() });
        assert_eq!(ring.requests_available().unwrap(), b.len(), "the second request waits");
        assert!(!fake.wants_input());

        // The guest reads its ring empty; the engine's reply goes out, and
        // with it the flow control ends.
        responses(ring);
        let turn = flush(&mut fake);
        assert!(turn.notify);
        assert_eq!(responses(ring), a);
        assert!(fake.wants_input());
        serve(&mut fake);
        assert_eq!(responses(ring), b);
        assert_eq!(ring.requests_available().unwrap(), 0);
    });
}

#[test]
fn a_ring_unmapped_during_input_is_left_alone() {
    with_page(|ring| {
        ring.write_requests(&request(1, b"release me")).unwrap();
        let mut fake = Fake::new(ring);
        fake.unmap_on_input = true;
        let turn = serve(&mut fake);
        assert!(turn.notify);
        assert!(turn.stopped.is_none());
        assert_eq!(ring.raw_indices().req_cons, 0, "the unmapped page is not touched");
        assert_eq!(ring.raw_indices().rsp_prod, 0);
    });
}

#[test]
fn stop_reasons_display_their_cause() {
    use std::string::ToString;
    assert_eq!(Stop::Ring(RingError::BadIndex).to_string(), RingError::BadIndex.to_string());
    assert_eq!(Stop::Ring(RingError::BadIndex).code(), XENSTORE_ERROR_RINGIDX);
    assert_eq!(Stop::Proto(ProtoError::TooLong).to_string(), ProtoError::TooLong.to_string());
}

#[test]
fn pending_work_finds_requests_nobody_announced() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        assert_eq!(pending_work(&fake), None, "an idle ring has no work");
        // The guest wrote a request but its notification never came.
        let a = request(1, b"lost");
        ring.write_requests(&a).unwrap();
        assert_eq!(pending_work(&fake), Some(Work::Requests(a.len())));
        // Looking changed nothing; the turn it leads to answers.
        assert_eq!(ring.requests_available().unwrap(), a.len());
        serve(&mut fake);
        assert_eq!(responses(ring), a);
        assert_eq!(pending_work(&fake), None);
    });
}

#[test]
fn pending_work_ignores_requests_under_flow_control() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        fake.out.extend_from_slice(b"queued");
        fake.out_limit = 1;
        // The queued output cannot go out (the response ring is full), and
        // the engine takes no input meanwhile: nothing to do.
        ring.set_raw_indices(RawIndices {
            rsp_prod: XENSTORE_RING_SIZE as u32,
            ..ring.raw_indices()
        });
        ring.write_requests(&request(1, b"waits")).unwrap();
        assert_eq!(pending_work(&fake), None);
        // The guest reads its responses without a notification: now the
        // queued output has room.
        responses(ring);
        assert_eq!(pending_work(&fake), Some(Work::Responses(6)));
        flush(&mut fake);
        assert_eq!(responses(ring), b"queued");
        assert!(matches!(pending_work(&fake), Some(Work::Requests(_))));
    });
}

#[test]
fn pending_work_sees_reconnection_and_bad_indices_but_not_stopped_rings() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        ring.set_connection(XENSTORE_RECONNECT);
        assert_eq!(pending_work(&fake), Some(Work::Reconnect));
        ring.set_connection(XENSTORE_CONNECTED);
        ring.set_raw_indices(RawIndices { req_prod: 5000, ..ring.raw_indices() });
        assert_eq!(pending_work(&fake), Some(Work::BadIndex));
        let turn = serve(&mut fake);
        assert!(turn.stopped.is_some());
        assert_eq!(pending_work(&fake), None, "a stopped ring is not served");
        ring.set_connection(XENSTORE_RECONNECT);
        assert_eq!(pending_work(&fake), Some(Work::Reconnect), "unless it asks to reconnect");
        fake.reconnect_tokens = 0;
        assert_eq!(pending_work(&fake), None, "and the rate limit lets it through");
    });
}

#[test]
fn a_deferred_reconnection_leaves_the_ring_alone_until_admitted() {
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        fake.reconnect_tokens = 0;
        fake.out.extend_from_slice(b"queued");
        ring.write_requests(&request(1, b"stale")).unwrap();
        ring.set_connection(XENSTORE_RECONNECT);
        let before = ring.raw_indices();
        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { deferred: true, ..Turn::default() });
        assert_eq!(fake.deferrals, 1);
        assert_eq!(fake.resets, 0);
        assert!(fake.inputs.is_empty(), "no request is read meanwhile");
        assert_eq!(ring.raw_indices(), before);
        assert_eq!(ring.connection(), XENSTORE_RECONNECT);
        // The turn the limit grants later honours it.
        fake.reconnect_tokens = 1;
        let turn = serve(&mut fake);
        assert_eq!(turn, Turn { reconnected: true, notify: true, ..Turn::default() });
        assert_eq!(ring.connection(), XENSTORE_CONNECTED);
        assert_eq!(responses(ring), b"", "the queued output was dropped");
    });
}

#[test]
fn a_guest_looping_error_then_reconnect_is_held_to_the_limit() {
    // The guest breaks its ring and asks for a reconnection 100 times in
    // a row, as fast as the server takes turns; only the reconnections
    // the limit grants (here 5) are honoured, each deferred request costs
    // a turn that touches nothing, and once granted again the ring works.
    with_page(|ring| {
        let mut fake = Fake::new(ring);
        fake.reconnect_tokens = 5;
        let mut failures = 0;
        let mut reconnections = 0;
        for i in 0..100u32 {
            if ring.connection() == XENSTORE_CONNECTED {
                let bad = if i % 2 == 0 {
                    Header { ty: 2, req_id: i, tx_id: 0, len: 5000 }.to_bytes().to_vec()
                } else {
                    ring.set_raw_indices(RawIndices { req_prod: 3000, ..ring.raw_indices() });
                    Vec::new()
                };
                ring.write_requests(&bad).unwrap_or(0);
                let turn = serve(&mut fake);
                failures += usize::from(turn.stopped.is_some());
            }
            ring.set_connection(XENSTORE_RECONNECT);
            let turn = serve(&mut fake);
            reconnections += usize::from(turn.reconnected);
            assert!(!turn.reconnected || !turn.deferred);
        }
        assert_eq!(reconnections, 5);
        assert_eq!(fake.resets, 5);
        assert_eq!(failures, 6, "the ring failed once per reconnection, plus the first time");
        assert_eq!(fake.deferrals, 100 - 5);
        assert_eq!(ring.connection(), XENSTORE_RECONNECT);
        fake.reconnect_tokens = 1;
        let turn = serve(&mut fake);
        assert!(turn.reconnected);
        let req = request(1, b"fine");
        ring.write_requests(&req).unwrap();
        serve(&mut fake);
        assert_eq!(responses(ring), req);
    });
}

#[test]
fn work_displays_what_was_found() {
    assert_eq!(Work::Requests(3).to_string(), "3 request bytes");
    assert_eq!(Work::Reconnect.to_string(), "a reconnection request");
}
