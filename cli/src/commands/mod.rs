//! Command line parsing (clap derive) and dispatch to one module per command group.

mod devnet;
mod disc_common;
mod discv4;
mod discv5;
mod dns;
mod enrdump;
mod key;
mod node;
mod progress;
mod rlpx;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use devp2p::node::{EnodeError, EnrError, NodeKeyError};

/// Exit status for a command that ran and failed.
const EXIT_FAILURE: u8 = 1;
/// Exit status for a bad command line (clap's convention, and BSD `EX_USAGE`-like tools).
const EXIT_USAGE: u8 = 2;

/// Ethereum devp2p tool: node keys, node records, discovery and RLPx probes,
/// a full node running the demo protocol, and a local devnet.
#[derive(Debug, Parser)]
#[command(name = "devp2p", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Node key files (go-ethereum's nodekey format): generate and convert.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Decode, verify and pretty-print a node record (EIP-778).
    Enrdump(enrdump::EnrdumpArgs),
    /// Discovery v4: ping, request records, resolve nodes, run a bootnode.
    #[command(subcommand)]
    Discv4(discv4::Discv4Command),
    /// Discovery v5: ping, resolve records, crawl, run a discv5 node.
    #[command(subcommand)]
    Discv5(discv5::Discv5Command),
    /// RLPx: handshake with a node and show its Hello.
    #[command(subcommand)]
    Rlpx(rlpx::RlpxCommand),
    /// Run a full node with the demo protocol until SIGINT/SIGTERM; prints its enode URL first.
    Node(Box<node::NodeArgs>),
    /// Run N nodes on 127.0.0.1 that discover each other and gossip (the main demo).
    Devnet(devnet::DevnetArgs),
    /// EIP-1459 DNS node lists: sign a tree, export its TXT records, download one.
    #[command(subcommand)]
    Dns(dns::DnsCommand),
    /// Simulate a discovery network on virtual time and write a report (summary, CSV, SVG).
    Sim(sim::SimArgs),
}

/// Why a command failed (after its command line parsed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A node key could not be generated, loaded or saved.
    #[error(transparent)]
    NodeKey(#[from] NodeKeyError),
    /// A node record is malformed or could not be signed.
    #[error("node record: {0}")]
    Enr(#[from] EnrError),
    /// An enode URL is malformed.
    #[error("enode URL: {0}")]
    Enode(#[from] EnodeError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discover(#[from] devp2p_discover::v4::DiscoverError),
    /// discv5 failed.
    #[error("discv5: {0}")]
    Discv5(#[from] devp2p_discover::v5::Discv5Error),
    /// The handshake or Hello exchange with a peer failed.
    #[error("peer: {0}")]
    Peer(String),
    /// Something looked for was not found.
    #[error("not found: {0}")]
    NotFound(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The devnet did not reach its goal.
    #[error("devnet: {0}")]
    Devnet(String),
    /// The server could not start.
    #[error(transparent)]
    Server(#[from] devp2p::server::ServerError),
    /// The config file is unusable.
    #[error(transparent)]
    ConfigFile(#[from] crate::config_file::ConfigFileError),
    /// The built-in data of a known network does not parse (a bug).
    #[error(transparent)]
    Network(#[from] devp2p::config::NetworkDataError),
    /// A DNS tree could not be resolved or verified.
    #[error("dns: {0}")]
    Dns(#[from] devp2p::dnsdisc::Error),
    /// A DNS tree entry or URL is malformed.
    #[error("dns: {0}")]
    DnsEntry(#[from] devp2p::dnsdisc::EntryError),
    /// A tree directory (enrtree-info.json, nodes.json) is unusable.
    #[error("tree definition: {0}")]
    Definition(String),
    /// A file we refuse to overwrite already exists.
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// The simulator could not run or write its report.
    #[error("sim: {0}")]
    Sim(#[from] devp2p_sim::SimError),
    /// A file is larger than the command accepts.
    #[error("{path} is larger than {max} bytes")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        max: u64,
    },
}

/// Parses the command line, runs the command and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let result = match cli.command {
        Command::Key(cmd) => key::run(cmd),
        Command::Enrdump(args) => enrdump::run(args),
        Command::Discv4(cmd) => block_on("info", discv4::run(cmd)),
        Command::Discv5(cmd) => block_on("info", discv5::run(cmd)),
        Command::Rlpx(cmd) => block_on("warn", rlpx::run(cmd)),
        Command::Node(args) => block_on("info", node::run(*args)),
        Command::Devnet(args) => block_on("warn", devnet::run(args)),
        Command::Dns(cmd) => block_on("warn", dns::run(cmd)),
        // The simulator builds its own (paused-clock) runtime.
        Command::Sim(args) => {
            init_logging("warn");
            sim::run(args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_status())
        }
    }
}

impl CliError {
    /// The exit status for this failure: [`EXIT_USAGE`] when the command
    /// line asked for something impossible that only showed after parsing
    /// (an inconsistent simulation config), [`EXIT_FAILURE`] otherwise.
    fn exit_status(&self) -> u8 {
        match self {
            CliError::Sim(devp2p_sim::SimError::Config { .. }) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

/// Prints help/version as clap does, and any real usage error as one line
/// (clap's first line plus a pointer to `--help`), exit status 2.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Help on a bare `devp2p` or group is still a usage error (status 2),
            // as clap does; explicit --help/--version succeed.
            let status = if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_USAGE
            } else {
                0
            };
            let _ = err.print();
            ExitCode::from(status)
        }
        _ => {
            // clap's message is the text before its usage block, possibly
            // over several lines (e.g. the list of missing arguments).
            let text = err.to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let message = if message.is_empty() {
                "error: bad command line".to_string()
            } else {
                message.join(" ")
            };
            eprintln!("{message} (see 'devp2p --help')");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Reads a small text file, refusing files larger than `max` bytes before reading.
fn read_small_file(path: &std::path::Path, max: u64) -> Result<String, CliError> {
    use std::io::Read;
    let io_err = |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::new();
    file.take(max + 1).read_to_end(&mut buf).map_err(io_err)?;
    if buf.len() as u64 > max {
        return Err(CliError::FileTooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    String::from_utf8(buf).map_err(|_| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

/// Starts logging to stderr (`RUST_LOG` wins over `default_filter`) and runs
/// `fut` on a multi-threaded Tokio runtime.
fn block_on<F>(default_filter: &str, fut: F) -> Result<(), CliError>
where
    F: std::future::Future<Output = Result<(), CliError>>,
{
    init_logging(default_filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(fut)
}

/// Starts logging to stderr; `RUST_LOG` wins over `default_filter`.
fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Registers for SIGINT and SIGTERM at once and returns a future that
/// completes when one arrives (Ctrl-C elsewhere). Call it before announcing
/// readiness (an enode line, a listener): a signal that arrives between the
/// announcement and the first poll then still ends the command cleanly
/// instead of killing the process with the default action.
pub(crate) fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
