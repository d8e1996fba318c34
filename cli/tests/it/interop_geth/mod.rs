//! Interop with go-ethereum, the reference implementation (version pinned in
//! `tests/geth/go.mod`): its p2p.Server as a peer (through the harness in
//! `tests/geth/harness`), its `devp2p` tool as an examiner (discv4 and
//! discv5 conformance suites, `rlpx ping`, discv4 commands, crawl), and a real
//! `geth` node for an eth/68–69 session.
//!
//! The Go programs are built on first use by `tests/geth/build.sh` (needs
//! Go >= 1.26; a cold build takes minutes). Everything binds 127.0.0.0/8 and
//! every child process is killed when its test ends, also on failure.
//!
//! Run these tests alone with `cargo test -p devp2p-cli --test it interop_geth`.

mod discovery;
mod discv4_suite;
mod discv5;
mod discv5_suite;
mod eth_status;
mod mixed;
pub(crate) mod ours;
mod rlpx_ping;
mod server;
