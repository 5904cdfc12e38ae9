//! What the operating system says about a process (the server's, given its pid, and the
//! bench's own) and about the machine: CPU time, resident memory, load average. Linux
//! `/proc` only; elsewhere the figures are simply missing from the report.

use std::io;

/// Linux reports CPU times in `/proc/PID/stat` in `USER_HZ` ticks, which the kernel fixes at
/// 100 per second for user space on every architecture it supports (`sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SEC: f64 = 100.0;

/// A process to sample: a pid, or the bench itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proc {
    /// `/proc/self`.
    Myself,
    /// `/proc/PID`.
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Myself => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User plus system CPU time so far, all threads, in seconds.
    pub(crate) fn cpu_secs(self) -> io::Result<f64> {
        let stat = std::fs::read_to_string(self.path("stat"))?;
        parse_cpu_ticks(&stat)
            .map(|ticks| ticks as f64 / TICKS_PER_SEC)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat"))
    }

    /// Resident set size in KiB (`VmRSS`).
    pub(crate) fn rss_kb(self) -> io::Result<u64> {
        let status = std::fs::read_to_string(self.path("status"))?;
        parse_rss_kb(&status)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc status"))
    }
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The number of CPUs this process may run on.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_tricky_name() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194304 500 0 0 0 250 75 0 0 20 0 4 0 100 1000000 300 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_rss() {
        let status = "Name:\tsotong\nVmPeak:\t  100 kB\nVmRSS:\t   5124 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kb(status), Some(5124));
        assert_eq!(parse_rss_kb("Name:\tx\n"), None);
    }

    #[test]
    fn samples_this_process() {
        if cfg!(target_os = "linux") {
            assert!(Proc::Myself.rss_kb().unwrap() > 0);
            assert!(Proc::Myself.cpu_secs().unwrap() >= 0.0);
            assert!(load_average().is_some());
        }
        assert!(cpus() >= 1);
    }
}
