//! Inbound message rate limits a protocol declares for each peer
//! ([`RateLimit`], set with
//! [`Protocol::with_rate_limit`](crate::Protocol::with_rate_limit)).
//!
//! The connection's reader checks the budget of a message's protocol as soon
//! as it knows the code, before decompressing or delivering it. A peer over
//! budget is disconnected with [`DiscReason::SubprotocolError`] (what
//! go-ethereum sends for any error a protocol handler returns; it has no
//! per-protocol rate limit of its own), its Drop event carries
//! [`PeerError::RateLimited`](super::PeerError::RateLimited) naming the
//! protocol and the budget, and its reputation is lowered by
//! [`RATE_LIMIT_PENALTY`]. Base-protocol messages are not counted (pings
//! have their own limit, [`PONG_BURST`](super::PONG_BURST)).

use tokio::time::Instant;
use tracing::debug;

use super::error::PeerError;
use super::handle::{PeerShared, RunningProto};
use super::TARGET;
use crate::disc_reason::DiscReason;

/// Reputation change for a peer that exceeded a protocol's rate limit: -10,
/// one "serious offence" on the ban list's scale (see
/// [`BAN_THRESHOLD`](crate::server::BAN_THRESHOLD), -100), so a node that
/// floods us on ten connections is banned.
pub const RATE_LIMIT_PENALTY: i32 = -10;

/// A protocol's inbound budget per peer: a token bucket of `burst` messages
/// refilled at `msgs_per_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second (at least 1 is used).
    pub msgs_per_s: u32,
    /// Messages accepted back to back after an idle period (at least 1 is
    /// used).
    pub burst: u32,
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} msgs/s, burst {}", self.msgs_per_s, self.burst)
    }
}

/// The state of one peer's budget for one protocol.
#[derive(Debug)]
pub(crate) struct MsgBudget {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl MsgBudget {
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        MsgBudget {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            last: now,
        }
    }

    /// Takes one message's token; `false` when the budget is spent.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let rate = f64::from(self.limit.msgs_per_s.max(1));
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(self.limit.burst.max(1)));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }
}

/// The reason sent to a peer over a rate limit.
pub(crate) const RATE_LIMIT_REASON: DiscReason = DiscReason::SubprotocolError;

/// One budget per lane (`None` where the protocol set no limit); `None`
/// at all when no protocol set one, so the reader pays one branch.
pub(super) fn rate_budgets(running: &[RunningProto]) -> Option<Box<[Option<MsgBudget>]>> {
    let now = Instant::now();
    running.iter().any(|r| r.rate_limit.is_some()).then(|| {
        running
            .iter()
            .map(|r| r.rate_limit.map(|l| MsgBudget::new(l, now)))
            .collect()
    })
}

/// Takes a token for a message on `lane` (if its protocol has a budget);
/// over budget, reports the reputation penalty and returns the error that
/// ends the peer.
pub(super) fn check_budget(
    budgets: &mut [Option<MsgBudget>],
    shared: &PeerShared,
    lane: usize,
) -> Result<(), PeerError> {
    let Some(budget) = budgets.get_mut(lane).and_then(Option::as_mut) else {
        return Ok(());
    };
    if budget.allow(Instant::now()) {
        return Ok(());
    }
    let id = shared.setup.id;
    // A full reputation queue drops the report (documented there); the
    // disconnect happens regardless.
    shared.setup.reputation.report(id, RATE_LIMIT_PENALTY);
    let protocol = shared.running[lane].name();
    debug!(target: TARGET, %id, %protocol, limit = %budget.limit(), "rate limit exceeded");
    Err(PeerError::RateLimited {
        protocol,
        limit: budget.limit(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = MsgBudget::new(
            RateLimit {
                msgs_per_s: 10,
                burst: 3,
            },
            t0,
        );
        assert!((0..3).all(|_| b.allow(t0)));
        assert!(!b.allow(t0));
        // One token per 100 ms.
        assert!(!b.allow(t0 + Duration::from_millis(50)));
        assert!(b.allow(t0 + Duration::from_millis(110)));
        assert!(!b.allow(t0 + Duration::from_millis(110)));
        // Idle for long: back to the burst, not more.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.allow(later)));
        assert!(!b.allow(later));
    }
}
