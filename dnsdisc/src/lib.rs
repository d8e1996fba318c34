//! EIP-1459 node lists over DNS: publish a signed set of node records as
//! DNS TXT records, and find nodes in such lists.
//!
//! ```
//! use devp2p_dnsdisc::{Client, ClientConfig, StaticResolver, Tree};
//! use devp2p_identity::{node_key_from_rng, Enr};
//! use rand::SeedableRng;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! // Publisher: a tree of node records, signed, as TXT records of a zone.
//! let records: Vec<Enr> = (0..3u16)
//!     .map(|i| Enr::builder().ip4([127, 0, 0, 1].into()).tcp(30303 + i).sign(&node_key_from_rng(&mut rng)))
//!     .collect::<Result<_, _>>()?;
//! let mut tree = Tree::new(1, records.clone(), vec![]);
//! let url = tree.sign(&node_key_from_rng(&mut rng), "nodes.example.org")?;
//! let zone = tree.to_txt("nodes.example.org"); // name → text, for any DNS host
//!
//! // Client: resolve (here from the map; `Client::new` uses DNS), verify, download.
//! let client = Client::with_resolver(ClientConfig::default(), StaticResolver::new(zone));
//! let synced = client.sync_tree(&url).await?;
//! assert_eq!(synced.records(), tree.records());
//! println!("{url}: {} records", synced.records().len());
//! # Ok(()) }
//! ```
//!
//! Layers: [`entry`] (the text forms: root, branch, link, `enr:` leaf,
//! `enrtree://` URL) ← [`Tree`] (building, signing, TXT and zone output) ←
//! [`Client`] (DNS through a [`TxtResolver`], every hash and signature
//! checked, an LRU of verified entries; [`Client::sync_tree`] downloads a
//! tree, [`RandomWalk`] resolves one path per step across linked trees) ←
//! [`DnsSource`] (the walk as a `Stream` of records for a dialer, with
//! back-off).
//!
//! Nothing unverified leaves the client: the root's signature must verify
//! against the URL's key, each entry's text must hash to its parent's
//! reference, and each `enr:` leaf must carry a valid record.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod client;
pub mod entry;
mod error;
mod resolver;
mod source;
mod tree;

#[cfg(test)]
mod tests;

pub use client::{
    Client, ClientConfig, RandomWalk, Step, DEFAULT_CACHE_LIMIT, DEFAULT_LOOKUP_TIMEOUT,
    DEFAULT_MAX_TREES, DEFAULT_RATE_LIMIT, DEFAULT_RECHECK_INTERVAL, MAX_OUTSTANDING_LOOKUPS,
    MAX_TREE_ENTRIES, RATE_BURST, ROOT_RECHECK_FAIL_COUNT,
};
pub use entry::{
    Entry, EntryHash, RootEntry, TreeUrl, HASH_ABBREV_LEN, MAX_BRANCH_CHILDREN, MAX_HASH_LEN,
    MAX_TXT_LEN, MIN_HASH_LEN, SIGNATURE_LEN,
};
pub use error::{EntryError, Error};
#[cfg(feature = "dns")]
pub use resolver::DnsResolver;
pub use resolver::{LookupFailure, StaticResolver, TxtResolver, DNS_ATTEMPTS};
pub use source::{is_dialable, DnsSource, ERROR_BACKOFF_MAX, ERROR_BACKOFF_MIN, IDLE_MIN_SLEEP};
pub use tree::{Tree, TXT_STRING_LEN};
