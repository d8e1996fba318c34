//! Many peers against one server (issue 16): streaming throughput and CPU
//! per message with 1, 10, 100 and 1,000 peers, and the CPU and memory of
//! 10,000 idle peers. Run with `cargo bench -p devp2p-rs --bench many_peers`
//! (~3 min; `-- stream` or `-- idle` runs one part). The last lines are
//! machine-readable:
//!
//! ```text
//! bench peers.stream peers=<n> msgs_per_s=<x> cpu_us_per_msg=<x> core_share=<x> client_cpu_us_per_msg=<x> msgs_ratio_to_1=<x> cpu_ratio_to_1=<x>
//! bench peers.idle peers=<n> cpu_core_share=<x> rss_kib_per_peer=<x> heap_kib_per_peer=<x> connect_s=<x> peers_end=<n>
//! ```
//!
//! The server runs in this process on a runtime with one worker thread;
//! the client peers run in a child process (this binary re-executed with
//! `MANY_PEERS_ROLE=clients`) on [`CLIENT_WORKERS`] threads of their own, so every
//! CPU and memory figure read from `/proc/self` and `getrusage` is the
//! server's alone. The child is killed on every exit path (a guard kills it
//! on drop) and exits by itself when its stdin closes or after
//! [`CHILD_LIFETIME`]. Client peers are not `Server`s: each is one RLPx
//! connection, Hello exchange and running peer built from the public stage
//! API (`rlpx::connect`, `HelloDone`, `NegotiatedConn::spawn`), so they
//! answer pings and run the base protocol's timers like any peer.
//!
//! - `peers.stream`: every peer streams 64-byte random (incompressible)
//!   messages on protocol `bnc/1` as fast as the server takes them (default
//!   queues, snappy on); the server's protocol reads and counts them.
//!   `msgs_per_s` is the aggregate the server received over
//!   [`STREAM_WINDOW`] after [`STREAM_WARMUP`]; `cpu_us_per_msg` is the
//!   server process's CPU time over that window per message; `core_share`
//!   that CPU time as a share of one core (below 1: the server waited for
//!   the clients); `client_cpu_us_per_msg` the child's CPU time per
//!   message (from `/proc/<pid>/stat`, 10 ms ticks), to show which side
//!   bounds the rate. Rounds cycle through the peer
//!   counts [`STREAM_ROUNDS`] times and the medians are reported; the
//!   ratios are to the 1-peer medians.
//! - `peers.idle`: [`IDLE_PEERS`] peers connect (their connection time is
//!   `connect_s`, from the child's start to the server counting them all),
//!   then nothing but pings (every 15 s each way) and timers runs for
//!   [`IDLE_WINDOW`]. `cpu_core_share` is the server's CPU time over that
//!   window as a share of one core; `rss_kib_per_peer` is (server RSS at
//!   the end of the window − RSS before the first connection) ÷ peers,
//!   `heap_kib_per_peer` the same for the heap bytes in use (glibc
//!   `mallinfo2`: what the peers hold, without the allocator's free
//!   memory, thread stacks or code);
//!   `peers_end` the peers still connected at the end (a peer dropped by a
//!   read timeout would show here).
//!
//! Limits changed in the server's `Config` for the bench only: peer limits
//! raised to the peer count, no dialing, and pending inbound handshakes
//! raised to [`SERVER_PENDING_INBOUND`]. The per-IP inbound throttle
//! (`server::INBOUND_THROTTLE`, one connection per IP per 30 s) never
//! applies to LAN addresses such as 127.0.0.1, so it needs no change.
//!
//! The bench prints the 1-minute load first: with a load near the core
//! count the child and the server share cores with other work, so compare
//! figures only within one run.

#[path = "support/pair.rs"]
mod pair;
#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devp2p::config::Config;
use devp2p::node::NodeId;
use devp2p::peer::{HelloDone, PeerSetup, BASE_PROTOCOL_VERSION};
use devp2p::server::{Server, ServerError};
use devp2p::{Cap, MsgReader, MsgWriter, PeerEvent, Protocol};
use futures::StreamExt;
use pair::{key, multi_thread_one, payload, server_config};
use process::{
    bench_filter, cpu_seconds_of, cpu_us, heap_kib, quiet_enough, raise_fd_limit, rss_kib,
};
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, watch};

/// Peer counts of the streaming part (issue 16).
const STREAM_PEERS: [usize; 4] = [1, 10, 100, 1_000];
/// Idle peers of the idle part (issue 16); `MANY_PEERS_IDLE` overrides it
/// (for a quick try), and the open-file limit may lower it.
const IDLE_PEERS: usize = 10_000;
/// Payload bytes of each streamed message: the small-message case of the
/// other peer benches.
const MSG_SIZE: usize = 64;
/// Streaming before the measurement window, so queues and read buffers
/// have reached their working size.
const STREAM_WARMUP: Duration = Duration::from_secs(1);
/// Measurement window of one streaming round: ~10^5 messages or more,
/// ~400 ticks of CPU time; with [`STREAM_ROUNDS`] it keeps the streaming
/// part near 1.5 minutes.
const STREAM_WINDOW: Duration = Duration::from_secs(4);
/// Rounds through all of [`STREAM_PEERS`]; medians are reported, so a burst
/// of load from a neighbour hits every peer count alike.
const STREAM_ROUNDS: usize = 3;
/// Idle measurement window: two ping intervals
/// (`devp2p::peer::PING_INTERVAL`, 15 s), so every peer pings and is
/// pinged twice inside it.
const IDLE_WINDOW: Duration = Duration::from_secs(30);
/// Pause after the last idle peer connected, before the window starts, so
/// handshake work still queued on the server is done.
const IDLE_SETTLE: Duration = Duration::from_secs(2);
/// Pause after the server started, before its baseline RSS is read, so the
/// runtime and allocator have settled.
const BASELINE_SETTLE: Duration = Duration::from_millis(200);
/// How long the clients may take to connect (10,000 handshakes on a loaded
/// 2-core machine take ~20–40 s; twice the worst seen, and then some).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Interval between reads of the server's peer count while waiting for the
/// clients (the server publishes no "count reached" event).
const PEER_COUNT_POLL: Duration = Duration::from_millis(50);
/// Most handshakes the child runs at once: enough to keep both processes
/// busy, well below [`SERVER_PENDING_INBOUND`].
const CONNECT_CONCURRENCY: usize = 64;
/// Pending inbound handshakes the bench's server allows (the default, 50,
/// is go-ethereum's; raised so the child's [`CONNECT_CONCURRENCY`] never
/// waits on it).
const SERVER_PENDING_INBOUND: usize = 256;
/// Peer slots above the peer count, so no limit is hit by a late duplicate.
const PEER_SLOT_MARGIN: usize = 16;
/// File descriptors kept free for the runtime, the listener and the pipes
/// when the open-file limit caps [`IDLE_PEERS`].
const FD_RESERVE: u64 = 256;
/// The child exits by itself after this long, whatever the parent does
/// (longer than the whole bench).
const CHILD_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Peer events the child's (unread) event channel holds; its peers publish
/// into it and nobody listens.
const CHILD_EVENT_QUEUE: usize = 16;
/// Worker threads of the child's runtime: one, so on a 2-core machine the
/// clients and the server's one worker each have a core, as the two sides
/// of the `peer` bench do. With two the 1-peer rate rose (~170k msgs/s) but
/// the many-peer rates fell (~77k at 1,000 peers): the clients then take
/// CPU from the server's worker.
const CLIENT_WORKERS: usize = 1;
/// First key index of the client peers (server keys use small indices).
const CLIENT_KEY_BASE: u32 = 100_000;
/// Environment variable selecting the child's role.
const ROLE_ENV: &str = "MANY_PEERS_ROLE";
/// Environment variable carrying the child's task: `mode;addr;id;n`.
const SPEC_ENV: &str = "MANY_PEERS_SPEC";

/// Why a part of the bench could not measure.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    /// The server did not start.
    #[error("server start: {0}")]
    Server(#[from] ServerError),
    /// The child process could not be started or talked to.
    #[error("client process: {0}")]
    Child(#[from] std::io::Error),
    /// The child did not report its peers in time or ended early.
    #[error("client process not ready within {0:?}")]
    NotReady(Duration),
    /// Fewer peers reached the server than were asked for.
    #[error("{got} of {expected} peers connected within {timeout:?}")]
    PeersMissing {
        /// Peers asked for.
        expected: usize,
        /// Peers the server counted at the deadline.
        got: usize,
        /// How long the bench waited.
        timeout: Duration,
    },
}

/// What the client peers do once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Stream 64-byte messages from the `go` signal on.
    Stream,
    /// Nothing but the base protocol (pings) and its timers.
    Idle,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Idle => "idle",
        }
    }
}

/// The client process; killed and reaped when dropped, whatever the exit
/// path.
struct Clients {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines of the child's stdout, read by a thread (so waits can time out).
    lines: std_mpsc::Receiver<String>,
}

impl Clients {
    /// Starts the child with `n` peers of `mode` dialing `server`.
    fn spawn(mode: Mode, server: &Server, n: usize) -> Result<Self, BenchError> {
        let addr = server
            .local_addr()
            .ok_or_else(|| std::io::Error::other("server has no listen address"))?;
        let spec = format!("{};{addr};{};{n}", mode.as_str(), server.self_node().id);
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE_ENV, "clients")
            .env(SPEC_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // Build the guard first, so an error below still kills the child.
        let (tx, lines) = std_mpsc::sync_channel(16);
        let clients = Clients {
            child,
            stdin,
            lines,
        };
        let stdout = stdout.ok_or_else(|| std::io::Error::other("no child stdout"))?;
        // Ends at the child's exit (EOF) or when the receiver is gone.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(clients)
    }

    /// Waits for the child's `ready <count>` line; returns the count.
    fn wait_ready(&self, timeout: Duration) -> Result<usize, BenchError> {
        let line = self
            .lines
            .recv_timeout(timeout)
            .map_err(|_| BenchError::NotReady(timeout))?;
        line.strip_prefix("ready ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or(BenchError::NotReady(timeout))
    }

    /// Tells the child's peers to start (streaming mode).
    fn go(&mut self) -> Result<(), BenchError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("child stdin closed"))?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
        Ok(())
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bench's server: `protocol` on 127.0.0.1, limits raised for `peers`
/// inbound peers (see the module docs).
fn start_server(rt: &Runtime, protocol: Protocol, peers: usize) -> Result<Server, BenchError> {
    let mut cfg: Config = server_config(1, protocol);
    cfg.max_peers = peers + PEER_SLOT_MARGIN;
    cfg.max_inbound = Some(peers + PEER_SLOT_MARGIN);
    cfg.no_dial = true;
    cfg.max_pending_inbound = Some(SERVER_PENDING_INBOUND);
    Ok(rt.block_on(Server::start(cfg))?)
}

/// Waits until the server counts `n` peers; returns the count reached.
fn wait_peers(rt: &Runtime, server: &Server, n: usize) -> Result<usize, BenchError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let got = rt.block_on(server.peer_count());
        if got >= n {
            return Ok(got);
        }
        if Instant::now() >= deadline {
            return Err(BenchError::PeersMissing {
                expected: n,
                got,
                timeout: CONNECT_TIMEOUT,
            });
        }
        std::thread::sleep(PEER_COUNT_POLL);
    }
}

/// Server side of `bnc/1` in the streaming part: reads and counts messages
/// until the peer goes.
fn counting_protocol(received: Arc<AtomicU64>) -> Protocol {
    Protocol::new("bnc", 1, 2, move |_peer, mut rw| {
        let received = received.clone();
        async move {
            while rw.read_msg().await.is_ok() {
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    })
}

/// `bnc/1` doing nothing: the peer runs until it is closed.
fn idle_protocol() -> Protocol {
    Protocol::new("bnc", 1, 2, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    })
}

/// What one streaming round measured.
#[derive(Clone, Copy, Debug)]
struct StreamFigures {
    /// Messages per second the server received.
    msgs_per_s: f64,
    /// Server process CPU time per message, µs.
    cpu_us_per_msg: f64,
    /// Server process CPU time as a share of one core.
    core_share: f64,
    /// Client process CPU time per message, µs (10 ms tick resolution).
    client_cpu_us_per_msg: f64,
}

/// One streaming round with `n` peers.
fn stream_round(n: usize) -> Result<StreamFigures, BenchError> {
    let rt = multi_thread_one();
    let received = Arc::new(AtomicU64::new(0));
    let server = start_server(&rt, counting_protocol(received.clone()), n)?;
    let result = (|| {
        let mut clients = Clients::spawn(Mode::Stream, &server, n)?;
        clients.wait_ready(CONNECT_TIMEOUT)?;
        wait_peers(&rt, &server, n)?;
        clients.go()?;
        std::thread::sleep(STREAM_WARMUP);
        let pid = clients.child.id();
        let (msgs0, cpu0, t0) = (received.load(Ordering::Relaxed), cpu_us(), Instant::now());
        let client0 = cpu_seconds_of(pid);
        std::thread::sleep(STREAM_WINDOW);
        let (msgs1, cpu1) = (received.load(Ordering::Relaxed), cpu_us());
        let client1 = cpu_seconds_of(pid);
        let secs = t0.elapsed().as_secs_f64();
        let msgs = (msgs1 - msgs0).max(1) as f64;
        let cpu = cpu1.saturating_sub(cpu0) as f64;
        Ok(StreamFigures {
            msgs_per_s: msgs / secs,
            cpu_us_per_msg: cpu / msgs,
            core_share: cpu / 1e6 / secs,
            client_cpu_us_per_msg: (client1 - client0) * 1e6 / msgs,
        })
    })();
    rt.block_on(server.stop());
    result
}

/// What the idle part measured.
struct IdleFigures {
    peers: usize,
    cpu_core_share: f64,
    rss_kib_per_peer: f64,
    heap_kib_per_peer: f64,
    connect_s: f64,
    peers_end: usize,
}

/// The idle part with `n` peers.
fn idle(n: usize) -> Result<IdleFigures, BenchError> {
    let rt = multi_thread_one();
    let server = start_server(&rt, idle_protocol(), n)?;
    let result = (|| {
        std::thread::sleep(BASELINE_SETTLE);
        let (before, heap_before) = (rss_kib(), heap_kib());
        let start = Instant::now();
        let clients = Clients::spawn(Mode::Idle, &server, n)?;
        let ready = clients.wait_ready(CONNECT_TIMEOUT)?;
        let peers = wait_peers(&rt, &server, ready.min(n))?;
        let connect_s = start.elapsed().as_secs_f64();
        std::thread::sleep(IDLE_SETTLE);
        let (cpu0, t0) = (cpu_us(), Instant::now());
        std::thread::sleep(IDLE_WINDOW);
        let (cpu1, secs) = (cpu_us(), t0.elapsed().as_secs_f64());
        let (after, heap_after) = (rss_kib(), heap_kib());
        let peers_end = rt.block_on(server.peer_count());
        drop(clients);
        Ok(IdleFigures {
            peers,
            cpu_core_share: cpu1.saturating_sub(cpu0) as f64 / 1e6 / secs,
            rss_kib_per_peer: after.saturating_sub(before) as f64 / peers.max(1) as f64,
            heap_kib_per_peer: heap_after.saturating_sub(heap_before) as f64 / peers.max(1) as f64,
            connect_s,
            peers_end,
        })
    })();
    rt.block_on(server.stop());
    result
}

/// The child: connects `n` client peers to the server in `spec`, prints
/// `ready <count>`, streams on `go` (streaming mode), and exits when its
/// stdin closes or after [`CHILD_LIFETIME`].
fn clients_main(spec: &str) {
    let fields: Vec<&str> = spec.split(';').collect();
    let parsed = match fields.as_slice() {
        [mode, addr, id, n] => (|| {
            let mode = if *mode == "stream" {
                Mode::Stream
            } else {
                Mode::Idle
            };
            Some((
                mode,
                addr.parse::<SocketAddr>().ok()?,
                id.parse::<NodeId>().ok()?,
                n.parse::<usize>().ok()?,
            ))
        })(),
        _ => None,
    };
    let Some((mode, addr, server_id, n)) = parsed else {
        eprintln!("bad {SPEC_ENV}: {spec}");
        std::process::exit(2);
    };
    raise_fd_limit();
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(1);
    });
    let (go_tx, go_rx) = watch::channel(false);
    // stdin: `go` starts the stream; EOF (the parent closed it or died)
    // ends the process.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "go" => {
                    let _ = go_tx.send(true);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_WORKERS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("client runtime: {e}");
            std::process::exit(2);
        }
    };
    rt.block_on(async move {
        let (events, _) = broadcast::channel::<PeerEvent>(CHILD_EVENT_QUEUE);
        let protocol = client_protocol(mode, go_rx);
        let peers: Vec<_> = futures::stream::iter(0..n)
            .map(|i| connect_client(i, addr, server_id, protocol.clone(), events.clone()))
            .buffer_unordered(CONNECT_CONCURRENCY)
            .filter_map(|p| async move { p })
            .collect()
            .await;
        println!("ready {}", peers.len());
        let _ = std::io::stdout().flush();
        // Held until the process exits (stdin EOF or lifetime).
        std::future::pending::<()>().await;
        drop(peers);
    });
}

/// Client side of `bnc/1`: streams 64-byte messages from the `go` signal on
/// until the connection ends, or (idle) waits for the peer to close.
fn client_protocol(mode: Mode, go: watch::Receiver<bool>) -> Protocol {
    let msg = payload(MSG_SIZE);
    Protocol::new("bnc", 1, 2, move |peer, rw| {
        let (msg, mut go) = (msg.clone(), go.clone());
        async move {
            if mode == Mode::Idle {
                peer.closed().await;
                return Ok(());
            }
            if go.wait_for(|g| *g).await.is_err() {
                return Ok(());
            }
            while rw.write_msg(0, msg.clone()).await.is_ok() {}
            Ok(())
        }
    })
}

/// One client peer: TCP, RLPx, Hello, negotiation, then the running peer
/// (its handle, kept alive by the caller). `None` on any failure.
async fn connect_client(
    i: usize,
    addr: SocketAddr,
    server_id: NodeId,
    protocol: Protocol,
    events: broadcast::Sender<PeerEvent>,
) -> Option<devp2p::Peer> {
    let key = key(CLIENT_KEY_BASE + i as u32);
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let local = tcp.local_addr().ok()?;
    let conn = devp2p::rlpx::connect(tcp, &key, server_id).await.ok()?;
    let hello = devp2p::peer::Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: "many-peers".into(),
        caps: vec![Cap::new("bnc", 1)],
        listen_port: 0,
        id: NodeId::from_secret_key(&key),
    };
    let done = HelloDone::exchange(conn, &hello, server_id).await.ok()?;
    let negotiated = done.negotiate(&[protocol]).ok()?;
    let setup = PeerSetup::new(server_id, addr, local, false);
    let (peer, _task) = negotiated.spawn(setup, events);
    Some(peer)
}

/// Median of `v` (sorted in place); NaN when empty.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("clients") {
        clients_main(&std::env::var(SPEC_ENV).unwrap_or_default());
        return;
    }
    // `cargo bench --bench many_peers -- <filter>`: run only the parts whose
    // name (stream, idle) contains the filter (cargo passes `--bench` too).
    let filter = bench_filter();
    let wanted = |part: &str| part.contains(filter.as_str());
    if !quiet_enough("many_peers") {
        return;
    }
    let fd_limit = raise_fd_limit();
    let mut lines = Vec::new();
    if wanted("stream") {
        lines.extend(stream_lines());
    }
    if wanted("idle") {
        let n = std::env::var("MANY_PEERS_IDLE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(IDLE_PEERS)
            .min(fd_limit.saturating_sub(FD_RESERVE) as usize);
        lines.push(match idle(n) {
            Ok(f) => format!(
                "bench peers.idle peers={} cpu_core_share={:.4} rss_kib_per_peer={:.1} heap_kib_per_peer={:.1} connect_s={:.1} peers_end={}",
                f.peers, f.cpu_core_share, f.rss_kib_per_peer, f.heap_kib_per_peer, f.connect_s, f.peers_end
            ),
            Err(e) => format!("bench peers.idle peers={n} failed: {e}"),
        });
        eprintln!("{}", lines.last().unwrap());
    }
    for line in lines {
        println!("{line}");
    }
}

/// The streaming part: rounds through [`STREAM_PEERS`], medians, ratios
/// to the 1-peer figures.
fn stream_lines() -> Vec<String> {
    let mut rounds: Vec<Vec<StreamFigures>> = vec![Vec::new(); STREAM_PEERS.len()];
    for round in 0..STREAM_ROUNDS {
        for (i, &n) in STREAM_PEERS.iter().enumerate() {
            match stream_round(n) {
                Ok(f) => {
                    eprintln!(
                        "info round={round} peers={n} msgs_per_s={:.0} cpu_us_per_msg={:.2} core_share={:.2} client_cpu_us_per_msg={:.2}",
                        f.msgs_per_s, f.cpu_us_per_msg, f.core_share, f.client_cpu_us_per_msg
                    );
                    rounds[i].push(f);
                }
                Err(e) => eprintln!("info round={round} peers={n} failed: {e}"),
            }
        }
    }
    // Median of each quantity over the rounds of one peer count.
    let med = |fs: &[StreamFigures], q: fn(&StreamFigures) -> f64| {
        median(&mut fs.iter().map(q).collect::<Vec<_>>())
    };
    let msgs_1 = med(&rounds[0], |f| f.msgs_per_s);
    let cpu_1 = med(&rounds[0], |f| f.cpu_us_per_msg);
    STREAM_PEERS
        .iter()
        .zip(&rounds)
        .map(|(n, fs)| {
            let msgs = med(fs, |f| f.msgs_per_s);
            let cpu = med(fs, |f| f.cpu_us_per_msg);
            format!(
                "bench peers.stream peers={n} msgs_per_s={msgs:.0} cpu_us_per_msg={cpu:.2} core_share={:.2} client_cpu_us_per_msg={:.2} msgs_ratio_to_1={:.2} cpu_ratio_to_1={:.2}",
                med(fs, |f| f.core_share),
                med(fs, |f| f.client_cpu_us_per_msg),
                msgs / msgs_1,
                cpu / cpu_1
            )
        })
        .collect()
}
