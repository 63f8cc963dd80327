//! Scenario tests: quota.
mod common;
use common::*;
use ring::wire::MsgType;

#[test]
fn node_quota_is_enospc_and_privileged_is_exempt() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "nodes", "4"]));
    assert_eq!(w.args(s, MsgType::GetQuota, 0, &["5", "nodes"]).body, b"4\0");
    ok(&w.write(d, "a", ""));
    ok(&w.write(d, "b", ""));
    err(&w.write(d, "c", ""), "ENOSPC");
    for i in 0..50 {
        ok(&w.write(s, &format!("/many/{i}"), ""));
    }
}

#[test]
fn watch_quota_and_quota_names() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "watches", "2"]));
    ok(&w.args(d, MsgType::Watch, 0, &["/a", "1"]));
    err(&w.args(d, MsgType::Watch, 0, &["/a", "2"]), "ENOSPC");
    err(&w.args(s, MsgType::SetQuota, 0, &["bogus", "1"]), "EINVAL");
    err(&w.args(s, MsgType::GetQuota, 0, &["soft-nodes"]), "EINVAL");
    assert_eq!(w.args(s, MsgType::GetQuota, 0, &["soft-memory"]).body, b"2097152\0");
    let names = w.req(s, MsgType::GetQuota, 0, b"").text();
    assert!(names.starts_with("nodes watches outstanding memory soft-memory"), "{names}");
}

#[test]
fn outstanding_quota_flow_controls() {
    let mut w = World::new();
    let d = w.dom(5);
    let mut bytes = Vec::new();
    for _ in 0..25 {
        let h =
            ring::wire::Header { ty: MsgType::Read as u32, req_id: 1, tx_id: 0, len: 6 }.to_bytes();
        bytes.extend_from_slice(&h);
        bytes.extend_from_slice(b"/tool\0");
    }
    let n = w.e.input(d, &bytes, 0, &mut w.pf).unwrap();
    assert_eq!(n, 20 * 22);
    assert!(!w.e.wants_input(d));
    w.recv_all(d);
    assert!(w.e.wants_input(d));
    let mut ready = Vec::new();
    w.e.take_ready(&mut ready);
    assert!(ready.contains(&d));
}

#[test]
fn config_quota_setters() {
    let mut c = store::Config::default();
    assert!(c.set_quota("nodes", 7).is_ok());
    assert!(c.set_quota_soft("memory", 9).is_ok());
    assert!(c.set_quota("nope", 1).is_err());
}

#[test]
fn node_size_counts_eight_bytes_per_permission() {
    // C 4.22 `calc_node_acc_size`: 16-byte header, 8 bytes per entry,
    // value and children; `node-size` refuses a size reaching 2048.
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(1);
    ok(&w.write(s, "/local/domain/1", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/1", "n1"]));
    // 16 + 8 + 2023 = 2047: fits; one byte more reaches the limit.
    ok(&w.write(d, "v", &"x".repeat(2023)));
    err(&w.write(d, "v", &"x".repeat(2024)), "ENOSPC");
}

#[test]
fn long_reply_over_memory_quota_is_enomem() {
    // C 4.22 `send_reply`: a reply beyond the small default buffer is
    // refused with ENOMEM when it would reach the memory quota; short
    // replies (errors included) always go out.
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/big", &"v".repeat(64)));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/big", "n0", "r5"]));
    ok(&w.write(s, "/small", "v"));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/small", "n0", "r5"]));
    assert_eq!(w.read(d, "/big").body.len(), 64);
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "memory", "50"]));
    err(&w.read(d, "/big"), "ENOMEM");
    assert_eq!(w.read(d, "/small").body, b"v");
}

/// A node write that would take an unprivileged domain past its hard
/// memory quota is refused with `ENOMEM` before anything changes (C
/// `write_node` → `domain_memory_add` with its check): a deep chain, a
/// big value on a new node and a bigger value on an existing one. The
/// domain is not stalled afterwards, so it can still remove what it has.
#[test]
fn node_writes_over_the_memory_quota_are_enomem_and_leave_nothing() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "memory", "3000"]));
    ok(&w.write(d, "small", "x"));
    ok(&w.write(d, "big", &"v".repeat(1500)));
    let before = w.usage(5, "memory");
    // About 45 KB as C counts it (each of 200 nodes charged its path).
    let chain = vec!["a"; 200].join("/");
    err(&w.write(d, &chain, ""), "ENOMEM");
    err(&w.req(d, MsgType::Mkdir, 0, format!("{chain}\0").as_bytes()), "ENOMEM");
    err(&w.write(d, "big2", &"v".repeat(1500)), "ENOMEM");
    err(&w.write(d, "small", &"v".repeat(1500)), "ENOMEM");
    assert_eq!(w.usage(5, "memory"), before, "nothing charged");
    assert_eq!(w.read(s, "/local/domain/5/small").body, b"x");
    err(&w.read(s, "/local/domain/5/a"), "ENOENT");
    err(&w.read(s, "/local/domain/5/big2"), "ENOENT");
    // Still served: it can write within its quota and remove its nodes.
    ok(&w.write(d, "small", "yy"));
    ok(&w.req(d, MsgType::Rm, 0, b"small\0"));
    // Inside a transaction the same check applies to the transaction's
    // copies.
    let tx: u32 = w
        .req(d, MsgType::TransactionStart, 0, b"\0")
        .text()
        .trim_end_matches('\0')
        .parse()
        .unwrap();
    err(&w.req(d, MsgType::Write, tx, &[chain.as_bytes(), b"\0"].concat()), "ENOMEM");
}

#[test]
fn growing_a_node_is_checked_against_its_owners_memory_quota() {
    // As C checks `domain_memory_add` against the node's owner: a guest
    // that may write another domain's node grows it on that domain's
    // account, within that domain's quota, whatever its own usage.
    let mut w = World::new();
    let s = w.sock();
    let d5 = w.dom(5);
    let _d6 = w.dom(6);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5"]));
    ok(&w.write(s, "/local/domain/5/from6", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5/from6", "n6", "b5"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["6", "memory", "1000"]));
    let (mem5, mem6) = (w.usage(5, "memory"), w.usage(6, "memory"));
    err(&w.write(d5, "from6", &"v".repeat(1500)), "ENOMEM");
    assert_eq!((w.usage(5, "memory"), w.usage(6, "memory")), (mem5, mem6), "nothing charged");
    // The writer at its own quota still grows the node while its owner
    // has room, and the owner pays.
    ok(&w.args(s, MsgType::SetQuota, 0, &["6", "memory", "100000"]));
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "memory", "3000"]));
    ok(&w.write(d5, "big", &"v".repeat(1500)));
    err(&w.write(d5, "big2", &"v".repeat(1500)), "ENOMEM");
    let mem5 = w.usage(5, "memory");
    ok(&w.write(d5, "from6", &"v".repeat(2000)));
    assert_eq!(w.usage(5, "memory"), mem5, "the writer pays nothing");
    assert!(w.usage(6, "memory") >= mem6 + 2000, "the owner pays");
}
