//! Shared helpers for the discv4 tests over real UDP: a scripted test peer
//! that speaks the wire format by hand, and node construction.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use devp2p_discover::node::NodeId;
use devp2p_discover::v4::wire::{self, Endpoint, Message, Packet};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode, Node};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;

/// How long a test waits for a packet that should arrive.
pub const REPLY_WAIT: Duration = Duration::from_secs(2);
/// How long a test waits to be sure a packet does not arrive.
pub const SILENCE_WAIT: Duration = Duration::from_millis(300);

/// A deterministic key from a small seed.
pub fn key(seed: u8) -> SecretKey {
    let mut b = [0x11u8; 32];
    b[31] = seed;
    b[0] = seed.wrapping_add(1);
    SecretKey::from_secret_bytes(b).expect("valid key")
}

/// A local node for `key` listening on 127.0.0.1 (UDP port set on bind).
pub fn local_node(key: SecretKey) -> LocalNode {
    let local = LocalNode::new(key, 1);
    local.set_ip("127.0.0.1".parse().unwrap());
    local
}

/// Starts a service on 127.0.0.1 with the given config.
pub async fn start(seed: u8, cfg: Discv4Config) -> (Discv4, LocalNode) {
    let local = local_node(key(seed));
    let d = Discv4::bind(
        "127.0.0.1:0".parse().unwrap(),
        key(seed),
        local.clone(),
        cfg,
    )
    .await
    .expect("bind");
    (d, local)
}

/// A hand-driven discv4 peer on a real UDP socket.
pub struct Peer {
    pub sock: UdpSocket,
    pub key: SecretKey,
    pub id: NodeId,
}

impl Peer {
    pub async fn new(ip: &str, seed: u8) -> Peer {
        let sock = UdpSocket::bind(format!("{ip}:0")).await.expect("bind peer");
        let key = key(seed);
        Peer {
            sock,
            id: NodeId::from_secret_key(&key),
            key,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn node(&self) -> Node {
        let a = self.addr();
        Node::new(self.id, a.ip(), a.port(), a.port())
    }

    pub fn expiration() -> u64 {
        wire::expiration_from_now()
    }

    pub async fn send(&self, to: SocketAddr, msg: &Message) -> [u8; 32] {
        let (bytes, hash) = wire::encode_packet(&self.key, msg);
        self.sock.send_to(&bytes, to).await.expect("send");
        hash
    }

    pub async fn send_raw(&self, to: SocketAddr, bytes: &[u8]) {
        self.sock.send_to(bytes, to).await.expect("send");
    }

    pub fn ping_msg(&self, to: SocketAddr) -> Message {
        Message::Ping(wire::Ping {
            version: 4,
            from: Endpoint::new(self.addr(), 0),
            to: Endpoint::new(to, 0),
            expiration: Self::expiration(),
            enr_seq: None,
        })
    }

    /// Next packet within `wait`, skipping packets `skip` returns true for.
    pub async fn recv_where(
        &self,
        wait: Duration,
        want: impl Fn(&Message) -> bool,
    ) -> Option<(Packet, SocketAddr)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 1500];
        loop {
            let r = tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf)).await;
            let Ok(Ok((n, from))) = r else {
                return None;
            };
            if let Ok(p) = wire::decode_packet(&buf[..n]) {
                if want(&p.message) {
                    return Some((p, from));
                }
            }
        }
    }

    pub async fn recv_any(&self, wait: Duration) -> Option<(Packet, SocketAddr)> {
        self.recv_where(wait, |_| true).await
    }

    /// Answers one ping from the service (if it sends one) with a correct pong.
    pub async fn answer_ping(&self, wait: Duration) -> bool {
        let Some((p, from)) = self
            .recv_where(wait, |m| matches!(m, Message::Ping(_)))
            .await
        else {
            return false;
        };
        self.send(
            from,
            &Message::Pong(wire::Pong {
                to: Endpoint::new(from, 0),
                reply_token: p.hash,
                expiration: Self::expiration(),
                enr_seq: None,
            }),
        )
        .await;
        true
    }

    /// Full endpoint proof: we ping, get a pong, and answer the service's ping back.
    pub async fn bond(&self, to: SocketAddr) {
        let hash = self.send(to, &self.ping_msg(to)).await;
        let mut got_pong = false;
        let mut answered = false;
        let deadline = tokio::time::Instant::now() + REPLY_WAIT;
        while !(got_pong && answered) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (p, from) = self.recv_any(left).await.expect("bond: no reply");
            match p.message {
                Message::Pong(pong) => {
                    assert_eq!(pong.reply_token, hash);
                    got_pong = true;
                }
                Message::Ping(_) => {
                    self.send(
                        from,
                        &Message::Pong(wire::Pong {
                            to: Endpoint::new(from, 0),
                            reply_token: p.hash,
                            expiration: Self::expiration(),
                            enr_seq: None,
                        }),
                    )
                    .await;
                    answered = true;
                }
                _ => {}
            }
        }
        // Let the service process the pong.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node record for the wire.
pub fn record(ip: &str, port: u16, id: NodeId) -> wire::NodeRecord {
    wire::NodeRecord {
        ip: ip.parse::<IpAddr>().unwrap(),
        udp: port,
        tcp: port,
        id,
    }
}

/// A quick config for tests: default geth values.
pub fn cfg() -> Discv4Config {
    Discv4Config {
        seed: Some(1),
        ..Discv4Config::default()
    }
}
