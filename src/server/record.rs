//! Entries of our node record on a running server: [`Server::set_record_entry`],
//! [`Server::remove_record_entry`], with the keys the server manages itself
//! refused.

use alloy_rlp::Encodable;

use super::Server;
use crate::node::{Enr, EnrError};

/// Record keys the server manages itself (EIP-778's identity entries and
/// the endpoint entries set from the listener, discovery and NAT); the
/// record-entry API refuses them.
pub const RESERVED_RECORD_KEYS: [&str; 8] =
    ["id", "secp256k1", "ip", "ip6", "tcp", "udp", "tcp6", "udp6"];

/// Why a record entry could not be set or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordEntryError {
    /// The key is one of [`RESERVED_RECORD_KEYS`].
    #[error("record key {key:?} is managed by the server")]
    Reserved {
        /// The key.
        key: String,
    },
    /// The key is empty.
    #[error("record key is empty")]
    EmptyKey,
    /// The value is not one canonical RLP item, or the record would grow
    /// past the 300-byte limit of EIP-778 (the record is left unchanged).
    #[error("record entry {key:?} rejected: {source}")]
    Rejected {
        /// The key.
        key: String,
        /// What the record said.
        #[source]
        source: EnrError,
    },
}

fn check_key(key: &str) -> Result<(), RecordEntryError> {
    if key.is_empty() {
        return Err(RecordEntryError::EmptyKey);
    }
    if RESERVED_RECORD_KEYS.contains(&key) {
        return Err(RecordEntryError::Reserved {
            key: key.to_string(),
        });
    }
    Ok(())
}

impl Server {
    /// Sets the entry `key` of our node record to `value` (RLP-encoded),
    /// e.g. `("eth", &EthEntry::new(fork_id))` (see
    /// [`crate::enr_entries`]). A changed value raises the record's sequence
    /// number once; discovery hands out the new record from then on. Setting
    /// the same value again changes nothing.
    pub fn set_record_entry<T: Encodable + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), RecordEntryError> {
        self.set_record_entry_raw(key, alloy_rlp::encode(value))
    }

    /// Like [`Server::set_record_entry`] with a value that is already RLP
    /// (exactly one canonical item).
    pub fn set_record_entry_raw(&self, key: &str, rlp: Vec<u8>) -> Result<(), RecordEntryError> {
        check_key(key)?;
        self.shared
            .local_node
            .set_raw(key.as_bytes(), rlp)
            .map_err(|source| RecordEntryError::Rejected {
                key: key.to_string(),
                source,
            })
    }

    /// Removes the entry `key` from our record; returns whether it was
    /// there (a removal raises the sequence number once).
    pub fn remove_record_entry(&self, key: &str) -> Result<bool, RecordEntryError> {
        check_key(key)?;
        Ok(self.shared.local_node.remove(key.as_bytes()))
    }

    /// Our current signed node record.
    pub fn record(&self) -> Enr {
        self.shared.local_node.enr()
    }
}
