//! Migration stream round trips (random valid streams → bytes → the same
//! streams) and the reader's refusals, one malformation at a time.

mod stream_common;

use store::stream::{
    check, decode, encode, ByteOrder, ConnKind, ConnectionData, DecodeError, EncodeError, Header,
    Invalid, NodeData, NodePerm, NodeTx, PermAccess, Reader, Record, RecordType, Stream,
    TransactionData, Version, WatchData, Writer,
};
use stream_common::{bytes, stream, Rng};

const BUDGET: usize = 1 << 24;

#[test]
fn random_streams_round_trip() {
    let mut rng = Rng::new(0x5eed);
    for _ in 0..3000 {
        let s = stream(&mut rng);
        let b = bytes(&s);
        assert_eq!(b.len() % 8, 0);
        assert_eq!(decode(&b, BUDGET), Ok(s.clone()));
        // What was decoded encodes to the same bytes.
        assert_eq!(bytes(&decode(&b, BUDGET).unwrap()), b);
        assert_eq!(check(&s.records, BUDGET), Ok(()));
    }
}

/// The reader one record at a time sees what `decode` sees, and stops at
/// `END` with the whole input read.
#[test]
fn the_reader_yields_the_records_in_order() {
    let mut rng = Rng::new(7);
    for _ in 0..300 {
        let s = stream(&mut rng);
        let b = bytes(&s);
        let mut r = Reader::new(&b, BUDGET).unwrap();
        assert_eq!(r.header(), s.header);
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push(rec);
        }
        assert_eq!(got, s.records);
        assert_eq!(r.position(), b.len());
        assert_eq!(r.next_record(), Ok(None));
    }
}

/// Decoding needs some budget `m`; every budget from `m` up succeeds and
/// every one below fails with `OverBudget`, never anything else.
#[test]
fn the_budget_is_a_threshold() {
    let mut rng = Rng::new(99);
    for _ in 0..200 {
        let s = stream(&mut rng);
        let b = bytes(&s);
        let (mut lo, mut hi) = (0usize, BUDGET);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match decode(&b, mid) {
                Ok(_) => hi = mid,
                Err(DecodeError::OverBudget { .. }) => lo = mid + 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(decode(&b, lo).as_ref(), Ok(&s));
        if lo > 0 {
            for k in [0, lo / 2, lo - 1] {
                assert!(matches!(decode(&b, k), Err(DecodeError::OverBudget { .. })), "{k}");
            }
        }
    }
}

fn header() -> Header {
    Header { version: Version::V2, order: ByteOrder::Little }
}

fn conn(conn_id: u32) -> Record {
    Record::Connection(ConnectionData {
        conn_id,
        kind: ConnKind::Ring { domid: 1, tdomid: 2, evtchn: 3 },
        in_data: vec![],
        out_data: vec![],
        out_resp_len: 0,
        unique_id: None,
    })
}

fn watch(conn_id: u32, path: &[u8]) -> Record {
    Record::Watch(WatchData { conn_id, path: path.to_vec(), token: b"t".to_vec(), depth: None })
}

fn node(path: &[u8], tx: Option<(u32, u32)>) -> Record {
    Record::Node(NodeData {
        path: path.to_vec(),
        tx: tx.map(|(conn_id, tx_id)| NodeTx { conn_id, tx_id, access: 1 }),
        perms: vec![NodePerm { access: PermAccess::Both, ignore: false, domid: 0 }],
        value: b"v".to_vec(),
    })
}

fn tx(conn_id: u32, tx_id: u32) -> Record {
    Record::Transaction(TransactionData { conn_id, tx_id })
}

/// Bytes of `records`, written record by record (no stream checks).
fn raw(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(header(), &mut out).unwrap();
    for r in records {
        w.record(r).unwrap();
    }
    w.end().unwrap();
    out
}

fn decode_records(records: &[Record]) -> Result<Stream, DecodeError> {
    decode(&raw(records), BUDGET)
}

#[test]
fn duplicates_and_dangling_references_are_refused() {
    use DecodeError::{Dangling, Duplicate};
    use RecordType as T;
    let ok = [conn(1), watch(1, b"/a"), tx(1, 5), node(b"/a", Some((1, 5))), node(b"/a", None)];
    assert!(decode_records(&ok).is_ok());
    let cases: [(Vec<Record>, DecodeError); 9] = [
        (vec![conn(1), conn(1)], Duplicate { index: 1, rtype: T::Connection }),
        (vec![watch(1, b"/a"), conn(1)], Dangling { index: 0, rtype: T::Watch }),
        (vec![conn(1), tx(2, 5)], Dangling { index: 1, rtype: T::Transaction }),
        (vec![conn(1), tx(1, 5), tx(1, 5)], Duplicate { index: 2, rtype: T::Transaction }),
        (vec![conn(1), node(b"/a", Some((1, 5)))], Dangling { index: 1, rtype: T::Node }),
        (
            vec![conn(1), watch(1, b"/a"), watch(1, b"/b"), watch(1, b"/a")],
            Duplicate { index: 3, rtype: T::Watch },
        ),
        (
            vec![node(b"/a", None), node(b"/b", None), node(b"/a", None)],
            Duplicate { index: 2, rtype: T::Node },
        ),
        (vec![ok[4].clone(), ok[3].clone()], Dangling { index: 1, rtype: T::Node }),
        (
            vec![ok[0].clone(), ok[0].clone(), ok[4].clone()],
            Duplicate { index: 1, rtype: T::Connection },
        ),
    ];
    for (records, want) in cases {
        assert_eq!(decode_records(&records), Err(want), "{records:?}");
        assert_eq!(check(&records, BUDGET), Err(want));
    }
    let g = Record::Global(store::stream::GlobalData { socket_fd: -1, evtchn_fd: 3 });
    assert_eq!(
        decode_records(&[g.clone(), conn(1), g]),
        Err(Duplicate { index: 2, rtype: T::Global })
    );
}

#[test]
fn invalid_records_are_refused_both_ways() {
    let mut deleted = node(b"/d", Some((1, 5)));
    if let Record::Node(n) = &mut deleted {
        n.perms.clear();
    }
    let mut no_owner = node(b"/d", None);
    if let Record::Node(n) = &mut no_owner {
        n.perms.clear();
    }
    let mut bad_access = node(b"/d", Some((1, 5)));
    if let Record::Node(n) = &mut bad_access {
        n.tx = Some(NodeTx { conn_id: 1, tx_id: 5, access: 4 });
    }
    let mut resp = conn(1);
    if let Record::Connection(c) = &mut resp {
        c.out_data = vec![1, 2];
        c.out_resp_len = 3;
    }
    let cases: [(Record, Invalid); 9] = [
        (conn(0), Invalid::ConnIdZero),
        (resp, Invalid::RespLenTooLong),
        (watch(1, b""), Invalid::EmptyPath),
        (watch(1, b"/a\0b"), Invalid::NulInString),
        (watch(1, &[b'a'; 4094]), Invalid::WatchTooLong),
        (node(&[b'a'; 4096], None), Invalid::PathTooLong),
        (no_owner, Invalid::NoOwner),
        (deleted, Invalid::DeletedNotEmpty),
        (bad_access, Invalid::UnknownAccess(4)),
    ];
    for (r, what) in cases {
        let rtype = r.record_type();
        let mut out = Vec::new();
        let mut w = Writer::new(header(), &mut out).unwrap();
        assert_eq!(w.record(&r), Err(EncodeError::Invalid { rtype, what }));
        // Nothing was written for the refused record.
        assert_eq!(out.len(), 16);
    }
    // Just within the limits.
    assert!(decode_records(&[conn(1), watch(1, &[b'a'; 4093])]).is_ok());
    assert!(decode_records(&[node(&[b'a'; 4095], None)]).is_ok());
}

/// Little-endian stream bytes: a header and one record of `rtype` with
/// `body`, then `END`.
fn one(rtype: u32, len: u32, body: &[u8]) -> Vec<u8> {
    let mut b = b"xenstore\0\0\0\x02\0\0\0\0".to_vec();
    b.extend_from_slice(&rtype.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&[0; 8]);
    b
}

#[test]
fn malformed_records_are_refused() {
    use DecodeError as E;
    let at = 16;
    // Undefined type.
    assert_eq!(decode(&one(9, 0, &[]), BUDGET), Err(E::UnknownRecord { offset: at, code: 9 }));
    // END with a body.
    assert_eq!(decode(&one(0, 8, &[0; 8]), BUDGET), Err(E::EndNotEmpty { offset: at }));
    // A length past the input.
    assert!(matches!(decode(&one(1, 0xffff_fff8, &[0; 8]), BUDGET), Err(E::Truncated { .. })));
    // GLOBAL_DATA with a length that is not its 8 bytes.
    for len in [0u32, 4, 16] {
        let body = vec![0; len as usize];
        assert_eq!(
            decode(&one(1, len, &body), BUDGET),
            Err(E::BadLength { offset: at, rtype: RecordType::Global, len })
        );
    }
    // CONNECTION_DATA: unknown type, unknown field bits, data past the body.
    let mut c = [0u8; 24];
    c[0] = 1;
    c[4] = 2;
    assert_eq!(
        decode(&one(2, 24, &c), BUDGET),
        Err(E::UnknownConnType { offset: at, conn_type: 2 })
    );
    c[4] = 0;
    c[6] = 2;
    assert_eq!(
        decode(&one(2, 24, &c), BUDGET),
        Err(E::UnknownConnFields { offset: at, fields: 2 })
    );
    c[6] = 0;
    c[20] = 1;
    assert!(matches!(decode(&one(2, 24, &c), BUDGET), Err(E::BadLength { .. })));
    c[20] = 0;
    c[18] = 1; // out-resp-len 1 with no output
    assert!(matches!(
        decode(&one(2, 24, &c), BUDGET),
        Err(E::Invalid { what: Invalid::RespLenTooLong, .. })
    ));
    // WATCH_DATA: a path without its NUL, and a count bigger than the body.
    let mut w = vec![1, 0, 0, 0, 2, 0, 1, 0, b'/', b'a', 0, 0, 0, 0, 0, 0];
    let mut conn = vec![0u8; 24];
    conn[0] = 1;
    let two = |w: &[u8]| {
        let mut b = one(2, 24, &conn);
        b.truncate(b.len() - 8);
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(w.len() as u32).to_le_bytes());
        b.extend_from_slice(w);
        b.extend_from_slice(&[0; 8]);
        b
    };
    assert!(matches!(decode(&two(&w), BUDGET), Err(E::Unterminated { .. })));
    w[4] = 3; // path "/a" with its NUL
    w[6] = 0; // token-len 0: not even a NUL
    assert!(matches!(decode(&two(&w), BUDGET), Err(E::Unterminated { .. })));
    w[6] = 1;
    assert!(decode(&two(&w), BUDGET).is_ok());
    w[4] = 0xff;
    assert!(matches!(decode(&two(&w), BUDGET), Err(E::BadLength { .. })));
    // NODE_DATA: a bad permission letter, bad flags, too many permissions.
    let mut n = vec![0u8; 24];
    n[8] = 2; // path-len 2
    n[14] = 1; // 1 perm
    n[16] = b'x';
    n[20] = b'/';
    assert_eq!(decode(&one(5, 24, &n), BUDGET), Err(E::BadPermAccess { offset: at, letter: b'x' }));
    n[16] = b'r';
    n[17] = 2;
    assert_eq!(decode(&one(5, 24, &n), BUDGET), Err(E::BadPermFlags { offset: at, flags: 2 }));
    n[17] = 1;
    assert!(decode(&one(5, 24, &n), BUDGET).is_ok());
    n[14] = 0xff;
    n[15] = 0xff;
    assert!(matches!(decode(&one(5, 24, &n), BUDGET), Err(E::BadLength { .. })));
    // GLOBAL_QUOTA_DATA: more names than values hold, a name without NUL.
    let q = [1, 0, 0, 0, 5, 0, 0, 0];
    assert!(matches!(decode(&one(6, 8, &q), BUDGET), Err(E::BadLength { .. })));
    let q = [1, 0, 0, 0, 5, 0, 0, 0, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h'];
    assert!(matches!(decode(&one(6, 16, &q), BUDGET), Err(E::Unterminated { .. })));
    // Padding of 8 bytes or more is a length that disagrees.
    let q = [1, 0, 0, 0, 5, 0, 0, 0, b'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(decode(&one(6, 24, &q), BUDGET), Err(E::BadLength { .. })));
    assert!(decode(&one(6, 16, &q[..16]), BUDGET).is_ok());
    // A short header, and no END.
    assert!(matches!(decode(b"xenstore\0\0", BUDGET), Err(E::Truncated { .. })));
    assert!(matches!(decode(b"xenstore\0\0\0\x02\0\0\0\0", BUDGET), Err(E::Truncated { .. })));
}

#[test]
fn encoding_refuses_what_does_not_fit() {
    let mut big = conn(1);
    if let Record::Connection(c) = &mut big {
        c.in_data = vec![0; 65536];
    }
    let mut out = Vec::new();
    let s = Stream { header: header(), records: vec![big] };
    assert_eq!(
        encode(&s, &mut out),
        Err(EncodeError::Invalid { rtype: RecordType::Connection, what: Invalid::InDataTooLong })
    );
}
