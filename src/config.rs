//! [`Config`]: everything a [`Server`](crate::server::Server) needs, with
//! go-ethereum's `p2p.Config` fields that apply, documented defaults and a
//! [`validate`](Config::validate) that reports problems instead of panicking.
//!
//! The serialisable part (for a TOML or JSON file) uses enode URLs for node
//! lists and CIDR strings for `net_restrict`; the private key, protocols and
//! dialer are code-only and skipped by serde.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use secp256k1::SecretKey;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

pub use crate::dial::{Candidate, DialFilter, DIAL_HISTORY_EXPIRATION};
use crate::node::{Enr, Node};
pub use crate::peer::{BandwidthError, BandwidthLimits};
use crate::protocol::Protocol;
pub use devp2p_nat::NatSpec;
use devp2p_netutil::Netlist;
pub use networks::{Network, NetworkDataError, UnknownNetwork};

/// Default `max_peers`: 50. go-ethereum's library has no default (0 means no
/// peers); 50 is what its command line (`--maxpeers`) uses.
pub const DEFAULT_MAX_PEERS: usize = 50;

/// Default `max_pending_peers`: 50, go-ethereum's `defaultMaxPendingPeers`.
pub const DEFAULT_MAX_PENDING_PEERS: usize = 50;

/// Default `dial_ratio`: 3 (a third of the slots are dialed by us),
/// go-ethereum's `defaultDialRatio`.
pub const DEFAULT_DIAL_RATIO: usize = 3;

/// Default `remembered_peers_dialed`: 30, go-ethereum's `seedCount` (the
/// number of nodes it takes from its node database at start-up); more than
/// the 17 peers a default node dials (`max_peers` 50, `dial_ratio` 3), so
/// some remembered peers may be gone and the slots still fill.
pub const DEFAULT_REMEMBERED_PEERS_DIALED: usize = 30;

/// Largest pending-handshake limit `validate` accepts (`max_pending_peers`,
/// `max_pending_inbound`, `max_pending_outbound`): 65 536 (our choice: one
/// handshake costs a socket and a task; more than a port range's worth of
/// concurrent handshakes is a typo, and tokio's semaphore panics above
/// `usize::MAX >> 3` permits, so the bound also keeps a bad file from
/// crashing the node).
pub const MAX_PENDING_LIMIT: usize = 65_536;

/// Default RLPx listening address: all interfaces, port 30303 (the devp2p
/// default port).
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 30303);

/// Time limit for one outgoing TCP connect of the default [`TcpDialer`]:
/// 15 s, go-ethereum's `defaultDialTimeout`.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest client name (`name`, sent in Hello) accepted by `validate`, in
/// bytes: half of the 2 KiB Hello limit, leaving room for capabilities.
pub const MAX_NAME_LEN: usize = 1024;

/// Longest protocol name accepted by `validate`, in bytes (our choice; real
/// capability names are 3–4 characters; keeps Hello small).
pub const MAX_PROTOCOL_NAME_LEN: usize = 32;

/// Most protocols a server may run (our choice; keeps Hello well under its
/// 2 KiB limit: each capability costs at most ~40 bytes).
pub const MAX_PROTOCOLS: usize = 32;

/// Opens outgoing TCP connections to nodes. The server resolves DNS names
/// before calling it, so `node.ip` is set. Replace it to add proxies,
/// simulated networks or fault injection in tests.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `node`'s RLPx TCP endpoint.
    fn dial<'a>(&'a self, node: &'a Node) -> BoxFuture<'a, io::Result<TcpStream>>;
}

/// The default [`Dialer`]: a plain TCP connect with a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpDialer {
    /// Time limit for one connect.
    pub timeout: Duration,
}

impl Default for TcpDialer {
    fn default() -> Self {
        TcpDialer {
            timeout: DEFAULT_DIAL_TIMEOUT,
        }
    }
}

impl Dialer for TcpDialer {
    fn dial<'a>(&'a self, node: &'a Node) -> BoxFuture<'a, io::Result<TcpStream>> {
        async move {
            let addr = node.tcp_addr().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "node has no IP or TCP port")
            })?;
            match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
                Ok(result) => result,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "dial timed out")),
            }
        }
        .boxed()
    }
}

/// Server settings. See each field for its default ([`Config::default`]).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Node key; required (`validate` fails without it). Not serialised: load
    /// it from a key file (`devp2p::node` key helpers).
    #[serde(skip)]
    pub private_key: Option<SecretKey>,
    /// Most connected peers (trusted peers excepted). Default
    /// [`DEFAULT_MAX_PEERS`]; 0 accepts no peer but trusted ones.
    pub max_peers: usize,
    /// Most connections in the handshake phase at once, inbound (a semaphore
    /// held from accept until the peer is added or refused) and outbound
    /// (concurrent dials). Default [`DEFAULT_MAX_PENDING_PEERS`]; must be > 0.
    pub max_pending_peers: usize,
    /// One in `dial_ratio` peer slots is for peers we dial, the rest for
    /// inbound ones. Default [`DEFAULT_DIAL_RATIO`]; must be > 0.
    pub dial_ratio: usize,
    /// Most inbound peers (trusted peers excepted). Default `None`: derived
    /// from `max_peers` and `dial_ratio` as go-ethereum does (see
    /// [`Config::max_inbound_peers`]). Setting it or `max_outbound` makes the
    /// peer limit `max_inbound + max_outbound` (see [`Config::peer_limit`]).
    pub max_inbound: Option<usize>,
    /// Most peers we dial ourselves (trusted peers excepted). Default
    /// `None`: derived from `max_peers` and `dial_ratio` (see
    /// [`Config::max_dialed_peers`]). When set, a dialed connection beyond it
    /// is refused with `TooManyPeers`; when derived, dialed peers are only
    /// bounded by `max_peers` (go-ethereum keeps what over-dialing brings).
    pub max_outbound: Option<usize>,
    /// Most inbound connections in the handshake phase at once. Default
    /// `None`: `max_pending_peers` (as go-ethereum). Must be
    /// 1..=[`MAX_PENDING_LIMIT`]. Held from accept on, before the remote's
    /// identity is known, so trusted peers count too.
    pub max_pending_inbound: Option<usize>,
    /// Most dials in flight at once. Default `None`: `max_pending_peers`
    /// (go-ethereum's `maxActiveDials`). Must be 1..=[`MAX_PENDING_LIMIT`].
    pub max_pending_outbound: Option<usize>,
    /// Do not run node discovery (neither discv4 nor discv5, whatever
    /// `discovery_v4` / `discovery_v5` say). Default false.
    pub no_discovery: bool,
    /// Run discv4. Default true. With `discovery_v5` too, both share one UDP
    /// socket (as go-ethereum).
    pub discovery_v4: bool,
    /// Run discv5. Default true with the cargo feature `discv5` (on by
    /// default), false without it: the field exists either way so configs
    /// compile and parse the same, but without the feature
    /// [`Server::start`](crate::Server::start) refuses `discovery_v5 = true`
    /// (unless `no_discovery`) with
    /// [`ServerError::FeatureDisabled`](crate::ServerError::FeatureDisabled).
    pub discovery_v5: bool,
    /// Client name sent in Hello. Default `devp2p-rs/v<crate version>`.
    pub name: String,
    /// Discovery bootstrap nodes (enode URLs with a UDP port). Default empty.
    #[serde(with = "enode_list")]
    pub bootstrap_nodes: Vec<Node>,
    /// discv5 bootstrap records (in text, `enr:` strings). Default empty.
    /// Only used when discv5 runs (see `discovery_v5`).
    #[serde(with = "enr_list")]
    pub bootstrap_nodes_v5: Vec<Enr>,
    /// Nodes kept connected: dialed at start and re-dialed after every
    /// disconnect (after [`DIAL_HISTORY_EXPIRATION`]). DNS names are resolved
    /// at dial time. Default empty.
    #[serde(with = "enode_list")]
    pub static_nodes: Vec<Node>,
    /// Nodes allowed in above `max_peers` and the inbound share (only the id
    /// matters). Default empty.
    #[serde(with = "enode_list")]
    pub trusted_nodes: Vec<Node>,
    /// When set, only these networks are dialed or accepted. Default none.
    pub net_restrict: Option<Netlist>,
    /// Directory of the node database (discovery, bans, peer memory);
    /// `None` keeps it in memory. Needs the `node-db` feature (default on):
    /// without it `Server::start` fails with
    /// [`ServerError::NodeDatabase`](crate::server::ServerError::NodeDatabase)
    /// ([`NodeDbError::NoPersistence`](devp2p_discover::db::NodeDbError::NoPersistence)).
    pub node_database: Option<PathBuf>,
    /// How many remembered peers (the best of earlier runs' peers in the
    /// node database, ranked by
    /// [`PeerHistory::score`](devp2p_discover::db::PeerHistory::score)) are
    /// offered to the dialer at start, as the node source
    /// [`PEER_MEMORY_SOURCE`](crate::dial::PEER_MEMORY_SOURCE), before
    /// discovery has found anything. Default
    /// [`DEFAULT_REMEMBERED_PEERS_DIALED`]; 0 turns it off; at most
    /// [`MAX_REMEMBERED_PEERS`](devp2p_discover::db::MAX_REMEMBERED_PEERS)
    /// are offered. Only useful with `node_database` set.
    pub remembered_peers_dialed: usize,
    /// Sub-protocols run with every peer sharing them. Code only.
    #[serde(skip)]
    pub protocols: Vec<Protocol>,
    /// RLPx TCP listening address; `None`: do not listen (dial only).
    /// Default [`DEFAULT_LISTEN_ADDR`]. Port 0 picks a free port (see
    /// `Server::local_addr`).
    pub listen_addr: Option<SocketAddr>,
    /// A second, IPv6 address to listen on (TCP, and discovery UDP at the
    /// same port, or at `discovery_addr`'s port when that is set) for a
    /// dual-stack node; `listen_addr` must then be IPv4. Default `None`
    /// (one family). Port 0 picks a free port. Every IPv6 socket is
    /// IPv6-only (`IPV6_V6ONLY`), so `0.0.0.0:30303` with `[::]:30303` works
    /// on every OS; a lone `[::]` listen address takes IPv6 only (see
    /// `devp2p_netutil::bind_udp` for why not one dual-stack socket). Our
    /// record gets `ip6` (when this IP is specific, or from an IPv6 `extip`)
    /// with `tcp6`/`udp6`. CLI `--addr6`, TOML `listen_addr_v6`.
    pub listen_addr_v6: Option<SocketAddr>,
    /// Discovery UDP address; `None` uses `listen_addr`.
    pub discovery_addr: Option<SocketAddr>,
    /// NAT traversal: [`NatSpec::None`] (the default), `Any`, `Upnp`,
    /// `Pmp(gateway)` or `ExtIp(ip)`. In text (CLI `--nat`, TOML `nat`)
    /// go-ethereum's forms: `none`, `any`, `upnp`, `pmp[:IP]`, `extip:IP`.
    #[serde(with = "nat_text")]
    pub nat: NatSpec,
    /// Lease asked for each port mapping (UPnP, NAT-PMP), renewed at 4/5 of
    /// it. Default [`devp2p_nat::MAPPING_LIFETIME`] (go-ethereum's 10 min);
    /// at least [`devp2p_nat::MIN_MAPPING_LIFETIME`]. Lower it only for
    /// tests against a real router. Code only (CLI `--nat.lease`).
    #[serde(skip, default = "default_nat_lease")]
    pub nat_mapping_lifetime: Duration,
    /// Opens outgoing connections. Default [`TcpDialer`]. Code only.
    #[serde(skip, default = "default_dialer")]
    pub dialer: Arc<dyn Dialer>,
    /// Never dial (neither static nor discovered nodes). Default false.
    pub no_dial: bool,
    /// Publish MsgSend/MsgRecv peer events. Default false.
    pub enable_msg_events: bool,
    /// How long the same node is not re-dialed after an attempt. Default
    /// [`DIAL_HISTORY_EXPIRATION`]; lower it only for tests or private
    /// networks. Code only.
    #[serde(skip, default = "default_dial_history")]
    pub dial_history_expiration: Duration,
    /// Longest back-off after failed dials (see [`crate::dial::failure`]).
    /// Default [`crate::dial::MAX_BACKOFF`] (1 h). `Duration::ZERO` turns
    /// failure back-offs and the dropping of failing nodes off (go-ethereum's
    /// behaviour: only the dial history keeps a node out); lower it with
    /// `dial_history_expiration` for tests and local devnets whose nodes
    /// start at once. Code only.
    #[serde(skip, default = "default_max_dial_backoff")]
    pub max_dial_backoff: Duration,
    /// Decides which discovered candidates are dialed (static nodes are not
    /// filtered), e.g. only nodes whose record's `eth` entry matches our
    /// fork id ([`crate::enr_entries::EthEntry`]). With a filter set, discv4
    /// candidates get their records fetched first
    /// ([`crate::dial::ENR_FETCH_PARALLELISM`] at once); without one, no
    /// record is fetched. Default none (dial every candidate). Code only.
    #[serde(skip)]
    pub dial_filter: Option<DialFilter>,
    /// EIP-1459 DNS node lists (`enrtree://<key>@<domain>`, text in TOML)
    /// feeding the dialer, one node source per URL (not used with
    /// `no_dial`). Default empty. Resolving them needs the cargo feature
    /// `dnsdisc` (on by default); without it
    /// [`Server::start`](crate::Server::start) refuses a non-empty list
    /// (unless `no_dial`) with
    /// [`ServerError::FeatureDisabled`](crate::ServerError::FeatureDisabled).
    pub dns_lists: Vec<devp2p_dnsdisc::TreeUrl>,
    /// Name server (ip:port) the DNS lists are resolved with; `None` (the
    /// default) uses the system's resolvers (`/etc/resolv.conf`). With
    /// `net_restrict` set, the lists are resolved only through a
    /// `dns_server` inside the allowed networks.
    pub dns_server: Option<SocketAddr>,
    /// Byte-rate caps, global and per peer, each direction (TOML table
    /// `[bandwidth]`, CLI `--bandwidth.*`). Default: no cap. See
    /// [`BandwidthLimits`] for how a cap acts.
    pub bandwidth: BandwidthLimits,
    /// Slot churn: when the inbound or the dialed slots are full, drop one
    /// random low-value peer every 3–7 minutes to make room (go-ethereum's
    /// dropper; see [`crate::server::CHURN_INTERVAL_MIN`]). Default false.
    /// TOML `churn`, CLI `--churn`.
    pub churn: bool,
    /// Protects peers the application values from churn (`true`: keep).
    /// Runs on the server task: keep it quick. Default none. Code only.
    #[serde(skip)]
    pub churn_protect: Option<crate::server::ChurnProtect>,
    /// Churn intervals and minimum peer age. Default go-ethereum's
    /// ([`ChurnTiming::default`](crate::server::ChurnTiming)); lower them
    /// only for tests. Code only.
    #[serde(skip)]
    pub churn_timing: crate::server::ChurnTiming,
}

fn default_dialer() -> Arc<dyn Dialer> {
    Arc::new(TcpDialer::default())
}

fn default_nat_lease() -> Duration {
    devp2p_nat::MAPPING_LIFETIME
}

fn default_dial_history() -> Duration {
    DIAL_HISTORY_EXPIRATION
}

fn default_max_dial_backoff() -> Duration {
    crate::dial::MAX_BACKOFF
}

impl Default for Config {
    /// No key (set one), 50 peers, 50 pending, dial ratio 3, discovery on,
    /// listening on 0.0.0.0:30303, TCP dialer, no protocols.
    fn default() -> Self {
        Config {
            private_key: None,
            max_peers: DEFAULT_MAX_PEERS,
            max_pending_peers: DEFAULT_MAX_PENDING_PEERS,
            dial_ratio: DEFAULT_DIAL_RATIO,
            max_inbound: None,
            max_outbound: None,
            max_pending_inbound: None,
            max_pending_outbound: None,
            no_discovery: false,
            discovery_v4: true,
            discovery_v5: cfg!(feature = "discv5"),
            name: concat!("devp2p-rs/v", env!("CARGO_PKG_VERSION")).to_string(),
            bootstrap_nodes: Vec::new(),
            bootstrap_nodes_v5: Vec::new(),
            static_nodes: Vec::new(),
            trusted_nodes: Vec::new(),
            net_restrict: None,
            node_database: None,
            protocols: Vec::new(),
            listen_addr: Some(DEFAULT_LISTEN_ADDR),
            listen_addr_v6: None,
            discovery_addr: None,
            nat: NatSpec::None,
            nat_mapping_lifetime: devp2p_nat::MAPPING_LIFETIME,
            dialer: default_dialer(),
            no_dial: false,
            enable_msg_events: false,
            dial_history_expiration: DIAL_HISTORY_EXPIRATION,
            max_dial_backoff: crate::dial::MAX_BACKOFF,
            dial_filter: None,
            dns_lists: Vec::new(),
            dns_server: None,
            bandwidth: BandwidthLimits::default(),
            churn: false,
            churn_protect: None,
            churn_timing: crate::server::ChurnTiming::default(),
            remembered_peers_dialed: DEFAULT_REMEMBERED_PEERS_DIALED,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("Config")
            .field("private_key", &self.private_key.map(|_| "<set>"))
            .field("max_peers", &self.max_peers)
            .field("max_pending_peers", &self.max_pending_peers)
            .field("dial_ratio", &self.dial_ratio)
            .field("max_inbound", &self.max_inbound)
            .field("max_outbound", &self.max_outbound)
            .field("max_pending_inbound", &self.max_pending_inbound)
            .field("max_pending_outbound", &self.max_pending_outbound)
            .field("no_discovery", &self.no_discovery)
            .field("name", &self.name)
            .field("discovery_v4", &self.discovery_v4)
            .field("discovery_v5", &self.discovery_v5)
            .field("bootstrap_nodes", &self.bootstrap_nodes.len())
            .field("bootstrap_nodes_v5", &self.bootstrap_nodes_v5.len())
            .field("static_nodes", &self.static_nodes.len())
            .field("trusted_nodes", &self.trusted_nodes.len())
            .field("net_restrict", &self.net_restrict)
            .field("node_database", &self.node_database)
            .field("remembered_peers_dialed", &self.remembered_peers_dialed)
            .field("protocols", &self.protocols)
            .field("listen_addr", &self.listen_addr)
            .field("listen_addr_v6", &self.listen_addr_v6)
            .field("discovery_addr", &self.discovery_addr)
            .field("nat", &self.nat)
            .field("nat_mapping_lifetime", &self.nat_mapping_lifetime)
            .field("no_dial", &self.no_dial)
            .field("enable_msg_events", &self.enable_msg_events)
            .field("max_dial_backoff", &self.max_dial_backoff)
            .field("dial_filter", &self.dial_filter.as_ref().map(|_| "<set>"))
            .field("dns_lists", &self.dns_lists)
            .field("dns_server", &self.dns_server)
            .field("bandwidth", &self.bandwidth)
            .field("churn", &self.churn)
            .field(
                "churn_protect",
                &self.churn_protect.as_ref().map(|_| "<set>"),
            )
            .field("churn_timing", &self.churn_timing)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `private_key` is not set.
    #[error("private_key must be set")]
    MissingPrivateKey,
    /// `dial_ratio` is 0.
    #[error("dial_ratio must be at least 1")]
    ZeroDialRatio,
    /// `max_pending_peers` is 0 (no connection could ever be set up).
    #[error("max_pending_peers must be at least 1")]
    ZeroMaxPendingPeers,
    /// A pending-handshake limit (`max_pending_peers`,
    /// `max_pending_inbound`, `max_pending_outbound`) is 0 or above
    /// [`MAX_PENDING_LIMIT`].
    #[error("{field} must be 1..={MAX_PENDING_LIMIT}, got {value}")]
    PendingLimitOutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: usize,
    },
    /// `max_inbound + max_outbound` does not fit in a `usize`.
    #[error("max_inbound + max_outbound overflows")]
    PeerLimitOverflow,
    /// `name` is empty or longer than [`MAX_NAME_LEN`].
    #[error("name must be 1..={MAX_NAME_LEN} bytes, got {0}")]
    BadName(usize),
    /// More than [`MAX_PROTOCOLS`] protocols.
    #[error("at most {MAX_PROTOCOLS} protocols, got {0}")]
    TooManyProtocols(usize),
    /// A protocol has an empty, too long or non-ASCII name, or zero length.
    #[error("protocol {name:?}/{version}: {problem}")]
    BadProtocol {
        /// Its name (possibly cut).
        name: String,
        /// Its version.
        version: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// The same name and version appear twice in `protocols`.
    #[error("protocol {name}/{version} listed twice")]
    DuplicateProtocol {
        /// Protocol name.
        name: String,
        /// Protocol version.
        version: u32,
    },
    /// `nat_mapping_lifetime` is below [`devp2p_nat::MIN_MAPPING_LIFETIME`].
    #[error("nat_mapping_lifetime must be at least {min:?}, got {got:?}")]
    NatLeaseTooShort {
        /// The configured lease.
        got: Duration,
        /// The shortest lease accepted.
        min: Duration,
    },
    /// A bandwidth cap is below [`crate::peer::MIN_BANDWIDTH`].
    #[error(transparent)]
    Bandwidth(#[from] BandwidthError),
    /// `listen_addr_v6` is not IPv6, or is set while `listen_addr` is
    /// missing or not IPv4.
    #[error("listen_addr_v6: {0}")]
    BadListenAddrV6(&'static str),
    /// A node in `list` cannot be used there.
    #[error("{list}[{index}]: {problem}")]
    BadNode {
        /// Which list (`static_nodes`, `trusted_nodes`, `bootstrap_nodes`,
        /// `bootstrap_nodes_v5`).
        list: &'static str,
        /// Position in the list.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Config {
    /// A default config with `key` set.
    pub fn with_key(key: SecretKey) -> Self {
        Config {
            private_key: Some(key),
            ..Config::default()
        }
    }

    /// Most peers we dial ourselves: `max_outbound` when set, else
    /// `max_peers / dial_ratio`, at least 1 when `max_peers > 0`
    /// (go-ethereum's `maxDialedConns`); 0 with `no_dial` either way.
    pub fn max_dialed_peers(&self) -> usize {
        if self.no_dial {
            return 0;
        }
        if let Some(n) = self.max_outbound {
            return n;
        }
        if self.max_peers == 0 {
            return 0;
        }
        (self.max_peers / self.dial_ratio.max(1)).max(1)
    }

    /// Most inbound peers: `max_inbound` when set, else
    /// `max_peers - max_peers / dial_ratio` (go-ethereum's
    /// `maxInboundConns`; unaffected by `no_dial`).
    pub fn max_inbound_peers(&self) -> usize {
        match self.max_inbound {
            Some(n) => n,
            None => self.max_peers - self.max_peers / self.dial_ratio.max(1),
        }
    }

    /// Most peers in total (trusted peers excepted): `max_peers` while
    /// neither `max_inbound` nor `max_outbound` is set; otherwise
    /// [`max_inbound_peers`](Self::max_inbound_peers) +
    /// [`max_dialed_peers`](Self::max_dialed_peers) (saturating; `validate`
    /// refuses an overflow).
    pub fn peer_limit(&self) -> usize {
        if self.max_inbound.is_none() && self.max_outbound.is_none() {
            return self.max_peers;
        }
        self.max_inbound_peers()
            .saturating_add(self.max_outbound.unwrap_or_else(|| self.max_dialed_peers()))
    }

    /// The admission limit on peers we dialed: `max_outbound` when set
    /// (refused with `TooManyPeers` beyond it), else `None` (only the total
    /// [`peer_limit`](Self::peer_limit) applies, as in go-ethereum).
    pub fn outbound_admission_limit(&self) -> Option<usize> {
        self.max_outbound
    }

    /// Most inbound handshakes at once: `max_pending_inbound`, else
    /// `max_pending_peers`.
    pub fn pending_inbound_limit(&self) -> usize {
        self.max_pending_inbound.unwrap_or(self.max_pending_peers)
    }

    /// Most dials in flight at once: `max_pending_outbound`, else
    /// `max_pending_peers`.
    pub fn pending_outbound_limit(&self) -> usize {
        self.max_pending_outbound.unwrap_or(self.max_pending_peers)
    }

    /// The discovery address in effect (`discovery_addr` or `listen_addr`).
    pub fn effective_discovery_addr(&self) -> Option<SocketAddr> {
        self.discovery_addr.or(self.listen_addr)
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.private_key.is_none() {
            return Err(ConfigError::MissingPrivateKey);
        }
        if self.dial_ratio == 0 {
            return Err(ConfigError::ZeroDialRatio);
        }
        if self.max_pending_peers == 0 {
            return Err(ConfigError::ZeroMaxPendingPeers);
        }
        self.validate_limits()?;
        self.bandwidth.validate()?;
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(ConfigError::BadName(self.name.len()));
        }
        if self.nat_mapping_lifetime < devp2p_nat::MIN_MAPPING_LIFETIME {
            return Err(ConfigError::NatLeaseTooShort {
                got: self.nat_mapping_lifetime,
                min: devp2p_nat::MIN_MAPPING_LIFETIME,
            });
        }
        self.validate_listen_v6()?;
        self.validate_protocols()?;
        validate_nodes("static_nodes", &self.static_nodes, NeedPort::Tcp)?;
        validate_nodes("bootstrap_nodes", &self.bootstrap_nodes, NeedPort::Udp)?;
        // A record without a UDP endpoint cannot be contacted; checked as
        // the node it describes.
        let v5_nodes: Vec<Node> = self
            .bootstrap_nodes_v5
            .iter()
            .map(|r| Node::from_enr(r).unwrap_or_else(|_| Node::incomplete(r.node_id())))
            .collect();
        validate_nodes("bootstrap_nodes_v5", &v5_nodes, NeedPort::Udp)?;
        validate_nodes("trusted_nodes", &self.trusted_nodes, NeedPort::None)?;
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let pending = [
            ("max_pending_peers", Some(self.max_pending_peers)),
            ("max_pending_inbound", self.max_pending_inbound),
            ("max_pending_outbound", self.max_pending_outbound),
        ];
        for (field, value) in pending {
            if let Some(value) = value {
                if !(1..=MAX_PENDING_LIMIT).contains(&value) {
                    return Err(ConfigError::PendingLimitOutOfRange { field, value });
                }
            }
        }
        if let (Some(i), Some(o)) = (self.max_inbound, self.max_outbound) {
            i.checked_add(o).ok_or(ConfigError::PeerLimitOverflow)?;
        }
        Ok(())
    }

    fn validate_listen_v6(&self) -> Result<(), ConfigError> {
        let Some(v6) = self.listen_addr_v6 else {
            return Ok(());
        };
        if !v6.is_ipv6() || v6.ip().to_canonical().is_ipv4() {
            return Err(ConfigError::BadListenAddrV6("must be an IPv6 address"));
        }
        match self.listen_addr {
            Some(a) if a.is_ipv4() => Ok(()),
            _ => Err(ConfigError::BadListenAddrV6(
                "needs an IPv4 listen_addr (for IPv6 only, set listen_addr to the IPv6 address)",
            )),
        }
    }

    /// The address families the node has sockets for (the dialer picks a
    /// record's endpoint by them): `listen_addr`'s, plus IPv6 with
    /// `listen_addr_v6`; both when the node does not listen.
    pub fn ip_families(&self) -> crate::node::IpFamilies {
        match self.listen_addr {
            None => crate::node::IpFamilies::BOTH,
            Some(a) => {
                let mut f = crate::node::IpFamilies::of(a.ip());
                f.v6 |= self.listen_addr_v6.is_some();
                f
            }
        }
    }

    fn validate_protocols(&self) -> Result<(), ConfigError> {
        if self.protocols.len() > MAX_PROTOCOLS {
            return Err(ConfigError::TooManyProtocols(self.protocols.len()));
        }
        for (i, p) in self.protocols.iter().enumerate() {
            let bad = |problem| ConfigError::BadProtocol {
                name: p.name.chars().take(MAX_PROTOCOL_NAME_LEN).collect(),
                version: p.version,
                problem,
            };
            if p.name.is_empty() || p.name.len() > MAX_PROTOCOL_NAME_LEN {
                return Err(bad("name must be 1..=32 bytes"));
            }
            if !p.name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad("name must be printable ASCII"));
            }
            if p.length == 0 {
                return Err(bad("length (message codes) must be > 0"));
            }
            let dup = self.protocols[..i]
                .iter()
                .any(|q| q.name == p.name && q.version == p.version);
            if dup {
                return Err(ConfigError::DuplicateProtocol {
                    name: p.name.clone(),
                    version: p.version,
                });
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NeedPort {
    Tcp,
    Udp,
    None,
}

fn validate_nodes(list: &'static str, nodes: &[Node], need: NeedPort) -> Result<(), ConfigError> {
    for (index, n) in nodes.iter().enumerate() {
        let bad = |problem| ConfigError::BadNode {
            list,
            index,
            problem,
        };
        if n.id.is_zero() {
            return Err(bad("zero node id"));
        }
        match need {
            NeedPort::None => {}
            NeedPort::Tcp if !n.is_complete() || n.tcp == 0 => {
                return Err(bad("needs an address and a TCP port"))
            }
            NeedPort::Udp if !n.is_complete() || n.udp == 0 => {
                return Err(bad("needs an address and a UDP port"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Serde for [`NatSpec`] as go-ethereum's text form (`extip:1.2.3.4`).
mod nat_text {
    use super::NatSpec;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(spec: &NatSpec, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(spec)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NatSpec, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// Serde for `Vec<Node>` as a list of enode URL strings.
mod enode_list {
    use super::Node;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(nodes: &[Node], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nodes.iter().map(|n| n.to_string()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Node>, D::Error> {
        let urls = Vec::<String>::deserialize(d)?;
        urls.iter()
            .enumerate()
            .map(|(i, u)| {
                u.parse::<Node>()
                    .map_err(|e| D::Error::custom(format!("node {i}: {e}")))
            })
            .collect()
    }
}

mod networks;
/// serde for `bootstrap_nodes_v5`: records as `enr:` text strings.
mod enr_list {
    use super::Enr;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(records: &[Enr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(records.iter().map(|r| r.to_string()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Enr>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.parse::<Enr>()
                    .map_err(|e| D::Error::custom(format!("record {i}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
