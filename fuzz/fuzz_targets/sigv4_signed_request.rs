//! Fuzz target: `rolegate::fuzzing::sigv4_signed_request` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::sigv4_signed_request(data));
