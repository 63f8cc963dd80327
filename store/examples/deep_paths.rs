//! Deep-path requests for an instruction-count benchmark of the path
//! walks (`bench/results.md`, "deep paths"): run under callgrind with
//! `--toggle-collect=deep_paths::measured`, only the measured requests
//! are counted, so the figures are deterministic and independent of the
//! machine's load.
//!
//! `deep_paths OP DEPTH`: a world with dom0's socket and guest 5, then
//! the measured part: `OP` on a path `DEPTH` components deep under a node
//! that does not exist yet, four times (four different tops). `OP` is
//! one of `write`, `mkdir`, `read-missing` (a READ of a missing path
//! `DEPTH` deep under an existing node), `tx-write`, `tx-read-missing`
//! (the same inside one transaction), `guest-write` (guest 5 writes a
//! relative path under its home), `rm` (an RM of a chain `DEPTH`
//! deep, made before the measured part), `guest-tx-read-missing` (guest
//! 5 reads a missing path `DEPTH` deep under its home in a transaction)
//! and `guest-tx-full-read-missing` (the same once the guest has filled
//! the transaction up to its record quota, one record short, with reads
//! of missing paths as long as each of that path's ancestors, each
//! differing from it in its last byte: the worst case for finding the
//! missing path's nearest existing ancestor in the transaction's view).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{deep, ok, World};
use ring::wire::MsgType;
use store::ConnId;

/// The requests counted: `op` on four deep paths.
#[inline(never)]
fn measured(w: &mut World, (s, g): (ConnId, ConnId), op: &str, depth: usize, tx: u32) {
    for i in 0..4 {
        let top = format!("/d{i}");
        let reply = match op {
            "write" | "tx-write" => w.req(s, MsgType::Write, tx, &deep(&top, depth)),
            "mkdir" => w.req(s, MsgType::Mkdir, tx, &deep(&top, depth)),
            "read-missing" | "tx-read-missing" => {
                let r = w.req(s, MsgType::Read, tx, &deep("/r", depth + 1));
                assert_eq!(r.text(), "ENOENT\0");
                continue;
            }
            "guest-write" => w.req(g, MsgType::Write, 0, &deep(&format!("d{i}"), depth)),
            "guest-tx-read-missing" | "guest-tx-full-read-missing" => {
                let r = w.req(g, MsgType::Read, tx, &deep("r", depth + 1));
                assert_eq!(r.text(), "ENOENT\0");
                continue;
            }
            "rm" => w.req(s, MsgType::Rm, tx, format!("{top}\0").as_bytes()),
            _ => panic!("unknown op {op}"),
        };
        ok(&reply);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (op, depth) = match args.as_slice() {
        [_, op, depth] => (op.as_str(), depth.parse::<usize>().expect("DEPTH")),
        _ => panic!("usage: deep_paths OP DEPTH"),
    };
    let (mut w, s, g) = common::guest_5_world();
    ok(&w.write(s, "/r", ""));
    if op == "rm" {
        for i in 0..4 {
            ok(&w.req(s, MsgType::Write, 0, &deep(&format!("/d{i}"), depth)));
        }
    }
    let tx = if op.starts_with("tx-") {
        w.start(s)
    } else if op.starts_with("guest-tx-") {
        ok(&w.req(g, MsgType::Write, 0, b"r\0"));
        let tx = w.start(g);
        if op == "guest-tx-full-read-missing" {
            fill_transaction(&mut w, g, tx, depth);
        }
        tx
    } else {
        0
    };
    measured(&mut w, (s, g), op, depth, tx);
    if tx != 0 {
        let c = if op.starts_with("guest-") { g } else { s };
        w.req(c, MsgType::TransactionEnd, tx, b"T\0");
    }
}

/// Fills guest `g`'s transaction `tx` up to one record short of its
/// quota: a READ of a missing path as long as each ancestor of the
/// measured path (`r/a/…/a`, `depth + 1` components), differing from it
/// in its last byte, then of other missing paths. How many reads fit is
/// found in a first transaction (the read refused with `ENOSPC` adds no
/// record); all but the last are replayed in `tx`.
fn fill_transaction(w: &mut World, g: ConnId, tx: u32, depth: usize) {
    let path = deep("r", depth + 1);
    let path = std::str::from_utf8(&path[..path.len() - 1]).expect("ASCII");
    let mut fills: Vec<Vec<u8>> = (1..path.len())
        .filter(|&end| path.as_bytes()[end] == b'/')
        .map(|end| format!("{}z\0", &path[..end - 1]).into_bytes())
        .collect();
    fills.extend((0..2048).map(|i| format!("q{i}\0").into_bytes()));
    let probe = w.start(g);
    let fit = fills
        .iter()
        .position(|f| w.req(g, MsgType::Read, probe, f).text() == "ENOSPC\0")
        .expect("the record quota is reached");
    w.req(g, MsgType::TransactionEnd, probe, b"F\0");
    for f in &fills[..fit - 1] {
        assert_eq!(w.req(g, MsgType::Read, tx, f).text(), "ENOENT\0");
    }
}
