//! Discovery flood: random datagrams and validly signed pings from many
//! sockets on 127.0.0.0/8 at a `Discv4` service with the loopback rate-limit
//! exemption turned off.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use devp2p_discover::node::{LocalNode, Node};
use devp2p_discover::v4::wire::{
    decode_packet, encode_packet, expiration_from_now, Endpoint, Message, Ping, PING_VERSION,
};
use devp2p_discover::v4::{Discv4, Discv4Config, PACKET_BURST_PER_IP, PACKET_RATE_PER_IP};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::key;

/// Random datagrams in the flood (the figure).
const RANDOM_DATAGRAMS: usize = 20_000;
/// Sockets (one per IP 127.0.1.x) sending the random datagrams.
const RANDOM_SENDERS: usize = 20;
/// Valid pings in the flood (the figure).
const PINGS: usize = 5_000;
/// Sockets (one per IP 127.0.2.x, one key each) sending the pings.
const PING_SENDERS: usize = 25;
/// Pings from one IP in the limiter-only phase: 4 × the burst, ~60 KB in
/// all, well inside a default UDP receive buffer.
const LIMITER_PINGS: usize = 4 * PACKET_BURST_PER_IP as usize;
/// How long the ping senders keep listening for answers after sending.
const LISTEN: Duration = Duration::from_secs(1);
/// Bound for the final normal ping.
const PING_WAIT: Duration = Duration::from_secs(5);

/// xorshift64*: a seeded, dependency-free byte source.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn loopback(b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, b, c))
}

/// Sends `count` random datagrams (0..=1280 bytes) from `ip`.
async fn random_sender(ip: IpAddr, target: SocketAddr, count: usize, seed: u64) -> usize {
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let mut s = seed | 1;
    let mut sent = 0;
    let mut buf = [0u8; 1280];
    for _ in 0..count {
        let len = (xorshift(&mut s) % 1281) as usize;
        for chunk in buf[..len].chunks_mut(8) {
            let r = xorshift(&mut s).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        if sock.send_to(&buf[..len], target).await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// Sends `count` signed pings from `ip` with key `n`, then counts the pongs
/// (and other packets) received within [`LISTEN`]. Never answers pings, so
/// the service never gets an endpoint proof for this node.
async fn ping_sender(ip: IpAddr, n: u32, target: SocketAddr, count: usize) -> (usize, Duration) {
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let from = sock.local_addr().unwrap();
    let k = key(n);
    let start = Instant::now();
    let mut pongs = 0;
    let mut buf = [0u8; 1280];
    for _ in 0..count {
        let ping = Ping {
            version: PING_VERSION,
            from: Endpoint::new(from, 0),
            to: Endpoint::new(target, 0),
            expiration: expiration_from_now(),
            enr_seq: None,
        };
        let (bytes, _) = encode_packet(&k, &Message::Ping(ping));
        let _ = sock.send_to(&bytes, target).await;
        // Read what has already arrived, without waiting.
        while let Ok((len, _)) = sock.try_recv_from(&mut buf) {
            pongs += usize::from(is_pong(&buf[..len]));
        }
    }
    let deadline = Instant::now() + LISTEN;
    while let Ok(Ok((len, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
        pongs += usize::from(is_pong(&buf[..len]));
    }
    (pongs, start.elapsed())
}

fn is_pong(datagram: &[u8]) -> bool {
    matches!(decode_packet(datagram), Ok(p) if matches!(p.message, Message::Pong(_)))
}

#[tokio::test]
async fn discovery_flood_is_rate_limited_and_does_not_pollute_the_table() {
    let ka = key(7001);
    let cfg = Discv4Config {
        exempt_loopback_from_rate_limit: false,
        seed: Some(7001),
        ..Discv4Config::default()
    };
    let a = Discv4::bind(
        SocketAddr::new(loopback(0, 1), 0),
        ka,
        LocalNode::new(ka, 1),
        cfg,
    )
    .await
    .unwrap();
    let target = a.local_addr();

    // Phase 1, the limiter alone: one IP sends LIMITER_PINGS pings (few
    // enough that no socket buffer drops any). Pongs beyond the burst are
    // only the refill: the limiter, not the kernel, is what binds.
    let (solo, solo_took) = ping_sender(loopback(4, 1), 7099, target, LIMITER_PINGS).await;
    let solo_bound =
        PACKET_BURST_PER_IP as f64 + PACKET_RATE_PER_IP as f64 * solo_took.as_secs_f64() + 1.0;
    eprintln!(
        "hardening: discv4 limiter: {LIMITER_PINGS} pings from one IP → {solo} pongs in {solo_took:?} (bound {solo_bound:.0})"
    );
    assert!((solo as f64) <= solo_bound, "{solo} pongs > {solo_bound}");
    assert!(
        solo as u32 >= PACKET_BURST_PER_IP / 2,
        "the burst is answered ({solo})"
    );
    assert!(solo < LIMITER_PINGS, "the limiter dropped some pings");

    // Phase 2, the flood from many IPs.
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..RANDOM_SENDERS {
        let ip = loopback(1, 1 + i as u8);
        tasks.spawn(async move {
            let sent = random_sender(
                ip,
                target,
                RANDOM_DATAGRAMS / RANDOM_SENDERS,
                0x5eed + i as u64,
            )
            .await;
            (ip, sent, Duration::ZERO, true)
        });
    }
    for i in 0..PING_SENDERS {
        let ip = loopback(2, 1 + i as u8);
        tasks.spawn(async move {
            let (pongs, took) =
                ping_sender(ip, 7100 + i as u32, target, PINGS / PING_SENDERS).await;
            (ip, pongs, took, false)
        });
    }
    let mut pongs_by_ip: HashMap<IpAddr, (usize, Duration)> = HashMap::new();
    let mut random_sent = 0;
    while let Some(r) = tasks.join_next().await {
        let (ip, n, took, random) = r.expect("sender task");
        if random {
            random_sent += n;
        } else {
            pongs_by_ip.insert(ip, (n, took));
        }
    }
    let flood_time = start.elapsed();

    // Each IP gets at most its burst plus the refill over the time it sent.
    let total_pongs: usize = pongs_by_ip.values().map(|v| v.0).sum();
    for (ip, (pongs, took)) in &pongs_by_ip {
        let bound =
            PACKET_BURST_PER_IP as f64 + PACKET_RATE_PER_IP as f64 * took.as_secs_f64() + 1.0;
        assert!(
            (*pongs as f64) <= bound,
            "{ip}: {pongs} pongs in {took:?} > rate-limit bound {bound}"
        );
    }

    // The table stays empty: no bootnodes, and none of the senders answered
    // a ping back, so none has an endpoint proof.
    let table = a.table_nodes().await;
    assert!(
        table.is_empty(),
        "unsolicited traffic put nodes in the table: {table:?}"
    );

    // A normal node still gets an answer.
    let kb = key(7002);
    let b = Discv4::bind(
        SocketAddr::new(loopback(3, 1), 0),
        kb,
        LocalNode::new(kb, 1),
        Discv4Config::default(),
    )
    .await
    .unwrap();
    let a_node = Node::new(a.local_id(), target.ip(), 0, target.port());
    let t = Instant::now();
    let answered = tokio::time::timeout(PING_WAIT, b.ping(&a_node)).await;
    let ping_time = t.elapsed();
    eprintln!(
        "hardening: discovery flood: {random_sent} random + {PINGS} pings in {flood_time:?}, \
         {total_pongs} pongs to {PING_SENDERS} IPs, table {} nodes, normal ping answered in {ping_time:?}",
        table.len()
    );
    assert!(
        matches!(answered, Ok(Ok(()))),
        "normal ping answered: {answered:?}"
    );
    b.shutdown().await;
    a.shutdown().await;
}
