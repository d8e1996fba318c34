//! One connected peer: the devp2p base protocol ("p2p" v5) on top of any
//! message transport, and the sub-protocols it multiplexes.
//!
//! Flow, one type per stage (see [`HelloDone`]): the server authenticates a
//! connection (RLPx), exchanges Hellos ([`HelloDone::exchange`]), matches
//! protocols ([`HelloDone::negotiate`]), checks admission (too many peers,
//! already connected, ...) and starts the peer ([`NegotiatedConn::spawn`]).
//! The spawned peer task calls every protocol's `run` and owns a reader task, a
//! writer task (fair scheduling across protocols, pings every 15 s) and one
//! task per negotiated protocol `run`. On an idle connection a protocol
//! writes its message to the transport itself, without the writer task
//! (see [`ProtoWriter`]). It ends when any of them fails, a
//! protocol returns, the remote disconnects or [`Peer::disconnect`] is called;
//! then every task has ended or been aborted, the messages protocols had
//! queued have been written (1 s deadline), a Disconnect has been attempted
//! after them (1 s deadline) and the Drop event has been published.
//!
//! The transport is any `Stream<Item = Result<BytesMut, E>> + Sink<Bytes,
//! Error = E>` where one item is one message `rlp(code) || payload`
//! (the RLPx stream; an in-memory channel in tests). Snappy compression after
//! Hello is done here, not in the transport.

mod bandwidth;
mod base;
mod caps;
mod error;
mod handle;
mod hello;
mod hexdump;
mod mux;
mod outbound;
mod payload_pool;
mod rate;
mod reputation;
mod stage;
mod task;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use bandwidth::{
    Bandwidth, BandwidthError, BandwidthLimits, PeerBandwidth, DEFAULT_BURST_SECS, MIN_BANDWIDTH,
    MIN_BURST,
};
pub use base::{
    DISCONNECT_MSG, DISC_WRITE_TIMEOUT, FINAL_FLUSH_TIMEOUT, FRAME_READ_TIMEOUT,
    FRAME_WRITE_TIMEOUT, HELLO_MSG, PING_INTERVAL, PING_MSG, PONG_BURST, PONG_MSG,
    PONG_REFILL_INTERVAL,
};
// The base protocol's framing, public so tools can speak it over an
// `RlpxStream` (as `devp2p rlpx ping` does).
pub use base::{encode_frame, split_frame};
// Decoders only fuzz targets and benches call directly (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use base::{decode_disconnect, decompress};
pub use caps::{match_protocols, Negotiated, BASE_PROTOCOL_LENGTH};
pub use error::{PeerError, TransportError};
pub use handle::{Peer, PeerInfo, PeerNetworkInfo, PeerStats, ProtocolStats, TrafficStats};
pub use hello::{
    exchange_hello, Hello, BASE_PROTOCOL_VERSION, HELLO_TIMEOUT, MAX_HELLO_SIZE,
    SNAPPY_PROTOCOL_VERSION,
};
pub use hexdump::{HEXDUMP_BYTES, HEXDUMP_TARGET};
pub use mux::{ProtoReader, ProtoRw, ProtoWriter, WRITE_QUANTUM};
pub use rate::{RateLimit, RATE_LIMIT_PENALTY};
pub use reputation::{ReputationSink, REPUTATION_QUEUE};
pub use stage::{refuse_before_hello, HelloDone, NegotiatedConn};

use crate::disc_reason::DiscReason;
use crate::metrics::TrafficSink;
use crate::node::NodeId;

/// Tracing target of this layer. Every task of a peer runs inside a `peer`
/// span carrying its `id`, so filtering by one peer shows its whole story.
pub(crate) const TARGET: &str = "p2p::peer";

/// What the server knows about a connection when it hands it to the peer
/// layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSetup {
    /// The remote node id (authenticated by RLPx, equal to the Hello id).
    pub id: NodeId,
    /// Remote endpoint.
    pub remote_addr: SocketAddr,
    /// Local endpoint.
    pub local_addr: SocketAddr,
    /// Whether the remote dialed us.
    pub inbound: bool,
    /// Whether the peer is trusted (bypasses peer limits).
    pub trusted: bool,
    /// Whether we dialed it as a static node.
    pub static_dial: bool,
    /// Whether to publish MsgSend/MsgRecv events for this peer.
    pub enable_msg_events: bool,
    /// Where [`Peer::adjust_reputation`] sends its reports.
    pub reputation: ReputationSink,
    /// The server's traffic table, bumped per sub-protocol message.
    pub traffic: TrafficSink,
    /// Bandwidth caps of this peer (default: none); see [`Bandwidth::peer`].
    pub bandwidth: PeerBandwidth,
}

impl PeerSetup {
    /// A setup with every flag off and no server attached.
    pub fn new(id: NodeId, remote_addr: SocketAddr, local_addr: SocketAddr, inbound: bool) -> Self {
        PeerSetup {
            id,
            remote_addr,
            local_addr,
            inbound,
            trusted: false,
            static_dial: false,
            enable_msg_events: false,
            reputation: ReputationSink::default(),
            traffic: TrafficSink::default(),
            bandwidth: PeerBandwidth::default(),
        }
    }
}

/// How a peer ended (the output of the task [`NegotiatedConn::spawn`] returns).
#[derive(Debug)]
pub struct PeerExit {
    /// The disconnect reason (sent to the remote, or received from it).
    pub reason: DiscReason,
    /// What ended the peer, unless it was a plain local `disconnect`.
    pub error: Option<PeerError>,
    /// Whether the remote sent the Disconnect.
    pub remote_requested: bool,
}
