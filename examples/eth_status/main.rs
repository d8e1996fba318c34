//! A real Ethereum session: join a go-ethereum node on the `eth` protocol,
//! exchange the Status handshake, check the node is on our chain, then stay
//! connected without serving anything.
//!
//! Run against a local geth (see README.md, "Ethereum session example"):
//!
//! ```text
//! cargo run --example eth_status -- 'enode://…@127.0.0.1:30303' \
//!     --network-id 1337 --genesis 0x<genesis hash> [--eth 69] [--seconds 30]
//! ```
//!
//! What happens, layer by layer ([`run`] is the whole flow):
//!
//! 1. Our [`Server`](devp2p::Server) dials the node ([`connect`], module
//!    [`session`]): RLPx handshake, then the `p2p` Hello in which both
//!    sides list their capabilities. We offer `eth` in the versions asked
//!    for (`--eth`); the highest version both sides know is run, every other
//!    one is ignored.
//! 2. The negotiated `eth` protocol's first message, in both directions, is
//!    Status (code 0x00). Its layout depends on the version (see
//!    [`status::Status`]). go-ethereum sends its Status at once and drops
//!    the peer if ours does not arrive within 5 s
//!    ([`handshake::HANDSHAKE_TIMEOUT`]); we check theirs before sending
//!    ours, so that on a mismatch we can tell why
//!    ([`handshake::handshake`]).
//! 3. We check their Status as go-ethereum checks ours ([`Chain::check`]):
//!    same protocol version, network id and genesis hash, and a compatible
//!    EIP-2124 fork id ([`ForkSchedule::validate`], module [`forkid`]).
//! 4. Then we idle ([`handshake::idle`]): read and ignore every further
//!    message. go-ethereum does not require anything else from an idle
//!    `eth` peer: the only liveness requirement is below `eth`, in the base
//!    protocol (a connection silent for 30 s is dropped, p2p/server.go
//!    `frameReadTimeout`; both sides ping every 15 s and answer pings, which
//!    the library does for us). Its random peer dropper spares peers younger
//!    than 10 minutes (eth/dropper.go), and it asks nothing of a peer unless
//!    it syncs from it (which needs a consensus client) or runs with
//!    `--eth.requiredblocks`.
//!
//! The modules, in reading order: [`session`] (a server, one peer, our
//! `eth` protocol), [`handshake`] (the Status exchange), [`chain`] (our
//! Status and the checks of theirs), [`status`] (the message, both
//! layouts), [`forkid`] (EIP-2124).
//!
//! The pieces are public functions so the go-ethereum interop test
//! (`tests/interop_geth/eth_status.rs`) runs exactly this code. Modules
//! refer to each other through `super::`, never `crate::`, because that
//! test includes this file as a module of its own crate.

pub mod chain;
pub mod forkid;
pub mod handshake;
pub mod session;
pub mod status;

use std::time::Duration;

use devp2p::node::Node;

// What `run` and the interop test use (the test includes this file as a
// private module, where an unused re-export is an unused import).
pub use chain::Chain;
pub use forkid::ForkSchedule;
pub use handshake::HandshakeError;
pub use session::{connect, Session, SessionError};
pub use status::{Hash, Head, ETH68, ETH69};

/// Join an Ethereum node on `eth` and idle.
#[derive(clap::Parser, Debug)]
struct Args {
    /// The node to join: enode://<id>@<ip>:<port>
    enode: String,
    /// Network id (geth --networkid).
    #[arg(long)]
    network_id: u64,
    /// Genesis block hash, 0x-prefixed hex.
    #[arg(long)]
    genesis: String,
    /// eth versions to offer, comma-separated (the highest shared one runs).
    #[arg(long, value_delimiter = ',', default_value = "68,69")]
    eth: Vec<u32>,
    /// Fork block numbers after genesis, comma-separated (mainnet: 1150000,…).
    #[arg(long, value_delimiter = ',')]
    fork_blocks: Vec<u64>,
    /// Fork timestamps after genesis, comma-separated.
    #[arg(long, value_delimiter = ',')]
    fork_times: Vec<u64>,
    /// Genesis timestamp (time forks at or before it are genesis rules).
    #[arg(long, default_value_t = 0)]
    genesis_time: u64,
    /// Stay this many seconds, then exit (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The whole session: our chain from the command line, connect (dial,
/// Hello, Status exchange), stay idle, close.
async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let target: Node = args.enode.parse().map_err(ArgError::Enode)?;
    let genesis = parse_hash(&args.genesis)?;
    let chain = Chain {
        network_id: args.network_id,
        genesis_time: args.genesis_time,
        genesis_difficulty: 0,
        forks: ForkSchedule::new(
            genesis,
            args.genesis_time,
            &args.fork_blocks,
            &args.fork_times,
        ),
    };
    println!("our fork id: {}", chain.fork_id());
    let key = devp2p::node::generate_node_key();
    let mut session = connect(key, target, chain, &args.eth).await?;
    println!("eth/{} session with {}", session.version, session.peer);
    println!("their Status: {}", session.remote);
    let result = match args.seconds {
        Some(s) => session.stay(Duration::from_secs(s)).await,
        None => tokio::select! {
            r = session.stay(Duration::MAX) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        },
    };
    session.close().await;
    result?;
    println!("done; still connected at the end");
    Ok(())
}

/// A bad command-line value.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// The enode URL does not parse.
    #[error("target enode: {0}")]
    Enode(#[from] devp2p::node::EnodeError),
    /// The genesis hash is not 32 bytes of hex.
    #[error("genesis hash: want 0x and 64 hex digits, got {0:?}")]
    Genesis(String),
}

/// Parses a 0x-prefixed (or bare) 32-byte hex hash.
pub fn parse_hash(text: &str) -> Result<Hash, ArgError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| ArgError::Genesis(text.to_owned()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::forkid::tests::MAINNET_GENESIS;
    use super::session::protocol_length;
    use super::*;

    #[test]
    fn lengths_and_args() {
        assert_eq!(protocol_length(ETH68), Some(17));
        assert_eq!(protocol_length(ETH69), Some(18));
        assert_eq!(protocol_length(70), None);
        assert!(parse_hash(&format!("0x{MAINNET_GENESIS}")).is_ok());
        assert!(matches!(parse_hash("0x1234"), Err(ArgError::Genesis(_))));
        assert!(matches!(
            parse_hash(&"zz".repeat(32)),
            Err(ArgError::Genesis(_))
        ));
    }
}
