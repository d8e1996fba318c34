//! Two connected servers for the peer benches: each on its own
//! single-worker runtime (its own thread), over loopback TCP, with a
//! protocol `bnc/1` whose `run` hands its `ProtoRw` to the bench. Shared by
//! `benches/peer.rs` (rates) and `benches/peer_cost.rs` (costs per message).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::Node;
use devp2p::server::Server;
use devp2p::{MsgReader, MsgWriter, ProtoRw, Protocol};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secp256k1::SecretKey;
use tokio::runtime::Runtime;

/// Messages each `bnc/1` queue holds (both directions): deep enough that the
/// writer batches a burst of small messages, as a busy protocol's would.
pub const BENCH_QUEUE: usize = 256;

/// How long the bench waits for the two servers to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// A deterministic node key (`n` in the last four bytes).
pub fn key(n: u32) -> SecretKey {
    let mut raw = [0x22u8; 32];
    raw[28..].copy_from_slice(&n.to_be_bytes());
    SecretKey::from_secret_bytes(raw).expect("valid key")
}

/// A runtime with one worker thread of its own (so each side of the stream
/// runs on a separate thread).
pub fn multi_thread_one() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `size` random (incompressible) bytes from a fixed seed.
pub fn payload(size: usize) -> Bytes {
    let mut payload = vec![0u8; size];
    StdRng::seed_from_u64(size as u64).fill_bytes(&mut payload);
    Bytes::from(payload)
}

/// A protocol `bnc/1` (2 codes) whose `run` hands its `ProtoRw` to the bench
/// and then waits for the peer to close.
fn handoff_protocol(tx: std_mpsc::Sender<ProtoRw>) -> Protocol {
    let tx = std::sync::Arc::new(std::sync::Mutex::new(tx));
    Protocol::new("bnc", 1, 2, move |peer, rw| {
        let tx = tx.clone();
        async move {
            let _ = tx.lock().unwrap().send(rw);
            peer.closed().await;
            Ok(())
        }
    })
    .with_queues(BENCH_QUEUE, BENCH_QUEUE)
}

/// A server on 127.0.0.1, port 0, without discovery, running `protocol`.
pub fn server_config(n: u32, protocol: Protocol) -> Config {
    let mut c = Config::with_key(key(n));
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.protocols = vec![protocol];
    c
}

/// Two connected servers and their runtimes (kept alive until `stop`).
pub struct Pair {
    pub rt_a: Runtime,
    pub rt_b: Runtime,
    pub a: Server,
    pub b: Server,
}

impl Pair {
    /// Stops both servers (every peer task ends).
    pub fn stop(self) {
        self.rt_a.block_on(self.a.stop());
        self.rt_b.block_on(self.b.stop());
    }
}

/// Starts two servers, connects A to B; returns each side's `ProtoRw`.
pub fn connect_pair() -> (Pair, ProtoRw, ProtoRw) {
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
    let rw_a = rx_a.recv_timeout(CONNECT_WAIT).expect("peer on A");
    let rw_b = rx_b.recv_timeout(CONNECT_WAIT).expect("peer on B");
    (Pair { rt_a, rt_b, a, b }, rw_a, rw_b)
}

/// Streams `count` copies of `payload` from A's protocol to B's (code 0,
/// snappy on); returns the time from the first message's arrival to the
/// last's at B, and the two windows for another round. Sender and receiver
/// run as tasks on their sides' workers, as protocols' `run` futures do.
pub fn stream(
    pair: &Pair,
    rw_a: ProtoRw,
    mut rw_b: ProtoRw,
    payload: Bytes,
    count: usize,
) -> (Duration, ProtoRw, ProtoRw) {
    let sender = pair.rt_a.spawn(async move {
        for _ in 0..count {
            rw_a.write_msg(0, payload.clone()).await.expect("write");
        }
        rw_a
    });
    let receiver = pair.rt_b.spawn(async move {
        let first = rw_b.read_msg().await.expect("read");
        let start = first.received_at;
        let mut last = start;
        for _ in 1..count {
            last = rw_b.read_msg().await.expect("read").received_at;
        }
        (last - start, rw_b)
    });
    let (elapsed, rw_b) = pair.rt_b.block_on(receiver).expect("receiver");
    let rw_a = pair.rt_a.block_on(sender).expect("sender");
    (elapsed, rw_a, rw_b)
}

/// Payload of a [`round_trips`] request and of its answer, in bytes (the
/// round trip's index as a big-endian `u64`).
pub const RTT_PAYLOAD_BYTES: usize = std::mem::size_of::<u64>();
/// Frame crypto sides per round trip: two messages, each encoded by its
/// sender and decoded by its receiver.
pub const RTT_FRAME_SIDES: usize = 4;

/// `count` request/response round trips on `bnc/1`: A's protocol sends code
/// 0 with an 8-byte payload and waits for B's protocol to answer code 1
/// with the same payload. Both run as tasks on their sides' workers, as
/// protocols' `run` futures do. Returns each round trip's time and the two
/// windows for another round.
pub fn round_trips(
    pair: &Pair,
    mut rw_a: ProtoRw,
    mut rw_b: ProtoRw,
    count: usize,
) -> (Vec<Duration>, ProtoRw, ProtoRw) {
    let echo = pair.rt_b.spawn(async move {
        for _ in 0..count {
            let msg = rw_b.read_msg().await.expect("echo read");
            rw_b.write_msg(1, msg.payload).await.expect("echo write");
        }
        rw_b
    });
    let client = pair.rt_a.spawn(async move {
        let mut samples = Vec::with_capacity(count);
        for i in 0..count as u64 {
            let start = std::time::Instant::now();
            rw_a.write_msg(0, Bytes::copy_from_slice(&i.to_be_bytes()))
                .await
                .expect("write");
            let reply = rw_a.read_msg().await.expect("read");
            samples.push(start.elapsed());
            assert_eq!(reply.code, 1, "answer code");
        }
        (samples, rw_a)
    });
    let (samples, rw_a) = pair.rt_a.block_on(client).expect("rtt client");
    let rw_b = pair.rt_b.block_on(echo).expect("rtt echo");
    (samples, rw_a, rw_b)
}
