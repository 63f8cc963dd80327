//! The migration stream against C's format, byte by byte: streams built by
//! hand from the layouts in Xen's `docs/designs/xenstore-migration.md` and
//! `tools/xenstored/xenstore_state.h`, as C xenstored 4.21/4.22 writes them
//! on x86 (little-endian records, big-endian header).

use store::stream::{
    decode, encode, ByteOrder, ConnKind, ConnectionData, DecodeError, DomainData, EncodeError,
    GlobalData, GlobalQuotaData, Header, Invalid, NodeData, NodePerm, PermAccess, QuotaValue,
    Record, RecordType, Stream, Version, WatchData, DOMID_INVALID,
};

const BUDGET: usize = 1 << 20;

/// The pending output of the connection: one `XS_WATCH_EVENT` message
/// (type 15, req id 0, tx id 0, length 3) with payload "a\0b".
const EVENT: [u8; 19] = [15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'a', 0, b'b'];

#[rustfmt::skip]
fn golden_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    // ---- header (always big-endian) ----
    b.extend_from_slice(b"xenstore");                   // ident
    b.extend_from_slice(&[0, 0, 0, 2]);                 // version 2
    b.extend_from_slice(&[0, 0, 0, 0]);                 // flags: bit 0 clear = little-endian

    // ---- GLOBAL_DATA ----
    b.extend_from_slice(&[1, 0, 0, 0]);                 // type 1
    b.extend_from_slice(&[8, 0, 0, 0]);                 // len 8
    b.extend_from_slice(&[3, 0, 0, 0]);                 // rw-socket-fd 3
    b.extend_from_slice(&[7, 0, 0, 0]);                 // evtchn-fd 7

    // ---- CONNECTION_DATA, shared ring of domain 1 ----
    b.extend_from_slice(&[2, 0, 0, 0]);                 // type 2
    b.extend_from_slice(&[56, 0, 0, 0]);                // len: pad8(24 + 0 + 19) = 48, + 8 unique-id
    b.extend_from_slice(&[1, 0, 0, 0]);                 // conn-id 1
    b.extend_from_slice(&[0, 0]);                       // conn-type 0: shared ring
    b.extend_from_slice(&[1, 0]);                       // fields 0x0001: unique-id present
    b.extend_from_slice(&[1, 0]);                       // conn-spec domid 1
    b.extend_from_slice(&[0xf4, 0x7f]);                 // conn-spec tdomid DOMID_INVALID (0x7ff4)
    b.extend_from_slice(&[5, 0, 0, 0]);                 // conn-spec evtchn 5
    b.extend_from_slice(&[0, 0]);                       // in-data-len 0
    b.extend_from_slice(&[0, 0]);                       // out-resp-len 0
    b.extend_from_slice(&[19, 0, 0, 0]);                // out-data-len 19
    b.extend_from_slice(&EVENT);                        // data: the pending watch event
    b.extend_from_slice(&[0; 5]);                       // padding to 48
    b.extend_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes()); // unique-id

    // ---- WATCH_DATA ----
    b.extend_from_slice(&[3, 0, 0, 0]);                 // type 3
    b.extend_from_slice(&[24, 0, 0, 0]);                // len: pad8(8 + 7 + 4) = 24
    b.extend_from_slice(&[1, 0, 0, 0]);                 // conn-id 1
    b.extend_from_slice(&[7, 0]);                       // wpath-len 7 (with NUL)
    b.extend_from_slice(&[4, 0]);                       // token-len 4 (with NUL)
    b.extend_from_slice(b"device\0");                   // wpath
    b.extend_from_slice(b"tok\0");                      // token
    b.extend_from_slice(&[0; 5]);                       // padding

    // ---- NODE_DATA, committed ----
    b.extend_from_slice(&[5, 0, 0, 0]);                 // type 5
    b.extend_from_slice(&[48, 0, 0, 0]);                // len: pad8(16 + 2*4 + 16 + 5) = 48
    b.extend_from_slice(&[0, 0, 0, 0]);                 // conn-id 0: committed
    b.extend_from_slice(&[0, 0, 0, 0]);                 // tx-id 0
    b.extend_from_slice(&[16, 0]);                      // path-len 16 (with NUL)
    b.extend_from_slice(&[5, 0]);                       // value-len 5
    b.extend_from_slice(&[0, 0]);                       // access 0
    b.extend_from_slice(&[2, 0]);                       // perm-count 2
    b.extend_from_slice(&[b'n', 0, 1, 0]);              // perm1: 'n', flags 0, domid 1 (owner)
    b.extend_from_slice(&[b'r', 1, 2, 0]);              // perm2: 'r', flags 0x01 (stale), domid 2
    b.extend_from_slice(b"/local/domain/1\0");          // path
    b.extend_from_slice(b"hello");                      // value
    b.extend_from_slice(&[0; 3]);                       // padding

    // ---- END ----
    b.extend_from_slice(&[0, 0, 0, 0]);                 // type 0
    b.extend_from_slice(&[0, 0, 0, 0]);                 // len 0
    b
}

fn golden_stream() -> Stream {
    Stream {
        header: Header { version: Version::V2, order: ByteOrder::Little },
        records: vec![
            Record::Global(GlobalData { socket_fd: 3, evtchn_fd: 7 }),
            Record::Connection(ConnectionData {
                conn_id: 1,
                kind: ConnKind::Ring { domid: 1, tdomid: DOMID_INVALID, evtchn: 5 },
                in_data: vec![],
                out_data: EVENT.to_vec(),
                out_resp_len: 0,
                unique_id: Some(0x1122_3344_5566_7788),
            }),
            Record::Watch(WatchData {
                conn_id: 1,
                path: b"device".to_vec(),
                token: b"tok".to_vec(),
                depth: None,
            }),
            Record::Node(NodeData {
                path: b"/local/domain/1".to_vec(),
                tx: None,
                perms: vec![
                    NodePerm { access: PermAccess::None, ignore: false, domid: 1 },
                    NodePerm { access: PermAccess::Read, ignore: true, domid: 2 },
                ],
                value: b"hello".to_vec(),
            }),
        ],
    }
}

#[test]
fn decodes_the_hand_built_c_stream() {
    assert_eq!(decode(&golden_bytes(), BUDGET), Ok(golden_stream()));
}

#[test]
fn encodes_the_hand_built_c_stream() {
    let mut out = Vec::new();
    encode(&golden_stream(), &mut out).unwrap();
    assert_eq!(out, golden_bytes());
}

/// The same stream big-endian: the header is unchanged but for flag bit 0,
/// every record field is byte-swapped, strings and data are not.
#[test]
fn big_endian_swaps_record_fields_only() {
    let mut s = golden_stream();
    s.header.order = ByteOrder::Big;
    let mut out = Vec::new();
    encode(&s, &mut out).unwrap();
    let le = golden_bytes();
    assert_eq!(out.len(), le.len());
    assert_eq!(&out[..12], &le[..12]);
    assert_eq!(&out[12..16], &[0, 0, 0, 1]);
    // GLOBAL_DATA: type, len, rw-socket-fd.
    assert_eq!(&out[16..28], &[0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 3]);
    // CONNECTION_DATA: conn-id, conn-type, fields, domid, tdomid.
    assert_eq!(&out[40..52], &[0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x7f, 0xf4]);
    // The unique-id, last 8 bytes of the record.
    assert_eq!(&out[88..96], &0x1122_3344_5566_7788u64.to_be_bytes());
    assert_eq!(decode(&out, BUDGET), Ok(s));
}

/// A version 2 `DOMAIN_DATA` and `GLOBAL_QUOTA_DATA` as C 4.22 writes them:
/// its record buffer comes from `talloc_size`, so the padding after the
/// quota names is whatever the heap held. Readers ignore padding.
#[rustfmt::skip]
#[test]
fn quota_records_with_c_garbage_padding() {
    let mut b = Vec::new();
    b.extend_from_slice(b"xenstore");
    b.extend_from_slice(&[0, 0, 0, 2]);                 // version 2
    b.extend_from_slice(&[0, 0, 0, 0]);                 // little-endian
    // GLOBAL_QUOTA_DATA
    b.extend_from_slice(&[6, 0, 0, 0]);                 // type 6
    b.extend_from_slice(&[32, 0, 0, 0]);                // len: pad8(4 + 2*4 + 6 + 12) = 32
    b.extend_from_slice(&[2, 0]);                       // n-dom-quota 2
    b.extend_from_slice(&[0, 0]);                       // n-glob-quota 0
    b.extend_from_slice(&1000u32.to_le_bytes());        // quota-val 1
    b.extend_from_slice(&2_097_152u32.to_le_bytes());   // quota-val 2
    b.extend_from_slice(b"nodes\0soft-memory\0");       // quota-names
    b.extend_from_slice(&[0xde, 0xad]);                 // padding, uninitialised
    // CONNECTION_DATA for domain 3, so that the domain is known
    b.extend_from_slice(&[2, 0, 0, 0]);                 // type 2
    b.extend_from_slice(&[24, 0, 0, 0]);                // len 24, no unique-id (4.17 style)
    b.extend_from_slice(&[9, 0, 0, 0]);                 // conn-id 9
    b.extend_from_slice(&[0, 0, 0, 0]);                 // ring, fields 0
    b.extend_from_slice(&[3, 0, 0, 0]);                 // domid 3, tdomid 0
    b.extend_from_slice(&[8, 0, 0, 0]);                 // evtchn 8
    b.extend_from_slice(&[0; 8]);                       // no pending data
    // DOMAIN_DATA
    b.extend_from_slice(&[7, 0, 0, 0]);                 // type 7
    b.extend_from_slice(&[24, 0, 0, 0]);                // len: pad8(8 + 4 + 8) = 24
    b.extend_from_slice(&[3, 0]);                       // domain-id 3
    b.extend_from_slice(&[1, 0]);                       // n-quota 1
    b.extend_from_slice(&[0x0f, 0, 0, 0]);              // features
    b.extend_from_slice(&5u32.to_le_bytes());           // quota-val
    b.extend_from_slice(b"watches\0");                  // quota-names
    b.extend_from_slice(&[0x55; 4]);                    // padding, uninitialised
    b.extend_from_slice(&[0; 8]);                       // END
    let s = decode(&b, BUDGET).unwrap();
    let q = |name: &[u8], value| QuotaValue { name: name.to_vec(), value };
    assert_eq!(
        s.records,
        vec![
            Record::GlobalQuota(GlobalQuotaData {
                per_domain: vec![q(b"nodes", 1000), q(b"soft-memory", 2_097_152)],
                global: vec![],
            }),
            Record::Connection(ConnectionData {
                conn_id: 9,
                kind: ConnKind::Ring { domid: 3, tdomid: 0, evtchn: 8 },
                in_data: vec![],
                out_data: vec![],
                out_resp_len: 0,
                unique_id: None,
            }),
            Record::Domain(DomainData { domid: 3, features: 0x0f, quotas: vec![q(b"watches", 5)] }),
        ]
    );
    // Written back with zero padding, otherwise identical.
    let mut out = Vec::new();
    encode(&s, &mut out).unwrap();
    let mut zeroed = b.clone();
    zeroed[54..56].copy_from_slice(&[0, 0]);
    zeroed[116..120].copy_from_slice(&[0; 4]);
    assert_eq!(out, zeroed);

    // In version 1 the features are not valid: ignored when read.
    b[11] = 1;
    let v1 = decode(&b, BUDGET).unwrap();
    assert!(matches!(&v1.records[2], Record::Domain(d) if d.features == 0));
}

/// What C 4.17–4.20 (version 1) readers and writers agree on: a socket
/// connection, a transaction and a node pending in it, and the special
/// node `@releaseDomain`.
#[rustfmt::skip]
#[test]
fn version_1_socket_transaction_and_special_node() {
    let mut b = Vec::new();
    b.extend_from_slice(b"xenstore");
    b.extend_from_slice(&[0, 0, 0, 1]);                 // version 1
    b.extend_from_slice(&[0, 0, 0, 0]);
    // CONNECTION_DATA, socket, with a partial request as input
    b.extend_from_slice(&[2, 0, 0, 0]);                 // type 2
    b.extend_from_slice(&[32, 0, 0, 0]);                // len: pad8(24 + 5) = 32
    b.extend_from_slice(&[4, 0, 0, 0]);                 // conn-id 4
    b.extend_from_slice(&[1, 0]);                       // conn-type 1: socket
    b.extend_from_slice(&[0, 0]);                       // fields (4.17: pad)
    b.extend_from_slice(&(-1i32 as u32).to_le_bytes()); // socket-fd
    b.extend_from_slice(&[0; 4]);                       // pad
    b.extend_from_slice(&[5, 0]);                       // in-data-len 5
    b.extend_from_slice(&[0, 0]);                       // out-resp-len 0
    b.extend_from_slice(&[0, 0, 0, 0]);                 // out-data-len 0
    b.extend_from_slice(&[2, 0, 0, 0, 9]);              // data: 5 bytes of a request header
    b.extend_from_slice(&[0; 3]);                       // padding
    // TRANSACTION_DATA
    b.extend_from_slice(&[4, 0, 0, 0, 8, 0, 0, 0]);     // type 4, len 8
    b.extend_from_slice(&[4, 0, 0, 0]);                 // conn-id 4
    b.extend_from_slice(&[17, 0, 0, 0]);                // tx-id 17
    // NODE_DATA deleted in transaction 17
    b.extend_from_slice(&[5, 0, 0, 0, 24, 0, 0, 0]);    // type 5, len pad8(16 + 3) = 24
    b.extend_from_slice(&[4, 0, 0, 0]);                 // conn-id 4
    b.extend_from_slice(&[17, 0, 0, 0]);                // tx-id 17
    b.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);     // path-len 3, value-len 0, access 0, perms 0
    b.extend_from_slice(b"/a\0");
    b.extend_from_slice(&[0; 5]);
    // NODE_DATA @releaseDomain
    b.extend_from_slice(&[5, 0, 0, 0, 40, 0, 0, 0]);    // type 5, len pad8(16 + 4 + 15) = 40
    b.extend_from_slice(&[0; 8]);                       // committed
    b.extend_from_slice(&[15, 0, 0, 0, 0, 0, 1, 0]);    // path-len 15, value-len 0, access 0, 1 perm
    b.extend_from_slice(&[b'n', 0, 0, 0]);              // 'n', domid 0
    b.extend_from_slice(b"@releaseDomain\0");
    b.extend_from_slice(&[0; 5]);
    b.extend_from_slice(&[0; 8]);                       // END
    let s = decode(&b, BUDGET).unwrap();
    assert_eq!(s.header, Header { version: Version::V1, order: ByteOrder::Little });
    assert_eq!(s.records.len(), 4);
    assert!(matches!(&s.records[0], Record::Connection(c)
        if c.kind == ConnKind::Socket { fd: -1 } && c.in_data == [2, 0, 0, 0, 9]));
    assert!(matches!(&s.records[2], Record::Node(n) if n.is_deleted() && n.path == b"/a"));
    let mut out = Vec::new();
    encode(&s, &mut out).unwrap();
    assert_eq!(out, b);

    // The extended watch record exists from version 2 on.
    let mut s = golden_stream();
    s.records.push(Record::Watch(WatchData {
        conn_id: 1,
        path: b"/a".to_vec(),
        token: b"t".to_vec(),
        depth: Some(1),
    }));
    let mut v2 = Vec::new();
    encode(&s, &mut v2).unwrap();
    assert_eq!(decode(&v2, BUDGET), Ok(s.clone()));
    v2[11] = 1;
    assert!(matches!(
        decode(&v2, BUDGET),
        Err(DecodeError::Invalid { what: Invalid::ExtendedInV1, .. })
    ));
    s.header.version = Version::V1;
    assert!(matches!(
        encode(&s, &mut Vec::new()),
        Err(EncodeError::Invalid { what: Invalid::ExtendedInV1, .. })
    ));
}

#[test]
fn the_golden_stream_is_refused_when_damaged() {
    let good = golden_bytes();
    let cut = |n: usize| good[..good.len() - n].to_vec();
    assert!(matches!(decode(&cut(8), BUDGET), Err(DecodeError::Truncated { .. })));
    assert!(matches!(decode(&cut(9), BUDGET), Err(DecodeError::Truncated { .. })));
    let mut more = good.clone();
    more.push(0);
    assert!(matches!(decode(&more, BUDGET), Err(DecodeError::TrailingData { .. })));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(decode(&bad, BUDGET), Err(DecodeError::BadIdent));
    let mut bad = good.clone();
    bad[11] = 3;
    assert_eq!(decode(&bad, BUDGET), Err(DecodeError::BadVersion(3)));
    let mut bad = good.clone();
    bad[14] = 1;
    assert_eq!(decode(&bad, BUDGET), Err(DecodeError::BadFlags(0x100)));
    // The watch names connection 2, which no record defined.
    let mut bad = good.clone();
    bad[104] = 2;
    assert_eq!(
        decode(&bad, BUDGET),
        Err(DecodeError::Dangling { index: 2, rtype: RecordType::Watch })
    );
}
