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
