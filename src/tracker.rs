//! [`RequestTracker`]: matches responses to requests by id, with a timeout
//! per request (the role of go-ethereum's `p2p/tracker`, as a helper for
//! protocol implementations).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use devp2p::{RequestTracker, TrackerError};
//!
//! let tracker: RequestTracker<Vec<u8>> = RequestTracker::new(Duration::from_secs(10));
//! let pending = tracker.track(7).unwrap();      // register before sending the request
//! // ... send the request with id 7; the read loop later calls:
//! assert!(tracker.fulfil(7, vec![1, 2, 3]));
//! assert_eq!(pending.await, Ok(vec![1, 2, 3]));
//! assert!(!tracker.fulfil(7, vec![]));          // late or unknown id
//! # });
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use crate::msgrate::PeerRate;

/// Default bound on requests outstanding at once in one tracker. go-ethereum
/// tracks at most 100 000 packets across all peers (`maxTrackedPackets`);
/// one tracker usually serves one peer, so a much smaller bound suffices.
pub const DEFAULT_MAX_OUTSTANDING: usize = 4096;

/// Why a tracked request produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// No response within the tracker's timeout.
    #[error("request timed out")]
    Timeout,
    /// The tracker was cleared or dropped (e.g. the peer disconnected).
    #[error("request dropped")]
    Dropped,
    /// `track`: the id is already outstanding.
    #[error("request id {0} already outstanding")]
    DuplicateId(u64),
    /// `track`: the outstanding-request bound is reached.
    #[error("too many outstanding requests (limit {0})")]
    TooManyRequests(usize),
}

struct Entry<Resp> {
    generation: u64,
    tx: oneshot::Sender<Resp>,
    /// The message kind and send time of a request tracked with
    /// [`RequestTracker::track_kind`], measured into the peer's rate.
    measured: Option<(u64, Instant)>,
}

/// Where a tracker's timeouts come from.
#[derive(Clone, Debug)]
enum Timeouts {
    /// The same for every request.
    Fixed(Duration),
    /// The peer's rate set's target timeout at the time of each request, and
    /// every answer measured into the peer's estimates.
    Rate(Arc<PeerRate>),
}

impl Timeouts {
    fn next(&self) -> Duration {
        match self {
            Timeouts::Fixed(d) => *d,
            Timeouts::Rate(rate) => rate.rates().target_timeout(),
        }
    }

    fn rate(&self) -> Option<&Arc<PeerRate>> {
        match self {
            Timeouts::Fixed(_) => None,
            Timeouts::Rate(rate) => Some(rate),
        }
    }
}

struct State<Resp> {
    pending: HashMap<u64, Entry<Resp>>,
    next_generation: u64,
}

/// Tracks outstanding requests by id. Cloning shares the same table.
///
/// No background task or timer: each [`PendingRequest`] owns its own sleep
/// and removes its entry when it completes, times out or is dropped.
pub struct RequestTracker<Resp> {
    state: Arc<Mutex<State<Resp>>>,
    timeouts: Timeouts,
    max_outstanding: usize,
}

impl<Resp> std::fmt::Debug for RequestTracker<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracker")
            .field("timeouts", &self.timeouts)
            .field("max_outstanding", &self.max_outstanding)
            .finish_non_exhaustive()
    }
}

impl<Resp> Clone for RequestTracker<Resp> {
    fn clone(&self) -> Self {
        RequestTracker {
            state: self.state.clone(),
            timeouts: self.timeouts.clone(),
            max_outstanding: self.max_outstanding,
        }
    }
}

fn lock<Resp>(state: &Mutex<State<Resp>>) -> MutexGuard<'_, State<Resp>> {
    // The table stays consistent even if a holder panicked.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl<Resp> RequestTracker<Resp> {
    /// A tracker with the given per-request timeout and
    /// [`DEFAULT_MAX_OUTSTANDING`].
    pub fn new(timeout: Duration) -> Self {
        Self::with_limit(timeout, DEFAULT_MAX_OUTSTANDING)
    }

    /// A tracker with an explicit bound on outstanding requests (≥ 1).
    pub fn with_limit(timeout: Duration, max_outstanding: usize) -> Self {
        Self::build(Timeouts::Fixed(timeout), max_outstanding)
    }

    /// A tracker for one peer whose timeouts follow its rate set
    /// ([`MsgRates::target_timeout`](crate::msgrate::MsgRates::target_timeout)
    /// at the time of each request) and which measures every request tracked
    /// with [`track_kind`](Self::track_kind) into `rate`: the items of an
    /// answer ([`fulfil_items`](Self::fulfil_items); [`fulfil`](Self::fulfil)
    /// counts one) over its round trip, or zero items on a timeout. Bounded
    /// by [`DEFAULT_MAX_OUTSTANDING`].
    pub fn with_rate(rate: PeerRate) -> Self {
        Self::build(Timeouts::Rate(Arc::new(rate)), DEFAULT_MAX_OUTSTANDING)
    }

    fn build(timeouts: Timeouts, max_outstanding: usize) -> Self {
        RequestTracker {
            state: Arc::new(Mutex::new(State {
                pending: HashMap::new(),
                next_generation: 0,
            })),
            timeouts,
            max_outstanding: max_outstanding.max(1),
        }
    }

    /// The peer's rate estimates of a tracker made with
    /// [`with_rate`](Self::with_rate): ask it how many items to request
    /// ([`PeerRate::capacity`]).
    pub fn rate(&self) -> Option<&PeerRate> {
        self.timeouts.rate().map(|r| &**r)
    }

    /// Registers request `id`; the returned future resolves with the response
    /// passed to [`fulfil`](Self::fulfil), or [`TrackerError::Timeout`] after
    /// the timeout, or [`TrackerError::Dropped`] if the tracker is cleared.
    /// The timeout starts now: register just before sending the request.
    pub fn track(&self, id: u64) -> Result<PendingRequest<Resp>, TrackerError> {
        self.register(id, None)
    }

    /// As [`track`](Self::track), for a request of message kind `kind` (for
    /// instance its code) whose answer or timeout is measured into the peer's
    /// rate when the tracker was made with [`with_rate`](Self::with_rate);
    /// without a rate it is the same as `track`.
    pub fn track_kind(&self, id: u64, kind: u64) -> Result<PendingRequest<Resp>, TrackerError> {
        self.register(id, Some(kind))
    }

    fn register(&self, id: u64, kind: Option<u64>) -> Result<PendingRequest<Resp>, TrackerError> {
        let timeout = self.timeouts.next();
        let mut st = lock(&self.state);
        if st.pending.contains_key(&id) {
            return Err(TrackerError::DuplicateId(id));
        }
        if st.pending.len() >= self.max_outstanding {
            return Err(TrackerError::TooManyRequests(self.max_outstanding));
        }
        let generation = st.next_generation;
        st.next_generation += 1;
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let measured = kind.map(|k| (k, now));
        st.pending.insert(
            id,
            Entry {
                generation,
                tx,
                measured,
            },
        );
        let on_timeout = match (kind, self.timeouts.rate()) {
            (Some(kind), Some(rate)) => Some((rate.clone(), kind, now)),
            _ => None,
        };
        Ok(PendingRequest {
            id,
            generation,
            rx,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            state: self.state.clone(),
            finished: false,
            on_timeout,
        })
    }

    /// Delivers the response for `id`. Returns `false` for an unknown, timed
    /// out or already answered id (the caller may penalise the peer). A
    /// request tracked with [`track_kind`](Self::track_kind) is measured as
    /// one item; use [`fulfil_items`](Self::fulfil_items) to give the count.
    pub fn fulfil(&self, id: u64, resp: Resp) -> bool {
        self.fulfil_items(id, resp, 1)
    }

    /// Delivers the response for `id`, which carried `items` items (headers,
    /// bodies, ...; zero when the peer had none of them). Returns `false` for
    /// an unknown, timed out or already answered id.
    pub fn fulfil_items(&self, id: u64, resp: Resp, items: usize) -> bool {
        let entry = lock(&self.state).pending.remove(&id);
        let Some(e) = entry else { return false };
        if let (Some((kind, sent)), Some(rate)) = (e.measured, self.timeouts.rate()) {
            rate.update(kind, sent.elapsed(), items);
        }
        e.tx.send(resp).is_ok()
    }

    /// Number of outstanding requests.
    pub fn len(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// Whether no request is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fails every outstanding request with [`TrackerError::Dropped`].
    pub fn clear(&self) {
        lock(&self.state).pending.clear();
    }
}

/// A tracked request's response (a future; see [`RequestTracker::track`]).
pub struct PendingRequest<Resp> {
    id: u64,
    generation: u64,
    rx: oneshot::Receiver<Resp>,
    sleep: Pin<Box<Sleep>>,
    state: Arc<Mutex<State<Resp>>>,
    finished: bool,
    /// Measured as zero items when the request times out.
    on_timeout: Option<(Arc<PeerRate>, u64, Instant)>,
}

impl<Resp> PendingRequest<Resp> {
    /// The request id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn remove_entry(&mut self) {
        let mut st = lock(&self.state);
        if st
            .pending
            .get(&self.id)
            .is_some_and(|e| e.generation == self.generation)
        {
            st.pending.remove(&self.id);
        }
    }
}

impl<Resp> Future for PendingRequest<Resp> {
    type Output = Result<Resp, TrackerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(Err(TrackerError::Dropped));
        }
        if let Poll::Ready(r) = Pin::new(&mut this.rx).poll(cx) {
            this.finished = true;
            return Poll::Ready(r.map_err(|_| TrackerError::Dropped));
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.finished = true;
            this.remove_entry();
            if let Some((rate, kind, sent)) = this.on_timeout.take() {
                rate.update(kind, sent.elapsed(), 0);
            }
            return Poll::Ready(Err(TrackerError::Timeout));
        }
        Poll::Pending
    }
}

impl<Resp> Drop for PendingRequest<Resp> {
    fn drop(&mut self) {
        if !self.finished {
            self.remove_entry();
        }
    }
}

impl<Resp> std::fmt::Debug for PendingRequest<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequest")
            .field("id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timeout_and_late_response() {
        let t: RequestTracker<u32> = RequestTracker::new(Duration::from_secs(5));
        let p = t.track(1).unwrap();
        let start = tokio::time::Instant::now();
        assert_eq!(p.await, Err(TrackerError::Timeout));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(t.is_empty(), "timed-out entry removed");
        assert!(!t.fulfil(1, 9), "late response rejected");
    }

    #[tokio::test(start_paused = true)]
    async fn fulfil_before_timeout_and_unknown_ids() {
        let t: RequestTracker<u32> = RequestTracker::new(Duration::from_secs(5));
        let p = t.track(1).unwrap();
        assert_eq!(t.track(1).unwrap_err(), TrackerError::DuplicateId(1));
        assert!(!t.fulfil(2, 0));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(t.fulfil(1, 42));
        assert_eq!(p.await, Ok(42));
        assert!(t.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_and_dropping_frees_slots() {
        let t: RequestTracker<u32> = RequestTracker::with_limit(Duration::from_secs(5), 2);
        let a = t.track(1).unwrap();
        let _b = t.track(2).unwrap();
        assert_eq!(t.track(3).unwrap_err(), TrackerError::TooManyRequests(2));
        drop(a);
        assert_eq!(t.len(), 1, "dropped request removed, no leak");
        let c = t.track(3).unwrap();
        t.clear();
        assert_eq!(c.await, Err(TrackerError::Dropped));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_tracker_measures_answers_and_timeouts() {
        use crate::msgrate::{MsgRates, TTL_SCALING};
        const KIND: u64 = 3;
        let rates = MsgRates::new();
        let t: RequestTracker<u32> = RequestTracker::with_rate(rates.register());
        let rate = t.rate().unwrap();
        // 100 items answered after 500 ms: 200 items/s, weighted 0.1: 20/s.
        let p = t.track_kind(1, KIND).unwrap();
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(t.fulfil_items(1, 7, 100));
        assert_eq!(p.await, Ok(7));
        assert_eq!(rate.capacity(KIND, Duration::from_secs(1)), 22); // 1 + 1.01 × 20
                                                                     // The timeout is the set's: 3 × 20 s (no tuning yet) at confidence 1.
        let p = t.track_kind(2, KIND).unwrap();
        let start = tokio::time::Instant::now();
        assert_eq!(p.await, Err(TrackerError::Timeout));
        assert_eq!(start.elapsed().as_secs_f64(), TTL_SCALING * 20.0);
        assert_eq!(
            rate.capacity(KIND, Duration::from_secs(1)),
            1,
            "timeout slashes"
        );
        // `track` (no kind) measures nothing.
        let p = t.track(3).unwrap();
        assert!(t.fulfil_items(3, 1, 1000));
        assert_eq!(p.await, Ok(1));
        assert_eq!(rate.capacity(KIND, Duration::from_secs(1)), 1);
        drop(t);
        assert!(rates.is_empty(), "the peer leaves the set with its tracker");
    }

    #[tokio::test(start_paused = true)]
    async fn stale_drop_does_not_remove_new_registration() {
        let t: RequestTracker<u32> = RequestTracker::new(Duration::from_secs(5));
        let old = t.track(1).unwrap();
        assert!(t.fulfil(1, 1));
        let new = t.track(1).unwrap();
        drop(old);
        assert!(t.fulfil(1, 2));
        assert_eq!(new.await, Ok(2));
    }
}
