//! Fuzz target: `rolegate::fuzzing::policy_document` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::policy_document(data));
