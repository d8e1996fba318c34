//! Discovery benchmark: how fast a fresh network of [`NODES`] servers on
//! 127.0.0.1 fills its peer slots, by discovery mechanism. Run with
//! `cargo bench -p devp2p-rs --bench discovery` (~1–3 minutes; `-- v5` runs
//! only the modes whose name contains `v5`, plus the discv4 baseline).
//!
//! Every round starts [`NODES`] servers that know one bootnode (node 0) and
//! measures the time from the first start until every node has at least
//! [`TARGET_PEERS`] peers. Modes:
//!
//! - `v4`: discv4 only (the baseline);
//! - `v5`: discv5 only, bootstrapped from node 0's record;
//! - `both`: discv4 and discv5 on one port;
//! - `dns`: no discovery; one EIP-1459 tree listing every node is the only
//!   dial source (served from memory: the bench measures the dial pipeline,
//!   not a DNS server).
//!
//! Modes alternate over [`ROUNDS`] rounds; each prints its median as
//!
//! ```text
//! bench discovery.<mode> nodes=32 target_peers=8 median_ms=<t> ratio_to_v4=<t / t_v4> cpu_s=<s>
//! ```
//!
//! `cpu_s` is the median CPU time (user + system, both cores) the process
//! spent on a round, start-up and stop included. A round that does not converge within [`ROUND_TIMEOUT`] counts as the
//! timeout and is reported with `timeouts=<n>`.

#[path = "support/process.rs"]
mod process;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use devp2p::config::Config;
use devp2p::dnsdisc::{Client, ClientConfig, DnsSource, RandomWalk, StaticResolver, Tree};
use devp2p::node::{node_key_from_rng, Enr};
use devp2p::server::Server;
use rand::{rngs::StdRng, SeedableRng};

/// Nodes per network (the issue's figure).
const NODES: usize = 32;
/// Peers every node must reach (the issue's figure).
const TARGET_PEERS: usize = 8;
/// `max_peers` of every node: twice the target, so a node can reach the
/// target from inbound and dialed peers alike.
const MAX_PEERS: usize = 2 * TARGET_PEERS;
/// `dial_ratio`: half of the slots are dialed, so each node dials until it
/// has [`TARGET_PEERS`] dialed peers.
const DIAL_RATIO: usize = 2;
/// Dial history of the bench nodes: 1 s as in `devp2p devnet` (all nodes
/// start at once; the library default of 35 s protects real networks).
const DIAL_HISTORY: Duration = Duration::from_secs(1);
/// Rounds per mode (medians over these).
const ROUNDS: usize = 3;
/// Longest wait for one network to converge.
const ROUND_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the peer counts are read while waiting.
const POLL: Duration = Duration::from_millis(20);
/// Domain of the bench's DNS tree (never resolved outside this process).
const DNS_DOMAIN: &str = "nodes.bench.example";

/// A discovery mechanism under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    V4,
    V5,
    Both,
    Dns,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::V4, Mode::V5, Mode::Both, Mode::Dns];

    fn name(self) -> &'static str {
        match self {
            Mode::V4 => "v4",
            Mode::V5 => "v5",
            Mode::Both => "both",
            Mode::Dns => "dns",
        }
    }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| *m == Mode::V4 || filter.as_deref().is_none_or(|f| m.name().contains(f)))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut timeouts = vec![0usize; modes.len()];
    for round in 0..ROUNDS {
        for (i, mode) in modes.iter().enumerate() {
            let seed = (round * 16 + i) as u64;
            let cpu_start = process::cpu_seconds();
            let result = rt.block_on(run_round(*mode, seed));
            cpu[i].push(Duration::from_secs_f64(process::cpu_seconds() - cpu_start));
            match result {
                Ok(t) => times[i].push(t),
                Err(t) => {
                    timeouts[i] += 1;
                    times[i].push(t);
                }
            }
            eprintln!(
                "round {round} {}: {:.0} ms",
                mode.name(),
                times[i].last().unwrap().as_secs_f64() * 1e3
            );
        }
    }
    let baseline = median(&mut times[0].clone());
    for (i, mode) in modes.iter().enumerate() {
        let m = median(&mut times[i]);
        let c = median(&mut cpu[i]);
        let mut line = format!(
            "bench discovery.{} nodes={NODES} target_peers={TARGET_PEERS} median_ms={:.0} ratio_to_v4={:.2} cpu_s={:.1}",
            mode.name(),
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / baseline.as_secs_f64(),
            c.as_secs_f64()
        );
        if timeouts[i] > 0 {
            line.push_str(&format!(" timeouts={}", timeouts[i]));
        }
        println!("{line}");
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One network: start, wait for convergence, stop. `Err` carries the time
/// spent when the round timed out.
async fn run_round(mode: Mode, seed: u64) -> Result<Duration, Duration> {
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut servers: Vec<Server> = Vec::with_capacity(NODES);
    let mut boot: Option<(devp2p::node::Node, Enr)> = None;
    for _ in 0..NODES {
        let key = node_key_from_rng(&mut rng);
        let mut config = Config {
            listen_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
            max_peers: MAX_PEERS,
            dial_ratio: DIAL_RATIO,
            dial_history_expiration: DIAL_HISTORY,
            ..Config::with_key(key)
        };
        match mode {
            Mode::V4 => config.discovery_v5 = false,
            Mode::V5 => config.discovery_v4 = false,
            Mode::Both => {}
            Mode::Dns => config.no_discovery = true,
        }
        if let (Some((node, record)), false) = (&boot, mode == Mode::Dns) {
            config.bootstrap_nodes = vec![node.clone()];
            config.bootstrap_nodes_v5 = vec![record.clone()];
        }
        let server = Server::start(config).await.expect("server starts");
        if boot.is_none() {
            boot = Some((server.self_node(), server.local_node().enr()));
        }
        servers.push(server);
    }
    if mode == Mode::Dns {
        let records: Vec<Enr> = servers.iter().map(|s| s.local_node().enr()).collect();
        let tree_key = node_key_from_rng(&mut rng);
        let mut tree = Tree::new(1, records, Vec::new());
        let url = tree.sign(&tree_key, DNS_DOMAIN).expect("tree signs");
        let resolver = StaticResolver::new(tree.to_txt(DNS_DOMAIN));
        for (i, server) in servers.iter().enumerate() {
            let client = Client::with_resolver(ClientConfig::default(), resolver.clone());
            let walk = RandomWalk::new(client, vec![url.clone()]).with_seed(seed * 64 + i as u64);
            let source = DnsSource::from_walk(walk);
            server
                .add_named_node_source("dns", source)
                .await
                .expect("source added");
        }
    }
    let deadline = started + ROUND_TIMEOUT;
    let outcome = loop {
        let counts = futures::future::join_all(servers.iter().map(|s| s.peer_count())).await;
        if counts.iter().all(|&c| c >= TARGET_PEERS) {
            break Ok(started.elapsed());
        }
        if Instant::now() >= deadline {
            break Err(started.elapsed());
        }
        tokio::time::sleep(POLL).await;
    };
    eprintln!("  {}", detail(&servers));
    futures::future::join_all(servers.iter().map(|s| s.stop())).await;
    outcome
}

/// Per-source totals over all nodes (produced/dialed/connected) and the
/// discv4 datagrams discv5 dropped on the shared socket: where the time went.
fn detail(servers: &[Server]) -> String {
    let mut totals: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for s in servers {
        for src in s.source_stats() {
            let t = totals.entry(src.name.clone()).or_default();
            t.0 += src.produced;
            t.1 += src.dialed;
            t.2 += src.connected;
        }
    }
    let dropped: u64 = servers
        .iter()
        .filter_map(|s| s.discovery_v5())
        .map(|d| d.stats().v4_frames_dropped)
        .sum();
    let forwarded: u64 = servers
        .iter()
        .filter_map(|s| s.discovery_v5())
        .map(|d| d.stats().v4_frames_forwarded)
        .sum();
    let (mut sent, mut received) = (0u64, 0u64);
    for d in servers.iter().filter_map(|s| s.discovery()) {
        let c = d.packet_counts();
        sent += c.sent.iter().map(|(_, n)| n).sum::<u64>();
        received += c.received.iter().map(|(_, n)| n).sum::<u64>();
    }
    let mut out = format!("v4 packets sent={sent} received={received}; ");
    for (name, (p, d, c)) in totals {
        out.push_str(&format!("{name}: produced={p} dialed={d} connected={c}; "));
    }
    out.push_str(&format!(
        "v4_frames forwarded={forwarded} dropped={dropped}"
    ));
    out
}
