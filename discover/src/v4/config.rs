//! Service configuration with go-ethereum's defaults.

use std::time::Duration;

use crate::db::NodeDb;
use crate::node::Node;
use devp2p_netutil::Netlist;

/// How long to wait for a reply (geth `respTimeout`, 500 ms).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Base revalidation period; the fast list is checked every 0–3 s, the slow
/// list every 0–30 s (geth `Config.PingInterval` default 3 s, slow = 10×).
pub const PING_INTERVAL: Duration = Duration::from_secs(3);
/// Table refresh period; the next refresh is 15–30 min away (geth
/// `Config.RefreshInterval` default 30 min, `nextRefreshTime` = half + random half).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// An endpoint proof is valid this long (geth `bondExpiration`, 24 h).
pub const BOND_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Random-target lookups per refresh, after the self lookup (geth `doRefresh`: 3).
pub const REFRESH_RANDOM_LOOKUPS: usize = 3;
/// Requests waiting for replies (or for a bond before they are sent), at most. Past this, new requests fail at
/// once with `TooManyPending` (a lookup keeps ≤ 3 in flight; 1024 leaves
/// room for revalidation, ping-backs and many concurrent callers).
pub const MAX_PENDING_REPLIES: usize = 1024;
/// Inbound packets per second allowed from one IP (IPv6: one /64, see
/// [`RATE_LIMIT_PREFIX_BITS_V6`](super::RATE_LIMIT_PREFIX_BITS_V6)). A busy peer sends a few
/// per second (pings, findnode, neighbors in 2 chunks); 50/s is ample and
/// caps what one address can make us spend on signature recovery.
pub const PACKET_RATE_PER_IP: u32 = 50;
/// Burst allowance per IP, in packets (a bond plus a lookup from one node
/// arrive back to back).
pub const PACKET_BURST_PER_IP: u32 = 100;

/// Configuration of a discv4 service. `Default` gives go-ethereum's values.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// Nodes to contact when the table is empty (re-added on every refresh).
    pub bootnodes: Vec<Node>,
    /// When set, nodes outside these networks are never added or returned.
    pub net_restrict: Option<Netlist>,
    /// Reply timeout ([`RESPONSE_TIMEOUT`]).
    pub response_timeout: Duration,
    /// Revalidation pacing ([`PING_INTERVAL`]).
    pub ping_interval: Duration,
    /// Refresh pacing ([`REFRESH_INTERVAL`]).
    pub refresh_interval: Duration,
    /// Endpoint-proof lifetime ([`BOND_EXPIRATION`]).
    pub bond_expiration: Duration,
    /// Bound on requests waiting for replies ([`MAX_PENDING_REPLIES`]).
    pub max_pending_replies: usize,
    /// Per-IP inbound rate ([`PACKET_RATE_PER_IP`]).
    pub packet_rate_per_ip: u32,
    /// Per-IP inbound burst ([`PACKET_BURST_PER_IP`]).
    pub packet_burst_per_ip: u32,
    /// Never rate-limit 127.0.0.0/8 and ::1 (default true: tests run many
    /// nodes there, and only local processes can use those sources).
    pub exempt_loopback_from_rate_limit: bool,
    /// Seed for the table's randomness; `None` picks one at random.
    pub seed: Option<u64>,
    /// The node database: start-up seeds come from it, and proven nodes and
    /// their records are written to it. `None` keeps nothing across restarts.
    pub db: Option<NodeDb>,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Discv4Config {
            bootnodes: Vec::new(),
            net_restrict: None,
            response_timeout: RESPONSE_TIMEOUT,
            ping_interval: PING_INTERVAL,
            refresh_interval: REFRESH_INTERVAL,
            bond_expiration: BOND_EXPIRATION,
            max_pending_replies: MAX_PENDING_REPLIES,
            packet_rate_per_ip: PACKET_RATE_PER_IP,
            packet_burst_per_ip: PACKET_BURST_PER_IP,
            exempt_loopback_from_rate_limit: true,
            seed: None,
            db: None,
        }
    }
}
