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
//! use devp2p::message::MsgReader;
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
//!     let mut c = Config::with_key(SecretKey::from_slice(&[key; 32]).unwrap());
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
mod conn;
mod inbound;
mod info;
mod nat;
mod persist;
mod stats;
mod task;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::FuturesUnordered;
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::info;

pub use checks::{admission_check, AdmissionLimits, Candidate, PeerCounts};
pub use conn::RESOLVE_TIMEOUT;
pub use inbound::{InboundFilter, InboundReject, INBOUND_THROTTLE, MAX_INBOUND_HISTORY};
pub use info::{id_hash_hex, NodeInfo, NodePorts};
pub use stats::{DirectionSnapshot, SetupErrorKind, SetupStatsSnapshot, SETUP_DURATION_BUCKETS};
pub use task::STOP_PEER_TIMEOUT;

use crate::banlist::{BanList, ReputationChange};
use crate::config::{Config, ConfigError};
use crate::dial::{DialLimits, DialState, NodeSource, NodeSources};
use crate::event::PeerEvent;
use crate::node::{LocalNode, Node, NodeId};
use crate::peer::{Hello, Peer, PeerInfo, ReputationSink, BASE_PROTOCOL_VERSION};
use crate::protocol::Protocol;
use crate::rlpx::HandshakeKey;
use conn::SetupCtx;
use devp2p_discover::db::NodeDb;
use devp2p_discover::v4::{DiscoverError, Discv4, Discv4Config};
use task::{Command, ServerTask};

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

/// Binds the TCP listener at `addr` with [`LISTEN_BACKLOG`].
fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // Same as std/mio: rebinding a port in TIME_WAIT after a restart works.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Events held for slow subscribers before the oldest are overwritten (our
/// choice: 4096 events, ~1 MiB).
pub const EVENT_QUEUE: usize = 4096;

/// Why the server could not start or serve a request.
#[derive(Debug, thiserror::Error)]
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
    /// The node database could not be opened.
    #[error("cannot open the node database: {0}")]
    NodeDatabase(#[source] devp2p_discover::db::NodeDbError),
    /// The server has stopped.
    #[error("server stopped")]
    Stopped,
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
    setup_stats: Arc<stats::SetupStats>,
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
    /// task. Must be called inside a Tokio runtime.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        let key = config.private_key.expect("validated: key is set");
        let self_id = NodeId::from_secret_key(&key);

        let listener = match config.listen_addr {
            Some(addr) => {
                Some(bind_listener(addr).map_err(|source| ServerError::Listen { addr, source })?)
            }
            None => None,
        };
        let local_addr = match &listener {
            Some(l) => Some(l.local_addr().map_err(|source| {
                ServerError::Listen {
                    addr: config
                        .listen_addr
                        .unwrap_or(crate::config::DEFAULT_LISTEN_ADDR),
                    source,
                }
            })?),
            None => None,
        };

        let node_db = NodeDb::open_or_memory(config.node_database.as_deref())
            .map_err(ServerError::NodeDatabase)?;
        // Continue our record's sequence from the database, so peers never
        // see it go backwards across restarts.
        let seq = match node_db.local_seq(&self_id) {
            Ok(Some(stored)) => stored.max(initial_enr_seq()),
            _ => initial_enr_seq(),
        };
        let local_node = LocalNode::new(key, seq);
        local_node.set_ip(announced_ip(&config, local_addr));
        if let Some(addr) = local_addr {
            local_node.set_tcp(addr.port());
        }
        let discovery = match discovery_addr(&config, local_addr) {
            Some(addr) => {
                let cfg = Discv4Config {
                    bootnodes: config.bootstrap_nodes.clone(),
                    net_restrict: config.net_restrict.clone(),
                    db: Some(node_db.clone()),
                    ..Discv4Config::default()
                };
                let disc = Discv4::bind(addr, key, local_node.clone(), cfg)
                    .await
                    .map_err(|source| ServerError::Discovery { addr, source })?;
                local_node.set_udp(disc.local_addr().port());
                Some(disc)
            }
            None => None,
        };

        let nat_mapping = match config.nat.as_deref().map(devp2p_nat::parse) {
            Some(Ok(Some(nat))) => nat::NatMapping::start(
                nat,
                local_node.clone(),
                local_addr,
                discovery.as_ref().map(|d| d.local_addr()),
            ),
            // Validated above; `none`/`off` build nothing.
            _ => None,
        };

        let our_hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: config.name.clone(),
            caps: config.protocols.iter().map(|p| p.cap()).collect(),
            listen_port: local_addr.map(|a| a.port()).unwrap_or(0),
            id: self_id,
        };
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let setup_stats = Arc::new(stats::SetupStats::default());
        let ctx = Arc::new(SetupCtx {
            key: HandshakeKey::new(key),
            our_hello,
            protocols: config.protocols.clone(),
            to_server: internal_tx,
            stats: setup_stats.clone(),
        });

        let listener_task = listener.map(|l| {
            let filter = InboundFilter::new(config.net_restrict.clone());
            let pending = Arc::new(Semaphore::new(config.max_pending_peers));
            tokio::spawn(conn::listen(l, ctx.clone(), filter, pending))
        });

        let mut dial = DialState::new(DialLimits {
            self_id,
            max_dialed_peers: config.max_dialed_peers(),
            max_active_dials: config.max_pending_peers,
            net_restrict: config.net_restrict.clone(),
            history_expiration: config.dial_history_expiration,
        });
        for node in &config.static_nodes {
            dial.add_static(node.clone());
        }
        let (reputation_sink, reputation_reports) = ReputationSink::channel();
        let mut bans = BanList::new();
        persist::load(&node_db, &mut bans);
        let mut task = ServerTask {
            ctx,
            commands: cmd_rx,
            internal: internal_rx,
            reputation_reports,
            reputation_sink,
            events: events.clone(),
            limits: AdmissionLimits {
                self_id,
                max_peers: config.max_peers,
                max_inbound: config.max_inbound_peers(),
            },
            dial,
            dialer: config.dialer.clone(),
            no_dial: config.no_dial,
            bans,
            trusted: config
                .trusted_nodes
                .iter()
                .map(|n| n.id)
                .collect::<HashSet<_>>(),
            enable_msg_events: config.enable_msg_events,
            listener: listener_task,
            sources: NodeSources::new(),
            peers: HashMap::new(),
            inbound_count: 0,
            peer_done: FuturesUnordered::new(),
            dials: JoinSet::new(),
            discovery: None,
            nat: nat_mapping,
            node_db: Some((node_db, local_node.clone())),
        };
        if let Some(disc) = &discovery {
            if !config.no_dial {
                task.sources.push(disc.random_nodes());
            }
        }
        task.discovery = discovery.clone();
        let handle = tokio::spawn(task.run());
        info!(target: TARGET, id = ?self_id, addr = ?local_addr, "server started");
        Ok(Server {
            shared: Arc::new(Shared {
                commands: cmd_tx,
                events: events.downgrade(),
                local_node,
                local_addr,
                name: config.name,
                protocols: config.protocols,
                discovery,
                setup_stats,
                task: Mutex::new(Some(handle)),
            }),
        })
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

    /// Adds a source of dial candidates (discovery, a static list, a test
    /// feed). Nodes are pulled only when a dial slot is free.
    pub async fn add_node_source(&self, source: impl NodeSource) -> Result<(), ServerError> {
        self.command(Command::AddNodeSource(Box::new(source))).await
    }
}

/// Where discovery binds, if it runs: `discovery_addr`, else the listen
/// address with the port the listener actually got (so TCP and UDP share a
/// port as in the enode URL), else nothing.
fn discovery_addr(config: &Config, local_addr: Option<SocketAddr>) -> Option<SocketAddr> {
    if config.no_discovery {
        return None;
    }
    match (config.discovery_addr, config.listen_addr, local_addr) {
        (Some(addr), _, _) => Some(addr),
        (None, Some(listen), Some(bound)) => Some(SocketAddr::new(listen.ip(), bound.port())),
        _ => None,
    }
}

/// Our announced IP: `extip:` from the NAT spec, else the listen IP when it
/// is specific, else 127.0.0.1 (go-ethereum's fallback IP).
fn announced_ip(config: &Config, local_addr: Option<SocketAddr>) -> IpAddr {
    if let Some(ip) = config
        .nat
        .as_deref()
        .and_then(|s| s.strip_prefix("extip:"))
        .and_then(|ip| ip.parse().ok())
    {
        return ip;
    }
    match local_addr {
        Some(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// First ENR sequence number: the current time in milliseconds, as
/// go-ethereum does without a node database, so restarts never reuse one.
fn initial_enr_seq() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}
