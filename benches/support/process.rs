//! Resource figures of this process (Linux `/proc/self`), shared by the
//! benches that report memory and file descriptors. Each bench uses the
//! subset it needs.
#![allow(dead_code)]

/// Resident set size of this process in KiB (`/proc/self/status` VmRSS; 0 if
/// unreadable).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process (entries of `/proc/self/fd`, the
/// directory handle used to count them included, the same in every count).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used, in seconds, from
/// `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s: Linux's
/// `USER_HZ` on every architecture we run on); 0 if unreadable.
pub fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// The kernel's id of the calling thread (from the `/proc/thread-self`
/// link, `<pid>/task/<tid>`; `None` if unreadable).
pub fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time (user + system) thread `tid` of this process has used, in
/// seconds (`/proc/self/task/<tid>/stat`, same fields and ticks as
/// [`cpu_seconds`]); 0 if unreadable (e.g. the thread has exited).
pub fn thread_cpu_seconds(tid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
}

/// Fields 14 and 15 (utime, stime) of a `stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) is fields[11], stime fields[12].
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

/// The 1-minute load average (`/proc/loadavg`; 0 if unreadable), printed
/// by the speed benches before they start: two single-worker runtimes
/// streaming need both cores, so with a load near or above the core count
/// their ratios fall for reasons that are not ours.
pub fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// CPU time the calling thread has used, in seconds, with the clock's
/// full resolution (`CLOCK_THREAD_CPUTIME_ID`; 0 if unavailable): for
/// bounds timed on a shared machine, where wall time also counts the time
/// the thread waited for a core.
pub fn thread_cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
