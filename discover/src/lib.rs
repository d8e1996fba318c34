//! discv4 discovery and the node database for the devp2p stack.
//!
//! [`node`] is the `devp2p-identity` crate (re-exported): [`node::NodeId`]
//! and XOR distance, node key files, enode URLs ([`node::Node`]), EIP-778
//! records ([`node::Enr`]) and our own evolving record ([`node::LocalNode`]).
//! [`v4`] is discv4 (Kademlia table, lookups, endpoint proofs, EIP-868),
//! `v5` is discv5 (sigp's `discv5` crate, sharing one UDP socket with
//! discv4 and our one record; cargo feature `discv5`, on by default),
//! [`db`] the node database (a redb file with the default-on feature
//! `node-db`; in memory, same API, without it).
//!
//! ```
//! use devp2p_discover::node::{Node, NodeId};
//! let id: NodeId = "00".repeat(64).parse().unwrap();
//! assert!(id.is_zero());
//! assert!("enode://1234".parse::<Node>().is_err());
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod db;
pub mod v4;
#[cfg(feature = "discv5")]
pub mod v5;

/// The RLP library of the stack, re-exported so users need no version guess.
pub use alloy_rlp;
/// Node identity (the `devp2p-identity` crate).
pub use devp2p_identity as node;
/// The stack's strict RLP reader (from `devp2p-identity`).
pub use devp2p_identity::rlp_item;

#[cfg(test)]
mod vectors;
