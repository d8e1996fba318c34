//! Shared helpers: seeded keys, servers on 127.0.0.1:0 running the `tst`
//! protocol, a raw RLPx client for bad-input tests, bounded waits.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::{Node, NodeId};
use devp2p::peer::{Hello, BASE_PROTOCOL_VERSION};
use devp2p::rlpx::{connect, RlpxStream};
use devp2p::server::Server;
use devp2p::MsgReader;
use devp2p::{Cap, PeerEventKind, Protocol, ProtocolError};
use futures::StreamExt;
use secp256k1::SecretKey;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Upper bound for any wait in these tests (a hung test fails, never spins).
pub const WAIT: Duration = Duration::from_secs(20);

/// Deterministic key number `n` (n ≥ 1).
pub fn key(n: u32) -> SecretKey {
    let mut raw = [0x11u8; 32];
    raw[28..].copy_from_slice(&n.to_be_bytes());
    SecretKey::from_secret_bytes(raw).expect("valid key")
}

/// The node id of [`key`]`(n)`.
pub fn id(n: u32) -> NodeId {
    NodeId::from_secret_key(&key(n))
}

/// A message seen by a `tst` protocol instance: (peer, code, payload).
pub type Seen = (NodeId, u64, Bytes);

/// The `tst/1` protocol (2 codes): on start it sends code 0 with `greeting`,
/// then answers every code 0 with code 1 (same payload) and reports every
/// message it reads to `seen` (dropped when the channel is full).
pub fn tst_protocol(greeting: &'static str, seen: mpsc::Sender<Seen>) -> Protocol {
    Protocol::new("tst", 1, 2, move |peer, mut rw| {
        let seen = seen.clone();
        async move {
            devp2p::send(&rw, 0, &greeting).await?;
            loop {
                let msg = rw.read_msg().await?;
                let _ = seen.try_send((peer.id(), msg.code, msg.payload.clone()));
                if msg.code == 0 {
                    use devp2p::MsgWriter;
                    rw.write_msg(1, msg.payload).await?;
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), ProtocolError>(())
        }
    })
}

/// A server config for key `n` listening on 127.0.0.1:0, without discovery,
/// running `tst/1`.
pub fn config(n: u32, seen: mpsc::Sender<Seen>) -> Config {
    let mut c = Config::with_key(key(n));
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.name = format!("test-{n}");
    c.protocols = vec![tst_protocol("hi", seen)];
    c
}

/// Starts a server with [`config`] and a fresh (unread) `seen` channel.
pub async fn start(n: u32) -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel(1024);
    (
        Server::start(config(n, tx)).await.expect("server starts"),
        rx,
    )
}

/// The enode a test dials to reach `server`.
pub fn node_of(server: &Server) -> Node {
    let addr = server.local_addr().expect("listening");
    Node::new(server.self_node().id, addr.ip(), addr.port(), 0)
}

/// Polls `cond` every 10 ms until it holds; panics after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `server` has exactly `n` peers.
pub async fn wait_peers(server: &Server, n: usize) {
    wait_peer_count(server, &format!("{n} peers"), |have| have == n).await;
}

/// Waits until `server`'s peer count satisfies `ok`: re-checks it after each
/// Add or Drop event (subscribed before the first check, so no change is
/// missed); panics naming `what` after [`WAIT`].
pub async fn wait_peer_count(server: &Server, what: &str, ok: impl Fn(usize) -> bool) {
    let mut events = server.subscribe_events();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let have = server.peer_count().await;
        if ok(have) {
            return;
        }
        let change = tokio::time::timeout_at(deadline, async {
            while let Some(ev) = events.next().await {
                if matches!(ev.kind, PeerEventKind::Add | PeerEventKind::Drop) {
                    return true;
                }
            }
            false
        });
        match change.await {
            Ok(true) => {}
            Ok(false) => panic!("server stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what} (have {have} peers)"),
        }
    }
}

/// Our Hello for a raw client with key `n`, offering `caps`.
pub fn hello(n: u32, caps: Vec<Cap>) -> Hello {
    Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: format!("raw-{n}"),
        caps,
        listen_port: 0,
        id: id(n),
    }
}

/// A raw RLPx connection from key `n` to `server` (handshake done, no Hello).
pub async fn raw_connect(n: u32, server: &Server) -> RlpxStream<TcpStream> {
    let tcp = TcpStream::connect(server.local_addr().unwrap())
        .await
        .expect("tcp connect");
    connect(tcp, &key(n), server.self_node().id)
        .await
        .expect("rlpx handshake")
}

/// A raw client that completed Hello with `server`, offering `tst/1`.
/// Returns the connection or the Disconnect reason the server sent.
pub async fn raw_peer(
    n: u32,
    server: &Server,
) -> Result<RlpxStream<TcpStream>, devp2p::peer::PeerError> {
    let mut conn = raw_connect(n, server).await;
    devp2p::peer::exchange_hello(
        &mut conn,
        &hello(n, vec![Cap::new("tst", 1)]),
        server.self_node().id,
    )
    .await?;
    Ok(conn)
}

/// Connects raw peers with keys `first_key..first_key + count` to `server`,
/// at most `concurrency` handshakes at once (keeps a 2-core machine
/// responsive), and waits until the server holds them all. (Used by the
/// hardening and stop-accounting binaries, which share this file.)
#[allow(dead_code)]
pub async fn connect_raw_peers(
    server: &std::sync::Arc<Server>,
    first_key: u32,
    count: u32,
    concurrency: usize,
) -> Vec<RlpxStream<TcpStream>> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut clients = tokio::task::JoinSet::new();
    for n in first_key..first_key + count {
        let (server, gate) = (server.clone(), gate.clone());
        clients.spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            raw_peer(n, &server).await.expect("peer connects")
        });
    }
    let mut conns = Vec::with_capacity(count as usize);
    while let Some(c) = clients.join_next().await {
        conns.push(c.expect("client task"));
    }
    wait_peers(server, count as usize).await;
    conns
}

/// Reads frames until a Disconnect (code 0x01, possibly snappy-compressed)
/// and returns its reason; `None` on close or after [`WAIT`].
pub async fn disconnect_reason(
    conn: &mut devp2p::rlpx::RlpxStream<tokio::net::TcpStream>,
) -> Option<devp2p::DiscReason> {
    let read = async {
        while let Some(Ok(frame)) = conn.next().await {
            if frame.first() == Some(&0x01) {
                let body = &frame[1..];
                let plain = snap::raw::Decoder::new()
                    .decompress_vec(body)
                    .unwrap_or_else(|_| body.to_vec());
                return devp2p::DiscReason::decode(&plain).ok();
            }
        }
        None
    };
    tokio::time::timeout(WAIT, read).await.ok().flatten()
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (as benches/peer.rs
/// does) and asserts it is at least `needed`, so a low default fails with a
/// clear message instead of as a mysterious accept error.
#[allow(dead_code)] // used by the hardening and stop_accounting binaries
pub fn raise_fd_limit(needed: u64) {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    let cur = unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
        // rlim_t is u64 on Linux but not on every target.
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        cur
    };
    assert!(
        cur >= needed,
        "RLIMIT_NOFILE is {cur}, these tests need {needed}"
    );
}
