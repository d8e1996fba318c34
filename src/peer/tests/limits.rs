//! Bandwidth caps and inbound message rate limits, on paused time: the
//! assertions are on bytes counted per virtual second, never on speed.

use std::sync::Mutex;

use tokio::time::Instant;

use super::*;
use crate::peer::{
    Bandwidth, BandwidthLimits, PeerBandwidth, RateLimit, ReputationSink, MIN_BURST,
};

/// Runs the Hello exchange over an in-memory pair and spawns both peers with
/// the given bandwidth throttles.
async fn connect_capped(
    protos_a: Vec<Protocol>,
    protos_b: Vec<Protocol>,
    bw_a: PeerBandwidth,
    bw_b: PeerBandwidth,
) -> (Side, Side) {
    let (ca, cb) = mem_pair();
    let ha = hello(1, protos_a.iter().map(Protocol::cap).collect());
    let hb = hello(2, protos_b.iter().map(Protocol::cap).collect());
    let (ra, rb) = tokio::join!(
        HelloDone::exchange(ca, &ha, node_id(2)),
        HelloDone::exchange(cb, &hb, node_id(1))
    );
    let side = |done: HelloDone<MemConn>, protos: &[Protocol], id, inbound, bw| {
        let (tx, rx) = broadcast::channel(4096);
        let mut setup = PeerSetup::new(id, addr(1), addr(9), inbound);
        setup.bandwidth = bw;
        let ready = done.negotiate(protos).map_err(|(r, _)| r).expect("shared");
        let (peer, task) = ready.spawn(setup, tx);
        Side {
            peer,
            task,
            events: rx,
        }
    };
    let a = side(ra.expect("hello a"), &protos_a, node_id(2), false, bw_a);
    let b = side(rb.expect("hello b"), &protos_b, node_id(1), true, bw_b);
    (a, b)
}

/// Incompressible test payload (xorshift; snappy cannot shrink it, so wire
/// bytes ≈ payload bytes).
fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

const MSG_SIZE: usize = 50_000;
const MSGS: usize = 20;
const TOTAL: usize = MSG_SIZE * MSGS;
/// Largest frame: payload plus RLPx/snappy overhead (generous).
const FRAME_MAX: f64 = MSG_SIZE as f64 + 1024.0;
const RATE: u64 = 100_000;

/// Sends MSGS messages of MSG_SIZE random bytes, then stays open.
fn sender(seed: u64) -> Protocol {
    scripted("bulk", move |_peer, rw| async move {
        for i in 0..MSGS {
            rw.write_msg(2, noise(MSG_SIZE, seed + i as u64)).await?;
        }
        std::future::pending().await
    })
}

/// (virtual seconds since `start`, bytes received so far by all receivers
/// sharing `log`).
type Log = Arc<Mutex<Vec<(f64, usize, u8)>>>;

/// Reads MSGS messages, logging the running total shared in `log`.
fn receiver(start: Instant, log: Log, tag: u8) -> Protocol {
    scripted("bulk", move |_peer, mut rw| {
        let log = log.clone();
        async move {
            for _ in 0..MSGS {
                let msg = rw.read_msg().await?;
                let mut log = log.lock().unwrap();
                let total = log.last().map_or(0, |e| e.1) + msg.payload.len();
                log.push((start.elapsed().as_secs_f64(), total, tag));
            }
            std::future::pending().await
        }
    })
}

/// Every logged total is within `rate × t + burst + frames` bytes.
fn assert_under_cap(log: &[(f64, usize, u8)], rate: u64, frames: f64) {
    for &(t, total, _) in log {
        let cap = rate as f64 * t + MIN_BURST as f64 + frames * FRAME_MAX;
        assert!(
            total as f64 <= cap,
            "{total} bytes by {t:.3} s over cap {cap}"
        );
    }
}

fn egress_cap(rate: u64) -> Bandwidth {
    Bandwidth::new(BandwidthLimits {
        per_peer_egress: Some(rate),
        burst: Some(MIN_BURST),
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn capped_peer_gets_its_share_and_uncapped_peer_is_unaffected() {
    let start = Instant::now();
    let capped_log = Log::default();
    let free_log = Log::default();
    // Our side of two connections: one peer capped, one not.
    let bw = egress_cap(RATE);
    let (capped, capped_remote) = connect_capped(
        vec![sender(1)],
        vec![receiver(start, capped_log.clone(), 0)],
        bw.peer(),
        PeerBandwidth::default(),
    )
    .await;
    let (free, free_remote) = connect_capped(
        vec![sender(2)],
        vec![receiver(start, free_log.clone(), 1)],
        PeerBandwidth::default(),
        PeerBandwidth::default(),
    )
    .await;
    let done = |log: &Log| log.lock().unwrap().len() == MSGS;
    while !(done(&capped_log) && done(&free_log)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(start.elapsed() < Duration::from_secs(60), "transfer stuck");
    }
    let capped_log = capped_log.lock().unwrap().clone();
    let free_log = free_log.lock().unwrap().clone();
    // The uncapped peer never waited: its megabyte arrived before the first
    // 10 ms poll, while the capped one needed seconds of virtual time.
    let free_done = free_log.last().unwrap().0;
    let capped_done = capped_log.last().unwrap().0;
    assert!(free_done < 0.011, "uncapped peer finished at {free_done} s");
    assert_eq!(free.peer.stats().throttled_egress, Duration::ZERO);
    // The capped peer stays under its cap at every moment...
    assert_under_cap(&capped_log, RATE, 1.0);
    // ...and gets its share: the whole transfer at about the cap.
    let min_time = (TOTAL as f64 - MIN_BURST as f64 - FRAME_MAX) / RATE as f64;
    assert!(capped_done >= min_time, "{capped_done} < {min_time}");
    let rate = TOTAL as f64 / capped_done;
    assert!(rate >= 0.9 * RATE as f64, "capped peer got {rate} bytes/s");
    assert!(capped.peer.stats().throttled_egress >= Duration::from_secs(5));
    println!(
        "bench bandwidth_egress_cap cap_bytes_per_s={RATE} got_bytes_per_s={rate:.0} uncapped_s={free_done:.3}"
    );
    for side in [capped, capped_remote, free, free_remote] {
        side.peer.disconnect(DiscReason::Quitting);
        let _ = side.task.await;
    }
}

#[tokio::test(start_paused = true)]
async fn global_ingress_cap_is_shared_by_two_peers() {
    let start = Instant::now();
    let log = Log::default();
    // Our side (b) receives from two remotes; both of our peers draw on one
    // global ingress bucket.
    let bw = Bandwidth::new(BandwidthLimits {
        global_ingress: Some(RATE),
        burst: Some(MIN_BURST),
        ..Default::default()
    });
    let mut sides = Vec::new();
    for tag in 0..2u8 {
        let (remote, ours) = connect_capped(
            vec![sender(u64::from(tag) * 100)],
            vec![receiver(start, log.clone(), tag)],
            PeerBandwidth::default(),
            bw.peer(),
        )
        .await;
        sides.push((remote, ours));
    }
    while log.lock().unwrap().len() < 2 * MSGS {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(start.elapsed() < Duration::from_secs(120), "transfer stuck");
    }
    let log = log.lock().unwrap().clone();
    // Both together stay under the one cap (each may overdraw by a frame).
    assert_under_cap(&log, RATE, 2.0);
    let done = log.last().unwrap().0;
    let min_time = (2.0 * TOTAL as f64 - MIN_BURST as f64 - 2.0 * FRAME_MAX) / RATE as f64;
    assert!(done >= min_time, "{done} < {min_time}");
    // Share each peer had when the first of them finished.
    let first_done = log.iter().position(|e| e.1 >= TOTAL).unwrap();
    let a = log[..=first_done].iter().filter(|e| e.2 == 0).count();
    let b = log[..=first_done].iter().filter(|e| e.2 == 1).count();
    // Peers waiting on the shared bucket take turns.
    assert!(
        a >= MSGS / 4 && b >= MSGS / 4,
        "shares {a} and {b} messages"
    );
    println!(
        "bench bandwidth_global_ingress cap_bytes_per_s={RATE} got_bytes_per_s={:.0} msgs_a={a} msgs_b={b}",
        2.0 * TOTAL as f64 / done
    );
    for (remote, ours) in sides {
        for side in [remote, ours] {
            side.peer.disconnect(DiscReason::Quitting);
            let _ = side.task.await;
        }
    }
}

// ------------------------------------------------------------ rate limits

const BUDGET: RateLimit = RateLimit {
    msgs_per_s: 10,
    burst: 5,
};

/// A raw remote (frames written by hand, no snappy) against our peer
/// running `counting` with `BUDGET`; our reputation reports and events are
/// returned too.
fn rate_limited_remote(
    counted: Arc<AtomicUsize>,
) -> (MemConn, Side, tokio::sync::mpsc::Receiver<(NodeId, i32)>) {
    let counting = scripted("echo", move |_peer, mut rw| {
        let counted = counted.clone();
        async move {
            loop {
                rw.read_msg().await?;
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .with_rate_limit(BUDGET);
    let protocols = vec![counting];
    let (ours, theirs) = mem_pair();
    let mut their_hello = hello(2, protocols.iter().map(Protocol::cap).collect());
    their_hello.protocol_version = 4;
    let our_hello = hello(1, protocols.iter().map(Protocol::cap).collect());
    let (tx, events) = broadcast::channel(64);
    let (sink, reports) = ReputationSink::channel();
    let mut setup = PeerSetup::new(node_id(2), addr(1), addr(2), true);
    setup.reputation = sink;
    let (peer, task) = HelloDone::new(ours, &our_hello, their_hello)
        .negotiate(&protocols)
        .map_err(|(r, _)| r)
        .expect("shared protocol")
        .spawn(setup, tx);
    (theirs, Side { peer, task, events }, reports)
}

#[tokio::test(start_paused = true)]
async fn flooding_peer_is_disconnected_and_loses_reputation() {
    let counted = Arc::new(AtomicUsize::new(0));
    let (mut conn, mut ours, mut reports) = rate_limited_remote(counted.clone());
    // Twice the burst, back to back.
    for _ in 0..2 * BUDGET.burst {
        if conn
            .send(frame(BASE_PROTOCOL_LENGTH + 2, &[0xc0]))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        await_disconnect(&mut conn, false).await,
        DiscReason::SubprotocolError
    );
    let exit = ours.task.await.unwrap();
    match &exit.error {
        Some(PeerError::RateLimited { protocol, limit }) => {
            assert_eq!(protocol, "echo/1");
            assert_eq!(*limit, BUDGET);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(exit.reason, DiscReason::SubprotocolError);
    assert_eq!(
        reports.try_recv().unwrap(),
        (node_id(2), crate::peer::RATE_LIMIT_PENALTY)
    );
    // Only the burst was delivered; the Drop event carries reason and error.
    assert_eq!(counted.load(Ordering::Relaxed), BUDGET.burst as usize);
    let drop = loop {
        let ev = ours.events.recv().await.unwrap();
        if ev.kind == PeerEventKind::Drop {
            break ev;
        }
    };
    assert_eq!(drop.reason, Some(DiscReason::SubprotocolError));
    let error = drop.error.unwrap();
    assert!(error.contains("echo/1 rate limit exceeded"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn peer_within_budget_stays_connected() {
    let counted = Arc::new(AtomicUsize::new(0));
    let (mut conn, ours, mut reports) = rate_limited_remote(counted.clone());
    // The full burst at once, then 8 a second (under 10) for 5 s.
    let burst = BUDGET.burst as usize;
    for _ in 0..burst {
        conn.send(frame(BASE_PROTOCOL_LENGTH + 2, &[0xc0]))
            .await
            .unwrap();
    }
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(125)).await;
        conn.send(frame(BASE_PROTOCOL_LENGTH + 2, &[0xc0]))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(counted.load(Ordering::Relaxed), burst + 40);
    assert!(!ours.task.is_finished());
    assert!(reports.try_recv().is_err());
    ours.peer.disconnect(DiscReason::Requested);
    let exit = ours.task.await.unwrap();
    assert_eq!(exit.reason, DiscReason::Requested);
}
