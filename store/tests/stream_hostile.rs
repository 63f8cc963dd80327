//! The migration stream reader on hostile input, under a counting global
//! allocator: random bytes and mutated valid streams decode to `Ok` or
//! `Err`, never panic, never make the reader hold more heap than its
//! budget (measured: the peak of live bytes during the call), and leave
//! nothing behind. What it accepts encodes to a stream that decodes to the
//! same records.
//!
//! Counted on the test's own thread (`common::counting`).

mod common;
mod stream_common;

use common::counting::{live, peak, reset_peak, Counting};
use store::stream::{decode, encode, DecodeError};
use stream_common::{bytes, mutate, stream, Rng};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Decodes `input` under `budget` and checks the promises; returns whether
/// it was accepted.
fn probe(input: &[u8], budget: usize) -> bool {
    let base = live();
    reset_peak();
    let got = decode(input, budget);
    let peak = peak() - base;
    assert!(peak <= budget, "held {peak} bytes over a budget of {budget}: {got:?}");
    let accepted = match got {
        Ok(s) => {
            let mut again = Vec::new();
            encode(&s, &mut again).expect("what the reader accepts, the writer writes");
            assert_eq!(decode(&again, usize::MAX).as_ref(), Ok(&s));
            true
        }
        Err(_) => false,
    };
    assert_eq!(live(), base, "the reader leaked");
    accepted
}

#[test]
fn hostile_streams_stay_within_the_budget() {
    let mut rng = Rng::new(0xbad_5eed);
    let (mut accepted, mut over_budget, mut total) = (0, 0, 0);
    for round in 0..20_000 {
        let s = stream(&mut rng);
        let mut b = bytes(&s);
        let budget = match rng.below(4) {
            0 => rng.below(256),
            1 => rng.below(b.len() * 4 + 1),
            2 => rng.below(b.len() * 16 + 1),
            _ => 1 << 20,
        };
        if round % 4 == 0 {
            // Random records after a valid header.
            b.truncate(16);
            let n = rng.below(200);
            b.extend(rng.bytes(n));
        } else if round % 4 != 1 {
            mutate(&mut rng, &mut b);
        }
        total += 1;
        if probe(&b, budget) {
            accepted += 1;
        } else if decode(&b, usize::MAX).is_ok() {
            over_budget += 1;
        }
    }
    eprintln!("{accepted} of {total} accepted, {over_budget} refused for the budget alone");
    // The test means something only if some inputs get far.
    assert!(accepted > total / 10, "{accepted} of {total} accepted");
    assert!(over_budget > 0);
    // And a budget of zero refuses even the smallest non-empty stream.
    let mut rng = Rng::new(1);
    loop {
        let s = stream(&mut rng);
        if !s.records.is_empty() {
            assert!(matches!(decode(&bytes(&s), 0), Err(DecodeError::OverBudget { .. })));
            break;
        }
    }
}
