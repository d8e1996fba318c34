//! Ban list with expiry and a per-peer reputation score (sans-IO: the caller
//! passes the current time, so tests need no clock).
//!
//! go-ethereum has neither; the model follows reth's peer manager: protocols
//! adjust a signed score, and a peer whose score falls to [`BAN_THRESHOLD`](crate::server::BAN_THRESHOLD) or
//! below is banned for [`DEFAULT_BAN_DURATION`]. A banned node can neither
//! connect to us nor be dialed until its ban expires.
//!
//! Both maps are bounded ([`MAX_BANNED`], [`MAX_REPUTATION_ENTRIES`]), so a
//! flood of fresh node ids cannot grow memory without limit.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::node::NodeId;

/// How long a peer whose reputation fell to [`BAN_THRESHOLD`](crate::server::BAN_THRESHOLD) stays banned:
/// 12 hours, reth's default `ban_duration`.
pub const DEFAULT_BAN_DURATION: Duration = Duration::from_secs(12 * 60 * 60);

/// A score at or below this bans the peer (scores start at 0). With
/// [`MIN_SCORE`] at -1000, a protocol can express ten "serious" offences
/// (-10 each) before a ban, or ban at once with a delta of `BAN_THRESHOLD`.
pub const BAN_THRESHOLD: i32 = -100;

/// Lowest score kept; adjustments saturate here (our choice: keeps arithmetic
/// bounded whatever protocols pass in).
pub const MIN_SCORE: i32 = -1000;

/// Highest score kept; good behaviour earns at most this much credit (our
/// choice, symmetric to [`MIN_SCORE`]).
pub(crate) const MAX_SCORE: i32 = 1000;

/// Most bans held at once (our choice: ~100 bytes each, so ~1 MiB). When full,
/// the ban that expires soonest is dropped to make room.
pub(crate) const MAX_BANNED: usize = 10_000;

/// Most reputation scores held at once (our choice, same budget as
/// [`MAX_BANNED`]). When full, the highest (least informative) score is
/// forgotten to make room.
pub(crate) const MAX_REPUTATION_ENTRIES: usize = 10_000;

/// The result of a reputation change (`Server::adjust_reputation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReputationChange {
    /// The score moved to the contained value; no ban.
    Score(i32),
    /// The score reached [`BAN_THRESHOLD`](crate::server::BAN_THRESHOLD): the peer is now banned until the
    /// contained instant (its score is reset to 0 for when the ban ends).
    Banned(Instant),
}

/// Banned node ids with their expiry, and reputation scores.
#[derive(Debug, Default)]
pub(crate) struct BanList {
    bans: HashMap<NodeId, Instant>,
    scores: HashMap<NodeId, i32>,
}

impl BanList {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Bans `id` until `now + duration` (extends, never shortens, an existing
    /// ban). Returns the expiry in force.
    pub(crate) fn ban(&mut self, id: NodeId, duration: Duration, now: Instant) -> Instant {
        let until = now + duration;
        if let Some(existing) = self.bans.get_mut(&id) {
            *existing = (*existing).max(until);
            return *existing;
        }
        if self.bans.len() >= MAX_BANNED {
            self.expire(now);
        }
        if self.bans.len() >= MAX_BANNED {
            if let Some(soonest) = self.bans.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
                self.bans.remove(&soonest);
            }
        }
        self.bans.insert(id, until);
        until
    }

    /// Lifts a ban; returns whether there was one.
    pub(crate) fn unban(&mut self, id: &NodeId) -> bool {
        self.bans.remove(id).is_some()
    }

    /// The expiry of `id`'s ban, if it is banned at `now`. An expired entry is
    /// removed on the way.
    pub(crate) fn banned_until(&mut self, id: &NodeId, now: Instant) -> Option<Instant> {
        match self.bans.get(id) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                self.bans.remove(id);
                None
            }
            None => None,
        }
    }

    /// Whether `id` is banned at `now`.
    pub(crate) fn is_banned(&mut self, id: &NodeId, now: Instant) -> bool {
        self.banned_until(id, now).is_some()
    }

    /// Drops every ban that has expired at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.bans.retain(|_, until| *until > now);
    }

    /// Number of bans held (expired ones included until [`expire`](Self::expire)).
    #[cfg(test)]
    pub(crate) fn banned_len(&self) -> usize {
        self.bans.len()
    }

    /// Current score of `id` (0 when unknown).
    pub(crate) fn score(&self, id: &NodeId) -> i32 {
        self.scores.get(id).copied().unwrap_or(0)
    }

    /// Adds `delta` to `id`'s score (saturating in [`MIN_SCORE`]..=[`MAX_SCORE`]).
    /// Reaching [`BAN_THRESHOLD`](crate::server::BAN_THRESHOLD) bans the peer for [`DEFAULT_BAN_DURATION`].
    pub(crate) fn adjust(&mut self, id: NodeId, delta: i32, now: Instant) -> ReputationChange {
        let current = self.score(&id);
        let next = current.saturating_add(delta).clamp(MIN_SCORE, MAX_SCORE);
        if next <= BAN_THRESHOLD {
            self.scores.remove(&id);
            return ReputationChange::Banned(self.ban(id, DEFAULT_BAN_DURATION, now));
        }
        if next == 0 {
            self.scores.remove(&id);
            return ReputationChange::Score(0);
        }
        if !self.scores.contains_key(&id) && self.scores.len() >= MAX_REPUTATION_ENTRIES {
            if let Some(best) = self.scores.iter().max_by_key(|(_, s)| **s).map(|(k, _)| *k) {
                self.scores.remove(&best);
            }
        }
        self.scores.insert(id, next);
        ReputationChange::Score(next)
    }

    /// Number of non-zero scores held.
    #[cfg(test)]
    pub(crate) fn scores_len(&self) -> usize {
        self.scores.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> NodeId {
        NodeId([n; 64])
    }

    #[test]
    fn ban_expires() {
        let t0 = Instant::now();
        let mut list = BanList::new();
        list.ban(id(1), Duration::from_secs(10), t0);
        assert!(list.is_banned(&id(1), t0));
        assert!(list.is_banned(&id(1), t0 + Duration::from_secs(9)));
        assert!(!list.is_banned(&id(1), t0 + Duration::from_secs(10)));
        assert_eq!(list.banned_len(), 0, "expired entry is removed when seen");
        assert!(!list.is_banned(&id(2), t0));
    }

    #[test]
    fn ban_never_shortens() {
        let t0 = Instant::now();
        let mut list = BanList::new();
        list.ban(id(1), Duration::from_secs(100), t0);
        let until = list.ban(id(1), Duration::from_secs(1), t0);
        assert_eq!(until, t0 + Duration::from_secs(100));
        assert!(list.unban(&id(1)));
        assert!(!list.is_banned(&id(1), t0));
    }

    #[test]
    fn reputation_bans_at_threshold_and_resets() {
        let t0 = Instant::now();
        let mut list = BanList::new();
        assert_eq!(list.adjust(id(1), -60, t0), ReputationChange::Score(-60));
        assert_eq!(list.adjust(id(1), 20, t0), ReputationChange::Score(-40));
        match list.adjust(id(1), -60, t0) {
            ReputationChange::Banned(until) => assert_eq!(until, t0 + DEFAULT_BAN_DURATION),
            other => panic!("expected a ban, got {other:?}"),
        }
        assert!(list.is_banned(&id(1), t0));
        assert_eq!(list.score(&id(1)), 0);
        assert!(!list.is_banned(&id(1), t0 + DEFAULT_BAN_DURATION));
    }

    #[test]
    fn reputation_saturates() {
        let t0 = Instant::now();
        let mut list = BanList::new();
        assert_eq!(
            list.adjust(id(1), i32::MAX, t0),
            ReputationChange::Score(MAX_SCORE)
        );
        assert_eq!(
            list.adjust(id(1), i32::MAX, t0),
            ReputationChange::Score(MAX_SCORE)
        );
        assert!(matches!(
            list.adjust(id(2), i32::MIN, t0),
            ReputationChange::Banned(_)
        ));
        assert_eq!(
            list.adjust(id(1), -MAX_SCORE, t0),
            ReputationChange::Score(0)
        );
        assert_eq!(list.scores_len(), 0, "zero scores are not stored");
    }

    #[test]
    fn maps_are_bounded() {
        let t0 = Instant::now();
        let mut list = BanList::new();
        for i in 0..(MAX_BANNED + 10) as u32 {
            let mut raw = [0u8; 64];
            raw[..4].copy_from_slice(&i.to_be_bytes());
            list.ban(NodeId(raw), Duration::from_secs(u64::from(i) + 1), t0);
            list.adjust(NodeId(raw), 1, t0);
        }
        assert_eq!(list.banned_len(), MAX_BANNED);
        assert_eq!(list.scores_len(), MAX_REPUTATION_ENTRIES);
        // The soonest-expiring bans were evicted, the latest one is kept.
        let mut last = [0u8; 64];
        last[..4].copy_from_slice(&((MAX_BANNED + 9) as u32).to_be_bytes());
        assert!(list.is_banned(&NodeId(last), t0));
        assert!(!list.is_banned(&NodeId([0; 64]), t0));
    }
}
