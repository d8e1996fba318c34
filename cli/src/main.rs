//! The `devp2p` command line tool: node keys, node records, discovery and
//! RLPx probes, a full node running the demo protocol, and a local devnet.
//!
//! Exit status: 0 on success, 1 when the command ran and failed, 2 for a bad
//! command line.

fn main() -> std::process::ExitCode {
    devp2p_cli::main()
}
