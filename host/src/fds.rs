//! Descriptors across `exec`: the ones a server keeps open for its
//! successor, and the ones a successor takes over.
//!
//! A live update keeps the process (same pid) and its open descriptors:
//! the old server clears `FD_CLOEXEC` on the listening socket, each
//! client's socket and its event channel, writes their numbers into the
//! migration stream, and execs; the new one finds them by number. Taking
//! over a number is this module's one `unsafe` operation: nothing in the
//! process owns an inherited descriptor until it is adopted here, and
//! [`Inherited`] adopts each number at most once, only after checking
//! that it is open and is the kind of socket the stream says it is. The
//! state file is read and closed before anything is adopted, so a number
//! freed by `exec` and reused for it cannot be taken for an inherited one.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;

use rustix::io::{fcntl_getfd, fcntl_setfd, FdFlags};
use rustix::net::sockopt::{socket_acceptconn, socket_domain, socket_type};
use rustix::net::{AddressFamily, SocketType};

/// Keeps `fd` open across the coming `exec` (clears `FD_CLOEXEC`).
pub fn keep_across_exec(fd: impl AsFd) -> io::Result<()> {
    let flags = fcntl_getfd(&fd)?;
    fcntl_setfd(&fd, flags.difference(FdFlags::CLOEXEC))?;
    Ok(())
}

/// The descriptors a previous server left, taken over one number at a
/// time.
#[derive(Default)]
pub struct Inherited {
    /// Numbers already adopted.
    taken: BTreeSet<RawFd>,
}

impl Inherited {
    /// Adopts `fd` if it is an open Unix socket of type `ty`, listening
    /// or not as `listening` says, that no earlier call adopted (standard
    /// input, output and error never are); it is closed on `exec` again
    /// from now on.
    fn adopt(&mut self, fd: RawFd, ty: SocketType, listening: bool) -> io::Result<OwnedFd> {
        let bad = |why: &str| io::Error::other(format!("inherited descriptor {fd}: {why}"));
        if fd <= 2 || self.taken.contains(&fd) {
            return Err(bad("not one a server hands over"));
        }
        // SAFETY: the borrow lives only for the checks below, during
        // which nothing closes `fd`; `fcntl_getfd` fails with EBADF if the
        // number is not open.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        fcntl_getfd(borrowed).map_err(|e| bad(&e.to_string()))?;
        if socket_domain(borrowed).ok() != Some(AddressFamily::UNIX) {
            return Err(bad("not a Unix socket"));
        }
        if socket_type(borrowed).ok() != Some(ty) {
            return Err(bad("not the expected socket type"));
        }
        if ty == SocketType::STREAM && socket_acceptconn(borrowed).ok() != Some(listening) {
            return Err(bad(if listening { "not listening" } else { "a listening socket" }));
        }
        fcntl_setfd(borrowed, FdFlags::CLOEXEC)?;
        self.taken.insert(fd);
        // SAFETY: `fd` is open (checked above) and was inherited across
        // `exec` from the previous server, which handed it over in its
        // state; no other owner exists in this process: `taken` makes
        // sure this number is adopted once, and descriptors this process
        // opened itself before (standard streams, the state file, already
        // closed) are not handed over.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The listening socket (`GLOBAL_DATA`'s `socket_fd`), non-blocking.
    pub fn listener(&mut self, fd: RawFd) -> io::Result<UnixListener> {
        let listener = UnixListener::from(self.adopt(fd, SocketType::STREAM, true)?);
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// A client's socket (`CONNECTION_DATA`'s `socket_fd`), non-blocking.
    pub fn client(&mut self, fd: RawFd) -> io::Result<UnixStream> {
        let stream = UnixStream::from(self.adopt(fd, SocketType::STREAM, false)?);
        stream.set_nonblocking(true)?;
        Ok(stream)
    }

    /// The simring event channel socket (`GLOBAL_DATA`'s `evtchn_fd`)
    /// if it is one bound at `path`: ours hands it over, C's is its
    /// event channel device (the shim's pipe), which is left alone.
    pub fn event_socket(&mut self, fd: RawFd, path: &Path) -> Option<UnixDatagram> {
        if fd <= 2 || self.taken.contains(&fd) {
            return None;
        }
        // SAFETY: as in `adopt`: a short borrow for a check; EBADF when
        // the number is not open.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let bound = rustix::net::getsockname(borrowed).ok()?;
        let addr = rustix::net::SocketAddrUnix::try_from(bound).ok()?;
        let bound_at = addr.path().map(|p| p.to_bytes().to_vec());
        if bound_at.as_deref() != Some(path.as_os_str().as_encoded_bytes()) {
            return None;
        }
        let socket = UnixDatagram::from(self.adopt(fd, SocketType::DGRAM, false).ok()?);
        socket.set_nonblocking(true).ok()?;
        Some(socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    #[test]
    fn sockets_are_adopted_once_and_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("s")).unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        let dgram_path = dir.path().join("evtchn-server");
        let dgram = UnixDatagram::bind(&dgram_path).unwrap();
        keep_across_exec(&listener).unwrap();
        assert!(!fcntl_getfd(&listener).unwrap().contains(FdFlags::CLOEXEC));
        let (lfd, afd, dfd) = (listener.into_raw_fd(), a.into_raw_fd(), dgram.into_raw_fd());

        let mut inh = Inherited::default();
        assert!(inh.client(lfd).is_err(), "a listening socket is no client");
        assert!(inh.listener(afd).is_err(), "a connected socket does not listen");
        assert!(inh.client(dfd).is_err(), "a datagram socket is no client");
        assert!(inh.event_socket(dfd, &dir.path().join("other")).is_none());
        let l = inh.listener(lfd).unwrap();
        assert!(fcntl_getfd(&l).unwrap().contains(FdFlags::CLOEXEC), "closed on exec again");
        assert!(inh.listener(lfd).is_err(), "adopted once");
        let c = inh.client(afd).unwrap();
        assert_eq!(c.as_raw_fd(), afd);
        let d = inh.event_socket(dfd, &dgram_path).unwrap();
        assert_eq!(d.as_raw_fd(), dfd);
        assert!(inh.client(0).is_err(), "standard streams are never adopted");
        assert!(inh.client(100_000).is_err(), "not open");
    }
}
