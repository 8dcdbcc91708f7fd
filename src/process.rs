//! What the long-running commands (`serve`, `sidecar`, `update` without `--once`) ask of their
//! own process: no core dumps. The daemon holds every token key (and, for a few minutes, opened
//! session tokens with their secrets); the helpers hold the workload's private key and
//! credentials. A crash
//! with systemd-coredump or a node's `core_pattern` would write them to disk, readable by
//! whoever reads the dumps.

/// Marks this process not dumpable (`PR_SET_DUMPABLE` 0): no core file on a crash, and no
/// `ptrace` attach by the same user (a debugger or `perf -p` then needs `CAP_SYS_PTRACE`, as
/// root has). A failure is logged, not fatal: the process works the same, with dumps.
pub fn forbid_core_dumps() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(
            "cannot turn core dumps off (prctl PR_SET_DUMPABLE: {e}): a crash may write the secrets this process holds to disk"
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The process says it is not dumpable once asked, from any of its threads (the
    /// attribute is then put back, for the test binary's other tests).
    #[test]
    fn the_process_is_not_dumpable_afterwards() {
        use rustix::process::{DumpableBehavior, dumpable_behavior};
        let before = dumpable_behavior().unwrap();
        std::thread::spawn(super::forbid_core_dumps).join().unwrap();
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
        rustix::process::set_dumpable_behavior(before).unwrap();
    }
}
