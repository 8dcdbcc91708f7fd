//! Fuzz target: `rolegate::fuzzing::sts_form` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::sts_form(data));
