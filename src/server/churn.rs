//! Slot churn: when the inbound or the dialed slots are all taken, drop one
//! low-value peer now and then so new peers get a chance (go-ethereum's
//! `eth/dropper.go`, added in 2025; there it lives in the eth protocol,
//! here in the server, off by default: [`Config::churn`](crate::Config)).
//!
//! Every [`CHURN_INTERVAL_MIN`]..[`CHURN_INTERVAL_MAX`] (uniformly random)
//! the server looks at its peers. A peer may be dropped when it is neither
//! trusted nor a static node, has been connected for at least
//! [`CHURN_MIN_AGE`], its category (inbound, or dialed by us) has no free
//! slot left, and the application's hook
//! ([`Config::churn_protect`](crate::Config)) does not protect it. One such
//! peer, picked at random, is disconnected with [`DiscReason::UselessPeer`]
//! (what go-ethereum sends). The hook runs on the server task: keep it
//! quick (read a flag or a map; do not block).
//!
//! The decision ([`droppable`]) is sans-IO: it takes each peer's age, so it
//! is tested without a clock.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::node::NodeId;
use crate::peer::Peer;

/// Shortest time between two churn rounds: 3 min, go-ethereum's
/// `peerDropIntervalMin`.
pub const CHURN_INTERVAL_MIN: Duration = Duration::from_secs(3 * 60);

/// Longest time between two churn rounds: 7 min, go-ethereum's
/// `peerDropIntervalMax`.
pub const CHURN_INTERVAL_MAX: Duration = Duration::from_secs(7 * 60);

/// Peers connected for less than this are never churned: 10 min,
/// go-ethereum's `doNotDropBefore`.
pub const CHURN_MIN_AGE: Duration = Duration::from_secs(10 * 60);

/// The application's hook: `true` protects the peer from churn.
pub type ChurnProtect = Arc<dyn Fn(&Peer) -> bool + Send + Sync>;

/// Churn timing (code only; the defaults are go-ethereum's, lower them only
/// in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnTiming {
    /// Shortest time between rounds; default [`CHURN_INTERVAL_MIN`].
    pub interval_min: Duration,
    /// Longest time between rounds; default [`CHURN_INTERVAL_MAX`]. Values
    /// below `interval_min` are raised to it.
    pub interval_max: Duration,
    /// Youngest peer that may be dropped; default [`CHURN_MIN_AGE`].
    pub min_age: Duration,
}

impl Default for ChurnTiming {
    fn default() -> Self {
        ChurnTiming {
            interval_min: CHURN_INTERVAL_MIN,
            interval_max: CHURN_INTERVAL_MAX,
            min_age: CHURN_MIN_AGE,
        }
    }
}

/// What the decision needs to know about one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChurnPeer {
    pub id: NodeId,
    pub inbound: bool,
    /// Trusted or static: never dropped.
    pub kept: bool,
    pub age: Duration,
}

/// The peers a churn round may drop (before the application's hook):
/// go-ethereum's rule, with its threshold of 0 free slots.
pub(crate) fn droppable<'a>(
    peers: &'a [ChurnPeer],
    max_inbound: usize,
    max_dialed: usize,
    min_age: Duration,
) -> impl Iterator<Item = &'a ChurnPeer> + 'a {
    let inbound = peers.iter().filter(|p| p.inbound).count();
    let dialed = peers.len() - inbound;
    let inbound_full = inbound >= max_inbound;
    let dialed_full = dialed >= max_dialed;
    peers.iter().filter(move |p| {
        let full = if p.inbound { inbound_full } else { dialed_full };
        !p.kept && p.age >= min_age && full
    })
}

/// Peers dropped by churn, by direction (metrics).
#[derive(Debug, Default)]
pub(crate) struct ChurnCounters {
    inbound: AtomicU64,
    outbound: AtomicU64,
}

impl ChurnCounters {
    /// (inbound, outbound) peers dropped so far.
    pub(crate) fn snapshot(&self) -> (u64, u64) {
        (
            self.inbound.load(Ordering::Relaxed),
            self.outbound.load(Ordering::Relaxed),
        )
    }
}

/// The server task's churn state: timing, hook, limits and when the next
/// round is due.
pub(crate) struct Churn {
    timing: ChurnTiming,
    protect: Option<ChurnProtect>,
    pub max_inbound: usize,
    pub max_dialed: usize,
    next: Instant,
    rng: u64,
    counters: Arc<ChurnCounters>,
}

impl Churn {
    pub(crate) fn new(
        timing: ChurnTiming,
        protect: Option<ChurnProtect>,
        max_inbound: usize,
        max_dialed: usize,
        seed: &NodeId,
        counters: Arc<ChurnCounters>,
    ) -> Self {
        // Process-random keys (std's hasher) mixed with our id: two nodes in
        // one process do not churn in step.
        let rng = RandomState::new().hash_one(seed.0) | 1;
        let mut churn = Churn {
            timing,
            protect,
            max_inbound,
            max_dialed,
            next: Instant::now(),
            rng,
            counters,
        };
        churn.next = Instant::now() + churn.interval();
        churn
    }

    /// When the next round is due.
    pub(crate) fn next_round(&self) -> Instant {
        self.next
    }

    /// xorshift64: enough for picking intervals and peers.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn interval(&mut self) -> Duration {
        let min = self.timing.interval_min;
        let span = self.timing.interval_max.saturating_sub(min).as_nanos() as u64;
        let extra = if span == 0 { 0 } else { self.random() % span };
        min + Duration::from_nanos(extra)
    }

    /// One round: schedules the next one and returns the peer to drop, if
    /// any. `peers` are the connected peers with whether each is trusted.
    pub(crate) fn round<'a>(&mut self, peers: &[(&'a Peer, bool)]) -> Option<&'a Peer> {
        self.next = Instant::now() + self.interval();
        let facts: Vec<ChurnPeer> = peers
            .iter()
            .map(|(p, trusted)| ChurnPeer {
                id: p.id(),
                inbound: p.inbound(),
                kept: *trusted || p.trusted() || p.is_static(),
                age: p.stats().connected_for,
            })
            .collect();
        let candidates: Vec<&'a Peer> = droppable(
            &facts,
            self.max_inbound,
            self.max_dialed,
            self.timing.min_age,
        )
        .filter_map(|c| peers.iter().find(|(p, _)| p.id() == c.id).map(|(p, _)| *p))
        .filter(|p| !self.protect.as_ref().is_some_and(|f| f(p)))
        .collect();
        if candidates.is_empty() {
            return None;
        }
        let pick = (self.random() % candidates.len() as u64) as usize;
        let victim = candidates[pick];
        let counter = if victim.inbound() {
            &self.counters.inbound
        } else {
            &self.counters.outbound
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(victim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8, inbound: bool, kept: bool, age_min: u64) -> ChurnPeer {
        let key = secp256k1::SecretKey::from_secret_bytes([n; 32]).unwrap();
        ChurnPeer {
            id: NodeId::from_secret_key(&key),
            inbound,
            kept,
            age: Duration::from_secs(age_min * 60),
        }
    }

    fn ids(it: impl Iterator<Item = ChurnPeer>) -> Vec<NodeId> {
        it.map(|p| p.id).collect()
    }

    #[test]
    fn only_old_unkept_peers_of_a_full_category() {
        let peers = [
            peer(1, true, false, 20),  // droppable when inbound is full
            peer(2, true, true, 20),   // trusted or static: kept
            peer(3, true, false, 5),   // too young
            peer(4, false, false, 20), // dialed
        ];
        // Inbound full (3 of 3), dialed not (1 of 2).
        let got = ids(droppable(&peers, 3, 2, CHURN_MIN_AGE).copied());
        assert_eq!(got, vec![peers[0].id]);
        // Both full.
        let got = ids(droppable(&peers, 3, 1, CHURN_MIN_AGE).copied());
        assert_eq!(got, vec![peers[0].id, peers[3].id]);
        // Neither full: nothing churns.
        assert_eq!(droppable(&peers, 4, 2, CHURN_MIN_AGE).count(), 0);
        // Age is go-ethereum's 10 minutes by default.
        let got = ids(droppable(&peers, 3, 2, Duration::from_secs(5 * 60)).copied());
        assert_eq!(got, vec![peers[0].id, peers[2].id]);
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_are_spaced_within_the_interval() {
        let seed = peer(9, true, false, 0).id;
        let counters = Arc::default();
        let mut churn = Churn::new(ChurnTiming::default(), None, 1, 1, &seed, counters);
        for _ in 0..100 {
            let start = Instant::now();
            let wait = churn.next_round() - start;
            assert!(
                (CHURN_INTERVAL_MIN..CHURN_INTERVAL_MAX).contains(&wait),
                "{wait:?}"
            );
            tokio::time::sleep_until(churn.next_round()).await;
            assert!(churn.round(&[]).is_none());
        }
    }
}
