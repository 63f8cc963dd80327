//! Event channels, 2-level ABI (`public/event_channel.h`).
//!
//! Xen sets port `p`'s bit in `evtchn_pending[p / 64]`; if the port is not
//! masked and selector bit `p / 64` of `evtchn_pending_sel` was clear, it sets
//! it and `evtchn_upcall_pending`, and injects the callback vector. So the
//! consumer must clear the selector word it scans (otherwise later events
//! in the same word raise no upcall) and clear each pending bit it consumes.
//! All our ports stay unmasked. A newly bound interdomain port starts
//! pending, so a ring is always looked at right after binding.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::abi::event_channel::*;
use crate::abi::xen::{hypercall as nr, DOMID_SELF, EVTCHN_2L_NR_CHANNELS};
use crate::hypercall::hypercall_with;
use crate::xen::{check, Errno};

/// Binds to `remote_port` of `remote_dom`; returns our port.
pub fn bind_interdomain(remote_dom: u16, remote_port: u32) -> Result<u32, Errno> {
    let mut a = EvtchnBindInterdomain { remote_dom, pad: 0, remote_port, local_port: 0 };
    // SAFETY: EVTCHNOP_bind_interdomain reads and writes one such struct.
    check(unsafe { hypercall_with(nr::EVENT_CHANNEL_OP, EVTCHNOP_BIND_INTERDOMAIN, &mut a) })?;
    unmask(a.local_port)?;
    Ok(a.local_port)
}

/// Allocates a port `remote_dom` may bind to; returns it.
pub fn alloc_unbound(remote_dom: u16) -> Result<u32, Errno> {
    let mut a = EvtchnAllocUnbound { dom: DOMID_SELF, remote_dom, port: 0 };
    // SAFETY: EVTCHNOP_alloc_unbound reads and writes one such struct.
    check(unsafe { hypercall_with(nr::EVENT_CHANNEL_OP, EVTCHNOP_ALLOC_UNBOUND, &mut a) })?;
    Ok(a.port)
}

/// Binds `virq` on vCPU 0; returns the port.
pub fn bind_virq(virq: u32) -> Result<u32, Errno> {
    let mut a = EvtchnBindVirq { virq, vcpu: 0, port: 0 };
    // SAFETY: EVTCHNOP_bind_virq reads and writes one such struct.
    check(unsafe { hypercall_with(nr::EVENT_CHANNEL_OP, EVTCHNOP_BIND_VIRQ, &mut a) })?;
    unmask(a.port)?;
    Ok(a.port)
}

/// The remote domain of an unbound or interdomain `port` (`EVTCHNOP_status`).
/// A port allocated for `DOMID_SELF` names our own domain id.
pub fn remote_domid(port: u32) -> Result<u16, Errno> {
    let mut a = EvtchnStatus { dom: DOMID_SELF, port, ..EvtchnStatus::default() };
    // SAFETY: EVTCHNOP_status reads and writes one such struct.
    check(unsafe { hypercall_with(nr::EVENT_CHANNEL_OP, EVTCHNOP_STATUS, &mut a) })?;
    match a.status {
        EVTCHNSTAT_UNBOUND | EVTCHNSTAT_INTERDOMAIN => Ok(a.remote_dom),
        _ => Err(Errno(22)),
    }
}

/// One-port operations.
fn port_op(cmd: usize, port: u32) -> Result<(), Errno> {
    let mut a = EvtchnPortArg { port };
    // SAFETY: close/send/unmask read one `u32` port.
    check(unsafe { hypercall_with(nr::EVENT_CHANNEL_OP, cmd, &mut a) }).map(|_| ())
}

/// Notifies the other end of `port`.
pub fn send(port: u32) -> Result<(), Errno> {
    port_op(EVTCHNOP_SEND, port)
}

/// Unmasks `port` (Xen re-raises the upcall if it is pending).
pub fn unmask(port: u32) -> Result<(), Errno> {
    port_op(EVTCHNOP_UNMASK, port)
}

/// Closes `port`; an interdomain peer's end becomes unbound again.
pub fn close(port: u32) -> Result<(), Errno> {
    port_op(EVTCHNOP_CLOSE, port)
}

/// Collects pending, unmasked ports: takes the selector word, then for each
/// selected bitmap word atomically clears and reports the pending bits.
/// Calls `f` once per port, in increasing order within each word.
pub fn scan(
    sel: &AtomicU64,
    pending: &[AtomicU64; 64],
    mask: &[AtomicU64; 64],
    mut f: impl FnMut(u32),
) {
    let mut words = sel.swap(0, Ordering::AcqRel);
    while words != 0 {
        let w = words.trailing_zeros() as usize;
        words &= words.wrapping_sub(1);
        let (Some(p), Some(m)) = (pending.get(w), mask.get(w)) else { continue };
        let ready = p.load(Ordering::Acquire) & !m.load(Ordering::Relaxed);
        let mut taken = p.fetch_and(!ready, Ordering::AcqRel) & ready;
        while taken != 0 {
            let bit = taken.trailing_zeros();
            taken &= taken.wrapping_sub(1);
            let port = u32::try_from(w.saturating_mul(64)).unwrap_or(u32::MAX).saturating_add(bit);
            if (port as usize) < EVTCHN_2L_NR_CHANNELS {
                f(port);
            }
        }
    }
}

/// Whether `port` is pending (an event Xen raised that no scan took yet).
pub fn is_pending(pending: &[AtomicU64; 64], port: u32) -> bool {
    let word = usize::try_from(port / 64).unwrap_or(usize::MAX);
    let bit = 1u64.checked_shl(port % 64).unwrap_or(0);
    pending.get(word).is_some_and(|w| w.load(Ordering::Acquire) & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap() -> [AtomicU64; 64] {
        core::array::from_fn(|_| AtomicU64::new(0))
    }

    #[test]
    fn scan_reports_and_clears_unmasked_pending_ports() {
        let sel = AtomicU64::new(0b101);
        let pending = bitmap();
        let mask = bitmap();
        pending[0].store(0b1010, Ordering::Relaxed);
        pending[2].store(1 << 63 | 1, Ordering::Relaxed);
        mask[2].store(1, Ordering::Relaxed);
        // Word 1 is pending but not selected: left for its own upcall.
        pending[1].store(1, Ordering::Relaxed);
        let mut got = std::vec::Vec::new();
        scan(&sel, &pending, &mask, |p| got.push(p));
        assert_eq!(got, [1, 3, 191]);
        assert_eq!(sel.load(Ordering::Relaxed), 0);
        assert_eq!(pending[0].load(Ordering::Relaxed), 0);
        assert_eq!(pending[2].load(Ordering::Relaxed), 1, "masked bit stays pending");
        assert_eq!(pending[1].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn pending_ports_are_seen_without_being_taken() {
        let pending = bitmap();
        pending[1].store(1 << 2, Ordering::Relaxed);
        assert!(is_pending(&pending, 66));
        assert!(!is_pending(&pending, 2));
        assert!(!is_pending(&pending, 4096), "out of range");
        assert_eq!(pending[1].load(Ordering::Relaxed), 1 << 2);
    }

    #[test]
    fn full_selector_scans_everything() {
        let sel = AtomicU64::new(u64::MAX);
        let pending = bitmap();
        let mask = bitmap();
        pending[63].store(1 << 63, Ordering::Relaxed);
        let mut got = std::vec::Vec::new();
        scan(&sel, &pending, &mask, |p| got.push(p));
        assert_eq!(got, [4095]);
    }
}
