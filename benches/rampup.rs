//! Ramp-up benchmark: how long a server takes to reach [`TARGET_PEERS`]
//! peers after a restart with its node database (remembered peers are
//! dialed first), against a cold start (empty database, discovery from a
//! bootnode), in one run. Run with `cargo bench -p devp2p-rs --bench
//! rampup` (~10 s).
//!
//! A network of [`NODES`] servers on 127.0.0.1 (node 0 is the bootnode of
//! the others) runs discv4 and accepts peers but never dials, so only the
//! server under test makes connections. Each of [`ROUNDS`] rounds starts a
//! fresh server (a new key, an empty database file, discovery on,
//! bootstrapping from node 0), times it to [`TARGET_PEERS`] peers (cold),
//! stops it, starts it again with the same key, port, database and bootnode
//! and times it again (warm), then once more with `remembered_peers_dialed = 0`
//! (warm, but only discv4's seeds from the database: what the peer memory
//! adds beyond them). The medians are printed as
//!
//! ```text
//! bench rampup nodes=16 target_peers=8 cold_s=<s> warm_s=<s> ratio=<warm / cold> seeds_only_s=<s> seeds_only_ratio=<seeds_only / cold>
//! ```
//!
//! Waits are for peer events with [`ROUND_TIMEOUT`]; a round that does not
//! reach the target panics (the bench measures nothing then).

use std::time::{Duration, Instant};

use devp2p::config::Config;
use devp2p::node::Node;
use devp2p::test_utils::{test_config, TestNode};

/// Servers of the network the server under test connects to (bootnode
/// included): twice the target, so the target does not need every node.
const NODES: usize = 16;
/// Peers the server under test must reach (the issue's figure).
const TARGET_PEERS: usize = 8;
/// Cold and warm starts measured (medians over these).
const ROUNDS: usize = 5;
/// Longest wait for one start to reach the target.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// Test key index of the first network node (keys are seeded).
const NETWORK_KEY_BASE: usize = 9_000;
/// Test key index of the first server under test (one per round).
const SUBJECT_KEY_BASE: usize = 9_500;

/// A network node: discovery on, never dials.
fn network_config(index: usize, boot: Option<&Node>) -> Config {
    Config {
        no_discovery: false,
        discovery_v5: false,
        no_dial: true,
        bootstrap_nodes: boot.cloned().into_iter().collect(),
        ..test_config(NETWORK_KEY_BASE + index, vec![])
    }
}

/// The server under test of `round`: discovery on from `boot`, its node
/// database at `db`.
fn subject_config(round: usize, boot: &Node, db: &std::path::Path) -> Config {
    Config {
        no_discovery: false,
        discovery_v5: false,
        bootstrap_nodes: vec![boot.clone()],
        node_database: Some(db.to_path_buf()),
        ..test_config(SUBJECT_KEY_BASE + round, vec![])
    }
}

/// The discv4 endpoint of a started node (TCP and UDP share the port).
fn disc_node(n: &TestNode) -> Node {
    let mut node = n.node();
    node.udp = node.tcp;
    node
}

/// Starts `config` and returns the seconds until it has [`TARGET_PEERS`]
/// peers, and the running node.
async fn time_to_target(config: Config) -> (f64, TestNode) {
    let started = Instant::now();
    let mut node = TestNode::start(config).await.expect("server starts");
    node.wait_peers(TARGET_PEERS, ROUND_TIMEOUT)
        .await
        .expect("target peers reached");
    (started.elapsed().as_secs_f64(), node)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let boot = TestNode::start(network_config(0, None))
            .await
            .expect("bootnode starts");
        let boot_node = disc_node(&boot);
        let mut network = vec![boot];
        for i in 1..NODES {
            network.push(
                TestNode::start(network_config(i, Some(&boot_node)))
                    .await
                    .expect("node starts"),
            );
        }
        let (mut cold, mut warm, mut seeds_only) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let dir = tempfile::tempdir().expect("temporary directory");
            let config = subject_config(round, &boot_node, &dir.path().join("nodes"));
            let (t, node) = time_to_target(config.clone()).await;
            cold.push(t);
            // Restarts keep the port, as a real node restarts on its
            // configured port (a new port each time would also make the
            // other nodes' discv4 tables stale).
            let config = Config {
                listen_addr: node.server.local_addr(),
                ..config
            };
            node.server.stop().await;
            let (t, node) = time_to_target(config.clone()).await;
            warm.push(t);
            let memory = node
                .server
                .source_stats()
                .into_iter()
                .find(|s| s.name == devp2p::dial::PEER_MEMORY_SOURCE);
            node.server.stop().await;
            let no_memory = Config {
                remembered_peers_dialed: 0,
                ..config
            };
            let (s, node) = time_to_target(no_memory).await;
            seeds_only.push(s);
            node.server.stop().await;
            eprintln!(
                "round {round}: cold_s={:.3} warm_s={t:.3} seeds_only_s={s:.3} memory_source={memory:?}",
                cold[round]
            );
        }
        let (cold, warm, seeds_only) = (median(cold), median(warm), median(seeds_only));
        println!(
            "bench rampup nodes={NODES} target_peers={TARGET_PEERS} cold_s={cold:.3} warm_s={warm:.3} ratio={:.3} seeds_only_s={seeds_only:.3} seeds_only_ratio={:.3}",
            warm / cold,
            seeds_only / cold
        );
        for n in network {
            n.server.stop().await;
        }
    });
}
