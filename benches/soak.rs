//! Soak benchmark: session churn against one `Server`, then a check that
//! memory, file descriptors and tasks come back. Run with
//! `cargo bench -p devp2p --bench soak` (length: `SOAK_SECONDS`, default
//! 120, or `-- --seconds N`). Ends with one machine-readable line:
//!
//! ```text
//! bench soak seconds=<s> sessions=<n> rss_start_kib=<a> rss_end_kib=<b> fds_start=<c> fds_end=<d> tasks_end=<e>
//! ```
//!
//! The server runs `ech/1` (code 0 is echoed back as code 1) on 127.0.0.1:0
//! in its own runtime. [`CLIENTS`] raw RLPx clients, in a second runtime on
//! another thread, loop until the time is up: connect with a fresh key,
//! Hello, [`MSGS_PER_SESSION`] echo round trips (snappy, as the base
//! protocol requires), Disconnect, wait for the server to close. Then the
//! client runtime is dropped and, once the server has no peers and its task
//! count has settled, the end figures are taken. `tasks_end` is the number of
//! tasks alive in the server's runtime beyond those it had right after
//! `Server::start` (0 when every session's tasks ended); start figures are
//! taken at that same point.

#[path = "support/process.rs"]
mod process;
use process::{open_fds, rss_kib};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::NodeId;
use devp2p::peer::{
    decompress, encode_frame, exchange_hello, split_frame, Hello, BASE_PROTOCOL_LENGTH,
    BASE_PROTOCOL_VERSION, DISCONNECT_MSG, PING_MSG, PONG_MSG,
};
use devp2p::rlpx::connect;
use devp2p::server::Server;
use devp2p::{Cap, DiscReason, Protocol, ProtocolError};
use devp2p::{MsgReader, MsgWriter};
use futures::{SinkExt, StreamExt};
use secp256k1::SecretKey;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Default soak length in seconds (the issue's figure).
const DEFAULT_SECONDS: u64 = 120;
/// Env var overriding the length in seconds.
const SECONDS_ENV: &str = "SOAK_SECONDS";
/// Client loops running at once (our choice: enough churn to overlap
/// handshakes, teardowns and traffic on a 2-core machine).
const CLIENTS: u64 = 16;
/// Echo round trips per session.
const MSGS_PER_SESSION: usize = 8;
/// Echo payload size in bytes (a typical small eth message).
const PAYLOAD_LEN: usize = 256;
/// Bound on one session, connect to close; a stuck session counts as an
/// error and its client moves on.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to drop every peer and settle its tasks.
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(15);
/// Poll interval while waiting for quiescence.
const POLL: Duration = Duration::from_millis(50);
/// Message codes of `ech/1` (after the base protocol's 16).
const ECHO_REQ: u64 = BASE_PROTOCOL_LENGTH;
const ECHO_RESP: u64 = BASE_PROTOCOL_LENGTH + 1;

fn main() {
    let seconds = soak_seconds();
    let server_rt = runtime("soak-server");
    let server = server_rt
        .block_on(Server::start(server_config()))
        .expect("server starts");
    let addr = server.local_addr().expect("listening");
    let server_id = server.self_node().id;
    // Let the server's start-up tasks settle before the baseline is taken.
    server_rt.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
    let metrics = server_rt.handle().metrics();
    let tasks_start = metrics.num_alive_tasks();
    let (rss_start, fds_start) = (rss_kib(), open_fds());

    let sessions = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let clients = {
        let (sessions, errors) = (sessions.clone(), errors.clone());
        std::thread::spawn(move || {
            let rt = runtime("soak-clients");
            rt.block_on(churn(addr, server_id, seconds, sessions, errors));
            // Dropping the runtime closes every client socket.
        })
    };
    clients.join().expect("client thread");

    let settled = server_rt.block_on(async {
        let deadline = tokio::time::Instant::now() + QUIESCE_TIMEOUT;
        loop {
            let idle = server.peer_count().await == 0;
            if idle && metrics.num_alive_tasks() <= tasks_start {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    });
    let tasks_end = metrics.num_alive_tasks() as i64 - tasks_start as i64;
    let (rss_end, fds_end) = (rss_kib(), open_fds());
    server_rt.block_on(server.stop());

    let errors = errors.load(Ordering::Relaxed);
    eprintln!(
        "soak: {CLIENTS} clients, {MSGS_PER_SESSION} echoes of {PAYLOAD_LEN} B per session; \
         {errors} failed sessions; server {} within {QUIESCE_TIMEOUT:?}; tasks at start {tasks_start}",
        if settled { "settled" } else { "did NOT settle" }
    );
    println!(
        "bench soak seconds={seconds} sessions={} rss_start_kib={rss_start} rss_end_kib={rss_end} \
         fds_start={fds_start} fds_end={fds_end} tasks_end={tasks_end}",
        sessions.load(Ordering::Relaxed)
    );
}

/// `--seconds N` on the command line, else `SOAK_SECONDS`, else the default.
fn soak_seconds() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse().ok());
    from_args
        .or_else(|| std::env::var(SECONDS_ENV).ok()?.parse().ok())
        .unwrap_or(DEFAULT_SECONDS)
}

/// A runtime with one worker thread of its own.
fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `ech/1`: answers every code 0 with code 1 and the same payload.
fn echo_protocol() -> Protocol {
    Protocol::new("ech", 1, 2, |_peer, mut rw| async move {
        loop {
            let msg = rw.read_msg().await?;
            if msg.code == 0 {
                rw.write_msg(1, msg.payload).await?;
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), ProtocolError>(())
    })
}

fn server_config() -> Config {
    let mut c = Config::with_key(key(u64::MAX));
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.no_dial = true;
    c.max_peers = 256;
    c.max_pending_peers = 64;
    c.name = "soak-server".into();
    c.protocols = vec![echo_protocol()];
    c
}

/// A distinct, valid key per session (fresh ids avoid "already connected"
/// while the server is still tearing down the previous session).
fn key(n: u64) -> SecretKey {
    let mut raw = [0x33u8; 32];
    raw[24..].copy_from_slice(&n.to_be_bytes());
    SecretKey::from_secret_bytes(raw).expect("valid key")
}

/// Runs [`CLIENTS`] client loops until `seconds` have passed.
async fn churn(
    addr: SocketAddr,
    server_id: NodeId,
    seconds: u64,
    sessions: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut loops = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (sessions, errors) = (sessions.clone(), errors.clone());
        loops.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                let session_key = key(client << 32 | n);
                n += 1;
                match tokio::time::timeout(SESSION_TIMEOUT, session(addr, server_id, session_key))
                    .await
                {
                    Ok(Ok(())) => sessions.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(e)) => {
                        eprintln!("soak: session failed: {e}");
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => {
                        eprintln!("soak: session timed out");
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    while let Some(r) = loops.join_next().await {
        r.expect("client loop");
    }
}

/// One session: connect, Hello, echo round trips, Disconnect, wait for EOF.
async fn session(
    addr: SocketAddr,
    server_id: NodeId,
    key: SecretKey,
) -> Result<(), Box<dyn std::error::Error>> {
    let tcp = TcpStream::connect(addr).await?;
    let mut conn = connect(tcp, &key, server_id).await?;
    let hello = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: "soak-client".into(),
        caps: vec![Cap::new("ech", 1)],
        listen_port: 0,
        id: NodeId::from_secret_key(&key),
    };
    exchange_hello(&mut conn, &hello, server_id).await?;
    let payload = devp2p::alloy_rlp::encode(vec![0x5au8; PAYLOAD_LEN - 3].as_slice());
    for _ in 0..MSGS_PER_SESSION {
        conn.send(encode_frame(ECHO_REQ, &payload, true)?).await?;
        loop {
            let frame = conn.next().await.ok_or("closed before the echo")??;
            let (code, raw) = split_frame(&frame)?;
            match code {
                ECHO_RESP => {
                    if decompress(raw)? != payload {
                        return Err("echo differs".into());
                    }
                    break;
                }
                PING_MSG => {
                    conn.send(encode_frame(PONG_MSG, &[0xc0], true)?).await?;
                }
                DISCONNECT_MSG => return Err("server disconnected".into()),
                _ => {}
            }
        }
    }
    let bye: Bytes = encode_frame(DISCONNECT_MSG, &DiscReason::Requested.encode(), true)?;
    conn.send(bye).await?;
    // The server closes its side once it has processed the Disconnect.
    while let Some(Ok(_)) = conn.next().await {}
    Ok(())
}
