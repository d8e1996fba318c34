//! Iterative Kademlia lookups (geth `p2p/discover/lookup.go`) and the
//! random-nodes stream built on them.
//!
//! A lookup runs in the caller's task and talks to the service through the
//! handle: α FindNode queries in flight, the 16 closest seen kept, done when
//! every one of them has been asked.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt};

use super::error::DiscoverError;
use super::table::BUCKET_SIZE;
use super::Discv4;
use crate::node::{distance_cmp, Node, NodeId};

/// Concurrent FindNode queries per lookup (Kademlia α; geth `alpha`).
pub const ALPHA: usize = 3;
/// While the table is empty, how often the random-nodes stream looks at its
/// size (a local read, no packet) before starting the next lookup: a lookup
/// on an empty table finds nothing (go-ethereum's lookup iterator waits for
/// the table to fill too, `lookupFailed` in p2p/discover/lookup.go).
pub const EMPTY_LOOKUP_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest time between the starts of two random lookups of one stream:
/// 1 s, go-ethereum's `minInterval` in `lookupIterator.slowdown`
/// (p2p/discover/lookup.go), so a consumer that drains results quickly
/// never turns the stream into a packet storm.
pub const MIN_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// What a lookup found and how it went.
#[derive(Debug, Clone, Default)]
pub struct LookupResult {
    /// The closest nodes that answered, nearest first, at most [`BUCKET_SIZE`].
    pub nodes: Vec<Node>,
    /// Hops: the longest chain seed → … → queried node (seeds from the
    /// table are hop 1).
    pub rounds: u32,
    /// FindNode queries sent.
    pub queries: u32,
    /// True when the service closed during the lookup.
    pub closed: bool,
}

struct Candidate {
    node: Node,
    hash: [u8; 32],
    round: u32,
    asked: bool,
}

/// Runs one lookup for `target`.
pub(crate) async fn run(handle: &Discv4, target: NodeId) -> LookupResult {
    let target_hash = target.hash();
    let mut out = LookupResult::default();
    let seeds = match handle.closest(target_hash).await {
        Ok(s) => s,
        Err(_) => {
            out.closed = true;
            return out;
        }
    };
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut result: Vec<Candidate> = Vec::new();
    let insert = |result: &mut Vec<Candidate>, seen: &mut HashSet<NodeId>, n: Node, round: u32| {
        if n.id == handle.self_id || !seen.insert(n.id) {
            return;
        }
        let hash = n.id.hash();
        let pos = result
            .binary_search_by(|c| distance_cmp(&target_hash, &c.hash, &hash))
            .unwrap_or_else(|p| p);
        if pos < BUCKET_SIZE {
            result.insert(
                pos,
                Candidate {
                    node: n,
                    hash,
                    round,
                    asked: false,
                },
            );
            result.truncate(BUCKET_SIZE);
        }
    };
    for n in seeds {
        insert(&mut result, &mut seen, n, 1);
    }
    let mut inflight = FuturesUnordered::new();
    loop {
        while inflight.len() < ALPHA {
            let Some(c) = result.iter_mut().find(|c| !c.asked) else {
                break;
            };
            c.asked = true;
            out.queries += 1;
            out.rounds = out.rounds.max(c.round);
            let node = c.node.clone();
            let round = c.round;
            let h = handle.clone();
            inflight.push(async move {
                let r = h.find_node(&node, target).await;
                (node.id, round, r)
            });
        }
        let Some((id, round, res)) = inflight.next().await else {
            break;
        };
        match res {
            Ok(nodes) => {
                for n in nodes {
                    insert(&mut result, &mut seen, n, round + 1);
                }
            }
            Err(DiscoverError::Closed) => {
                out.closed = true;
                return out;
            }
            Err(_) => result.retain(|c| c.node.id != id),
        }
    }
    out.nodes = result.into_iter().map(|c| c.node).collect();
    out
}

type LookupFuture = Pin<Box<dyn Future<Output = LookupResult> + Send>>;

/// A never-ending stream of nodes found by random lookups (what the
/// Server's dialer consumes). Buffers at most one lookup's results
/// ([`BUCKET_SIZE`] nodes); the next lookup starts only when the buffer is
/// drained, at least [`MIN_LOOKUP_INTERVAL`] after the previous one, and
/// only once the table has a node (checked every [`EMPTY_LOOKUP_BACKOFF`]).
/// Ends when the service shuts down.
pub struct RandomNodes {
    handle: Discv4,
    buffer: VecDeque<Node>,
    running: Option<LookupFuture>,
    /// When the previous lookup started.
    last_start: Option<tokio::time::Instant>,
    done: bool,
}

impl std::fmt::Debug for RandomNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomNodes")
            .field("buffered", &self.buffer.len())
            .field("lookup_running", &self.running.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RandomNodes {
    pub(crate) fn new(handle: Discv4) -> Self {
        RandomNodes {
            handle,
            buffer: VecDeque::new(),
            running: None,
            last_start: None,
            done: false,
        }
    }
}

impl Stream for RandomNodes {
    type Item = Node;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Node>> {
        loop {
            // Ends at shutdown even with nodes still buffered.
            if self.done || self.handle.tx.is_closed() {
                self.done = true;
                return Poll::Ready(None);
            }
            if let Some(n) = self.buffer.pop_front() {
                return Poll::Ready(Some(n));
            }
            if self.running.is_none() {
                let h = self.handle.clone();
                let now = tokio::time::Instant::now();
                let start = match self.last_start {
                    Some(last) => (last + MIN_LOOKUP_INTERVAL).max(now),
                    None => now,
                };
                self.last_start = Some(start);
                self.running = Some(Box::pin(async move {
                    tokio::time::sleep_until(start).await;
                    // Wait for the table to have a node instead of running
                    // lookups that cannot find anything, asking the service
                    // to re-add the bootnodes (it rate-limits that): a node
                    // whose bootstrap failed must not wait for the periodic
                    // refresh (go-ethereum's `lookupFailed` does the same).
                    while h.bucket_fill().iter().all(|&n| n == 0) && !h.tx.is_closed() {
                        // A full command queue means the service is busy;
                        // the next round asks again.
                        let _ = h.tx.try_send(super::service::Command::Reseed);
                        tokio::time::sleep(EMPTY_LOOKUP_BACKOFF).await;
                    }
                    run(&h, super::random_target()).await
                }));
            }
            let fut = self.running.as_mut().expect("set above");
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    self.running = None;
                    if r.closed {
                        self.done = true;
                    }
                    self.buffer.extend(r.nodes);
                }
            }
        }
    }
}
