//! XSA-326 (CVE-2022-42311…42318): memory denial of service. Every way a
//! guest can make the store hold memory is bounded by a quota or expires.
mod common;
use common::*;
use ring::wire::MsgType;
use store::ConnId;

/// `n` copies of one request, as one byte stream, and its size.
fn repeated(ty: MsgType, tx: u32, payload: &[u8], n: usize) -> (Vec<u8>, usize) {
    let one = request(ty, 1, tx, payload);
    (one.repeat(n), one.len())
}

/// The hard limit of quota `name` for domain 5.
fn limit(w: &mut World, s: ConnId, name: &str) -> u64 {
    w.args(s, MsgType::GetQuota, 0, &["5", name]).text().trim_end_matches('\0').parse().unwrap()
}

#[test]
fn xsa_326_a_guest_not_reading_replies_is_flow_controlled() {
    let (mut w, s, d) = guest_5_world();
    ok(&w.write(s, "/big", &"b".repeat(4000)));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/big", "n0", "r5"]));
    let (bytes, one) = repeated(MsgType::Read, 0, b"/big\0", 1000);
    let outstanding = limit(&mut w, s, "outstanding");
    let base = w.queued_bytes();
    // The guest never reads its ring: the store stops reading its
    // requests at the outstanding quota.
    let used = w.raw(d, &bytes).unwrap();
    assert_eq!(used as u64, one as u64 * outstanding);
    assert!(!w.e.wants_input(d));
    assert_eq!(w.raw(d, &bytes[used..]).unwrap(), 0);
    let queued = w.queued_bytes() - base;
    assert!(queued <= outstanding * (16 + 4000), "{queued} bytes queued");
    assert!(w.usage(5, "memory") >= queued);
    // Reading the replies lets it go on.
    assert_eq!(w.recv_all(d).len() as u64, outstanding);
    assert!(w.e.wants_input(d));
}

#[test]
fn xsa_326_mass_watch_events_are_bounded_and_expire() {
    let (mut w, s, d) = guest_5_world();
    ok(&w.write(s, "/big", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/big", "n0", "r5"]));
    ok(&w.args(d, MsgType::Watch, 0, &["/big", "t"]));
    w.events(d);
    let base = w.queued_bytes();
    for i in 0..100 {
        ok(&w.write(s, &format!("/big/{i}"), ""));
        ok(&w.args(d, MsgType::Watch, 0, &[&format!("/big/{i}"), "t"]));
    }
    w.events(d);
    let mem = w.usage(5, "memory");
    ok(&w.args(s, MsgType::SetQuota, 0, &["5", "memory", "12000"]));
    // Writes to the subtree, then one removal of it, fire an event per
    // node and per watch to a watcher that reads nothing: what is queued
    // stays under its memory quota; the rest is dropped.
    for i in 0..500 {
        ok(&w.write(s, &format!("/big/{i}"), "x"));
    }
    ok(&w.one(s, MsgType::Rm, 0, "/big"));
    let queued = w.queued_bytes() - base;
    assert!(queued <= 12_000 - mem, "{queued} bytes queued");
    assert!(w.usage(5, "memory") < 12_000);
    assert!(w.e.stats().events_dropped > 0);
    // Unread events expire after 20 s, giving the memory back.
    let deadline = w.e.next_deadline().expect("events expire");
    assert!(deadline <= 20_000);
    w.e.tick(20_000);
    assert_eq!(w.queued_bytes(), base);
    assert_eq!(w.usage(5, "memory"), mem);
    assert!(w.events(d).is_empty());
}

#[test]
fn xsa_326_many_transactions_with_big_nodes_are_bounded() {
    let (mut w, s, d) = guest_5_world();
    let hard = limit(&mut w, s, "memory");
    let mem = w.usage(5, "memory");
    // As many transactions as the quota allows.
    let mut txs = Vec::new();
    loop {
        let r = w.req(d, MsgType::TransactionStart, 0, b"\0");
        if r.ty != MsgType::TransactionStart as u32 {
            err(&r, "ENOSPC");
            break;
        }
        txs.push(r.text().trim_end_matches('\0').parse::<u32>().unwrap());
    }
    assert_eq!(txs.len() as u64, limit(&mut w, s, "transactions") - 1);
    // Each fills big nodes until a write would pass the hard limit: it is
    // refused with ENOMEM (C's quota check in `write_node`) and the guest
    // is served on, below its limit.
    let value = "v".repeat(2000);
    let mut refused = false;
    'fill: for &t in &txs {
        for i in 0..200 {
            let r = w.req(d, MsgType::Write, t, format!("t{t}/{i}\0{value}").as_bytes());
            if r.ty == MsgType::Error as u32 {
                err(&r, "ENOMEM");
                refused = true;
                break 'fill;
            }
        }
    }
    assert!(refused, "no write was refused");
    assert!(w.e.wants_input(d), "the guest is served on");
    let used = w.usage(5, "memory");
    assert!(used < hard && used + 2 * 4096 >= hard, "memory {used} (limit {hard})");
    // Ending the transactions returns every byte.
    for &t in &txs {
        ok(&w.req(d, MsgType::TransactionEnd, t, b"F\0"));
    }
    assert_eq!(w.usage(5, "memory"), mem);
    assert_eq!(w.usage(5, "transactions"), 0);
}

#[test]
fn xsa_326_transaction_nodes_quota() {
    let (mut w, s, d) = guest_5_world();
    let max = limit(&mut w, s, "transaction-nodes");
    let t = w.start(d);
    let mut refused = None;
    for i in 0..max + 10 {
        let r = w.write_tx(d, t, &format!("n{}/{i}", i / 100), "");
        if r.ty == MsgType::Error as u32 {
            err(&r, "ENOSPC");
            refused = Some(i);
            break;
        }
    }
    // The home, the per-hundred directories and the nodes all count.
    let i = refused.expect("transaction-nodes never applied");
    assert!(i < max, "refused only at write {i}");
    // The transaction is failed: nothing lands, the memory comes back.
    err(&w.one(d, MsgType::TransactionEnd, t, "T"), "ENOMEM");
    err(&w.read(s, "/local/domain/5/n0"), "ENOENT");
    assert_eq!(w.usage(5, "nodes"), 1);
    assert_eq!(w.usage(5, "transactions"), 0);
    // The privileged domain is not limited.
    let t = w.start(s);
    for i in 0..max + 10 {
        ok(&w.write_tx(s, t, &format!("/p/{i}"), ""));
    }
    ok(&w.one(s, MsgType::TransactionEnd, t, "T"));
}
