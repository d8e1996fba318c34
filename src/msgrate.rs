//! Message rate and round-trip estimation per peer, for protocols that size
//! their requests to what each peer can deliver (the role of go-ethereum's
//! `p2p/msgrate`).
//!
//! A [`MsgRates`] is the set of all peers a protocol talks to; each peer gets
//! a [`PeerRate`] from [`MsgRates::register`] (removed from the set when it is
//! dropped). After every answered request the protocol reports how many items
//! came back and how long it took ([`PeerRate::update`]); before the next
//! request it asks how many items this peer can deliver within the target
//! round trip ([`PeerRate::capacity`]). The set derives one target round trip
//! and one timeout for all requests from the peers' estimates
//! ([`MsgRates::target_round_trip`], [`MsgRates::target_timeout`]).
//!
//! A [`RequestTracker`](crate::RequestTracker) made with
//! [`with_rate`](crate::RequestTracker::with_rate) does the bookkeeping: its
//! timeouts follow the set's target timeout, and each answer (or timeout) of a
//! request tracked with [`track_kind`](crate::RequestTracker::track_kind) is
//! measured into the peer's estimate.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! use std::time::Duration;
//! use devp2p::msgrate::MsgRates;
//!
//! const GET_HEADERS: u64 = 3;
//! let rates = MsgRates::new();
//! let peer = rates.register();
//! // 200 headers arrived 500 ms after the request.
//! peer.update(GET_HEADERS, Duration::from_millis(500), 200);
//! // How many to ask for next, to be answered within the target round trip:
//! let target = rates.target_round_trip();
//! let items = peer.capacity(GET_HEADERS, target);
//! assert!(items > 1);
//! // Timeout of the next request, from all peers' round trips:
//! assert!(rates.target_timeout() <= devp2p::msgrate::TTL_LIMIT);
//! # });
//! ```
//!
//! Estimates move by [`MEASUREMENT_IMPACT`] per measurement; an answer with
//! no items (a timeout, or data the peer does not have) drops the peer's
//! capacity for that kind to zero, so it is asked for one item next time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Weight of one measurement in a peer's estimates (go-ethereum
/// `measurementImpact`: 0.1, used since the start of Ethereum).
pub const MEASUREMENT_IMPACT: f64 = 0.1;

/// Factor by which [`PeerRate::capacity`] overshoots the measured throughput,
/// so that a peer is not locked into a lower-than-real capacity (go-ethereum
/// `capacityOverestimation`: 1.01).
pub const CAPACITY_OVERESTIMATION: f64 = 1.01;

/// Lowest round trip the set targets: every request costs two latencies plus
/// the serving time (go-ethereum `rttMinEstimate`: 2 s).
pub const RTT_MIN_ESTIMATE: Duration = Duration::from_secs(2);

/// Highest round trip the set targets, and its start value before any peer
/// was measured (go-ethereum `rttMaxEstimate`: 20 s).
pub const RTT_MAX_ESTIMATE: Duration = Duration::from_secs(20);

/// The target round trip is this share of the estimate, to steer towards
/// smaller, steadier requests (go-ethereum `rttPushdownFactor`: 0.9).
pub const RTT_PUSHDOWN_FACTOR: f64 = 0.9;

/// Lowest confidence in the round-trip estimate (go-ethereum
/// `rttMinConfidence`: 0.1); the timeout is divided by the confidence.
pub const RTT_MIN_CONFIDENCE: f64 = 0.1;

/// Timeout = this × estimated round trip ÷ confidence (go-ethereum
/// `ttlScaling`: 3).
pub const TTL_SCALING: f64 = 3.0;

/// Cap on the timeout, whatever the estimates (go-ethereum `ttlLimit`: 1 min).
pub const TTL_LIMIT: Duration = Duration::from_secs(60);

/// With at least this many peers, a new one no longer lowers the confidence
/// (go-ethereum `tuningConfidenceCap`: 10).
pub const TUNING_CONFIDENCE_CAP: usize = 10;

/// Weight of the peers' median round trip when the set re-tunes, at most once
/// per estimated round trip (go-ethereum `tuningImpact`: 0.25).
pub const TUNING_IMPACT: f64 = 0.25;

/// Message kinds tracked per peer. Kinds are chosen by the protocol (usually
/// its request codes: eth has 8 request kinds, snap 4); measurements of
/// further kinds are ignored, so a protocol bug cannot grow the map without
/// bound.
pub const MAX_KINDS: usize = 64;

/// Highest capacity [`PeerRate::capacity`] returns (go-ethereum rounds into
/// an int32).
const MAX_CAPACITY: f64 = i32::MAX as f64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain numbers: still consistent if a holder panicked.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One peer's estimates.
#[derive(Debug)]
struct PeerState {
    /// Items per second by kind.
    capacity: HashMap<u64, f64>,
    /// Smoothed round trip of its answers.
    roundtrip: Duration,
}

#[derive(Debug)]
struct SetState {
    peers: HashMap<u64, Arc<Mutex<PeerState>>>,
    next_slot: u64,
    /// Cached target round trip, re-tuned at most once per its own length.
    roundtrip: Duration,
    /// How sure the set is of `roundtrip` (1 = fully).
    confidence: f64,
    tuned: Instant,
}

impl SetState {
    /// The round trip new peers start from and the set tunes towards: the
    /// √n-th smallest of the peers' estimates (go-ethereum's choice, which
    /// leans towards the faster peers), clamped to the min/max estimates.
    fn median_round_trip(&self) -> Duration {
        let mut rtts: Vec<Duration> = self.peers.values().map(|p| lock(p).roundtrip).collect();
        rtts.sort_unstable();
        let pick = match rtts.len() {
            0 => RTT_MAX_ESTIMATE,
            1 => rtts[0],
            n => rtts[((n as f64).sqrt() as usize).min(n - 1)],
        };
        pick.clamp(RTT_MIN_ESTIMATE, RTT_MAX_ESTIMATE)
    }

    fn mean_capacities(&self) -> HashMap<u64, f64> {
        let mut sum: HashMap<u64, f64> = HashMap::new();
        for peer in self.peers.values() {
            for (kind, cap) in &lock(peer).capacity {
                *sum.entry(*kind).or_default() += cap;
            }
        }
        let n = self.peers.len().max(1) as f64;
        sum.values_mut().for_each(|v| *v /= n);
        sum
    }

    fn target_timeout(&self) -> Duration {
        let secs = TTL_SCALING * self.roundtrip.as_secs_f64() / self.confidence;
        Duration::try_from_secs_f64(secs)
            .unwrap_or(TTL_LIMIT)
            .min(TTL_LIMIT)
    }

    /// Moves the cached round trip towards the median, at most once per
    /// round trip, and regains confidence.
    fn tune(&mut self, now: Instant) {
        if now.saturating_duration_since(self.tuned) <= self.roundtrip {
            return;
        }
        let median = self.median_round_trip().as_secs_f64();
        let rtt = (1.0 - TUNING_IMPACT) * self.roundtrip.as_secs_f64() + TUNING_IMPACT * median;
        self.roundtrip = Duration::from_secs_f64(rtt);
        self.confidence += (1.0 - self.confidence) / 2.0;
        self.tuned = now;
    }

    /// A new peer lowers the confidence, so fresh measurements weigh more
    /// while there are few peers.
    fn detune(&mut self) {
        let n = self.peers.len();
        if n <= 1 {
            self.confidence = 1.0;
        } else if n < TUNING_CONFIDENCE_CAP {
            let peers = n as f64;
            self.confidence = (self.confidence * (peers - 1.0) / peers).max(RTT_MIN_CONFIDENCE);
        }
    }
}

/// The rate estimates of every peer a protocol talks to. Cheap to clone
/// (clones share the set); usually one per protocol per server, kept by a
/// [`ProtocolHandler`](crate::ProtocolHandler).
#[derive(Clone)]
pub struct MsgRates {
    inner: Arc<Mutex<SetState>>,
}

impl fmt::Debug for MsgRates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.inner);
        f.debug_struct("MsgRates")
            .field("peers", &st.peers.len())
            .field("roundtrip", &st.roundtrip)
            .field("confidence", &st.confidence)
            .finish()
    }
}

impl Default for MsgRates {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgRates {
    /// An empty set: target round trip [`RTT_MAX_ESTIMATE`], full confidence.
    pub fn new() -> Self {
        MsgRates {
            inner: Arc::new(Mutex::new(SetState {
                peers: HashMap::new(),
                next_slot: 0,
                roundtrip: RTT_MAX_ESTIMATE,
                confidence: 1.0,
                tuned: Instant::now(),
            })),
        }
    }

    /// Adds a peer, starting from the set's mean capacities and median round
    /// trip so that it is neither favoured nor written off before its first
    /// answer. The peer leaves the set when the returned handle is dropped.
    pub fn register(&self) -> PeerRate {
        let mut st = lock(&self.inner);
        let state = Arc::new(Mutex::new(PeerState {
            capacity: st.mean_capacities(),
            roundtrip: st.median_round_trip(),
        }));
        let slot = st.next_slot;
        st.next_slot += 1;
        st.peers.insert(slot, state.clone());
        st.detune();
        PeerRate {
            state,
            set: self.clone(),
            slot,
        }
    }

    /// Peers registered now.
    pub fn len(&self) -> usize {
        lock(&self.inner).peers.len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The round trip new peers start from: a low quantile (the √n-th
    /// smallest) of the peers' estimates, within [`RTT_MIN_ESTIMATE`] and
    /// [`RTT_MAX_ESTIMATE`].
    pub fn median_round_trip(&self) -> Duration {
        lock(&self.inner).median_round_trip()
    }

    /// Mean capacity (items per second) per kind across the peers.
    pub fn mean_capacities(&self) -> HashMap<u64, f64> {
        lock(&self.inner).mean_capacities()
    }

    /// The round trip to size requests for: [`RTT_PUSHDOWN_FACTOR`] of the
    /// set's estimate.
    pub fn target_round_trip(&self) -> Duration {
        let mut st = lock(&self.inner);
        st.tune(Instant::now());
        st.roundtrip.mul_f64(RTT_PUSHDOWN_FACTOR)
    }

    /// The timeout of one request: [`TTL_SCALING`] × the estimated round trip
    /// ÷ the confidence, at most [`TTL_LIMIT`].
    pub fn target_timeout(&self) -> Duration {
        let mut st = lock(&self.inner);
        st.tune(Instant::now());
        st.target_timeout()
    }

    /// How sure the set is of its round-trip estimate, in
    /// [[`RTT_MIN_CONFIDENCE`], 1].
    pub fn confidence(&self) -> f64 {
        lock(&self.inner).confidence
    }
}

/// One peer's place in a [`MsgRates`] set; dropping it removes the peer.
pub struct PeerRate {
    state: Arc<Mutex<PeerState>>,
    set: MsgRates,
    slot: u64,
}

impl fmt::Debug for PeerRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("PeerRate")
            .field("roundtrip", &st.roundtrip)
            .field("kinds", &st.capacity.len())
            .finish()
    }
}

impl PeerRate {
    /// Items of `kind` this peer is estimated to deliver within `target_rtt`,
    /// overshot by [`CAPACITY_OVERESTIMATION`] plus one, so a peer can show it
    /// does better; at least 1.
    pub fn capacity(&self, kind: u64, target_rtt: Duration) -> usize {
        let per_sec = lock(&self.state)
            .capacity
            .get(&kind)
            .copied()
            .unwrap_or(0.0);
        let items = 1.0 + CAPACITY_OVERESTIMATION * per_sec * target_rtt.as_secs_f64();
        items.ceil().clamp(1.0, MAX_CAPACITY) as usize
    }

    /// Records one answer: `items` of `kind` arrived `elapsed` after the
    /// request. Zero items (a timeout, or data the peer lacks) sets the
    /// capacity of `kind` to zero.
    pub fn update(&self, kind: u64, elapsed: Duration, items: usize) {
        let mut st = lock(&self.state);
        if !st.capacity.contains_key(&kind) && st.capacity.len() >= MAX_KINDS {
            return;
        }
        if items == 0 {
            st.capacity.insert(kind, 0.0);
            return;
        }
        let elapsed = elapsed.max(Duration::from_nanos(1));
        let measured = items as f64 / elapsed.as_secs_f64();
        let cap = st.capacity.entry(kind).or_insert(0.0);
        *cap = (1.0 - MEASUREMENT_IMPACT) * *cap + MEASUREMENT_IMPACT * measured;
        let rtt = (1.0 - MEASUREMENT_IMPACT) * st.roundtrip.as_secs_f64()
            + MEASUREMENT_IMPACT * elapsed.as_secs_f64();
        st.roundtrip = Duration::from_secs_f64(rtt);
    }

    /// This peer's smoothed round trip, to compare peers with each other.
    pub fn roundtrip(&self) -> Duration {
        lock(&self.state).roundtrip
    }

    /// The set this peer belongs to.
    pub fn rates(&self) -> &MsgRates {
        &self.set
    }
}

impl Drop for PeerRate {
    fn drop(&mut self) {
        lock(&self.set.inner).peers.remove(&self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: u64 = 7;

    #[test]
    fn capacity_follows_measurements_and_zero_resets() {
        let rates = MsgRates::new();
        let peer = rates.register();
        assert_eq!(
            peer.capacity(KIND, Duration::from_secs(1)),
            1,
            "unknown kind"
        );
        // 100 items/s measured repeatedly converges towards 100/s.
        for _ in 0..200 {
            peer.update(KIND, Duration::from_secs(1), 100);
        }
        let c = peer.capacity(KIND, Duration::from_secs(1));
        assert!((100..=103).contains(&c), "capacity {c}");
        let c2 = peer.capacity(KIND, Duration::from_secs(2));
        assert!((202..=203).contains(&c2), "capacity over 2 s {c2}");
        peer.update(KIND, Duration::from_secs(1), 0);
        assert_eq!(peer.capacity(KIND, Duration::from_secs(1)), 1, "slashed");
    }

    #[test]
    fn one_measurement_moves_by_the_impact() {
        let rates = MsgRates::new();
        let peer = rates.register();
        // 100 items in 2 s: 50 items/s, weighted 0.1 against 0 before: 5/s.
        peer.update(KIND, Duration::from_secs(2), 100);
        // Over 10 s: 1 + 1.01 × 50 = 51.5, rounded up.
        assert_eq!(peer.capacity(KIND, Duration::from_secs(10)), 52);
        // Round trip: 0.9 × 20 s (start, empty set) + 0.1 × 2 s = 18.2 s.
        let rtt = peer.roundtrip().as_secs_f64();
        assert!((rtt - 18.2).abs() < 1e-6, "round trip {rtt}");
    }

    #[test]
    fn kinds_are_bounded_and_capacity_saturates() {
        let rates = MsgRates::new();
        let peer = rates.register();
        for kind in 0..(MAX_KINDS as u64 + 10) {
            peer.update(kind, Duration::from_secs(1), 10);
        }
        assert_eq!(lock(&peer.state).capacity.len(), MAX_KINDS);
        peer.update(0, Duration::ZERO, usize::MAX);
        assert_eq!(
            peer.capacity(0, Duration::from_secs(3600)),
            MAX_CAPACITY as usize
        );
    }

    #[test]
    fn new_peers_start_from_the_set_and_leave_on_drop() {
        let rates = MsgRates::new();
        let a = rates.register();
        for _ in 0..100 {
            a.update(KIND, Duration::from_secs(3), 300);
        }
        let b = rates.register();
        assert_eq!(rates.len(), 2);
        assert_eq!(
            b.capacity(KIND, Duration::from_secs(1)),
            a.capacity(KIND, Duration::from_secs(1)),
            "mean capacity of the set"
        );
        assert_eq!(
            b.roundtrip(),
            a.roundtrip().clamp(RTT_MIN_ESTIMATE, RTT_MAX_ESTIMATE)
        );
        drop(a);
        drop(b);
        assert!(rates.is_empty());
    }

    #[test]
    fn median_is_the_sqrt_quantile_clamped() {
        let rates = MsgRates::new();
        let peers: Vec<PeerRate> = (0..9).map(|_| rates.register()).collect();
        for (i, p) in peers.iter().enumerate() {
            lock(&p.state).roundtrip = Duration::from_secs(i as u64 + 1);
        }
        // 9 peers: index 3 of [1..=9] s.
        assert_eq!(rates.median_round_trip(), Duration::from_secs(4));
        lock(&peers[8].state).roundtrip = Duration::from_secs(1000);
        for p in &peers[..8] {
            lock(&p.state).roundtrip = Duration::from_millis(10);
        }
        assert_eq!(rates.median_round_trip(), RTT_MIN_ESTIMATE);
    }

    #[test]
    fn confidence_drops_with_new_peers_and_floors() {
        let rates = MsgRates::new();
        let a = rates.register();
        assert_eq!(rates.confidence(), 1.0);
        let b = rates.register();
        assert_eq!(rates.confidence(), 0.5);
        let c = rates.register();
        assert!((rates.confidence() - 1.0 / 3.0).abs() < 1e-9);
        let more: Vec<PeerRate> = (0..20).map(|_| rates.register()).collect();
        assert!(rates.confidence() >= RTT_MIN_CONFIDENCE);
        // Timeout = 3 × 20 s ÷ confidence, capped at one minute.
        assert_eq!(rates.target_timeout(), TTL_LIMIT);
        drop((a, b, c, more));
    }

    #[tokio::test(start_paused = true)]
    async fn tuning_moves_towards_the_median_once_per_round_trip() {
        let rates = MsgRates::new();
        let peer = rates.register();
        lock(&peer.state).roundtrip = Duration::from_secs(4);
        // Not yet one round trip (20 s) since creation: unchanged.
        assert_eq!(
            rates.target_round_trip(),
            RTT_MAX_ESTIMATE.mul_f64(RTT_PUSHDOWN_FACTOR)
        );
        tokio::time::advance(Duration::from_secs(21)).await;
        // 0.75 × 20 s + 0.25 × 4 s = 16 s; target 0.9 × 16 s.
        assert_eq!(
            rates.target_round_trip(),
            Duration::from_secs(16).mul_f64(RTT_PUSHDOWN_FACTOR)
        );
        assert_eq!(rates.target_timeout(), Duration::from_secs(48));
        // A second call within 16 s does not tune again.
        assert_eq!(
            rates.target_round_trip(),
            Duration::from_secs(16).mul_f64(RTT_PUSHDOWN_FACTOR)
        );
    }
}
