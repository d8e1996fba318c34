//! What to simulate: network size, link conditions, churn, NAT and attackers,
//! with one preset per named scenario.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The named scenarios of the bench and of `devp2p sim --scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every node starts empty, knows 3 bootnodes, no churn, no loss.
    Formation,
    /// Formation plus 10 % of the nodes replaced per virtual hour.
    Churn,
    /// Formation with 5 % of datagrams lost.
    Loss,
    /// Formation with 30 % of the nodes behind NAT.
    Nat,
    /// Formation plus an eclipse attempt on a few victims.
    Eclipse,
}

impl Scenario {
    /// Every scenario, in bench order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Formation,
        Scenario::Churn,
        Scenario::Loss,
        Scenario::Nat,
        Scenario::Eclipse,
    ];

    /// The name used in bench lines and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Formation => "formation",
            Scenario::Churn => "churn",
            Scenario::Loss => "loss",
            Scenario::Nat => "nat",
            Scenario::Eclipse => "eclipse",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario name that is not one of [`Scenario::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {0:?} (expected formation, churn, loss, nat or eclipse)")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

/// The attackers of the eclipse scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Attack {
    /// Honest nodes the attackers target (their tables are reported in
    /// `honest_share`).
    pub victims: usize,
    /// Attacker identities that ping the victims and answer FINDNODE only
    /// with each other.
    pub sybils: usize,
    /// The /24 subnets the sybil identities share (many identities per subnet).
    pub sybil_subnets: usize,
    /// Nodes that answer FINDNODE with garbage (random bytes, or records of
    /// nodes that do not exist).
    pub garbage: usize,
    /// Nodes that ping everyone they hear of and never answer anything.
    pub silent: usize,
}

/// Everything a run needs; [`SimConfig::preset`] gives the named scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The scenario name (bench lines, report).
    pub scenario: Scenario,
    /// Honest nodes (bootnodes included).
    pub nodes: usize,
    /// Bootnodes: every other node knows all of them and nothing else.
    pub bootnodes: usize,
    /// Virtual time simulated.
    pub duration: Duration,
    /// Virtual time between samples.
    pub sample_every: Duration,
    /// Lookups run at each sample for recall and hops (0: none).
    pub lookups_per_sample: usize,
    /// New nodes start over this much virtual time (arrivals spread evenly),
    /// as a network that forms rather than one switched on at once.
    pub arrival_spread: Duration,
    /// One-way link latency.
    pub latency: Duration,
    /// Extra random latency, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a datagram is lost, in `[0, 1]`.
    pub loss: f64,
    /// Share of the honest nodes replaced per virtual hour (a departure and
    /// an arrival each time; departed nodes stop answering).
    pub churn_per_hour: f64,
    /// Share of the honest nodes behind NAT (unreachable unless they
    /// contacted the other side first), in `[0, 1]`.
    pub nat_share: f64,
    /// Attackers, if any.
    pub attack: Option<Attack>,
    /// The seed for keys, addresses, loss, jitter and the schedule.
    pub seed: u64,
}

/// Samples per run of a preset (one every virtual minute for an hour).
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// Virtual time of a preset run (issue #18: one virtual hour).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60 * 60);
/// Bootnodes of a preset (issue #18: "1–3 bootnodes").
pub const DEFAULT_BOOTNODES: usize = 3;
/// Lookups per sample of a preset: 20 × 16 = 320 recall terms per sample.
pub const DEFAULT_LOOKUPS_PER_SAMPLE: usize = 20;
/// Link latency of a preset: 20 ms + 0–10 ms jitter one way, a continental
/// round trip of 40–60 ms.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(20);
/// Jitter of a preset ([`DEFAULT_LATENCY`]).
pub const DEFAULT_JITTER: Duration = Duration::from_millis(10);
/// Arrivals of a preset are spread over the first 5 virtual minutes.
pub const DEFAULT_ARRIVAL_SPREAD: Duration = Duration::from_secs(5 * 60);

impl SimConfig {
    /// The named scenario at `nodes` honest nodes, seed 1.
    pub fn preset(scenario: Scenario, nodes: usize) -> Self {
        let mut c = SimConfig {
            scenario,
            nodes,
            bootnodes: DEFAULT_BOOTNODES,
            duration: DEFAULT_DURATION,
            sample_every: DEFAULT_SAMPLE_EVERY,
            lookups_per_sample: DEFAULT_LOOKUPS_PER_SAMPLE,
            arrival_spread: DEFAULT_ARRIVAL_SPREAD,
            latency: DEFAULT_LATENCY,
            jitter: DEFAULT_JITTER,
            loss: 0.0,
            churn_per_hour: 0.0,
            nat_share: 0.0,
            attack: None,
            seed: 1,
        };
        match scenario {
            Scenario::Formation => {}
            Scenario::Churn => c.churn_per_hour = 0.10,
            Scenario::Loss => c.loss = 0.05,
            Scenario::Nat => c.nat_share = 0.30,
            Scenario::Eclipse => {
                c.attack = Some(Attack {
                    victims: 10,
                    sybils: 500,
                    sybil_subnets: 2,
                    garbage: 50,
                    silent: 50,
                })
            }
        }
        c
    }
}
