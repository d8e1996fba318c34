//! In-memory endpoint-proof records and the per-IP packet rate limiter.
//!
//! The bond records are what go-ethereum keeps in its node database
//! (`LastPingReceived`, `LastPongReceived`, `FindFails` per node and IP);
//! here they live in a bounded map owned by the service task.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::node::NodeId;

/// Most (node, IP) bond records kept in memory. Past this, expired records
/// are purged; if none are expired the least recently active one is evicted
/// (a flood of new identities costs us old bonds, never memory). 64 Ki
/// records ≈ 6 MiB; geth keeps these on disk without a bound.
pub const MAX_BOND_RECORDS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct BondRecord {
    ip: IpAddr,
    last_ping_received: Option<Instant>,
    last_pong_received: Option<Instant>,
    find_fails: u32,
    touched: Instant,
}

/// Endpoint proofs per node, keyed by node ID and remembering the IP the
/// proof was made from (a proof from another IP does not count).
#[derive(Debug)]
pub(super) struct Bonds {
    records: HashMap<NodeId, BondRecord>,
    /// When a source ([`rate_key`]) last proved its address by answering
    /// our ping, whichever node it was: what the inbound queue asks per
    /// datagram, without a scan of `records`. At most
    /// [`MAX_BOND_RECORDS`] entries, made room for as `records` is.
    proven_sources: HashMap<IpAddr, Instant>,
    expiration: Duration,
}

impl Bonds {
    /// Empty records; a proof is valid for `expiration` (geth `bondExpiration`, 24 h).
    pub(super) fn new(expiration: Duration) -> Self {
        Bonds {
            records: HashMap::new(),
            proven_sources: HashMap::new(),
            expiration,
        }
    }

    fn record(&mut self, id: NodeId, ip: IpAddr, now: Instant) -> &mut BondRecord {
        make_room(&mut self.records, &id, now, self.expiration, |r| r.touched);
        let r = self.records.entry(id).or_insert(BondRecord {
            ip,
            last_ping_received: None,
            last_pong_received: None,
            find_fails: 0,
            touched: now,
        });
        if r.ip != ip {
            *r = BondRecord {
                ip,
                last_ping_received: None,
                last_pong_received: None,
                find_fails: 0,
                touched: now,
            };
        }
        r.touched = now;
        r
    }

    /// Records that `id` pinged us from `ip` (so it now holds a proof for us).
    pub(super) fn ping_received(&mut self, id: NodeId, ip: IpAddr, now: Instant) {
        self.record(id, ip, now).last_ping_received = Some(now);
    }

    /// Records that `id` answered our ping from `ip` (its endpoint proof).
    pub(super) fn pong_received(&mut self, id: NodeId, ip: IpAddr, now: Instant) {
        self.record(id, ip, now).last_pong_received = Some(now);
        let key = rate_key(ip);
        make_room(&mut self.proven_sources, &key, now, self.expiration, |t| *t);
        self.proven_sources.insert(key, now);
    }

    /// True when some node answered our ping from `ip`'s source (its IPv4
    /// address or IPv6 /64, as [`rate_key`]) within the expiration: the
    /// inbound queue serves such sources first (`inbound.rs`).
    pub(super) fn source_proven(&self, ip: IpAddr, now: Instant) -> bool {
        self.recent(self.proven_sources.get(&rate_key(ip)).copied(), now)
    }

    fn recent(&self, t: Option<Instant>, now: Instant) -> bool {
        t.is_some_and(|t| now.saturating_duration_since(t) < self.expiration)
    }

    /// True when `id` proved `ip` by answering our ping within the expiration
    /// (geth `checkBond`): required before answering FindNode and ENRRequest.
    pub(super) fn has_endpoint_proof(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.records
            .get(id)
            .is_some_and(|r| r.ip == ip && self.recent(r.last_pong_received, now))
    }

    /// True when `id` pinged us from `ip` recently, so it holds a proof for us
    /// and will answer our FindNode (geth `ensureBond`).
    pub(super) fn pinged_us(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.records
            .get(id)
            .is_some_and(|r| r.ip == ip && self.recent(r.last_ping_received, now))
    }

    /// Counts a FindNode that returned nothing; returns the consecutive count.
    pub(super) fn find_failed(&mut self, id: NodeId, ip: IpAddr, now: Instant) -> u32 {
        let r = self.record(id, ip, now);
        r.find_fails = r.find_fails.saturating_add(1);
        r.find_fails
    }

    /// Resets the consecutive FindNode failure count.
    pub(super) fn find_succeeded(&mut self, id: NodeId, ip: IpAddr, now: Instant) {
        self.record(id, ip, now).find_fails = 0;
    }
}

/// Makes room in `map` for `key` if it is new and the map holds
/// [`MAX_BOND_RECORDS`]: entries last touched an `expiration` ago or more
/// go; if none did, the least recently touched one does (a flood of new
/// entries costs us old ones, never memory).
fn make_room<K: Copy + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    key: &K,
    now: Instant,
    expiration: Duration,
    touched: impl Fn(&V) -> Instant,
) {
    if map.contains_key(key) || map.len() < MAX_BOND_RECORDS {
        return;
    }
    map.retain(|_, v| now.saturating_duration_since(touched(v)) < expiration);
    if map.len() >= MAX_BOND_RECORDS {
        if let Some(oldest) = map.iter().min_by_key(|(_, v)| touched(v)).map(|(k, _)| *k) {
            map.remove(&oldest);
        }
    }
}

/// Most source IPs the rate limiter tracks at once. When full, idle entries
/// (full token buckets) are purged; if none are idle, packets from untracked
/// IPs are dropped until some are.
pub const MAX_RATE_TRACKED_IPS: usize = 16_384;

/// Prefix length (bits) under which IPv6 sources share one rate-limit bucket.
/// A /64 is the smallest subnet handed to one host or LAN (RFC 4291 interface
/// identifiers, SLAAC), so a host that owns one can send from 2^64 addresses:
/// keyed by full address it would get 2^64 buckets and, worse, could fill the
/// tracker ([`MAX_RATE_TRACKED_IPS`]) so that honest new sources are dropped.
pub const RATE_LIMIT_PREFIX_BITS_V6: u32 = 64;

/// The bucket a source address counts against: IPv4 (also IPv4-mapped IPv6)
/// by full address, IPv6 by its /[`RATE_LIMIT_PREFIX_BITS_V6`] prefix.
pub(super) fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - RATE_LIMIT_PREFIX_BITS_V6);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// Token-bucket limit on inbound packets per source IPv4 address and per
/// IPv6 /[`RATE_LIMIT_PREFIX_BITS_V6`].
#[derive(Debug)]
pub(super) struct RateLimiter {
    per_second: f64,
    burst: f64,
    exempt_loopback: bool,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` packets per IP with bursts of `burst`.
    /// With `exempt_loopback`, 127.0.0.0/8 and ::1 are never limited (only
    /// local processes can send from there; tests run many nodes on it).
    pub(super) fn new(per_second: u32, burst: u32, exempt_loopback: bool) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            exempt_loopback,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `ip`; false means drop the packet.
    pub(super) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.exempt_loopback && ip.to_canonical().is_loopback() {
            return true;
        }
        let ip = rate_key(ip);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_RATE_TRACKED_IPS {
            let (rate, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, last)| {
                let refill = now.saturating_duration_since(*last).as_secs_f64() * rate;
                *tokens + refill < burst
            });
            if self.buckets.len() >= MAX_RATE_TRACKED_IPS {
                return false;
            }
        }
        let (tokens, last) = self.buckets.entry(ip).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_is_per_ip_and_expires() {
        let now = Instant::now();
        let mut b = Bonds::new(Duration::from_secs(100));
        let id = NodeId([1; 64]);
        let ip1: IpAddr = "1.1.1.1".parse().unwrap();
        let ip2: IpAddr = "2.2.2.2".parse().unwrap();
        assert!(!b.has_endpoint_proof(&id, ip1, now));
        b.pong_received(id, ip1, now);
        assert!(b.has_endpoint_proof(&id, ip1, now));
        assert!(!b.has_endpoint_proof(&id, ip2, now));
        assert!(!b.has_endpoint_proof(&id, ip1, now + Duration::from_secs(100)));
        b.ping_received(id, ip2, now);
        assert!(b.pinged_us(&id, ip2, now));
        assert!(
            !b.has_endpoint_proof(&id, ip1, now),
            "new IP resets the record"
        );
        assert_eq!(b.find_failed(id, ip2, now), 1);
        assert_eq!(b.find_failed(id, ip2, now), 2);
        b.find_succeeded(id, ip2, now);
        assert_eq!(b.find_failed(id, ip2, now), 1);
    }

    #[test]
    fn a_source_is_proven_by_any_pong_from_it_until_expiry() {
        let now = Instant::now();
        let mut b = Bonds::new(Duration::from_secs(100));
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert!(!b.source_proven(ip("1.1.1.1"), now));
        b.ping_received(NodeId([1; 64]), ip("1.1.1.1"), now);
        assert!(
            !b.source_proven(ip("1.1.1.1"), now),
            "a ping proves nothing"
        );
        b.pong_received(NodeId([1; 64]), ip("1.1.1.1"), now);
        assert!(b.source_proven(ip("1.1.1.1"), now));
        assert!(!b.source_proven(ip("1.1.1.2"), now));
        assert!(!b.source_proven(ip("1.1.1.1"), now + Duration::from_secs(100)));
        // IPv6: the /64 is the source.
        b.pong_received(NodeId([2; 64]), ip("2001:db8:1:2::1"), now);
        assert!(b.source_proven(ip("2001:db8:1:2::ffff"), now));
        assert!(!b.source_proven(ip("2001:db8:1:3::1"), now));
    }

    #[test]
    fn rate_limiter_refills() {
        let now = Instant::now();
        let mut r = RateLimiter::new(10, 5, true);
        let ip: IpAddr = "8.8.8.8".parse().unwrap();
        assert!((0..5).all(|_| r.allow(ip, now)));
        assert!(!r.allow(ip, now));
        assert!(r.allow(ip, now + Duration::from_millis(100)));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!((0..100).all(|_| r.allow(lo, now)));
    }

    #[test]
    fn ipv6_sources_share_a_bucket_per_64() {
        let now = Instant::now();
        let mut r = RateLimiter::new(10, 3, true);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        // Three packets from three addresses of one /64 empty its bucket.
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
            assert!(r.allow(ip(host), now), "{host}");
        }
        assert!(!r.allow(ip("2001:db8:1:2:abcd::1"), now), "same /64");
        assert!(r.allow(ip("2001:db8:1:3::1"), now), "next /64 has its own");
        // An IPv4-mapped address counts as the IPv4 address, not as a /64.
        assert!((0..3).all(|_| r.allow(ip("::ffff:192.0.2.1"), now)));
        assert!(!r.allow(ip("192.0.2.1"), now));
        assert!(r.allow(ip("192.0.2.2"), now));
        assert!(
            r.allow(ip("::ffff:127.0.0.1"), now),
            "mapped loopback is exempt"
        );
    }
}
