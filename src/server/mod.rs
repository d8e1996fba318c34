//! [`Server`]: listens, dials and keeps the peer set, after go-ethereum's
//! `p2p.Server`.
//!
//! A `Server` is a cheap, cloneable handle. All state (peers, dial
//! scheduler, ban list, trusted set) lives in one task; handles talk to it
//! over a bounded channel ([`COMMAND_QUEUE`]): when it is full, handle calls
//! wait. Around it run: a listener task (inbound throttle, `net_restrict`,
//! at most `max_pending_peers` handshakes in flight), one setup task per
//! connection and dial, and the peer tasks (see [`crate::peer`]). The server
//! task owns all of them and [`Server::stop`] ends them all. Dropping every
//! handle stops the server too.
//!
//! # Example: a custom protocol between two servers
//!
//! ```
//! use devp2p::config::Config;
//! use devp2p::MsgReader;
//! use devp2p::node::Node;
//! use devp2p::server::Server;
//! use devp2p::Protocol;
//! use secp256k1::SecretKey;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // "greet/1": one message code; each side says hello, then reads one.
//! let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(8);
//! let greet = Protocol::new("greet", 1, 1, move |peer, mut rw| {
//!     let tx = tx.clone();
//!     async move {
//!         devp2p::send(&rw, 0, &format!("hello {}", peer.name())).await?;
//!         let msg = rw.read_msg().await?;
//!         let text: String = msg.decode()?;
//!         let _ = tx.send(text).await;
//!         peer.closed().await; // keep the peer until someone disconnects
//!         Ok(())
//!     }
//! });
//! let config = |key: u8| {
//!     let mut c = Config::with_key(SecretKey::from_secret_bytes([key; 32]).unwrap());
//!     c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
//!     c.no_discovery = true;
//!     c.name = format!("node-{key}");
//!     c.protocols = vec![greet.clone()];
//!     c
//! };
//! let a = Server::start(config(1)).await?;
//! let b = Server::start(config(2)).await?;
//! // Make b a static peer of a: a dials it now and whenever it drops.
//! let addr = b.local_addr().unwrap();
//! a.add_peer(Node::new(b.self_node().id, addr.ip(), addr.port(), 0)).await?;
//! let mut got = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
//! got.sort();
//! assert_eq!(got, ["hello node-1", "hello node-2"]);
//! a.stop().await;
//! b.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Events
//!
//! [`Server::subscribe_events`] gives a stream of [`PeerEvent`]s from a
//! broadcast channel holding [`EVENT_QUEUE`] events. The server never waits
//! for subscribers: one that falls more than that behind silently loses the
//! oldest events and continues with the oldest one still held.

mod checks;
pub(crate) mod churn;
mod conn;
mod features;
mod inbound;
mod info;
mod nat;
mod persist;
mod record;
mod start;
pub(crate) mod stats;
mod task;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use crate::banlist::{BAN_THRESHOLD, DEFAULT_BAN_DURATION, MIN_SCORE};
pub use crate::dial::MAX_STATIC_NODES;
pub use checks::{admission_check, AdmissionLimits, PeerCandidate, PeerCounts};
pub use churn::{ChurnProtect, ChurnTiming, CHURN_INTERVAL_MAX, CHURN_INTERVAL_MIN, CHURN_MIN_AGE};
pub use conn::RESOLVE_TIMEOUT;
pub use inbound::{
    InboundFilter, InboundReject, INBOUND_THROTTLE, INBOUND_THROTTLE_PREFIX_V6, MAX_INBOUND_HISTORY,
};
pub use info::{id_hash_hex, NodeInfo, NodePorts};
pub use record::{RecordEntryError, RESERVED_RECORD_KEYS};
pub use stats::{
    disconnect_label, DirectionSnapshot, DisconnectSide, PeerCountersSnapshot, SetupErrorKind,
    SetupStatsSnapshot, SETUP_DURATION_BUCKETS,
};
pub use task::STOP_PEER_TIMEOUT;

use crate::banlist::ReputationChange;
use crate::config::{Config, ConfigError};
use crate::dial::{
    NodeSource, SourceSnapshot, SourceSpec, SourceStats, DEFAULT_SOURCE_NAME, MAX_SOURCE_NAME_LEN,
};
use crate::event::PeerEvent;
use crate::metrics::{Metrics, TrafficRow, TrafficTable};
use crate::node::{LocalNode, Node, NodeId};
use crate::peer::{Peer, PeerInfo};
use crate::protocol::Protocol;
use devp2p_discover::v4::{DiscoverError, Discv4};
#[cfg(feature = "discv5")]
use devp2p_discover::v5::Discv5;
use task::Command;

/// Tracing target of this layer.
const TARGET: &str = "p2p::server";

/// Capacity of the handle → server command channel (our choice; commands are
/// handled in microseconds, so this only absorbs bursts; full → callers wait).
pub const COMMAND_QUEUE: usize = 64;

/// Capacity of the setup tasks → server channel (our choice: one slot per
/// default pending connection plus headroom; full → setup tasks wait, which
/// is back-pressure on new connections only).
pub const INTERNAL_QUEUE: usize = 128;

/// Accept backlog of the TCP listener: connections the kernel completes and
/// queues while all `max_pending_peers` handshake slots are busy (the kernel
/// caps it at `net.core.somaxconn`). 4096 is what go-ethereum gets: Go's
/// listener asks for somaxconn, 4096 on Linux ≥ 5.4. The std/mio default of
/// 128 made the kernel drop SYNs during a burst of connections, so a good
/// peer arriving behind it waited for SYN retransmits (1 s, 3 s, 7 s, ...)
/// instead of for a handshake slot.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Events held for slow subscribers before the oldest are overwritten (our
/// choice: 4096 events, ~1 MiB).
pub const EVENT_QUEUE: usize = 4096;

/// Why the server could not start or serve a request. Non-exhaustive: some
/// variants exist only with a cargo feature (`DiscoveryV5` with `discv5`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Starting discovery on the UDP address failed.
    #[error("cannot start discovery on {addr}: {source}")]
    Discovery {
        /// The UDP address.
        addr: SocketAddr,
        /// What failed.
        source: DiscoverError,
    },
    /// Starting discv5 on the UDP address failed.
    #[cfg(feature = "discv5")]
    #[error("cannot start discv5 on {addr}: {source}")]
    DiscoveryV5 {
        /// The UDP address.
        addr: SocketAddr,
        /// What failed.
        source: devp2p_discover::v5::Discv5Error,
    },
    /// The node database could not be opened.
    #[error("cannot open the node database: {0}")]
    NodeDatabase(#[source] devp2p_discover::db::NodeDbError),
    /// The DNS resolver for `dns_lists` could not be set up (no usable
    /// system configuration and no `dns_server`).
    #[error("cannot set up DNS for the node lists: {0}")]
    Dns(#[source] devp2p_dnsdisc::Error),
    /// The config asks for something this build of the library left out:
    /// `setting` needs the cargo feature `feature` of `devp2p-rs`, which is
    /// off (`discovery_v5 = true` needs `discv5`, a non-empty `dns_lists`
    /// needs `dnsdisc`). Turn the feature on or the setting off.
    #[error(
        "{setting} needs the cargo feature {feature:?} of devp2p-rs, which is off in this build"
    )]
    FeatureDisabled {
        /// The cargo feature that is off.
        feature: &'static str,
        /// The config field that asks for it.
        setting: &'static str,
    },
    /// The server has stopped.
    #[error("server stopped")]
    Stopped,
    /// A node source was not added.
    #[error("node source {name:?} refused: {problem}")]
    NodeSourceRefused {
        /// The source name (possibly cut).
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
}

struct Shared {
    commands: mpsc::Sender<Command>,
    /// Weak, so the event stream ends once the server task and its peers
    /// (the only strong holders) are gone.
    events: broadcast::WeakSender<PeerEvent>,
    local_node: LocalNode,
    local_addr: Option<SocketAddr>,
    name: String,
    protocols: Vec<Protocol>,
    discovery: Option<Discv4>,
    #[cfg(feature = "discv5")]
    discovery_v5: Option<Discv5>,
    setup_stats: Arc<stats::SetupStats>,
    peer_counters: Arc<stats::PeerCounters>,
    traffic: Arc<TrafficTable>,
    sources: Arc<SourceStats>,
    /// The global bandwidth buckets and their wait totals (metrics).
    bandwidth: crate::peer::Bandwidth,
    /// Peers dropped by slot churn (metrics).
    churned: Arc<churn::ChurnCounters>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Handle to a running devp2p server; see the module docs.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.shared.local_node.id())
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates `config`, binds the listener (if any) and starts the server
    /// task. Must be called inside a Tokio runtime. The steps, in order, are
    /// the functions of `server/start.rs`: open the node database and build
    /// our record, listen, start discovery, start NAT, collect the node
    /// sources, run.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        start::start(config).await
    }

    /// Stops the server gracefully: no new connections, every peer gets
    /// `DiscQuitting`, every task ends and every socket is closed before this
    /// returns (peers that do not finish within [`STOP_PEER_TIMEOUT`] are
    /// aborted). Calling it again, or from another handle, returns at once.
    pub async fn stop(&self) {
        let _ = self.shared.commands.send(Command::Stop).await;
        let handle = self
            .shared
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    async fn command(&self, cmd: Command) -> Result<(), ServerError> {
        self.shared
            .commands
            .send(cmd)
            .await
            .map_err(|_| ServerError::Stopped)
    }

    async fn query<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot::channel();
        self.command(make(tx)).await?;
        rx.await.map_err(|_| ServerError::Stopped)
    }

    /// Adds a static node: dialed now and re-dialed whenever disconnected
    /// (not within the dial history window). Nodes without a TCP endpoint,
    /// our own node and nodes beyond [`crate::dial::MAX_STATIC_NODES`] are
    /// ignored.
    pub async fn add_peer(&self, node: Node) -> Result<(), ServerError> {
        self.command(Command::AddStatic(node)).await
    }

    /// Removes a static node and disconnects it if connected.
    pub async fn remove_peer(&self, id: NodeId) -> Result<(), ServerError> {
        self.command(Command::RemoveStatic(id)).await
    }

    /// Marks a node as trusted: it may connect above the peer limits.
    pub async fn add_trusted_peer(&self, id: NodeId) -> Result<(), ServerError> {
        self.command(Command::AddTrusted(id)).await
    }

    /// Removes a node from the trusted set (a connected peer stays).
    pub async fn remove_trusted_peer(&self, id: NodeId) -> Result<(), ServerError> {
        self.command(Command::RemoveTrusted(id)).await
    }

    /// The connected peers (empty once stopped).
    pub async fn peers(&self) -> Vec<Peer> {
        self.query(Command::Peers).await.unwrap_or_default()
    }

    /// Number of connected peers (0 once stopped).
    pub async fn peer_count(&self) -> usize {
        self.query(Command::PeerCount).await.unwrap_or(0)
    }

    /// admin_peers: every peer's info, sorted by id as go-ethereum does.
    pub async fn peers_info(&self) -> Vec<PeerInfo> {
        let mut infos: Vec<PeerInfo> = self.peers().await.iter().map(Peer::info).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// admin_nodeInfo.
    pub fn node_info(&self) -> NodeInfo {
        info::node_info(
            &self.shared.local_node,
            &self.shared.name,
            self.shared.local_addr,
            &self.shared.protocols,
        )
    }

    /// Our node (id, announced IP, ports).
    pub fn self_node(&self) -> Node {
        self.shared.local_node.node()
    }

    /// Our node record handle (shared with discovery).
    pub fn local_node(&self) -> LocalNode {
        self.shared.local_node.clone()
    }

    /// The discv4 service, unless `no_discovery` (or no discovery address).
    /// Its random-lookup stream feeds the dialer.
    pub fn discovery(&self) -> Option<Discv4> {
        self.shared.discovery.clone()
    }

    /// The discv5 service, unless `no_discovery`, `discovery_v5 = false`
    /// (or no discovery address). With discv4 it shares discv4's UDP socket;
    /// its random-lookup stream feeds the dialer. Cargo feature `discv5`.
    #[cfg(feature = "discv5")]
    pub fn discovery_v5(&self) -> Option<Discv5> {
        self.shared.discovery_v5.clone()
    }

    /// The bound RLPx listening address (with the real port when the config
    /// said port 0), or `None` when not listening.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local_addr
    }

    /// A stream of peer events (Add, Drop, and MsgSend/MsgRecv when
    /// `enable_msg_events`). Only events after this call are seen. A
    /// subscriber more than [`EVENT_QUEUE`] events behind loses the oldest
    /// ones; the server never waits for it. The stream ends when the server
    /// has stopped and every event was read.
    pub fn subscribe_events(&self) -> impl Stream<Item = PeerEvent> + Send + Unpin + 'static {
        let rx = self.shared.events.upgrade().map(|tx| tx.subscribe());
        Box::pin(futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(ev) => return Some((ev, Some(rx))),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(target: TARGET, lost = n, "event subscriber lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    /// Bans `id` for `duration` (extending an existing ban) and disconnects
    /// it if connected. A banned node is neither accepted nor dialed.
    pub async fn ban(&self, id: NodeId, duration: Duration) -> Result<(), ServerError> {
        self.command(Command::Ban(id, duration)).await
    }

    /// Lifts a ban.
    pub async fn unban(&self, id: NodeId) -> Result<(), ServerError> {
        self.command(Command::Unban(id)).await
    }

    /// Dials and serves (inbound connections) so far: attempts, successes,
    /// failures by kind and setup durations. Read directly, without asking
    /// the server task.
    pub fn setup_stats(&self) -> SetupStatsSnapshot {
        self.shared.setup_stats.snapshot()
    }

    /// Peers connected now (inbound, outbound) and added and dropped so
    /// far (read directly, without asking the server task).
    pub fn peer_counters(&self) -> PeerCountersSnapshot {
        self.shared.peer_counters.snapshot()
    }

    /// Sub-protocol traffic by protocol and message code (every row that
    /// saw a message), counted whether or not message events are enabled.
    pub fn traffic(&self) -> Vec<TrafficRow> {
        self.shared.traffic.snapshot()
    }

    /// This server's metrics: a Prometheus registry of its own whose
    /// collectors read the server's counters at scrape time (see
    /// [`crate::metrics`]). Holds no server handle, so it does not keep the
    /// server running.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(self)
    }

    /// The counters [`Metrics`] reads.
    pub(crate) fn metric_sources(&self) -> crate::metrics::Sources {
        crate::metrics::Sources {
            setups: self.shared.setup_stats.clone(),
            peers: self.shared.peer_counters.clone(),
            traffic: self.shared.traffic.clone(),
            discovery: self.shared.discovery.clone(),
            sources: self.shared.sources.clone(),
            #[cfg(feature = "discv5")]
            discovery_v5: self.shared.discovery_v5.clone(),
            bandwidth: self.shared.bandwidth.clone(),
            churned: self.shared.churned.clone(),
        }
    }

    /// Adds `delta` to `id`'s reputation (negative for misbehaviour). At
    /// [`crate::banlist::BAN_THRESHOLD`] or below the node is banned for
    /// [`crate::banlist::DEFAULT_BAN_DURATION`] and disconnected.
    pub async fn adjust_reputation(
        &self,
        id: NodeId,
        delta: i32,
    ) -> Result<ReputationChange, ServerError> {
        self.query(|tx| Command::AdjustReputation(id, delta, tx))
            .await
    }

    /// Adds a source of dial candidates (a discovery mechanism, a DNS list,
    /// a test feed) named [`DEFAULT_SOURCE_NAME`]; see
    /// [`Server::add_named_node_source`].
    pub async fn add_node_source(&self, source: impl NodeSource) -> Result<(), ServerError> {
        self.add_named_node_source(DEFAULT_SOURCE_NAME, source)
            .await
    }

    /// Adds a source of dial candidates under `name` (its metrics label and
    /// [`Candidate::source`](crate::dial::Candidate::source); sources sharing
    /// a name share counters). Its own task pulls candidates into a small
    /// buffer ([`crate::dial::SOURCE_PREFETCH`]) while that has room, so the
    /// source is never drained faster than it is dialed; the dial filter of
    /// the config applies. Fails when `name` is empty, longer than
    /// [`MAX_SOURCE_NAME_LEN`] or not printable ASCII, or when
    /// [`crate::dial::MAX_NODE_SOURCES`] names exist already.
    pub async fn add_named_node_source(
        &self,
        name: &str,
        source: impl NodeSource,
    ) -> Result<(), ServerError> {
        let refused = |problem| ServerError::NodeSourceRefused {
            name: name.chars().take(MAX_SOURCE_NAME_LEN).collect(),
            problem,
        };
        if name.is_empty() || name.len() > MAX_SOURCE_NAME_LEN {
            return Err(refused("name must be 1..=32 bytes"));
        }
        if !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refused("name must be printable ASCII"));
        }
        let spec = SourceSpec::new(name, source);
        if self.query(|tx| Command::AddNodeSource(spec, tx)).await? {
            Ok(())
        } else {
            Err(refused("too many node sources"))
        }
    }

    /// Per node source: candidates produced, dialed, skipped by reason and
    /// connected (read directly, without asking the server task).
    pub fn source_stats(&self) -> Vec<SourceSnapshot> {
        self.shared.sources.snapshot()
    }
}
