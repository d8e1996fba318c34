//! The datagram transport the service runs over: a real UDP socket, or the
//! simulated network in [`super::sim`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// A datagram socket as the discovery service needs it.
///
/// The service task owns its transport exclusively: receiving takes
/// `&mut self`, sending `&self`.
pub trait DatagramTransport: Send + 'static {
    /// Waits for the next datagram, copies it into `buf` (truncating to
    /// `buf.len()`), and returns its length and source.
    ///
    /// Must be cancel safe: if the future is dropped before completing, no
    /// datagram is lost (the service polls it inside `select!`).
    fn recv_from<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a;

    /// Takes the next datagram if one is ready now, as
    /// [`recv_from`](Self::recv_from) does; `WouldBlock` if none is. The
    /// service drains its socket with this between datagrams, so that past
    /// its capacity it chooses which datagrams to drop (fairly by source)
    /// instead of the kernel. The default reports `WouldBlock` always: each
    /// datagram is then handled as it is received.
    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let _ = buf;
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Sends one datagram without waiting. Datagram semantics: when the
    /// socket's buffer is full the datagram may be dropped (`WouldBlock`),
    /// exactly as a congested network would.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()>;

    /// The local address the transport is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A real UDP socket, or two (one per address family, for a dual-stack
/// node: see [`UdpTransport::from_std_pair`]).
///
/// Sends go through a non-blocking clone of the socket straight to the
/// kernel: tokio's `try_send_to` reports `WouldBlock` until the reactor has
/// seen the socket writable once, which would silently drop the first
/// packets of a fresh socket.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    sender: std::net::UdpSocket,
    /// The IPv6 socket of a dual-stack node (the first one is IPv4 then).
    v6: Option<(UdpSocket, std::net::UdpSocket)>,
}

impl UdpTransport {
    /// Binds a UDP socket (must be called inside a tokio runtime). An IPv6
    /// `addr` gives an IPv6-only socket ([`devp2p_netutil::bind_udp`]).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::from_std(devp2p_netutil::bind_udp(addr)?)
    }

    /// Wraps an already bound socket (must be called inside a tokio runtime).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        Self::from_std_pair(socket, None)
    }

    /// Wraps an IPv4 socket and an IPv6 one (a dual-stack node; must be
    /// called inside a tokio runtime): datagrams are received on both and
    /// each is sent on the socket of its destination's family.
    /// [`local_addr`](DatagramTransport::local_addr) is the first socket's.
    pub fn from_std_pair(
        socket: std::net::UdpSocket,
        v6: Option<std::net::UdpSocket>,
    ) -> io::Result<Self> {
        let wrap = |socket: std::net::UdpSocket| -> io::Result<(UdpSocket, std::net::UdpSocket)> {
            socket.set_nonblocking(true)?;
            let sender = socket.try_clone()?;
            Ok((UdpSocket::from_std(socket)?, sender))
        };
        let (socket, sender) = wrap(socket)?;
        Ok(UdpTransport {
            socket,
            sender,
            v6: v6.map(wrap).transpose()?,
        })
    }

    /// The IPv6 socket's address, on a dual-stack transport.
    pub fn local_addr_v6(&self) -> Option<io::Result<SocketAddr>> {
        self.v6.as_ref().map(|(s, _)| s.local_addr())
    }
}

/// The socket a datagram to `to` leaves from: the IPv6 one for an IPv6
/// destination when there is one, else the first (an IPv4-mapped
/// destination is sent as IPv4).
pub(crate) fn pick_sender<'a>(
    first: &'a std::net::UdpSocket,
    v6: Option<&'a std::net::UdpSocket>,
    to: SocketAddr,
) -> (&'a std::net::UdpSocket, SocketAddr) {
    let to = SocketAddr::new(to.ip().to_canonical(), to.port());
    match (to, v6) {
        (SocketAddr::V6(_), Some(v6)) => (v6, to),
        _ => (first, to),
    }
}

impl DatagramTransport for UdpTransport {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = match &self.v6 {
            // tokio documents UdpSocket::recv_from as cancel safe.
            None => self.socket.recv_from(buf).await?,
            // Wait for either socket to be readable (`readable` is cancel
            // safe), then read without blocking; a spurious wake-up
            // (WouldBlock) waits again.
            Some((v6, _)) => loop {
                let socket = tokio::select! {
                    r = self.socket.readable() => { r?; &self.socket }
                    r = v6.readable() => { r?; v6 }
                };
                match socket.try_recv_from(buf) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
        };
        Ok((n, SocketAddr::new(from.ip().to_canonical(), from.port())))
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // Through the non-blocking std clones: tokio's own `try_recv_from`
        // answers `WouldBlock` without asking the kernel until its reactor
        // has run again, which a busy service task does not let it do.
        // (Tokio copes with the readiness this leaves stale: its next read
        // meets `WouldBlock` and waits properly.)
        let (n, from) = match self.sender.recv_from(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match &self.v6 {
                Some((_, v6)) => v6.recv_from(buf)?,
                None => return Err(e),
            },
            other => other?,
        };
        Ok((n, SocketAddr::new(from.ip().to_canonical(), from.port())))
    }

    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        let (socket, to) = pick_sender(&self.sender, self.v6.as_ref().map(|(_, s)| s), to);
        socket.send_to(buf, to).map(|_| ())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}
