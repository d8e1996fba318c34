//! Node identity and discv4 discovery for the devp2p stack.
//!
//! ```
//! use devp2p_discover::node::NodeId;
//! let id: NodeId = "00".repeat(64).parse().unwrap();
//! assert!(id.is_zero());
//! ```
#![warn(missing_docs)]

pub mod node;
pub mod v4;

#[cfg(test)]
mod vectors;
