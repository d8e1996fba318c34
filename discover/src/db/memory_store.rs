//! The in-memory backend of [`NodeDb`], used when the `node-db` feature is
//! off: the same tables as the redb backend, as ordered maps behind one
//! mutex, with the same API, limits and ordering. Nothing is written to
//! disk; [`NodeDb::open`] fails with [`NodeDbError::NoPersistence`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, RngExt};

use super::{
    id_range, ip_key, Liveness, NodeDbError, Result, MAX_RECORD_SIZE, NODE_EXPIRATION,
    NODE_IP_KEY_LEN, SEED_COUNT, SEED_PROBES_PER_NODE,
};
use crate::node::{NodeId, NODE_ID_LEN};

/// The tables (see the redb backend for what each holds).
#[derive(Default)]
struct Tables {
    nodes: BTreeMap<[u8; NODE_ID_LEN], Vec<u8>>,
    node_ips: BTreeMap<[u8; NODE_IP_KEY_LEN], Liveness>,
    local_seq: BTreeMap<NodeId, u64>,
    bans: BTreeMap<NodeId, u64>,
    reputation: BTreeMap<NodeId, i64>,
    peers: BTreeMap<NodeId, Vec<u8>>,
}

/// A handle to the node database; cheap to clone, safe to share between
/// tasks. This build keeps it in memory (the `node-db` feature is off).
#[derive(Clone, Default)]
pub struct NodeDb {
    tables: Arc<Mutex<Tables>>,
}

impl std::fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDb").finish_non_exhaustive()
    }
}

impl NodeDb {
    /// Fails with [`NodeDbError::NoPersistence`]: this build has no file
    /// backend (enable the `node-db` feature).
    pub fn open(path: &Path) -> Result<Self> {
        Err(NodeDbError::NoPersistence {
            path: path.to_path_buf(),
        })
    }

    /// A database that lives in memory only.
    pub fn in_memory() -> Result<Self> {
        Ok(NodeDb::default())
    }

    /// [`NodeDb::open`] when a path is given, else [`NodeDb::in_memory`].
    pub fn open_or_memory(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::open(p),
            None => Self::in_memory(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the encoded record of a node.
    pub fn put_node(&self, id: &NodeId, record: &[u8]) -> Result<()> {
        if record.len() > MAX_RECORD_SIZE {
            return Err(NodeDbError::RecordTooLarge { size: record.len() });
        }
        self.lock().nodes.insert(id.0, record.to_vec());
        Ok(())
    }

    /// The stored record of a node.
    pub fn node(&self, id: &NodeId) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().nodes.get(&id.0).cloned())
    }

    /// Number of stored node records.
    pub fn node_count(&self) -> Result<u64> {
        Ok(self.lock().nodes.len() as u64)
    }

    /// Deletes a node's record and all its per-IP entries.
    pub fn delete_node(&self, id: &NodeId) -> Result<()> {
        let mut t = self.lock();
        t.nodes.remove(&id.0);
        let (lo, hi) = id_range(id);
        t.node_ips.retain(|k, _| !(lo..=hi).contains(k));
        Ok(())
    }

    /// Liveness facts of (node, IP); all zero when nothing is known.
    pub fn liveness(&self, id: &NodeId, ip: IpAddr) -> Result<Liveness> {
        Ok(self
            .lock()
            .node_ips
            .get(&ip_key(id, ip))
            .copied()
            .unwrap_or_default())
    }

    fn update_liveness(&self, id: &NodeId, ip: IpAddr, change: impl FnOnce(&mut Liveness)) {
        change(self.lock().node_ips.entry(ip_key(id, ip)).or_default());
    }

    /// Records that a ping from (node, IP) arrived at `unix_secs`.
    pub fn update_last_ping_received(&self, id: &NodeId, ip: IpAddr, unix_secs: u64) -> Result<()> {
        self.update_liveness(id, ip, |l| l.last_ping_received = unix_secs);
        Ok(())
    }

    /// Records that a pong from (node, IP) arrived at `unix_secs`: the endpoint proof.
    pub fn update_last_pong_received(&self, id: &NodeId, ip: IpAddr, unix_secs: u64) -> Result<()> {
        self.update_liveness(id, ip, |l| l.last_pong_received = unix_secs);
        Ok(())
    }

    /// Sets the FindNode failure count of (node, IP).
    pub fn update_find_fails(&self, id: &NodeId, ip: IpAddr, fails: u32) -> Result<()> {
        self.update_liveness(id, ip, |l| l.find_fails = fails);
        Ok(())
    }

    /// The stored sequence number of our own record, for local node `id`.
    pub fn local_seq(&self, id: &NodeId) -> Result<Option<u64>> {
        Ok(self.lock().local_seq.get(id).copied())
    }

    /// Stores the sequence number of our own record.
    pub fn store_local_seq(&self, id: &NodeId, seq: u64) -> Result<()> {
        self.lock().local_seq.insert(*id, seq);
        Ok(())
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
        let t = self.lock();
        let mut out: Vec<(NodeId, Vec<u8>)> = Vec::with_capacity(n.min(SEED_COUNT * 4));
        for _ in 0..n.saturating_mul(SEED_PROBES_PER_NODE) {
            if out.len() >= n {
                break;
            }
            let mut probe = [0u8; NODE_ID_LEN];
            rng.fill(&mut probe[..]);
            // Wrap around to the first entry.
            let entry = t
                .nodes
                .range(probe..)
                .next()
                .or_else(|| t.nodes.iter().next());
            let Some((k, v)) = entry else { break };
            let id = NodeId(*k);
            if out.iter().any(|(seen, _)| *seen == id) {
                continue;
            }
            let (lo, hi) = id_range(&id);
            let fresh = t
                .node_ips
                .range(lo..=hi)
                .any(|(_, l)| l.last_pong_received >= cutoff && l.last_pong_received != 0);
            if fresh {
                out.push((id, v.clone()));
            }
        }
        Ok(out)
    }

    /// Deletes per-IP entries whose last pong is older than [`NODE_EXPIRATION`]
    /// at `now`, and node records left without any fresh entry, except the
    /// records of `keep` (our own node). Returns the number of nodes removed.
    pub fn expire_nodes(&self, now: u64, keep: &NodeId) -> Result<usize> {
        let cutoff = now.saturating_sub(NODE_EXPIRATION.as_secs());
        let mut guard = self.lock();
        let t = &mut *guard;
        t.node_ips.retain(|_, l| l.last_pong_received >= cutoff);
        let stale: Vec<[u8; NODE_ID_LEN]> = t
            .nodes
            .keys()
            .filter(|k| {
                let id = NodeId(**k);
                let (lo, hi) = id_range(&id);
                id != *keep && t.node_ips.range(lo..=hi).next().is_none()
            })
            .copied()
            .collect();
        for k in &stale {
            t.nodes.remove(k);
        }
        Ok(stale.len())
    }

    /// Bans `id` until `until_unix`.
    pub fn put_ban(&self, id: &NodeId, until_unix: u64) -> Result<()> {
        self.lock().bans.insert(*id, until_unix);
        Ok(())
    }

    /// Lifts the ban on `id`.
    pub fn remove_ban(&self, id: &NodeId) -> Result<()> {
        self.lock().bans.remove(id);
        Ok(())
    }

    /// Every ban still in force at `now`, as (node, expiry); expired bans are skipped.
    pub fn bans(&self, now: u64) -> Result<Vec<(NodeId, u64)>> {
        Ok(self
            .lock()
            .bans
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(id, until)| (*id, *until))
            .collect())
    }

    /// Stores the reputation score of `id`.
    pub fn put_reputation(&self, id: &NodeId, score: i64) -> Result<()> {
        self.lock().reputation.insert(*id, score);
        Ok(())
    }

    /// Forgets the reputation score of `id` (back to neutral).
    pub fn remove_reputation(&self, id: &NodeId) -> Result<()> {
        self.lock().reputation.remove(id);
        Ok(())
    }

    /// Every stored reputation score.
    pub fn reputations(&self) -> Result<Vec<(NodeId, i64)>> {
        Ok(self
            .lock()
            .reputation
            .iter()
            .map(|(id, s)| (*id, *s))
            .collect())
    }

    /// Nothing to make durable in memory; kept for the same API.
    pub fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// The encoded peer entry of `id` (`peers.rs`).
    pub(super) fn peer_entry(&self, id: &NodeId) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().peers.get(id).cloned())
    }

    /// Stores an encoded peer entry.
    pub(super) fn put_peer_entry(&self, id: &NodeId, entry: &[u8]) -> Result<()> {
        self.lock().peers.insert(*id, entry.to_vec());
        Ok(())
    }

    /// Deletes the peer entries of `ids`.
    pub(super) fn remove_peer_entries(&self, ids: &[NodeId]) -> Result<()> {
        let mut t = self.lock();
        for id in ids {
            t.peers.remove(id);
        }
        Ok(())
    }

    /// Number of peer entries.
    pub(super) fn peer_entry_count(&self) -> Result<u64> {
        Ok(self.lock().peers.len() as u64)
    }

    /// Up to `limit` peer entries in ID order.
    pub(super) fn peer_entries(&self, limit: usize) -> Result<Vec<(NodeId, Vec<u8>)>> {
        Ok(self
            .lock()
            .peers
            .iter()
            .take(limit)
            .map(|(id, b)| (*id, b.clone()))
            .collect())
    }
}
