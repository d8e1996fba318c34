//! What a simulation run measured: samples over virtual time, the levels
//! reached and when, and the one-line bench summary.

use std::fmt::Write as _;

/// Table-fill levels whose time is reported
/// ([`SimReport::time_to_fill`]): the share of live honest nodes whose
/// table holds ≥ [`FILL_GOOD`] of what an oracle table would.
pub const FILL_LEVELS: [f64; 3] = [0.5, 0.9, 0.99];

/// A node's table counts as filled when it holds at least this share of the
/// entries an oracle table would hold (issue #18: "≥ 90 %").
pub const FILL_GOOD: f64 = 0.9;

/// One measurement at one point of virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Virtual seconds since the start of the run.
    pub virtual_s: f64,
    /// Honest nodes running at this time.
    pub live_nodes: usize,
    /// Share of live honest nodes whose table holds ≥ [`FILL_GOOD`] of what
    /// an oracle table (every live node known) would hold, in `[0, 1]`.
    pub table_fill: f64,
    /// Mean over live honest nodes of (entries the table holds that an
    /// oracle table also could) / (entries an oracle table holds), in `[0, 1]`.
    pub mean_fill: f64,
    /// Lookup recall of the true 16 closest live nodes, mean over the
    /// lookups run at this sample; `None` when no lookup was run.
    pub recall: Option<f64>,
    /// Mean lookup hops (rounds) at this sample; `None` without lookups.
    pub hops: Option<f64>,
    /// Datagrams sent per live node per virtual minute since the previous
    /// sample (all nodes, attackers included, divided by live honest nodes).
    pub pkts_per_node_min: f64,
    /// Share of honest entries in the victims' tables (eclipse scenario);
    /// `None` without victims.
    pub honest_share: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// Scenario name as in the bench line (`formation`, `churn`, …).
    pub scenario: String,
    /// Honest nodes at the start.
    pub nodes: usize,
    /// The seed: the same seed gives the same numbers.
    pub seed: u64,
    /// Virtual seconds simulated.
    pub virtual_s: f64,
    /// Wall-clock seconds the run took.
    pub wall_s: f64,
    /// Samples in virtual-time order (the last is the final state).
    pub samples: Vec<Sample>,
    /// For each of [`FILL_LEVELS`], the virtual second from which
    /// `table_fill` stayed at or above it to the end of the run; `None` if
    /// the last sample is below it.
    pub time_to_fill: Vec<(f64, Option<f64>)>,
    /// Resident memory per simulated node (bytes), when it could be read.
    pub bytes_per_node: Option<u64>,
    /// Datagrams lost (loss model, NAT filtering, departed nodes, full inboxes).
    pub packets_lost: u64,
    /// Datagrams sent in total.
    pub packets_sent: u64,
}

impl SimReport {
    /// The last sample, i.e. the state at the end of the run.
    pub fn last(&self) -> Option<&Sample> {
        self.samples.last()
    }

    /// Mean of `pkts_per_node_min` over all samples after the first (the
    /// bandwidth a node spends on discovery, averaged over the run).
    pub fn mean_pkts_per_node_min(&self) -> f64 {
        let rates: Vec<f64> = self
            .samples
            .iter()
            .skip(1)
            .map(|s| s.pkts_per_node_min)
            .collect();
        if rates.is_empty() {
            0.0
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        }
    }

    /// `bench sim.<scenario> nodes=… virtual_s=… wall_s=… table_fill=…
    /// recall=… hops=… pkts_per_node_min=… honest_share=…` (values from the
    /// last sample; `-` where a value was not measured).
    pub fn bench_line(&self) -> String {
        let last = self.last();
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "-".to_string(),
        };
        let mut line = format!(
            "bench sim.{} nodes={} virtual_s={:.0} wall_s={:.1} table_fill={} recall={} hops={} pkts_per_node_min={:.1} honest_share={}",
            self.scenario,
            self.nodes,
            self.virtual_s,
            self.wall_s,
            opt(last.map(|s| s.table_fill), 3),
            opt(last.and_then(|s| s.recall), 3),
            opt(last.and_then(|s| s.hops), 2),
            self.mean_pkts_per_node_min(),
            opt(last.and_then(|s| s.honest_share), 3),
        );
        if let Some(b) = self.bytes_per_node {
            let _ = write!(line, " bytes_per_node={b}");
        }
        line
    }

    /// A short text summary: the bench line, when each fill level was
    /// reached, and the final state.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.bench_line());
        let _ = writeln!(
            s,
            "scenario {} with {} nodes, seed {}, {:.0} virtual s in {:.1} wall s",
            self.scenario, self.nodes, self.seed, self.virtual_s, self.wall_s
        );
        for (level, at) in &self.time_to_fill {
            match at {
                Some(t) => {
                    let _ = writeln!(
                        s,
                        "{:.0} % of nodes had ≥ {:.0} % of an oracle table after {t:.0} virtual s",
                        level * 100.0,
                        FILL_GOOD * 100.0
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{:.0} % of nodes with ≥ {:.0} % of an oracle table: not reached",
                        level * 100.0,
                        FILL_GOOD * 100.0
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "datagrams sent {} lost {}",
            self.packets_sent, self.packets_lost
        );
        s
    }

    /// The samples as CSV with a header line.
    pub fn samples_csv(&self) -> String {
        let mut s = String::from(
            "virtual_s,live_nodes,table_fill,mean_fill,recall,hops,pkts_per_node_min,honest_share\n",
        );
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
        for x in &self.samples {
            let _ = writeln!(
                s,
                "{:.1},{},{:.4},{:.4},{},{},{:.2},{}",
                x.virtual_s,
                x.live_nodes,
                x.table_fill,
                x.mean_fill,
                opt(x.recall),
                opt(x.hops),
                x.pkts_per_node_min,
                opt(x.honest_share)
            );
        }
        s
    }
}
