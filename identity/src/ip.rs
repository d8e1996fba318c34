//! IP helpers shared by enode URLs, records and our own record.

use std::net::IpAddr;

/// IPv4-mapped IPv6 addresses as IPv4 (go-ethereum `net.IP.To4`).
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The address families a node can reach peers on (it has a socket of
/// that family); [`Node::from_enr_reachable`](crate::Node::from_enr_reachable)
/// picks a record's endpoint by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpFamilies {
    /// IPv4 is reachable.
    pub v4: bool,
    /// IPv6 is reachable.
    pub v6: bool,
}

impl IpFamilies {
    /// Both families.
    pub const BOTH: IpFamilies = IpFamilies { v4: true, v6: true };
    /// IPv4 only.
    pub const V4_ONLY: IpFamilies = IpFamilies {
        v4: true,
        v6: false,
    };
    /// IPv6 only.
    pub const V6_ONLY: IpFamilies = IpFamilies {
        v4: false,
        v6: true,
    };

    /// The family of `ip` alone (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr) -> IpFamilies {
        match canonical_ip(ip) {
            IpAddr::V4(_) => IpFamilies {
                v4: true,
                v6: false,
            },
            IpAddr::V6(_) => IpFamilies {
                v4: false,
                v6: true,
            },
        }
    }

    /// Whether `ip`'s family is reachable.
    pub fn contains(self, ip: IpAddr) -> bool {
        match canonical_ip(ip) {
            IpAddr::V4(_) => self.v4,
            IpAddr::V6(_) => self.v6,
        }
    }
}

/// How far away an address reaches, as go-ethereum's `enode.localityScore`
/// ranks a record's `ip` against its `ip6`: unspecified 0, loopback 1,
/// link-local 2, private (RFC 1918 / RFC 4193 unique local) 3, anything
/// else 4. The record's IPv4 endpoint wins ties.
pub(crate) fn locality_score(ip: IpAddr) -> u8 {
    match canonical_ip(ip) {
        ip if ip.is_unspecified() => 0,
        ip if ip.is_loopback() => 1,
        IpAddr::V4(v4) if v4.is_link_local() => 2,
        IpAddr::V6(v6) if v6.is_unicast_link_local() => 2,
        IpAddr::V4(v4) if v4.is_private() => 3,
        IpAddr::V6(v6) if v6.is_unique_local() => 3,
        _ => 4,
    }
}
