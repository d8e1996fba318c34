//! Peer benchmarks: stream throughput against the crypto bound, request
//! round trip, idle memory per peer. Run with
//! `cargo bench -p devp2p --bench peer`; the last lines are machine-readable:
//!
//! ```text
//! bench peer.stream.<size> ours_mbps=<x> bound_mbps=<y> ratio=<x/y>
//! bench peer.rtt p50_us=<x> p99_us=<y>
//! bench peer.idle peers=<n> rss_per_peer_kib=<x>
//! ```
//!
//! `ours` is payload throughput between two servers over loopback TCP, each
//! in its own runtime on its own thread, base protocol with snappy (on
//! random, incompressible payloads). `bound` is one thread running AES-256-CTR
//! plus keccak256 over the same bytes: the per-byte work each side of an RLPx
//! stream cannot avoid. The idle benchmark forks the client side into a child
//! process so only the server's memory is measured.

#[path = "support/process.rs"]
mod process;
use process::rss_kib;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::{Node, NodeId};
use devp2p::server::Server;
use devp2p::{Cap, ProtoRw, Protocol};
use devp2p::{MsgReader, MsgWriter};
use rand::Rng;
use secp256k1::SecretKey;
// The bound uses the MACs' keccak backend (keccak-asm where available).
use devp2p::rlpx::Keccak as Keccak256;
use sha3::Digest;
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
/// Round trips measured (after [`RTT_WARMUP`]).
const RTT_SAMPLES: usize = 20_000;
/// Round trips discarded first.
const RTT_WARMUP: usize = 1_000;
/// Idle peers held (override with `DEVP2P_BENCH_IDLE_PEERS`).
const IDLE_PEERS: usize = 10_000;
/// Env var that turns this binary into the idle-peer client swarm.
const CHILD_ENV: &str = "DEVP2P_BENCH_IDLE_CHILD";

fn key(n: u32) -> SecretKey {
    let mut raw = [0x22u8; 32];
    raw[28..].copy_from_slice(&n.to_be_bytes());
    SecretKey::from_secret_bytes(raw).expect("valid key")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A protocol `bnc/1` (2 codes) whose `run` hands its `ProtoRw` to the bench
/// and then waits for the peer to close.
fn handoff_protocol(tx: std_mpsc::Sender<ProtoRw>) -> Protocol {
    let tx = std::sync::Mutex::new(tx);
    let tx = std::sync::Arc::new(tx);
    Protocol::new("bnc", 1, 2, move |peer, rw| {
        let tx = tx.clone();
        async move {
            let _ = tx.lock().unwrap().send(rw);
            peer.closed().await;
            Ok(())
        }
    })
    .with_queues(256, 256)
}

fn server_config(n: u32, protocol: Protocol) -> Config {
    let mut c = Config::with_key(key(n));
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.protocols = vec![protocol];
    c
}

/// Two servers on two threads, connected; returns each side's `ProtoRw`
/// plus the runtimes (kept alive by the caller) and servers.
struct Pair {
    rt_a: Runtime,
    rt_b: Runtime,
    a: Server,
    b: Server,
}

fn connect_pair() -> (Pair, ProtoRw, ProtoRw) {
    let (tx_a, rx_a) = std_mpsc::channel();
    let (tx_b, rx_b) = std_mpsc::channel();
    let rt_a = multi_thread_one();
    let rt_b = multi_thread_one();
    let a = rt_a
        .block_on(Server::start(server_config(1, handoff_protocol(tx_a))))
        .unwrap();
    let b = rt_b
        .block_on(Server::start(server_config(2, handoff_protocol(tx_b))))
        .unwrap();
    let addr = b.local_addr().unwrap();
    let node_b = Node::new(b.self_node().id, addr.ip(), addr.port(), 0);
    rt_a.block_on(a.add_peer(node_b)).unwrap();
    let rw_a = rx_a
        .recv_timeout(Duration::from_secs(30))
        .expect("peer on A");
    let rw_b = rx_b
        .recv_timeout(Duration::from_secs(30))
        .expect("peer on B");
    (Pair { rt_a, rt_b, a, b }, rw_a, rw_b)
}

/// A runtime with one worker thread of its own (so each side of the stream
/// runs on a separate thread).
fn multi_thread_one() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

impl Pair {
    fn stop(self) {
        self.rt_a.block_on(self.a.stop());
        self.rt_b.block_on(self.b.stop());
    }
}

fn stream_mbps(size: usize) -> f64 {
    let (pair, rw_a, rw_b) = connect_pair();
    let count = (STREAM_BYTES / size).min(MAX_STREAM_MSGS);
    let mut payload = vec![0u8; size];
    rand::rng().fill_bytes(&mut payload);
    let payload = Bytes::from(payload);
    let sender = pair.rt_a.spawn(async move {
        for _ in 0..count {
            rw_a.write_msg(0, payload.clone()).await.expect("write");
        }
        rw_a
    });
    let (mut reader, _writer) = rw_b.split();
    // Spawned (like a protocol's `run`), so reading happens on B's worker
    // thread and not across a thread hop to the bench's main thread.
    let receiver = pair.rt_b.spawn(async move {
        let first = reader.read_msg().await.expect("read");
        let start = first.received_at;
        let mut last = start;
        for _ in 1..count {
            last = reader.read_msg().await.expect("read").received_at;
        }
        last - start
    });
    let elapsed = pair.rt_b.block_on(receiver).expect("receiver");
    let _rw_a = pair.rt_a.block_on(sender).unwrap();
    pair.stop();
    let secs = elapsed.as_secs_f64().max(1e-9);
    ((count - 1) * size) as f64 * 8.0 / secs / 1e6
}

fn bound_mbps(size: usize) -> f64 {
    let mut buf = vec![0u8; size];
    rand::rng().fill_bytes(&mut buf);
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(&[7u8; 32].into(), &[0u8; 16].into());
    let mut mac = Keccak256::new();
    let total = STREAM_BYTES.max(size * 1000);
    let rounds = total / size;
    let start = Instant::now();
    for _ in 0..rounds {
        cipher.apply_keystream(&mut buf);
        mac.update(&buf);
    }
    std::hint::black_box(mac.finalize());
    (rounds * size) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e6
}

/// Request/response round trips on `bnc/1`: A sends code 0 with an 8-byte
/// payload, B answers code 1 with the same payload.
fn rtt_us() -> (f64, f64) {
    let (pair, mut rw_a, mut rw_b) = connect_pair();
    let echo = pair.rt_b.spawn(async move {
        while let Ok(msg) = rw_b.read_msg().await {
            if rw_b.write_msg(1, msg.payload).await.is_err() {
                break;
            }
        }
    });
    // Spawned, so the client loop runs on A's worker thread next to A's
    // peer tasks (as a protocol's `run` would), not on the bench thread.
    let client = pair.rt_a.spawn(async move {
        let mut samples = Vec::with_capacity(RTT_SAMPLES);
        for i in 0..(RTT_WARMUP + RTT_SAMPLES) as u64 {
            let start = Instant::now();
            rw_a.write_msg(0, Bytes::copy_from_slice(&i.to_be_bytes()))
                .await
                .expect("write");
            let reply = rw_a.read_msg().await.expect("read");
            let rtt = start.elapsed();
            assert_eq!(reply.code, 1);
            if i as usize >= RTT_WARMUP {
                samples.push(rtt);
            }
        }
        samples
    });
    let mut samples = pair.rt_a.block_on(client).expect("rtt client");
    drop(echo);
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

/// Raises the open-file limit to the hard limit; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        // rlim_t is u64 on Linux but not on every target.
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        cur
    }
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
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let wanted = |part: &str| part.contains(filter.as_str());
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
            ours.push(stream_mbps(size));
            bound.push(bound_mbps(size));
        }
        let (ours, bound) = (median(&mut ours), median(&mut bound));
        lines.push(format!(
            "bench peer.stream.{label} ours_mbps={ours:.1} bound_mbps={bound:.1} ratio={:.3}",
            ours / bound
        ));
        eprintln!("{}", lines.last().unwrap());
    }
    if wanted("rtt") {
        let (raw50, raw99) = raw_tcp_rtt_us();
        let (p50, p99) = rtt_us();
        lines.push(format!(
            "bench peer.rtt p50_us={p50:.1} p99_us={p99:.1} raw_tcp_p50_us={raw50:.1} raw_tcp_p99_us={raw99:.1}"
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
