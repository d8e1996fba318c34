//! discv5 with go-ethereum both ways:
//! - our `Discv5` service and go-ethereum's p2p.Server (the harness)
//!   bootstrap from each other's record and find each other;
//! - our `Server` with discv4 and discv5 on ONE UDP port talks to a harness
//!   over both protocols, and a change of our record (through `LocalNode`)
//!   reaches go-ethereum over both with the sequence number moved once;
//! - our CLI's `discv5 ping|resolve` against the harness, and go-ethereum's
//!   `devp2p discv5 ping|resolve` against our `devp2p discv5 listen`.
//!
//! go-ethereum's `devp2p discv5` commands bootstrap from the mainnet
//! bootnodes unless `--bootnodes` is given, so every run passes an empty
//! `--bootnodes`: all traffic stays on 127.0.0.0/8.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use devp2p::config::Config;
use devp2p::node::{Enr, LocalNode, NodeId};
use devp2p::server::Server;
use devp2p_discover::v5::{Discv5, Discv5Config};
use serde_json::{json, Value};

use crate::geth::{devp2p_tool, harness_args, our_cli, text, Harness};
use crate::ours::{key, our_discv5_listen, WAIT};

/// Bound for one discv5 CLI command (go-ethereum's or ours): a handshake
/// and one request, each with a 1 s timeout and a retry at worst.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two rounds of a bounded polling loop (tests rule: ≤ 250 ms).
const POLL_PAUSE: Duration = Duration::from_millis(250);

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The node IDs (128 hex) in a harness event's list field `field`.
fn ids(ev: &Value, field: &str) -> Vec<String> {
    ev[field]
        .as_array()
        .unwrap_or_else(|| panic!("no list {field} in {ev}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Waits (bounded by [`WAIT`]) until the harness's table `field` ("v4" or
/// "v5") holds `id`.
async fn harness_table_holds(h: &mut Harness, field: &str, id: NodeId) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = h.call(json!({"cmd": "nodes"}), "nodes", WAIT).await;
        if ids(&ev, field).contains(&id.to_string()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "go-ethereum's {field} table never held {id}: {ev}"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

/// Waits (bounded by [`WAIT`]) until `d`'s table holds `id`, running a
/// random lookup between looks.
async fn our_table_holds(d: &Discv5, id: NodeId) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !d.table_enrs().iter().any(|r| r.node_id() == id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "our discv5 table never held {id}"
        );
        let _ = d.lookup_random().await;
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_and_geth_find_each_other_over_discv5() {
    let local = LocalNode::new(key(0xb2), 1);
    local.set_ip(LOOPBACK);
    let mut h = Harness::start(&harness_args(
        0xb3,
        &["--name", "geth-harness/v5", "--nodial"],
    ))
    .await;
    let h_record: Enr = h.enr.parse().expect("harness ENR parses");
    let cfg = Discv5Config {
        bootnodes: vec![h_record.clone()],
        ..Discv5Config::default()
    };
    let ours = Discv5::bind(SocketAddr::new(LOOPBACK, 0), key(0xb2), local.clone(), cfg)
        .await
        .expect("our discv5 binds 127.0.0.1");
    let our_record = ours.local_enr().unwrap();
    // A second harness that knows only our record: it can find the first
    // one only through us.
    let mut h2 = Harness::start(&harness_args(
        0xb4,
        &[
            "--name",
            "geth-harness/v5b",
            "--nodial",
            "--bootnodev5",
            &our_record.to_string(),
        ],
    ))
    .await;

    harness_table_holds(&mut h, "v5", local.id()).await;
    harness_table_holds(&mut h2, "v5", local.id()).await;
    our_table_holds(&ours, h.id).await;
    our_table_holds(&ours, h2.id).await;

    // We ask go-ethereum: ping (its pong carries its seq) and its record.
    for hh in [&h, &h2] {
        let record: Enr = hh.enr.parse().unwrap();
        assert_eq!(ours.ping(&record).await.expect("pong"), record.seq());
        assert_eq!(ours.request_enr(&record).await.expect("record"), record);
    }

    ours.shutdown().await;
    h2.exit().await;
    h.exit().await;
}

/// go-ethereum's `devp2p discv5 <cmd>` against `enr`; its trimmed stdout.
async fn geth_v5(cmd: &str, enr: &str) -> String {
    let out = devp2p_tool(
        &[
            "discv5",
            cmd,
            "--bootnodes",
            "",
            "--addr",
            "127.0.0.1:0",
            enr,
        ],
        CLI_TIMEOUT,
    )
    .await;
    assert!(
        out.status.success(),
        "go-ethereum discv5 {cmd}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_serves_geth_over_discv4_and_discv5_with_one_record() {
    let mut h = Harness::start(&harness_args(
        0xb5,
        &["--name", "geth-harness/oneport", "--nodial"],
    ))
    .await;
    let config = Config {
        listen_addr: Some(SocketAddr::new(LOOPBACK, 0)),
        bootstrap_nodes: vec![h.node()],
        bootstrap_nodes_v5: vec![h.enr.parse().expect("harness ENR parses")],
        net_restrict: Some("127.0.0.0/8".parse().unwrap()),
        no_dial: true,
        ..Config::with_key(key(0xb6))
    };
    let server = Server::start(config).await.expect("our server starts");
    let v4 = server.discovery().expect("discv4 runs");
    let v5 = server.discovery_v5().expect("discv5 runs");
    assert_eq!(v4.local_addr(), v5.local_addr(), "one UDP socket");
    let local = server.local_node();
    let id = local.id();

    // go-ethereum holds us in both tables, and we hold it in both.
    harness_table_holds(&mut h, "v4", id).await;
    harness_table_holds(&mut h, "v5", id).await;
    our_table_holds(&v5, h.id).await;
    assert!(v4.table_nodes().await.iter().any(|n| n.id == h.id));

    // Both protocols answer on the one port.
    let enode = server.self_node().to_string();
    let before = local.enr();
    let out = devp2p_tool(
        &[
            "discv4",
            "ping",
            "--bootnodes",
            "",
            "--addr",
            "127.0.0.1:0",
            &enode,
        ],
        CLI_TIMEOUT,
    )
    .await;
    assert!(
        out.status.success(),
        "go-ethereum discv4 ping: {}",
        text(&out)
    );
    geth_v5("ping", &before.to_string()).await;
    assert_eq!(
        geth_v5("resolve", &before.to_string()).await,
        before.to_string()
    );

    // One change through LocalNode: both protocols hand out the same new
    // record, its seq one higher.
    local
        .set_raw("test", devp2p::alloy_rlp::encode(b"one record".as_slice()))
        .unwrap();
    let after = local.enr();
    assert_eq!(after.seq(), before.seq() + 1);
    let deadline = tokio::time::Instant::now() + WAIT;
    while v5.local_enr().unwrap() != after {
        assert!(
            tokio::time::Instant::now() < deadline,
            "discv5 kept the old record"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
    let ev = h
        .call(json!({"cmd": "requestenr", "node": enode}), "enr", WAIT)
        .await;
    assert_eq!(ev["seq"], after.seq(), "{ev}");
    assert_eq!(
        ev["enr"],
        after.to_string(),
        "discv4 hands out the new record"
    );
    let resolved = geth_v5("resolve", &before.to_string()).await;
    assert_eq!(
        resolved,
        after.to_string(),
        "discv5 hands out the new record"
    );
    assert_eq!(local.seq(), after.seq(), "nothing else moved the seq");

    server.stop().await;
    h.exit().await;
}

#[tokio::test]
async fn our_discv5_cli_against_geth() {
    let h = Harness::start(&harness_args(
        0xb7,
        &["--name", "geth-harness/v5cli", "--nodial"],
    ))
    .await;
    let record: Enr = h.enr.parse().unwrap();
    let ours = |cmd: &'static str| {
        let enr = h.enr.clone();
        async move {
            let out = our_cli(&["discv5", cmd, "--addr", "127.0.0.1:0", &enr], CLI_TIMEOUT).await;
            assert!(out.status.success(), "our discv5 {cmd}: {}", text(&out));
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let stdout = ours("ping").await;
    assert!(
        stdout.starts_with(&format!("node responded to ping (seq {}", record.seq())),
        "{stdout}"
    );
    let stdout = ours("resolve").await;
    let got: Enr = stdout
        .lines()
        .next()
        .unwrap_or_default()
        .parse()
        .expect("record first");
    assert_eq!(got, record);
    h.exit().await;
}

#[tokio::test]
async fn geths_discv5_commands_against_our_listen() {
    let (_listen, enr) = our_discv5_listen(0xb8).await;
    let record: Enr = enr.parse().unwrap();
    assert_eq!(record.node_id(), NodeId::from_secret_key(&key(0xb8)));
    geth_v5("ping", &enr).await;
    assert_eq!(geth_v5("resolve", &enr).await, enr);
}
