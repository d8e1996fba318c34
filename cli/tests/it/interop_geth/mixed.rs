//! A mixed network on 127.0.0.1: 8 of our nodes and 4 go-ethereum p2p.Servers
//! (the harness, running the same `demo/1` protocol), one bootnode of each
//! kind. Two of our nodes run discv5 only; the others and go-ethereum run
//! discv4 and discv5 on one port. Every node finds every other (through
//! discv4 or discv5), the dialers connect across implementations, every
//! node's gossip reaches every node, go-ethereum's `devp2p discv4 crawl`
//! finds every node that runs discv4, and its `devp2p discv5 crawl` finds
//! all 12.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use devp2p::config::Config;
use devp2p::node::{keccak256, Enr, NodeId};
use devp2p::server::Server;
use devp2p_cli::demo::{Demo, DemoConfig, DEFAULT_NETWORK_ID};
use serde_json::{json, Value};

use crate::geth::{devp2p_tool, harness_args, text, Harness};
use crate::ours::key;

/// Our nodes in the network.
const OURS: usize = 8;
/// go-ethereum nodes in the network.
const GETHS: usize = 4;
/// Our nodes with index at or above this run discv5 only.
const FIRST_V5_ONLY: usize = 6;
/// Key byte of our first node (ours: 0x90..0x97, go-ethereum's: 0x98..0x9b).
const OUR_KEY_BASE: u8 = 0x90;
const GETH_KEY_BASE: u8 = 0x98;

/// Bound for the network to form (discovery, dials, gossip); it takes a few
/// seconds on an idle machine.
const FORM_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause between two looks at the network's state while it forms.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How long go-ethereum's crawler walks the network, and the bound on the
/// crawl command itself.
const CRAWL_SECONDS: u64 = 15;
const CRAWL_TIMEOUT: Duration = Duration::from_secs(CRAWL_SECONDS + 30);
/// Our dial history for the test: a node whose dial failed while the
/// network was forming is tried again soon (go-ethereum's is 35 s).
const DIAL_HISTORY: Duration = Duration::from_secs(2);

struct OurNode {
    server: Server,
    demo: Demo,
}

async fn start_ours(i: usize, bootnodes: Vec<devp2p::node::Node>, v5_boot: Vec<Enr>) -> OurNode {
    let k = key(OUR_KEY_BASE + i as u8);
    let id = NodeId::from_secret_key(&k);
    let demo = Demo::new(DemoConfig {
        name: format!("ours-{i}"),
        ..DemoConfig::new(id)
    });
    let config = Config {
        name: format!("devp2p-rs-mixed/{i}"),
        listen_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
        bootstrap_nodes: bootnodes,
        bootstrap_nodes_v5: v5_boot,
        discovery_v4: i < FIRST_V5_ONLY,
        protocols: vec![demo.protocol()],
        net_restrict: Some("127.0.0.0/8".parse().unwrap()),
        dial_history_expiration: DIAL_HISTORY,
        // Nodes start at once: early dial failures must not back off.
        max_dial_backoff: std::time::Duration::ZERO,
        ..Config::with_key(k)
    };
    let server = Server::start(config).await.expect("our node starts");
    OurNode { server, demo }
}

async fn start_geth(i: usize, bootnodes: &[String], v5_boot: &[Enr]) -> Harness {
    let mut args = vec![
        "--demo".to_owned(),
        DEFAULT_NETWORK_ID.to_string(),
        "--name".to_owned(),
        format!("geth-mixed/{i}"),
    ];
    for b in bootnodes {
        args.push("--bootnode".to_owned());
        args.push(b.clone());
    }
    for b in v5_boot {
        args.push("--bootnodev5".to_owned());
        args.push(b.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Harness::start(&harness_args(GETH_KEY_BASE + i as u8, &refs)).await
}

/// What the test still misses, for the failure message (empty: formed).
#[derive(Debug, Default)]
struct Missing(Vec<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_network_forms_and_gossips() {
    // Bootnodes: go-ethereum's first, then ours pointing at it.
    let mut geths = vec![start_geth(0, &[], &[]).await];
    let geth0_enr: Enr = geths[0].enr.parse().unwrap();
    let mut ours = vec![start_ours(0, vec![geths[0].node()], vec![geth0_enr.clone()]).await];
    let boot = vec![ours[0].server.self_node(), geths[0].node()];
    let boot_urls: Vec<String> = boot.iter().map(|n| n.to_string()).collect();
    let boot_v5 = vec![ours[0].server.local_node().enr(), geth0_enr];
    for i in 1..OURS {
        ours.push(start_ours(i, boot.clone(), boot_v5.clone()).await);
    }
    for i in 1..GETHS {
        geths.push(start_geth(i, &boot_urls, &boot_v5).await);
    }
    assert!(ours[FIRST_V5_ONLY..]
        .iter()
        .all(|n| n.server.discovery().is_none() && n.server.discovery_v5().is_some()));
    let our_ids: Vec<NodeId> = ours.iter().map(|n| n.server.self_node().id).collect();
    let geth_ids: Vec<NodeId> = geths.iter().map(|h| h.id).collect();
    let all: HashSet<NodeId> = our_ids.iter().chain(&geth_ids).copied().collect();
    assert_eq!(all.len(), OURS + GETHS);

    // Everyone gossips once; delivery is checked below.
    for n in &ours {
        n.demo.broadcast("from ours").await.unwrap();
    }
    for h in &mut geths {
        h.call(
            json!({"cmd": "demo_broadcast", "text": "from geth"}),
            "demo_sent",
            Duration::from_secs(5),
        )
        .await;
    }

    let mut geth_delivered: Vec<HashSet<NodeId>> = vec![HashSet::new(); GETHS];
    let deadline = tokio::time::Instant::now() + FORM_TIMEOUT;
    loop {
        let missing = check(&ours, &mut geths, &all, &geth_ids, &mut geth_delivered).await;
        if missing.0.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "mixed network not formed within {FORM_TIMEOUT:?}:\n{}",
                missing.0.join("\n")
            );
        }
        tokio::time::sleep(CHECK_INTERVAL).await;
    }

    // go-ethereum's crawlers, started from both bootnodes: discv4 finds
    // every node running discv4, discv5 all 12.
    let v5_only: HashSet<NodeId> = our_ids[FIRST_V5_ONLY..].iter().copied().collect();
    let v4_nodes: HashSet<NodeId> = all.difference(&v5_only).copied().collect();
    let boot_v5_text: Vec<String> = boot_v5.iter().map(|r| r.to_string()).collect();
    for (proto, boot, want) in [
        ("discv4", boot_urls.join(","), &v4_nodes),
        ("discv5", boot_v5_text.join(","), &all),
    ] {
        let crawled = geth_crawl(proto, &boot).await;
        for id in want {
            let v4_id = hex::encode(keccak256(id.as_bytes()));
            assert!(
                crawled.contains(&v4_id),
                "{proto} crawl misses {id}; found {crawled:?}"
            );
        }
        println!("go-ethereum's {proto} crawl found {} nodes", crawled.len());
    }

    for n in &ours {
        n.demo.shutdown().await;
        n.server.stop().await;
    }
    for h in geths {
        h.exit().await;
    }
}

/// go-ethereum's `devp2p <proto> crawl` from `bootnodes` for
/// [`CRAWL_SECONDS`]; the node IDs (keccak256 hex) it wrote.
async fn geth_crawl(proto: &str, bootnodes: &str) -> HashSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let nodes_file = dir.path().join("nodes.json");
    let out = devp2p_tool(
        &[
            proto,
            "crawl",
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            bootnodes,
            "--timeout",
            &format!("{CRAWL_SECONDS}s"),
            nodes_file.to_str().unwrap(),
        ],
        CRAWL_TIMEOUT,
    )
    .await;
    assert!(out.status.success(), "{proto} crawl: {}", text(&out));
    let crawled: HashMap<String, Value> =
        serde_json::from_slice(&std::fs::read(&nodes_file).unwrap()).unwrap();
    crawled
        .keys()
        .map(|k| k.trim_start_matches("0x").to_owned())
        .collect()
}

/// One look at the whole network; returns what is not there yet.
async fn check(
    ours: &[OurNode],
    geths: &mut [Harness],
    all: &HashSet<NodeId>,
    geth_ids: &[NodeId],
    geth_delivered: &mut [HashSet<NodeId>],
) -> Missing {
    let mut missing = Missing::default();
    for (i, n) in ours.iter().enumerate() {
        let me = n.server.self_node().id;
        let mut known: HashSet<NodeId> = HashSet::new();
        let v4 = n.server.discovery();
        let v5 = n.server.discovery_v5().expect("discv5 on");
        if let Some(disc) = &v4 {
            known.extend(disc.table_nodes().await.iter().map(|n| n.id));
        }
        known.extend(v5.table_enrs().iter().map(|r| r.node_id()));
        if known.len() < all.len() - 1 {
            if let Some(disc) = &v4 {
                known.extend(disc.lookup(me).await.iter().map(|n| n.id));
            }
            let found = v5.lookup_random().await.unwrap_or_default();
            known.extend(found.iter().map(|r| r.node_id()));
        }
        let unknown: Vec<_> = all
            .iter()
            .filter(|id| **id != me && !known.contains(id))
            .collect();
        if !unknown.is_empty() {
            missing.0.push(format!(
                "ours {i} has not discovered {} nodes",
                unknown.len()
            ));
        }
        let peers: Vec<NodeId> = n.server.peers().await.iter().map(|p| p.id()).collect();
        if !peers.iter().any(|p| geth_ids.contains(p)) {
            missing.0.push(format!(
                "ours {i} has no go-ethereum peer ({} peers)",
                peers.len()
            ));
        }
        let stats = n.demo.stats().await.unwrap();
        let from: HashSet<&NodeId> = stats.delivered_by_origin.keys().collect();
        let not_yet = all
            .iter()
            .filter(|id| **id != me && !from.contains(id))
            .count();
        if not_yet > 0 {
            missing
                .0
                .push(format!("ours {i} lacks gossip from {not_yet} nodes"));
        }
    }
    for (i, h) in geths.iter_mut().enumerate() {
        let me = h.id;
        let nodes = h
            .call(json!({"cmd": "nodes"}), "nodes", Duration::from_secs(5))
            .await;
        let mut known = ids(&nodes["v4"]);
        known.extend(ids(&nodes["v5"]));
        if known.len() < all.len() - 1 {
            let found = h
                .call(json!({"cmd": "lookup"}), "lookup", Duration::from_secs(20))
                .await;
            known.extend(ids(&found["nodes"]));
        }
        let unknown = all
            .iter()
            .filter(|id| **id != me && !known.contains(id))
            .count();
        if unknown > 0 {
            missing
                .0
                .push(format!("geth {i} has not discovered {unknown} nodes"));
        }
        let peers = h
            .call(json!({"cmd": "peers"}), "peers", Duration::from_secs(5))
            .await;
        let peer_ids: HashSet<NodeId> = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().parse().unwrap())
            .collect();
        if !peer_ids.iter().any(|p| !geth_ids.contains(p)) {
            missing.0.push(format!(
                "geth {i} has none of our nodes as peer ({} peers)",
                peer_ids.len()
            ));
        }
        // Deliveries arrive as events; take every one queued so far.
        while let Some(ev) = h.take_queued("demo_delivered").await {
            geth_delivered[i].insert(ev["origin"].as_str().unwrap().parse().unwrap());
        }
        let not_yet = all
            .iter()
            .filter(|id| **id != me && !geth_delivered[i].contains(id))
            .count();
        if not_yet > 0 {
            missing
                .0
                .push(format!("geth {i} lacks gossip from {not_yet} nodes"));
        }
    }
    missing
}

fn ids(list: &Value) -> HashSet<NodeId> {
    list.as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}
