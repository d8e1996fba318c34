//! devp2p: an Ethereum devp2p networking stack.
//!
//! ```
//! use devp2p::node::NodeId;
//! let id: NodeId = "00".repeat(64).parse().unwrap();
//! assert!(id.is_zero());
//! ```
#![warn(missing_docs)]

pub use devp2p_discover::node;

pub mod banlist;
pub mod dial;
pub mod rlpx;
