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

    /// Sends one datagram without waiting. Datagram semantics: when the
    /// socket's buffer is full the datagram may be dropped (`WouldBlock`),
    /// exactly as a congested network would.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()>;

    /// The local address the transport is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A real UDP socket.
///
/// Sends go through a non-blocking clone of the socket straight to the
/// kernel: tokio's `try_send_to` reports `WouldBlock` until the reactor has
/// seen the socket writable once, which would silently drop the first
/// packets of a fresh socket.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    sender: std::net::UdpSocket,
}

impl UdpTransport {
    /// Binds a UDP socket (must be called inside a tokio runtime).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        Self::from_std(std_socket)
    }

    /// Wraps an already bound socket (must be called inside a tokio runtime).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let sender = socket.try_clone()?;
        Ok(UdpTransport {
            socket: UdpSocket::from_std(socket)?,
            sender,
        })
    }
}

impl DatagramTransport for UdpTransport {
    fn recv_from<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a {
        // tokio documents UdpSocket::recv_from as cancel safe.
        self.socket.recv_from(buf)
    }

    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        self.sender.send_to(buf, to).map(|_| ())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}
