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
use tokio::time::Sleep;

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
    timeout: Duration,
    max_outstanding: usize,
}

impl<Resp> std::fmt::Debug for RequestTracker<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracker")
            .field("timeout", &self.timeout)
            .field("max_outstanding", &self.max_outstanding)
            .finish_non_exhaustive()
    }
}

impl<Resp> Clone for RequestTracker<Resp> {
    fn clone(&self) -> Self {
        RequestTracker {
            state: self.state.clone(),
            timeout: self.timeout,
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
        RequestTracker {
            state: Arc::new(Mutex::new(State {
                pending: HashMap::new(),
                next_generation: 0,
            })),
            timeout,
            max_outstanding: max_outstanding.max(1),
        }
    }

    /// Registers request `id`; the returned future resolves with the response
    /// passed to [`fulfil`](Self::fulfil), or [`TrackerError::Timeout`] after
    /// the timeout, or [`TrackerError::Dropped`] if the tracker is cleared.
    /// The timeout starts now: register just before sending the request.
    pub fn track(&self, id: u64) -> Result<PendingRequest<Resp>, TrackerError> {
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
        st.pending.insert(id, Entry { generation, tx });
        Ok(PendingRequest {
            id,
            generation,
            rx,
            sleep: Box::pin(tokio::time::sleep(self.timeout)),
            state: self.state.clone(),
            finished: false,
        })
    }

    /// Delivers the response for `id`. Returns `false` for an unknown, timed
    /// out or already answered id (the caller may penalise the peer).
    pub fn fulfil(&self, id: u64, resp: Resp) -> bool {
        let entry = lock(&self.state).pending.remove(&id);
        match entry {
            Some(e) => e.tx.send(resp).is_ok(),
            None => false,
        }
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
