//! [`Server::start`] as named steps, in the order they run (as go-ethereum's
//! `Server.Start` is a list of `setupX` calls): listen, open the node
//! database and build our record, start discovery, start NAT, collect the
//! node sources that feed the dialer, run the server task. Adding a
//! discovery mechanism touches [`setup_discovery`] and [`node_sources`] only:
//! the server task sees discovery as node sources.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::FuturesUnordered;
use secp256k1::SecretKey;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::info;

use super::checks::AdmissionLimits;
use super::churn;
use super::conn::{self, SetupCtx};
use super::inbound::InboundFilter;
use super::task::ServerTask;
use super::{
    nat, persist, stats, Server, ServerError, Shared, COMMAND_QUEUE, EVENT_QUEUE, INTERNAL_QUEUE,
    LISTEN_BACKLOG, TARGET,
};
use crate::banlist::BanList;
use crate::config::{Config, NatSpec, DEFAULT_LISTEN_ADDR};
use crate::dial::{
    DialLimits, DialState, NodeSources, SourceSpec, SourceStats, DISCV4_SOURCE, PEER_MEMORY_SOURCE,
};
use crate::metrics::{TrafficSink, TrafficTable};
use crate::node::{LocalNode, NodeId};
use crate::peer::{Hello, ReputationSink, BASE_PROTOCOL_VERSION};
use crate::rlpx::HandshakeKey;
use devp2p_discover::db::NodeDb;
use devp2p_discover::v4::{Discv4, Discv4Config, UdpTransport};
#[cfg(feature = "discv5")]
use devp2p_discover::v5::Discv5;

pub(super) async fn start(config: Config) -> Result<Server, ServerError> {
    config.validate()?;
    super::features::check(&config)?;
    let key = config.private_key.expect("validated: key is set");
    let (listener, local_addr) = setup_listening(&config)?;
    let listener_v6 = setup_listening_v6(&config)?;
    let local_addr_v6 = listener_v6.as_ref().map(|(_, a)| *a);
    let (node_db, local_node) = setup_local_node(&config, key, local_addr, local_addr_v6)?;
    let discovery = setup_discovery(
        &config,
        key,
        &local_node,
        &node_db,
        local_addr,
        local_addr_v6,
    )
    .await?;
    let nat = setup_nat(&config, &local_node, local_addr, discovery.udp_addr());
    let sources = node_sources(&config, &discovery, &node_db)?;
    let listeners = Listeners {
        primary: listener,
        v6: listener_v6.map(|(l, _)| l),
    };
    Ok(run(
        config, key, listeners, local_addr, node_db, local_node, discovery, nat, sources,
    ))
}

/// The TCP listeners: `listen_addr`'s, and `listen_addr_v6`'s on a
/// dual-stack node.
struct Listeners {
    primary: Option<TcpListener>,
    v6: Option<TcpListener>,
}

/// Binds the IPv6 listener of a dual-stack node (`listen_addr_v6`).
fn setup_listening_v6(config: &Config) -> Result<Option<(TcpListener, SocketAddr)>, ServerError> {
    let Some(addr) = config.listen_addr_v6 else {
        return Ok(None);
    };
    let listen_err = |source| ServerError::Listen { addr, source };
    let listener = bind_listener(addr).map_err(listen_err)?;
    let local = listener.local_addr().map_err(listen_err)?;
    Ok(Some((listener, local)))
}

/// Binds the TCP listener (none without `listen_addr`) and returns it with
/// the address it got.
fn setup_listening(
    config: &Config,
) -> Result<(Option<TcpListener>, Option<SocketAddr>), ServerError> {
    let Some(addr) = config.listen_addr else {
        return Ok((None, None));
    };
    let listener = bind_listener(addr).map_err(|source| ServerError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen_addr.unwrap_or(DEFAULT_LISTEN_ADDR),
            source,
        })?;
    Ok((Some(listener), Some(local)))
}

/// Binds the TCP listener at `addr` with [`LISTEN_BACKLOG`] (IPv6-only
/// for an IPv6 address; `SO_REUSEADDR` as std/mio, so rebinding a port in
/// TIME_WAIT after a restart works).
fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::from_std(devp2p_netutil::bind_tcp_listener(addr, LISTEN_BACKLOG)?)
}

/// Opens the node database (in memory without `node_database`) and builds
/// our record, continuing its sequence number from the database so peers
/// never see it go backwards across restarts.
fn setup_local_node(
    config: &Config,
    key: SecretKey,
    local_addr: Option<SocketAddr>,
    local_addr_v6: Option<SocketAddr>,
) -> Result<(NodeDb, LocalNode), ServerError> {
    let node_db = NodeDb::open_or_memory(config.node_database.as_deref())
        .map_err(ServerError::NodeDatabase)?;
    let self_id = NodeId::from_secret_key(&key);
    let seq = match node_db.local_seq(&self_id) {
        Ok(Some(stored)) => stored.max(initial_enr_seq()),
        _ => initial_enr_seq(),
    };
    let local_node = LocalNode::new(key, seq);
    local_node.set_ip(announced_ip(config, local_addr));
    if let Some(addr) = local_addr {
        local_node.set_tcp(addr.port());
        if addr.is_ipv6() {
            // sigp's enr crate reads an IPv6 endpoint only from tcp6/udp6.
            local_node.set_tcp6(addr.port());
        }
    }
    if let Some(addr) = local_addr_v6 {
        if let Some(ip) = announced_ip6(config, addr) {
            local_node.set_ip(ip);
        }
        local_node.set_tcp6(addr.port());
    }
    Ok((node_db, local_node))
}

/// The discovery services that run: none, either, or both on one UDP
/// socket.
#[derive(Default)]
struct Discovery {
    v4: Option<Discv4>,
    #[cfg(feature = "discv5")]
    v5: Option<Discv5>,
}

impl Discovery {
    /// discv4 alone on its own socket.
    fn v4_only(v4: Discv4) -> Self {
        Discovery {
            v4: Some(v4),
            #[cfg(feature = "discv5")]
            v5: None,
        }
    }

    /// The UDP address discovery runs on.
    fn udp_addr(&self) -> Option<SocketAddr> {
        let addr = self.v4.as_ref().map(|d| d.local_addr());
        #[cfg(feature = "discv5")]
        let addr = addr.or(self.v5.as_ref().map(|d| d.local_addr()));
        addr
    }
}

/// Starts discv4 and/or discv5 on the discovery address (one shared socket
/// per family when both run, as go-ethereum), if discovery runs, and puts
/// the UDP ports into our record. With an IPv6 listener, a second, IPv6-only
/// socket serves the IPv6 side.
async fn setup_discovery(
    config: &Config,
    key: SecretKey,
    local_node: &LocalNode,
    node_db: &NodeDb,
    local_addr: Option<SocketAddr>,
    local_addr_v6: Option<SocketAddr>,
) -> Result<Discovery, ServerError> {
    let Some(addr) = discovery_addr(config, local_addr) else {
        return Ok(Discovery::default());
    };
    if !config.discovery_v4 && !config.discovery_v5 {
        return Ok(Discovery::default());
    }
    let v4_cfg = Discv4Config {
        bootnodes: config.bootstrap_nodes.clone(),
        net_restrict: config.net_restrict.clone(),
        db: Some(node_db.clone()),
        ..Discv4Config::default()
    };
    let bind = |a: SocketAddr| {
        devp2p_netutil::bind_udp(a).map_err(|source| ServerError::Discovery {
            addr: a,
            source: source.into(),
        })
    };
    let socket = bind(addr)?;
    let socket_v6 = discovery_addr_v6(config, local_addr_v6)
        .map(bind)
        .transpose()?;
    if let Some(bound) = socket_v6.as_ref().and_then(|s| s.local_addr().ok()) {
        local_node.set_udp6(bound.port());
    }
    let v4_err = |source| ServerError::Discovery { addr, source };
    let discovery = if config.discovery_v5 {
        setup_discv5(config, addr, (socket, socket_v6), key, local_node, v4_cfg).await?
    } else {
        local_node.set_udp_default(socket.local_addr().map_err(|e| v4_err(e.into()))?);
        let transport =
            UdpTransport::from_std_pair(socket, socket_v6).map_err(|e| v4_err(e.into()))?;
        Discovery::v4_only(Discv4::spawn(transport, key, local_node.clone(), v4_cfg))
    };
    if let Some(bound) = discovery.udp_addr() {
        local_node.set_udp(bound.port());
        if bound.is_ipv6() {
            local_node.set_udp6(bound.port());
        }
    }
    Ok(discovery)
}

/// The discovery sockets: the primary one and the optional IPv6 one.
type DiscoverySockets = (std::net::UdpSocket, Option<std::net::UdpSocket>);

/// Starts discv5 on `sockets`, with discv4 on the same sockets when
/// `discovery_v4` is set too.
#[cfg(feature = "discv5")]
async fn setup_discv5(
    config: &Config,
    addr: SocketAddr,
    (socket, socket_v6): DiscoverySockets,
    key: SecretKey,
    local_node: &LocalNode,
    v4_cfg: Discv4Config,
) -> Result<Discovery, ServerError> {
    use devp2p_discover::v5::Discv5Config;
    // discv5 cannot apply net_restrict to its table (the crate's table
    // filter is a plain `fn`), so at least its bootnodes are restricted:
    // nothing is sent to a bootnode outside the allowed networks.
    let v5_bootnodes = config
        .bootstrap_nodes_v5
        .iter()
        .filter(|r| match &config.net_restrict {
            None => true,
            Some(restrict) => r
                .ip4()
                .map(IpAddr::V4)
                .or(r.ip6().map(IpAddr::V6))
                .is_some_and(|ip| restrict.contains(ip)),
        })
        .cloned()
        .collect();
    let v5_cfg = Discv5Config {
        bootnodes: v5_bootnodes,
        ..Discv5Config::default()
    };
    let v5_err = |source| ServerError::DiscoveryV5 { addr, source };
    let local = local_node.clone();
    if config.discovery_v4 {
        let (v5, shared) =
            Discv5::start_shared_with_sockets(socket, socket_v6, key, local.clone(), v5_cfg)
                .await
                .map_err(v5_err)?;
        Ok(Discovery {
            v4: Some(Discv4::spawn(shared, key, local, v4_cfg)),
            v5: Some(v5),
        })
    } else {
        let v5 = Discv5::start_with_sockets(socket, socket_v6, key, local, v5_cfg)
            .await
            .map_err(v5_err)?;
        Ok(Discovery {
            v4: None,
            v5: Some(v5),
        })
    }
}

/// Without the `discv5` feature: refused (`features::check` already did,
/// before anything was bound).
#[cfg(not(feature = "discv5"))]
async fn setup_discv5(
    _config: &Config,
    _addr: SocketAddr,
    _sockets: DiscoverySockets,
    _key: SecretKey,
    _local_node: &LocalNode,
    _v4_cfg: Discv4Config,
) -> Result<Discovery, ServerError> {
    Err(super::features::DISCV5_DISABLED)
}

/// Starts port mapping when the NAT spec asks for it (not `extip:`, not a
/// loopback listener); the mapper writes the external endpoint into our
/// record.
fn setup_nat(
    config: &Config,
    local_node: &LocalNode,
    local_addr: Option<SocketAddr>,
    discovery_addr: Option<SocketAddr>,
) -> Option<nat::NatMapping> {
    let nat = config.nat.build()?;
    nat::NatMapping::start(
        nat,
        local_node.clone(),
        local_addr,
        discovery_addr,
        config.nat_mapping_lifetime,
    )
}

/// The dialer's candidate sources (none when the server never dials), each
/// fed by its own task: first the remembered peers of earlier runs (asked
/// first by the round-robin, and ready at once), then every discovery
/// mechanism that runs and one DNS walk per `dns_lists` URL. discv4 and
/// remembered candidates come without records: with a dial filter set,
/// their records are fetched over discv4 before the filter sees them (a
/// remembered peer without a known UDP port gets none and is skipped as
/// `no_record`; without discv4 the filter sees remembered peers without
/// records). The
/// DNS walks share one resolver, whose connection tasks hickory aborts when
/// the last walk is dropped (at stop; `tests/stop_accounting.rs` checks with
/// a lookup in flight).
fn node_sources(
    config: &Config,
    discovery: &Discovery,
    node_db: &NodeDb,
) -> Result<NodeSources, ServerError> {
    let stats = Arc::new(SourceStats::default());
    let mut sources = NodeSources::new(config.dial_filter.clone(), stats);
    if config.no_dial {
        return Ok(sources);
    }
    let remembered = persist::remembered_peers(node_db, config.remembered_peers_dialed);
    if !remembered.is_empty() {
        info!(target: TARGET, peers = remembered.len(), "dialing remembered peers");
        let mut spec = SourceSpec::new(PEER_MEMORY_SOURCE, futures::stream::iter(remembered));
        // Records of dialed peers are fetched over discv4 for the dial
        // filter, as for discv4's own candidates.
        spec.records = discovery.v4.clone();
        sources.push(spec);
    }
    if let Some(disc) = &discovery.v4 {
        let mut spec = SourceSpec::new(DISCV4_SOURCE, disc.random_nodes());
        spec.records = Some(disc.clone());
        sources.push(spec);
    }
    #[cfg(feature = "discv5")]
    if let Some(disc) = &discovery.v5 {
        // Records (with their endpoints) straight from random lookups.
        sources.push(SourceSpec::new(
            crate::dial::DISCV5_SOURCE,
            disc.random_nodes(),
        ));
    }
    // Without the `dnsdisc` feature `features::check` refused non-empty
    // lists (we dial, or we would have returned above).
    #[cfg(feature = "dnsdisc")]
    if !config.dns_lists.is_empty() && dns_server_allowed(config) {
        let client = devp2p_dnsdisc::Client::new(devp2p_dnsdisc::ClientConfig {
            name_server: config.dns_server,
            ..Default::default()
        })
        .map_err(ServerError::Dns)?;
        for url in &config.dns_lists {
            // Yields only dialable records (an IP and a TCP port).
            let walk = devp2p_dnsdisc::DnsSource::new(client.clone(), vec![url.clone()]);
            sources.push(SourceSpec::new(crate::dial::DNS_SOURCE, walk));
        }
    }
    Ok(sources)
}

/// Whether the DNS lists may be resolved: always without `net_restrict`;
/// with it, only through a `dns_server` inside the allowed networks (the
/// system's name servers are never asked then, so a restricted node sends
/// nothing outside its networks).
#[cfg(feature = "dnsdisc")]
fn dns_server_allowed(config: &Config) -> bool {
    let Some(restrict) = &config.net_restrict else {
        return true;
    };
    let allowed = config.dns_server.is_some_and(|s| restrict.contains(s.ip()));
    if !allowed {
        tracing::warn!(target: TARGET, "dns_lists ignored: net_restrict is set and dns_server is not inside it");
    }
    allowed
}

/// Builds the server task from what the steps produced, spawns it (and the
/// listener) and returns the handle.
#[allow(clippy::too_many_arguments)] // the steps' outputs, named
fn run(
    config: Config,
    key: SecretKey,
    listeners: Listeners,
    local_addr: Option<SocketAddr>,
    node_db: NodeDb,
    local_node: LocalNode,
    discovery: Discovery,
    nat: Option<nat::NatMapping>,
    sources: NodeSources,
) -> Server {
    let self_id = local_node.id();
    let source_stats = sources.stats();
    let our_hello = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: config.name.clone(),
        caps: config.protocols.iter().map(|p| p.cap()).collect(),
        listen_port: local_addr.map(|a| a.port()).unwrap_or(0),
        id: self_id,
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
    let (events, _) = broadcast::channel(EVENT_QUEUE);
    let setup_stats = Arc::new(stats::SetupStats::default());
    let peer_counters = Arc::new(stats::PeerCounters::default());
    let traffic = Arc::new(TrafficTable::new(&config.protocols));
    let ctx = Arc::new(SetupCtx {
        key: HandshakeKey::new(key),
        our_hello,
        protocols: config.protocols.clone(),
        to_server: internal_tx,
        stats: setup_stats.clone(),
    });
    let listener_task = listeners.primary.map(|l| {
        let filter = InboundFilter::new(config.net_restrict.clone());
        let pending = Arc::new(Semaphore::new(config.pending_inbound_limit()));
        tokio::spawn(conn::listen(l, listeners.v6, ctx.clone(), filter, pending))
    });
    let mut dial = DialState::new(DialLimits {
        self_id,
        max_dialed_peers: config.max_dialed_peers(),
        max_active_dials: config.pending_outbound_limit(),
        net_restrict: config.net_restrict.clone(),
        history_expiration: config.dial_history_expiration,
        max_backoff: config.max_dial_backoff,
    });
    dial.set_families(config.ip_families());
    for node in &config.static_nodes {
        dial.add_static(node.clone());
    }
    let (reputation_sink, reputation_reports) = ReputationSink::channel();
    let bandwidth = crate::peer::Bandwidth::new(config.bandwidth);
    let churned = Arc::new(churn::ChurnCounters::default());
    let mut bans = BanList::new();
    persist::load(&node_db, &mut bans);
    let task = ServerTask {
        ctx,
        commands: cmd_rx,
        internal: internal_rx,
        reputation_reports,
        reputation_sink,
        events: events.clone(),
        limits: AdmissionLimits {
            self_id,
            max_peers: config.peer_limit(),
            max_inbound: config.max_inbound_peers(),
            max_outbound: config.outbound_admission_limit(),
        },
        dial,
        dialer: config.dialer.clone(),
        no_dial: config.no_dial,
        bans,
        trusted: config
            .trusted_nodes
            .iter()
            .map(|n| n.id)
            .collect::<HashSet<_>>(),
        enable_msg_events: config.enable_msg_events,
        peer_counters: peer_counters.clone(),
        traffic: TrafficSink::new(traffic.clone()),
        bandwidth: bandwidth.clone(),
        churn: config.churn.then(|| {
            churn::Churn::new(
                config.churn_timing,
                config.churn_protect.clone(),
                config.max_inbound_peers(),
                config.max_dialed_peers(),
                &self_id,
                churned.clone(),
            )
        }),
        listener: listener_task,
        sources,
        dial_sources: HashMap::new(),
        dial_udp: HashMap::new(),
        peers: HashMap::new(),
        inbound_count: 0,
        peer_done: FuturesUnordered::new(),
        dials: JoinSet::new(),
        discovery: discovery.v4.clone(),
        #[cfg(feature = "discv5")]
        discovery_v5: discovery.v5.clone(),
        nat,
        peer_memory: config.node_database.is_some().then(|| node_db.clone()),
        node_db: Some((node_db, local_node.clone())),
    };
    let handle = tokio::spawn(task.run());
    info!(target: TARGET, id = ?self_id, addr = ?local_addr, "server started");
    Server {
        shared: Arc::new(Shared {
            commands: cmd_tx,
            events: events.downgrade(),
            local_node,
            local_addr,
            name: config.name,
            protocols: config.protocols,
            discovery: discovery.v4,
            #[cfg(feature = "discv5")]
            discovery_v5: discovery.v5,
            setup_stats,
            peer_counters,
            traffic,
            sources: source_stats,
            bandwidth,
            churned,
            task: Mutex::new(Some(handle)),
        }),
    }
}

/// Where discovery binds, if it runs: `discovery_addr`, else the listen
/// address with the port the listener actually got (so TCP and UDP share a
/// port as in the enode URL), else nothing.
fn discovery_addr(config: &Config, local_addr: Option<SocketAddr>) -> Option<SocketAddr> {
    if config.no_discovery || !(config.discovery_v4 || config.discovery_v5) {
        return None;
    }
    match (config.discovery_addr, config.listen_addr, local_addr) {
        (Some(addr), _, _) => Some(addr),
        (None, Some(listen), Some(bound)) => Some(SocketAddr::new(listen.ip(), bound.port())),
        _ => None,
    }
}

/// Where the IPv6 discovery socket of a dual-stack node binds: the IPv6
/// listen IP at `discovery_addr`'s port when that is set, else at the port
/// the IPv6 listener got.
fn discovery_addr_v6(config: &Config, local_addr_v6: Option<SocketAddr>) -> Option<SocketAddr> {
    let listen = config.listen_addr_v6?;
    let bound = local_addr_v6?;
    let port = config.discovery_addr.map_or(bound.port(), |a| a.port());
    Some(SocketAddr::new(listen.ip(), port))
}

/// Our announced IPv6 address on a dual-stack node: an IPv6 `extip:`, else
/// the IPv6 listen IP when it is specific, else none (go-ethereum has no
/// IPv6 fallback either; a record without `ip6` is still reachable on
/// IPv4).
fn announced_ip6(config: &Config, local_addr_v6: SocketAddr) -> Option<IpAddr> {
    if let NatSpec::ExtIp(ip @ IpAddr::V6(_)) = config.nat {
        return Some(ip);
    }
    Some(local_addr_v6.ip()).filter(|ip| !ip.is_unspecified())
}

/// Our announced IP: `extip:` from the NAT spec, else the listen IP when it
/// is specific, else 127.0.0.1 (go-ethereum's fallback IP).
fn announced_ip(config: &Config, local_addr: Option<SocketAddr>) -> IpAddr {
    if let NatSpec::ExtIp(ip) = config.nat {
        // On a dual-stack node an IPv6 extip is the `ip6` (announced_ip6).
        if !(ip.is_ipv6() && config.listen_addr_v6.is_some()) {
            return ip;
        }
    }
    match local_addr {
        Some(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// First ENR sequence number: the current time in milliseconds, as
/// go-ethereum does without a node database, so restarts never reuse one.
fn initial_enr_seq() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}
