//! `devp2p devnet`: N nodes on 127.0.0.1 in one process that find each other
//! through discv4 (starting from node 0 only), connect, and gossip one demo
//! message each; succeeds when every node got every other node's message.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::demo::{Demo, DemoConfig, DemoStats};
use clap::Args;
use devp2p::config::Config;
use devp2p::node::{generate_node_key, NodeId};
use devp2p::server::Server;

use super::progress::{Counter, LiveView};
use super::CliError;

/// Most nodes in one devnet (our choice: each node holds a UDP and a TCP
/// socket and ~N peer connections; 256 stays far below file limits).
pub(super) const MAX_DEVNET_NODES: u16 = 256;
/// How often the progress line is refreshed.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
/// How often the success condition is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a node is not re-dialed after an attempt: short, since all nodes
/// start at once and early dials may race the listeners (the library default
/// of 35 s protects real networks from dial storms).
const DEVNET_DIAL_HISTORY: Duration = Duration::from_secs(1);

/// Flags of `devp2p devnet`.
#[derive(Debug, Args)]
pub(super) struct DevnetArgs {
    /// Number of nodes (node 0 is the bootnode).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(2..=MAX_DEVNET_NODES as i64))]
    pub nodes: u16,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub seconds: u64,
}

/// One devnet node.
struct DevNode {
    server: Server,
    demo: Demo,
    id: NodeId,
}

/// What one node has achieved so far.
#[derive(Clone, Debug, Default)]
struct Progress {
    peers: usize,
    discovered: usize,
    stats: DemoStats,
}

/// Runs the devnet; `Ok` only when the success condition held.
pub(super) async fn run(args: DevnetArgs) -> Result<(), CliError> {
    let n = usize::from(args.nodes);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    eprintln!("devnet: starting {n} nodes on 127.0.0.1");

    let mut nodes: Vec<DevNode> = Vec::with_capacity(n);
    let mut boot = None;
    for i in 0..n {
        let node = match start_node(i, boot.clone()).await {
            Ok(node) => node,
            Err(e) => {
                stop_all(&nodes).await;
                return Err(e);
            }
        };
        if i == 0 {
            boot = Some(node.server.self_node());
            eprintln!("devnet: bootnode {}", node.server.self_node());
        }
        nodes.push(node);
    }
    for (i, node) in nodes.iter().enumerate() {
        let _ = node
            .demo
            .broadcast(format!("hello from node {i} ({})", short_id(&node.id)))
            .await;
    }

    let view = LiveView::new("devnet", &["discovered", "peers", "delivered"]);
    let mut last_progress = Instant::now() - PROGRESS_INTERVAL;
    let boot_id = nodes[0].id;
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
    let (progress, outcome) = loop {
        let progress = collect(&nodes, boot_id).await;
        let verdict = check(&ids, &progress);
        if last_progress.elapsed() >= PROGRESS_INTERVAL || verdict.is_ok() {
            last_progress = Instant::now();
            view.update(started.elapsed(), &counters(&progress, n));
        }
        match verdict {
            Ok(()) => break (progress, Ok(())),
            Err(reason) if Instant::now() >= deadline => break (progress, Err(reason)),
            Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    };
    let elapsed = started.elapsed();
    view.finish();
    print!("{}", summary_table(&ids, &progress));
    stop_all(&nodes).await;
    match outcome {
        Ok(()) => {
            println!(
                "devnet: success: {n} nodes discovered each other and delivered all {} messages in {:.1} s",
                n * (n - 1),
                elapsed.as_secs_f64()
            );
            Ok(())
        }
        Err(reason) => Err(CliError::Devnet(format!(
            "gave up after {} s: {reason}",
            args.seconds
        ))),
    }
}

/// Starts node `i` on 127.0.0.1 with a free port, knowing only `boot`.
async fn start_node(i: usize, boot: Option<devp2p::node::Node>) -> Result<DevNode, CliError> {
    let key = generate_node_key();
    let id = NodeId::from_secret_key(&key);
    let demo = Demo::new(DemoConfig {
        name: format!("devnet-{i}"),
        ..DemoConfig::new(id)
    });
    let config = Config {
        name: format!("devp2p-devnet/{i}"),
        listen_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
        bootstrap_nodes: boot.into_iter().collect(),
        protocols: vec![demo.protocol()],
        dial_history_expiration: DEVNET_DIAL_HISTORY,
        // Early dials race the listeners; failures must not back off.
        max_dial_backoff: Duration::ZERO,
        ..Config::with_key(key)
    };
    let server = Server::start(config).await?;
    Ok(DevNode { server, demo, id })
}

async fn collect(nodes: &[DevNode], boot_id: NodeId) -> Vec<Progress> {
    let per_node = nodes.iter().map(|node| async move {
        let peers = node.server.peer_count().await;
        let discovered = match node.server.discovery() {
            Some(d) => d
                .table_nodes()
                .await
                .iter()
                .filter(|n| n.id != boot_id)
                .count(),
            None => 0,
        };
        let stats = node.demo.stats().await.unwrap_or_default();
        Progress {
            peers,
            discovered,
            stats,
        }
    });
    futures::future::join_all(per_node).await
}

/// `Ok` when every node discovered another non-boot node, has a peer and
/// received every other node's message; otherwise the first unmet condition.
fn check(ids: &[NodeId], progress: &[Progress]) -> Result<(), String> {
    for (i, p) in progress.iter().enumerate() {
        if p.discovered == 0 {
            return Err(format!("node {i} discovered no node besides the bootnode"));
        }
        if p.peers == 0 {
            return Err(format!("node {i} has no peers"));
        }
        let missing = ids
            .iter()
            .enumerate()
            .filter(|(j, id)| *j != i && !p.stats.delivered_by_origin.contains_key(id))
            .count();
        if missing > 0 {
            return Err(format!(
                "node {i} is missing {missing} of {} messages",
                ids.len() - 1
            ));
        }
    }
    Ok(())
}

/// The live view's counters: table entries over all nodes (goal: everyone
/// knows everyone), peer links, demo messages delivered (goal: all).
fn counters(progress: &[Progress], n: usize) -> [Counter; 3] {
    let discovered: usize = progress.iter().map(|p| p.discovered).sum();
    let peers: usize = progress.iter().map(|p| p.peers).sum();
    let delivered: usize = progress
        .iter()
        .map(|p| p.stats.delivered_by_origin.len())
        .sum();
    let all_pairs = (n * n.saturating_sub(1)) as u64;
    [
        Counter {
            label: "discovered",
            value: discovered as u64,
            goal: Some(all_pairs),
        },
        Counter {
            label: "peers",
            value: (peers / 2) as u64,
            goal: None,
        },
        Counter {
            label: "delivered",
            value: delivered as u64,
            goal: Some(all_pairs),
        },
    ]
}

fn summary_table(ids: &[NodeId], progress: &[Progress]) -> String {
    let n = ids.len();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<10}  {:>5}  {:>10}  {:>9}  {:>6}",
        "node", "id", "peers", "discovered", "delivered", "pongs"
    );
    for (i, (id, p)) in ids.iter().zip(progress).enumerate() {
        let _ = writeln!(
            out,
            "{i:>4}  {:<10}  {:>5}  {:>10}  {:>9}  {:>6}",
            short_id(id),
            p.peers,
            p.discovered,
            format!("{}/{}", p.stats.delivered_by_origin.len(), n - 1),
            p.stats.pongs_received
        );
    }
    out
}

fn short_id(id: &NodeId) -> String {
    id.to_string()[..8].to_string()
}

async fn stop_all(nodes: &[DevNode]) {
    futures::future::join_all(nodes.iter().map(|n| async move {
        n.demo.shutdown().await;
        n.server.stop().await;
    }))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 64])
    }

    fn done(ids: &[NodeId], me: usize) -> Progress {
        let mut p = Progress {
            peers: 1,
            discovered: 1,
            stats: DemoStats::default(),
        };
        for (j, id) in ids.iter().enumerate() {
            if j != me {
                p.stats.delivered_by_origin.insert(*id, 1);
            }
        }
        p
    }

    #[test]
    fn success_needs_discovery_peers_and_every_message() {
        let ids = [id(1), id(2), id(3)];
        let mut progress: Vec<Progress> = (0..3).map(|i| done(&ids, i)).collect();
        assert_eq!(check(&ids, &progress), Ok(()));

        progress[1].stats.delivered_by_origin.remove(&ids[2]);
        assert_eq!(
            check(&ids, &progress),
            Err("node 1 is missing 1 of 2 messages".into())
        );
        progress[1] = done(&ids, 1);
        progress[2].discovered = 0;
        assert!(check(&ids, &progress)
            .unwrap_err()
            .contains("node 2 discovered no node"));
        progress[2].discovered = 3;
        progress[0].peers = 0;
        assert_eq!(check(&ids, &progress), Err("node 0 has no peers".into()));
    }

    #[test]
    fn summary_has_a_row_per_node() {
        let ids = [id(0xab), id(0xcd)];
        let progress: Vec<Progress> = (0..2).map(|i| done(&ids, i)).collect();
        let table = summary_table(&ids, &progress);
        assert_eq!(table.lines().count(), 3);
        assert!(table.contains("abababab"));
        assert!(table.lines().nth(2).unwrap().contains("1/1"));
    }
}
