//! Peer memory: the peers a Server was connected to, with what happened
//! when it tried them, so that the next start dials the best of them before
//! discovery has found anything.
//!
//! One entry per node ([`PeerHistory`]), created when a session starts (only
//! peers we were connected to are remembered) and updated when it ends or a
//! dial to the node fails. The table is bounded: at most
//! [`MAX_REMEMBERED_PEERS`] entries; entries not connected for
//! [`PEER_HISTORY_MAX_AGE`] expire, and when a new peer arrives at a full
//! table the expired entries and then the lowest-scored ones are evicted,
//! [`PEER_EVICTION_BATCH`] at once. The logic lives here once; the
//! backends (redb, or memory without the `node-db` feature) only store
//! encoded entries by node ID.

use std::time::Duration;

use super::{NodeDb, Result};
use std::net::{IpAddr, Ipv6Addr};

use crate::node::{Node, NodeId};

/// Most peers remembered (our choice: go-ethereum keeps no peer list and
/// bounds its node database only by age; 1000 is twenty times its default
/// `MaxPeers` of 50, enough for a node that churns through peers for
/// days, and a full scan of the table, done when ranking or evicting,
/// decodes about 100 KB).
pub const MAX_REMEMBERED_PEERS: usize = 1000;

/// Entries whose last session ended longer ago than this are expired and
/// never dialed from memory: 5 days, go-ethereum's `seedMaxAge` (the oldest
/// node it still takes from its database at start-up).
pub const PEER_HISTORY_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 60 * 60);

/// Failed dials in a row after which a remembered peer is no longer dialed
/// from memory (until it connects again, e.g. by dialing us): 5, the
/// dialer's own `MAX_CONSECUTIVE_FAILURES` (reth's `max_backoff_count`).
pub const MAX_REMEMBERED_PEER_FAILURES: u32 = 5;

/// Entries evicted at once when a new peer arrives at a full table: a
/// tenth of the bound (our choice: a full scan costs about 2.5 ms in a
/// debug build, measured; evicting a batch spreads it over 100 new peers,
/// about 25 µs each).
pub const PEER_EVICTION_BATCH: usize = MAX_REMEMBERED_PEERS / 10;

/// Entries read at most when ranking or evicting: twice the bound, so a
/// table written with a larger bound (another version) is still trimmed
/// without reading it whole.
const PEER_SCAN_LIMIT: usize = 2 * MAX_REMEMBERED_PEERS;

/// Bytes of an encoded entry (see [`PeerHistory::encode`]): version,
/// counters, IP (16 bytes), TCP and UDP port.
pub const PEER_ENTRY_SIZE: usize = 1 + 8 + 8 + 4 + 4 + 4 * FailureKind::ALL.len() + 16 + 2 + 2;

/// Version byte of the entry layout.
const ENTRY_VERSION: u8 = 1;

/// Score points per session, counted for at most [`MAX_SCORED_SESSIONS`]
/// sessions (see [`PeerHistory::score`]).
const SESSION_POINTS: i64 = 10;
/// Sessions that add to the score (10: a peer that came back ten times is
/// as good as it gets).
const MAX_SCORED_SESSIONS: i64 = 10;
/// Score points per minute connected in total, counted up to
/// [`MAX_SCORED_MINUTES`].
const MINUTE_POINTS: i64 = 1;
/// Minutes connected that add to the score (120: two hours of sessions
/// outweigh a fresh peer's first few sessions, not a long history).
const MAX_SCORED_MINUTES: i64 = 120;
/// Score points lost per failed dial in a row (30: three failures outweigh
/// ten sessions' worth of points).
const FAILURE_PENALTY: i64 = 30;
/// Extra points lost per protocol failure ever (the node speaks something
/// else or broke the protocol: less likely to work next time), counted for
/// at most [`MAX_SCORED_PROTOCOL_FAILURES`].
const PROTOCOL_FAILURE_PENALTY: i64 = 20;
/// Protocol failures that lower the score.
const MAX_SCORED_PROTOCOL_FAILURES: i64 = 5;
/// Seconds per point lost with age (one point per hour since the last
/// session, at most 120 over [`PEER_HISTORY_MAX_AGE`]).
const AGE_SECS_PER_POINT: u64 = 60 * 60;

/// The kind of a failed dial, as the dialer's back-off classes
/// (`devp2p::dial::BackoffKind`) count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A transient refusal ("too many peers", connection reset): back-off
    /// kind `Low`.
    Transient,
    /// No answer in time (TCP connect, handshake or Hello timed out):
    /// back-off kind `Medium`.
    Timeout,
    /// Nothing listens at the address (connection refused): kind `High`.
    Refused,
    /// A protocol error, no shared protocol or a wrong identity: kind
    /// `Severe`.
    Protocol,
}

impl FailureKind {
    /// Every kind, in storage order.
    pub const ALL: [FailureKind; 4] = [
        FailureKind::Transient,
        FailureKind::Timeout,
        FailureKind::Refused,
        FailureKind::Protocol,
    ];

    fn index(self) -> usize {
        match self {
            FailureKind::Transient => 0,
            FailureKind::Timeout => 1,
            FailureKind::Refused => 2,
            FailureKind::Protocol => 3,
        }
    }
}

/// Why a stored entry could not be read (a corrupt or foreign file; such
/// entries are skipped when ranking and dropped when the table is trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerHistoryError {
    /// Not [`PEER_ENTRY_SIZE`] bytes long.
    #[error("peer entry has {len} bytes, want {PEER_ENTRY_SIZE}")]
    BadLength {
        /// Length of the entry in bytes.
        len: usize,
    },
    /// Written by a layout this version does not know.
    #[error("peer entry layout version {0}, want {ENTRY_VERSION}")]
    BadVersion(u8),
    /// The TCP port is 0 or the IP unspecified: nothing to dial.
    #[error("peer entry has no dialable endpoint")]
    BadEndpoint,
}

/// What the node database remembers about a peer we were connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHistory {
    /// The node, with the IP and TCP port it was last connected at (the
    /// address we dialed, or its IP with the port its Hello announced).
    pub node: Node,
    /// When the last session started or ended (UNIX seconds).
    pub last_connected: u64,
    /// Sessions we had with it.
    pub sessions: u32,
    /// Seconds connected, over all sessions that ended.
    pub session_secs: u64,
    /// Failed dials since the last session started.
    pub consecutive_failures: u32,
    /// Failed dials ever, by kind (indexed in [`FailureKind::ALL`] order;
    /// see [`PeerHistory::failures`]).
    failures: [u32; 4],
}

impl PeerHistory {
    /// A new entry for a session with `node` starting at `now`.
    pub fn new(node: Node, now: u64) -> Self {
        PeerHistory {
            node,
            last_connected: now,
            sessions: 1,
            session_secs: 0,
            consecutive_failures: 0,
            failures: [0; 4],
        }
    }

    /// Failed dials ever of `kind`.
    pub fn failures(&self, kind: FailureKind) -> u32 {
        self.failures[kind.index()]
    }

    /// Whether the entry is older than [`PEER_HISTORY_MAX_AGE`] at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now.saturating_sub(self.last_connected) > PEER_HISTORY_MAX_AGE.as_secs()
    }

    /// Whether the peer is dialed from memory at `now`: not expired, fewer
    /// than [`MAX_REMEMBERED_PEER_FAILURES`] failed dials in a row.
    pub fn is_dialable(&self, now: u64) -> bool {
        !self.is_expired(now)
            && self.consecutive_failures < MAX_REMEMBERED_PEER_FAILURES
            && self.node.tcp_addr().is_some()
    }

    /// The rank of the peer at `now` (higher is dialed first), in points:
    ///
    /// ```text
    ///   10 × min(sessions, 10)              came back often      (≤ 100)
    /// +  1 × min(minutes connected, 120)    stayed long          (≤ 120)
    /// − 30 × failed dials in a row          fails now            (3 outweigh 10 sessions)
    /// − 20 × min(protocol failures, 5)      speaks something else
    /// −  1 × hours since the last session   recent first         (≤ 120 within the max age)
    /// ```
    pub fn score(&self, now: u64) -> i64 {
        let sessions = i64::from(self.sessions).min(MAX_SCORED_SESSIONS);
        let minutes = i64::try_from(self.session_secs / 60)
            .unwrap_or(i64::MAX)
            .min(MAX_SCORED_MINUTES);
        let protocol =
            i64::from(self.failures(FailureKind::Protocol)).min(MAX_SCORED_PROTOCOL_FAILURES);
        let hours = i64::try_from(now.saturating_sub(self.last_connected) / AGE_SECS_PER_POINT)
            .unwrap_or(i64::MAX);
        SESSION_POINTS * sessions + MINUTE_POINTS * minutes
            - FAILURE_PENALTY * i64::from(self.consecutive_failures)
            - PROTOCOL_FAILURE_PENALTY * protocol
            - hours
    }

    /// The stored form ([`PEER_ENTRY_SIZE`] bytes, the node ID is the
    /// key): version (1 byte), last connected (u64), session seconds (u64),
    /// sessions (u32), failures in a row (u32), failures by kind (4 × u32),
    /// IP (16 bytes, IPv4 mapped into IPv6), TCP port (u16), UDP port
    /// (u16); integers big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let ip = match self.node.ip {
            Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped(),
            Some(IpAddr::V6(v6)) => v6,
            None => Ipv6Addr::UNSPECIFIED,
        };
        let mut out = Vec::with_capacity(PEER_ENTRY_SIZE);
        out.push(ENTRY_VERSION);
        out.extend_from_slice(&self.last_connected.to_be_bytes());
        out.extend_from_slice(&self.session_secs.to_be_bytes());
        out.extend_from_slice(&self.sessions.to_be_bytes());
        out.extend_from_slice(&self.consecutive_failures.to_be_bytes());
        for f in self.failures {
            out.extend_from_slice(&f.to_be_bytes());
        }
        out.extend_from_slice(&ip.octets());
        out.extend_from_slice(&self.node.tcp.to_be_bytes());
        out.extend_from_slice(&self.node.udp.to_be_bytes());
        out
    }

    /// Reads the stored form of [`PeerHistory::encode`] of node `id`.
    pub fn decode(id: NodeId, bytes: &[u8]) -> Result<Self, PeerHistoryError> {
        let bytes: &[u8; PEER_ENTRY_SIZE] = bytes
            .try_into()
            .map_err(|_| PeerHistoryError::BadLength { len: bytes.len() })?;
        if bytes[0] != ENTRY_VERSION {
            return Err(PeerHistoryError::BadVersion(bytes[0]));
        }
        let mut at = 1;
        let mut take = |n: usize| {
            let s = &bytes[at..at + n];
            at += n;
            s
        };
        let u64_at = |s: &[u8]| u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
        let u32_at = |s: &[u8]| u32::from_be_bytes(s.try_into().unwrap_or([0; 4]));
        let u16_at = |s: &[u8]| u16::from_be_bytes(s.try_into().unwrap_or([0; 2]));
        let last_connected = u64_at(take(8));
        let session_secs = u64_at(take(8));
        let sessions = u32_at(take(4));
        let consecutive_failures = u32_at(take(4));
        let mut failures = [0u32; 4];
        for f in &mut failures {
            *f = u32_at(take(4));
        }
        let ip: [u8; 16] = take(16).try_into().unwrap_or([0; 16]);
        let ip = Ipv6Addr::from(ip);
        let (tcp, udp) = (u16_at(take(2)), u16_at(take(2)));
        if tcp == 0 || ip.is_unspecified() {
            return Err(PeerHistoryError::BadEndpoint);
        }
        Ok(PeerHistory {
            // Node::new stores an IPv4-mapped address as IPv4.
            node: Node::new(id, IpAddr::V6(ip), tcp, udp),
            last_connected,
            sessions,
            session_secs,
            consecutive_failures,
            failures,
        })
    }
}

/// A stored entry read back: under `id`, decoded (or why not).
fn decode_entry(id: &NodeId, bytes: &[u8]) -> Result<PeerHistory, PeerHistoryError> {
    PeerHistory::decode(*id, bytes)
}

impl NodeDb {
    /// What is remembered about `id`; `None` when nothing is (or the entry
    /// is unreadable).
    pub fn peer_history(&self, id: &NodeId) -> Result<Option<PeerHistory>> {
        Ok(self.peer_entry(id)?.and_then(|b| decode_entry(id, &b).ok()))
    }

    /// Number of remembered peers (readable or not).
    pub fn remembered_peer_count(&self) -> Result<u64> {
        self.peer_entry_count()
    }

    /// Records that a session with `node` started at `now` (UNIX seconds):
    /// creates its entry (evicting as the module docs say when the table
    /// is full) or counts one more session, resets its failures in a row
    /// and stores the endpoint (keeping the stored UDP port when `node` has
    /// none and the IP is the same). A node without an IP and TCP port is
    /// not remembered (nothing to dial later).
    pub fn record_session_start(&self, node: &Node, now: u64) -> Result<()> {
        if node.ip.is_none_or(|ip| ip.is_unspecified()) || node.tcp == 0 {
            return Ok(());
        }
        let entry = match self.peer_history(&node.id)? {
            Some(mut h) => {
                let udp = if node.udp == 0 && node.ip == h.node.ip {
                    h.node.udp
                } else {
                    node.udp
                };
                h.node = node.clone();
                h.node.udp = udp;
                h.last_connected = now;
                h.sessions = h.sessions.saturating_add(1);
                h.consecutive_failures = 0;
                h
            }
            None => {
                self.make_room(now)?;
                PeerHistory::new(node.clone(), now)
            }
        };
        self.put_peer_entry(&node.id, &entry.encode())
    }

    /// Records that the session with `id` ended at `now` after `duration`.
    /// Nothing happens for a node without an entry.
    pub fn record_session_end(&self, id: &NodeId, duration: Duration, now: u64) -> Result<()> {
        let Some(mut h) = self.peer_history(id)? else {
            return Ok(());
        };
        h.session_secs = h.session_secs.saturating_add(duration.as_secs());
        h.last_connected = h.last_connected.max(now);
        self.put_peer_entry(id, &h.encode())
    }

    /// Records a failed dial of `id`. Nothing happens for a node without an
    /// entry (only peers we were connected to are remembered).
    pub fn record_dial_failure(&self, id: &NodeId, kind: FailureKind) -> Result<()> {
        let Some(mut h) = self.peer_history(id)? else {
            return Ok(());
        };
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        let f = &mut h.failures[kind.index()];
        *f = f.saturating_add(1);
        self.put_peer_entry(id, &h.encode())
    }

    /// Up to `n` remembered peers worth dialing at `now`, best first
    /// ([`PeerHistory::score`]; ties: the more recent first, then by ID).
    /// Skips expired entries, peers that failed
    /// [`MAX_REMEMBERED_PEER_FAILURES`] times in a row, and unreadable ones.
    pub fn best_peers(&self, n: usize, now: u64) -> Result<Vec<PeerHistory>> {
        let mut all: Vec<PeerHistory> = self
            .peer_entries(PEER_SCAN_LIMIT)?
            .into_iter()
            .filter_map(|(id, b)| decode_entry(&id, &b).ok())
            .filter(|h| h.is_dialable(now))
            .collect();
        all.sort_by(|a, b| {
            b.score(now)
                .cmp(&a.score(now))
                .then(b.last_connected.cmp(&a.last_connected))
                .then(a.node.id.cmp(&b.node.id))
        });
        all.truncate(n.min(MAX_REMEMBERED_PEERS));
        Ok(all)
    }

    /// Deletes entries expired at `now` and unreadable ones; returns how
    /// many were removed.
    pub fn expire_peers(&self, now: u64) -> Result<usize> {
        let stale: Vec<NodeId> = self
            .peer_entries(PEER_SCAN_LIMIT)?
            .into_iter()
            .filter(|(id, b)| decode_entry(id, b).map_or(true, |h| h.is_expired(now)))
            .map(|(id, _)| id)
            .collect();
        self.remove_peer_entries(&stale)?;
        Ok(stale.len())
    }

    /// Makes room for one more entry when the table is full: drops expired
    /// and unreadable entries, then the lowest-scored ones (ties: the least
    /// recently connected) until at most `MAX_REMEMBERED_PEERS -
    /// PEER_EVICTION_BATCH` are left.
    fn make_room(&self, now: u64) -> Result<()> {
        if self.peer_entry_count()? < MAX_REMEMBERED_PEERS as u64 {
            return Ok(());
        }
        let mut victims = Vec::new();
        let mut live = Vec::new();
        for (id, b) in self.peer_entries(PEER_SCAN_LIMIT)? {
            match decode_entry(&id, &b) {
                Ok(h) if !h.is_expired(now) => live.push((h.score(now), h.last_connected, id)),
                _ => victims.push(id),
            }
        }
        let keep = MAX_REMEMBERED_PEERS - PEER_EVICTION_BATCH;
        if live.len() > keep {
            live.sort();
            let excess = live.len() - keep;
            victims.extend(live.iter().take(excess).map(|(_, _, id)| *id));
        }
        self.remove_peer_entries(&victims)
    }
}
