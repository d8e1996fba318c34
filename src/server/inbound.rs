//! Pre-handshake filter for inbound TCP connections (sans-IO: the caller
//! passes the current time).
//!
//! Mirrors go-ethereum's `Server.checkInboundConn`: an address outside
//! `net_restrict` is refused, and a non-LAN IP may connect at most once per
//! [`INBOUND_THROTTLE`]. LAN addresses are never throttled (go-ethereum does
//! the same, so local test networks and sidecars reconnect freely).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use devp2p_netutil::{is_lan, Netlist};
use tokio::time::Instant;

/// Minimum time between two inbound connections from one non-LAN IP:
/// 30 s, go-ethereum's `inboundThrottleTime`.
pub const INBOUND_THROTTLE: Duration = Duration::from_secs(30);

/// Prefix length, in bits, under which IPv6 addresses count as one source
/// for the throttle: a /64, the size of one IPv6 subnet (RFC 4291 section
/// 2.5.1, RFC 7421). One host usually holds a whole /64 and rotates through
/// it (SLAAC temporary addresses, RFC 8981), so a per-address throttle would
/// let it try again from 2^64 addresses. go-ethereum throttles per exact IP
/// for both families.
pub const INBOUND_THROTTLE_PREFIX_V6: u32 = 64;

/// The throttle's key for `ip` (canonical): the IPv4 address, or the IPv6
/// address cut to its /[`INBOUND_THROTTLE_PREFIX_V6`].
fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - INBOUND_THROTTLE_PREFIX_V6);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// Most IPs remembered by the throttle at once (our choice: 64 Ki entries,
/// ~4 MiB at worst). Entries expire after [`INBOUND_THROTTLE`]; when the
/// table is full the oldest entry is forgotten early, which only makes the
/// throttle more lenient, never blocks a legitimate peer.
pub const MAX_INBOUND_HISTORY: usize = 64 * 1024;

/// Why an inbound connection was refused before the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InboundReject {
    /// The remote IP is outside the configured `net_restrict` list.
    #[error("not in netrestrict list")]
    NetRestrict,
    /// The same non-LAN IP connected less than [`INBOUND_THROTTLE`] ago.
    #[error("too many attempts")]
    Throttled,
}

/// Inbound connection filter: `net_restrict` plus the per-IP throttle.
#[derive(Debug, Default)]
pub struct InboundFilter {
    net_restrict: Option<Netlist>,
    /// IP → expiry of its throttle entry.
    recent: HashMap<IpAddr, Instant>,
    /// Insertion order (expiries are monotonic since the window is constant).
    order: VecDeque<(IpAddr, Instant)>,
}

impl InboundFilter {
    /// A filter applying `net_restrict` (if any) and the throttle.
    pub fn new(net_restrict: Option<Netlist>) -> Self {
        InboundFilter {
            net_restrict,
            ..Self::default()
        }
    }

    /// Decides whether a connection from `ip` at `now` may proceed to the
    /// handshake; an accepted non-LAN IP is remembered for [`INBOUND_THROTTLE`].
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), InboundReject> {
        let ip = ip.to_canonical();
        if let Some(list) = &self.net_restrict {
            if !list.contains(ip) {
                return Err(InboundReject::NetRestrict);
            }
        }
        if is_lan(ip) {
            return Ok(());
        }
        self.expire(now);
        let ip = throttle_key(ip);
        if self.recent.contains_key(&ip) {
            return Err(InboundReject::Throttled);
        }
        if self.recent.len() >= MAX_INBOUND_HISTORY {
            if let Some((old, _)) = self.order.pop_front() {
                self.recent.remove(&old);
            }
        }
        let until = now + INBOUND_THROTTLE;
        self.recent.insert(ip, until);
        self.order.push_back((ip, until));
        Ok(())
    }

    /// Forgets entries whose window has passed at `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(ip, until)) = self.order.front() {
            if until > now {
                break;
            }
            self.order.pop_front();
            if self.recent.get(&ip) == Some(&until) {
                self.recent.remove(&ip);
            }
        }
    }

    /// Number of IPs currently throttled.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Whether no IP is currently throttled.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_lan_ip_throttled_for_30s() {
        let t0 = Instant::now();
        let mut f = InboundFilter::new(None);
        assert_eq!(f.check(ip("8.8.8.8"), t0), Ok(()));
        assert_eq!(
            f.check(ip("8.8.8.8"), t0 + Duration::from_secs(29)),
            Err(InboundReject::Throttled)
        );
        assert_eq!(
            f.check(ip("::ffff:8.8.8.8"), t0),
            Err(InboundReject::Throttled)
        );
        assert_eq!(f.check(ip("8.8.4.4"), t0), Ok(()));
        assert_eq!(f.check(ip("8.8.8.8"), t0 + INBOUND_THROTTLE), Ok(()));
        assert_eq!(f.len(), 1, "8.8.4.4 expired, 8.8.8.8 re-added");
    }

    #[test]
    fn an_ipv6_slash_64_is_throttled_as_one_ip() {
        let t0 = Instant::now();
        let mut f = InboundFilter::new(None);
        assert_eq!(f.check(ip("2a00:1450:4001:81c::1"), t0), Ok(()));
        for other in [
            "2a00:1450:4001:81c::2",
            "2a00:1450:4001:81c:ffff:ffff:ffff:ffff",
        ] {
            assert_eq!(f.check(ip(other), t0), Err(InboundReject::Throttled));
        }
        // The next /64 (same /48) is another subnet.
        assert_eq!(f.check(ip("2a00:1450:4001:81d::1"), t0), Ok(()));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn lan_ips_never_throttled() {
        let t0 = Instant::now();
        let mut f = InboundFilter::new(None);
        for _ in 0..10 {
            assert_eq!(f.check(ip("127.0.0.1"), t0), Ok(()));
            assert_eq!(f.check(ip("192.168.1.5"), t0), Ok(()));
        }
        assert!(f.is_empty());
    }

    #[test]
    fn net_restrict_applies_to_lan_too() {
        let t0 = Instant::now();
        let mut f = InboundFilter::new(Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(
            f.check(ip("127.0.0.1"), t0),
            Err(InboundReject::NetRestrict)
        );
        assert_eq!(f.check(ip("10.1.1.1"), t0), Ok(()));
    }

    #[test]
    fn history_is_bounded() {
        let t0 = Instant::now();
        let mut f = InboundFilter::new(None);
        let n = MAX_INBOUND_HISTORY as u32 + 5;
        for i in 0..n {
            // 1.x.y.z is public address space.
            let public = IpAddr::from([1, (i >> 16) as u8 + 1, (i >> 8) as u8, i as u8]);
            assert_eq!(f.check(public, t0), Ok(()));
        }
        assert_eq!(f.len(), MAX_INBOUND_HISTORY, "oldest entries evicted");
    }
}
