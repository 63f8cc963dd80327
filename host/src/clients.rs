//! Unix socket clients: each one is a privileged (dom0) engine connection.
//!
//! Sockets are non-blocking and registered edge-triggered for both
//! directions, so each client remembers whether the last read or write hit
//! `WouldBlock`; the poll loop only reads while the engine
//! [`wants_input`](store::Engine::wants_input) and only writes while there
//! is output. Bytes read but not yet taken by the engine wait in a bounded
//! per-client buffer.

use std::collections::{BTreeSet, HashMap};
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
/// request costs no per-read clearing or reallocation.
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
        }
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
        let spare = self.inbuf.spare();
        if spare.is_empty() {
            return ReadOutcome::Empty;
        }
        match self.stream.read(spare) {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => {
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
#[derive(Default)]
pub struct Clients {
    /// Clients by token.
    by_token: HashMap<Token, Client>,
    /// Tokens by engine connection.
    by_conn: HashMap<ConnId, Token>,
    /// The next token to try.
    next_token: usize,
    /// Clients that may have work for the next round: an event arrived, the
    /// engine reported them ready, or the last round stopped at its budget.
    pub active: BTreeSet<Token>,
}

impl Clients {
    /// Whether another client may be accepted.
    pub fn is_full(&self) -> bool {
        self.by_token.len() >= MAX_SOCKET_CLIENTS
    }

    /// Registers `stream` as the client of `conn` and returns its token.
    pub fn add(
        &mut self,
        registry: &Registry,
        mut stream: UnixStream,
        conn: ConnId,
    ) -> io::Result<Token> {
        let token = self.free_token();
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let client = Client {
            stream,
            conn,
            inbuf: InBuf::new(),
            readable: true,
            writable: true,
            inbuf_fresh: false,
        };
        self.by_token.insert(token, client);
        self.by_conn.insert(conn, token);
        self.active.insert(token);
        Ok(token)
    }

    /// Picks a token no client uses (tokens are reused only after wrapping).
    fn free_token(&mut self) -> Token {
        loop {
            let candidate = Token(self.next_token.max(FIRST_CLIENT_TOKEN));
            self.next_token = candidate.0.wrapping_add(1);
            if !self.by_token.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    /// Deregisters and drops the client at `token`, returning its connection.
    pub fn remove(&mut self, registry: &Registry, token: Token) -> Option<ConnId> {
        let mut client = self.by_token.remove(&token)?;
        self.by_conn.remove(&client.conn);
        self.active.remove(&token);
        // The socket is closed right after; a failed deregistration changes
        // nothing because closing removes it from epoll anyway.
        let _ = registry.deregister(&mut client.stream);
        Some(client.conn)
    }

    /// The client at `token`.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Client> {
        self.by_token.get_mut(&token)
    }

    /// Records a readiness event for the client at `token`. Hang-ups and
    /// errors count as readable, so the next read reports them.
    pub fn mark(&mut self, token: Token, event: &mio::event::Event) {
        if let Some(client) = self.by_token.get_mut(&token) {
            self.active.insert(token);
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                client.readable = true;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                client.writable = true;
            }
        }
    }

    /// The token of the client served as `conn`.
    pub fn token_of(&self, conn: ConnId) -> Option<Token> {
        self.by_conn.get(&conn).copied()
    }

    /// Every client's token and connection, for shutdown.
    pub fn drain(&mut self) -> Vec<(Token, ConnId)> {
        self.by_conn.clear();
        self.active.clear();
        self.by_token.drain().map(|(t, c)| (t, c.conn)).collect()
    }
}
