//! The `rolegate` binary: all behaviour lives in the library; see `rolegate::cli`.
#![forbid(unsafe_code)]

/// mimalloc instead of the system allocator: see README "Performance".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rolegate::cli::run()
}
