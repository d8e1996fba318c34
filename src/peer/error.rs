//! [`PeerError`]: everything that ends a peer connection, and the
//! disconnect reason each maps to.

use crate::disc_reason::DiscReason;
use crate::node::NodeId;
use crate::protocol::ProtocolError;

/// A transport error, type-erased (RLPx, TCP, or a test transport).
pub type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// Why the Hello exchange or a running peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The transport failed (I/O error, bad frame MAC, ...).
    #[error("transport error: {0}")]
    Transport(TransportError),
    /// The remote closed the connection without a Disconnect message.
    #[error("connection closed by remote")]
    ConnectionClosed,
    /// The Hello exchange did not finish within the handshake timeout.
    #[error("Hello exchange timed out")]
    HandshakeTimeout,
    /// Nothing was received within the read deadline.
    #[error("read timeout")]
    ReadTimeout,
    /// A write did not complete within the write deadline.
    #[error("write timeout")]
    WriteTimeout,
    /// The remote's Hello payload exceeded
    /// [`MAX_HELLO_SIZE`](super::MAX_HELLO_SIZE).
    #[error("Hello of {size} bytes exceeds the {max}-byte limit")]
    HelloTooLarge {
        /// Payload size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The first message was neither Hello nor Disconnect.
    #[error("expected Hello, got message code {0:#x}")]
    ExpectedHello(u64),
    /// The Hello payload is not valid RLP of the expected shape.
    #[error("malformed Hello: {0}")]
    MalformedHello(String),
    /// The Hello node id is not 64 bytes or is all zeros.
    #[error("invalid node identity: {0}")]
    InvalidIdentity(String),
    /// The Hello node id differs from the key RLPx authenticated.
    #[error("Hello id {got} differs from authenticated key {want}")]
    UnexpectedIdentity {
        /// Id in the Hello (boxed to keep the error small).
        got: Box<NodeId>,
        /// Id authenticated by the transport.
        want: Box<NodeId>,
    },
    /// The remote sent Disconnect (before or after Hello).
    #[error("remote disconnected: {0}")]
    RemoteDisconnect(DiscReason),
    /// We asked for the disconnect (`Peer::disconnect` or the server).
    #[error("disconnect requested locally: {0}")]
    LocalDisconnect(DiscReason),
    /// No capability shared with the remote.
    #[error("no shared capability")]
    UselessPeer,
    /// A message code beyond the negotiated range.
    #[error("message code {0:#x} out of negotiated range")]
    InvalidMsgCode(u64),
    /// A message frame or base-protocol payload was malformed.
    #[error("malformed message: {0}")]
    MalformedMsg(String),
    /// A snappy payload declared a decompressed size over the limit.
    #[error("message declares {size} decompressed bytes, over the {max}-byte limit")]
    MsgTooLarge {
        /// Declared size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A protocol's `run` returned an error.
    #[error("protocol {name} failed: {error}")]
    Protocol {
        /// Protocol name and version.
        name: String,
        /// What it returned.
        error: ProtocolError,
    },
    /// A protocol's `run` returned `Ok` (go-ethereum: "protocol returned").
    #[error("protocol {name} returned")]
    ProtocolReturned {
        /// Protocol name and version.
        name: String,
    },
    /// A protocol's `run` panicked.
    #[error("protocol {name} panicked")]
    ProtocolPanicked {
        /// Protocol name and version.
        name: String,
    },
    /// The remote sent a protocol more messages than its
    /// [`RateLimit`](super::RateLimit) allows (see
    /// [`Protocol::with_rate_limit`](crate::Protocol::with_rate_limit)).
    #[error("protocol {protocol} rate limit exceeded ({limit})")]
    RateLimited {
        /// Protocol name and version.
        protocol: String,
        /// The budget that was exceeded.
        limit: super::RateLimit,
    },
    /// A protocol did not take an inbound message within the read deadline.
    #[error("protocol {name} stopped reading")]
    ProtocolStalled {
        /// Protocol name and version.
        name: String,
    },
}

impl PeerError {
    /// The reason to send (or report) for this error.
    pub fn disconnect_reason(&self) -> DiscReason {
        use PeerError::*;
        match self {
            Transport(_) | ConnectionClosed | WriteTimeout => DiscReason::NetworkError,
            HandshakeTimeout | ReadTimeout => DiscReason::ReadTimeout,
            HelloTooLarge { .. }
            | ExpectedHello(_)
            | MalformedHello(_)
            | InvalidMsgCode(_)
            | MalformedMsg(_)
            | MsgTooLarge { .. } => DiscReason::ProtocolError,
            InvalidIdentity(_) => DiscReason::InvalidIdentity,
            UnexpectedIdentity { .. } => DiscReason::UnexpectedIdentity,
            RemoteDisconnect(r) | LocalDisconnect(r) => *r,
            UselessPeer => DiscReason::UselessPeer,
            Protocol { error, .. } => error.disconnect_reason(),
            ProtocolReturned { .. } => DiscReason::Quitting,
            ProtocolPanicked { .. } | ProtocolStalled { .. } => DiscReason::SubprotocolError,
            RateLimited { .. } => super::rate::RATE_LIMIT_REASON,
        }
    }

    /// Whether a Disconnect message should be attempted: not when the remote
    /// already sent one, nor when the connection itself is broken (go-ethereum
    /// skips it for `DiscNetworkError`).
    pub fn should_send_disconnect(&self) -> bool {
        !matches!(
            self,
            PeerError::RemoteDisconnect(_)
                | PeerError::Transport(_)
                | PeerError::ConnectionClosed
                | PeerError::WriteTimeout
        )
    }

    pub(crate) fn transport<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        PeerError::Transport(Box::new(e))
    }
}

impl From<std::io::Error> for PeerError {
    fn from(e: std::io::Error) -> Self {
        PeerError::Transport(Box::new(e))
    }
}
