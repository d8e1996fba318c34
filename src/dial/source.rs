//! [`NodeSource`]: where dial candidates come from (discovery, a DNS list,
//! a test), as an async iterator of anything that converts into a
//! [`Candidate`] ([`Node`](crate::node::Node) or [`Enr`](crate::node::Enr)).
//!
//! The pipeline from a source to the dialer, one feeder task per source:
//!
//! ```text
//! source stream ─► stamp source name ─► [fetch record: discv4 only, when a
//! filter is set, ENR_FETCH_PARALLELISM at once] ─► dial filter ─►
//! prefetch buffer (SOURCE_PREFETCH) ─► round-robin over sources ─► DialState
//! ```
//!
//! A feeder pulls from its source only while its prefetch buffer has room,
//! so a source is never drained faster than the dialer uses it, and a slow
//! source never stalls the others: the server takes from whichever buffer
//! has a candidate, in turn.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::trace;

use super::candidate::{Candidate, DialFilter};
use super::DialSkip;
use devp2p_discover::v4::Discv4;

/// Candidates each source's feeder task holds ready for the dialer (our
/// choice: a few nodes, so a momentarily slow source still has something to
/// offer; go-ethereum buffers 32 behind its discv4 record fetch,
/// `discoveryPrefetchBuffer` in eth/backend.go, but it also has no per-source
/// round-robin in front). When full, the feeder stops pulling its source.
pub const SOURCE_PREFETCH: usize = 8;

/// Records (ENR requests, EIP-868) fetched at once per discv4 source before
/// the dial filter sees its candidates: 16, go-ethereum's
/// `maxParallelENRRequests` (eth/backend.go, `enode.AsyncFilter` on the
/// discv4 iterator since v1.15.x, 2025).
pub const ENR_FETCH_PARALLELISM: usize = 16;

/// Most distinct node source names per server (built-in and added; our
/// choice). Each name has its own metrics counters, so this bounds the
/// metrics too; [`Server::add_named_node_source`] refuses more.
///
/// [`Server::add_named_node_source`]: crate::server::Server::add_named_node_source
pub const MAX_NODE_SOURCES: usize = 32;

/// Longest node source name, in bytes (our choice; names are metric label
/// values such as `discv4`, `discv5`, `dns`).
pub const MAX_SOURCE_NAME_LEN: usize = 32;

/// The name of the discv4 random-lookup source.
pub const DISCV4_SOURCE: &str = "discv4";

/// The name of the discv5 random-lookup source.
pub const DISCV5_SOURCE: &str = "discv5";

/// Name of the EIP-1459 DNS list sources in the metrics.
pub const DNS_SOURCE: &str = "dns";

/// The name of the source of remembered peers: the best peers of earlier
/// runs, from the node database, offered at start before discovery has
/// found anything ([`Config::remembered_peers_dialed`]).
///
/// [`Config::remembered_peers_dialed`]: crate::config::Config::remembered_peers_dialed
pub const PEER_MEMORY_SOURCE: &str = "memory";

/// The name of sources added with [`Server::add_node_source`].
///
/// [`Server::add_node_source`]: crate::server::Server::add_node_source
pub const DEFAULT_SOURCE_NAME: &str = "custom";

/// An async iterator of dial candidates: any `Stream` that is
/// `Send + Unpin + 'static` and yields [`Node`](crate::node::Node)s,
/// [`Enr`](crate::node::Enr)s or [`Candidate`]s is one (for instance
/// discv4's random-nodes stream). A source that ends is dropped.
pub trait NodeSource: Stream<Item: Into<Candidate>> + Send + Unpin + 'static {}

impl<T> NodeSource for T
where
    T: Stream + Send + Unpin + 'static,
    T::Item: Into<Candidate>,
{
}

/// Why a candidate was not dialed, as counted per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The dial scheduler said no.
    Dial(DialSkip),
    /// The dial filter refused it.
    Filtered,
    /// Its record could not be fetched (discv4 candidates with a filter set).
    NoRecord,
}

/// Every [`SkipReason`] as a metrics label, in a fixed order.
pub(crate) const SKIP_LABELS: [&str; 13] = [
    "is_self",
    "already_dialing",
    "already_connected",
    "net_restrict",
    "recently_dialed",
    "banned",
    "no_endpoint",
    "no_slot",
    "inbound_pending",
    "filtered",
    "no_record",
    "backed_off",
    "too_many_failures",
];

impl SkipReason {
    fn index(self) -> usize {
        match self {
            SkipReason::Dial(DialSkip::IsSelf) => 0,
            SkipReason::Dial(DialSkip::AlreadyDialing) => 1,
            SkipReason::Dial(DialSkip::AlreadyConnected) => 2,
            SkipReason::Dial(DialSkip::NetRestrict) => 3,
            SkipReason::Dial(DialSkip::RecentlyDialed) => 4,
            SkipReason::Dial(DialSkip::Banned) => 5,
            SkipReason::Dial(DialSkip::NoEndpoint) => 6,
            SkipReason::Dial(DialSkip::NoSlot) => 7,
            SkipReason::Dial(DialSkip::InboundPending) => 8,
            SkipReason::Filtered => 9,
            SkipReason::NoRecord => 10,
            SkipReason::Dial(DialSkip::BackedOff) => 11,
            SkipReason::Dial(DialSkip::TooManyFailures) => 12,
        }
    }
}

/// Counters of one node source (by name), read by the metrics.
#[derive(Debug, Default)]
pub(crate) struct SourceCounters {
    produced: AtomicU64,
    dialed: AtomicU64,
    connected: AtomicU64,
    skipped: [AtomicU64; SKIP_LABELS.len()],
}

/// A copy of one source's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSnapshot {
    /// The source's name.
    pub name: String,
    /// Candidates the source produced.
    pub produced: u64,
    /// Candidates dialed.
    pub dialed: u64,
    /// Dials that added a peer.
    pub connected: u64,
    /// Candidates not dialed, by reason label (every label listed).
    pub skipped: Vec<(&'static str, u64)>,
}

impl SourceSnapshot {
    /// Candidates skipped for `reason` (a label such as `filtered`).
    pub fn skipped(&self, reason: &str) -> u64 {
        self.skipped
            .iter()
            .find(|(l, _)| *l == reason)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    }
}

impl SourceCounters {
    pub(crate) fn produced(&self) {
        self.produced.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn dialed(&self) {
        self.dialed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connected(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn skipped(&self, reason: SkipReason) {
        self.skipped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, name: &str) -> SourceSnapshot {
        SourceSnapshot {
            name: name.to_string(),
            produced: self.produced.load(Ordering::Relaxed),
            dialed: self.dialed.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            skipped: SKIP_LABELS
                .iter()
                .zip(&self.skipped)
                .map(|(l, n)| (*l, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// The counters of every source name a server has seen (at most
/// [`MAX_NODE_SOURCES`]), shared by the server task and the metrics.
#[derive(Debug, Default)]
pub(crate) struct SourceStats {
    by_name: Mutex<Vec<(Arc<str>, Arc<SourceCounters>)>>,
}

impl SourceStats {
    /// The counters for `name`, created on first use; `None` when
    /// [`MAX_NODE_SOURCES`] names exist already.
    pub(crate) fn counters(&self, name: &Arc<str>) -> Option<Arc<SourceCounters>> {
        let mut list = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = list.iter().find(|(n, _)| n == name) {
            return Some(c.clone());
        }
        if list.len() >= MAX_NODE_SOURCES {
            return None;
        }
        let c = Arc::new(SourceCounters::default());
        list.push((name.clone(), c.clone()));
        Some(c)
    }

    /// Every source's counters, in the order the names were first seen.
    pub(crate) fn snapshot(&self) -> Vec<SourceSnapshot> {
        let list = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        list.iter().map(|(n, c)| c.snapshot(n)).collect()
    }
}

/// A source ready to be fed to the dialer.
pub(crate) struct SourceSpec {
    /// Its name (metrics label, [`Candidate::source`]).
    pub name: Arc<str>,
    /// The candidates.
    pub stream: BoxStream<'static, Candidate>,
    /// Where to fetch records of candidates without one (discv4 sources).
    pub records: Option<Discv4>,
}

impl SourceSpec {
    /// A source named `name` with no record fetching.
    pub(crate) fn new(name: &str, source: impl NodeSource) -> Self {
        SourceSpec {
            name: Arc::from(name),
            stream: source.map(Into::into).boxed(),
            records: None,
        }
    }
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSpec")
            .field("name", &self.name)
            .field("fetches_records", &self.records.is_some())
            .finish()
    }
}

/// One source as the server task sees it: the prefetch buffer its feeder
/// task fills.
struct Feed {
    rx: mpsc::Receiver<Candidate>,
    counters: Arc<SourceCounters>,
}

/// Every node source of a server: the feeder tasks (owned here, aborted on
/// drop or [`NodeSources::shutdown`]) and their prefetch buffers, taken from
/// in turn.
pub(crate) struct NodeSources {
    feeds: Vec<Feed>,
    /// Index of the feed asked first next time (round-robin).
    next: usize,
    tasks: JoinSet<()>,
    filter: Option<DialFilter>,
    stats: Arc<SourceStats>,
}

impl NodeSources {
    /// No sources; `filter` applies to every source added later.
    pub(crate) fn new(filter: Option<DialFilter>, stats: Arc<SourceStats>) -> Self {
        NodeSources {
            feeds: Vec::new(),
            next: 0,
            tasks: JoinSet::new(),
            filter,
            stats,
        }
    }

    /// Starts feeding `spec` to the dialer; `false` (and nothing started)
    /// when [`MAX_NODE_SOURCES`] source names exist already. Must be called
    /// inside a Tokio runtime.
    pub(crate) fn push(&mut self, spec: SourceSpec) -> bool {
        let Some(counters) = self.stats.counters(&spec.name) else {
            return false;
        };
        let (tx, rx) = mpsc::channel(SOURCE_PREFETCH);
        self.tasks
            .spawn(feed(spec, self.filter.clone(), counters.clone(), tx));
        self.feeds.push(Feed { rx, counters });
        true
    }

    /// The per-source counters (shared with the metrics).
    pub(crate) fn stats(&self) -> Arc<SourceStats> {
        self.stats.clone()
    }

    /// Whether there is no (unfinished) source.
    pub(crate) fn is_empty(&self) -> bool {
        self.feeds.is_empty()
    }

    /// The next candidate, taking from the sources in turn (the one after
    /// the last that gave one is asked first), with its source's counters.
    /// `None` once every source ended; pends while none has a candidate
    /// (forever when there is no source, so guard it with `is_empty` in
    /// `select!`).
    pub(crate) async fn next(&mut self) -> Option<(Candidate, Arc<SourceCounters>)> {
        futures::future::poll_fn(|cx| {
            if self.feeds.is_empty() {
                return Poll::Pending;
            }
            let n = self.feeds.len();
            let mut ended = Vec::new();
            let mut got = None;
            for i in 0..n {
                let idx = (self.next + i) % n;
                match self.feeds[idx].rx.poll_recv(cx) {
                    Poll::Ready(Some(c)) => {
                        got = Some((idx, c));
                        break;
                    }
                    Poll::Ready(None) => ended.push(idx),
                    Poll::Pending => {}
                }
            }
            if let Some((idx, c)) = got {
                let counters = self.feeds[idx].counters.clone();
                self.next = idx + 1;
                self.remove(&ended);
                return Poll::Ready(Some((c, counters)));
            }
            self.remove(&ended);
            if self.feeds.is_empty() {
                trace!(target: super::TARGET, "every node source ended");
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Drops the ended feeds at `ended` (ascending indices), keeping the
    /// round-robin position on the same feed where possible.
    fn remove(&mut self, ended: &[usize]) {
        for &idx in ended.iter().rev() {
            self.feeds.remove(idx);
            if idx < self.next {
                self.next -= 1;
            }
        }
        if self.next >= self.feeds.len() {
            self.next = 0;
        }
    }

    /// Stops every feeder task and waits until they ended.
    pub(crate) async fn shutdown(&mut self) {
        self.feeds.clear();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl fmt::Debug for NodeSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSources")
            .field("len", &self.feeds.len())
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

/// The feeder task of one source: stamps, counts, fetches records (discv4
/// with a filter), filters, and fills the prefetch buffer; ends with its
/// source or when the buffer's receiver is gone.
async fn feed(
    spec: SourceSpec,
    filter: Option<DialFilter>,
    counters: Arc<SourceCounters>,
    tx: mpsc::Sender<Candidate>,
) {
    let name = spec.name.clone();
    let stamped = {
        let counters = counters.clone();
        spec.stream.map(move |mut c| {
            counters.produced();
            c.source = name.clone();
            c
        })
    };
    // Records are fetched only when a filter will look at them.
    let candidates: BoxStream<'static, Option<Candidate>> = match (&filter, spec.records) {
        (Some(_), Some(disc)) => stamped
            .map(move |c| fetch_record(disc.clone(), c))
            .buffer_unordered(ENR_FETCH_PARALLELISM)
            .boxed(),
        _ => stamped.map(Some).boxed(),
    };
    let mut candidates = candidates;
    while let Some(c) = candidates.next().await {
        let Some(c) = c else {
            counters.skipped(SkipReason::NoRecord);
            continue;
        };
        if let Some(f) = &filter {
            if !f(&c) {
                trace!(target: super::TARGET, node = %c.node, source = %c.source, "candidate filtered");
                counters.skipped(SkipReason::Filtered);
                continue;
            }
        }
        if tx.send(c).await.is_err() {
            return;
        }
    }
}

/// Fetches `c`'s record unless it has one; `None` when the request failed
/// (as go-ethereum's resolver drops nodes whose record it cannot get).
async fn fetch_record(disc: Discv4, mut c: Candidate) -> Option<Candidate> {
    if c.record.is_some() {
        return Some(c);
    }
    match disc.request_enr(&c.node).await {
        Ok(record) if record.node_id() == c.node.id => {
            c.record = Some(record);
            Some(c)
        }
        Ok(_) => None,
        Err(e) => {
            trace!(target: super::TARGET, node = %c.node, error = %e, "record request failed");
            None
        }
    }
}
