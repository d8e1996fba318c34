//! Connection setup statistics of one server: dials and serves (inbound
//! connections) by outcome, and how long successful setups took; and its
//! peer counts. Plain atomics shared by the setup tasks and the server
//! task; read without asking the server task.
//!
//! The error kinds are go-ethereum's dial/serve error meters
//! (`p2p/dials/error/saturated`, `…/known`, `…/self`, `…/useless`,
//! `…/id/unexpected`, `…/rlpx/enc`, `…/rlpx/proto`, `…/connection`), plus
//! `resolve` (static node DNS) and `closed` (server stopping).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::dial::{BackoffKind, SetupError};
use crate::disc_reason::DiscReason;
use crate::peer::PeerError;

/// Upper bounds of the setup duration histogram buckets, in seconds (RLPx
/// handshake plus Hello plus both admission checks). From 1 ms (loopback)
/// to 5 s (the handshake timeout), roughly ×2.5 per step as Prometheus'
/// default buckets.
pub const SETUP_DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Why a connection setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetupErrorKind {
    /// A static node's DNS name did not resolve.
    Resolve,
    /// The TCP connection could not be established.
    Connection,
    /// The RLPx (encryption) handshake failed or timed out.
    RlpxEnc,
    /// The Hello exchange failed.
    RlpxProto,
    /// Too many peers (refused by us or by the remote).
    Saturated,
    /// Already connected.
    Known,
    /// Connected to ourselves.
    SelfConn,
    /// No shared protocol, or banned.
    Useless,
    /// The Hello's id did not match the dialed node.
    UnexpectedIdentity,
    /// The server is stopping.
    Closed,
}

impl SetupErrorKind {
    /// Every kind, in label order.
    pub const ALL: [SetupErrorKind; 10] = [
        SetupErrorKind::Resolve,
        SetupErrorKind::Connection,
        SetupErrorKind::RlpxEnc,
        SetupErrorKind::RlpxProto,
        SetupErrorKind::Saturated,
        SetupErrorKind::Known,
        SetupErrorKind::SelfConn,
        SetupErrorKind::Useless,
        SetupErrorKind::UnexpectedIdentity,
        SetupErrorKind::Closed,
    ];

    /// The metric label (go-ethereum's meter suffix, `/` as `_`).
    pub fn label(self) -> &'static str {
        match self {
            SetupErrorKind::Resolve => "resolve",
            SetupErrorKind::Connection => "connection",
            SetupErrorKind::RlpxEnc => "rlpx_enc",
            SetupErrorKind::RlpxProto => "rlpx_proto",
            SetupErrorKind::Saturated => "saturated",
            SetupErrorKind::Known => "known",
            SetupErrorKind::SelfConn => "self",
            SetupErrorKind::Useless => "useless",
            SetupErrorKind::UnexpectedIdentity => "id_unexpected",
            SetupErrorKind::Closed => "closed",
        }
    }

    /// The kind for a disconnect reason (ours or the remote's), as
    /// go-ethereum's `markDialError` maps them; other reasons count as a
    /// failed protocol handshake.
    pub fn from_reason(reason: DiscReason) -> Self {
        match reason {
            DiscReason::TooManyPeers => SetupErrorKind::Saturated,
            DiscReason::AlreadyConnected => SetupErrorKind::Known,
            DiscReason::ConnectedToSelf => SetupErrorKind::SelfConn,
            DiscReason::UselessPeer => SetupErrorKind::Useless,
            DiscReason::UnexpectedIdentity => SetupErrorKind::UnexpectedIdentity,
            _ => SetupErrorKind::RlpxProto,
        }
    }

    /// The kind for a failed Hello exchange.
    pub fn from_hello_error(e: &PeerError) -> Self {
        match e {
            PeerError::RemoteDisconnect(r) => Self::from_reason(*r),
            PeerError::UnexpectedIdentity { .. } => SetupErrorKind::UnexpectedIdentity,
            _ => SetupErrorKind::RlpxProto,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// Counters of one direction (dials or serves).
#[derive(Debug, Default)]
pub(crate) struct DirectionStats {
    attempts: AtomicU64,
    successes: AtomicU64,
    errors: [AtomicU64; SetupErrorKind::ALL.len()],
    /// Histogram counts, one per bucket of [`SETUP_DURATION_BUCKETS`]: each
    /// setup is counted in the first bucket its duration fits (one add per
    /// setup; slower setups only in `successes`, the `+Inf` bucket).
    duration_buckets: [AtomicU64; SETUP_DURATION_BUCKETS.len()],
    duration_sum_micros: AtomicU64,
}

impl DirectionStats {
    pub(crate) fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, kind: SetupErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn succeeded(&self, took: Duration) {
        self.successes.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(i) = SETUP_DURATION_BUCKETS.iter().position(|b| secs <= *b) {
            self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.duration_sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Setups started.
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Setups that added a peer.
    pub(crate) fn successes(&self) -> u64 {
        self.successes.load(Ordering::Relaxed)
    }

    /// Setups that failed with `kind`.
    pub(crate) fn errors(&self, kind: SetupErrorKind) -> u64 {
        self.errors[kind.index()].load(Ordering::Relaxed)
    }

    /// Successful setups per bucket of [`SETUP_DURATION_BUCKETS`], not
    /// cumulative.
    pub(crate) fn duration_buckets(&self) -> impl Iterator<Item = u64> + '_ {
        self.duration_buckets
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
    }

    /// Total time of the successful setups.
    pub(crate) fn duration_sum(&self) -> Duration {
        Duration::from_micros(self.duration_sum_micros.load(Ordering::Relaxed))
    }

    fn snapshot(&self) -> DirectionSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DirectionSnapshot {
            attempts: load(&self.attempts),
            successes: load(&self.successes),
            errors: SetupErrorKind::ALL
                .iter()
                .map(|k| (*k, load(&self.errors[k.index()])))
                .collect(),
            duration_buckets: SETUP_DURATION_BUCKETS
                .iter()
                .zip(&self.duration_buckets)
                .scan(0, |total, (b, c)| {
                    *total += load(c);
                    Some((*b, *total))
                })
                .collect(),
            duration_sum: Duration::from_micros(load(&self.duration_sum_micros)),
        }
    }
}

/// Peers of one server: current inbound and outbound counts (gauges) and
/// peers added and dropped so far. Written by the server task only, where
/// it adds and removes peers; read at scrape time.
#[derive(Debug, Default)]
pub(crate) struct PeerCounters {
    inbound: AtomicU64,
    outbound: AtomicU64,
    adds: AtomicU64,
    drops: AtomicU64,
    /// Disconnects by who asked (0: ours, 1: theirs) and reason (the
    /// index in [`DiscReason::ALL`], last slot for any other code).
    disconnects: [[AtomicU64; DISCONNECT_SLOTS]; 2],
}

/// Slots of the disconnect counters per direction: every named reason plus
/// one for unknown codes (so a remote cannot grow the label set).
const DISCONNECT_SLOTS: usize = DiscReason::ALL.len() + 1;

/// Which side asked for a disconnect, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectSide {
    /// We sent Disconnect (or the connection failed on our side).
    Ours,
    /// The remote sent Disconnect.
    Theirs,
}

impl DisconnectSide {
    /// The metric label: `ours` or `theirs`.
    pub fn label(self) -> &'static str {
        match self {
            DisconnectSide::Ours => "ours",
            DisconnectSide::Theirs => "theirs",
        }
    }
}

/// The metric label of a disconnect reason (`too_many_peers`, …; `other`
/// for unknown codes).
pub fn disconnect_label(reason: Option<DiscReason>) -> &'static str {
    match reason {
        Some(DiscReason::Requested) => "requested",
        Some(DiscReason::NetworkError) => "network_error",
        Some(DiscReason::ProtocolError) => "protocol_error",
        Some(DiscReason::UselessPeer) => "useless_peer",
        Some(DiscReason::TooManyPeers) => "too_many_peers",
        Some(DiscReason::AlreadyConnected) => "already_connected",
        Some(DiscReason::IncompatibleVersion) => "incompatible_version",
        Some(DiscReason::InvalidIdentity) => "invalid_identity",
        Some(DiscReason::Quitting) => "quitting",
        Some(DiscReason::UnexpectedIdentity) => "unexpected_identity",
        Some(DiscReason::ConnectedToSelf) => "connected_to_self",
        Some(DiscReason::ReadTimeout) => "read_timeout",
        Some(DiscReason::SubprotocolError) => "subprotocol_error",
        Some(DiscReason::Other(_)) | None => "other",
    }
}

impl PeerCounters {
    pub(crate) fn added(&self, inbound: bool) {
        self.gauge(inbound).fetch_add(1, Ordering::Relaxed);
        self.adds.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, inbound: bool) {
        self.gauge(inbound).fetch_sub(1, Ordering::Relaxed);
        self.drops.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a peer's disconnect by side and reason.
    pub(crate) fn disconnected(&self, side: DisconnectSide, reason: DiscReason) {
        let slot = DiscReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(DISCONNECT_SLOTS - 1);
        self.disconnects[side as usize][slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Every (side, reason label, count), zeros included.
    pub(crate) fn disconnects(&self) -> Vec<(DisconnectSide, &'static str, u64)> {
        let mut out = Vec::with_capacity(2 * DISCONNECT_SLOTS);
        for side in [DisconnectSide::Ours, DisconnectSide::Theirs] {
            for (slot, count) in self.disconnects[side as usize].iter().enumerate() {
                let label = disconnect_label(DiscReason::ALL.get(slot).copied());
                out.push((side, label, count.load(Ordering::Relaxed)));
            }
        }
        out
    }

    fn gauge(&self, inbound: bool) -> &AtomicU64 {
        if inbound {
            &self.inbound
        } else {
            &self.outbound
        }
    }

    pub(crate) fn snapshot(&self) -> PeerCountersSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PeerCountersSnapshot {
            inbound: load(&self.inbound),
            outbound: load(&self.outbound),
            adds: load(&self.adds),
            drops: load(&self.drops),
        }
    }
}

/// A copy of a server's peer counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCountersSnapshot {
    /// Connected inbound peers.
    pub inbound: u64,
    /// Connected outbound peers.
    pub outbound: u64,
    /// Peers added since the server started.
    pub adds: u64,
    /// Peers dropped since the server started.
    pub drops: u64,
}

/// Setup statistics of one server (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct SetupStats {
    pub dials: DirectionStats,
    pub serves: DirectionStats,
    /// Failed dials by [`SetupError::label`] index.
    dial_failures: [AtomicU64; SetupError::LABELS.len()],
    /// Back-offs started, by [`BackoffKind::ALL`] index.
    backoffs: [AtomicU64; BackoffKind::ALL.len()],
}

impl SetupStats {
    /// Counts a failed dial by its failure kind.
    pub(crate) fn dial_failed(&self, e: SetupError) {
        self.dial_failures[e.label_index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a back-off the dialer started.
    pub(crate) fn backed_off(&self, kind: BackoffKind) {
        let i = BackoffKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        self.backoffs[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed dials per label of [`SetupError::LABELS`], zeros included.
    pub(crate) fn dial_failures(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SetupError::LABELS
            .iter()
            .zip(&self.dial_failures)
            .map(|(l, c)| (*l, c.load(Ordering::Relaxed)))
    }

    /// Back-offs started per kind, zeros included.
    pub(crate) fn backoffs(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        BackoffKind::ALL
            .iter()
            .zip(&self.backoffs)
            .map(|(k, c)| (k.label(), c.load(Ordering::Relaxed)))
    }

    pub(crate) fn snapshot(&self) -> SetupStatsSnapshot {
        SetupStatsSnapshot {
            dials: self.dials.snapshot(),
            serves: self.serves.snapshot(),
        }
    }
}

/// A copy of one direction's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionSnapshot {
    /// Setups started (dials attempted / connections accepted).
    pub attempts: u64,
    /// Setups that ended with a running peer.
    pub successes: u64,
    /// Failed setups by kind (every kind listed, zeros included).
    pub errors: Vec<(SetupErrorKind, u64)>,
    /// Successful setups no slower than each bound (seconds), cumulative.
    pub duration_buckets: Vec<(f64, u64)>,
    /// Total time of the successful setups.
    pub duration_sum: Duration,
}

/// A copy of a server's setup statistics ([`Server::setup_stats`](super::Server::setup_stats)).
#[derive(Debug, Clone, PartialEq)]
pub struct SetupStatsSnapshot {
    /// Outbound connections.
    pub dials: DirectionSnapshot,
    /// Inbound connections.
    pub serves: DirectionSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_errors_are_by_kind() {
        let s = DirectionStats::default();
        s.attempt();
        s.attempt();
        s.succeeded(Duration::from_millis(3));
        s.failed(SetupErrorKind::from_reason(DiscReason::TooManyPeers));
        let snap = s.snapshot();
        assert_eq!((snap.attempts, snap.successes), (2, 1));
        let saturated = snap
            .errors
            .iter()
            .find(|(k, _)| *k == SetupErrorKind::Saturated);
        assert_eq!(saturated, Some(&(SetupErrorKind::Saturated, 1)));
        // 3 ms: not in the 1 ms and 2.5 ms buckets, in every one from 5 ms.
        let counts: Vec<u64> = snap.duration_buckets.iter().map(|b| b.1).collect();
        assert_eq!(counts[..3], [0, 0, 1]);
        assert!(counts[3..].iter().all(|c| *c == 1));
        assert_eq!(snap.duration_sum, Duration::from_millis(3));
    }

    #[test]
    fn disconnects_are_counted_by_side_and_reason() {
        let p = PeerCounters::default();
        p.disconnected(DisconnectSide::Theirs, DiscReason::TooManyPeers);
        p.disconnected(DisconnectSide::Theirs, DiscReason::TooManyPeers);
        p.disconnected(DisconnectSide::Ours, DiscReason::Other(0x42));
        let all = p.disconnects();
        assert_eq!(all.len(), 2 * DISCONNECT_SLOTS);
        let get = |side, label| {
            all.iter()
                .find(|(s, l, _)| *s == side && *l == label)
                .map(|x| x.2)
        };
        assert_eq!(get(DisconnectSide::Theirs, "too_many_peers"), Some(2));
        assert_eq!(get(DisconnectSide::Ours, "too_many_peers"), Some(0));
        assert_eq!(get(DisconnectSide::Ours, "other"), Some(1));
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::HashSet<_> =
            SetupErrorKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), SetupErrorKind::ALL.len());
    }
}
