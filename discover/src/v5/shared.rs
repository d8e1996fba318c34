//! One UDP socket for discv5 and discv4 (as go-ethereum runs them).
//!
//! discv5 owns receiving on the socket. Every datagram it cannot decode as
//! discv5 comes out of its event stream as an unrecognised frame; the
//! forwarder task (in the parent module) hands those to discv4 through a
//! bounded channel, and discv4 sends on the same socket through
//! [`SharedTransport`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::v4::DatagramTransport;

/// Datagrams queued from discv5's receive path to discv4. When full, the
/// next datagram for discv4 is dropped and counted
/// ([`Discv5Stats::v4_frames_dropped`](super::Discv5Stats)), exactly as if
/// the network had lost it; discv4 retries its requests like it would
/// then. 256 matches discv4's own command queue and is four times the
/// Neighbors burst of one 16-node lookup round (measured: a 32-node devnet
/// never came near it).
pub const SHARED_V4_QUEUE: usize = 256;

/// One datagram handed from discv5 to discv4: payload and source.
pub(crate) type Datagram = (Vec<u8>, SocketAddr);

/// Counters of the datagram hand-over.
#[derive(Debug, Default)]
pub(crate) struct FrameCounters {
    pub(crate) forwarded: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// The discv4 side of a socket shared with discv5: receives the datagrams
/// discv5 did not recognise, sends straight on the shared socket.
///
/// Made by [`Discv5::bind_shared`](super::Discv5::bind_shared); give it to
/// [`Discv4::spawn`](crate::v4::Discv4::spawn).
#[derive(Debug)]
pub struct SharedTransport {
    pub(crate) frames: mpsc::Receiver<Datagram>,
    /// A non-blocking clone of the shared socket (see
    /// [`UdpTransport`](crate::v4::UdpTransport) for why sends bypass tokio).
    pub(crate) sender: std::net::UdpSocket,
    /// The IPv6 socket's clone on a dual-stack node.
    pub(crate) sender_v6: Option<std::net::UdpSocket>,
    pub(crate) local_addr: SocketAddr,
}

impl DatagramTransport for SharedTransport {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // mpsc::Receiver::recv is cancel safe.
        match self.frames.recv().await {
            Some(frame) => Ok(copy_out(frame, buf)),
            // discv5 stopped: nothing will ever arrive again; discv4 keeps
            // running (and stops on its own shutdown) rather than spinning
            // on an error.
            None => std::future::pending().await,
        }
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.frames.try_recv() {
            Ok(frame) => Ok(copy_out(frame, buf)),
            // Empty, or discv5 stopped (see `recv_from`).
            Err(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        let (socket, to) =
            crate::v4::transport::pick_sender(&self.sender, self.sender_v6.as_ref(), to);
        socket.send_to(buf, to).map(|_| ())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// Copies a handed-over datagram into `buf` (truncating, as a socket
/// does); its length and source.
fn copy_out((data, from): Datagram, buf: &mut [u8]) -> (usize, SocketAddr) {
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    (n, from)
}

/// Hands a frame discv5 did not recognise to discv4 without waiting;
/// counts it as forwarded or dropped (queue full, or no discv4).
pub(crate) fn hand_over(
    to_v4: Option<&mpsc::Sender<Datagram>>,
    frame: Datagram,
    counters: &Arc<FrameCounters>,
) {
    let delivered = to_v4.is_some_and(|tx| tx.try_send(frame).is_ok());
    let counter = if delivered {
        &counters.forwarded
    } else {
        &counters.dropped
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_or_no_discv4_drops_and_counts() {
        let counters = Arc::new(FrameCounters::default());
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        hand_over(Some(&tx), (vec![1], from), &counters);
        hand_over(Some(&tx), (vec![2], from), &counters);
        hand_over(None, (vec![3], from), &counters);
        assert_eq!(counters.forwarded.load(Ordering::Relaxed), 1);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(rx.try_recv().unwrap(), (vec![1], from));
        assert!(rx.try_recv().is_err(), "the second datagram was dropped");
    }

    #[tokio::test]
    async fn datagrams_are_truncated_to_the_buffer() {
        let (tx, rx) = mpsc::channel(SHARED_V4_QUEUE);
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local_addr = sender.local_addr().unwrap();
        let mut t = SharedTransport {
            frames: rx,
            sender,
            sender_v6: None,
            local_addr,
        };
        tx.send((vec![7; 10], local_addr)).await.unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(t.recv_from(&mut buf).await.unwrap(), (4, local_addr));
        assert_eq!(buf, [7; 4]);
        assert_eq!(t.local_addr().unwrap(), local_addr);
    }
}
