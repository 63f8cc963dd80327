//! Request dispatch: the `MsgType → handler + flags` table and the node
//! handlers (`READ`, `WRITE`, `MKDIR`, `RM`, `DIRECTORY[_PART]`,
//! `GET/SET_PERMS`, `WATCH`, `UNWATCH`, transactions).
//!
//! As C's `wire_funcs[]`: unknown types get `ENOSYS`, privileged-only
//! types `EACCES` for others, and an unknown transaction id `ENOENT`;
//! these checks run once, before any handler. Handlers return the reply
//! payload or an [`Error`]; [`Engine::process`] turns either into one
//! queued message (errors as `XS_ERROR "<NAME>\0"`), and replies over
//! `XENSTORE_PAYLOAD_MAX` become `E2BIG` (XSA-72).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use ring::wire::{Header, MsgType, XENSTORE_PAYLOAD_MAX, XENSTORE_SERVER_FEATURE_WATCHDEPTH};

use crate::conn::{encode, OutMsg};
use crate::engine::{ConnId, DomId, Engine, Pending, Platform};
use crate::error::Error;
use crate::node::Node;
use crate::path;
use crate::perms::{self, heapless_fmt, Who, PERM_OWNER, PERM_READ, PERM_WRITE};
use crate::quota::Quota;
use crate::watch::{Match, Watch};

/// The context of one request.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    /// The connection it came from.
    pub conn: ConnId,
    /// Who is asking.
    pub who: Who,
    /// Its transaction, if any.
    pub tx: Option<u32>,
    /// Serial for `outstanding` accounting (unprivileged callers only).
    pub serial: Option<u64>,
}

/// A successful reply.
pub struct Reply {
    /// Payload of the reply (same type as the request).
    pub payload: Vec<u8>,
    /// A watch event to queue on the caller after the reply (`XS_WATCH`).
    pub then_event: Option<(String, String)>,
}

impl Reply {
    /// A plain payload.
    pub fn data(payload: Vec<u8>) -> Reply {
        Reply { payload, then_event: None }
    }

    /// `"OK\0"`.
    pub fn ok() -> Reply {
        Reply::data(Vec::from(&b"OK\0"[..]))
    }

    /// A NUL-terminated string.
    pub fn string(s: &str) -> Reply {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        Reply::data(v)
    }
}

/// A handler.
pub type Handler = fn(&mut Engine, &Req, &[u8], &mut dyn Platform) -> Result<Reply, Error>;

/// Handler flags.
pub struct Entry {
    /// The handler.
    pub handler: Handler,
    /// Only the privileged domain may call it.
    pub privileged: bool,
    /// The transaction id is ignored (`WATCH`, `UNWATCH`).
    pub no_tx: bool,
}

const fn e(handler: Handler) -> Option<Entry> {
    Some(Entry { handler, privileged: false, no_tx: false })
}

const fn p(handler: Handler) -> Option<Entry> {
    Some(Entry { handler, privileged: true, no_tx: false })
}

const fn n(handler: Handler) -> Option<Entry> {
    Some(Entry { handler, privileged: false, no_tx: true })
}

/// The dispatch table, indexed by message type number.
pub static TABLE: [Option<Entry>; 27] = [
    p(crate::control::do_control), // 0 CONTROL
    e(do_directory),               // 1
    e(do_read),                    // 2
    e(do_get_perms),               // 3
    n(do_watch),                   // 4
    n(do_unwatch),                 // 5
    e(do_tx_start),                // 6
    e(do_tx_end),                  // 7
    p(crate::domain::do_introduce),
    p(crate::domain::do_release),
    e(crate::domain::do_get_domain_path),
    e(do_write),     // 11
    e(do_mkdir),     // 12
    e(do_rm),        // 13
    e(do_set_perms), // 14
    None,            // 15 WATCH_EVENT
    None,            // 16 ERROR
    p(crate::domain::do_is_domain_introduced),
    p(crate::domain::do_resume),
    p(crate::domain::do_set_target),
    None, // 20 (was RESTRICT)
    e(do_reset_watches),
    e(do_directory_part),
    e(crate::domain::do_get_feature),
    p(crate::domain::do_set_feature),
    p(crate::domain::do_get_quota),
    p(crate::domain::do_set_quota),
];

// ---- argument parsing (C get_string/get_strings/onearg/atoi) ----

/// The NUL-terminated strings at the start of `payload` (trailing bytes
/// without a NUL are ignored, as C `get_strings`).
pub fn strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = payload.iter().rposition(|&c| c == 0).map_or(0, |i| i + 1);
    payload
        .get(..end)
        .unwrap_or(&[])
        .split(|&c| c == 0)
        .take(payload.get(..end).map_or(0, |s| s.iter().filter(|&&c| c == 0).count()))
}

/// Number of NUL-terminated strings.
pub fn count_strings(payload: &[u8]) -> usize {
    payload.iter().filter(|&&c| c == 0).count()
}

/// The single argument: the payload must hold exactly one NUL, at the end.
pub fn onearg(payload: &[u8]) -> Result<&[u8], Error> {
    match payload.split_last() {
        Some((0, arg)) if !arg.contains(&0) => Ok(arg),
        _ => Err(Error::Inval),
    }
}

/// C `atoi`: optional spaces and sign, then digits; garbage gives 0.
pub fn atoi(s: &[u8]) -> i64 {
    let mut it = s.iter().copied().skip_while(|c| c.is_ascii_whitespace()).peekable();
    let neg = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for c in it {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Formats a number without allocating.
pub fn num(v: impl core::fmt::Display) -> heapless_fmt::Buf {
    let mut b = heapless_fmt::Buf::new();
    let _ = write!(b, "{v}");
    b
}

impl Engine {
    /// The access identity of a connection's domain.
    pub(crate) fn who(&self, domid: DomId, target: Option<DomId>) -> Who {
        Who { domid, target, privileged: self.is_privileged(domid) }
    }

    /// Handles one complete request from `conn`.
    pub(crate) fn process(
        &mut self,
        conn: ConnId,
        hdr: Header,
        payload: &[u8],
        platform: &mut dyn Platform,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.stats.requests = self.stats.requests.saturating_add(1);
        let who = self.who(c.domid, c.target);
        let serial = (!who.privileged).then(|| {
            let s = self.next_req;
            self.next_req = self.next_req.wrapping_add(1);
            self.pending.insert(s, Pending { domid: who.domid, events: 0, reply_done: false });
            s
        });
        let mut req = Req { conn, who, tx: None, serial };
        let result = match TABLE.get(hdr.ty as usize).and_then(Option::as_ref) {
            None => Err(Error::NoSys),
            Some(entry) if entry.privileged && !who.privileged => Err(Error::Access),
            Some(entry) => {
                let tx_ok = if entry.no_tx || hdr.tx_id == 0 {
                    Ok(())
                } else if self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.txs.iter().any(|t| t.id == hdr.tx_id))
                {
                    req.tx = Some(hdr.tx_id);
                    Ok(())
                } else {
                    Err(Error::NoEnt)
                };
                tx_ok.and_then(|()| (entry.handler)(self, &req, payload, platform))
            }
        };
        let (ty, body, then_event) = match result {
            Ok(r) if r.payload.len() > XENSTORE_PAYLOAD_MAX => {
                (MsgType::Error as u32, err_payload(Error::TooBig), None)
            }
            Ok(r) => (hdr.ty, r.payload, r.then_event),
            Err(e) => {
                if e == Error::Quota {
                    self.stats.quota_hits = self.stats.quota_hits.saturating_add(1);
                }
                (MsgType::Error as u32, err_payload(e), None)
            }
        };
        let bytes = encode(ty, hdr.req_id, hdr.tx_id, &body);
        self.queue_out(conn, OutMsg { bytes, event: false, expire_ms: None, req: serial });
        if let Some((p, t)) = then_event {
            self.send_event(None, conn, &p, &t);
        }
    }

    /// Canonicalises a path argument and applies the `path-max` quota.
    pub(crate) fn canon(
        &mut self,
        req: &Req,
        raw: &[u8],
        special: bool,
    ) -> Result<(String, bool), Error> {
        let c = path::canonicalize(raw, req.who.domid, special)?;
        if !req.who.privileged {
            let q = self.domain_mut(req.who.domid).quotas.clone();
            if q.exceeds(Quota::PathMax, path::quota_len(&c.path) as u64) {
                return Err(Error::BadPath);
            }
        }
        Ok((c.path.into_owned(), c.relative))
    }

    /// C `get_node` + `get_node_chk_perm`: Ok if the node exists and the
    /// caller has `perm`; otherwise `EACCES`, or `ENOENT` only when the
    /// closest existing ancestor would grant `perm` (so a missing node
    /// under an unreadable parent reveals nothing).
    pub(crate) fn check_node(&mut self, req: &Req, p: &str, perm: u8) -> Result<(), Error> {
        self.note_read(req, p)?;
        let err = match self.peek(req, p) {
            Some(n) if perms::perm_for(&req.who, &n.perms) & perm == perm => return Ok(()),
            Some(_) => Error::Access,
            None => Error::NoEnt,
        };
        // errno_from_parents: ask the nearest existing ancestor.
        let mut cur = String::from(p);
        loop {
            if cur == "/" {
                return Err(Error::Access);
            }
            cur = String::from(path::parent(&cur));
            self.note_read(req, &cur)?;
            if let Some(n) = self.peek(req, &cur) {
                let pp = perms::perm_for(&req.who, &n.perms);
                return Err(if pp & perm != 0 { err } else { Error::Access });
            }
        }
    }

    /// Creates `p` and any missing ancestors with `value` (C
    /// `construct_node` + `create_node`): new nodes inherit their parent's
    /// permissions, and an unprivileged creator becomes their owner.
    pub(crate) fn create_node(&mut self, req: &Req, p: &str, value: &[u8]) -> Result<(), Error> {
        // Walk up until an existing node is found.
        let mut missing: Vec<String> = Vec::new();
        let mut cur = String::from(p);
        let parent_path = loop {
            missing.push(cur.clone());
            if cur == "/" {
                return Err(Error::NoEnt);
            }
            let parent = String::from(path::parent(&cur));
            self.note_read(req, &parent)?;
            if self.peek(req, &parent).is_some() {
                break parent;
            }
            cur = parent;
        };
        if !req.who.privileged {
            let d = self.domain_mut(req.who.domid);
            let after = d.usage.get(Quota::Nodes).saturating_add(missing.len() as u64);
            if d.quotas.exceeds(Quota::Nodes, after) {
                return Err(Error::Quota);
            }
        }
        let mut parent = self.peek(req, &parent_path).cloned().ok_or(Error::NoEnt)?;
        let mut perms = parent.perms.clone();
        if !req.who.privileged {
            if let Some(first) = perms.first_mut() {
                first.id = req.who.domid.0;
            }
        }
        let mut leaf = Node::new(perms.clone());
        leaf.value = value.into();
        if !req.who.privileged {
            let q = self.domain_mut(req.who.domid).quotas.clone();
            if q.exceeds(Quota::NodeSize, leaf.size() as u64) {
                return Err(Error::Quota);
            }
        }
        // Top-most missing node is last in `missing`.
        let mut pending_parent = parent_path;
        for (i, m) in missing.iter().rev().enumerate() {
            parent.add_child(path::basename(m));
            let written = self.put_node(req, &pending_parent, parent);
            if let Err(e) = written {
                self.fail_tx(req);
                return Err(e);
            }
            let node = if i + 1 == missing.len() { leaf.clone() } else { Node::new(perms.clone()) };
            parent = node;
            pending_parent = m.clone();
        }
        let r = self.put_node(req, &pending_parent, parent);
        if r.is_err() {
            self.fail_tx(req);
        }
        r
    }

    fn fail_tx(&mut self, req: &Req) {
        if let Some(id) = req.tx {
            if let Some(t) =
                self.conns.get_mut(&req.conn).and_then(|c| c.txs.iter_mut().find(|t| t.id == id))
            {
                t.fail = true;
            }
        }
    }

    /// Removes `p` and its subtree through the caller's view, firing
    /// watches children-first; then unlinks it from its parent.
    pub(crate) fn rm_node(&mut self, req: &Req, p: &str) -> Result<(), Error> {
        let parent_path = String::from(path::parent(p));
        self.note_read(req, &parent_path)?;
        if self.peek(req, &parent_path).is_none() {
            return Err(Error::Inval);
        }
        // Iterative post-order walk (XSA-418).
        let mut order: Vec<String> = Vec::new();
        let mut stack: Vec<(String, usize)> = Vec::new();
        stack.push((String::from(p), 0));
        while let Some((cur, off)) = stack.pop() {
            self.note_read(req, &cur)?;
            let next = self.peek(req, &cur).and_then(|n| {
                let rest = n.children.get(off..)?;
                let len = rest.iter().position(|&c| c == 0)?;
                let name = core::str::from_utf8(rest.get(..len)?).ok()?;
                Some((String::from(name), off + len + 1))
            });
            match next {
                Some((name, next_off)) => {
                    let child = path::child(&cur, &name);
                    stack.push((cur, next_off));
                    stack.push((child, 0));
                }
                None => {
                    if self.peek(req, &cur).is_some() {
                        order.push(cur);
                    }
                }
            }
        }
        for cur in &order {
            let perms = self.peek(req, cur).map(|n| n.perms.clone());
            self.drop_node(req, cur)?;
            let m = if cur == p { Match::Subtree } else { Match::Exact };
            self.notify(req, cur, perms.as_deref(), m, None);
        }
        if let Some(mut parent) = self.peek(req, &parent_path).cloned() {
            parent.remove_child(path::basename(p));
            self.put_node(
                &Req { who: Who { privileged: true, ..req.who }, ..*req },
                &parent_path,
                parent,
            )?;
        }
        Ok(())
    }
}

fn err_payload(e: Error) -> Vec<u8> {
    let mut v = Vec::from(e.xs().as_str().as_bytes());
    v.push(0);
    v
}

fn do_read(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (p, _) = e.canon(req, onearg(payload)?, false)?;
    e.check_node(req, &p, PERM_READ)?;
    Ok(Reply::data(e.peek(req, &p).map(|n| Vec::from(&*n.value)).unwrap_or_default()))
}

fn do_write(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let nul = payload.iter().position(|&c| c == 0).ok_or(Error::Inval)?;
    let (raw, value) = (payload.get(..nul).unwrap_or(&[]), payload.get(nul + 1..).unwrap_or(&[]));
    let (p, _) = e.canon(req, raw, false)?;
    match e.check_node(req, &p, PERM_WRITE) {
        Ok(()) => {
            let mut node = e.peek(req, &p).cloned().ok_or(Error::NoEnt)?;
            node.value = value.into();
            e.put_node(req, &p, node)?;
        }
        Err(Error::NoEnt) => e.create_node(req, &p, value)?,
        Err(err) => return Err(err),
    }
    let perms = e.peek(req, &p).map(|n| n.perms.clone());
    e.notify(req, &p, perms.as_deref(), Match::Subtree, None);
    Ok(Reply::ok())
}

fn do_mkdir(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (p, _) = e.canon(req, onearg(payload)?, false)?;
    match e.check_node(req, &p, PERM_WRITE) {
        Ok(()) => {}
        Err(Error::NoEnt) => {
            e.create_node(req, &p, &[])?;
            let perms = e.peek(req, &p).map(|n| n.perms.clone());
            e.notify(req, &p, perms.as_deref(), Match::Subtree, None);
        }
        Err(err) => return Err(err),
    }
    Ok(Reply::ok())
}

fn do_rm(e: &mut Engine, req: &Req, payload: &[u8], _: &mut dyn Platform) -> Result<Reply, Error> {
    let (p, _) = e.canon(req, onearg(payload)?, false)?;
    match e.check_node(req, &p, PERM_WRITE) {
        Ok(()) => {}
        Err(Error::NoEnt) => {
            let parent = String::from(path::parent(&p));
            e.note_read(req, &parent)?;
            return if e.peek(req, &parent).is_some() {
                Ok(Reply::ok())
            } else {
                Err(Error::NoEnt)
            };
        }
        Err(err) => return Err(err),
    }
    if p == "/" {
        return Err(Error::Inval);
    }
    e.rm_node(req, &p)?;
    Ok(Reply::ok())
}

fn do_directory(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (p, _) = e.canon(req, onearg(payload)?, false)?;
    e.check_node(req, &p, PERM_READ)?;
    Ok(Reply::data(e.peek(req, &p).map(|n| n.children.clone()).unwrap_or_default()))
}

fn do_directory_part(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    if count_strings(payload) != 2 {
        return Err(Error::Inval);
    }
    let mut args = strings(payload);
    let raw = args.next().ok_or(Error::Inval)?;
    let off_arg = args.next().ok_or(Error::Inval)?;
    let (p, _) = e.canon(req, raw, false)?;
    e.check_node(req, &p, PERM_READ)?;
    let node = e.peek(req, &p).ok_or(Error::NoEnt)?;
    // C: `off = atoi(...)` stored in an unsigned int.
    let off = atoi(off_arg) as i32 as u32 as usize;
    let gen = num(node.generation);
    let mut out = Vec::from(gen.as_bytes());
    out.push(0);
    let children = &node.children;
    if off >= children.len() {
        out.push(0);
        return Ok(Reply::data(out));
    }
    let maxlen = XENSTORE_PAYLOAD_MAX.saturating_sub(out.len()).saturating_sub(1);
    let mut len = 0usize;
    let rest = children.get(off..).unwrap_or(&[]);
    loop {
        let tail = rest.get(len..).unwrap_or(&[]);
        let clen = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        if len + clen >= maxlen {
            break;
        }
        len += clen + 1;
        if off + len >= children.len() {
            break;
        }
    }
    out.extend_from_slice(rest.get(..len).unwrap_or(&[]));
    if off + len >= children.len() {
        out.push(0);
    }
    Ok(Reply::data(out))
}

fn do_get_perms(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let (p, _) = e.canon(req, onearg(payload)?, true)?;
    e.check_node(req, &p, PERM_READ)?;
    let mut out = Vec::new();
    if let Some(n) = e.peek(req, &p) {
        perms::format(&n.perms, &mut out);
    }
    Ok(Reply::data(out))
}

fn do_set_perms(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let count = count_strings(payload);
    if count < 2 {
        return Err(Error::Inval);
    }
    if !req.who.privileged {
        let q = e.domain_mut(req.who.domid).quotas.clone();
        if q.exceeds(Quota::NodePermissions, (count - 1) as u64) {
            return Err(Error::Quota);
        }
    }
    let mut args = strings(payload);
    let raw = args.next().ok_or(Error::Inval)?;
    let new: Vec<perms::Perm> = args.map(perms::parse_one).collect::<Result<_, _>>()?;
    let (p, _) = e.canon(req, raw, true)?;
    e.check_node(req, &p, PERM_WRITE | PERM_OWNER)?;
    let mut node = e.peek(req, &p).cloned().ok_or(Error::NoEnt)?;
    let new_owner = new.first().map(|x| x.id).ok_or(Error::Inval)?;
    if !req.who.privileged && new_owner != node.owner() {
        return Err(Error::Perm);
    }
    let old = node.perms.clone();
    node.perms = new.into_boxed_slice();
    e.put_node(req, &p, node)?;
    let perms = e.peek(req, &p).map(|n| n.perms.clone());
    e.notify(req, &p, perms.as_deref(), Match::Subtree, Some(&old));
    Ok(Reply::ok())
}

fn do_watch(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let n = count_strings(payload);
    let features = e.domain_features(req.who.domid);
    let depth = if n == 3 && features & XENSTORE_SERVER_FEATURE_WATCHDEPTH != 0 {
        let d = strings(payload).nth(2).map(atoi).unwrap_or(0);
        Some(u32::try_from(d).map_err(|_| Error::Inval)?)
    } else if n != 2 {
        return Err(Error::Inval);
    } else {
        None
    };
    let mut args = strings(payload);
    let raw = args.next().ok_or(Error::Inval)?;
    let token = core::str::from_utf8(args.next().ok_or(Error::Inval)?).map_err(|_| Error::Inval)?;
    let (p, relative) = e.canon(req, raw, true)?;
    let c = e.conns.get(&req.conn).ok_or(Error::NoEnt)?;
    if c.watches.iter().any(|w| w.path == p && w.token == token) {
        return Err(Error::Exist);
    }
    let prefix_len = if relative { path::domain_path(req.who.domid).len() + 1 } else { 0 };
    let w = Watch { path: p, token: String::from(token), prefix_len, depth };
    if !req.who.privileged {
        let d = e.domain_mut(req.who.domid);
        if d.quotas.exceeds(Quota::Watches, d.usage.get(Quota::Watches).saturating_add(1)) {
            return Err(Error::Quota);
        }
        let mem = d.usage.get(Quota::Memory).saturating_add(w.size() as u64);
        if d.quotas.exceeds(Quota::Memory, mem) {
            return Err(Error::NoMem);
        }
    }
    let shown = String::from(w.path.get(prefix_len..).unwrap_or(&w.path));
    let token = w.token.clone();
    let d = e.domain_mut(req.who.domid);
    d.usage.add(Quota::Watches, 1);
    d.usage.add(Quota::Memory, w.size() as i64);
    if let Some(c) = e.conns.get_mut(&req.conn) {
        c.watches.push(w);
    }
    Ok(Reply { payload: Vec::from(&b"OK\0"[..]), then_event: Some((shown, token)) })
}

fn do_unwatch(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    if count_strings(payload) != 2 {
        return Err(Error::Inval);
    }
    let mut args = strings(payload);
    let raw = args.next().ok_or(Error::Inval)?;
    let token = args.next().ok_or(Error::Inval)?;
    let (p, _) = e.canon(req, raw, true)?;
    let c = e.conns.get_mut(&req.conn).ok_or(Error::NoEnt)?;
    let i = c
        .watches
        .iter()
        .position(|w| w.path == p && w.token.as_bytes() == token)
        .ok_or(Error::NoEnt)?;
    let w = c.watches.remove(i);
    let d = e.domain_mut(req.who.domid);
    d.usage.add(Quota::Watches, -1);
    d.usage.add(Quota::Memory, -(w.size() as i64));
    Ok(Reply::ok())
}

fn do_tx_start(e: &mut Engine, req: &Req, _: &[u8], _: &mut dyn Platform) -> Result<Reply, Error> {
    let id = e.tx_start(req)?;
    Ok(Reply::string(core::str::from_utf8(num(id).as_bytes()).unwrap_or("0")))
}

fn do_tx_end(
    e: &mut Engine,
    req: &Req,
    payload: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    let commit = match onearg(payload) {
        Ok(b"T") => true,
        Ok(b"F") => false,
        _ => return Err(Error::Inval),
    };
    e.tx_end(req, commit)?;
    Ok(Reply::ok())
}

fn do_reset_watches(
    e: &mut Engine,
    req: &Req,
    _: &[u8],
    _: &mut dyn Platform,
) -> Result<Reply, Error> {
    e.delete_all_watches(req.conn);
    e.delete_all_transactions(req.conn);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_helpers_follow_c() {
        assert_eq!(onearg(b"/a\0"), Ok(&b"/a"[..]));
        assert_eq!(onearg(b"/a"), Err(Error::Inval));
        assert_eq!(onearg(b"/a\0b\0"), Err(Error::Inval));
        assert_eq!(onearg(b""), Err(Error::Inval));
        assert_eq!(strings(b"a\0b\0c").collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(atoi(b"12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
    }

    #[test]
    fn table_matches_wire_numbers() {
        assert!(TABLE.get(MsgType::Read as usize).is_some_and(Option::is_some));
        assert!(TABLE.get(15).is_some_and(Option::is_none));
        assert!(TABLE.get(20).is_some_and(Option::is_none));
        assert!(TABLE.get(26).is_some_and(|e| e.as_ref().is_some_and(|e| e.privileged)));
        assert!(TABLE.get(27).is_none());
    }
}
