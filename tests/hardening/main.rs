//! Adversarial integration tests against a real `devp2p::Server` (and a
//! `Discv4` service) on 127.0.0.0/8: handshake floods, garbage after a valid
//! handshake, discovery floods, misbehaving protocols and shutdown under
//! load. Every loop is bounded in count and time.

#[allow(dead_code)]
#[path = "../server/support.rs"]
mod support;

mod discovery;
mod garbage;
mod handshake_flood;
mod protocols;
mod raw;
mod shutdown;

/// Open files the 1,000-connection tests need at once (two descriptors per
/// loopback connection, two such tests may run in parallel, plus headroom).
pub const NEEDED_FDS: u64 = 6_000;

/// Raises the soft RLIMIT_NOFILE to the hard limit (as benches/peer.rs
/// does) and asserts it is at least [`NEEDED_FDS`], so a low default fails
/// with a clear message instead of as a mysterious accept error.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    let cur = unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
        // rlim_t is u64 on Linux but not on every target.
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        cur
    };
    assert!(
        cur >= NEEDED_FDS,
        "RLIMIT_NOFILE is {cur}, these tests need {NEEDED_FDS}"
    );
}
