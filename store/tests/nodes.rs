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
