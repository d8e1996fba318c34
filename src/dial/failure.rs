//! [`SetupError`]: why a connection set-up failed, typed, and the policy
//! questions it answers for the dialer and the ban list: which
//! [`BackoffKind`] (how long the node is not dialed again) and whether the
//! node is banned.
//!
//! The model is reth's `SessionError::should_backoff` with its
//! `BackoffKind` low / medium / high (30 s, 3 min, 15 min, capped at 1 h)
//! and its `max_backoff_count` of 5; go-ethereum only keeps every dialed
//! node out for its 35 s dial history, whatever the failure.
//!
//! | failure | back-off | base |
//! |---|---|---|
//! | remote says "too many peers", connection reset or closed during the RLPx handshake | [`BackoffKind::Low`] | [`LOW_BACKOFF`] |
//! | TCP connect, RLPx handshake or Hello timed out, network error | [`BackoffKind::Medium`] | [`MEDIUM_BACKOFF`] |
//! | TCP connection refused | [`BackoffKind::High`] | [`HIGH_BACKOFF`] |
//! | protocol error (RLPx or Hello), no shared protocol, wrong identity | [`BackoffKind::Severe`] | [`MAX_BACKOFF`] |
//! | refused by our own checks, already connected, server stopping | none | — |
//!
//! The delay grows with the node's consecutive failures:
//! `base × failures`, capped at [`MAX_BACKOFF`]. A discovered node dropped
//! [`MAX_CONSECUTIVE_FAILURES`] times in a row is no longer dialed until
//! it connects once (e.g. by dialing us); static nodes keep being retried.

use std::io;
use std::time::Duration;

use crate::disc_reason::DiscReason;
use crate::peer::PeerError;
use crate::server::SetupErrorKind;
use crate::server::DEFAULT_BAN_DURATION;

/// Base back-off of [`BackoffKind::Low`]: 30 s, reth's
/// `PeerBackoffDurations::low` (equal to go-ethereum's inbound throttle).
pub const LOW_BACKOFF: Duration = Duration::from_secs(30);

/// Base back-off of [`BackoffKind::Medium`]: 3 min, reth's
/// `PeerBackoffDurations::medium`.
pub const MEDIUM_BACKOFF: Duration = Duration::from_secs(3 * 60);

/// Base back-off of [`BackoffKind::High`]: 15 min, reth's
/// `PeerBackoffDurations::high`.
pub const HIGH_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Longest back-off, and the base of [`BackoffKind::Severe`]: 1 h, reth's
/// `PeerBackoffDurations::max`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);

/// Consecutive back-off failures after which a discovered node is no
/// longer dialed (until it connects once): 5, reth's default
/// `max_backoff_count`. Static nodes are never dropped.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;

/// How long a node is not dialed after a failure (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackoffKind {
    /// A transient refusal: a slot may free up soon.
    Low,
    /// The node did not answer in time: down or overloaded.
    Medium,
    /// Nothing listens at the address.
    High,
    /// The node speaks something else or breaks the protocol.
    Severe,
}

impl BackoffKind {
    /// Every kind, in label order.
    pub const ALL: [BackoffKind; 4] = [
        BackoffKind::Low,
        BackoffKind::Medium,
        BackoffKind::High,
        BackoffKind::Severe,
    ];

    /// The base delay of this kind.
    pub fn base(self) -> Duration {
        match self {
            BackoffKind::Low => LOW_BACKOFF,
            BackoffKind::Medium => MEDIUM_BACKOFF,
            BackoffKind::High => HIGH_BACKOFF,
            BackoffKind::Severe => MAX_BACKOFF,
        }
    }

    /// The delay after the `failures`-th consecutive failure (1-based):
    /// `base × failures`, at most [`MAX_BACKOFF`].
    pub fn delay(self, failures: u32) -> Duration {
        self.base().saturating_mul(failures.max(1)).min(MAX_BACKOFF)
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            BackoffKind::Low => "low",
            BackoffKind::Medium => "medium",
            BackoffKind::High => "high",
            BackoffKind::Severe => "severe",
        }
    }
}

/// Why a connection set-up (a dial, or an inbound connection) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A static node's DNS name did not resolve.
    #[error("DNS name did not resolve")]
    Resolve,
    /// The TCP connect timed out.
    #[error("TCP connect timed out")]
    ConnectTimeout,
    /// The TCP connect failed otherwise (refused, reset, unreachable).
    #[error("TCP connect failed: {0}")]
    Connect(io::ErrorKind),
    /// The RLPx handshake timed out.
    #[error("RLPx handshake timed out")]
    HandshakeTimeout,
    /// The Hello exchange timed out.
    #[error("Hello exchange timed out")]
    HelloTimeout,
    /// The remote closed or reset the connection during the RLPx
    /// handshake (go-ethereum does so to a throttled or unwanted dialer).
    #[error("connection closed during the RLPx handshake")]
    HandshakeClosed,
    /// The RLPx handshake failed (bad packet, bad MAC, wrong key).
    #[error("RLPx handshake failed")]
    Handshake,
    /// The Hello exchange broke the protocol (or the connection closed
    /// during it).
    #[error("Hello exchange failed")]
    Protocol,
    /// The remote sent Disconnect during the set-up.
    #[error("remote disconnected: {0}")]
    RemoteDisconnect(DiscReason),
    /// Our admission checks refused the connection with this reason.
    #[error("refused by us: {0}")]
    Refused(DiscReason),
    /// No sub-protocol in common.
    #[error("no shared protocol")]
    NoSharedProtocol,
    /// The Hello's node id differs from the authenticated key.
    #[error("unexpected identity")]
    UnexpectedIdentity,
    /// The server is stopping.
    #[error("server stopping")]
    Closed,
}

impl SetupError {
    /// Every failure label, in order (see [`SetupError::label`]).
    pub const LABELS: [&'static str; 12] = [
        "resolve",
        "connect_timeout",
        "connect_refused",
        "connect_other",
        "handshake_timeout",
        "handshake_closed",
        "handshake",
        "protocol",
        "too_many_peers",
        "remote_disconnect",
        "refused_by_us",
        "other",
    ];

    /// The metric label of this failure (one of [`SetupError::LABELS`]).
    pub fn label(self) -> &'static str {
        match self {
            SetupError::Resolve => "resolve",
            SetupError::ConnectTimeout => "connect_timeout",
            SetupError::Connect(io::ErrorKind::ConnectionRefused) => "connect_refused",
            SetupError::Connect(_) => "connect_other",
            SetupError::HandshakeTimeout | SetupError::HelloTimeout => "handshake_timeout",
            SetupError::HandshakeClosed => "handshake_closed",
            SetupError::Handshake => "handshake",
            SetupError::Protocol
            | SetupError::NoSharedProtocol
            | SetupError::UnexpectedIdentity => "protocol",
            SetupError::RemoteDisconnect(DiscReason::TooManyPeers) => "too_many_peers",
            SetupError::RemoteDisconnect(_) => "remote_disconnect",
            SetupError::Refused(_) => "refused_by_us",
            SetupError::Closed => "other",
        }
    }

    /// The go-ethereum error meter this failure counts under.
    pub fn kind(self) -> SetupErrorKind {
        match self {
            SetupError::Resolve => SetupErrorKind::Resolve,
            SetupError::ConnectTimeout | SetupError::Connect(_) => SetupErrorKind::Connection,
            SetupError::HandshakeTimeout | SetupError::HandshakeClosed | SetupError::Handshake => {
                SetupErrorKind::RlpxEnc
            }
            SetupError::Protocol | SetupError::HelloTimeout => SetupErrorKind::RlpxProto,
            SetupError::RemoteDisconnect(r) | SetupError::Refused(r) => {
                SetupErrorKind::from_reason(r)
            }
            SetupError::NoSharedProtocol => SetupErrorKind::Useless,
            SetupError::UnexpectedIdentity => SetupErrorKind::UnexpectedIdentity,
            SetupError::Closed => SetupErrorKind::Closed,
        }
    }

    /// The failure of a TCP connect.
    pub fn from_connect(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::TimedOut => SetupError::ConnectTimeout,
            kind => SetupError::Connect(kind),
        }
    }

    /// The failure of a Hello exchange.
    pub fn from_hello_error(e: &PeerError) -> Self {
        match e {
            PeerError::RemoteDisconnect(r) => SetupError::RemoteDisconnect(*r),
            PeerError::UnexpectedIdentity { .. } => SetupError::UnexpectedIdentity,
            // A silent peer is slow or overloaded, not broken.
            PeerError::HandshakeTimeout | PeerError::ReadTimeout => SetupError::HelloTimeout,
            _ => SetupError::Protocol,
        }
    }

    /// How long the node should not be dialed again, if at all (beyond the
    /// dial history window). `None` for failures that say nothing about the
    /// node (our own refusals, a stopping server, a DNS failure, which has
    /// its own back-off for static nodes).
    pub fn backoff(self) -> Option<BackoffKind> {
        use io::ErrorKind as K;
        match self {
            SetupError::Resolve | SetupError::Refused(_) | SetupError::Closed => None,
            SetupError::Connect(K::ConnectionReset | K::BrokenPipe)
            | SetupError::HandshakeClosed => Some(BackoffKind::Low),
            SetupError::Connect(K::ConnectionRefused) => Some(BackoffKind::High),
            SetupError::Connect(_)
            | SetupError::ConnectTimeout
            | SetupError::HandshakeTimeout
            | SetupError::HelloTimeout => Some(BackoffKind::Medium),
            SetupError::Handshake
            | SetupError::Protocol
            | SetupError::NoSharedProtocol
            | SetupError::UnexpectedIdentity => Some(BackoffKind::Severe),
            SetupError::RemoteDisconnect(reason) => match reason {
                DiscReason::AlreadyConnected => None,
                DiscReason::TooManyPeers | DiscReason::Requested | DiscReason::Quitting => {
                    Some(BackoffKind::Low)
                }
                DiscReason::NetworkError | DiscReason::ReadTimeout => Some(BackoffKind::Medium),
                _ => Some(BackoffKind::Severe),
            },
        }
    }

    /// How long the node is banned (neither dialed nor accepted), if at
    /// all: only for a node that authenticated as one key and claimed
    /// another in Hello ([`DEFAULT_BAN_DURATION`], as a reputation ban).
    pub fn ban(self) -> Option<Duration> {
        match self {
            SetupError::UnexpectedIdentity => Some(DEFAULT_BAN_DURATION),
            _ => None,
        }
    }

    pub(crate) fn label_index(self) -> usize {
        let label = self.label();
        Self::LABELS.iter().position(|l| *l == label).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_named_failure_gets_its_own_backoff() {
        let too_many = SetupError::RemoteDisconnect(DiscReason::TooManyPeers);
        let timeout = SetupError::ConnectTimeout;
        let refused = SetupError::Connect(io::ErrorKind::ConnectionRefused);
        let protocol = SetupError::Protocol;
        let kinds = [too_many, timeout, refused, protocol].map(|e| e.backoff().unwrap());
        assert_eq!(
            kinds,
            [
                BackoffKind::Low,
                BackoffKind::Medium,
                BackoffKind::High,
                BackoffKind::Severe
            ]
        );
        assert_eq!(
            SetupError::Refused(DiscReason::TooManyPeers).backoff(),
            None
        );
        assert_eq!(SetupError::Closed.backoff(), None);
        assert_eq!(
            SetupError::from_connect(&io::Error::from(io::ErrorKind::TimedOut)),
            timeout
        );
        assert_eq!(
            SetupError::UnexpectedIdentity.ban(),
            Some(DEFAULT_BAN_DURATION)
        );
        assert_eq!(protocol.ban(), None);
        // go-ethereum closes the connection of a dialer it throttles: short.
        assert_eq!(
            SetupError::HandshakeClosed.backoff(),
            Some(BackoffKind::Low)
        );
        assert_eq!(SetupError::Handshake.backoff(), Some(BackoffKind::Severe));
        assert_eq!(
            SetupError::from_hello_error(&PeerError::HandshakeTimeout).backoff(),
            Some(BackoffKind::Medium)
        );
    }

    #[test]
    fn delay_grows_linearly_to_the_cap() {
        assert_eq!(BackoffKind::Low.delay(1), LOW_BACKOFF);
        assert_eq!(BackoffKind::Low.delay(3), 3 * LOW_BACKOFF);
        assert_eq!(BackoffKind::High.delay(5), MAX_BACKOFF);
        assert_eq!(BackoffKind::Severe.delay(0), MAX_BACKOFF);
        assert_eq!(BackoffKind::Medium.delay(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn labels_are_listed() {
        let all = [
            SetupError::Resolve,
            SetupError::ConnectTimeout,
            SetupError::Connect(io::ErrorKind::ConnectionRefused),
            SetupError::Connect(io::ErrorKind::Other),
            SetupError::HandshakeTimeout,
            SetupError::HandshakeClosed,
            SetupError::Handshake,
            SetupError::Protocol,
            SetupError::RemoteDisconnect(DiscReason::TooManyPeers),
            SetupError::RemoteDisconnect(DiscReason::Quitting),
            SetupError::Refused(DiscReason::TooManyPeers),
            SetupError::Closed,
        ];
        for (e, label) in all.iter().zip(SetupError::LABELS) {
            assert_eq!(e.label(), label);
            assert_eq!(SetupError::LABELS[e.label_index()], label);
        }
    }
}
