//! `demo/1`: a small but real sub-protocol, meant to be read as an example.
//!
//! Messages (codes relative to the protocol, [`PROTOCOL_LENGTH`] codes):
//!
//! | code | name | payload |
//! |---|---|---|
//! | 0 | [`Status`] | `[version, network_id, name]`, sent once by both sides first |
//! | 1 | [`Gossip`] | `[origin (64-byte node id), seq, text]` |
//! | 2 | Ping | `[request_id]` |
//! | 3 | Pong | `[request_id]` (answers the Ping with the same id) |
//!
//! * **Status handshake**: both sides send [`Status`] at once and read the
//!   other's; a different version or network id ends the session with
//!   `UselessPeer`, a silent peer with `ReadTimeout` after [`STATUS_TIMEOUT`].
//! * **Gossip**: [`Demo::broadcast`] sends a message to every peer. A node
//!   that sees a gossip message for the first time (keyed by the keccak256 of
//!   its encoding, remembered in a bounded FIFO set of [`SEEN_CAPACITY`]
//!   hashes) delivers it to subscribers and re-broadcasts it once to all its
//!   other peers; a message seen before is dropped, so there are no loops. A
//!   new peer is sent the last [`RECENT_CAPACITY`] messages, so a node that
//!   joins late still catches up (like transaction sync on connect).
//! * **Ping**: each session pings its peer every [`PING_INTERVAL`] (first at
//!   once) and matches Pongs to Pings with a [`RequestTracker`].
//!
//! [`Demo`] is a cloneable handle to one task that owns the state (peers,
//! seen set, counters). Sessions are plain async functions written against
//! [`MsgReader`] / [`MsgWriter`], so a [`MsgPipe`](devp2p::MsgPipe) can stand in
//! for a peer in tests; [`Demo::protocol`] wraps them into a [`Protocol`] for
//! the server.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_rlp::{BufMut, Encodable, Header};
use bytes::Bytes;
use devp2p::node::rlp_item::Item;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use devp2p::node::{keccak256, NodeId, NODE_ID_LEN};
use devp2p::peer::{Peer, ProtoRw};
use devp2p::DiscReason;
use devp2p::{send, MsgError, MsgReader, MsgWriter};
use devp2p::{Protocol, ProtocolError};
use devp2p::{RequestTracker, TrackerError};

#[cfg(test)]
mod tests;

/// Tracing target of the demo protocol (its sessions also run inside their
/// peer's `peer` span).
const TARGET: &str = "p2p::demo";

/// Protocol name in Hello.
pub const PROTOCOL_NAME: &str = "demo";
/// Protocol version in Hello and [`Status`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Number of message codes.
pub const PROTOCOL_LENGTH: u64 = 4;
/// [`Status`] message code.
pub const STATUS_MSG: u64 = 0;
/// [`Gossip`] message code.
pub const GOSSIP_MSG: u64 = 1;
/// Ping message code.
pub const PING_MSG: u64 = 2;
/// Pong message code.
pub const PONG_MSG: u64 = 3;

/// Network id used when none is configured (our choice; any value works as
/// long as all nodes of a network agree).
pub const DEFAULT_NETWORK_ID: u64 = 1337;
/// Longest gossip text, in bytes (our choice: chat-sized messages; keeps the
/// replay buffer at most [`RECENT_CAPACITY`] × 1 KiB).
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest node name in [`Status`], in bytes (our choice; names are short).
pub const MAX_NAME_LEN: usize = 256;
/// Gossip hashes remembered to drop duplicates, oldest forgotten first (our
/// choice: far more than the messages alive in a devnet at once; 32 bytes
/// each, 128 KiB in total).
pub const SEEN_CAPACITY: usize = 4096;
/// Recent gossip messages replayed to a newly connected peer (our choice).
pub const RECENT_CAPACITY: usize = 256;
/// Distinct origins counted separately in [`DemoStats::delivered_by_origin`];
/// beyond that only the total grows (bounds memory against made-up origins).
pub const MAX_TRACKED_ORIGINS: usize = 4096;
/// Messages queued for one peer's writer. When full, further gossip and
/// pongs for that peer are dropped (and counted in [`DemoStats::dropped`]):
/// a slow peer must not stall the node. Larger than [`RECENT_CAPACITY`] so
/// the replay on connect always fits.
pub const PEER_QUEUE: usize = 512;
/// Commands queued for the state task; sessions and handles wait when full.
pub const COMMAND_QUEUE: usize = 1024;
/// Deliveries held for slow subscribers before the oldest are overwritten.
pub const DELIVERY_QUEUE: usize = 1024;
/// Time allowed for the [`Status`] exchange (go-ethereum's eth handshake
/// also allows 5 s).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a Ping waits for its Pong.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval between Pings on one session (the first one is sent at once).
pub const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Why a demo message could not be decoded or a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    /// The message is not the expected RLP shape.
    #[error("malformed {0} message")]
    Malformed(&'static str),
    /// A text field is longer than its limit.
    #[error("{field} is {len} bytes, at most {max} allowed")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The gossip text is not UTF-8.
    #[error("gossip text is not UTF-8")]
    NotUtf8,
    /// The demo service has been shut down.
    #[error("demo service stopped")]
    Stopped,
}

impl DemoError {
    /// Whether the remote peer is to blame (and should be disconnected).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, DemoError::Stopped)
    }
}

impl From<alloy_rlp::Error> for DemoError {
    fn from(_: alloy_rlp::Error) -> Self {
        DemoError::Malformed("demo")
    }
}

/// The handshake message: `[version, network_id, name]`.
#[derive(Clone, Debug, PartialEq, Eq, alloy_rlp::RlpEncodable)]
pub struct Status {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub version: u64,
    /// Network id; peers on other networks are refused.
    pub network_id: u64,
    /// Free-form node name (at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
}

impl Status {
    /// Decodes a Status payload (extra list items are ignored, EIP-8 style).
    pub fn decode(payload: &[u8]) -> Result<Status, DemoError> {
        let malformed = |_| DemoError::Malformed("status");
        let mut fields = Item::first(payload)
            .and_then(|item| item.list())
            .map_err(malformed)?;
        let version = fields.next_decode().map_err(malformed)?;
        let network_id = fields.next_decode().map_err(malformed)?;
        let name = fields.next_bytes().map_err(malformed)?;
        if name.len() > MAX_NAME_LEN {
            return Err(DemoError::TooLong {
                field: "status name",
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        Ok(Status {
            version,
            network_id,
            name: String::from_utf8_lossy(name).into_owned(),
        })
    }
}

/// A gossip message: `[origin, seq, text]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gossip {
    /// The node that wrote it.
    pub origin: NodeId,
    /// The origin's sequence number (makes equal texts distinct messages).
    pub seq: u64,
    /// The text (at most [`MAX_TEXT_LEN`] bytes of UTF-8).
    pub text: String,
}

impl Gossip {
    /// The header of the RLP list `[origin, seq, text]`.
    fn rlp_header(&self) -> Header {
        Header {
            list: true,
            payload_length: self.origin.as_bytes().length()
                + self.seq.length()
                + self.text.length(),
        }
    }
}

impl Encodable for Gossip {
    fn encode(&self, out: &mut dyn BufMut) {
        self.rlp_header().encode(out);
        self.origin.as_bytes().encode(out);
        self.seq.encode(out);
        self.text.encode(out);
    }

    fn length(&self) -> usize {
        self.rlp_header().length_with_payload()
    }
}

impl Gossip {
    /// Decodes a Gossip payload, checking the text length before copying it.
    pub fn decode(payload: &[u8]) -> Result<Gossip, DemoError> {
        let malformed = |_| DemoError::Malformed("gossip");
        let mut fields = Item::first(payload)
            .and_then(|item| item.list())
            .map_err(malformed)?;
        let origin = fields.next_bytes().map_err(malformed)?;
        let seq = fields.next_decode().map_err(malformed)?;
        let text = fields.next_bytes().map_err(malformed)?;
        if !fields.is_empty() {
            return Err(DemoError::Malformed("gossip"));
        }
        if origin.len() != NODE_ID_LEN {
            return Err(DemoError::Malformed("gossip origin"));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(DemoError::TooLong {
                field: "gossip text",
                len: text.len(),
                max: MAX_TEXT_LEN,
            });
        }
        Ok(Gossip {
            origin: NodeId::from_slice(origin)
                .map_err(|_| DemoError::Malformed("gossip origin"))?,
            seq,
            text: std::str::from_utf8(text)
                .map_err(|_| DemoError::NotUtf8)?
                .to_string(),
        })
    }

    /// The RLP encoding (the payload of a Gossip message).
    pub fn encode(&self) -> Bytes {
        Bytes::from(alloy_rlp::encode(self))
    }
}

/// A gossip message received for the first time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub gossip: Gossip,
    /// The peer it came from (the origin or a relay).
    pub from: NodeId,
}

/// Counters of one node's demo protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoStats {
    /// Peers that completed the Status handshake and are connected.
    pub peers: usize,
    /// Messages this node broadcast.
    pub originated: u64,
    /// Distinct messages from other nodes received.
    pub delivered: u64,
    /// `delivered` split by origin (at most [`MAX_TRACKED_ORIGINS`] origins).
    pub delivered_by_origin: HashMap<NodeId, u64>,
    /// Gossip messages received again and dropped.
    pub duplicates: u64,
    /// Messages not queued for a peer because its queue was full.
    pub dropped: u64,
    /// Pings we answered.
    pub pings_answered: u64,
    /// Pongs that matched one of our Pings.
    pub pongs_received: u64,
    /// Our Pings that got no Pong within [`PING_TIMEOUT`].
    pub ping_timeouts: u64,
    /// Round-trip time of the last answered Ping.
    pub last_rtt: Option<Duration>,
}

/// Settings of a [`Demo`] service.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Our node id (origin of our gossip).
    pub local_id: NodeId,
    /// Network id exchanged in [`Status`].
    pub network_id: u64,
    /// Our name in [`Status`] (cut to [`MAX_NAME_LEN`] bytes).
    pub name: String,
}

impl DemoConfig {
    /// Settings with [`DEFAULT_NETWORK_ID`] and the name `devp2p-demo`.
    pub fn new(local_id: NodeId) -> Self {
        DemoConfig {
            local_id,
            network_id: DEFAULT_NETWORK_ID,
            name: "devp2p-demo".to_string(),
        }
    }
}

/// A message queued for one peer: code and payload.
type Outbound = (u64, Bytes);

enum Command {
    Register {
        peer: NodeId,
        session: u64,
        tx: mpsc::Sender<Outbound>,
    },
    Unregister {
        peer: NodeId,
        session: u64,
    },
    Gossip {
        from: NodeId,
        gossip: Gossip,
        payload: Bytes,
    },
    Broadcast {
        text: String,
        done: oneshot::Sender<Gossip>,
    },
    PingAnswered,
    PongReceived(Duration),
    PingTimedOut,
    Dropped,
    Stats(oneshot::Sender<DemoStats>),
}

struct Inner {
    config: DemoConfig,
    commands: mpsc::Sender<Command>,
    deliveries: broadcast::Sender<Delivery>,
    shutdown: CancellationToken,
    next_session: std::sync::atomic::AtomicU64,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Handle to a node's demo protocol service; see the module docs.
#[derive(Clone)]
pub struct Demo {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("local_id", &self.inner.config.local_id)
            .field("network_id", &self.inner.config.network_id)
            .finish_non_exhaustive()
    }
}

impl Demo {
    /// Starts the service task. Must be called inside a Tokio runtime. The
    /// task ends on [`Demo::shutdown`] or when the last handle is dropped.
    pub fn new(mut config: DemoConfig) -> Demo {
        if config.name.len() > MAX_NAME_LEN {
            let mut cut = MAX_NAME_LEN;
            while !config.name.is_char_boundary(cut) {
                cut -= 1;
            }
            config.name.truncate(cut);
        }
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (deliveries, _) = broadcast::channel(DELIVERY_QUEUE);
        let shutdown = CancellationToken::new();
        let state = State::new(config.local_id, deliveries.clone());
        let task = tokio::spawn(state.run(rx, shutdown.clone()));
        Demo {
            inner: Arc::new(Inner {
                config,
                commands: tx,
                deliveries,
                shutdown,
                next_session: std::sync::atomic::AtomicU64::new(0),
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.inner.config.local_id
    }

    /// The [`Protocol`] to register with a server: runs
    /// [`run_session`](Self::run_session) for every peer sharing `demo/1`.
    pub fn protocol(&self) -> Protocol {
        let demo = self.clone();
        Protocol::new(
            PROTOCOL_NAME,
            PROTOCOL_VERSION,
            PROTOCOL_LENGTH,
            move |peer: Peer, rw: ProtoRw| {
                let demo = demo.clone();
                async move {
                    let (reader, writer) = rw.split();
                    demo.run_session(peer.id(), reader, writer).await
                }
            },
        )
    }

    /// Broadcasts `text` (cut to [`MAX_TEXT_LEN`] bytes) to every peer as a
    /// new gossip message from this node; returns the message.
    pub async fn broadcast(&self, text: impl Into<String>) -> Result<Gossip, DemoError> {
        let mut text = text.into();
        if text.len() > MAX_TEXT_LEN {
            let mut cut = MAX_TEXT_LEN;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let (done, rx) = oneshot::channel();
        self.command(Command::Broadcast { text, done }).await?;
        rx.await.map_err(|_| DemoError::Stopped)
    }

    /// The current counters.
    pub async fn stats(&self) -> Result<DemoStats, DemoError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Stats(tx)).await?;
        rx.await.map_err(|_| DemoError::Stopped)
    }

    /// Deliveries from now on. A subscriber more than [`DELIVERY_QUEUE`]
    /// deliveries behind loses the oldest ones (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.inner.deliveries.subscribe()
    }

    /// Stops the service task and every session (they return `Ok`, which
    /// disconnects their peers with `Quitting`); waits for the task to end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn command(&self, cmd: Command) -> Result<(), DemoError> {
        self.inner
            .commands
            .send(cmd)
            .await
            .map_err(|_| DemoError::Stopped)
    }

    /// Runs the protocol with one peer until it disconnects, misbehaves or
    /// the service shuts down. `reader` and `writer` are the peer's message
    /// window (for a server peer, the halves of its `ProtoRw`; in tests, two
    /// [`MsgPipe`](devp2p::MsgPipe) ends, one per direction).
    pub async fn run_session<R: MsgReader, W: MsgWriter>(
        &self,
        peer: NodeId,
        mut reader: R,
        writer: W,
    ) -> Result<(), ProtocolError> {
        let status = self.handshake(&mut reader, &writer).await?;
        tracing::debug!(target: TARGET, %peer, name = %status.name, "demo session up");

        let session = self
            .inner
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        self.command(Command::Register {
            peer,
            session,
            tx: tx.clone(),
        })
        .await
        .map_err(|_| ProtocolError::Disconnect(DiscReason::Quitting))?;

        let tracker: RequestTracker<Instant> = RequestTracker::new(PING_TIMEOUT);
        let result = tokio::select! {
            _ = self.inner.shutdown.cancelled() => Ok(()),
            r = self.read_loop(peer, &mut reader, &tx, &tracker) => r,
            r = write_loop(&writer, rx) => r,
            r = self.ping_loop(&tx, &tracker) => r,
        };
        tracker.clear();
        // Best effort: if the state task is gone there is nothing to unregister.
        let _ = self.command(Command::Unregister { peer, session }).await;
        result
    }

    /// Sends our Status while reading theirs; checks version and network.
    async fn handshake<R: MsgReader, W: MsgWriter>(
        &self,
        reader: &mut R,
        writer: &W,
    ) -> Result<Status, ProtocolError> {
        let ours = Status {
            version: u64::from(PROTOCOL_VERSION),
            network_id: self.inner.config.network_id,
            name: self.inner.config.name.clone(),
        };
        let exchange = async { tokio::join!(send(writer, STATUS_MSG, &ours), reader.read_msg()) };
        let (sent, received) = tokio::time::timeout(STATUS_TIMEOUT, exchange)
            .await
            .map_err(|_| ProtocolError::Disconnect(DiscReason::ReadTimeout))?;
        sent?;
        let msg = received?;
        if msg.code != STATUS_MSG {
            return Err(ProtocolError::Breach(format!(
                "first message has code {}, want status",
                msg.code
            )));
        }
        let theirs = Status::decode(&msg.payload).map_err(breach)?;
        if theirs.version != ours.version || theirs.network_id != ours.network_id {
            return Err(ProtocolError::Disconnect(DiscReason::UselessPeer));
        }
        Ok(theirs)
    }

    async fn read_loop<R: MsgReader>(
        &self,
        peer: NodeId,
        reader: &mut R,
        tx: &mpsc::Sender<Outbound>,
        tracker: &RequestTracker<Instant>,
    ) -> Result<(), ProtocolError> {
        loop {
            let msg = reader.read_msg().await?;
            match msg.code {
                GOSSIP_MSG => {
                    let gossip = Gossip::decode(&msg.payload).map_err(breach)?;
                    self.command(Command::Gossip {
                        from: peer,
                        gossip,
                        payload: msg.payload,
                    })
                    .await
                    .map_err(|_| ProtocolError::Disconnect(DiscReason::Quitting))?;
                }
                PING_MSG => {
                    let id: u64 = msg.decode()?;
                    let pong = (PONG_MSG, Bytes::from(alloy_rlp::encode(id)));
                    let cmd = match tx.try_send(pong) {
                        Ok(()) => Command::PingAnswered,
                        Err(_) => Command::Dropped,
                    };
                    let _ = self.command(cmd).await;
                }
                PONG_MSG => {
                    let id: u64 = msg.decode()?;
                    // An unknown id is a Pong that arrived after its timeout: ignore it.
                    tracker.fulfil(id, Instant::now());
                }
                STATUS_MSG => return Err(ProtocolError::Breach("second status".into())),
                code => {
                    return Err(ProtocolError::Msg(MsgError::CodeOutOfRange {
                        code,
                        length: PROTOCOL_LENGTH,
                    }))
                }
            }
        }
    }

    async fn ping_loop(
        &self,
        tx: &mpsc::Sender<Outbound>,
        tracker: &RequestTracker<Instant>,
    ) -> Result<(), ProtocolError> {
        let mut interval = tokio::time::interval(PING_INTERVAL);
        for id in 0u64.. {
            interval.tick().await;
            let sent_at = Instant::now();
            let pending = tracker
                .track(id)
                .map_err(|e| ProtocolError::Other(Box::new(e)))?;
            if tx
                .try_send((PING_MSG, Bytes::from(alloy_rlp::encode(id))))
                .is_err()
            {
                continue; // queue full: skip this round
            }
            match pending.await {
                Ok(at) => {
                    let rtt = at.saturating_duration_since(sent_at);
                    let _ = self.command(Command::PongReceived(rtt)).await;
                }
                Err(TrackerError::Timeout) => {
                    // A busy peer is not necessarily a dead one: the RLPx
                    // layer's own ping detects dead connections.
                    tracing::debug!(target: TARGET, id, "demo ping timed out");
                    let _ = self.command(Command::PingTimedOut).await;
                }
                Err(e) => return Err(ProtocolError::Other(Box::new(e))),
            }
        }
        Ok(())
    }
}

fn breach(e: DemoError) -> ProtocolError {
    ProtocolError::Breach(e.to_string())
}

async fn write_loop<W: MsgWriter>(
    writer: &W,
    mut rx: mpsc::Receiver<Outbound>,
) -> Result<(), ProtocolError> {
    while let Some((code, payload)) = rx.recv().await {
        writer.write_msg(code, payload).await?;
    }
    // The state task dropped our queue: it is shutting down.
    Ok(())
}

/// Bounded set of message hashes; the oldest is forgotten first.
#[derive(Debug, Default)]
struct SeenSet {
    order: VecDeque<[u8; 32]>,
    set: HashSet<[u8; 32]>,
}

impl SeenSet {
    /// Inserts `hash`; false if it was already there.
    fn insert(&mut self, hash: [u8; 32]) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// The state owned by the service task.
struct State {
    local_id: NodeId,
    peers: HashMap<NodeId, (u64, mpsc::Sender<Outbound>)>,
    seen: SeenSet,
    recent: VecDeque<Bytes>,
    next_seq: u64,
    stats: DemoStats,
    deliveries: broadcast::Sender<Delivery>,
}

impl State {
    fn new(local_id: NodeId, deliveries: broadcast::Sender<Delivery>) -> Self {
        State {
            local_id,
            peers: HashMap::new(),
            seen: SeenSet::default(),
            recent: VecDeque::new(),
            next_seq: 0,
            stats: DemoStats::default(),
            deliveries,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        loop {
            let cmd = tokio::select! {
                _ = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => break,
                },
            };
            self.handle(cmd);
        }
        // Dropping the peer queues ends every session's writer.
        self.peers.clear();
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Register { peer, session, tx } => {
                for payload in &self.recent {
                    if tx.try_send((GOSSIP_MSG, payload.clone())).is_err() {
                        self.stats.dropped += 1;
                    }
                }
                self.peers.insert(peer, (session, tx));
            }
            Command::Unregister { peer, session } => {
                if self.peers.get(&peer).is_some_and(|(s, _)| *s == session) {
                    self.peers.remove(&peer);
                }
            }
            Command::Gossip {
                from,
                gossip,
                payload,
            } => self.on_gossip(from, gossip, payload),
            Command::Broadcast { text, done } => {
                let gossip = Gossip {
                    origin: self.local_id,
                    seq: self.next_seq,
                    text,
                };
                self.next_seq += 1;
                let payload = gossip.encode();
                self.seen.insert(keccak256(&payload));
                self.remember(payload.clone());
                self.forward(None, &payload);
                self.stats.originated += 1;
                let _ = done.send(gossip);
            }
            Command::PingAnswered => self.stats.pings_answered += 1,
            Command::PongReceived(rtt) => {
                self.stats.pongs_received += 1;
                self.stats.last_rtt = Some(rtt);
            }
            Command::PingTimedOut => self.stats.ping_timeouts += 1,
            Command::Dropped => self.stats.dropped += 1,
            Command::Stats(tx) => {
                let mut stats = self.stats.clone();
                stats.peers = self.peers.len();
                let _ = tx.send(stats);
            }
        }
    }

    fn on_gossip(&mut self, from: NodeId, gossip: Gossip, payload: Bytes) {
        if !self.seen.insert(keccak256(&payload)) || gossip.origin == self.local_id {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.delivered += 1;
        let by_origin = &mut self.stats.delivered_by_origin;
        if by_origin.contains_key(&gossip.origin) || by_origin.len() < MAX_TRACKED_ORIGINS {
            *by_origin.entry(gossip.origin).or_insert(0) += 1;
        }
        self.remember(payload.clone());
        self.forward(Some(from), &payload);
        // No subscriber is fine.
        let _ = self.deliveries.send(Delivery { gossip, from });
    }

    fn remember(&mut self, payload: Bytes) {
        self.recent.push_back(payload);
        if self.recent.len() > RECENT_CAPACITY {
            self.recent.pop_front();
        }
    }

    /// Queues `payload` for every peer except `except`; full queues drop it.
    fn forward(&mut self, except: Option<NodeId>, payload: &Bytes) {
        for (id, (_, tx)) in &self.peers {
            if Some(*id) == except {
                continue;
            }
            if tx.try_send((GOSSIP_MSG, payload.clone())).is_err() {
                self.stats.dropped += 1;
            }
        }
    }
}
