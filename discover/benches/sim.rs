//! Inbound packet throughput of one discv4 service on the virtual network.
//!
//! `cargo bench -p devp2p-discover --bench sim` prints
//! `bench discover.packets ours_per_s=… bound_per_s=… ratio=…`.
//! (Lookup quality on the virtual network, with tables seeded from an
//! oracle, is `cargo bench -p devp2p-sim --bench scenarios -- lookup`.)

use std::time::{Duration, Instant as WallInstant};

use devp2p_discover::node::{keccak256, NodeId};
use devp2p_discover::v4::sim::{SimConfig, SimNetwork};
use devp2p_discover::v4::wire::{self, Message};
use devp2p_discover::v4::{DatagramTransport, Discv4, Discv4Config, LocalNode};
use secp256k1::SecretKey;

fn key_for(i: usize) -> SecretKey {
    let seed = keccak256(&(i as u64).to_be_bytes());
    SecretKey::from_secret_bytes(seed).expect("keccak output is a valid key")
}

fn local_for(i: usize) -> (SecretKey, LocalNode, std::net::SocketAddr) {
    let addr = SimNetwork::addr_for(i);
    let local = LocalNode::new(key_for(i), 1);
    local.set_ip(addr.ip());
    local.set_udp(addr.port());
    (key_for(i), local, addr)
}

/// Packets per batch in the throughput bench (below the sim inbox capacity).
const PACKET_BATCH: usize = 1000;
/// Batches in the throughput bench.
const PACKET_BATCHES: usize = 20;

/// Inbound throughput: signed FindNode (no endpoint proof) and unsolicited
/// Neighbors packets, each fully checked (size, hash, signature recovery,
/// RLP, expiry, proof/pending lookup) and then dropped, pushed through a
/// running service on a zero-latency sim link. The bound is the bare
/// crypto per packet: one public-key recovery and two keccak256.
fn run_packets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let peer_key = key_for(1_000_000);
    let mut packets = Vec::with_capacity(PACKET_BATCH);
    for i in 0..PACKET_BATCH {
        let msg = if i % 2 == 0 {
            Message::FindNode(wire::FindNode {
                target: NodeId([i as u8; 64]),
                expiration: wire::expiration_from_now() + 3600,
            })
        } else {
            Message::Neighbors(wire::Neighbors {
                nodes: (0..12)
                    .map(|k| wire::NodeRecord {
                        ip: std::net::IpAddr::from([11, 0, k as u8, 1]),
                        udp: 30303,
                        tcp: 30303,
                        id: NodeId([k as u8 ^ i as u8; 64]),
                    })
                    .collect(),
                expiration: wire::expiration_from_now() + 3600,
            })
        };
        packets.push(wire::encode_packet(&peer_key, &msg).0);
    }
    let ours = rt.block_on(async {
        let net = SimNetwork::new(SimConfig {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            seed: 1,
        });
        let (key, local, addr) = local_for(0);
        let cfg = Discv4Config {
            packet_rate_per_ip: u32::MAX,
            packet_burst_per_ip: u32::MAX,
            ..Discv4Config::default()
        };
        let d = Discv4::spawn(net.bind(addr), key, local, cfg);
        let mut peer = net.bind(SimNetwork::addr_for(1));
        let mut buf = vec![0u8; 2048];
        let start = WallInstant::now();
        for b in 0..PACKET_BATCHES {
            for p in &packets {
                peer.send_to(p, addr).unwrap();
            }
            // A ping at the end: its pong means the batch was processed.
            let ping = Message::Ping(wire::Ping {
                version: 4,
                from: wire::Endpoint::new(SimNetwork::addr_for(1), 0),
                to: wire::Endpoint::new(addr, 0),
                expiration: wire::expiration_from_now() + b as u64,
                enr_seq: None,
            });
            let (bytes, hash) = wire::encode_packet(&peer_key, &ping);
            peer.send_to(&bytes, addr).unwrap();
            loop {
                let (n, _) = peer.recv_from(&mut buf).await.unwrap();
                if let Ok(p) = wire::decode_packet(&buf[..n]) {
                    if matches!(p.message, Message::Pong(ref pong) if pong.reply_token == hash) {
                        break;
                    }
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        d.shutdown().await;
        (PACKET_BATCH * PACKET_BATCHES) as f64 / secs
    });
    let start = WallInstant::now();
    let mut sink = 0u8;
    for _ in 0..PACKET_BATCHES {
        for p in &packets {
            let h = keccak256(&p[32..]);
            let digest = keccak256(&p[wire::HEAD_LEN..]);
            let recid = secp256k1::ecdsa::RecoveryId::try_from(i32::from(p[96])).unwrap();
            let sig =
                secp256k1::ecdsa::RecoverableSignature::from_compact(&p[32..96], recid).unwrap();
            let key = sig
                .recover_ecdsa(secp256k1::Message::from_digest(digest))
                .unwrap();
            sink ^= h[0] ^ key.serialize()[1];
        }
    }
    let bound = (PACKET_BATCH * PACKET_BATCHES) as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    println!(
        "bench discover.packets ours_per_s={ours:.0} bound_per_s={bound:.0} ratio={:.2}",
        ours / bound
    );
}

fn main() {
    run_packets();
}
