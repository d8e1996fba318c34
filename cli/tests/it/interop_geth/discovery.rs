//! discv4 with go-ethereum both ways:
//! - our `Discv4` service and go-ethereum's p2p.Server (the harness, discv4
//!   and discv5 on one socket) bootstrap from each other, find each other
//!   with lookups, and answer each other's ping and ENR requests;
//! - our CLI's `discv4 ping|requestenr|resolve` against go-ethereum's
//!   `devp2p discv4 listen`, and go-ethereum's `devp2p discv4
//!   ping|requestenr|resolve` against our `devp2p discv4 listen`.
//!
//! go-ethereum's `devp2p discv4` commands bootstrap from the mainnet
//! bootnodes unless `--bootnodes` is given, so every run passes an empty
//! `--bootnodes`: all traffic stays on 127.0.0.0/8.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use devp2p::node::{Enr, LocalNode, Node, NodeId};
use devp2p_discover::v4::{Discv4, Discv4Config, Netlist};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child_peer::{fixed_key_hex, ChildPeer};
use crate::geth::{bin, devp2p_tool, harness_args, our_cli, text, Harness};
use crate::ours::{key, our_discv4_listen, WAIT};

/// Bound for one discv4 CLI command (go-ethereum's or ours): a ping, an ENR
/// request or a resolve is a few 500 ms request timeouts at worst (both
/// stacks' `respTimeout`); a resolve that falls back to a lookup a few more.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two rounds of a bounded polling loop (tests rule: ≤ 250 ms).
const POLL_PAUSE: Duration = Duration::from_millis(250);

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Our discv4 service with key `n` on 127.0.0.1 (port 0), restricted to
/// 127.0.0.0/8, with `bootnodes`. Returns it with its local record.
async fn our_discv4(n: u8, bootnodes: Vec<Node>) -> (Discv4, LocalNode) {
    let local = LocalNode::new(key(n), 1);
    local.set_ip(LOOPBACK);
    let cfg = Discv4Config {
        bootnodes,
        net_restrict: Some("127.0.0.0/8".parse::<Netlist>().expect("netlist")),
        ..Discv4Config::default()
    };
    let d = Discv4::bind(SocketAddr::new(LOOPBACK, 0), key(n), local.clone(), cfg)
        .await
        .expect("our discv4 binds 127.0.0.1");
    (d, local)
}

/// The enode URL of our service (no RLPx: TCP port = UDP port, as harmless
/// as any; go-ethereum only uses the UDP port here).
fn our_node_of(d: &Discv4) -> Node {
    let port = d.local_addr().port();
    Node::new(d.local_id(), LOOPBACK, port, port)
}

/// The node IDs (128 hex) in a harness event's list field `field`.
fn ids(ev: &Value, field: &str) -> Vec<String> {
    ev[field]
        .as_array()
        .unwrap_or_else(|| panic!("no list {field} in {ev}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Runs the harness's `lookup` until its result holds every node of `want`;
/// fails after [`WAIT`].
async fn harness_lookup_finds(h: &mut Harness, who: &str, want: &[NodeId]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = h.call(json!({"cmd": "lookup"}), "lookup", WAIT).await;
        let found = ids(&ev, "nodes");
        if want.iter().all(|id| found.contains(&id.to_string())) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who}'s lookups never returned all of {want:?}: last {found:?}"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

/// Runs our lookups (toward `target`) until the result holds every node of
/// `want`; fails after [`WAIT`].
async fn our_lookup_finds(d: &Discv4, target: NodeId, want: &[NodeId]) -> Vec<Node> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = d.lookup(target).await;
        if want.iter().all(|id| found.iter().any(|n| n.id == *id)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "our lookups never returned all of {want:?}: last {found:?}"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

/// Checks what the harness's `requestenr` (or `resolve`) reported about us.
fn assert_is_our_record(ev: &Value, local: &LocalNode, udp: u16) {
    assert_eq!(ev["id"], local.id().to_string(), "{ev}");
    assert_eq!(ev["seq"], local.seq(), "{ev}");
    assert_eq!(ev["ip"], "127.0.0.1", "{ev}");
    assert_eq!(ev["udp"], udp, "{ev}");
    let enr: Enr = ev["enr"]
        .as_str()
        .expect("enr text")
        .parse()
        .expect("ENR parses");
    assert_eq!(
        enr,
        local.enr(),
        "go-ethereum returned our record unchanged"
    );
}

/// Three nodes: harness G1 alone, ours bootstrapping from G1, harness G2
/// bootstrapping from ours. Every node's lookups find the other two (G2
/// learns G1 only through our Neighbors, G1 learns G2 only through ours),
/// and ping and ENR requests are answered both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_and_geth_bootstrap_from_each_other() {
    let mut g1 = Harness::start(&harness_args(
        0xa1,
        &["--name", "geth-harness/disc1", "--nodial"],
    ))
    .await;
    let g1_record: Enr = g1.enr.parse().expect("G1's ENR parses");
    let (ours, local) = our_discv4(0xa2, vec![g1.node()]).await;
    let our_node = our_node_of(&ours);
    let our_enode = our_node.to_string();
    let our_udp = ours.local_addr().port();
    let mut g2 = Harness::start(&harness_args(
        0xa3,
        &[
            "--name",
            "geth-harness/disc2",
            "--nodial",
            "--bootnode",
            &our_enode,
        ],
    ))
    .await;
    let (g1_id, g2_id, our_id) = (g1.id, g2.id, ours.local_id());

    // Lookups on every side return the others.
    let far = NodeId::from_secret_key(&key(0xbf));
    our_lookup_finds(&ours, far, &[g1_id, g2_id]).await;
    harness_lookup_finds(&mut g2, "G2", &[our_id, g1_id]).await;
    harness_lookup_finds(&mut g1, "G1", &[our_id, g2_id]).await;
    for (h, name) in [(&mut g1, "G1"), (&mut g2, "G2")] {
        let ev = h.call(json!({"cmd": "nodes"}), "nodes", WAIT).await;
        assert!(
            ids(&ev, "v4").contains(&our_id.to_string()),
            "{name}'s discv4 table lacks us: {ev}"
        );
    }
    let table = ours.table_nodes().await;
    for id in [g1_id, g2_id] {
        assert!(table.iter().any(|n| n.id == id), "our table lacks {id}");
    }

    // go-ethereum asks us: ping (its pong carries our seq), ENR, resolve.
    for h in [&mut g1, &mut g2] {
        let pong = h
            .call(json!({"cmd": "ping", "node": our_enode}), "pong", WAIT)
            .await;
        assert_eq!(pong["enr_seq"], local.seq(), "{pong}");
        let ev = h
            .call(json!({"cmd": "requestenr", "node": our_enode}), "enr", WAIT)
            .await;
        assert_is_our_record(&ev, &local, our_udp);
        let ev = h
            .call(
                json!({"cmd": "resolve", "node": our_enode}),
                "resolved",
                WAIT,
            )
            .await;
        assert_is_our_record(&ev, &local, our_udp);
    }

    // We ask go-ethereum: ping, ENR (its id and the seq it started with),
    // resolve.
    for h in [&g1, &g2] {
        ours.ping(&h.node())
            .await
            .expect("go-ethereum answers our ping");
        let enr = ours
            .request_enr(&h.node())
            .await
            .expect("go-ethereum answers our ENR request");
        assert_eq!(enr.node_id(), h.id);
        let started: Enr = h.enr.parse().expect("harness ENR parses");
        assert_eq!(enr.seq(), started.seq(), "{enr} vs {started}");
        assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(enr.udp(), Some(h.udp));
        let resolved = ours.resolve(&h.node()).await.expect("resolves");
        assert_eq!(resolved.id, h.id);
        assert_eq!(resolved.udp_addr(), Some(SocketAddr::new(LOOPBACK, h.udp)));
    }
    assert_eq!(
        ours.request_enr(&g1.node()).await.expect("G1's ENR"),
        g1_record,
        "G1's record is the one it printed at start"
    );

    ours.shutdown().await;
    g2.exit().await;
    g1.exit().await;
}

/// go-ethereum's `devp2p discv4 listen` with key `n` on 127.0.0.1: the child
/// (killed on drop) and its record (its first stdout line).
async fn geth_listen(n: u8) -> (ChildPeer, Enr) {
    let mut cmd = Command::new(bin("devp2p"));
    cmd.args([
        "discv4",
        "listen",
        "--nodekey",
        &fixed_key_hex(n),
        "--addr",
        "127.0.0.1:0",
        "--bootnodes",
        "",
    ]);
    let mut child = ChildPeer::spawn(
        "go-ethereum devp2p discv4 listen",
        cmd,
        "built by tests/geth/build.sh",
    );
    let line = child.next_line(WAIT).await;
    let enr: Enr = line
        .parse()
        .unwrap_or_else(|e| panic!("first line {line:?} is not an ENR: {e}"));
    assert_eq!(enr.node_id(), NodeId::from_secret_key(&key(n)));
    (child, enr)
}

#[tokio::test]
async fn our_discv4_cli_against_geths_listen() {
    let (_listen, record) = geth_listen(0xa4).await;
    let node = Node::from_enr(&record).expect("record has an endpoint");
    assert_eq!(node.ip, Some(LOOPBACK));
    let enode = node.to_string();
    let ours = |cmd: &'static str| {
        let enode = enode.clone();
        async move {
            let out = our_cli(
                &["discv4", cmd, "--addr", "127.0.0.1:0", &enode],
                CLI_TIMEOUT,
            )
            .await;
            assert!(out.status.success(), "our discv4 {cmd}: {}", text(&out));
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };

    let stdout = ours("ping").await;
    assert!(stdout.starts_with("node responded to ping"), "{stdout}");

    let stdout = ours("requestenr").await;
    let first = stdout.lines().next().unwrap_or_default();
    let got: Enr = first
        .parse()
        .expect("our requestenr prints the record first");
    assert_eq!(got.node_id(), record.node_id());
    assert_eq!(got.seq(), record.seq(), "{got} vs {record}");
    assert_eq!(got, record, "the record go-ethereum printed at start");

    let stdout = ours("resolve").await;
    let resolved: Node = stdout.trim().parse().expect("resolve prints an enode URL");
    assert_eq!(resolved.id, node.id);
    assert_eq!(resolved.udp_addr(), node.udp_addr());
}

#[tokio::test]
async fn geths_discv4_commands_against_our_listen() {
    let (_listen, line) = our_discv4_listen(0xa5).await;
    let node: Node = line
        .parse()
        .unwrap_or_else(|e| panic!("first line {line:?} is not an enode URL: {e}"));
    assert_eq!(node.id, NodeId::from_secret_key(&key(0xa5)));
    let udp = node.udp_addr().expect("enode has a UDP endpoint");
    let enode = node.to_string();
    let geth = |cmd: &'static str| {
        let enode = enode.clone();
        async move {
            // Flags before the argument: go-ethereum's CLI stops reading
            // flags at the first positional argument.
            let out = devp2p_tool(
                &[
                    "discv4",
                    cmd,
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
                "go-ethereum discv4 {cmd}: {}",
                text(&out)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };

    let stdout = geth("ping").await;
    assert!(stdout.starts_with("node responded to ping"), "{stdout}");

    // Both print a record: requestenr the one we sent, resolve the one it
    // then found (go-ethereum prints an enode URL only for nodes without one).
    for cmd in ["requestenr", "resolve"] {
        let stdout = geth(cmd).await;
        let enr: Enr = stdout
            .parse()
            .unwrap_or_else(|e| panic!("{cmd} printed {stdout:?}, not an ENR: {e}"));
        assert_eq!(enr.node_id(), node.id, "{cmd}");
        assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST), "{cmd}");
        assert_eq!(enr.udp(), Some(udp.port()), "{cmd}");
    }
}
