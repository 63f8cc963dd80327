//! The engine under the stub's heap, with a heap-cap oracle.
//!
//! This binary's global allocator counts every live byte of the process
//! and refuses to go more than [`STUB_HEAP`] (the stub's heap at
//! `init-xenstore-domain --memory 4`) above the live bytes of the moment
//! each run starts: an allocation over that cap fails, as it would in the
//! stub. One the engine makes fallibly (`try_reserve`) gets its error and
//! the engine carries on; any other aborts the process
//! (`handle_alloc_error`: "memory allocation of N bytes failed", as the
//! stub would panic), a finding. The engine is built with the budget the stub uses,
//! `MemoryBudget::for_heap(STUB_HEAP, meter)`, where `meter` is the live
//! bytes since the run started (so the budget, the cap and the oracle all
//! see the same heap). Guests (up to eight introduced domains) and
//! privileged clients (dom0's socket, more sockets, dom0's ring on 4.21+)
//! then attack it with long and deep paths, big values, transactions,
//! watches, subtree removals, directory listings, split payloads and
//! domain life-cycle changes, on the hypervisor semantics picked by the
//! first input byte (Xen 4.17, 4.18–4.20 or 4.21+).
//!
//! # Oracle (what `store::budget` promises)
//!
//! After every engine call (a step), with `H = REQUEST_HEADROOM`,
//! `limit = budget.limit` and `gl = budget.limit_for(false)`:
//!
//! 1. always: `meter() <= limit + H` (no caller, privileged or not, takes
//!    the heap past the limit by more than one request's headroom);
//! 2. after a guest's input, once every privileged connection that reads
//!    its output has read it (events for a privileged watcher are asked of
//!    the privileged limit, so they are the watcher's, not the guest's):
//!    `meter() <= max(before, gl) + H` (one guest request overshoots the
//!    guest limit by at most H), and `meter() <= ceiling + H`, where
//!    `ceiling = max(gl, meter())` after the last step taken by a
//!    privileged client or the platform, lowered (never raised) by output
//!    the platform sends: guests, all of them together, never take the
//!    heap more than H past the guests' limit or past where the privileged
//!    domain left it. These checks are skipped while a privileged
//!    connection holds unsent output (a slow toolstack's own queue).
//!
//! Plus the cap itself (an infallible allocation over it aborts),
//! `engine_ops`'s framing checks on every
//! byte of output, and a leak check that needs no sanitizer: once the
//! engine, the model and the harness are dropped, the process holds
//! exactly the bytes it held before the run.
//!
//! # Keeping the harness out of the count
//!
//! The cap and the meter count the whole process, as the stub's allocator
//! counts its whole heap. So the harness allocates everything it needs
//! before a run starts counting (peer slots with their pending-input
//! buffers and output decoders, the scratch message buffer, the
//! `take_ready` vector) and never frees or grows them during the run:
//! operations are decoded one at a time from `arbitrary::Unstructured`
//! into allocation-free values, messages are built in the fixed scratch
//! buffer, output is framed and dropped as it is drained. What does
//! allocate during a run is the engine and the hypervisor model (the
//! platform), both of which the stub's heap holds too. A `Ballast` chosen
//! by the input stands for the platform's own heap (kernel tables and the
//! like): it lets the fuzzer start near the guests' limit or the limit
//! without hundreds of writes.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Once;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ring::decode::Decoder;
use ring::wire::{Header, MsgType, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};
use store::fuzzing::{change_domain, check_output};
use store::model::{HypervisorModel, Semantics};
use store::REQUEST_HEADROOM;
use store::{Config, ConnId, DomId, DomainCaps, Engine, MemoryBudget};

/// The stub's heap at `init-xenstore-domain --memory 4` (bytes), as
/// `store/tests/heap_cap.rs` uses it.
const STUB_HEAP: usize = 2_804 * 1024;

/// Live bytes of the whole process.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most `LIVE` may reach (no cap between runs).
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
/// `LIVE` when the current run started counting.
static BASE: AtomicUsize = AtomicUsize::new(0);

/// The capped counting allocator.
struct Capped;

impl Capped {
    /// Counts `size` more bytes; `false` (nothing counted) past the cap.
    fn take(size: usize) -> bool {
        let now = LIVE.fetch_add(size, SeqCst).saturating_add(size);
        if now > CAP.load(SeqCst) {
            LIVE.fetch_sub(size, SeqCst);
            return false;
        }
        true
    }
}

// SAFETY: every call is forwarded to `System` with the caller's layout
// (and size); the counters only decide whether to abort first, and are
// atomics, so concurrent calls (libFuzzer's own threads) are fine.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Capped::take(layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's (non-zero-sized) layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Capped::take(layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's (non-zero-sized) layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    /// Counted as the stub's allocator does it (`linked_list_allocator`
    /// has no realloc of its own: a new block, a copy, the old block
    /// freed), so a growing vector needs its old and new blocks at once
    /// under the cap.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Capped::take(new_size) {
            return core::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`; `new_size` is the
        // caller's (non-zero) new size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // The old block is gone, or (on failure) the new one never was.
        LIVE.fetch_sub(if p.is_null() { new_size } else { layout.size() }, SeqCst);
        p
    }
}

#[global_allocator]
static GLOBAL: Capped = Capped;

/// The heap as the platform reports it to the budget: live bytes since the
/// run started counting.
fn meter() -> usize {
    LIVE.load(SeqCst).saturating_sub(BASE.load(SeqCst))
}

/// Whether to print what each run reached (`ENGINE_HEAP_STATS=1`, for
/// looking at a corpus; read once, before any run counts).
static STATS: AtomicBool = AtomicBool::new(false);

/// A failed assertion's report allocates: the cap is lifted first.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        STATS.store(std::env::var_os("ENGINE_HEAP_STATS").is_some(), SeqCst);
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            CAP.store(usize::MAX, SeqCst);
            report(info)
        }));
    });
}

/// Guests; domains 1..=GUESTS exist at the start.
const GUESTS: u16 = 8;
/// The stub's own domain on 4.21+ (`CAP_XENSTORE`, never introduced).
const STORE_DOMID: u16 = 9;
/// Peer slots: dom0's socket, more sockets, dom0's ring, the guests'
/// rings (a domain released and introduced again gets a fresh slot; one
/// introduced again while live keeps its slot, its streams restarted).
const SLOTS: usize = 24;
/// What a peer may have sent that the engine has not taken yet (its ring
/// or socket buffer): two maximal messages.
const PENDING_MAX: usize = 2 * (HEADER_SIZE + XENSTORE_PAYLOAD_MAX);
/// Operations decoded per run, and requests sent per run (a `Fill` sends
/// many): bounds a run's time.
const MAX_OPS: usize = 1024;
const MAX_REQUESTS: u32 = 1024;

/// A path argument.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum PathArg {
    /// One of [`FIXED`].
    Fixed(u8),
    /// `/local/domain/<dom % 10>`.
    Home(u8),
    /// `first/a/a/…/a`, `depth` components (1 + `depth % 1600`, so past
    /// both path limits), under `/local/domain/<home % 10>/` or relative
    /// (under the caller's home).
    Deep { first: u8, depth: u16, rel: bool, home: u8 },
    /// `s<base % 8>/<i>` under a home or relative: many siblings.
    Sibling { base: u8, i: u16, rel: bool, home: u8 },
}

const FIXED: &[&str] = &[
    "/",
    "/local",
    "/local/domain",
    "/tool",
    "/tool/x",
    "@introduceDomain",
    "@releaseDomain",
    "data",
    "data/x",
    "device/vif/0",
    "",
    "/a//b",
];

const FIRST: &[&str] = &["a", "data", "device", "s0", "x"];

/// A value: `len % 4097` copies of `byte`.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Value {
    len: u16,
    byte: u8,
}

/// Bytes the fuzzer puts on the heap before the engine exists (the
/// platform's own heap), in KiB below a mark.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ballast {
    None,
    /// `kib % (limit / 1 KiB)` KiB.
    Kib(u16),
    /// `kib % 128` KiB below the guests' limit.
    BelowGuests(u8),
    /// `kib % 128` KiB below the limit.
    BelowLimit(u8),
}

/// How a run starts.
#[derive(Arbitrary, Debug)]
struct Setup {
    /// Before 4.21: the toolstack introduces `1 + guests % 8` domains.
    guests: u8,
    /// Bit `d`: guest `d` reads its output as it comes.
    reading: u8,
    /// dom0's socket does not read its output (a slow toolstack).
    dom0_lazy: bool,
    ballast: Ballast,
}

/// One step of the scenario. `conn` picks among the live peers; `tx`
/// picks one of the peer's open transactions (0 or none known: none).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Write {
        conn: u8,
        tx: u8,
        path: PathArg,
        value: Value,
    },
    Mkdir {
        conn: u8,
        tx: u8,
        path: PathArg,
    },
    Read {
        conn: u8,
        tx: u8,
        path: PathArg,
    },
    Rm {
        conn: u8,
        tx: u8,
        path: PathArg,
    },
    Directory {
        conn: u8,
        tx: u8,
        path: PathArg,
    },
    DirectoryPart {
        conn: u8,
        tx: u8,
        path: PathArg,
        offset: u16,
    },
    /// Owner `owner % 10`, then `r`/`b` for each domain in the mask.
    SetPerms {
        conn: u8,
        tx: u8,
        path: PathArg,
        owner: u8,
        mask: u16,
        write: bool,
    },
    Watch {
        conn: u8,
        path: PathArg,
        token: u8,
    },
    /// `1 + count % 128` watches on `path` with tokens `token..`.
    Watches {
        conn: u8,
        path: PathArg,
        token: u8,
        count: u8,
    },
    Unwatch {
        conn: u8,
        path: PathArg,
        token: u8,
    },
    TxStart {
        conn: u8,
    },
    TxEnd {
        conn: u8,
        tx: u8,
        commit: bool,
    },
    /// `count` writes of `value` to siblings `f<base % 8>/<i>`.
    Fill {
        conn: u8,
        tx: u8,
        base: u8,
        count: u8,
        value: Value,
        rel: bool,
        home: u8,
    },
    /// A write whose last `1 + keep % len` bytes stay with the peer until it
    /// sends again or [`Op::Flush`]: a payload held half-received.
    Split {
        conn: u8,
        path: PathArg,
        value: Value,
        keep: u16,
    },
    Flush {
        conn: u8,
    },
    /// Any request type with `path\0num\0`.
    Other {
        conn: u8,
        ty: u8,
        path: PathArg,
        num: u16,
    },
    /// dom0's `XS_CONTROL`: memreport, quota reads and settings.
    Control {
        which: u8,
        num: u16,
    },
    /// dom0 introduces domain `1 + domid % 8` (or 0, the store domain).
    Introduce {
        domid: u8,
        port: u8,
    },
    Release {
        domid: u8,
    },
    /// Domain `domid % 10` is created again, shut down, killed, dead or
    /// destroyed, then `VIRQ_DOM_EXC` fires.
    Lifecycle {
        domid: u8,
        what: u8,
    },
    /// `ds` tenths of a second pass.
    Tick {
        ds: u16,
    },
    /// A peer reads up to `max` bytes of its output.
    Drain {
        conn: u8,
        max: u16,
    },
    /// A peer starts or stops reading its output as it comes.
    Reading {
        conn: u8,
        on: bool,
    },
    /// A guest reconnects its ring.
    Reset {
        conn: u8,
    },
    /// Another privileged socket client connects.
    Connect,
    /// A socket client other than dom0's first closes its connection.
    Disconnect {
        conn: u8,
    },
}

/// A connection as the scenario sees it; allocated before counting
/// starts and reused, never freed, during a run.
struct Peer {
    active: bool,
    id: ConnId,
    domid: DomId,
    socket: bool,
    /// Reads its output as it comes (each pump).
    reading: bool,
    /// Bytes sent that the engine has not taken yet.
    pending: Vec<u8>,
    /// The last `held` bytes of `pending` are not offered yet.
    held: usize,
    /// Frames the engine's output, to check it.
    out: Box<Decoder>,
    /// Transaction ids seen in this peer's replies (0: free slot).
    txs: [u32; 8],
}

impl Peer {
    fn new() -> Peer {
        Peer {
            active: false,
            id: ConnId(0),
            domid: DomId(0),
            socket: false,
            reading: false,
            pending: Vec::with_capacity(PENDING_MAX),
            held: 0,
            out: Box::new(Decoder::new()),
            txs: [0; 8],
        }
    }

    fn start(&mut self, id: ConnId, domid: DomId, socket: bool, reading: bool) {
        self.active = true;
        self.id = id;
        self.domid = domid;
        self.socket = socket;
        self.reading = reading;
        self.pending.clear();
        self.held = 0;
        self.out.clear();
        self.txs = [0; 8];
    }
}

/// What the budget promises, checked after every step.
struct Oracle {
    budget: MemoryBudget,
    /// `max(gl, meter)` after the last privileged or platform step,
    /// lowered by output sent.
    ceiling: usize,
    /// The highest heap seen, and how many guest steps were checked
    /// (`ENGINE_HEAP_STATS`).
    peak: usize,
    guest_checks: u32,
}

impl Oracle {
    fn all_max(&self) -> usize {
        self.budget.limit + REQUEST_HEADROOM
    }

    fn guest_limit(&self) -> usize {
        self.budget.limit_for(false)
    }

    /// Oracle 1, after any step.
    fn global(&mut self, what: &str) -> usize {
        let m = meter();
        self.peak = self.peak.max(m);
        assert!(m <= self.all_max(), "{what}: heap {m} over limit + headroom {}", self.all_max());
        m
    }

    /// After a step by a privileged client or the platform.
    fn privileged(&mut self, what: &str) {
        let m = self.global(what);
        self.ceiling = m.max(self.guest_limit());
    }

    /// After output was sent (frees only).
    fn sent(&mut self, what: &str) {
        let m = self.global(what);
        self.ceiling = self.ceiling.min(m.max(self.guest_limit()));
    }

    /// Oracle 2, after a guest's input (privileged output already read).
    fn guest(&mut self, what: &str, before: usize) {
        self.guest_checks += 1;
        let m = meter();
        let gl = self.guest_limit();
        let one = before.max(gl) + REQUEST_HEADROOM;
        assert!(
            m <= one,
            "{what}: heap {m} after one guest step from {before} (guests' limit {gl})"
        );
        let all = self.ceiling + REQUEST_HEADROOM;
        assert!(m <= all, "{what}: guests took the heap to {m}, ceiling {}", self.ceiling);
    }
}

/// The scenario's state.
struct World {
    e: Engine,
    xen: HypervisorModel,
    peers: Vec<Peer>,
    /// Scratch for one message (header + maximal payload).
    msg: Vec<u8>,
    ready: Vec<ConnId>,
    oracle: Oracle,
    now_ms: u64,
    next_req: u32,
    requests_left: u32,
    /// Reading mask of guests not introduced yet (from the setup).
    guest_reading: u8,
    /// `ENOMEM` replies seen (`ENGINE_HEAP_STATS`).
    enomem: u32,
}

/// Appends the decimal form of `n`.
fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends bytes, never past a maximal message.
fn push_capped(out: &mut Vec<u8>, bytes: &[u8]) {
    let room = (HEADER_SIZE + XENSTORE_PAYLOAD_MAX).saturating_sub(out.len());
    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn push_home(out: &mut Vec<u8>, dom: u8) {
    push_capped(out, b"/local/domain/");
    push_num(out, u64::from(dom % 10));
}

/// Appends `path` (unterminated).
fn push_path(out: &mut Vec<u8>, path: PathArg) {
    match path {
        PathArg::Fixed(k) => push_capped(out, FIXED[usize::from(k) % FIXED.len()].as_bytes()),
        PathArg::Home(d) => push_home(out, d),
        PathArg::Deep { first, depth, rel, home } => {
            if !rel {
                push_home(out, home);
                push_capped(out, b"/");
            }
            push_capped(out, FIRST[usize::from(first) % FIRST.len()].as_bytes());
            for _ in 1..=(depth % 1600) {
                push_capped(out, b"/a");
            }
        }
        PathArg::Sibling { base, i, rel, home } => {
            if !rel {
                push_home(out, home);
                push_capped(out, b"/");
            }
            push_capped(out, b"s");
            push_num(out, u64::from(base % 8));
            push_capped(out, b"/");
            push_num(out, u64::from(i));
        }
    }
}

fn push_value(out: &mut Vec<u8>, v: Value) {
    let len = usize::from(v.len) % (XENSTORE_PAYLOAD_MAX + 1);
    let room = (HEADER_SIZE + XENSTORE_PAYLOAD_MAX).saturating_sub(out.len());
    out.resize(out.len() + len.min(room), v.byte);
}

impl World {
    /// The slot of live peer `n % live peers`.
    fn pick(&self, n: u8) -> Option<usize> {
        let live = self.peers.iter().filter(|p| p.active).count();
        if live == 0 {
            return None;
        }
        let k = usize::from(n) % live;
        self.peers.iter().enumerate().filter(|(_, p)| p.active).nth(k).map(|(i, _)| i)
    }

    fn privileged(&self, slot: usize) -> bool {
        self.peers[slot].domid == self.e.config().priv_domid
    }

    fn tx_of(&self, slot: usize, tx: u8) -> u32 {
        if tx == 0 {
            return 0;
        }
        let txs = &self.peers[slot].txs;
        let known = txs.iter().filter(|&&t| t != 0).count();
        if known == 0 {
            return u32::from(tx % 4);
        }
        txs.iter().copied().filter(|&t| t != 0).nth(usize::from(tx) % known).unwrap_or(0)
    }

    /// Starts a message in the scratch buffer (header filled in by
    /// [`World::finish`]).
    fn begin(&mut self) {
        self.msg.clear();
        self.msg.extend_from_slice(&[0; HEADER_SIZE]);
    }

    /// Completes the message in the scratch buffer and sends it from
    /// `slot`, holding back its last `hold` bytes.
    fn finish(&mut self, slot: usize, ty: MsgType, tx: u32, hold: usize) {
        if self.requests_left == 0 {
            return;
        }
        self.requests_left -= 1;
        let len = self.msg.len() - HEADER_SIZE;
        let h = Header { ty: ty as u32, req_id: self.next_req, tx_id: tx, len: len as u32 };
        self.next_req = self.next_req.wrapping_add(1);
        self.msg[..HEADER_SIZE].copy_from_slice(&h.to_bytes());
        let p = &mut self.peers[slot];
        if p.pending.len() + self.msg.len() > PENDING_MAX {
            // The peer's buffer is full: the message is not sent.
            return;
        }
        p.pending.extend_from_slice(&self.msg);
        p.held = hold.min(len);
        self.feed(slot);
        self.pump();
    }

    /// Offers a peer's pending bytes to the engine: one step.
    fn feed(&mut self, slot: usize) {
        let p = &self.peers[slot];
        let offer = p.pending.len() - p.held;
        if !p.active || offer == 0 || !self.e.wants_input(p.id) {
            return;
        }
        let (id, privileged) = (p.id, self.privileged(slot));
        let before = meter();
        let r = self.e.input(id, &self.peers[slot].pending[..offer], self.now_ms, &mut self.xen);
        let p = &mut self.peers[slot];
        match r {
            Ok(n) => {
                assert!(n <= offer, "input consumed more than given");
                p.pending.drain(..n);
            }
            Err(_) => {
                assert!(!self.e.wants_input(id), "an ignored connection wants input");
                p.pending.clear();
                p.held = 0;
            }
        }
        if privileged {
            self.oracle.privileged("privileged input");
            // An introduction may have reset a ring drained later in
            // this pump.
            self.sync_peers();
            return;
        }
        self.oracle.global("guest input");
        // Privileged clients that read take their events now.
        let mut unread = false;
        for i in 0..self.peers.len() {
            if self.peers[i].active && self.privileged(i) {
                if self.peers[i].reading {
                    self.drain(i, usize::MAX);
                }
                unread |= !self.e.output(self.peers[i].id).is_empty();
            }
        }
        if !unread {
            self.oracle.guest("guest input", before);
        }
    }

    /// Sends up to `max` bytes of a peer's output, checking its framing.
    fn drain(&mut self, slot: usize, max: usize) {
        let id = self.peers[slot].id;
        let mut left = max;
        loop {
            let out = self.e.output(id);
            let n = out.len().min(left);
            if n == 0 {
                break;
            }
            let p = &mut self.peers[slot];
            check_output(&mut p.out, &out[..n], |h, body| {
                if h.ty == MsgType::Error as u32 && body.starts_with(b"ENOMEM") {
                    self.enomem += 1;
                }
                if h.ty == MsgType::TransactionStart as u32 {
                    let id = body
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .fold(0u32, |a, b| a.wrapping_mul(10).wrapping_add(u32::from(b - b'0')));
                    let free = p.txs.iter().position(|&t| t == 0).unwrap_or(id as usize % 8);
                    p.txs[free] = id;
                }
            });
            self.e.output_done(id, n);
            left -= n;
            self.oracle.sent("output sent");
        }
    }

    /// Adopts the rings the engine mapped, forgets those it unmapped.
    fn sync_peers(&mut self) {
        for p in self.peers.iter_mut().filter(|p| p.active && !p.socket) {
            match self.xen.mapped.get(&p.id) {
                None => p.active = false,
                // Mapped again with its indices zeroed (a second
                // introduction): both byte streams start afresh.
                Some(m) if m.reset && self.xen.unmaps.contains(&p.id) => {
                    let (id, domid, reading) = (p.id, p.domid, p.reading);
                    p.start(id, domid, false, reading);
                }
                Some(_) => {}
            }
        }
        for (&id, m) in &self.xen.mapped {
            if self.peers.iter().any(|p| p.active && p.id == id) {
                continue;
            }
            let reading = m.domid.0 == 0 || self.guest_reading & (1 << (m.domid.0 % 8)) != 0;
            if let Some(p) = self.peers.iter_mut().find(|p| !p.active) {
                p.start(id, m.domid, false, reading);
            }
        }
        // The model records every unmap; keep that bounded.
        self.xen.unmaps.clear();
    }

    /// What a platform's poll loop does after each event: send what
    /// readers read, offer pending input.
    fn pump(&mut self) {
        self.ready.clear();
        self.e.take_ready(&mut self.ready);
        self.sync_peers();
        for i in 0..self.peers.len() {
            if self.peers[i].active && self.peers[i].reading {
                self.drain(i, usize::MAX);
            }
            if self.peers[i].active {
                self.feed(i);
            }
        }
    }

    /// A platform step (life cycle, time, connections).
    fn platform(&mut self, what: &str) {
        self.oracle.privileged(what);
        self.pump();
    }

    fn request(&mut self, slot: usize, ty: MsgType, tx: u8, path: PathArg) {
        let tx = self.tx_of(slot, tx);
        self.begin();
        push_path(&mut self.msg, path);
        self.msg.push(0);
        self.finish(slot, ty, tx, 0);
    }

    fn dom0(&self) -> usize {
        self.peers.iter().position(|p| p.active && p.socket).unwrap_or(0)
    }

    fn introduce(&mut self, domid: u16, port: u8) {
        self.begin();
        push_num(&mut self.msg, u64::from(domid));
        self.msg.extend_from_slice(b"\x004096\0");
        push_num(&mut self.msg, u64::from(port));
        self.msg.push(0);
        let d0 = self.dom0();
        self.finish(d0, MsgType::Introduce, 0, 0);
    }

    /// dom0 writes `path` = "" and gives it to `owner`, as the toolstack
    /// makes a home.
    fn make_home(&mut self, owner: u16) {
        let d0 = self.dom0();
        self.begin();
        push_home(&mut self.msg, owner as u8);
        self.msg.push(0);
        self.finish(d0, MsgType::Write, 0, 0);
        self.begin();
        push_home(&mut self.msg, owner as u8);
        self.msg.extend_from_slice(b"\0n");
        push_num(&mut self.msg, u64::from(owner));
        self.msg.push(0);
        self.finish(d0, MsgType::SetPerms, 0, 0);
    }

    fn op(&mut self, op: Op) {
        match op {
            Op::Write { conn, tx, path, value } => {
                let Some(s) = self.pick(conn) else { return };
                let tx = self.tx_of(s, tx);
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.push(0);
                push_value(&mut self.msg, value);
                self.finish(s, MsgType::Write, tx, 0);
            }
            Op::Mkdir { conn, tx, path } => {
                let Some(s) = self.pick(conn) else { return };
                self.request(s, MsgType::Mkdir, tx, path);
            }
            Op::Read { conn, tx, path } => {
                let Some(s) = self.pick(conn) else { return };
                self.request(s, MsgType::Read, tx, path);
            }
            Op::Rm { conn, tx, path } => {
                let Some(s) = self.pick(conn) else { return };
                self.request(s, MsgType::Rm, tx, path);
            }
            Op::Directory { conn, tx, path } => {
                let Some(s) = self.pick(conn) else { return };
                self.request(s, MsgType::Directory, tx, path);
            }
            Op::DirectoryPart { conn, tx, path, offset } => {
                let Some(s) = self.pick(conn) else { return };
                let tx = self.tx_of(s, tx);
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.push(0);
                push_num(&mut self.msg, u64::from(offset));
                self.msg.push(0);
                self.finish(s, MsgType::DirectoryPart, tx, 0);
            }
            Op::SetPerms { conn, tx, path, owner, mask, write } => {
                let Some(s) = self.pick(conn) else { return };
                let tx = self.tx_of(s, tx);
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.extend_from_slice(b"\0n");
                push_num(&mut self.msg, u64::from(owner % 10));
                self.msg.push(0);
                for d in 0..10u16 {
                    if mask & (1 << d) != 0 {
                        self.msg.push(if write { b'b' } else { b'r' });
                        push_num(&mut self.msg, u64::from(d));
                        self.msg.push(0);
                    }
                }
                self.finish(s, MsgType::SetPerms, tx, 0);
            }
            Op::Watch { conn, path, token } => self.watches(conn, path, token, 1),
            Op::Watches { conn, path, token, count } => {
                self.watches(conn, path, token, 1 + u16::from(count % 128))
            }
            Op::Unwatch { conn, path, token } => {
                let Some(s) = self.pick(conn) else { return };
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.extend_from_slice(b"\0t");
                push_num(&mut self.msg, u64::from(token));
                self.msg.push(0);
                self.finish(s, MsgType::Unwatch, 0, 0);
            }
            Op::TxStart { conn } => {
                let Some(s) = self.pick(conn) else { return };
                self.begin();
                self.msg.push(0);
                self.finish(s, MsgType::TransactionStart, 0, 0);
            }
            Op::TxEnd { conn, tx, commit } => {
                let Some(s) = self.pick(conn) else { return };
                let id = self.tx_of(s, tx.max(1));
                self.begin();
                self.msg.extend_from_slice(if commit { b"T\0" } else { b"F\0" });
                self.finish(s, MsgType::TransactionEnd, id, 0);
                if let Some(t) = self.peers[s].txs.iter_mut().find(|t| **t == id) {
                    *t = 0;
                }
            }
            Op::Fill { conn, tx, base, count, value, rel, home } => {
                let Some(s) = self.pick(conn) else { return };
                let tx = self.tx_of(s, tx);
                for i in 0..u16::from(count) {
                    if self.requests_left == 0 || !self.peers[s].active {
                        break;
                    }
                    self.begin();
                    if !rel {
                        push_home(&mut self.msg, home);
                        self.msg.push(b'/');
                    }
                    self.msg.push(b'f');
                    push_num(&mut self.msg, u64::from(base % 8));
                    self.msg.push(b'/');
                    push_num(&mut self.msg, u64::from(i));
                    self.msg.push(0);
                    push_value(&mut self.msg, value);
                    self.finish(s, MsgType::Write, tx, 0);
                }
            }
            Op::Split { conn, path, value, keep } => {
                let Some(s) = self.pick(conn) else { return };
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.push(0);
                push_value(&mut self.msg, value);
                let len = self.msg.len() - HEADER_SIZE;
                let hold = 1 + usize::from(keep) % len.max(1);
                self.finish(s, MsgType::Write, 0, hold);
            }
            Op::Flush { conn } => {
                let Some(s) = self.pick(conn) else { return };
                self.peers[s].held = 0;
                self.feed(s);
                self.pump();
            }
            Op::Other { conn, ty, path, num } => {
                let Some(s) = self.pick(conn) else { return };
                let ty = MsgType::ALL[usize::from(ty) % MsgType::ALL.len()];
                self.begin();
                push_path(&mut self.msg, path);
                self.msg.push(0);
                push_num(&mut self.msg, u64::from(num));
                self.msg.push(0);
                self.finish(s, ty, 0, 0);
            }
            Op::Control { which, num } => {
                const CMDS: &[&[u8]] = &[
                    b"memreport\0",
                    b"quota\0",
                    b"quota\0set\0memory\0",
                    b"quota\0set\0nodes\0",
                    b"quota-soft\0set\0memory\0",
                    b"quota\0max\0",
                    b"quota\0",
                    b"check\0",
                ];
                let k = usize::from(which) % CMDS.len();
                self.begin();
                self.msg.extend_from_slice(CMDS[k]);
                if k >= 2 {
                    push_num(&mut self.msg, u64::from(num) * 64);
                    self.msg.push(0);
                }
                let d0 = self.dom0();
                self.finish(d0, MsgType::Control, 0, 0);
            }
            Op::Introduce { domid, port } => {
                let d = if domid % 9 == 8 { STORE_DOMID } else { 1 + u16::from(domid % 8) };
                self.introduce(d, port.max(1));
            }
            Op::Release { domid } => {
                self.begin();
                push_num(&mut self.msg, u64::from(domid % 10));
                self.msg.push(0);
                let d0 = self.dom0();
                self.finish(d0, MsgType::Release, 0, 0);
            }
            Op::Lifecycle { domid, what } => {
                change_domain(&mut self.xen, DomId(u16::from(domid % 10)), what);
                self.e.check_domains(self.now_ms, &mut self.xen);
                self.platform("check_domains");
            }
            Op::Tick { ds } => {
                self.now_ms = self.now_ms.saturating_add(u64::from(ds) * 100);
                self.e.tick(self.now_ms);
                self.platform("tick");
            }
            Op::Drain { conn, max } => {
                let Some(s) = self.pick(conn) else { return };
                self.drain(s, usize::from(max));
                self.pump();
            }
            Op::Reading { conn, on } => {
                let Some(s) = self.pick(conn) else { return };
                self.peers[s].reading = on;
                self.pump();
            }
            Op::Reset { conn } => {
                let Some(s) = self.pick(conn) else { return };
                if self.peers[s].socket {
                    return;
                }
                let id = self.peers[s].id;
                let domid = self.peers[s].domid;
                let reading = self.peers[s].reading;
                self.peers[s].start(id, domid, false, reading);
                self.e.reset_connection(id);
                self.platform("reset_connection");
            }
            Op::Connect => {
                let Some(p) = self.peers.iter().position(|p| !p.active) else { return };
                // Refused over the privileged admission line.
                if let Some(id) = self.e.connect_socket() {
                    let domid = self.e.config().priv_domid;
                    self.peers[p].start(id, domid, true, true);
                }
                self.platform("connect_socket");
            }
            Op::Disconnect { conn } => {
                let Some(s) = self.pick(conn) else { return };
                if !self.peers[s].socket || s == self.dom0() {
                    return;
                }
                let id = self.peers[s].id;
                self.peers[s].active = false;
                self.e.disconnect(id, &mut self.xen);
                self.platform("disconnect");
            }
        }
    }

    fn watches(&mut self, conn: u8, path: PathArg, token: u8, count: u16) {
        let Some(s) = self.pick(conn) else { return };
        for i in 0..count {
            if !self.peers[s].active {
                break;
            }
            self.begin();
            push_path(&mut self.msg, path);
            self.msg.extend_from_slice(b"\0t");
            push_num(&mut self.msg, u64::from(token) + u64::from(i));
            self.msg.push(0);
            self.finish(s, MsgType::Watch, 0, 0);
        }
    }
}

/// The hypervisor semantics of the run, from its first byte.
fn semantics(b: u8) -> Semantics {
    Semantics::ALL[usize::from(b) % Semantics::ALL.len()]
}

fn run(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let mut u = Unstructured::new(rest);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    let sem = semantics(first);
    // The leak check: everything a run allocates is freed by its end.
    let start = LIVE.load(SeqCst);

    // Everything the harness needs, before counting starts.
    let mut xen = HypervisorModel::new(sem);
    let control = DomainCaps { control: true, hardware: true, xenstore: false };
    xen.create_with_caps(DomId(0), control);
    for d in 1..=GUESTS {
        xen.create(DomId(d));
    }
    let store_caps = DomainCaps { xenstore: true, ..DomainCaps::default() };
    xen.create_with_caps(DomId(STORE_DOMID), store_caps);
    let peers: Vec<Peer> = (0..SLOTS).map(|_| Peer::new()).collect();
    let msg = Vec::with_capacity(HEADER_SIZE + XENSTORE_PAYLOAD_MAX);
    let ready = Vec::with_capacity(4 * SLOTS);

    // Count from here: the stub's heap, with its budget.
    BASE.store(LIVE.load(SeqCst), SeqCst);
    CAP.store(LIVE.load(SeqCst).saturating_add(STUB_HEAP), SeqCst);
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let gl = budget.limit_for(false);
    let ballast_bytes = match setup.ballast {
        Ballast::None => 0,
        Ballast::Kib(k) => usize::from(k) % (budget.limit / 1024) * 1024,
        Ballast::BelowGuests(k) => gl.saturating_sub(usize::from(k % 128) * 1024),
        Ballast::BelowLimit(k) => budget.limit.saturating_sub(usize::from(k % 128) * 1024),
    };
    let cfg = Config { budget: Some(budget), ..Config::default() };
    let mut e = Engine::new(cfg);
    // dom0's socket is the toolstack, there from boot: it connects before
    // the platform's heap (the ballast) fills up, which would refuse it.
    let dom0_socket = e.connect_socket().expect("an empty heap admits a socket");
    let ballast: Vec<u8> = Vec::with_capacity(ballast_bytes);
    let mut w = World {
        e,
        xen,
        peers,
        msg,
        ready,
        oracle: Oracle { budget, ceiling: gl, peak: 0, guest_checks: 0 },
        now_ms: 0,
        next_req: 1,
        requests_left: MAX_REQUESTS,
        guest_reading: setup.reading,
        enomem: 0,
    };
    w.oracle.privileged("Engine::new, connect_socket");

    // Start-up as the stub does it: dom0's ring on the launcher's port,
    // then (4.21+) every other existing domain; before 4.21 the toolstack
    // introduces the guests. dom0's socket is the toolstack.
    if sem == Semantics::GetDomainState421 {
        w.xen.bind_virq();
        let _ = w.e.introduce(DomId(0), 0, 1, &mut w.xen);
        drop(w.e.start_domains(&mut w.xen));
    }
    let priv_domid = w.e.config().priv_domid;
    w.peers[0].start(dom0_socket, priv_domid, true, !setup.dom0_lazy);
    w.platform("start-up");
    w.begin();
    w.msg.extend_from_slice(b"/local/domain\0");
    w.finish(0, MsgType::Write, 0, 0);
    let guests = 1 + u16::from(setup.guests % 8);
    for d in 1..=guests {
        if sem != Semantics::GetDomainState421 {
            w.introduce(d, 1);
        }
        w.make_home(d);
    }

    for _ in 0..MAX_OPS {
        if u.is_empty() || w.requests_left == 0 {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        if STATS.load(SeqCst) {
            eprintln!("engine_heap: {:>7} {op:?}", meter());
        }
        w.op(op);
    }

    if STATS.load(SeqCst) {
        let o = &w.oracle;
        let kib = |b: usize| b / 1024;
        eprintln!(
            "engine_heap: {sem:?}, ballast {} KiB, peak {} KiB (guests' limit {} KiB, \
             limit {} KiB), end {} KiB, {} guest steps checked, {} ENOMEM, {} requests",
            kib(ballast_bytes),
            kib(o.peak),
            kib(gl),
            kib(o.budget.limit),
            kib(meter()),
            o.guest_checks,
            w.enomem,
            MAX_REQUESTS - w.requests_left
        );
    }
    // Tear down while still counting (frees only), then stop.
    drop(w);
    drop(ballast);
    CAP.store(usize::MAX, SeqCst);
    let end = LIVE.load(SeqCst);
    assert_eq!(end, start, "a run leaked {} bytes", end.wrapping_sub(start) as isize);
}

fuzz_target!(|data: &[u8]| {
    install_panic_hook();
    run(data);
});
