//! Replays an `Arbitrary` list of operations against `store::Engine`, from
//! one privileged socket connection and up to eight fake guest domains,
//! through the public sans-I/O API documented in `DESIGN.md`.
//!
//! Checks: no panic; `input` never claims more bytes than given; every byte
//! the engine queues for output frames into well-formed messages (header
//! `len <= 4096`, a valid type); a connection that hit a protocol error
//! stops wanting input.
//!
//! Requests are built from a small vocabulary of types, paths and values so
//! the fuzzer reaches deep states (transactions, watches, quotas, domain
//! lifecycle) instead of spending its time on `EINVAL`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ring::decode::Decoder;
use ring::wire::{Header, MsgType, XENSTORE_PAYLOAD_MAX};
use store::fuzzing::{change_domain, check_output, FUZZ_DOMAINS};
use store::model::{HypervisorModel, Semantics};
use store::{Config, ConnId, DomId, Engine};

/// Paths the requests pick from (with their relative forms and watch
/// specials), so that writes, reads and watches meet.
const PATHS: &[&str] = &[
    "/",
    "/local",
    "/local/domain",
    "/local/domain/0",
    "/local/domain/1",
    "/local/domain/1/data",
    "/local/domain/1/data/x",
    "/local/domain/2/device/vif/0/state",
    "/tool",
    "/a",
    "/a/b",
    "/a/b/c",
    "data",
    "data/x",
    "device/vif/0",
    "@introduceDomain",
    "@releaseDomain",
    "/a//b",
    "/a/",
    "",
];

/// One argument of a request; each is written NUL-terminated.
#[derive(Arbitrary, Debug)]
enum Arg {
    /// One of [`PATHS`].
    Path(u8),
    /// A permission string such as `r1` or `b0`.
    Perm(u8, u8),
    /// A decimal number (domid, port, gfn, depth, quota value...).
    Num(u16),
    /// `T` or `F` (transaction end, feature flags).
    Flag(bool),
    /// Arbitrary bytes.
    Raw(Vec<u8>),
}

/// One step of the scenario.
#[derive(Arbitrary, Debug)]
enum Op {
    /// A well-framed request from connection `conn % conns`.
    Request { conn: u8, ty: u8, tx: u8, args: Vec<Arg>, nul_last: bool },
    /// Raw bytes (any framing) from a connection.
    Raw { conn: u8, bytes: Vec<u8> },
    /// Send the queued output of a connection, at most `max` bytes.
    Drain { conn: u8, max: u16 },
    /// The toolstack introduces domain `1 + domid % 8`.
    Introduce { domid: u8, port: u8 },
    /// Domain `1 + domid % 8` goes through a life-cycle change (created
    /// again, shut down, killed, dead, destroyed), then `VIRQ_DOM_EXC`
    /// fires.
    DomainState { domid: u8, state: u8 },
    /// Time passes.
    Tick { ms: u16 },
    /// A guest reconnects its ring.
    Reset { conn: u8 },
    /// Another privileged socket client connects.
    Connect,
    /// A socket client other than the first closes its connection.
    Disconnect { conn: u8 },
}

/// A connection as the scenario sees it.
struct Peer {
    id: ConnId,
    /// A socket client (else a domain's ring).
    socket: bool,
    /// Bytes not yet taken by `Engine::input` (flow control).
    pending: Vec<u8>,
    /// Frames the engine's output, to check it is well-formed.
    out: Box<Decoder>,
}

impl Peer {
    fn new(id: ConnId, socket: bool) -> Peer {
        Peer { id, socket, pending: Vec::new(), out: Box::new(Decoder::new()) }
    }
}

/// The scenario's state.
struct World {
    engine: Engine,
    /// The hypervisor: domains 0-8 exist at the start; domain 7's ring
    /// cannot be mapped, to exercise the failure path.
    xen: HypervisorModel,
    peers: Vec<Peer>,
    now_ms: u64,
    next_req: u32,
}

impl World {
    fn peer(&mut self, n: u8) -> Option<&mut Peer> {
        let len = self.peers.len();
        if len == 0 {
            return None;
        }
        self.peers.get_mut(usize::from(n) % len)
    }

    /// Queues `bytes` from peer `n` and lets the engine take what it will.
    fn send(&mut self, n: u8, bytes: &[u8]) {
        let Some(p) = self.peer(n) else { return };
        if p.pending.len() < 4 * XENSTORE_PAYLOAD_MAX {
            p.pending.extend_from_slice(bytes);
        }
        let id = p.id;
        self.feed(id);
    }

    /// Offers a connection's pending bytes to the engine.
    fn feed(&mut self, id: ConnId) {
        let Some(p) = self.peers.iter_mut().find(|p| p.id == id) else { return };
        if p.pending.is_empty() || !self.engine.wants_input(id) {
            return;
        }
        match self.engine.input(id, &p.pending, self.now_ms, &mut self.xen) {
            Ok(n) => {
                assert!(n <= p.pending.len(), "input consumed more than given");
                p.pending.drain(..n);
            }
            Err(_) => {
                assert!(!self.engine.wants_input(id), "an ignored connection wants input");
                p.pending.clear();
            }
        }
    }

    /// Sends up to `max` bytes of a connection's output and checks them.
    fn drain(&mut self, id: ConnId, max: usize) {
        let out = self.engine.output(id);
        let n = out.len().min(max);
        let Some(p) = self.peers.iter_mut().find(|p| p.id == id) else { return };
        check_output(&mut p.out, &out[..n], |_, _| {});
        self.engine.output_done(id, n);
    }

    /// Picks up connections the engine created for introduced domains.
    fn adopt_new_conns(&mut self) {
        let mapped: Vec<ConnId> = self.xen.mapped.keys().copied().collect();
        for id in mapped {
            if !self.peers.iter().any(|p| p.id == id) {
                self.peers.push(Peer::new(id, false));
            }
        }
    }

    /// Gives every connection a chance to make progress (as a platform's
    /// poll loop does after each event).
    fn pump(&mut self) {
        let mut ready = Vec::new();
        self.engine.take_ready(&mut ready);
        let ids: Vec<ConnId> = self.peers.iter().map(|p| p.id).collect();
        for id in ids {
            self.drain(id, usize::MAX);
            self.feed(id);
        }
    }
}

/// Builds a request payload from its arguments.
fn payload(args: &[Arg], nul_last: bool) -> Vec<u8> {
    let mut p = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a {
            Arg::Path(k) => p.extend_from_slice(PATHS[usize::from(*k) % PATHS.len()].as_bytes()),
            Arg::Perm(kind, dom) => {
                p.push(b"rwbn"[usize::from(*kind) % 4]);
                p.extend_from_slice((dom % 10).to_string().as_bytes());
            }
            Arg::Num(n) => p.extend_from_slice(n.to_string().as_bytes()),
            Arg::Flag(t) => p.push(if *t { b'T' } else { b'F' }),
            Arg::Raw(bytes) => p.extend_from_slice(bytes),
        }
        if i + 1 < args.len() || nul_last {
            p.push(0);
        }
    }
    p.truncate(XENSTORE_PAYLOAD_MAX);
    p
}

fuzz_target!(|ops: Vec<Op>| {
    let mut xen = HypervisorModel::new(Semantics::Getdomaininfo418);
    for d in 0..FUZZ_DOMAINS {
        xen.create(DomId(d));
    }
    xen.fail_map(DomId(7));
    let mut w = World {
        engine: Engine::new(Config::default()),
        xen,
        peers: Vec::new(),
        now_ms: 0,
        next_req: 1,
    };
    let dom0 = w.engine.connect_socket().expect("no budget: always");
    w.peers.push(Peer::new(dom0, true));
    for op in ops.into_iter().take(256) {
        match op {
            Op::Request { conn, ty, tx, args, nul_last } => {
                let ty = MsgType::ALL[usize::from(ty) % MsgType::ALL.len()] as u32;
                let body = payload(&args, nul_last);
                let h = Header {
                    ty,
                    req_id: w.next_req,
                    tx_id: u32::from(tx % 4),
                    len: body.len() as u32,
                };
                w.next_req = w.next_req.wrapping_add(1);
                let mut bytes = h.to_bytes().to_vec();
                bytes.extend_from_slice(&body);
                w.send(conn, &bytes);
            }
            Op::Raw { conn, bytes } => w.send(conn, &bytes),
            Op::Drain { conn, max } => {
                if let Some(id) = w.peer(conn).map(|p| p.id) {
                    w.drain(id, usize::from(max));
                }
            }
            Op::Introduce { domid, port } => {
                let body = format!("{}\0{}\0{}\0", 1 + domid % 8, 4096, port);
                let h = Header {
                    ty: MsgType::Introduce as u32,
                    req_id: 0,
                    tx_id: 0,
                    len: body.len() as u32,
                };
                let mut bytes = h.to_bytes().to_vec();
                bytes.extend_from_slice(body.as_bytes());
                w.send(0, &bytes);
            }
            Op::DomainState { domid, state } => {
                change_domain(&mut w.xen, DomId(u16::from(1 + domid % 8)), state);
                w.engine.check_domains(w.now_ms, &mut w.xen);
            }
            Op::Tick { ms } => {
                w.now_ms = w.now_ms.saturating_add(u64::from(ms) * 10);
                w.engine.tick(w.now_ms);
            }
            Op::Reset { conn } => {
                if let Some(p) = w.peer(conn).filter(|p| !p.socket) {
                    p.pending.clear();
                    p.out.clear();
                    let id = p.id;
                    w.engine.reset_connection(id);
                }
            }
            Op::Connect => {
                if w.peers.len() < 16 {
                    if let Some(id) = w.engine.connect_socket() {
                        w.peers.push(Peer::new(id, true));
                    }
                }
            }
            Op::Disconnect { conn } => {
                if let Some(id) = w.peer(conn).filter(|p| p.socket && p.id != dom0).map(|p| p.id) {
                    w.engine.disconnect(id, &mut w.xen);
                    w.peers.retain(|p| p.id != id);
                }
            }
        }
        w.adopt_new_conns();
        w.pump();
    }
});
