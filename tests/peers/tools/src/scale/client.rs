//! One xenstore connection, a Unix socket (dom0) or a guest's ring, with
//! the requests the workload makes. Watch events that arrive while a
//! reply is awaited are counted and dropped; error replies are counted by
//! name, and the caller decides which matter.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use xs_peer_tools::{
    Header, HEADER_BYTES, XENSTORE_PAYLOAD_MAX, XS_DIRECTORY_PART, XS_ERROR, XS_INTRODUCE,
    XS_MKDIR, XS_READ, XS_RELEASE, XS_RM, XS_SET_PERMS, XS_TRANSACTION_END, XS_TRANSACTION_START,
    XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};

/// Where a connection's bytes go and come from.
pub trait Link {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Appends what has arrived to `rx`, waiting until something has.
    fn fill(&mut self, rx: &mut Vec<u8>) -> io::Result<()>;
}

/// A dom0 client on the daemon's Unix socket.
pub struct Socket(UnixStream);

impl Socket {
    /// Connects to the daemon's socket.
    pub fn connect(path: &str) -> io::Result<Socket> {
        UnixStream::connect(path).map(Socket)
    }
}

impl Link for Socket {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn fill(&mut self, rx: &mut Vec<u8>) -> io::Result<()> {
        let mut buf = [0u8; 16384];
        let n = self.0.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the socket",
            ));
        }
        rx.extend_from_slice(&buf[..n]);
        Ok(())
    }
}

/// A reply: its type and payload.
pub struct Reply {
    /// `XS_*` type (`XS_ERROR` for an error).
    pub ty: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Reply {
    /// Whether the daemon refused the request.
    pub fn is_err(&self) -> bool {
        self.ty == XS_ERROR
    }

    /// The error's name (`EAGAIN`, ...), if it is one.
    pub fn err(&self) -> Option<String> {
        self.is_err()
            .then(|| String::from_utf8_lossy(&self.payload).trim_end_matches('\0').to_owned())
    }
}

/// What a connection counted.
#[derive(Default)]
pub struct Counts {
    /// Requests sent.
    pub requests: u64,
    /// Watch events received.
    pub events: u64,
    /// Error replies by name.
    pub errors: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.events += other.events;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// A connection with one request in flight at a time.
pub struct Client<L: Link> {
    link: L,
    rx: Vec<u8>,
    out: Vec<u8>,
    req_id: u32,
    /// What it counted.
    pub counts: Counts,
}

/// `s` and a NUL.
fn z(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

impl<L: Link> Client<L> {
    /// A client over `link`.
    pub fn new(link: L) -> Client<L> {
        Client { link, rx: Vec::new(), out: Vec::new(), req_id: 0, counts: Counts::default() }
    }

    /// The link (tests look at what was sent).
    #[cfg(test)]
    pub fn link_ref(&self) -> &L {
        &self.link
    }

    /// Sends one request in transaction `tx` (0: none) and returns its
    /// reply.
    pub fn request(&mut self, ty: u32, tx: u32, parts: &[&[u8]]) -> io::Result<Reply> {
        self.req_id = self.req_id.wrapping_add(1);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.out.clear();
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&Header { ty, req_id: self.req_id, tx_id: tx, len }.encode());
        for p in parts {
            self.out.extend_from_slice(p);
        }
        self.link.send(&self.out)?;
        self.counts.requests += 1;
        loop {
            let Some((header, payload)) = self.next_msg() else {
                self.link.fill(&mut self.rx)?;
                continue;
            };
            if header.ty == XS_WATCH_EVENT {
                self.counts.events += 1;
                continue;
            }
            if header.req_id != self.req_id {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply to another request"));
            }
            let reply = Reply { ty: header.ty, payload };
            if let Some(e) = reply.err() {
                *self.counts.errors.entry(e).or_default() += 1;
            }
            return Ok(reply);
        }
    }

    /// The next whole message in the input, taken out of it.
    fn next_msg(&mut self) -> Option<(Header, Vec<u8>)> {
        let raw: [u8; HEADER_BYTES] = self.rx.get(..HEADER_BYTES)?.try_into().ok()?;
        let header = Header::decode(&raw);
        let len = (header.len as usize).min(XENSTORE_PAYLOAD_MAX);
        let payload = self.rx.get(HEADER_BYTES..HEADER_BYTES + len)?.to_vec();
        self.rx.drain(..HEADER_BYTES + len);
        Some((header, payload))
    }

    /// `XS_READ`: the value, or `None` on an error.
    pub fn read(&mut self, tx: u32, path: &str) -> io::Result<Option<Vec<u8>>> {
        let r = self.request(XS_READ, tx, &[&z(path)])?;
        Ok((!r.is_err()).then_some(r.payload))
    }

    /// `XS_WRITE`.
    pub fn write(&mut self, tx: u32, path: &str, value: &str) -> io::Result<Reply> {
        self.request(XS_WRITE, tx, &[&z(path), value.as_bytes()])
    }

    /// `XS_MKDIR`.
    pub fn mkdir(&mut self, tx: u32, path: &str) -> io::Result<Reply> {
        self.request(XS_MKDIR, tx, &[&z(path)])
    }

    /// `XS_RM` (a missing node is `ENOENT`, which libxl ignores).
    pub fn rm(&mut self, tx: u32, path: &str) -> io::Result<Reply> {
        self.request(XS_RM, tx, &[&z(path)])
    }

    /// `XS_SET_PERMS path perm…` with perms such as `n0`, `r5`.
    pub fn set_perms(&mut self, tx: u32, path: &str, perms: &[String]) -> io::Result<Reply> {
        let mut payload = z(path);
        for p in perms {
            payload.extend_from_slice(&z(p));
        }
        self.request(XS_SET_PERMS, tx, &[&payload])
    }

    /// `XS_WATCH`.
    pub fn watch(&mut self, path: &str, token: &str) -> io::Result<Reply> {
        self.request(XS_WATCH, 0, &[&z(path), &z(token)])
    }

    /// `XS_TRANSACTION_START`: the new transaction's id.
    pub fn tx_start(&mut self) -> io::Result<u32> {
        let r = self.request(XS_TRANSACTION_START, 0, &[b"\0"])?;
        let text = String::from_utf8_lossy(&r.payload).trim_end_matches('\0').to_owned();
        text.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("transaction start: {text}"))
        })
    }

    /// `XS_TRANSACTION_END`: whether it committed (`false`: `EAGAIN`).
    pub fn tx_end(&mut self, tx: u32, commit: bool) -> io::Result<bool> {
        let r = self.request(XS_TRANSACTION_END, tx, &[if commit { b"T\0" } else { b"F\0" }])?;
        match r.err().as_deref() {
            None => Ok(true),
            Some("EAGAIN") => Ok(false),
            Some(e) => Err(io::Error::other(format!("transaction end: {e}"))),
        }
    }

    /// `XS_INTRODUCE domid gfn port`.
    pub fn introduce(&mut self, domid: u32, gfn: u64, port: u32) -> io::Result<Reply> {
        let payload = [z(&domid.to_string()), z(&gfn.to_string()), z(&port.to_string())].concat();
        self.request(XS_INTRODUCE, 0, &[&payload])
    }

    /// `XS_RELEASE domid`.
    pub fn release(&mut self, domid: u32) -> io::Result<Reply> {
        self.request(XS_RELEASE, 0, &[&z(&domid.to_string())])
    }

    /// `XS_DIRECTORY_PART path offset`.
    pub fn directory_part(&mut self, path: &str, off: usize) -> io::Result<Reply> {
        self.request(XS_DIRECTORY_PART, 0, &[&z(path), &z(&off.to_string())])
    }
}
