use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
#[cfg(feature = "node-db")]
use std::io::{BufRead, BufReader};
#[cfg(feature = "node-db")]
use std::path::Path;
#[cfg(feature = "node-db")]
use std::process::{Command, Stdio};
#[cfg(feature = "node-db")]
use std::time::Instant;

fn id(n: u8) -> NodeId {
    NodeId([n; 64])
}

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const DAY: u64 = 24 * 60 * 60;

#[test]
fn records_round_trip_and_size_limit() {
    let db = NodeDb::in_memory().unwrap();
    assert_eq!(db.node(&id(1)).unwrap(), None);
    db.put_node(&id(1), b"record-1").unwrap();
    assert_eq!(db.node(&id(1)).unwrap().as_deref(), Some(&b"record-1"[..]));
    assert_eq!(db.node_count().unwrap(), 1);
    let big = vec![0u8; MAX_RECORD_SIZE + 1];
    assert!(matches!(
        db.put_node(&id(2), &big),
        Err(NodeDbError::RecordTooLarge { size }) if size == MAX_RECORD_SIZE + 1
    ));
    db.update_last_pong_received(&id(1), IP, 10).unwrap();
    db.delete_node(&id(1)).unwrap();
    assert_eq!(db.node(&id(1)).unwrap(), None);
    assert_eq!(db.liveness(&id(1), IP).unwrap(), Liveness::default());
}

#[test]
fn liveness_is_per_ip() {
    let db = NodeDb::in_memory().unwrap();
    let other: IpAddr = "::1".parse().unwrap();
    db.update_last_ping_received(&id(1), IP, 5).unwrap();
    db.update_last_pong_received(&id(1), IP, 6).unwrap();
    db.update_find_fails(&id(1), IP, 3).unwrap();
    db.update_last_pong_received(&id(1), other, 9).unwrap();
    assert_eq!(
        db.liveness(&id(1), IP).unwrap(),
        Liveness {
            last_ping_received: 5,
            last_pong_received: 6,
            find_fails: 3
        }
    );
    assert_eq!(db.liveness(&id(1), other).unwrap().last_pong_received, 9);
    assert_eq!(db.liveness(&id(2), IP).unwrap(), Liveness::default());
}

#[test]
fn local_seq_bans_and_reputation() {
    let db = NodeDb::in_memory().unwrap();
    db.store_local_seq(&id(9), 42).unwrap();
    assert_eq!(db.local_seq(&id(9)).unwrap(), Some(42));
    assert_eq!(db.local_seq(&id(8)).unwrap(), None);
    db.put_ban(&id(1), 100).unwrap();
    db.put_ban(&id(2), 50).unwrap();
    assert_eq!(db.bans(60).unwrap(), vec![(id(1), 100)]);
    db.remove_ban(&id(1)).unwrap();
    assert!(db.bans(60).unwrap().is_empty());
    db.put_reputation(&id(3), -7).unwrap();
    assert_eq!(db.reputations().unwrap(), vec![(id(3), -7)]);
}

#[test]
fn seeds_are_fresh_bounded_and_unique() {
    let db = NodeDb::in_memory().unwrap();
    let now = 100 * DAY;
    for n in 0..40u8 {
        db.put_node(&id(n), &[n]).unwrap();
        // Even nodes answered recently, odd ones a week ago.
        let pong = if n % 2 == 0 { now - DAY } else { now - 7 * DAY };
        db.update_last_pong_received(&id(n), IP, pong).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(1);
    let seeds = db.query_seeds(10, SEED_MAX_AGE, now, &mut rng).unwrap();
    assert!(!seeds.is_empty() && seeds.len() <= 10);
    for (i, (sid, rec)) in seeds.iter().enumerate() {
        assert_eq!(sid.0[0] % 2, 0, "stale node returned as seed");
        assert_eq!(rec, &vec![sid.0[0]]);
        assert!(!seeds[..i].iter().any(|(o, _)| o == sid), "duplicate seed");
    }
    // An empty database yields nothing, without looping.
    let empty = NodeDb::in_memory().unwrap();
    assert!(empty
        .query_seeds(30, SEED_MAX_AGE, now, &mut rng)
        .unwrap()
        .is_empty());
}

#[test]
fn expiry_removes_stale_nodes_but_keeps_self() {
    let db = NodeDb::in_memory().unwrap();
    let now = 10 * DAY;
    for n in 0..4u8 {
        db.put_node(&id(n), &[n]).unwrap();
    }
    db.update_last_pong_received(&id(0), IP, now - 60).unwrap();
    db.update_last_pong_received(&id(1), IP, now - 2 * DAY)
        .unwrap();
    // id(2) never answered; id(3) is ourselves.
    let removed = db.expire_nodes(now, &id(3)).unwrap();
    assert_eq!(removed, 2);
    assert!(db.node(&id(0)).unwrap().is_some());
    assert!(db.node(&id(1)).unwrap().is_none());
    assert!(db.node(&id(2)).unwrap().is_none());
    assert!(db.node(&id(3)).unwrap().is_some());
    assert_eq!(db.liveness(&id(1), IP).unwrap(), Liveness::default());
}

#[cfg(feature = "node-db")]
#[test]
fn file_database_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("nodes.redb");
    {
        let db = NodeDb::open(&path).unwrap();
        db.put_node(&id(1), b"r").unwrap();
        db.update_last_pong_received(&id(1), IP, 77).unwrap();
        db.flush().unwrap();
    }
    let db = NodeDb::open(&path).unwrap();
    assert_eq!(db.node(&id(1)).unwrap().as_deref(), Some(&b"r"[..]));
    assert_eq!(db.liveness(&id(1), IP).unwrap().last_pong_received, 77);
}

/// Environment variable naming the database path for the child writer.
#[cfg(feature = "node-db")]
const CHILD_ENV: &str = "DEVP2P_NODEDB_CHILD_PATH";
/// Upper bound on the child's writes, so it stops even if never killed.
#[cfg(feature = "node-db")]
const CHILD_MAX_WRITES: u64 = 100_000;
/// Durable commits the parent waits to see before killing the child.
#[cfg(feature = "node-db")]
const KILL_AFTER_COMMITS: u64 = 30;

#[cfg(feature = "node-db")]
/// The child half of `survives_kill_9`: writes durably until killed. Run only
/// by that test (it is ignored in normal runs).
#[test]
#[ignore = "run as a child process by survives_kill_9"]
fn kill9_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = NodeDb::open(Path::new(&path)).unwrap();
    let me = id(0xee);
    let started = Instant::now();
    for i in 1..=CHILD_MAX_WRITES {
        let node = NodeId::from_slice(&[(i % 251) as u8; 64]).unwrap();
        db.put_node(&node, &i.to_be_bytes()).unwrap();
        db.update_last_pong_received(&node, IP, i).unwrap();
        db.store_local_seq(&me, i).unwrap();
        println!("committed {i}");
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
}

#[cfg(feature = "node-db")]
#[test]
fn survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "db::tests::kill9_child_writer",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            last = n.trim().parse().unwrap();
            if last >= KILL_AFTER_COMMITS {
                break;
            }
        }
    }
    // SIGKILL in the middle of the next write.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(last >= KILL_AFTER_COMMITS, "child stopped early at {last}");

    let db = NodeDb::open(&path).expect("database must reopen after kill -9");
    let seq = db.local_seq(&id(0xee)).unwrap().expect("seq survived");
    assert!(seq >= last, "committed seq {last} lost, found {seq}");
    // Every record written durably up to `last` is intact.
    for i in last.saturating_sub(200).max(1)..=last {
        let node = NodeId::from_slice(&[(i % 251) as u8; 64]).unwrap();
        let rec = db.node(&node).unwrap().expect("record survived");
        let stored = u64::from_be_bytes(rec.as_slice().try_into().unwrap());
        assert!(stored >= i, "record for write {i} rolled back to {stored}");
    }
}
