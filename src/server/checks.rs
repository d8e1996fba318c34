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
    /// `Config::max_peers`.
    pub max_peers: usize,
    /// `Config::max_inbound_peers()`.
    pub max_inbound: usize,
}

/// The connection being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
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
}

/// Runs after the RLPx handshake and again before the peer is added. The
/// first failing check gives the reason, in go-ethereum's order: peer limit,
/// inbound share, already connected, self. A banned node gets
/// `UselessPeer` (go-ethereum has no ban list; that is the closest reason
/// that tells the remote not to retry soon), checked first and applied to
/// trusted nodes too.
pub fn admission_check(
    c: &Candidate,
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
    if c.connected {
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
    };

    fn cand(inbound: bool) -> Candidate {
        Candidate {
            id: NodeId([1; 64]),
            inbound,
            trusted: false,
            banned: false,
            connected: false,
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
        let trusted = Candidate {
            trusted: true,
            ..cand(true)
        };
        assert_eq!(admission_check(&trusted, counts(10, 10), &LIMITS), Ok(()));
    }

    #[test]
    fn duplicate_self_and_banned() {
        let dup = Candidate {
            connected: true,
            trusted: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&dup, counts(0, 0), &LIMITS),
            Err(DiscReason::AlreadyConnected)
        );
        let me = Candidate {
            id: LIMITS.self_id,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&me, counts(0, 0), &LIMITS),
            Err(DiscReason::ConnectedToSelf)
        );
        let banned = Candidate {
            banned: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&banned, counts(0, 0), &LIMITS),
            Err(DiscReason::UselessPeer)
        );
        // Geth's order: the peer limit is reported before "already connected".
        let full_dup = Candidate {
            connected: true,
            ..cand(false)
        };
        assert_eq!(
            admission_check(&full_dup, counts(3, 0), &LIMITS),
            Err(DiscReason::TooManyPeers)
        );
    }
}
