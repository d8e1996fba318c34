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
