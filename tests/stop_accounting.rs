//! `Server::stop()` gives everything back: with 1,000 peers connected (and
//! discovery and an on-disk node database running), once `stop()` returns
//! the runtime has exactly the tasks it had before `Server::start`, the
//! process has exactly the file descriptors it had (after the test drops its
//! own client sockets), and the node database file is closed (redb can open
//! it again, which it refuses while another handle holds the file lock).
//! A DNS node list is configured too, its name server a UDP socket that
//! never answers, so a lookup is in flight when `stop()` runs.
//!
//! Its own test binary with a single test, so no other test opens files or
//! spawns tasks in this process while it counts.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use devp2p::server::Server;
#[cfg(feature = "node-db")]
use devp2p_discover::db::NodeDb;
use tokio::sync::mpsc;

use support::*;

/// Peers connected before `stop()` (the hardening issue's figure).
const PEERS: u32 = 1_000;
/// Client handshakes at once (keeps the 2-core machine responsive).
const CONNECT_CONCURRENCY: usize = 64;
/// Open files needed: two per loopback connection plus headroom.
const NEEDED_FDS: u64 = 2 * PEERS as u64 + 500;

/// Open file descriptors of this process (`/proc/self/fd`; the directory
/// handle used for counting is included in every count alike).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

// current_thread: a task is removed from the runtime's count in the same
// step that wakes whoever awaits it, so "back to the start count" can be
// checked exactly, with no settling delay.
#[tokio::test(flavor = "current_thread")]
async fn stop_returns_every_task_fd_and_the_node_database() {
    raise_fd_limit(NEEDED_FDS);
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("nodes.redb");

    // The DNS list's name server: receives queries, never answers.
    let silent_dns = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind udp");
    let list_key = devp2p::secp256k1::SecretKey::from_secret_bytes([5; 32]).expect("key");
    let list_url = devp2p::dnsdisc::TreeUrl::new(
        "stop.example.test",
        devp2p::secp256k1::PublicKey::from_secret_key(&list_key),
    )
    .expect("url");

    let tasks_before = alive_tasks();
    let fds_before = open_fds();

    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(4101, tx);
    cfg.max_peers = 1_600; // inbound share max_peers − max_peers/3 ≥ 1,000
    cfg.max_pending_peers = 256;
    cfg.no_discovery = false;
    cfg.discovery_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    // Dual-stack where the machine has IPv6: the second listener and
    // discovery socket (and discv5's dual-stack tasks) must go too.
    match devp2p_netutil::ipv6_loopback_available() {
        Ok(()) => cfg.listen_addr_v6 = Some((std::net::Ipv6Addr::LOCALHOST, 0).into()),
        Err(e) => eprintln!("SKIPPED the dual-stack part: cannot bind [::1] ({e})"),
    }
    // A database file needs the `node-db` feature (else it lives in memory).
    if cfg!(feature = "node-db") {
        cfg.node_database = Some(db_path.clone());
    }
    // A dial filter puts discv4's record fetching into its feeder task.
    cfg.dial_filter = Some(Arc::new(|_: &devp2p::Candidate| true));
    cfg.dns_lists = vec![list_url];
    cfg.dns_server = Some(silent_dns.local_addr().expect("udp addr"));
    let server = Arc::new(Server::start(cfg).await.expect("server starts"));
    assert!(server.discovery().is_some(), "discovery runs");
    // One more node source (its feeder task must end with the server too).
    server
        .add_named_node_source("never", futures::stream::pending::<devp2p::node::Node>())
        .await
        .expect("source added");
    assert!(
        server.discovery_v5().is_some(),
        "discv5 runs on the same socket"
    );

    let conns = connect_raw_peers(&server, 20_000, PEERS, CONNECT_CONCURRENCY).await;
    // The DNS walk has sent its first query (the root's) by now.
    let mut query = [0u8; 512];
    let (n, _) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        silent_dns.recv_from(&mut query),
    )
    .await
    .expect("a DNS query within 30 s")
    .expect("recv");
    assert!(n > 12, "a DNS query");
    let tasks_running = alive_tasks();
    let fds_running = open_fds();

    server.stop().await;
    let tasks_after = alive_tasks();
    drop(conns);
    drop(server);
    let fds_after = open_fds();
    drop(silent_dns);
    eprintln!(
        "stop accounting: tasks before={tasks_before} with {PEERS} peers={tasks_running} \
         after stop={tasks_after}; fds before={fds_before} with peers={fds_running} \
         after stop={fds_after}"
    );
    assert_eq!(tasks_after, tasks_before, "tasks left after stop()");
    assert_eq!(fds_after, fds_before, "file descriptors left after stop()");
    // redb locks the file while a handle is open: reopening proves the
    // server released it.
    #[cfg(feature = "node-db")]
    {
        let reopened = NodeDb::open(&db_path);
        assert!(reopened.is_ok(), "node database still held: {reopened:?}");
    }
}
