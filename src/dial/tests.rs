use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::banlist::BanList;

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
    d.dial_done(&id(7), DialOutcome::Failed, t0 + Duration::from_secs(1));
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
    d.dial_done(&id(2), DialOutcome::Failed, t0);
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
        d.dial_done(&id(3), DialOutcome::ResolveFailed, now);
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
        d.dial_done(&NodeId(raw), DialOutcome::Failed, t0);
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
        let key = secp256k1::SecretKey::from_slice(&[9; 32]).unwrap();
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
