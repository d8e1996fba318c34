//! Lookup quality and cost in the simulated network, and inbound packet
//! throughput of one service.
//!
//! `cargo bench -p devp2p-discover --bench sim` prints, last:
//! `bench discover.sim nodes=… recall=… rounds=… packets_per_lookup=… wall_s=…`
//! for 1,000 and 10,000 nodes, then
//! `bench discover.packets ours_per_s=… bound_per_s=… ratio=…`.
//!
//! Method (sim): every node has a real secp256k1 key and signs and verifies
//! every packet. Tables are pre-seeded from an oracle (the sorted set of all
//! node hashes): each bucket gets up to 16 random members of its distance
//! range, as a long-running network would have. Endpoint proofs are *not*
//! pre-seeded: lookups bond over the wire and those packets are counted.
//! Revalidation and refresh are switched off (1 h intervals) so the packet
//! count is lookup traffic only. Links: 20 ms + 0–10 ms jitter, no loss.
//! One current-thread runtime on paused virtual time (one core).
//! Recall = |found ∩ true 16 closest (excluding the asking node)| / 16;
//! rounds = hops (table seeds are hop 1, nodes they return hop 2, …),
//! mean over lookups.

use std::time::{Duration, Instant as WallInstant};

use devp2p_discover::node::{distance_cmp, keccak256, NodeId};
use devp2p_discover::v4::sim::{SimConfig, SimNetwork};
use devp2p_discover::v4::table::{BUCKET_MIN_DISTANCE, BUCKET_SIZE};
use devp2p_discover::v4::wire::{self, Message};
use devp2p_discover::v4::{DatagramTransport, Discv4, Discv4Config, LocalNode, Node};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secp256k1::SecretKey;

/// Lookups measured per network size.
const LOOKUPS: usize = 200;
/// Lookups run concurrently (spread over different source nodes).
const CONCURRENT_LOOKUPS: usize = 20;

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

/// Index range of sorted hashes sharing the first `bits` bits of `prefix`.
fn prefix_range(
    sorted: &[([u8; 32], usize)],
    prefix: &[u8; 32],
    bits: u32,
) -> std::ops::Range<usize> {
    let mut lo = *prefix;
    let mut hi = *prefix;
    for bit in bits..256 {
        let (byte, mask) = ((bit / 8) as usize, 0x80u8 >> (bit % 8));
        lo[byte] &= !mask;
        hi[byte] |= mask;
    }
    let a = sorted.partition_point(|(h, _)| *h < lo);
    let b = sorted.partition_point(|(h, _)| *h <= hi);
    a..b
}

/// Oracle table for node `me`: per bucket, up to 16 random nodes at that distance.
fn oracle_table(
    me: usize,
    hashes: &[[u8; 32]],
    sorted: &[([u8; 32], usize)],
    nodes: &[Node],
    rng: &mut StdRng,
) -> Vec<Node> {
    let h = hashes[me];
    let mut out = Vec::new();
    // Distance d (> BUCKET_MIN_DISTANCE): same first 256-d bits, next bit flipped.
    for d in (BUCKET_MIN_DISTANCE + 1)..=256 {
        let shared = 256 - d;
        let mut p = h;
        let (byte, mask) = ((shared / 8) as usize, 0x80u8 >> (shared % 8));
        p[byte] ^= mask;
        let r = prefix_range(sorted, &p, shared + 1);
        let mut members: Vec<usize> = sorted[r].iter().map(|(_, i)| *i).collect();
        while members.len() > BUCKET_SIZE {
            let k = rng.random_range(0..members.len());
            members.swap_remove(k);
        }
        out.extend(members.into_iter().map(|i| nodes[i].clone()));
    }
    // Bucket 0: everything sharing more than 16 bits.
    let r = prefix_range(sorted, &h, 256 - BUCKET_MIN_DISTANCE);
    out.extend(
        sorted[r]
            .iter()
            .filter(|(_, i)| *i != me)
            .take(BUCKET_SIZE)
            .map(|(_, i)| nodes[*i].clone()),
    );
    out
}

fn run_sim(n: usize) {
    let wall = WallInstant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let (recall, rounds, per_lookup) = rt.block_on(async move {
        let net = SimNetwork::new(SimConfig::default());
        let mut rng = StdRng::seed_from_u64(n as u64);
        let mut handles = Vec::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let (key, local, addr) = local_for(i);
            let cfg = Discv4Config {
                ping_interval: Duration::from_secs(3600),
                refresh_interval: Duration::from_secs(3600),
                seed: Some(i as u64),
                ..Discv4Config::default()
            };
            let d = Discv4::spawn(net.bind(addr), key, local, cfg);
            nodes.push(Node::new(d.local_id(), addr.ip(), addr.port(), addr.port()));
            handles.push(d);
        }
        let ids: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
        let hashes: Vec<[u8; 32]> = ids.iter().map(|i| i.hash()).collect();
        let mut sorted: Vec<([u8; 32], usize)> = hashes.iter().copied().zip(0..).collect();
        sorted.sort();
        for (i, d) in handles.iter().enumerate() {
            d.seed_table(oracle_table(i, &hashes, &sorted, &nodes, &mut rng))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = net.packets_sent();
        let mut hits = 0usize;
        let mut total_rounds = 0u64;
        for _ in 0..LOOKUPS / CONCURRENT_LOOKUPS {
            let batch: Vec<(usize, NodeId)> = (0..CONCURRENT_LOOKUPS)
                .map(|_| {
                    let mut t = [0u8; 64];
                    rng.fill(&mut t[..]);
                    (rng.random_range(0..n), NodeId(t))
                })
                .collect();
            let results = futures::future::join_all(
                batch
                    .iter()
                    .map(|(src, t)| handles[*src].lookup_with_stats(*t)),
            )
            .await;
            for ((src, target), r) in batch.iter().zip(results) {
                let th = target.hash();
                let mut truth: Vec<usize> = (0..n).filter(|i| i != src).collect();
                truth.sort_by(|a, b| distance_cmp(&th, &hashes[*a], &hashes[*b]));
                truth.truncate(BUCKET_SIZE);
                hits += r
                    .nodes
                    .iter()
                    .filter(|f| truth.iter().any(|t| ids[*t] == f.id))
                    .count();
                total_rounds += u64::from(r.rounds);
            }
        }
        let packets = net.packets_sent() - before;
        for d in &handles {
            d.shutdown().await;
        }
        (
            hits as f64 / (LOOKUPS * BUCKET_SIZE) as f64,
            total_rounds as f64 / LOOKUPS as f64,
            packets as f64 / LOOKUPS as f64,
        )
    });
    println!(
        "bench discover.sim nodes={n} recall={recall:.3} rounds={rounds:.2} packets_per_lookup={per_lookup:.1} wall_s={:.1}",
        wall.elapsed().as_secs_f64()
    );
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
    // `cargo bench` passes `--bench`; a name filter selects one part.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if want("sim") {
        run_sim(1_000);
        run_sim(10_000);
    }
    if want("packets") {
        run_packets();
    }
}
