//! The persistent node database: what discovery remembers across restarts.
//!
//! Built on [redb], an embedded, crash-safe (copy-on-write, checksummed
//! commits) key-value store in pure Rust. It was chosen over sled (unmaintained)
//! and RocksDB/LevelDB bindings (a C++ build and a large dependency) because a
//! discovery database is small (thousands of entries) and needs atomic commits
//! more than throughput; a `kill -9` in the middle of a write leaves the last
//! committed state readable (tested with a child process).
//!
//! What is stored (modelled on go-ethereum's `p2p/enode/nodedb.go`):
//! - node records (ENR, RLP-encoded, at most [`MAX_RECORD_SIZE`] bytes) by node ID;
//! - per (node ID, IP): last ping received, last pong received, failed FindNode count;
//! - the sequence number of our own record, per local node ID;
//! - the Server's ban list (expiry per node) and reputation scores.
//!
//! Times are UNIX seconds passed in by the caller, so tests control the clock.
//! Liveness timestamps are committed without fsync ([`Durability::None`]): losing
//! the last few seconds of them in a crash is harmless, and discovery updates
//! them on every packet. Everything else is committed durably.
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
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, RngExt};
use redb::backends::InMemoryBackend;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::node::{NodeId, NODE_ID_LEN};

#[cfg(test)]
mod tests;

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

/// Node ID → encoded record.
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nodes");
/// (node ID ‖ IP) → (last ping received, last pong received, find failures).
const NODE_IPS: TableDefinition<&[u8], (u64, u64, u32)> = TableDefinition::new("node_ips");
/// Local node ID → sequence number of our record.
const LOCAL_SEQ: TableDefinition<&[u8], u64> = TableDefinition::new("local_seq");
/// Banned node ID → ban expiry (UNIX seconds).
const BANS: TableDefinition<&[u8], u64> = TableDefinition::new("bans");
/// Node ID → reputation score.
const REPUTATION: TableDefinition<&[u8], i64> = TableDefinition::new("reputation");

/// Errors of the node database.
#[derive(Debug, thiserror::Error)]
pub enum NodeDbError {
    /// The storage engine failed (I/O error, corruption it could not repair,
    /// database locked by another process).
    #[error("node database: {0}")]
    Storage(#[from] redb::Error),
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

fn storage<E: Into<redb::Error>>(e: E) -> NodeDbError {
    NodeDbError::Storage(e.into())
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

impl Liveness {
    /// From a `NODE_IPS` row: (last ping, last pong, find failures).
    fn from_row((ping, pong, fails): (u64, u64, u32)) -> Self {
        Liveness {
            last_ping_received: ping,
            last_pong_received: pong,
            find_fails: fails,
        }
    }
}

/// A handle to the node database; cheap to clone, safe to share between tasks.
///
/// Calls block for the duration of a commit (an fsync for durable writes): call
/// them from a blocking context or accept the short stall, as discovery does for
/// its rare durable writes.
#[derive(Clone)]
pub struct NodeDb {
    db: Arc<Database>,
}

impl std::fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDb").finish_non_exhaustive()
    }
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

impl NodeDb {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::create(path).map_err(storage)?;
        Self::init(db)
    }

    /// A database that lives in memory only (used when no path is configured).
    pub fn in_memory() -> Result<Self> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(storage)?;
        Self::init(db)
    }

    /// [`NodeDb::open`] when a path is given, else [`NodeDb::in_memory`].
    pub fn open_or_memory(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::open(p),
            None => Self::in_memory(),
        }
    }

    fn init(db: Database) -> Result<Self> {
        // Create every table up front so readers never see "table does not exist".
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(NODES).map_err(storage)?;
            txn.open_table(NODE_IPS).map_err(storage)?;
            txn.open_table(LOCAL_SEQ).map_err(storage)?;
            txn.open_table(BANS).map_err(storage)?;
            txn.open_table(REPUTATION).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(NodeDb { db: Arc::new(db) })
    }

    /// Runs `f` in a write transaction and commits it with the given durability.
    fn write<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        if !durable {
            txn.set_durability(Durability::None).map_err(storage)?;
        }
        let out = f(&txn)?;
        txn.commit().map_err(storage)?;
        Ok(out)
    }

    fn read_table<K, V, T>(
        &self,
        table: TableDefinition<K, V>,
        f: impl FnOnce(&redb::ReadOnlyTable<K, V>) -> Result<T>,
    ) -> Result<T>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
    {
        let txn = self.db.begin_read().map_err(storage)?;
        let t = txn.open_table(table).map_err(storage)?;
        f(&t)
    }

    /// Stores the encoded record of a node (durably).
    pub fn put_node(&self, id: &NodeId, record: &[u8]) -> Result<()> {
        if record.len() > MAX_RECORD_SIZE {
            return Err(NodeDbError::RecordTooLarge { size: record.len() });
        }
        self.write(true, |txn| {
            let mut t = txn.open_table(NODES).map_err(storage)?;
            t.insert(id.as_bytes().as_slice(), record)
                .map_err(storage)?;
            Ok(())
        })
    }

    /// The stored record of a node.
    pub fn node(&self, id: &NodeId) -> Result<Option<Vec<u8>>> {
        self.read_table(NODES, |t| {
            Ok(t.get(id.as_bytes().as_slice())
                .map_err(storage)?
                .map(|v| v.value().to_vec()))
        })
    }

    /// Number of stored node records.
    pub fn node_count(&self) -> Result<u64> {
        self.read_table(NODES, |t| t.len().map_err(storage))
    }

    /// Deletes a node's record and all its per-IP entries.
    pub fn delete_node(&self, id: &NodeId) -> Result<()> {
        self.write(true, |txn| {
            txn.open_table(NODES)
                .map_err(storage)?
                .remove(id.as_bytes().as_slice())
                .map_err(storage)?;
            let mut ips = txn.open_table(NODE_IPS).map_err(storage)?;
            let (lo, hi) = id_range(id);
            ips.extract_from_if(lo.as_slice()..=hi.as_slice(), |_, _| true)
                .map_err(storage)?
                .for_each(drop);
            Ok(())
        })
    }

    /// Liveness facts of (node, IP); all zero when nothing is known.
    pub fn liveness(&self, id: &NodeId, ip: IpAddr) -> Result<Liveness> {
        let key = ip_key(id, ip);
        self.read_table(NODE_IPS, |t| {
            Ok(t.get(key.as_slice())
                .map_err(storage)?
                .map(|v| Liveness::from_row(v.value()))
                .unwrap_or_default())
        })
    }

    fn update_liveness(
        &self,
        id: &NodeId,
        ip: IpAddr,
        change: impl FnOnce(&mut Liveness),
    ) -> Result<()> {
        let key = ip_key(id, ip);
        self.write(false, |txn| {
            let mut t = txn.open_table(NODE_IPS).map_err(storage)?;
            let mut l = t
                .get(key.as_slice())
                .map_err(storage)?
                .map(|v| Liveness::from_row(v.value()))
                .unwrap_or_default();
            change(&mut l);
            t.insert(
                key.as_slice(),
                (l.last_ping_received, l.last_pong_received, l.find_fails),
            )
            .map_err(storage)?;
            Ok(())
        })
    }

    /// Records that a ping from (node, IP) arrived at `unix_secs`.
    pub fn update_last_ping_received(&self, id: &NodeId, ip: IpAddr, unix_secs: u64) -> Result<()> {
        self.update_liveness(id, ip, |l| l.last_ping_received = unix_secs)
    }

    /// Records that a pong from (node, IP) arrived at `unix_secs`: the endpoint proof.
    pub fn update_last_pong_received(&self, id: &NodeId, ip: IpAddr, unix_secs: u64) -> Result<()> {
        self.update_liveness(id, ip, |l| l.last_pong_received = unix_secs)
    }

    /// Sets the FindNode failure count of (node, IP).
    pub fn update_find_fails(&self, id: &NodeId, ip: IpAddr, fails: u32) -> Result<()> {
        self.update_liveness(id, ip, |l| l.find_fails = fails)
    }

    /// The stored sequence number of our own record, for local node `id`.
    pub fn local_seq(&self, id: &NodeId) -> Result<Option<u64>> {
        self.read_table(LOCAL_SEQ, |t| {
            Ok(t.get(id.as_bytes().as_slice())
                .map_err(storage)?
                .map(|v| v.value()))
        })
    }

    /// Stores the sequence number of our own record (durably).
    pub fn store_local_seq(&self, id: &NodeId, seq: u64) -> Result<()> {
        self.write(true, |txn| {
            let mut t = txn.open_table(LOCAL_SEQ).map_err(storage)?;
            t.insert(id.as_bytes().as_slice(), seq).map_err(storage)?;
            Ok(())
        })
    }

    /// Up to `n` random nodes with a record whose last pong (at any IP) is
    /// no older than `max_age` at `now` (UNIX seconds): the seeds that fill the
    /// table at start-up. Probes at most `n * 5` random positions.
    pub fn query_seeds<R: Rng + ?Sized>(
        &self,
        n: usize,
        max_age: Duration,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<(NodeId, Vec<u8>)>> {
        let cutoff = now.saturating_sub(max_age.as_secs());
        let txn = self.db.begin_read().map_err(storage)?;
        let nodes = txn.open_table(NODES).map_err(storage)?;
        let ips = txn.open_table(NODE_IPS).map_err(storage)?;
        let mut out: Vec<(NodeId, Vec<u8>)> = Vec::with_capacity(n.min(SEED_COUNT * 4));
        for _ in 0..n.saturating_mul(SEED_PROBES_PER_NODE) {
            if out.len() >= n {
                break;
            }
            let mut probe = [0u8; NODE_ID_LEN];
            rng.fill(&mut probe[..]);
            let mut it = nodes.range(probe.as_slice()..).map_err(storage)?;
            let entry = match it.next() {
                Some(e) => Some(e.map_err(storage)?),
                // Wrap around to the first entry.
                None => nodes.first().map_err(storage)?,
            };
            let Some((k, v)) = entry else { break };
            let Ok(id) = NodeId::from_slice(k.value()) else {
                continue;
            };
            if out.iter().any(|(seen, _)| *seen == id) {
                continue;
            }
            let (lo, hi) = id_range(&id);
            let mut fresh = false;
            for e in ips.range(lo.as_slice()..=hi.as_slice()).map_err(storage)? {
                let (_, val) = e.map_err(storage)?;
                if val.value().1 >= cutoff && val.value().1 != 0 {
                    fresh = true;
                    break;
                }
            }
            if fresh {
                out.push((id, v.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// Deletes per-IP entries whose last pong is older than [`NODE_EXPIRATION`]
    /// at `now`, and node records left without any fresh entry, except the
    /// records of `keep` (our own node). Returns the number of nodes removed.
    pub fn expire_nodes(&self, now: u64, keep: &NodeId) -> Result<usize> {
        let cutoff = now.saturating_sub(NODE_EXPIRATION.as_secs());
        self.write(true, |txn| {
            let mut ips = txn.open_table(NODE_IPS).map_err(storage)?;
            ips.extract_from_if::<&[u8], _>(.., |_, v| v.1 < cutoff)
                .map_err(storage)?
                .for_each(drop);
            let mut nodes = txn.open_table(NODES).map_err(storage)?;
            let mut stale = Vec::new();
            for e in nodes.iter().map_err(storage)? {
                let (k, _) = e.map_err(storage)?;
                let Ok(id) = NodeId::from_slice(k.value()) else {
                    stale.push(k.value().to_vec());
                    continue;
                };
                if id == *keep {
                    continue;
                }
                let (lo, hi) = id_range(&id);
                if ips
                    .range(lo.as_slice()..=hi.as_slice())
                    .map_err(storage)?
                    .next()
                    .is_none()
                {
                    stale.push(k.value().to_vec());
                }
            }
            for k in &stale {
                nodes.remove(k.as_slice()).map_err(storage)?;
            }
            Ok(stale.len())
        })
    }

    /// Bans `id` until `until_unix` (durably).
    pub fn put_ban(&self, id: &NodeId, until_unix: u64) -> Result<()> {
        self.write(true, |txn| {
            let mut t = txn.open_table(BANS).map_err(storage)?;
            t.insert(id.as_bytes().as_slice(), until_unix)
                .map_err(storage)?;
            Ok(())
        })
    }

    /// Lifts the ban on `id`.
    pub fn remove_ban(&self, id: &NodeId) -> Result<()> {
        self.write(true, |txn| {
            let mut t = txn.open_table(BANS).map_err(storage)?;
            t.remove(id.as_bytes().as_slice()).map_err(storage)?;
            Ok(())
        })
    }

    /// Every ban still in force at `now`, as (node, expiry); expired bans are skipped.
    pub fn bans(&self, now: u64) -> Result<Vec<(NodeId, u64)>> {
        self.read_table(BANS, |t| {
            let mut out = Vec::new();
            for e in t.iter().map_err(storage)? {
                let (k, v) = e.map_err(storage)?;
                if let (Ok(id), until) = (NodeId::from_slice(k.value()), v.value()) {
                    if until > now {
                        out.push((id, until));
                    }
                }
            }
            Ok(out)
        })
    }

    /// Stores the reputation score of `id`.
    pub fn put_reputation(&self, id: &NodeId, score: i64) -> Result<()> {
        self.write(false, |txn| {
            let mut t = txn.open_table(REPUTATION).map_err(storage)?;
            t.insert(id.as_bytes().as_slice(), score).map_err(storage)?;
            Ok(())
        })
    }

    /// Forgets the reputation score of `id` (back to neutral).
    pub fn remove_reputation(&self, id: &NodeId) -> Result<()> {
        self.write(false, |txn| {
            let mut t = txn.open_table(REPUTATION).map_err(storage)?;
            t.remove(id.as_bytes().as_slice()).map_err(storage)?;
            Ok(())
        })
    }

    /// Every stored reputation score.
    pub fn reputations(&self) -> Result<Vec<(NodeId, i64)>> {
        self.read_table(REPUTATION, |t| {
            let mut out = Vec::new();
            for e in t.iter().map_err(storage)? {
                let (k, v) = e.map_err(storage)?;
                if let Ok(id) = NodeId::from_slice(k.value()) {
                    out.push((id, v.value()));
                }
            }
            Ok(out)
        })
    }

    /// Commits an empty durable transaction, making every earlier non-durable
    /// write (liveness timestamps, reputation) persistent. Call on shutdown.
    pub fn flush(&self) -> Result<()> {
        self.write(true, |_| Ok(()))
    }
}

/// The inclusive key range of every per-IP entry of `id`.
fn id_range(id: &NodeId) -> ([u8; NODE_IP_KEY_LEN], [u8; NODE_IP_KEY_LEN]) {
    let mut lo = [0u8; NODE_IP_KEY_LEN];
    lo[..NODE_ID_LEN].copy_from_slice(id.as_bytes());
    let mut hi = [0xffu8; NODE_IP_KEY_LEN];
    hi[..NODE_ID_LEN].copy_from_slice(id.as_bytes());
    (lo, hi)
}
