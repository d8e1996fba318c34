//! Peer memory: ranking, bounds, expiry and the stored form.

use super::*;
use crate::node::Node;
use std::net::Ipv4Addr;

const HOUR: u64 = 60 * 60;
const NOW: u64 = 1_000 * 24 * HOUR;

/// Node `n` at 127.0.0.1:(30000 + n); IDs need not be valid keys here.
fn node(n: u16) -> Node {
    let mut id = [0u8; 64];
    id[..2].copy_from_slice(&n.to_be_bytes());
    Node::new(
        NodeId(id),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        30_000 + n,
        30_303,
    )
}

#[test]
fn entry_round_trips_and_rejects_garbage() {
    let mut h = PeerHistory::new(node(7), NOW);
    h.session_secs = 99;
    h.consecutive_failures = 2;
    let id = h.node.id;
    let bytes = h.encode();
    assert_eq!(bytes.len(), PEER_ENTRY_SIZE);
    assert_eq!(PeerHistory::decode(id, &bytes), Ok(h.clone()));
    // IPv6 endpoints too.
    let mut v6 = h.clone();
    v6.node = Node::new(id, "2001:db8::1".parse().unwrap(), 1, 0);
    assert_eq!(PeerHistory::decode(id, &v6.encode()), Ok(v6));
    assert_eq!(
        PeerHistory::decode(id, &bytes[..10]),
        Err(PeerHistoryError::BadLength { len: 10 })
    );
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(
        PeerHistory::decode(id, &v2),
        Err(PeerHistoryError::BadVersion(2))
    );
    let mut no_port = bytes.clone();
    no_port[PEER_ENTRY_SIZE - 4..PEER_ENTRY_SIZE - 2].fill(0);
    assert_eq!(
        PeerHistory::decode(id, &no_port),
        Err(PeerHistoryError::BadEndpoint)
    );
    let huge = vec![1u8; PEER_ENTRY_SIZE + 1];
    assert!(matches!(
        PeerHistory::decode(id, &huge),
        Err(PeerHistoryError::BadLength { .. })
    ));
}

#[test]
fn sessions_failures_and_durations_are_counted() {
    let db = NodeDb::in_memory().unwrap();
    let n = node(1);
    // A failure before any session is not remembered.
    db.record_dial_failure(&n.id, FailureKind::Timeout).unwrap();
    assert_eq!(db.peer_history(&n.id).unwrap(), None);
    db.record_session_start(&n, NOW).unwrap();
    db.record_session_end(&n.id, Duration::from_secs(600), NOW + 600)
        .unwrap();
    db.record_dial_failure(&n.id, FailureKind::Refused).unwrap();
    db.record_dial_failure(&n.id, FailureKind::Refused).unwrap();
    let h = db.peer_history(&n.id).unwrap().unwrap();
    assert_eq!(
        (
            h.sessions,
            h.session_secs,
            h.last_connected,
            h.consecutive_failures
        ),
        (1, 600, NOW + 600, 2)
    );
    assert_eq!(h.failures(FailureKind::Refused), 2);
    assert_eq!(h.failures(FailureKind::Timeout), 0);
    // A new session resets the failures in a row, keeps the totals.
    db.record_session_start(&n, NOW + 700).unwrap();
    let h = db.peer_history(&n.id).unwrap().unwrap();
    assert_eq!((h.sessions, h.consecutive_failures), (2, 0));
    assert_eq!(h.failures(FailureKind::Refused), 2);
    // An inbound session (no UDP port known) keeps the stored UDP port.
    let mut inbound = n.clone();
    inbound.udp = 0;
    db.record_session_start(&inbound, NOW + 800).unwrap();
    assert_eq!(db.peer_history(&n.id).unwrap().unwrap().node.udp, n.udp);
    // A node without an endpoint is not remembered.
    db.record_session_start(&Node::incomplete(node(2).id), NOW)
        .unwrap();
    assert_eq!(db.remembered_peer_count().unwrap(), 1);
}

#[test]
fn ranking_prefers_returning_long_recent_and_reliable_peers() {
    let db = NodeDb::in_memory().unwrap();
    // 1: three sessions, an hour in total. 2: one short session (less than
    // 1 even with two failures in a row: 3).
    // 3: like 1 but two failures in a row. 4: like 2 but four days old.
    // 5: five failures in a row: not dialed at all. 6: expired.
    for (n, sessions) in [(1, 3), (2, 1), (3, 3), (4, 1), (5, 9), (6, 9)] {
        for _ in 0..sessions {
            db.record_session_start(&node(n), NOW - 10).unwrap();
        }
    }
    db.record_session_end(&node(1).id, Duration::from_secs(HOUR), NOW)
        .unwrap();
    db.record_session_end(&node(3).id, Duration::from_secs(HOUR), NOW)
        .unwrap();
    for _ in 0..2 {
        db.record_dial_failure(&node(3).id, FailureKind::Timeout)
            .unwrap();
    }
    for _ in 0..MAX_REMEMBERED_PEER_FAILURES {
        db.record_dial_failure(&node(5).id, FailureKind::Transient)
            .unwrap();
    }
    db.record_session_start(&node(4), NOW - 4 * 24 * HOUR)
        .unwrap();
    db.record_session_start(&node(6), NOW - PEER_HISTORY_MAX_AGE.as_secs() - 1)
        .unwrap();
    let best: Vec<Node> = db
        .best_peers(10, NOW)
        .unwrap()
        .into_iter()
        .map(|h| h.node)
        .collect();
    assert_eq!(best, vec![node(1), node(3), node(2), node(4)]);
    // Scores as the documented formula gives them.
    let score = |n| db.peer_history(&node(n).id).unwrap().unwrap().score(NOW);
    assert_eq!(score(1), 30 + 60);
    assert_eq!(score(2), 10);
    assert_eq!(score(3), 30 + 60 - 60);
    assert_eq!(score(4), 20 - 96);
    assert_eq!(db.best_peers(2, NOW).unwrap().len(), 2);
    // Expiry removes only the old entry.
    assert_eq!(db.expire_peers(NOW).unwrap(), 1);
    assert_eq!(db.remembered_peer_count().unwrap(), 5);
}

#[test]
fn protocol_failures_weigh_more() {
    let db = NodeDb::in_memory().unwrap();
    db.record_session_start(&node(1), NOW).unwrap();
    db.record_session_start(&node(2), NOW).unwrap();
    db.record_dial_failure(&node(1).id, FailureKind::Transient)
        .unwrap();
    db.record_dial_failure(&node(2).id, FailureKind::Protocol)
        .unwrap();
    let best = db.best_peers(2, NOW).unwrap();
    assert_eq!(best[0].node, node(1));
    assert_eq!(best[1].score(NOW), 10 - 30 - 20);
}

#[test]
fn table_is_bounded_and_evicts_the_lowest_score() {
    let db = NodeDb::in_memory().unwrap();
    let full = MAX_REMEMBERED_PEERS as u16;
    for n in 0..full {
        db.record_session_start(&node(n), NOW).unwrap();
    }
    // Node 0 is the worst: it failed twice since.
    db.record_dial_failure(&node(0).id, FailureKind::Timeout)
        .unwrap();
    db.record_dial_failure(&node(0).id, FailureKind::Timeout)
        .unwrap();
    // A new peer at the full table evicts a batch, the worst first.
    db.record_session_start(&node(full), NOW).unwrap();
    let after = (MAX_REMEMBERED_PEERS - PEER_EVICTION_BATCH + 1) as u64;
    assert_eq!(db.remembered_peer_count().unwrap(), after);
    assert_eq!(db.peer_history(&node(0).id).unwrap(), None);
    assert!(db.peer_history(&node(full).id).unwrap().is_some());
    // An existing peer's new session evicts nobody.
    let kept = db.best_peers(1, NOW).unwrap()[0].node.clone();
    db.record_session_start(&kept, NOW).unwrap();
    assert_eq!(db.remembered_peer_count().unwrap(), after);
    // Refilled to the bound, never above it.
    for n in full + 1..2 * full {
        db.record_session_start(&node(n), NOW).unwrap();
        assert!(db.remembered_peer_count().unwrap() <= MAX_REMEMBERED_PEERS as u64);
    }
    // Expired entries go first, whatever their score.
    db.record_session_start(&node(3 * full), NOW + PEER_HISTORY_MAX_AGE.as_secs() + 1)
        .unwrap();
    assert_eq!(db.remembered_peer_count().unwrap(), 1);
}

#[cfg(feature = "node-db")]
#[test]
fn peer_memory_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.redb");
    {
        let db = NodeDb::open(&path).unwrap();
        db.record_session_start(&node(3), NOW).unwrap();
        db.flush().unwrap();
    }
    let db = NodeDb::open(&path).unwrap();
    assert_eq!(db.best_peers(5, NOW).unwrap()[0].node, node(3));
}

#[cfg(not(feature = "node-db"))]
#[test]
fn without_the_feature_a_file_is_refused() {
    let err = NodeDb::open(std::path::Path::new("/nonexistent/nodes.redb")).unwrap_err();
    assert!(matches!(err, NodeDbError::NoPersistence { .. }));
    assert!(err.to_string().contains("node-db"));
}
