//! The release check of two dom0less test clients (`xs-arm-client`): one
//! powers off, the other watches it go, with no timing between them.
//!
//! The watcher ([`watch_release`], bootargs `watch-release=<peer>`)
//! watches `@releaseDomain/<peer>` (readable by every domain, as in C),
//! then writes `data/release-watch` readable by all. The leaving client
//! ([`say_bye`], bootargs `wait-for=<watcher>`) waits for that node (a
//! watch on it), writes its own `data/bye`, readable by all, and then
//! powers off. The xenstore domain fires `@releaseDomain/<peer>` when it
//! sees the shutdown, and again when it releases the domain (destroyed by
//! the stub with `--on-shutdown destroy`), which removes the leaver's
//! nodes. `expect-release=gone` makes the watcher wait for both events and
//! then find `data/bye` gone; `expect-release=kept` for the first, and
//! then find `data/bye` still there, as C xenstored keeps a shut-down
//! domain's nodes until a toolstack destroys it.

use alloc::format;

use ring::MsgType;

use super::client::{Client, Link};
use super::steps::{check, ok, text, Verdict, REPLY_TIMEOUT_MS};

/// How long either client waits for the other: a bound for a failure
/// only (the Linux guest boots beside them under TCG).
const PEER_TIMEOUT_MS: u64 = 180_000;

/// What the watcher expects of the leaver's nodes once it has shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Destroyed and released: two events, the nodes removed.
    Gone,
    /// Only shut down: one event, the nodes kept.
    Kept,
}

/// Writes `data/<leaf>` = `value` under our home, readable by every
/// domain (`r<domid>`: owner us, others read).
fn write_public<L: Link>(c: &mut Client<L>, domid: u16, leaf: &str, value: &str) -> Verdict {
    let w = format!("data/{leaf}\0{value}");
    ok(c.request(MsgType::Write, w.as_bytes(), REPLY_TIMEOUT_MS))?;
    let p = format!("data/{leaf}\0r{domid}\0");
    ok(c.request(MsgType::SetPerms, p.as_bytes(), REPLY_TIMEOUT_MS)).map(|_| ())
}

/// The next watch event, which must be for `path` with token `token`.
fn event_for<L: Link>(c: &mut Client<L>, path: &str, token: &str, why: &str) -> Verdict {
    let e = c.next_event(PEER_TIMEOUT_MS).map_err(|e| format!("no event {why}: {e:?}"))?;
    let want = format!("{path}\0{token}\0");
    check(e == want.as_bytes(), || {
        format!("event {why}: {:?}", alloc::string::String::from_utf8_lossy(&e))
    })
}

/// The watcher's side: watch `peer` go, then check its nodes.
pub fn watch_release<L: Link>(c: &mut Client<L>, domid: u16, peer: u16, expect: Expect) -> Verdict {
    let special = format!("@releaseDomain/{peer}");
    let w = format!("{special}\0rel\0");
    ok(c.request(MsgType::Watch, w.as_bytes(), REPLY_TIMEOUT_MS))?;
    event_for(c, &special, "rel", "on registration")?;
    write_public(c, domid, "release-watch", "ready")?;
    event_for(c, &special, "rel", "when the peer shut down")?;
    if expect == Expect::Gone {
        event_for(c, &special, "rel", "when the peer was released")?;
    }
    let bye = format!("/local/domain/{peer}/data/bye\0");
    let r = c
        .request(MsgType::Read, bye.as_bytes(), REPLY_TIMEOUT_MS)
        .map_err(|e| format!("read the peer's bye: {e:?}"))?;
    match expect {
        Expect::Gone => {
            check(r.error().is_some(), || format!("the bye is still there: {}", text(&r)))
        }
        Expect::Kept => check(r.error().is_none(), || format!("the bye is gone: {}", text(&r))),
    }
}

/// The leaver's side: wait for the watcher, leave a node it can read.
pub fn say_bye<L: Link>(c: &mut Client<L>, domid: u16, watcher: u16) -> Verdict {
    let path = format!("/local/domain/{watcher}/data/release-watch");
    let w = format!("{path}\0ready\0");
    ok(c.request(MsgType::Watch, w.as_bytes(), REPLY_TIMEOUT_MS))?;
    let read = format!("{path}\0");
    loop {
        let r = c
            .request(MsgType::Read, read.as_bytes(), REPLY_TIMEOUT_MS)
            .map_err(|e| format!("read the watcher's node: {e:?}"))?;
        if r.error().is_none() {
            break;
        }
        // The registration's event, then the one for the node's creation.
        c.next_event(PEER_TIMEOUT_MS).map_err(|e| format!("the watcher never got ready: {e:?}"))?;
    }
    write_public(c, domid, "bye", "going")
}
