//! [`Candidate`]: a node offered to the dialer, with its record when known
//! and the source it came from; [`DialFilter`]: the user's say on which
//! candidates are dialed.

use std::fmt;
use std::sync::Arc;

use crate::enr_entries::{EthEntry, EthEntryError};
use crate::node::{Enr, IpFamilies, Node};

/// A dial candidate: the node, its signed record when the source had it or
/// it was fetched (discv4 candidates get theirs fetched in the background
/// when a [`DialFilter`] is set), and the name of the source it came from.
///
/// Sources yield anything that converts into one: a [`Node`] (no record)
/// or an [`Enr`] (a discv5 or DNS list result).
#[derive(Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node to dial.
    pub node: Node,
    /// Its signed record, when known.
    pub record: Option<Enr>,
    /// The name of the source that produced it (set by the server when it
    /// takes the candidate from the source; empty before).
    pub source: Arc<str>,
}

impl Candidate {
    /// A candidate without a record.
    pub fn new(node: Node) -> Self {
        Candidate {
            node,
            record: None,
            source: Arc::from(""),
        }
    }

    /// The endpoint to dial when we have sockets of `families`: a record's
    /// endpoint of a reachable family (IPv4 first unless its IPv6 address
    /// reaches further, as go-ethereum's `enode.New`; see
    /// [`Node::from_enr_reachable`]); [`Candidate::node`] without a record,
    /// or when the record has no endpoint of a reachable family (the dial
    /// may still work through a route we do not listen on).
    pub fn endpoint(&self, families: IpFamilies) -> Node {
        match &self.record {
            Some(record) => match Node::from_enr_reachable(record, families) {
                Ok(node) if node.is_complete() => node,
                _ => self.node.clone(),
            },
            None => self.node.clone(),
        }
    }

    /// The `eth` entry of the record: `None` without a record or entry,
    /// `Some(Err)` when the entry is malformed.
    pub fn eth_entry(&self) -> Option<Result<EthEntry, EthEntryError>> {
        EthEntry::from_record(self.record.as_ref()?).transpose()
    }
}

impl From<Node> for Candidate {
    fn from(node: Node) -> Self {
        Candidate::new(node)
    }
}

impl From<Enr> for Candidate {
    /// The node is read from the record; a record with a malformed endpoint
    /// gives a node without an address (the dialer skips it as
    /// "no TCP endpoint", the filter still sees the record).
    fn from(record: Enr) -> Self {
        let node = Node::from_enr(&record).unwrap_or_else(|_| Node::incomplete(record.node_id()));
        Candidate {
            node,
            record: Some(record),
            source: Arc::from(""),
        }
    }
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("node", &self.node.to_string())
            .field("record_seq", &self.record.as_ref().map(Enr::seq))
            .field("source", &self.source)
            .finish()
    }
}

/// Decides whether a dial candidate may be dialed (`true`) or is skipped.
/// Runs in the source's feeder task, never in the server task, so a slow
/// filter only slows its own source. Set it in
/// [`Config::dial_filter`](crate::config::Config::dial_filter); static
/// nodes are not filtered.
pub type DialFilter = Arc<dyn Fn(&Candidate) -> bool + Send + Sync>;
