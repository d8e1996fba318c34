//! Resource use of this process, read from Linux's `/proc/self`: CPU time
//! (user + system, the figure `getrusage(RUSAGE_SELF)` gives) and resident
//! memory. The parsers take the file's text, so they are tested on fixed
//! samples; off Linux every read fails with [`UsageError::Unsupported`].

use std::path::Path;

/// Clock ticks per second of the time fields in `/proc/<pid>/stat`: 100,
/// Linux's `USER_HZ`, which the kernel fixes at 100 for user space on every
/// architecture (proc(5) calls it `sysconf(_SC_CLK_TCK)`; we avoid a libc
/// dependency for one constant).
pub(super) const TICKS_PER_SECOND: f64 = 100.0;

/// Field number (1-based, as in proc(5)) of `utime` in `/proc/<pid>/stat`.
const STAT_UTIME_FIELD: usize = 14;
/// Field number (1-based, as in proc(5)) of `stime` in `/proc/<pid>/stat`.
const STAT_STIME_FIELD: usize = 15;
/// Field number of the first field after the command name (`state`): fields
/// are counted from here once the name, which may hold spaces and
/// parentheses, has been skipped.
const STAT_FIRST_FIELD_AFTER_NAME: usize = 3;

/// Why a resource figure could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum UsageError {
    /// Not Linux: there is no `/proc/self` to read.
    #[error("resource figures are only read on Linux")]
    Unsupported,
    /// The file could not be read (no procfs mounted, a sandbox).
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file did not have the expected shape (a kernel we do not know).
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: &'static str,
        /// What was missing or unparsable.
        what: &'static str,
    },
}

/// Path of the per-process statistics line.
const STAT_PATH: &str = "/proc/self/stat";
/// Path of the per-process status table.
const STATUS_PATH: &str = "/proc/self/status";

/// CPU seconds (user + system) this process has used so far.
pub(super) fn cpu_seconds() -> Result<f64, UsageError> {
    parse_cpu_seconds(&read_proc(STAT_PATH)?)
}

/// Resident set size of this process now, in KiB.
pub(super) fn rss_kib() -> Result<u64, UsageError> {
    parse_rss_kib(&read_proc(STATUS_PATH)?)
}

fn read_proc(path: &'static str) -> Result<String, UsageError> {
    if !cfg!(target_os = "linux") {
        return Err(UsageError::Unsupported);
    }
    std::fs::read_to_string(Path::new(path)).map_err(|source| UsageError::Read { path, source })
}

/// User + system CPU seconds from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself hold spaces
/// and `)`, so fields are counted from after its *last* `)`.
pub(super) fn parse_cpu_seconds(stat: &str) -> Result<f64, UsageError> {
    let malformed = |what| UsageError::Malformed {
        path: STAT_PATH,
        what,
    };
    let (_, after_name) = stat
        .rsplit_once(')')
        .ok_or_else(|| malformed("no ')' after the command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Result<u64, UsageError> {
        fields
            .get(number - STAT_FIRST_FIELD_AFTER_NAME)
            .ok_or_else(|| malformed("fewer than 15 fields"))?
            .parse::<u64>()
            .map_err(|_| malformed("utime or stime is not a number"))
    };
    let ticks = field(STAT_UTIME_FIELD)?.saturating_add(field(STAT_STIME_FIELD)?);
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status` (a line such as
/// `VmRSS:     12345 kB`; the kernel's "kB" means KiB).
pub(super) fn parse_rss_kib(status: &str) -> Result<u64, UsageError> {
    let malformed = |what| UsageError::Malformed {
        path: STATUS_PATH,
        what,
    };
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .ok_or_else(|| malformed("no VmRSS line"))?;
    value
        .trim()
        .strip_suffix("kB")
        .ok_or_else(|| malformed("VmRSS is not in kB"))?
        .trim()
        .parse()
        .map_err(|_| malformed("VmRSS is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line from a process named `tokio-rt (w)` (a name with a space
    /// and a parenthesis), utime 1234 and stime 56 ticks.
    const STAT: &str = "4242 (tokio-rt (w)) S 1 4242 4242 0 -1 4194560 2893 0 0 0 1234 56 0 0 20 0 3 0 123456 987654321 4321 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &str = "Name:\tdevp2p\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  812345 kB\nVmSize:\t  798765 kB\nVmHWM:\t   65432 kB\nVmRSS:\t   54321 kB\nRssAnon:\t   40000 kB\nThreads:\t3\n";

    #[test]
    fn cpu_seconds_are_utime_plus_stime_in_ticks() {
        let s = parse_cpu_seconds(STAT).unwrap();
        assert!((s - 12.90).abs() < 1e-9, "{s}");
    }

    #[test]
    fn truncated_or_garbled_stat_is_an_error_not_a_panic() {
        for bad in [
            "",
            "4242 (name",
            "4242 (name) S 1 2 3",
            "4242 (name) S 1 2 3 4 5 6 7 8 9 10 x 56",
            "4242 (name) S 1 2 3 4 5 6 7 8 9 10 -1 56",
        ] {
            assert!(
                matches!(parse_cpu_seconds(bad), Err(UsageError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rss_is_the_vmrss_line_in_kib() {
        assert_eq!(parse_rss_kib(STATUS).unwrap(), 54_321);
    }

    #[test]
    fn missing_or_garbled_vmrss_is_an_error() {
        for bad in [
            "",
            "Name:\tx\nVmHWM:\t 1 kB\n",
            "VmRSS:\t 12 MB\n",
            "VmRSS:\t many kB\n",
        ] {
            assert!(
                matches!(parse_rss_kib(bad), Err(UsageError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        assert!(rss_kib().unwrap() > 0);
        assert!(cpu_seconds().unwrap() >= 0.0);
    }
}
