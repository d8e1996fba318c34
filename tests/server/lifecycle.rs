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
