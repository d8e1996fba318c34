//! Packet counters of one discovery service, per packet type and direction,
//! for metrics. Plain atomics shared by the service task and its handles.

use std::sync::atomic::{AtomicU64, Ordering};

use super::wire::Message;

/// Packet type names in wire order (types 1..=6), as metric labels.
pub const PACKET_TYPES: [&str; 6] = [
    "ping",
    "pong",
    "findnode",
    "neighbors",
    "enrrequest",
    "enrresponse",
];

/// Counters of one service (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct PacketStats {
    received: [AtomicU64; PACKET_TYPES.len()],
    sent: [AtomicU64; PACKET_TYPES.len()],
    /// Datagrams dropped before dispatch: rate limited, undecodable, badly
    /// signed or expired.
    dropped: AtomicU64,
}

fn index(msg: &Message) -> usize {
    match msg {
        Message::Ping(_) => 0,
        Message::Pong(_) => 1,
        Message::FindNode(_) => 2,
        Message::Neighbors(_) => 3,
        Message::EnrRequest(_) => 4,
        Message::EnrResponse(_) => 5,
    }
}

impl PacketStats {
    pub(crate) fn received(&self, msg: &Message) {
        self.received[index(msg)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, msg: &Message) {
        self.sent[index(msg)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PacketCounts {
        let load = |a: &[AtomicU64; 6]| {
            PACKET_TYPES
                .iter()
                .zip(a)
                .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
                .collect()
        };
        PacketCounts {
            received: load(&self.received),
            sent: load(&self.sent),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a service's packet counters ([`Discv4::packet_counts`](super::Discv4::packet_counts)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketCounts {
    /// Valid packets received, by type (every type listed).
    pub received: Vec<(&'static str, u64)>,
    /// Packets sent, by type (every type listed).
    pub sent: Vec<(&'static str, u64)>,
    /// Datagrams dropped before dispatch (rate limited, undecodable, bad
    /// signature, expired).
    pub dropped: u64,
}
