//! [`DistinctNetSet`]: caps how many members may share one subnet.

use std::collections::HashMap;
use std::net::IpAddr;

/// Default IPv4 subnet size (prefix bits) for [`DistinctNetSet::new`] callers:
/// a /24, the smallest IPv4 block routed on the public internet, and the
/// value go-ethereum's discovery table uses (`tableSubnet`).
pub const DEFAULT_SUBNET_BITS_V4: u32 = 24;

/// Default IPv6 subnet size (prefix bits): a /48.
///
/// go-ethereum applies its IPv4 /24 rule to IPv6 addresses too, which groups
/// by a /24 of IPv6 space (a whole regional registry allocation) and so lumps
/// unrelated operators together, while an attacker can hold many distinct
/// /24-of-IPv4-sized groups. A /48 is the IPv6 analogue of the IPv4 /24: it is
/// the longest prefix accepted in the global routing table and the standard
/// assignment to one end site (RFC 6177 lists /48 and /56), so one operator's
/// site counts as one subnet. /64 was rejected because any site holding a
/// /48 (tunnel brokers hand these out for free) gets 65 536 distinct /64s.
pub const DEFAULT_SUBNET_BITS_V6: u32 = 48;

/// Prefix key of a member: address family plus the address with host bits
/// cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SubnetKey {
    V4(u32),
    V6(u128),
}

/// Counts members per subnet and refuses a member whose subnet is full.
///
/// IPv4 addresses are grouped by their first `subnet_bits` bits and IPv6
/// addresses by their first `subnet_bits_v6` bits; at most `limit` members may
/// share a group. IPv4-mapped IPv6 addresses count as IPv4. The set counts
/// members; it does not remember which exact addresses were added, so
/// [`remove`](Self::remove) frees one slot in the address's subnet.
///
/// Memory: one map entry per non-empty subnet, so at most
/// [`len`](Self::len) entries; the caller bounds `len` (e.g. by the table or
/// peer-count limit it enforces).
///
/// ```
/// use devp2p_netutil::DistinctNetSet;
/// let mut set = DistinctNetSet::new(24, 2);
/// let ip = |s: &str| s.parse().unwrap();
/// assert!(set.add(ip("10.0.0.1")));
/// assert!(set.add(ip("10.0.0.2")));
/// assert!(!set.add(ip("10.0.0.3"))); // third member of 10.0.0.0/24
/// assert!(set.add(ip("10.0.1.1")));  // another /24
/// set.remove(ip("10.0.0.1"));
/// assert!(set.add(ip("10.0.0.3")));
/// assert_eq!(set.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinctNetSet {
    subnet_bits: u32,
    subnet_bits_v6: u32,
    limit: usize,
    members: HashMap<SubnetKey, usize>,
    len: usize,
}

impl DistinctNetSet {
    /// A set allowing `limit` members per IPv4 /`v4_bits` subnet and per IPv6
    /// /[`DEFAULT_SUBNET_BITS_V6`] subnet. `v4_bits` above 32 is treated as 32.
    pub fn new(v4_bits: u32, limit: usize) -> Self {
        Self::with_prefixes(v4_bits, DEFAULT_SUBNET_BITS_V6, limit)
    }

    /// A set allowing `limit` members per IPv4 /`v4_bits` subnet and per IPv6
    /// /`v6_bits` subnet. Prefix lengths above the address width (32, 128)
    /// are treated as the full width.
    pub fn with_prefixes(v4_bits: u32, v6_bits: u32, limit: usize) -> Self {
        Self {
            subnet_bits: v4_bits.min(32),
            subnet_bits_v6: v6_bits.min(128),
            limit,
            members: HashMap::new(),
            len: 0,
        }
    }

    /// IPv4 subnet size in prefix bits.
    pub fn subnet_bits(&self) -> u32 {
        self.subnet_bits
    }

    /// IPv6 subnet size in prefix bits.
    pub fn subnet_bits_v6(&self) -> u32 {
        self.subnet_bits_v6
    }

    /// Maximum members per subnet.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn key(&self, ip: IpAddr) -> SubnetKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let mask = match self.subnet_bits {
                    0 => 0,
                    b => u32::MAX << (32 - b),
                };
                SubnetKey::V4(u32::from(v4) & mask)
            }
            IpAddr::V6(v6) => {
                let mask = match self.subnet_bits_v6 {
                    0 => 0,
                    b => u128::MAX << (128 - b),
                };
                SubnetKey::V6(u128::from(v6) & mask)
            }
        }
    }

    /// Adds `ip` if its subnet has fewer than `limit` members. Returns
    /// `false` (and changes nothing) when the subnet is full.
    pub fn add(&mut self, ip: IpAddr) -> bool {
        let key = self.key(ip);
        let count = self.members.entry(key).or_insert(0);
        if *count >= self.limit {
            if *count == 0 {
                // limit == 0: don't leave an empty entry behind.
                self.members.remove(&key);
            }
            return false;
        }
        *count += 1;
        self.len += 1;
        true
    }

    /// Removes one member from `ip`'s subnet. Returns `false` when that
    /// subnet had no members.
    pub fn remove(&mut self, ip: IpAddr) -> bool {
        let key = self.key(ip);
        match self.members.get_mut(&key) {
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    self.members.remove(&key);
                }
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// Whether `ip`'s subnet has at least one member.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.members.contains_key(&self.key(ip))
    }

    /// Number of members in `ip`'s subnet.
    pub fn subnet_len(&self, ip: IpAddr) -> usize {
        self.members.get(&self.key(ip)).copied().unwrap_or(0)
    }

    /// Total number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // The operation sequence of go-ethereum's TestDistinctNetSet (/15, limit 2).
    #[test]
    fn geth_sequence() {
        let mut set = DistinctNetSet::new(15, 2);
        let ops: &[(&str, &str, bool)] = &[
            ("add", "127.0.0.1", true),
            ("add", "127.0.0.2", true),
            ("add", "127.0.0.3", false),
            ("add", "127.32.0.1", true),
            ("add", "127.32.0.2", true),
            ("add", "127.32.0.3", false),
            ("add", "127.33.0.1", false),
            ("add", "127.34.0.1", true),
            ("add", "127.34.0.2", true),
            ("add", "127.34.0.3", false),
            ("remove", "127.0.0.1", true),
            ("add", "127.0.0.3", true),
            ("add", "127.0.0.3", false),
        ];
        for (op, addr, want) in ops {
            let got = match *op {
                "add" => set.add(ip(addr)),
                _ => set.remove(ip(addr)),
            };
            assert_eq!(got, *want, "{op}({addr})");
        }
        assert_eq!(set.len(), 6);
        assert!(set.contains(ip("127.1.255.255")));
        assert!(!set.contains(ip("127.2.0.0")));
    }

    #[test]
    fn ipv6_default_prefix_is_48() {
        let mut set = DistinctNetSet::new(DEFAULT_SUBNET_BITS_V4, 1);
        assert_eq!(set.subnet_bits_v6(), 48);
        assert!(set.add(ip("2001:470:1:2::1")));
        assert!(!set.add(ip("2001:470:1:ffff::1")), "same /48");
        assert!(set.add(ip("2001:470:2::1")), "different /48");
    }

    #[test]
    fn mapped_counts_as_v4_and_families_are_separate() {
        let mut set = DistinctNetSet::new(0, 1);
        assert!(set.add(ip("1.2.3.4")));
        assert!(!set.add(ip("::ffff:9.9.9.9")));
        assert!(set.add(ip("::1")));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn limit_zero_and_removing_absent() {
        let mut set = DistinctNetSet::new(24, 0);
        assert!(!set.add(ip("1.2.3.4")));
        assert!(set.is_empty());
        assert!(!set.contains(ip("1.2.3.4")));
        assert!(!set.remove(ip("1.2.3.4")));
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn prefix_bits_are_clamped() {
        let mut set = DistinctNetSet::with_prefixes(99, 999, 1);
        assert_eq!((set.subnet_bits(), set.subnet_bits_v6()), (32, 128));
        assert!(set.add(ip("1.2.3.4")));
        assert!(set.add(ip("1.2.3.5")));
        assert!(!set.add(ip("1.2.3.4")));
    }
}
