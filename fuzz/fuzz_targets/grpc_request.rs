//! Fuzz target: `rolegate::fuzzing::grpc_request` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolegate::fuzzing::grpc_request(data));
