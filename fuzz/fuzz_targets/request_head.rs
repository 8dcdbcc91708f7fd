//! Fuzz target: `rolegate::fuzzing::request_head` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::request_head(data));
