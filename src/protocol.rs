//! User-facing protocol definitions: [`Cap`] (a capability advertised in Hello)
//! and [`Protocol`] (a sub-protocol implementation run once per peer), built
//! from a closure ([`Protocol::new`]) or from a shared [`ProtocolHandler`]
//! ([`Protocol::from_handler`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Serialize, Serializer};

use devp2p_discover::rlp_item::Item;

use crate::disc_reason::DiscReason;
use crate::message::MsgError;
use crate::node::NodeId;
use crate::peer::{Peer, ProtoRw, RateLimit};

/// Default number of inbound messages buffered per protocol before the
/// connection's reader waits for the protocol to read (go-ethereum buffers none;
/// a small buffer smooths bursts without unbounded memory).
pub const DEFAULT_READ_QUEUE: usize = 16;

/// Default number of outbound messages a protocol may have queued before
/// `write_msg` waits (and `try_write_msg` fails with `QueueFull`). Chosen so a
/// protocol can pipeline a batch of requests; memory is bounded by
/// queue × message size.
pub const DEFAULT_WRITE_QUEUE: usize = 64;

/// Default scheduling weight of a protocol in the per-peer fair writer.
pub const DEFAULT_WRITE_WEIGHT: u32 = 1;

/// A capability: a sub-protocol name and version, as listed in Hello.
///
/// RLP form `[name, version]`; displayed as `name/version` (e.g. `eth/68`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, alloy_rlp::RlpEncodable)]
pub struct Cap {
    /// Protocol name, e.g. `eth`.
    pub name: String,
    /// Protocol version.
    pub version: u32,
}

impl Cap {
    /// A capability.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Cap {
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl Serialize for Cap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl alloy_rlp::Decodable for Cap {
    /// `[name, version, ...]`; elements after the version are ignored
    /// (EIP-8 forward compatibility).
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let (item, rest) = Item::read(buf)?;
        let mut fields = item.list()?;
        let name_bytes = fields.next_bytes()?;
        let version = fields.next_decode()?;
        *buf = rest;
        // Liberal like go-ethereum (any bytes are a Go string): invalid UTF-8
        // is replaced, so such a capability simply never matches ours.
        Ok(Cap {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            version,
        })
    }
}

/// Why a protocol's `run` ended with an error. The peer is then disconnected
/// with [`ProtocolError::disconnect_reason`].
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Reading or writing a message failed (peer gone, bad message, ...).
    #[error(transparent)]
    Msg(#[from] MsgError),
    /// The protocol wants the peer disconnected with this specific reason.
    #[error("protocol requested disconnect: {0}")]
    Disconnect(DiscReason),
    /// The remote broke the sub-protocol's rules.
    #[error("sub-protocol breach: {0}")]
    Breach(String),
    /// Any other failure of the protocol implementation.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ProtocolError {
    /// The reason sent to the remote, following go-ethereum's
    /// `discReasonForError`: an explicit reason is used as is, an invalid
    /// message code is a `ProtocolError`, everything else `SubprotocolError`.
    pub fn disconnect_reason(&self) -> DiscReason {
        match self {
            ProtocolError::Disconnect(r) => *r,
            ProtocolError::Msg(MsgError::CodeOutOfRange { .. }) => DiscReason::ProtocolError,
            _ => DiscReason::SubprotocolError,
        }
    }
}

/// The future a protocol's `run` returns.
pub(crate) type RunFuture = BoxFuture<'static, Result<(), ProtocolError>>;
/// A protocol's `run` callback, stored type-erased.
pub(crate) type RunFn = Arc<dyn Fn(Peer, ProtoRw) -> RunFuture + Send + Sync>;
/// Callback giving protocol-specific node information (admin_nodeInfo).
pub(crate) type NodeInfoFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;
/// Callback giving protocol-specific information about one peer (admin_peers);
/// `None` means "handshake not finished" (shown as the string `"handshake"`).
pub(crate) type PeerInfoFn = Arc<dyn Fn(&NodeId) -> Option<serde_json::Value> + Send + Sync>;

/// A sub-protocol: what a peer runs for each capability it shares with us.
///
/// `run` is called once per connected peer that negotiated this capability,
/// with a [`Peer`] handle and the peer's [`ProtoRw`] for this protocol
/// (message codes `0..length`, offsets are handled for you). When `run`
/// returns the peer is disconnected: `Ok` → [`DiscReason::Quitting`], `Err(e)`
/// → [`ProtocolError::disconnect_reason`]; a panic → `SubprotocolError`.
#[derive(Clone)]
pub struct Protocol {
    /// Name, e.g. `eth`.
    pub name: String,
    /// Version, e.g. `68`.
    pub version: u32,
    /// Number of message codes the protocol uses.
    pub length: u64,
    /// Called once per peer; see the type docs.
    pub run: RunFn,
    /// Optional node information for admin_nodeInfo.
    pub node_info: Option<NodeInfoFn>,
    /// Optional per-peer information for admin_peers.
    pub peer_info: Option<PeerInfoFn>,
    /// Weight in the per-peer fair writer (bytes per round ∝ weight; ≥ 1).
    pub write_weight: u32,
    /// Inbound queue length (messages); see [`DEFAULT_READ_QUEUE`].
    pub read_queue: usize,
    /// Outbound queue length (messages); see [`DEFAULT_WRITE_QUEUE`].
    pub write_queue: usize,
    /// Inbound message budget per peer; `None` (the default): no limit.
    /// See [`Protocol::with_rate_limit`].
    pub rate_limit: Option<RateLimit>,
}

/// A protocol implementation as one shared value: its state lives in the
/// handler, which every peer's session borrows, so nothing is cloned per
/// peer (the closure form of [`Protocol::new`] clones its captures instead).
/// Register it with [`Protocol::from_handler`].
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use devp2p::{MsgReader, Peer, ProtoRw, Protocol, ProtocolError, ProtocolHandler};
///
/// /// Counts the messages all peers sent us.
/// #[derive(Default)]
/// struct Counter {
///     received: AtomicU64,
/// }
///
/// impl ProtocolHandler for Counter {
///     async fn run(&self, _peer: Peer, mut rw: ProtoRw) -> Result<(), ProtocolError> {
///         loop {
///             rw.read_msg().await?;
///             self.received.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let counter = Arc::new(Counter::default());
/// let protocol = Protocol::from_handler("count", 1, 1, counter.clone());
/// assert_eq!(protocol.cap().to_string(), "count/1");
/// ```
pub trait ProtocolHandler: Send + Sync + 'static {
    /// Runs the protocol with one peer, as a [`Protocol`]'s `run` closure
    /// does; what returning means is described there.
    fn run(
        &self,
        peer: Peer,
        rw: ProtoRw,
    ) -> impl Future<Output = Result<(), ProtocolError>> + Send;
}

impl Protocol {
    /// A protocol run by a shared `handler` (see [`ProtocolHandler`]), with
    /// default queues and weight and no info callbacks.
    pub fn from_handler<H: ProtocolHandler>(
        name: impl Into<String>,
        version: u32,
        length: u64,
        handler: Arc<H>,
    ) -> Self {
        Protocol::new(name, version, length, move |peer, rw| {
            let handler = handler.clone();
            async move { handler.run(peer, rw).await }
        })
    }

    /// A protocol with default queues and weight and no info callbacks.
    pub fn new<F, Fut>(name: impl Into<String>, version: u32, length: u64, run: F) -> Self
    where
        F: Fn(Peer, ProtoRw) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ProtocolError>> + Send + 'static,
    {
        Protocol {
            name: name.into(),
            version,
            length,
            run: Arc::new(move |peer, rw| run(peer, rw).boxed()),
            node_info: None,
            peer_info: None,
            write_weight: DEFAULT_WRITE_WEIGHT,
            read_queue: DEFAULT_READ_QUEUE,
            write_queue: DEFAULT_WRITE_QUEUE,
            rate_limit: None,
        }
    }

    /// Sets the admin_nodeInfo callback.
    pub fn with_node_info(
        mut self,
        f: impl Fn() -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.node_info = Some(Arc::new(f));
        self
    }

    /// Sets the admin_peers callback.
    pub fn with_peer_info(
        mut self,
        f: impl Fn(&NodeId) -> Option<serde_json::Value> + Send + Sync + 'static,
    ) -> Self {
        self.peer_info = Some(Arc::new(f));
        self
    }

    /// Sets the fair-writer weight (clamped to ≥ 1).
    pub fn with_write_weight(mut self, weight: u32) -> Self {
        self.write_weight = weight.max(1);
        self
    }

    /// Sets the inbound and outbound queue lengths (each clamped to ≥ 1).
    pub fn with_queues(mut self, read: usize, write: usize) -> Self {
        self.read_queue = read.max(1);
        self.write_queue = write.max(1);
        self
    }

    /// Sets the inbound message budget per peer: a peer sending more than
    /// `limit` allows is disconnected with `SubprotocolError`
    /// ([`PeerError::RateLimited`](crate::peer::PeerError::RateLimited)) and
    /// its reputation lowered by
    /// [`RATE_LIMIT_PENALTY`](crate::peer::RATE_LIMIT_PENALTY).
    ///
    /// ```
    /// use devp2p::{Protocol, RateLimit};
    /// # let p = Protocol::new("req", 1, 2, |_, _| async { Ok(()) });
    /// let p = p.with_rate_limit(RateLimit { msgs_per_s: 50, burst: 200 });
    /// assert_eq!(p.rate_limit.unwrap().msgs_per_s, 50);
    /// ```
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The capability this protocol advertises.
    pub fn cap(&self) -> Cap {
        Cap::new(self.name.clone(), self.version)
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protocol")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("length", &self.length)
            .field("write_weight", &self.write_weight)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_rlp_and_display() {
        let c = Cap::new("eth", 68);
        assert_eq!(c.to_string(), "eth/68");
        let enc = alloy_rlp::encode(&c);
        assert_eq!(&enc[..], &[0xc5, 0x83, b'e', b't', b'h', 0x44]);
        assert_eq!(alloy_rlp::decode_exact::<Cap>(&enc).unwrap(), c);
        assert!(alloy_rlp::decode_exact::<Cap>([0xc1, 0x80]).is_err());
        // Extra elements are ignored.
        let extra = [0xc6, 0x83, b'e', b't', b'h', 0x44, 0x01];
        assert_eq!(alloy_rlp::decode_exact::<Cap>(extra).unwrap(), c);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"eth/68\"");
    }

    #[test]
    fn error_reasons_follow_geth() {
        assert_eq!(
            ProtocolError::Breach("x".into()).disconnect_reason(),
            DiscReason::SubprotocolError
        );
        assert_eq!(
            ProtocolError::Disconnect(DiscReason::TooManyPeers).disconnect_reason(),
            DiscReason::TooManyPeers
        );
        assert_eq!(
            ProtocolError::Msg(MsgError::CodeOutOfRange { code: 9, length: 2 }).disconnect_reason(),
            DiscReason::ProtocolError
        );
    }
}
