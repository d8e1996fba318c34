//! `devp2p discv4 …`: probe nodes over discovery v4, or run a bootnode.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use devp2p::node::Node;
use devp2p_discover::v4::{Discv4, Discv4Config};

use super::disc_common::{
    announced_ip, Identity, IdentityArgs, CRAWL_PROGRESS_INTERVAL, DEFAULT_LISTEN_PORT,
    LISTEN_REPORT_INTERVAL, MAX_CRAWL_NODES, MAX_CRAWL_PARALLEL,
};
use super::progress::{Counter, LiveView};
use super::{enrdump, wait_for_signal, CliError};

/// `devp2p discv4` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum Discv4Command {
    /// Ping a node and wait for its pong.
    Ping {
        /// The node (enode URL with its discovery port).
        node: Node,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Ask a node for its signed record (EIP-868) and print it.
    Requestenr {
        /// The node (enode URL with its discovery port).
        node: Node,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Find a node's current endpoint (its record, else a lookup of its ID).
    Resolve {
        /// The node (enode URL; the address may be stale).
        node: Node,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Crawl the network with random lookups; writes the nodes found as JSON.
    Crawl {
        /// How long to crawl (e.g. 30s, 5m, 1h).
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Lookups run at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=MAX_CRAWL_PARALLEL as i64))]
        parallel: u16,
        /// Output file (JSON); stdout when absent.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run discovery only (a bootnode) until SIGINT/SIGTERM; prints its enode URL first.
    Listen {
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Flags shared by the discv4 subcommands.
#[derive(Debug, Args)]
pub(super) struct CommonArgs {
    /// Discovery bootstrap nodes (comma-separated enode URLs).
    #[arg(long, value_name = "ENODES", value_delimiter = ',')]
    bootnodes: Vec<Node>,
    /// Node key and addresses.
    #[command(flatten)]
    id: IdentityArgs,
}

/// Runs a `discv4` subcommand.
pub(super) async fn run(cmd: Discv4Command) -> Result<(), CliError> {
    match cmd {
        Discv4Command::Ping { node, common } => {
            let disc = start(&common, 0).await?;
            let t = Instant::now();
            let result = disc.ping(&node).await;
            disc.shutdown().await;
            result?;
            println!(
                "node responded to ping (RTT {:.1} ms)",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        Discv4Command::Requestenr { node, common } => {
            let disc = start(&common, 0).await?;
            let result = disc.request_enr(&node).await;
            disc.shutdown().await;
            let enr = result?;
            println!("{enr}");
            print!("{}", enrdump::render(&enr));
        }
        Discv4Command::Resolve { node, common } => {
            let disc = start(&common, 0).await?;
            let result = disc.resolve(&node).await;
            disc.shutdown().await;
            match result {
                Some(n) => println!("{n}"),
                None => return Err(CliError::NotFound(format!("node {}", node.id))),
            }
        }
        Discv4Command::Crawl {
            timeout,
            parallel,
            out,
            common,
        } => {
            let disc = start(&common, 0).await?;
            let nodes = crawl(&disc, timeout, usize::from(parallel)).await;
            disc.shutdown().await;
            let json: Vec<serde_json::Value> = nodes
                .values()
                .map(|c| {
                    let mut v = serde_json::json!({
                        "id": c.node.id.to_string(),
                        "enode": c.node.to_string(),
                    });
                    if let Some(enr) = &c.enr {
                        v["enr"] = enr.to_string().into();
                        v["seq"] = enr.seq().into();
                    }
                    v
                })
                .collect();
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|source| CliError::Io { path, source })?
                }
                None => print!("{text}"),
            }
            let with_enr = nodes.values().filter(|c| c.enr.is_some()).count();
            eprintln!("crawl: {} nodes, {with_enr} with ENR", nodes.len());
        }
        Discv4Command::Listen { common } => {
            let disc = start(&common, DEFAULT_LISTEN_PORT).await?;
            let signal = wait_for_signal();
            println!("{}", local_enode(&disc, &common));
            let mut report = tokio::time::interval(LISTEN_REPORT_INTERVAL);
            tokio::pin!(signal);
            loop {
                tokio::select! {
                    _ = &mut signal => break,
                    _ = report.tick() => {
                        let n = disc.table_nodes().await.len();
                        tracing::info!(target: "p2p::discover", table = n, "bootnode running");
                    }
                }
            }
            disc.shutdown().await;
        }
    }
    Ok(())
}

/// Binds the discovery service (port `default_port` unless --addr).
async fn start(common: &CommonArgs, default_port: u16) -> Result<Discv4, CliError> {
    let Identity { key, addr, local } = common.id.identity(default_port)?;
    let cfg = Discv4Config {
        bootnodes: common.bootnodes.clone(),
        ..Discv4Config::default()
    };
    Ok(Discv4::bind(addr, key, local, cfg).await?)
}

fn local_enode(disc: &Discv4, common: &CommonArgs) -> Node {
    let (ip, port) = match common.id.extaddr {
        Some(ext) => (ext.ip(), ext.port()),
        None => (
            announced_ip(disc.local_addr().ip()),
            disc.local_addr().port(),
        ),
    };
    // No RLPx listener: TCP port 0, as go-ethereum's bootnode prints it.
    Node::new(disc.local_id(), ip, 0, port)
}

/// What a crawl learned about one node.
pub(super) struct Crawled {
    /// The node as discovery reported it.
    pub node: Node,
    /// Its signed record, if it answered our ENR request.
    pub enr: Option<devp2p::node::Enr>,
}

/// Runs `parallel` random-lookup loops for `timeout`, collecting every node
/// seen (at most [`MAX_CRAWL_NODES`]) and requesting each one's ENR (at most
/// `parallel` requests in flight, as go-ethereum's crawler does), with a live
/// view on stderr.
async fn crawl(
    disc: &Discv4,
    timeout: Duration,
    parallel: usize,
) -> std::collections::BTreeMap<devp2p::node::NodeId, Crawled> {
    use futures::stream::FuturesUnordered;
    use futures::StreamExt;
    let started = Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut found = std::collections::BTreeMap::new();
    let mut streams = futures::stream::select_all((0..parallel).map(|_| disc.random_nodes()));
    let mut progress = tokio::time::interval(CRAWL_PROGRESS_INTERVAL);
    let view = LiveView::new("crawl", &["nodes", "enrs"]);
    // Nodes whose ENR is still to be requested, and the requests in flight.
    let mut enr_queue = std::collections::VecDeque::new();
    let mut enr_requests = FuturesUnordered::new();
    let mut enrs = 0u64;
    let add = |found: &mut std::collections::BTreeMap<_, Crawled>,
               queue: &mut std::collections::VecDeque<Node>,
               node: Node| {
        if found.len() < MAX_CRAWL_NODES && !found.contains_key(&node.id) {
            queue.push_back(node.clone());
            found.insert(node.id, Crawled { node, enr: None });
        }
    };
    for node in disc.table_nodes().await {
        add(&mut found, &mut enr_queue, node);
    }
    loop {
        while enr_requests.len() < parallel {
            let Some(node) = enr_queue.pop_front() else {
                break;
            };
            enr_requests.push(async move { (node.id, disc.request_enr(&node).await) });
        }
        tokio::select! {
            _ = &mut deadline => break,
            _ = progress.tick() => {
                // Nodes we bonded with but no lookup returned (e.g. the
                // bootnodes, which answer lookups but are not in them).
                for node in disc.table_nodes().await {
                    add(&mut found, &mut enr_queue, node);
                }
                view.update(started.elapsed(), &[
                    Counter { label: "nodes", value: found.len() as u64, goal: None },
                    Counter { label: "enrs", value: enrs, goal: Some(found.len() as u64) },
                ]);
            }
            Some((id, result)) = enr_requests.next(), if !enr_requests.is_empty() => {
                if let (Ok(enr), Some(entry)) = (result, found.get_mut(&id)) {
                    entry.enr = Some(enr);
                    enrs += 1;
                }
            }
            node = streams.next() => match node {
                Some(node) => add(&mut found, &mut enr_queue, node),
                None => break,
            },
        }
    }
    view.finish();
    for node in disc.table_nodes().await {
        if found.len() < MAX_CRAWL_NODES {
            found.entry(node.id).or_insert(Crawled { node, enr: None });
        }
    }
    found
}
