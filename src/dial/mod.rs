//! Dialing: which nodes to dial and when, after go-ethereum's
//! `dialScheduler`, and where the candidates come from.
//!
//! - Dialed-peer target: `max_peers / dial_ratio` ([`crate::config::Config::max_dialed_peers`]).
//! - Free dial slots: `min(2 × missing dialed peers, max_pending) − dials in
//!   flight`.
//! - Static nodes first, then [`Candidate`]s from the [`NodeSource`]s, in
//!   turn (see the pipeline below), each passing the user's [`DialFilter`].
//! - A node is not re-dialed within the dial history window (35 s by
//!   default), nor while it is connecting to us.
//! - Static nodes are re-dialed while the server runs; those known by DNS name
//!   are resolved at dial time, with an exponential back-off on failure.
//! - A failed dial backs the node off by the failure's [`BackoffKind`]
//!   ([`SetupError::backoff`], see [`failure`] for the table); a discovered
//!   node that failed [`MAX_CONSECUTIVE_FAILURES`] times in a row is not
//!   dialed again until it connects once.
//!
//! The scheduler (internal, sans-IO) only decides; the server task performs
//! the dials and reports back. Time is passed in.
//!
//! The candidate pipeline, one feeder task per source (discv4's random
//! lookups, sources added with
//! [`Server::add_named_node_source`](crate::server::Server::add_named_node_source)):
//!
//! ```text
//! source ─► [record fetch: discv4, only with a filter, ENR_FETCH_PARALLELISM
//! at once] ─► DialFilter ─► prefetch buffer (SOURCE_PREFETCH) ─► sources in
//! turn ─► scheduler checks ─► dial
//! ```
//!
//! Per source, candidates produced, dialed, skipped by reason and connected
//! are counted ([`crate::server::Server::source_stats`], the
//! `p2p_dial_candidates_*` metrics).

mod candidate;
pub mod failure;
mod source;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use devp2p_netutil::Netlist;
use tokio::time::Instant;

use crate::banlist::BanList;
use crate::node::{Node, NodeId};

pub use candidate::{Candidate, DialFilter};
pub use failure::{
    BackoffKind, SetupError, HIGH_BACKOFF, LOW_BACKOFF, MAX_BACKOFF, MAX_CONSECUTIVE_FAILURES,
    MEDIUM_BACKOFF,
};
pub(crate) use source::SKIP_LABELS;
pub use source::{
    NodeSource, SourceSnapshot, DEFAULT_SOURCE_NAME, DISCV4_SOURCE, DISCV5_SOURCE, DNS_SOURCE,
    ENR_FETCH_PARALLELISM, MAX_NODE_SOURCES, MAX_SOURCE_NAME_LEN, PEER_MEMORY_SOURCE,
    SOURCE_PREFETCH,
};
pub(crate) use source::{NodeSources, SkipReason, SourceCounters, SourceSpec, SourceStats};

/// Tracing target of the dial pipeline (the server's).
const TARGET: &str = "p2p::server";

/// How long the same node is not re-dialed after a dial attempt: 35 s,
/// go-ethereum's `dialHistoryExpiration` (inbound throttle + 5 s, so a peer
/// we dial is not throttled when it dials us back).
pub const DIAL_HISTORY_EXPIRATION: Duration = Duration::from_secs(35);

/// First back-off after a static node's DNS name failed to resolve: 60 s,
/// go-ethereum's `initialResolveDelay` for static nodes without an endpoint.
pub(crate) const INITIAL_RESOLVE_DELAY: Duration = Duration::from_secs(60);

/// Longest back-off between resolution attempts of one static node: 1 hour,
/// go-ethereum's `maxResolveDelay`.
pub(crate) const MAX_RESOLVE_DELAY: Duration = Duration::from_secs(60 * 60);

/// Most entries in the dial history (our choice). Dynamic dials are bounded by
/// the free slots and each entry lives 35 s, so this is never reached in
/// practice; if it is, the oldest entries go first.
pub(crate) const MAX_DIAL_HISTORY: usize = 16 * 1024;

/// Most nodes whose consecutive failures are remembered (our choice: the
/// same budget as the ban list, ~100 bytes each, ~1 MiB). When full, the
/// entry whose back-off ends soonest is forgotten, which only lets that
/// node be dialed again sooner.
pub(crate) const MAX_FAILURE_ENTRIES: usize = 10_000;

/// Most static nodes (our choice; go-ethereum has no limit, real
/// deployments use a handful). `add_peer` refuses more.
pub const MAX_STATIC_NODES: usize = 1024;

/// Why a node is not dialed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DialSkip {
    /// It is our own node.
    #[error("is self")]
    IsSelf,
    /// A dial to it is already in flight.
    #[error("already dialing")]
    AlreadyDialing,
    /// It is already a connected peer.
    #[error("already connected")]
    AlreadyConnected,
    /// Its IP is outside `net_restrict`.
    #[error("not contained in netrestrict list")]
    NetRestrict,
    /// It was dialed less than the history window ago.
    #[error("recently dialed")]
    RecentlyDialed,
    /// It is banned.
    #[error("banned")]
    Banned,
    /// It has no address or TCP port to dial.
    #[error("no TCP endpoint")]
    NoEndpoint,
    /// No free dial slot.
    #[error("no free dial slot")]
    NoSlot,
    /// It is connecting to us right now (inbound handshake done, not yet
    /// added or refused).
    #[error("inbound connection in progress")]
    InboundPending,
    /// Its last dial failed and its back-off has not ended.
    #[error("backed off after a failure")]
    BackedOff,
    /// A discovered node that failed [`MAX_CONSECUTIVE_FAILURES`] dials in a
    /// row (dialed again once it connects to us).
    #[error("too many consecutive failures")]
    TooManyFailures,
}

/// Whether a dial is for a static node or a discovered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialKind {
    /// A node from the static set.
    Static,
    /// A candidate from a node source.
    Dynamic,
}

/// A dial the server should perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialTask {
    /// The node (may carry a DNS name instead of an IP: resolve first).
    pub node: Node,
    /// Static or dynamic.
    pub kind: DialKind,
}

/// How a dial ended, as reported by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialOutcome {
    /// The peer was added.
    Connected,
    /// Resolution, TCP connect, handshake or checks failed; the error
    /// decides the back-off ([`SetupError::backoff`]).
    Failed(SetupError),
}

/// Consecutive failures of one node and the end of its back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failures {
    count: u32,
    until: Instant,
}

/// Limits of the scheduler.
#[derive(Debug, Clone)]
pub(crate) struct DialLimits {
    /// Our node id (never dialed).
    pub self_id: NodeId,
    /// Target number of dialed peers (`Config::max_dialed_peers`).
    pub max_dialed_peers: usize,
    /// Most dials in flight (`Config::max_pending_peers`).
    pub max_active_dials: usize,
    /// Only dial IPs in this list, when set.
    pub net_restrict: Option<Netlist>,
    /// Dial history window (`Config::dial_history_expiration`).
    pub history_expiration: Duration,
    /// Cap of every failure back-off (`Config::max_dial_backoff`); zero
    /// turns back-offs and the failure limit off.
    pub max_backoff: Duration,
}

#[derive(Debug)]
struct StaticEntry {
    node: Node,
    /// Earliest time the next resolution may be tried, and the current delay.
    resolve_backoff: Option<(Instant, Duration)>,
}

/// The dial scheduler's state; see the module docs.
#[derive(Debug)]
pub(crate) struct DialState {
    limits: DialLimits,
    statics: HashMap<NodeId, StaticEntry>,
    dialing: HashMap<NodeId, DialKind>,
    /// Connected peers → whether they count as dialed by us.
    connected: HashMap<NodeId, bool>,
    dialed_peers: usize,
    /// Nodes whose inbound connection is being set up → how many such
    /// connections (bounded by `max_pending_peers` handshake slots).
    inbound_pending: HashMap<NodeId, usize>,
    history: HashMap<NodeId, Instant>,
    history_queue: BinaryHeap<Reverse<(Instant, NodeId)>>,
    /// Nodes whose last dials failed (bounded by [`MAX_FAILURE_ENTRIES`]).
    failures: HashMap<NodeId, Failures>,
}

impl DialState {
    /// An empty scheduler.
    pub(crate) fn new(limits: DialLimits) -> Self {
        DialState {
            limits,
            statics: HashMap::new(),
            dialing: HashMap::new(),
            connected: HashMap::new(),
            dialed_peers: 0,
            inbound_pending: HashMap::new(),
            history: HashMap::new(),
            history_queue: BinaryHeap::new(),
            failures: HashMap::new(),
        }
    }

    /// Adds (or updates) a static node; returns false when the static set is
    /// full ([`MAX_STATIC_NODES`]) or the node has no TCP endpoint.
    pub(crate) fn add_static(&mut self, node: Node) -> bool {
        if !node.is_complete() || node.tcp == 0 || node.id == self.limits.self_id {
            return false;
        }
        let full = self.statics.len() >= MAX_STATIC_NODES;
        match self.statics.entry(node.id) {
            Entry::Occupied(mut e) => {
                e.get_mut().node = node;
                e.get_mut().resolve_backoff = None;
                true
            }
            Entry::Vacant(_) if full => false,
            Entry::Vacant(e) => {
                e.insert(StaticEntry {
                    node,
                    resolve_backoff: None,
                });
                true
            }
        }
    }

    /// Removes a static node; returns whether it was one.
    pub(crate) fn remove_static(&mut self, id: &NodeId) -> bool {
        self.statics.remove(id).is_some()
    }

    /// Whether `id` is in the static set.
    #[cfg(test)]
    pub(crate) fn is_static(&self, id: &NodeId) -> bool {
        self.statics.contains_key(id)
    }

    /// Number of static nodes.
    #[cfg(test)]
    pub(crate) fn static_len(&self) -> usize {
        self.statics.len()
    }

    /// Whether a dial to `id` is in flight.
    pub(crate) fn is_dialing(&self, id: &NodeId) -> bool {
        self.dialing.contains_key(id)
    }

    /// `min(2 × (target − dialed peers), max_active_dials) − dials in flight`,
    /// never negative (go-ethereum's `freeDialSlots`).
    pub(crate) fn free_slots(&self) -> usize {
        let missing = self
            .limits
            .max_dialed_peers
            .saturating_sub(self.dialed_peers);
        let slots = missing.saturating_mul(2).min(self.limits.max_active_dials);
        slots.saturating_sub(self.dialing.len())
    }

    /// Why `node` cannot be dialed now, if it cannot (slots not considered).
    pub(crate) fn check(
        &mut self,
        node: &Node,
        bans: &mut BanList,
        now: Instant,
    ) -> Result<(), DialSkip> {
        if node.id == self.limits.self_id {
            return Err(DialSkip::IsSelf);
        }
        if self.dialing.contains_key(&node.id) {
            return Err(DialSkip::AlreadyDialing);
        }
        if self.connected.contains_key(&node.id) {
            return Err(DialSkip::AlreadyConnected);
        }
        if self.inbound_pending.contains_key(&node.id) {
            return Err(DialSkip::InboundPending);
        }
        if !node.is_complete() || node.tcp == 0 {
            return Err(DialSkip::NoEndpoint);
        }
        if let (Some(list), Some(ip)) = (&self.limits.net_restrict, node.ip) {
            if !list.contains(ip) {
                return Err(DialSkip::NetRestrict);
            }
        }
        self.expire_history(now);
        if self.history.contains_key(&node.id) {
            return Err(DialSkip::RecentlyDialed);
        }
        if bans.is_banned(&node.id, now) {
            return Err(DialSkip::Banned);
        }
        if let Some(f) = self.failures.get(&node.id) {
            if f.count >= MAX_CONSECUTIVE_FAILURES && !self.statics.contains_key(&node.id) {
                return Err(DialSkip::TooManyFailures);
            }
            if f.until > now {
                return Err(DialSkip::BackedOff);
            }
        }
        Ok(())
    }

    /// Consecutive failures recorded for `id` (0 when none).
    pub(crate) fn failures(&self, id: &NodeId) -> u32 {
        self.failures.get(id).map_or(0, |f| f.count)
    }

    /// Records a failed dial of `id` that backs off by `kind`; returns the
    /// end of the back-off.
    fn record_failure(&mut self, id: NodeId, kind: BackoffKind, now: Instant) -> Instant {
        if !self.failures.contains_key(&id) && self.failures.len() >= MAX_FAILURE_ENTRIES {
            let soonest = self.failures.iter().min_by_key(|(_, f)| f.until);
            if let Some(old) = soonest.map(|(k, _)| *k) {
                self.failures.remove(&old);
            }
        }
        let entry = self.failures.entry(id).or_insert(Failures {
            count: 0,
            until: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.until = now + kind.delay(entry.count).min(self.limits.max_backoff);
        entry.until
    }

    /// Static dials to start now (as many as free slots allow), each marked
    /// as in flight and recorded in the history.
    pub(crate) fn static_dials(&mut self, bans: &mut BanList, now: Instant) -> Vec<DialTask> {
        let mut free = self.free_slots();
        let mut tasks = Vec::new();
        if free == 0 {
            return tasks;
        }
        let mut ready: Vec<Node> = self
            .statics
            .values()
            .filter(|e| e.resolve_backoff.is_none_or(|(at, _)| at <= now))
            .map(|e| e.node.clone())
            .collect();
        // Stable order for determinism; go-ethereum picks randomly, which only
        // matters when slots are scarcer than static nodes.
        ready.sort_by_key(|n| n.id);
        for node in ready {
            if free == 0 {
                break;
            }
            if self.check(&node, bans, now).is_ok() {
                tasks.push(self.start(node, DialKind::Static, now));
                free -= 1;
            }
        }
        tasks
    }

    /// Offers a discovered node; returns the dial to start, or why not.
    pub(crate) fn offer(
        &mut self,
        node: Node,
        bans: &mut BanList,
        now: Instant,
    ) -> Result<DialTask, DialSkip> {
        if self.free_slots() == 0 {
            return Err(DialSkip::NoSlot);
        }
        self.check(&node, bans, now)?;
        Ok(self.start(node, DialKind::Dynamic, now))
    }

    fn start(&mut self, node: Node, kind: DialKind, now: Instant) -> DialTask {
        self.dialing.insert(node.id, kind);
        self.remember(node.id, now + self.limits.history_expiration);
        DialTask { node, kind }
    }

    fn remember(&mut self, id: NodeId, until: Instant) {
        if self.history.len() >= MAX_DIAL_HISTORY {
            while let Some(Reverse((_, old))) = self.history_queue.pop() {
                if self.history.remove(&old).is_some() {
                    break;
                }
            }
        }
        self.history.insert(id, until);
        self.history_queue.push(Reverse((until, id)));
    }

    fn expire_history(&mut self, now: Instant) {
        while let Some(Reverse((until, id))) = self.history_queue.peek().copied() {
            if until > now {
                break;
            }
            self.history_queue.pop();
            if self.history.get(&id) == Some(&until) {
                self.history.remove(&id);
            }
        }
    }

    /// Reports the end of the dial to `id` (before the peer is added, if it
    /// is). A failed DNS resolution of a static node backs off exponentially
    /// from [`INITIAL_RESOLVE_DELAY`] to [`MAX_RESOLVE_DELAY`]; other
    /// failures back off by [`SetupError::backoff`] (returned, with the end
    /// of the back-off); a success clears the node's failures.
    pub(crate) fn dial_done(
        &mut self,
        id: &NodeId,
        outcome: DialOutcome,
        now: Instant,
    ) -> Option<(BackoffKind, Instant)> {
        self.dialing.remove(id);
        if let Some(entry) = self.statics.get_mut(id) {
            match outcome {
                DialOutcome::Failed(SetupError::Resolve) => {
                    let delay = match entry.resolve_backoff {
                        None => INITIAL_RESOLVE_DELAY,
                        Some((_, d)) => (d * 2).min(MAX_RESOLVE_DELAY),
                    };
                    entry.resolve_backoff = Some((now + delay, delay));
                }
                DialOutcome::Connected => entry.resolve_backoff = None,
                DialOutcome::Failed(_) => {}
            }
        }
        match outcome {
            DialOutcome::Connected => {
                self.failures.remove(id);
                None
            }
            DialOutcome::Failed(_) if self.limits.max_backoff.is_zero() => None,
            DialOutcome::Failed(error) => {
                let kind = error.backoff()?;
                Some((kind, self.record_failure(*id, kind, now)))
            }
        }
    }

    /// Records that `id` is connecting to us (its RLPx handshake is done and
    /// the first admission check passed): it is not dialed until
    /// [`DialState::inbound_ended`].
    pub(crate) fn inbound_started(&mut self, id: NodeId) {
        *self.inbound_pending.entry(id).or_insert(0) += 1;
    }

    /// Records the end of an inbound set-up of `id` (added, refused or
    /// failed); unmatched calls are ignored.
    pub(crate) fn inbound_ended(&mut self, id: &NodeId) {
        if let Entry::Occupied(mut e) = self.inbound_pending.entry(*id) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    /// Records a connected peer (`dialed`: we dialed it, so it counts toward
    /// the dialed-peer target).
    pub(crate) fn peer_added(&mut self, id: NodeId, dialed: bool) {
        // A node that connects (either way) is healthy again.
        self.failures.remove(&id);
        if let Some(previous) = self.connected.insert(id, dialed) {
            if previous {
                self.dialed_peers -= 1;
            }
        }
        if dialed {
            self.dialed_peers += 1;
        }
    }

    /// Records a disconnected peer. A static node becomes eligible for a
    /// redial once its history entry expires.
    pub(crate) fn peer_removed(&mut self, id: &NodeId) {
        if let Some(true) = self.connected.remove(id) {
            self.dialed_peers -= 1;
        }
    }

    /// When static dialing should be re-evaluated next (a history entry or a
    /// resolve back-off of a static node ends after `now`), if ever.
    pub(crate) fn next_static_wakeup(&self, now: Instant) -> Option<Instant> {
        self.statics
            .iter()
            .filter(|(id, _)| !self.connected.contains_key(id) && !self.dialing.contains_key(id))
            .filter_map(|(id, e)| {
                // Dialable again when the history entry, the resolve
                // back-off and the failure back-off have passed.
                let history = self.history.get(id).copied();
                let backoff = e.resolve_backoff.map(|(at, _)| at);
                let failed = self.failures.get(id).map(|f| f.until);
                history.into_iter().chain(backoff).chain(failed).max()
            })
            .filter(|at| *at > now)
            .min()
    }
}
