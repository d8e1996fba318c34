//! The service's inbound queue, end to end: datagrams that arrive together
//! are handled round robin by source, so a quiet sender is answered ahead
//! of a flood that came first, and a peer that proved its address is
//! answered ahead of a flood from many addresses. Over a scripted transport
//! (no sockets, no timing): every datagram of a batch is ready at once, and
//! the order of the service's answers is the order it handled the requests
//! in.

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
    /// Signalled when the test adds to the inbox.
    arrived: Arc<Notify>,
}

impl Script {
    /// Adds datagrams to the inbox, all ready at once.
    fn deliver(&self, datagrams: impl IntoIterator<Item = Datagram>) {
        self.inbox.lock().unwrap().extend(datagrams);
        self.arrived.notify_one();
    }

    /// Waits (bounded) until `pred` holds of what the service sent.
    async fn sent_until(&self, what: &str, pred: impl Fn(&[Datagram]) -> bool) {
        let wait = async {
            loop {
                let notified = self.sent_signal.notified();
                if pred(&self.sent.lock().unwrap()) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }
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
        loop {
            if let Some(got) = self.take(buf) {
                return Ok(got);
            }
            // The inbox is empty until the test delivers more.
            self.0.arrived.notified().await;
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

/// The packet type of a sent datagram, if it decodes.
fn message_of(data: &[u8]) -> Option<Message> {
    wire::decode_packet(data).ok().map(|p| p.message)
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

#[tokio::test]
async fn a_proven_peer_is_answered_ahead_of_a_flood_from_many_addresses() {
    /// Pings of the flood, each from its own address, queued before the
    /// proven peer's request: more sources than one round of the old
    /// round robin would serve before it.
    const FLOOD: usize = 300;
    /// Answers the service may send in the flood before the peer's: what
    /// it handles while reading the batch ahead of the peer's request
    /// (`DRAIN_BATCH` datagrams per handled one; 300 / 64 → 4 turns).
    const AHEAD_AT_MOST: usize = FLOOD / devp2p_discover::v4::DRAIN_BATCH + 1;
    let service: SocketAddr = "127.0.0.1:30303".parse().unwrap();
    let peer: SocketAddr = "127.0.0.20:30303".parse().unwrap();
    let script = Script::default();
    let d = Discv4::spawn(
        ScriptedTransport(script.clone()),
        key(1),
        local_node(key(1)),
        Discv4Config::default(),
    );
    let sent_to = |sent: &[Datagram], to: SocketAddr, kind: fn(&Message) -> bool| {
        sent.iter()
            .filter(|(data, dest)| *dest == to && message_of(data).as_ref().is_some_and(kind))
            .count()
    };
    let is_ping = |m: &Message| matches!(m, Message::Ping(_));
    let is_enr_response = |m: &Message| matches!(m, Message::EnrResponse(_));

    // The peer bonds: it pings, and answers the service's ping back.
    script.deliver([(ping_from(50, peer, service), peer)]);
    script
        .sent_until("the ping back", |sent| sent_to(sent, peer, is_ping) == 1)
        .await;
    let ping_back = {
        let sent = script.sent.lock().unwrap();
        let (data, _) = sent
            .iter()
            .find(|(data, to)| *to == peer && message_of(data).as_ref().is_some_and(is_ping))
            .expect("ping back");
        wire::decode_packet(data).expect("decodes").hash
    };
    let pong = Message::Pong(wire::Pong {
        to: Endpoint::new(service, 0),
        reply_token: ping_back,
        expiration: wire::expiration_from_now(),
        enr_seq: None,
    });
    let enr_request = || {
        let msg = Message::EnrRequest(wire::EnrRequest {
            expiration: wire::expiration_from_now(),
        });
        (wire::encode_packet(&key(50), &msg).0, peer)
    };
    script.deliver([
        (wire::encode_packet(&key(50), &pong).0, peer),
        enr_request(),
    ]);
    // An ENR request is answered only with an endpoint proof: the bond holds.
    script
        .sent_until("the first ENR response", |sent| {
            sent_to(sent, peer, is_enr_response) == 1
        })
        .await;
    let before = script.sent.lock().unwrap().len();

    // The flood from many addresses, then the peer's request, all at once.
    let flood_addr =
        |i: usize| SocketAddr::from(([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8], 30303));
    script.deliver(
        (0..FLOOD)
            .map(|i| {
                (
                    ping_from(100 + (i % 100) as u8, flood_addr(i), service),
                    flood_addr(i),
                )
            })
            .chain([enr_request()]),
    );
    script
        .sent_until("the second ENR response", |sent| {
            sent_to(sent, peer, is_enr_response) == 2
        })
        .await;
    let flood_pongs_ahead = script.sent.lock().unwrap()[before..]
        .iter()
        .take_while(|(data, to)| {
            !(*to == peer && message_of(data).as_ref().is_some_and(is_enr_response))
        })
        .filter(|(data, _)| matches!(message_of(data), Some(Message::Pong(_))))
        .count();
    assert!(
        flood_pongs_ahead <= AHEAD_AT_MOST,
        "{flood_pongs_ahead} flood pings answered before the proven peer"
    );
    d.shutdown().await;
}
