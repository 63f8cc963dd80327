//! A minimal xenstore client on the guest side of a ring page, for the
//! test guests (the x86 hostile guest, the Arm dom0less client).
//!
//! It speaks the guest's half of `docs/misc/xenstore-ring.txt`: requests are
//! copied into `req` and published with `req_prod`, replies and watch
//! events are read from `rsp` and split at each header's `len`. Replies are
//! matched to requests by `req_id`; watch events (`XS_WATCH_EVENT`) that
//! arrive meanwhile are kept, at most [`MAX_QUEUED_EVENTS`] of them.
//!
//! How it waits is the [`Link`]'s business: on Xen an event channel and the
//! architecture's sleep ([`super::link::EventLink`]), in tests a server run
//! in the same thread. Every wait
//! has a deadline, so a server that stops answering yields
//! [`ClientError::Timeout`], never a hang.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use ring::wire::XENSTORE_CONNECTED;
use ring::{
    Header, MsgType, ProtoError, RingError, RingPage, HEADER_SIZE, XENSTORE_PAYLOAD_MAX,
    XENSTORE_RING_SIZE,
};

/// Watch events kept while waiting for replies; older ones are dropped.
pub const MAX_QUEUED_EVENTS: usize = 16;

/// The client's view of the event channel and of time.
pub trait Link {
    /// Signals the server.
    fn notify(&mut self);
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> u64;
    /// Sleeps until the server may have signalled, or `deadline_ms` passed
    /// (spurious early returns are allowed).
    fn wait(&mut self, deadline_ms: u64);
}

/// Why a request got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// The ring's indices are inconsistent.
    Ring(RingError),
    /// The server sent a malformed message.
    Proto(ProtoError),
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Its header (`ty` is `XS_ERROR` for an error reply).
    pub header: Header,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Reply {
    /// The error name of an `XS_ERROR` reply (`"EACCES"`, …).
    pub fn error(&self) -> Option<&[u8]> {
        (self.header.ty == MsgType::Error as u32)
            .then(|| self.payload.strip_suffix(b"\0").unwrap_or(&self.payload))
    }
}

/// A xenstore client on one ring page.
pub struct Client<L: Link> {
    /// The shared page.
    page: RingPage,
    /// Event channel and clock.
    link: L,
    /// Response bytes read but not yet framed into a message.
    input: Vec<u8>,
    /// The next request id.
    next_req_id: u32,
    /// Watch events not yet taken.
    events: VecDeque<Reply>,
}

impl<L: Link> Client<L> {
    /// A client on `page`.
    pub fn new(page: RingPage, link: L) -> Client<L> {
        Client { page, link, input: Vec::new(), next_req_id: 1, events: VecDeque::new() }
    }

    /// The ring page, for the hostile steps that write it directly.
    pub fn page(&self) -> &RingPage {
        &self.page
    }

    /// The link, e.g. to notify after writing the page directly.
    pub fn link(&mut self) -> &mut L {
        &mut self.link
    }

    /// Sends `ty` with `payload` and waits up to `timeout_ms` for its reply.
    pub fn request(
        &mut self,
        ty: MsgType,
        payload: &[u8],
        timeout_ms: u64,
    ) -> Result<Reply, ClientError> {
        self.request_in(0, ty, payload, timeout_ms)
    }

    /// Sends `ty` with `payload` inside transaction `tx_id` (0: none) and
    /// waits up to `timeout_ms` for its reply.
    pub fn request_in(
        &mut self,
        tx_id: u32,
        ty: MsgType,
        payload: &[u8],
        timeout_ms: u64,
    ) -> Result<Reply, ClientError> {
        let deadline = self.link.now_ms().saturating_add(timeout_ms);
        let req_id = self.next_req_id;
        self.next_req_id = self.next_req_id.wrapping_add(1);
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let header = Header { ty: ty as u32, req_id, tx_id, len };
        self.send(&header.to_bytes(), deadline)?;
        self.send(payload, deadline)?;
        loop {
            if let Some(reply) = self.receive(deadline)? {
                if reply.header.ty == MsgType::WatchEvent as u32 {
                    self.queue_event(reply);
                } else if reply.header.req_id == req_id {
                    return Ok(reply);
                }
            }
        }
    }

    /// Sends raw bytes (a hand-made header, say) without waiting for a reply.
    pub fn send_raw(&mut self, bytes: &[u8], timeout_ms: u64) -> Result<(), ClientError> {
        let deadline = self.link.now_ms().saturating_add(timeout_ms);
        self.send(bytes, deadline)
    }

    /// Waits up to `timeout_ms` for a watch event; returns its payload
    /// (`path\0token\0`).
    pub fn next_event(&mut self, timeout_ms: u64) -> Result<Vec<u8>, ClientError> {
        let deadline = self.link.now_ms().saturating_add(timeout_ms);
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e.payload);
            }
            if let Some(reply) = self.receive(deadline)? {
                if reply.header.ty == MsgType::WatchEvent as u32 {
                    return Ok(reply.payload);
                }
            }
        }
    }

    /// Forgets queued watch events and any partly received message, as a
    /// guest does when it reconnects its ring.
    pub fn forget(&mut self) {
        self.events.clear();
        self.input.clear();
    }

    /// Waits up to `timeout_ms` until `cond` holds for the page; returns
    /// whether it did.
    pub fn wait_for(&mut self, timeout_ms: u64, cond: impl Fn(&RingPage) -> bool) -> bool {
        let deadline = self.link.now_ms().saturating_add(timeout_ms);
        loop {
            if cond(&self.page) {
                return true;
            }
            if self.link.now_ms() >= deadline {
                return false;
            }
            self.link.wait(deadline);
        }
    }

    /// Sleeps `ms` without looking at the ring.
    pub fn sleep(&mut self, ms: u64) {
        let deadline = self.link.now_ms().saturating_add(ms);
        while self.link.now_ms() < deadline {
            self.link.wait(deadline);
        }
    }

    /// Asks the server to reconnect the ring (`connection = 1`) and waits up
    /// to `timeout_ms` for it to finish (`connection = 0`).
    pub fn reconnect(&mut self, timeout_ms: u64) -> bool {
        self.page.set_connection(ring::wire::XENSTORE_RECONNECT);
        self.link.notify();
        let done = self.wait_for(timeout_ms, |p| p.connection() == XENSTORE_CONNECTED);
        self.forget();
        done
    }

    fn queue_event(&mut self, event: Reply) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Copies all of `bytes` into the request ring, waiting for space.
    fn send(&mut self, mut bytes: &[u8], deadline: u64) -> Result<(), ClientError> {
        while !bytes.is_empty() {
            let n = self.page.write_requests(bytes).map_err(ClientError::Ring)?;
            if n > 0 {
                self.link.notify();
                bytes = bytes.get(n..).unwrap_or_default();
                continue;
            }
            if self.link.now_ms() >= deadline {
                return Err(ClientError::Timeout);
            }
            self.link.wait(deadline);
        }
        Ok(())
    }

    /// Returns the next whole message from the response stream, reading
    /// the ring as needed; `None` after a wait that brought nothing.
    fn receive(&mut self, deadline: u64) -> Result<Option<Reply>, ClientError> {
        loop {
            if let Some(reply) = self.take_message()? {
                return Ok(Some(reply));
            }
            let mut buf = [0u8; XENSTORE_RING_SIZE];
            let n = self.page.read_responses(&mut buf).map_err(ClientError::Ring)?;
            if n == 0 {
                if self.link.now_ms() >= deadline {
                    return Err(ClientError::Timeout);
                }
                self.link.wait(deadline);
                return Ok(None);
            }
            // The server may have been waiting for space.
            self.link.notify();
            self.input.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
    }

    /// Splits the first whole message off the received bytes. Bytes are
    /// only read while no whole message is held, so `input` stays below
    /// one maximal message plus one ring.
    fn take_message(&mut self) -> Result<Option<Reply>, ClientError> {
        let Some(head) = self.input.first_chunk::<HEADER_SIZE>() else { return Ok(None) };
        let header = Header::from_bytes(head);
        let len = usize::try_from(header.len).unwrap_or(usize::MAX);
        if len > XENSTORE_PAYLOAD_MAX {
            return Err(ClientError::Proto(ProtoError::TooLong));
        }
        let end = HEADER_SIZE.saturating_add(len);
        let Some(payload) = self.input.get(HEADER_SIZE..end) else { return Ok(None) };
        let reply = Reply { header, payload: payload.to_vec() };
        self.input.drain(..end);
        Ok(Some(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use core::ptr::NonNull;
    use ring::page::LocalPage;
    use ring::wire::XENSTORE_RECONNECT;

    /// A link whose `wait` plays a server on the same page: it answers
    /// every whole request with a reply echoing its payload, preceded by a
    /// watch event, and completes a reconnection.
    struct EchoServer {
        page: RingPage,
        now: Cell<u64>,
    }

    impl Link for EchoServer {
        fn notify(&mut self) {}

        fn now_ms(&self) -> u64 {
            self.now.get()
        }

        fn wait(&mut self, _deadline_ms: u64) {
            self.now.set(self.now.get() + 10);
            if self.page.connection() == XENSTORE_RECONNECT {
                self.page.reset_indices();
                self.page.set_connection(XENSTORE_CONNECTED);
                return;
            }
            let mut buf = [0u8; XENSTORE_RING_SIZE];
            let n = self.page.peek_requests(&mut buf).unwrap();
            let Some(head) = buf[..n].first_chunk::<HEADER_SIZE>() else { return };
            let h = Header::from_bytes(head);
            let end = HEADER_SIZE + h.len as usize;
            if n < end {
                return;
            }
            self.page.consume_requests(end as u32);
            let event = b"p\0t\0";
            let eh = Header { ty: MsgType::WatchEvent as u32, req_id: 0, tx_id: 0, len: 4 };
            self.page.write_responses(&eh.to_bytes()).unwrap();
            self.page.write_responses(event).unwrap();
            self.page.write_responses(&h.to_bytes()).unwrap();
            self.page.write_responses(&buf[HEADER_SIZE..end]).unwrap();
        }
    }

    #[test]
    fn replies_match_requests_and_events_are_kept() {
        let mut local = alloc::boxed::Box::new(LocalPage::default());
        let base = NonNull::from(&mut *local).cast::<u8>();
        // SAFETY: `local` outlives both handles and is not touched otherwise;
        // the two sides take turns in this one thread.
        let (guest, server) = unsafe { (RingPage::new(base), RingPage::new(base)) };
        let mut c = Client::new(guest, EchoServer { page: server, now: Cell::new(0) });
        let r = c.request(MsgType::Read, b"domid\0", 1000).unwrap();
        assert_eq!(r.header.ty, MsgType::Read as u32);
        assert_eq!(r.payload, b"domid\0");
        assert_eq!(r.error(), None);
        assert_eq!(c.next_event(1000).unwrap(), b"p\0t\0");
        assert_eq!(c.next_event(100), Err(ClientError::Timeout));
        assert!(c.reconnect(1000));
        assert_eq!(c.page().raw_indices(), Default::default());
        drop(c);
    }

    #[test]
    fn error_replies_name_the_error() {
        let r = Reply {
            header: Header { ty: MsgType::Error as u32, ..Default::default() },
            payload: b"EACCES\0".to_vec(),
        };
        assert_eq!(r.error(), Some(&b"EACCES"[..]));
    }
}
