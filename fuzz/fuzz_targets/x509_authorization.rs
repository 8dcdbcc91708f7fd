//! Fuzz target: `rolegate::fuzzing::x509_authorization` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::x509_authorization(data));
