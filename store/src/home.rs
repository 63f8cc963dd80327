//! The nodes a toolstack writes for a new domain, written by the store
//! itself where there is no toolstack: a dom0less system (Xen 4.21+ builds
//! the domains at boot and makes one of them the xenstore domain, which
//! introduces the others at start; `init-dom0less` in dom0 used to write
//! these, `tools/helpers/init-dom0less.c`).
//!
//! [`Engine::write_home`] writes `/local/domain/<id>` and its entries as
//! the privileged domain, through an internal socket connection and the
//! ordinary request path (permissions, quotas, watches: a watcher sees what
//! it would see of a toolstack), in one transaction. Every node is owned
//! by the domain and readable by the privileged domain, as init-dom0less
//! sets them. What the store cannot know (a uuid, `/vm`, `/libxl`) is left
//! out.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ring::wire::{MsgType, HEADER_SIZE};
use ring::Header;

use crate::{DomId, Engine, Platform};

/// What the platform knows of a domain's store connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HomeInfo {
    /// The domain's end of its store event channel (`store/port`).
    pub store_port: u32,
    /// The ring page's frame in the domain (`store/ring-ref`).
    pub ring_ref: u64,
    /// vCPUs (`cpu/<n>/availability`).
    pub vcpus: u32,
    /// The domain's memory limit in KiB (`memory/static-max`), if known.
    pub max_memkb: Option<u64>,
    /// Its current memory in KiB (`memory/target`), if known.
    pub target_memkb: Option<u64>,
}

/// Why the home could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HomeError {
    /// No internal connection (the privileged admission line is full).
    NoConnection,
    /// A request was refused: its path and the error name.
    Refused(String, String),
}

/// The entries init-dom0less writes under `/local/domain/<id>`, but the
/// ones that need a uuid, with their values.
fn entries(domid: DomId, info: &HomeInfo) -> Vec<(String, String)> {
    let mut e: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| e.push((String::from(k), v));
    add("", String::new());
    add("name", format!("dom0less-{}", domid.0));
    add("cpu", String::new());
    for i in 0..info.vcpus {
        add(&format!("cpu/{i}/availability"), String::from("online"));
    }
    add("memory", String::new());
    if let Some(kb) = info.max_memkb {
        add("memory/static-max", format!("{kb}"));
    }
    if let Some(kb) = info.target_memkb {
        add("memory/target", format!("{kb}"));
    }
    add("memory/videoram", String::from("-1"));
    for k in ["device", "device/suspend", "device/suspend/event-channel", "control"] {
        add(k, String::new());
    }
    add("control/shutdown", String::new());
    add("control/feature-poweroff", String::from("1"));
    add("control/feature-reboot", String::from("1"));
    add("control/feature-suspend", String::new());
    add("control/sysrq", String::new());
    add("control/platform-feature-multiprocessor-suspend", String::from("1"));
    add("control/platform-feature-xs_reset_watches", String::from("1"));
    add("domid", format!("{}", domid.0));
    for k in ["data", "drivers", "feature", "attr"] {
        add(k, String::new());
    }
    add("store/port", format!("{}", info.store_port));
    add("store/ring-ref", format!("{}", info.ring_ref));
    e
}

/// Appends one request to `out`.
fn request(out: &mut Vec<u8>, ty: MsgType, req_id: u32, tx_id: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&Header { ty: ty as u32, req_id, tx_id, len }.to_bytes());
    out.extend_from_slice(payload);
}

/// The replies in `bytes`: (type, request id, payload).
fn replies(bytes: &[u8]) -> Vec<(u32, u32, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((head, tail)) = rest.split_first_chunk::<HEADER_SIZE>() {
        let h = Header::from_bytes(head);
        let len = usize::try_from(h.len).unwrap_or(usize::MAX).min(tail.len());
        let (payload, next) = tail.split_at(len);
        out.push((h.ty, h.req_id, payload));
        rest = next;
    }
    out
}

impl Engine {
    /// Writes `/local/domain/<domid>` and the entries a toolstack would
    /// (see the module documentation), as the privileged domain, in one
    /// transaction, at `now_ms`.
    pub fn write_home<P: Platform>(
        &mut self,
        domid: DomId,
        info: &HomeInfo,
        now_ms: u64,
        platform: &mut P,
    ) -> Result<(), HomeError> {
        let conn = self.connect_socket().ok_or(HomeError::NoConnection)?;
        let result = self.write_home_on(conn, domid, info, now_ms, platform);
        self.disconnect(conn, platform);
        result
    }

    /// [`Engine::write_home`] on the internal connection `conn`.
    fn write_home_on<P: Platform>(
        &mut self,
        conn: crate::ConnId,
        domid: DomId,
        info: &HomeInfo,
        now_ms: u64,
        platform: &mut P,
    ) -> Result<(), HomeError> {
        let home = format!("/local/domain/{}", domid.0);
        let refused = |path: &str, why: &[u8]| {
            let why = String::from_utf8_lossy(why.strip_suffix(&[0]).unwrap_or(why));
            HomeError::Refused(String::from(path), String::from(why.as_ref()))
        };
        // One request at a time, so that a refusal names its path.
        let mut call = |e: &mut Engine, ty: MsgType, tx: u32, payload: &[u8], path: &str| {
            let mut msg = Vec::new();
            request(&mut msg, ty, 1, tx, payload);
            let _ = e.input(conn, &msg, now_ms, platform);
            let out = e.output(conn).to_vec();
            e.output_done(conn, out.len());
            let reply = replies(&out).into_iter().find(|r| r.1 == 1);
            match reply {
                Some((t, _, p)) if t == MsgType::Error as u32 => Err(refused(path, p)),
                Some((_, _, p)) => Ok(p.to_vec()),
                None => Err(refused(path, b"no reply")),
            }
        };
        let tx = call(self, MsgType::TransactionStart, 0, b"\0", &home)?;
        let tx: u32 = core::str::from_utf8(tx.strip_suffix(&[0]).unwrap_or(&tx))
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| refused(&home, b"bad transaction id"))?;
        let perms = format!("n{}\0r{}\0", domid.0, self.config().priv_domid.0);
        let mut failed = None;
        for (key, value) in entries(domid, info) {
            let path = if key.is_empty() { home.clone() } else { format!("{home}/{key}") };
            let mut write = Vec::from(path.as_bytes());
            write.push(0);
            write.extend_from_slice(value.as_bytes());
            let mut set = Vec::from(path.as_bytes());
            set.push(0);
            set.extend_from_slice(perms.as_bytes());
            let step = call(self, MsgType::Write, tx, &write, &path)
                .and_then(|_| call(self, MsgType::SetPerms, tx, &set, &path));
            if let Err(e) = step {
                failed = Some(e);
                break;
            }
        }
        let end: &[u8] = if failed.is_some() { b"F\0" } else { b"T\0" };
        let ended = call(self, MsgType::TransactionEnd, tx, end, &home);
        match (failed, ended) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entries_are_init_dom0less_ones() {
        let info = HomeInfo {
            store_port: 5,
            ring_ref: 0x39001,
            vcpus: 2,
            max_memkb: Some(65536),
            target_memkb: None,
        };
        let e = entries(DomId(3), &info);
        let get = |k: &str| e.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get(""), Some(""));
        assert_eq!(get("name"), Some("dom0less-3"));
        assert_eq!(get("domid"), Some("3"));
        assert_eq!(get("cpu/1/availability"), Some("online"));
        assert_eq!(get("store/port"), Some("5"));
        assert_eq!(get("store/ring-ref"), Some("233473"));
        assert_eq!(get("control/feature-poweroff"), Some("1"));
        assert_eq!(get("memory/static-max"), Some("65536"));
        assert_eq!(get("memory/target"), None, "unknown, left out");
        assert_eq!(get("memory/videoram"), Some("-1"));
        // Parents come before their children.
        let at = |k: &str| e.iter().position(|(key, _)| key == k).unwrap();
        assert!(at("device") < at("device/suspend"));
        assert!(at("") < at("name"));
    }

    #[test]
    fn replies_are_split_at_their_lengths() {
        let mut b = Vec::new();
        request(&mut b, MsgType::Write, 7, 0, b"OK\0");
        request(&mut b, MsgType::Error, 8, 0, b"EACCES\0");
        let r = replies(&b);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1], (MsgType::Error as u32, 8, &b"EACCES\0"[..]));
    }
}
