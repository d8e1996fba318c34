//! Server integration tests over real TCP on 127.0.0.1.

mod bandwidth;
mod dial_pipeline;
mod lifecycle;
mod limits;
mod nat;
#[cfg(feature = "node-db")] // a database file
mod peer_memory;

use std::time::Duration;

use crate::support::*;
use bytes::Bytes;
use devp2p::{DiscReason, MsgReader, PeerEventKind, Protocol, Server};
use futures::StreamExt;
use tokio::sync::mpsc;

#[tokio::test]
async fn two_servers_run_a_protocol_both_ways() {
    let (a, mut seen_a) = start(1).await;
    let (b, mut seen_b) = start(2).await;
    a.add_peer(node_of(&b)).await.unwrap();
    wait_peers(&a, 1).await;
    wait_peers(&b, 1).await;

    // Each side greets (code 0) and echoes greetings back (code 1): both
    // directions carry both codes.
    for (seen, from) in [(&mut seen_a, id(2)), (&mut seen_b, id(1))] {
        let mut codes = Vec::new();
        while codes.len() < 2 {
            let (peer, code, payload) = tokio::time::timeout(WAIT, seen.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(peer, from);
            assert_eq!(payload, Bytes::from(alloy_rlp::encode("hi")));
            codes.push(code);
        }
        codes.sort();
        assert_eq!(codes, vec![0, 1]);
    }

    let pa = a.peers().await;
    assert_eq!(pa.len(), 1);
    assert!(!pa[0].inbound());
    assert!(pa[0].is_static());
    assert_eq!(pa[0].name(), "test-2");
    let pb = b.peers().await;
    assert!(pb[0].inbound());
    assert!(pb[0].running_cap("tst", &[1]));

    let info = a.peers_info().await;
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json[0]["name"], "test-2");
    assert_eq!(json[0]["network"]["inbound"], false);
    assert_eq!(json[0]["network"]["static"], true);

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn three_servers_form_a_mesh() {
    let (a, _ra) = start(11).await;
    let (b, _rb) = start(12).await;
    let (c, _rc) = start(13).await;
    a.add_peer(node_of(&b)).await.unwrap();
    a.add_peer(node_of(&c)).await.unwrap();
    b.add_peer(node_of(&c)).await.unwrap();
    for s in [&a, &b, &c] {
        wait_peers(s, 2).await;
    }
    let mut ids: Vec<_> = c.peers().await.iter().map(|p| p.id()).collect();
    ids.sort();
    let mut want = vec![id(11), id(12)];
    want.sort();
    assert_eq!(ids, want);
    for s in [a, b, c] {
        s.stop().await;
    }
}

#[tokio::test]
async fn events_arrive_in_order() {
    let (tx, _seen) = tokio::sync::mpsc::channel(1024);
    let mut cfg = config(21, tx);
    cfg.enable_msg_events = true;
    let a = devp2p::server::Server::start(cfg).await.unwrap();
    let mut events = a.subscribe_events();
    let (b, _rb) = start(22).await;
    b.add_peer(node_of(&a)).await.unwrap();

    let first = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, PeerEventKind::Add);
    assert_eq!(first.peer, id(22));
    // Greeting out, greeting in, echo out, echo in (in some interleaving).
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let ev = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.peer, id(22));
        assert_eq!(ev.protocol.as_deref(), Some("tst/1"));
        kinds.push(ev.kind);
    }
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == PeerEventKind::MsgSend)
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == PeerEventKind::MsgRecv)
            .count(),
        2
    );

    b.stop().await;
    let last = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.kind, PeerEventKind::Drop);
    assert_eq!(last.peer, id(22));
    assert!(last.error.is_some());
    a.stop().await;
    // The stream ends once the server is gone.
    assert!(tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn bad_input_after_handshake_then_good_peer_connects() {
    let (a, _ra) = start(31).await;

    // 1. A frame that is not Hello (unknown base code 0x55).
    let mut conn = raw_connect(32, &a).await;
    use futures::SinkExt;
    conn.send(Bytes::from_static(&[0x55, 0xc0])).await.unwrap();
    assert!(
        closed_soon(&mut conn).await,
        "garbage instead of Hello closes"
    );

    // 2. A Hello whose id does not match the handshake key.
    let mut conn = raw_connect(33, &a).await;
    let mut wrong = hello(33, vec![devp2p::Cap::new("tst", 1)]);
    wrong.id = id(99);
    let payload = alloy_rlp::encode(&wrong);
    let mut frame = vec![0x80]; // rlp(0) = Hello
    frame.extend_from_slice(&payload);
    conn.send(Bytes::from(frame)).await.unwrap();
    assert!(closed_soon(&mut conn).await, "mismatched identity closes");

    // 3. Garbage before the RLPx handshake.
    let mut tcp = tokio::net::TcpStream::connect(a.local_addr().unwrap())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(&[0xffu8; 300]).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "connection closed");

    // 4. A peer without any shared capability.
    let mut conn = raw_connect(34, &a).await;
    let err = devp2p::peer::exchange_hello(
        &mut conn,
        &hello(34, vec![devp2p::Cap::new("zzz", 9)]),
        a.self_node().id,
    )
    .await;
    assert!(err.is_ok(), "hello itself succeeds");
    assert_eq!(
        disconnect_reason(&mut conn).await,
        Some(DiscReason::UselessPeer)
    );

    assert_eq!(a.peer_count().await, 0);
    let (b, _rb) = start(35).await;
    b.add_peer(node_of(&a)).await.unwrap();
    wait_peers(&a, 1).await;
    a.stop().await;
    b.stop().await;
}

/// Reads until the connection closes; true if it did within [`WAIT`].
async fn closed_soon(conn: &mut devp2p::rlpx::RlpxStream<tokio::net::TcpStream>) -> bool {
    let until_closed = async { while let Some(Ok(_)) = conn.next().await {} };
    tokio::time::timeout(WAIT, until_closed).await.is_ok()
}

#[tokio::test]
async fn ban_blocks_both_directions_and_reputation_bans() {
    let (a, _ra) = start(41).await;
    let (b, _rb) = start(42).await;
    a.ban(id(42), Duration::from_secs(600)).await.unwrap();
    // Inbound: refused after the handshake.
    let err = raw_peer(42, &a).await.expect_err("banned peer refused");
    assert_eq!(err.disconnect_reason(), DiscReason::UselessPeer);
    // Outbound: never dialed while banned.
    a.add_peer(node_of(&b)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.peer_count().await, 0);
    // Unbanned: the static node is dialed again.
    a.unban(id(42)).await.unwrap();
    wait_peers(&b, 1).await;

    // A connected peer whose reputation drops to the threshold is dropped.
    let (c, _rc) = start(43).await;
    c.add_peer(node_of(&a)).await.unwrap();
    wait_peers(&a, 2).await;
    let change = a.adjust_reputation(id(43), -1000).await.unwrap();
    assert!(matches!(change, devp2p::ReputationChange::Banned(_)));
    wait_peers(&c, 0).await;
    let ids: Vec<_> = a.peers().await.iter().map(|p| p.id()).collect();
    assert_eq!(ids, vec![id(42)]);
    for s in [a, b, c] {
        s.stop().await;
    }
}

/// A protocol judges its peer: `strict/1` sends two messages of code 1
/// ("invalid") and reports -60 for each one it receives, so the second
/// report reaches the ban threshold (-100): the peer is dropped and banned.
#[tokio::test]
async fn protocol_reputation_reports_ban_the_peer() {
    let strict = Protocol::new("strict", 1, 2, |peer, mut rw| async move {
        devp2p::send(&rw, 1, &"bad").await?;
        devp2p::send(&rw, 1, &"worse").await?;
        loop {
            if rw.read_msg().await?.code == 1 {
                assert!(peer.adjust_reputation(-60), "report queued");
            }
        }
    });
    let (tx, _seen) = mpsc::channel(16);
    let mut ca = config(44, tx.clone());
    ca.protocols = vec![strict.clone()];
    let mut cb = config(45, tx);
    cb.protocols = vec![strict];
    let a = Server::start(ca).await.unwrap();
    let b = Server::start(cb).await.unwrap();
    let mut events = a.subscribe_events();
    b.add_peer(node_of(&a)).await.unwrap();
    let added = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((added.kind, added.peer), (PeerEventKind::Add, id(45)));
    let dropped = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((dropped.kind, dropped.peer), (PeerEventKind::Drop, id(45)));
    // Banned now: a new connection from B's key is refused.
    let err = raw_peer(45, &a).await.expect_err("banned");
    assert_eq!(err.disconnect_reason(), DiscReason::UselessPeer);
    a.stop().await;
    b.stop().await;
}

/// Bans and reputation scores live in the node database: a restarted
/// server still refuses a banned node and remembers a partial score.
#[cfg(feature = "node-db")] // a database file
#[tokio::test]
async fn bans_and_scores_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes");
    let start_a = || async {
        let (tx, _seen) = mpsc::channel(16);
        let mut c = config(46, tx);
        c.node_database = Some(path.clone());
        Server::start(c).await.unwrap()
    };
    let a = start_a().await;
    a.ban(id(47), Duration::from_secs(600)).await.unwrap();
    let change = a.adjust_reputation(id(48), -60).await.unwrap();
    assert_eq!(change, devp2p::ReputationChange::Score(-60));
    a.stop().await;

    let a = start_a().await;
    let err = raw_peer(47, &a).await.expect_err("still banned");
    assert_eq!(err.disconnect_reason(), DiscReason::UselessPeer);
    let change = a.adjust_reputation(id(48), -60).await.unwrap();
    assert!(
        matches!(change, devp2p::ReputationChange::Banned(_)),
        "{change:?}"
    );
    // Lifting the ban is persisted too.
    a.unban(id(47)).await.unwrap();
    a.stop().await;
    let a = start_a().await;
    raw_peer(47, &a).await.expect("unbanned after restart");
    a.stop().await;
}

#[tokio::test]
async fn node_info_has_geth_fields() {
    let (a, _ra) = start(51).await;
    let info = serde_json::to_value(a.node_info()).unwrap();
    let port = a.local_addr().unwrap().port();
    assert_eq!(info["name"], "test-51");
    assert_eq!(info["ports"]["listener"], port);
    assert_eq!(info["ip"], "127.0.0.1");
    assert_eq!(info["listenAddr"], format!("127.0.0.1:{port}"));
    assert!(info["enode"]
        .as_str()
        .unwrap()
        .starts_with(&format!("enode://{}@127.0.0.1:{port}", id(51))));
    assert!(info["enr"].as_str().unwrap().starts_with("enr:"));
    assert_eq!(info["id"].as_str().unwrap().len(), 64);
    assert_eq!(info["protocols"]["tst"], "unknown");
    assert_eq!(a.self_node().tcp, port);
    a.stop().await;
}

#[tokio::test]
async fn discovery_feeds_the_dialer() {
    let (tx, _seen) = tokio::sync::mpsc::channel(1024);
    let with_discovery = |n: u32, boot: Vec<devp2p::node::Node>| {
        let mut c = config(n, tx.clone());
        c.no_discovery = false;
        c.bootstrap_nodes = boot;
        c
    };
    let a = devp2p::server::Server::start(with_discovery(61, vec![]))
        .await
        .unwrap();
    let a_node = a.self_node();
    assert_eq!(
        a_node.udp,
        a.local_addr().unwrap().port(),
        "UDP shares the TCP port"
    );
    assert!(a.discovery().is_some());
    // Three nodes: the discv4 lookup drops a queried node that returns no
    // neighbours, so two nodes alone never see each other in lookups.
    let b = devp2p::server::Server::start(with_discovery(62, vec![a_node.clone()]))
        .await
        .unwrap();
    let c = devp2p::server::Server::start(with_discovery(63, vec![a_node]))
        .await
        .unwrap();
    // Nobody calls add_peer: they learn each other from discv4 and dial.
    for s in [&a, &b, &c] {
        wait_peer_count(s, "a peer found by discovery", |n| n >= 1).await;
    }
    for s in [a, b, c] {
        s.stop().await;
    }
}

/// A protocol implemented once as a shared handler: two peers' sessions
/// run against the same value (no per-peer clones of its state). Uses the
/// public test harness.
#[tokio::test]
async fn a_shared_handler_serves_every_peer() {
    use devp2p::test_utils::Testnet;
    use std::sync::Arc;

    /// Reports each greeting it reads, from any peer, on one channel.
    struct Greeter {
        greeted: mpsc::Sender<devp2p::node::NodeId>,
    }
    impl devp2p::ProtocolHandler for Greeter {
        async fn run(
            &self,
            peer: devp2p::Peer,
            mut rw: devp2p::ProtoRw,
        ) -> Result<(), devp2p::ProtocolError> {
            devp2p::send(&rw, 0, &"hi").await?;
            loop {
                rw.read_msg().await?;
                let _ = self.greeted.send(peer.id()).await;
            }
        }
    }

    let (tx, mut greeted) = mpsc::channel(16);
    let hub = Arc::new(Greeter { greeted: tx });
    let mut net = Testnet::start(3, |i| {
        // Node 0 runs the shared handler; the others a handler each.
        let handler = if i == 0 {
            hub.clone()
        } else {
            let (tx, _rx) = mpsc::channel(16);
            Arc::new(Greeter { greeted: tx })
        };
        vec![Protocol::from_handler("greet", 1, 1, handler)]
    })
    .await
    .unwrap();
    net.connect(1, 0, WAIT).await.unwrap();
    net.connect(2, 0, WAIT).await.unwrap();
    let mut from = Vec::new();
    for _ in 0..2 {
        from.push(
            tokio::time::timeout(WAIT, greeted.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    from.sort();
    let mut want = vec![net.node(1).id(), net.node(2).id()];
    want.sort();
    assert_eq!(from, want);
    net.stop().await;
}
