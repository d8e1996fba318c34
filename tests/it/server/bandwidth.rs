//! Bandwidth caps and protocol rate limits through real servers on
//! 127.0.0.1. Assertions bound the bytes counted per elapsed second from
//! above (a slow machine only makes them truer); nothing asserts a speed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use devp2p::{
    BandwidthLimits, DiscReason, MsgReader, MsgWriter, PeerEventKind, Protocol, RateLimit,
    ReputationChange, Server,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::support::*;

/// A protocol that sends `msgs` messages of `size` bytes, then idles.
fn bulk_sender(msgs: usize, size: usize) -> Protocol {
    Protocol::new("bulk", 1, 1, move |_peer, rw| async move {
        // Pseudo-random bytes (xorshift) so snappy cannot shrink them: the
        // cap counts wire bytes.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let payload: Bytes = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for _ in 0..msgs {
            rw.write_msg(0, payload.clone()).await?;
        }
        std::future::pending().await
    })
}

type Log = Arc<Mutex<Vec<(f64, usize)>>>;

/// A protocol that logs (seconds since `t0`, payload bytes so far).
fn bulk_receiver(t0: Instant, log: Log) -> Protocol {
    Protocol::new("bulk", 1, 1, move |_peer, mut rw| {
        let log = log.clone();
        async move {
            let mut total = 0;
            loop {
                total += rw.read_msg().await?.payload.len();
                log.lock()
                    .unwrap()
                    .push((t0.elapsed().as_secs_f64(), total));
            }
        }
    })
}

#[tokio::test]
async fn ingress_cap_holds_over_tcp() {
    const RATE: u64 = 500_000;
    const BURST: u64 = 64 * 1024;
    const MSGS: usize = 40;
    const SIZE: usize = 50_000;
    let (tx, _seen) = mpsc::channel(16);
    let log = Log::default();
    let t0 = Instant::now();
    let mut ca = config(60, tx.clone());
    ca.protocols = vec![bulk_receiver(t0, log.clone())];
    ca.bandwidth = BandwidthLimits {
        per_peer_ingress: Some(RATE),
        burst: Some(BURST),
        ..Default::default()
    };
    let mut cb = config(61, tx);
    cb.protocols = vec![bulk_sender(MSGS, SIZE)];
    let a = Server::start(ca).await.unwrap();
    let b = Server::start(cb).await.unwrap();
    b.add_peer(node_of(&a)).await.unwrap();
    wait_until("all bulk messages", || {
        let n = log.lock().unwrap().len();
        async move { n == MSGS }
    })
    .await;
    // Every moment: at most rate × t + burst + one frame (payload plus
    // generous framing overhead).
    for &(t, total) in log.lock().unwrap().iter() {
        let cap = RATE as f64 * t + BURST as f64 + SIZE as f64 + 1024.0;
        assert!(
            total as f64 <= cap,
            "{total} bytes after {t:.3} s, cap {cap}"
        );
    }
    let peers = a.peers().await;
    assert!(peers[0].stats().throttled_ingress > std::time::Duration::ZERO);
    let metrics = a.metrics().render();
    assert!(
        !metrics.contains("p2p_bandwidth_throttled_seconds_total{direction=\"ingress\"} 0.0"),
        "{metrics}"
    );
    let (t, total) = *log.lock().unwrap().last().unwrap();
    println!(
        "bench bandwidth_ingress_tcp cap_bytes_per_s={RATE} got_bytes_per_s={:.0} s={t:.2}",
        total as f64 / t
    );
    a.stop().await;
    b.stop().await;
}

/// `flood/1` allows 10 messages a second (burst 5); the remote sends 50 at
/// once: it is dropped with `SubprotocolError` and its score falls by
/// `RATE_LIMIT_PENALTY`.
#[tokio::test]
async fn flooding_peer_is_dropped_and_loses_reputation() {
    let limit = RateLimit {
        msgs_per_s: 10,
        burst: 5,
    };
    let reader = Protocol::new("flood", 1, 1, |_peer, mut rw| async move {
        loop {
            rw.read_msg().await?;
        }
    })
    .with_rate_limit(limit);
    let (tx, _seen) = mpsc::channel(16);
    let mut ca = config(62, tx.clone());
    ca.protocols = vec![reader];
    let mut cb = config(63, tx);
    cb.protocols = vec![Protocol::new("flood", 1, 1, |_peer, rw| async move {
        for _ in 0..50 {
            devp2p::send(&rw, 0, &"spam").await?;
        }
        std::future::pending().await
    })];
    let a = Server::start(ca).await.unwrap();
    let b = Server::start(cb).await.unwrap();
    let mut events = a.subscribe_events();
    b.add_peer(node_of(&a)).await.unwrap();
    let dropped = tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.next().await.unwrap();
            if ev.kind == PeerEventKind::Drop {
                break ev;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(dropped.peer, id(63));
    assert_eq!(dropped.reason, Some(DiscReason::SubprotocolError));
    let error = dropped.error.unwrap();
    assert!(error.contains("flood/1 rate limit exceeded"), "{error}");
    // The report is applied by the server task; a zero adjustment reads
    // the score once it has been.
    wait_until("reputation lowered", || {
        let a = &a;
        async move {
            a.adjust_reputation(id(63), 0).await.unwrap()
                == ReputationChange::Score(devp2p::peer::RATE_LIMIT_PENALTY)
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// Slot churn with short timings: A's two inbound slots are full; B is
/// protected by the application's hook, so C is the one dropped, with
/// `UselessPeer` as go-ethereum's dropper sends.
#[tokio::test]
async fn slot_churn_drops_an_unprotected_peer_when_slots_are_full() {
    let (tx, _seen) = mpsc::channel(64);
    let mut ca = config(64, tx.clone());
    ca.max_inbound = Some(2);
    ca.max_outbound = Some(0);
    ca.churn = true;
    ca.churn_timing = devp2p::server::ChurnTiming {
        interval_min: std::time::Duration::from_millis(50),
        interval_max: std::time::Duration::from_millis(100),
        min_age: std::time::Duration::ZERO,
    };
    let protected = id(65);
    ca.churn_protect = Some(Arc::new(move |p: &devp2p::Peer| p.id() == protected));
    let a = Server::start(ca).await.unwrap();
    let b = Server::start(config(65, tx.clone())).await.unwrap();
    let c = Server::start(config(66, tx)).await.unwrap();
    let mut events = a.subscribe_events();
    b.add_peer(node_of(&a)).await.unwrap();
    c.add_peer(node_of(&a)).await.unwrap();
    let dropped = tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.next().await.unwrap();
            if ev.kind == PeerEventKind::Drop {
                break ev;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(dropped.peer, id(66));
    assert_eq!(dropped.reason, Some(DiscReason::UselessPeer));
    assert_eq!(dropped.remote_requested, Some(false));
    let ids: Vec<_> = a.peers().await.iter().map(|p| p.id()).collect();
    assert_eq!(ids, vec![id(65)]);
    let metrics = a.metrics().render();
    assert!(
        metrics.contains("p2p_churn_drops_total{direction=\"inbound\"} 1"),
        "{metrics}"
    );
    for s in [a, b, c] {
        s.stop().await;
    }
}
