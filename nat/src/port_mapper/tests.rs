//! PortMapper against an in-memory scripted gateway (paused time: minutes pass instantly and
//! deterministically) and end to end against the fake IGD and fake NAT-PMP gateway.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use super::*;
use crate::pmp::fake_gateway::FakePmp;
use crate::upnp::fake_igd::FakeIgd;
use crate::upnp::WanService;
use crate::{NatFuture, Pmp, Upnp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Ip,
    Add(Protocol, u16, u16, Duration),
    Delete(Protocol, u16, u16),
}

#[derive(Default)]
struct Script {
    ip: Option<IpAddr>,
    /// When false, every request fails as if the gateway were gone.
    up: bool,
    /// Next external port handed out is internal + this offset.
    port_offset: u16,
    mapped: BTreeMap<(Protocol, u16), u16>,
    calls: Vec<(Instant, Call)>,
}

/// A gateway whose behaviour the test scripts.
#[derive(Default)]
struct ScriptedNat(Mutex<Script>);

impl fmt::Display for ScriptedNat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scripted")
    }
}

impl ScriptedNat {
    fn new(ip: &str) -> Arc<Self> {
        let nat = ScriptedNat::default();
        {
            let mut s = nat.0.lock().unwrap();
            s.ip = Some(ip.parse().unwrap());
            s.up = true;
        }
        Arc::new(nat)
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap()
    }

    fn record(&self, call: Call) -> Result<(), NatError> {
        let mut s = self.script();
        s.calls.push((Instant::now(), call));
        if s.up {
            Ok(())
        } else {
            Err(NatError::NoGateway {
                mechanism: "scripted",
            })
        }
    }

    fn add_times(&self, proto: Protocol) -> Vec<Instant> {
        self.script()
            .calls
            .iter()
            .filter_map(|(at, c)| matches!(c, Call::Add(p, ..) if *p == proto).then_some(*at))
            .collect()
    }
}

impl Nat for ScriptedNat {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        Box::pin(async move {
            self.record(Call::Ip)?;
            self.script().ip.ok_or(NatError::InvalidExternalIp {
                value: String::new(),
            })
        })
    }

    fn add_mapping<'a>(
        &'a self,
        proto: Protocol,
        ext: u16,
        int: u16,
        _: &'a str,
        life: Duration,
    ) -> NatFuture<'a, u16> {
        Box::pin(async move {
            self.record(Call::Add(proto, ext, int, life))?;
            let mut s = self.script();
            let port = int + s.port_offset;
            s.mapped.insert((proto, port), int);
            Ok(port)
        })
    }

    fn delete_mapping(&self, proto: Protocol, ext: u16, int: u16) -> NatFuture<'_, ()> {
        Box::pin(async move {
            self.record(Call::Delete(proto, ext, int))?;
            self.script().mapped.remove(&(proto, ext));
            Ok(())
        })
    }
}

fn requests() -> Vec<MappingRequest> {
    vec![
        MappingRequest {
            proto: Protocol::Tcp,
            internal_port: 30303,
            name: "devp2p tcp".into(),
        },
        MappingRequest {
            proto: Protocol::Udp,
            internal_port: 30301,
            name: "devp2p discovery".into(),
        },
    ]
}

/// Waits (bounded) until the state satisfies `pred`.
async fn wait_state(
    rx: &mut watch::Receiver<MappingState>,
    what: &str,
    pred: impl FnMut(&MappingState) -> bool,
) -> MappingState {
    let result = tokio::time::timeout(Duration::from_secs(3600), rx.wait_for(pred))
        .await
        .map(|r| r.map(|state| state.clone()));
    match result {
        Ok(Ok(state)) => state,
        other => panic!("state never became {what}: {other:?} / {:?}", rx.borrow()),
    }
}

fn both_mapped(s: &MappingState) -> bool {
    s.external_ip.is_some() && s.mapped.len() == 2
}

#[tokio::test(start_paused = true)]
async fn maps_ports_and_publishes_state() {
    let nat = ScriptedNat::new("203.0.113.1");
    nat.script().port_offset = 5;
    let handle = PortMapper::spawn(nat.clone(), requests());
    let state = wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    assert_eq!(state.external_ip, Some("203.0.113.1".parse().unwrap()));
    assert_eq!(state.external_port(Protocol::Tcp, 30303), Some(30308));
    assert_eq!(state.external_port(Protocol::Udp, 30301), Some(30306));
    assert_eq!(handle.state(), state);
    let calls: Vec<Call> = nat.script().calls.iter().map(|(_, c)| *c).collect();
    assert_eq!(calls[0], Call::Ip);
    assert_eq!(
        calls[1],
        Call::Add(Protocol::Tcp, 30303, 30303, MAPPING_LIFETIME)
    );
    assert_eq!(
        calls[2],
        Call::Add(Protocol::Udp, 30301, 30301, MAPPING_LIFETIME)
    );
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refreshes_every_eight_minutes_with_ten_minute_lease() {
    assert_eq!(MAPPING_REFRESH_INTERVAL, Duration::from_secs(480));
    assert_eq!(MAPPING_LIFETIME, Duration::from_secs(600));
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn(nat.clone(), requests());
    wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    let start = nat.add_times(Protocol::Tcp)[0];
    tokio::time::sleep(MAPPING_REFRESH_INTERVAL * 2 + Duration::from_secs(1)).await;
    let adds = nat.add_times(Protocol::Tcp);
    assert_eq!(adds.len(), 3, "initial + two refreshes");
    assert_eq!(adds[1] - start, MAPPING_REFRESH_INTERVAL);
    assert_eq!(adds[2] - start, MAPPING_REFRESH_INTERVAL * 2);
    // The refresh asks for the port it got last time.
    assert!(nat
        .script()
        .calls
        .iter()
        .all(|(_, c)| !matches!(c, Call::Add(_, ext, int, life) if ext != int || *life != MAPPING_LIFETIME)));
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn short_lease_is_refreshed_at_four_fifths() {
    assert_eq!(refresh_interval(MAPPING_LIFETIME), MAPPING_REFRESH_INTERVAL);
    let lease = Duration::from_secs(5);
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn_with_lifetime(nat.clone(), requests(), lease);
    wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    let start = nat.add_times(Protocol::Tcp)[0];
    tokio::time::sleep(lease * 2).await;
    let adds = nat.add_times(Protocol::Tcp);
    assert_eq!(adds.len(), 3, "initial + two refreshes");
    assert_eq!(adds[1] - start, Duration::from_secs(4));
    assert!(nat
        .script()
        .calls
        .iter()
        .all(|(_, c)| !matches!(c, Call::Add(_, _, _, life) if *life != lease)));
    handle.stop().await;

    // Shorter than the floor: raised to it.
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn_with_lifetime(nat.clone(), requests(), Duration::ZERO);
    wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    assert!(nat
        .script()
        .calls
        .iter()
        .any(|(_, c)| matches!(c, Call::Add(_, _, _, life) if *life == MIN_MAPPING_LIFETIME)));
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn external_ip_change_propagates_and_remaps() {
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn(nat.clone(), requests());
    let mut rx = handle.subscribe();
    wait_state(&mut rx, "mapped", both_mapped).await;
    let changed_at = Instant::now();
    nat.script().ip = Some("198.51.100.99".parse().unwrap());
    let state = wait_state(&mut rx, "new IP", |s| {
        s.external_ip == Some("198.51.100.99".parse().unwrap())
    })
    .await;
    assert_eq!(state.mapped.len(), 2);
    assert!(Instant::now() - changed_at <= EXTERNAL_IP_POLL_INTERVAL);
    tokio::task::yield_now().await;
    assert_eq!(
        nat.add_times(Protocol::Udp).len(),
        2,
        "mappings renewed after the IP change"
    );
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn vanished_gateway_is_retried_with_backoff() {
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn(nat.clone(), requests());
    let mut rx = handle.subscribe();
    wait_state(&mut rx, "mapped", both_mapped).await;
    let mapped_at = nat.add_times(Protocol::Tcp)[0];
    nat.script().up = false;

    // Refresh fails at 8 min; the mapping stays listed until its lease ends at 10 min.
    tokio::time::sleep_until(mapped_at + MAPPING_REFRESH_INTERVAL + Duration::from_secs(60)).await;
    assert_eq!(rx.borrow().mapped.len(), 2);
    let state = wait_state(&mut rx, "lost", |s| {
        s.mapped.is_empty() && s.external_ip.is_none()
    })
    .await;
    assert!(Instant::now() >= mapped_at + MAPPING_LIFETIME);
    assert_eq!(state, MappingState::default());

    // Let the back-off reach its ceiling, then check the retry gaps.
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    let adds = nat.add_times(Protocol::Tcp);
    let gaps: Vec<Duration> = adds.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps[..4],
        [
            Duration::from_secs(5),
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(40)
        ]
    );
    assert!(gaps.iter().all(|g| *g <= RETRY_BACKOFF_MAX));
    assert_eq!(*gaps.last().unwrap(), RETRY_BACKOFF_MAX);
    assert!(
        adds.len() < 30,
        "bounded number of attempts: {}",
        adds.len()
    );

    // The gateway comes back: mappings return within one back-off period.
    nat.script().up = true;
    tokio::time::timeout(
        RETRY_BACKOFF_MAX + Duration::from_secs(1),
        rx.wait_for(both_mapped),
    )
    .await
    .expect("recovered")
    .unwrap();
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_deletes_mappings_and_ends_task() {
    let nat = ScriptedNat::new("203.0.113.1");
    nat.script().port_offset = 1;
    let handle = PortMapper::spawn(nat.clone(), requests());
    let mut rx = handle.subscribe();
    wait_state(&mut rx, "mapped", both_mapped).await;
    let other = handle.clone();
    tokio::join!(handle.stop(), other.stop());
    assert!(nat.script().mapped.is_empty());
    let deletes: Vec<Call> = nat
        .script()
        .calls
        .iter()
        .filter(|(_, c)| matches!(c, Call::Delete(..)))
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(
        deletes,
        [
            Call::Delete(Protocol::Tcp, 30304, 30303),
            Call::Delete(Protocol::Udp, 30302, 30301)
        ]
    );
    assert!(rx.borrow_and_update().mapped.is_empty());
    assert!(
        rx.changed().await.is_err(),
        "task ended: state sender closed"
    );
    handle.stop().await; // idempotent
}

#[tokio::test(start_paused = true)]
async fn stop_is_bounded_when_gateway_hangs() {
    struct Hanging;
    impl fmt::Display for Hanging {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("hanging")
        }
    }
    impl Nat for Hanging {
        fn external_ip(&self) -> NatFuture<'_, IpAddr> {
            Box::pin(futures::future::pending())
        }
        fn add_mapping<'a>(
            &'a self,
            _: Protocol,
            _: u16,
            int: u16,
            _: &'a str,
            _: Duration,
        ) -> NatFuture<'a, u16> {
            Box::pin(async move { Ok(int) })
        }
        fn delete_mapping(&self, _: Protocol, _: u16, _: u16) -> NatFuture<'_, ()> {
            Box::pin(futures::future::pending())
        }
    }
    let handle = PortMapper::spawn(Arc::new(Hanging), requests());
    // The first external-IP query hangs until NAT_OP_TIMEOUT; stop interrupts it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    handle.stop().await;
    assert!(Instant::now() - started <= STOP_DELETE_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn stop_during_add_deletes_the_requested_port() {
    struct SlowAdd(Mutex<Vec<(Protocol, u16, u16)>>);
    impl fmt::Display for SlowAdd {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("slow")
        }
    }
    impl Nat for SlowAdd {
        fn external_ip(&self) -> NatFuture<'_, IpAddr> {
            Box::pin(async { Ok("203.0.113.1".parse().unwrap()) })
        }
        fn add_mapping<'a>(
            &'a self,
            _: Protocol,
            _: u16,
            _: u16,
            _: &'a str,
            _: Duration,
        ) -> NatFuture<'a, u16> {
            Box::pin(futures::future::pending())
        }
        fn delete_mapping(&self, proto: Protocol, ext: u16, int: u16) -> NatFuture<'_, ()> {
            self.0.lock().unwrap().push((proto, ext, int));
            Box::pin(async { Ok(()) })
        }
    }
    let nat = Arc::new(SlowAdd(Mutex::new(Vec::new())));
    let handle = PortMapper::spawn(nat.clone(), requests());
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle.stop().await;
    assert_eq!(*nat.0.lock().unwrap(), [(Protocol::Tcp, 30303, 30303)]);
    assert_eq!(handle.state().mapped, []);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_task() {
    let nat = ScriptedNat::new("203.0.113.1");
    let handle = PortMapper::spawn(nat.clone(), requests());
    let mut rx = handle.subscribe();
    wait_state(&mut rx, "mapped", both_mapped).await;
    drop(handle);
    while rx.changed().await.is_ok() {}
    assert!(nat.script().mapped.is_empty());
}

#[tokio::test]
async fn end_to_end_with_fake_igd() {
    let igd = FakeIgd::start(WanService::WanIp1).await;
    igd.state().conflict_ports.insert(30303);
    let upnp = Arc::new(Upnp::from_description_url(&igd.url).await.unwrap());
    let handle = PortMapper::spawn(upnp, requests());
    let state = wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    assert_eq!(state.external_ip, Some("203.0.113.10".parse().unwrap()));
    let tcp = state.external_port(Protocol::Tcp, 30303).unwrap();
    assert_ne!(tcp, 30303, "conflict moved the TCP port");
    assert_eq!(igd.state().mappings.len(), 2);
    handle.stop().await;
    assert!(igd.state().mappings.is_empty(), "stop deleted the mappings");
}

#[tokio::test]
async fn end_to_end_with_fake_pmp_gateway_that_disappears() {
    let gw = FakePmp::start().await;
    let pmp = Pmp::new(gw.addr).with_retransmission(Duration::from_millis(50), 2);
    let handle = PortMapper::spawn(Arc::new(pmp), requests());
    let mut rx = handle.subscribe();
    let state = wait_state(&mut rx, "mapped", both_mapped).await;
    assert_eq!(state.external_ip, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(gw.state().mappings.len(), 2);
    handle.stop().await;
    assert!(gw.state().mappings.is_empty(), "stop unmapped both ports");

    // A gateway that is gone: stop still returns promptly, nothing panics.
    let gw2 = FakePmp::start().await;
    let pmp = Pmp::new(gw2.addr).with_retransmission(Duration::from_millis(50), 2);
    let handle = PortMapper::spawn(Arc::new(pmp), requests());
    wait_state(&mut handle.subscribe(), "mapped", both_mapped).await;
    gw2.stop();
    tokio::time::timeout(STOP_DELETE_TIMEOUT * 2, handle.stop())
        .await
        .expect("stop is bounded");
    assert!(handle.state().mapped.is_empty());
}
