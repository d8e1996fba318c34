//! `devp2p node`: run a full node with the demo protocol until SIGINT/SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::demo::{Demo, DemoConfig, DEFAULT_NETWORK_ID};
use clap::Args;
use devp2p::config::{Config, NatSpec, Network};
use devp2p::node::{
    generate_node_key, load_node_key, parse_node_key, save_node_key, Enr, Node, NodeId,
};
use devp2p::server::Server;
use devp2p::{PeerEvent, PeerEventKind};
use devp2p_netutil::Netlist;
use futures::StreamExt;
use secp256k1::SecretKey;

use super::{wait_for_signal, CliError};

/// Name of the key file inside `--datadir` (go-ethereum's name).
const DATADIR_KEY_FILE: &str = "nodekey";
/// Name of the node database directory inside `--datadir`.
const DATADIR_NODES_DIR: &str = "nodes";

/// Flags of `devp2p node`.
#[derive(Debug, Args)]
pub(super) struct NodeArgs {
    /// Node key file (go-ethereum format). Random when neither this nor --nodekeyhex is given
    /// (with --datadir: <datadir>/nodekey, created if missing).
    #[arg(long, value_name = "FILE", conflicts_with = "nodekeyhex")]
    pub nodekey: Option<PathBuf>,
    /// Node key as 64 hex characters.
    #[arg(long, value_name = "HEX")]
    pub nodekeyhex: Option<String>,
    /// TCP (RLPx) and UDP (discovery) address [default: 0.0.0.0:30303].
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<SocketAddr>,
    /// UDP discovery port, when different from the TCP port.
    #[arg(long, value_name = "PORT")]
    pub discport: Option<u16>,
    /// Do not run discovery (only static peers and inbound connections).
    #[arg(long)]
    pub nodiscover: bool,
    /// Join a known public network: mainnet, sepolia or hoodi (its bootstrap nodes as
    /// go-ethereum v1.17.10 ships them; --bootnodes overrides them).
    #[arg(long, value_name = "NAME")]
    pub network: Option<Network>,
    /// Run discv4 (`--discovery.v4=false` turns it off) [default: true].
    #[arg(long = "discovery.v4", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub discovery_v4: Option<bool>,
    /// Run discv5, on the same UDP port as discv4 (`--discovery.v5=false`
    /// turns it off) [default: true].
    #[arg(long = "discovery.v5", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub discovery_v5: Option<bool>,
    /// Discovery bootstrap nodes (comma-separated enode URLs).
    #[arg(long, value_name = "ENODES", value_delimiter = ',')]
    pub bootnodes: Vec<Node>,
    /// discv5 bootstrap nodes (comma-separated `enr:` records).
    #[arg(long, value_name = "ENRS", value_delimiter = ',')]
    pub bootnodesv5: Vec<Enr>,
    /// Nodes to stay connected to (comma-separated enode URLs).
    #[arg(long = "static", value_name = "ENODES", value_delimiter = ',')]
    pub static_nodes: Vec<Node>,
    /// Nodes allowed above the peer limit (comma-separated enode URLs).
    #[arg(long, value_name = "ENODES", value_delimiter = ',')]
    pub trusted: Vec<Node>,
    /// Most connected peers [default: 50].
    #[arg(long, value_name = "N")]
    pub maxpeers: Option<usize>,
    /// Most connections in the handshake phase [default: 50].
    #[arg(long, value_name = "N")]
    pub maxpendpeers: Option<usize>,
    /// Most inbound peers [default: maxpeers minus the dialed share].
    #[arg(long, value_name = "N")]
    pub maxinbound: Option<usize>,
    /// Most peers we dial [default: maxpeers / 3].
    #[arg(long, value_name = "N")]
    pub maxoutbound: Option<usize>,
    /// Most inbound connections in the handshake phase [default: maxpendpeers].
    #[arg(long, value_name = "N")]
    pub maxpendinbound: Option<usize>,
    /// Most dials in flight [default: maxpendpeers].
    #[arg(long, value_name = "N")]
    pub maxpendoutbound: Option<usize>,
    /// Cap on all peers' outbound bytes per second together [default: none].
    #[arg(long = "bandwidth.egress", value_name = "BYTES_PER_S")]
    pub bandwidth_egress: Option<u64>,
    /// Cap on all peers' inbound bytes per second together [default: none].
    #[arg(long = "bandwidth.ingress", value_name = "BYTES_PER_S")]
    pub bandwidth_ingress: Option<u64>,
    /// Cap on each peer's outbound bytes per second [default: none].
    #[arg(long = "bandwidth.peer.egress", value_name = "BYTES_PER_S")]
    pub bandwidth_peer_egress: Option<u64>,
    /// Cap on each peer's inbound bytes per second [default: none].
    #[arg(long = "bandwidth.peer.ingress", value_name = "BYTES_PER_S")]
    pub bandwidth_peer_ingress: Option<u64>,
    /// Burst of every bandwidth cap, in bytes [default: one second of the cap, at
    /// least 64 KiB].
    #[arg(long = "bandwidth.burst", value_name = "BYTES")]
    pub bandwidth_burst: Option<u64>,
    /// Slot churn: when the inbound or dialed slots are full, drop one random
    /// non-trusted, non-static peer every 3-7 minutes (as go-ethereum's dropper).
    #[arg(long)]
    pub churn: bool,
    /// NAT port mapping: none, any, upnp, pmp[:<IP>], extip:<IP> or stun[:<IP>[:port]]
    /// [default: none].
    #[arg(long, value_name = "SPEC")]
    pub nat: Option<NatSpec>,
    /// Lease asked for each NAT port mapping, renewed at 4/5 of it (e.g. 10m, 30s; at
    /// least 2s) [default: 10m, as go-ethereum].
    #[arg(long = "nat.lease", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub nat_lease: Option<std::time::Duration>,
    /// Only connect to these networks (comma-separated CIDR masks).
    #[arg(long, value_name = "CIDRS")]
    pub netrestrict: Option<Netlist>,
    /// Directory for the node database and the node key.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Remembered peers (from the node database in --datadir) dialed first at
    /// start; 0 turns it off [default: 30].
    #[arg(long, value_name = "N")]
    pub rememberedpeers: Option<usize>,
    /// Serve Prometheus metrics at http://IP:PORT/metrics.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Read settings from a TOML file (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Client name sent in Hello.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// EIP-1459 DNS node list to dial nodes from (enrtree://<key>@<domain>; repeatable).
    #[arg(long = "dns", value_name = "URL")]
    pub dns: Vec<devp2p::dnsdisc::TreeUrl>,
    /// Name server (IP:PORT) for the --dns lists [default: the system's resolvers].
    #[arg(long = "dns.server", value_name = "IP:PORT")]
    pub dns_server: Option<SocketAddr>,
    /// Demo protocol network id (peers on other networks are refused).
    #[arg(long, value_name = "ID", default_value_t = DEFAULT_NETWORK_ID)]
    pub networkid: u64,
}

/// The node key: --nodekeyhex, --nodekey, <datadir>/nodekey, or random.
fn node_key(args: &NodeArgs) -> Result<SecretKey, CliError> {
    if let Some(hex) = &args.nodekeyhex {
        return Ok(parse_node_key(hex)?);
    }
    if let Some(path) = &args.nodekey {
        return Ok(load_node_key(path)?);
    }
    if let Some(dir) = &args.datadir {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(DATADIR_KEY_FILE);
        return match load_node_key(&path) {
            Ok(key) => Ok(key),
            Err(e) if e.is_not_found() => {
                let key = generate_node_key();
                save_node_key(&path, &key)?;
                Ok(key)
            }
            Err(e) => Err(e.into()),
        };
    }
    Ok(generate_node_key())
}

/// Builds the server config: the TOML file (if any), then every flag given.
pub(super) fn build_config(args: &NodeArgs) -> Result<Config, CliError> {
    let mut config = match &args.config {
        Some(path) => crate::config_file::load(path)?,
        None => Config::default(),
    };
    config.private_key = Some(node_key(args)?);
    if let Some(addr) = args.addr {
        config.listen_addr = Some(addr);
    }
    if let Some(port) = args.discport {
        let ip = config
            .listen_addr
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        config.discovery_addr = Some(SocketAddr::new(ip, port));
    }
    if args.nodiscover {
        config.no_discovery = true;
    }
    if let Some(network) = args.network {
        config.apply_network(network)?;
        tracing::info!(
            target: "p2p::server", %network, bootnodes = config.bootstrap_nodes.len(),
            "known network"
        );
    }
    if let Some(on) = args.discovery_v4 {
        config.discovery_v4 = on;
    }
    if let Some(on) = args.discovery_v5 {
        config.discovery_v5 = on;
    }
    if !args.bootnodes.is_empty() {
        config.bootstrap_nodes = args.bootnodes.clone();
    }
    if !args.bootnodesv5.is_empty() {
        config.bootstrap_nodes_v5 = args.bootnodesv5.clone();
    }
    if !args.static_nodes.is_empty() {
        config.static_nodes = args.static_nodes.clone();
    }
    if !args.trusted.is_empty() {
        config.trusted_nodes = args.trusted.clone();
    }
    if let Some(n) = args.maxpeers {
        config.max_peers = n;
    }
    if let Some(n) = args.maxpendpeers {
        config.max_pending_peers = n;
    }
    if let Some(n) = args.maxinbound {
        config.max_inbound = Some(n);
    }
    if let Some(n) = args.maxoutbound {
        config.max_outbound = Some(n);
    }
    if let Some(n) = args.maxpendinbound {
        config.max_pending_inbound = Some(n);
    }
    if let Some(n) = args.maxpendoutbound {
        config.max_pending_outbound = Some(n);
    }
    if args.churn {
        config.churn = true;
    }
    let bw = &mut config.bandwidth;
    for (flag, field) in [
        (args.bandwidth_egress, &mut bw.global_egress),
        (args.bandwidth_ingress, &mut bw.global_ingress),
        (args.bandwidth_peer_egress, &mut bw.per_peer_egress),
        (args.bandwidth_peer_ingress, &mut bw.per_peer_ingress),
        (args.bandwidth_burst, &mut bw.burst),
    ] {
        if flag.is_some() {
            *field = flag;
        }
    }
    if let Some(spec) = &args.nat {
        config.nat = *spec;
    }
    if let Some(lease) = args.nat_lease {
        config.nat_mapping_lifetime = lease;
    }
    if let Some(list) = &args.netrestrict {
        config.net_restrict = Some(list.clone());
    }
    if let Some(dir) = &args.datadir {
        config.node_database = Some(dir.join(DATADIR_NODES_DIR));
    }
    if let Some(n) = args.rememberedpeers {
        config.remembered_peers_dialed = n;
    }
    if let Some(name) = &args.name {
        config.name = name.clone();
    }
    if !args.dns.is_empty() {
        config.dns_lists = args.dns.clone();
    }
    if let Some(server) = args.dns_server {
        config.dns_server = Some(server);
    }
    Ok(config)
}

/// Runs `devp2p node` until a signal arrives.
pub(super) async fn run(args: NodeArgs) -> Result<(), CliError> {
    let mut config = build_config(&args)?;
    let key = config.private_key.expect("set by build_config");
    let demo = Demo::new(DemoConfig {
        local_id: NodeId::from_secret_key(&key),
        network_id: args.networkid,
        name: config.name.clone(),
    });
    config.protocols.push(demo.protocol());
    let server = Server::start(config).await?;
    // Before the enode line: from then on SIGTERM must mean a clean stop.
    let signal = wait_for_signal();

    // The contract: the enode URL is the first line on stdout, our record
    // (`enr:` text, what discv4 and discv5 hand out) the second.
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.self_node());
        let _ = writeln!(out, "{}", server.local_node().enr());
        let _ = out.flush();
    }
    tracing::info!(target: "p2p::server", enode = %server.self_node(), "node running");

    let metrics = match args.metrics {
        Some(addr) => Some(
            crate::metrics_http::serve(addr, server.clone())
                .await
                .map_err(|source| CliError::Io {
                    path: PathBuf::from(format!("metrics listener {addr}")),
                    source,
                })?,
        ),
        None => None,
    };
    if let Some(m) = &metrics {
        tracing::info!(target: "p2p::server", addr = %m.local_addr(), "metrics listening");
    }

    // Log peer events until a signal arrives. Static dials start inside
    // Server::start, so a peer can be up before we subscribe: log the peers
    // already connected too, once each (`logged` also dedupes an Add event
    // that races the snapshot).
    let mut events = server.subscribe_events();
    let mut logged = std::collections::HashSet::new();
    for peer in server.peers().await {
        if logged.insert(peer.id()) {
            tracing::info!(
                target: "p2p::server", peer = %peer.id(), remote = ?Some(peer.remote_addr()),
                "peer connected"
            );
        }
    }
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            ev = events.next() => match ev {
                Some(ev) => {
                    let first = match ev.kind {
                        PeerEventKind::Add => logged.insert(ev.peer),
                        PeerEventKind::Drop => {
                            logged.remove(&ev.peer);
                            true
                        }
                        _ => true,
                    };
                    if first {
                        log_event(&ev);
                    }
                }
                None => break,
            },
        }
    }
    tracing::info!(target: "p2p::server", "stopping");
    if let Some(m) = metrics {
        m.stop().await;
    }
    demo.shutdown().await;
    server.stop().await;
    Ok(())
}

fn log_event(ev: &PeerEvent) {
    match ev.kind {
        PeerEventKind::Add => {
            tracing::info!(target: "p2p::server", peer = %ev.peer, remote = ?ev.remote, "peer connected")
        }
        PeerEventKind::Drop => tracing::info!(
            target: "p2p::server",
            peer = %ev.peer,
            reason = ev.error.as_deref().unwrap_or(""),
            "peer disconnected"
        ),
        _ => {}
    }
}
