//! [`RandomEnrs`]: records from random lookups, as a dial source.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::time::Instant;

use super::{Discv5, Discv5Error, Enr};

/// Least time between two lookups of one [`RandomEnrs`] stream, and the
/// wait before looking again while the table is empty (the stream waits for
/// entries instead of spinning). go-ethereum's discv5 iterator runs lookups
/// back to back, throttled to one per second when they come back empty.
pub const MIN_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// Records kept from one lookup: a lookup returns at most the 16 closest
/// (the bucket size), so this never cuts a result in practice; it bounds
/// the buffer whatever the crate returns.
pub const MAX_RANDOM_BUFFER: usize = 32;

/// An endless stream of records found by random lookups; ends when the
/// service stops. Lookups run only while the stream is polled (the dialer
/// pulls when it has a free slot), at most one per interval, and none while
/// the table is empty. No task is spawned: dropping the stream stops it.
pub struct RandomEnrs {
    inner: BoxStream<'static, Enr>,
}

impl std::fmt::Debug for RandomEnrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomEnrs").finish_non_exhaustive()
    }
}

struct State {
    disc: Discv5,
    buffer: VecDeque<Enr>,
    next_lookup: Instant,
    interval: Duration,
}

impl RandomEnrs {
    pub(super) fn new(disc: Discv5, interval: Duration) -> Self {
        let state = State {
            disc,
            buffer: VecDeque::new(),
            next_lookup: Instant::now(),
            interval,
        };
        RandomEnrs {
            inner: futures::stream::unfold(state, next).boxed(),
        }
    }
}

async fn next(mut st: State) -> Option<(Enr, State)> {
    loop {
        if let Some(record) = st.buffer.pop_front() {
            return Some((record, st));
        }
        if st.disc.is_stopped() {
            return None;
        }
        tokio::time::sleep_until(st.next_lookup).await;
        st.next_lookup = Instant::now() + st.interval;
        if st.disc.table_len() == 0 {
            continue;
        }
        match st.disc.lookup_random().await {
            Ok(found) => st.buffer.extend(found.into_iter().take(MAX_RANDOM_BUFFER)),
            Err(Discv5Error::Stopped) => return None,
            Err(e) => tracing::debug!(target: super::TARGET, error = %e, "random lookup failed"),
        }
    }
}

impl Stream for RandomEnrs {
    type Item = Enr;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Enr>> {
        self.inner.poll_next_unpin(cx)
    }
}
