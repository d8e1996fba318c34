//! The traffic table of one server: sub-protocol bytes and messages per
//! registered protocol and message code, in and out.
//!
//! Fixed at server start (one row of counters per code of each registered
//! protocol, at most [`MAX_MESSAGE_LABELS`] rows in all) and bumped by every
//! peer's reader and writer with relaxed atomic adds: an index into a fixed
//! array, no lock, no allocation and no map lookup per message. Counting
//! does not depend on message events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::protocol::{Cap, Protocol};

/// Distinct `(protocol, code)` label pairs one server counts (our choice,
/// as before the traffic table: 256 rows of 32 bytes, 8 KiB per server,
/// enough for every code of eth, snap and a few more). Rows go to the registered protocols in
/// registration order, each its `length` codes; codes past the budget (and
/// protocols no row was left for) are counted under `protocol="other"`,
/// `code="0"`.
pub const MAX_MESSAGE_LABELS: usize = 256;

/// Label of the row that counts what has no row of its own.
pub const OTHER_LABEL: &str = "other";

/// Bytes and messages of one `(protocol, code)` in one direction.
#[derive(Debug, Default)]
struct Count {
    bytes: AtomicU64,
    msgs: AtomicU64,
}

impl Count {
    #[inline]
    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.msgs.fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.msgs.load(Ordering::Relaxed),
        )
    }
}

/// The rows of one registered protocol. Ingress and egress are separate
/// arrays, so a peer's reader and writer (often on different threads) do
/// not bump counters in the same cache line.
#[derive(Debug)]
struct ProtocolRows {
    cap: Cap,
    label: String,
    ingress: Box<[Count]>,
    egress: Box<[Count]>,
}

/// Sub-protocol traffic of one server (see the module docs). Payload bytes
/// are the message payload as the protocol reads or writes it (after
/// snappy decompression, before compression), as go-ethereum's message
/// meters count them.
#[derive(Debug)]
pub struct TrafficTable {
    protocols: Vec<ProtocolRows>,
    other_in: Count,
    other_out: Count,
}

/// One `(protocol, code)` row of a [`TrafficTable`] snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficRow {
    /// `name/version` of the protocol, or [`OTHER_LABEL`].
    pub protocol: String,
    /// Message code relative to the protocol's offset (0 for `other`).
    pub code: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages received.
    pub msgs_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Messages sent.
    pub msgs_out: u64,
}

impl TrafficTable {
    /// A table with rows for `protocols` (see [`MAX_MESSAGE_LABELS`]).
    pub fn new(protocols: &[Protocol]) -> Self {
        let mut budget = MAX_MESSAGE_LABELS;
        let rows = protocols
            .iter()
            .map(|p| {
                let n = usize::try_from(p.length).unwrap_or(usize::MAX).min(budget);
                budget -= n;
                let cap = p.cap();
                ProtocolRows {
                    label: cap.to_string(),
                    cap,
                    ingress: (0..n).map(|_| Count::default()).collect(),
                    egress: (0..n).map(|_| Count::default()).collect(),
                }
            })
            .collect();
        TrafficTable {
            protocols: rows,
            other_in: Count::default(),
            other_out: Count::default(),
        }
    }

    /// Every row that saw a message, registration order then code order;
    /// `other` last.
    pub fn snapshot(&self) -> Vec<TrafficRow> {
        let mut rows = Vec::new();
        let mut push = |protocol: &str, code: u64, ingress: &Count, egress: &Count| {
            let ((bytes_in, msgs_in), (bytes_out, msgs_out)) = (ingress.load(), egress.load());
            if msgs_in != 0 || msgs_out != 0 {
                rows.push(TrafficRow {
                    protocol: protocol.to_string(),
                    code,
                    bytes_in,
                    msgs_in,
                    bytes_out,
                    msgs_out,
                });
            }
        };
        for p in &self.protocols {
            for (code, (i, o)) in p.ingress.iter().zip(p.egress.iter()).enumerate() {
                push(&p.label, code as u64, i, o);
            }
        }
        push(OTHER_LABEL, 0, &self.other_in, &self.other_out);
        rows
    }

    #[inline]
    fn ingress(&self, proto: usize, code: u64) -> &Count {
        self.protocols
            .get(proto)
            .and_then(|p| p.ingress.get(usize::try_from(code).ok()?))
            .unwrap_or(&self.other_in)
    }

    #[inline]
    fn egress(&self, proto: usize, code: u64) -> &Count {
        self.protocols
            .get(proto)
            .and_then(|p| p.egress.get(usize::try_from(code).ok()?))
            .unwrap_or(&self.other_out)
    }
}

/// The server's traffic table as carried by every peer it starts
/// ([`PeerSetup::traffic`](crate::peer::PeerSetup::traffic)). The default
/// (no server attached, e.g. a peer started by
/// [`NegotiatedConn::spawn`](crate::peer::NegotiatedConn::spawn) in a test)
/// counts nothing.
#[derive(Clone, Default)]
pub struct TrafficSink(Option<Arc<TrafficTable>>);

impl std::fmt::Debug for TrafficSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "TrafficSink(server)"
        } else {
            "TrafficSink(none)"
        })
    }
}

impl TrafficSink {
    /// A sink feeding `table`.
    pub fn new(table: Arc<TrafficTable>) -> Self {
        TrafficSink(Some(table))
    }

    /// Where a lane running `cap` counts: the row set of the registered
    /// protocol with that name and version, else `other`. Looked up once
    /// per peer and lane, not per message.
    pub(crate) fn lane(&self, cap: &Cap) -> LaneTraffic {
        LaneTraffic(self.0.as_ref().map(|t| {
            let proto = t
                .protocols
                .iter()
                .position(|p| p.cap == *cap)
                .unwrap_or(usize::MAX);
            (t.clone(), proto)
        }))
    }
}

/// Two sinks are equal when they feed the same table (or none).
impl PartialEq for TrafficSink {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for TrafficSink {}

/// One lane of one peer: the server table and the protocol's index in it
/// (`usize::MAX` when the server did not register the protocol: `other`).
#[derive(Default)]
pub(crate) struct LaneTraffic(Option<(Arc<TrafficTable>, usize)>);

impl LaneTraffic {
    /// A received message of `code` (relative) with `payload` bytes.
    #[inline]
    pub(crate) fn record_in(&self, code: u64, payload: usize) {
        if let Some((t, proto)) = &self.0 {
            t.ingress(*proto, code).add(payload);
        }
    }

    /// A sent message of `code` (relative) with `payload` bytes.
    #[inline]
    pub(crate) fn record_out(&self, code: u64, payload: usize) {
        if let Some((t, proto)) = &self.0 {
            t.egress(*proto, code).add(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(name: &str, length: u64) -> Protocol {
        Protocol::new(name, 1, length, |_, _| async { Ok(()) })
    }

    #[test]
    fn counts_per_code_and_bounds_the_labels() {
        let table = Arc::new(TrafficTable::new(&[
            proto("a", 2),
            proto("big", 1 << 40),
            proto("late", 4),
        ]));
        let sink = TrafficSink::new(table.clone());
        let a = sink.lane(&Cap::new("a", 1));
        let big = sink.lane(&Cap::new("big", 1));
        let late = sink.lane(&Cap::new("late", 1));
        let unknown = sink.lane(&Cap::new("zzz", 9));
        a.record_in(1, 10);
        a.record_in(1, 5);
        a.record_out(0, 7);
        // Past `a`'s length: other.
        a.record_in(2, 100);
        big.record_out(MAX_MESSAGE_LABELS as u64 - 3, 1);
        // `big` took the rest of the budget: `late` and unknown count as other.
        late.record_in(0, 1000);
        unknown.record_out(3, 1);
        let rows = table.snapshot();
        let row = |p: &str, c: u64| rows.iter().find(|r| r.protocol == p && r.code == c);
        assert_eq!(
            row("a/1", 1).map(|r| (r.bytes_in, r.msgs_in, r.msgs_out)),
            Some((15, 2, 0))
        );
        assert_eq!(
            row("a/1", 0).map(|r| (r.bytes_out, r.msgs_out)),
            Some((7, 1))
        );
        assert_eq!(
            row("big/1", MAX_MESSAGE_LABELS as u64 - 3).map(|r| r.msgs_out),
            Some(1)
        );
        let other = row(OTHER_LABEL, 0).unwrap();
        assert_eq!((other.bytes_in, other.msgs_in), (1100, 2));
        assert_eq!((other.bytes_out, other.msgs_out), (1, 1));
        assert_eq!(rows.len(), 4, "{rows:?}");
        // Rows are fixed at start: the label space never exceeds the budget.
        let slots: usize = table.protocols.iter().map(|p| p.ingress.len()).sum();
        assert_eq!(slots, MAX_MESSAGE_LABELS);
    }

    #[test]
    fn detached_lanes_count_nothing() {
        let lane = TrafficSink::default().lane(&Cap::new("a", 1));
        lane.record_in(0, 1);
        lane.record_out(0, 1);
        assert_eq!(TrafficSink::default(), TrafficSink::default());
    }
}
