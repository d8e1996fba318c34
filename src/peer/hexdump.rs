//! A trace of every message in and out of every peer, under its own tracing
//! target [`HEXDUMP_TARGET`] at level TRACE: direction, protocol, code, size
//! and the first [`HEXDUMP_BYTES`] bytes in hex (as btcd's peer package logs
//! messages). Off unless that target is enabled, for instance with
//! `RUST_LOG=p2p::hexdump=trace`; when it is off, the cost per message is one
//! check of the tracing level filter.
//!
//! Payloads are shown as the protocol sees them (after snappy
//! decompression, before compression); base protocol frames (ping, pong,
//! disconnect) as they are on the wire after the code.

use std::fmt;

use tracing::{trace, Level};

use crate::node::NodeId;

/// Tracing target of the message trace (see the module docs).
pub const HEXDUMP_TARGET: &str = "p2p::hexdump";

/// Payload bytes shown per message: enough for the RLP headers and the first
/// fields (a request id, a hash), while a trace of a busy peer stays readable.
/// btcd dumps whole messages; a 16 MiB block body in a log is of no use.
pub const HEXDUMP_BYTES: usize = 64;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    In,
    Out,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
        })
    }
}

/// Whether the trace is on: a check of the level filter, then of the
/// target's cached interest.
#[inline]
pub(super) fn enabled() -> bool {
    tracing::enabled!(target: HEXDUMP_TARGET, Level::TRACE)
}

/// The first [`HEXDUMP_BYTES`] of `payload` as lower-case hex, with `..`
/// when there is more.
fn head(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(HEXDUMP_BYTES)];
    let mut s = hex::encode(shown);
    if payload.len() > shown.len() {
        s.push_str("..");
    }
    s
}

/// Logs one message; call only when [`enabled`].
pub(super) fn log(dir: Direction, peer: &NodeId, proto: &str, code: u64, payload: &[u8]) {
    trace!(
        target: HEXDUMP_TARGET,
        %dir,
        peer = %peer,
        proto,
        code,
        size = payload.len(),
        bytes = %head(payload),
        "msg"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_bounded_and_marks_truncation() {
        assert_eq!(head(&[0xc0]), "c0");
        assert_eq!(head(&[]), "");
        let long = vec![0xab; HEXDUMP_BYTES + 1];
        let shown = head(&long);
        assert_eq!(shown.len(), HEXDUMP_BYTES * 2 + 2);
        assert!(shown.ends_with(".."));
        assert_eq!(head(&long[..HEXDUMP_BYTES]).len(), HEXDUMP_BYTES * 2);
    }
}
