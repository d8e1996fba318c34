//! Our `Server` and go-ethereum's `p2p.Server`, both directions: Hello,
//! capability negotiation across versions and two protocols, messages both
//! ways (one near the 16 MiB limit, thousands of small ones, snappy),
//! ping/pong, every disconnect reason, static redial, trusted peers.

use std::time::Duration;

use bytes::Bytes;
use devp2p::node::NodeId;
use devp2p::server::Server;
use devp2p::{DiscReason, PeerEventKind};
use serde_json::json;
use tokio::sync::mpsc;

use crate::geth::{harness_args, Harness};
use crate::ours::{
    config, generated, next_event, next_received, our_peer, sha256_hex, start, Hub, Received, WAIT,
};

/// The largest incompressible payload both stacks carry: 16 MiB less
/// 16 KiB, so that the snappy-compressed frame (random data grows by a few
/// bytes per 64 KiB block) stays below RLPx's 24-bit frame size.
const NEAR_LIMIT: usize = (16 << 20) - (16 << 10);

/// Small messages sent each way in one burst.
const SMALL_COUNT: u64 = 2000;
/// Size of each small message, in bytes.
const SMALL_SIZE: usize = 64;

/// How long to wait for pings: both stacks ping every 15 s.
const PING_WAIT: Duration = Duration::from_secs(40);

/// go-ethereum's protocols: tst in three versions, aux in one, one we lack.
const GETH_PROTOS: [&str; 5] = [
    "--proto=tst/1/5",
    "--proto=tst/2/8",
    "--proto=tst/4/10",
    "--proto=aux/1/3",
    "--proto=zzz/1/2",
];

/// Ours: tst 1–3, aux 1 and 2. The highest shared versions are tst/2 and
/// aux/1; sorted by name, aux/1 takes codes 16..19 and tst/2 19..27.
fn our_protocols(hub: &Hub) -> Vec<devp2p::Protocol> {
    vec![
        hub.protocol("tst", 1, 5),
        hub.protocol("tst", 2, 8),
        hub.protocol("tst", 3, 9),
        hub.protocol("aux", 1, 3),
        hub.protocol("aux", 2, 6),
    ]
}

fn geth_args(n: u8, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<&str> = vec!["--nodiscover", "--name", "geth-harness/server"];
    args.extend(GETH_PROTOS);
    args.extend(extra);
    harness_args(n, &args)
}

/// Waits until go-ethereum reports the peer and both shared protocols
/// started, and checks what it saw of our Hello.
async fn geth_sees_us(h: &mut Harness, us: NodeId) {
    let added = h
        .wait_where("peer_added", WAIT, |e| {
            e["event"] == "peer_added" && e["id"] == us.to_string()
        })
        .await;
    let caps: Vec<&str> = added["caps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        caps,
        ["aux/1", "aux/2", "tst/1", "tst/2", "tst/3"],
        "{added}"
    );
    assert!(added["name"]
        .as_str()
        .unwrap()
        .starts_with("devp2p-rs-geth-interop"));
    let mut started = Vec::new();
    for _ in 0..2 {
        let ev = h.wait_for("proto_started", WAIT).await;
        started.push(format!(
            "{}/{}",
            ev["proto"].as_str().unwrap(),
            ev["version"]
        ));
    }
    started.sort();
    assert_eq!(started, ["aux/1", "tst/2"]);
}

/// Both sides agree on the shared protocols and their code offsets, and
/// messages of every kind cross in both directions.
async fn exchange(h: &mut Harness, server: &Server, hub: &Hub, rx: &mut mpsc::Receiver<Received>) {
    let geth = h.id;
    let peer = our_peer(server, geth).await;
    let mut running: Vec<String> = peer.running_caps().iter().map(|c| c.to_string()).collect();
    running.sort();
    assert_eq!(running, ["aux/1", "tst/2"]);
    assert!(
        peer.name().starts_with("geth-harness/server"),
        "{}",
        peer.name()
    );

    // Ours → go-ethereum: the last code of each protocol lands in the right one.
    hub.send(geth, "aux", 2, Bytes::from_static(&[0xc3, 1, 2, 3]))
        .await;
    hub.send(geth, "tst", 7, Bytes::from_static(&[0x82, 0xab, 0xcd]))
        .await;
    for (proto, version, code, payload) in [("aux", 1, 2, "c3010203"), ("tst", 2, 7, "82abcd")] {
        let ev = h
            .wait_where("message", WAIT, |e| {
                e["event"] == "message" && e["proto"] == proto
            })
            .await;
        assert_eq!(
            (ev["version"].as_u64(), ev["code"].as_u64()),
            (Some(version), Some(code)),
            "{ev}"
        );
        assert_eq!(ev["payload"], payload);
    }

    // go-ethereum → ours.
    for (proto, code) in [("aux", 0u64), ("tst", 7)] {
        h.call(json!({"cmd": "send", "id": server.self_node().id.to_string(), "proto": proto, "code": code, "payload": "c0"}), "sent", WAIT).await;
        let got = next_received(rx).await;
        assert_eq!(got.peer, geth);
        assert_eq!(
            (got.proto, got.code, &got.payload[..]),
            (proto, code, &[0xc0][..])
        );
        assert_eq!(got.version, if proto == "aux" { 1 } else { 2 });
    }

    let us = server.self_node().id.to_string();
    // Near the 16 MiB limit, both ways (incompressible).
    let big = generated(NEAR_LIMIT, 7);
    hub.send(geth, "tst", 1, big.clone()).await;
    let ev = h
        .wait_where("big message", WAIT, |e| {
            e["event"] == "message" && e["code"] == 1
        })
        .await;
    assert_eq!(ev["len"].as_u64(), Some(NEAR_LIMIT as u64));
    assert_eq!(ev["sha256"], sha256_hex(&big));
    h.call(
        json!({"cmd": "send", "id": us, "proto": "tst", "code": 1, "size": NEAR_LIMIT, "seed": 8}),
        "sent",
        WAIT,
    )
    .await;
    let got = next_received(rx).await;
    assert_eq!(
        (got.proto, got.code, got.payload.len()),
        ("tst", 1, NEAR_LIMIT)
    );
    assert_eq!(
        sha256_hex(&got.payload),
        sha256_hex(&generated(NEAR_LIMIT, 8))
    );

    // Many small ones, both ways, in order.
    let writer = hub.writer(geth, "tst").await;
    let sender = tokio::spawn(async move {
        for i in 0..SMALL_COUNT {
            devp2p::MsgWriter::write_msg(&writer, 3, generated(SMALL_SIZE, 1000 + i))
                .await
                .expect("write small message");
        }
    });
    for i in 0..SMALL_COUNT {
        let ev = h
            .wait_where("small message", WAIT, |e| {
                e["event"] == "message" && e["code"] == 3
            })
            .await;
        assert_eq!(
            ev["payload"],
            hex::encode(generated(SMALL_SIZE, 1000 + i)),
            "message {i}"
        );
    }
    sender.await.unwrap();
    h.call(json!({"cmd": "send", "id": us, "proto": "aux", "code": 1, "size": SMALL_SIZE, "seed": 5000, "count": SMALL_COUNT}), "sent", WAIT).await;
    for i in 0..SMALL_COUNT {
        let got = next_received(rx).await;
        assert_eq!((got.proto, got.code), ("aux", 1));
        assert_eq!(got.payload, generated(SMALL_SIZE, 5000 + i), "message {i}");
    }

    // Snappy both ways: 1 MiB of zeros costs a few KiB on the wire.
    let before = peer.stats();
    hub.send(geth, "aux", 0, Bytes::from(vec![0u8; 1 << 20]))
        .await;
    let ev = h
        .wait_where("zeros", WAIT, |e| {
            e["event"] == "message" && e["proto"] == "aux" && e["code"] == 0
        })
        .await;
    assert_eq!(ev["sha256"], sha256_hex(&vec![0u8; 1 << 20]));
    h.call(
        json!({"cmd": "send", "id": us, "proto": "aux", "code": 0, "size": 1 << 20, "zeros": true}),
        "sent",
        WAIT,
    )
    .await;
    let got = next_received(rx).await;
    assert_eq!(got.payload, vec![0u8; 1 << 20]);
    let after = peer.stats();
    let aux = |s: &devp2p::peer::PeerStats| {
        s.protocols
            .iter()
            .find(|p| p.cap.name == "aux")
            .unwrap()
            .traffic
    };
    let (b, a) = (aux(&before), aux(&after));
    assert!(
        a.bytes_out - b.bytes_out < 64 << 10,
        "sent {} wire bytes for 1 MiB of zeros",
        a.bytes_out - b.bytes_out
    );
    assert!(
        a.bytes_in - b.bytes_in < 64 << 10,
        "read {} wire bytes for 1 MiB of zeros",
        a.bytes_in - b.bytes_in
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_geth() {
    let (hub, mut rx) = Hub::new();
    let server = start(config(0x41, our_protocols(&hub))).await;
    let mut h = Harness::start(&geth_args(0x51, &[])).await;
    server.add_peer(h.node()).await.unwrap();
    geth_sees_us(&mut h, server.self_node().id).await;
    exchange(&mut h, &server, &hub, &mut rx).await;
    server.stop().await;
    h.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geth_dials_us() {
    let (hub, mut rx) = Hub::new();
    let server = start(config(0x42, our_protocols(&hub))).await;
    let mut h = Harness::start(&geth_args(0x52, &[])).await;
    let us = server.self_node();
    h.call(
        json!({"cmd": "add_peer", "node": us.to_string()}),
        "ok",
        WAIT,
    )
    .await;
    geth_sees_us(&mut h, us.id).await;
    assert!(our_peer(&server, h.id).await.inbound());
    assert_eq!(server.peer_count().await, 1);
    exchange(&mut h, &server, &hub, &mut rx).await;
    server.stop().await;
    h.exit().await;
}

/// Both stacks ping every 15 s: after a while each has answered the
/// other's ping (our stats count their ping and pong, and our last ping's
/// round trip is known) and neither dropped the idle connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_both_ways() {
    let (hub, _rx) = Hub::new();
    let server = start(config(0x43, vec![hub.protocol("tst", 2, 8)])).await;
    let mut h = Harness::start(&geth_args(0x53, &[])).await;
    server.add_peer(h.node()).await.unwrap();
    h.wait_for("proto_started", WAIT).await;
    let peer = our_peer(&server, h.id).await;
    let deadline = tokio::time::Instant::now() + PING_WAIT;
    loop {
        let s = peer.stats();
        // In: their ping and their pong; out: our ping and our pong.
        if s.last_ping_rtt.is_some() && s.base.msgs_in >= 2 && s.base.msgs_out >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ping/pong both ways within {PING_WAIT:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!peer.is_closing());
    server.stop().await;
    h.exit().await;
}

/// Every reason we send arrives intact at go-ethereum, and every reason it
/// sends arrives intact here. One fresh go-ethereum node per reason and
/// direction (no dial history in the way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_reasons_both_ways() {
    let (hub, _rx) = Hub::new();
    let server = start(config(0x44, vec![hub.protocol("tst", 2, 8)])).await;
    let mut events = server.subscribe_events();
    // go-ethereum's disconnect reasons (0x00–0x0b and 0x10).
    for (i, reason) in DiscReason::ALL.into_iter().enumerate() {
        // Ours → theirs.
        let mut h = Harness::start(&geth_args(0x60 + i as u8, &[])).await;
        server.add_peer(h.node()).await.unwrap();
        next_event(&mut events, PeerEventKind::Add).await;
        let peer = server.peers().await.pop().unwrap();
        peer.disconnect(reason);
        let dropped = h.wait_for("peer_dropped", WAIT).await;
        assert_eq!(
            dropped["reason"].as_u64(),
            Some(reason.code() as u64),
            "{reason:?}: {dropped}"
        );
        next_event(&mut events, PeerEventKind::Drop).await;
        server.remove_peer(h.id).await.unwrap();
        h.exit().await;

        // Theirs → ours.
        let mut h = Harness::start(&geth_args(0x80 + i as u8, &[])).await;
        server.add_peer(h.node()).await.unwrap();
        next_event(&mut events, PeerEventKind::Add).await;
        h.wait_for("peer_added", WAIT).await;
        let us = server.self_node().id.to_string();
        h.call(
            json!({"cmd": "disconnect", "id": us, "reason": reason.code()}),
            "ok",
            WAIT,
        )
        .await;
        let drop = next_event(&mut events, PeerEventKind::Drop).await;
        let text = drop.error.unwrap_or_default();
        if reason == DiscReason::NetworkError {
            // go-ethereum never sends this reason (p2p/transport.go: a
            // network error means the connection is gone); it just closes.
            assert!(text.contains("closed by remote"), "{reason:?}: {text:?}");
        } else {
            assert!(
                text.contains(&reason.to_string()),
                "{reason:?} arrived as {text:?}"
            );
        }
        server.remove_peer(h.id).await.unwrap();
        h.exit().await;
    }
    server.stop().await;
}

/// go-ethereum drops us; as a static node it is dialed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_peer_is_redialed_after_geth_drops_us() {
    let (hub, _rx) = Hub::new();
    let mut c = config(0x45, vec![hub.protocol("tst", 2, 8)]);
    // Our dial history keeps a dialed node for 35 s (go-ethereum's
    // dialHistoryExpiration); shorter here so the redial comes quickly.
    c.dial_history_expiration = Duration::from_secs(2);
    // A refused redial (go-ethereum still tearing down) must not back off.
    c.max_dial_backoff = Duration::ZERO;
    let server = start(c).await;
    let mut events = server.subscribe_events();
    let mut h = Harness::start(&geth_args(0x55, &[])).await;
    server.add_peer(h.node()).await.unwrap();
    next_event(&mut events, PeerEventKind::Add).await;
    h.wait_for("peer_added", WAIT).await;
    let us = server.self_node().id.to_string();
    h.call(
        json!({"cmd": "disconnect", "id": us, "reason": DiscReason::Requested.code()}),
        "ok",
        WAIT,
    )
    .await;
    next_event(&mut events, PeerEventKind::Drop).await;
    let again = next_event(&mut events, PeerEventKind::Add).await;
    assert_eq!(again.peer, h.id);
    h.wait_for("peer_added", WAIT).await;
    server.stop().await;
    h.exit().await;
}

/// With every slot taken, a trusted peer still gets in, on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_peers_beyond_max_peers() {
    // Ours full (max_peers 1, filled by go-ethereum A): go-ethereum B is
    // refused until we trust it.
    let (hub, _rx) = Hub::new();
    let mut c = config(0x46, vec![hub.protocol("tst", 2, 8)]);
    c.max_peers = 1;
    let server = start(c).await;
    let us = server.self_node().to_string();
    let mut events = server.subscribe_events();
    let mut a = Harness::start(&geth_args(0x56, &[])).await;
    a.call(json!({"cmd": "add_peer", "node": us}), "ok", WAIT)
        .await;
    next_event(&mut events, PeerEventKind::Add).await;
    let mut b = Harness::start(&geth_args(0x57, &[])).await;
    server.add_trusted_peer(b.id).await.unwrap();
    b.call(json!({"cmd": "add_peer", "node": us}), "ok", WAIT)
        .await;
    let added = next_event(&mut events, PeerEventKind::Add).await;
    assert_eq!(added.peer, b.id);
    assert_eq!(server.peer_count().await, 2);
    b.wait_for("peer_added", WAIT).await;

    // go-ethereum full (MaxPeers 1, filled by our server 1): our server 2 is
    // let in once it is trusted there.
    // NoDial: go-ethereum reserves MaxPeers/3 (at least 1) slots for its
    // own dials, which would leave no inbound slot with MaxPeers 1.
    let mut g = Harness::start(&geth_args(0x58, &["--maxpeers", "1", "--nodial"])).await;
    let s1 = start(config(0x47, vec![hub.protocol("tst", 2, 8)])).await;
    let s2 = start(config(0x48, vec![hub.protocol("tst", 2, 8)])).await;
    s1.add_peer(g.node()).await.unwrap();
    g.wait_where("s1 added", WAIT, |e| {
        e["event"] == "peer_added" && e["id"] == s1.self_node().id.to_string()
    })
    .await;
    g.call(
        json!({"cmd": "add_trusted", "node": s2.self_node().to_string()}),
        "ok",
        WAIT,
    )
    .await;
    let mut s2_events = s2.subscribe_events();
    s2.add_peer(g.node()).await.unwrap();
    next_event(&mut s2_events, PeerEventKind::Add).await;
    let s2_id = s2.self_node().id.to_string();
    g.wait_where("s2 added", WAIT, |e| {
        e["event"] == "peer_added" && e["id"] == s2_id
    })
    .await;
    let peers = g.call(json!({"cmd": "peers"}), "peers", WAIT).await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 2, "{peers}");
    for s in [&server, &s1, &s2] {
        s.stop().await;
    }
    for h in [a, b, g] {
        h.exit().await;
    }
}
