//! The service's inbound queue, end to end: datagrams that arrive together
//! are handled round robin by source, so a quiet sender is answered ahead
//! of a flood that came first. Over a scripted transport (no sockets, no
//! timing): every datagram is ready at once, and the order of the service's
//! pongs is the order it handled the pings in.

mod v4_support;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devp2p_discover::v4::transport::DatagramTransport;
use devp2p_discover::v4::wire::{self, Endpoint, Message};
use devp2p_discover::v4::{Discv4, Discv4Config};
use tokio::sync::Notify;
use v4_support::{key, local_node};

/// A datagram and its source (inbound) or destination (sent).
type Datagram = (Vec<u8>, SocketAddr);

/// Datagrams handed to the service, all ready at once, and what it sent.
#[derive(Clone, Default)]
struct Script {
    inbox: Arc<Mutex<VecDeque<Datagram>>>,
    sent: Arc<Mutex<Vec<Datagram>>>,
    /// Signalled on every send.
    sent_signal: Arc<Notify>,
}

struct ScriptedTransport(Script);

impl ScriptedTransport {
    fn take(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let (data, from) = self.0.inbox.lock().unwrap().pop_front()?;
        buf[..data.len()].copy_from_slice(&data);
        Some((data.len(), from))
    }
}

impl DatagramTransport for ScriptedTransport {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.take(buf) {
            Some(got) => Ok(got),
            // The script is played: nothing more ever arrives.
            None => std::future::pending().await,
        }
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.take(buf)
            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        self.0.sent.lock().unwrap().push((buf.to_vec(), to));
        self.0.sent_signal.notify_one();
        Ok(())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok("127.0.0.1:30303".parse().unwrap())
    }
}

fn ping_from(seed: u8, from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let msg = Message::Ping(wire::Ping {
        version: wire::PING_VERSION,
        from: Endpoint::new(from, 0),
        to: Endpoint::new(to, 0),
        expiration: wire::expiration_from_now(),
        enr_seq: None,
    });
    wire::encode_packet(&key(seed), &msg).0
}

#[tokio::test]
async fn a_quiet_sender_is_answered_ahead_of_a_flood_that_came_first() {
    /// Pings of the flood, all from one address, queued before the quiet
    /// sender's one.
    const FLOOD: usize = 40;
    let service: SocketAddr = "127.0.0.1:30303".parse().unwrap();
    let flood: SocketAddr = "127.0.0.10:30303".parse().unwrap();
    let quiet: SocketAddr = "127.0.0.20:30303".parse().unwrap();
    let script = Script::default();
    {
        let mut inbox = script.inbox.lock().unwrap();
        for i in 0..FLOOD {
            inbox.push_back((ping_from(10 + (i % 8) as u8, flood, service), flood));
        }
        inbox.push_back((ping_from(99, quiet, service), quiet));
    }
    let d = Discv4::spawn(
        ScriptedTransport(script.clone()),
        key(1),
        local_node(key(1)),
        Discv4Config::default(),
    );
    // Every ping is answered with a pong (and, from unknown senders, a ping
    // back): wait for all the pongs.
    let pongs_to = |sent: &[Datagram]| -> Vec<SocketAddr> {
        sent.iter()
            .filter(|(data, _)| {
                matches!(
                    wire::decode_packet(data).map(|p| p.message),
                    Ok(Message::Pong(_))
                )
            })
            .map(|(_, to)| *to)
            .collect()
    };
    let all_answered = async {
        loop {
            let answered = pongs_to(&script.sent.lock().unwrap()).len();
            if answered == FLOOD + 1 {
                break;
            }
            script.sent_signal.notified().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all_answered)
        .await
        .expect("every ping answered");
    let order = pongs_to(&script.sent.lock().unwrap());
    let quiet_at = order
        .iter()
        .position(|to| *to == quiet)
        .expect("quiet sender answered");
    // Round robin: the flood's first ping, then the quiet sender's.
    assert_eq!(quiet_at, 1, "pong order {order:?}");
    d.shutdown().await;
}
