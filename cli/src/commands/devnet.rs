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
use bench::{table_capacity, DevnetBench, Spread};

mod bench;
mod usage;

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

/// The per-node limits the devnet is judged against (library defaults:
/// every node runs the same config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Limits {
    /// Most peers (`Config::peer_limit`).
    peer_limit: usize,
    /// Peers a node dials until it has them (`Config::max_dialed_peers`).
    dial_target: usize,
}

/// What one node has achieved so far.
#[derive(Clone, Debug, Default)]
struct Progress {
    peers: usize,
    /// Peers this node dialed (the rest dialed it).
    dialed: usize,
    /// discv4 table entries other than the bootnode.
    discovered: usize,
    /// discv4 table entries, the bootnode included.
    table: usize,
    stats: DemoStats,
}

/// Runs the devnet; `Ok` only when the success condition held. Prints the
/// per-node table and a `bench devnet …` line either way.
pub(super) async fn run(args: DevnetArgs) -> Result<(), CliError> {
    let n = usize::from(args.nodes);
    let cpu_before = usage::cpu_seconds();
    let rss_before = usage::rss_kib();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    eprintln!("devnet: starting {n} nodes on 127.0.0.1");

    let mut nodes: Vec<DevNode> = Vec::with_capacity(n);
    let mut boot = None;
    let mut limits = None;
    for i in 0..n {
        let (node, node_limits) = match start_node(i, boot.clone()).await {
            Ok(started) => started,
            Err(e) => {
                stop_all(&nodes).await;
                return Err(e);
            }
        };
        if i == 0 {
            boot = Some(node.server.self_node());
            eprintln!("devnet: bootnode {}", node.server.self_node());
        }
        limits = Some(node_limits);
        nodes.push(node);
    }
    // `n >= 2` (the flag's range), so every node reported its limits.
    let limits = limits.unwrap_or(Limits {
        peer_limit: 0,
        dial_target: 0,
    });
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
        let verdict = check(&ids, &progress, limits);
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
    // Read the process figures before printing or stopping anything.
    let cpu_s = match (cpu_before, usage::cpu_seconds()) {
        (Ok(before), Ok(now)) => Some((now - before).max(0.0)),
        _ => None,
    };
    let rss_kib_per_node = match (rss_before, usage::rss_kib()) {
        (Ok(before), Ok(now)) => Some(now.saturating_sub(before) / n as u64),
        _ => None,
    };
    view.finish();
    print!("{}", summary_table(&ids, &progress));
    let bench = DevnetBench {
        nodes: n,
        converge_s: outcome.is_ok().then_some(elapsed.as_secs_f64()),
        cpu_s,
        rss_kib_per_node,
        peers: Spread::of(progress.iter().map(|p| p.peers)),
        dialed: Spread::of(progress.iter().map(|p| p.dialed)),
        table: Spread::of(progress.iter().map(|p| p.table)),
        table_capacity: Spread::of(ids.iter().map(|id| table_capacity(id, &ids))),
        peer_limit: limits.peer_limit,
        dial_target: limits.dial_target,
    };
    println!("{}", bench.line());
    eprintln!("devnet: {}", shared_socket_drops(&nodes));
    stop_all(&nodes).await;
    match outcome {
        Ok(()) => {
            println!(
                "devnet: success: {n} nodes discovered each other, filled their peer slots and delivered all {} messages in {:.1} s",
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

/// Starts node `i` on 127.0.0.1 with a free port, knowing only `boot`;
/// returns it with the limits its config implies.
async fn start_node(
    i: usize,
    boot: Option<devp2p::node::Node>,
) -> Result<(DevNode, Limits), CliError> {
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
    let limits = Limits {
        peer_limit: config.peer_limit(),
        dial_target: config.max_dialed_peers(),
    };
    let server = Server::start(config).await?;
    Ok((DevNode { server, demo, id }, limits))
}

async fn collect(nodes: &[DevNode], boot_id: NodeId) -> Vec<Progress> {
    let per_node = nodes.iter().map(|node| async move {
        let peers = node.server.peers().await;
        let table = match node.server.discovery() {
            Some(d) => d.table_nodes().await,
            None => Vec::new(),
        };
        let stats = node.demo.stats().await.unwrap_or_default();
        Progress {
            peers: peers.len(),
            dialed: peers.iter().filter(|p| !p.inbound()).count(),
            discovered: table.iter().filter(|n| n.id != boot_id).count(),
            table: table.len(),
            stats,
        }
    });
    futures::future::join_all(per_node).await
}

/// Whether a node's peer slots are as full as they get: it is connected to
/// every other node, has dialed as many peers as it dials, or is at its
/// peer limit. Only inbound slots may stay free (they fill when others dial).
fn slots_filled(p: &Progress, n: usize, limits: Limits) -> bool {
    p.peers + 1 >= n || p.dialed >= limits.dial_target || p.peers >= limits.peer_limit
}

/// `Ok` when every node discovered another non-boot node, filled its peer
/// slots ([`slots_filled`]) and received every other node's message;
/// otherwise the first unmet condition.
fn check(ids: &[NodeId], progress: &[Progress], limits: Limits) -> Result<(), String> {
    let n = ids.len();
    for (i, p) in progress.iter().enumerate() {
        if p.discovered == 0 {
            return Err(format!("node {i} discovered no node besides the bootnode"));
        }
        if p.peers == 0 {
            return Err(format!("node {i} has no peers"));
        }
        if !slots_filled(p, n, limits) {
            return Err(format!(
                "node {i} has {} peers ({} dialed; limit {}, dials up to {})",
                p.peers, p.dialed, limits.peer_limit, limits.dial_target
            ));
        }
        let missing = ids
            .iter()
            .enumerate()
            .filter(|(j, id)| *j != i && !p.stats.delivered_by_origin.contains_key(id))
            .count();
        if missing > 0 {
            return Err(format!(
                "node {i} is missing {missing} of {} messages",
                n - 1
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
        "{:>4}  {:<10}  {:>5}  {:>6}  {:>10}  {:>9}  {:>6}",
        "node", "id", "peers", "dialed", "discovered", "delivered", "pongs"
    );
    for (i, (id, p)) in ids.iter().zip(progress).enumerate() {
        let _ = writeln!(
            out,
            "{i:>4}  {:<10}  {:>5}  {:>6}  {:>10}  {:>9}  {:>6}",
            short_id(id),
            p.peers,
            p.dialed,
            p.discovered,
            format!("{}/{}", p.stats.delivered_by_origin.len(), n - 1),
            p.stats.pongs_received
        );
    }
    out
}

/// discv4 datagrams the shared discovery socket dropped because discv4's
/// queue was full, at the bootnode and over all nodes (a sign of an
/// overloaded bootnode).
fn shared_socket_drops(nodes: &[DevNode]) -> String {
    let dropped = |n: &DevNode| {
        n.server.discovery_v5().map_or((0, 0), |d| {
            let s = d.stats();
            (s.v4_frames_dropped, s.v4_frames_forwarded)
        })
    };
    let boot = nodes.first().map_or((0, 0), dropped);
    let all = nodes
        .iter()
        .map(dropped)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    format!(
        "discv4 datagrams dropped by the shared socket: bootnode {} of {}, all nodes {} of {}",
        boot.0,
        boot.0 + boot.1,
        all.0,
        all.0 + all.1
    )
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
            peers: ids.len() - 1,
            dialed: 1,
            discovered: 1,
            table: 2,
            stats: DemoStats::default(),
        };
        for (j, id) in ids.iter().enumerate() {
            if j != me {
                p.stats.delivered_by_origin.insert(*id, 1);
            }
        }
        p
    }

    const LIMITS: Limits = Limits {
        peer_limit: 50,
        dial_target: 16,
    };

    fn check(ids: &[NodeId], progress: &[Progress]) -> Result<(), String> {
        super::check(ids, progress, LIMITS)
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
    fn slots_are_filled_by_a_full_mesh_the_dial_target_or_the_peer_limit() {
        let p = |peers, dialed| Progress {
            peers,
            dialed,
            ..Progress::default()
        };
        // Small devnet: only a full mesh fills the slots.
        assert!(slots_filled(&p(15, 3), 16, LIMITS));
        assert!(!slots_filled(&p(14, 3), 16, LIMITS));
        // Large devnet: the dial target, else the peer limit.
        assert!(slots_filled(&p(16, 16), 200, LIMITS));
        assert!(!slots_filled(&p(40, 15), 200, LIMITS));
        assert!(slots_filled(&p(50, 15), 200, LIMITS));
        let ids: Vec<NodeId> = (0..200).map(|b| id(b as u8)).collect();
        let mut progress = vec![p(20, 15); 200];
        for q in &mut progress {
            q.discovered = 1;
        }
        assert_eq!(
            check(&ids, &progress),
            Err("node 0 has 20 peers (15 dialed; limit 50, dials up to 16)".into())
        );
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
