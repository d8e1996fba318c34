//! Address classification: LAN, special-purpose networks, relay checks and
//! prefix comparison.
//!
//! The range tables below are compile-time constants (no parsing at start-up,
//! no globals initialised at run time). IPv4-mapped IPv6 addresses
//! (`::ffff:a.b.c.d`) are always unwrapped to IPv4 before classification, so a
//! peer cannot dodge a rule by writing an IPv4 address in IPv6 form.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// IPv4 ranges treated as "local network".
///
/// Source: RFC 1918 (private use), RFC 3927 (link-local) and RFC 1122
/// ("this" network, which go-ethereum's `lan4` list also counts as LAN).
/// Loopback (127.0.0.0/8) is handled separately via [`Ipv4Addr::is_loopback`].
/// Shared address space (100.64.0.0/10, RFC 6598, carrier-grade NAT) is
/// deliberately *not* LAN: it spans an ISP, not a site, and go-ethereum does
/// not list it either.
const LAN_V4: [Ipv4Net; 5] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8), // "this" network (RFC 1122)
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8), // private use (RFC 1918)
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12), // private use (RFC 1918)
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), // private use (RFC 1918)
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16), // link-local (RFC 3927)
];

/// IPv6 ranges treated as "local network": link-local (RFC 4291) and unique
/// local (RFC 4193). Loopback (`::1`) is handled separately. Same list as
/// go-ethereum's `lan6`.
const LAN_V6: [Ipv6Net; 2] = [
    Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),  // unique local
];

/// IPv4 special-purpose blocks that are never a valid peer address.
///
/// Source: the IANA IPv4 Special-Purpose Address Registry, RFC 5735 and
/// RFC 5156; the same entries as go-ethereum's `special4` list, plus
/// 240.0.0.0/4 ("Reserved", RFC 1112), which no host can route to.
/// Multicast (224.0.0.0/4) is checked separately via
/// [`Ipv4Addr::is_multicast`].
const SPECIAL_V4: [Ipv4Net; 14] = [
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 29), // IPv4 service continuity
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 9), 32), // PCP anycast
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 170), 32), // NAT64/DNS64 discovery
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 171), 32), // NAT64/DNS64 discovery
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24), // TEST-NET-1
    Ipv4Net::new_assert(Ipv4Addr::new(192, 31, 196, 0), 24), // AS112
    Ipv4Net::new_assert(Ipv4Addr::new(192, 52, 193, 0), 24), // AMT
    Ipv4Net::new_assert(Ipv4Addr::new(192, 88, 99, 0), 24), // 6to4 relay anycast
    Ipv4Net::new_assert(Ipv4Addr::new(192, 175, 48, 0), 24), // AS112
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), // device benchmark testing
    Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 0), 24), // TEST-NET-2
    Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 0), 24), // TEST-NET-3
    Ipv4Net::new_assert(Ipv4Addr::new(255, 255, 255, 255), 32), // limited broadcast
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),  // reserved (not in geth's list)
];

/// IPv6 special-purpose blocks that are never a valid peer address.
///
/// Source: the IANA IPv6 Special-Purpose Address Registry; the same entries
/// as go-ethereum's `special6` list. Multicast (`ff00::/8`) is checked
/// separately via [`Ipv6Addr::is_multicast`].
const SPECIAL_V6: [Ipv6Net; 11] = [
    Ipv6Net::new_assert(Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32), // TEREDO
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128), // port control anycast
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48), // benchmarking
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32), // AMT
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48), // AS112-v6
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 5, 0, 0, 0, 0, 0, 0), 32), // EID space for LISP
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28), // deprecated ORCHID
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28), // ORCHIDv2
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4
];

/// Why [`check_relay_ip`] rejected a relayed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayIpError {
    /// The relayed address is unspecified (`0.0.0.0` or `::`).
    #[error("relayed address {addr} is unspecified")]
    Unspecified {
        /// The rejected address.
        addr: IpAddr,
    },
    /// The relayed address lies in a multicast, broadcast, documentation or
    /// other special-purpose network (see [`is_special_network`]).
    #[error("relayed address {addr} is in a special-purpose network")]
    SpecialNetwork {
        /// The rejected address.
        addr: IpAddr,
    },
    /// A loopback address was relayed by a host that is not itself on loopback.
    #[error("loopback address {addr} relayed by non-loopback host {sender}")]
    LoopbackFromNonLoopback {
        /// The rejected address.
        addr: IpAddr,
        /// The host that relayed it.
        sender: IpAddr,
    },
    /// A LAN address was relayed by a host outside any LAN (see [`is_lan`]).
    #[error("LAN address {addr} relayed by WAN host {sender}")]
    LanFromWan {
        /// The rejected address.
        addr: IpAddr,
        /// The host that relayed it.
        sender: IpAddr,
    },
}

impl RelayIpError {
    /// The address that was rejected.
    pub fn addr(&self) -> IpAddr {
        match *self {
            Self::Unspecified { addr }
            | Self::SpecialNetwork { addr }
            | Self::LoopbackFromNonLoopback { addr, .. }
            | Self::LanFromWan { addr, .. } => addr,
        }
    }

    /// Whether the same address could be accepted if a different sender
    /// relayed it.
    ///
    /// `false` for unspecified and special-purpose addresses (never a valid
    /// target from anyone); `true` for loopback and LAN addresses, which are
    /// fine when learned from a host on the same loopback or LAN.
    pub fn depends_on_sender(&self) -> bool {
        matches!(
            self,
            Self::LoopbackFromNonLoopback { .. } | Self::LanFromWan { .. }
        )
    }
}

/// Reports whether `ip` is a local-network address: loopback, RFC 1918
/// private, RFC 4193 unique local, link-local, or the IPv4 "this" network
/// `0.0.0.0/8`. IPv4-mapped IPv6 addresses are unwrapped first.
///
/// ```
/// use devp2p_netutil::is_lan;
/// assert!(is_lan("192.168.1.4".parse().unwrap()));
/// assert!(is_lan("::ffff:10.0.0.1".parse().unwrap()));
/// assert!(!is_lan("1.1.1.1".parse().unwrap()));
/// ```
pub fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || LAN_V4.iter().any(|n| n.contains(&v4)),
        IpAddr::V6(v6) => v6.is_loopback() || LAN_V6.iter().any(|n| n.contains(&v6)),
    }
}

/// Reports whether `ip` lies in a multicast, broadcast, documentation,
/// benchmarking or other IANA special-purpose network, i.e. one that is never
/// a valid address for a peer. IPv4-mapped IPv6 addresses are unwrapped first.
///
/// ```
/// use devp2p_netutil::is_special_network;
/// assert!(is_special_network("192.0.2.1".parse().unwrap()));
/// assert!(is_special_network("ff05::1:3".parse().unwrap()));
/// assert!(!is_special_network("8.8.8.8".parse().unwrap()));
/// ```
pub fn is_special_network(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_multicast() || SPECIAL_V4.iter().any(|n| n.contains(&v4)),
        IpAddr::V6(v6) => v6.is_multicast() || SPECIAL_V6.iter().any(|n| n.contains(&v6)),
    }
}

/// Checks whether `addr`, relayed to us by `sender` (e.g. in a discovery
/// `Neighbors` packet), is an acceptable connection target.
///
/// Rules, in order (same as go-ethereum's `CheckRelayIP`):
/// 1. unspecified addresses are never valid;
/// 2. special-purpose networks are never valid;
/// 3. loopback addresses are valid only when relayed by a loopback host;
/// 4. LAN addresses are valid only when relayed by a LAN host;
/// 5. everything else is valid.
///
/// Both addresses are unwrapped from IPv4-mapped IPv6 form first.
///
/// ```
/// use devp2p_netutil::{check_relay_ip, RelayIpError};
/// let wan = "23.55.1.242".parse().unwrap();
/// let lan = "192.168.0.1".parse().unwrap();
/// assert!(check_relay_ip(lan, wan).is_ok());
/// assert!(matches!(check_relay_ip(wan, lan), Err(RelayIpError::LanFromWan { .. })));
/// ```
pub fn check_relay_ip(sender: IpAddr, addr: IpAddr) -> Result<(), RelayIpError> {
    let sender = sender.to_canonical();
    let addr = addr.to_canonical();
    if addr.is_unspecified() {
        return Err(RelayIpError::Unspecified { addr });
    }
    if is_special_network(addr) {
        return Err(RelayIpError::SpecialNetwork { addr });
    }
    if addr.is_loopback() && !sender.is_loopback() {
        return Err(RelayIpError::LoopbackFromNonLoopback { addr, sender });
    }
    if is_lan(addr) && !is_lan(sender) {
        return Err(RelayIpError::LanFromWan { addr, sender });
    }
    Ok(())
}

/// Reports whether `a` and `b` share their first `bits` bits.
///
/// Addresses of different families never match (IPv4-mapped IPv6 addresses
/// count as IPv4). `bits` larger than the address width compares the whole
/// address (go-ethereum returns `false` there instead; comparing the whole
/// address is the meaningful reading). `bits == 0` matches any two addresses
/// of the same family.
///
/// ```
/// use devp2p_netutil::same_net;
/// let ip = |s: &str| s.parse().unwrap();
/// assert!(same_net(24, ip("127.0.0.1"), ip("127.0.0.3")));
/// assert!(!same_net(24, ip("127.3.0.1"), ip("127.5.0.3")));
/// ```
pub fn same_net(bits: u32, a: IpAddr, b: IpAddr) -> bool {
    match (a.to_canonical(), b.to_canonical()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = prefix_mask_u32(bits);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = prefix_mask_u128(bits);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Mask with the top `bits` bits set (saturating at 32).
fn prefix_mask_u32(bits: u32) -> u32 {
    match bits {
        0 => 0,
        b if b >= 32 => u32::MAX,
        b => u32::MAX << (32 - b),
    }
}

/// Mask with the top `bits` bits set (saturating at 128).
fn prefix_mask_u128(bits: u32) -> u128 {
    match bits {
        0 => 0,
        b if b >= 128 => u128::MAX,
        b => u128::MAX << (128 - b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn check(f: fn(IpAddr) -> bool, included: &[&str], excluded: &[&str]) {
        for s in included {
            assert!(f(ip(s)), "{s} should be included");
        }
        for s in excluded {
            assert!(!f(ip(s)), "{s} should be excluded");
        }
    }

    // Cases from go-ethereum's TestIsLAN, plus link-local v4 and mapped forms.
    #[test]
    fn is_lan_table() {
        check(
            is_lan,
            &[
                "0.0.0.0",
                "0.2.0.8",
                "127.0.0.1",
                "10.0.1.1",
                "10.22.0.3",
                "172.31.252.251",
                "192.168.1.4",
                "fe80::f4a1:8eff:fec5:9d9d",
                "febf::ab32:2233",
                "fc00::4",
                "::1",
                "169.254.3.4",
                "::ffff:192.168.1.4",
                "::ffff:127.0.0.1",
            ],
            &[
                "192.0.2.1",
                "1.0.0.0",
                "172.32.0.1",
                "fec0::2233",
                "100.64.0.1",
                "::ffff:1.2.3.4",
            ],
        );
    }

    // Cases from go-ethereum's TestIsSpecialNetwork, plus mapped forms.
    #[test]
    fn is_special_network_table() {
        check(
            is_special_network,
            &[
                "192.0.2.1",
                "192.0.2.44",
                "2001:db8:85a3:8d3:1319:8a2e:370:7348",
                "255.255.255.255",
                "224.0.0.22",
                "ff05::1:3",
                "::ffff:255.255.255.255",
                "::ffff:224.0.0.1",
                "2002::1",
                "240.1.2.3",
            ],
            &["192.0.3.1", "1.0.0.0", "172.32.0.1", "fec0::2233", "::1"],
        );
    }

    // Cases from go-ethereum's TestCheckRelayIP.
    #[test]
    fn check_relay_ip_table() {
        use RelayIpError as E;
        type Want = Option<fn(&RelayIpError) -> bool>;
        let unspecified: Want = Some(|e| matches!(e, E::Unspecified { .. }));
        let special: Want = Some(|e| matches!(e, E::SpecialNetwork { .. }));
        let loopback: Want = Some(|e| matches!(e, E::LoopbackFromNonLoopback { .. }));
        let lan: Want = Some(|e| matches!(e, E::LanFromWan { .. }));
        let cases: &[(&str, &str, Want)] = &[
            ("127.0.0.1", "0.0.0.0", unspecified),
            ("192.168.0.1", "0.0.0.0", unspecified),
            ("23.55.1.242", "0.0.0.0", unspecified),
            ("23.55.1.242", "::", unspecified),
            ("127.0.0.1", "255.255.255.255", special),
            ("192.168.0.1", "255.255.255.255", special),
            ("23.55.1.242", "255.255.255.255", special),
            ("192.168.0.1", "127.0.2.19", loopback),
            ("23.55.1.242", "192.168.0.1", lan),
            ("23.55.1.242", "::ffff:192.168.0.1", lan),
            ("127.0.0.1", "127.0.2.19", None),
            ("::ffff:127.0.0.1", "127.0.2.19", None),
            ("127.0.0.1", "192.168.0.1", None),
            ("127.0.0.1", "23.55.1.242", None),
            ("192.168.0.1", "192.168.0.1", None),
            ("192.168.0.1", "23.55.1.242", None),
            ("23.55.1.242", "23.55.1.242", None),
        ];
        for (sender, addr, want) in cases {
            let got = check_relay_ip(ip(sender), ip(addr));
            match (want, &got) {
                (None, Ok(())) => {}
                (Some(pred), Err(e)) if pred(e) => {}
                _ => panic!("{addr} from {sender}: got {got:?}"),
            }
        }
    }

    #[test]
    fn relay_error_policy() {
        let e = check_relay_ip(ip("1.2.3.4"), ip("10.0.0.1")).unwrap_err();
        assert!(e.depends_on_sender());
        assert_eq!(e.addr(), ip("10.0.0.1"));
        let e = check_relay_ip(ip("1.2.3.4"), ip("224.0.0.1")).unwrap_err();
        assert!(!e.depends_on_sender());
        assert!(e.to_string().contains("224.0.0.1"));
    }

    // Cases from go-ethereum's TestSameNet and ExampleSameNet.
    #[test]
    fn same_net_table() {
        let cases = [
            ("0.0.0.0", "0.0.0.0", 32, true),
            ("0.0.0.0", "0.0.0.1", 0, true),
            ("0.0.0.0", "0.0.0.1", 31, true),
            ("0.0.0.0", "0.0.0.1", 32, false),
            ("0.33.0.1", "0.34.0.2", 8, true),
            ("0.33.0.1", "0.34.0.2", 13, true),
            ("0.33.0.1", "0.34.0.2", 15, false),
            ("127.0.0.1", "127.0.0.3", 24, true),
            ("127.3.0.1", "127.5.0.3", 24, false),
            ("1.2.3.4", "1.2.3.4", 200, true),
            ("1.2.3.4", "::ffff:1.2.3.5", 24, true),
            ("1.2.3.4", "::1", 0, false),
            ("2001:db8::1", "2001:db8::ffff", 64, true),
            ("2001:db8::1", "2001:db9::1", 32, false),
        ];
        for (a, b, bits, want) in cases {
            assert_eq!(same_net(bits, ip(a), ip(b)), want, "{a} {b} /{bits}");
        }
    }
}
