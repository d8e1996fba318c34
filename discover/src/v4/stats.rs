//! Packet counters of one discovery service, per packet type and direction,
//! and the fill of its table's buckets, for metrics. Plain atomics written
//! by the service task and read by its handles without asking the task.

use std::sync::atomic::{AtomicU64, Ordering};

use super::table::{Table, N_BUCKETS};
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
    /// Nodes per table bucket, closest first, as of the service loop's
    /// last turn.
    buckets: [AtomicU64; N_BUCKETS],
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

    /// Copies the table's bucket fill (the service task calls this once per
    /// loop turn, so handles see the table as of its last change).
    pub(crate) fn set_buckets(&self, table: &Table) {
        for (slot, len) in self.buckets.iter().zip(table.bucket_lens()) {
            slot.store(len as u64, Ordering::Relaxed);
        }
    }

    /// Marks the table gone (the service stopped): every bucket empty.
    pub(crate) fn clear_buckets(&self) {
        for slot in &self.buckets {
            slot.store(0, Ordering::Relaxed);
        }
    }

    pub(crate) fn bucket_fill(&self) -> Vec<usize> {
        self.buckets
            .iter()
            .map(|n| n.load(Ordering::Relaxed) as usize)
            .collect()
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
