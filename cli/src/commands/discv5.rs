//! `devp2p discv5 …`: probe nodes over discovery v5, crawl, or run a discv5
//! node (modelled on go-ethereum's `devp2p discv5`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use devp2p::node::{Enr, NodeId};
use devp2p_discover::v5::{Discv5, Discv5Config};

use super::disc_common::{
    Identity, IdentityArgs, CRAWL_PROGRESS_INTERVAL, DEFAULT_LISTEN_PORT, LISTEN_REPORT_INTERVAL,
    MAX_CRAWL_NODES, MAX_CRAWL_PARALLEL,
};
use super::progress::{Counter, LiveView};
use super::{enrdump, wait_for_signal, CliError};

/// `devp2p discv5` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum Discv5Command {
    /// Ping a node and wait for its pong.
    Ping {
        /// The node's record (`enr:` text).
        node: Enr,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Ask a node for its current record and print it.
    Resolve {
        /// The node's record (`enr:` text; may be outdated).
        node: Enr,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Crawl the network with random lookups; writes the records found as JSON.
    Crawl {
        /// How long to crawl (e.g. 30s, 5m, 1h).
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Lookups run at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=MAX_CRAWL_PARALLEL as i64))]
        parallel: u16,
        /// Output file (JSON); stdout when absent.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run a discv5 node until SIGINT/SIGTERM; prints its record first.
    Listen {
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Flags shared by the discv5 subcommands.
#[derive(Debug, Args)]
pub(super) struct CommonArgs {
    /// Bootstrap nodes (comma-separated `enr:` records).
    #[arg(long, value_name = "ENRS", value_delimiter = ',')]
    bootnodes: Vec<Enr>,
    /// Node key and addresses.
    #[command(flatten)]
    id: IdentityArgs,
}

/// Runs a `discv5` subcommand.
pub(super) async fn run(cmd: Discv5Command) -> Result<(), CliError> {
    match cmd {
        Discv5Command::Ping { node, common } => {
            let disc = start(&common, 0).await?;
            let t = Instant::now();
            let result = disc.ping(&node).await;
            disc.shutdown().await;
            let seq = result?;
            println!(
                "node responded to ping (seq {seq}, RTT {:.1} ms)",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        Discv5Command::Resolve { node, common } => {
            let disc = start(&common, 0).await?;
            let result = disc.request_enr(&node).await;
            disc.shutdown().await;
            let enr = result?;
            println!("{enr}");
            print!("{}", enrdump::render(&enr));
        }
        Discv5Command::Crawl {
            timeout,
            parallel,
            out,
            common,
        } => {
            let disc = start(&common, 0).await?;
            let found = crawl(&disc, timeout, usize::from(parallel)).await;
            disc.shutdown().await;
            let json: Vec<serde_json::Value> = found
                .values()
                .map(|enr| {
                    serde_json::json!({
                        "id": enr.node_id().to_string(),
                        "seq": enr.seq(),
                        "enr": enr.to_string(),
                    })
                })
                .collect();
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|source| CliError::Io { path, source })?
                }
                None => print!("{text}"),
            }
            eprintln!("crawl: {} nodes", found.len());
        }
        Discv5Command::Listen { common } => {
            let disc = start(&common, DEFAULT_LISTEN_PORT).await?;
            println!("{}", disc.local_enr()?);
            let mut report = tokio::time::interval(LISTEN_REPORT_INTERVAL);
            let signal = wait_for_signal();
            tokio::pin!(signal);
            loop {
                tokio::select! {
                    _ = &mut signal => break,
                    _ = report.tick() => {
                        let n = disc.table_len();
                        tracing::info!(target: "p2p::discv5", table = n, "discv5 node running");
                    }
                }
            }
            disc.shutdown().await;
        }
    }
    Ok(())
}

/// Binds the discv5 service (port `default_port` unless --addr).
async fn start(common: &CommonArgs, default_port: u16) -> Result<Discv5, CliError> {
    let Identity { key, addr, local } = common.id.identity(default_port)?;
    let cfg = Discv5Config {
        bootnodes: common.bootnodes.clone(),
        ..Discv5Config::default()
    };
    Ok(Discv5::bind(addr, key, local, cfg).await?)
}

/// Runs `parallel` random-lookup streams for `timeout` (or until they end),
/// collecting every record seen (the newest per node, at most
/// [`MAX_CRAWL_NODES`]) and the table's, with a live view on stderr.
async fn crawl(
    disc: &Discv5,
    timeout: Duration,
    parallel: usize,
) -> std::collections::BTreeMap<NodeId, Enr> {
    use futures::StreamExt;
    let started = Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut found = std::collections::BTreeMap::new();
    let add = |found: &mut std::collections::BTreeMap<NodeId, Enr>, enr: Enr| {
        let newer = found
            .get(&enr.node_id())
            .is_none_or(|old| old.seq() < enr.seq());
        if newer && (found.len() < MAX_CRAWL_NODES || found.contains_key(&enr.node_id())) {
            found.insert(enr.node_id(), enr);
        }
    };
    let mut streams = futures::stream::select_all((0..parallel).map(|_| disc.random_nodes()));
    let mut progress = tokio::time::interval(CRAWL_PROGRESS_INTERVAL);
    let view = LiveView::new("crawl", &["nodes"]);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = progress.tick() => {
                for enr in disc.table_enrs() {
                    add(&mut found, enr);
                }
                view.update(started.elapsed(), &[
                    Counter { label: "nodes", value: found.len() as u64, goal: None },
                ]);
            }
            enr = streams.next() => match enr {
                Some(enr) => add(&mut found, enr),
                None => break,
            },
        }
    }
    view.finish();
    for enr in disc.table_enrs() {
        add(&mut found, enr);
    }
    found
}
