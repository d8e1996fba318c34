//! The service task: owns the socket, the table, the endpoint proofs and the
//! requests waiting for replies, and answers packets as go-ethereum's
//! `p2p/discover/v4_udp.go` does.
//!
//! Everything here runs on one task; packet handlers take `now` explicitly
//! so that simulated (paused tokio) time drives them like real time. The
//! per-packet handlers are in `handlers`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use secp256k1::SecretKey;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use super::bonds::{Bonds, RateLimiter};
use super::config::Discv4Config;
use super::error::DiscoverError;
use super::inbound::{InboundQueue, Pushed, SourceClass, DRAIN_BATCH};
use super::stats::PacketStats;
use super::table::{node_udp_addr, Table, BUCKET_SIZE};
use super::transport::DatagramTransport;
use super::wire::{self, Endpoint, Message, MAX_PACKET_SIZE};
use crate::node::{Enr, LocalNode, Node, NodeId};
use devp2p_netutil::IpTracker;

/// Tracing target for discovery.
pub(crate) const TARGET: &str = "p2p::discover";

/// Consecutive FindNode failures after which a node leaves the table, if its
/// bucket holds at least a quarter of [`BUCKET_SIZE`] (geth `maxFindnodeFailures`).
pub const MAX_FINDNODE_FAILURES: u32 = 5;

/// Shortest time between two refreshes asked for because the table is
/// empty (a reseed command): 5 s. go-ethereum's lookup iterator asks for a
/// refresh each time it finds the table empty (`lookupFailed` in
/// p2p/discover/lookup.go), bounded only by one refresh at a time; we add
/// this floor so an isolated node costs each bootnode at most one bond and
/// lookup per 5 s, while a node whose bootstrap failed (a bootnode that was
/// busy or not yet up) rejoins within seconds instead of waiting 15–30 min
/// for the periodic refresh.
pub const RESEED_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// How long after its reply timeout a PONG still proves its sender's
/// endpoint: 5 s. go-ethereum drops late replies. We keep the proof a late
/// PONG carries (it is signed and names our PING's hash, as good a proof as
/// a timely one), because dropping it is what turns overload into collapse:
/// measured in a 200-node devnet in one process on two busy cores, one-way
/// delays reached p50 0.8 s, p90 2.0 s, p99 5.8 s; nine in ten PONGs came
/// after the 500 ms timeout, so nodes never bonded and every failed bond
/// cost another PING round. The request itself still times out as before.
pub const LATE_PONG_GRACE: Duration = Duration::from_secs(5);

/// Timed-out PINGs remembered for [`LATE_PONG_GRACE`]: 256 (our choice,
/// ~32 KB per service at most, allocated only as PINGs time out; when full the oldest is forgotten).
pub const LATE_PINGS_REMEMBERED: usize = 256;
/// Agreeing endpoint statements needed before we believe our external
/// endpoint (issue requirement; geth `iptrackMinStatements` = 10).
pub const MIN_ENDPOINT_STATEMENTS: usize = 10;
/// How long an endpoint statement counts (geth `iptrackWindow`, 5 min).
pub(super) const ENDPOINT_STATEMENT_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(5 * 60);
/// How long a contact counts for full-cone NAT detection (geth `iptrackContactWindow`, 10 min).
pub(super) const ENDPOINT_CONTACT_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(10 * 60);

/// The wall-clock time corresponding to tokio instant `t`. Under paused
/// (virtual) time tokio's clock drifts from the real one; mapping through
/// the std clock gives every service in the process the same answer, so
/// packet expirations agree between simulated nodes created seconds apart.
/// A thread with a [`sim::ClockAnchor`](super::sim::ClockAnchor) maps
/// through the anchor instead, so whole seconds fall at the same virtual
/// instants in every run.
pub(crate) fn wall_clock_at(t: Instant) -> std::time::SystemTime {
    if let Some((at, unix)) = super::sim::clock_anchor() {
        return if t >= at {
            unix + (t - at)
        } else {
            unix - (at - t)
        };
    }
    let std_now = std::time::Instant::now();
    let sys_now = std::time::SystemTime::now();
    let t = t.into_std();
    if t <= std_now {
        sys_now - (std_now - t)
    } else {
        sys_now + (t - std_now)
    }
}

/// Requests the handle sends to the service task.
pub(crate) enum Command {
    Ping {
        node: Node,
        tx: oneshot::Sender<Result<(), DiscoverError>>,
    },
    FindNode {
        node: Node,
        target: NodeId,
        tx: oneshot::Sender<Result<Vec<Node>, DiscoverError>>,
    },
    RequestEnr {
        node: Node,
        tx: oneshot::Sender<Result<Enr, DiscoverError>>,
    },
    Closest {
        target: [u8; 32],
        tx: oneshot::Sender<Vec<Node>>,
    },
    TableNodes {
        tx: oneshot::Sender<Vec<Node>>,
    },
    BucketSizes {
        tx: oneshot::Sender<Vec<usize>>,
    },
    /// The first self lookup finished: accept inbound nodes from now on
    /// (geth refuses them until its table is initialised).
    InitDone,
    /// The random-nodes stream found the table empty: refresh now (which
    /// re-adds the bootnodes) unless a refresh is running or the last
    /// reseed was less than [`RESEED_MIN_INTERVAL`] ago.
    Reseed,
    /// Pre-seeds the table (simulation, tests): nodes count as proven.
    Seed {
        nodes: Vec<Node>,
    },
    Shutdown {
        tx: oneshot::Sender<()>,
    },
}

/// A request that needs the remote to hold an endpoint proof for us.
enum Deferred {
    FindNode {
        node: Node,
        target: NodeId,
        tx: oneshot::Sender<Result<Vec<Node>, DiscoverError>>,
    },
    Enr {
        node: Node,
        tx: oneshot::Sender<Result<Enr, DiscoverError>>,
    },
}

impl Deferred {
    fn fail(self, e: DiscoverError) {
        match self {
            Deferred::FindNode { tx, .. } => drop(tx.send(Err(e))),
            Deferred::Enr { tx, .. } => drop(tx.send(Err(e))),
        }
    }
}

/// What to do when a ping is answered (or times out).
enum PingPurpose {
    User(oneshot::Sender<Result<(), DiscoverError>>),
    /// We pinged back a node that pinged us; add it when it answers.
    PingBack(Node),
    Revalidate(NodeId),
    /// Bond before sending the deferred request.
    Bond(Deferred),
}

enum PendingKind {
    Pong {
        ping_hash: [u8; 32],
        purpose: PingPurpose,
    },
    Neighbors {
        nodes: Vec<Node>,
        /// At least one Neighbors packet arrived (possibly with no usable
        /// node): the request then ends without an error, as in geth.
        replied: bool,
        tx: oneshot::Sender<Result<Vec<Node>, DiscoverError>>,
    },
    Enr {
        request_hash: [u8; 32],
        /// `None`: fetched by revalidation to refresh the table entry.
        tx: Option<oneshot::Sender<Result<Enr, DiscoverError>>>,
    },
}

/// A PING whose PONG did not come in time.
struct LatePing {
    id: NodeId,
    ip: IpAddr,
    hash: [u8; 32],
    expired: Instant,
}

struct Pending {
    id: NodeId,
    ip: IpAddr,
    deadline: Instant,
    kind: PendingKind,
}

struct BondWaiter {
    id: NodeId,
    deadline: Instant,
    deferred: Deferred,
}

/// The task state.
pub(crate) struct Service<T> {
    transport: T,
    local: LocalNode,
    key: SecretKey,
    self_id: NodeId,
    cfg: Discv4Config,
    table: Table,
    bonds: Bonds,
    rate: RateLimiter,
    /// Datagrams read ahead of handling, served round robin by source,
    /// proven sources first.
    inbound: InboundQueue,
    /// Predicts our IPv4 endpoint from what IPv4 peers report.
    ip_tracker: IpTracker,
    /// The same for IPv6 (a dual-stack node has one endpoint per family,
    /// as go-ethereum's LocalNode keeps `endpoint4` and `endpoint6`).
    ip_tracker_v6: IpTracker,
    /// Refresh jitter and random lookup targets, seeded from `cfg.seed` so
    /// simulations replay the same schedule.
    rng: rand::rngs::StdRng,
    pending: Vec<Pending>,
    bond_waiters: Vec<BondWaiter>,
    /// FindNode requests waiting for an earlier one to the same node to end
    /// (at most `max_pending_replies`; beyond that, `TooManyPending`).
    queued_finds: std::collections::VecDeque<Deferred>,
    /// PINGs whose reply timed out, newest last (see [`LATE_PONG_GRACE`]).
    late_pings: std::collections::VecDeque<LatePing>,
    cmd_rx: mpsc::Receiver<Command>,
    weak_tx: mpsc::WeakSender<Command>,
    jobs: JoinSet<()>,
    next_refresh: Instant,
    /// When an empty table last triggered a refresh ([`Command::Reseed`]).
    last_reseed: Option<Instant>,
    init_done: bool,
    /// Wall-clock time at `clock_base`, so expirations follow (possibly
    /// paused) tokio time and all services in one process agree on it.
    unix_base: std::time::SystemTime,
    clock_base: Instant,
    pub(crate) stats: Arc<PacketStats>,
}

impl<T: DatagramTransport> Service<T> {
    pub(crate) fn new(
        transport: T,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv4Config,
        cmd_rx: mpsc::Receiver<Command>,
        weak_tx: mpsc::WeakSender<Command>,
        stats: Arc<PacketStats>,
    ) -> Self {
        let self_id = local.id();
        let now = Instant::now();
        let seed = cfg.seed.unwrap_or_else(rand::random);
        let mut cfg = cfg;
        let db_seeds = persist::seeds(cfg.db.as_ref(), seed);
        // Seeds from the database are contacted like bootnodes at refresh.
        cfg.bootnodes
            .extend(db_seeds.into_iter().filter(|n| n.id != self_id));
        // Nodes outside `net_restrict` are never contacted, bootnodes
        // included (a known network's bootnodes with a private netrestrict
        // must send nothing out).
        if let Some(list) = &cfg.net_restrict {
            cfg.bootnodes
                .retain(|n| n.ip.is_some_and(|ip| list.contains(ip)));
        }
        // Refresh at once when there is someone to ask; a node without
        // bootnodes (a bootnode itself) waits for inbound contacts.
        let has_seeds = !cfg.bootnodes.is_empty();
        let next_refresh = if has_seeds {
            now
        } else {
            now + cfg.refresh_interval / 2
        };
        Service {
            table: Table::new(self_id, cfg.ping_interval, seed),
            rng: rand::SeedableRng::seed_from_u64(seed ^ 0x5eed_5eed),
            bonds: Bonds::new(cfg.bond_expiration),
            rate: RateLimiter::new(
                cfg.packet_rate_per_ip,
                cfg.packet_burst_per_ip,
                cfg.exempt_loopback_from_rate_limit,
            ),
            ip_tracker: IpTracker::new(
                ENDPOINT_STATEMENT_WINDOW,
                ENDPOINT_CONTACT_WINDOW,
                MIN_ENDPOINT_STATEMENTS,
            ),
            ip_tracker_v6: IpTracker::new(
                ENDPOINT_STATEMENT_WINDOW,
                ENDPOINT_CONTACT_WINDOW,
                MIN_ENDPOINT_STATEMENTS,
            ),
            transport,
            inbound: InboundQueue::default(),
            local,
            key,
            self_id,
            pending: Vec::new(),
            bond_waiters: Vec::new(),
            queued_finds: std::collections::VecDeque::new(),
            late_pings: std::collections::VecDeque::new(),
            cmd_rx,
            weak_tx,
            jobs: JoinSet::new(),
            next_refresh,
            last_reseed: None,
            init_done: !has_seeds,
            unix_base: wall_clock_at(now),
            clock_base: now,
            cfg,
            stats,
        }
    }

    fn unix(&self, now: Instant) -> u64 {
        (self.unix_base + now.saturating_duration_since(self.clock_base))
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn expiration(&self, now: Instant) -> u64 {
        self.unix(now) + wire::EXPIRATION_SECS
    }

    /// Runs until shutdown or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        let shutdown_tx = loop {
            let wake = self.next_wakeup();
            self.stats.set_buckets(&self.table);
            // Biased, in this order: due timers and commands are never
            // starved by a flood of datagrams, and the same inputs give the
            // same schedule (simulations replay exactly from their seed;
            // an unbiased select picks among ready branches at random).
            tokio::select! {
                biased;
                _ = sleep_until(wake) => self.on_timer(Instant::now()),
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Command::Shutdown { tx }) => break Some(tx),
                    Some(cmd) => self.handle_command(cmd, Instant::now()),
                    None => break None,
                },
                Some(_) = self.jobs.join_next(), if !self.jobs.is_empty() => {
                    self.init_done = true;
                }
                // Datagrams read ahead: handle the next (fairly by source),
                // reading what came meanwhile first.
                () = std::future::ready(()), if !self.inbound.is_empty() => {
                    self.drain_socket(&mut buf);
                    self.handle_next_queued();
                    // This branch is always ready while datagrams wait: give
                    // the runtime its turn (timers, the cooperative budget
                    // of the branches above) before the next one.
                    tokio::task::yield_now().await;
                }
                res = self.transport.recv_from(&mut buf) => match res {
                    Ok((n, from)) => {
                        // A transport that reads ahead: queue this one and
                        // what else is ready; else handle it at once.
                        self.queue_datagram(&buf[..n], from);
                        self.drain_socket(&mut buf);
                        self.handle_next_queued();
                    }
                    Err(e) => {
                        // ICMP errors surface here on some platforms; keep going.
                        tracing::trace!(target: TARGET, error = %e, "recv error");
                    }
                },
            }
        };
        self.jobs.shutdown().await;
        self.stats.clear_buckets();
        // Release the database before acknowledging shutdown, so a caller can
        // reopen the file as soon as `shutdown()` returns.
        if let Some(db) = self.cfg.db.take() {
            // Make the non-durable liveness writes persistent.
            if let Err(e) = db.flush() {
                tracing::debug!(target: TARGET, error = %e, "node database flush failed");
            }
        }
        // Dropping the pending oneshots tells waiting callers `Closed`.
        self.pending.clear();
        self.bond_waiters.clear();
        self.queued_finds.clear();
        // Closed before the acknowledgement, so handles (and RandomNodes
        // streams) see the service gone as soon as `shutdown()` returns.
        self.cmd_rx.close();
        drop(self.transport);
        if let Some(tx) = shutdown_tx {
            let _ = tx.send(());
        }
    }

    /// Queues a received datagram (see `inbound.rs`), its source classed by
    /// whether it proved its address; what the queue sheds counts as
    /// dropped.
    fn queue_datagram(&mut self, data: &[u8], from: SocketAddr) {
        let class = if self.bonds.source_proven(from.ip(), Instant::now()) {
            SourceClass::Proven
        } else {
            SourceClass::Unproven
        };
        match self.inbound.push(data, from, class) {
            Pushed::Queued => {}
            Pushed::QueuedDroppingOne | Pushed::Dropped => {
                tracing::trace!(target: TARGET, %from, "inbound queue full: datagram shed");
                self.stats.dropped();
            }
        }
    }

    /// Reads up to [`DRAIN_BATCH`] datagrams that are ready now into the
    /// inbound queue.
    fn drain_socket(&mut self, buf: &mut [u8]) {
        for _ in 0..DRAIN_BATCH {
            match self.transport.try_recv_from(buf) {
                Ok((n, from)) => self.queue_datagram(&buf[..n], from),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::trace!(target: TARGET, error = %e, "recv error");
                    return;
                }
            }
        }
    }

    /// Handles the queued datagram whose turn it is.
    fn handle_next_queued(&mut self) {
        if let Some(d) = self.inbound.pop() {
            self.handle_datagram(&d.data, d.from, Instant::now());
        }
    }

    fn next_wakeup(&self) -> Instant {
        let mut t = self.next_refresh;
        if let Some(r) = self.table.next_revalidation() {
            t = t.min(r);
        }
        for p in &self.pending {
            t = t.min(p.deadline);
        }
        for w in &self.bond_waiters {
            t = t.min(w.deadline);
        }
        t
    }

    fn on_timer(&mut self, now: Instant) {
        // Expired requests.
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline <= now {
                let p = self.pending.swap_remove(i);
                self.expire(p, now);
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.bond_waiters.len() {
            if self.bond_waiters[i].deadline <= now {
                let w = self.bond_waiters.swap_remove(i);
                self.send_deferred(w.deferred, now);
            } else {
                i += 1;
            }
        }
        for node in self.table.due_revalidations(now) {
            if let Err(e) = self.send_ping(&node, PingPurpose::Revalidate(node.id), now) {
                tracing::trace!(target: TARGET, error = %e, "revalidation ping not sent");
            }
        }
        if self.next_refresh <= now {
            self.refresh(now);
        }
    }

    /// Seeds bootnodes and starts a self lookup plus random lookups (geth `doRefresh`).
    fn refresh(&mut self, now: Instant) {
        let half = self.cfg.refresh_interval / 2;
        let jitter = super::random_delay(&mut self.rng, half);
        self.next_refresh = now + half + jitter;
        for b in self.cfg.bootnodes.clone() {
            self.table.add(b, false, now);
        }
        if self.table.is_empty() {
            self.init_done = true;
            return;
        }
        // One refresh at a time (geth serialises them too).
        if !self.jobs.is_empty() {
            return;
        }
        let Some(tx) = self.weak_tx.upgrade() else {
            return;
        };
        let handle =
            super::Discv4::from_parts(tx, self.local_addr(), self.self_id, self.stats.clone());
        let self_id = self.self_id;
        let targets: Vec<NodeId> = (0..super::config::REFRESH_RANDOM_LOOKUPS)
            .map(|_| super::random_target_from(&mut self.rng))
            .collect();
        // Owned by `jobs`: aborted when the service stops.
        self.jobs.spawn(async move {
            handle.lookup(self_id).await;
            // Bootstrapped from trusted seeds: inbound nodes may enter now.
            let _ = handle.tx.send(Command::InitDone).await;
            for target in targets {
                handle.lookup(target).await;
            }
        });
    }

    /// Refreshes because the table is empty, at most once per
    /// [`RESEED_MIN_INTERVAL`] and never while a refresh runs.
    fn reseed(&mut self, now: Instant) {
        let too_soon = self
            .last_reseed
            .is_some_and(|last| now < last + RESEED_MIN_INTERVAL);
        if !self.table.is_empty() || !self.jobs.is_empty() || too_soon {
            return;
        }
        self.last_reseed = Some(now);
        tracing::debug!(target: TARGET, "table empty: re-adding bootnodes");
        self.refresh(now);
    }

    fn local_addr(&self) -> SocketAddr {
        self.transport
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn handle_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Ping { node, tx } => {
                if let Err((e, PingPurpose::User(tx))) =
                    self.try_send_ping(&node, PingPurpose::User(tx), now)
                {
                    let _ = tx.send(Err(e));
                }
            }
            Command::FindNode { node, target, tx } => {
                self.with_bond(Deferred::FindNode { node, target, tx }, now)
            }
            Command::RequestEnr { node, tx } => self.with_bond(Deferred::Enr { node, tx }, now),
            Command::Closest { target, tx } => {
                let _ = tx.send(self.table.closest(&target, BUCKET_SIZE, false));
            }
            Command::TableNodes { tx } => {
                let _ = tx.send(self.table.nodes());
            }
            Command::BucketSizes { tx } => {
                let _ = tx.send(self.table.bucket_sizes());
            }
            Command::Seed { nodes } => {
                // Only the table: endpoint proofs are made over the wire,
                // because a proof recorded on one side alone would make us
                // send FindNode to nodes that do not know us.
                for n in nodes {
                    self.table.add(n, true, now);
                }
                self.init_done = true;
            }
            Command::InitDone => self.init_done = true,
            Command::Reseed => self.reseed(now),
            // Handled in `run` before dispatch.
            Command::Shutdown { .. } => {}
        }
    }

    /// Sends `deferred` now if the remote holds a proof for us, otherwise
    /// pings first (geth `ensureBond`).
    fn with_bond(&mut self, deferred: Deferred, now: Instant) {
        let node = match &deferred {
            Deferred::FindNode { node, .. } | Deferred::Enr { node, .. } => node.clone(),
        };
        let Some(ip) = node.ip else {
            return deferred.fail(DiscoverError::NoAddress);
        };
        if self.bonds.pinged_us(&node.id, ip, now) {
            return self.send_deferred(deferred, now);
        }
        if let Err((e, PingPurpose::Bond(d))) =
            self.try_send_ping(&node, PingPurpose::Bond(deferred), now)
        {
            d.fail(e);
        }
    }

    fn send_deferred(&mut self, deferred: Deferred, now: Instant) {
        match deferred {
            Deferred::FindNode { node, target, tx } => {
                // One FindNode per node at a time: Neighbors replies carry no
                // request id, so a second request would have its reply taken
                // by the first (which keeps waiting for more chunks).
                if self.find_in_flight(&node.id) {
                    if self.queued_finds.len() >= self.cfg.max_pending_replies {
                        let _ = tx.send(Err(DiscoverError::TooManyPending));
                    } else {
                        self.queued_finds
                            .push_back(Deferred::FindNode { node, target, tx });
                    }
                    return;
                }
                let msg = Message::FindNode(wire::FindNode {
                    target,
                    expiration: self.expiration(now),
                });
                match self.send_request(&node, &msg, now) {
                    Ok((ip, _)) => self.pending.push(Pending {
                        id: node.id,
                        ip,
                        deadline: now + self.cfg.response_timeout,
                        kind: PendingKind::Neighbors {
                            replied: false,
                            nodes: Vec::new(),
                            tx,
                        },
                    }),
                    Err(e) => drop(tx.send(Err(e))),
                }
            }
            Deferred::Enr { node, tx } => {
                let msg = Message::EnrRequest(wire::EnrRequest {
                    expiration: self.expiration(now),
                });
                match self.send_request(&node, &msg, now) {
                    Ok((ip, request_hash)) => self.pending.push(Pending {
                        id: node.id,
                        ip,
                        deadline: now + self.cfg.response_timeout,
                        kind: PendingKind::Enr {
                            request_hash,
                            tx: Some(tx),
                        },
                    }),
                    Err(e) => drop(tx.send(Err(e))),
                }
            }
        }
    }

    /// Asks a table node for its record because its pong announced a newer
    /// sequence number (geth `table_reval.go`); the answer updates the entry.
    fn fetch_record_for_table(&mut self, node: &Node, now: Instant) {
        let msg = Message::EnrRequest(wire::EnrRequest {
            expiration: self.expiration(now),
        });
        if let Ok((ip, request_hash)) = self.send_request(node, &msg, now) {
            self.pending.push(Pending {
                id: node.id,
                ip,
                deadline: now + self.cfg.response_timeout,
                kind: PendingKind::Enr {
                    request_hash,
                    tx: None,
                },
            });
        }
    }

    /// Encodes and sends a request that expects a reply, enforcing the
    /// pending-reply bound. Returns the destination IP and the packet hash.
    fn send_request(
        &mut self,
        node: &Node,
        msg: &Message,
        _now: Instant,
    ) -> Result<(IpAddr, [u8; 32]), DiscoverError> {
        let addr = node_udp_addr(node).ok_or(DiscoverError::NoAddress)?;
        // Requests waiting for a bond count too: each will send a request.
        if self.pending.len() + self.bond_waiters.len() >= self.cfg.max_pending_replies {
            return Err(DiscoverError::TooManyPending);
        }
        let hash = self.send(addr, msg);
        Ok((addr.ip(), hash))
    }

    fn send_ping(
        &mut self,
        node: &Node,
        purpose: PingPurpose,
        now: Instant,
    ) -> Result<(), DiscoverError> {
        self.try_send_ping(node, purpose, now).map_err(|(e, _)| e)
    }

    /// Like [`Self::send_ping`], but hands the purpose back on failure so the
    /// caller can fail its waiter (internal; the pair never leaves this file).
    #[allow(clippy::result_large_err)]
    fn try_send_ping(
        &mut self,
        node: &Node,
        purpose: PingPurpose,
        now: Instant,
    ) -> Result<(), (DiscoverError, PingPurpose)> {
        let Some(addr) = node_udp_addr(node) else {
            return Err((DiscoverError::NoAddress, purpose));
        };
        let ip = addr.ip().to_canonical();
        let tracker = if ip.is_ipv6() {
            &mut self.ip_tracker_v6
        } else {
            &mut self.ip_tracker
        };
        tracker.add_contact(ip, now.into_std());
        let me = self.local.node();
        let msg = Message::Ping(wire::Ping {
            version: wire::PING_VERSION,
            from: Endpoint {
                ip: me.ip,
                udp: me.udp,
                tcp: me.tcp,
            },
            to: Endpoint::new(addr, node.tcp),
            expiration: self.expiration(now),
            enr_seq: Some(self.local.seq()),
        });
        match self.send_request(node, &msg, now) {
            Ok((ip, ping_hash)) => {
                self.pending.push(Pending {
                    id: node.id,
                    ip,
                    deadline: now + self.cfg.response_timeout,
                    kind: PendingKind::Pong { ping_hash, purpose },
                });
                Ok(())
            }
            Err(e) => Err((e, purpose)),
        }
    }

    fn send(&self, to: SocketAddr, msg: &Message) -> [u8; 32] {
        let (bytes, hash) = wire::encode_packet(&self.key, msg);
        tracing::trace!(target: TARGET, %to, packet = msg.name(), "send");
        self.stats.sent(msg);
        if let Err(e) = self.transport.send_to(&bytes, to) {
            tracing::debug!(target: TARGET, %to, error = %e, "send failed");
        }
        hash
    }

    fn find_in_flight(&self, id: &NodeId) -> bool {
        self.pending
            .iter()
            .any(|p| p.id == *id && matches!(p.kind, PendingKind::Neighbors { .. }))
    }

    /// After a FindNode to `id` ended: sends the next one queued for it.
    pub(crate) fn send_queued_find(&mut self, id: &NodeId, now: Instant) {
        let next = self
            .queued_finds
            .iter()
            .position(|d| matches!(d, Deferred::FindNode { node, .. } if node.id == *id));
        if let Some(d) = next.and_then(|i| self.queued_finds.remove(i)) {
            self.send_deferred(d, now);
        }
    }

    fn expire(&mut self, p: Pending, now: Instant) {
        match p.kind {
            PendingKind::Pong { purpose, ping_hash } => {
                self.remember_late_ping(p.id, p.ip, ping_hash, now);
                self.ping_timed_out(purpose, now);
            }
            PendingKind::Neighbors { nodes, replied, tx } => {
                // A node that answered with fewer than 16 (even 0) usable
                // nodes did answer: no timeout, no find failure (geth only
                // reports errTimeout when no reply matched at all).
                if !replied {
                    let fails = self.bonds.find_failed(p.id, p.ip, now);
                    if fails >= MAX_FINDNODE_FAILURES
                        && self.table.len_of_bucket(&p.id) >= BUCKET_SIZE / 4
                    {
                        self.table.remove(&p.id, now);
                    }
                    let _ = tx.send(Err(DiscoverError::Timeout));
                } else {
                    self.finish_find(p.id, p.ip, nodes, tx, now);
                }
                self.send_queued_find(&p.id, now);
            }
            PendingKind::Enr { tx, .. } => {
                if let Some(tx) = tx {
                    let _ = tx.send(Err(DiscoverError::Timeout));
                }
            }
        }
    }

    fn ping_timed_out(&mut self, purpose: PingPurpose, now: Instant) {
        match purpose {
            PingPurpose::User(tx) => drop(tx.send(Err(DiscoverError::Timeout))),
            PingPurpose::PingBack(_) => {}
            PingPurpose::Revalidate(id) => {
                self.table.revalidated(&id, false, now);
            }
            PingPurpose::Bond(d) => d.fail(DiscoverError::Timeout),
        }
    }

    fn remember_late_ping(&mut self, id: NodeId, ip: IpAddr, hash: [u8; 32], now: Instant) {
        if self.late_pings.len() >= LATE_PINGS_REMEMBERED {
            self.late_pings.pop_front();
        }
        self.late_pings.push_back(LatePing {
            id,
            ip,
            hash,
            expired: now,
        });
    }

    /// Whether a PONG from `id` at `ip` answering `hash` comes within
    /// [`LATE_PONG_GRACE`] of its PING's timeout (each PING counts once).
    fn take_late_ping(&mut self, id: NodeId, ip: IpAddr, hash: [u8; 32], now: Instant) -> bool {
        while self
            .late_pings
            .front()
            .is_some_and(|l| now.saturating_duration_since(l.expired) > LATE_PONG_GRACE)
        {
            self.late_pings.pop_front();
        }
        match self
            .late_pings
            .iter()
            .position(|l| l.id == id && l.ip == ip && l.hash == hash)
        {
            Some(i) => {
                self.late_pings.remove(i);
                true
            }
            None => false,
        }
    }

    fn finish_find(
        &mut self,
        id: NodeId,
        ip: IpAddr,
        nodes: Vec<Node>,
        tx: oneshot::Sender<Result<Vec<Node>, DiscoverError>>,
        now: Instant,
    ) {
        self.bonds.find_succeeded(id, ip, now);
        // It just answered: count it as live so we hand it out to others.
        self.table.mark_live(&id);
        for n in &nodes {
            self.table.add(n.clone(), false, now);
        }
        let _ = tx.send(Ok(nodes));
    }
}

mod handlers;
mod persist;
