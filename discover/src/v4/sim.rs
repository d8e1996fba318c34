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

/// Link properties of the simulated network.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// One-way base latency.
    pub latency: Duration,
    /// Extra uniformly random latency in `[0, jitter]`.
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

struct Inner {
    cfg: SimConfig,
    routes: Mutex<HashMap<SocketAddr, mpsc::Sender<SimDatagram>>>,
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
        let (tx, rx) = mpsc::channel(SIM_INBOX_CAPACITY);
        self.routes().insert(addr, tx);
        SimTransport {
            addr,
            net: self.clone(),
            rx,
            pending: None,
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<SimDatagram>>> {
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
            let jitter = if self.inner.cfg.jitter.is_zero() {
                Duration::ZERO
            } else {
                rng.random_range(Duration::ZERO..=self.inner.cfg.jitter)
            };
            (lost, self.inner.cfg.latency + jitter)
        };
        let route = self.routes().get(&to).cloned();
        let delivered = !lost
            && route.is_some_and(|tx| {
                tx.try_send(SimDatagram {
                    deliver_at: Instant::now() + delay,
                    data: Bytes::copy_from_slice(data),
                    from,
                })
                .is_ok()
            });
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
