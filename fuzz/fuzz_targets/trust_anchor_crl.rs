//! Fuzz target: `rolegate::fuzzing::trust_anchor_crl` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::trust_anchor_crl(data));
