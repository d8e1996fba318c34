//! The devnet's scaling figures: spreads over nodes (min / median / max),
//! the discv4 table an oracle would fill, and the one-line bench summary.

use std::fmt::Write as _;

use devp2p::node::{log_distance, NodeId};
use devp2p_discover::v4::table::{BUCKET_MIN_DISTANCE, BUCKET_SIZE, N_BUCKETS};

/// Smallest, median and largest of a per-node figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Spread {
    /// Smallest value.
    pub min: usize,
    /// Median (the upper one of the two middle values for an even count).
    pub median: usize,
    /// Largest value.
    pub max: usize,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub(super) fn of(values: impl IntoIterator<Item = usize>) -> Spread {
        let mut v: Vec<usize> = values.into_iter().collect();
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_unstable();
        Spread {
            min: v[0],
            median: v[v.len() / 2],
            max: v[v.len() - 1],
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.min, self.median, self.max)
    }
}

/// How many of `others` a discv4 table owned by `me` can hold at most: per
/// bucket (laid out as the table does: log distances up to
/// [`BUCKET_MIN_DISTANCE`] share bucket 0), the nodes at that distance,
/// capped at [`BUCKET_SIZE`]. On 127.0.0.1 the table's IP limits do not apply
/// (LAN addresses are exempt), so this is the table a node has when it
/// has discovered everything it can keep.
pub(super) fn table_capacity(me: &NodeId, others: &[NodeId]) -> usize {
    let my_hash = me.hash();
    let mut per_bucket = [0usize; N_BUCKETS];
    for other in others.iter().filter(|o| *o != me) {
        let d = log_distance(&my_hash, &other.hash());
        let bucket = d.saturating_sub(BUCKET_MIN_DISTANCE + 1) as usize;
        if let Some(count) = per_bucket.get_mut(bucket) {
            *count += 1;
        }
    }
    per_bucket.iter().map(|&c| c.min(BUCKET_SIZE)).sum()
}

/// What one devnet run measured, printed as one `bench devnet …` line.
#[derive(Clone, Debug, Default)]
pub(super) struct DevnetBench {
    /// Number of nodes.
    pub nodes: usize,
    /// Seconds from the first node's start to convergence; `None` when the
    /// run gave up.
    pub converge_s: Option<f64>,
    /// CPU seconds (user + system) of the whole process from just before
    /// the first node started to convergence (or giving up); `None` when
    /// unreadable.
    pub cpu_s: Option<f64>,
    /// Resident memory added per node (KiB): RSS then minus RSS before the
    /// first node started, over the node count; `None` when unreadable.
    pub rss_kib_per_node: Option<u64>,
    /// Connected peers per node.
    pub peers: Spread,
    /// Peers each node dialed itself.
    pub dialed: Spread,
    /// discv4 table entries per node.
    pub table: Spread,
    /// What each node's table could hold at most ([`table_capacity`]).
    pub table_capacity: Spread,
    /// Each node's peer limit (`Config::peer_limit`, the same for all).
    pub peer_limit: usize,
    /// Each node's dialed-peer target (`Config::max_dialed_peers`).
    pub dial_target: usize,
}

impl DevnetBench {
    /// `bench devnet nodes=N converge_s=… cpu_s=… cpu_s_per_node=…
    /// rss_kib_per_node=… peers_min=… peers_median=… peers_max=…`, then the
    /// limits and the dialed and table spreads; `-` for what was not
    /// measured.
    pub(super) fn line(&self) -> String {
        let dash = || "-".to_string();
        let secs = |v: Option<f64>, digits: usize| v.map_or_else(dash, |v| format!("{v:.digits$}"));
        let per_node = self
            .cpu_s
            .filter(|_| self.nodes > 0)
            .map(|c| c / self.nodes as f64);
        let mut s = format!(
            "bench devnet nodes={} converge_s={} cpu_s={} cpu_s_per_node={} rss_kib_per_node={}",
            self.nodes,
            secs(self.converge_s, 1),
            secs(self.cpu_s, 2),
            secs(per_node, 3),
            self.rss_kib_per_node.map_or_else(dash, |v| v.to_string()),
        );
        for (name, spread) in [
            ("peers", self.peers),
            ("dialed", self.dialed),
            ("table", self.table),
            ("table_cap", self.table_capacity),
        ] {
            let _ = write!(
                s,
                " {name}_min={} {name}_median={} {name}_max={}",
                spread.min, spread.median, spread.max
            );
            if name == "peers" {
                let _ = write!(
                    s,
                    " peer_limit={} dial_target={}",
                    self.peer_limit, self.dial_target
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_min_median_max() {
        assert_eq!(Spread::of([]), Spread::default());
        let s = Spread::of([5, 1, 9, 3]);
        assert_eq!((s.min, s.median, s.max), (1, 5, 9));
        assert_eq!(Spread::of([7]).to_string(), "7/7/7");
    }

    #[test]
    fn table_capacity_caps_each_bucket() {
        let ids: Vec<NodeId> = (0..=255u8).map(|b| NodeId([b; 64])).collect();
        let me = ids[0];
        let cap = table_capacity(&me, &ids);
        // 255 others over 17 buckets of 16: half of them share the farthest
        // bucket, so the cap binds and the table holds fewer than 255.
        assert!(cap < 255 && cap > BUCKET_SIZE, "{cap}");
        // Two nodes: the other always fits.
        assert_eq!(table_capacity(&me, &ids[..2]), 1);
        // Itself never counts.
        assert_eq!(table_capacity(&me, &ids[..1]), 0);
    }

    #[test]
    fn bench_line_has_the_fixed_fields_first_and_dashes_when_unmeasured() {
        let bench = DevnetBench {
            nodes: 4,
            converge_s: Some(1.24),
            cpu_s: Some(2.0),
            rss_kib_per_node: Some(300),
            peers: Spread::of([3, 3, 3, 3]),
            peer_limit: 50,
            dial_target: 16,
            ..DevnetBench::default()
        };
        let line = bench.line();
        assert!(
            line.starts_with(
                "bench devnet nodes=4 converge_s=1.2 cpu_s=2.00 cpu_s_per_node=0.500 rss_kib_per_node=300 peers_min=3 peers_median=3 peers_max=3 peer_limit=50 dial_target=16 dialed_min=0"
            ),
            "{line}"
        );
        let none = DevnetBench {
            nodes: 4,
            ..DevnetBench::default()
        }
        .line();
        assert!(
            none.starts_with(
                "bench devnet nodes=4 converge_s=- cpu_s=- cpu_s_per_node=- rss_kib_per_node=- "
            ),
            "{none}"
        );
    }
}
