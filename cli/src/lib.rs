//! The `devp2p` command line tool as a library: the commands behind the
//! binary ([`main`]), the TOML config loader ([`config_file`]), the metrics
//! HTTP endpoint ([`metrics_http`]) and `demo/1`, the small real protocol the
//! `node` and `devnet` commands run ([`demo`]).
//!
//! The library a node is built with is `devp2p` (package `devp2p-rs`); this
//! crate only adds what a command line tool needs, so that a library user
//! compiles no argument parser, progress bars or log subscriber.
//!
//! ```
//! use devp2p_cli::config_file;
//! let config = config_file::parse("max_peers = 10\nnat = \"extip:192.0.2.1\"\n").unwrap();
//! assert_eq!(config.max_peers, 10);
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod commands;
pub mod config_file;
pub mod demo;
pub mod metrics_http;

pub use commands::main;
