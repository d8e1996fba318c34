//! Node identity and discv4 discovery for the devp2p stack.
//!
//! [`node`] holds everything that names and locates a node and is shared by
//! RLPx and discovery: [`node::NodeId`] and XOR distance, node key files,
//! enode URLs ([`node::Node`]), EIP-778 records ([`node::Enr`]) and our own
//! evolving record ([`node::LocalNode`]).
//!
//! ```
//! use devp2p_discover::node::{Node, NodeId};
//! let id: NodeId = "00".repeat(64).parse().unwrap();
//! assert!(id.is_zero());
//! assert!("enode://1234".parse::<Node>().is_err());
//! ```
#![warn(missing_docs)]

pub mod db;
pub mod node;
pub mod rlp_item;
pub mod v4;

/// The RLP library of the stack, re-exported so users need no version guess.
pub use alloy_rlp;

#[cfg(test)]
mod vectors;
