//! Simulated event channels: Unix datagram sockets (simring convention §2).
//!
//! The daemon binds `DIR/evtchn-server` before it serves anything; it is its
//! only event input. Guests send `notify <domid> <port>` there (`<port>` is
//! the guest end of the interdomain channel, the number given in
//! `XS_INTRODUCE`); a test harness sends `virq <n>`. The daemon notifies a
//! guest by sending the identical `notify` text to `DIR/evtchn-<domid>`,
//! without blocking: a send that fails with EAGAIN, ENOENT or ECONNREFUSED
//! is dropped, because a full queue already guarantees a pending wake-up and
//! a missing socket means nobody listens. Payloads are ASCII; trailing NUL or
//! white space is ignored. Guests can send malformed datagrams and leave
//! their socket unbound at will, so the log lines about those go through
//! [`LogGate`]s.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::path::{Path, PathBuf};
use std::time::Instant;

use log::Level;
use store::LogGate;
use store::{log_limited, DomId};

/// Longest datagram we read; valid ones are far shorter, longer ones are
/// truncated by the kernel and then fail to parse.
pub const EVENT_DATAGRAM_MAX: usize = 64;

/// `VIRQ_DOM_EXC`: a domain changed state, re-check all domains.
pub const VIRQ_DOM_EXC: u32 = 3;

/// One message received on `evtchn-server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An event on the channel whose guest end is (`domid`, `port`).
    Notify {
        /// The guest.
        domid: DomId,
        /// The guest's port.
        port: u32,
    },
    /// A virtual interrupt raised at the daemon.
    Virq(u32),
}

impl Event {
    /// Parses a datagram; `None` for anything malformed.
    pub fn parse(datagram: &[u8]) -> Option<Event> {
        let text = core::str::from_utf8(datagram).ok()?;
        let text = text.trim_end_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
        let mut words = text.split(' ');
        let event = match (words.next()?, words.next(), words.next()) {
            ("notify", Some(domid), Some(port)) => Event::Notify {
                domid: DomId(parse_decimal(domid)?.try_into().ok()?),
                port: parse_decimal(port)?,
            },
            ("virq", Some(n), None) => Event::Virq(parse_decimal(n)?),
            _ => return None,
        };
        words.next().is_none().then_some(event)
    }
}

/// Parses an unsigned decimal number with no sign or padding characters.
fn parse_decimal(word: &str) -> Option<u32> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// The daemon's side of the simulated event channels in one directory.
pub struct EventChannels {
    /// `DIR/evtchn-server`, non-blocking, registered with the poll loop.
    server: mio::net::UnixDatagram,
    /// Its path, removed again on shutdown.
    server_path: PathBuf,
    /// An unbound non-blocking socket for sending notifications.
    sender: StdDatagram,
    /// The simring directory.
    dir: PathBuf,
    /// Time zero of the log gates' clock.
    epoch: Instant,
    /// The lines about malformed datagrams.
    malformed_log: RefCell<LogGate>,
    /// The lines about dropped notifications.
    dropped_log: RefCell<LogGate>,
}

impl EventChannels {
    /// The path of `dir`'s `evtchn-server`.
    pub fn server_path(dir: &Path) -> PathBuf {
        dir.join("evtchn-server")
    }

    /// Binds `dir/evtchn-server` (replacing a stale socket file).
    pub fn bind(dir: &Path) -> io::Result<EventChannels> {
        let server_path = EventChannels::server_path(dir);
        match std::fs::remove_file(&server_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        EventChannels::with_server(dir, mio::net::UnixDatagram::bind(&server_path)?)
    }

    /// Serves `dir` with `server`, a non-blocking socket already bound at
    /// `dir/evtchn-server` (the previous server's, after a live update).
    pub fn adopt(dir: &Path, server: StdDatagram) -> io::Result<EventChannels> {
        EventChannels::with_server(dir, mio::net::UnixDatagram::from_std(server))
    }

    /// The channels over a bound `server`.
    fn with_server(dir: &Path, server: mio::net::UnixDatagram) -> io::Result<EventChannels> {
        let server_path = EventChannels::server_path(dir);
        let sender = StdDatagram::unbound()?;
        sender.set_nonblocking(true)?;
        Ok(EventChannels {
            server,
            server_path,
            sender,
            dir: dir.to_owned(),
            epoch: Instant::now(),
            malformed_log: RefCell::new(LogGate::guest()),
            dropped_log: RefCell::new(LogGate::guest()),
        })
    }

    /// Milliseconds on the log gates' clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The socket to register for readability.
    pub fn source(&mut self) -> &mut mio::net::UnixDatagram {
        &mut self.server
    }

    /// `evtchn-server`'s descriptor (handed over on live update).
    pub fn server_fd(&self) -> BorrowedFd<'_> {
        self.server.as_fd()
    }

    /// Receives one datagram: `Ok(None)` when none is waiting, `Ok(Some(None))`
    /// for a malformed one (logged), `Ok(Some(Some(event)))` otherwise.
    pub fn recv(&self) -> io::Result<Option<Option<Event>>> {
        let mut buf = [0u8; EVENT_DATAGRAM_MAX];
        match self.server.recv(&mut buf) {
            Ok(n) => {
                let event = buf.get(..n).and_then(Event::parse);
                if event.is_none() {
                    log_limited!(
                        *self.malformed_log.borrow_mut(),
                        self.now_ms(),
                        Level::Debug,
                        "ignoring malformed event datagram of {n} bytes"
                    );
                }
                Ok(Some(event))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Signals the guest end (`domid`, `port`) without blocking; undeliverable
    /// notifications are dropped as the convention allows.
    pub fn notify(&self, domid: DomId, port: u32) {
        let path = self.dir.join(format!("evtchn-{}", domid.0));
        let msg = format!("notify {} {}", domid.0, port);
        if let Err(e) = self.sender.send_to(msg.as_bytes(), &path) {
            log_limited!(
                *self.dropped_log.borrow_mut(),
                self.now_ms(),
                Level::Trace,
                "notification to {} dropped: {e}",
                path.display()
            );
        }
    }

    /// Removes `evtchn-server` (at shutdown).
    pub fn remove(&self) {
        // The file may already be gone; nothing else to do about it.
        let _ = std::fs::remove_file(&self.server_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_messages() {
        assert_eq!(Event::parse(b"notify 5 17"), Some(Event::Notify { domid: DomId(5), port: 17 }));
        assert_eq!(
            Event::parse(b"notify 0 1\0\n"),
            Some(Event::Notify { domid: DomId(0), port: 1 })
        );
        assert_eq!(Event::parse(b"virq 3"), Some(Event::Virq(VIRQ_DOM_EXC)));
    }

    #[test]
    fn rejects_malformed_messages() {
        for bad in [
            &b""[..],
            b"notify",
            b"notify 5",
            b"notify 5 1 2",
            b"notify -5 1",
            b"notify 70000 1",
            b"notify 5 99999999999",
            b"virq",
            b"virq x",
            b"virq 3 4",
            b"NOTIFY 1 1",
            b"notify  1 1",
            b"\xff\xfe",
        ] {
            assert_eq!(Event::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn notifications_reach_the_guest_socket() {
        let dir = tempfile::tempdir().unwrap();
        let channels = EventChannels::bind(dir.path()).unwrap();
        let guest = StdDatagram::bind(dir.path().join("evtchn-7")).unwrap();
        channels.notify(DomId(7), 42);
        let mut buf = [0u8; 64];
        let n = guest.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"notify 7 42");
        // Nobody listens for domain 8: the notification is silently dropped.
        channels.notify(DomId(8), 1);

        let client = StdDatagram::unbound().unwrap();
        client.send_to(b"virq 3", dir.path().join("evtchn-server")).unwrap();
        assert_eq!(channels.recv().unwrap(), Some(Some(Event::Virq(3))));
        assert_eq!(channels.recv().unwrap(), None);
        channels.remove();
        assert!(!dir.path().join("evtchn-server").exists());
    }
}
