//! Our discv4 against ethereumjs's DPT (`@ethereumjs/devp2p` 10.0.0), both
//! ways, over 127.0.0.1: it bootstraps from us and we both end up in each
//! other's tables; we bootstrap from it, ping it, hold it in our table and
//! get nodes from it with FindNode.

use std::time::Duration;

use crate::child_peer::{fixed_key_hex, ChildPeer, EVENT_TIMEOUT};
use devp2p::node::{LocalNode, Node, NodeId};
use devp2p_discover::v4::{Discv4, Discv4Config};
use secp256k1::SecretKey;

/// How long we wait for a node to appear in our table.
const TABLE_WAIT: Duration = Duration::from_secs(15);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn our_node(seed: u8, bootnodes: Vec<Node>) -> Discv4 {
    let key = SecretKey::from_secret_bytes([seed; 32]).unwrap();
    let local = LocalNode::new(key, 1);
    local.set_ip("127.0.0.1".parse().unwrap());
    let cfg = Discv4Config {
        bootnodes,
        ..Discv4Config::default()
    };
    Discv4::bind("127.0.0.1:0".parse().unwrap(), key, local, cfg)
        .await
        .expect("bind")
}

async fn wait_in_table(d: &Discv4, id: NodeId) {
    let deadline = tokio::time::Instant::now() + TABLE_WAIT;
    while !d.table_nodes().await.iter().any(|n| n.id == id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never entered our table"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn js_ready(js: &mut ChildPeer) -> (u16, NodeId) {
    let ev = js.wait_for("ready", EVENT_TIMEOUT).await;
    let port = ev["port"].as_u64().expect("ready.port") as u16;
    let id: NodeId = ev["id"].as_str().expect("ready.id").parse().unwrap();
    (port, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_bootstraps_from_us() {
    let ours = our_node(0x31, vec![]).await;
    let our_id = ours.local_id();
    let bootnode = format!("{}@127.0.0.1:{}", our_id, ours.local_addr().port());
    let mut js = ChildPeer::spawn_js(
        "dpt_peer.mjs",
        &args(&[
            "--key",
            &fixed_key_hex(0x32),
            "--port",
            "0",
            "--bootnode",
            &bootnode,
        ]),
    );
    let (_, js_id) = js_ready(&mut js).await;
    // It pinged us, we answered and pinged back: each side holds the other.
    let added = js.wait_for("peer_added", EVENT_TIMEOUT).await;
    assert_eq!(added["id"].as_str().unwrap(), our_id.to_string());
    wait_in_table(&ours, js_id).await;
    ours.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_bootstrap_from_ethereumjs() {
    let mut js = ChildPeer::spawn_js(
        "dpt_peer.mjs",
        &args(&["--key", &fixed_key_hex(0x33), "--port", "0"]),
    );
    let (js_port, js_id) = js_ready(&mut js).await;
    let js_node = Node::new(js_id, "127.0.0.1".parse().unwrap(), js_port, js_port);
    let ours = our_node(0x34, vec![js_node.clone()]).await;
    ours.ping(&js_node)
        .await
        .expect("ethereumjs answers our ping");
    wait_in_table(&ours, js_id).await;
    // A second node of ours bootstraps from ethereumjs too; once ethereumjs
    // holds both, our FindNode to it returns the other one.
    let other = our_node(0x35, vec![js_node.clone()]).await;
    wait_in_table(&other, js_id).await;
    let deadline = tokio::time::Instant::now() + TABLE_WAIT;
    loop {
        let found = ours
            .find_node(&js_node, other.local_id())
            .await
            .expect("ethereumjs answers FindNode");
        if found.iter().any(|n| n.id == other.local_id()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ethereumjs never returned the other node: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    other.shutdown().await;
    ours.shutdown().await;
}
