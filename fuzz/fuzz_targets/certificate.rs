//! Fuzz target: `rolegate::fuzzing::certificate` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::certificate(data));
