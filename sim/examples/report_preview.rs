//! Writes the report files of two made-up runs (formation and eclipse) so
//! the pictures' layout can be checked without simulating anything.
//!
//! `cargo run -p devp2p-sim --example report_preview -- /tmp/sim-preview`
//! writes `/tmp/sim-preview/formation/` and `/tmp/sim-preview/eclipse/`.

use std::path::PathBuf;

use devp2p_sim::plot::write_report;
use devp2p_sim::{Sample, SimReport};

/// Minutes of the made-up run (one sample per minute, as the presets do).
const MINUTES: u32 = 60;
/// Honest nodes of the made-up run (the `devp2p sim` default).
const NODES: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("sim-preview"), PathBuf::from);
    for eclipse in [false, true] {
        let report = made_up(eclipse);
        for path in write_report(&report, &dir.join(&report.scenario))? {
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// A logistic table fill, arrivals over 5 minutes, a traffic burst that
/// settles, recall from minute 2, and (eclipse) an honest share that dips.
fn made_up(eclipse: bool) -> SimReport {
    let logistic = |t: f64, mid: f64, width: f64| 1.0 / (1.0 + (-(t - mid) / width).exp());
    let samples = (0..=MINUTES)
        .map(|m| {
            let t = f64::from(m);
            Sample {
                virtual_s: t * 60.0,
                live_nodes: (NODES * m.min(5) as usize / 5).max(3),
                table_fill: logistic(t, 15.0, 3.0),
                mean_fill: logistic(t, 10.0, 4.0),
                recall: (m >= 2).then(|| 0.3 + 0.68 * logistic(t, 12.0, 4.0)),
                hops: (m >= 2).then_some(3.5),
                pkts_per_node_min: if m == 0 {
                    0.0
                } else {
                    40.0 + 200.0 * (-t / 8.0).exp()
                },
                honest_share: eclipse.then(|| 1.0 - 0.3 * logistic(t, 20.0, 5.0)),
            }
        })
        .collect();
    SimReport {
        scenario: if eclipse { "eclipse" } else { "formation" }.to_string(),
        nodes: NODES,
        seed: 1,
        virtual_s: f64::from(MINUTES) * 60.0,
        wall_s: 0.0,
        samples,
        time_to_fill: Vec::new(),
        bytes_per_node: None,
        packets_lost: 0,
        packets_sent: 0,
    }
}
