//! The redb backend of [`NodeDb`] (feature `node-db`): one table per kind of
//! fact, keys are node IDs (or ID ‖ IP), commits durable or not as each
//! method says.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, RngExt};
use redb::backends::InMemoryBackend;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use super::{
    id_range, ip_key, Liveness, NodeDbError, Result, MAX_RECORD_SIZE, NODE_EXPIRATION,
    PEER_ENTRY_SIZE, SEED_COUNT, SEED_PROBES_PER_NODE,
};
use crate::node::{NodeId, NODE_ID_LEN};

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

/// Node ID → encoded [`PeerHistory`](super::PeerHistory) (see `peers.rs`).
const PEERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("peers");

/// A [`Liveness`] from a `NODE_IPS` row: (last ping, last pong, find failures).
fn liveness_from_row((ping, pong, fails): (u64, u64, u32)) -> Liveness {
    Liveness {
        last_ping_received: ping,
        last_pong_received: pong,
        find_fails: fails,
    }
}

fn storage<E: Into<redb::Error>>(e: E) -> NodeDbError {
    NodeDbError::Storage(e.into())
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
            txn.open_table(PEERS).map_err(storage)?;
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
                .map(|v| liveness_from_row(v.value()))
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
                .map(|v| liveness_from_row(v.value()))
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

    /// The encoded peer entry of `id` (`peers.rs`); an entry longer than
    /// [`PEER_ENTRY_SIZE`] is not copied and reads as absent.
    pub(super) fn peer_entry(&self, id: &NodeId) -> Result<Option<Vec<u8>>> {
        self.read_table(PEERS, |t| {
            Ok(t.get(id.as_bytes().as_slice())
                .map_err(storage)?
                .and_then(|v| {
                    let v = v.value();
                    (v.len() <= PEER_ENTRY_SIZE).then(|| v.to_vec())
                }))
        })
    }

    /// Stores an encoded peer entry (without fsync: made durable by the
    /// next durable commit, at the latest [`NodeDb::flush`]).
    pub(super) fn put_peer_entry(&self, id: &NodeId, entry: &[u8]) -> Result<()> {
        self.write(false, |txn| {
            let mut t = txn.open_table(PEERS).map_err(storage)?;
            t.insert(id.as_bytes().as_slice(), entry).map_err(storage)?;
            Ok(())
        })
    }

    /// Deletes the peer entries of `ids` (one commit, without fsync).
    pub(super) fn remove_peer_entries(&self, ids: &[NodeId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(false, |txn| {
            let mut t = txn.open_table(PEERS).map_err(storage)?;
            for id in ids {
                t.remove(id.as_bytes().as_slice()).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// Number of peer entries.
    pub(super) fn peer_entry_count(&self) -> Result<u64> {
        self.read_table(PEERS, |t| t.len().map_err(storage))
    }

    /// Up to `limit` peer entries in ID order; entries under a malformed
    /// key are skipped, longer than [`PEER_ENTRY_SIZE`] given empty
    /// (unreadable, so dropped when the table is trimmed).
    pub(super) fn peer_entries(&self, limit: usize) -> Result<Vec<(NodeId, Vec<u8>)>> {
        self.read_table(PEERS, |t| {
            let mut out = Vec::new();
            for e in t.iter().map_err(storage)?.take(limit) {
                let (k, v) = e.map_err(storage)?;
                let Ok(id) = NodeId::from_slice(k.value()) else {
                    continue;
                };
                let v = v.value();
                let bytes = if v.len() <= PEER_ENTRY_SIZE {
                    v.to_vec()
                } else {
                    Vec::new()
                };
                out.push((id, bytes));
            }
            Ok(out)
        })
    }
}
