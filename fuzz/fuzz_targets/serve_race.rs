//! Ring turns (`serve`, `flush`, `pending_work`) while the guest rewrites
//! its page between any two of the server's looks at it: no panic, no
//! access outside the page (AddressSanitizer watches the heap page's
//! bounds), bounded work, and every server step checked against the page
//! the guest left (`ring::fuzzing::serve_race`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ring::page::LocalPage;

fuzz_target!(|data: &[u8]| {
    // A heap page of exactly 4096 bytes, so that ASan flags any byte read
    // or written past its end.
    let mut page = Box::new(LocalPage::default());
    ring::fuzzing::serve_race(&mut page, data);
});
