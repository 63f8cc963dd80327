//! A simulated guest's ring (the simring convention, tests/peers/README.md):
//! the page `ring-<domid>` the daemon maps, and the datagram sockets that
//! carry event-channel notifications.
//!
//! The page is read and written with `pread`/`pwrite` rather than mapped
//! (the tools use no `unsafe`): the daemon's shared mapping and these
//! calls see the same page-cache page, and each call is a full barrier, so
//! "copy the data, then advance the index" keeps its order.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::Link;

/// Bytes of the page.
const PAGE: u64 = 4096;
/// Bytes of each ring.
const RING: u32 = 1024;
/// Offsets of the request and response rings and the indices.
const REQ: u64 = 0;
const RSP: u64 = 1024;
const REQ_CONS: u64 = 2048;
const REQ_PROD: u64 = 2052;
const RSP_CONS: u64 = 2056;
const RSP_PROD: u64 = 2060;
const ERROR: u64 = 2072;
/// A guest looks at its ring again after this long without a
/// notification (notifications are hints; this only catches one the
/// daemon dropped because the guest's queue was full).
const POLL: Duration = Duration::from_millis(20);

/// Guest `domid`'s end of its ring.
pub struct Guest {
    page: File,
    events: UnixDatagram,
    server: PathBuf,
    notify: Vec<u8>,
}

impl Guest {
    /// Creates the page (zeroed) and binds the event socket in `dir`,
    /// before the toolstack introduces the guest with event channel
    /// `port`.
    pub fn create(dir: &Path, domid: u32, port: u32) -> io::Result<Guest> {
        let page = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(format!("ring-{domid}")))?;
        if page.metadata()?.len() < PAGE {
            page.set_len(PAGE)?;
        }
        let path = dir.join(format!("evtchn-{domid}"));
        let _ = std::fs::remove_file(&path);
        let events = UnixDatagram::bind(&path)?;
        events.set_read_timeout(Some(POLL))?;
        Ok(Guest {
            page,
            events,
            server: dir.join("evtchn-server"),
            notify: format!("notify {domid} {port}").into_bytes(),
        })
    }

    fn get(&self, off: u64) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.page.read_exact_at(&mut b, off)?;
        Ok(u32::from_le_bytes(b))
    }

    fn set(&self, off: u64, v: u32) -> io::Result<()> {
        self.page.write_all_at(&v.to_le_bytes(), off)
    }

    /// Tells the daemon to look at the ring.
    fn kick(&self) -> io::Result<()> {
        self.events.send_to(&self.notify, &self.server).map(|_| ())
    }

    /// Waits for a notification, or [`POLL`].
    fn wait(&self) -> io::Result<()> {
        let mut b = [0u8; 64];
        match self.events.recv(&mut b) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn check_error(&self) -> io::Result<()> {
        match self.get(ERROR)? {
            0 => Ok(()),
            e => Err(io::Error::other(format!("the daemon set the ring's error field to {e}"))),
        }
    }
}

impl Link for Guest {
    fn send(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.check_error()?;
            let (cons, prod) = (self.get(REQ_CONS)?, self.get(REQ_PROD)?);
            let used = prod.wrapping_sub(cons);
            if used >= RING {
                self.wait()?;
                continue;
            }
            let at = prod % RING;
            let n = (RING - used).min(RING - at).min(bytes.len() as u32);
            self.page.write_all_at(&bytes[..n as usize], REQ + u64::from(at))?;
            self.set(REQ_PROD, prod.wrapping_add(n))?;
            bytes = &bytes[n as usize..];
            self.kick()?;
        }
        Ok(())
    }

    fn fill(&mut self, rx: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let (mut cons, prod) = (self.get(RSP_CONS)?, self.get(RSP_PROD)?);
            let mut avail = prod.wrapping_sub(cons);
            if avail > RING {
                return Err(io::Error::other("bad response indices"));
            }
            if avail == 0 {
                self.check_error()?;
                self.wait()?;
                continue;
            }
            while avail > 0 {
                let at = cons % RING;
                let n = avail.min(RING - at);
                let start = rx.len();
                rx.resize(start + n as usize, 0);
                self.page.read_exact_at(&mut rx[start..], RSP + u64::from(at))?;
                cons = cons.wrapping_add(n);
                avail -= n;
            }
            self.set(RSP_CONS, cons)?;
            return self.kick();
        }
    }
}
