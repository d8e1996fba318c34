//! Node identity: [`NodeId`], and (to come) enode URLs, ENR records and node keys.

mod id;

pub use id::{distance_cmp, keccak256, log_distance, NodeId, NodeIdError, NODE_ID_LEN};
