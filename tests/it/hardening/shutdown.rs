//! `stop()` with 1,000 connected peers.

use std::sync::Arc;
use std::time::Duration;

use devp2p::server::Server;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::*;

/// Peers connected before `stop()` (the figure).
const PEERS: u32 = 1_000;

/// Client handshakes run at once (keeps the 2-core machine responsive).
const CONNECT_CONCURRENCY: usize = 64;

/// What `stop()` must meet (the target).
const STOP_BOUND: Duration = Duration::from_secs(1);

/// How long each client may wait to see its connection closed after stop.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn stop_with_1000_peers_is_fast_and_closes_every_connection() {
    super::raise_fd_limit();
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(4001, tx);
    // Inbound share is max_peers − max_peers/3 ≥ 1,000.
    cfg.max_peers = 1_600;
    cfg.max_pending_peers = 256;
    let server = Arc::new(Server::start(cfg).await.unwrap());

    let connect_start = Instant::now();
    let conns = connect_raw_peers(&server, 10_000, PEERS, CONNECT_CONCURRENCY).await;
    let connect_time = connect_start.elapsed();

    let t = Instant::now();
    server.stop().await;
    let stop_time = t.elapsed();

    // Every client sees its connection end (a Disconnect, then EOF).
    let mut closers = JoinSet::new();
    for mut c in conns {
        closers.spawn(async move {
            let deadline = Instant::now() + CLOSE_WAIT;
            loop {
                match tokio::time::timeout_at(deadline, c.next()).await {
                    Err(_) => return false,
                    Ok(None) | Ok(Some(Err(_))) => return true,
                    Ok(Some(Ok(_))) => {}
                }
            }
        });
    }
    let mut closed = 0;
    while let Some(r) = closers.join_next().await {
        closed += usize::from(r.expect("closer task"));
    }
    eprintln!(
        "hardening: {PEERS} peers connected in {connect_time:?}; stop() took {stop_time:?}; \
         {closed} connections seen closed"
    );
    assert_eq!(closed, PEERS as usize, "stop closes every connection");
    assert!(stop_time < STOP_BOUND, "stop() took {stop_time:?}");
}
