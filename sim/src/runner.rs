//! The run loop: nodes arrive, leave and are measured on virtual time.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use devp2p_discover::v4::sim::{self, ClockAnchor, SimNetwork};
use devp2p_discover::v4::table::{BUCKET_SIZE, N_BUCKETS};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode, Node};
use devp2p_identity::{keccak256, NodeId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secp256k1::SecretKey;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use crate::attack::{Attacker, Behaviour};
use crate::oracle::{bucket_of, Oracle};
use crate::report::{Sample, SimReport, FILL_GOOD, FILL_LEVELS};
use crate::{SimConfig, SimError};

/// Most honest nodes one run may start, arrivals by churn included (the
/// address plan gives each node its own /24 below 2^24 nodes; 10^6 keeps a
/// run within this machine's 24 GiB).
pub const MAX_NODES: usize = 1_000_000;
/// Most attacker identities of one run (each is a task and a socket).
pub const MAX_ATTACKERS: usize = 100_000;
/// Hosts per /24 subnet used for sybil addresses (.1 to .254).
const HOSTS_PER_SUBNET: usize = 254;
/// First octet of sybil addresses (public-looking, unused by honest nodes).
const SYBIL_FIRST_OCTET: u8 = 60;
/// First octet of garbage and silent nodes' addresses.
const NUISANCE_FIRST_OCTET: u8 = 61;
/// Key index offset of attacker identities (honest keys use 0..MAX_NODES).
const ATTACKER_KEY_OFFSET: usize = 2 * MAX_NODES;

pub(crate) fn key_for(i: usize) -> SecretKey {
    let seed = keccak256(&(i as u64).to_be_bytes());
    // keccak output below the curve order: true for all but ~2^-128 of inputs.
    SecretKey::from_secret_bytes(seed).unwrap_or_else(|_| key_for(i + MAX_NODES * 4))
}

fn check(config: &SimConfig) -> Result<(), SimError> {
    let bad = |field, reason: &str| {
        Err(SimError::Config {
            field,
            reason: reason.to_string(),
        })
    };
    if config.nodes < 2 || config.nodes > MAX_NODES {
        return bad("nodes", &format!("must be in 2..={MAX_NODES}"));
    }
    if config.bootnodes == 0 || config.bootnodes >= config.nodes {
        return bad("bootnodes", "must be at least 1 and fewer than nodes");
    }
    if config.sample_every.is_zero() {
        return bad("sample_every", "must be positive");
    }
    if config.duration < config.sample_every {
        return bad("duration", "must be at least one sample interval");
    }
    for (field, v) in [("loss", config.loss), ("nat_share", config.nat_share)] {
        if !(0.0..=1.0).contains(&v) {
            return bad(field, "must be in [0, 1]");
        }
    }
    if !(0.0..=10.0).contains(&config.churn_per_hour) {
        return bad(
            "churn_per_hour",
            "must be in [0, 10] (a share of the nodes)",
        );
    }
    let replacements = (config.churn_per_hour * config.nodes as f64 * config.duration.as_secs_f64()
        / 3600.0)
        .ceil() as usize;
    if config.nodes + replacements > MAX_NODES {
        return bad("churn_per_hour", "nodes plus replacements exceed MAX_NODES");
    }
    if let Some(a) = &config.attack {
        let total = a.sybils + a.garbage + a.silent;
        if total > MAX_ATTACKERS {
            return bad("attack", &format!("at most {MAX_ATTACKERS} attackers"));
        }
        if a.victims >= config.nodes - config.bootnodes {
            return bad(
                "attack.victims",
                "must be fewer than the non-bootnode nodes",
            );
        }
        if a.sybils > 0 && (a.sybil_subnets == 0 || a.sybil_subnets > 256) {
            return bad("attack.sybil_subnets", "must be in 1..=256");
        }
    }
    Ok(())
}

/// Runs one simulation on its own current-thread runtime with paused
/// time and returns what it measured. Blocks the calling thread (do not
/// call it from inside an async task; use `spawn_blocking`).
pub fn run(config: &SimConfig) -> Result<SimReport, SimError> {
    check(config)?;
    let (mut report, wall_s) = run_virtual(|_| World::new(config.clone()).run())?;
    report.wall_s = wall_s;
    Ok(report)
}

/// Runs the future made by `make` (given the wall-clock start) on a fresh
/// current-thread runtime with paused time and an anchored Unix clock;
/// returns its output and the wall time it took in seconds.
pub(crate) fn run_virtual<T, F>(
    make: impl FnOnce(std::time::Instant) -> F,
) -> Result<(T, f64), SimError>
where
    F: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(SimError::Runtime)?;
    let wall = std::time::Instant::now();
    let out = rt.block_on(async {
        // Whole Unix seconds at the same virtual instants in every run:
        // packet expirations, and so packets, repeat with the seed.
        let _clock = ClockAnchor::new();
        make(wall).await
    });
    Ok((out, wall.elapsed().as_secs_f64()))
}

struct Honest {
    hash: [u8; 32],
    nat: bool,
    handle: Option<Discv4>,
}

struct World {
    cfg: SimConfig,
    net: SimNetwork,
    rng: StdRng,
    nodes: Vec<Honest>,
    by_id: HashMap<NodeId, usize>,
    /// Indices of running honest nodes.
    live: Vec<usize>,
    bootnodes: Vec<Node>,
    victims: Vec<usize>,
    attackers: JoinSet<()>,
}

impl World {
    fn new(cfg: SimConfig) -> Self {
        let net = SimNetwork::new(sim::SimConfig {
            latency: cfg.latency,
            jitter: cfg.jitter,
            loss: cfg.loss,
            seed: cfg.seed,
        });
        World {
            rng: StdRng::seed_from_u64(cfg.seed ^ 0x51a7_51a7),
            net,
            nodes: Vec::new(),
            by_id: HashMap::new(),
            live: Vec::new(),
            bootnodes: Vec::new(),
            victims: Vec::new(),
            attackers: JoinSet::new(),
            cfg,
        }
    }

    /// Starts honest node number `nodes.len()`.
    fn start_node(&mut self, nat: bool) {
        let i = self.nodes.len();
        let key = key_for(i);
        let addr = SimNetwork::addr_for(i);
        let local = LocalNode::new(key, 1);
        local.set_ip(addr.ip());
        local.set_udp(addr.port());
        let id = local.id();
        let cfg = Discv4Config {
            bootnodes: self
                .bootnodes
                .iter()
                .filter(|b| b.id != id)
                .cloned()
                .collect(),
            seed: Some(self.cfg.seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            ..Discv4Config::default()
        };
        let transport = if nat {
            self.net.bind_behind_nat(addr)
        } else {
            self.net.bind(addr)
        };
        let handle = Discv4::spawn(transport, key, local, cfg);
        self.by_id.insert(id, i);
        self.live.push(i);
        self.nodes.push(Honest {
            hash: id.hash(),
            nat,
            handle: Some(handle),
        });
    }

    /// Stops a random running non-bootnode node (it stops answering).
    async fn depart(&mut self) {
        let candidates: Vec<usize> = (0..self.live.len())
            .filter(|&k| {
                self.live[k] >= self.cfg.bootnodes && !self.victims.contains(&self.live[k])
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let k = candidates[self.rng.random_range(0..candidates.len())];
        let i = self.live.swap_remove(k);
        if let Some(h) = self.nodes[i].handle.take() {
            h.shutdown().await;
        }
    }

    fn start_attackers(&mut self, start: Instant) {
        let Some(attack) = self.cfg.attack.clone() else {
            return;
        };
        // Victims: random non-bootnode nodes of the initial population.
        let mut pool: Vec<usize> = (self.cfg.bootnodes..self.cfg.nodes).collect();
        for _ in 0..attack.victims {
            let k = self.rng.random_range(0..pool.len());
            self.victims.push(pool.swap_remove(k));
        }
        let victim_addrs: Arc<Vec<SocketAddr>> = Arc::new(
            self.victims
                .iter()
                .map(|&v| SimNetwork::addr_for(v))
                .collect(),
        );
        let honest_addrs: Arc<Vec<SocketAddr>> =
            Arc::new((0..self.cfg.nodes).map(SimNetwork::addr_for).collect());
        let mut sybils = Vec::with_capacity(attack.sybils);
        for j in 0..attack.sybils {
            let subnet = j % attack.sybil_subnets;
            let host = j / attack.sybil_subnets;
            let ip = Ipv4Addr::new(
                SYBIL_FIRST_OCTET,
                0,
                subnet as u8,
                (host % HOSTS_PER_SUBNET + 1) as u8,
            );
            let port = 30303 + (host / HOSTS_PER_SUBNET) as u16;
            let key = key_for(ATTACKER_KEY_OFFSET + j);
            let id = NodeId::from_secret_key(&key);
            sybils.push((key, SocketAddr::new(IpAddr::V4(ip), port), id));
        }
        let friends = Arc::new(
            sybils
                .iter()
                .map(|(_, addr, id)| {
                    let record = devp2p_discover::v4::wire::NodeRecord {
                        ip: addr.ip(),
                        udp: addr.port(),
                        tcp: addr.port(),
                        id: *id,
                    };
                    (record, id.hash())
                })
                .collect::<Vec<_>>(),
        );
        let spawn = |w: &mut World, behaviour, key: SecretKey, addr, targets, first| {
            let seed = w.rng.random::<u64>();
            let attacker = Attacker {
                behaviour,
                key,
                transport: w.net.bind(addr),
                targets,
                friends: friends.clone(),
                seed,
            };
            w.attackers.spawn(attacker.run(first));
        };
        // Sybils start once the victims have joined, spread over a minute.
        let after_arrivals = start + self.cfg.arrival_spread;
        let n_sybils = sybils.len().max(1) as u32;
        for (j, (key, addr, _)) in sybils.into_iter().enumerate() {
            let first = after_arrivals + Duration::from_secs(60) * j as u32 / n_sybils;
            spawn(
                self,
                Behaviour::Sybil,
                key,
                addr,
                victim_addrs.clone(),
                first,
            );
        }
        let nuisances = (0..attack.garbage)
            .map(|_| Behaviour::Garbage)
            .chain((0..attack.silent).map(|_| Behaviour::Silent));
        for (j, behaviour) in nuisances.enumerate() {
            let key = key_for(ATTACKER_KEY_OFFSET + attack.sybils + j);
            let ip = Ipv4Addr::new(NUISANCE_FIRST_OCTET, (j >> 8) as u8, j as u8, 1);
            let addr = SocketAddr::new(IpAddr::V4(ip), 30303);
            let first = start + Duration::from_millis(self.rng.random_range(0..60_000));
            spawn(self, behaviour, key, addr, honest_addrs.clone(), first);
        }
    }

    fn oracle(&self) -> Oracle {
        Oracle::new(
            self.live
                .iter()
                .filter(|&&i| !self.nodes[i].nat)
                .map(|&i| self.nodes[i].hash)
                .collect(),
        )
    }

    /// A node's table fill against the oracle: matched entries / oracle entries.
    fn fill(&self, oracle: &Oracle, own: &[u8; 32], table: &[Node]) -> f64 {
        let caps = oracle.bucket_capacity(own);
        let mut have = [0usize; N_BUCKETS];
        for n in table {
            let Some(&j) = self.by_id.get(&n.id) else {
                continue;
            };
            let other = &self.nodes[j];
            if other.handle.is_some() && !other.nat {
                have[bucket_of(own, &other.hash)] += 1;
            }
        }
        let want: usize = caps.iter().sum();
        if want == 0 {
            return 1.0;
        }
        let got: usize = caps.iter().zip(have).map(|(c, h)| h.min(*c)).sum();
        got as f64 / want as f64
    }

    async fn measure(&mut self, start: Instant, packets_per_min: f64) -> Sample {
        let oracle = self.oracle();
        let tables = futures::future::join_all(self.live.iter().map(|&i| {
            let h = self.nodes[i].handle.clone();
            async move {
                match h {
                    Some(h) => h.table_nodes().await,
                    None => Vec::new(),
                }
            }
        }))
        .await;
        let fills: Vec<f64> = self
            .live
            .iter()
            .zip(&tables)
            .map(|(&i, t)| self.fill(&oracle, &self.nodes[i].hash, t))
            .collect();
        let live = fills.len().max(1) as f64;
        let table_fill = fills.iter().filter(|f| **f >= FILL_GOOD).count() as f64 / live;
        let mean_fill = fills.iter().sum::<f64>() / live;

        let honest_share = if self.victims.is_empty() {
            None
        } else {
            // The victims' tables were fetched with everyone's above (a
            // victim that has not arrived yet is not live and has none).
            let shares: Vec<&Vec<Node>> = self
                .victims
                .iter()
                .filter_map(|v| self.live.iter().position(|i| i == v))
                .map(|k| &tables[k])
                .collect();
            let per_victim: Vec<f64> = shares
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let honest = t.iter().filter(|n| self.by_id.contains_key(&n.id)).count();
                    honest as f64 / t.len() as f64
                })
                .collect();
            (!per_victim.is_empty())
                .then(|| per_victim.iter().sum::<f64>() / per_victim.len() as f64)
        };

        let (recall, hops) = self.lookups(&oracle).await;
        Sample {
            virtual_s: (Instant::now() - start).as_secs_f64(),
            live_nodes: self.live.len(),
            table_fill,
            mean_fill,
            recall,
            hops,
            pkts_per_node_min: packets_per_min,
            honest_share,
        }
    }

    /// Lookups from random running nodes toward random targets; recall of
    /// the true closest reachable nodes, and hops.
    async fn lookups(&mut self, oracle: &Oracle) -> (Option<f64>, Option<f64>) {
        if self.cfg.lookups_per_sample == 0 || self.live.is_empty() {
            return (None, None);
        }
        let batch: Vec<(usize, NodeId)> = (0..self.cfg.lookups_per_sample)
            .map(|_| {
                let src = self.live[self.rng.random_range(0..self.live.len())];
                let mut t = [0u8; 64];
                self.rng.fill(&mut t[..]);
                (src, NodeId(t))
            })
            .collect();
        let results = futures::future::join_all(batch.iter().map(|(src, target)| {
            let h = self.nodes[*src].handle.clone();
            let target = *target;
            async move {
                match h {
                    Some(h) => Some(h.lookup_with_stats(target).await),
                    None => None,
                }
            }
        }))
        .await;
        let mut recall = 0.0;
        let mut hops = 0.0;
        let mut counted = 0usize;
        for ((src, target), r) in batch.iter().zip(results) {
            let Some(r) = r else { continue };
            let truth = oracle.closest(&target.hash(), &self.nodes[*src].hash, BUCKET_SIZE);
            if truth.is_empty() {
                continue;
            }
            let found = r
                .nodes
                .iter()
                .filter(|n| truth.contains(&n.id.hash()))
                .count();
            recall += found as f64 / truth.len() as f64;
            hops += f64::from(r.rounds);
            counted += 1;
        }
        if counted == 0 {
            return (None, None);
        }
        (Some(recall / counted as f64), Some(hops / counted as f64))
    }

    async fn run(mut self) -> SimReport {
        let start = Instant::now();
        let rss_before = resident_bytes();
        let n = self.cfg.nodes;
        let b = self.cfg.bootnodes;
        // Bootnodes know each other; everyone else knows the bootnodes.
        self.bootnodes = (0..b)
            .map(|i| {
                let addr = SimNetwork::addr_for(i);
                let id = NodeId::from_secret_key(&key_for(i));
                Node::new(id, addr.ip(), addr.port(), addr.port())
            })
            .collect();
        for _ in 0..b {
            self.start_node(false);
        }
        self.start_attackers(start);
        let nat_nodes: usize = ((n - b) as f64 * self.cfg.nat_share).round() as usize;
        let mut nat_flags: Vec<bool> = (0..n - b).map(|k| k < nat_nodes).collect();
        // Shuffle deterministically (Fisher–Yates on our seeded RNG).
        for k in (1..nat_flags.len()).rev() {
            let j = self.rng.random_range(0..=k);
            nat_flags.swap(k, j);
        }
        let victims = self.victims.clone();
        for v in victims {
            nat_flags[v - b] = false;
        }

        let end = start + self.cfg.duration;
        let spread = self.cfg.arrival_spread;
        // Whole milliseconds, as every delay of the run (see
        // `devp2p_discover::v4::sim::SimConfig::latency`).
        let arrival_at =
            |k: usize| -> Instant { start + whole_ms(spread.mul_f64(k as f64 / (n - b) as f64)) };
        let churn_every = (self.cfg.churn_per_hour > 0.0).then(|| {
            whole_ms(Duration::from_secs_f64(
                3600.0 / (self.cfg.churn_per_hour * n as f64),
            ))
            .max(Duration::from_millis(1))
        });
        let mut next_arrival = 0usize;
        let mut next_churn = churn_every.map(|e| start + self.cfg.arrival_spread + e);
        let mut next_sample = start;
        let mut samples = Vec::new();
        let mut mark = (self.net.packets_sent(), start);
        loop {
            let arrival = (next_arrival < n - b).then(|| arrival_at(next_arrival));
            let due = [arrival, next_churn, Some(next_sample)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
            if due > end {
                break;
            }
            sleep_until(due).await;
            if arrival == Some(due) {
                self.start_node(nat_flags[next_arrival]);
                next_arrival += 1;
            } else if next_churn == Some(due) {
                self.depart().await;
                let nat = self.rng.random_bool(self.cfg.nat_share);
                self.start_node(nat);
                next_churn = churn_every.map(|e| due + e);
            } else {
                let now = Instant::now();
                let minutes = (now - mark.1).as_secs_f64() / 60.0;
                let rate = if minutes > 0.0 {
                    (self.net.packets_sent() - mark.0) as f64
                        / minutes
                        / self.live.len().max(1) as f64
                } else {
                    0.0
                };
                let mut sample = self.measure(start, rate).await;
                // The sample's time is when it was taken (lookups end later).
                sample.virtual_s = (due - start).as_secs_f64();
                samples.push(sample);
                // Packets of the measurement lookups are not node traffic.
                mark = (self.net.packets_sent(), Instant::now());
                next_sample = due + self.cfg.sample_every;
            }
        }
        let rss_after = resident_bytes();
        let nodes_started = self.nodes.len();
        let handles: Vec<Discv4> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.handle.take())
            .collect();
        futures::future::join_all(handles.iter().map(|h| h.shutdown())).await;
        self.attackers.shutdown().await;

        let time_to_fill = FILL_LEVELS
            .iter()
            .map(|&level| {
                // The start of the final run of samples at or above the level
                // (a network still growing can fall back below it).
                let stays = samples
                    .iter()
                    .rposition(|s| s.table_fill < level)
                    .map_or(0, |k| k + 1);
                (level, samples.get(stays).map(|s| s.virtual_s))
            })
            .collect();
        SimReport {
            scenario: self.cfg.scenario.name().to_string(),
            nodes: n,
            seed: self.cfg.seed,
            virtual_s: self.cfg.duration.as_secs_f64(),
            wall_s: 0.0,
            samples,
            time_to_fill,
            bytes_per_node: match (rss_before, rss_after) {
                (Some(a), Some(b)) if b > a => Some((b - a) / nodes_started.max(1) as u64),
                _ => None,
            },
            packets_lost: self.net.packets_lost(),
            packets_sent: self.net.packets_sent(),
        }
    }
}

/// `d` rounded down to whole milliseconds.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// This process's resident memory in bytes (`VmRSS` of /proc/self/status);
/// `None` where it cannot be read.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  10 kB\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: lots"), None);
        assert_eq!(parse_vm_rss(""), None);
    }

    #[test]
    fn bad_configs_name_their_field() {
        let mut c = SimConfig::preset(crate::Scenario::Formation, 1);
        assert!(matches!(
            run(&c),
            Err(SimError::Config { field: "nodes", .. })
        ));
        c.nodes = 100;
        c.loss = 1.5;
        assert!(matches!(
            run(&c),
            Err(SimError::Config { field: "loss", .. })
        ));
    }
}
