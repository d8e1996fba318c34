//! What every `discv4` and `discv5` subcommand shares: the identity flags
//! (node key, bind and announced address) and what they make (our key, the
//! bind address and our [`LocalNode`]), and the limits of `crawl` and
//! `listen`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use devp2p::node::{generate_node_key, load_node_key, parse_node_key, LocalNode};
use secp256k1::SecretKey;

use super::CliError;

/// Default UDP port of `discv4 listen` and `discv5 listen` (go-ethereum's
/// bootnode port).
pub(super) const DEFAULT_LISTEN_PORT: u16 = 30301;
/// Most concurrent crawl lookups (our choice: each lookup keeps up to 3
/// queries in flight; more would only hit the per-IP rate limits of peers).
pub(super) const MAX_CRAWL_PARALLEL: u16 = 64;
/// Most nodes a crawl remembers (bounds memory on a large network; the
/// Ethereum mainnet DHT has ~20 000 reachable nodes).
pub(super) const MAX_CRAWL_NODES: usize = 100_000;
/// How often the crawl progress line is refreshed.
pub(super) const CRAWL_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// How often `listen` logs its table size.
pub(super) const LISTEN_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Node key and addresses of a discovery subcommand (flattened into each
/// protocol's common flags).
#[derive(Debug, Args)]
pub(super) struct IdentityArgs {
    /// Node key file (random when absent).
    #[arg(long, value_name = "FILE", conflicts_with = "nodekeyhex")]
    pub nodekey: Option<PathBuf>,
    /// Node key as 64 hex characters.
    #[arg(long, value_name = "HEX")]
    pub nodekeyhex: Option<String>,
    /// UDP address to bind [default: 0.0.0.0:0, or 0.0.0.0:30301 for listen].
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<SocketAddr>,
    /// Address announced in our record [default: 127.0.0.1 and the bound port].
    #[arg(long, value_name = "IP:PORT")]
    pub extaddr: Option<SocketAddr>,
}

/// What a discovery service is started with.
pub(super) struct Identity {
    /// Our node key.
    pub key: SecretKey,
    /// Where to bind (port `default_port` unless --addr).
    pub addr: SocketAddr,
    /// Our record, with --extaddr or the announced bind IP.
    pub local: LocalNode,
}

impl IdentityArgs {
    /// The node key: --nodekeyhex, else --nodekey, else a fresh one.
    pub(super) fn key(&self) -> Result<SecretKey, CliError> {
        Ok(match (&self.nodekeyhex, &self.nodekey) {
            (Some(hex), _) => parse_node_key(hex)?,
            (None, Some(path)) => load_node_key(path)?,
            (None, None) => generate_node_key(),
        })
    }

    /// Key, bind address (port `default_port` unless --addr) and record.
    pub(super) fn identity(&self, default_port: u16) -> Result<Identity, CliError> {
        let key = self.key()?;
        let addr = self.addr.unwrap_or(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            default_port,
        ));
        let local = LocalNode::new(key, 1);
        match self.extaddr {
            Some(ext) => {
                local.set_ip(ext.ip());
                local.set_udp(ext.port());
            }
            None => local.set_ip(announced_ip(addr.ip())),
        }
        Ok(Identity { key, addr, local })
    }
}

/// A specific bind IP is announced as is; an unspecified one as 127.0.0.1
/// (go-ethereum's fallback).
pub(super) fn announced_ip(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    }
}
