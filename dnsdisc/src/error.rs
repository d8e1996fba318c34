//! The errors of this crate: [`EntryError`] for text that does not parse
//! (a TXT record, a URL, a tree definition) and [`Error`] for what goes
//! wrong while resolving and verifying a tree over DNS.

use std::time::Duration;

use devp2p_identity::EnrError;

/// A tree entry, root or `enrtree://` URL that does not parse. Each variant
/// names what was wrong; none of them is ever returned for well-formed input
/// produced by this crate or go-ethereum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The text starts with none of `enrtree-root:v1`, `enrtree-branch:`,
    /// `enrtree://`, `enr:` (EIP-1459 says to ignore such TXT records).
    #[error("unknown entry type (text starts with {prefix:?})")]
    UnknownEntry {
        /// The first characters of the text (at most 16).
        prefix: String,
    },
    /// The text is longer than [`crate::MAX_TXT_LEN`].
    #[error("entry text is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length of the text in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The root entry is not `enrtree-root:v1 e=<hash> l=<hash> seq=<n> sig=<base64>`.
    #[error("malformed root entry: {0}")]
    RootSyntax(&'static str),
    /// A hash (root or branch child) is not unpadded RFC 4648 base32 of
    /// [`crate::MIN_HASH_LEN`]..=[`crate::MAX_HASH_LEN`] bytes.
    #[error("bad base32 hash {hash:?}")]
    BadHash {
        /// The offending text (cut to 64 characters).
        hash: String,
    },
    /// A branch has an empty child between commas (or a trailing comma).
    #[error("branch entry has an empty child hash")]
    EmptyChild,
    /// The root signature is not unpadded URL-safe base64 of 65 bytes.
    #[error("bad base64 signature (want {} bytes)", crate::SIGNATURE_LEN)]
    BadSignatureEncoding,
    /// An `enrtree://` link has no `<key>@` part.
    #[error("link has no public key (want enrtree://<base32 key>@<domain>)")]
    MissingPublicKey,
    /// The link's public key is not base32 of a 33-byte compressed secp256k1 key.
    #[error("link public key is not base32 of a compressed secp256k1 key")]
    BadPublicKey,
    /// The link's domain is empty, too long or has a bad character.
    #[error("bad domain {domain:?}: {reason}")]
    BadDomain {
        /// The domain (cut to 64 characters).
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A URL that does not start with `enrtree://`.
    #[error("not an enrtree:// URL")]
    NotEnrtreeUrl,
    /// An `enr:` leaf whose record does not decode or verify (bad base64,
    /// bad RLP, bad signature, too large).
    #[error("bad node record: {0}")]
    BadEnr(#[from] EnrError),
}

impl EntryError {
    pub(crate) fn bad_hash(text: &str) -> Self {
        EntryError::BadHash {
            hash: text.chars().take(crate::entry::QUOTE_LEN).collect(),
        }
    }
}

/// What can go wrong while resolving a tree: DNS failures, malformed or
/// unverifiable entries, limits. Nothing that fails one of these checks is
/// ever returned as a record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A TXT record at `name` did not parse.
    #[error("{name}: {source}")]
    Entry {
        /// The DNS name queried.
        name: String,
        /// What was wrong.
        #[source]
        source: EntryError,
    },
    /// The root's signature does not verify against the URL's public key.
    #[error("{domain}: root signature does not match the tree's public key")]
    InvalidSignature {
        /// The tree's domain.
        domain: String,
    },
    /// An entry's text does not hash to the name it was found under (the
    /// parent's reference).
    #[error("{name}: entry text does not match its hash")]
    HashMismatch {
        /// The DNS name queried.
        name: String,
    },
    /// A TXT record is larger than [`crate::MAX_TXT_LEN`].
    #[error("{name}: TXT record of {len} bytes, more than the {max} allowed")]
    TxtTooLarge {
        /// The DNS name queried.
        name: String,
        /// Its length in bytes (the character-strings concatenated).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A lookup did not complete in the configured time (the whole lookup,
    /// retries included).
    #[error("{name}: no answer within {after:?}")]
    Timeout {
        /// The DNS name queried.
        name: String,
        /// The time limit that passed.
        after: Duration,
    },
    /// The DNS lookup failed (no such name, server failure, network error).
    #[error("{name}: DNS lookup failed: {reason}")]
    Lookup {
        /// The DNS name queried.
        name: String,
        /// The resolver's description.
        reason: String,
    },
    /// The tree's domain has no TXT record starting with `enrtree-root:v1`.
    #[error("{domain}: no enrtree-root:v1 record")]
    NoRoot {
        /// The tree's domain.
        domain: String,
    },
    /// A hash subdomain has no TXT record that is a tree entry.
    #[error("{name}: no tree entry")]
    NoEntry {
        /// The DNS name queried.
        name: String,
    },
    /// A TXT record is not UTF-8.
    #[error("{name}: TXT record is not UTF-8")]
    NotUtf8 {
        /// The DNS name queried.
        name: String,
    },
    /// An `enr:` leaf in the link subtree (EIP-1459: links only there).
    #[error("{name}: node record in the link subtree")]
    EnrInLinkTree {
        /// The DNS name queried.
        name: String,
    },
    /// An `enrtree://` leaf in the node subtree (EIP-1459: records only there).
    #[error("{name}: link in the node subtree")]
    LinkInEnrTree {
        /// The DNS name queried.
        name: String,
    },
    /// The resolver could not be set up (e.g. no usable `/etc/resolv.conf`).
    #[error("DNS resolver configuration: {reason}")]
    ResolverConfig {
        /// The resolver's description.
        reason: String,
    },
    /// Links between trees form a loop: `to` links back (directly or
    /// through other trees) to `from`'s ancestors. The walk visits every
    /// tree once, so a loop never repeats work; a download reports it.
    #[error("link loop: {from} links to {to}, which leads back to {from}")]
    LinkLoop {
        /// Domain of the tree holding the link.
        from: String,
        /// Domain the link points to.
        to: String,
    },
    /// Two links name the same domain with different public keys.
    #[error("{domain}: linked with two different public keys")]
    ConflictingKey {
        /// The domain.
        domain: String,
    },
    /// More trees than [`crate::ClientConfig::max_trees`] are linked.
    #[error("more than {max} linked trees; {domain} not followed")]
    TooManyTrees {
        /// The domain not followed.
        domain: String,
        /// The limit.
        max: usize,
    },
    /// A tree has more entries than [`crate::MAX_TREE_ENTRIES`].
    #[error("{domain}: more than {max} entries")]
    TreeTooLarge {
        /// The tree's domain.
        domain: String,
        /// The limit.
        max: usize,
    },
    /// The root's sequence number went down since the last check (EIP-1459:
    /// it must not); the old root is kept.
    #[error("{domain}: root seq went back from {old} to {new}")]
    SeqWentBack {
        /// The tree's domain.
        domain: String,
        /// The sequence number seen before.
        old: u64,
        /// The lower one just resolved.
        new: u64,
    },
}
