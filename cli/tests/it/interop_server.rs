//! Interop of our `Server` with ethereumjs (`@ethereumjs/devp2p` 10.0.0)
//! in both directions: Hello, the custom `tst/1` capability, messages both
//! ways, ping/pong and disconnect reasons.
//!
//! Needs Node.js >= 20 with npm (`tests/common/child_peer.rs` installs the
//! pinned packages on first use).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::child_peer::{fixed_key_hex, ChildPeer, EVENT_TIMEOUT};
use bytes::Bytes;
use devp2p::config::Config;
use devp2p::node::{Node, NodeId};
use devp2p::server::Server;
use devp2p::{DiscReason, PeerEventKind, Protocol};
use devp2p::{MsgReader, MsgWriter};
use futures::StreamExt;
use secp256k1::SecretKey;
use serde_json::json;
use tokio::sync::mpsc;

/// Our base-protocol ping interval plus margin: how long to wait for the
/// ping we send to show up on the ethereumjs side.
const OUR_PING_WAIT: Duration = Duration::from_secs(20);

/// `tst/1` with 8 codes (ethereumjs's interop default): sends code 0
/// `"rust-hello"` on start, reports every message, answers code 1 with code 2
/// (same payload).
fn tst(seen: mpsc::Sender<(u64, Bytes)>) -> Protocol {
    Protocol::new("tst", 1, 8, move |_peer, mut rw| {
        let seen = seen.clone();
        async move {
            devp2p::send(&rw, 0, &"rust-hello").await?;
            loop {
                let msg = rw.read_msg().await?;
                let _ = seen.try_send((msg.code, msg.payload.clone()));
                if msg.code == 1 {
                    rw.write_msg(2, msg.payload).await?;
                }
            }
        }
    })
}

async fn our_server(seen: mpsc::Sender<(u64, Bytes)>) -> Server {
    let mut c = Config::with_key(SecretKey::from_secret_bytes([0x42; 32]).unwrap());
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    c.no_discovery = true;
    c.name = "devp2p-rs-interop".into();
    c.protocols = vec![tst(seen)];
    Server::start(c).await.expect("server starts")
}

fn js_id(n: u8) -> NodeId {
    NodeId::from_secret_key(&SecretKey::from_secret_bytes([n; 32]).unwrap())
}

/// Checks Hello, the capability and messages in both directions once
/// ethereumjs reported `peer_added`.
async fn exchange_messages(
    js: &mut ChildPeer,
    seen: &mut mpsc::Receiver<(u64, Bytes)>,
    added: serde_json::Value,
) {
    assert_eq!(added["client_id"], "devp2p-rs-interop");
    assert_eq!(added["protocol_version"], 5);
    assert!(
        added["caps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "tst/1"),
        "{added}"
    );

    // Ours → theirs: the greeting sent when `run` starts.
    let msg = js.wait_for("message", EVENT_TIMEOUT).await;
    assert_eq!(msg["cap"], "tst");
    assert_eq!(msg["code"], 0);
    assert_eq!(msg["payload"], hex::encode(alloy_rlp::encode("rust-hello")));

    // Theirs → ours, and our answer back.
    js.send(json!({"cmd": "send", "cap": "tst", "code": 1, "payload": "c3010203"}))
        .await;
    let (code, payload) = tokio::time::timeout(EVENT_TIMEOUT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((code, &payload[..]), (1, &[0xc3, 1, 2, 3][..]));
    let echo = js.wait_for("message", EVENT_TIMEOUT).await;
    assert_eq!(echo["code"], 2);
    assert_eq!(echo["payload"], "c3010203");

    // Their ping, our pong.
    js.send(json!({"cmd": "ping"})).await;
    js.wait_for("pong", EVENT_TIMEOUT).await;
}

#[tokio::test]
async fn ethereumjs_dials_us() {
    let (tx, mut seen) = mpsc::channel(64);
    let server = our_server(tx).await;
    let mut events = server.subscribe_events();
    let mut js = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &["--key".into(), fixed_key_hex(1), "--no-listen".into()],
    );
    js.wait_for("ready", EVENT_TIMEOUT).await;
    let port = server.local_addr().unwrap().port();
    js.send(json!({"cmd": "connect", "id": server.self_node().id.to_string(), "host": "127.0.0.1", "port": port}))
        .await;
    let added = js.wait_for("peer_added", EVENT_TIMEOUT).await;
    exchange_messages(&mut js, &mut seen, added).await;

    let peers = server.peers().await;
    assert_eq!(peers.len(), 1);
    assert!(peers[0].inbound());
    assert_eq!(peers[0].id(), js_id(1));

    // Their disconnect reason reaches us.
    js.send(json!({"cmd": "disconnect", "reason": DiscReason::TooManyPeers.code()}))
        .await;
    let drop = loop {
        let ev = tokio::time::timeout(EVENT_TIMEOUT, events.next())
            .await
            .unwrap()
            .unwrap();
        if ev.kind == PeerEventKind::Drop {
            break ev;
        }
    };
    assert_eq!(drop.peer, js_id(1));
    let text = drop.error.unwrap_or_default();
    assert!(
        text.contains(&DiscReason::TooManyPeers.to_string()),
        "drop error: {text}"
    );
    js.exit(EVENT_TIMEOUT).await;
    server.stop().await;
}

#[tokio::test]
async fn we_dial_ethereumjs() {
    let (tx, mut seen) = mpsc::channel(64);
    let server = our_server(tx).await;
    let mut js = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &[
            "--key".into(),
            fixed_key_hex(2),
            "--port".into(),
            "0".into(),
        ],
    );
    let ready = js.wait_for("ready", EVENT_TIMEOUT).await;
    let port = ready["port"].as_u64().unwrap() as u16;
    let id: NodeId = ready["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id, js_id(2));
    server
        .add_peer(Node::new(id, IpAddr::V4(Ipv4Addr::LOCALHOST), port, 0))
        .await
        .unwrap();
    let added = js.wait_for("peer_added", EVENT_TIMEOUT).await;
    exchange_messages(&mut js, &mut seen, added).await;
    assert!(!server.peers().await[0].inbound());

    // Our ping (every 15 s) reaches them and their pong keeps us connected.
    js.wait_for("ping", OUR_PING_WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.peer_count().await, 1);

    // Our disconnect reason reaches them.
    server.peers().await[0].disconnect(DiscReason::UselessPeer);
    let removed = js.wait_for("peer_removed", EVENT_TIMEOUT).await;
    assert_eq!(removed["reason"], DiscReason::UselessPeer.code());
    assert_eq!(removed["disconnect_we"], false);
    server.remove_peer(id).await.unwrap();
    js.exit(EVENT_TIMEOUT).await;
    server.stop().await;
}
