//! [`Peer`]: the cheap, cloneable handle protocols and the server use to look
//! at and control one connected peer, plus its [`PeerInfo`] and
//! [`PeerStats`] snapshots.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::disc_reason::DiscReason;
use crate::metrics::LaneTraffic;
use crate::node::{keccak256, NodeId};
use crate::protocol::{Cap, PeerInfoFn};

use super::PeerSetup;

/// Traffic counters of one protocol (or the base protocol).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
}

impl Counters {
    pub(crate) fn record_in(&self, wire_bytes: usize) {
        self.bytes_in
            .fetch_add(wire_bytes as u64, Ordering::Relaxed);
        self.msgs_in.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_out(&self, wire_bytes: usize) {
        self.bytes_out
            .fetch_add(wire_bytes as u64, Ordering::Relaxed);
        self.msgs_out.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> TrafficStats {
        TrafficStats {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
        }
    }
}

/// A negotiated protocol as the handle sees it.
pub(crate) struct RunningProto {
    pub cap: Cap,
    pub offset: u64,
    pub length: u64,
    pub peer_info: Option<PeerInfoFn>,
    /// This peer's traffic on the lane (wire bytes).
    pub counters: Counters,
    /// The server's traffic table row set of the protocol (payload bytes
    /// per code).
    pub traffic: LaneTraffic,
    /// The protocol's inbound budget per peer.
    pub rate_limit: Option<super::RateLimit>,
}

/// State shared between the handle and the peer's tasks.
pub(crate) struct PeerShared {
    pub setup: PeerSetup,
    pub name: String,
    pub caps: Vec<Cap>,
    pub running: Vec<RunningProto>,
    pub base: Counters,
    pub connected_since: SystemTime,
    pub connected_at: Instant,
    /// Last ping round trip in nanoseconds; 0 = none measured yet.
    pub last_rtt_nanos: AtomicU64,
    /// When the outstanding ping was sent, in nanoseconds since
    /// `connected_at`; 0 = no ping outstanding.
    pub ping_sent_nanos: AtomicU64,
    /// Disconnect requests (capacity 1: the first request wins).
    pub disc_tx: mpsc::Sender<DiscReason>,
    /// Cancelled when the peer starts shutting down.
    pub closing: CancellationToken,
    /// Cancelled when every task of the peer has ended.
    pub done: CancellationToken,
}

/// Handle to a connected peer. Cheap to clone; stays valid (read-only) after
/// the peer disconnected.
#[derive(Clone)]
pub struct Peer {
    pub(crate) shared: Arc<PeerShared>,
}

/// Byte and message counters. Bytes are wire bytes (`rlp(code)` plus the
/// possibly compressed payload), as handed to / received from the transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrafficStats {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Messages received.
    pub msgs_in: u64,
    /// Messages sent.
    pub msgs_out: u64,
}

/// Traffic of one negotiated protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// The protocol.
    pub cap: Cap,
    /// Its traffic.
    pub traffic: TrafficStats,
}

/// A snapshot of a peer's statistics.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStats {
    /// Wall-clock time the peer was added.
    pub connected_since: SystemTime,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// Round-trip time of the last answered ping.
    pub last_ping_rtt: Option<Duration>,
    /// Base protocol traffic (Hello excluded, ping/pong/disconnect).
    pub base: TrafficStats,
    /// Per sub-protocol traffic, in offset order.
    pub protocols: Vec<ProtocolStats>,
    /// Time the reader waited for inbound bandwidth tokens (zero without a
    /// cap; see [`BandwidthLimits`](super::BandwidthLimits)).
    pub throttled_ingress: Duration,
    /// Time the writer waited for outbound bandwidth tokens.
    pub throttled_egress: Duration,
}

/// Network part of [`PeerInfo`] (go-ethereum admin_peers `network`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerNetworkInfo {
    /// Local endpoint of the connection.
    pub local_address: String,
    /// Remote endpoint of the connection.
    pub remote_address: String,
    /// Whether the remote dialed us.
    pub inbound: bool,
    /// Whether the peer is trusted.
    pub trusted: bool,
    /// Whether the peer is a static node.
    #[serde(rename = "static")]
    pub is_static: bool,
}

/// What admin_peers reports about a peer (go-ethereum `PeerInfo`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerInfo {
    /// enode URL built from the node id and remote address.
    pub enode: String,
    /// keccak256 of the node id, hex (go-ethereum's v4 `enode.ID`).
    pub id: String,
    /// Client id from Hello.
    pub name: String,
    /// Capabilities the peer advertised.
    pub caps: Vec<Cap>,
    /// Connection details.
    pub network: PeerNetworkInfo,
    /// Per negotiated protocol: its `peer_info` value, `"handshake"` if it
    /// returned none yet, `"unknown"` if the protocol has no callback.
    pub protocols: BTreeMap<String, serde_json::Value>,
}

impl Peer {
    /// The remote node id.
    pub fn id(&self) -> NodeId {
        self.shared.setup.id
    }

    /// The connection setup (id, addresses, flags) this peer was created with.
    pub fn setup(&self) -> &PeerSetup {
        &self.shared.setup
    }

    /// The remote's enode URL (node id @ remote address).
    pub fn enode(&self) -> String {
        format!("enode://{}@{}", self.id(), self.remote_addr())
    }

    /// The client id the remote sent in Hello.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The capabilities the remote advertised.
    pub fn caps(&self) -> &[Cap] {
        &self.shared.caps
    }

    /// Reports this peer's behaviour to the server: `delta` is added to its
    /// reputation (negative for misbehaviour, e.g. -10 for an invalid
    /// response; see [`crate::server::BAN_THRESHOLD`]). At the threshold the
    /// server bans the peer for [`crate::server::DEFAULT_BAN_DURATION`] and
    /// disconnects it. Never waits; returns `false` if the report was dropped
    /// (no server attached, or its report queue of
    /// [`REPUTATION_QUEUE`](super::REPUTATION_QUEUE) is full).
    pub fn adjust_reputation(&self, delta: i32) -> bool {
        self.shared.setup.reputation.report(self.id(), delta)
    }

    /// The negotiated protocols (name and version), in offset order.
    pub fn running_caps(&self) -> Vec<Cap> {
        self.shared.running.iter().map(|r| r.cap.clone()).collect()
    }

    /// Whether protocol `name` runs with one of `versions`.
    pub fn running_cap(&self, name: &str, versions: &[u32]) -> bool {
        self.shared
            .running
            .iter()
            .any(|r| r.cap.name == name && versions.contains(&r.cap.version))
    }

    /// Remote address of the connection.
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.setup.remote_addr
    }

    /// Local address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.setup.local_addr
    }

    /// Whether the remote dialed us.
    pub fn inbound(&self) -> bool {
        self.shared.setup.inbound
    }

    /// Whether the peer is trusted.
    pub fn trusted(&self) -> bool {
        self.shared.setup.trusted
    }

    /// Whether the peer was dialed as a static node.
    pub fn is_static(&self) -> bool {
        self.shared.setup.static_dial
    }

    /// Asks the peer to disconnect with `reason`. Returns immediately; the
    /// first request wins, later ones (and calls after the end) are ignored.
    pub fn disconnect(&self, reason: DiscReason) {
        let _ = self.shared.disc_tx.try_send(reason);
    }

    /// Whether the peer has started shutting down.
    pub fn is_closing(&self) -> bool {
        self.shared.closing.is_cancelled()
    }

    /// Resolves once the peer has ended and all its tasks have stopped.
    pub async fn closed(&self) {
        self.shared.done.cancelled().await
    }

    /// admin_peers-style information.
    pub fn info(&self) -> PeerInfo {
        let id = self.id();
        let protocols = self
            .shared
            .running
            .iter()
            .map(|r| {
                let value = match &r.peer_info {
                    None => serde_json::Value::from("unknown"),
                    Some(f) => f(&id).unwrap_or_else(|| serde_json::Value::from("handshake")),
                };
                (r.cap.name.clone(), value)
            })
            .collect();
        PeerInfo {
            enode: self.enode(),
            id: hex::encode(keccak256(id.as_bytes())),
            name: self.shared.name.clone(),
            caps: self.shared.caps.clone(),
            network: PeerNetworkInfo {
                local_address: self.local_addr().to_string(),
                remote_address: self.remote_addr().to_string(),
                inbound: self.inbound(),
                trusted: self.trusted(),
                is_static: self.is_static(),
            },
            protocols,
        }
    }

    /// A statistics snapshot.
    pub fn stats(&self) -> PeerStats {
        let rtt = self.shared.last_rtt_nanos.load(Ordering::Relaxed);
        let (throttled_ingress, throttled_egress) = self.shared.setup.bandwidth.throttled();
        PeerStats {
            throttled_ingress,
            throttled_egress,
            connected_since: self.shared.connected_since,
            connected_for: self.shared.connected_at.elapsed(),
            last_ping_rtt: (rtt != 0).then(|| Duration::from_nanos(rtt)),
            base: self.shared.base.snapshot(),
            protocols: self
                .shared
                .running
                .iter()
                .map(|r| ProtocolStats {
                    cap: r.cap.clone(),
                    traffic: r.counters.snapshot(),
                })
                .collect(),
        }
    }

    /// A detached handle for unit tests (go-ethereum's `NewPeer`): not
    /// connected, `disconnect` is a no-op and `closed()` resolves at once.
    pub fn for_test(id: NodeId, name: impl Into<String>, caps: Vec<Cap>) -> Peer {
        let (disc_tx, _) = mpsc::channel(1);
        let done = CancellationToken::new();
        done.cancel();
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Peer {
            shared: Arc::new(PeerShared {
                setup: PeerSetup::new(id, unspecified, unspecified, false),
                name: name.into(),
                caps,
                running: Vec::new(),
                base: Counters::default(),
                connected_since: SystemTime::now(),
                connected_at: Instant::now(),
                last_rtt_nanos: AtomicU64::new(0),
                ping_sent_nanos: AtomicU64::new(0),
                disc_tx,
                closing: done.clone(),
                done,
            }),
        }
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Peer {:.16} {}",
            self.id().to_string(),
            self.remote_addr()
        )
    }
}

impl RunningProto {
    pub(crate) fn name(&self) -> String {
        self.cap.to_string()
    }

    /// Counts a received message: `wire_bytes` for the peer, `payload`
    /// bytes of relative `code` for the server. Relaxed atomic adds only.
    #[inline]
    pub(crate) fn record_in(&self, wire_bytes: usize, code: u64, payload: usize) {
        self.counters.record_in(wire_bytes);
        self.traffic.record_in(code, payload);
    }

    /// Counts a sent message (see [`RunningProto::record_in`]).
    #[inline]
    pub(crate) fn record_out(&self, wire_bytes: usize, code: u64, payload: usize) {
        self.counters.record_out(wire_bytes);
        self.traffic.record_out(code, payload);
    }
}
