//! The `rolegate` binary: all behaviour lives in the library; see `rolegate::cli`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    rolegate::cli::run()
}
