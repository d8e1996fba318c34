//! Bandwidth limits: token buckets on bytes, per peer and shared by all
//! peers of a server, for each direction ([`BandwidthLimits`]).
//!
//! How a cap acts:
//! - **Ingress.** The reader counts every frame it read (all codes, base
//!   protocol included: they arrive in the same byte stream) and, while a
//!   bucket is in debt, waits before reading the next frame. Nothing is
//!   buffered beyond the transport's own bounded read buffer; the remote's
//!   writes back up in TCP. The wait does not count against the read
//!   deadline (it is our choice not to read, not the remote's silence).
//! - **Egress.** The writer waits until every bucket is out of debt before
//!   it starts a batch, counts each sub-protocol frame it writes and ends the
//!   batch early when a bucket runs into debt. Messages are never dropped or
//!   reordered: the protocols' bounded write queues fill and `write_msg`
//!   waits. Ping, pong and Disconnect are exempt (neither counted nor
//!   delayed), so a capped peer keeps answering pings and can always be
//!   disconnected: they are a few bytes each, a ping every 15 s and pongs
//!   rate-limited to one a second after a burst of
//!   [`PONG_BURST`](super::PONG_BURST).
//!
//! A frame is charged whole even when it is larger than the bucket (a bucket
//! may go into debt by one frame), so messages up to the 16 MiB limit pass
//! any cap; over any window of `t` seconds a bucket lets through at most
//! `rate × t + burst` bytes plus one frame per peer sharing it.
//!
//! A cap so low that one message takes longer than the remote's write
//! deadline (20 s in go-ethereum) to be read makes that remote drop us; pick
//! caps well above your largest message per 20 s.
//!
//! The bucket is written here rather than taken from `governor`: governor's
//! GCRA refuses a request larger than the burst outright, while an inbound
//! frame's size is only known once it has been read and must be charged
//! whole (debt), and its clock is not tokio's, so tests could not run on
//! paused time. The bucket is ~40 lines on `tokio::time`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Smallest rate [`BandwidthLimits::validate`] accepts, in bytes per
/// second: 1 KiB/s (our choice: below this, one 1 KiB message needs over a
/// second, and a 0 is more likely a mistake for "no limit", which is
/// `None`).
pub const MIN_BANDWIDTH: u64 = 1024;

/// Smallest burst used, in bytes: 64 KiB, the writer's batch size (a
/// smaller bucket would end nearly every write batch after one frame and
/// cost a system call per message).
pub const MIN_BURST: u64 = 64 * 1024;

/// Default burst, as seconds of the bucket's rate: 1 s (our choice, the
/// usual token-bucket default; at least [`MIN_BURST`]).
pub const DEFAULT_BURST_SECS: u64 = 1;

/// Byte-rate caps (each in bytes per second; `None` = no cap, the default).
/// Global caps are shared by all peers of a server; per-peer caps apply to
/// each peer alone; a peer is held to both. Trusted peers are capped too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BandwidthLimits {
    /// All peers' outbound bytes together, per second.
    pub global_egress: Option<u64>,
    /// All peers' inbound bytes together, per second.
    pub global_ingress: Option<u64>,
    /// Each peer's outbound bytes, per second.
    pub per_peer_egress: Option<u64>,
    /// Each peer's inbound bytes, per second.
    pub per_peer_ingress: Option<u64>,
    /// Bucket size in bytes, for every cap: how much may pass at once after
    /// an idle period. Default `None`: [`DEFAULT_BURST_SECS`] of the cap's
    /// rate; never below [`MIN_BURST`].
    pub burst: Option<u64>,
}

/// A [`BandwidthLimits`] field is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bandwidth.{field} must be at least {min} bytes/s, got {value}")]
pub struct BandwidthError {
    /// The field's name.
    pub field: &'static str,
    /// The value given.
    pub value: u64,
    /// The smallest value accepted.
    pub min: u64,
}

impl BandwidthLimits {
    /// Whether any cap is set.
    pub fn is_limited(&self) -> bool {
        self.global_egress.is_some()
            || self.global_ingress.is_some()
            || self.per_peer_egress.is_some()
            || self.per_peer_ingress.is_some()
    }

    /// Checks that every cap set is at least [`MIN_BANDWIDTH`].
    pub fn validate(&self) -> Result<(), BandwidthError> {
        let rates = [
            ("global_egress", self.global_egress),
            ("global_ingress", self.global_ingress),
            ("per_peer_egress", self.per_peer_egress),
            ("per_peer_ingress", self.per_peer_ingress),
        ];
        for (field, value) in rates {
            if let Some(value) = value.filter(|v| *v < MIN_BANDWIDTH) {
                return Err(BandwidthError {
                    field,
                    value,
                    min: MIN_BANDWIDTH,
                });
            }
        }
        Ok(())
    }

    fn bucket(&self, rate: Option<u64>) -> Option<ByteBucket> {
        let rate = rate?;
        let burst = self
            .burst
            .unwrap_or(rate.saturating_mul(DEFAULT_BURST_SECS))
            .max(MIN_BURST);
        Some(ByteBucket::new(rate, burst))
    }
}

/// A token bucket on bytes that may go into debt by one charge.
#[derive(Debug)]
struct ByteBucket {
    /// Bytes per second.
    rate: f64,
    /// Most tokens held.
    burst: f64,
    state: Mutex<BucketState>,
    /// Taken by whoever waits for this bucket to leave debt: peers sharing a
    /// global bucket take turns in FIFO order (tokio's mutex is fair), so
    /// the timer order cannot let one peer starve the others.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct BucketState {
    /// Negative while in debt.
    tokens: f64,
    last: Instant,
}

impl ByteBucket {
    fn new(rate: u64, burst: u64) -> Self {
        ByteBucket {
            rate: rate as f64,
            burst: burst as f64,
            state: Mutex::new(BucketState {
                tokens: burst as f64,
                last: Instant::now(),
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Refills for the time since the last call and applies `f`.
    fn with<R>(&self, f: impl FnOnce(&mut f64) -> R) -> R {
        let now = Instant::now();
        // A poisoned lock only means another peer panicked mid-update of two
        // floats; the state is still usable.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
        f(&mut s.tokens)
    }

    fn charge(&self, bytes: usize) {
        self.with(|t| *t -= bytes as f64);
    }

    /// Sleeps until the bucket is out of debt.
    async fn wait_out(&self) {
        loop {
            let wait = self.debt_time();
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// How long until the bucket is out of debt.
    fn debt_time(&self) -> Duration {
        let debt = self.with(|t| -*t);
        if debt <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(debt / self.rate)
        }
    }
}

/// The buckets shared by all peers of a server, and the caps new peers get.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Bandwidth {
    limits: BandwidthLimits,
    global_egress: Option<Arc<ByteBucket>>,
    global_ingress: Option<Arc<ByteBucket>>,
    /// Nanoseconds all peers' readers waited (metrics).
    ingress_waited: Arc<AtomicU64>,
    /// Nanoseconds all peers' writers waited (metrics).
    egress_waited: Arc<AtomicU64>,
}

impl Bandwidth {
    /// The global buckets of `limits` (full at start).
    pub fn new(limits: BandwidthLimits) -> Self {
        Bandwidth {
            limits,
            global_egress: limits.bucket(limits.global_egress).map(Arc::new),
            global_ingress: limits.bucket(limits.global_ingress).map(Arc::new),
            ingress_waited: Arc::default(),
            egress_waited: Arc::default(),
        }
    }

    /// Time all peers' readers and writers waited for tokens so far.
    pub(crate) fn throttled(&self) -> (Duration, Duration) {
        let get = |n: &AtomicU64| Duration::from_nanos(n.load(Ordering::Relaxed));
        (get(&self.ingress_waited), get(&self.egress_waited))
    }

    /// The throttles of one new peer: its own buckets plus the global ones.
    pub fn peer(&self) -> PeerBandwidth {
        let throttle = |own: Option<u64>, global: &Option<Arc<ByteBucket>>, total| {
            let own = self.limits.bucket(own);
            (own.is_some() || global.is_some()).then(|| {
                Arc::new(Throttle {
                    own,
                    global: global.clone(),
                    throttled_nanos: AtomicU64::new(0),
                    total: Arc::clone(total),
                })
            })
        };
        let l = &self.limits;
        PeerBandwidth {
            ingress: throttle(
                l.per_peer_ingress,
                &self.global_ingress,
                &self.ingress_waited,
            ),
            egress: throttle(l.per_peer_egress, &self.global_egress, &self.egress_waited),
        }
    }
}

/// One peer's throttles ([`PeerSetup::bandwidth`](super::PeerSetup)); the
/// default has none (no cap, no cost on the message path).
#[derive(Clone, Debug, Default)]
pub struct PeerBandwidth {
    pub(crate) ingress: Option<Arc<Throttle>>,
    pub(crate) egress: Option<Arc<Throttle>>,
}

/// Two are equal when they share the same throttles (or have none).
impl PartialEq for PeerBandwidth {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &Option<Arc<Throttle>>, b: &Option<Arc<Throttle>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same(&self.ingress, &other.ingress) && same(&self.egress, &other.egress)
    }
}

impl Eq for PeerBandwidth {}

impl PeerBandwidth {
    /// Time the reader and the writer spent waiting for tokens so far.
    pub(crate) fn throttled(&self) -> (Duration, Duration) {
        let t = |x: &Option<Arc<Throttle>>| x.as_ref().map_or(Duration::ZERO, |t| t.throttled());
        (t(&self.ingress), t(&self.egress))
    }
}

/// One direction of one peer: its own bucket and the server's, if any.
#[derive(Debug)]
pub(crate) struct Throttle {
    own: Option<ByteBucket>,
    global: Option<Arc<ByteBucket>>,
    throttled_nanos: AtomicU64,
    /// The server's total for this direction.
    total: Arc<AtomicU64>,
}

impl Throttle {
    /// Counts `bytes` against every bucket.
    pub(crate) fn charge(&self, bytes: usize) {
        if let Some(b) = &self.own {
            b.charge(bytes);
        }
        if let Some(b) = &self.global {
            b.charge(bytes);
        }
    }

    fn debt_time(&self) -> Duration {
        let own = self
            .own
            .as_ref()
            .map_or(Duration::ZERO, ByteBucket::debt_time);
        let global = self
            .global
            .as_ref()
            .map_or(Duration::ZERO, |b| b.debt_time());
        own.max(global)
    }

    /// Whether no bucket is in debt.
    pub(crate) fn is_ready(&self) -> bool {
        self.debt_time().is_zero()
    }

    /// Waits until no bucket is in debt: first this peer's own bucket
    /// (nobody else spends it), then the shared one, taking turns with the
    /// other peers waiting for it (who may spend it meanwhile, hence the
    /// loop). A peer waiting out its own cap never holds up the others.
    pub(crate) async fn ready(&self) {
        if self.debt_time().is_zero() {
            return;
        }
        let start = Instant::now();
        if let Some(own) = &self.own {
            own.wait_out().await;
        }
        if let Some(global) = &self.global {
            let _turn = global.turn.lock().await;
            global.wait_out().await;
        }
        let waited = start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.throttled_nanos.fetch_add(waited, Ordering::Relaxed);
        self.total.fetch_add(waited, Ordering::Relaxed);
    }

    fn throttled(&self) -> Duration {
        Duration::from_nanos(self.throttled_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u64) -> BandwidthLimits {
        BandwidthLimits {
            per_peer_egress: Some(rate),
            burst: Some(MIN_BURST),
            ..Default::default()
        }
    }

    #[test]
    fn validation_and_defaults() {
        assert!(BandwidthLimits::default().validate().is_ok());
        assert!(!BandwidthLimits::default().is_limited());
        let low = BandwidthLimits {
            global_ingress: Some(MIN_BANDWIDTH - 1),
            ..Default::default()
        };
        assert_eq!(
            low.validate(),
            Err(BandwidthError {
                field: "global_ingress",
                value: MIN_BANDWIDTH - 1,
                min: MIN_BANDWIDTH
            })
        );
        let bw = Bandwidth::new(BandwidthLimits::default()).peer();
        assert!(bw.ingress.is_none() && bw.egress.is_none());
        let bw = Bandwidth::new(limits(1 << 20)).peer();
        assert!(bw.ingress.is_none() && bw.egress.is_some());
        // Default burst: one second of the rate, at least MIN_BURST.
        let l = BandwidthLimits::default();
        assert_eq!(l.bucket(Some(1 << 20)).unwrap().burst, (1 << 20) as f64);
        assert_eq!(l.bucket(Some(2048)).unwrap().burst, MIN_BURST as f64);
    }

    #[tokio::test(start_paused = true)]
    async fn debt_is_repaid_at_the_rate() {
        let bw = Bandwidth::new(limits(100_000)).peer();
        let t = bw.egress.unwrap();
        // The full burst passes at once; a 1 MB frame puts the bucket
        // 1 MB - 64 KiB into debt, repaid at 100 kB/s.
        assert!(t.is_ready());
        t.charge(1_000_000);
        assert!(!t.is_ready());
        let start = Instant::now();
        t.ready().await;
        let waited = start.elapsed();
        let expect = Duration::from_secs_f64((1_000_000 - MIN_BURST) as f64 / 100_000.0);
        assert!(waited >= expect && waited <= expect + Duration::from_millis(2));
        assert!(bw.ingress.is_none());
        assert!(t.throttled() >= expect);
    }

    #[tokio::test(start_paused = true)]
    async fn global_bucket_is_shared() {
        let shared = Bandwidth::new(BandwidthLimits {
            global_ingress: Some(100_000),
            burst: Some(MIN_BURST),
            ..Default::default()
        });
        let (a, b) = (shared.peer(), shared.peer());
        let (a, b) = (a.ingress.unwrap(), b.ingress.unwrap());
        a.charge(MIN_BURST as usize + 50_000);
        // b spent nothing but shares a's debt.
        assert!(!b.is_ready());
        b.ready().await;
        assert!(a.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_waiting_on_its_own_cap_does_not_hold_up_the_others() {
        let shared = Bandwidth::new(BandwidthLimits {
            global_ingress: Some(1_000_000),
            per_peer_ingress: Some(10_000),
            burst: Some(MIN_BURST),
            ..Default::default()
        });
        let (a, b) = (shared.peer(), shared.peer());
        let (a, b) = (a.ingress.unwrap(), b.ingress.unwrap());
        // a: 10 s of debt on its own bucket, some on the global one.
        a.charge(MIN_BURST as usize + 100_000);
        let start = Instant::now();
        let slow = tokio::spawn(async move { a.ready().await });
        tokio::task::yield_now().await;
        // b waits only for the global debt (0.1 s), not for a's 10 s.
        b.ready().await;
        assert!(
            start.elapsed() <= Duration::from_millis(101),
            "{:?}",
            start.elapsed()
        );
        slow.await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(10));
    }
}
