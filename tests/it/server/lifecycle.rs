//! Static redial and graceful stop.

use std::time::Duration;

use devp2p::server::Server;
use devp2p::{DiscReason, PeerEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::support::*;

#[tokio::test]
async fn static_node_redialed_after_drop() {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(201, tx);
    cfg.dial_history_expiration = Duration::from_millis(200);
    let a = Server::start(cfg).await.unwrap();
    let (b, _rb) = start(202).await;
    let mut events = a.subscribe_events();
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&a, 1).await;
    // B drops A: A re-dials it once the dial history entry expires.
    b.peers().await[0].disconnect(DiscReason::Requested);
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let ev = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.peer, id(202));
        kinds.push(ev.kind);
    }
    assert_eq!(
        kinds,
        vec![PeerEventKind::Add, PeerEventKind::Drop, PeerEventKind::Add]
    );
    wait_peers(&b, 1).await;

    // Removing the static node disconnects it and stops the redials.
    a.remove_peer(id(202)).await.unwrap();
    wait_peers(&a, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.peer_count().await, 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn stop_with_100_peers_ends_every_task() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(301, tx);
    cfg.max_peers = 200;
    cfg.max_pending_peers = 200;
    let a = Server::start(cfg).await.unwrap();
    let mut conns = Vec::new();
    for n in 0..100u32 {
        conns.push(raw_peer(1000 + n, &a).await.expect("peer connects"));
    }
    wait_peers(&a, 100).await;
    assert!(metrics.num_alive_tasks() > baseline + 100);
    let addr = a.local_addr().unwrap();

    let started = std::time::Instant::now();
    a.stop().await;
    let took = started.elapsed();
    // Liveness bound, not a speed claim: far under STOP_PEER_TIMEOUT means
    // no peer had to be aborted.
    assert!(
        took < devp2p::server::STOP_PEER_TIMEOUT,
        "stop took {took:?}"
    );

    // Every task ended (give aborted tasks a tick to be reaped).
    wait_until("all tasks to end", || async {
        metrics.num_alive_tasks() <= baseline
    })
    .await;
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // Every peer was told DiscQuitting.
    let mut quitting = 0;
    for conn in &mut conns {
        let reason = disconnect_reason(conn).await;
        if reason == Some(DiscReason::Quitting) {
            quitting += 1;
        }
    }
    assert_eq!(quitting, 100);
    // Handles still work after stop, reporting the stopped state.
    assert_eq!(a.peer_count().await, 0);
    assert!(a.add_peer(node_of_id(1)).await.is_err());
    a.stop().await; // idempotent
}

fn node_of_id(n: u32) -> devp2p::node::Node {
    devp2p::node::Node::new(id(n), "127.0.0.1".parse().unwrap(), 1, 0)
}

#[tokio::test]
async fn dropping_every_handle_stops_the_server() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let (a, _ra) = start(401).await;
    let addr = a.local_addr().unwrap();
    drop(a);
    wait_until("server task to end", || async {
        metrics.num_alive_tasks() <= baseline
    })
    .await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Two nodes adding each other as static peers at the same moment dial each
/// other; the tie-break keeps exactly one connection (the one dialed by the
/// smaller id) instead of refusing both and waiting out the dial history.
#[tokio::test]
async fn crossed_dials_keep_one_connection() {
    // Several pairs, so at least some dials really cross on a busy machine.
    for pair in 0..4u32 {
        let (na, nb) = (601 + 2 * pair, 602 + 2 * pair);
        let (a, _ra) = start(na).await;
        let (b, _rb) = start(nb).await;
        let (ra, rb) = tokio::join!(a.add_peer(node_of(&b)), b.add_peer(node_of(&a)));
        ra.unwrap();
        rb.unwrap();
        wait_peers(&a, 1).await;
        wait_peers(&b, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (pa, pb) = (a.peers().await, b.peers().await);
        assert_eq!((pa.len(), pb.len()), (1, 1), "pair {pair}: one connection");
        // Whichever connection survived, both sides agree on its direction.
        assert_ne!(pa[0].inbound(), pb[0].inbound(), "pair {pair}");
        a.stop().await;
        b.stop().await;
    }
}

/// A server without protocols keeps peers on the base protocol alone, as
/// go-ethereum's does (useful for crawlers and bootnodes with RLPx).
#[tokio::test]
async fn server_without_protocols_keeps_peers() {
    let (tx, _seen) = mpsc::channel(1);
    let mut ca = config(701, tx.clone());
    ca.protocols.clear();
    let mut cb = config(702, tx);
    cb.protocols.clear();
    let a = Server::start(ca).await.unwrap();
    let b = Server::start(cb).await.unwrap();
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&a, 1).await;
    wait_peers(&b, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a.peer_count().await, 1);
    assert!(a.peers().await[0].running_caps().is_empty());
    a.stop().await;
    b.stop().await;
}
