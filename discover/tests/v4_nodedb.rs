//! Discovery remembers proven nodes in its database and, after a restart with
//! no bootnodes, finds them again from the database's seeds. Needs the file
//! backend (`node-db` feature).
#![cfg(feature = "node-db")]

mod v4_support;

use std::time::Duration;

use devp2p_discover::db::NodeDb;
use devp2p_discover::v4::{Discv4, Discv4Config, Node};
use v4_support::*;

/// How long the test waits for a table to contain the other node.
const WAIT_LIMIT: Duration = Duration::from_secs(20);
/// Polling step while waiting.
const POLL: Duration = Duration::from_millis(100);

fn node_of(d: &Discv4) -> Node {
    let a = d.local_addr();
    Node::new(d.local_id(), a.ip(), a.port(), a.port())
}

async fn wait_for_node(d: &Discv4, want: &Node) {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while tokio::time::Instant::now() < deadline {
        if d.table_nodes().await.iter().any(|n| n.id == want.id) {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{} never entered the table", want.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_finds_old_peers_through_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.redb");
    let (boot, _) = start(1, Discv4Config::default()).await;
    let boot_node = node_of(&boot);

    let db = NodeDb::open(&path).unwrap();
    let (first, _) = start(
        2,
        Discv4Config {
            bootnodes: vec![boot_node.clone()],
            db: Some(db.clone()),
            ..Discv4Config::default()
        },
    )
    .await;
    wait_for_node(&first, &boot_node).await;
    // The table takes bootnodes before they answer; the database only after
    // their pong (the endpoint proof). Wait for that write.
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while db.node(&boot_node.id).unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bootnode never stored"
        );
        tokio::time::sleep(POLL).await;
    }
    first.shutdown().await;
    assert!(
        db.node(&boot_node.id).unwrap().is_some(),
        "bootnode not stored"
    );
    drop(db);

    // Restart: no bootnodes, only the database.
    let db = NodeDb::open(&path).unwrap();
    let (second, _) = start(
        2,
        Discv4Config {
            db: Some(db),
            ..Discv4Config::default()
        },
    )
    .await;
    wait_for_node(&second, &boot_node).await;
    second.shutdown().await;
    boot.shutdown().await;
}
