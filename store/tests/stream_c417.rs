//! A state file Debian's C xenstored 4.17 wrote on live update
//! (`golden/c417-state_dump.bin`, 784 bytes), read and restored.
//!
//! Captured under the peers kit (`peers start c RUN -W 50` with
//! `SIMRING_DIR`, so its event channels are the shim's): dom0's socket
//! client wrote `/golden/a = "1"` with permissions `n3 r7`, guest 5 was
//! introduced (port 105) and watched `data` (token `gtok`), a second
//! socket client watched `/golden` (`stok`), then `xenstore-control
//! live-update` named a script that copied `RUN/state_dump`. C 4.17
//! writes version 1 in its own byte order, no `GLOBAL_QUOTA_DATA` nor
//! `DOMAIN_DATA`, the special nodes before `/`, its local event channel
//! ports, and the requester's `OK` at the end of its pending output.

mod common;
use common::*;
use ring::wire::MsgType;
use store::stream::{decode, ByteOrder, ConnKind, GlobalData, Record, Version};
use store::{Config, ConnId, DomId, Engine, RestoreRing};

const C417: &[u8] = include_bytes!("golden/c417-state_dump.bin");

#[test]
fn c_4_17_state_decodes_as_written() {
    let s = decode(C417, 1 << 20).unwrap();
    assert_eq!((s.header.version, s.header.order), (Version::V1, ByteOrder::Little));
    assert_eq!(s.records[0], Record::Global(GlobalData { socket_fd: 3, evtchn_fd: 8 }));
    let conns: Vec<(u32, ConnKind)> = s
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Connection(c) => Some((c.conn_id, c.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        conns,
        [
            (1, ConnKind::Ring { domid: 0, tdomid: 0x7ff4, evtchn: 2 }),
            (2, ConnKind::Socket { fd: 11 }),
            (3, ConnKind::Ring { domid: 5, tdomid: 0x7ff4, evtchn: 3 }),
            (4, ConnKind::Socket { fd: 12 }),
            (5, ConnKind::Socket { fd: 13 }),
        ]
    );
    let Some(Record::Connection(requester)) =
        s.records.iter().find(|r| matches!(r, Record::Connection(c) if c.conn_id == 5))
    else {
        unreachable!()
    };
    // The OK C's new process would send: XS_CONTROL, req 0, tx 0, "OK\0".
    assert_eq!(requester.out_data, request(MsgType::Control, 0, 0, b"OK\0"));
    assert_eq!(requester.out_resp_len, 0);
    let nodes: Vec<&[u8]> = s
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Node(n) => Some(n.path.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(&nodes[..3], [&b"@releaseDomain"[..], b"@introduceDomain", b"/"]);
    assert!(!s.records.iter().any(|r| matches!(r, Record::Domain(_) | Record::GlobalQuota(_))));
}

#[test]
fn c_4_17_state_restores_and_serves() {
    let s = decode(C417, 1 << 20).unwrap();
    let mut pf = Model::default();
    let r = Engine::restore(Config::default(), &s, 0, &mut pf).unwrap();
    assert_eq!(r.sockets, [(ConnId(2), 11), (ConnId(4), 12), (ConnId(5), 13)]);
    assert_eq!(
        pf.restored,
        [
            RestoreRing { conn: ConnId(1), domid: DomId(0), port: 2 },
            RestoreRing { conn: ConnId(3), domid: DomId(5), port: 3 },
        ]
    );
    let mut w = World::restored(r.engine, pf, 0);
    let (dom0, watcher, requester, guest) = (ConnId(2), ConnId(4), ConnId(5), ConnId(3));
    let m = w.recv_all(requester);
    assert_eq!((m.len(), m[0].ty, m[0].text().as_str()), (1, MsgType::Control as u32, "OK\0"));
    assert_eq!(w.read(dom0, "/golden/a").text(), "1");
    assert_eq!(w.one(dom0, MsgType::GetPerms, 0, "/golden/a").text(), "n3\0r7\0");
    assert_eq!(w.read(guest, "domid").text(), "5");
    ok(&w.write(dom0, "/golden/b", "2"));
    assert_eq!(w.events(watcher), [("/golden/b".to_string(), "stok".to_string())]);
    ok(&w.write(dom0, "/local/domain/5/data", "3"));
    assert_eq!(w.events(guest), [("data".to_string(), "gtok".to_string())]);
}
