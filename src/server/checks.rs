//! Admission checks run by the server task (sans-IO), after go-ethereum's
//! `postHandshakeChecks` and `addPeerChecks`.

use crate::disc_reason::DiscReason;
use crate::node::NodeId;

/// What the checks need to know about the current peer set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCounts {
    /// Connected peers.
    pub peers: usize,
    /// Connected peers that dialed us.
    pub inbound: usize,
}

/// Limits the checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Our own id.
    pub self_id: NodeId,
    /// `Config::peer_limit()`: most peers in total.
    pub max_peers: usize,
    /// `Config::max_inbound_peers()`.
    pub max_inbound: usize,
    /// `Config::outbound_admission_limit()`: most peers we dialed, when the
    /// operator set one (`None`: only `max_peers` bounds them).
    pub max_outbound: Option<usize>,
}

/// The connection being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCandidate {
    /// Remote id (authenticated by RLPx).
    pub id: NodeId,
    /// Whether it dialed us.
    pub inbound: bool,
    /// Whether it is trusted (bypasses the peer limits).
    pub trusted: bool,
    /// Whether it is banned.
    pub banned: bool,
    /// Whether it is already a connected peer.
    pub connected: bool,
    /// Whether it dialed us while we are dialing it and our dial wins the
    /// tie-break (see `loses_crossed_dial`).
    pub loses_crossed_dial: bool,
}

/// Tie-break for two nodes that dial each other at the same time. Without
/// one, each side admits its own dial first and then refuses the other's as
/// "already connected", so both connections die (go-ethereum behaves so).
/// Rule: the connection dialed by the node with the smaller id survives.
/// Both sides evaluate it identically: the smaller node refuses the larger
/// node's inbound connection while its own dial to it is in flight, and the
/// larger node accepts the smaller node's inbound connection (its own dial is
/// then refused by the smaller node, or by itself as already connected).
pub(super) fn loses_crossed_dial(
    self_id: &NodeId,
    remote: &NodeId,
    inbound: bool,
    dialing: bool,
) -> bool {
    inbound && dialing && self_id.0 < remote.0
}

/// Runs after the RLPx handshake and again before the peer is added. The
/// first failing check gives the reason, in go-ethereum's order: peer limit,
/// inbound share (and the outbound limit when set), already connected, self. A banned node gets
/// `UselessPeer` (go-ethereum has no ban list; that is the closest reason
/// that tells the remote not to retry soon), checked first and applied to
/// trusted nodes too.
pub fn admission_check(
    c: &PeerCandidate,
    counts: PeerCounts,
    limits: &AdmissionLimits,
) -> Result<(), DiscReason> {
    if c.banned {
        return Err(DiscReason::UselessPeer);
    }
    if !c.trusted && counts.peers >= limits.max_peers {
        return Err(DiscReason::TooManyPeers);
    }
    if !c.trusted && c.inbound && counts.inbound >= limits.max_inbound {
        return Err(DiscReason::TooManyPeers);
    }
    if let Some(max_outbound) = limits.max_outbound {
        let outbound = counts.peers.saturating_sub(counts.inbound);
        if !c.trusted && !c.inbound && outbound >= max_outbound {
            return Err(DiscReason::TooManyPeers);
        }
    }
    if c.connected || c.loses_crossed_dial {
        return Err(DiscReason::AlreadyConnected);
    }
    if c.id == limits.self_id {
        return Err(DiscReason::ConnectedToSelf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AdmissionLimits = AdmissionLimits {
        self_id: NodeId([9; 64]),
        max_peers: 3,
        max_inbound: 2,
        max_outbound: None,
    };

    fn cand(inbound: bool) -> PeerCandidate {
        PeerCandidate {
            id: NodeId([1; 64]),
            inbound,
            trusted: false,
            banned: false,
            connected: false,
            loses_crossed_dial: false,
        }
    }

    fn counts(peers: usize, inbound: usize) -> PeerCounts {
        PeerCounts { peers, inbound }
    }

    #[test]
    fn limits_and_trusted_bypass() {
        assert_eq!(admission_check(&cand(true), counts(2, 1), &LIMITS), Ok(()));
        assert_eq!(
            admission_check(&cand(true), counts(2, 2), &LIMITS),
            Err(DiscReason::TooManyPeers),
            "inbound share full"
        );
        assert_eq!(
            admission_check(&cand(false), counts(2, 2), &LIMITS),
            Ok(()),
            "dialed peer fits"
        );
        assert_eq!(
            admission_check(&cand(false), counts(3, 0), &LIMITS),
            Err(DiscReason::TooManyPeers)
        );
        let trusted = PeerCandidate {
            trusted: true,
            ..cand(true)
        };
        assert_eq!(admission_check(&trusted, counts(10, 10), &LIMITS), Ok(()));
    }

    #[test]
    fn explicit_outbound_limit_applies_to_dialed_peers_only() {
        let limits = AdmissionLimits {
            max_outbound: Some(1),
            max_peers: 10,
            ..LIMITS
        };
        assert_eq!(admission_check(&cand(false), counts(1, 1), &limits), Ok(()));
        assert_eq!(
            admission_check(&cand(false), counts(2, 1), &limits),
            Err(DiscReason::TooManyPeers),
            "one dialed peer already"
        );
        assert_eq!(
            admission_check(&cand(true), counts(2, 1), &limits),
            Ok(()),
            "inbound share still free"
        );
        let trusted = PeerCandidate {
            trusted: true,
            ..cand(false)
        };
        assert_eq!(admission_check(&trusted, counts(5, 0), &limits), Ok(()));
    }

    #[test]
    fn duplicate_self_and_banned() {
        let dup = PeerCandidate {
            connected: true,
            trusted: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&dup, counts(0, 0), &LIMITS),
            Err(DiscReason::AlreadyConnected)
        );
        let me = PeerCandidate {
            id: LIMITS.self_id,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&me, counts(0, 0), &LIMITS),
            Err(DiscReason::ConnectedToSelf)
        );
        let banned = PeerCandidate {
            banned: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&banned, counts(0, 0), &LIMITS),
            Err(DiscReason::UselessPeer)
        );
        // Geth's order: the peer limit is reported before "already connected".
        let full_dup = PeerCandidate {
            connected: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&full_dup, counts(3, 0), &LIMITS),
            Err(DiscReason::TooManyPeers)
        );
    }

    #[test]
    fn crossed_dial_tie_break_agrees_on_both_sides() {
        let small = NodeId([1; 64]);
        let large = NodeId([2; 64]);
        // The smaller node refuses the larger one's dial while dialing it...
        assert!(loses_crossed_dial(&small, &large, true, true));
        // ...the larger node accepts the smaller one's dial...
        assert!(!loses_crossed_dial(&large, &small, true, true));
        // ...and nothing changes without a crossed dial or for our own dial.
        assert!(!loses_crossed_dial(&small, &large, true, false));
        assert!(!loses_crossed_dial(&small, &large, false, true));
        let mut c = cand(true);
        c.loses_crossed_dial = true;
        assert_eq!(
            admission_check(
                &c,
                PeerCounts {
                    peers: 0,
                    inbound: 0
                },
                &LIMITS
            ),
            Err(DiscReason::AlreadyConnected)
        );
    }
}
