use std::vec::Vec;

use super::*;

/// Rings that record their turns: each has a number of turns' worth of
/// input; expiry is recorded in the same log as turns.
#[derive(Default)]
struct Log {
    /// `(ring, turns of input left)`.
    input: Vec<(u32, u32)>,
    /// Turns (`Some(ring)`) and expiries (`None`), in order.
    events: Vec<Option<u32>>,
}

impl Rings<u32> for Log {
    fn serve(&mut self, ring: u32) -> bool {
        self.events.push(Some(ring));
        match self.input.iter_mut().find(|(r, _)| *r == ring) {
            Some((_, left)) => {
                *left = left.saturating_sub(1);
                *left > 0
            }
            None => false,
        }
    }

    fn expire(&mut self) {
        self.events.push(None);
    }
}

fn turns(log: &Log) -> Vec<u32> {
    log.events.iter().flatten().copied().collect()
}

#[test]
fn rings_are_served_in_order_once_each_then_expiry_runs() {
    let mut s = Scheduler::<u32, 8>::new(0);
    assert!(s.enqueue(3));
    assert!(s.enqueue(1));
    assert!(!s.enqueue(3), "queued once");
    assert!(s.enqueue(2));
    assert_eq!(s.len(), 3);
    let mut log = Log::default();
    s.round(&mut log);
    assert_eq!(log.events, [Some(3), Some(1), Some(2), None], "FIFO, then expiry");
    assert!(s.is_empty());
    s.round(&mut log);
    assert_eq!(log.events.last(), Some(&None), "expiry runs with nothing queued too");
}

#[test]
fn a_ring_with_more_input_goes_to_the_back_and_waits_for_the_next_round() {
    let mut s = Scheduler::<u32, 8>::new(0);
    let mut log = Log { input: std::vec![(1, 3)], ..Log::default() };
    s.enqueue(1);
    s.enqueue(2);
    s.round(&mut log);
    assert_eq!(turns(&log), [1, 2], "one turn per round");
    s.enqueue(3);
    s.round(&mut log);
    assert_eq!(turns(&log), [1, 2, 1, 3]);
    s.round(&mut log);
    assert_eq!(turns(&log), [1, 2, 1, 3, 1]);
    assert!(s.is_empty(), "no input left");
}

#[test]
fn the_first_ring_jumps_the_queue_but_not_when_requeued_for_more_input() {
    let mut s = Scheduler::<u32, 8>::new(0);
    s.set_first(Some(0));
    s.enqueue(5);
    s.enqueue(6);
    s.enqueue(0);
    assert!(s.is_queued(0));
    let mut log = Log { input: std::vec![(0, 2)], ..Log::default() };
    s.round(&mut log);
    assert_eq!(turns(&log), [0, 5, 6]);
    s.enqueue(7);
    s.round(&mut log);
    assert_eq!(turns(&log), [0, 5, 6, 0, 7], "more input: back of the queue, whoever it is");
    s.set_first(None);
    s.enqueue(8);
    s.enqueue(0);
    s.round(&mut log);
    assert_eq!(turns(&log), [0, 5, 6, 0, 7, 8, 0]);
}

#[test]
fn removed_rings_get_no_turn_and_order_is_kept() {
    let mut s = Scheduler::<u32, 8>::new(0);
    for r in [4, 2, 9, 1] {
        s.enqueue(r);
    }
    s.remove(9);
    s.remove(7);
    assert!(!s.is_queued(9));
    assert_eq!(s.len(), 3);
    let mut log = Log::default();
    s.round(&mut log);
    assert_eq!(turns(&log), [4, 2, 1]);
    assert!(s.enqueue(9), "a removed ring can be queued again");
}

#[test]
fn a_full_queue_refuses_more_rings() {
    let mut s = Scheduler::<u32, 2>::new(0);
    assert!(s.enqueue(1));
    assert!(s.enqueue(2));
    assert!(!s.enqueue(3));
    assert!(!s.is_queued(3));
    let mut log = Log::default();
    s.round(&mut log);
    assert_eq!(turns(&log), [1, 2]);
}

#[test]
fn sweeps_every_interval_from_the_last_one() {
    let mut s = Scheduler::<u32, 8>::new(100);
    assert!(!s.sweep_due(100 + SWEEP_INTERVAL_MS - 1));
    assert!(s.sweep_due(100 + SWEEP_INTERVAL_MS));
    // A late sweep (the loop was busy) counts from when it ran.
    s.sweep(5_000, [], |_| true);
    assert!(!s.sweep_due(5_000 + SWEEP_INTERVAL_MS - 1));
    assert!(s.sweep_due(5_000 + SWEEP_INTERVAL_MS));
    assert_eq!(s.next_sweep_ms(), 5_000 + SWEEP_INTERVAL_MS);
    s.restart_sweep(6_000);
    assert_eq!(s.next_sweep_ms(), 6_000 + SWEEP_INTERVAL_MS);
}

#[test]
fn a_sweep_queues_the_rings_with_work_and_asks_only_about_unqueued_ones() {
    let mut s = Scheduler::<u32, 8>::new(0);
    s.set_first(Some(0));
    s.enqueue(2);
    let mut asked = Vec::new();
    s.sweep(10, [0, 1, 2, 3], |r| {
        asked.push(r);
        r != 1
    });
    assert_eq!(asked, [0, 1, 3], "ring 2 was queued already");
    let mut log = Log::default();
    s.round(&mut log);
    assert_eq!(turns(&log), [0, 2, 3], "the first ring to the front");
}

#[test]
fn the_timer_is_armed_for_the_earlier_of_engine_and_sweep() {
    let s = Scheduler::<u32, 8>::new(0);
    assert_eq!(s.deadline(None), SWEEP_INTERVAL_MS, "idle: the sweep alone");
    assert_eq!(s.deadline(Some(5)), 5);
    assert_eq!(s.deadline(Some(SWEEP_INTERVAL_MS + 1)), SWEEP_INTERVAL_MS);
}

#[test]
fn the_default_capacity_holds_every_ring() {
    let mut s = std::boxed::Box::new(Scheduler::<u32>::new(0));
    for r in (0..MAX_RINGS as u32).rev() {
        assert!(s.enqueue(r));
    }
    assert_eq!(s.len(), MAX_RINGS);
    assert!(!s.enqueue(MAX_RINGS as u32));
    assert!(s.is_queued(17));
}
