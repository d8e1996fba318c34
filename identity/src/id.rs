//! [`NodeId`]: the 64-byte secp256k1 public key that names a node, and the
//! keccak256-based XOR distance that discovery sorts nodes by.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use secp256k1::{PublicKey, SecretKey};
use sha3::{Digest, Keccak256};

/// Length in bytes of a [`NodeId`]: an uncompressed secp256k1 public key
/// without its `0x04` prefix (RLPx spec, "node ID").
pub const NODE_ID_LEN: usize = 64;

/// Computes keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// A node's identity: its 64-byte uncompressed secp256k1 public key.
///
/// Distances between nodes are measured on [`NodeId::hash`], the keccak256
/// of these bytes, as the discv4 spec requires.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NODE_ID_LEN]);

/// Why bytes or text could not be turned into a [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    /// The input had the wrong number of bytes (hex text: half its length).
    #[error("node id has {got} bytes, want {NODE_ID_LEN}")]
    BadLength {
        /// Number of bytes supplied.
        got: usize,
    },
    /// The text was not hexadecimal.
    #[error("node id is not valid hex")]
    BadHex,
    /// The 64 bytes are not a point on the secp256k1 curve.
    #[error("node id is not a valid secp256k1 public key")]
    InvalidKey,
}

impl NodeId {
    /// The node ID of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let full = key.serialize_uncompressed();
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(&full[1..]);
        NodeId(id)
    }

    /// The node ID belonging to a secret key.
    pub fn from_secret_key(key: &SecretKey) -> Self {
        Self::from_public_key(&crate::secp::public_key(key))
    }

    /// Builds an ID from exactly 64 bytes (no curve check).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, NodeIdError> {
        let arr: [u8; NODE_ID_LEN] = bytes
            .try_into()
            .map_err(|_| NodeIdError::BadLength { got: bytes.len() })?;
        Ok(NodeId(arr))
    }

    /// The public key these bytes encode, or an error if they are not on the curve.
    pub fn to_public_key(&self) -> Result<PublicKey, NodeIdError> {
        let mut full = [0u8; NODE_ID_LEN + 1];
        full[0] = 4;
        full[1..].copy_from_slice(&self.0);
        PublicKey::from_slice(&full).map_err(|_| NodeIdError::InvalidKey)
    }

    /// The raw 64 bytes.
    pub fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    /// keccak256 of the ID: the point in the Kademlia keyspace.
    pub fn hash(&self) -> [u8; 32] {
        keccak256(&self.0)
    }

    /// True when every byte is zero (never a valid key).
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

/// The logarithmic XOR distance between two hashes: the bit length of
/// `a ^ b`, 0 when they are equal, at most 256.
pub fn log_distance(a: &[u8; 32], b: &[u8; 32]) -> u32 {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return (32 - i as u32) * 8 - d.leading_zeros();
        }
    }
    0
}

/// Compares the XOR distances of `a` and `b` to `target`:
/// `Less` when `a` is closer.
pub fn distance_cmp(target: &[u8; 32], a: &[u8; 32], b: &[u8; 32]) -> Ordering {
    for i in 0..32 {
        let da = a[i] ^ target[i];
        let db = b[i] ^ target[i];
        match da.cmp(&db) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form, as go-ethereum's TerminalString: enough to tell peers apart in logs.
        write!(f, "NodeId({}…)", &hex::encode(&self.0[..8]))
    }
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Parses 128 hex characters, with or without a `0x` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != NODE_ID_LEN * 2 {
            return Err(NodeIdError::BadLength { got: s.len() / 2 });
        }
        let bytes = hex::decode(s).map_err(|_| NodeIdError::BadHex)?;
        Self::from_slice(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_distance_basics() {
        let a = [0u8; 32];
        let mut b = [0u8; 32];
        assert_eq!(log_distance(&a, &b), 0);
        b[31] = 1;
        assert_eq!(log_distance(&a, &b), 1);
        b[0] = 0x80;
        assert_eq!(log_distance(&a, &b), 256);
    }

    #[test]
    fn distance_cmp_orders_by_xor() {
        let t = [0u8; 32];
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[31] = 1;
        b[31] = 2;
        assert_eq!(distance_cmp(&t, &a, &b), Ordering::Less);
        assert_eq!(distance_cmp(&t, &b, &a), Ordering::Greater);
        assert_eq!(distance_cmp(&t, &a, &a), Ordering::Equal);
    }

    #[test]
    fn public_key_round_trip() {
        let sk = SecretKey::from_secret_bytes([7u8; 32]).unwrap();
        let id = NodeId::from_secret_key(&sk);
        let pk = id.to_public_key().unwrap();
        assert_eq!(NodeId::from_public_key(&pk), id);
        assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
        assert_eq!(
            "zz".parse::<NodeId>(),
            Err(NodeIdError::BadLength { got: 1 })
        );
        assert!(NodeId([0u8; 64]).to_public_key().is_err());
    }
}
