//! Arbitrary chunks of an arbitrary stream into `ring::decode::Decoder`:
//! no panic, and the messages agree with a reference parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ring::fuzzing::decode(data));
