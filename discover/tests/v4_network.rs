//! 50 real services on loopback find each other from one bootnode.

mod v4_support;

use std::collections::HashSet;
use std::time::Duration;

use devp2p_discover::node::NodeId;
use devp2p_discover::v4::{Discv4, Discv4Config, Node};
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
        if start_t.elapsed() >= CONVERGENCE_LIMIT {
            let mut sizes = Vec::new();
            for (i, d) in nodes.iter().enumerate() {
                sizes.push((
                    i,
                    d.table_nodes().await.len(),
                    known.contains(&d.local_id()),
                ));
            }
            panic!(
                "no convergence: {} of {} known, smallest table {min_table}; (node, table size, known): {sizes:?}",
                known.len(),
                all.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every node can now look up any other by ID. A reply can miss the 500 ms
    // timeout on a loaded machine, so each search gets up to 3 attempts (as
    // a dialer would retry).
    for (i, d) in nodes.iter().enumerate().step_by(7) {
        let target = nodes[(i * 13 + 5) % LOOPBACK_NODES].local_id();
        let mut found = target == d.local_id();
        for _ in 0..3 {
            if found {
                break;
            }
            found = d.lookup(target).await.iter().any(|n| n.id == target);
        }
        assert!(found, "node {i} did not find {target:?}");
    }
    // The random-nodes stream yields table-quality nodes.
    let mut stream = nodes[3].random_nodes();
    let got: Vec<Node> =
        tokio::time::timeout(Duration::from_secs(10), (&mut stream).take(20).collect())
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

/// The smallest network: a bootnode and one node. Each finds the other by
/// lookup (the answering node is part of the result, as in geth, even when
/// its reply holds nobody else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_find_each_other_by_lookup() {
    let (boot, _) = start(60, Discv4Config::default()).await;
    let cfg = Discv4Config {
        bootnodes: vec![node_of(&boot)],
        ..Discv4Config::default()
    };
    let (node, _) = start(61, cfg).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let a = node.lookup(boot.local_id()).await;
        let b = boot.lookup(node.local_id()).await;
        if a.iter().any(|n| n.id == boot.local_id()) && b.iter().any(|n| n.id == node.local_id()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mutual lookup after {attempts} attempts: node found {a:?}, bootnode found {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("two nodes: mutual lookup after {attempts} attempt(s)");
    node.shutdown().await;
    boot.shutdown().await;
}
