//! Scenario tests: nodes.
mod common;
use common::*;
use ring::wire::MsgType;

#[test]
fn initial_tree_matches_setup_structure() {
    let mut w = World::new();
    let s = w.sock();
    assert_eq!(w.one(s, MsgType::Directory, 0, "/").body, b"tool\0");
    assert_eq!(w.one(s, MsgType::Directory, 0, "/tool").body, b"xenstored\0");
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "@releaseDomain").body, b"n0\0r32757\0");
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "@introduceDomain").body, b"n0\0");
}

#[test]
fn write_read_creates_parents_and_replies_ok() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.write(s, "/a/b/c", "hello"));
    let r = w.read(s, "/a/b/c");
    assert_eq!((r.ty, r.req_id, r.body.as_slice()), (2, 42, &b"hello"[..]));
    assert_eq!(w.read(s, "/a/b").body, b"");
    err(&w.read(s, "/nope"), "ENOENT");
    err(&w.read(s, "/a//b"), "EINVAL");
    err(&w.read(s, "/a/"), "EINVAL");
}

#[test]
fn created_parents_inherit_perms_with_caller_as_owner() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(5);
    ok(&w.write(s, "/local/domain/5", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/5", "n5", "r7"]));
    ok(&w.write(d, "x/y", "1"));
    assert_eq!(w.one(s, MsgType::GetPerms, 0, "/local/domain/5/x").body, b"n5\0r7\0");
}

#[test]
fn mkdir_rm_directory() {
    let mut w = World::new();
    let s = w.sock();
    ok(&w.one(s, MsgType::Mkdir, 0, "/d"));
    ok(&w.one(s, MsgType::Mkdir, 0, "/d"));
    ok(&w.write(s, "/d/a", "1"));
    ok(&w.write(s, "/d/b/c", "2"));
    assert_eq!(w.one(s, MsgType::Directory, 0, "/d").body, b"a\0b\0");
    ok(&w.one(s, MsgType::Rm, 0, "/d/b"));
    assert_eq!(w.one(s, MsgType::Directory, 0, "/d").body, b"a\0");
    ok(&w.one(s, MsgType::Rm, 0, "/d/nothing"));
    err(&w.one(s, MsgType::Rm, 0, "/x/y"), "ENOENT");
    err(&w.one(s, MsgType::Rm, 0, "/"), "EINVAL");
    err(&w.one(s, MsgType::Directory, 0, "/d/a/zz"), "ENOENT");
}

#[test]
fn directory_e2big_and_directory_part() {
    let mut w = World::new();
    let s = w.sock();
    for i in 0..400 {
        ok(&w.write(s, &format!("/big/child-number-{i:04}"), ""));
    }
    err(&w.one(s, MsgType::Directory, 0, "/big"), "E2BIG");
    let mut all = Vec::new();
    let mut off = 0usize;
    let mut gen = None;
    loop {
        let r = w.args(s, MsgType::DirectoryPart, 0, &["/big", &off.to_string()]);
        assert_eq!(r.ty, MsgType::DirectoryPart as u32, "{}", r.text());
        let nul = r.body.iter().position(|&b| b == 0).unwrap();
        let g = r.body[..nul].to_vec();
        if let Some(prev) = &gen {
            assert_eq!(prev, &g);
        }
        gen = Some(g);
        let list = &r.body[nul + 1..];
        off += list.len();
        all.extend_from_slice(list);
        if list.ends_with(b"\0\0") || list == b"\0" {
            all.pop();
            break;
        }
    }
    assert_eq!(all.iter().filter(|&&b| b == 0).count(), 400);
    err(&w.args(s, MsgType::DirectoryPart, 0, &["/big"]), "EINVAL");
}

/// C's `send_directory_part` on the list `list` (`name\0…`) of a node with
/// generation `gen`, asked for byte `off`: the reply payload.
fn c_directory_part(list: &[u8], gen: &[u8], off: usize) -> Vec<u8> {
    let mut out = gen.to_vec();
    out.push(0);
    if off >= list.len() {
        out.push(0);
        return out;
    }
    let maxlen = 4096 - (gen.len() + 1) - 1;
    let mut len = 0;
    loop {
        let clen = list[off + len..].iter().position(|&c| c == 0).unwrap();
        if len + clen >= maxlen {
            break;
        }
        len += clen + 1;
        if off + len == list.len() {
            break;
        }
    }
    out.extend_from_slice(&list[off..off + len]);
    if off + len == list.len() {
        out.push(0);
    }
    out
}

#[test]
fn directory_part_agrees_with_c_at_every_offset() {
    let mut w = World::new();
    let s = w.sock();
    // 700 children with names of 1 to 40 bytes, then every seventh removed
    // and 30 more added: the list's marks have moved.
    let name = |i: usize| format!("{i}{}", "x".repeat(i * 7919 % 39));
    for i in 0..700 {
        ok(&w.write(s, &format!("/big/{}", name(i)), ""));
    }
    for i in (0..700).step_by(7) {
        ok(&w.one(s, MsgType::Rm, 0, &format!("/big/{}", name(i))));
    }
    for i in 700..730 {
        ok(&w.write(s, &format!("/big/{}", name(i)), ""));
    }
    let list: Vec<u8> = (0..730)
        .filter(|i| i % 7 != 0 || *i >= 700)
        .flat_map(|i| (name(i) + "\0").into_bytes())
        .collect();
    // A transaction's view is its own copy of the list once it adds a
    // child.
    let tx = w.start(s);
    ok(&w.write_tx(s, tx, "/big/zzz", ""));
    let tx_list = [&list[..], b"zzz\0"].concat();
    for (tx, list) in [(0, list), (tx, tx_list)] {
        let first = w.args(s, MsgType::DirectoryPart, tx, &["/big", "0"]);
        let gen = first.body[..first.body.iter().position(|&b| b == 0).unwrap()].to_vec();
        // Every offset in a transaction's copy is slow to ask for: a sample.
        let step = if tx == 0 { 1 } else { 13 };
        for off in (0..list.len() + 3).step_by(step) {
            let r = w.args(s, MsgType::DirectoryPart, tx, &["/big", &off.to_string()]);
            assert_eq!(r.body, c_directory_part(&list, &gen, off), "offset {off}, tx {tx}");
        }
    }
}

#[test]
fn unknown_types_get_enosys_and_malformed_payloads_einval() {
    let mut w = World::new();
    let s = w.sock();
    err(&w.req(s, 20, 0, b"/\0"), "ENOSYS");
    err(&w.req(s, MsgType::WatchEvent, 0, b"/\0"), "ENOSYS");
    err(&w.req(s, 999, 0, b"/\0"), "ENOSYS");
    err(&w.req(s, MsgType::Read, 0, b"/tool"), "EINVAL");
    err(&w.req(s, MsgType::Write, 0, b"/tool"), "EINVAL");
    err(&w.req(s, MsgType::Read, 77, b"/tool\0"), "ENOENT");
}

#[test]
fn relative_paths_and_domain_path() {
    let mut w = World::new();
    let s = w.sock();
    let d = w.dom(3);
    ok(&w.write(s, "/local/domain/3", ""));
    ok(&w.args(s, MsgType::SetPerms, 0, &["/local/domain/3", "n3"]));
    ok(&w.write(d, "name", "guest"));
    assert_eq!(w.read(s, "/local/domain/3/name").body, b"guest");
    assert_eq!(w.one(d, MsgType::GetDomainPath, 0, "3").body, b"/local/domain/3\0");
}

#[test]
fn oversized_header_is_a_protocol_error() {
    let mut w = World::new();
    let d = w.dom(4);
    let h =
        ring::wire::Header { ty: MsgType::Read as u32, req_id: 1, tx_id: 0, len: 4097 }.to_bytes();
    let r = w.e.input(d, &h, 0, &mut w.pf);
    assert_eq!(r.map_err(|e| e.code()), Err(ring::wire::XENSTORE_ERROR_PROTO));
    assert!(!w.e.wants_input(d));
}
