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
