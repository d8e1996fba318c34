//! Errors of the discv5 wrapper.

use std::net::SocketAddr;

use crate::node::EnrError;

/// What went wrong starting or using discv5.
#[derive(Debug, thiserror::Error)]
pub enum Discv5Error {
    /// Binding or configuring the UDP socket failed (address in use, no
    /// such interface, ...).
    #[error("cannot bind UDP socket {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The node key is not the key of the `LocalNode` given with it.
    #[error("node key does not match the local node record")]
    KeyMismatch,
    /// The node key could not be turned into a discv5 signing key (never
    /// for a valid secp256k1 key).
    #[error("node key rejected by the discv5 crate: {0}")]
    Key(String),
    /// A record could not be converted between our ENR type and the discv5
    /// crate's (its RLP did not decode on the other side).
    #[error("record conversion failed: {0}")]
    Record(String),
    /// One of our records was rejected on the way out of discv5.
    #[error("record from discv5 rejected: {0}")]
    Enr(#[from] EnrError),
    /// The discv5 crate refused to start (socket setup).
    #[error("discv5 failed to start: {0}")]
    Start(String),
    /// The discv5 crate refused a record for the routing table (no UDP
    /// endpoint, table full, ...).
    #[error("record not added to the discv5 table: {0}")]
    AddRecord(&'static str),
    /// A request to a node failed (timeout, no session, bad response).
    #[error("discv5 request failed: {0}")]
    Request(String),
    /// The peer answered a record request with no record.
    #[error("node returned no record")]
    NoRecord,
    /// The service was shut down.
    #[error("discv5 service stopped")]
    Stopped,
}
