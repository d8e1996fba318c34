use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::banlist::BanList;
use crate::disc_reason::DiscReason;

/// A failure that says nothing about the node (no back-off).
const NO_BACKOFF: DialOutcome = DialOutcome::Failed(SetupError::Refused(DiscReason::TooManyPeers));

fn id(n: u16) -> NodeId {
    let mut raw = [0u8; 64];
    raw[..2].copy_from_slice(&n.to_be_bytes());
    raw[63] = 1;
    NodeId(raw)
}

fn node(n: u16) -> Node {
    Node::new(
        id(n),
        IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8)),
        30303,
        30303,
    )
}

fn limits(max_dialed_peers: usize, max_active_dials: usize) -> DialLimits {
    DialLimits {
        self_id: id(0),
        max_dialed_peers,
        max_active_dials,
        net_restrict: None,
        history_expiration: DIAL_HISTORY_EXPIRATION,
        max_backoff: MAX_BACKOFF,
    }
}

#[test]
fn free_slots_formula() {
    // max_peers 50, ratio 3 → 16 dialed peers; max_pending 50.
    let mut d = DialState::new(limits(16, 50));
    let mut bans = BanList::new();
    let t0 = Instant::now();
    assert_eq!(d.free_slots(), 32, "2 × 16 missing, under max_pending");
    let mut d2 = DialState::new(limits(16, 10));
    assert_eq!(d2.free_slots(), 10, "capped by max_active_dials");
    for n in 1..=4 {
        d2.offer(node(n), &mut bans, t0).unwrap();
    }
    assert_eq!(d2.free_slots(), 6, "minus dials in flight");
    for n in 1..=10 {
        d.peer_added(id(100 + n), true);
    }
    assert_eq!(d.free_slots(), 12, "2 × 6 missing");
    d.peer_added(id(200), false);
    assert_eq!(d.free_slots(), 12, "inbound peers do not count");
    for n in 11..=16 {
        d.peer_added(id(100 + n), true);
    }
    assert_eq!(d.free_slots(), 0);
    assert_eq!(d.offer(node(5), &mut bans, t0), Err(DialSkip::NoSlot));
    d.peer_removed(&id(101));
    assert_eq!(d.free_slots(), 2);
}

#[test]
fn checks_in_order() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(DialLimits {
        net_restrict: Some("10.0.0.0/24".parse().unwrap()),
        ..limits(16, 50)
    });
    let mut me = node(1);
    me.id = id(0);
    assert_eq!(d.check(&me, &mut bans, t0), Err(DialSkip::IsSelf));
    assert_eq!(
        d.check(&node(300), &mut bans, t0),
        Err(DialSkip::NetRestrict)
    );
    assert_eq!(
        d.check(&Node::incomplete(id(2)), &mut bans, t0),
        Err(DialSkip::NoEndpoint)
    );
    d.offer(node(1), &mut bans, t0).unwrap();
    assert_eq!(
        d.check(&node(1), &mut bans, t0),
        Err(DialSkip::AlreadyDialing)
    );
    d.dial_done(&id(1), DialOutcome::Connected, t0);
    d.peer_added(id(1), true);
    assert_eq!(
        d.check(&node(1), &mut bans, t0),
        Err(DialSkip::AlreadyConnected)
    );
    d.peer_removed(&id(1));
    assert_eq!(
        d.check(&node(1), &mut bans, t0),
        Err(DialSkip::RecentlyDialed)
    );
    let later = t0 + DIAL_HISTORY_EXPIRATION;
    assert_eq!(d.check(&node(1), &mut bans, later), Ok(()));
    bans.ban(id(1), Duration::from_secs(60), later);
    assert_eq!(d.check(&node(1), &mut bans, later), Err(DialSkip::Banned));
}

#[test]
fn no_redial_within_35s() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(limits(16, 50));
    d.offer(node(7), &mut bans, t0).unwrap();
    d.dial_done(&id(7), NO_BACKOFF, t0 + Duration::from_secs(1));
    let almost = t0 + DIAL_HISTORY_EXPIRATION - Duration::from_millis(1);
    assert_eq!(
        d.offer(node(7), &mut bans, almost),
        Err(DialSkip::RecentlyDialed)
    );
    assert!(d
        .offer(node(7), &mut bans, t0 + DIAL_HISTORY_EXPIRATION)
        .is_ok());
}

#[test]
fn static_nodes_first_and_redialed_after_drop() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(limits(1, 50));
    assert!(d.add_static(node(1)));
    assert!(d.add_static(node(2)));
    // One dialed peer wanted → 2 slots: both statics go before any candidate.
    let tasks = d.static_dials(&mut bans, t0);
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.kind == DialKind::Static));
    assert_eq!(d.offer(node(9), &mut bans, t0), Err(DialSkip::NoSlot));
    d.dial_done(&id(1), DialOutcome::Connected, t0);
    d.peer_added(id(1), true);
    d.dial_done(&id(2), NO_BACKOFF, t0);
    assert!(d.static_dials(&mut bans, t0).is_empty(), "target reached");
    // Node 1 drops 10 s later: redialed once its history entry (35 s after
    // the dial) expires, not before.
    let t10 = t0 + Duration::from_secs(10);
    d.peer_removed(&id(1));
    assert!(d.static_dials(&mut bans, t10).is_empty());
    let wake = d
        .next_static_wakeup(t10)
        .expect("a wakeup for the static redial");
    assert_eq!(wake, t0 + DIAL_HISTORY_EXPIRATION);
    let tasks = d.static_dials(&mut bans, wake);
    let ids: Vec<_> = tasks.iter().map(|t| t.node.id).collect();
    assert_eq!(ids, vec![id(1), id(2)]);
    assert!(d.remove_static(&id(1)));
    assert!(!d.is_static(&id(1)));
}

#[test]
fn static_dns_backoff_doubles_to_max() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let limits = DialLimits {
        history_expiration: Duration::from_secs(1),
        ..limits(4, 50)
    };
    let mut d = DialState::new(limits);
    assert!(d.add_static(Node::with_hostname(id(3), "node.invalid", 30303, 0)));
    let mut now = t0;
    let mut expected = INITIAL_RESOLVE_DELAY;
    for _ in 0..10 {
        let tasks = d.static_dials(&mut bans, now);
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].node.hostname.as_deref(), Some("node.invalid"));
        d.dial_done(&id(3), DialOutcome::Failed(SetupError::Resolve), now);
        let just_before = now + expected - Duration::from_millis(1);
        assert!(d.static_dials(&mut bans, just_before).is_empty());
        assert_eq!(d.next_static_wakeup(now), Some(now + expected));
        now += expected;
        expected = (expected * 2).min(MAX_RESOLVE_DELAY);
    }
    assert_eq!(expected, MAX_RESOLVE_DELAY);
    // A success resets the back-off.
    d.static_dials(&mut bans, now);
    d.dial_done(&id(3), DialOutcome::Connected, now);
    assert_eq!(
        d.next_static_wakeup(now),
        Some(now + Duration::from_secs(1))
    );
}

#[test]
fn static_set_bounded_and_rejects_unusable() {
    let mut d = DialState::new(limits(4, 50));
    assert!(!d.add_static(Node::incomplete(id(1))));
    let mut me = node(1);
    me.id = id(0);
    assert!(!d.add_static(me), "self is never static");
    for n in 1..=MAX_STATIC_NODES as u16 {
        assert!(d.add_static(node(n)));
    }
    assert!(!d.add_static(node(5000)));
    assert!(d.add_static(node(1)), "updating an existing entry is fine");
    assert_eq!(d.static_len(), MAX_STATIC_NODES);
}

#[test]
fn dial_history_bounded() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(limits(usize::MAX / 4, usize::MAX));
    for n in 0..(MAX_DIAL_HISTORY as u32 + 10) {
        let mut raw = [1u8; 64];
        raw[..4].copy_from_slice(&n.to_be_bytes());
        let node = Node::new(NodeId(raw), IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 1, 1);
        d.offer(node, &mut bans, t0).unwrap();
        d.dial_done(&NodeId(raw), NO_BACKOFF, t0);
    }
    assert!(d.history.len() <= MAX_DIAL_HISTORY);
}

#[test]
fn a_node_connecting_to_us_is_not_dialed() {
    let mut d = DialState::new(limits(16, 50));
    let mut bans = BanList::new();
    let t0 = Instant::now();
    d.inbound_started(id(5));
    d.inbound_started(id(5)); // two connections of the same node
    assert_eq!(
        d.offer(node(5), &mut bans, t0),
        Err(DialSkip::InboundPending)
    );
    d.inbound_ended(&id(5));
    assert_eq!(
        d.offer(node(5), &mut bans, t0),
        Err(DialSkip::InboundPending),
        "one connection still in progress"
    );
    d.inbound_ended(&id(5));
    d.inbound_ended(&id(5)); // unmatched: ignored
    assert!(d.offer(node(5), &mut bans, t0).is_ok());
}

/// Limits with a 1 s dial history, so only the back-off keeps a node out.
fn short_history() -> DialLimits {
    DialLimits {
        history_expiration: Duration::from_secs(1),
        ..limits(16, 50)
    }
}

#[test]
fn each_failure_kind_backs_off_for_its_own_time() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let cases = [
        (
            SetupError::RemoteDisconnect(DiscReason::TooManyPeers),
            LOW_BACKOFF,
        ),
        (SetupError::ConnectTimeout, MEDIUM_BACKOFF),
        (SetupError::HandshakeTimeout, MEDIUM_BACKOFF),
        (
            SetupError::Connect(std::io::ErrorKind::ConnectionRefused),
            HIGH_BACKOFF,
        ),
        (SetupError::Protocol, MAX_BACKOFF),
    ];
    for (n, (error, delay)) in (1u16..).zip(cases) {
        let mut d = DialState::new(short_history());
        d.offer(node(n), &mut bans, t0).unwrap();
        let (kind, until) = d
            .dial_done(&id(n), DialOutcome::Failed(error), t0)
            .expect("a back-off");
        assert_eq!(
            (kind, until),
            (error.backoff().unwrap(), t0 + delay),
            "{error}"
        );
        let just_before = t0 + delay - Duration::from_millis(1);
        assert_eq!(
            d.offer(node(n), &mut bans, just_before),
            Err(DialSkip::BackedOff),
            "{error}"
        );
        assert!(d.offer(node(n), &mut bans, t0 + delay).is_ok(), "{error}");
    }
    // Our own refusals and a stopping server do not back the node off.
    let mut d = DialState::new(short_history());
    d.offer(node(9), &mut bans, t0).unwrap();
    assert_eq!(d.dial_done(&id(9), NO_BACKOFF, t0), None);
    assert_eq!(d.failures(&id(9)), 0);
    assert!(d
        .offer(node(9), &mut bans, t0 + Duration::from_secs(1))
        .is_ok());
}

#[test]
fn a_failing_node_is_dropped_after_n_failures_until_it_connects() {
    let mut now = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(short_history());
    let refused = DialOutcome::Failed(SetupError::Connect(std::io::ErrorKind::ConnectionReset));
    for failure in 1..=MAX_CONSECUTIVE_FAILURES {
        d.offer(node(4), &mut bans, now).unwrap();
        let (kind, until) = d.dial_done(&id(4), refused, now).unwrap();
        assert_eq!(kind, BackoffKind::Low);
        // The delay grows with each consecutive failure.
        assert_eq!(until, now + LOW_BACKOFF * failure);
        assert_eq!(d.failures(&id(4)), failure);
        now = until;
    }
    let much_later = now + MAX_BACKOFF * 10;
    assert_eq!(
        d.offer(node(4), &mut bans, much_later),
        Err(DialSkip::TooManyFailures)
    );
    // It dials us and is added: healthy again.
    d.peer_added(id(4), false);
    d.peer_removed(&id(4));
    assert_eq!(d.failures(&id(4)), 0);
    assert!(d.offer(node(4), &mut bans, much_later).is_ok());
}

#[test]
fn a_success_clears_the_failures() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(short_history());
    d.offer(node(5), &mut bans, t0).unwrap();
    d.dial_done(&id(5), DialOutcome::Failed(SetupError::ConnectTimeout), t0);
    let t1 = t0 + MEDIUM_BACKOFF;
    d.offer(node(5), &mut bans, t1).unwrap();
    assert_eq!(d.dial_done(&id(5), DialOutcome::Connected, t1), None);
    assert_eq!(d.failures(&id(5)), 0);
    d.offer(node(5), &mut bans, t1 + Duration::from_secs(1))
        .expect("no back-off left");
}

#[test]
fn static_nodes_keep_being_retried_with_backoff() {
    let mut now = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(short_history());
    assert!(d.add_static(node(6)));
    let refused = DialOutcome::Failed(SetupError::Connect(std::io::ErrorKind::ConnectionRefused));
    for failure in 1..=MAX_CONSECUTIVE_FAILURES + 2 {
        let tasks = d.static_dials(&mut bans, now);
        assert_eq!(tasks.len(), 1, "failure {failure}: still dialed");
        let (_, until) = d.dial_done(&id(6), refused, now).unwrap();
        assert_eq!(
            until,
            now + HIGH_BACKOFF.saturating_mul(failure).min(MAX_BACKOFF)
        );
        assert!(d
            .static_dials(&mut bans, until - Duration::from_millis(1))
            .is_empty());
        assert_eq!(d.next_static_wakeup(now), Some(until));
        now = until;
    }
}

#[test]
fn backoff_is_capped_and_can_be_turned_off() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(DialLimits {
        max_backoff: Duration::from_secs(2),
        ..short_history()
    });
    d.offer(node(7), &mut bans, t0).unwrap();
    let (_, until) = d
        .dial_done(&id(7), DialOutcome::Failed(SetupError::Protocol), t0)
        .unwrap();
    assert_eq!(until, t0 + Duration::from_secs(2));
    let mut off = DialState::new(DialLimits {
        max_backoff: Duration::ZERO,
        ..short_history()
    });
    for n in 0..2 * MAX_CONSECUTIVE_FAILURES {
        let now = t0 + Duration::from_secs(u64::from(n) * 2);
        off.offer(node(7), &mut bans, now).unwrap();
        let failed = DialOutcome::Failed(SetupError::Protocol);
        assert_eq!(off.dial_done(&id(7), failed, now), None);
    }
    assert_eq!(off.failures(&id(7)), 0);
}

#[test]
fn failure_memory_is_bounded() {
    let t0 = Instant::now();
    let mut bans = BanList::new();
    let mut d = DialState::new(limits(usize::MAX / 4, usize::MAX));
    let timeout = DialOutcome::Failed(SetupError::ConnectTimeout);
    for n in 0..(MAX_FAILURE_ENTRIES as u32 + 10) {
        let mut raw = [2u8; 64];
        raw[..4].copy_from_slice(&n.to_be_bytes());
        let node = Node::new(NodeId(raw), IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 1, 1);
        d.offer(node, &mut bans, t0).unwrap();
        d.dial_done(
            &NodeId(raw),
            timeout,
            t0 + Duration::from_millis(u64::from(n)),
        );
    }
    assert_eq!(d.failures.len(), MAX_FAILURE_ENTRIES);
}

mod sources {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::StreamExt;

    use super::{id, node};
    use crate::dial::{
        Candidate, DialFilter, NodeSources, SourceSpec, SourceStats, MAX_NODE_SOURCES,
        SOURCE_PREFETCH,
    };

    /// The next candidate's (source, node index), within 1 s of virtual time.
    async fn next(s: &mut NodeSources) -> (String, u16) {
        let (c, _) = tokio::time::timeout(Duration::from_secs(1), s.next())
            .await
            .expect("a candidate")
            .expect("sources left");
        (
            c.source.to_string(),
            u16::from_be_bytes([c.node.id.0[0], c.node.id.0[1]]),
        )
    }

    fn endless(from: u16) -> impl futures::Stream<Item = crate::node::Node> + Send + Unpin {
        futures::stream::iter(from..).map(node)
    }

    #[tokio::test(start_paused = true)]
    async fn sources_take_turns() {
        let mut s = NodeSources::new(None, Arc::new(SourceStats::default()));
        assert!(s.push(SourceSpec::new("a", endless(100))));
        assert!(s.push(SourceSpec::new("b", endless(200))));
        assert!(s.push(SourceSpec::new("c", endless(300))));
        // Let every feeder fill its buffer.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(next(&mut s).await);
        }
        assert_eq!(
            got,
            [
                ("a".into(), 100),
                ("b".into(), 200),
                ("c".into(), 300),
                ("a".into(), 101),
                ("b".into(), 201),
                ("c".into(), 301)
            ]
        );
        s.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_source_does_not_stall_the_others() {
        let stats = Arc::new(SourceStats::default());
        let mut s = NodeSources::new(None, stats.clone());
        // "slow" yields one node per minute.
        let slow = futures::stream::iter(1u16..).then(|n| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            node(n)
        });
        assert!(s.push(SourceSpec::new("slow", Box::pin(slow))));
        assert!(s.push(SourceSpec::new("fast", endless(500))));
        for i in 0..3 * SOURCE_PREFETCH as u16 {
            assert_eq!(next(&mut s).await, ("fast".into(), 500 + i));
        }
        // The fast feeder only ran ahead by its buffer.
        let fast = stats
            .snapshot()
            .into_iter()
            .find(|x| x.name == "fast")
            .unwrap();
        assert!(fast.produced <= 3 * SOURCE_PREFETCH as u64 + SOURCE_PREFETCH as u64 + 1);
        s.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn filter_sees_every_candidate_and_ended_sources_are_dropped() {
        let filter: DialFilter = Arc::new(|c: &Candidate| c.node.id != id(2));
        let stats = Arc::new(SourceStats::default());
        let mut s = NodeSources::new(Some(filter), stats.clone());
        assert!(s.push(SourceSpec::new(
            "list",
            futures::stream::iter((1..=3).map(node))
        )));
        assert_eq!(next(&mut s).await, ("list".into(), 1));
        assert_eq!(next(&mut s).await, ("list".into(), 3));
        assert!(s.next().await.is_none(), "the only source ended");
        assert!(s.is_empty());
        let snap = &stats.snapshot()[0];
        assert_eq!((snap.produced, snap.skipped("filtered")), (3, 1));
        s.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn source_names_are_bounded() {
        let mut s = NodeSources::new(None, Arc::new(SourceStats::default()));
        for i in 0..MAX_NODE_SOURCES {
            assert!(s.push(SourceSpec::new(
                &format!("s{i}"),
                futures::stream::empty::<crate::node::Node>()
            )));
        }
        assert!(!s.push(SourceSpec::new(
            "one-more",
            futures::stream::empty::<crate::node::Node>()
        )));
        assert!(
            s.push(SourceSpec::new(
                "s0",
                futures::stream::empty::<crate::node::Node>()
            )),
            "a known name"
        );
        s.shutdown().await;
    }

    #[test]
    fn records_convert_into_candidates() {
        let key = secp256k1::SecretKey::from_secret_bytes([9; 32]).unwrap();
        let enr = crate::node::Enr::builder()
            .ip4(std::net::Ipv4Addr::LOCALHOST)
            .tcp(30303)
            .add_raw(
                "eth",
                crate::enr_entries::EthEntry::new(crate::enr_entries::ForkId {
                    hash: [1, 2, 3, 4],
                    next: 0,
                })
                .to_rlp(),
            )
            .sign(&key)
            .unwrap();
        let c = Candidate::from(enr.clone());
        assert_eq!(c.node.id, enr.node_id());
        assert_eq!(c.node.tcp, 30303);
        assert_eq!(c.eth_entry().unwrap().unwrap().fork_id.hash, [1, 2, 3, 4]);
        assert!(Candidate::from(node(1)).record.is_none());
    }
}

#[test]
fn a_dual_stack_record_is_dialed_on_a_family_we_have() {
    use crate::dial::Candidate;
    use crate::node::{Enr, IpFamilies, Node};
    let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
    let v4: std::net::Ipv4Addr = "203.0.113.9".parse().unwrap();
    let v6: std::net::Ipv6Addr = "2001:db8::9".parse().unwrap();
    let record = Enr::builder()
        .ip4(v4)
        .ip6(v6)
        .tcp(30303)
        .tcp6(30304)
        .udp(30303)
        .sign(&key)
        .unwrap();
    let c = Candidate::from(record.clone());
    let only4 = IpFamilies::V4_ONLY;
    let only6 = IpFamilies::V6_ONLY;
    assert_eq!(c.endpoint(only4).tcp_addr(), Some((v4, 30303).into()));
    assert_eq!(c.endpoint(only6).tcp_addr(), Some((v6, 30304).into()));
    // Both public: IPv4 first, as go-ethereum.
    assert_eq!(
        c.endpoint(IpFamilies::BOTH).tcp_addr(),
        Some((v4, 30303).into())
    );
    // Without a record, or without an endpoint we can reach, the node as given.
    let bare = Candidate::new(Node::new(record.node_id(), v6.into(), 1, 1));
    assert_eq!(bare.endpoint(only4), bare.node);
    let v6_only = Enr::builder().ip6(v6).tcp(5).sign(&key).unwrap();
    let c6 = Candidate::from(v6_only);
    assert_eq!(c6.endpoint(only4), c6.node);
}
