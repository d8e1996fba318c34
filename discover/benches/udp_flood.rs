//! discv4 from real UDP sockets on 127.0.0.1: packets handled per second by
//! one service against the packet crypto bound, then an overload at twice
//! that capacity.
//!
//! `cargo bench -p devp2p-discover --bench udp_flood` prints, last:
//! `bench discover.udp pkts_per_s=… bound_pkts_per_s=… ratio=…` and
//! `bench discover.udp_overload offered_pkts_per_s=… handled_pkts_per_s=… dropped=… legit_answered=… rss_growth_kib=…` and
//! `bench discover.udp_overload_many_sources sources=… bonded=… offered_pkts_per_s=… handled_pkts_per_s=… dropped=… legit_answered=… rss_growth_kib=…` and
//! `bench discover.udp_overload_forged_sources sources=… offered_pkts_per_s=… handled_pkts_per_s=… dropped=… legit_answered=… unbonded_legit_answered=… rss_growth_kib=…`,
//! with `info` lines before them (load, kernel drops, the same overload with
//! the per-IP rate limit on).
//!
//! Method: one [`Discv4`] on a UDP socket bound to 127.0.0.1:0, on a
//! current-thread runtime in its own thread. The load generator (this
//! thread) has its own socket and a pool of PINGs signed before timing by
//! [`FLOOD_KEYS`] identities. Before timing each identity bonds (answers the
//! service's ping-back with a PONG), so during timing a PING costs the
//! service what a ping from a known peer costs: decode and verify, sign and
//! send a PONG, refresh the table entry; no ping-backs.
//! - Capacity: the generator sends at [`SATURATION_FACTOR`] × the bound
//!   of the round (more than one thread can verify), paced every
//!   [`PACING_TICK`], for [`CAPACITY_ROUND`]; handled = the service's own
//!   count of valid pings received in that time, per second. The kernel
//!   drops what the socket cannot hold, so the service is never idle and
//!   never waits on the generator. (A closed loop with pings in flight
//!   measured 25-35 % less on the shared machine: each time the generator
//!   thread was not scheduled the service ran dry.)
//! - Bound (same run, this thread, while the service is idle): per packet,
//!   the crypto the service cannot avoid: the packet's two keccak256 (hash
//!   check, signed digest) and the public-key recovery, then a PONG's
//!   keccak256, signature (through `node::secp`, as the service signs) and
//!   packet hash. Capacity and bound alternate; each figure is the median
//!   round. An `info` line gives the same comparison in CPU time (the
//!   service thread's per ping handled against this thread's per bound
//!   packet, over all rounds), which load from other processes does not
//!   skew.
//! - Overload: the generator sends at [`OVERLOAD_FACTOR`] × capacity for
//!   [`OVERLOAD_TIME`], paced every [`PACING_TICK`], while a legitimate client
//!   on 127.0.0.2 with its own key pings every [`LEGIT_INTERVAL`]. dropped =
//!   datagrams sent − pings the service handled (the service's own sheds,
//!   counted by it, plus what the kernel dropped for a full receive
//!   buffer, which the service never sees); the kernel's UDP `RcvbufErrors`
//!   delta (whole machine) is printed beside it.
//! - Overload from many sources: the same, with the flood spread over
//!   [`MANY_SOURCES`] loopback addresses (each identity bonded from and
//!   sending from its own), on a fresh service.
//! - Overload from forged sources: the flood's packets spread over
//!   [`FORGED_SOURCES`] addresses (one per packet of the pool, no identity
//!   bonded, as a flood with forged source addresses comes), on a fresh
//!   service, with the legitimate client bonded first (`legit_answered`),
//!   then again on another fresh service with it unbonded
//!   (`unbonded_legit_answered`): what the priority of proven sources buys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use devp2p_discover::node::{keccak256, secp};
use devp2p_discover::v4::wire::{self, ptype, Endpoint, Message, HASH_LEN, HEAD_LEN};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode};
use secp256k1::SecretKey;

// The root crate's bench support (load gate, /proc figures), shared by path.
#[path = "../../benches/support/process.rs"]
mod process;
use process::{current_tid, quiet_enough, rss_kib, thread_cpu_seconds};

/// Identities in the flood pool (our choice: many senders, as a busy node
/// sees, while bonding them all takes well under a second).
const FLOOD_KEYS: usize = 512;
/// Distinct signed pings per identity in the pool (our choice; the service
/// does not deduplicate pings, so the pool is reused round-robin).
const PINGS_PER_KEY: usize = 4;
/// How far in the future the pool's pings expire, in seconds (longer than
/// the whole bench; the protocol's own value is 20 s, `wire::EXPIRATION_SECS`).
const POOL_EXPIRY_SECS: u64 = 3600;
/// Offered rate of the capacity rounds as a multiple of the round's bound:
/// enough to keep the service's socket non-empty (our choice).
const SATURATION_FACTOR: f64 = 1.5;
/// How long the bonding exchange waits on its socket per read.
const RECV_TIMEOUT: Duration = Duration::from_millis(50);
/// Rounds of capacity and bound (alternating; the median of each is
/// reported, as issue 16 asks of every bench).
const ROUNDS: usize = 5;
/// Length of one capacity round.
const CAPACITY_ROUND: Duration = Duration::from_secs(1);
/// Length of one bound round.
const BOUND_ROUND: Duration = Duration::from_millis(300);
/// Overload rate as a multiple of the measured capacity (issue 16: "what
/// happens past it").
const OVERLOAD_FACTOR: f64 = 2.0;
/// Length of the overload.
const OVERLOAD_TIME: Duration = Duration::from_secs(4);
/// Pacing step of the overload sender.
const PACING_TICK: Duration = Duration::from_millis(1);
/// The legitimate client's ping interval: 10 pings/s (a peer revalidating
/// and bonding sends far fewer).
const LEGIT_INTERVAL: Duration = Duration::from_millis(100);
/// The legitimate client's address: another loopback IP than the flood's.
const LEGIT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Time allowed after the last datagram for the service to empty its
/// socket and for the last pongs to come back.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// Longest wait for one identity's bonding exchange.
const BOND_TIMEOUT: Duration = Duration::from_secs(1);
/// Source addresses of the many-address overload (our choice: two
/// identities per address; at twice the service's capacity each address
/// sends a few dozen packets per second, about the per-IP rate limit
/// (`PACKET_RATE_PER_IP`, 50/s), so no limit could tell them from busy
/// honest peers).
const MANY_SOURCES: usize = FLOOD_KEYS / 2;
/// Source addresses of the forged-address overload: one per packet of the
/// pool, twice the datagrams the service queues
/// (`MAX_QUEUED_DATAGRAMS`), so round robin alone would make the
/// legitimate client wait behind a thousand sources and a full queue would
/// shed its datagram as readily as any other.
const FORGED_SOURCES: usize = FLOOD_KEYS * PINGS_PER_KEY;

/// The kernel's count of UDP datagrams dropped for a full receive buffer
/// (`RcvbufErrors` in the `Udp:` lines of `/proc/net/snmp`; whole machine;
/// 0 if unreadable).
fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn key_for(i: u64) -> SecretKey {
    SecretKey::from_secret_bytes(keccak256(&i.to_be_bytes())).expect("keccak output is a valid key")
}

fn ping(key: &SecretKey, from: SocketAddr, to: SocketAddr, expiration: u64) -> (Vec<u8>, [u8; 32]) {
    let msg = Message::Ping(wire::Ping {
        version: wire::PING_VERSION,
        from: Endpoint::new(from, 0),
        to: Endpoint::new(to, 0),
        expiration,
        enr_seq: None,
    });
    wire::encode_packet(key, &msg)
}

fn packet_type(datagram: &[u8]) -> Option<u8> {
    datagram.get(HEAD_LEN).copied()
}

/// A running service on its own thread.
struct ServiceThread {
    disc: Discv4,
    /// The service thread's kernel id, for its CPU time.
    tid: Option<u32>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ServiceThread {
    fn start(cfg: Discv4Config) -> Self {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let key = key_for(u64::MAX);
                let local = LocalNode::new(key, 1);
                local.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
                let disc = Discv4::bind(addr, key, local, cfg).await.expect("bind");
                handle_tx
                    .send((disc.clone(), current_tid()))
                    .expect("handle");
                let _ = stop_rx.await;
                disc.shutdown().await;
            });
        });
        let (disc, tid) = handle_rx.recv().expect("service started");
        ServiceThread {
            disc,
            tid,
            stop,
            thread,
        }
    }

    fn cpu_seconds(&self) -> f64 {
        self.tid.map_or(0.0, thread_cpu_seconds)
    }

    fn pings_received(&self) -> u64 {
        count(&self.disc.packet_counts().received, "ping")
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("service thread");
    }
}

fn count(list: &[(&'static str, u64)], name: &str) -> u64 {
    list.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
}

/// How a [`Pool`]'s packets are spread over the generator's sockets.
#[derive(Clone, Copy)]
enum Spread {
    /// Identity `i` always sends from socket `i % sockets` (one socket:
    /// the whole flood from one address; many: each identity from its own
    /// address, as a flood from many hosts comes; identities can bond).
    PerIdentity,
    /// Packet `j` of the pool from socket `j % sockets`, whichever identity
    /// signed it: as many addresses as the pool has packets, as a flood
    /// with forged source addresses comes (no identity can bond).
    PerPacket,
}

/// The flood's identities and their pre-signed pings, each with the index
/// of the socket it is sent from.
struct Pool {
    keys: Vec<SecretKey>,
    packets: Vec<(Vec<u8>, usize)>,
}

impl Pool {
    fn new(socks: &[UdpSocket], to: SocketAddr, spread: Spread) -> Self {
        let expiration = wire::unix_now() + POOL_EXPIRY_SECS;
        let keys: Vec<SecretKey> = (0..FLOOD_KEYS as u64).map(key_for).collect();
        let mut packets = Vec::with_capacity(FLOOD_KEYS * PINGS_PER_KEY);
        for round in 0..PINGS_PER_KEY as u64 {
            for (i, k) in keys.iter().enumerate() {
                let sock = match spread {
                    Spread::PerIdentity => i % socks.len(),
                    Spread::PerPacket => packets.len() % socks.len(),
                };
                let from = socks[sock].local_addr().expect("addr");
                packets.push((ping(k, from, to, expiration + round).0, sock));
            }
        }
        Pool { keys, packets }
    }

    /// Bonds every identity from its source socket (see [`bond`]). Returns
    /// how many bonded.
    fn bond_all(&self, socks: &[UdpSocket], service: SocketAddr) -> usize {
        let bonded = self
            .keys
            .iter()
            .zip(&self.packets)
            .filter(|(key, (packet, sock))| bond(&socks[*sock], key, packet, service))
            .count();
        // Let the last pong reach the service, then drop what is left.
        std::thread::sleep(Duration::from_millis(50));
        for sock in socks {
            sock.set_nonblocking(true).expect("nonblocking");
            let mut buf = [0u8; 2048];
            while sock.recv_from(&mut buf).is_ok() {}
            sock.set_nonblocking(false).expect("blocking");
        }
        bonded
    }
}

/// Bonds `key` from `sock` (which has a read timeout): sends `ping`, and
/// answers the service's ping-back with a pong. True if it did.
fn bond(sock: &UdpSocket, key: &SecretKey, ping: &[u8], service: SocketAddr) -> bool {
    let mut buf = [0u8; 2048];
    sock.send_to(ping, service).expect("send");
    let deadline = Instant::now() + BOND_TIMEOUT;
    while Instant::now() < deadline {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if packet_type(&buf[..n]) != Some(ptype::PING) {
            continue;
        }
        let mut token = [0u8; 32];
        token.copy_from_slice(&buf[..HASH_LEN]);
        let pong = Message::Pong(wire::Pong {
            to: Endpoint::new(service, 0),
            reply_token: token,
            expiration: wire::expiration_from_now(),
            enr_seq: None,
        });
        sock.send_to(&wire::encode_packet(key, &pong).0, service)
            .expect("send");
        return true;
    }
    false
}

/// Sends the pool round-robin at `rate` datagrams per second for `time`
/// (paced every [`PACING_TICK`]), each packet from its identity's
/// non-blocking socket, reading and forgetting whatever comes back.
/// Returns the datagrams sent and the seconds it took.
fn paced_send(
    socks: &[UdpSocket],
    service: SocketAddr,
    pool: &Pool,
    next: &mut usize,
    rate: f64,
    time: Duration,
) -> (u64, f64) {
    let mut buf = [0u8; 2048];
    for sock in socks {
        sock.set_nonblocking(true).expect("nonblocking");
    }
    let start = Instant::now();
    let mut sent = 0u64;
    let mut tick = start;
    while start.elapsed() < time {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let (packet, sock) = &pool.packets[*next % pool.packets.len()];
            let sock = &socks[*sock];
            match sock.send_to(packet, service) {
                Ok(_) => sent += 1,
                Err(_) => break,
            }
            *next += 1;
            // Pongs back to the flood: read and forget, so the sockets'
            // buffers never matter.
            while sock.recv_from(&mut buf).is_ok() {}
        }
        tick += PACING_TICK;
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
    }
    let secs = start.elapsed().as_secs_f64();
    for sock in socks {
        sock.set_nonblocking(false).expect("blocking");
    }
    (sent, secs)
}

/// Reads and forgets what is left on the generator's sockets after the
/// service has emptied its own.
fn drain(socks: &[UdpSocket]) {
    std::thread::sleep(DRAIN_TIME);
    let mut buf = [0u8; 2048];
    for sock in socks {
        sock.set_nonblocking(true).expect("nonblocking");
        while sock.recv_from(&mut buf).is_ok() {}
        sock.set_nonblocking(false).expect("blocking");
    }
}

/// Capacity: pings handled per second while offered `rate` (see the module
/// docs). The count is read when sending stops: the socket's backlog at
/// that moment is not counted.
fn capacity_round(
    svc: &ServiceThread,
    sock: &[UdpSocket],
    pool: &Pool,
    next: &mut usize,
    rate: f64,
) -> f64 {
    let before = svc.pings_received();
    let (_, secs) = paced_send(
        sock,
        svc.disc.local_addr(),
        pool,
        next,
        rate,
        CAPACITY_ROUND,
    );
    let handled = svc.pings_received() - before;
    drain(sock);
    handled as f64 / secs
}

/// The packet crypto bound on this thread (see the module docs): packets
/// per second, and packets done.
fn bound_round(pool: &Pool, signer: &SecretKey, time: Duration) -> (f64, usize) {
    let pong_body = [0x5au8; 60];
    let start = Instant::now();
    let mut n = 0usize;
    let mut sink = 0u8;
    while start.elapsed() < time {
        for (p, _) in pool.packets.iter().skip(n % pool.packets.len()).take(64) {
            let h = keccak256(&p[HASH_LEN..]);
            let digest = keccak256(&p[HEAD_LEN..]);
            let recid = secp256k1::ecdsa::RecoveryId::try_from(i32::from(p[HEAD_LEN - 1]))
                .expect("valid recid");
            let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(
                &p[HASH_LEN..HEAD_LEN - 1],
                recid,
            )
            .expect("valid signature");
            let key = sig
                .recover_ecdsa(secp256k1::Message::from_digest(digest))
                .expect("recoverable");
            let pong_digest = keccak256(&pong_body);
            let (rid, compact) = secp::sign_recoverable(pong_digest, signer).serialize_compact();
            let mut signed = [0u8; 65];
            signed[..64].copy_from_slice(&compact);
            signed[64] = rid.to_u8();
            let pong_hash = keccak256(&signed);
            sink ^= h[0] ^ key.serialize()[1] ^ pong_hash[0];
            n += 1;
        }
    }
    std::hint::black_box(sink);
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

/// The legitimate client's identity.
fn legit_key() -> SecretKey {
    key_for(u64::MAX - 1)
}

/// Bonds the legitimate client's identity from its address (as a peer of
/// the service's table has): its pings are then from a proven source.
fn bond_legit(service: SocketAddr) -> bool {
    let sock = generator_socket(LEGIT_IP);
    let me = sock.local_addr().expect("addr");
    let (packet, _) = ping(&legit_key(), me, service, wire::expiration_from_now());
    let bonded = bond(&sock, &legit_key(), &packet, service);
    // Let the pong reach the service before the flood starts.
    std::thread::sleep(Duration::from_millis(50));
    bonded
}

/// What the legitimate client saw.
struct LegitResult {
    sent: u64,
    answered: u64,
}

/// The legitimate client: pings every [`LEGIT_INTERVAL`] for `time`, then
/// waits [`DRAIN_TIME`] for late pongs.
fn legit_client(service: SocketAddr, time: Duration) -> LegitResult {
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(LEGIT_IP), 0)).expect("bind 127.0.0.2");
    let me = sock.local_addr().expect("addr");
    let key = legit_key();
    let mut waiting = std::collections::HashSet::new();
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut next_send = start;
    let end = start + time;
    loop {
        let now = Instant::now();
        if now >= end + DRAIN_TIME {
            break;
        }
        if now >= next_send && now < end {
            let (bytes, hash) = ping(&key, me, service, wire::expiration_from_now());
            if sock.send_to(&bytes, service).is_ok() {
                sent += 1;
                waiting.insert(hash);
            }
            next_send += LEGIT_INTERVAL;
        }
        let wake = if now < end {
            next_send
        } else {
            end + DRAIN_TIME
        };
        let wait = wake.saturating_duration_since(Instant::now());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("timeout");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(p) = wire::decode_packet(&buf[..n]) {
                if let Message::Pong(pong) = p.message {
                    if waiting.remove(&pong.reply_token) {
                        answered += 1;
                    }
                }
            }
        }
    }
    LegitResult { sent, answered }
}

/// Figures of one overload run.
struct Overload {
    offered_per_s: f64,
    handled_per_s: f64,
    dropped: i64,
    service_dropped: u64,
    kernel_dropped: u64,
    legit: LegitResult,
    rss_growth_kib: i64,
}

/// Sends at `rate` pings/s for [`OVERLOAD_TIME`] with the legitimate client
/// running beside, then lets the service drain.
fn overload(svc: &ServiceThread, sock: &[UdpSocket], pool: &Pool, rate: f64) -> Overload {
    let service = svc.disc.local_addr();
    let rss0 = rss_kib() as i64;
    let kernel0 = udp_rcvbuf_errors();
    let handled0 = svc.pings_received();
    let dropped0 = svc.disc.packet_counts().dropped;
    let legit = std::thread::spawn(move || legit_client(service, OVERLOAD_TIME));
    let mut next = 0usize;
    let (sent, secs) = paced_send(sock, service, pool, &mut next, rate, OVERLOAD_TIME);
    // The legitimate client waits DRAIN_TIME after its last ping, by which
    // the service has emptied its socket.
    let legit = legit.join().expect("legit client");
    drain(sock);
    let handled = svc.pings_received() - handled0;
    let offered = sent + legit.sent;
    Overload {
        offered_per_s: offered as f64 / secs,
        handled_per_s: handled as f64 / secs,
        dropped: offered as i64 - handled as i64,
        service_dropped: svc.disc.packet_counts().dropped - dropped0,
        kernel_dropped: udp_rcvbuf_errors() - kernel0,
        legit,
        rss_growth_kib: rss_kib() as i64 - rss0,
    }
}

fn generator_socket(ip: Ipv4Addr) -> UdpSocket {
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0)).expect("bind");
    sock.set_read_timeout(Some(RECV_TIMEOUT)).expect("timeout");
    sock
}

/// `n` generator sockets, each on its own loopback address (127.`net`.x.y:
/// the whole 127.0.0.0/8 reaches the loopback interface).
fn sources(n: usize, net: u8) -> Vec<UdpSocket> {
    (0..n)
        .map(|i| {
            generator_socket(Ipv4Addr::new(
                127,
                net,
                (i / 250) as u8,
                (1 + i % 250) as u8,
            ))
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !quiet_enough("udp_flood") {
        return;
    }

    // Default configuration: loopback is exempt from the per-IP rate limit.
    let svc = ServiceThread::start(Discv4Config::default());
    let service = svc.disc.local_addr();
    let sock = [generator_socket(Ipv4Addr::LOCALHOST)];
    let pool = Pool::new(&sock, service, Spread::PerIdentity);
    let bonded = pool.bond_all(&sock, service);
    let pings_sent0 = count(&svc.disc.packet_counts().sent, "ping");

    let signer = key_for(u64::MAX);
    let (mut ours, mut bound) = (Vec::new(), Vec::new());
    let mut next = 0usize;
    // CPU time over all rounds: the service thread's per ping handled, and
    // this thread's per bound packet (10 ms ticks; seconds of each in all).
    let (mut svc_cpu, mut svc_pkts, mut bound_cpu, mut bound_pkts) = (0f64, 0u64, 0f64, 0f64);
    let main_tid = current_tid();
    let main_cpu = || main_tid.map_or(0.0, thread_cpu_seconds);
    for _ in 0..ROUNDS {
        let cpu0 = main_cpu();
        let (b, n) = bound_round(&pool, &signer, BOUND_ROUND);
        bound_cpu += main_cpu() - cpu0;
        bound_pkts += n as f64;
        bound.push(b);
        let (cpu0, pkts0) = (svc.cpu_seconds(), svc.pings_received());
        ours.push(capacity_round(
            &svc,
            &sock,
            &pool,
            &mut next,
            b * SATURATION_FACTOR,
        ));
        svc_cpu += svc.cpu_seconds() - cpu0;
        svc_pkts += svc.pings_received() - pkts0;
    }
    let svc_us = svc_cpu * 1e6 / svc_pkts.max(1) as f64;
    let bound_us = bound_cpu * 1e6 / bound_pkts.max(1.0);
    println!(
        "info discover.udp service_cpu_us_per_pkt={svc_us:.1} bound_cpu_us_per_pkt={bound_us:.1} cpu_ratio={:.2}",
        bound_us / svc_us
    );
    let (ours, bound) = (median(&mut ours), median(&mut bound));
    let pingbacks = count(&svc.disc.packet_counts().sent, "ping") - pings_sent0;
    println!(
        "info discover.udp bonded={bonded}/{FLOOD_KEYS} pingbacks_during_timing={pingbacks} (revalidation only)"
    );

    let o = overload(&svc, &sock, &pool, ours * OVERLOAD_FACTOR);
    svc.stop();
    println!(
        "info discover.udp_overload kernel_rcvbuf_errors={} service_dropped={} legit_sent={} legit_pongs={} saturated_ratio={:.2}",
        o.kernel_dropped,
        o.service_dropped,
        o.legit.sent,
        o.legit.answered,
        o.handled_per_s / bound
    );

    // The same overload with the per-IP rate limit applied to loopback too
    // (what a flood from one real address meets).
    let limited = ServiceThread::start(Discv4Config {
        exempt_loopback_from_rate_limit: false,
        ..Discv4Config::default()
    });
    let sock2 = [generator_socket(Ipv4Addr::LOCALHOST)];
    let pool2 = Pool::new(&sock2, limited.disc.local_addr(), Spread::PerIdentity);
    let r = overload(&limited, &sock2, &pool2, ours * OVERLOAD_FACTOR);
    limited.stop();
    println!(
        "info discover.udp_overload_rate_limited offered_pkts_per_s={:.0} handled_pkts_per_s={:.0} service_dropped={} kernel_rcvbuf_errors={} legit_answered={:.2}",
        r.offered_per_s,
        r.handled_per_s,
        r.service_dropped,
        r.kernel_dropped,
        share(&r.legit)
    );

    // The flood from many addresses, each sending about what a busy honest
    // peer may (default configuration; the identities bond first, each
    // from its own address).
    let spread = ServiceThread::start(Discv4Config::default());
    let socks3 = sources(MANY_SOURCES, 1);
    let pool3 = Pool::new(&socks3, spread.disc.local_addr(), Spread::PerIdentity);
    let bonded3 = pool3.bond_all(&socks3, spread.disc.local_addr());
    let m = overload(&spread, &socks3, &pool3, ours * OVERLOAD_FACTOR);
    spread.stop();
    println!(
        "info discover.udp_overload_many_sources kernel_rcvbuf_errors={} service_dropped={} legit_sent={} legit_pongs={}",
        m.kernel_dropped, m.service_dropped, m.legit.sent, m.legit.answered
    );

    // A flood from forged addresses: more sources than the service queues
    // datagrams, none able to bond (each ping costs a ping-back too). The
    // legitimate client bonds first, as a peer of the table has; then the
    // same flood on a fresh service with the client unbonded, for contrast.
    let forged_socks = sources(FORGED_SOURCES, 2);
    let forged: Vec<(bool, Overload)> = [true, false]
        .into_iter()
        .map(|proven| {
            let svc = ServiceThread::start(Discv4Config::default());
            let service = svc.disc.local_addr();
            let pool = Pool::new(&forged_socks, service, Spread::PerPacket);
            let bonded = proven && bond_legit(service);
            let o = overload(&svc, &forged_socks, &pool, ours * OVERLOAD_FACTOR);
            svc.stop();
            (bonded, o)
        })
        .collect();
    for (bonded, f) in &forged {
        println!(
            "info discover.udp_overload_forged_sources legit_bonded={bonded} kernel_rcvbuf_errors={} service_dropped={} legit_sent={} legit_pongs={}",
            f.kernel_dropped, f.service_dropped, f.legit.sent, f.legit.answered
        );
    }

    println!(
        "bench discover.udp pkts_per_s={ours:.0} bound_pkts_per_s={bound:.0} ratio={:.2}",
        ours / bound
    );
    println!(
        "bench discover.udp_overload offered_pkts_per_s={:.0} handled_pkts_per_s={:.0} dropped={} legit_answered={:.2} rss_growth_kib={}",
        o.offered_per_s,
        o.handled_per_s,
        o.dropped,
        share(&o.legit),
        o.rss_growth_kib
    );
    println!(
        "bench discover.udp_overload_many_sources sources={MANY_SOURCES} bonded={bonded3} offered_pkts_per_s={:.0} handled_pkts_per_s={:.0} dropped={} legit_answered={:.2} rss_growth_kib={}",
        m.offered_per_s,
        m.handled_per_s,
        m.dropped,
        share(&m.legit),
        m.rss_growth_kib
    );
    let (proven, unproven) = (&forged[0].1, &forged[1].1);
    println!(
        "bench discover.udp_overload_forged_sources sources={FORGED_SOURCES} offered_pkts_per_s={:.0} handled_pkts_per_s={:.0} dropped={} legit_answered={:.2} unbonded_legit_answered={:.2} rss_growth_kib={}",
        proven.offered_per_s,
        proven.handled_per_s,
        proven.dropped,
        share(&proven.legit),
        share(&unproven.legit),
        proven.rss_growth_kib
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn share(l: &LegitResult) -> f64 {
    if l.sent == 0 {
        0.0
    } else {
        l.answered as f64 / l.sent as f64
    }
}
