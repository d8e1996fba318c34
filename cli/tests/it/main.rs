//! The CLI crate's integration tests, one binary: the `devp2p` command line
//! (`cli_*`), and interoperability with independent implementations that
//! drive our CLI and library over real sockets: ethereumjs (`interop_*`,
//! Node.js scripts in the workspace's `tests/interop/`) and go-ethereum
//! (`interop_geth`, Go programs built from `tests/geth/`); `dns`: EIP-1459
//! node lists served by NSD, cross-checked with go-ethereum's `devp2p dns`;
//! `nat_router`: `--nat upnp|pmp|any` against Debian's miniupnpd in network
//! namespaces; `ipv6_netns`: IPv6 and dual-stack nodes between two
//! namespaces.
//!
//! Run one group with e.g. `cargo test -p devp2p-cli --test it interop_geth`.

mod cli_discv4;
mod cli_key;
mod cli_metrics;
mod cli_node;
mod common;
mod dns;
mod interop_discv4;
mod interop_geth;
mod interop_js;
mod interop_rlpx;
mod interop_server;
mod ipv6_netns;
mod nat_router;

// The interop modules name their helpers from the crate root.
use common::{child_peer, geth};
use interop_geth::ours;
