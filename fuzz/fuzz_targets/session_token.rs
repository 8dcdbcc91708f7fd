//! Fuzz target: `rolegate::fuzzing::session_token` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::session_token(data));
