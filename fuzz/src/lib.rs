//! Harnesses behind the cargo-fuzz targets in `fuzz_targets/`: each target is a
//! one-line `fuzz_target!` around a `check` function here, so the same code can
//! replay saved inputs without libFuzzer (see `README.md`).

pub mod codec;
pub mod session;
