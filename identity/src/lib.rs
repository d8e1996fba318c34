//! Node identity for the devp2p stack: who a node is and where to reach it.
//! Shared by RLPx, discovery and the server; depends on nothing of theirs.
//!
//! - [`NodeId`]: the 64-byte secp256k1 public key naming a node, with the
//!   keccak256 XOR distance discovery sorts by ([`log_distance`], [`distance_cmp`]).
//! - Node keys in go-ethereum's `nodekey` file format: [`generate_node_key`],
//!   [`parse_node_key`], [`load_node_key`], [`save_node_key`], [`node_key_to_hex`].
//! - [`Node`]: an enode URL, `enode://<id>@<ip or DNS name>:<tcp>[?discport=<udp>]`,
//!   parsed and formatted like go-ethereum.
//! - [`Enr`]: an EIP-778 node record with the "v4" identity scheme, built
//!   with [`EnrBuilder`], verified on every decode, limited to
//!   [`MAX_ENR_SIZE`] bytes.
//! - [`LocalNode`]: our own record, re-signed with a higher sequence number
//!   whenever our endpoint changes.
//!
//! ```
//! use devp2p_identity::{parse_node_key, Enr, LocalNode, Node};
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! // The example key and record of EIP-778.
//! let key = parse_node_key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291\n")?;
//! let enr = Enr::builder().seq(1).ip4(Ipv4Addr::LOCALHOST).udp(30303).sign(&key)?;
//! assert!(enr.to_string().starts_with("enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4"));
//! let decoded: Enr = enr.to_string().parse()?;
//! assert_eq!(decoded.udp(), Some(30303));
//!
//! // enode URLs round-trip exactly.
//! let node = Node::new(enr.node_id(), IpAddr::V4(Ipv4Addr::LOCALHOST), 30303, 30301);
//! let url = node.to_string();
//! assert!(url.ends_with("@127.0.0.1:30303?discport=30301"));
//! assert_eq!(url.parse::<Node>()?, node);
//!
//! // Our own record: changes bump the sequence number.
//! let local = LocalNode::new(key, 1);
//! local.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
//! local.set_tcp(30303);
//! assert_eq!(local.enr().seq(), 3);
//! assert_eq!(local.node().tcp_addr(), Some("127.0.0.1:30303".parse()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod enode;
mod enr;
mod id;
mod ip;
mod key;
mod local;
pub mod rlp_item;
pub mod secp;

/// The RLP library of the stack, re-exported so users need no version guess.
pub use alloy_rlp;

pub use enode::{EnodeError, Node, MAX_ENODE_URL_LEN, MAX_HOSTNAME_LABEL_LEN, MAX_HOSTNAME_LEN};
pub use enr::{
    keys as enr_keys, Enr, EnrBuilder, EnrError, COMPRESSED_KEY_LEN, ENR_SIGNATURE_LEN,
    MAX_ENR_SIZE, MAX_ENR_TEXT_LEN,
};
pub use id::{distance_cmp, keccak256, log_distance, NodeId, NodeIdError, NODE_ID_LEN};
pub use ip::IpFamilies;
pub use key::{
    generate_node_key, load_node_key, node_key_from_rng, node_key_to_hex, parse_node_key,
    save_node_key, NodeKeyError, NODE_KEY_FILE_MAX_BYTES, NODE_KEY_HEX_LEN,
};
pub use local::{LocalNode, ENDPOINT_HEADROOM};
