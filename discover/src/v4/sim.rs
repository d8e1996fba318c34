//! A simulated datagram network for running thousands of discovery nodes in
//! one process on tokio's paused (virtual) time.
//!
//! Every [`SimTransport`] has an inbox; sending looks up the destination,
//! drops the datagram with the configured loss probability, and stamps it
//! with a delivery time (latency plus random jitter). The receiver sleeps
//! until that time before handing it over, so with `tokio::time::pause`
//! (a current-thread runtime with `start_paused`) the whole network runs as
//! fast as the CPU allows while timeouts behave as on a real network.
//! Randomness comes from one seeded RNG: runs are reproducible as long as
//! the tasks are scheduled in the same order.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::transport::DatagramTransport;

/// Datagrams queued per simulated socket; past this, new ones are dropped
/// (as a full kernel socket buffer would). 1024 covers any burst a single
/// node sees in the simulations (a lookup wave is a few dozen packets).
pub const SIM_INBOX_CAPACITY: usize = 1024;

/// How long a simulated NAT keeps letting a remote's datagrams in after the
/// node behind it last sent to that remote (RFC 4787 REQ-5: a UDP mapping
/// must not expire in less than 2 minutes).
pub const SIM_NAT_MAPPING_LIFETIME: Duration = Duration::from_secs(120);
/// Remotes a simulated NAT remembers per node; past this, expired entries
/// are dropped first (a node contacts a few hundred remotes per hour).
pub const SIM_NAT_MAX_MAPPINGS: usize = 4096;

thread_local! {
    /// This thread's pinned virtual-to-Unix clock mapping (see [`ClockAnchor`]).
    static CLOCK_ANCHOR: std::cell::Cell<Option<(Instant, std::time::SystemTime)>> =
        const { std::cell::Cell::new(None) };
}

/// The anchor set on this thread, if any.
pub(crate) fn clock_anchor() -> Option<(Instant, std::time::SystemTime)> {
    CLOCK_ANCHOR.with(|a| a.get())
}

/// Pins the Unix clock that discovery services on this thread see to the
/// virtual clock, for as long as it lives.
///
/// Packet expirations are whole Unix seconds, so they (and with them the
/// packets' bytes and hashes: a repeated PING within one second is the same
/// packet) depend on where second boundaries fall in virtual time. Without an
/// anchor that phase comes from the real clock and differs between runs.
/// With one, the current tokio instant maps to the current Unix time rounded
/// down to a whole second, so a simulation on a current-thread runtime
/// repeats with its seed. Create it inside the runtime, before the first
/// service; dropping it restores the previous mapping.
#[derive(Debug)]
#[must_use = "the anchor holds only while it lives"]
pub struct ClockAnchor {
    previous: Option<(Instant, std::time::SystemTime)>,
}

impl ClockAnchor {
    /// Anchors this thread's clock at the current tokio instant.
    pub fn new() -> ClockAnchor {
        let now = Instant::now();
        let whole = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| std::time::UNIX_EPOCH + Duration::from_secs(d.as_secs()))
            .unwrap_or(std::time::UNIX_EPOCH);
        let previous = CLOCK_ANCHOR.with(|a| a.replace(Some((now, whole))));
        ClockAnchor { previous }
    }
}

impl Default for ClockAnchor {
    fn default() -> ClockAnchor {
        ClockAnchor::new()
    }
}

impl Drop for ClockAnchor {
    fn drop(&mut self) {
        CLOCK_ANCHOR.with(|a| a.set(self.previous));
    }
}

/// The Unix time (seconds) a discovery service in this process sees now.
/// Under paused tokio time this runs ahead of the system clock; packets a
/// simulated node writes by hand must carry expirations on this clock.
pub fn unix_now() -> u64 {
    super::service::wall_clock_at(Instant::now())
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Link properties of the simulated network.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// One-way base latency (use whole milliseconds: tokio's timers have
    /// that resolution, and finer delays make runs depend on the wall clock).
    pub latency: Duration,
    /// Extra uniformly random latency in `[0, jitter]`, drawn in whole
    /// milliseconds.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is lost.
    pub loss: f64,
    /// RNG seed for loss and jitter.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            loss: 0.0,
            seed: 1,
        }
    }
}

struct SimDatagram {
    deliver_at: Instant,
    data: Bytes,
    from: SocketAddr,
}

/// One bound address: its inbox, and for a node behind NAT the remotes it
/// sent to and when (port-restricted filtering: only they may answer).
struct Route {
    tx: mpsc::Sender<SimDatagram>,
    nat: Option<HashMap<SocketAddr, Instant>>,
}

struct Inner {
    cfg: SimConfig,
    routes: Mutex<HashMap<SocketAddr, Route>>,
    rng: Mutex<StdRng>,
    sent: AtomicU64,
    lost: AtomicU64,
}

/// The simulated network; cheap to clone.
#[derive(Clone)]
pub struct SimNetwork {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNetwork")
            .field("cfg", &self.inner.cfg)
            .field("sent", &self.packets_sent())
            .finish()
    }
}

impl SimNetwork {
    /// A network with the given link properties.
    pub fn new(cfg: SimConfig) -> Self {
        SimNetwork {
            inner: Arc::new(Inner {
                rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
                cfg,
                routes: Mutex::new(HashMap::new()),
                sent: AtomicU64::new(0),
                lost: AtomicU64::new(0),
            }),
        }
    }

    /// A distinct public-looking address for node `i`, each in its own /24
    /// so that the table's subnet limits never bind in simulations.
    pub fn addr_for(i: usize) -> SocketAddr {
        let i = i as u32;
        let ip = Ipv4Addr::new(11 + (i >> 16) as u8, (i >> 8) as u8, i as u8, 1);
        SocketAddr::new(IpAddr::V4(ip), 30303)
    }

    /// A socket at `addr` (replacing any previous one there).
    pub fn bind(&self, addr: SocketAddr) -> SimTransport {
        self.bind_with(addr, false)
    }

    /// A socket at `addr` behind a NAT: a datagram reaches it only from a
    /// remote it sent to in the last [`SIM_NAT_MAPPING_LIFETIME`]
    /// (address- and port-dependent filtering, RFC 4787). The node keeps
    /// `addr` as its external address, as behind a router that preserves
    /// ports.
    pub fn bind_behind_nat(&self, addr: SocketAddr) -> SimTransport {
        self.bind_with(addr, true)
    }

    fn bind_with(&self, addr: SocketAddr, nat: bool) -> SimTransport {
        let (tx, rx) = mpsc::channel(SIM_INBOX_CAPACITY);
        let route = Route {
            tx,
            nat: nat.then(HashMap::new),
        };
        self.routes().insert(addr, route);
        SimTransport {
            addr,
            net: self.clone(),
            rx,
            pending: None,
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Route>> {
        // A poisoned lock only means another node panicked; the map is still valid.
        self.inner.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Datagrams handed to the network so far (including lost ones).
    pub fn packets_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Datagrams dropped by the loss model or full inboxes.
    pub fn packets_lost(&self) -> u64 {
        self.inner.lost.load(Ordering::Relaxed)
    }

    fn send(&self, data: &[u8], from: SocketAddr, to: SocketAddr) {
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        let (lost, delay) = {
            let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
            let lost = self.inner.cfg.loss > 0.0 && rng.random_bool(self.inner.cfg.loss.min(1.0));
            // Whole milliseconds: see `random_delay`.
            let jitter = if self.inner.cfg.jitter.is_zero() {
                Duration::ZERO
            } else {
                super::random_delay(&mut *rng, self.inner.cfg.jitter)
            };
            (lost, self.inner.cfg.latency + jitter)
        };
        let now = Instant::now();
        let mut routes = self.routes();
        if let Some(nat) = routes.get_mut(&from).and_then(|r| r.nat.as_mut()) {
            if nat.len() >= SIM_NAT_MAX_MAPPINGS {
                nat.retain(|_, t| now.saturating_duration_since(*t) < SIM_NAT_MAPPING_LIFETIME);
            }
            if nat.len() < SIM_NAT_MAX_MAPPINGS {
                nat.insert(to, now);
            }
        }
        let delivered = !lost
            && routes.get(&to).is_some_and(|route| {
                let open = route.nat.as_ref().is_none_or(|nat| {
                    nat.get(&from).is_some_and(|t| {
                        now.saturating_duration_since(*t) < SIM_NAT_MAPPING_LIFETIME
                    })
                });
                open && route
                    .tx
                    .try_send(SimDatagram {
                        deliver_at: now + delay,
                        data: Bytes::copy_from_slice(data),
                        from,
                    })
                    .is_ok()
            });
        drop(routes);
        if !delivered {
            self.inner.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One simulated socket.
pub struct SimTransport {
    addr: SocketAddr,
    net: SimNetwork,
    rx: mpsc::Receiver<SimDatagram>,
    /// A datagram taken from the inbox but not yet due (kept here so that
    /// `recv_from` is cancel safe).
    pending: Option<SimDatagram>,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTransport")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        self.net.routes().remove(&self.addr);
    }
}

impl DatagramTransport for SimTransport {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if self.pending.is_none() {
            match self.rx.recv().await {
                Some(d) => self.pending = Some(d),
                None => return Err(io::ErrorKind::NotConnected.into()),
            }
        }
        let due = self.pending.as_ref().map(|d| d.deliver_at);
        if let Some(due) = due {
            sleep_until(due).await;
        }
        let d = self.pending.take().ok_or(io::ErrorKind::WouldBlock)?;
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, d.from))
    }

    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        self.net.send(buf, self.addr, to);
        Ok(())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_net() -> SimNetwork {
        SimNetwork::new(SimConfig {
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0,
            seed: 1,
        })
    }

    async fn recv_within(t: &mut SimTransport, ms: u64) -> Option<SocketAddr> {
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_millis(ms), t.recv_from(&mut buf))
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|(_, from)| from)
    }

    #[tokio::test(start_paused = true)]
    async fn nat_lets_in_only_remotes_it_sent_to_and_only_for_the_mapping_lifetime() {
        let net = quiet_net();
        let (a, b, c) = (
            SimNetwork::addr_for(0),
            SimNetwork::addr_for(1),
            SimNetwork::addr_for(2),
        );
        let mut inside = net.bind_behind_nat(a);
        let mut outside = net.bind(b);
        let other = net.bind(c);
        // Unsolicited: filtered.
        outside.send_to(b"x", a).unwrap();
        assert_eq!(recv_within(&mut inside, 100).await, None);
        // After the node sent to `b`, `b` gets through, `c` does not.
        inside.send_to(b"y", b).unwrap();
        assert_eq!(recv_within(&mut outside, 100).await, Some(a));
        outside.send_to(b"z", a).unwrap();
        other.send_to(b"z", a).unwrap();
        assert_eq!(recv_within(&mut inside, 100).await, Some(b));
        assert_eq!(recv_within(&mut inside, 100).await, None);
        // The mapping expires.
        tokio::time::sleep(SIM_NAT_MAPPING_LIFETIME).await;
        outside.send_to(b"late", a).unwrap();
        assert_eq!(recv_within(&mut inside, 100).await, None);
        assert_eq!(net.packets_lost(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_anchored_clock_turns_whole_seconds_at_the_anchor() {
        let unanchored = unix_now();
        let anchor = ClockAnchor::new();
        let at = unix_now();
        assert!(at.abs_diff(unanchored) <= 1);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(unix_now(), at, "still in the anchor's second");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            unix_now(),
            at + 1,
            "the next second starts 1 s after the anchor"
        );
        drop(anchor);
        assert!(clock_anchor().is_none());
    }
}
