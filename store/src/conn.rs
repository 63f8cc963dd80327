//! A connection: framing of its input, its queue of replies and watch
//! events, its watches and transactions.
//!
//! Framing is check-then-parse: bytes accumulate until a whole 16-byte
//! header and its payload are present; a header announcing more than
//! `XENSTORE_PAYLOAD_MAX` bytes is a protocol violation. (This is the one
//! function to switch to `ring::decode::Decoder` once it lands.)

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use ring::wire::{Header, HEADER_SIZE, XENSTORE_PAYLOAD_MAX};

use crate::engine::DomId;
use crate::error::ProtoError;
use crate::transaction::Transaction;
use crate::watch::Watch;

/// Incremental framing state.
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

/// What [`Framer::push`] found.
pub enum Framed {
    /// More bytes are needed.
    Incomplete,
    /// A whole message is buffered; read it with [`Framer::message`].
    Message,
    /// The peer violated the protocol.
    Error(ProtoError),
}

impl Framer {
    /// Consumes bytes from `input` until one message is complete; returns
    /// how many bytes were taken and what was found.
    pub fn push(&mut self, input: &[u8]) -> (usize, Framed) {
        let mut used = 0usize;
        if self.buf.len() < HEADER_SIZE {
            let want = HEADER_SIZE - self.buf.len();
            let take = want.min(input.len());
            self.buf.extend_from_slice(input.get(..take).unwrap_or(&[]));
            used = take;
            if self.buf.len() < HEADER_SIZE {
                return (used, Framed::Incomplete);
            }
        }
        let Some(hdr) = self.header() else {
            return (used, Framed::Incomplete);
        };
        let len = hdr.len as usize;
        if len > XENSTORE_PAYLOAD_MAX {
            return (used, Framed::Error(ProtoError::TooLong));
        }
        let total = HEADER_SIZE + len;
        let want = total.saturating_sub(self.buf.len());
        let rest = input.get(used..).unwrap_or(&[]);
        let take = want.min(rest.len());
        self.buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        used += take;
        if self.buf.len() == total {
            (used, Framed::Message)
        } else {
            (used, Framed::Incomplete)
        }
    }

    fn header(&self) -> Option<Header> {
        let h: &[u8; HEADER_SIZE] = self.buf.get(..HEADER_SIZE)?.try_into().ok()?;
        Some(Header::from_bytes(h))
    }

    /// The complete message (after [`Framed::Message`]).
    pub fn message(&self) -> Option<(Header, &[u8])> {
        Some((self.header()?, self.buf.get(HEADER_SIZE..)?))
    }

    /// Forgets the buffered message or partial input.
    pub fn reset(&mut self) {
        self.buf.clear();
    }

    /// Bytes buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

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

/// One client connection.
pub struct Conn {
    /// The domain the connection speaks for.
    pub domid: DomId,
    /// A Unix socket client (privileged) rather than a ring.
    pub socket: bool,
    /// Protocol violation seen: nothing more is read or written.
    pub ignored: bool,
    /// Input framing.
    pub framer: Framer,
    /// Replies and events not yet fully handed to the platform.
    pub out: VecDeque<OutMsg>,
    /// Bytes of the front message already sent.
    pub out_off: usize,
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
            framer: Framer::default(),
            out: VecDeque::new(),
            out_off: 0,
            watches: Vec::new(),
            txs: Vec::new(),
            next_tx: 1,
            target: None,
            in_ready: false,
            blocked: false,
        }
    }
}

/// Serialises a message.
pub fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let hdr = Header { ty, req_id, tx_id, len };
    let mut v = Vec::with_capacity(HEADER_SIZE + payload.len());
    v.extend_from_slice(&hdr.to_bytes());
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_byte_by_byte() {
        let msg = encode(2, 7, 0, b"/a\0");
        let mut f = Framer::default();
        for (i, b) in msg.iter().enumerate() {
            let (n, r) = f.push(core::slice::from_ref(b));
            assert_eq!(n, 1);
            assert_eq!(matches!(r, Framed::Message), i + 1 == msg.len());
        }
        let (h, p) = f.message().unwrap();
        assert_eq!((h.ty, h.req_id, p), (2, 7, &b"/a\0"[..]));
    }

    #[test]
    fn stops_at_message_boundary_and_rejects_long() {
        let mut two = encode(2, 1, 0, b"x\0");
        two.extend(encode(2, 2, 0, b"y\0"));
        let mut f = Framer::default();
        let (n, r) = f.push(&two);
        assert_eq!(n, 18);
        assert!(matches!(r, Framed::Message));
        let mut bad = Framer::default();
        let hdr = Header { ty: 2, req_id: 0, tx_id: 0, len: 4097 }.to_bytes();
        assert!(matches!(bad.push(&hdr).1, Framed::Error(ProtoError::TooLong)));
    }
}
