//! Unit tests of the demo protocol over in-memory message pipes.

use std::time::Duration;

use proptest::prelude::*;
use secp256k1::SecretKey;
use tokio::task::JoinHandle;

use super::*;
use devp2p::node::rlp_item::list_of_raw;
use devp2p::MsgPipe;

/// Time limit for every wait in these tests (paused clock: virtual time).
const WAIT: Duration = Duration::from_secs(30);

fn node_id(seed: u8) -> NodeId {
    let key = SecretKey::from_secret_bytes([seed; 32]).expect("valid test key");
    NodeId::from_secret_key(&key)
}

fn demo(seed: u8) -> Demo {
    Demo::new(DemoConfig::new(node_id(seed)))
}

type Session = JoinHandle<Result<(), ProtocolError>>;

/// Connects two demo services with two pipes (one per direction, so each
/// side can write while it reads).
fn connect(a: &Demo, b: &Demo) -> (Session, Session) {
    let (a_in, b_out) = MsgPipe::pair();
    let (b_in, a_out) = MsgPipe::pair();
    let (a2, b2) = (a.clone(), b.clone());
    let (a_id, b_id) = (a.local_id(), b.local_id());
    let sa = tokio::spawn(async move { a2.run_session(b_id, a_in, a_out).await });
    let sb = tokio::spawn(async move { b2.run_session(a_id, b_in, b_out).await });
    (sa, sb)
}

/// Waits until `cond` holds for `demo`'s stats (bounded in virtual time).
async fn wait_stats(demo: &Demo, cond: impl Fn(&DemoStats) -> bool) -> DemoStats {
    tokio::time::timeout(WAIT, async {
        loop {
            let stats = demo.stats().await.expect("running");
            if cond(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition reached in time")
}

#[tokio::test(start_paused = true)]
async fn gossip_reaches_peer_once() {
    let (a, b) = (demo(1), demo(2));
    let _sessions = connect(&a, &b);
    wait_stats(&a, |s| s.peers == 1).await;
    wait_stats(&b, |s| s.peers == 1).await;
    let mut sub = b.subscribe();
    let sent = a.broadcast("hello").await.unwrap();
    let got = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.gossip, sent);
    assert_eq!(got.from, a.local_id());
    let sb = wait_stats(&b, |s| s.delivered == 1).await;
    assert_eq!(sb.delivered_by_origin.get(&a.local_id()), Some(&1));
    assert_eq!(a.stats().await.unwrap().originated, 1);
    // A does not deliver its own message.
    assert_eq!(a.stats().await.unwrap().delivered, 0);
}

#[tokio::test(start_paused = true)]
async fn triangle_relays_without_loops() {
    let (a, b, c) = (demo(1), demo(2), demo(3));
    let _ab = connect(&a, &b);
    let _bc = connect(&b, &c);
    let _ca = connect(&c, &a);
    for d in [&a, &b, &c] {
        wait_stats(d, |s| s.peers == 2).await;
    }
    a.broadcast("round").await.unwrap();
    let sb = wait_stats(&b, |s| s.delivered == 1).await;
    let sc = wait_stats(&c, |s| s.delivered == 1).await;
    assert_eq!(sb.delivered_by_origin.get(&a.local_id()), Some(&1));
    assert_eq!(sc.delivered_by_origin.get(&a.local_id()), Some(&1));
    // B and C relay to each other and back to A: duplicates, dropped.
    let total_dups = || async {
        let mut n = 0;
        for d in [&a, &b, &c] {
            n += d.stats().await.unwrap().duplicates;
        }
        n
    };
    tokio::time::timeout(WAIT, async {
        while total_dups().await < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    // Let everything settle; nothing keeps circulating.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = total_dups().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(total_dups().await, settled);
    assert!(settled <= 3, "each relay seen at most once more: {settled}");
    assert_eq!(b.stats().await.unwrap().delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn chain_relays_to_far_node() {
    let (a, b, c) = (demo(1), demo(2), demo(3));
    let _ab = connect(&a, &b);
    let _bc = connect(&b, &c);
    wait_stats(&b, |s| s.peers == 2).await;
    a.broadcast("far").await.unwrap();
    let sc = wait_stats(&c, |s| s.delivered == 1).await;
    assert_eq!(sc.delivered_by_origin.get(&a.local_id()), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn late_peer_gets_recent_messages() {
    let (a, b) = (demo(1), demo(2));
    a.broadcast("before you came").await.unwrap();
    let _s = connect(&a, &b);
    let sb = wait_stats(&b, |s| s.delivered == 1).await;
    assert_eq!(sb.delivered_by_origin.get(&a.local_id()), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn network_mismatch_disconnects() {
    let a = demo(1);
    let mut cfg = DemoConfig::new(node_id(2));
    cfg.network_id = DEFAULT_NETWORK_ID + 1;
    let b = Demo::new(cfg);
    let (sa, sb) = connect(&a, &b);
    let ra = tokio::time::timeout(WAIT, sa).await.unwrap().unwrap();
    assert!(matches!(
        ra,
        Err(ProtocolError::Disconnect(DiscReason::UselessPeer))
    ));
    sb.abort();
    assert_eq!(a.stats().await.unwrap().peers, 0);
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out() {
    let a = demo(1);
    let (a_in, _b_out) = MsgPipe::pair();
    let (_b_in, a_out) = MsgPipe::pair();
    // Nobody reads our status: the exchange times out.
    let r = a.run_session(node_id(2), a_in, a_out).await;
    assert!(matches!(
        r,
        Err(ProtocolError::Disconnect(DiscReason::ReadTimeout))
    ));
}

#[tokio::test(start_paused = true)]
async fn pings_are_answered_and_tracked() {
    let (a, b) = (demo(1), demo(2));
    let _s = connect(&a, &b);
    let sa = wait_stats(&a, |s| s.pongs_received >= 1 && s.pings_answered >= 1).await;
    assert!(sa.last_rtt.is_some());
    assert_eq!(sa.ping_timeouts, 0);
}

#[tokio::test(start_paused = true)]
async fn bad_gossip_is_a_breach() {
    let a = demo(1);
    let (a_in, b_out) = MsgPipe::pair();
    let (mut b_in, a_out) = MsgPipe::pair();
    let a2 = a.clone();
    let session = tokio::spawn(async move { a2.run_session(node_id(2), a_in, a_out).await });
    let status = Status {
        version: 1,
        network_id: DEFAULT_NETWORK_ID,
        name: "test".into(),
    };
    let (sent, got) = tokio::join!(send(&b_out, STATUS_MSG, &status), b_in.read_msg());
    sent.unwrap();
    assert_eq!(got.unwrap().code, STATUS_MSG);
    // Gossip with a 3-byte origin.
    let bad = list_of_raw(&[
        &alloy_rlp::encode([1u8, 2, 3]),
        &alloy_rlp::encode(0u64),
        &alloy_rlp::encode("x"),
    ]);
    b_out.write_msg(GOSSIP_MSG, Bytes::from(bad)).await.unwrap();
    let r = tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
    assert!(matches!(r, Err(ProtocolError::Breach(_))), "{r:?}");
}

#[tokio::test]
async fn shutdown_ends_sessions() {
    let (a, b) = (demo(1), demo(2));
    let (sa, _sb) = connect(&a, &b);
    wait_stats(&a, |s| s.peers == 1).await;
    a.shutdown().await;
    let r = tokio::time::timeout(WAIT, sa).await.unwrap().unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(a.broadcast("x").await, Err(DemoError::Stopped));
}

#[test]
fn gossip_round_trip_and_limits() {
    let g = Gossip {
        origin: node_id(9),
        seq: 7,
        text: "héllo".into(),
    };
    assert_eq!(Gossip::decode(&g.encode()).unwrap(), g);
    let long = Gossip {
        text: "x".repeat(MAX_TEXT_LEN + 1),
        ..g.clone()
    };
    assert!(matches!(
        Gossip::decode(&long.encode()),
        Err(DemoError::TooLong { .. })
    ));
    let st = Status {
        version: 1,
        network_id: 5,
        name: "n".into(),
    };
    assert_eq!(Status::decode(&alloy_rlp::encode(&st)).unwrap(), st);
    assert!(Status::decode(&[0xc0]).is_err());
}

#[test]
fn seen_set_is_bounded_fifo() {
    let mut seen = SeenSet::default();
    for i in 0..(SEEN_CAPACITY as u32 + 10) {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&i.to_be_bytes());
        assert!(seen.insert(h));
    }
    assert_eq!(seen.set.len(), SEEN_CAPACITY);
    assert_eq!(seen.order.len(), SEEN_CAPACITY);
    let mut newest = [0u8; 32];
    newest[..4].copy_from_slice(&(SEEN_CAPACITY as u32 + 9).to_be_bytes());
    assert!(!seen.insert(newest));
    // The oldest was forgotten.
    assert!(seen.insert([0u8; 32]));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Gossip::decode(&bytes);
        let _ = Status::decode(&bytes);
    }
}
