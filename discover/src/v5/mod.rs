//! discv5: node discovery over the discv5 wire protocol, run by sigp's
//! `discv5` crate (the implementation reth and Lighthouse use); this module
//! only wires it into the stack.
//!
//! - **Keys and records** cross into the crate as 32 secret bytes and RLP
//!   bytes ([`combined_key`], [`to_discv5_enr`], [`from_discv5_enr`]).
//! - **One record**: [`LocalNode`] stays the only source of our record. A
//!   task copies every new record (same bytes, same sequence number) into
//!   discv5, whose own record updates from PONG votes are switched off, so
//!   the sequence number moves once per change, for discv4 and discv5 alike.
//! - **One socket** ([`Discv5::bind_shared`]): discv5 receives on it; the
//!   datagrams it cannot decode go to discv4 over a bounded channel
//!   ([`SharedTransport`], [`SHARED_V4_QUEUE`]). discv5's packet filter
//!   (rate limits, bans) is left off, its default, so it never drops discv4
//!   traffic before it gets to us.
//! - **Ownership**: every task the crate spawns runs through an executor
//!   that tracks it; [`Discv5::shutdown`] stops the service and waits for
//!   all of them, so the socket is closed when it returns.
//!
//! ```no_run
//! # async fn demo() -> Result<(), devp2p_discover::v5::Discv5Error> {
//! use devp2p_discover::node::{generate_node_key, LocalNode};
//! use devp2p_discover::v5::{Discv5, Discv5Config};
//! let key = generate_node_key();
//! let local = LocalNode::new(key, 1);
//! local.set_ip("127.0.0.1".parse().unwrap());
//! let disc = Discv5::bind("127.0.0.1:0".parse().unwrap(), key, local, Discv5Config::default()).await?;
//! let found = disc.lookup_random().await?;
//! disc.shutdown().await;
//! # Ok(()) }
//! ```

mod convert;
mod error;
mod random;
mod shared;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secp256k1::SecretKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::node::{Enr, LocalNode, NodeId};
pub use convert::{combined_key, from_discv5_enr, to_discv5_enr, Discv5Enr};
pub use error::Discv5Error;
pub use random::{RandomEnrs, MAX_RANDOM_BUFFER, MIN_LOOKUP_INTERVAL};
pub use shared::{SharedTransport, SHARED_V4_QUEUE};

use shared::{Datagram, FrameCounters};

const TARGET: &str = "p2p::discv5";

/// Default per-request timeout: the discv5 crate's default (1 s), also what
/// go-ethereum's v5 uses for one response (`respTimeoutV5` 700 ms, rounded).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Default bound of one iterative lookup. The crate's default is 60 s; a
/// lookup on a small or dead table would hold a dial source that long.
/// go-ethereum bounds lookups by request timeouts only; 10 s is ample for
/// the ~3 rounds of α = 3 requests a lookup takes (measured < 1 s on
/// 127.0.0.1).
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Default interval at which each node in the table that has a session
/// with us is pinged (liveness and record-sequence checks). The crate's
/// default is 300 s, so a node that contacted us was first pinged after 5
/// minutes; go-ethereum revalidates new table entries within seconds, and
/// its discv5 conformance suite (FindnodeResults) waits at most 60 s for us
/// to ping its nodes. 10 s per node costs 0.1 packet/s per connected node.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);

/// Settings of [`Discv5`].
#[derive(Clone, Debug)]
pub struct Discv5Config {
    /// Records to start from: added to the table at start, then a self
    /// lookup runs through them. Default empty.
    pub bootnodes: Vec<Enr>,
    /// Timeout of one request. Default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Bound of one lookup. Default [`DEFAULT_LOOKUP_TIMEOUT`].
    pub lookup_timeout: Duration,
    /// Least time between two lookups of [`Discv5::random_nodes`].
    /// Default [`MIN_LOOKUP_INTERVAL`].
    pub lookup_interval: Duration,
    /// How often each connected table entry is pinged. Default
    /// [`DEFAULT_PING_INTERVAL`].
    pub ping_interval: Duration,
}

impl Default for Discv5Config {
    fn default() -> Self {
        Discv5Config {
            bootnodes: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
            lookup_interval: MIN_LOOKUP_INTERVAL,
            ping_interval: DEFAULT_PING_INTERVAL,
        }
    }
}

/// Counters of a running [`Discv5`] (read directly, without the service).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discv5Stats {
    /// Datagrams discv5 did not recognise and handed to discv4.
    pub v4_frames_forwarded: u64,
    /// Datagrams discv5 did not recognise and that were dropped: discv4's
    /// queue ([`SHARED_V4_QUEUE`]) was full, or no discv4 runs.
    pub v4_frames_dropped: u64,
    /// Records copied from [`LocalNode`] into discv5.
    pub record_updates: u64,
}

/// A cloneable handle to a running discv5 service.
#[derive(Clone)]
pub struct Discv5 {
    inner: Arc<Inner>,
}

struct Inner {
    service: Mutex<Option<discv5::Discv5>>,
    local_addr: SocketAddr,
    local: LocalNode,
    lookup_interval: Duration,
    frames: Arc<FrameCounters>,
    record_updates: Arc<AtomicU64>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl std::fmt::Debug for Discv5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv5")
            .field("local_addr", &self.inner.local_addr)
            .field("id", &self.inner.local.id())
            .finish_non_exhaustive()
    }
}

/// Runs the discv5 crate's tasks on tokio and keeps track of them, so
/// shutdown can wait until every one (and with them the socket) is gone.
#[derive(Clone)]
struct TrackedExecutor(TaskTracker);

impl discv5::Executor for TrackedExecutor {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.0.spawn(future);
    }
}

impl Discv5 {
    /// Binds a UDP socket at `addr` for discv5 alone and starts the service.
    /// Datagrams that are not discv5 are counted and dropped. If `local` has
    /// no UDP port yet, it is set to the bound port.
    pub async fn bind(
        addr: SocketAddr,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv5Config,
    ) -> Result<Discv5, Discv5Error> {
        let socket = bind_socket(addr)?;
        Self::start(socket, None, key, local, cfg, None).await
    }

    /// Binds one UDP socket at `addr` for discv5 and discv4: starts discv5
    /// on it and returns the transport to start discv4 on
    /// ([`Discv4::spawn`](crate::v4::Discv4::spawn)). If `local` has no UDP
    /// port yet, it is set to the bound port.
    pub async fn bind_shared(
        addr: SocketAddr,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv5Config,
    ) -> Result<(Discv5, SharedTransport), Discv5Error> {
        let socket = bind_socket(addr)?;
        Self::start_shared_with_sockets(socket, None, key, local, cfg).await
    }

    /// Starts discv5 alone on sockets the caller bound: `socket`, plus
    /// `v6` for a dual-stack node (then `socket` must be IPv4 and `v6`
    /// IPv6; the crate runs as `ListenConfig::DualStack` and sends each
    /// packet on the socket of its destination's family). Datagrams that
    /// are not discv5 are counted and dropped. If `local` has no UDP port
    /// yet, it is set to `socket`'s (and `udp6` to the IPv6 socket's).
    pub async fn start_with_sockets(
        socket: std::net::UdpSocket,
        v6: Option<std::net::UdpSocket>,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv5Config,
    ) -> Result<Discv5, Discv5Error> {
        Self::start(socket, v6, key, local, cfg, None).await
    }

    /// Like [`Discv5::start_with_sockets`], sharing the sockets with discv4
    /// as [`Discv5::bind_shared`] does: returns the transport to start
    /// discv4 on.
    pub async fn start_shared_with_sockets(
        socket: std::net::UdpSocket,
        v6: Option<std::net::UdpSocket>,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv5Config,
    ) -> Result<(Discv5, SharedTransport), Discv5Error> {
        let clone = |s: &std::net::UdpSocket| {
            s.try_clone().map_err(|source| Discv5Error::Bind {
                addr: s
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
                source,
            })
        };
        let sender = clone(&socket)?;
        let sender_v6 = v6.as_ref().map(clone).transpose()?;
        let (tx, rx) = mpsc::channel(SHARED_V4_QUEUE);
        let disc = Self::start(socket, v6, key, local, cfg, Some(tx)).await?;
        let transport = SharedTransport {
            frames: rx,
            sender,
            sender_v6,
            local_addr: disc.local_addr(),
        };
        Ok((disc, transport))
    }

    async fn start(
        socket: std::net::UdpSocket,
        v6: Option<std::net::UdpSocket>,
        key: SecretKey,
        local: LocalNode,
        cfg: Discv5Config,
        to_v4: Option<mpsc::Sender<Datagram>>,
    ) -> Result<Discv5, Discv5Error> {
        if NodeId::from_secret_key(&key) != local.id() {
            return Err(Discv5Error::KeyMismatch);
        }
        let local_addr = socket.local_addr().map_err(|source| Discv5Error::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let socket = Arc::new(tokio::net::UdpSocket::from_std(socket).map_err(|source| {
            Discv5Error::Bind {
                addr: local_addr,
                source,
            }
        })?);
        local.set_udp_default(local_addr);
        let v6 = match v6 {
            Some(v6) => {
                let addr = v6.local_addr().map_err(|source| Discv5Error::Bind {
                    addr: local_addr,
                    source,
                })?;
                local.set_udp_default(addr);
                let socket = tokio::net::UdpSocket::from_std(v6)
                    .map_err(|source| Discv5Error::Bind { addr, source })?;
                Some(Arc::new(socket))
            }
            None => None,
        };
        let listen = match (local_addr.is_ipv4(), v6) {
            (true, v6) => discv5::ListenConfig::FromSockets {
                ipv4: Some(socket),
                ipv6: v6,
            },
            (false, _) => discv5::ListenConfig::FromSockets {
                ipv4: None,
                ipv6: Some(socket),
            },
        };
        let tasks = TaskTracker::new();
        let config = discv5::ConfigBuilder::new(listen)
            // LocalNode is the only writer of our record.
            .disable_enr_update()
            .request_timeout(cfg.request_timeout)
            .query_timeout(cfg.lookup_timeout)
            .ping_interval(cfg.ping_interval)
            .executor(Box::new(TrackedExecutor(tasks.clone())))
            .build();
        // Subscribe before reading the record, so no change falls between.
        let mut changes = local.subscribe();
        changes.borrow_and_update();
        let record = to_discv5_enr(&local.enr())?;
        let mut service = discv5::Discv5::new(record, combined_key(&key)?, config)
            .map_err(|e| Discv5Error::Start(e.to_string()))?;
        for enr in &cfg.bootnodes {
            if let Err(e) =
                to_discv5_enr(enr).and_then(|r| service.add_enr(r).map_err(Discv5Error::AddRecord))
            {
                tracing::debug!(target: TARGET, %enr, error = %e, "bootnode not added");
            }
        }
        service
            .start()
            .await
            .map_err(|e| Discv5Error::Start(e.to_string()))?;
        let events = match service.event_stream().await {
            Ok(events) => events,
            Err(e) => {
                service.shutdown();
                tasks.close();
                tasks.wait().await;
                return Err(Discv5Error::Start(e.to_string()));
            }
        };
        let stop = CancellationToken::new();
        let frames = Arc::new(FrameCounters::default());
        let record_updates = Arc::new(AtomicU64::new(0));
        tasks.spawn(forward_frames(events, to_v4, frames.clone()));
        let external = service.external_enr();
        tasks.spawn(sync_record(
            local.clone(),
            changes,
            move |record| *external.write() = record,
            record_updates.clone(),
            stop.clone(),
        ));
        let disc = Discv5 {
            inner: Arc::new(Inner {
                service: Mutex::new(Some(service)),
                local_addr,
                local,
                lookup_interval: cfg.lookup_interval,
                frames,
                record_updates,
                tasks,
                stop,
            }),
        };
        if !cfg.bootnodes.is_empty() {
            // Bootstrap: one self lookup through the bootnodes. Owned by the
            // tracker; ends with the service at the latest.
            let lookup = disc.with_service(|s| s.find_node(s.local_enr().node_id()));
            if let Ok(lookup) = lookup {
                disc.inner.tasks.spawn(async move {
                    let _ = lookup.await;
                });
            }
        }
        tracing::debug!(target: TARGET, addr = %local_addr, "discv5 started");
        Ok(disc)
    }

    fn with_service<R>(&self, f: impl FnOnce(&discv5::Discv5) -> R) -> Result<R, Discv5Error> {
        let guard = self.inner.service.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(f).ok_or(Discv5Error::Stopped)
    }

    /// The local address of the UDP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Our node ID.
    pub fn local_id(&self) -> NodeId {
        self.inner.local.id()
    }

    /// The record discv5 currently hands out (converted back; equal to
    /// [`LocalNode::enr`] once a change has been copied over).
    pub fn local_enr(&self) -> Result<Enr, Discv5Error> {
        from_discv5_enr(&self.with_service(|s| s.local_enr())?)
    }

    /// Counters (datagrams handed to discv4, records copied).
    pub fn stats(&self) -> Discv5Stats {
        Discv5Stats {
            v4_frames_forwarded: self.inner.frames.forwarded.load(Ordering::Relaxed),
            v4_frames_dropped: self.inner.frames.dropped.load(Ordering::Relaxed),
            record_updates: self.inner.record_updates.load(Ordering::Relaxed),
        }
    }

    /// Adds a record to the routing table (it needs a UDP endpoint).
    pub fn add_enr(&self, record: &Enr) -> Result<(), Discv5Error> {
        let r = to_discv5_enr(record)?;
        self.with_service(|s| s.add_enr(r))?
            .map_err(Discv5Error::AddRecord)
    }

    /// Pings a node; returns the sequence number of its record.
    pub async fn ping(&self, record: &Enr) -> Result<u64, Discv5Error> {
        let r = to_discv5_enr(record)?;
        let pong = self.with_service(|s| s.send_ping(r))?.await;
        pong.map(|p| p.enr_seq)
            .map_err(|e| Discv5Error::Request(e.to_string()))
    }

    /// Asks a node for its current record (FINDNODE at distance 0).
    pub async fn request_enr(&self, record: &Enr) -> Result<Enr, Discv5Error> {
        let mut found = self.find_node(record, vec![0]).await?;
        found.pop().ok_or(Discv5Error::NoRecord)
    }

    /// Sends one FINDNODE for the given log distances to a node and returns
    /// the records it answered with (those our decoder accepts).
    pub async fn find_node(
        &self,
        record: &Enr,
        distances: Vec<u64>,
    ) -> Result<Vec<Enr>, Discv5Error> {
        let r = to_discv5_enr(record)?;
        let found = self
            .with_service(|s| s.find_node_designated_peer(r, distances))?
            .await
            .map_err(|e| Discv5Error::Request(e.to_string()))?;
        Ok(convert_all(&found))
    }

    /// An iterative lookup for `target` (a discv5 node ID: keccak256 of the
    /// public key); returns the closest records found.
    pub async fn lookup(&self, target: [u8; 32]) -> Result<Vec<Enr>, Discv5Error> {
        let target = enr::NodeId::new(&target);
        let found =
            self.with_service(|s| s.find_node(target))?
                .await
                .map_err(|e| match e {
                    discv5::QueryError::ServiceNotStarted
                    | discv5::QueryError::ChannelFailed(_) => Discv5Error::Stopped,
                    other => Discv5Error::Request(other.to_string()),
                })?;
        Ok(convert_all(&found))
    }

    /// A lookup for a random target.
    pub async fn lookup_random(&self) -> Result<Vec<Enr>, Discv5Error> {
        self.lookup(rand::random()).await
    }

    /// The records in the routing table.
    pub fn table_enrs(&self) -> Vec<Enr> {
        self.with_service(|s| convert_all(&s.table_entries_enr()))
            .unwrap_or_default()
    }

    /// The number of records in the routing table.
    pub fn table_len(&self) -> usize {
        self.with_service(|s| s.table_entries_id().len())
            .unwrap_or(0)
    }

    /// A stream of records found by random lookups, for the dialer (see
    /// [`RandomEnrs`]).
    pub fn random_nodes(&self) -> RandomEnrs {
        RandomEnrs::new(self.clone(), self.inner.lookup_interval)
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stop.is_cancelled()
    }

    /// Stops the service and waits until every task it ran has ended (the
    /// socket is closed when this returns, unless a [`SharedTransport`]
    /// still holds its clone: stop discv4 too).
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let service = self
            .inner
            .service
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut service) = service {
            service.shutdown();
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        tracing::debug!(target: TARGET, addr = %self.inner.local_addr, "discv5 stopped");
    }
}

/// Binds a UDP socket (non-blocking, for tokio; IPv6-only for an IPv6
/// address, see [`devp2p_netutil::bind_udp`]).
fn bind_socket(addr: SocketAddr) -> Result<std::net::UdpSocket, Discv5Error> {
    devp2p_netutil::bind_udp(addr).map_err(|source| Discv5Error::Bind { addr, source })
}

/// Converts records from the crate, skipping (and logging) those our strict
/// decoder refuses.
fn convert_all(records: &[Discv5Enr]) -> Vec<Enr> {
    records
        .iter()
        .filter_map(|r| match from_discv5_enr(r) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::trace!(target: TARGET, error = %e, "record skipped");
                None
            }
        })
        .collect()
}

/// Takes the crate's events; hands unrecognised datagrams to discv4. Ends
/// when the service stops (it drops the event sender).
///
/// The crate's event queue is bounded (30 or 100 events) and it drops
/// events when that is full, so this task only moves datagrams along and
/// never waits on discv4.
async fn forward_frames(
    mut events: mpsc::Receiver<discv5::Event>,
    to_v4: Option<mpsc::Sender<Datagram>>,
    counters: Arc<FrameCounters>,
) {
    while let Some(event) = events.recv().await {
        if let discv5::Event::UnrecognizedFrame(frame) = event {
            shared::hand_over(to_v4.as_ref(), (frame.packet, frame.src_address), &counters);
        }
    }
}

/// Copies each new record of `local` into discv5 (same bytes, same
/// sequence number). Ends on shutdown.
async fn sync_record(
    local: LocalNode,
    mut changes: tokio::sync::watch::Receiver<u64>,
    write: impl Fn(Discv5Enr) + Send + 'static,
    updates: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        changes.borrow_and_update();
        match to_discv5_enr(&local.enr()) {
            Ok(record) => {
                write(record);
                updates.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(target: TARGET, error = %e, "record not copied to discv5"),
        }
    }
}
