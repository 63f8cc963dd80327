//! Serving the Unix socket clients (all privileged).

use std::io;

use mio::Token;

use super::{Daemon, ACCEPTS_PER_ROUND};
use crate::clients::{ReadOutcome, SOCKET_READ_BYTES};

impl Daemon {
    /// Accepts up to [`ACCEPTS_PER_ROUND`] waiting clients.
    pub(super) fn accept_clients(&mut self) {
        for _ in 0..ACCEPTS_PER_ROUND {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.listener_readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: retry when the next client leaves.
                    log::warn!("accept failed: {e}");
                    self.listener_readable = false;
                    return;
                }
            };
            if self.clients.is_full() {
                log::warn!("too many socket clients, closing a new one");
                continue;
            }
            let Some(conn) = self.engine.connect_socket() else {
                log::warn!("memory budget exhausted, closing a new socket client");
                continue;
            };
            if let Err(e) = self.clients.add(self.poll.registry(), stream, conn) {
                log::warn!("cannot register a socket client: {e}");
                self.engine.disconnect(conn, &mut self.platform);
            }
        }
    }

    /// Serves every active socket client once; those that still have work
    /// stay active for the next round.
    pub(super) fn serve_sockets(&mut self, now: u64) {
        let mut active = std::mem::take(&mut self.round_tokens);
        self.clients.take_active(&mut active);
        for &token in &active {
            self.serve_socket(token, now);
            if self.has_work(token) {
                self.clients.activate(token);
            }
        }
        self.round_tokens = active;
    }

    /// Whether the next round can do something for the client at `token`
    /// without a new event: read more, offer buffered input, or write.
    fn has_work(&mut self, token: Token) -> bool {
        let Some(c) = self.clients.get_mut(token) else {
            return false;
        };
        let wants = self.engine.wants_input(c.conn);
        (wants && c.readable && c.inbuf.len() < SOCKET_READ_BYTES)
            || (wants && c.inbuf_fresh && !c.inbuf.is_empty())
            || (c.writable && !self.engine.output(c.conn).is_empty())
    }

    /// Reads at most one buffer from the client at `token`, feeds it to the
    /// engine and flushes the replies.
    fn serve_socket(&mut self, token: Token, now: u64) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        let conn = client.conn;
        if self.engine.wants_input(conn) {
            if let ReadOutcome::Closed = client.read_some() {
                self.close_client(token);
                return;
            }
            if client.inbuf_fresh && !client.inbuf.is_empty() {
                client.inbuf_fresh = false;
                match self.engine.input(conn, client.inbuf.data(), now, &mut self.platform) {
                    Ok(used) => client.inbuf.consume(used),
                    Err(e) => {
                        log::warn!(
                            "socket client {conn:?} violated the protocol ({e:?}); closing it"
                        );
                        self.close_client(token);
                        return;
                    }
                }
            }
        }
        self.flush_socket(token);
    }

    /// The engine has output for the client at `token`, or let it out of
    /// flow control: write, and offer its buffered input again (and read
    /// on if its socket may hold more) in the next round.
    pub(super) fn socket_ready(&mut self, token: Token) {
        if let Some(client) = self.clients.get_mut(token) {
            if client.readable || !client.inbuf.is_empty() {
                client.inbuf_fresh = true;
                self.clients.activate(token);
            }
        }
        self.flush_socket(token);
    }

    /// Writes as much queued output to the client as its socket takes.
    pub(super) fn flush_socket(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        let conn = client.conn;
        let written = loop {
            let out = self.engine.output(conn);
            if out.is_empty() {
                break Ok(());
            }
            match client.write_some(out) {
                Ok(0) => break Ok(()),
                Ok(n) => self.engine.output_done(conn, n),
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = written.and_then(|()| client.update_interest(self.poll.registry())) {
            log::debug!("write to socket client {conn:?} failed: {e}");
            self.close_client(token);
        }
    }

    /// Forgets the client at `token` and closes its socket.
    pub(super) fn close_client(&mut self, token: Token) {
        if let Some(conn) = self.clients.remove(self.poll.registry(), token) {
            self.engine.disconnect(conn, &mut self.platform);
        }
    }
}
