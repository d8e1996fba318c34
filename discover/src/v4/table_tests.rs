use super::*;
use std::net::Ipv4Addr;

fn id(seed: u64) -> NodeId {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut b = [0u8; 64];
    rng.fill(&mut b[..]);
    NodeId(b)
}

/// Seeds whose IDs land in the given bucket of a table around `self_id`.
fn ids_in_bucket(t: &Table, bucket: usize, count: usize) -> Vec<NodeId> {
    (1000u64..)
        .map(id)
        .filter(|i| t.bucket_index(&i.hash()) == bucket)
        .take(count)
        .collect()
}

fn node(id: NodeId, ip: [u8; 4]) -> Node {
    Node::new(id, IpAddr::V4(Ipv4Addr::from(ip)), 30303, 30303)
}

fn table() -> Table {
    Table::new(id(1), Duration::from_secs(3), 7)
}

#[test]
fn bucket_layout() {
    assert_eq!(N_BUCKETS, 17);
    assert_eq!(BUCKET_MIN_DISTANCE, 239);
    let t = table();
    let mut h = t.self_hash;
    assert_eq!(t.bucket_index(&h), 0);
    h[31] ^= 1; // distance 1
    assert_eq!(t.bucket_index(&h), 0);
    let mut h = t.self_hash;
    h[2] ^= 0x01; // distance 256 - 23 = 233 <= 239
    assert_eq!(t.bucket_index(&h), 0);
    let mut h = t.self_hash;
    h[1] ^= 0x01; // distance 241
    assert_eq!(t.bucket_index(&h), 1);
    let mut h = t.self_hash;
    h[0] ^= 0x80; // distance 256
    assert_eq!(t.bucket_index(&h), 16);
}

#[test]
fn full_bucket_keeps_replacements_and_promotes_them() {
    let now = Instant::now();
    let mut t = table();
    let ids = ids_in_bucket(&t, 16, BUCKET_SIZE + MAX_REPLACEMENTS + 2);
    for (i, nid) in ids.iter().enumerate() {
        let out = t.add(node(*nid, [1, i as u8, 0, 1]), false, now);
        let want = if i < BUCKET_SIZE {
            AddOutcome::Added
        } else {
            AddOutcome::Replacement
        };
        assert_eq!(out, want, "node {i}");
    }
    assert_eq!(t.len(), BUCKET_SIZE);
    assert_eq!(t.replacements_for(&ids[0]), MAX_REPLACEMENTS);
    assert_eq!(
        t.add(node(ids[0], [1, 0, 0, 1]), false, now),
        AddOutcome::Present
    );
    let promoted = t.remove(&ids[0], now).expect("a replacement is promoted");
    assert!(t.contains(&promoted.id));
    assert!(!t.contains(&ids[0]));
    assert_eq!(t.len(), BUCKET_SIZE);
    assert_eq!(t.replacements_for(&ids[0]), MAX_REPLACEMENTS - 1);
}

#[test]
fn ip_limits_per_bucket_and_table() {
    let now = Instant::now();
    let mut t = table();
    let ids = ids_in_bucket(&t, 16, 3);
    assert_eq!(
        t.add(node(ids[0], [5, 5, 5, 1]), false, now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add(node(ids[1], [5, 5, 5, 2]), false, now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add(node(ids[2], [5, 5, 5, 3]), false, now),
        AddOutcome::Rejected
    );
    // Table-wide: 10 per /24 across buckets.
    let mut t = table();
    let mut added = 0;
    for b in 8..17 {
        for nid in ids_in_bucket(&t, b, 2) {
            if t.add(node(nid, [6, 6, 6, added as u8 + 1]), false, now) == AddOutcome::Added {
                added += 1;
            }
        }
    }
    assert_eq!(added, TABLE_IP_LIMIT);
    // LAN addresses are exempt.
    let mut t = table();
    for (i, nid) in ids_in_bucket(&t, 16, 5).into_iter().enumerate() {
        assert_eq!(
            t.add(node(nid, [192, 168, 0, i as u8 + 1]), false, now),
            AddOutcome::Added
        );
    }
}

#[test]
fn closest_sorts_by_distance_and_prefers_live() {
    let now = Instant::now();
    let mut t = table();
    for s in 0..200u64 {
        t.add(
            node(id(s + 10), [10, 0, (s % 250) as u8, 1]),
            s % 2 == 0,
            now,
        );
    }
    let target = id(99_999).hash();
    let got = t.closest(&target, 16, false);
    assert_eq!(got.len(), 16);
    for w in got.windows(2) {
        assert_ne!(
            distance_cmp(&target, &w[0].id.hash(), &w[1].id.hash()),
            std::cmp::Ordering::Greater
        );
    }
    let live = t.closest(&target, 16, true);
    assert!(live.iter().all(|n| t.entry(&n.id).unwrap().live_checks > 0));
}

#[test]
fn revalidation_moves_and_evicts() {
    let now = Instant::now();
    let mut t = table();
    let ids = ids_in_bucket(&t, 16, BUCKET_SIZE + 1);
    for (i, nid) in ids.iter().enumerate() {
        t.add(node(*nid, [2, i as u8, 0, 1]), false, now);
    }
    let due_at = t.next_revalidation().expect("scheduled");
    assert!(due_at <= now + Duration::from_secs(30));
    let later = now + Duration::from_secs(31);
    let due = t.due_revalidations(later);
    assert_eq!(due.len(), 1, "only the fast list has nodes");
    let first = due[0].id;
    assert_eq!(t.revalidated(&first, true, later), None);
    assert_eq!(t.entry(&first).unwrap().list, RevalList::Slow);
    // A new node (0 checks) that fails is replaced at once.
    let other = ids[..BUCKET_SIZE].iter().find(|i| **i != first).unwrap();
    let promoted = t.revalidated(other, false, later).expect("replaced");
    assert_eq!(promoted.id, ids[BUCKET_SIZE]);
    assert!(!t.contains(other));
    // A node proven three times survives one failure (3 / 3 = 1 check left).
    t.revalidated(&first, true, later);
    t.revalidated(&first, true, later);
    assert_eq!(t.revalidated(&first, false, later), None);
    assert!(t.contains(&first));
}

#[test]
fn rejects_self_and_missing_ip() {
    let now = Instant::now();
    let mut t = table();
    assert_eq!(
        t.add(node(id(1), [1, 1, 1, 1]), false, now),
        AddOutcome::Rejected
    );
    let mut n = node(id(5), [1, 1, 1, 1]);
    n.ip = None;
    assert_eq!(t.add(n, false, now), AddOutcome::Rejected);
}

#[test]
fn ipv6_addresses_in_one_slash_48_count_as_one_subnet() {
    let now = Instant::now();
    let v6 = |id, s: &str| Node::new(id, s.parse().unwrap(), 30303, 30303);
    // Per bucket: three hosts of one /64, then one of another /64 in the
    // same /48, are one subnet (2 allowed); another /48 is not.
    let mut t = table();
    let ids = ids_in_bucket(&t, 16, 5);
    assert_eq!(
        t.add(v6(ids[0], "2a00:1450:1:1::1"), false, now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add(v6(ids[1], "2a00:1450:1:1::2"), false, now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add(v6(ids[2], "2a00:1450:1:1::3"), false, now),
        AddOutcome::Rejected
    );
    assert_eq!(
        t.add(v6(ids[3], "2a00:1450:1:2::1"), false, now),
        AddOutcome::Rejected
    );
    assert_eq!(
        t.add(v6(ids[4], "2a00:1450:2:1::1"), false, now),
        AddOutcome::Added
    );
    // Table-wide: TABLE_IP_LIMIT per /48, however many /64s they use.
    let mut t = table();
    let mut added = 0;
    for b in 8..17 {
        for nid in ids_in_bucket(&t, b, 2) {
            let addr = format!("2a00:1450:7:{:x}::1", added + b * 16);
            if t.add(v6(nid, &addr), false, now) == AddOutcome::Added {
                added += 1;
            }
        }
    }
    assert_eq!(added, TABLE_IP_LIMIT);
}
