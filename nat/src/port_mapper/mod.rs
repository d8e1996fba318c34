//! The task that keeps the server's ports mapped and tracks the external IP.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Nat, NatError, Protocol, LOG_TARGET};

#[cfg(test)]
mod tests;

/// Lease requested for every mapping: go-ethereum's `portMapDuration` (10 min).
pub const MAPPING_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How often a live mapping is renewed, well before its lease ends: go-ethereum's
/// `portMapRefreshInterval` (8 min).
pub const MAPPING_REFRESH_INTERVAL: Duration = Duration::from_secs(8 * 60);
/// How often the external IP is asked for: go-ethereum's `extipRetryInterval` (2 min).
pub const EXTERNAL_IP_POLL_INTERVAL: Duration = Duration::from_secs(2 * 60);
/// First retry delay after a failed request; doubled per consecutive failure (our choice:
/// short enough to catch a router that is just rebooting).
pub const RETRY_BACKOFF_MIN: Duration = Duration::from_secs(5);
/// Longest retry delay: go-ethereum's fixed `portMapRetryInterval` (5 min).
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// Bound on one gateway request, including lazy discovery. Cuts NAT-PMP's 128 s RFC
/// schedule after about 30 s; UPnP needs at most a few 3 s requests. Our own bound.
pub const NAT_OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on deleting all mappings when stopping (they run in parallel). Our own bound:
/// stop() must not hang on a dead gateway; leases expire on their own anyway.
pub const STOP_DELETE_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest lease [`PortMapper::spawn_with_lifetime`] accepts (shorter ones are raised to
/// it): one second is NAT-PMP's resolution (RFC 6886 lifetimes are whole seconds), and
/// the refresh at 4/5 of the lease needs some room. Our own bound, for tests and labs;
/// real routers want minutes (PCP suggests at least 120 s).
pub const MIN_MAPPING_LIFETIME: Duration = Duration::from_secs(2);

/// The refresh interval for a lease: [`MAPPING_REFRESH_INTERVAL`] for the default
/// [`MAPPING_LIFETIME`], 4/5 of the lease otherwise (go-ethereum's ratio, 8 of 10 min).
pub fn refresh_interval(lifetime: Duration) -> Duration {
    lifetime * 4 / 5
}

/// Consecutive failed external-IP queries before the IP is reported unknown (our choice:
/// one lost answer should not make the node withdraw its address).
pub const EXTERNAL_IP_MAX_FAILURES: u32 = 3;

/// A port the server wants reachable from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRequest {
    /// TCP (RLPx) or UDP (discovery).
    pub proto: Protocol,
    /// The local port.
    pub internal_port: u16,
    /// Description shown in the router's UI (UPnP only).
    pub name: String,
}

/// One live mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    /// Protocol.
    pub proto: Protocol,
    /// The local port.
    pub internal_port: u16,
    /// The port the gateway forwards (may differ from the internal one).
    pub external_port: u16,
}

/// What the port mapper knows, published on a watch channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingState {
    /// The gateway's external IP, once known; `None` again after
    /// [`EXTERNAL_IP_MAX_FAILURES`] failed queries in a row.
    pub external_ip: Option<IpAddr>,
    /// Live mappings, in request order. A mapping stays listed while refreshes fail, until
    /// its lease has run out.
    pub mapped: Vec<PortMapping>,
}

impl MappingState {
    /// The external port for `proto`/`internal_port`, if mapped.
    pub fn external_port(&self, proto: Protocol, internal_port: u16) -> Option<u16> {
        self.mapped
            .iter()
            .find(|m| m.proto == proto && m.internal_port == internal_port)
            .map(|m| m.external_port)
    }
}

/// Spawns the port-mapping task (see [`PortMapper::spawn`]).
#[derive(Debug)]
pub struct PortMapper {
    _private: (),
}

/// Cloneable handle to the port-mapping task.
///
/// The task stops (and deletes its mappings) on [`PortMapperHandle::stop`], or when the
/// last handle is dropped; in that case deletion runs in the background, bounded by
/// [`STOP_DELETE_TIMEOUT`].
#[derive(Debug, Clone)]
pub struct PortMapperHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stop_tx: watch::Sender<bool>,
    state_rx: watch::Receiver<MappingState>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl PortMapper {
    /// Starts mapping `mappings` through `nat` on the current tokio runtime.
    ///
    /// Each port is first requested with external port = internal port and a
    /// [`MAPPING_LIFETIME`] lease, renewed every [`MAPPING_REFRESH_INTERVAL`]; failures are
    /// retried after [`RETRY_BACKOFF_MIN`], doubling up to [`RETRY_BACKOFF_MAX`]. The
    /// external IP is polled every [`EXTERNAL_IP_POLL_INTERVAL`]; when it changes, all
    /// mappings are renewed at once (the node may have moved to another network).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(nat: Arc<dyn Nat>, mappings: Vec<MappingRequest>) -> PortMapperHandle {
        Self::spawn_with_lifetime(nat, mappings, MAPPING_LIFETIME)
    }

    /// As [`PortMapper::spawn`], with leases of `lifetime` (at least
    /// [`MIN_MAPPING_LIFETIME`]) renewed every [`refresh_interval`]`(lifetime)`. Short
    /// leases are for tests against a real router; the gateway may still grant another.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn_with_lifetime(
        nat: Arc<dyn Nat>,
        mappings: Vec<MappingRequest>,
        lifetime: Duration,
    ) -> PortMapperHandle {
        let lease = Lease::new(lifetime);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (state_tx, state_rx) = watch::channel(MappingState::default());
        let task = tokio::spawn(run(nat, mappings, lease, stop_rx, state_tx));
        PortMapperHandle {
            inner: Arc::new(Inner {
                stop_tx,
                state_rx,
                task: Mutex::new(Some(task)),
            }),
        }
    }
}

impl PortMapperHandle {
    /// A receiver of state changes (the watch channel keeps only the latest state, so a
    /// slow reader never blocks the task; it just skips intermediate states).
    pub fn subscribe(&self) -> watch::Receiver<MappingState> {
        self.inner.state_rx.clone()
    }

    /// The current state.
    pub fn state(&self) -> MappingState {
        self.inner.state_rx.borrow().clone()
    }

    /// Stops the task: deletes all mappings (bounded by [`STOP_DELETE_TIMEOUT`]) and waits
    /// until the task has ended. Calling it again, or from another clone, just waits.
    pub async fn stop(&self) {
        self.inner.stop_tx.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match task {
            Some(task) => {
                if let Err(e) = task.await {
                    tracing::error!(target: LOG_TARGET, error = %e, "port mapper task failed");
                }
            }
            None => {
                // Another caller is awaiting the task; the state sender closes when it ends.
                let mut rx = self.inner.state_rx.clone();
                while rx.changed().await.is_ok() {}
            }
        }
    }
}

/// The lease asked for and when it is renewed.
#[derive(Debug, Clone, Copy)]
struct Lease {
    lifetime: Duration,
    refresh: Duration,
}

impl Lease {
    fn new(lifetime: Duration) -> Lease {
        let lifetime = lifetime.max(MIN_MAPPING_LIFETIME);
        Lease {
            lifetime,
            refresh: refresh_interval(lifetime),
        }
    }
}

/// Per-request bookkeeping inside the task.
struct Entry {
    req: MappingRequest,
    /// The port currently mapped, if any.
    mapped: Option<u16>,
    /// The external port to ask for next time.
    wanted: u16,
    /// When the current lease runs out.
    lease_end: Option<Instant>,
    next: Instant,
    failures: u32,
}

fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_BACKOFF_MIN
        .saturating_mul(1u32 << doublings)
        .min(RETRY_BACKOFF_MAX)
}

/// Runs `op` unless a stop arrives first (`None`), bounded by [`NAT_OP_TIMEOUT`].
async fn op<T>(
    stop: &mut watch::Receiver<bool>,
    fut: impl std::future::Future<Output = Result<T, NatError>>,
) -> Option<Result<T, NatError>> {
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => None,
        res = tokio::time::timeout(NAT_OP_TIMEOUT, fut) => Some(res.unwrap_or(Err(NatError::Timeout {
            what: "NAT request",
            after: NAT_OP_TIMEOUT,
        }))),
    }
}

fn publish(state_tx: &watch::Sender<MappingState>, external_ip: Option<IpAddr>, entries: &[Entry]) {
    let mapped: Vec<PortMapping> = entries
        .iter()
        .filter_map(|e| {
            e.mapped.map(|external_port| PortMapping {
                proto: e.req.proto,
                internal_port: e.req.internal_port,
                external_port,
            })
        })
        .collect();
    state_tx.send_if_modified(|state| {
        let new = MappingState {
            external_ip,
            mapped: mapped.clone(),
        };
        if *state == new {
            return false;
        }
        *state = new;
        true
    });
}

async fn run(
    nat: Arc<dyn Nat>,
    requests: Vec<MappingRequest>,
    lease: Lease,
    mut stop: watch::Receiver<bool>,
    state_tx: watch::Sender<MappingState>,
) {
    let now = Instant::now();
    let mut entries: Vec<Entry> = requests
        .into_iter()
        .map(|req| Entry {
            wanted: req.internal_port,
            req,
            mapped: None,
            lease_end: None,
            next: now,
            failures: 0,
        })
        .collect();
    let mut external_ip: Option<IpAddr> = None;
    let mut ip_next = now;
    let mut ip_failures = 0u32;

    'main: loop {
        let wake = entries.iter().map(|e| e.next).fold(ip_next, Instant::min);
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break 'main,
            _ = tokio::time::sleep_until(wake) => {}
        }

        if Instant::now() >= ip_next {
            let Some(result) = op(&mut stop, nat.external_ip()).await else {
                break 'main;
            };
            match result {
                Ok(ip) => {
                    ip_failures = 0;
                    ip_next = Instant::now() + EXTERNAL_IP_POLL_INTERVAL;
                    if external_ip != Some(ip) {
                        tracing::info!(target: LOG_TARGET, nat = %nat, %ip, "external IP");
                        if external_ip.is_some() {
                            // Probably a new network: renew every mapping now.
                            entries.iter_mut().for_each(|e| e.next = Instant::now());
                        }
                        external_ip = Some(ip);
                    }
                }
                Err(e) => {
                    ip_failures += 1;
                    ip_next = Instant::now() + backoff(ip_failures).min(EXTERNAL_IP_POLL_INTERVAL);
                    tracing::debug!(target: LOG_TARGET, nat = %nat, error = %e, failures = ip_failures, "external IP query failed");
                    if ip_failures >= EXTERNAL_IP_MAX_FAILURES {
                        external_ip = None;
                    }
                }
            }
            publish(&state_tx, external_ip, &entries);
        }

        for i in 0..entries.len() {
            if Instant::now() < entries[i].next {
                continue;
            }
            let e = &entries[i];
            let fut = nat.add_mapping(
                e.req.proto,
                e.wanted,
                e.req.internal_port,
                &e.req.name,
                lease.lifetime,
            );
            let Some(result) = op(&mut stop, fut).await else {
                // Stopped mid-request: the gateway may have made the mapping, so delete the
                // port we asked for too (deleting a missing mapping is harmless).
                let e = &mut entries[i];
                e.mapped.get_or_insert(e.wanted);
                break 'main;
            };
            let now = Instant::now();
            let e = &mut entries[i];
            match result {
                Ok(port) => {
                    if e.mapped != Some(port) {
                        tracing::info!(target: LOG_TARGET, nat = %nat, proto = %e.req.proto, internal = e.req.internal_port, external = port, "mapped port");
                    }
                    e.mapped = Some(port);
                    e.wanted = port;
                    e.failures = 0;
                    e.lease_end = Some(now + lease.lifetime);
                    e.next = now + lease.refresh;
                }
                Err(err) => {
                    e.failures += 1;
                    e.next = now + backoff(e.failures);
                    tracing::debug!(target: LOG_TARGET, nat = %nat, proto = %e.req.proto, internal = e.req.internal_port, error = %err, failures = e.failures, "port mapping failed");
                    if e.lease_end.is_some_and(|end| now >= end) {
                        tracing::info!(target: LOG_TARGET, nat = %nat, proto = %e.req.proto, internal = e.req.internal_port, "port mapping lost");
                        e.mapped = None;
                        e.lease_end = None;
                    }
                }
            }
            publish(&state_tx, external_ip, &entries);
        }
    }

    // Stopping: delete what we mapped, in parallel and bounded.
    let deletions = entries.iter().filter_map(|e| {
        e.mapped
            .map(|ext| nat.delete_mapping(e.req.proto, ext, e.req.internal_port))
    });
    match tokio::time::timeout(STOP_DELETE_TIMEOUT, join_all(deletions)).await {
        Ok(results) => {
            for err in results.into_iter().filter_map(Result::err) {
                tracing::debug!(target: LOG_TARGET, nat = %nat, error = %err, "could not delete port mapping");
            }
        }
        Err(_) => {
            tracing::debug!(target: LOG_TARGET, nat = %nat, "deleting port mappings timed out")
        }
    }
    entries.iter_mut().for_each(|e| e.mapped = None);
    publish(&state_tx, external_ip, &entries);
}
