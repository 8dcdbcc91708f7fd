//! Fuzz target: `rolegate::fuzzing::proxy_protocol_header` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::proxy_protocol_header(data));
