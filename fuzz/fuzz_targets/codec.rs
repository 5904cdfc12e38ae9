//! Arbitrary bytes into the STOMP decoder; see `src/codec.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotong_fuzz::codec::check(data));
