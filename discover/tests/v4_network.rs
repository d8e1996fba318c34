//! Many nodes: 50 real services on loopback, and the simulator.

mod v4_support;

use std::collections::HashSet;
use std::time::Duration;

use devp2p_discover::node::NodeId;
use devp2p_discover::v4::sim::{SimConfig, SimNetwork};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode, Node};
use futures::StreamExt;
use v4_support::*;

/// Nodes in the loopback convergence test (issue requirement).
const LOOPBACK_NODES: usize = 50;
/// Upper bound on the loopback convergence time.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(60);

fn node_of(d: &Discv4) -> Node {
    let a = d.local_addr();
    Node::new(d.local_id(), a.ip(), a.port(), a.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_loopback_nodes_find_each_other_from_one_bootnode() {
    let fast = || Discv4Config {
        // Refresh every 3–6 s so convergence does not wait 15 minutes.
        refresh_interval: Duration::from_secs(6),
        seed: Some(3),
        ..Discv4Config::default()
    };
    let (boot, _) = start(1, fast()).await;
    let boot_node = node_of(&boot);
    let mut nodes = vec![boot.clone()];
    for i in 1..LOOPBACK_NODES {
        let cfg = Discv4Config {
            bootnodes: vec![boot_node.clone()],
            ..fast()
        };
        let (d, _) = start(i as u8 + 1, cfg).await;
        nodes.push(d);
    }
    let all: HashSet<NodeId> = nodes.iter().map(|d| d.local_id()).collect();
    let start_t = tokio::time::Instant::now();
    loop {
        let mut known: HashSet<NodeId> = HashSet::new();
        let mut min_table = usize::MAX;
        for d in &nodes {
            let t = d.table_nodes().await;
            min_table = min_table.min(t.len());
            known.extend(t.into_iter().map(|n| n.id));
        }
        if known == all && min_table >= 16 {
            break;
        }
        assert!(
            start_t.elapsed() < CONVERGENCE_LIMIT,
            "no convergence: {} of {} known, smallest table {min_table}",
            known.len(),
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every node can now look up any other by ID.
    for (i, d) in nodes.iter().enumerate().step_by(7) {
        let target = nodes[(i * 13 + 5) % LOOPBACK_NODES].local_id();
        let found = d.lookup(target).await;
        assert!(
            found.iter().any(|n| n.id == target) || target == d.local_id(),
            "node {i} did not find {target:?}"
        );
    }
    // The random-nodes stream yields table-quality nodes.
    let mut stream = nodes[3].random_nodes();
    let got: Vec<Node> = tokio::time::timeout(Duration::from_secs(10), (&mut stream).take(20).collect())
        .await
        .expect("random nodes");
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|n| all.contains(&n.id)));
    for d in &nodes {
        d.shutdown().await;
    }
    // The stream ends once its service is gone.
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("stream ends")
        .is_none());
}

fn sim_local(i: usize) -> (LocalNode, std::net::SocketAddr) {
    let mut b = [0x22u8; 32];
    b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    let key = secp256k1::SecretKey::from_slice(&b).unwrap();
    let addr = SimNetwork::addr_for(i);
    let local = LocalNode::new(key);
    local.set_ip(addr.ip());
    local.set_udp(addr.port());
    (local, addr)
}

/// 200 nodes join through one bootnode in the simulator (virtual time, 2%
/// loss) and lookups then find the true closest nodes.
#[tokio::test(start_paused = true)]
async fn simulated_network_converges_with_loss() {
    const N: usize = 200;
    let net = SimNetwork::new(SimConfig {
        loss: 0.02,
        ..SimConfig::default()
    });
    let mut nodes = Vec::new();
    let mut boot = None;
    for i in 0..N {
        let (local, addr) = sim_local(i);
        let cfg = Discv4Config {
            bootnodes: boot.iter().cloned().collect(),
            refresh_interval: Duration::from_secs(60),
            seed: Some(i as u64),
            ..Discv4Config::default()
        };
        let d = Discv4::spawn(net.bind(addr), local, cfg);
        if boot.is_none() {
            boot = Some(node_of(&d));
        }
        nodes.push(d);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a few refresh rounds pass in virtual time.
    tokio::time::sleep(Duration::from_secs(240)).await;
    let ids: Vec<NodeId> = nodes.iter().map(|d| d.local_id()).collect();
    let mut hits = 0;
    let mut total = 0;
    for k in 0..10 {
        let target = ids[(k * 37 + 11) % N];
        let th = target.hash();
        let mut truth = ids.clone();
        truth.sort_by(|a, b| devp2p_discover::node::distance_cmp(&th, &a.hash(), &b.hash()));
        let from = &nodes[(k * 53 + 7) % N];
        let truth: HashSet<NodeId> = truth.into_iter().filter(|i| *i != from.local_id()).take(16).collect();
        let found: HashSet<NodeId> = from.lookup(target).await.into_iter().map(|n| n.id).collect();
        hits += found.intersection(&truth).count();
        total += truth.len();
    }
    let recall = hits as f64 / total as f64;
    assert!(recall >= 0.9, "recall {recall}");
    for d in &nodes {
        d.shutdown().await;
    }
}
