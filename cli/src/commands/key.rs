//! `devp2p key …`: node key files in go-ethereum's nodekey format.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devp2p::node::{generate_node_key, load_node_key, save_node_key, Enr, Node, NodeId};

use super::CliError;

/// Default TCP and UDP port of devp2p (go-ethereum's listen port).
pub(super) const DEFAULT_PORT: u16 = 30303;

/// `devp2p key` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum KeyCommand {
    /// Generate a new node key and write it to FILE (refuses to overwrite); prints the node ID.
    Generate {
        /// Where to write the key (64 hex characters, mode 0600).
        file: PathBuf,
    },
    /// Print the node ID (64-byte public key, hex) of a key file.
    ToId {
        /// The node key file.
        file: PathBuf,
    },
    /// Print the enode URL of a key file for the given endpoint.
    ToEnode(EndpointArgs),
    /// Print a signed node record (ENR, sequence number 1) of a key file for the given endpoint.
    ToEnr(EndpointArgs),
}

/// A key file and the endpoint to put in its enode URL or record.
#[derive(Debug, Args)]
pub(super) struct EndpointArgs {
    /// The node key file.
    file: PathBuf,
    /// IP address of the node.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// TCP (RLPx) port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    tcp: u16,
    /// UDP (discovery) port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    udp: u16,
}

/// Runs a `key` subcommand.
pub(super) fn run(cmd: KeyCommand) -> Result<(), CliError> {
    match cmd {
        KeyCommand::Generate { file } => {
            let id = generate(&file)?;
            println!("{id}");
        }
        KeyCommand::ToId { file } => {
            let key = load_node_key(&file)?;
            println!("{}", NodeId::from_secret_key(&key));
        }
        KeyCommand::ToEnode(ep) => {
            let key = load_node_key(&ep.file)?;
            let node = Node::new(NodeId::from_secret_key(&key), ep.ip, ep.tcp, ep.udp);
            println!("{node}");
        }
        KeyCommand::ToEnr(ep) => {
            let key = load_node_key(&ep.file)?;
            let enr = Enr::builder()
                .seq(1)
                .ip(ep.ip)
                .tcp(ep.tcp)
                .udp(ep.udp)
                .sign(&key)?;
            println!("{enr}");
        }
    }
    Ok(())
}

/// Writes a fresh key to `file` unless it exists; returns the node ID.
fn generate(file: &Path) -> Result<NodeId, CliError> {
    if file.exists() {
        return Err(CliError::Exists(file.to_path_buf()));
    }
    let key = generate_node_key();
    save_node_key(file, &key)?;
    Ok(NodeId::from_secret_key(&key))
}
