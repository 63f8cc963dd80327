//! Findings of the fuzz targets (`fuzz/`, `fuzz/CAMPAIGN.md`), reduced to
//! deterministic tests.
//!
//! The budget's meter here is a plain counter the test sets, so each test
//! puts the heap exactly where the finding needed it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::{request, World};
use store::budget::REQUEST_HEADROOM;
use store::{Config, MemoryBudget};

/// The stub's heap at `--memory 4`, as `engine_heap` and `heap_cap` use it.
const STUB_HEAP: usize = 2_804 * 1024;

/// `engine_heap` (Xen 4.18, dom0 filling the reserve with an unread
/// socket): with the heap over the privileged domain's admission line,
/// every request is answered `ENOMEM` without being handled, but those
/// small replies are queued whatever the budget says. The privileged
/// domain has no `outstanding` quota, so a toolstack that writes without
/// reading grew the heap by one reply per request, without bound, past
/// `limit + REQUEST_HEADROOM` (found 7 KiB over, after a few hundred
/// requests). A connection with unsent output is now not read while the
/// heap is over its caller's line: one refusal per connection is queued at
/// most, and it is read again once it has read its output.
#[test]
fn unread_refusals_do_not_grow_the_heap_past_the_limit() {
    static METER: AtomicUsize = AtomicUsize::new(0);
    fn meter() -> usize {
        METER.load(SeqCst)
    }
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let mut w = World::with(Config { budget: Some(budget), ..Config::default() });
    let s = w.sock();
    let g = w.dom(3);
    // Over both lines: every request, privileged or not, is refused.
    METER.store(budget.limit - REQUEST_HEADROOM + 1, SeqCst);
    for c in [s, g] {
        let one = request(2, 1, 0, b"/local\0");
        let stream: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
        let mut taken = 0;
        for _ in 0..1000 {
            taken += w.raw(c, &stream[taken..]).unwrap();
            if taken == stream.len() || !w.e.wants_input(c) {
                break;
            }
        }
        assert_eq!(taken, one.len(), "one request taken, then the connection is held");
        assert!(!w.e.wants_input(c), "held while its refusal is unread");
        let replies = w.recv_all(c);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].text(), "ENOMEM\0");
        assert!(w.e.wants_input(c), "read again once its output was read");
    }
    assert_eq!(w.queued_bytes(), 0);
    // Below the line again, requests are served as before.
    METER.store(0, SeqCst);
    assert_eq!(w.read(s, "/tool").ty, 2);
}
