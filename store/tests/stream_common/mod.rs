//! Random migration streams for the stream tests: a small deterministic
//! PRNG and a generator of valid streams (every record keeps the format's
//! rules, ids are unique, references point to earlier records).
#![allow(dead_code)]

use store::stream::{
    ByteOrder, ConnKind, ConnectionData, DomainData, GlobalData, GlobalQuotaData, Header, NodeData,
    NodePerm, NodeTx, PermAccess, QuotaValue, Record, Stream, TransactionData, Version, WatchData,
    DOMID_INVALID,
};

/// SplitMix64: deterministic, good enough to pick shapes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One of `xs` (not empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn u16(&mut self) -> u16 {
        self.next() as u16
    }

    pub fn u32(&mut self) -> u32 {
        self.next() as u32
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `n` bytes, none of them NUL.
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| 1 + self.below(255) as u8).collect()
    }
}

fn quotas(rng: &mut Rng) -> Vec<QuotaValue> {
    (0..rng.below(5))
        .map(|_| {
            let n = rng.below(12);
            QuotaValue { name: rng.text(n), value: rng.u32() }
        })
        .collect()
}

fn perms(rng: &mut Rng, n: usize) -> Vec<NodePerm> {
    const ACCESS: [PermAccess; 4] =
        [PermAccess::None, PermAccess::Read, PermAccess::Write, PermAccess::Both];
    (0..n)
        .map(|_| NodePerm {
            access: ACCESS[rng.below(4)],
            ignore: rng.chance(20),
            domid: rng.u16(),
        })
        .collect()
}

/// A path made unique by `serial`.
fn path(rng: &mut Rng, serial: usize) -> Vec<u8> {
    let mut p = if rng.chance(10) { b"@".to_vec() } else { b"/".to_vec() };
    let n = rng.below(30);
    p.extend(rng.text(n));
    p.extend(format!("/{serial}").bytes());
    p
}

/// A valid stream of random shape.
pub fn stream(rng: &mut Rng) -> Stream {
    let version = if rng.chance(50) { Version::V1 } else { Version::V2 };
    let order = if rng.chance(70) { ByteOrder::Little } else { ByteOrder::Big };
    let mut records = Vec::new();
    let mut serial = 0usize;
    if rng.chance(60) {
        records.push(Record::Global(GlobalData {
            socket_fd: rng.u32() as i32,
            evtchn_fd: rng.u32() as i32,
        }));
    }
    if rng.chance(50) {
        records.push(Record::GlobalQuota(GlobalQuotaData {
            per_domain: quotas(rng),
            global: quotas(rng),
        }));
    }
    let mut txs = Vec::new();
    let mut conn_id = 0u32;
    for _ in 0..rng.below(5) {
        conn_id += 1 + rng.below(3) as u32;
        let kind = if rng.chance(70) {
            ConnKind::Ring {
                domid: rng.u16(),
                tdomid: if rng.chance(70) { DOMID_INVALID } else { rng.u16() },
                evtchn: rng.u32(),
            }
        } else {
            ConnKind::Socket { fd: rng.u32() as i32 }
        };
        let in_len = if rng.chance(10) { rng.below(5000) } else { rng.below(40) };
        let out_len = if rng.chance(10) { rng.below(9000) } else { rng.below(60) };
        let out_data = rng.bytes(out_len);
        let out_resp_len = rng.below(out_len.min(u16::MAX as usize) + 1) as u16;
        records.push(Record::Connection(ConnectionData {
            conn_id,
            kind,
            in_data: rng.bytes(in_len),
            out_data,
            out_resp_len,
            unique_id: rng.chance(60).then(|| rng.next()),
        }));
        for _ in 0..rng.below(4) {
            serial += 1;
            let p = path(rng, serial);
            let t = rng.below(20);
            records.push(Record::Watch(WatchData {
                conn_id,
                path: p,
                token: rng.text(t),
                depth: (version == Version::V2 && rng.chance(50)).then(|| rng.u16()),
            }));
        }
        let mut tx_id = rng.u32() >> 4;
        for _ in 0..rng.below(3) {
            tx_id += 1;
            records.push(Record::Transaction(TransactionData { conn_id, tx_id }));
            txs.push((conn_id, tx_id));
        }
    }
    for _ in 0..rng.below(12) {
        serial += 1;
        let p = path(rng, serial);
        let tx = if !txs.is_empty() && rng.chance(40) {
            let (conn_id, tx_id) = txs[rng.below(txs.len())];
            Some(NodeTx { conn_id, tx_id, access: 0 })
        } else {
            None
        };
        let node = match tx {
            Some(t) if rng.chance(30) => {
                NodeData { path: p, tx: Some(t), perms: vec![], value: vec![] }
            }
            _ => {
                let n = 1 + rng.below(4);
                let v = if rng.chance(5) { rng.below(4097) } else { rng.below(30) };
                NodeData {
                    path: p,
                    tx: tx.map(|t| NodeTx { access: 1 + rng.below(3) as u16, ..t }),
                    perms: perms(rng, n),
                    value: rng.bytes(v),
                }
            }
        };
        records.push(Record::Node(node));
    }
    let mut domid = rng.u16() / 2;
    for _ in 0..rng.below(4) {
        domid += 1 + rng.below(5) as u16;
        records.push(Record::Domain(DomainData {
            domid,
            features: if version == Version::V2 { rng.u32() } else { 0 },
            quotas: quotas(rng),
        }));
    }
    Stream { header: Header { version, order }, records }
}

/// Encodes a stream the generator made (it must be valid).
pub fn bytes(s: &Stream) -> Vec<u8> {
    let mut out = Vec::new();
    store::stream::encode(s, &mut out).expect("a generated stream is valid");
    out
}

/// A few random edits of `b`: byte changes, length fields set large,
/// cuts, insertions and deletions.
pub fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            return;
        }
        let at = rng.below(b.len());
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => b.truncate(at),
            3 => {
                let n = rng.below(16);
                let ins = rng.bytes(n);
                b.splice(at..at, ins);
            }
            4 => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            5 => {
                // A 16- or 32-bit field at any place set to an extreme.
                let v = [0xff, 0xff, 0xff, 0x7f];
                for (i, x) in v.iter().enumerate() {
                    if let Some(y) = b.get_mut(at + i) {
                        *y = *x;
                    }
                }
            }
            _ => {
                let v = rng.below(16) as u8;
                b[at] = v;
            }
        }
    }
}
