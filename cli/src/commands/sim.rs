//! `devp2p sim`: runs the discovery simulator (thousands of discv4 nodes on
//! a virtual network and virtual time, see `devp2p_sim`), prints the bench
//! line and summary, and writes the report files (summary, samples CSV, SVG).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use devp2p_sim::plot::write_report;
use devp2p_sim::{Scenario, SimConfig};

use super::CliError;

/// Most honest nodes in one run: the simulator issue asks for runs of
/// 100 000 nodes (about 2 GB of memory at ~20 kB per node).
pub(super) const MAX_SIM_NODES: u32 = 100_000;
/// Longest run in virtual minutes: one virtual day (our choice; the presets
/// run one hour, and wall time grows with virtual time).
pub(super) const MAX_SIM_MINUTES: u64 = 24 * 60;

/// Flags of `devp2p sim`.
#[derive(Debug, Args)]
pub(super) struct SimArgs {
    /// Honest nodes, bootnodes included.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SIM_NODES)))]
    pub nodes: u32,
    /// What to simulate: formation, churn, loss, nat or eclipse.
    #[arg(long, default_value = "formation")]
    pub scenario: Scenario,
    /// Seed for keys, addresses, loss and the schedule: the same seed gives
    /// the same numbers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Virtual minutes to simulate (one sample per virtual minute).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_SIM_MINUTES))]
    pub minutes: u64,
    /// Directory for summary.txt, samples.csv and report.svg (created if
    /// missing; files in it are replaced).
    #[arg(long, default_value = "sim-report")]
    pub out: PathBuf,
}

/// The run's configuration: the scenario's preset with the seed and length
/// from the command line.
fn config(args: &SimArgs) -> SimConfig {
    let mut config = SimConfig::preset(args.scenario, args.nodes as usize);
    config.seed = args.seed;
    config.duration = Duration::from_secs(args.minutes * 60);
    // A run shorter than the preset's arrival spread still starts every node.
    config.arrival_spread = config.arrival_spread.min(config.duration);
    config
}

/// Runs the simulation (synchronously: the simulator builds its own
/// paused-clock runtime), prints its summary and writes the report.
pub(super) fn run(args: SimArgs) -> Result<(), CliError> {
    let config = config(&args);
    eprintln!(
        "sim: {} with {} nodes, seed {}, {} virtual minutes",
        config.scenario, config.nodes, config.seed, args.minutes
    );
    let report = devp2p_sim::run(&config)?;
    print!("{}", report.summary_text());
    for path in write_report(&report, &args.out)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
        let argv = ["devp2p", "sim"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Sim(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.nodes, 1000);
        assert_eq!(args.scenario, Scenario::Formation);
        assert_eq!(args.seed, 1);
        assert_eq!(args.minutes, 60);
        assert_eq!(args.out, PathBuf::from("sim-report"));
        let config = config(&args);
        assert_eq!(config, SimConfig::preset(Scenario::Formation, 1000));
    }

    #[test]
    fn flags_reach_the_config() {
        let args = parse(&[
            "--nodes",
            "100000",
            "--scenario",
            "eclipse",
            "--seed",
            "9",
            "--minutes",
            "2",
            "--out",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(args.out, PathBuf::from("/tmp/x"));
        let config = config(&args);
        assert_eq!(config.nodes, 100_000);
        assert_eq!(config.scenario, Scenario::Eclipse);
        assert!(config.attack.is_some());
        assert_eq!(config.seed, 9);
        assert_eq!(config.duration, Duration::from_secs(120));
        assert_eq!(config.arrival_spread, Duration::from_secs(120));
    }

    #[test]
    fn rejects_bad_values() {
        use clap::error::ErrorKind;
        for bad in [
            &["--nodes", "0"][..],
            &["--nodes", "100001"],
            &["--nodes", "-3"],
            &["--minutes", "0"],
            &["--minutes", "1441"],
            &["--scenario", "storm"],
            &["--seed", "x"],
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::ValueValidation | ErrorKind::UnknownArgument
                ),
                "{bad:?}: {:?}",
                err.kind()
            );
        }
        let err = parse(&["--scenario", "storm"]).unwrap_err().to_string();
        assert!(
            err.contains("formation, churn, loss, nat or eclipse"),
            "{err}"
        );
    }
}
