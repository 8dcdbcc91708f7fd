//! Fuzz target: `rolegate::fuzzing::sidecar_request` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _served = rolegate::fuzzing::sidecar_request(data);
});
