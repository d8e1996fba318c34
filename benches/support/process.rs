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
/// `/proc/self/stat` (see [`cpu_seconds_of`]).
pub fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// CPU time (user + system) process `pid` has used, in seconds, from
/// `/proc/<pid>/stat` (see [`stat_cpu_seconds`]); 0 if unreadable.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// The kernel's id of the calling thread (from the `/proc/thread-self`
/// link, `<pid>/task/<tid>`; `None` if unreadable).
pub fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time (user + system) thread `tid` of this process has used, in
/// seconds (`/proc/self/task/<tid>/stat`); 0 if unreadable (e.g. the
/// thread has exited).
pub fn thread_cpu_seconds(tid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
}

/// Fields 14 and 15 (utime, stime) of a `stat` file, in seconds (clock
/// ticks of 1/100 s: Linux's `USER_HZ` on every architecture we run on).
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

/// CPU time (user + system) this process has used, in µs, from
/// `getrusage(RUSAGE_SELF)` (microsecond resolution, where
/// [`cpu_seconds`] counts 10 ms ticks); 0 if the call fails.
pub fn cpu_us() -> u64 {
    // SAFETY: getrusage writes only into the struct we pass.
    let (rc, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        (rc, ru)
    };
    if rc != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Raises this process's open-file limit (`RLIMIT_NOFILE`) to its hard
/// limit, for the benches that hold thousands of connections; returns the
/// new soft limit (0 if it cannot be read).
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        // rlim_t is u64 on Linux but not on every target.
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        cur
    }
}

/// Heap bytes in use by this process in KiB, from glibc's `mallinfo2`
/// (all arenas: `uordblks`, bytes in allocated chunks, plus `hblkhd`, bytes
/// in blocks mapped on their own). Unlike [`rss_kib`] it leaves out freed
/// memory the allocator keeps, thread stacks and code.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_kib() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct.
    let info = unsafe { libc::mallinfo2() };
    ((info.uordblks + info.hblkhd) / 1024) as u64
}

/// Heap bytes in use: not available without glibc (0).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_kib() -> u64 {
    0
}

/// The part filter of `cargo bench --bench NAME -- FILTER`: the first
/// argument that is not a flag (cargo passes `--bench` too), or "" (every
/// part) without one. A part runs when its name contains the filter.
pub fn bench_filter() -> String {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default()
}

/// Most of the machine's CPU time (share of all cores) that other processes
/// may use in the [`BUSY_SAMPLE`] before a speed bench starts for it to
/// report. Our own measurement: with other builds keeping the 2-core machine
/// busy the `peer` stream ratios fell from ~0.7 to ~0.35–0.40 whatever our
/// code did (README, peer benchmark), and the benches need both cores (one
/// per side, or the server's workers). A quarter is half a core of 2.
pub const MAX_BUSY_SHARE: f64 = 0.25;

/// How long the busy share is sampled before a speed bench starts.
pub const BUSY_SAMPLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Set (to anything) to report even on a busy machine, e.g. to compare two
/// binaries alternated under the same load.
pub const ANY_LOAD_ENV: &str = "DEVP2P_BENCH_ANY_LOAD";

/// Busy and total CPU time of all cores so far, in ticks (`/proc/stat`
/// "cpu" line; idle and iowait count as not busy). `None` if unreadable.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// Share of all cores' time that was busy over the next `span` (0 if
/// `/proc/stat` is unreadable). Call it while this process is idle, so the
/// busy time is other processes'.
pub fn busy_share(span: std::time::Duration) -> f64 {
    let Some((busy0, total0)) = cpu_ticks() else {
        return 0.0;
    };
    std::thread::sleep(span);
    let Some((busy1, total1)) = cpu_ticks() else {
        return 0.0;
    };
    let total = total1.saturating_sub(total0);
    if total == 0 {
        return 0.0;
    }
    busy1.saturating_sub(busy0) as f64 / total as f64
}

/// The first lines of every speed bench: prints `info load_1min=… cores=…
/// busy_share=…` and decides whether the bench may report. Past
/// [`MAX_BUSY_SHARE`] it prints why it refuses (`info refused bench=…`) and
/// returns false, unless [`ANY_LOAD_ENV`] is set (then it warns and goes on).
pub fn quiet_enough(bench: &str) -> bool {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let busy = busy_share(BUSY_SAMPLE);
    println!(
        "info load_1min={:.2} cores={cores} busy_share={busy:.2}",
        load_1min()
    );
    if busy <= MAX_BUSY_SHARE {
        return true;
    }
    if std::env::var_os(ANY_LOAD_ENV).is_some() {
        println!("info warning: busy_share {busy:.2} > {MAX_BUSY_SHARE}: other work shares the cores; reporting anyway ({ANY_LOAD_ENV} is set)");
        return true;
    }
    println!("info refused bench={bench} busy_share={busy:.2} max_busy_share={MAX_BUSY_SHARE}: other processes used the cores in the second before the start, so the figures would measure them; rerun on a quiet machine, or set {ANY_LOAD_ENV}=1 to report anyway");
    false
}
