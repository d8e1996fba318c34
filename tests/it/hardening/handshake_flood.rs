//! Handshake flood: 1,000 concurrent TCP connections that send nothing or
//! half an auth packet.
//!
//! Semantics verified (same as go-ethereum's listen loop): the server runs at
//! most `max_pending_peers` inbound handshakes at once; further connections
//! wait in the kernel's accept queue (FIFO) and are not read from. Each
//! stalled handshake is closed by the RLPx handshake timeout (5 s), which
//! frees its slot, so stalled connections drain in waves of
//! `max_pending_peers` every 5 s. A well-behaved peer that arrives during
//! the flood is therefore delayed by at most ⌈flood / max_pending⌉ timeouts,
//! never locked out: it retries (each attempt bounded by its own 5 s
//! handshake timeout) and gets in once the stalled connections queued
//! ahead of it have timed out (the attacker never closes anything itself).
//! The listener's accept backlog (`LISTEN_BACKLOG`) must hold the whole
//! burst: with the former 128 the kernel dropped SYNs and most of the flood
//! (and the good peer) waited for SYN retransmits instead.

use std::time::Duration;

use devp2p::rlpx::HANDSHAKE_TIMEOUT;
use devp2p::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::*;

/// Connections in the flood (the figure).
const FLOOD: usize = 1_000;

/// `max_pending_peers` for this test: small enough that the limit is
/// visible, large enough that the flood drains in 4 waves (~20 s), which
/// keeps the test inside its time budget.
const MAX_PENDING: usize = 250;

/// Bound on how long any one flood connection may stay open: every wave
/// takes one handshake timeout, plus 10 s of slack for a loaded machine.
fn drain_bound() -> Duration {
    HANDSHAKE_TIMEOUT * FLOOD.div_ceil(MAX_PENDING) as u32 + Duration::from_secs(10)
}

/// Good-peer attempts (each bounded by the 5 s handshake timeout).
const GOOD_ATTEMPTS: usize = 10;

/// One flood connection: connects, sends nothing (even `i`) or half of an
/// EIP-8 auth packet (odd `i`), then waits for the server to close it.
/// Returns when it was closed, relative to `t0`, or `None` if it was not
/// closed within `drain_bound()` (or never connected).
async fn flood_conn(addr: std::net::SocketAddr, i: usize, t0: Instant) -> Option<Duration> {
    let deadline = t0 + drain_bound();
    let mut tcp = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    if i % 2 == 1 {
        // Size prefix announcing 400 bytes, then only 200 of them.
        let mut half = vec![0x01, 0x90];
        half.extend(std::iter::repeat_n(0x5a, 200));
        tcp.write_all(&half).await.ok()?;
    }
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => {} // the server never answers garbage; keep reading
        }
    }
}

#[tokio::test]
async fn handshake_flood_is_bounded_and_a_good_peer_gets_in() {
    super::raise_fd_limit();
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(3001, tx);
    cfg.max_pending_peers = MAX_PENDING;
    let server = Server::start(cfg).await.unwrap();
    let addr = server.local_addr().unwrap();

    let t0 = Instant::now();
    let mut flood = JoinSet::new();
    for i in 0..FLOOD {
        flood.spawn(flood_conn(addr, i, t0));
    }
    // Let the flood fill the pending slots and the accept queue.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The good peer retries until it gets in.
    let good_start = Instant::now();
    let mut good = None;
    for _ in 0..GOOD_ATTEMPTS {
        let Ok(tcp) = TcpStream::connect(addr).await else {
            continue;
        };
        if let Ok(mut conn) = devp2p::rlpx::connect(tcp, &key(3002), server.self_node().id).await {
            let hello = hello(3002, vec![devp2p::Cap::new("tst", 1)]);
            if devp2p::peer::exchange_hello(&mut conn, &hello, server.self_node().id)
                .await
                .is_ok()
            {
                good = Some((conn, good_start.elapsed()));
                break;
            }
        }
    }
    let (good_conn, good_after) = good.expect("the good peer gets in during the flood");

    let mut closed_at = Vec::with_capacity(FLOOD);
    let mut never_closed = 0;
    while let Some(r) = flood.join_next().await {
        match r.expect("flood task") {
            Some(t) => closed_at.push(t),
            None => never_closed += 1,
        }
    }
    closed_at.sort();
    let last = closed_at.last().copied().unwrap_or_default();
    let early = closed_at
        .iter()
        .filter(|t| **t < HANDSHAKE_TIMEOUT - Duration::from_millis(500))
        .count();
    let first_wave_window = HANDSHAKE_TIMEOUT + HANDSHAKE_TIMEOUT / 2;
    let first_wave = closed_at.iter().filter(|t| **t < first_wave_window).count();
    eprintln!(
        "hardening: flood of {FLOOD}, max_pending {MAX_PENDING}: first close {:?}, \
         {first_wave} closed before {first_wave_window:?}, last close {last:?}, \
         good peer in after {good_after:?}",
        closed_at.first()
    );
    assert_eq!(
        never_closed,
        0,
        "every stalled handshake is closed within {:?}",
        drain_bound()
    );
    assert_eq!(early, 0, "nothing closed before the handshake timeout");
    assert!(first_wave >= 1, "the first wave times out after ~5 s");
    assert!(
        first_wave <= MAX_PENDING,
        "at most max_pending handshakes ran at once ({first_wave} > {MAX_PENDING})"
    );
    assert!(
        good_after < drain_bound(),
        "the good peer gets in once the stalled handshakes ahead of it time out ({good_after:?})"
    );
    // The good peer is a real peer.
    wait_peers(&server, 1).await;
    drop(good_conn);
    server.stop().await;
}
