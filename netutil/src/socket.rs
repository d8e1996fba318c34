//! Binding sockets for a dual-stack node: every IPv6 socket is IPv6-only
//! (`IPV6_V6ONLY` set), so `0.0.0.0:P` and `[::]:P` can be bound side by
//! side and no IPv4 peer ever shows up as an IPv4-mapped IPv6 address.
//!
//! Why not one dual-stack `[::]` socket (what go-ethereum gets from Go's
//! `net.Listen(":30303")`): whether `[::]` also takes IPv4 depends on the
//! OS (`net.ipv6.bindv6only` on Linux, always off on OpenBSD, on by default
//! on Windows), and the discv5 crate keys sessions by the exact source
//! address, so a mapped `::ffff:a.b.c.d` would not match the `a.b.c.d` it
//! sent to. Two sockets, one per family, behave the same everywhere.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

fn new_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// Binds a UDP socket at `addr` (IPv6-only when `addr` is IPv6), in
/// non-blocking mode, ready for `tokio::net::UdpSocket::from_std`.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds a TCP listener at `addr` with `backlog` (IPv6-only when `addr` is
/// IPv6; `SO_REUSEADDR` on outside Windows, as std and mio do, so a port in
/// TIME_WAIT after a restart can be bound again), in non-blocking mode,
/// ready for `tokio::net::TcpListener::from_std`.
pub fn bind_tcp_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether a UDP socket can be bound at `[::1]` (IPv6 loopback): tests use
/// it to skip IPv6 cases on machines without IPv6, with the error as the
/// reason.
pub fn ipv6_loopback_available() -> Result<(), io::Error> {
    UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ipv4_and_ipv6_sockets_share_a_port() {
        if let Err(e) = ipv6_loopback_available() {
            println!("SKIPPED: no IPv6 loopback ({e})");
            return;
        }
        let v4 = bind_udp((Ipv4Addr::UNSPECIFIED, 0).into()).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = bind_udp((Ipv6Addr::UNSPECIFIED, port).into()).unwrap();
        assert_eq!(v6.local_addr().unwrap().port(), port);
        let l4 = bind_tcp_listener((Ipv4Addr::UNSPECIFIED, 0).into(), 8).unwrap();
        let port = l4.local_addr().unwrap().port();
        let l6 = bind_tcp_listener((Ipv6Addr::UNSPECIFIED, port).into(), 8).unwrap();
        assert_eq!(l6.local_addr().unwrap().port(), port);
    }
}
