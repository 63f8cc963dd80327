//! Test harness: a model platform and a client speaking raw wire bytes.
#![allow(dead_code)]

pub mod counting;
pub mod dump;

use ring::wire::MsgType;
use ring::wire::{Header, HEADER_SIZE};
use store::{
    Config, ConnId, DomId, DomainInfo, DomainState, Engine, MapError, MapRequest, Platform,
};

/// A request type as the helpers take it: a [`MsgType`], or a raw number
/// for the tests of unknown types.
pub trait WireType {
    fn wire(self) -> u32;
}

impl WireType for MsgType {
    fn wire(self) -> u32 {
        self as u32
    }
}

impl WireType for u32 {
    fn wire(self) -> u32 {
        self
    }
}

#[derive(Default)]
pub struct Model {
    pub states: std::collections::HashMap<u16, DomainState>,
    pub mapped: Vec<ConnId>,
    pub fail_map: bool,
    /// How many times each connection's ring was unmapped.
    pub unmaps: std::collections::HashMap<ConnId, u32>,
    /// Xen 4.21+ unique ids to report (none: a ≤ 4.20 hypervisor).
    pub uids: std::collections::HashMap<u16, u64>,
    /// Every ring taken over by `Engine::restore`, in order.
    pub restored: Vec<store::RestoreRing>,
    /// A stub domain: live update takes a kernel (`-b`, `-d`), not a file.
    pub stub: bool,
}

impl Platform for Model {
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        if self.fail_map {
            return Err(MapError);
        }
        self.mapped.push(ring.conn);
        Ok(())
    }
    fn restore_ring(&mut self, ring: store::RestoreRing) -> Result<(), MapError> {
        if self.fail_map {
            return Err(MapError);
        }
        self.mapped.push(ring.conn);
        self.restored.push(ring);
        Ok(())
    }
    fn unmap_ring(&mut self, conn: ConnId) {
        self.mapped.retain(|c| *c != conn);
        *self.unmaps.entry(conn).or_default() += 1;
    }
    /// A daemon's `-f FILE`: `missing` is not there, anything else is
    /// the new binary.
    fn live_update_arch(&mut self, args: &[&str]) -> store::LuArch {
        if self.stub {
            return store::image_arch(args);
        }
        match args {
            ["-f", "missing"] => store::LuArch::Refused("File not accessible."),
            ["-f", file] => store::LuArch::Binary(file.to_string()),
            _ => store::LuArch::Invalid,
        }
    }
    fn domain_info(&mut self, domid: DomId) -> DomainInfo {
        let mut info = DomainInfo::of_state(
            self.states.get(&domid.0).copied().unwrap_or(DomainState::Running),
        );
        info.unique_id = self.uids.get(&domid.0).copied();
        info
    }
}

pub struct World {
    pub stash: Vec<(ConnId, Msg)>,
    pub e: Engine,
    pub pf: Model,
    pub now: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub ty: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub body: Vec<u8>,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl World {
    pub fn new() -> World {
        World::with(Config::default())
    }

    pub fn with(cfg: Config) -> World {
        World::restored(Engine::new(cfg), Model::default(), 0)
    }

    /// A world serving `e` (restored from a stream onto `pf`) at `now`.
    pub fn restored(e: Engine, pf: Model, now: u64) -> World {
        World { stash: Vec::new(), e, pf, now }
    }

    pub fn sock(&mut self) -> ConnId {
        self.e.connect_socket().unwrap()
    }

    pub fn dom(&mut self, d: u16) -> ConnId {
        self.e.introduce(DomId(d), 0, 1, &mut self.pf).unwrap()
    }

    pub fn send(&mut self, c: ConnId, ty: impl WireType, tx: u32, payload: &[u8]) {
        let b = request(ty, 42, tx, payload);
        let n = self.e.input(c, &b, self.now, &mut self.pf).unwrap();
        assert_eq!(n, b.len(), "input not fully consumed");
    }

    /// Drains every queued message of `c`.
    pub fn recv_all(&mut self, c: ConnId) -> Vec<Msg> {
        drain(&mut self.e, c)
    }

    /// Sends a request and returns its reply (events are kept aside).
    pub fn req(&mut self, c: ConnId, ty: impl WireType, tx: u32, payload: &[u8]) -> Msg {
        self.send(c, ty, tx, payload);
        let msgs = self.recv_all(c);
        let mut reply = None;
        for m in msgs {
            if m.ty == MsgType::WatchEvent as u32 {
                self.stash.push((c, m));
            } else if reply.is_none() {
                reply = Some(m);
            }
        }
        reply.expect("no reply")
    }

    pub fn events(&mut self, c: ConnId) -> Vec<(String, String)> {
        let mut all: Vec<Msg> = Vec::new();
        let stash = std::mem::take(&mut self.stash);
        for (sc, m) in stash {
            if sc == c {
                all.push(m);
            } else {
                self.stash.push((sc, m));
            }
        }
        all.extend(self.recv_all(c));
        all.into_iter()
            .filter(|m| m.ty == MsgType::WatchEvent as u32)
            .map(|m| {
                let parts: Vec<&[u8]> = m.body.split(|&b| b == 0).collect();
                (
                    String::from_utf8_lossy(parts[0]).into_owned(),
                    String::from_utf8_lossy(parts[1]).into_owned(),
                )
            })
            .collect()
    }

    pub fn write(&mut self, c: ConnId, path: &str, val: &str) -> Msg {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(val.as_bytes());
        self.req(c, MsgType::Write, 0, &p)
    }

    pub fn write_tx(&mut self, c: ConnId, tx: u32, path: &str, val: &str) -> Msg {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(val.as_bytes());
        self.req(c, MsgType::Write, tx, &p)
    }

    pub fn one(&mut self, c: ConnId, ty: impl WireType, tx: u32, arg: &str) -> Msg {
        let mut p = arg.as_bytes().to_vec();
        p.push(0);
        self.req(c, ty, tx, &p)
    }

    pub fn args(&mut self, c: ConnId, ty: impl WireType, tx: u32, args: &[&str]) -> Msg {
        let mut p = Vec::new();
        for a in args {
            p.extend_from_slice(a.as_bytes());
            p.push(0);
        }
        self.req(c, ty, tx, &p)
    }

    pub fn read(&mut self, c: ConnId, path: &str) -> Msg {
        self.one(c, MsgType::Read, 0, path)
    }

    /// One `name value` field of the memory report's line for `domid`
    /// (0 when the domain has no record).
    pub fn usage(&self, domid: u16, name: &str) -> u64 {
        let rep = self.e.memreport();
        let prefix = format!("domain {domid}: ");
        let Some(line) = rep.lines().find(|l| l.starts_with(&prefix)) else {
            return 0;
        };
        let words: Vec<&str> = line[prefix.len()..].split(' ').collect();
        let i = words.iter().position(|w| *w == name).expect("no such usage field");
        words[i + 1].parse().unwrap()
    }

    /// The memory report's total of queued output bytes.
    pub fn queued_bytes(&self) -> u64 {
        let rep = self.e.memreport();
        let line = rep.lines().find(|l| l.starts_with("queued output: ")).unwrap();
        line["queued output: ".len()..].trim_end_matches(" bytes").parse().unwrap()
    }

    /// The memory report's node count.
    pub fn node_count(&self) -> u64 {
        let rep = self.e.memreport();
        let line = rep.lines().find(|l| l.starts_with("nodes: ")).unwrap();
        line["nodes: ".len()..].split(' ').next().unwrap().parse().unwrap()
    }

    /// Sends raw bytes, returning how many the engine consumed.
    pub fn raw(&mut self, c: ConnId, bytes: &[u8]) -> Result<usize, store::ProtoError> {
        self.e.input(c, bytes, self.now, &mut self.pf)
    }

    pub fn start(&mut self, c: ConnId) -> u32 {
        let r = self.req(c, MsgType::TransactionStart, 0, b"\0");
        assert_eq!(r.ty, MsgType::TransactionStart as u32, "{}", r.text());
        r.text().trim_end_matches('\0').parse().unwrap()
    }
}

/// A world with dom0's socket `s` and guest 5 (`d`) owning its home
/// `/local/domain/5`; returns `(world, s, d)`.
pub fn guest_5_world() -> (World, ConnId, ConnId) {
    guest_5_world_with(Config::default())
}

/// [`guest_5_world`] with `cfg`.
pub fn guest_5_world_with(cfg: Config) -> (World, ConnId, ConnId) {
    let mut w = World::with(cfg);
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    (w, s, d)
}

/// A path `depth` components deep under `top` (`top/a/…/a`),
/// NUL-terminated, as a request's argument.
pub fn deep(top: &str, depth: usize) -> Vec<u8> {
    let mut p = String::from(top);
    for _ in 1..depth {
        p.push_str("/a");
    }
    p.push('\0');
    p.into_bytes()
}

/// One request on the wire: header, then `payload`.
pub fn request(ty: impl WireType, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let h = Header { ty: ty.wire(), req_id, tx_id: tx, len: payload.len() as u32 };
    let mut b = h.to_bytes().to_vec();
    b.extend_from_slice(payload);
    b
}

/// Takes every message the engine has queued for `c`.
pub fn drain(e: &mut Engine, c: ConnId) -> Vec<Msg> {
    let mut bytes = Vec::new();
    loop {
        let out = e.output(c).to_vec();
        if out.is_empty() {
            break;
        }
        e.output_done(c, out.len());
        bytes.extend(out);
    }
    let mut msgs = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= HEADER_SIZE {
        let h = Header::from_bytes(rest[..HEADER_SIZE].try_into().unwrap());
        let end = HEADER_SIZE + h.len as usize;
        msgs.push(Msg {
            ty: h.ty,
            req_id: h.req_id,
            tx_id: h.tx_id,
            body: rest[HEADER_SIZE..end].to_vec(),
        });
        rest = &rest[end..];
    }
    msgs
}

pub fn ok(m: &Msg) {
    assert_eq!((m.ty, m.body.as_slice()), (m.ty, &b"OK\0"[..]), "expected OK, got {m:?}");
    assert_ne!(m.ty, MsgType::Error as u32, "{}", m.text());
}

pub fn err(m: &Msg, name: &str) {
    assert_eq!(m.ty, MsgType::Error as u32, "expected {name}, got {m:?}");
    assert_eq!(m.text(), format!("{name}\0"));
}
