//! `devp2p rlpx ping`: RLPx handshake and Hello exchange with a node.

use std::time::Duration;

use clap::Subcommand;
use devp2p::node::{generate_node_key, Node, NodeId};
use devp2p::peer::{exchange_hello, Hello, PeerError, BASE_PROTOCOL_VERSION};
use devp2p::Cap;
use tokio::net::TcpStream;

use super::CliError;

/// Time limit for the TCP connect (go-ethereum's dial timeout is 15 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// `devp2p rlpx` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum RlpxCommand {
    /// Connect, do the RLPx handshake and print the node's Hello (or its disconnect reason).
    Ping {
        /// The node (enode URL with its TCP port).
        node: Node,
    },
}

/// Runs an `rlpx` subcommand.
pub(super) async fn run(cmd: RlpxCommand) -> Result<(), CliError> {
    let RlpxCommand::Ping { node } = cmd;
    let addr = node
        .tcp_addr()
        .ok_or_else(|| CliError::NotFound(format!("TCP endpoint in {node}")))?;
    let io_err = |source| CliError::Io {
        path: format!("connection to {addr}").into(),
        source,
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io_err(std::io::ErrorKind::TimedOut.into()))?
        .map_err(io_err)?;
    let key = generate_node_key();
    let mut conn = devp2p::rlpx::connect(tcp, &key, node.id)
        .await
        .map_err(|e| CliError::Peer(e.to_string()))?;
    let ours = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: concat!("devp2p-rs/v", env!("CARGO_PKG_VERSION")).to_string(),
        caps: vec![Cap::new(
            crate::demo::PROTOCOL_NAME,
            crate::demo::PROTOCOL_VERSION,
        )],
        listen_port: 0,
        id: NodeId::from_secret_key(&key),
    };
    match exchange_hello(&mut conn, &ours, node.id).await {
        Ok(hello) => {
            print!("{}", render_hello(&hello));
            Ok(())
        }
        Err(PeerError::RemoteDisconnect(reason)) => {
            println!("disconnect reason: {reason}");
            Err(CliError::Peer(format!("node disconnected: {reason}")))
        }
        Err(e) => Err(CliError::Peer(e.to_string())),
    }
}

fn render_hello(h: &Hello) -> String {
    let caps: Vec<String> = h.caps.iter().map(|c| c.to_string()).collect();
    format!(
        "client id:        {}\nprotocol version: {}\ncapabilities:     {}\nlisten port:      {}\nnode id:          {}\n",
        h.client_id,
        h.protocol_version,
        caps.join(", "),
        h.listen_port,
        h.id
    )
}
