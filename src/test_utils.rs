//! A test harness for protocol authors (feature `test-utils`): start N
//! servers on 127.0.0.1 with your protocols, connect them, and await what
//! happens with a timeout instead of polling.
//!
//! ```
//! use std::time::Duration;
//! use devp2p::test_utils::Testnet;
//! use devp2p::{send, MsgReader, Protocol, ProtocolError};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let hello = Protocol::new("hello", 1, 1, |_peer, mut rw| async move {
//!     send(&rw, 0, &"hi").await?;
//!     let text: String = rw.read_msg().await?.decode()?;
//!     assert_eq!(text, "hi");
//!     futures::future::pending::<()>().await;
//!     Ok::<(), ProtocolError>(())
//! });
//! let mut net = Testnet::start(3, |_index| vec![hello.clone()]).await.unwrap();
//! net.connect_all(Duration::from_secs(10)).await.unwrap();
//! for i in 0..3 {
//!     assert_eq!(net.node(i).server.peer_count().await, 2);
//! }
//! net.stop().await;
//! # });
//! ```

use std::time::Duration;

use futures::{Stream, StreamExt};
use secp256k1::SecretKey;

use crate::config::Config;
use crate::event::{PeerEvent, PeerEventKind};
use crate::node::{keccak256, Node, NodeId};
use crate::protocol::Protocol;
use crate::server::{Server, ServerError};

/// Why a wait of the harness ended without what it waited for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// Nothing matching arrived within the timeout.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// The server's event stream ended (it stopped).
    #[error("event stream ended while waiting for {0}")]
    Ended(String),
}

/// The secret key of test node `index`: keccak256 of a fixed label and the
/// index, so every run uses the same keys (and node ids).
pub fn test_key(index: usize) -> SecretKey {
    let mut seed = b"devp2p test node ".to_vec();
    seed.extend_from_slice(&(index as u64).to_be_bytes());
    // A keccak output is a valid secp256k1 key except with probability ~2^-128.
    SecretKey::from_secret_bytes(keccak256(&seed)).expect("keccak256 output is a valid key")
}

/// A config for test node `index`: its [`test_key`], 127.0.0.1 on a port
/// the OS picks, discovery off, named `test-<index>`.
pub fn test_config(index: usize, protocols: Vec<Protocol>) -> Config {
    Config {
        listen_addr: Some(([127, 0, 0, 1], 0).into()),
        no_discovery: true,
        name: format!("test-{index}"),
        protocols,
        ..Config::with_key(test_key(index))
    }
}

/// One server of a [`Testnet`] and its event stream, subscribed before the
/// server could see any peer, so no event is missed.
pub struct TestNode {
    /// The server.
    pub server: Server,
    events: Box<dyn Stream<Item = PeerEvent> + Send + Unpin>,
    /// Peers currently connected, as counted from this node's events.
    peers: usize,
}

impl std::fmt::Debug for TestNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNode")
            .field("server", &self.server)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

impl TestNode {
    /// Starts a server with `config` and subscribes to its events.
    pub async fn start(config: Config) -> Result<TestNode, ServerError> {
        let server = Server::start(config).await?;
        let events = Box::new(server.subscribe_events());
        Ok(TestNode {
            server,
            events,
            peers: 0,
        })
    }

    /// The node as a dialable enode (its id and listening address).
    pub fn node(&self) -> Node {
        self.server.self_node()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.server.self_node().id
    }

    /// The next event that `want` accepts (others are skipped but still
    /// counted for [`TestNode::wait_peers`]), within `timeout`.
    pub async fn next_event_where(
        &mut self,
        what: &str,
        timeout: Duration,
        mut want: impl FnMut(&PeerEvent) -> bool,
    ) -> Result<PeerEvent, WaitError> {
        let found = tokio::time::timeout(timeout, async {
            while let Some(ev) = self.events.next().await {
                match ev.kind {
                    PeerEventKind::Add => self.peers += 1,
                    PeerEventKind::Drop => self.peers = self.peers.saturating_sub(1),
                    _ => {}
                }
                if want(&ev) {
                    return Some(ev);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(ev)) => Ok(ev),
            Ok(None) => Err(WaitError::Ended(what.to_owned())),
            Err(_) => Err(WaitError::Timeout(timeout, what.to_owned())),
        }
    }

    /// The next event of `kind` about `peer` (any peer when `None`).
    pub async fn next_event(
        &mut self,
        kind: PeerEventKind,
        peer: Option<NodeId>,
        timeout: Duration,
    ) -> Result<PeerEvent, WaitError> {
        let what = format!("{kind:?} of {peer:?}");
        self.next_event_where(&what, timeout, |ev| {
            ev.kind == kind && peer.is_none_or(|p| ev.peer == p)
        })
        .await
    }

    /// Waits until this node has exactly `n` peers, as its events tell.
    pub async fn wait_peers(&mut self, n: usize, timeout: Duration) -> Result<(), WaitError> {
        if self.peers == n {
            return Ok(());
        }
        let what = format!("{n} peers");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.next_event_where(&what, left, |ev| {
                matches!(ev.kind, PeerEventKind::Add | PeerEventKind::Drop)
            })
            .await?;
            if self.peers == n {
                return Ok(());
            }
        }
    }
}

/// N servers on 127.0.0.1 for a test (see the module example).
#[derive(Debug)]
pub struct Testnet {
    nodes: Vec<TestNode>,
}

impl Testnet {
    /// Starts `n` servers with [`test_config`]`(i, protocols(i))`.
    pub async fn start(
        n: usize,
        mut protocols: impl FnMut(usize) -> Vec<Protocol>,
    ) -> Result<Testnet, ServerError> {
        Testnet::with_configs((0..n).map(|i| test_config(i, protocols(i)))).await
    }

    /// Starts one server per config.
    pub async fn with_configs(
        configs: impl IntoIterator<Item = Config>,
    ) -> Result<Testnet, ServerError> {
        let mut nodes = Vec::new();
        for config in configs {
            nodes.push(TestNode::start(config).await?);
        }
        Ok(Testnet { nodes })
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &TestNode {
        &self.nodes[i]
    }

    /// Node `i`, to await its events.
    pub fn node_mut(&mut self, i: usize) -> &mut TestNode {
        &mut self.nodes[i]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[TestNode] {
        &self.nodes
    }

    /// Node `a` dials node `b` (as a static peer); returns once both have
    /// reported the other added.
    pub async fn connect(
        &mut self,
        a: usize,
        b: usize,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let (id_a, target) = (self.nodes[a].id(), self.nodes[b].node());
        let id_b = target.id;
        self.nodes[a]
            .server
            .add_peer(target)
            .await
            .map_err(|e| WaitError::Ended(format!("add_peer: {e}")))?;
        self.nodes[a]
            .next_event(PeerEventKind::Add, Some(id_b), timeout)
            .await?;
        self.nodes[b]
            .next_event(PeerEventKind::Add, Some(id_a), timeout)
            .await?;
        Ok(())
    }

    /// Connects every pair (the lower index dials) and waits until every
    /// node has all others as peers.
    pub async fn connect_all(&mut self, timeout: Duration) -> Result<(), WaitError> {
        let n = self.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                self.connect(a, b, timeout).await?;
            }
        }
        for node in &mut self.nodes {
            node.wait_peers(n - 1, timeout).await?;
        }
        Ok(())
    }

    /// Stops every server.
    pub async fn stop(self) {
        for node in self.nodes {
            node.server.stop().await;
        }
    }
}
