//! Typed entries of node records (ENR, EIP-778) that Ethereum nodes
//! publish, to put into our record ([`Server::set_record_entry`]) and to
//! read from candidates' records in a dial filter
//! ([`Config::dial_filter`](crate::config::Config::dial_filter)).
//!
//! - [`EthEntry`]: the `eth` entry of EIP-2124 / EIP-2364, the node's
//!   [`ForkId`] (go-ethereum's `enrEntry` in `eth/protocols/eth/discovery.go`).
//!
//! ```
//! use devp2p::enr_entries::{EthEntry, ForkId};
//!
//! let entry = EthEntry::new(ForkId { hash: [0xfc, 0x64, 0xec, 0x04], next: 1_150_000 });
//! let rlp = entry.to_rlp();
//! assert_eq!(EthEntry::decode(&rlp).unwrap(), entry);
//! ```
//!
//! [`Server::set_record_entry`]: crate::server::Server::set_record_entry

use alloy_rlp::{Decodable, Encodable, Header, RlpDecodable, RlpEncodable};

use crate::node::Enr;

/// An EIP-2124 fork identifier: the CRC32 checksum of the genesis hash and
/// every fork passed, and the next scheduled fork (block number or
/// timestamp; 0 when none is known).
///
/// RLP: `[hash: 4 bytes, next: uint]`, exactly two elements (go-ethereum's
/// `forkid.ID` has no tail field, so a longer list is an error there too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct ForkId {
    /// FORK_HASH: the big-endian CRC32 checksum.
    pub hash: [u8; 4],
    /// FORK_NEXT: the next fork's block number or timestamp, 0 if none.
    pub next: u64,
}

impl std::fmt::Display for ForkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{hash: 0x{}, next: {}}}",
            hex::encode(self.hash),
            self.next
        )
    }
}

/// Why an `eth` entry could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthEntryError {
    /// The value is not the RLP list `[[hash, next], ...]` (what was wrong
    /// is in the message).
    #[error("malformed eth entry: {0}")]
    Malformed(&'static str),
}

/// The `eth` entry of a node record (EIP-2124 / EIP-2364): the node's
/// current [`ForkId`].
///
/// RLP: the list `[fork_id, ...]` where `fork_id` is `[hash, next]`.
/// Elements after the fork id are ignored on decoding (go-ethereum decodes
/// them into an `rlp:"tail"` field for forward compatibility) and never
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthEntry {
    /// The node's fork id.
    pub fork_id: ForkId,
}

impl EthEntry {
    /// The record key: `eth`.
    pub const KEY: &'static [u8] = b"eth";

    /// An entry announcing `fork_id`.
    pub fn new(fork_id: ForkId) -> Self {
        EthEntry { fork_id }
    }

    /// The raw RLP value to store under [`EthEntry::KEY`].
    pub fn to_rlp(&self) -> Vec<u8> {
        let payload_length = self.fork_id.length();
        let mut out = Vec::with_capacity(payload_length + 1);
        Header {
            list: true,
            payload_length,
        }
        .encode(&mut out);
        self.fork_id.encode(&mut out);
        out
    }

    /// Decodes the raw RLP value of an `eth` entry; extra list elements
    /// after the fork id are ignored, bytes after the list are an error.
    pub fn decode(raw: &[u8]) -> Result<Self, EthEntryError> {
        let mut buf = raw;
        let header =
            Header::decode(&mut buf).map_err(|_| EthEntryError::Malformed("bad list header"))?;
        if !header.list {
            return Err(EthEntryError::Malformed("not a list"));
        }
        if buf.len() != header.payload_length {
            return Err(EthEntryError::Malformed("length mismatch"));
        }
        let mut payload = buf;
        let fork_id = ForkId::decode(&mut payload)
            .map_err(|_| EthEntryError::Malformed("bad fork id [hash, next]"))?;
        // The rest must still be well-formed items (go-ethereum's tail of
        // raw values); skip them one by one.
        while !payload.is_empty() {
            let h = Header::decode(&mut payload)
                .map_err(|_| EthEntryError::Malformed("bad trailing element"))?;
            if payload.len() < h.payload_length {
                return Err(EthEntryError::Malformed("truncated trailing element"));
            }
            payload = &payload[h.payload_length..];
        }
        Ok(EthEntry { fork_id })
    }

    /// The `eth` entry of `record`: `Ok(None)` when it has none.
    pub fn from_record(record: &Enr) -> Result<Option<Self>, EthEntryError> {
        record.get_raw(Self::KEY).map(Self::decode).transpose()
    }
}

impl Encodable for EthEntry {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        out.put_slice(&self.to_rlp());
    }

    fn length(&self) -> usize {
        let payload = self.fork_id.length();
        alloy_rlp::length_of_length(payload) + payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAINNET_FRONTIER: ForkId = ForkId {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    };

    #[test]
    fn encodes_as_list_of_fork_id() {
        // ca (list, 10) c9 (list, 9) 84 fc64ec04 83 118c30
        let rlp = EthEntry::new(MAINNET_FRONTIER).to_rlp();
        assert_eq!(hex::encode(&rlp), "cac984fc64ec0483118c30");
        assert_eq!(alloy_rlp::encode(EthEntry::new(MAINNET_FRONTIER)), rlp);
        assert_eq!(EthEntry::decode(&rlp).unwrap().fork_id, MAINNET_FRONTIER);
    }

    #[test]
    fn trailing_elements_are_ignored() {
        // [[hash, next], 0x01, [0x02]]
        let rlp = hex::decode("cdc984fc64ec0483118c3001c102").unwrap();
        assert_eq!(EthEntry::decode(&rlp).unwrap().fork_id, MAINNET_FRONTIER);
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        for (hex_value, what) in [
            ("", "empty"),
            ("84fc64ec04", "a string, not a list"),
            ("c0", "empty list"),
            ("c5c483fc64ec", "3-byte hash"),
            ("cbca84fc64ec0483118c3001", "fork id with 3 elements"),
            ("cac984fc64ec0483118c", "truncated"),
            ("cac984fc64ec0483118c3000", "bytes after the list"),
            ("ccc984fc64ec0483118c303083", "truncated trailing element"),
        ] {
            let raw = hex::decode(hex_value).unwrap();
            assert!(
                matches!(EthEntry::decode(&raw), Err(EthEntryError::Malformed(_))),
                "{what} must fail"
            );
        }
    }
}
