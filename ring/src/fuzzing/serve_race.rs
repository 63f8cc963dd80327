//! Ring turns ([`serve`], [`flush`], [`pending_work`]) over a page whose
//! guest rewrites it between any two of the server's looks at it.
//!
//! A real guest is another CPU: whatever the page says can change between
//! two reads of the server. The mock [`RingServer`] here lets the fuzz
//! input play that guest in every callback (the moments the server's code
//! is not running), and checks each server step, the page changes between
//! two callbacks, against the page as the guest left it.

use core::cell::RefCell;
use core::ops::Range;

use super::{
    field, in_flight, len_u32, slot, Input, ERROR, REQ_BUF, REQ_CONS, REQ_PROD, RSP_BUF, RSP_CONS,
    RSP_PROD,
};
use crate::decode::ProtoError;
use crate::page::{LocalPage, RingPage, XENSTORE_RING_SIZE};
use crate::serve::{
    flush, pending_work, serve, RingServer, Stop, Turn, Work, INPUT_BYTES_PER_TURN,
};
use crate::wire::{XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_RECONNECT};
use crate::RingError;

/// Size of `struct xenstore_domain_interface`: the part of the page the
/// guest rewrites. The rest must stay zero (the server has no business
/// there), which is checked once per input.
const IFACE: usize = 2080;

/// A copy of the interface part of the page.
type Snap = [u8; IFACE];

/// Offset of `server_features`.
const FEATURES: usize = 2064;
/// Offset of `connection`.
const CONNECTION: usize = 2068;
/// Offset of `evtchn_port`.
const EVTCHN: usize = 2076;

/// The request ring.
const REQ_RING: Range<usize> = REQ_BUF..REQ_BUF + XENSTORE_RING_SIZE;
/// The response ring.
const RSP_RING: Range<usize> = RSP_BUF..RSP_BUF + XENSTORE_RING_SIZE;

/// The bytes no server step changes: the request ring, `req_prod`,
/// `rsp_cons`, `server_features` (set before serving) and `evtchn_port`.
const GUEST_BYTES: [Range<usize>; 5] = [
    REQ_RING,
    REQ_PROD..REQ_PROD + 4,
    RSP_CONS..RSP_CONS + 4,
    FEATURES..FEATURES + 4,
    EVTCHN..EVTCHN + 4,
];

/// Capacity of the mock engine's output queue.
const OUT_CAP: usize = 4096;

/// Callbacks in one turn, at most: four per input loop round (each takes a
/// byte at least), three per output loop round (each sends a byte at
/// least), and a few more.
const MAX_CALLS: usize = 4 * INPUT_BYTES_PER_TURN + 3 * OUT_CAP + 16;

/// What the server is running.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// [`serve`].
    Serve,
    /// [`flush`].
    Flush,
    /// [`pending_work`], which must change nothing.
    Pending,
}

/// A callback of [`RingServer`], or the end of the call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Call {
    /// No callback yet in this call.
    Start,
    /// [`RingServer::page`].
    Page,
    /// [`RingServer::failed`].
    Failed,
    /// [`RingServer::wants_input`].
    WantsInput,
    /// [`RingServer::input`].
    Input,
    /// [`RingServer::output`].
    Output,
    /// [`RingServer::output_done`].
    OutputDone,
    /// [`RingServer::admit_reconnect`].
    Admit,
    /// [`RingServer::reconnect_ready`].
    Ready,
    /// [`RingServer::reset`].
    Reset,
    /// [`RingServer::ignore`].
    Ignore,
    /// The server's function returned.
    End,
}

/// The guest, and what the oracles know of the call in progress.
struct State<'d> {
    /// The fuzz input: the guest's actions and the engine's choices.
    input: Input<'d>,
    /// What the server is running.
    mode: Mode,
    /// Whether the guest acts in the callbacks.
    racing: bool,
    /// Which of [`Race::pages`] is the page as the guest left it after its
    /// last action (the other is the page now, at the next callback).
    flip: bool,
    /// The last two callbacks, latest first.
    hist: [Call; 2],
    /// What the last `wants_input` answered.
    last_wants: bool,
    /// Whether the ring is mapped (the guest unmaps it only in `input`, as
    /// a release of the domain by the engine would).
    mapped: bool,
    /// Callbacks in this call.
    calls: usize,
    /// Request bytes the engine took in this call.
    used: usize,
    /// The length the next `input` must have (set after a peek).
    expect_input: Option<usize>,
    /// Bytes the engine took and the server is still to consume.
    to_consume: Option<usize>,
    /// Bytes the server wrote that `output_done` must report.
    written: Option<usize>,
    /// Reconnection: 1 after `reset`, 2 after the `page` that follows it.
    reset_step: u8,
    /// Why the server ought to stop the ring, once it must.
    due: Option<Stop>,
    /// `ignore` was called in this call.
    ignored: bool,
    /// What the turn should report, as the oracles saw it.
    seen_turn: Turn,
}

/// The mock engine and platform for one ring connection.
struct Race<'r, 'd> {
    /// The page.
    ring: &'r RingPage,
    /// The guest and the oracles' state (callbacks taking `&self` change
    /// it too).
    st: RefCell<State<'d>>,
    /// Two copies of the page: as the guest left it, and now (see
    /// [`State::flip`]; swapping the roles copies nothing).
    pages: RefCell<[Snap; 2]>,
    /// Queued output; `out[sent..len]` is still to send.
    out: [u8; OUT_CAP],
    /// End of the queued output.
    len: usize,
    /// How much of it was sent.
    sent: usize,
    /// The connection failed: only a reconnection revives it.
    failed: bool,
    /// Flow control: the engine takes no input.
    hold: bool,
    /// Reconnections the rate limit still lets through.
    tokens: u8,
}

/// Drives [`serve`], [`flush`] and [`pending_work`] over `page` while the
/// fuzz input plays a guest that rewrites the page in every callback: the
/// indices (consistent or not), `connection`, `error`, any data byte. Each
/// server step is checked against the page the guest left: it writes only
/// its own fields, `input` gets exactly the bytes between `req_cons` and
/// `req_prod` (at most [`INPUT_BYTES_PER_TURN`] a turn), `req_cons` moves
/// by what the engine took, responses land in the response ring at
/// `rsp_prod` and nowhere else, inconsistent indices stop the ring with
/// `XENSTORE_ERROR_RINGIDX` in `error`, a reconnection leaves zero indices
/// and a cleared `error`, the turn reports what happened, and every call
/// returns after a bounded number of callbacks.
pub fn serve_race(page: &mut LocalPage, data: &[u8]) {
    page.0.fill(0);
    RingPage::with_local(page, |ring| {
        let mut input = Input(data);
        for off in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
            ring.write_bytes(off, &input.word().to_le_bytes());
        }
        ring.set_connection(u32::from(input.byte() & 1));
        let tokens = input.byte() % 4;
        let mut race = Race {
            ring,
            st: RefCell::new(State {
                input,
                mode: Mode::Serve,
                racing: false,
                flip: false,
                hist: [Call::Start; 2],
                last_wants: false,
                mapped: true,
                calls: 0,
                used: 0,
                expect_input: None,
                to_consume: None,
                written: None,
                reset_step: 0,
                due: None,
                ignored: false,
                seen_turn: Turn::default(),
            }),
            pages: RefCell::new([[0; IFACE]; 2]),
            out: [0; OUT_CAP],
            len: 0,
            sent: 0,
            failed: false,
            hold: false,
            tokens,
        };
        while !race.st.get_mut().input.0.is_empty() {
            let op = race.st.get_mut().input.byte();
            let racing = op & 0x10 != 0;
            match op % 8 {
                0..=3 => race.run(Mode::Serve, racing),
                4 => race.run(Mode::Flush, racing),
                5 => race.pending(racing),
                6 => {
                    guest_act(ring, &mut race.st.get_mut().input, false);
                }
                _ => race.engine_act(),
            }
        }
    });
    let tail = page.0.get(IFACE..).unwrap_or(&[]);
    assert!(tail.iter().all(|&b| b == 0), "a byte past the interface changed");
}

impl Race<'_, '_> {
    /// Bytes queued and not sent.
    fn queued(&self) -> usize {
        self.len.saturating_sub(self.sent)
    }

    /// Room left in the output queue.
    fn room(&self) -> usize {
        OUT_CAP.saturating_sub(self.queued())
    }

    /// Moves the unsent output to the front of the queue.
    fn compact(&mut self) {
        self.out.copy_within(self.sent.min(self.len)..self.len, 0);
        self.len = self.queued();
        self.sent = 0;
    }

    /// Appends `bytes` (as much as fits) to the output queue.
    fn queue(&mut self, bytes: &[u8]) -> usize {
        self.compact();
        let n = bytes.len().min(self.room());
        let end = self.len.saturating_add(n);
        if let (Some(dst), Some(src)) = (self.out.get_mut(self.len..end), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len = end;
        n
    }

    /// Between turns, the engine queues output of its own (a watch event)
    /// or toggles its flow control.
    fn engine_act(&mut self) {
        let st = self.st.get_mut();
        let b = st.input.byte();
        if b & 1 == 0 {
            self.hold = !self.hold;
        } else {
            let bytes = st.input.take(usize::from(b).saturating_mul(4));
            self.queue(bytes);
        }
    }

    /// Starts a call of the server's `mode`.
    fn begin(&mut self, mode: Mode, racing: bool) {
        let st = self.st.get_mut();
        let (seen, _) = split(self.pages.get_mut(), st.flip);
        self.ring.read_bytes(0, seen);
        st.mode = mode;
        st.racing = racing;
        st.hist = [Call::Start; 2];
        st.mapped = true;
        st.calls = 0;
        st.used = 0;
        st.expect_input = None;
        st.to_consume = None;
        st.written = None;
        st.reset_step = 0;
        st.due = None;
        st.ignored = false;
        st.seen_turn = Turn::default();
    }

    /// One [`serve`] or [`flush`], then the checks of what it returned.
    fn run(&mut self, mode: Mode, racing: bool) {
        self.begin(mode, racing);
        let turn = if mode == Mode::Serve { serve(self) } else { flush(self) };
        self.step(Call::End);
        let st = self.st.get_mut();
        assert_eq!(st.to_consume, None, "taken bytes were not consumed");
        assert_eq!(st.written, None, "written bytes were not reported");
        let want = st.seen_turn;
        assert_eq!(turn.stopped, want.stopped, "the stop, or its reason");
        assert_eq!(turn.reconnected, want.reconnected);
        assert_eq!(turn.deferred, want.deferred);
        assert_eq!(turn.notify, want.notify, "notify iff something happened: {turn:?}");
        if turn.more_input {
            assert_eq!(st.used, INPUT_BYTES_PER_TURN, "more input before the budget ran out");
            assert_eq!(turn.stopped, None);
        }
        if let (Some(why), true) = (turn.stopped, st.mapped) {
            assert!(self.failed, "a stopped ring is ignored");
            let error = self.with_seen(|seen| field(seen, ERROR));
            assert_eq!(error, why.code(), "the error field says why");
        }
    }

    /// [`pending_work`] with a quiet guest against a model of it, then
    /// with a racing guest: it changes nothing, and its answer is
    /// plausible.
    fn pending(&mut self, racing: bool) {
        self.begin(Mode::Pending, false);
        let got = pending_work(self);
        self.step(Call::End);
        let want = self.with_seen(|seen| self.model_pending(seen));
        assert_eq!(got, want, "pending_work with a quiet guest");
        if racing {
            self.begin(Mode::Pending, true);
            let got = pending_work(self);
            self.step(Call::End);
            match got {
                Some(Work::Requests(n)) => assert!((1..=XENSTORE_RING_SIZE).contains(&n)),
                Some(Work::Responses(n)) => {
                    assert!((1..=XENSTORE_RING_SIZE.min(self.queued())).contains(&n));
                }
                Some(Work::Reconnect) => assert!(self.tokens > 0),
                Some(Work::BadIndex) | None => {}
            }
        }
    }

    /// What [`pending_work`] should find on `page`.
    fn model_pending(&self, page: &Snap) -> Option<Work> {
        if field(page, CONNECTION) == XENSTORE_RECONNECT {
            return (self.tokens > 0).then_some(Work::Reconnect);
        }
        if self.failed {
            return None;
        }
        if self.wants() {
            match in_flight(field(page, REQ_CONS), field(page, REQ_PROD)) {
                None => return Some(Work::BadIndex),
                Some(0) => {}
                Some(n) => return Some(Work::Requests(n)),
            }
        }
        if self.queued() > 0 {
            match in_flight(field(page, RSP_CONS), field(page, RSP_PROD)) {
                None => return Some(Work::BadIndex),
                Some(XENSTORE_RING_SIZE) => {}
                Some(used) => {
                    let space = XENSTORE_RING_SIZE.saturating_sub(used);
                    return Some(Work::Responses(space.min(self.queued())));
                }
            }
        }
        None
    }

    /// The engine's answer to `wants_input`.
    fn wants(&self) -> bool {
        !self.failed && !self.hold && self.room() > 0
    }

    /// A callback: checks the server's step since the guest's last action,
    /// then lets the guest act.
    fn step(&self, call: Call) {
        self.check(call);
        self.act(call);
    }

    /// Checks the server's step before `call`, and notes the call.
    fn check(&self, call: Call) {
        let mut st = self.st.borrow_mut();
        st.calls = st.calls.saturating_add(1);
        assert!(st.calls <= MAX_CALLS, "the call does not end");
        let mut pages = self.pages.borrow_mut();
        let (seen, now) = split(&mut pages, st.flip);
        self.ring.read_bytes(0, now);
        self.check_step(&mut st, seen, now, call);
        // The page now is what the guest acts on.
        st.flip = !st.flip;
        let [last, _] = st.hist;
        st.hist = [call, last];
    }

    /// The guest's moment during `call` (if it races), then a new look at
    /// the page if it changed anything.
    fn act(&self, call: Call) {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        if !st.racing || call == Call::End {
            return;
        }
        let acted = guest_act(self.ring, &mut st.input, call == Call::Input);
        if acted == Acted::Unmap {
            st.mapped = false;
        }
        if acted != Acted::Nothing {
            let mut pages = self.pages.borrow_mut();
            let (seen, _) = split(&mut pages, st.flip);
            self.ring.read_bytes(0, seen);
        }
    }

    /// Runs `f` on the page as the guest left it.
    fn with_seen<R>(&self, f: impl FnOnce(&Snap) -> R) -> R {
        let flip = self.st.borrow().flip;
        let mut pages = self.pages.borrow_mut();
        let (seen, _) = split(&mut pages, flip);
        f(seen)
    }

    /// Checks the page changes `p` → `now` the server made before calling
    /// `call`, and that `call` is the one due.
    fn check_step(&self, st: &mut State<'_>, p: &Snap, now: &Snap, call: Call) {
        if st.mode == Mode::Pending || !st.mapped {
            assert!(p == now, "the server changed the page in {:?}", st.mode);
            st.to_consume = None;
            return;
        }
        let [last, before] = st.hist;
        self.check_order(st, p, call);
        // Reconnection: `reset`, then `page`, then the page reset.
        match st.reset_step {
            1 => {
                assert_eq!(call, Call::Page, "reset is followed by a look at the page");
                assert!(p == now);
                st.reset_step = 2;
                return;
            }
            2 => {
                let idx = [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD].map(|off| field(now, off));
                assert_eq!(idx, [0; 4], "a reconnection zeroes the indices");
                assert_eq!(field(now, ERROR), XENSTORE_ERROR_NONE, "and clears the error");
                assert_eq!(field(now, CONNECTION), XENSTORE_CONNECTED, "and answers");
                same(p, now, &[REQ_RING, RSP_RING, FEATURES..FEATURES + 4, EVTCHN..EVTCHN + 4]);
                st.reset_step = 0;
                st.seen_turn.reconnected = true;
                st.seen_turn.notify = true;
                return;
            }
            _ => {}
        }
        same(p, now, &GUEST_BYTES);
        let connection = CONNECTION..CONNECTION + 4;
        assert!(p.get(connection.clone()) == now.get(connection), "connection changed");
        let error = ERROR..ERROR + 4;
        if [last, before] == [Call::Page, Call::Ignore] {
            // `fail`: the error field, after `ignore` and a look at the page.
            assert_eq!(call, Call::End, "the turn ends after a stop");
            let why = st.due.map(Stop::code);
            assert_eq!(Some(field(now, ERROR)), why, "the error field says why");
        } else {
            assert!(p.get(error.clone()) == now.get(error), "error changed");
        }
        // `req_cons` moves only after `input` and the look at the page
        // that follows it, by what the engine took.
        let (cons, prod) = (field(p, REQ_CONS), field(p, REQ_PROD));
        let mut want_cons = cons;
        if last == Call::Page {
            if let Some(used) = st.to_consume.take() {
                if let Some(avail) = in_flight(cons, prod) {
                    want_cons = cons.wrapping_add(len_u32(used.min(avail)));
                }
            }
        }
        assert_eq!(field(now, REQ_CONS), want_cons, "req_cons moves by what was taken");
        self.check_responses(st, p, now, call);
        // A peek at the requests: `wants_input` said yes, `page` gave the
        // page, budget left.
        let peeked = [last, before] == [Call::Page, Call::WantsInput]
            && st.last_wants
            && st.mode == Mode::Serve
            && st.used < INPUT_BYTES_PER_TURN;
        if peeked {
            match in_flight(cons, prod) {
                None => due(st, Stop::Ring(RingError::BadIndex)),
                Some(0) => {}
                Some(avail) => {
                    st.expect_input = Some(avail.min(INPUT_BYTES_PER_TURN.saturating_sub(st.used)));
                }
            }
        }
        if st.expect_input.is_some() {
            assert_eq!(call, Call::Input, "bytes were peeked but not handed over");
        }
        if st.due.is_some() && !st.ignored {
            assert_eq!(call, Call::Ignore, "a stop is due: {:?}", st.due);
        }
        if call == Call::Ignore {
            assert!(st.due.is_some(), "the ring was stopped for no reason");
            st.ignored = true;
        }
    }

    /// `rsp_prod` and the response ring: a write happens between `output`
    /// and `output_done`, of exactly the queued bytes that fit, at
    /// `rsp_prod`.
    fn check_responses(&self, st: &mut State<'_>, p: &Snap, now: &Snap, call: Call) {
        let (cons, prod) = (field(p, RSP_CONS), field(p, RSP_PROD));
        let queued = self.queued();
        let mut n = 0;
        if st.hist[0] == Call::Output && queued > 0 {
            match in_flight(cons, prod) {
                None => due(st, Stop::Ring(RingError::BadIndex)),
                Some(used) => n = XENSTORE_RING_SIZE.saturating_sub(used).min(queued),
            }
        }
        assert_eq!(field(now, RSP_PROD), prod.wrapping_add(len_u32(n)), "rsp_prod moves by n");
        if n == 0 {
            same(p, now, &[RSP_RING]);
        } else {
            let mut expect = [0u8; XENSTORE_RING_SIZE];
            expect.copy_from_slice(p.get(RSP_RING).unwrap_or(&[0; XENSTORE_RING_SIZE]));
            let mut x = prod;
            for &byte in self.out.get(self.sent..self.len).unwrap_or(&[]).iter().take(n) {
                let off = usize::try_from(x).unwrap_or(0) % XENSTORE_RING_SIZE;
                if let Some(b) = expect.get_mut(off) {
                    *b = byte;
                }
                x = x.wrapping_add(1);
            }
            if now.get(RSP_RING) != Some(&expect[..]) {
                panic!("response bytes written outside prod..prod + {n}, or not the output");
            }
        }
        if n > 0 {
            assert_eq!(call, Call::OutputDone, "a write is reported");
            st.written = Some(n);
            st.seen_turn.notify = true;
        } else {
            assert!(call != Call::OutputDone, "output_done without a write");
        }
    }

    /// The order of callbacks `serve` and `flush` promise.
    fn check_order(&self, st: &State<'_>, p: &Snap, call: Call) {
        let [last, before] = st.hist;
        match (st.mode, last) {
            (Mode::Serve, Call::Start) => assert_eq!(call, Call::Page),
            (Mode::Flush, Call::Start) => assert_eq!(call, Call::Failed),
            (Mode::Serve, Call::Page) if before == Call::Start => {
                let want = if field(p, CONNECTION) == XENSTORE_RECONNECT {
                    Call::Admit
                } else {
                    Call::Failed
                };
                assert_eq!(call, want, "a reconnection request is looked at first");
            }
            (_, Call::Admit) if st.seen_turn.deferred => assert_eq!(call, Call::End),
            (_, Call::Admit) => assert_eq!(call, Call::Reset),
            (_, Call::Failed) if self.failed => assert_eq!(call, Call::End),
            _ => {}
        }
        if st.mode == Mode::Flush {
            assert!(!matches!(call, Call::Input | Call::Admit | Call::Reset | Call::WantsInput));
        }
    }
}

impl RingServer for Race<'_, '_> {
    fn page(&self) -> Option<&RingPage> {
        self.step(Call::Page);
        self.st.borrow().mapped.then_some(self.ring)
    }

    fn failed(&self) -> bool {
        self.step(Call::Failed);
        self.failed
    }

    fn wants_input(&self) -> bool {
        self.step(Call::WantsInput);
        let wants = self.wants();
        self.st.borrow_mut().last_wants = wants;
        wants
    }

    fn input(&mut self, bytes: &[u8]) -> Result<usize, ProtoError> {
        self.check(Call::Input);
        // The bytes the peek saw (the guest has not acted since): from
        // `req_cons`, as many as were due.
        let due_len = self.st.get_mut().expect_input.take();
        assert_eq!(due_len, Some(bytes.len()), "input of the wrong length");
        self.with_seen(|seen| {
            let mut x = field(seen, REQ_CONS);
            for &b in bytes {
                assert_eq!(b, slot(seen, REQ_BUF, x), "input is not the ring's bytes");
                x = x.wrapping_add(1);
            }
        });
        self.act(Call::Input);
        let st = self.st.get_mut();
        let choice = st.input.byte();
        if choice == 0xff {
            self.failed = true;
            let why = ProtoError::TooLong;
            due(st, Stop::Proto(why));
            return Err(why);
        }
        let want = if choice & 0x80 == 0 {
            bytes.len()
        } else {
            usize::from(choice & 0x7f).saturating_mul(8)
        };
        let used = self.queue(bytes.get(..want.min(bytes.len())).unwrap_or(&[]));
        let st = self.st.get_mut();
        st.used = st.used.saturating_add(used);
        assert!(st.used <= INPUT_BYTES_PER_TURN, "more than a turn's input");
        st.to_consume = Some(used);
        st.seen_turn.notify |= used > 0;
        Ok(used)
    }

    fn output(&self) -> &[u8] {
        self.step(Call::Output);
        self.out.get(self.sent..self.len).unwrap_or(&[])
    }

    fn output_done(&mut self, n: usize) {
        self.step(Call::OutputDone);
        let st = self.st.get_mut();
        assert_eq!(st.written.take(), Some(n), "output_done reports what was written");
        self.sent = self.sent.saturating_add(n).min(self.len);
    }

    fn admit_reconnect(&mut self) -> bool {
        self.step(Call::Admit);
        let admit = self.tokens > 0;
        self.tokens = self.tokens.saturating_sub(1);
        let st = self.st.get_mut();
        st.seen_turn.deferred = !admit;
        admit
    }

    fn reconnect_ready(&self) -> bool {
        self.step(Call::Ready);
        self.tokens > 0
    }

    fn reset(&mut self) {
        self.step(Call::Reset);
        self.st.get_mut().reset_step = 1;
        self.failed = false;
        self.len = 0;
        self.sent = 0;
    }

    fn ignore(&mut self) {
        self.step(Call::Ignore);
        self.failed = true;
    }
}

/// The two page copies as (the page the guest left, the page now).
fn split(pages: &mut [Snap; 2], flip: bool) -> (&mut Snap, &mut Snap) {
    let [a, b] = pages;
    if flip {
        (b, a)
    } else {
        (a, b)
    }
}

/// Checks that the server changed none of the bytes `ranges` of `p`.
fn same(p: &Snap, now: &Snap, ranges: &[Range<usize>]) {
    for r in ranges {
        assert!(p.get(r.clone()) == now.get(r.clone()), "the server changed bytes {r:?}");
    }
}

/// What the guest did in its moment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acted {
    /// Nothing.
    Nothing,
    /// Changed the page (or may have).
    Page,
    /// Asked for the ring to be unmapped.
    Unmap,
}

/// Notes that the server must stop the ring now, for `why`.
fn due(st: &mut State<'_>, why: Stop) {
    st.due = Some(why);
    st.seen_turn.stopped = Some(why);
    st.seen_turn.notify = true;
}

/// One action of the guest, from the fuzz input: produce or consume bytes
/// as a guest should, or rewrite any field or byte of the interface. It
/// unmaps the ring only when `may_unmap`.
fn guest_act(ring: &RingPage, input: &mut Input<'_>, may_unmap: bool) -> Acted {
    let op = input.byte();
    let len = usize::from(input.byte()).saturating_mul(8);
    match op % 12 {
        // Nothing, most of the time: a guest is mostly idle.
        0..=2 => return Acted::Nothing,
        3 => ring.set_error(input.word()),
        4 => {
            let _ = ring.write_requests(input.take(len));
        }
        5 => {
            let mut buf = [0u8; XENSTORE_RING_SIZE];
            let _ = ring.read_responses(buf.get_mut(..len).unwrap_or(&mut []));
        }
        6 => ring.write_bytes(REQ_PROD, &input.word().to_le_bytes()),
        7 => ring.write_bytes(RSP_CONS, &input.word().to_le_bytes()),
        8 => {
            for off in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
                ring.write_bytes(off, &input.word().to_le_bytes());
            }
        }
        9 => ring.set_connection(if len < 1024 { XENSTORE_RECONNECT } else { input.word() }),
        10 => {
            let off = usize::from(u16::from_le_bytes([input.byte(), input.byte()])) % IFACE;
            ring.write_bytes(off, input.take(len.min(IFACE.saturating_sub(off))));
        }
        _ if may_unmap && len == 0 => return Acted::Unmap,
        _ => return Acted::Nothing,
    }
    Acted::Page
}
