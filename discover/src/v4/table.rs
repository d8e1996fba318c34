//! The Kademlia routing table, laid out as go-ethereum's `p2p/discover/table.go`.
//!
//! Pure data structure: no I/O, no clock of its own (every method that needs
//! the time takes `now`), randomness from a seeded RNG. The service task
//! owns one and drives revalidation and refresh.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use devp2p_netutil::{is_lan, DistinctNetSet};

use crate::node::{distance_cmp, log_distance, Node, NodeId};

/// Nodes per bucket, "k" (geth `bucketSize`).
pub const BUCKET_SIZE: usize = 16;
/// Replacement candidates kept per bucket (geth `maxReplacements`).
pub const MAX_REPLACEMENTS: usize = 10;
/// Number of buckets: the upper 1/15 of log distances (geth `nBuckets = hashBits / 15`).
pub const N_BUCKETS: usize = 256 / 15;
/// Log distances at or below this share bucket 0 (geth `bucketMinDistance`).
pub const BUCKET_MIN_DISTANCE: u32 = 256 - N_BUCKETS as u32;
/// At most this many nodes from one /[`BUCKET_SUBNET`] per bucket (geth `bucketIPLimit`).
pub const BUCKET_IP_LIMIT: usize = 2;
/// Prefix length (bits) for the per-bucket IP limit (geth `bucketSubnet`).
pub const BUCKET_SUBNET: u32 = 24;
/// At most this many nodes from one /[`TABLE_SUBNET`] in the whole table (geth `tableIPLimit`).
pub const TABLE_IP_LIMIT: usize = 10;
/// Prefix length (bits) for the table-wide IP limit (geth `tableSubnet`).
///
/// Both limits group IPv6 addresses by a /48
/// ([`devp2p_netutil::DEFAULT_SUBNET_BITS_V6`]: one end site's assignment,
/// RFC 6177) instead of go-ethereum's /24 of IPv6 space, which would lump
/// whole registries together.
pub const TABLE_SUBNET: u32 = 24;

/// Which revalidation list an entry is on (geth `table_reval.go`): new nodes
/// are checked often, nodes that answered at least once rarely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevalList {
    /// Not yet proven live: checked every `ping_interval`.
    Fast,
    /// Answered a revalidation ping: checked every 10 × `ping_interval`.
    Slow,
}

/// A table entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The node.
    pub node: Node,
    /// keccak256 of its ID.
    pub hash: [u8; 32],
    /// When it entered the table.
    pub added_at: Instant,
    /// Successful liveness checks minus decay (geth `livenessChecks`).
    pub live_checks: u32,
    /// Revalidation list.
    pub list: RevalList,
    /// Sequence number of the newest record we have seen for it (0: none).
    pub enr_seq: u64,
}

#[derive(Debug)]
struct Bucket {
    entries: Vec<Entry>,
    replacements: Vec<Entry>,
    ips: DistinctNetSet,
}

/// What [`Table::add`] did with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Added to its bucket.
    Added,
    /// Already present (endpoint refreshed if it changed and limits allow).
    Present,
    /// Bucket full: kept as a replacement candidate.
    Replacement,
    /// Rejected: our own ID, no IP, or an IP limit.
    Rejected,
}

/// The routing table.
#[derive(Debug)]
pub struct Table {
    self_id: NodeId,
    self_hash: [u8; 32],
    buckets: Vec<Bucket>,
    ips: DistinctNetSet,
    rng: StdRng,
    ping_interval: Duration,
    fast_next: Option<Instant>,
    slow_next: Option<Instant>,
}

fn entry_ip(n: &Node) -> Option<IpAddr> {
    n.ip
}

impl Table {
    /// An empty table for `self_id`; `ping_interval` paces revalidation
    /// (geth `Config.PingInterval`), `seed` makes it deterministic.
    pub fn new(self_id: NodeId, ping_interval: Duration, seed: u64) -> Self {
        Table {
            self_id,
            self_hash: self_id.hash(),
            buckets: (0..N_BUCKETS)
                .map(|_| Bucket {
                    entries: Vec::with_capacity(BUCKET_SIZE),
                    replacements: Vec::new(),
                    ips: DistinctNetSet::new(BUCKET_SUBNET, BUCKET_IP_LIMIT),
                })
                .collect(),
            ips: DistinctNetSet::new(TABLE_SUBNET, TABLE_IP_LIMIT),
            rng: StdRng::seed_from_u64(seed),
            ping_interval,
            fast_next: None,
            slow_next: None,
        }
    }

    /// Index of the bucket for a node hash.
    pub fn bucket_index(&self, hash: &[u8; 32]) -> usize {
        let d = log_distance(&self.self_hash, hash);
        if d <= BUCKET_MIN_DISTANCE {
            0
        } else {
            (d - BUCKET_MIN_DISTANCE - 1) as usize
        }
    }

    fn add_ip(&mut self, b: usize, ip: IpAddr) -> bool {
        if is_lan(ip) {
            return true;
        }
        if !self.ips.add(ip) {
            return false;
        }
        if !self.buckets[b].ips.add(ip) {
            self.ips.remove(ip);
            return false;
        }
        true
    }

    fn remove_ip(&mut self, b: usize, ip: IpAddr) {
        if is_lan(ip) {
            return;
        }
        self.ips.remove(ip);
        self.buckets[b].ips.remove(ip);
    }

    /// Adds a node (geth `handleAddNode`). `live` marks a node that just
    /// answered us (it starts on the slow revalidation list).
    pub fn add(&mut self, node: Node, live: bool, now: Instant) -> AddOutcome {
        if node.id == self.self_id {
            return AddOutcome::Rejected;
        }
        let Some(ip) = entry_ip(&node) else {
            return AddOutcome::Rejected;
        };
        let hash = node.id.hash();
        let b = self.bucket_index(&hash);
        if let Some(pos) = self.buckets[b]
            .entries
            .iter()
            .position(|e| e.node.id == node.id)
        {
            self.bump(b, pos, node, live);
            return AddOutcome::Present;
        }
        let entry = Entry {
            node,
            hash,
            added_at: now,
            live_checks: u32::from(live),
            list: if live {
                RevalList::Slow
            } else {
                RevalList::Fast
            },
            enr_seq: 0,
        };
        if self.buckets[b].entries.len() >= BUCKET_SIZE {
            return self.add_replacement(b, entry);
        }
        if !self.add_ip(b, ip) {
            return AddOutcome::Rejected;
        }
        let id = entry.node.id;
        let bucket = &mut self.buckets[b];
        bucket.entries.push(entry);
        if let Some(pos) = bucket.replacements.iter().position(|e| e.node.id == id) {
            let old = bucket.replacements.remove(pos);
            if let Some(oip) = entry_ip(&old.node) {
                self.remove_ip(b, oip);
            }
        }
        self.schedule(now);
        AddOutcome::Added
    }

    /// Updates an existing entry's endpoint (geth `bumpInBucket`).
    fn bump(&mut self, b: usize, pos: usize, node: Node, live: bool) {
        let old_ip = entry_ip(&self.buckets[b].entries[pos].node);
        let new_ip = entry_ip(&node);
        if old_ip != new_ip {
            if let Some(ip) = old_ip {
                self.remove_ip(b, ip);
            }
            let ok = new_ip.is_some_and(|ip| self.add_ip(b, ip));
            if !ok {
                // Keep the old endpoint when the new one breaks the limits.
                if let Some(ip) = old_ip {
                    self.add_ip(b, ip);
                }
                return;
            }
        }
        let e = &mut self.buckets[b].entries[pos];
        e.node = node;
        if live && e.live_checks == 0 {
            e.live_checks = 1;
        }
    }

    fn add_replacement(&mut self, b: usize, entry: Entry) -> AddOutcome {
        let id = entry.node.id;
        if self.buckets[b].replacements.iter().any(|e| e.node.id == id) {
            return AddOutcome::Replacement;
        }
        let Some(ip) = entry_ip(&entry.node) else {
            return AddOutcome::Rejected;
        };
        if !self.add_ip(b, ip) {
            return AddOutcome::Rejected;
        }
        let reps = &mut self.buckets[b].replacements;
        reps.insert(0, entry);
        if reps.len() > MAX_REPLACEMENTS {
            if let Some(dropped) = reps.pop() {
                if let Some(dip) = entry_ip(&dropped.node) {
                    self.remove_ip(b, dip);
                }
            }
        }
        AddOutcome::Replacement
    }

    /// Removes a node and promotes a random replacement into its slot
    /// (geth `deleteInBucket` / `replace`). Returns the promoted node.
    pub fn remove(&mut self, id: &NodeId, now: Instant) -> Option<Node> {
        let b = self.bucket_index(&id.hash());
        let pos = self.buckets[b]
            .entries
            .iter()
            .position(|e| e.node.id == *id)?;
        let old = self.buckets[b].entries.remove(pos);
        if let Some(ip) = entry_ip(&old.node) {
            self.remove_ip(b, ip);
        }
        if self.buckets[b].replacements.is_empty() {
            return None;
        }
        let r = self.rng.random_range(0..self.buckets[b].replacements.len());
        let mut rep = self.buckets[b].replacements.remove(r);
        // Its IP is already counted (replacements count towards the limits).
        rep.added_at = now;
        rep.list = RevalList::Fast;
        rep.live_checks = 0;
        let node = rep.node.clone();
        self.buckets[b].entries.push(rep);
        self.schedule(now);
        Some(node)
    }

    /// Sequence number of the newest record seen for `id` (0 when unknown
    /// or not in the table).
    pub fn enr_seq(&self, id: &NodeId) -> u64 {
        self.entry(id).map_or(0, |e| e.enr_seq)
    }

    /// Applies a newer record fetched during revalidation: the endpoint is
    /// updated (within the IP limits) and, if it changed, the node goes back
    /// to the fast revalidation list (geth `table_reval.go`).
    pub fn update_from_record(&mut self, node: Node, seq: u64, _now: Instant) {
        let id = node.id;
        let b = self.bucket_index(&id.hash());
        let Some(pos) = self.buckets[b].entries.iter().position(|e| e.node.id == id) else {
            return;
        };
        if seq <= self.buckets[b].entries[pos].enr_seq || node.udp_addr().is_none() {
            return;
        }
        let old = self.buckets[b].entries[pos].node.clone();
        self.bump(b, pos, node, false);
        let e = &mut self.buckets[b].entries[pos];
        e.enr_seq = seq;
        if e.node.udp_addr() != old.udp_addr() {
            e.list = RevalList::Fast;
        }
    }

    /// Marks a node that just answered a request as live (at least one
    /// liveness check), without changing its revalidation list.
    pub fn mark_live(&mut self, id: &NodeId) {
        let b = self.bucket_index(&id.hash());
        if let Some(e) = self.buckets[b]
            .entries
            .iter_mut()
            .find(|e| e.node.id == *id)
        {
            e.live_checks = e.live_checks.max(1);
        }
    }

    /// True when the node is in a bucket (not counting replacements).
    pub fn contains(&self, id: &NodeId) -> bool {
        let b = self.bucket_index(&id.hash());
        self.buckets[b].entries.iter().any(|e| e.node.id == *id)
    }

    /// The table's node for `id`, if present.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        let b = self.bucket_index(&id.hash());
        self.buckets[b]
            .entries
            .iter()
            .find(|e| e.node.id == *id)
            .map(|e| &e.node)
    }

    /// Number of nodes in the bucket `id` falls in.
    pub fn len_of_bucket(&self, id: &NodeId) -> usize {
        self.buckets[self.bucket_index(&id.hash())].entries.len()
    }

    /// Number of nodes in each bucket, closest bucket first.
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.bucket_lens().collect()
    }

    /// Number of nodes in each bucket, closest bucket first, without
    /// allocating.
    pub fn bucket_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.buckets.iter().map(|b| b.entries.len())
    }

    /// Number of nodes in buckets.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// True when no bucket holds a node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All nodes in buckets.
    pub fn nodes(&self) -> Vec<Node> {
        self.buckets
            .iter()
            .flat_map(|b| b.entries.iter().map(|e| e.node.clone()))
            .collect()
    }

    /// The `n` nodes closest to `target` (keccak hash of an ID); with
    /// `prefer_live`, only nodes that passed a liveness check unless there
    /// are none (geth `findnodeByID`).
    pub fn closest(&self, target: &[u8; 32], n: usize, prefer_live: bool) -> Vec<Node> {
        let mut all: Vec<&Entry> = self
            .buckets
            .iter()
            .flat_map(|b| b.entries.iter())
            .filter(|e| !prefer_live || e.live_checks > 0)
            .collect();
        if prefer_live && all.is_empty() {
            return self.closest(target, n, false);
        }
        all.sort_by(|a, b| distance_cmp(target, &a.hash, &b.hash));
        all.into_iter().take(n).map(|e| e.node.clone()).collect()
    }

    /// Up to `n` random nodes from the buckets.
    pub fn random_nodes(&mut self, n: usize) -> Vec<Node> {
        let mut all = self.nodes();
        let mut out = Vec::with_capacity(n.min(all.len()));
        while out.len() < n && !all.is_empty() {
            let i = self.rng.random_range(0..all.len());
            out.push(all.swap_remove(i));
        }
        out
    }

    fn schedule(&mut self, now: Instant) {
        if self.fast_next.is_none() {
            let d = super::random_delay(&mut self.rng, self.ping_interval);
            self.fast_next = Some(now + d);
        }
        if self.slow_next.is_none() {
            let d = super::random_delay(&mut self.rng, self.ping_interval * 10);
            self.slow_next = Some(now + d);
        }
    }

    /// When the next revalidation is due, if any node is in the table.
    pub fn next_revalidation(&self) -> Option<Instant> {
        match (self.fast_next, self.slow_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Picks the nodes due for a liveness check at `now` (at most one per
    /// list) and reschedules the lists.
    pub fn due_revalidations(&mut self, now: Instant) -> Vec<Node> {
        let mut out = Vec::new();
        for list in [RevalList::Fast, RevalList::Slow] {
            let (next, interval) = match list {
                RevalList::Fast => (&mut self.fast_next, self.ping_interval),
                RevalList::Slow => (&mut self.slow_next, self.ping_interval * 10),
            };
            if next.is_some_and(|t| t <= now) {
                let d = super::random_delay(&mut self.rng, interval);
                *next = Some(now + d);
                let candidates: Vec<&Entry> = self
                    .buckets
                    .iter()
                    .flat_map(|b| b.entries.iter())
                    .filter(|e| e.list == list)
                    .collect();
                if !candidates.is_empty() {
                    let i = self.rng.random_range(0..candidates.len());
                    out.push(candidates[i].node.clone());
                }
            }
        }
        if self.is_empty() {
            self.fast_next = None;
            self.slow_next = None;
        }
        out
    }

    /// Records the outcome of a liveness check (geth `handleResponse`):
    /// a node that answered moves to the slow list; one that did not has its
    /// check count divided by 3 and is replaced when it reaches zero.
    /// Returns the node promoted from the replacements, if any.
    pub fn revalidated(&mut self, id: &NodeId, responded: bool, now: Instant) -> Option<Node> {
        let b = self.bucket_index(&id.hash());
        let pos = self.buckets[b]
            .entries
            .iter()
            .position(|e| e.node.id == *id)?;
        let e = &mut self.buckets[b].entries[pos];
        if responded {
            e.live_checks = e.live_checks.saturating_add(1);
            e.list = RevalList::Slow;
            None
        } else {
            e.live_checks /= 3;
            if e.live_checks == 0 {
                self.remove(id, now)
            } else {
                e.list = RevalList::Fast;
                None
            }
        }
    }

    /// The entry for `id` (tests and diagnostics).
    pub fn entry(&self, id: &NodeId) -> Option<&Entry> {
        let b = self.bucket_index(&id.hash());
        self.buckets[b].entries.iter().find(|e| e.node.id == *id)
    }

    /// Replacement count of the bucket `id` falls in (tests).
    pub fn replacements_for(&self, id: &NodeId) -> usize {
        self.buckets[self.bucket_index(&id.hash())]
            .replacements
            .len()
    }
}

/// The UDP address of a node, when it has an IP.
pub fn node_udp_addr(n: &Node) -> Option<SocketAddr> {
    n.ip.map(|ip| SocketAddr::new(ip, n.udp))
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
