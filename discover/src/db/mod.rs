//! The persistent node database: what discovery remembers across restarts.
//!
//! With the default-on `node-db` feature it is built on [redb](https://docs.rs/redb), an embedded,
//! crash-safe (copy-on-write, checksummed commits) key-value store in pure
//! Rust. It was chosen over sled (unmaintained)
//! and RocksDB/LevelDB bindings (a C++ build and a large dependency) because a
//! discovery database is small (thousands of entries) and needs atomic commits
//! more than throughput; a `kill -9` in the middle of a write leaves the last
//! committed state readable (tested with a child process).
//!
//! What is stored (modelled on go-ethereum's `p2p/enode/nodedb.go`):
//! - node records (ENR, RLP-encoded, at most [`MAX_RECORD_SIZE`] bytes) by node ID;
//! - per (node ID, IP): last ping received, last pong received, failed FindNode count;
//! - the sequence number of our own record, per local node ID;
//! - the Server's ban list (expiry per node) and reputation scores;
//! - the peers the Server was connected to ([`PeerHistory`], bounded by
//!   [`MAX_REMEMBERED_PEERS`]), dialed first at the next start.
//!
//! Without the `node-db` feature redb is not compiled: [`NodeDb`] keeps the
//! same tables in memory (ordered maps behind a mutex, same API and limits),
//! and [`NodeDb::open`] fails with [`NodeDbError::NoPersistence`]. Nothing
//! survives a restart then.
//!
//! Times are UNIX seconds passed in by the caller, so tests control the clock.
//! Liveness timestamps are committed without fsync (redb's `Durability::None`): losing
//! the last few seconds of them in a crash is harmless, and discovery updates
//! them on every packet. Peer memory is written the same way. Everything
//! else is committed durably.
//!
//! ```
//! use devp2p_discover::db::NodeDb;
//! use devp2p_discover::node::NodeId;
//! let db = NodeDb::in_memory().unwrap();
//! let id = NodeId([1u8; 64]);
//! db.store_local_seq(&id, 7).unwrap();
//! assert_eq!(db.local_seq(&id).unwrap(), Some(7));
//! ```

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::node::{NodeId, NODE_ID_LEN};

#[cfg(not(feature = "node-db"))]
mod memory_store;
mod peers;
#[cfg(test)]
mod peers_tests;
#[cfg(feature = "node-db")]
mod redb_store;
#[cfg(test)]
mod tests;

#[cfg(not(feature = "node-db"))]
pub use memory_store::NodeDb;
pub use peers::{
    FailureKind, PeerHistory, PeerHistoryError, MAX_REMEMBERED_PEERS, MAX_REMEMBERED_PEER_FAILURES,
    PEER_ENTRY_SIZE, PEER_EVICTION_BATCH, PEER_HISTORY_MAX_AGE,
};
#[cfg(feature = "node-db")]
pub use redb_store::NodeDb;

/// Largest node record we store, in bytes: EIP-778's limit on an encoded record.
pub const MAX_RECORD_SIZE: usize = 300;

/// Entries whose last pong is older than this are removed by [`NodeDb::expire_nodes`]
/// (go-ethereum `dbNodeExpiration`: 24 hours).
pub const NODE_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Default maximum age of the nodes returned as seeds at start-up
/// (go-ethereum `seedMaxAge`: 5 days).
pub const SEED_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 60 * 60);

/// Default number of seeds queried at start-up (go-ethereum `seedCount`: 30).
pub const SEED_COUNT: usize = 30;

/// Random probes per requested seed in [`NodeDb::query_seeds`]; go-ethereum
/// bounds its seek loop the same way (`n * 5` iterations).
const SEED_PROBES_PER_NODE: usize = 5;

/// Length of a per-(node, IP) key: the 64-byte ID and the IP as 16 bytes
/// (IPv4 stored IPv4-mapped).
const NODE_IP_KEY_LEN: usize = NODE_ID_LEN + 16;

/// Errors of the node database.
#[derive(Debug, thiserror::Error)]
pub enum NodeDbError {
    /// The storage engine failed (I/O error, corruption it could not repair,
    /// database locked by another process).
    #[cfg(feature = "node-db")]
    #[error("node database: {0}")]
    Storage(#[from] redb::Error),
    /// A database file was asked for, but this build keeps the node
    /// database in memory only: enable the `node-db` feature (of
    /// `devp2p-discover`, or `devp2p-rs`) to store it in a file.
    #[error("node database file {path:?} needs the `node-db` feature (built without it)")]
    NoPersistence {
        /// The file that was asked for.
        path: std::path::PathBuf,
    },
    /// The parent directory of the database file could not be created.
    #[error("node database directory: {0}")]
    Directory(#[from] std::io::Error),
    /// A record larger than [`MAX_RECORD_SIZE`] was offered for storage.
    #[error("node record has {size} bytes, limit is {MAX_RECORD_SIZE}")]
    RecordTooLarge {
        /// Size of the rejected record.
        size: usize,
    },
}

/// Result alias of this module.
pub type Result<T, E = NodeDbError> = std::result::Result<T, E>;

/// Liveness facts about one (node, IP) pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Liveness {
    /// Last time a ping was received from the node at this IP (UNIX seconds, 0 = never).
    pub last_ping_received: u64,
    /// Last time a pong was received from the node at this IP (UNIX seconds, 0 = never).
    pub last_pong_received: u64,
    /// Number of consecutive FindNode failures.
    pub find_fails: u32,
}

/// The current time in UNIX seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn ip_key(id: &NodeId, ip: IpAddr) -> [u8; NODE_IP_KEY_LEN] {
    let mut key = [0u8; NODE_IP_KEY_LEN];
    key[..NODE_ID_LEN].copy_from_slice(id.as_bytes());
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    key[NODE_ID_LEN..].copy_from_slice(&v6.octets());
    key
}

/// The inclusive key range of every per-IP entry of `id`.
fn id_range(id: &NodeId) -> ([u8; NODE_IP_KEY_LEN], [u8; NODE_IP_KEY_LEN]) {
    let mut lo = [0u8; NODE_IP_KEY_LEN];
    lo[..NODE_ID_LEN].copy_from_slice(id.as_bytes());
    let mut hi = [0xffu8; NODE_IP_KEY_LEN];
    hi[..NODE_ID_LEN].copy_from_slice(id.as_bytes());
    (lo, hi)
}
