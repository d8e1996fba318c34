//! Attackers: hand-written discv4 speakers on the virtual network.
//!
//! - A *sybil* answers pings (so it passes endpoint proofs), pings its
//!   victims now and then, and answers every FINDNODE with the sybils
//!   closest to the target: it tries to fill the victims' tables with its
//!   friends (an eclipse attempt). Many sybils share a few /24 subnets.
//! - A *garbage* node answers pings, and answers FINDNODE with random bytes
//!   or with records of nodes that do not exist.
//! - A *silent* node pings honest nodes and never answers anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use devp2p_discover::v4::sim::{unix_now, SimTransport};
use devp2p_discover::v4::wire::{self, Endpoint, Message, NodeRecord, EXPIRATION_SECS};
use devp2p_discover::v4::DatagramTransport;
use devp2p_identity::{distance_cmp, NodeId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secp256k1::SecretKey;
use tokio::time::{sleep_until, Instant};

/// How often a sybil pings each of its victims (our choice: once it is in
/// a table, revalidation keeps it there; pinging more often only costs the
/// simulation CPU).
pub(crate) const SYBIL_PING_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often a garbage or silent node pings a few random honest nodes.
pub(crate) const NUISANCE_PING_INTERVAL: Duration = Duration::from_secs(60);
/// Random honest nodes a garbage or silent node pings each time.
pub(crate) const NUISANCE_PINGS: usize = 3;
/// Records per Neighbors packet (go-ethereum's `maxNeighbors` = 12).
const NEIGHBORS_PER_PACKET: usize = 12;
/// Records a sybil or garbage node returns per FINDNODE (a bucket).
const NEIGHBORS_PER_ANSWER: usize = 16;
/// Receive buffer (a discv4 packet is at most 1280 bytes).
const RECV_BUFFER: usize = 1280;

/// What an attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    Sybil,
    Garbage,
    Silent,
}

/// The sybils' shared knowledge: every sybil's record and its node hash
/// (computed once, not per FINDNODE answered).
pub(crate) type Friends = Arc<Vec<(NodeRecord, [u8; 32])>>;

/// One attacker identity.
pub(crate) struct Attacker {
    pub(crate) behaviour: Behaviour,
    pub(crate) key: SecretKey,
    pub(crate) transport: SimTransport,
    /// Nodes to ping (a sybil's victims; for the others, honest addresses
    /// to pick from at random).
    pub(crate) targets: Arc<Vec<SocketAddr>>,
    pub(crate) friends: Friends,
    pub(crate) seed: u64,
}

impl Attacker {
    fn expiration() -> u64 {
        unix_now() + EXPIRATION_SECS
    }

    fn send(&self, msg: &Message, to: SocketAddr) {
        let (bytes, _) = wire::encode_packet(&self.key, msg);
        // Datagram semantics: a full inbox drops it, as the network would.
        let _ = self.transport.send_to(&bytes, to);
    }

    fn ping(&self, to: SocketAddr) {
        let Ok(from) = self.transport.local_addr() else {
            return;
        };
        self.send(
            &Message::Ping(wire::Ping {
                version: 4,
                from: Endpoint::new(from, 0),
                to: Endpoint::new(to, 0),
                expiration: Self::expiration(),
                enr_seq: None,
            }),
            to,
        );
    }

    fn answer(&self, datagram: &[u8], from: SocketAddr, rng: &mut StdRng) {
        if self.behaviour == Behaviour::Silent {
            return;
        }
        let Ok(packet) = wire::decode_packet(datagram) else {
            return;
        };
        match packet.message {
            Message::Ping(_) => self.send(
                &Message::Pong(wire::Pong {
                    to: Endpoint::new(from, 0),
                    reply_token: packet.hash,
                    expiration: Self::expiration(),
                    enr_seq: None,
                }),
                from,
            ),
            Message::FindNode(f) => {
                let records = match self.behaviour {
                    Behaviour::Sybil => self.closest_friends(&f.target),
                    _ => {
                        if rng.random_bool(0.5) {
                            let mut junk = vec![0u8; rng.random_range(1..RECV_BUFFER)];
                            rng.fill(&mut junk[..]);
                            let _ = self.transport.send_to(&junk, from);
                            return;
                        }
                        (0..NEIGHBORS_PER_ANSWER).map(|_| phantom(rng)).collect()
                    }
                };
                for chunk in records.chunks(NEIGHBORS_PER_PACKET) {
                    self.send(
                        &Message::Neighbors(wire::Neighbors {
                            nodes: chunk.to_vec(),
                            expiration: Self::expiration(),
                        }),
                        from,
                    );
                }
            }
            _ => {}
        }
    }

    fn closest_friends(&self, target: &NodeId) -> Vec<NodeRecord> {
        let t = target.hash();
        let mut friends: Vec<(NodeRecord, [u8; 32])> = self.friends.to_vec();
        let k = NEIGHBORS_PER_ANSWER.min(friends.len());
        if k > 0 {
            friends.select_nth_unstable_by(k - 1, |a, b| distance_cmp(&t, &a.1, &b.1));
        }
        friends.truncate(k);
        friends.into_iter().map(|(r, _)| r).collect()
    }

    fn act(&self, rng: &mut StdRng) {
        match self.behaviour {
            Behaviour::Sybil => {
                for &victim in self.targets.iter() {
                    self.ping(victim);
                }
            }
            Behaviour::Garbage | Behaviour::Silent => {
                for _ in 0..NUISANCE_PINGS {
                    if self.targets.is_empty() {
                        break;
                    }
                    let to = self.targets[rng.random_range(0..self.targets.len())];
                    self.ping(to);
                }
            }
        }
    }

    /// Runs until the task is aborted (the runner aborts every attacker at
    /// the end of the run).
    pub(crate) async fn run(mut self, first_action: Instant) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let every = match self.behaviour {
            Behaviour::Sybil => SYBIL_PING_INTERVAL,
            _ => NUISANCE_PING_INTERVAL,
        };
        let mut next = first_action;
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            tokio::select! {
                biased;
                _ = sleep_until(next) => {
                    self.act(&mut rng);
                    next += every;
                }
                r = self.transport.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        self.answer(&buf[..n], from, &mut rng);
                    }
                    Err(_) => return,
                },
            }
        }
    }
}

/// First octet of the addresses in phantom records: a public-looking range
/// no simulated node binds (honest nodes use 11.x–27.x, attackers 60.x–61.x).
const PHANTOM_FIRST_OCTET: u8 = 62;

/// A record of a node that does not exist (random key, an address nobody
/// binds in the simulation).
fn phantom(rng: &mut StdRng) -> NodeRecord {
    let mut id = [0u8; 64];
    rng.fill(&mut id[..]);
    NodeRecord {
        ip: std::net::IpAddr::from([
            PHANTOM_FIRST_OCTET,
            rng.random_range(0..=255u8),
            rng.random_range(0..=255u8),
            rng.random_range(1..=254u8),
        ]),
        udp: 30303,
        tcp: 30303,
        id: NodeId(id),
    }
}
