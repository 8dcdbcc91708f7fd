//! What the benchmark reads of a process: the server's CPU time consumed in user mode and in
//! the kernel (`/proc/{pid}/stat`, fields 14 `utime` and 15 `stime`, all threads) and resident
//! memory (`VmRSS` of `/proc/{pid}/status`), and the calling thread's own CPU time in
//! nanoseconds (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`). See `proc_pid_stat(5)`,
//! `proc_pid_status(5)` and `clock_gettime(2)`.

/// Clock ticks per second of `utime`/`stime`: `USER_HZ`, 100 on every Linux ABI.
const USER_HZ: u64 = 100;

/// CPU time a process has used, in microseconds, split as the kernel accounts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CpuTime {
    /// In user mode (`utime`): the process's own code and its libraries.
    pub user_micros: u64,
    /// In the kernel on the process's behalf (`stime`): system calls such as the loopback
    /// TCP send and receive, page faults, scheduling.
    pub system_micros: u64,
}

impl CpuTime {
    pub(super) fn total_micros(self) -> u64 {
        self.user_micros + self.system_micros
    }

    /// The time used between `earlier` and `self`.
    pub(super) fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_micros: self.user_micros.saturating_sub(earlier.user_micros),
            system_micros: self.system_micros.saturating_sub(earlier.system_micros),
        }
    }
}

/// The CPU time the process has used (all threads).
pub(super) fn cpu_time(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (utime, stime) = parse_cpu_ticks(&stat)?;
    Some(CpuTime {
        user_micros: utime * (1_000_000 / USER_HZ),
        system_micros: stime * (1_000_000 / USER_HZ),
    })
}

/// CPU time the calling thread has used, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`: exact,
/// and a system call, not a file read; schedstat reads 0 where the kernel keeps no
/// scheduler statistics).
pub(super) fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Resident set size, in bytes.
pub(super) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss_kib(&status).map(|kib| kib * 1024)
}

/// `(utime, stime)` from a `/proc/{pid}/stat` line. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_comm = stat.get(stat.rfind(')')? + 1..)?;
    // Fields after the comm start at field 3 (state); utime is field 14, stime 15.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// The `VmRSS:` value (kB) of `/proc/{pid}/status`.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_and_stime() {
        let stat = "4242 (rolegate (x) y) S 1 4242 4242 0 -1 4194560 2520 0 0 0 731 59 0 0 20 0 3 0 12345 0";
        assert_eq!(parse_cpu_ticks(stat), Some((731, 59)));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\trolegate\nVmPeak:\t  99 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(20480));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
        assert!(cpu_time(pid).is_some());
        let before = thread_cpu_nanos();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_nanos() > before, "{x}");
    }
}
