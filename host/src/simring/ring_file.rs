//! Ring pages shared through files (simring convention §1).
//!
//! A guest's page is `DIR/ring-<domid>`, exactly 4096 bytes, mapped
//! `MAP_SHARED` read/write by both sides. Whichever side needs it first
//! creates it zero-filled; nobody truncates an existing guest ring. dom0's
//! `ring-0` is created fresh (zeroed) by the daemon at start-up. Without a
//! simring directory an introduced domain gets a private zeroed page, as
//! Debian's C xenstored does under the peers shim.
//!
//! This file holds the front end's only `unsafe` code: handing the mapping
//! to [`RingPage::new`], which needs a pointer valid for the handle's life.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;

use memmap2::{MmapOptions, MmapRaw};
use ring::page::XEN_PAGE_SIZE;
use ring::RingPage;

/// A mapped ring page. Field order matters: `page` is dropped before `map`,
/// so the handle never outlives the mapping.
pub struct SharedRing {
    /// The ring protocol over the mapping.
    page: RingPage,
    /// Keeps the pages mapped; never read through references.
    _map: MmapRaw,
}

impl SharedRing {
    /// Maps `path`, creating it zero-filled (or extending a short file to a
    /// page) first; `fresh` zeroes an existing file (dom0's `ring-0`).
    pub fn open(path: &Path, fresh: bool) -> io::Result<SharedRing> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(fresh)
            .mode(0o600)
            .open(path)?;
        let page_len = u64::try_from(XEN_PAGE_SIZE).unwrap_or(u64::MAX);
        if file.metadata()?.len() < page_len {
            file.set_len(page_len)?;
        }
        let map = MmapOptions::new().len(XEN_PAGE_SIZE).map_raw(&file)?;
        Ok(SharedRing::from_map(map))
    }

    /// A private zeroed page nobody else sees.
    pub fn anonymous() -> io::Result<SharedRing> {
        let map = MmapOptions::new().len(XEN_PAGE_SIZE).map_anon()?;
        Ok(SharedRing::from_map(map.into()))
    }

    /// Wraps a mapping of exactly one page.
    fn from_map(map: MmapRaw) -> SharedRing {
        debug_assert_eq!(map.len(), XEN_PAGE_SIZE);
        // `mmap` never returns a null address on success.
        let base = NonNull::new(map.as_mut_ptr()).unwrap_or(NonNull::dangling());
        // SAFETY: `base` is the start of a live 4096-byte, page-aligned,
        // read/write mapping that `SharedRing` keeps alive (the `_map` field
        // is dropped after `page`). `MmapRaw` only hands out raw pointers, so
        // no Rust reference to the memory exists; the guest process writes
        // it concurrently through its own mapping, which the ring protocol
        // and RingPage's volatile/atomic accesses allow.
        let page = unsafe { RingPage::new(base) };
        SharedRing { page, _map: map }
    }

    /// The ring protocol over the page.
    pub fn page(&self) -> &RingPage {
        &self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rings_are_shared_and_created_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring-3");
        let server = SharedRing::open(&path, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        let guest = SharedRing::open(&path, false).unwrap();
        assert_eq!(guest.page().write_requests(b"hello").unwrap(), 5);
        let mut buf = [0u8; 16];
        assert_eq!(server.page().peek_requests(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        server.page().set_error(3);
        assert_eq!(guest.page().error(), 3);
        drop(server);
        drop(guest);

        // Re-opening keeps the contents; `fresh` zeroes them.
        let again = SharedRing::open(&path, false).unwrap();
        assert_eq!(again.page().error(), 3);
        let fresh = SharedRing::open(&path, true).unwrap();
        assert_eq!(fresh.page().error(), 0);
        assert_eq!(fresh.page().requests_available().unwrap(), 0);
    }

    #[test]
    fn anonymous_rings_work() {
        let r = SharedRing::anonymous().unwrap();
        assert_eq!(r.page().write_responses(b"abc").unwrap(), 3);
        assert_eq!(r.page().responses_available().unwrap(), 3);
    }
}
