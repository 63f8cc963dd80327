//! Unix socket clients: each one is a privileged (dom0) engine connection.
//!
//! Sockets are non-blocking and registered edge-triggered, so each client
//! remembers whether the last read or write hit `WouldBlock` (a short read
//! counts: it drained the socket); the poll loop only reads while the
//! engine [`wants_input`](store::Engine::wants_input) and only writes while
//! there is output. Writable events are asked for only while a write is
//! blocked ([`Client::update_interest`]): otherwise every reply the client
//! reads would wake the daemon for nothing. Bytes read but not yet taken by
//! the engine wait in a bounded per-client buffer.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use store::ConnId;

/// Most socket clients served at once; later ones are closed at once. Local
/// tools open one connection each and close it, so this only stops a runaway
/// client from exhausting the daemon's file descriptors.
pub const MAX_SOCKET_CLIENTS: usize = 1024;

/// Bytes read from one client per loop round and the size of its input
/// buffer: one largest message (16-byte header + 4096-byte payload) plus
/// slack, so no client can make a round arbitrarily long.
pub const SOCKET_READ_BYTES: usize = 8192;

/// The first token handed to a client; lower ones belong to the daemon.
pub const FIRST_CLIENT_TOKEN: usize = 16;

/// One connected socket client.
pub struct Client {
    /// The socket.
    pub stream: UnixStream,
    /// Its engine connection.
    pub conn: ConnId,
    /// Its poll token.
    pub token: Token,
    /// Bytes read but not yet consumed by the engine.
    pub inbuf: InBuf,
    /// The socket may have bytes to read (no `WouldBlock` since the last
    /// readable event).
    pub readable: bool,
    /// The socket can take more bytes (no `WouldBlock` since the last
    /// writable event).
    pub writable: bool,
    /// `inbuf` holds bytes the engine has not been offered since they
    /// arrived or since it last asked for more.
    pub inbuf_fresh: bool,
    /// Listed in [`Clients`]' active list.
    active: bool,
    /// Registered for writable events too (only while a write is blocked).
    watch_writable: bool,
}

/// What reading from a client produced.
pub enum ReadOutcome {
    /// Some bytes were appended to the input buffer.
    Data,
    /// Nothing to read now.
    Empty,
    /// The peer closed the connection or the socket failed.
    Closed,
}

/// A client's input buffer: a fixed [`SOCKET_READ_BYTES`] allocation,
/// zeroed once when the client connects, holding the pending bytes in
/// `[start, end)`. Reads go straight into its free tail, so serving a
/// request costs no per-read clearing or reallocation. Only input a
/// previous server handed over ([`InBuf::push`]) may make it larger, until
/// the engine has taken all of it.
pub struct InBuf {
    /// The storage.
    buf: Box<[u8]>,
    /// First pending byte.
    start: usize,
    /// One past the last pending byte.
    end: usize,
}

impl InBuf {
    /// An empty buffer.
    fn new() -> InBuf {
        InBuf { buf: vec![0; SOCKET_READ_BYTES].into_boxed_slice(), start: 0, end: 0 }
    }

    /// Number of pending bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether no bytes are pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pending bytes.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Drops the first `n` pending bytes (the engine took them).
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > SOCKET_READ_BYTES {
                *self = InBuf::new();
            }
        }
    }

    /// Appends `bytes` (input a previous server read and did not handle),
    /// growing the buffer past [`SOCKET_READ_BYTES`] if they need it (the
    /// engine's restore admitted them against the memory budget); false,
    /// and nothing appended, if there is no memory for that.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        let need = self.len().saturating_add(bytes.len());
        if need > self.buf.len() {
            let mut grown = Vec::new();
            if grown.try_reserve_exact(need).is_err() {
                return false;
            }
            grown.extend_from_slice(self.data());
            grown.extend_from_slice(bytes);
            *self = InBuf { buf: grown.into_boxed_slice(), start: 0, end: need };
            return true;
        }
        let spare = self.spare();
        let Some(dst) = spare.get_mut(..bytes.len()) else {
            return false;
        };
        dst.copy_from_slice(bytes);
        self.filled(bytes.len());
        true
    }

    /// The free tail, after moving pending bytes to the front.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end = self.len();
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }

    /// Marks `n` bytes of the free tail as filled.
    fn filled(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}

impl Client {
    /// Reads once, filling at most the free part of the input buffer.
    pub fn read_some(&mut self) -> ReadOutcome {
        if !self.readable {
            return ReadOutcome::Empty;
        }
        // At most a buffer's worth pending, even in a grown buffer.
        let room = SOCKET_READ_BYTES.saturating_sub(self.inbuf.len());
        let spare = self.inbuf.spare();
        let Some(spare) = spare.get_mut(..room.min(spare.len())).filter(|s| !s.is_empty()) else {
            return ReadOutcome::Empty;
        };
        let room = spare.len();
        match self.stream.read(spare) {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => {
                // A short read drained the socket: more bytes will come with
                // a new edge, so waiting for it saves a read that would
                // only say `WouldBlock`.
                if n < room {
                    self.readable = false;
                }
                self.inbuf.filled(n);
                self.inbuf_fresh = true;
                ReadOutcome::Data
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                ReadOutcome::Empty
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadOutcome::Empty,
            Err(e) => {
                log::debug!("read from socket client {:?} failed: {e}", self.conn);
                ReadOutcome::Closed
            }
        }
    }

    /// Asks for writable events exactly while a write is blocked
    /// (`WouldBlock` and no writable event since). Watching them all the
    /// time would queue an event, and wake the daemon, each time the
    /// client reads a reply.
    pub fn update_interest(&mut self, registry: &Registry) -> io::Result<()> {
        let wanted = !self.writable;
        if wanted == self.watch_writable {
            return Ok(());
        }
        let interest =
            if wanted { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        registry.reregister(&mut self.stream, self.token, interest)?;
        self.watch_writable = wanted;
        Ok(())
    }

    /// Writes as much of `bytes` as the socket takes: `Ok(n)` bytes were
    /// sent (0 when the socket is full), `Err` when the peer is gone.
    pub fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.writable || bytes.is_empty() {
            return Ok(0);
        }
        match self.stream.write(bytes) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                Ok(0)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// All socket clients, by poll token and by engine connection.
///
/// A client lives in a slot of a table of [`MAX_SOCKET_CLIENTS`]; its
/// token names the slot and how many clients the slot has had before
/// (`FIRST_CLIENT_TOKEN + slot + MAX_SOCKET_CLIENTS * reuse`), so finding
/// a client costs no hashing, and a readiness event left over for a
/// closed client never reaches the next one in its slot.
#[derive(Default)]
pub struct Clients {
    /// Clients by slot.
    slots: Vec<Option<Client>>,
    /// How often each slot was handed out.
    reuses: Vec<usize>,
    /// Free slots below `slots.len()`.
    free: Vec<usize>,
    /// Connected clients.
    count: usize,
    /// Tokens by engine connection.
    by_conn: BTreeMap<ConnId, Token>,
    /// Clients that may have work for the next round: an event arrived, the
    /// engine reported them ready, or the last round stopped at its budget.
    /// Each at most once ([`Client::active`]).
    active: Vec<Token>,
}

/// The slot a token names, if it is a client token.
fn slot_of(token: Token) -> Option<usize> {
    let n = token.0.checked_sub(FIRST_CLIENT_TOKEN)?;
    n.checked_rem(MAX_SOCKET_CLIENTS)
}

/// The token of the `reuse`-th client of `slot`; `None` once a slot was
/// reused so often that tokens would wrap (after 2^54 clients).
fn token_of(slot: usize, reuse: usize) -> Option<Token> {
    let t = reuse.checked_mul(MAX_SOCKET_CLIENTS)?.checked_add(slot)?;
    t.checked_add(FIRST_CLIENT_TOKEN).map(Token)
}

impl Clients {
    /// Whether another client may be accepted.
    pub fn is_full(&self) -> bool {
        self.count >= MAX_SOCKET_CLIENTS
    }

    /// Registers `stream` as the client of `conn` and returns its token.
    pub fn add(
        &mut self,
        registry: &Registry,
        mut stream: UnixStream,
        conn: ConnId,
    ) -> io::Result<Token> {
        let full = || io::Error::other("no free client slot");
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.slots.len() < MAX_SOCKET_CLIENTS => {
                self.slots.push(None);
                self.reuses.push(0);
                self.slots.len().saturating_sub(1)
            }
            None => return Err(full()),
        };
        let reuse = self.reuses.get(slot).copied().unwrap_or(0);
        let Some(token) = token_of(slot, reuse) else {
            // Retire a slot whose tokens are used up rather than reuse one.
            return Err(full());
        };
        if let Err(e) = registry.register(&mut stream, token, Interest::READABLE) {
            self.free.push(slot);
            return Err(e);
        }
        if let Some(r) = self.reuses.get_mut(slot) {
            *r = reuse.saturating_add(1);
        }
        let client = Client {
            stream,
            conn,
            token,
            inbuf: InBuf::new(),
            readable: true,
            writable: true,
            inbuf_fresh: false,
            active: false,
            watch_writable: false,
        };
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(client);
        }
        self.count = self.count.saturating_add(1);
        self.by_conn.insert(conn, token);
        self.activate(token);
        Ok(token)
    }

    /// Deregisters and drops the client at `token`, returning its connection.
    pub fn remove(&mut self, registry: &Registry, token: Token) -> Option<ConnId> {
        self.get_mut(token)?;
        let slot = slot_of(token)?;
        let mut client = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.count = self.count.saturating_sub(1);
        self.by_conn.remove(&client.conn);
        if client.active {
            self.active.retain(|t| *t != token);
        }
        // The socket is closed right after; a failed deregistration changes
        // nothing because closing removes it from epoll anyway.
        let _ = registry.deregister(&mut client.stream);
        Some(client.conn)
    }

    /// The client at `token`.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Client> {
        let slot = slot_of(token)?;
        self.slots.get_mut(slot)?.as_mut().filter(|c| c.token == token)
    }

    /// Lists the client at `token` for the next round (once).
    pub fn activate(&mut self, token: Token) {
        if let Some(c) = self.get_mut(token) {
            if !c.active {
                c.active = true;
                self.active.push(token);
            }
        }
    }

    /// Whether some client is listed for the next round.
    pub fn any_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// Moves the clients listed for this round into `out` (emptied
    /// first), unlisting them.
    pub fn take_active(&mut self, out: &mut Vec<Token>) {
        out.clear();
        std::mem::swap(&mut self.active, out);
        for &token in out.iter() {
            if let Some(c) = self.get_mut(token) {
                c.active = false;
            }
        }
    }

    /// Records a readiness event for the client at `token`. Hang-ups and
    /// errors count as readable, so the next read reports them.
    pub fn mark(&mut self, token: Token, event: &mio::event::Event) {
        if let Some(client) = self.get_mut(token) {
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                client.readable = true;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                client.writable = true;
            }
            self.activate(token);
        }
    }

    /// The token of the client served as `conn`.
    pub fn token_of(&self, conn: ConnId) -> Option<Token> {
        self.by_conn.get(&conn).copied()
    }

    /// The client served as `conn`.
    pub fn by_conn(&self, conn: ConnId) -> Option<&Client> {
        let token = self.token_of(conn)?;
        self.slots.get(slot_of(token)?)?.as_ref().filter(|c| c.token == token)
    }

    /// Every client (in slot order).
    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.slots.iter().flatten()
    }

    /// Every client's token and connection, for shutdown.
    pub fn drain(&mut self) -> Vec<(Token, ConnId)> {
        self.by_conn.clear();
        self.active.clear();
        self.free.clear();
        self.count = 0;
        let out =
            self.slots.iter_mut().filter_map(Option::take).map(|c| (c.token, c.conn)).collect();
        self.slots.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_buffer_grows_for_handed_over_input_and_shrinks_once_read() {
        let mut b = InBuf::new();
        assert!(b.push(b"abc"));
        b.consume(1);
        assert!(b.push(b"de"));
        assert_eq!(b.data(), b"bcde");
        let big = vec![7; SOCKET_READ_BYTES];
        assert!(b.push(&big));
        assert_eq!(b.len(), SOCKET_READ_BYTES + 4);
        assert_eq!(b.data().get(..4), Some(&b"bcde"[..]));
        assert!(b.spare().is_empty());
        b.consume(SOCKET_READ_BYTES);
        assert_eq!(b.data(), [7; 4]);
        b.consume(4);
        assert!(b.is_empty());
        assert_eq!(b.spare().len(), SOCKET_READ_BYTES, "back to its usual size");
    }

    #[test]
    fn tokens_name_a_slot_and_its_reuse() {
        assert_eq!(token_of(0, 0), Some(Token(FIRST_CLIENT_TOKEN)));
        let t = token_of(5, 3).unwrap();
        assert_eq!(t.0, FIRST_CLIENT_TOKEN + 5 + 3 * MAX_SOCKET_CLIENTS);
        assert_eq!(slot_of(t), Some(5));
        assert_eq!(slot_of(Token(FIRST_CLIENT_TOKEN - 1)), None);
        assert_eq!(token_of(0, usize::MAX), None);
    }

    #[test]
    fn a_slot_reused_gets_a_new_token_and_old_events_miss() {
        let poll = mio::Poll::new().unwrap();
        let mut clients = Clients::default();
        let (a, _peer_a) = UnixStream::pair().unwrap();
        let ta = clients.add(poll.registry(), a, ConnId(1)).unwrap();
        assert!(clients.any_active());
        let mut round = Vec::new();
        clients.take_active(&mut round);
        assert_eq!(round, vec![ta]);
        assert!(!clients.any_active());
        assert_eq!(clients.remove(poll.registry(), ta), Some(ConnId(1)));
        let (b, _peer_b) = UnixStream::pair().unwrap();
        let tb = clients.add(poll.registry(), b, ConnId(2)).unwrap();
        assert_ne!(ta, tb);
        assert_eq!(slot_of(ta), slot_of(tb));
        assert!(clients.get_mut(ta).is_none());
        assert_eq!(clients.get_mut(tb).map(|c| c.conn), Some(ConnId(2)));
        assert_eq!(clients.token_of(ConnId(2)), Some(tb));
        assert_eq!(clients.token_of(ConnId(1)), None);
        // Listed once however often it is activated.
        clients.activate(tb);
        clients.take_active(&mut round);
        assert_eq!(round, vec![tb]);
        assert_eq!(clients.by_conn(ConnId(2)).map(|c| c.token), Some(tb));
        assert!(clients.by_conn(ConnId(1)).is_none());
        assert_eq!(clients.iter().count(), 1);
        assert_eq!(clients.drain(), vec![(tb, ConnId(2))]);
    }
}
