//! The [`Link`] of a test client running as a Xen guest, the same on
//! every architecture: the store event channel to notify, the
//! architecture's sleep ([`crate::arch::sleep`]: x86 arms the single-shot
//! timer and halts until an upcall, Arm polls the port with a timeout) to
//! wait.

use core::sync::atomic::Ordering;

use super::client::Link;
use crate::arch::{sleep, timer_fired, Clock};
use crate::evtchn;
use crate::shared_info::Shared;

/// Longest sleep between looks at the ring, in case a wake-up is missed.
const WAIT_SLICE_MS: u64 = 50;

/// The ring's event channel and the clock on Xen.
pub struct EventLink {
    /// Our end of the store event channel.
    pub port: u32,
    /// The port of our `VIRQ_TIMER`, where the sleep arms a timer (x86).
    pub timer: Option<u32>,
    /// Event bitmaps and vCPU 0's upcall flag.
    pub shared: Shared,
    /// Time.
    pub clock: Clock,
}

impl Link for EventLink {
    fn notify(&mut self) {
        let _ = evtchn::send(self.port);
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn wait(&mut self, deadline_ms: u64) {
        let now = self.clock.now_ms();
        if now >= deadline_ms {
            return;
        }
        // An event that arrived since the caller last looked is still
        // pending, which ends the sleep at once.
        sleep(
            &self.clock,
            deadline_ms.min(now.saturating_add(WAIT_SLICE_MS)),
            [self.port].into_iter(),
        );
        // Take what woke us, so the next sleep lasts until a new event;
        // a timer event taken means the next sleep must arm it again.
        let s = &self.shared;
        s.upcall_pending().store(0, Ordering::Release);
        evtchn::scan(s.pending_sel(), s.pending(), s.mask(), |p| {
            if Some(p) == self.timer {
                timer_fired();
            }
        });
    }
}
