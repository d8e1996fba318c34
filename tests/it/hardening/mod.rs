//! Adversarial integration tests against a real `devp2p::Server` (and a
//! `Discv4` service) on 127.0.0.0/8: handshake floods, garbage after a valid
//! handshake, discovery floods, misbehaving protocols and shutdown under
//! load. Every loop is bounded in count and time.

mod discovery;
mod garbage;
mod handshake_flood;
mod protocols;
mod raw;
mod shutdown;

/// Open files the 1,000-connection tests need at once (two descriptors per
/// loopback connection, two such tests may run in parallel, plus headroom).
pub const NEEDED_FDS: u64 = 6_000;

/// Raises RLIMIT_NOFILE to at least [`NEEDED_FDS`] (see
/// `support::raise_fd_limit`).
pub fn raise_fd_limit() {
    crate::support::raise_fd_limit(NEEDED_FDS);
}
