//! Arbitrary indices and operations on a ring page: no panic, no access
//! outside the page (AddressSanitizer watches the heap page's bounds), and
//! each operation changes only the bytes it owns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ring::page::LocalPage;

fuzz_target!(|data: &[u8]| {
    // A heap page of exactly 4096 bytes, so that ASan flags any byte read
    // or written past its end.
    let mut page = Box::new(LocalPage::default());
    ring::fuzzing::ring_page(&mut page, data);
});
