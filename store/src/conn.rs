//! A connection's byte streams: the storage its input decoder gathers a
//! payload in, and its queue of replies and watch events. (The connection
//! itself, with its watches and transactions, is `engine::Conn`.)
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

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hasher as _};

use hashbrown::HashTable;

use ring::decode::PayloadBuf;
use ring::wire::HEADER_SIZE;

use crate::tree::Hasher;

/// A queued message for the peer.
#[derive(Default)]
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

/// What one entry of [`OutQueue`]'s event index costs: its bucket and its
/// control byte.
const INDEX_ENTRY_BYTES: usize = core::mem::size_of::<(u64, u64)>() + 1;

/// An upper bound on the first table of an event index (four buckets,
/// their control bytes and a group of padding).
const FIRST_INDEX_TABLE_BYTES: usize = 128;

impl OutMsg {
    /// The memory a queued message holds by itself, as charged to its
    /// connection's domain: its buffer's capacity. (The queue's slots and
    /// event index are charged as the queue holds them,
    /// [`OutQueue::settle`].)
    pub fn charge(&self) -> usize {
        self.bytes.capacity()
    }

    /// What queuing a message whose buffer has `capacity` bytes costs in a
    /// queue with room for it: the buffer, its slot and, when `indexed`
    /// (a de-duplicable event), its entry in the event index. Asked of the
    /// budget and the quota before such a message is built (with
    /// [`OutQueue::push_growth`] when the queue is full).
    pub const fn charge_for(capacity: usize, indexed: bool) -> usize {
        let index = if indexed { INDEX_ENTRY_BYTES } else { 0 };
        capacity.saturating_add(core::mem::size_of::<OutMsg>()).saturating_add(index)
    }

    /// Whether it is an unread event that has expired by `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_ms.is_some_and(|t| t <= now_ms)
    }

    /// The path and token of a watch event that identical events are
    /// de-duplicated against: every event but the special `@…` ones.
    fn dedup_key(&self) -> Option<(&[u8], &[u8])> {
        if !self.event {
            return None;
        }
        let payload = self.bytes.get(HEADER_SIZE..)?;
        if payload.first() == Some(&b'@') {
            return None;
        }
        let nul = payload.iter().position(|&b| b == 0)?;
        let (path, rest) = payload.split_at_checked(nul)?;
        let token = rest.get(1..)?.strip_suffix(&[0])?;
        Some((path, token))
    }
}

/// The keyed hash of a watch event's path and token (guests choose both).
fn event_hash(seed: u64, path: &[u8], token: &[u8]) -> u64 {
    let mut h = Hasher::with_seed(seed).build_hasher();
    h.write(path);
    h.write_u8(0);
    h.write(token);
    h.finish()
}

/// The unsent de-duplicable events of an [`OutQueue`], by content.
#[derive(Default)]
struct EventIndex {
    /// The sequence number of the queue's front message (a message's is
    /// `head` plus its position).
    head: u64,
    /// `(hash, sequence number)` of each unsent de-duplicable event.
    table: HashTable<(u64, u64)>,
}

impl EventIndex {
    /// Adds the event at queue position `at`, of hash `hash`.
    fn insert(&mut self, hash: u64, at: usize) {
        let seq = self.head.wrapping_add(u64::try_from(at).unwrap_or(u64::MAX));
        self.table.insert_unique(hash, (hash, seq), |&(h, _)| h);
    }

    /// Whether the table holds an event of hash `hash` whose queue
    /// position `is_it` accepts.
    fn find(&self, hash: u64, mut is_it: impl FnMut(usize) -> bool) -> bool {
        let head = self.head;
        let found = self.table.find(hash, |&(h, seq)| {
            h == hash && usize::try_from(seq.wrapping_sub(head)).is_ok_and(&mut is_it)
        });
        found.is_some()
    }
}

/// A connection's queue of replies and watch events, in sending order,
/// with an index of its unsent de-duplicable events so that an identical
/// event is found in O(1) (C scans the whole queue).
///
/// Only the unsent messages (all but a partly sent front one, which must
/// go out whole) may be dropped or stand in for a duplicate event. The
/// index maps the keyed hash of each such event's path and token to its
/// sequence number; it is kept as messages are queued, start being sent,
/// expire or are dropped. An empty queue holds no memory.
#[derive(Default)]
pub struct OutQueue {
    /// The messages.
    msgs: VecDeque<OutMsg>,
    /// Bytes of the front message already sent.
    off: usize,
    /// The index, once a de-duplicable event was queued (boxed: most
    /// connections never have one).
    index: Option<Box<EventIndex>>,
    /// Queued events compared byte for byte with a new one (a work
    /// counter: at most one per event, barring a 64-bit hash collision).
    compared: u64,
    /// The storage bytes last charged to the connection's domain
    /// ([`OutQueue::settle`]).
    charged: usize,
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

    /// What is left to send of the front message when part of it was
    /// sent (`None` when none was).
    pub fn front_rest(&self) -> Option<&[u8]> {
        let front = self.msgs.front()?;
        (self.off > 0).then(|| front.bytes.get(self.off..).unwrap_or(&[]))
    }

    /// The front message, whole.
    pub fn front(&self) -> Option<&[u8]> {
        self.msgs.front().map(|m| m.bytes.as_slice())
    }

    /// The next bytes to send (empty when nothing is queued).
    pub fn pending(&self) -> &[u8] {
        self.msgs.front().and_then(|m| m.bytes.get(self.off..)).unwrap_or(&[])
    }

    /// Heap the queue's own storage holds: its message slots (all of its
    /// capacity) and its event index; not the messages' buffers.
    pub fn storage_bytes(&self) -> usize {
        let slots = self.msgs.capacity().saturating_mul(core::mem::size_of::<OutMsg>());
        let index = self.index.as_deref().map_or(0, |i| {
            core::mem::size_of::<EventIndex>().saturating_add(i.table.allocation_size())
        });
        slots.saturating_add(index)
    }

    /// What queuing one more message (a de-duplicable event when
    /// `indexed`) may allocate for the queue's storage, beyond the
    /// message's own buffer: a new block of slots when every slot is taken
    /// (it doubles, and the old block is freed only after the copy), and a
    /// new index table when the index is full.
    pub fn push_growth(&self, indexed: bool) -> usize {
        self.growth(indexed, 1)
    }

    /// What queuing an event may allocate, as [`OutQueue::push_growth`],
    /// with a slot left after it for a reply: a request's own watch events
    /// are queued before its reply, and a reply is queued whatever the
    /// budget says, so an event that would take the last slot asks for the
    /// block the reply would otherwise grow unasked.
    pub fn event_growth(&self, indexed: bool) -> usize {
        self.growth(indexed, 2)
    }

    /// The storage `slots_needed` more messages may allocate (the last
    /// one indexed when `indexed`).
    fn growth(&self, indexed: bool, slots_needed: usize) -> usize {
        let slot = core::mem::size_of::<OutMsg>();
        let cap = self.msgs.capacity();
        let slots = if self.msgs.len().saturating_add(slots_needed) <= cap {
            0
        } else if cap == 0 {
            slot
        } else {
            cap.saturating_mul(2).max(4).saturating_mul(slot)
        };
        let index = match (indexed, self.index.as_deref()) {
            (false, _) => 0,
            (true, None) => {
                core::mem::size_of::<EventIndex>().saturating_add(FIRST_INDEX_TABLE_BYTES)
            }
            (true, Some(i)) if i.table.len() < i.table.capacity() => 0,
            (true, Some(i)) => {
                i.table.allocation_size().saturating_mul(2).max(FIRST_INDEX_TABLE_BYTES)
            }
        };
        slots.saturating_add(index)
    }

    /// The storage bytes charged before and now: [`OutQueue::storage_bytes`]
    /// is charged to the connection's domain as it changes, so what the
    /// queue's doubling holds in spare slots is counted too.
    pub fn settle(&mut self) -> (usize, usize) {
        let now = self.storage_bytes();
        (core::mem::replace(&mut self.charged, now), now)
    }

    /// Queues `msg` last (indexing it if it is a de-duplicable event;
    /// `seed` keys the hash).
    pub fn push(&mut self, msg: OutMsg, seed: u64) {
        if let Some((path, token)) = msg.dedup_key() {
            let hash = event_hash(seed, path, token);
            self.index.get_or_insert_default().insert(hash, self.msgs.len());
        }
        if self.msgs.capacity() == 0 {
            // Room for exactly one: a lone reply (e.g. a refusal,
            // `dispatch::REFUSAL_BYTES`) costs one slot, not the four an
            // empty `VecDeque` would take.
            self.msgs.reserve_exact(1);
        }
        self.msgs.push_back(msg);
    }

    /// Whether an unsent event with this path and token is queued: one
    /// hash look-up, and a byte comparison only with an event of the same
    /// hash.
    pub fn has_event(&mut self, seed: u64, path: &[u8], token: &[u8]) -> bool {
        let Some(index) = self.index.as_deref() else {
            return false;
        };
        let (msgs, compared) = (&self.msgs, &mut self.compared);
        index.find(event_hash(seed, path, token), |at| {
            *compared = compared.saturating_add(1);
            msgs.get(at).and_then(OutMsg::dedup_key) == Some((path, token))
        })
    }

    /// Queued events compared byte for byte by [`OutQueue::has_event`].
    pub fn compared(&self) -> u64 {
        self.compared
    }

    /// `n` more bytes of [`OutQueue::pending`] were sent. Returns the front
    /// message once all of it was; a message that started being sent no
    /// longer stands in for a duplicate.
    pub fn sent(&mut self, n: usize, seed: u64) -> Option<OutMsg> {
        let len = self.msgs.front()?.bytes.len();
        if self.off == 0 && n > 0 {
            self.unindex_front(seed);
        }
        self.off = self.off.saturating_add(n).min(len);
        if self.off < len {
            return None;
        }
        self.off = 0;
        let m = self.msgs.pop_front();
        if let Some(index) = self.index.as_mut() {
            index.head = index.head.wrapping_add(1);
        }
        self.release_if_empty();
        m
    }

    /// Removes and returns every queued message (the connection is reset
    /// or goes away).
    pub fn take_all(&mut self) -> VecDeque<OutMsg> {
        let (compared, charged) = (self.compared, self.charged);
        let all = core::mem::take(self).msgs;
        (self.compared, self.charged) = (compared, charged);
        all
    }

    /// Removes the unsent events expired by `now_ms`, keeping the others
    /// in order, and hands each to `gone`. In place: expiry allocates
    /// nothing (the index, rebuilt, is no larger than before).
    pub fn remove_expired(&mut self, now_ms: u64, seed: u64, mut gone: impl FnMut(OutMsg)) {
        let first = usize::from(self.off > 0);
        let mut at = 0usize;
        let mut removed = false;
        self.msgs.retain_mut(|m| {
            let expired = at >= first && m.expired(now_ms);
            at = at.saturating_add(1);
            if expired {
                removed = true;
                gone(core::mem::take(m));
            }
            !expired
        });
        if removed {
            self.reindex(seed);
        }
        self.release_if_empty();
    }

    /// Drops the front message's index entry, if it has one.
    fn unindex_front(&mut self, seed: u64) {
        let (Some(index), Some(front)) = (self.index.as_mut(), self.msgs.front()) else {
            return;
        };
        let Some((path, token)) = front.dedup_key() else {
            return;
        };
        let head = index.head;
        let hash = event_hash(seed, path, token);
        if let Ok(entry) = index.table.find_entry(hash, |&(_, seq)| seq == head) {
            entry.remove();
        }
    }

    /// Rebuilds the index after messages left from the middle of the queue.
    fn reindex(&mut self, seed: u64) {
        self.index = None;
        let first = usize::from(self.off > 0);
        for (at, m) in self.msgs.iter().enumerate().skip(first) {
            if let Some((path, token)) = m.dedup_key() {
                let hash = event_hash(seed, path, token);
                self.index.get_or_insert_default().insert(hash, at);
            }
        }
    }

    /// Gives the queue's and the index's memory back once nothing is
    /// queued: an idle connection holds none.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::encode;
    use ring::wire::Header;

    #[test]
    fn encode_writes_header_then_payload() {
        let msg = encode(2, 7, 3, b"/a\0");
        let h: [u8; HEADER_SIZE] = msg[..HEADER_SIZE].try_into().unwrap();
        let h = Header::from_bytes(&h);
        assert_eq!((h.ty, h.req_id, h.tx_id, h.len), (2, 7, 3, 3));
        assert_eq!(&msg[HEADER_SIZE..], b"/a\0");
    }

    /// An event's wire bytes.
    fn event(path: &[u8], token: &[u8]) -> Vec<u8> {
        let payload = [path, b"\0", token, b"\0"].concat();
        encode(15, 0, 0, &payload)
    }

    /// The queue against a plain list scanned as before the index: after
    /// random pushes (only of events not already unsent, as `send_event`
    /// does), partial and whole sends, expiries and resets, the index
    /// finds exactly the unsent events a scan finds, and the queue holds
    /// the same messages in the same order.
    #[test]
    fn the_event_index_agrees_with_a_scan_of_the_unsent_queue() {
        let paths: [&[u8]; 4] = [b"/a", b"/b/c", b"@releaseDomain", b"x"];
        let tokens: [&[u8]; 3] = [b"t", b"", b"tok"];
        let seed = 0x1234;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % bound
        };
        let mut q = OutQueue::default();
        // The model: (bytes, event, expiry) and the front's sent bytes.
        let mut model: VecDeque<(Vec<u8>, bool, Option<u64>)> = VecDeque::new();
        let mut off = 0usize;
        let mut checks = 0;
        for step in 0..20_000 {
            match next(10) {
                0..=4 => {
                    let (p, t) = (paths[next(4) as usize], tokens[next(3) as usize]);
                    let bytes = event(p, t);
                    let special = p.first() == Some(&b'@');
                    let unsent = model.iter().skip(usize::from(off > 0));
                    let queued = unsent.clone().any(|m| m.1 && m.0 == bytes);
                    if !special {
                        checks += 1;
                        assert_eq!(q.has_event(seed, p, t), queued, "step {step}");
                    }
                    if special || !queued {
                        let expire_ms = (next(2) == 0).then(|| next(100));
                        model.push_back((bytes.clone(), true, expire_ms));
                        q.push(OutMsg { bytes, event: true, expire_ms, req: None }, seed);
                    }
                }
                5 => {
                    let bytes = encode(2, 1, 0, b"reply\0");
                    model.push_back((bytes.clone(), false, None));
                    q.push(OutMsg { bytes, event: false, expire_ms: None, req: Some(1) }, seed);
                }
                6..=7 => {
                    let n = next(40) as usize;
                    let got = q.sent(n, seed).map(|m| m.bytes);
                    let want = model.front().map(|m| m.0.len()).and_then(|len| {
                        off = (off + n).min(len);
                        (off == len).then(|| {
                            off = 0;
                            model.pop_front().map(|m| m.0)
                        })?
                    });
                    assert_eq!(got, want, "step {step}");
                }
                8 => {
                    let now = next(100);
                    let mut gone: Vec<Vec<u8>> = Vec::new();
                    q.remove_expired(now, seed, |m| gone.push(m.bytes));
                    let mut want = Vec::new();
                    let mut keep = VecDeque::new();
                    for (i, m) in model.drain(..).enumerate() {
                        if i >= usize::from(off > 0) && m.2.is_some_and(|t| t <= now) {
                            want.push(m.0);
                        } else {
                            keep.push_back(m);
                        }
                    }
                    model = keep;
                    assert_eq!(gone, want, "step {step}");
                }
                _ if next(20) == 0 => {
                    q.take_all();
                    model.clear();
                    off = 0;
                }
                _ => {}
            }
            let bytes: Vec<&[u8]> = q.iter().map(|m| &m.bytes[..]).collect();
            let want: Vec<&[u8]> = model.iter().map(|m| &m.0[..]).collect();
            assert_eq!(bytes, want, "step {step}");
            assert_eq!(q.pending(), model.front().map_or(&[][..], |m| &m.0[off..]));
        }
        // A look-up compares at most one queued event.
        assert!(q.compared() > 0 && q.compared() <= checks);
    }
}
