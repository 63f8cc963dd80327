//! The vocabulary of requests: who is asking ([`Req`]), what a handler
//! answers ([`Reply`]), how its arguments are read (C `get_strings`,
//! `onearg`), and how a message is framed for the wire.

use alloc::vec::Vec;
use core::fmt::Write;

use ring::wire::{Header, HEADER_SIZE};

use crate::error::Error;
use crate::ids::ConnId;
use crate::perms::{heapless_fmt, Who};

/// The context of one request.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    /// The connection it came from.
    pub conn: ConnId,
    /// Its request id (a reply sent later, live update's, carries it).
    pub req_id: u32,
    /// Who is asking.
    pub who: Who,
    /// Its transaction, if any.
    pub tx: Option<u32>,
    /// Serial for `outstanding` accounting (unprivileged callers only).
    pub serial: Option<u64>,
}

/// A successful reply.
pub struct Reply {
    body: Body,
    /// A watch event to queue on the caller after the reply (`XS_WATCH`):
    /// the path as the watcher sees it, and the token.
    pub then_event: Option<(Vec<u8>, Vec<u8>)>,
}

/// A reply payload: a constant, or a buffer that starts with
/// `HEADER_SIZE` bytes reserved for the header, so the queued message is
/// built with one allocation; or none yet (the handler answers later).
enum Body {
    Static(&'static [u8]),
    Framed(Vec<u8>),
    Deferred,
}

impl Reply {
    /// A buffer to build a reply payload in (see [`Reply::framed`]).
    pub fn buffer(payload_capacity: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_SIZE.saturating_add(payload_capacity));
        v.resize(HEADER_SIZE, 0);
        v
    }

    /// A reply built in a [`Reply::buffer`].
    pub fn framed(buf: Vec<u8>) -> Reply {
        Reply { body: Body::Framed(buf), then_event: None }
    }

    /// A copy of `payload`.
    pub fn data(payload: &[u8]) -> Reply {
        let mut v = Reply::buffer(payload.len());
        v.extend_from_slice(payload);
        Reply::framed(v)
    }

    /// `"OK\0"`.
    pub fn ok() -> Reply {
        Reply { body: Body::Static(b"OK\0"), then_event: None }
    }

    /// No reply now: the handler queues it later (C `delay_request`,
    /// live update's start).
    pub fn deferred() -> Reply {
        Reply { body: Body::Deferred, then_event: None }
    }

    /// Whether the reply is sent later ([`Reply::deferred`]).
    pub fn is_deferred(&self) -> bool {
        matches!(self.body, Body::Deferred)
    }

    /// A NUL-terminated string.
    pub fn string(s: &str) -> Reply {
        let mut v = Reply::buffer(s.len().saturating_add(1));
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        Reply::framed(v)
    }

    /// A number as a NUL-terminated decimal string.
    pub fn number(n: impl core::fmt::Display) -> Reply {
        let mut v = Reply::buffer(24);
        v.extend_from_slice(num(n).as_bytes());
        v.push(0);
        Reply::framed(v)
    }

    /// Payload length.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Static(b) => b.len(),
            Body::Framed(v) => v.len().saturating_sub(HEADER_SIZE),
            Body::Deferred => 0,
        }
    }

    /// The whole message: header then payload.
    pub(crate) fn into_message(self, ty: u32, req_id: u32, tx_id: u32) -> Vec<u8> {
        match self.body {
            Body::Static(b) => encode(ty, req_id, tx_id, b),
            Body::Framed(v) => frame(ty, req_id, tx_id, v),
            Body::Deferred => Vec::new(),
        }
    }
}

/// Completes a message built in a buffer whose first `HEADER_SIZE` bytes
/// are reserved for the header (`Reply::buffer`).
pub fn frame(ty: u32, req_id: u32, tx_id: u32, mut buf: Vec<u8>) -> Vec<u8> {
    let payload = buf.len().saturating_sub(HEADER_SIZE);
    let len = u32::try_from(payload).unwrap_or(u32::MAX);
    let hdr = Header { ty, req_id, tx_id, len };
    if let Some(dst) = buf.get_mut(..HEADER_SIZE) {
        dst.copy_from_slice(&hdr.to_bytes());
    }
    buf
}

/// Serialises a message.
pub fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let hdr = Header { ty, req_id, tx_id, len };
    let mut v = Vec::with_capacity(HEADER_SIZE.saturating_add(payload.len()));
    v.extend_from_slice(&hdr.to_bytes());
    v.extend_from_slice(payload);
    v
}

// ---- argument parsing (C get_string/get_strings/onearg/atoi) ----

/// The NUL-terminated strings at the start of `payload` (trailing bytes
/// without a NUL are ignored, as C `get_strings`).
pub fn strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = payload.iter().rposition(|&c| c == 0).map_or(0, |i| i.saturating_add(1));
    payload
        .get(..end)
        .unwrap_or(&[])
        .split(|&c| c == 0)
        .take(payload.get(..end).map_or(0, |s| s.iter().filter(|&&c| c == 0).count()))
}

/// Number of NUL-terminated strings.
pub fn count_strings(payload: &[u8]) -> usize {
    payload.iter().filter(|&&c| c == 0).count()
}

/// The first `N` strings of `payload`, which must hold at least `N`
/// (`EINVAL` otherwise); later ones are left to the caller.
pub fn args<const N: usize>(payload: &[u8]) -> Result<[&[u8]; N], Error> {
    let mut all = strings(payload);
    let mut out: [&[u8]; N] = [&[]; N];
    for slot in &mut out {
        *slot = all.next().ok_or(Error::Inval)?;
    }
    Ok(out)
}

/// The strings of `payload`, which must hold exactly `N` (`EINVAL`
/// otherwise).
pub fn exact_args<const N: usize>(payload: &[u8]) -> Result<[&[u8]; N], Error> {
    if count_strings(payload) != N {
        return Err(Error::Inval);
    }
    args(payload)
}

/// The single argument: the payload must hold exactly one NUL, at the end.
pub fn onearg(payload: &[u8]) -> Result<&[u8], Error> {
    match payload.split_last() {
        Some((0, arg)) if !arg.contains(&0) => Ok(arg),
        _ => Err(Error::Inval),
    }
}

/// Formats a number without allocating.
pub fn num(v: impl core::fmt::Display) -> heapless_fmt::Buf {
    let mut b = heapless_fmt::Buf::new();
    let _ = write!(b, "{v}");
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn argument_helpers_follow_c() {
        assert_eq!(onearg(b"/a\0"), Ok(&b"/a"[..]));
        assert_eq!(onearg(b"/a"), Err(Error::Inval));
        assert_eq!(onearg(b"/a\0b\0"), Err(Error::Inval));
        assert_eq!(onearg(b""), Err(Error::Inval));
        assert_eq!(strings(b"a\0b\0c").collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);
    }
}
