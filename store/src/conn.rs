//! A connection: its input decoder, its queue of replies and watch
//! events, its watches and transactions.
//!
//! Framing is `ring::decode::Decoder` (check-then-parse; a header
//! announcing more than `XENSTORE_PAYLOAD_MAX` bytes is a protocol
//! violation). An idle connection holds only the decoder's header state:
//! a message wholly in the bytes the platform hands over is handled in
//! place, and only a payload that arrives in pieces is gathered in a heap
//! buffer ([`HeapPayload`]) of exactly its announced length, allocated
//! fallibly when its first byte arrives and freed once the message is
//! handled. So a payload is copied at most once, and an idle introduced
//! domain costs a few hundred bytes (`tests/idle_domains.rs`). The decoder
//! is lent out of the connection while its message is handled.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use ring::decode::{Decoder, PayloadBuf};
use ring::wire::{Header, HEADER_SIZE};

use crate::engine::DomId;
use crate::transaction::Transaction;
use crate::watch::Watch;

/// A queued message for the peer.
pub struct OutMsg {
    /// Header and payload.
    pub bytes: Vec<u8>,
    /// A watch event (subject to de-duplication and expiry).
    pub event: bool,
    /// When an unread event is dropped (unprivileged watchers only).
    pub expire_ms: Option<u64>,
    /// The request this reply answers or this event was caused by, for the
    /// `outstanding` accounting.
    pub req: Option<u64>,
}

impl OutMsg {
    /// Whether it is an unread event that has expired by `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_ms.is_some_and(|t| t <= now_ms)
    }
}

/// A connection's queue of replies and watch events, in sending order.
///
/// Only the unsent messages (all but a partly sent front one, which must
/// go out whole) may be dropped or stand in for a duplicate event. An
/// empty queue holds no memory.
#[derive(Default)]
pub struct OutQueue {
    /// The messages.
    msgs: VecDeque<OutMsg>,
    /// Bytes of the front message already sent.
    off: usize,
}

impl OutQueue {
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Every queued message, the one being sent first.
    pub fn iter(&self) -> impl Iterator<Item = &OutMsg> {
        self.msgs.iter()
    }

    /// The queued messages not yet being sent.
    pub fn unsent(&self) -> impl Iterator<Item = &OutMsg> {
        self.msgs.iter().skip(usize::from(self.off > 0))
    }

    /// The next bytes to send (empty when nothing is queued).
    pub fn pending(&self) -> &[u8] {
        self.msgs.front().and_then(|m| m.bytes.get(self.off..)).unwrap_or(&[])
    }

    /// Queues `msg` last.
    pub fn push(&mut self, msg: OutMsg) {
        self.msgs.push_back(msg);
    }

    /// `n` more bytes of [`OutQueue::pending`] were sent. Returns the front
    /// message once all of it was.
    pub fn sent(&mut self, n: usize) -> Option<OutMsg> {
        let len = self.msgs.front()?.bytes.len();
        self.off = self.off.saturating_add(n).min(len);
        if self.off < len {
            return None;
        }
        self.off = 0;
        let m = self.msgs.pop_front();
        self.release_if_empty();
        m
    }

    /// Removes and returns every queued message (the connection is reset
    /// or goes away).
    pub fn take_all(&mut self) -> VecDeque<OutMsg> {
        core::mem::take(self).msgs
    }

    /// Removes and returns the unsent events expired by `now_ms`, keeping
    /// the others in order.
    pub fn remove_expired(&mut self, now_ms: u64) -> Vec<OutMsg> {
        let first = usize::from(self.off > 0);
        let mut keep = VecDeque::with_capacity(self.msgs.len());
        let mut gone = Vec::new();
        for (i, m) in self.msgs.drain(..).enumerate() {
            if i >= first && m.expired(now_ms) {
                gone.push(m);
            } else {
                keep.push_back(m);
            }
        }
        self.msgs = keep;
        self.release_if_empty();
        gone
    }

    /// Gives the queue's memory back once nothing is queued: an idle
    /// connection holds none.
    fn release_if_empty(&mut self) {
        if self.msgs.is_empty() {
            self.take_all();
        }
    }
}

/// Heap storage for a payload that arrives in pieces: nothing while no
/// such payload is in progress, exactly its length while one is.
#[derive(Default)]
pub struct HeapPayload(Vec<u8>);

impl PayloadBuf for HeapPayload {
    fn prepare(&mut self, len: usize) -> bool {
        self.0 = Vec::new();
        self.0.try_reserve_exact(len).is_ok()
    }

    fn append(&mut self, bytes: &[u8]) {
        // Never past the prepared room: appending never allocates.
        let room = self.0.capacity().saturating_sub(self.0.len());
        self.0.extend_from_slice(bytes.get(..room).unwrap_or(bytes));
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn release(&mut self) {
        self.0 = Vec::new();
    }
}

/// One client connection.
pub struct Conn {
    /// The domain the connection speaks for.
    pub domid: DomId,
    /// A Unix socket client (privileged) rather than a ring.
    pub socket: bool,
    /// Protocol violation seen: nothing more is read or written.
    pub ignored: bool,
    /// Input framing (a fresh decoder stands in while the engine handles
    /// a message the connection's own decoder holds).
    pub decoder: Decoder<HeapPayload>,
    /// Replies and events not yet fully handed to the platform.
    pub out: OutQueue,
    /// Registered watches, in creation order.
    pub watches: Vec<Watch>,
    /// Open transactions.
    pub txs: Vec<Transaction>,
    /// Next transaction id to try.
    pub next_tx: u32,
    /// The domain this one acts for (`XS_SET_TARGET`).
    pub target: Option<DomId>,
    /// Already listed for `take_ready`.
    pub in_ready: bool,
    /// Flow-controlled at the last check.
    pub blocked: bool,
}

impl Conn {
    /// A fresh connection for `domid`.
    pub fn new(domid: DomId, socket: bool) -> Conn {
        Conn {
            domid,
            socket,
            ignored: false,
            decoder: Decoder::default(),
            out: OutQueue::default(),
            watches: Vec::new(),
            txs: Vec::new(),
            next_tx: 1,
            target: None,
            in_ready: false,
            blocked: false,
        }
    }
}

/// Completes a message built in a buffer whose first `HEADER_SIZE` bytes
/// are reserved for the header (`Reply::buffer`).
pub fn frame(ty: u32, req_id: u32, tx_id: u32, mut buf: Vec<u8>) -> Vec<u8> {
    let payload = buf.len().saturating_sub(HEADER_SIZE);
    let len = u32::try_from(payload).unwrap_or(u32::MAX);
    let hdr = Header { ty, req_id, tx_id, len };
    if let Some(dst) = buf.get_mut(..HEADER_SIZE) {
        dst.copy_from_slice(&hdr.to_bytes());
    }
    buf
}

/// Serialises a message.
pub fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let hdr = Header { ty, req_id, tx_id, len };
    let mut v = Vec::with_capacity(HEADER_SIZE.saturating_add(payload.len()));
    v.extend_from_slice(&hdr.to_bytes());
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_writes_header_then_payload() {
        let msg = encode(2, 7, 3, b"/a\0");
        let h: [u8; HEADER_SIZE] = msg[..HEADER_SIZE].try_into().unwrap();
        let h = Header::from_bytes(&h);
        assert_eq!((h.ty, h.req_id, h.tx_id, h.len), (2, 7, 3, 3));
        assert_eq!(&msg[HEADER_SIZE..], b"/a\0");
    }
}
