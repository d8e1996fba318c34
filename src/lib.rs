//! devp2p: an Ethereum devp2p networking stack.
//!
//! ```
//! use devp2p::node::NodeId;
//! let id: NodeId = "00".repeat(64).parse().unwrap();
//! assert!(id.is_zero());
//! ```
#![warn(missing_docs)]

pub use devp2p_discover::node;

pub mod banlist;
pub mod config;
pub mod config_file;
pub mod demo;
pub mod dial;
pub mod disc_reason;
pub mod event;
pub mod message;
pub mod metrics;
pub mod peer;
pub mod protocol;
pub mod rlpx;
pub mod server;
pub mod tracker;

#[cfg(test)]
mod test_vectors;

pub use config::{Config, ConfigError, Dialer, TcpDialer};
pub use disc_reason::DiscReason;
pub use event::{PeerEvent, PeerEventKind};
pub use message::{
    expect_items, expect_msg, msg_pipe, send, send_items, Msg, MsgError, MsgPipe, MsgReadWriter,
    MsgReader, MsgWriter,
};
pub use peer::{
    exchange_hello, spawn_peer, Hello, Peer, PeerError, PeerExit, PeerInfo, PeerSetup, PeerStats,
    ProtoReader, ProtoRw, ProtoWriter,
};
pub use protocol::{Cap, Protocol, ProtocolError};
pub use server::{NodeInfo, Server, ServerError};
pub use tracker::{RequestTracker, TrackerError};
