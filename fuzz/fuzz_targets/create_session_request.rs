//! Fuzz target: `rolegate::fuzzing::create_session_request` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::create_session_request(data));
