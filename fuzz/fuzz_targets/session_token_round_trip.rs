//! Fuzz target: `rolegate::fuzzing::session_token_round_trip` (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let flip = data.len().wrapping_mul(31);
    rolegate::fuzzing::session_token_round_trip(data, flip)
});
