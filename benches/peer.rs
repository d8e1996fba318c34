//! Peer benchmarks: stream throughput against the crypto bound, request
//! round trip against raw TCP, idle memory per peer. Run with
//! `cargo bench -p devp2p-rs --bench peer`; the last lines are
//! machine-readable:
//!
//! ```text
//! bench peer.stream.<size> msgs_per_s=<x> mb_per_s=<x> bound_msgs_per_s=<y> ratio=<x/y>
//! bench peer.rtt p50_us=<x> p99_us=<y> raw_tcp_p50_us=<x> raw_tcp_p99_us=<y> added_p50_us=<d> added_p99_us=<d> crypto_us=<c>
//! bench peer.idle peers=<n> rss_per_peer_kib=<x>
//! ```
//!
//! `ours` is payload throughput between two servers over loopback TCP, each
//! in its own runtime on its own thread, base protocol with snappy (on
//! random, incompressible payloads); `mb_per_s` is 10^6 payload bytes per
//! second. `bound` is one thread doing one side's cryptographic work per
//! frame (AES-256-CTR over header and body, the keccak256 MAC absorptions
//! and its three digests; `support/frame_bound.rs`): each side of the stream
//! runs on its own core and does that much per message at least, so the
//! ratio is the share of one core's crypto bound reached, per frame (the
//! 64-byte case is bound by the digests, not by bytes). `crypto_us` is the
//! part of `added` no implementation can avoid: a round trip's two frames
//! each encoded and decoded once (four sides' crypto of an 8-byte message,
//! one thread, same run). The idle benchmark
//! forks the client side into a child process so only the server's memory
//! is measured.

#[path = "support/frame_bound.rs"]
mod frame_bound;
#[path = "support/pair.rs"]
mod pair;
#[path = "support/process.rs"]
mod process;
use process::{bench_filter, quiet_enough, raise_fd_limit, rss_kib};

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use devp2p::node::NodeId;
use devp2p::server::Server;
use devp2p::Cap;
use devp2p::Protocol;
use frame_bound::SideBound;
use pair::{
    connect_pair, key, multi_thread_one, payload, round_trips, server_config, stream,
    RTT_FRAME_SIDES, RTT_PAYLOAD_BYTES,
};
use tokio::runtime::Runtime;

/// Payload sizes of the stream benchmark.
const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (64 * 1024, "64KiB")];
/// Bytes streamed per size (enough for a stable rate, small enough for the
/// whole bench to stay well under 3 minutes on a loaded 2-core machine).
const STREAM_BYTES: usize = 64 * 1024 * 1024;
/// Cap on messages per size (the 64-byte case is per-message bound).
const MAX_STREAM_MSGS: usize = 200_000;
/// Alternating (stream, bound) measurements per size; the medians are
/// reported.
const STREAM_ROUNDS: usize = 5;
/// Round trips measured per round (after [`RTT_WARMUP`]).
const RTT_SAMPLES: usize = 10_000;
/// Round trips discarded first.
const RTT_WARMUP: usize = 1_000;
/// Alternating (raw TCP, ours) RTT rounds; the medians of their p50 and p99
/// are reported.
const RTT_ROUNDS: usize = 3;
/// Idle peers held (override with `DEVP2P_BENCH_IDLE_PEERS`).
const IDLE_PEERS: usize = 10_000;
/// Env var that turns this binary into the idle-peer client swarm.
const CHILD_ENV: &str = "DEVP2P_BENCH_IDLE_CHILD";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Messages per second of one stream of `size`-byte payloads.
fn stream_msgs_per_s(size: usize) -> f64 {
    let (pair, rw_a, rw_b) = connect_pair();
    let count = (STREAM_BYTES / size).min(MAX_STREAM_MSGS);
    let (elapsed, rw_a, rw_b) = stream(&pair, rw_a, rw_b, payload(size), count);
    drop((rw_a, rw_b));
    pair.stop();
    (count - 1) as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Frames per second one thread does of one side's crypto work
/// ([`SideBound`]) for `size`-byte payloads.
fn bound_msgs_per_s(size: usize) -> f64 {
    let mut bound = SideBound::new(size);
    let rounds = (STREAM_BYTES / size).clamp(1000, MAX_STREAM_MSGS);
    let start = Instant::now();
    for _ in 0..rounds {
        bound.frame();
    }
    rounds as f64 / start.elapsed().as_secs_f64()
}

/// Request/response round trips on `bnc/1` ([`round_trips`]): p50 and p99
/// after [`RTT_WARMUP`].
fn rtt_us() -> (f64, f64) {
    let (pair, rw_a, rw_b) = connect_pair();
    let (_, rw_a, rw_b) = round_trips(&pair, rw_a, rw_b, RTT_WARMUP);
    let (mut samples, rw_a, rw_b) = round_trips(&pair, rw_a, rw_b, RTT_SAMPLES);
    drop((rw_a, rw_b));
    pair.stop();
    percentiles(&mut samples)
}

/// Baseline for [`rtt_us`]: the same two single-worker runtimes echoing
/// 16-byte messages over a plain loopback TCP connection (no RLPx, no
/// protocol tasks), i.e. what the OS and Tokio cost per round trip.
fn raw_tcp_rtt_us() -> (f64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt_a = multi_thread_one();
    let rt_b = multi_thread_one();
    let listener = rt_b
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let echo = rt_b.spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; 16];
        while s.read_exact(&mut buf).await.is_ok() {
            if s.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let client = rt_a.spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let mut samples = Vec::with_capacity(RTT_SAMPLES);
        let mut buf = [0u8; 16];
        for i in 0..RTT_WARMUP + RTT_SAMPLES {
            let start = Instant::now();
            s.write_all(&buf).await.expect("write");
            s.read_exact(&mut buf).await.expect("read");
            if i >= RTT_WARMUP {
                samples.push(start.elapsed());
            }
        }
        samples
    });
    let mut samples = rt_a.block_on(client).expect("raw client");
    rt_b.block_on(echo).expect("echo");
    percentiles(&mut samples)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// p50 and p99 of `samples`, in microseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (
        pick(0.50).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6,
    )
}

fn idle_protocol() -> Protocol {
    Protocol::new("bnc", 1, 2, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    })
}

/// Client side of the idle benchmark (runs in a child process): opens `n`
/// peers to `addr`, prints `ready`, holds them until stdin closes.
fn idle_child(spec: &str) {
    raise_fd_limit();
    let mut parts = spec.split(';');
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let server_id: NodeId = parts.next().unwrap().parse().unwrap();
    let n: usize = parts.next().unwrap().parse().unwrap();
    let rt = runtime();
    let conns = rt.block_on(async move {
        use futures::StreamExt;
        futures::stream::iter(0..n)
            .map(|i| async move {
                let key = key(100_000 + i as u32);
                let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
                let mut conn = devp2p::rlpx::connect(tcp, &key, server_id).await.ok()?;
                let hello = devp2p::peer::Hello {
                    protocol_version: devp2p::peer::BASE_PROTOCOL_VERSION,
                    client_id: "idle".into(),
                    caps: vec![Cap::new("bnc", 1)],
                    listen_port: 0,
                    id: NodeId::from_secret_key(&key),
                };
                devp2p::peer::exchange_hello(&mut conn, &hello, server_id)
                    .await
                    .ok()?;
                Some(conn)
            })
            .buffer_unordered(32)
            .filter_map(|c| async move { c })
            .collect::<Vec<_>>()
            .await
    });
    println!("ready {}", conns.len());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(conns);
}

fn idle_rss_per_peer(n: usize) -> Option<(usize, f64)> {
    use std::io::{BufRead, BufReader, Write};
    let limit = raise_fd_limit();
    let n = n.min(limit.saturating_sub(256) as usize);
    let rt = multi_thread_one();
    let mut cfg = server_config(3, idle_protocol());
    cfg.max_peers = 2 * n + 10;
    let server = rt.block_on(Server::start(cfg)).ok()?;
    // Let the runtime and allocator settle before the baseline.
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let spec = format!("{};{};{}", server.local_addr()?, server.self_node().id, n);
    let mut child = std::process::Command::new(std::env::current_exe().ok()?)
        .env(CHILD_ENV, spec)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = 0;
    while Instant::now() < deadline {
        count = rt.block_on(server.peer_count());
        if count >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"done\n");
    }
    let _ = child.wait();
    rt.block_on(server.stop());
    if count == 0 {
        return None;
    }
    Some((count, after.saturating_sub(before) as f64 / count as f64))
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        idle_child(&spec);
        return;
    }
    // `cargo bench --bench peer -- <filter>`: run only the parts whose name
    // (stream.64B, stream.1KiB, stream.64KiB, rtt, idle) contains the filter
    // (cargo passes `--bench` too).
    let filter = bench_filter();
    let wanted = |part: &str| part.contains(filter.as_str());
    if !quiet_enough("peer") {
        return;
    }
    let mut lines = Vec::new();
    for (size, label) in SIZES
        .into_iter()
        .filter(|(_, label)| wanted(&format!("stream.{label}")))
    {
        // Alternate the two measurements and take medians, so a burst of
        // load from a neighbour on the shared machine hits both alike.
        let mut ours = Vec::with_capacity(STREAM_ROUNDS);
        let mut bound = Vec::with_capacity(STREAM_ROUNDS);
        for _ in 0..STREAM_ROUNDS {
            ours.push(stream_msgs_per_s(size));
            bound.push(bound_msgs_per_s(size));
        }
        let (ours, bound) = (median(&mut ours), median(&mut bound));
        let mb = ours * size as f64 / 1e6;
        lines.push(format!(
            "bench peer.stream.{label} msgs_per_s={ours:.0} mb_per_s={mb:.1} bound_msgs_per_s={bound:.0} ratio={:.3}",
            ours / bound
        ));
        eprintln!("{}", lines.last().unwrap());
    }
    if wanted("rtt") {
        // Alternating rounds, medians of each percentile: the difference is
        // what our layers add over the OS and Tokio on the same runtimes.
        let (mut raw50, mut raw99, mut p50, mut p99) = (vec![], vec![], vec![], vec![]);
        let mut crypto = vec![];
        for _ in 0..RTT_ROUNDS {
            let (a, b) = raw_tcp_rtt_us();
            raw50.push(a);
            raw99.push(b);
            let (a, b) = rtt_us();
            p50.push(a);
            p99.push(b);
            crypto.push(RTT_FRAME_SIDES as f64 * 1e6 / bound_msgs_per_s(RTT_PAYLOAD_BYTES));
        }
        let crypto = median(&mut crypto);
        let (raw50, raw99) = (median(&mut raw50), median(&mut raw99));
        let (p50, p99) = (median(&mut p50), median(&mut p99));
        lines.push(format!(
            "bench peer.rtt p50_us={p50:.1} p99_us={p99:.1} raw_tcp_p50_us={raw50:.1} raw_tcp_p99_us={raw99:.1} added_p50_us={:.1} added_p99_us={:.1} crypto_us={crypto:.1}",
            p50 - raw50,
            p99 - raw99
        ));
        eprintln!("{}", lines.last().unwrap());
    }
    let n = std::env::var("DEVP2P_BENCH_IDLE_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IDLE_PEERS);
    if wanted("idle") {
        match idle_rss_per_peer(n) {
            Some((peers, kib)) => lines.push(format!(
                "bench peer.idle peers={peers} rss_per_peer_kib={kib:.1}"
            )),
            None => lines.push("bench peer.idle peers=0 rss_per_peer_kib=nan".into()),
        }
    }
    for line in lines {
        println!("{line}");
    }
}
