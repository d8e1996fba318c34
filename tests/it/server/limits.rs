//! Peer limits: max peers, trusted bypass, inbound share, pending
//! handshakes, dial ratio.

use std::time::Duration;

use devp2p::server::Server;
use devp2p::DiscReason;
use tokio::sync::mpsc;

use crate::support::*;

#[tokio::test]
async fn max_peers_refuses_and_trusted_bypasses() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(101, tx);
    cfg.max_peers = 1;
    let a = Server::start(cfg).await.unwrap();
    // max_peers 1, ratio 3: one dialed slot, one inbound slot.
    let first = raw_peer(102, &a).await.expect("first peer fits");
    wait_peers(&a, 1).await;
    let err = raw_peer(103, &a).await.expect_err("second peer refused");
    assert_eq!(err.disconnect_reason(), DiscReason::TooManyPeers);
    a.add_trusted_peer(id(103)).await.unwrap();
    let trusted = raw_peer(103, &a)
        .await
        .expect("trusted peer bypasses the limit");
    wait_peers(&a, 2).await;
    let infos = a.peers_info().await;
    assert_eq!(infos.iter().filter(|i| i.network.trusted).count(), 1);
    // Already connected: same id again.
    let err = raw_peer(103, &a).await.expect_err("duplicate refused");
    assert_eq!(err.disconnect_reason(), DiscReason::AlreadyConnected);
    drop((first, trusted));
    a.stop().await;
}

#[tokio::test]
async fn inbound_share_is_max_peers_minus_dialed_share() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(111, tx);
    cfg.max_peers = 3; // ratio 3 → 1 dialed slot, 2 inbound slots
    let a = Server::start(cfg).await.unwrap();
    let p1 = raw_peer(112, &a).await.expect("inbound 1");
    let p2 = raw_peer(113, &a).await.expect("inbound 2");
    wait_peers(&a, 2).await;
    let err = raw_peer(114, &a).await.expect_err("inbound 3 refused");
    assert_eq!(err.disconnect_reason(), DiscReason::TooManyPeers);
    // The dialed slot is still free: A can dial out.
    let (b, _rb) = start(115).await;
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&a, 3).await;
    drop((p1, p2));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn pending_handshakes_are_bounded() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(121, tx);
    cfg.max_pending_peers = 2;
    let a = Server::start(cfg).await.unwrap();
    let addr = a.local_addr().unwrap();
    // Two silent connections hold both pending slots.
    let idle1 = tokio::net::TcpStream::connect(addr).await.unwrap();
    let idle2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third handshake is not served while they are pending.
    let blocked = tokio::time::timeout(Duration::from_millis(500), raw_peer(122, &a)).await;
    assert!(blocked.is_err(), "third handshake waits for a slot");
    drop(idle1);
    let ok = tokio::time::timeout(WAIT, raw_peer(122, &a))
        .await
        .expect("slot freed");
    assert!(ok.is_ok());
    drop(idle2);
    a.stop().await;
}

#[tokio::test]
async fn dial_ratio_limits_dialed_peers() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(131, tx);
    cfg.max_peers = 6; // ratio 3 → 2 dialed peers
    let a = Server::start(cfg).await.unwrap();
    let mut others = Vec::new();
    for n in 132..137 {
        others.push(start(n).await.0);
    }
    let nodes: Vec<_> = others.iter().map(node_of).collect();
    a.add_node_source(futures::stream::iter(nodes))
        .await
        .unwrap();
    wait_peer_count(&a, "2 dialed peers", |n| n >= 2).await;
    // Give the scheduler time to (wrongly) dial more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Target 2 dialed peers → at most 2 × 2 dials were started (go-ethereum
    // over-dials to absorb failures and keeps what connects); the fifth
    // candidate is never dialed because no slot is free any more.
    let peers = a.peers().await;
    assert!((2..=4).contains(&peers.len()), "{} peers", peers.len());
    assert!(peers.iter().all(|p| !p.inbound()));
    let mut untouched = 0;
    for s in &others {
        if s.peer_count().await == 0 {
            untouched += 1;
        }
    }
    assert!(
        untouched >= 1,
        "the source is not drained beyond free slots"
    );
    a.stop().await;
    for s in others {
        s.stop().await;
    }
}

#[tokio::test]
async fn net_restrict_applies_to_inbound_and_dials() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(141, tx);
    cfg.net_restrict = Some("10.0.0.0/8".parse().unwrap());
    let a = Server::start(cfg).await.unwrap();
    // Inbound from 127.0.0.1 is closed before any handshake byte.
    let mut tcp = tokio::net::TcpStream::connect(a.local_addr().unwrap())
        .await
        .unwrap();
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "closed at once");
    // Outbound to 127.0.0.1 is never attempted.
    let (b, _rb) = start(142).await;
    a.add_peer(node_of(&b)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.peer_count().await, 0);
    a.stop().await;
    b.stop().await;
}
