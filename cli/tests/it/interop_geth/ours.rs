//! Our side of the go-ethereum tests: servers with recording test
//! protocols, payloads both sides generate alike, and our CLI node.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::NodeId;
use devp2p::peer::ProtoWriter;
use devp2p::server::Server;
use devp2p::{MsgReader, MsgWriter};
use devp2p::{PeerEvent, PeerEventKind, Protocol};
use futures::{Stream, StreamExt};
use secp256k1::SecretKey;
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio::sync::{mpsc, Notify};

use crate::child_peer::{fixed_key_hex, ChildPeer};

/// How long a test waits for one thing to happen between two local
/// processes (generous: the 2-core machine may be running other tests).
pub const WAIT: Duration = Duration::from_secs(20);

/// Messages the recording protocols hold for the test before their
/// sessions wait (back-pressure on the peer, nothing is dropped).
const RECEIVED_QUEUE: usize = 4096;

/// A message one of our test protocols read.
#[derive(Debug, Clone)]
pub struct Received {
    pub peer: NodeId,
    pub proto: &'static str,
    pub version: u32,
    pub code: u64,
    pub payload: Bytes,
}

/// The writers of our running test-protocol sessions and what they read.
#[derive(Clone)]
pub struct Hub {
    writers: Arc<Mutex<HashMap<(NodeId, &'static str), ProtoWriter>>>,
    /// Woken whenever a session registers its writer: our server adds a
    /// peer (and the test sees it) before the session's `run` has started.
    registered: Arc<Notify>,
    received: mpsc::Sender<Received>,
}

impl Hub {
    pub fn new() -> (Hub, mpsc::Receiver<Received>) {
        let (tx, rx) = mpsc::channel(RECEIVED_QUEUE);
        let hub = Hub {
            writers: Arc::default(),
            registered: Arc::default(),
            received: tx,
        };
        (hub, rx)
    }

    /// A protocol `name/version` with `length` codes that records what it
    /// reads and lets the test write through [`Hub::writer`] (registered when the
    /// session starts).
    pub fn protocol(&self, name: &'static str, version: u32, length: u64) -> Protocol {
        let hub = self.clone();
        Protocol::new(name, version, length, move |peer, mut rw| {
            let hub = hub.clone();
            async move {
                hub.writers
                    .lock()
                    .unwrap()
                    .insert((peer.id(), name), rw.writer());
                hub.registered.notify_waiters();
                loop {
                    let msg = rw.read_msg().await?;
                    let rec = Received {
                        peer: peer.id(),
                        proto: name,
                        version,
                        code: msg.code,
                        payload: msg.payload,
                    };
                    if hub.received.send(rec).await.is_err() {
                        return Ok(());
                    }
                }
            }
        })
    }

    /// The writer of our `proto` session with `peer`, once that session
    /// has started (waits for its registration, bounded by [`WAIT`]).
    pub async fn writer(&self, peer: NodeId, proto: &'static str) -> ProtoWriter {
        let registered = tokio::time::timeout(WAIT, async {
            loop {
                // Armed before the look-up, so a registration between the
                // look-up and the wait is not missed.
                let next = self.registered.notified();
                tokio::pin!(next);
                next.as_mut().enable();
                if let Some(w) = self.writers.lock().unwrap().get(&(peer, proto)) {
                    return w.clone();
                }
                next.await;
            }
        });
        registered
            .await
            .unwrap_or_else(|_| panic!("no {proto} session with {peer} within {WAIT:?}"))
    }

    /// Writes a message through our `proto` session with `peer`.
    pub async fn send(&self, peer: NodeId, proto: &'static str, code: u64, payload: Bytes) {
        self.writer(peer, proto)
            .await
            .write_msg(code, payload)
            .await
            .unwrap_or_else(|e| panic!("write {proto} code {code}: {e}"));
    }
}

/// The next message our protocols read, within [`WAIT`].
pub async fn next_received(rx: &mut mpsc::Receiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no message within {WAIT:?}"))
        .expect("hub open")
}

/// The key of our test node `n` (32 bytes of `n`).
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_secret_bytes([n; 32]).unwrap()
}

/// A config for a server on 127.0.0.1 (port 0) with key `n`, discovery off.
pub fn config(n: u8, protocols: Vec<Protocol>) -> Config {
    let mut c = Config::with_key(key(n));
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.name = format!("devp2p-rs-geth-interop/{n}");
    c.protocols = protocols;
    c
}

pub async fn start(config: Config) -> Server {
    Server::start(config).await.expect("our server starts")
}

/// The next event of `kind` within [`WAIT`].
pub async fn next_event(
    events: &mut (impl Stream<Item = PeerEvent> + Unpin),
    kind: PeerEventKind,
) -> PeerEvent {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if ev.kind == kind {
                return Some(ev);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("event stream ended before a {kind:?} event"),
        Err(_) => panic!("no {kind:?} event within {WAIT:?}"),
    }
}

/// Our `server`'s peer `id`, once our side has added it. go-ethereum may
/// report a connection (even start its protocols) before our server has
/// registered the peer, so this waits on our events, bounded by [`WAIT`].
pub async fn our_peer(server: &Server, id: NodeId) -> devp2p::Peer {
    let mut events = server.subscribe_events();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(p) = server.peers().await.into_iter().find(|p| p.id() == id) {
            return p;
        }
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("our server stopped before adding {id}"),
            Err(_) => panic!("our server did not add {id} within {WAIT:?}"),
        }
    }
}

/// `n` bytes of SHA-256(seed_le64 || i_le64), i = 0, 1, … (the harness's
/// `send` with `size` and `seed` makes the same bytes).
pub fn generated(n: usize, seed: u64) -> Bytes {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        h.update(i.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(n);
    out.into()
}

/// Lower-case hex SHA-256 of `data`, as the harness reports payloads.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Our CLI's `devp2p node` with key `n` and `args`, and its enode URL (its
/// first stdout line). Killed when the returned peer is dropped.
pub async fn our_node(n: u8, args: &[&str]) -> (ChildPeer, String) {
    our_cli_node(&["node"], n, args, "our devp2p node").await
}

/// Our CLI's `devp2p node` with key `n` and `args`: the child, its enode
/// URL and its record (`enr:` text, the second stdout line).
pub async fn our_node_with_enr(n: u8, args: &[&str]) -> (ChildPeer, String, String) {
    let (mut node, enode) = our_cli_node(&["node"], n, args, "our devp2p node").await;
    let enr = node.next_line(WAIT).await;
    assert!(enr.starts_with("enr:"), "second line: {enr}");
    (node, enode, enr)
}

/// Our CLI's `devp2p discv5 listen` on 127.0.0.1 with key `n`, and its
/// record (its first stdout line).
pub async fn our_discv5_listen(n: u8) -> (ChildPeer, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    cmd.args(["discv5", "listen", "--addr", "127.0.0.1:0"])
        .args(["--nodekeyhex", &fixed_key_hex(n)])
        .env("RUST_LOG", "info");
    let mut node = ChildPeer::spawn("our devp2p discv5 listen", cmd, "built by cargo");
    let enr = node.next_line(WAIT).await;
    assert!(enr.starts_with("enr:"), "first line: {enr}");
    (node, enr)
}

/// Our CLI's `devp2p discv4 listen` (a bootnode) on 127.0.0.1 with key `n`,
/// and its enode URL.
pub async fn our_discv4_listen(n: u8) -> (ChildPeer, String) {
    let addr = ["--addr", "127.0.0.1:0"];
    our_cli_node(&["discv4", "listen"], n, &addr, "our devp2p discv4 listen").await
}

/// Runs `devp2p <command> --nodekeyhex <key n> <args>`, whose first stdout
/// line is its enode URL.
async fn our_cli_node(command: &[&str], n: u8, args: &[&str], name: &str) -> (ChildPeer, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    cmd.args(command)
        .args(["--nodekeyhex", &fixed_key_hex(n)])
        .args(args)
        .env("RUST_LOG", "info");
    let mut node = ChildPeer::spawn(name, cmd, "built by cargo");
    let enode = node.next_line(WAIT).await;
    assert!(enode.starts_with("enode://"), "first line: {enode}");
    (node, enode)
}
