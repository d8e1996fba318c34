//! Smoke tests of the ethereumjs interop harness itself: JS peers talking to
//! JS peers over 127.0.0.1. They prove the scripts and the Rust driver work,
//! so a failure in an interop test of our own stack points at our stack.

use crate::child_peer::{fixed_key_hex, ChildPeer, EVENT_TIMEOUT};
use serde_json::{json, Value};

/// TOO_MANY_PEERS: a reason that is neither 0 nor ethereumjs's default
/// (CLIENT_QUITTING), so seeing it proves the reason travelled.
const REASON_TOO_MANY_PEERS: u64 = 0x04;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Waits for `ready` and returns (port, id).
async fn ready(peer: &mut ChildPeer) -> (u64, String) {
    let ev = peer.wait_for("ready", EVENT_TIMEOUT).await;
    let id = ev["id"].as_str().expect("ready.id").to_owned();
    assert_eq!(id.len(), 128, "node id is 64 bytes of hex: {ev}");
    (ev["port"].as_u64().unwrap_or(0), id)
}

fn str_field<'a>(ev: &'a Value, name: &str) -> &'a str {
    ev[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {ev}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_js_rlpx_peers_exchange_a_message_ping_and_disconnect() {
    let key_a = fixed_key_hex(0x11);
    let key_b = fixed_key_hex(0x22);
    let mut a = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &args(&["--key", &key_a, "--port", "0", "--client-id", "js-a"]),
    );
    let mut b = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &args(&["--key", &key_b, "--no-listen", "--client-id", "js-b"]),
    );
    let (port_a, id_a) = ready(&mut a).await;
    let (_, id_b) = ready(&mut b).await;
    assert!(port_a > 0);

    b.send(json!({"cmd": "connect", "id": id_a, "host": "127.0.0.1", "port": port_a}))
        .await;
    let added_at_b = b.wait_for("peer_added", EVENT_TIMEOUT).await;
    let added_at_a = a.wait_for("peer_added", EVENT_TIMEOUT).await;
    assert_eq!(str_field(&added_at_b, "id"), id_a);
    assert_eq!(str_field(&added_at_a, "id"), id_b);
    assert_eq!(str_field(&added_at_b, "client_id"), "js-a");
    assert_eq!(str_field(&added_at_a, "client_id"), "js-b");
    assert_eq!(added_at_a["caps"], json!(["tst/1"]));
    assert_eq!(added_at_a["protocol_version"], 5);
    // ethereumjs advertises its listening port in Hello; a non-listener sends an empty field.
    assert_eq!(added_at_b["port"], port_a);
    assert_eq!(added_at_a["port"], 0);

    // A message on the custom capability, payload passed through untouched.
    b.send(json!({"cmd": "send", "code": 3, "payload": "c481aa82bbcc"}))
        .await;
    let msg = a.wait_for("message", EVENT_TIMEOUT).await;
    assert_eq!(msg["cap"], "tst");
    assert_eq!(msg["code"], 3);
    assert_eq!(msg["payload"], "c481aa82bbcc");
    assert_eq!(str_field(&msg, "id"), id_b);

    // Base-protocol ping: A sees the ping, B the pong.
    b.send(json!({"cmd": "ping"})).await;
    a.wait_for("ping", EVENT_TIMEOUT).await;
    b.wait_for("pong", EVENT_TIMEOUT).await;

    a.send(json!({"cmd": "disconnect", "reason": REASON_TOO_MANY_PEERS}))
        .await;
    let removed_at_b = b.wait_for("peer_removed", EVENT_TIMEOUT).await;
    assert_eq!(removed_at_b["reason"], REASON_TOO_MANY_PEERS);
    assert_eq!(removed_at_b["disconnect_we"], false);
    let removed_at_a = a.wait_for("peer_removed", EVENT_TIMEOUT).await;
    assert_eq!(removed_at_a["reason"], REASON_TOO_MANY_PEERS);
    assert_eq!(removed_at_a["disconnect_we"], true);

    assert!(a.exit(EVENT_TIMEOUT).await.success());
    assert!(b.exit(EVENT_TIMEOUT).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_rlpx_peer_reports_bad_commands_as_error_events() {
    let key = fixed_key_hex(0x33);
    let mut a = ChildPeer::spawn_js("rlpx_peer.mjs", &args(&["--key", &key, "--no-listen"]));
    ready(&mut a).await;
    // Not loopback: refused before any socket is opened.
    a.send(json!({"cmd": "connect", "id": "ab".repeat(64), "host": "192.0.2.1", "port": 30303}))
        .await;
    let err = a.wait_for("error", EVENT_TIMEOUT).await;
    assert!(str_field(&err, "message").contains("non-loopback"), "{err}");
    // No peer to send to.
    a.send(json!({"cmd": "send", "code": 0, "payload": "c0"}))
        .await;
    let err = a.wait_for("error", EVENT_TIMEOUT).await;
    assert!(str_field(&err, "message").contains("0 peers"), "{err}");
    assert!(a.exit(EVENT_TIMEOUT).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_js_dpt_peers_find_each_other_and_a_third_learns_via_neighbours() {
    let key_a = fixed_key_hex(0x44);
    let key_b = fixed_key_hex(0x55);
    let key_c = fixed_key_hex(0x66);
    let mut a = ChildPeer::spawn_js(
        "dpt_peer.mjs",
        &args(&["--key", &key_a, "--port", "0", "--tcp-port", "30303"]),
    );
    let (port_a, id_a) = ready(&mut a).await;

    let bootnode = format!("{id_a}@127.0.0.1:{port_a}");
    let mut b = ChildPeer::spawn_js(
        "dpt_peer.mjs",
        &args(&["--key", &key_b, "--port", "0", "--bootnode", &bootnode]),
    );
    let (port_b, id_b) = ready(&mut b).await;

    let at_b = b.wait_for("peer_added", EVENT_TIMEOUT).await;
    assert_eq!(str_field(&at_b, "id"), id_a);
    assert_eq!(at_b["udpPort"], port_a);
    let at_a = a.wait_for("peer_added", EVENT_TIMEOUT).await;
    assert_eq!(str_field(&at_a, "id"), id_b);
    assert_eq!(at_a["address"], "127.0.0.1");
    assert_eq!(at_a["udpPort"], port_b);

    // C bootstraps from A by command; A's Neighbours answer names B, and C pings B.
    let mut c = ChildPeer::spawn_js("dpt_peer.mjs", &args(&["--key", &key_c, "--port", "0"]));
    let (_, id_c) = ready(&mut c).await;
    c.send(json!({"cmd": "bootstrap", "id": id_a, "address": "127.0.0.1", "udpPort": port_a}))
        .await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let ev = c.wait_for("peer_added", EVENT_TIMEOUT).await;
        seen.push(str_field(&ev, "id").to_owned());
    }
    seen.sort();
    let mut want = vec![id_a.clone(), id_b.clone()];
    want.sort();
    assert_eq!(seen, want);

    c.send(json!({"cmd": "peers"})).await;
    let peers = c.wait_for("peers", EVENT_TIMEOUT).await;
    let ids: Vec<&str> = peers["peers"]
        .as_array()
        .expect("peers array")
        .iter()
        .map(|p| str_field(p, "id"))
        .collect();
    assert_eq!(ids.len(), 2, "{peers}");
    assert!(!ids.contains(&id_c.as_str()));

    for peer in [a, b, c] {
        assert!(peer.exit(EVENT_TIMEOUT).await.success());
    }
}
