//! Fuzzing entry point (feature `fuzzing`): arbitrary bytes drive a few
//! connections of one engine, with domain life-cycle changes and timer
//! ticks mixed in. The hypervisor is [`HypervisorModel`] (Xen 4.18–4.20
//! semantics) with domains 0 to [`FUZZ_DOMAINS`]` - 1` created at the start.

use alloc::vec::Vec;

use ring::decode::{Decoded, Decoder};
use ring::wire::{Header, MsgType};

use crate::engine::{Config, Engine};
use crate::ids::{ConnId, DomId};
use crate::model::{HypervisorModel, Semantics};

/// Domains that exist when a run starts (so that `XS_INTRODUCE` from the
/// input can map their rings).
pub const FUZZ_DOMAINS: u16 = 9;

/// Applies life-cycle change `what` (mod 5: created again, shut down,
/// killed, dead, destroyed) to domain `domid` of `xen`.
pub fn change_domain(xen: &mut HypervisorModel, domid: DomId, what: u8) {
    match what % 5 {
        0 => {
            xen.create(domid);
        }
        1 => xen.shutdown(domid),
        2 => xen.kill(domid),
        3 => xen.dead(domid),
        _ => xen.destroy(domid),
    }
}

/// Feeds `bytes`, output the engine queued for one connection, to that
/// connection's decoder `out` (which keeps a message split across calls)
/// and calls `each` with every message it completes.
///
/// # Panics
///
/// If the output is not well-framed, or a message's type is unknown: a
/// fuzz target reports its findings by panicking.
#[allow(clippy::panic)]
pub fn check_output(out: &mut Decoder, mut bytes: &[u8], mut each: impl FnMut(Header, &[u8])) {
    while !bytes.is_empty() {
        let (used, state) = out.push(bytes);
        bytes = bytes.get(used..).unwrap_or_default();
        match state {
            Decoded::Incomplete => {}
            Decoded::Message(h, body) => {
                assert!(MsgType::from_u32(h.ty).is_some(), "reply of unknown type {}", h.ty);
                each(h, body);
            }
            Decoded::NoMemory => panic!("fixed payload storage never runs out"),
            Decoded::Error(e) => panic!("engine output is not well-framed: {e}"),
        }
    }
}

/// Splits `data` into chunks `[selector, len, bytes…]` and feeds them to a
/// socket connection and two introduced domains; some selectors change a
/// domain's life cycle and run `check_domains`, `tick` or drain output
/// instead.
pub fn run(data: &[u8]) {
    let mut e = Engine::new(Config::default());
    let mut pf = HypervisorModel::new(Semantics::Getdomaininfo418);
    for d in 0..FUZZ_DOMAINS {
        pf.create(DomId(d));
    }
    let mut conns: Vec<ConnId> = Vec::new();
    conns.extend(e.connect_socket());
    for d in [1u16, 2] {
        if let Ok(c) = e.introduce(DomId(d), 0, 1, &mut pf) {
            conns.push(c);
        }
    }
    let mut now = 0u64;
    let mut rest = data;
    while let Some((&sel, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else { break };
        let n = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        now = now.wrapping_add(u64::from(sel & 0x0f) * 1000);
        match sel >> 4 {
            0..=11 => {
                let k = usize::from(sel).checked_rem(conns.len()).unwrap_or(0);
                if let Some(&c) = conns.get(k) {
                    let _ = e.input(c, chunk, now, &mut pf);
                }
            }
            12 => {
                let what = chunk.first().copied().unwrap_or(0);
                let domid = chunk.get(1).map_or(1, |&d| u16::from(d) % FUZZ_DOMAINS);
                change_domain(&mut pf, DomId(domid), what);
                e.check_domains(now, &mut pf);
            }
            13 => e.tick(now),
            _ => {
                for &c in &conns {
                    loop {
                        let k = e.output(c).len();
                        if k == 0 {
                            break;
                        }
                        e.output_done(c, k);
                    }
                }
                let mut ready = Vec::new();
                e.take_ready(&mut ready);
            }
        }
    }
}
