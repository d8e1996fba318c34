//! The server task: the one owner of the peer table, dial scheduler, ban
//! list and trusted set. Handles talk to it over [`Command`]s; setup tasks
//! over [`Internal`] requests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, trace};

use super::checks::{
    admission_check, loses_crossed_dial, AdmissionLimits, PeerCandidate, PeerCounts,
};
use super::churn::Churn;
use super::conn::{run_dial, AddReply, ConnMeta, Internal, SetupCtx};
use super::persist;
use super::stats::DisconnectSide;
use super::TARGET;
use crate::banlist::{BanList, ReputationChange};
use crate::config::Dialer;
use crate::dial::{
    Candidate as DialCandidate, DialKind, DialOutcome, DialState, NodeSources, SetupError,
    SkipReason, SourceCounters, SourceSpec,
};
use crate::disc_reason::DiscReason;
use crate::event::PeerEvent;
use crate::metrics::TrafficSink;
use crate::node::{Node, NodeId};
use crate::peer::{Bandwidth, Peer, PeerExit, PeerSetup, ReputationSink};

/// How long `stop` waits for peers to finish after sending them
/// `DiscQuitting` before aborting them: the peer layer needs at most
/// `PROTOCOL_EXIT_GRACE` (1 s) plus the flush of queued messages
/// ([`FINAL_FLUSH_TIMEOUT`](crate::peer::FINAL_FLUSH_TIMEOUT), 1 s) plus the
/// disconnect write deadline (1 s); one more second of margin.
pub const STOP_PEER_TIMEOUT: Duration = Duration::from_secs(4);

/// Requests from [`Server`](super::Server) handles.
pub(super) enum Command {
    AddStatic(Node),
    RemoveStatic(NodeId),
    AddTrusted(NodeId),
    RemoveTrusted(NodeId),
    Peers(oneshot::Sender<Vec<Peer>>),
    PeerCount(oneshot::Sender<usize>),
    Ban(NodeId, Duration),
    Unban(NodeId),
    AdjustReputation(NodeId, i32, oneshot::Sender<ReputationChange>),
    /// Replies `false` when the source limit is reached.
    AddNodeSource(SourceSpec, oneshot::Sender<bool>),
    Stop,
}

pub(super) struct PeerEntry {
    peer: Peer,
    inbound: bool,
    abort: AbortHandle,
}

type PeerDone = BoxFuture<'static, (NodeId, Option<PeerExit>)>;

pub(super) struct ServerTask {
    pub ctx: Arc<SetupCtx>,
    pub commands: mpsc::Receiver<Command>,
    pub internal: mpsc::Receiver<Internal>,
    /// Reports from [`Peer::adjust_reputation`]; peers get `reputation_sink`.
    pub reputation_reports: mpsc::Receiver<(NodeId, i32)>,
    pub reputation_sink: ReputationSink,
    pub events: broadcast::Sender<PeerEvent>,
    pub limits: AdmissionLimits,
    pub dial: DialState,
    pub dialer: Arc<dyn Dialer>,
    pub no_dial: bool,
    pub bans: BanList,
    pub trusted: HashSet<NodeId>,
    pub enable_msg_events: bool,
    /// Peer gauges and counters for metrics, kept next to `peers`.
    pub peer_counters: Arc<super::stats::PeerCounters>,
    /// The traffic table every peer gets.
    pub traffic: TrafficSink,
    /// The global bandwidth buckets; each new peer gets its throttles here.
    pub bandwidth: Bandwidth,
    /// Slot churn, when `Config::churn` is on.
    pub churn: Option<Churn>,
    pub listener: Option<JoinHandle<()>>,
    pub sources: NodeSources,
    /// Dials in flight from a node source → that source's counters (to
    /// count the dial as connected when it ends so).
    pub dial_sources: HashMap<NodeId, Arc<SourceCounters>>,
    /// Dials in flight from a node source → the node's discovery (UDP)
    /// port, remembered with the peer when the dial connects (the TCP
    /// connection does not tell it). Bounded like `dial_sources`.
    pub dial_udp: HashMap<NodeId, u16>,
    pub peers: HashMap<NodeId, PeerEntry>,
    pub inbound_count: usize,
    pub peer_done: FuturesUnordered<PeerDone>,
    pub dials: JoinSet<()>,
    pub discovery: Option<devp2p_discover::v4::Discv4>,
    /// discv5, stopped after discv4 (which may receive through it).
    #[cfg(feature = "discv5")]
    pub discovery_v5: Option<devp2p_discover::v5::Discv5>,
    /// Port mappings, deleted on shutdown.
    pub nat: Option<super::nat::NatMapping>,
    /// The node database when it is a file (`Config::node_database`): peer
    /// sessions and dial failures are recorded there for the next start
    /// (not in a database that dies with the server).
    pub peer_memory: Option<devp2p_discover::db::NodeDb>,
    /// The node database and our record, whose sequence number is stored on shutdown.
    pub node_db: Option<(
        devp2p_discover::db::NodeDb,
        devp2p_discover::node::LocalNode,
    )>,
}

impl ServerTask {
    pub(super) async fn run(mut self) {
        loop {
            self.start_static_dials();
            let wake = self.dial.next_static_wakeup(Instant::now());
            let want_candidates =
                !self.no_dial && !self.sources.is_empty() && self.dial.free_slots() > 0;
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Stop) | None => break,
                    Some(cmd) => self.on_command(cmd),
                },
                Some(req) = self.internal.recv() => self.on_internal(req),
                Some((id, delta)) = self.reputation_reports.recv() => {
                    self.adjust_reputation(id, delta);
                }
                Some((id, exit)) = self.peer_done.next(), if !self.peer_done.is_empty() => {
                    self.on_peer_exit(id, exit);
                }
                Some(_) = self.dials.join_next(), if !self.dials.is_empty() => {}
                next = self.sources.next(), if want_candidates => match next {
                    Some((candidate, counters)) => self.offer(candidate, counters),
                    None => trace!(target: TARGET, "node sources ended"),
                },
                _ = sleep_until(wake), if wake.is_some() => {}
                _ = sleep_until(self.churn.as_ref().map(Churn::next_round)), if self.churn.is_some() => {
                    self.churn_round();
                }
            }
        }
        self.shutdown().await;
    }

    /// Drops one low-value peer when slots are full (see churn.rs).
    fn churn_round(&mut self) {
        let Some(churn) = &mut self.churn else {
            return;
        };
        let peers: Vec<(&Peer, bool)> = self
            .peers
            .iter()
            .map(|(id, e)| (&e.peer, self.trusted.contains(id)))
            .collect();
        if let Some(victim) = churn.round(&peers) {
            debug!(
                target: TARGET, peer = ?victim, inbound = victim.inbound(),
                peers = peers.len(), "slot churn: dropping a peer"
            );
            victim.disconnect(DiscReason::UselessPeer);
        }
    }

    fn adjust_reputation(&mut self, id: NodeId, delta: i32) -> ReputationChange {
        let change = self.bans.adjust(id, delta, Instant::now());
        if let Some((db, _)) = &self.node_db {
            persist::store_reputation(db, &id, change);
        }
        if let ReputationChange::Banned(_) = change {
            info!(target: TARGET, ?id, "peer banned: reputation too low");
            self.disconnect_banned(&id);
        }
        change
    }

    fn start_static_dials(&mut self) {
        if self.no_dial {
            return;
        }
        let now = Instant::now();
        for task in self.dial.static_dials(&mut self.bans, now) {
            debug!(target: TARGET, node = %task.node, "dialing static node");
            self.dials
                .spawn(run_dial(self.ctx.clone(), self.dialer.clone(), task));
        }
    }

    fn offer(&mut self, candidate: DialCandidate, counters: Arc<SourceCounters>) {
        match self.dial.offer(
            candidate.endpoint(self.dial.families()),
            &mut self.bans,
            Instant::now(),
        ) {
            Ok(task) => {
                trace!(target: TARGET, node = %task.node, source = %candidate.source, "dialing candidate");
                counters.dialed();
                self.dial_sources.insert(task.node.id, counters);
                if self.peer_memory.is_some() {
                    self.dial_udp.insert(task.node.id, task.node.udp);
                }
                self.dials
                    .spawn(run_dial(self.ctx.clone(), self.dialer.clone(), task));
            }
            Err(skip) => {
                trace!(target: TARGET, %skip, source = %candidate.source, "candidate skipped");
                counters.skipped(SkipReason::Dial(skip));
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::AddStatic(node) => {
                if !self.dial.add_static(node) {
                    debug!(target: TARGET, "static node not added (unusable or set full)");
                }
            }
            Command::RemoveStatic(id) => {
                self.dial.remove_static(&id);
                // go-ethereum's RemovePeer also disconnects the peer.
                if let Some(entry) = self.peers.get(&id) {
                    entry.peer.disconnect(DiscReason::Requested);
                }
            }
            Command::AddTrusted(id) => {
                self.trusted.insert(id);
            }
            Command::RemoveTrusted(id) => {
                self.trusted.remove(&id);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.values().map(|e| e.peer.clone()).collect());
            }
            Command::PeerCount(reply) => {
                let _ = reply.send(self.peers.len());
            }
            Command::Ban(id, duration) => {
                let until = self.bans.ban(id, duration, Instant::now());
                if let Some((db, _)) = &self.node_db {
                    persist::store_ban(db, &id, until);
                }
                self.disconnect_banned(&id);
            }
            Command::Unban(id) => {
                self.bans.unban(&id);
                if let Some((db, _)) = &self.node_db {
                    persist::remove_ban(db, &id);
                }
            }
            Command::AdjustReputation(id, delta, reply) => {
                let _ = reply.send(self.adjust_reputation(id, delta));
            }
            Command::AddNodeSource(spec, reply) => {
                let _ = reply.send(self.sources.push(spec));
            }
            Command::Stop => {}
        }
    }

    fn disconnect_banned(&mut self, id: &NodeId) {
        if let Some(entry) = self.peers.get(id) {
            entry.peer.disconnect(DiscReason::UselessPeer);
        }
    }

    fn candidate(&mut self, meta: &ConnMeta) -> PeerCandidate {
        PeerCandidate {
            id: meta.id,
            inbound: meta.dial.is_none(),
            trusted: self.trusted.contains(&meta.id),
            banned: self.bans.is_banned(&meta.id, Instant::now()),
            connected: self.peers.contains_key(&meta.id),
            loses_crossed_dial: loses_crossed_dial(
                &self.limits.self_id,
                &meta.id,
                meta.dial.is_none(),
                self.dial.is_dialing(&meta.id),
            ),
        }
    }

    fn counts(&self) -> PeerCounts {
        PeerCounts {
            peers: self.peers.len(),
            inbound: self.inbound_count,
        }
    }

    fn on_internal(&mut self, req: Internal) {
        match req {
            Internal::PostHandshake { meta, reply } => {
                let c = self.candidate(&meta);
                let verdict = admission_check(&c, self.counts(), &self.limits);
                if verdict.is_ok() && c.inbound {
                    // Not dialed while it is connecting to us.
                    self.dial.inbound_started(meta.id);
                }
                let _ = reply.send(verdict);
            }
            Internal::InboundDone { id } => self.dial.inbound_ended(&id),
            Internal::AddPeer { meta, conn, reply } => {
                let c = self.candidate(&meta);
                if let Err(reason) = admission_check(&c, self.counts(), &self.limits) {
                    let _ = reply.send(AddReply::Refused(reason, conn));
                    return;
                }
                let setup = PeerSetup {
                    id: meta.id,
                    remote_addr: meta.remote,
                    local_addr: meta.local,
                    inbound: c.inbound,
                    trusted: c.trusted,
                    static_dial: meta.dial == Some(DialKind::Static),
                    enable_msg_events: self.enable_msg_events,
                    reputation: self.reputation_sink.clone(),
                    traffic: self.traffic.clone(),
                    bandwidth: self.bandwidth.peer(),
                };
                let listen_port = conn.theirs().listen_port;
                let (peer, handle) = conn.spawn(setup, self.events.clone());
                self.register(meta, peer, handle);
                self.remember_session(&meta, listen_port);
                let _ = reply.send(AddReply::Added);
            }
            Internal::DialDone { id, outcome } => self.on_dial_done(id, outcome),
        }
    }

    /// A dial ended: the scheduler backs the node off by the failure's
    /// kind, the ban list bans it when the failure asks for it.
    fn on_dial_done(&mut self, id: NodeId, outcome: DialOutcome) {
        let now = Instant::now();
        let backoff = self.dial.dial_done(&id, outcome, now);
        self.dial_udp.remove(&id);
        if let Some(counters) = self.dial_sources.remove(&id) {
            if outcome == DialOutcome::Connected {
                counters.connected();
            }
        }
        let DialOutcome::Failed(error) = outcome else {
            return;
        };
        if let Some(db) = &self.peer_memory {
            persist::dial_failed(db, &id, error);
        }
        if let Some((kind, until)) = backoff {
            self.ctx.stats.backed_off(kind);
            debug!(
                target: TARGET, ?id, %error, backoff = kind.label(),
                secs = until.saturating_duration_since(now).as_secs(),
                failures = self.dial.failures(&id), "dial failed; backing off"
            );
        } else if error == SetupError::Resolve {
            debug!(target: TARGET, ?id, "static node did not resolve; backing off");
        }
        if let Some(duration) = error.ban() {
            let until = self.bans.ban(id, duration, now);
            if let Some((db, _)) = &self.node_db {
                persist::store_ban(db, &id, until);
            }
            info!(target: TARGET, ?id, %error, "node banned after a failed dial");
        }
    }

    fn register(&mut self, meta: ConnMeta, peer: Peer, handle: JoinHandle<PeerExit>) {
        let inbound = meta.dial.is_none();
        if inbound {
            self.inbound_count += 1;
        }
        self.peer_counters.added(inbound);
        self.dial.peer_added(meta.id, !inbound);
        debug!(target: TARGET, peer = ?peer, inbound, peers = self.peers.len() + 1, "peer added");
        let abort = handle.abort_handle();
        let id = meta.id;
        self.peer_done
            .push(handle.map(move |r| (id, r.ok())).boxed());
        self.peers.insert(
            id,
            PeerEntry {
                peer,
                inbound,
                abort,
            },
        );
    }

    /// Remembers the peer just added in the node database, at the endpoint
    /// a later dial can use: the address we dialed, or for an inbound peer
    /// its IP with the port its Hello announced (not remembered when it
    /// announced none, as go-ethereum's Hello does).
    fn remember_session(&mut self, meta: &ConnMeta, listen_port: u16) {
        let Some(db) = &self.peer_memory else {
            return;
        };
        let (tcp, udp) = match meta.dial {
            Some(_) => (
                meta.remote.port(),
                self.dial_udp.get(&meta.id).copied().unwrap_or(0),
            ),
            None if listen_port != 0 => (listen_port, 0),
            None => return,
        };
        persist::session_started(db, &Node::new(meta.id, meta.remote.ip(), tcp, udp));
    }

    fn on_peer_exit(&mut self, id: NodeId, exit: Option<PeerExit>) {
        let Some(entry) = self.peers.remove(&id) else {
            return;
        };
        if let Some(db) = &self.peer_memory {
            persist::session_ended(db, &id, entry.peer.shared.connected_at.elapsed());
        }
        if entry.inbound {
            self.inbound_count -= 1;
        }
        self.peer_counters.dropped(entry.inbound);
        if let Some(exit) = &exit {
            let side = if exit.remote_requested {
                DisconnectSide::Theirs
            } else {
                DisconnectSide::Ours
            };
            self.peer_counters.disconnected(side, exit.reason);
        }
        self.dial.peer_removed(&id);
        match exit {
            Some(exit) => debug!(
                target: TARGET, ?id, reason = %exit.reason, remote = exit.remote_requested,
                peers = self.peers.len(), "peer removed"
            ),
            None => debug!(target: TARGET, ?id, "peer task aborted or panicked"),
        }
    }

    /// Graceful stop: listener and dials first (no new peers), then every
    /// peer gets `DiscQuitting`; peers still running after
    /// [`STOP_PEER_TIMEOUT`] are aborted. Returns when every task ended.
    async fn shutdown(mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
            let _ = listener.await;
        }
        if let Some(disc) = self.discovery.take() {
            disc.shutdown().await;
        }
        #[cfg(feature = "discv5")]
        if let Some(disc) = self.discovery_v5.take() {
            disc.shutdown().await;
        }
        if let Some(nat) = self.nat.take() {
            nat.stop().await;
        }
        self.sources.shutdown().await;
        self.dials.abort_all();
        while self.dials.join_next().await.is_some() {}
        self.internal.close();
        // Answer setup requests still queued so their tasks can end.
        while let Ok(req) = self.internal.try_recv() {
            drop(req);
        }
        for entry in self.peers.values() {
            entry.peer.disconnect(DiscReason::Quitting);
        }
        let deadline = Instant::now() + STOP_PEER_TIMEOUT;
        while !self.peer_done.is_empty() {
            match tokio::time::timeout_at(deadline, self.peer_done.next()).await {
                Ok(Some((id, exit))) => self.on_peer_exit(id, exit),
                Ok(None) => break,
                Err(_) => {
                    debug!(target: TARGET, left = self.peers.len(), "aborting peers that did not stop in time");
                    for entry in self.peers.values() {
                        entry.abort.abort();
                    }
                    while let Some((id, exit)) = self.peer_done.next().await {
                        self.on_peer_exit(id, exit);
                    }
                }
            }
        }
        // After the peers' session ends are recorded: this durable commit
        // also makes them (and every other write without fsync) durable.
        if let Some((db, local)) = self.node_db.take() {
            if let Err(e) = db.store_local_seq(&local.id(), local.seq()) {
                debug!(target: TARGET, error = %e, "could not store the record sequence");
            }
        }
        self.commands.close();
        info!(target: TARGET, "server stopped");
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}
