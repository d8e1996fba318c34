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

#[tokio::test]
async fn explicit_inbound_limit_overrides_the_ratio_and_trusted_bypass_it() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(141, tx);
    cfg.max_peers = 50; // would give 34 inbound slots; the explicit limits win
    cfg.max_inbound = Some(1);
    cfg.max_outbound = Some(1);
    let a = Server::start(cfg).await.unwrap();
    let p1 = raw_peer(142, &a).await.expect("inbound 1 fits");
    wait_peers(&a, 1).await;
    // The one outbound slot is free.
    let (b, _rb) = start(144).await;
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&a, 2).await;
    let err = raw_peer(143, &a).await.expect_err("inbound 2 refused");
    assert_eq!(err.disconnect_reason(), DiscReason::TooManyPeers);
    a.add_trusted_peer(id(143)).await.unwrap();
    let trusted = raw_peer(143, &a)
        .await
        .expect("trusted bypasses max_inbound and the total");
    wait_peers(&a, 3).await;
    let outbound = a.peers().await.iter().filter(|p| !p.inbound()).count();
    assert_eq!(outbound, 1);
    drop((p1, trusted));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn pending_inbound_limit_is_separate_from_max_pending_peers() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(151, tx);
    cfg.max_pending_peers = 50;
    cfg.max_pending_inbound = Some(1);
    let a = Server::start(cfg).await.unwrap();
    let addr = a.local_addr().unwrap();
    // One silent connection holds the only inbound handshake slot.
    let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let blocked = tokio::time::timeout(Duration::from_millis(500), raw_peer(152, &a)).await;
    assert!(blocked.is_err(), "second handshake waits for the slot");
    drop(idle);
    let ok = tokio::time::timeout(WAIT, raw_peer(152, &a))
        .await
        .expect("slot freed");
    assert!(ok.is_ok());
    a.stop().await;
}

/// The value of one metric line in `server`'s Prometheus text.
fn metric(server: &Server, line: &str) -> Option<u64> {
    let body = server.metrics().render();
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_refused_dial_backs_off_high_and_is_counted_by_kind() {
    let (tx, _seen) = mpsc::channel(1024);
    let a = Server::start(config(161, tx)).await.unwrap();
    // A loopback port nobody listens on (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = devp2p::node::Node::new(id(162), closed.ip(), closed.port(), 0);
    a.add_node_source(futures::stream::iter([target]))
        .await
        .unwrap();
    let refused = "p2p_dial_failures_total{failure=\"connect_refused\"}";
    wait_until("a refused dial", || async {
        metric(&a, refused) == Some(1)
    })
    .await;
    let high = "p2p_dial_backoffs_total{kind=\"high\"}";
    wait_until("a high back-off", || async { metric(&a, high) == Some(1) }).await;
    a.stop().await;
}

#[tokio::test]
async fn disconnects_are_counted_by_side_and_drop_events_carry_the_reason() {
    let (a, _ra) = start(171).await;
    let (b, _rb) = start(172).await;
    let mut events = a.subscribe_events();
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&b, 1).await;
    b.peers().await[0].disconnect(DiscReason::Requested);
    let drop_ev = loop {
        let ev = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut events))
            .await
            .expect("a drop event")
            .expect("server running");
        if ev.kind == devp2p::PeerEventKind::Drop {
            break ev;
        }
    };
    assert_eq!(drop_ev.reason, Some(DiscReason::Requested));
    assert_eq!(drop_ev.remote_requested, Some(true));
    let theirs = "p2p_disconnects_total{direction=\"theirs\",reason=\"requested\"}";
    wait_until("a counted", || async { metric(&a, theirs) == Some(1) }).await;
    let ours = "p2p_disconnects_total{direction=\"ours\",reason=\"requested\"}";
    wait_until("b counted", || async { metric(&b, ours) == Some(1) }).await;
    a.stop().await;
    b.stop().await;
}
