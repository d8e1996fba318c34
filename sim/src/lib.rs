//! A discovery network you can watch form.
//!
//! Thousands of real discv4 services (real keys, real signatures, real
//! packets) run in one process on a virtual UDP network
//! ([`devp2p_discover::v4::sim`]) and tokio's paused clock. Every node starts
//! with an empty table and knows only the bootnodes; the network forms
//! through the protocol while nodes come and go, packets are lost, some
//! nodes sit behind NAT and attackers try to eclipse victims. Runs are
//! deterministic: the same [`SimConfig`] (seed included) gives the same
//! numbers, bit for bit, in every scenario.
//!
//! [`run`] returns a [`SimReport`]: samples over virtual time, a one-line
//! [`SimReport::bench_line`] and [`SimReport::summary_text`].
//! [`plot::write_report`] writes it to a folder as `summary.txt`,
//! `samples.csv` and `report.svg` (what `devp2p sim` does).
//! [`run_lookups`] measures lookups alone in a network whose tables are
//! seeded from the oracle, which reaches 100,000 nodes ([`lookups`]).
//!
//! ```
//! use std::time::Duration;
//! use devp2p_sim::{run, Scenario, SimConfig};
//!
//! let mut config = SimConfig::preset(Scenario::Formation, 60);
//! config.duration = Duration::from_secs(120);
//! config.arrival_spread = Duration::from_secs(10);
//! config.sample_every = Duration::from_secs(30);
//! let report = run(&config).unwrap();
//! assert_eq!(report.samples.len(), 5);
//! println!("{}", report.bench_line());
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod attack;
mod error;
pub mod lookups;
mod oracle;
pub mod plot;
pub mod report;
mod runner;
pub mod scenario;

pub use error::SimError;
pub use lookups::{run_lookups, LookupConfig, LookupReport};
pub use report::{Sample, SimReport};
pub use runner::{run, MAX_ATTACKERS, MAX_NODES};
pub use scenario::{Attack, Scenario, SimConfig};
