//! Raw bytes into `store::fuzzing::run`: the store's own entry point, which
//! splits them into input chunks for a socket and two domain connections,
//! domain-state changes, timer ticks and output drains. (`engine_ops` is the
//! structured counterpart, with checks on the output.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| store::fuzzing::run(data));
