//! Arbitrary bytes into a whole server connection; see `src/session.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotong_fuzz::session::check(data));
