//! [`DnsSource`]: a [`RandomWalk`] as a `Stream` of verified node records,
//! for the dialer.
//!
//! The stream is pull-driven: it owns the walk, runs no task of its own and
//! holds no buffer; a record is resolved only when the consumer polls for
//! one (the dialer polls only when it has a free slot, as EIP-1459 asks:
//! "request entries when needed"). Dropping the stream stops everything
//! (hickory-resolver's connection tasks are aborted with the last clone of
//! the client's resolver).
//! When every tree is synced without records it sleeps until the next root
//! re-check; after errors it backs off exponentially, so it never spins.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use devp2p_identity::Enr;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tracing::debug;

use crate::client::{Client, RandomWalk, Step};
use crate::entry::TreeUrl;

/// First back-off after a failed step: 1 s (go-ethereum waits 5 s only
/// after 5 failed root lookups; we start lower and double).
pub const ERROR_BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest back-off after failed steps: 10 s, go-ethereum's delay after 20
/// failed root lookups.
pub const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Shortest sleep when idle (every tree synced, no records), so a root
/// re-check that is already due cannot make it spin: 1 s, our choice.
pub const IDLE_MIN_SLEEP: Duration = Duration::from_secs(1);

/// Verified node records from the trees at some `enrtree://` URLs, as a
/// `Stream` (see the module docs for when it resolves, sleeps and backs
/// off). Only dialable records come out (an IP address and a TCP port for
/// it, see [`is_dialable`]); others are skipped. It never ends while there
/// is a tree to walk.
pub struct DnsSource {
    inner: BoxStream<'static, Enr>,
}

impl std::fmt::Debug for DnsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsSource").finish_non_exhaustive()
    }
}

impl DnsSource {
    /// Walks the trees at `urls` (and what they link to) with `client`.
    pub fn new(client: Client, urls: Vec<TreeUrl>) -> Self {
        DnsSource::from_walk(RandomWalk::new(client, urls))
    }

    /// Streams the records of `walk`.
    pub fn from_walk(walk: RandomWalk) -> Self {
        let inner = futures::stream::unfold((walk, 0u32), |(mut walk, mut failures)| async move {
            if walk.domains().is_empty() {
                return None;
            }
            loop {
                match walk.step().await {
                    Ok(Step::Record(enr)) if is_dialable(&enr) => return Some((enr, (walk, 0))),
                    Ok(Step::Record(enr)) => {
                        debug!(target: "p2p::dnsdisc", id = %enr.node_id(), "record without IP and TCP port skipped");
                        failures = 0;
                    }
                    Ok(Step::Progress) => failures = 0,
                    Ok(Step::Idle(until)) => {
                        let floor = tokio::time::Instant::now() + IDLE_MIN_SLEEP;
                        tokio::time::sleep_until(until.max(floor)).await;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let wait = backoff(failures);
                        debug!(target: "p2p::dnsdisc", error = %e, ?wait, "DNS tree step failed");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        });
        DnsSource {
            inner: inner.boxed(),
        }
    }
}

/// Whether `enr` names an endpoint a dialer can use: IPv4 with `tcp`, or
/// IPv6 with `tcp6` (or `tcp`, EIP-778's fallback).
pub fn is_dialable(enr: &Enr) -> bool {
    (enr.ip4().is_some() && enr.tcp().is_some())
        || (enr.ip6().is_some() && enr.tcp6().or(enr.tcp()).is_some())
}

/// Back-off after `failures` consecutive failed steps (≥ 1).
fn backoff(failures: u32) -> Duration {
    // 2^8 s is far above ERROR_BACKOFF_MAX: the cap only keeps the shift small.
    let shift = failures.saturating_sub(1).min(8);
    (ERROR_BACKOFF_MIN * (1u32 << shift)).min(ERROR_BACKOFF_MAX)
}

impl Stream for DnsSource {
    type Item = Enr;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Enr>> {
        self.inner.poll_next_unpin(cx)
    }
}
