//! Lookup quality in a network that has long formed: every table is seeded
//! from the oracle (as many live nodes per bucket as the bucket holds), so
//! the figures are those of the lookup algorithm alone, at sizes where a
//! formation run would take hours of wall time.
//!
//! ```
//! use devp2p_sim::{run_lookups, LookupConfig};
//!
//! let mut config = LookupConfig::new(500);
//! config.lookups = 20;
//! let report = run_lookups(&config).unwrap();
//! assert!(report.recall > 0.9);
//! println!("{}", report.bench_line());
//! ```

use std::time::Duration;

use devp2p_discover::v4::sim::{self, SimNetwork};
use devp2p_discover::v4::table::{BUCKET_SIZE, N_BUCKETS};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode, Node};
use devp2p_identity::NodeId;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::oracle::Oracle;
use crate::runner::{key_for, resident_bytes, run_virtual, MAX_NODES};
use crate::SimError;

/// Lookups measured by default (enough for recall to two decimals: 200 ×
/// 16 answers).
pub const DEFAULT_LOOKUPS: usize = 200;
/// Lookups run at once by default, from different random nodes.
pub const DEFAULT_CONCURRENT_LOOKUPS: usize = 20;
/// Revalidation and refresh interval of the seeded services: long enough
/// that neither runs during the measurement, so the packets counted are
/// lookup traffic only.
const QUIET_INTERVAL: Duration = Duration::from_secs(3600);

/// What a lookup-quality run does.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupConfig {
    /// Nodes in the network (2 to [`MAX_NODES`]).
    pub nodes: usize,
    /// Seed for the table samples and the lookups' sources and targets.
    pub seed: u64,
    /// Lookups measured.
    pub lookups: usize,
    /// Lookups run at once.
    pub concurrent: usize,
    /// One-way link latency.
    pub latency: Duration,
    /// Extra random latency, uniform in `[0, jitter]`, whole milliseconds.
    pub jitter: Duration,
}

impl LookupConfig {
    /// `nodes` nodes, the defaults above, and the formation scenarios'
    /// links (20 ms + 0–10 ms).
    pub fn new(nodes: usize) -> LookupConfig {
        LookupConfig {
            nodes,
            seed: 1,
            lookups: DEFAULT_LOOKUPS,
            concurrent: DEFAULT_CONCURRENT_LOOKUPS,
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
        }
    }
}

/// What a lookup-quality run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupReport {
    /// The configuration it ran.
    pub config: LookupConfig,
    /// Mean share of the true 16 closest nodes (the asking node excluded)
    /// that a lookup returned.
    pub recall: f64,
    /// Mean hops (table seeds are hop 1).
    pub hops: f64,
    /// Datagrams sent per lookup, by everyone (bonding included).
    pub pkts_per_lookup: f64,
    /// Wall time to start the nodes and seed their tables, in seconds.
    pub setup_wall_s: f64,
    /// Wall time of the whole run, in seconds.
    pub wall_s: f64,
    /// Growth of the process's resident memory per node once the tables
    /// were seeded, in bytes (`None` where it cannot be read).
    pub bytes_per_node: Option<u64>,
}

impl LookupReport {
    /// `bench sim.lookup nodes=… recall=… hops=… pkts_per_lookup=…
    /// setup_wall_s=… wall_s=… bytes_per_node=…`.
    pub fn bench_line(&self) -> String {
        format!(
            "bench sim.lookup nodes={} lookups={} recall={:.3} hops={:.2} pkts_per_lookup={:.1} setup_wall_s={:.1} wall_s={:.1} bytes_per_node={}",
            self.config.nodes,
            self.config.lookups,
            self.recall,
            self.hops,
            self.pkts_per_lookup,
            self.setup_wall_s,
            self.wall_s,
            self.bytes_per_node
                .map_or_else(|| "-".to_string(), |b| b.to_string()),
        )
    }
}

fn check(c: &LookupConfig) -> Result<(), SimError> {
    let bad = |field, reason: String| Err(SimError::Config { field, reason });
    if !(2..=MAX_NODES).contains(&c.nodes) {
        return bad("nodes", format!("{} is not in 2..={MAX_NODES}", c.nodes));
    }
    if c.lookups == 0 || c.concurrent == 0 {
        return bad(
            "lookups",
            "lookups and concurrent must be at least 1".into(),
        );
    }
    Ok(())
}

/// Starts `config.nodes` discv4 services on the virtual network, seeds
/// every table from the oracle (each bucket: up to 16 random nodes of its
/// distance range, proven, as a long-running network would hold them),
/// then runs the lookups and compares each result with the true 16
/// closest. Endpoint proofs toward the nodes a lookup meets are not seeded:
/// lookups bond over the wire and those packets are counted. Blocks the
/// calling thread, like [`crate::run`].
pub fn run_lookups(config: &LookupConfig) -> Result<LookupReport, SimError> {
    check(config)?;
    let (mut report, wall_s) = run_virtual(|wall| measure(config.clone(), wall))?;
    report.wall_s = wall_s;
    Ok(report)
}

async fn measure(config: LookupConfig, wall: std::time::Instant) -> LookupReport {
    let n = config.nodes;
    let rss_before = resident_bytes();
    let net = SimNetwork::new(sim::SimConfig {
        latency: config.latency,
        jitter: config.jitter,
        loss: 0.0,
        seed: config.seed,
    });
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x100c_0005);
    let mut handles = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let key = key_for(i);
        let addr = SimNetwork::addr_for(i);
        let local = LocalNode::new(key, 1);
        local.set_ip(addr.ip());
        local.set_udp(addr.port());
        let cfg = Discv4Config {
            ping_interval: QUIET_INTERVAL,
            refresh_interval: QUIET_INTERVAL,
            seed: Some(config.seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            ..Discv4Config::default()
        };
        nodes.push(Node::new(local.id(), addr.ip(), addr.port(), addr.port()));
        handles.push(Discv4::spawn(net.bind(addr), key, local, cfg));
    }
    let hashes: Vec<[u8; 32]> = nodes.iter().map(|n| n.id.hash()).collect();
    let oracle = Oracle::new(hashes.clone());
    // Node index of each position in the oracle's sorted order.
    let mut by_position: Vec<usize> = (0..n).collect();
    by_position.sort_unstable_by_key(|&i| hashes[i]);
    for (i, handle) in handles.iter().enumerate() {
        let mut table = Vec::with_capacity(N_BUCKETS * BUCKET_SIZE);
        for k in 0..N_BUCKETS {
            let mut members: Vec<usize> = oracle
                .bucket_members(&hashes[i], k)
                .map(|p| by_position[p])
                .filter(|&m| m != i)
                .collect();
            while members.len() > BUCKET_SIZE {
                let drop = rng.random_range(0..members.len());
                members.swap_remove(drop);
            }
            table.extend(members.into_iter().map(|m| nodes[m].clone()));
        }
        handle.seed_table(table).await;
    }
    // Let every service take its seed command before measuring.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let bytes_per_node = match (rss_before, resident_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) / n as u64),
        _ => None,
    };
    let setup_wall_s = wall.elapsed().as_secs_f64();
    let sent_before = net.packets_sent();
    let (mut recall, mut hops, mut done) = (0.0, 0.0, 0usize);
    while done < config.lookups {
        let batch: Vec<(usize, NodeId)> = (0..config.concurrent.min(config.lookups - done))
            .map(|_| {
                let mut t = [0u8; 64];
                rng.fill(&mut t[..]);
                (rng.random_range(0..n), NodeId(t))
            })
            .collect();
        let results = futures::future::join_all(
            batch
                .iter()
                .map(|(src, target)| handles[*src].lookup_with_stats(*target)),
        )
        .await;
        for ((src, target), r) in batch.iter().zip(results) {
            let truth = oracle.closest(&target.hash(), &hashes[*src], BUCKET_SIZE);
            let found = r
                .nodes
                .iter()
                .filter(|f| truth.contains(&f.id.hash()))
                .count();
            recall += found as f64 / truth.len().max(1) as f64;
            hops += f64::from(r.rounds);
        }
        done += batch.len();
    }
    let packets = net.packets_sent() - sent_before;
    futures::future::join_all(handles.iter().map(|h| h.shutdown())).await;
    LookupReport {
        recall: recall / done as f64,
        hops: hops / done as f64,
        pkts_per_lookup: packets as f64 / done as f64,
        setup_wall_s,
        wall_s: 0.0,
        bytes_per_node,
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_tables_find_the_true_closest() {
        let mut c = LookupConfig::new(300);
        c.lookups = 20;
        c.concurrent = 10;
        let r = run_lookups(&c).unwrap();
        assert!(r.recall > 0.9, "{}", r.bench_line());
        assert!(r.hops >= 1.0 && r.hops < 6.0, "{}", r.bench_line());
        assert!(r.pkts_per_lookup > 0.0, "{}", r.bench_line());
        let again = run_lookups(&c).unwrap();
        assert_eq!(
            (r.recall, r.hops, r.pkts_per_lookup),
            (again.recall, again.hops, again.pkts_per_lookup),
            "same seed, same figures"
        );
    }

    #[test]
    fn a_network_of_one_is_refused() {
        assert!(matches!(
            run_lookups(&LookupConfig::new(1)),
            Err(SimError::Config { field: "nodes", .. })
        ));
    }
}
