//! discv4: Kademlia node discovery over UDP (discv4 spec, EIP-8, EIP-868).
//!
//! [`Discv4`] is a cloneable handle to one service task that owns the
//! socket, the routing table and the endpoint proofs. The task runs over
//! any [`DatagramTransport`]: a real UDP socket ([`Discv4::bind`]) or the
//! simulated network in [`sim`] ([`Discv4::spawn`]).
//!
//! Behaviour follows go-ethereum's `p2p/discover` (v4_udp.go, table.go,
//! table_reval.go, lookup.go): Pong to the packet's real source with the
//! ping hash as token and a ping back when we hold no endpoint proof;
//! FindNode and ENRRequest answered only with a proof (a Pong from the same
//! IP within 24 h); unsolicited Pong/Neighbors/ENRResponse dropped; expired
//! packets dropped (an expiration at or above 2^63 counts as past:
//! go-ethereum reads the field as a signed int64, see
//! [`wire::NEGATIVE_EXPIRATION`]); lookups with α = 3 keeping the 16
//! closest. Where we differ, on purpose:
//! - every queue is bounded: requests waiting for replies
//!   ([`MAX_PENDING_REPLIES`]), endpoint-proof records ([`MAX_BOND_RECORDS`]),
//!   per-IP inbound rate ([`PACKET_RATE_PER_IP`]; IPv6 per /64, loopback
//!   exempt by default), datagrams read ahead of handling
//!   ([`MAX_QUEUED_DATAGRAMS`]);
//! - past its capacity the service drops datagrams itself, not the kernel:
//!   it drains its socket between datagrams and handles them round robin by
//!   source, the busiest sources losing datagrams first, so a quiet sender
//!   is answered through a flood from many addresses; sources that proved
//!   their address (answered our ping) take three turns to the others'
//!   one ([`PROVEN_TURNS_PER_UNPROVEN`]) and three quarters of a full
//!   queue, so a flood from forged addresses cannot delay our peers'
//!   packets, and a flood from bonded ones cannot shut out new nodes;
//! - a node that answered our FindNode or our ping-back counts as live, so it
//!   is handed out in Neighbors without waiting for a revalidation round;
//! - inbound nodes are accepted once the first self lookup is done (geth:
//!   after the whole first refresh);
//! - failed lookup queries are dropped from the result set.
//!
//! ```no_run
//! # async fn demo() -> Result<(), devp2p_discover::v4::DiscoverError> {
//! use devp2p_discover::node::{generate_node_key, LocalNode};
//! use devp2p_discover::v4::{Discv4, Discv4Config};
//! let key = generate_node_key();
//! let local = LocalNode::new(key, 1);
//! let disc = Discv4::bind("0.0.0.0:30303".parse().unwrap(), key, local, Discv4Config::default()).await?;
//! let near_me = disc.lookup(disc.local_id()).await;
//! disc.shutdown().await;
//! # Ok(()) }
//! ```

mod bonds;
mod config;
mod error;
mod inbound;
mod lookup;
mod service;
pub mod sim;
mod stats;
pub mod table;
pub mod transport;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use secp256k1::SecretKey;
use tokio::sync::{mpsc, oneshot};

pub use crate::node::{Enr, LocalNode, Node};
pub use bonds::{MAX_BOND_RECORDS, MAX_RATE_TRACKED_IPS, RATE_LIMIT_PREFIX_BITS_V6};
pub use config::*;
pub use devp2p_netutil::Netlist;
pub use error::DiscoverError;
pub use inbound::{
    DRAIN_BATCH, MAX_QUEUED_DATAGRAMS, MAX_QUEUED_PER_SOURCE, PROVEN_TURNS_PER_UNPROVEN,
};
pub use lookup::{LookupResult, RandomNodes, ALPHA, EMPTY_LOOKUP_BACKOFF, MIN_LOOKUP_INTERVAL};
pub use service::{
    LATE_PINGS_REMEMBERED, LATE_PONG_GRACE, MAX_FINDNODE_FAILURES, MIN_ENDPOINT_STATEMENTS,
    RESEED_MIN_INTERVAL,
};
pub use stats::{PacketCounts, PACKET_TYPES};
pub use transport::{DatagramTransport, UdpTransport};

use crate::node::NodeId;
use service::{Command, Service};

/// Capacity of the handle → service command channel. When full, callers
/// wait (async back-pressure) until the task catches up.
pub const COMMAND_CHANNEL_CAPACITY: usize = 256;

/// A cloneable handle to a running discv4 service.
#[derive(Clone)]
pub struct Discv4 {
    pub(crate) tx: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    self_id: NodeId,
    stats: Arc<stats::PacketStats>,
}

impl std::fmt::Debug for Discv4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv4")
            .field("local_addr", &self.local_addr)
            .field("id", &self.self_id)
            .finish()
    }
}

/// A random delay in `[0, max]`, in whole milliseconds (tokio's timer
/// resolution). Sub-millisecond delays would let the order of nearly
/// simultaneous events depend on how the runtime's clock lines up with its
/// timer wheel, which differs from run to run: simulations on paused time
/// then stop replaying exactly from their seed.
pub(crate) fn random_delay(
    rng: &mut impl rand::Rng,
    max: std::time::Duration,
) -> std::time::Duration {
    use rand::RngExt;
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    std::time::Duration::from_millis(rng.random_range(0..=max_ms))
}

/// A random lookup target.
pub(crate) fn random_target() -> NodeId {
    random_target_from(&mut rand::rng())
}

/// A random lookup target from a given RNG (seeded in the service).
pub(crate) fn random_target_from(rng: &mut impl rand::Rng) -> NodeId {
    use rand::RngExt;
    let mut b = [0u8; 64];
    rng.fill(&mut b[..]);
    NodeId(b)
}

impl Discv4 {
    /// Binds a UDP socket at `addr` and starts the service on it. `key` is
    /// the node key `local` was made from (it signs every packet; `LocalNode`
    /// does not hand its key out). If `local` has no UDP port yet, it is set
    /// to the bound port.
    pub async fn bind(
        addr: SocketAddr,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv4Config,
    ) -> Result<Discv4, DiscoverError> {
        if NodeId::from_secret_key(&key) != local.id() {
            return Err(DiscoverError::KeyMismatch);
        }
        let transport = UdpTransport::bind(addr).await?;
        let bound = transport.local_addr()?;
        local.set_udp_default(bound);
        Ok(Self::spawn(transport, key, local, cfg))
    }

    /// Starts the service over any transport. The task stops on
    /// [`Discv4::shutdown`] or when every handle is dropped.
    ///
    /// # Panics
    ///
    /// If `key` is not the key of `local` (a programming error; [`Discv4::bind`]
    /// reports it as [`DiscoverError::KeyMismatch`] instead).
    pub fn spawn(
        transport: impl DatagramTransport,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv4Config,
    ) -> Discv4 {
        assert_eq!(
            NodeId::from_secret_key(&key),
            local.id(),
            "key does not match LocalNode"
        );
        let local_addr = transport
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let self_id = local.id();
        let (tx, rx) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let stats = Arc::new(stats::PacketStats::default());
        let service = Service::new(
            transport,
            key,
            local,
            cfg,
            rx,
            tx.downgrade(),
            stats.clone(),
        );
        // Log lines of a process with many services name the one they
        // come from.
        let span = tracing::debug_span!(target: service::TARGET, "discv4", local = %local_addr);
        tokio::spawn(tracing::Instrument::instrument(service.run(), span));
        Discv4 {
            tx,
            local_addr,
            self_id,
            stats,
        }
    }

    pub(crate) fn from_parts(
        tx: mpsc::Sender<Command>,
        local_addr: SocketAddr,
        self_id: NodeId,
        stats: Arc<stats::PacketStats>,
    ) -> Self {
        Discv4 {
            tx,
            local_addr,
            self_id,
            stats,
        }
    }

    /// Packets received and sent so far, by type (read directly, without
    /// asking the service task).
    pub fn packet_counts(&self) -> PacketCounts {
        self.stats.snapshot()
    }

    /// Nodes per table bucket, closest bucket first (17 buckets), as the
    /// service last published them: read directly, without asking the
    /// service task (all zero once the service has stopped). For metrics.
    pub fn bucket_fill(&self) -> Vec<usize> {
        self.stats.bucket_fill()
    }

    /// Nodes per table bucket, closest bucket first (17 buckets; empty when
    /// the service has stopped).
    pub async fn bucket_sizes(&self) -> Vec<usize> {
        self.request(|tx| Command::BucketSizes { tx })
            .await
            .unwrap_or_default()
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our node ID.
    pub fn local_id(&self) -> NodeId {
        self.self_id
    }

    async fn request<R>(
        &self,
        make: impl FnOnce(oneshot::Sender<R>) -> Command,
    ) -> Result<R, DiscoverError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| DiscoverError::Closed)?;
        rx.await.map_err(|_| DiscoverError::Closed)
    }

    /// Finds the nodes closest to `target`: up to 16, nearest first.
    pub async fn lookup(&self, target: NodeId) -> Vec<Node> {
        lookup::run(self, target).await.nodes
    }

    /// Like [`Discv4::lookup`], also reporting rounds and queries (for the simulator).
    pub async fn lookup_with_stats(&self, target: NodeId) -> LookupResult {
        lookup::run(self, target).await
    }

    /// The current endpoint of `node`: its record's endpoint if it answers
    /// an ENR request, else the entry a lookup for its ID finds.
    pub async fn resolve(&self, node: &Node) -> Option<Node> {
        if let Ok(enr) = self.request_enr(node).await {
            if let Ok(n) = Node::from_enr(&enr) {
                if n.udp_addr().is_some() {
                    return Some(n);
                }
            }
            return Some(node.clone());
        }
        self.lookup(node.id)
            .await
            .into_iter()
            .find(|n| n.id == node.id)
    }

    /// Asks `node` for its signed record (EIP-868), bonding first if needed.
    pub async fn request_enr(&self, node: &Node) -> Result<Enr, DiscoverError> {
        let node = node.clone();
        self.request(|tx| Command::RequestEnr { node, tx }).await?
    }

    /// Pings `node` and waits for its pong.
    pub async fn ping(&self, node: &Node) -> Result<(), DiscoverError> {
        let node = node.clone();
        self.request(|tx| Command::Ping { node, tx }).await?
    }

    /// Sends one FindNode to `node` (bonding first if needed) and returns the
    /// nodes of its Neighbors replies.
    pub async fn find_node(&self, node: &Node, target: NodeId) -> Result<Vec<Node>, DiscoverError> {
        let node = node.clone();
        self.request(|tx| Command::FindNode { node, target, tx })
            .await?
    }

    pub(crate) async fn closest(&self, target: [u8; 32]) -> Result<Vec<Node>, DiscoverError> {
        self.request(|tx| Command::Closest { target, tx }).await
    }

    /// A never-ending stream of nodes from random lookups.
    pub fn random_nodes(&self) -> RandomNodes {
        RandomNodes::new(self.clone())
    }

    /// The nodes currently in the table.
    pub async fn table_nodes(&self) -> Vec<Node> {
        self.request(|tx| Command::TableNodes { tx })
            .await
            .unwrap_or_default()
    }

    /// Puts nodes straight into the table as proven (for simulations and
    /// tests that start from a known topology).
    pub async fn seed_table(&self, nodes: Vec<Node>) {
        let _ = self.tx.send(Command::Seed { nodes }).await;
    }

    /// Stops the service task and closes its socket; returns when done.
    /// Pending requests fail with [`DiscoverError::Closed`].
    pub async fn shutdown(&self) {
        let _ = self.request(|tx| Command::Shutdown { tx }).await;
    }
}
