//! Lazy gateway discovery: `any`, `upnp` and `pmp` (without a gateway IP).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{Nat, NatError, NatFuture, Pmp, Protocol, Upnp, LOG_TARGET};

/// Upper bound on one discovery run (SSDP waits 2.5 s, then a description fetch of up to
/// 3 s; NAT-PMP probes for 1 s). Our own bound.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed discovery, calls fail at once for this long instead of searching again
/// (our choice: a port mapper asks for the IP and two mappings in a row, which should cost
/// one SSDP search, not three).
pub const DISCOVERY_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// Which built-in discovery to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discover {
    Any,
    Upnp,
    Pmp,
}

type DiscoverFn = dyn Fn() -> NatFuture<'static, Arc<dyn Nat>> + Send + Sync;

/// A mechanism that is discovered on first use (like go-ethereum's `autodisc`).
///
/// Calls wait for discovery, which runs once at a time, bounded by [`DISCOVERY_TIMEOUT`].
/// A success is kept; unlike go-ethereum, a failure is not: once
/// [`DISCOVERY_RETRY_INTERVAL`] has passed, the next call searches again, so a router that
/// boots after the node is still found.
pub struct AutoNat {
    label: &'static str,
    discover: Box<DiscoverFn>,
    found: Mutex<Found>,
}

/// Discovery outcome so far.
enum Found {
    /// Not searched yet, or the last failure is older than the retry interval.
    Nothing,
    /// The last search failed at this time.
    FailedAt(Instant),
    /// The mechanism in use.
    Nat(Arc<dyn Nat>),
}

impl fmt::Debug for AutoNat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoNat")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for AutoNat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label)
    }
}

/// Runs the candidates in parallel and returns the first that succeeds (the last error if
/// none does, [`NatError::NoGateway`] if there are none).
pub async fn first_to_answer(
    candidates: Vec<NatFuture<'static, Arc<dyn Nat>>>,
) -> Result<Arc<dyn Nat>, NatError> {
    if candidates.is_empty() {
        return Err(NatError::NoGateway {
            mechanism: "UPnP or NAT-PMP",
        });
    }
    futures::future::select_ok(candidates)
        .await
        .map(|(nat, _)| nat)
}

fn upnp() -> NatFuture<'static, Arc<dyn Nat>> {
    Box::pin(async { Ok(Arc::new(Upnp::discover().await?) as Arc<dyn Nat>) })
}

fn pmp() -> NatFuture<'static, Arc<dyn Nat>> {
    Box::pin(async { Ok(Arc::new(Pmp::discover().await?) as Arc<dyn Nat>) })
}

impl AutoNat {
    /// Built-in discovery, labelled with its spec (`any`, `upnp`, `pmp`).
    pub(crate) fn new(what: Discover) -> Self {
        match what {
            Discover::Any => Self::with_discovery("any", || {
                Box::pin(async { first_to_answer(vec![upnp(), pmp()]).await })
            }),
            Discover::Upnp => Self::with_discovery("upnp", upnp),
            Discover::Pmp => Self::with_discovery("pmp", pmp),
        }
    }

    /// A lazily discovered mechanism with a custom search (used to point discovery at
    /// known gateways, e.g. fakes in tests). `label` is what `Display` shows.
    pub fn with_discovery(
        label: &'static str,
        discover: impl Fn() -> NatFuture<'static, Arc<dyn Nat>> + Send + Sync + 'static,
    ) -> Self {
        AutoNat {
            label,
            discover: Box::new(discover),
            found: Mutex::new(Found::Nothing),
        }
    }

    /// The discovered mechanism, searching now if needed.
    pub async fn resolve(&self) -> Result<Arc<dyn Nat>, NatError> {
        let mut found = self.found.lock().await;
        match &*found {
            Found::Nat(nat) => return Ok(nat.clone()),
            Found::FailedAt(at) if at.elapsed() < DISCOVERY_RETRY_INTERVAL => {
                return Err(NatError::NoGateway {
                    mechanism: self.mechanism(),
                })
            }
            _ => {}
        }
        let result = tokio::time::timeout(DISCOVERY_TIMEOUT, (self.discover)())
            .await
            .unwrap_or(Err(NatError::Timeout {
                what: "gateway discovery",
                after: DISCOVERY_TIMEOUT,
            }));
        match result {
            Ok(nat) => {
                tracing::info!(target: LOG_TARGET, search = self.label, found = %nat, "discovered NAT gateway");
                *found = Found::Nat(nat.clone());
                Ok(nat)
            }
            Err(e) => {
                tracing::debug!(target: LOG_TARGET, search = self.label, error = %e, "NAT discovery failed");
                *found = Found::FailedAt(Instant::now());
                Err(e)
            }
        }
    }

    fn mechanism(&self) -> &'static str {
        match self.label {
            "upnp" => "UPnP",
            "pmp" => "NAT-PMP",
            "any" => "UPnP or NAT-PMP",
            other => other,
        }
    }
}

impl AutoNat {
    /// Forgets `nat` when `err` says it could not be reached (I/O error or
    /// timeout: e.g. the router rebooted and its UPnP control URL moved to
    /// another port), so the next call discovers the gateway again. Found
    /// against miniupnpd in the `nat_router` tests: without this, a restarted
    /// router was never mapped on again.
    async fn forget_if_unreachable<T>(
        &self,
        nat: &Arc<dyn Nat>,
        result: Result<T, NatError>,
    ) -> Result<T, NatError> {
        if let Err(err @ (NatError::Io { .. } | NatError::Timeout { .. })) = &result {
            let mut found = self.found.lock().await;
            if matches!(&*found, Found::Nat(n) if Arc::ptr_eq(n, nat)) {
                tracing::info!(target: LOG_TARGET, search = self.label, gateway = %nat, error = %err, "NAT gateway unreachable; will discover again");
                *found = Found::Nothing;
            }
        }
        result
    }
}

impl Nat for AutoNat {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        Box::pin(async move {
            let nat = self.resolve().await?;
            let result = nat.external_ip().await;
            self.forget_if_unreachable(&nat, result).await
        })
    }

    fn add_mapping<'a>(
        &'a self,
        proto: Protocol,
        ext_port: u16,
        int_port: u16,
        name: &'a str,
        lifetime: Duration,
    ) -> NatFuture<'a, u16> {
        Box::pin(async move {
            let nat = self.resolve().await?;
            let result = nat
                .add_mapping(proto, ext_port, int_port, name, lifetime)
                .await;
            self.forget_if_unreachable(&nat, result).await
        })
    }

    fn delete_mapping(&self, proto: Protocol, ext_port: u16, int_port: u16) -> NatFuture<'_, ()> {
        Box::pin(async move {
            let nat = self.resolve().await?;
            let result = nat.delete_mapping(proto, ext_port, int_port).await;
            self.forget_if_unreachable(&nat, result).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::pmp::fake_gateway::FakePmp;
    use crate::upnp::fake_igd::FakeIgd;
    use crate::upnp::WanService;

    fn upnp_at(url: String) -> NatFuture<'static, Arc<dyn Nat>> {
        Box::pin(
            async move { Ok(Arc::new(Upnp::from_description_url(&url).await?) as Arc<dyn Nat>) },
        )
    }

    #[tokio::test]
    async fn first_answer_wins_and_is_kept() {
        let igd = FakeIgd::start(WanService::WanIp1).await;
        let pmp = FakePmp::start().await;
        pmp.stop();
        tokio::task::yield_now().await;
        let (url, dead) = (igd.url.clone(), pmp.addr);
        let searches = Arc::new(AtomicUsize::new(0));
        let counter = searches.clone();
        let auto = AutoNat::with_discovery("any", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let dead_pmp: NatFuture<'static, Arc<dyn Nat>> = Box::pin(async move {
                let p = Pmp::new(dead).with_retransmission(Duration::from_millis(50), 2);
                p.external_ip().await?;
                Ok(Arc::new(p) as Arc<dyn Nat>)
            });
            Box::pin(first_to_answer(vec![dead_pmp, upnp_at(url.clone())]))
        });
        assert_eq!(auto.to_string(), "any");
        assert_eq!(
            auto.external_ip().await.unwrap().to_string(),
            "203.0.113.10"
        );
        assert_eq!(
            auto.add_mapping(Protocol::Tcp, 9, 9, "x", Duration::from_secs(60))
                .await
                .unwrap(),
            9
        );
        auto.delete_mapping(Protocol::Tcp, 9, 9).await.unwrap();
        assert_eq!(searches.load(Ordering::SeqCst), 1, "discovery ran once");
        assert!(igd.state().mappings.is_empty());
    }

    #[tokio::test]
    async fn unreachable_gateway_is_discovered_again() {
        let first = FakeIgd::start(WanService::WanIp1).await;
        let url = Arc::new(std::sync::Mutex::new(first.url.clone()));
        let searches = Arc::new(AtomicUsize::new(0));
        let (counter, current) = (searches.clone(), url.clone());
        let auto = AutoNat::with_discovery("upnp", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            upnp_at(current.lock().unwrap().clone())
        });
        auto.external_ip().await.unwrap();
        // The router restarts: the old control URL refuses, a new one answers.
        first.stop();
        drop(first);
        let second = FakeIgd::start(WanService::WanIp1).await;
        *url.lock().unwrap() = second.url.clone();
        let err = auto.external_ip().await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(searches.load(Ordering::SeqCst), 1);
        auto.add_mapping(Protocol::Tcp, 9, 9, "x", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(searches.load(Ordering::SeqCst), 2, "searched again");
        assert_eq!(second.state().mappings.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_discovery_is_retried_after_interval() {
        let searches = Arc::new(AtomicUsize::new(0));
        let counter = searches.clone();
        let auto = AutoNat::with_discovery("pmp", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(first_to_answer(vec![]))
        });
        assert!(matches!(
            auto.external_ip().await,
            Err(NatError::NoGateway { .. })
        ));
        let err = auto
            .add_mapping(Protocol::Udp, 1, 1, "x", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(err.is_transient());
        assert_eq!(err.to_string(), "no NAT-PMP gateway discovered");
        assert_eq!(
            searches.load(Ordering::SeqCst),
            1,
            "failure is cached for a while"
        );
        tokio::time::sleep(DISCOVERY_RETRY_INTERVAL).await;
        assert!(auto.external_ip().await.is_err());
        assert_eq!(
            searches.load(Ordering::SeqCst),
            2,
            "searched again after the interval"
        );
    }
}
