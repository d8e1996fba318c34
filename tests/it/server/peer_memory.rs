//! Peer memory: a server with a node database file reconnects after a
//! restart to the peers it had, from the database alone (no discovery, no
//! static nodes).

use devp2p::dial::PEER_MEMORY_SOURCE;
use devp2p::test_utils::{test_config, TestNode};
use devp2p::Protocol;

use crate::support::WAIT;

/// Peers of the restarted server: the first half dialed by it, the second
/// half dialing it (remembered at the port their Hello announces).
const PEERS: usize = 4;

/// A protocol that idles until the peer goes.
fn idle() -> Protocol {
    Protocol::new("idle", 1, 1, |_peer, _rw| async move {
        futures::future::pending::<()>().await;
        Ok::<(), devp2p::ProtocolError>(())
    })
}

#[tokio::test]
async fn a_restart_reconnects_to_remembered_peers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(700, vec![idle()]);
    config.node_database = Some(dir.path().join("nodes"));
    let mut a = TestNode::start(config.clone()).await.unwrap();
    let mut peers = Vec::new();
    for i in 0..PEERS {
        peers.push(
            TestNode::start(test_config(701 + i, vec![idle()]))
                .await
                .unwrap(),
        );
    }
    for (i, p) in peers.iter().enumerate() {
        if i < PEERS / 2 {
            a.server.add_peer(p.node()).await.unwrap();
        } else {
            p.server.add_peer(a.node()).await.unwrap();
        }
    }
    a.wait_peers(PEERS, WAIT).await.unwrap();
    let a_id = a.id();
    a.server.stop().await;
    for p in &mut peers {
        p.wait_peers(0, WAIT).await.unwrap();
        // Nobody dials the restarted server on their own.
        p.server.remove_peer(a_id).await.unwrap();
    }

    // Same database, no static nodes, no discovery.
    assert!(config.static_nodes.is_empty() && config.no_discovery);
    let mut a = TestNode::start(config).await.unwrap();
    a.wait_peers(PEERS, WAIT).await.unwrap();
    let memory = a
        .server
        .source_stats()
        .into_iter()
        .find(|s| s.name == PEER_MEMORY_SOURCE)
        .expect("memory source listed");
    assert_eq!(memory.produced, PEERS as u64);
    assert_eq!(memory.connected, PEERS as u64);
    let mut ids: Vec<_> = a.server.peers().await.iter().map(|p| p.id()).collect();
    ids.sort();
    let mut want: Vec<_> = peers.iter().map(|p| p.id()).collect();
    want.sort();
    assert_eq!(ids, want);
    a.server.stop().await;
    for p in peers {
        p.server.stop().await;
    }
}

/// With `remembered_peers_dialed = 0` nothing is dialed from memory.
#[tokio::test]
async fn peer_memory_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(710, vec![idle()]);
    config.node_database = Some(dir.path().join("nodes"));
    let mut a = TestNode::start(config.clone()).await.unwrap();
    let b = TestNode::start(test_config(711, vec![idle()]))
        .await
        .unwrap();
    a.server.add_peer(b.node()).await.unwrap();
    a.wait_peers(1, WAIT).await.unwrap();
    a.server.stop().await;
    config.remembered_peers_dialed = 0;
    let a = TestNode::start(config).await.unwrap();
    assert!(a
        .server
        .source_stats()
        .iter()
        .all(|s| s.name != PEER_MEMORY_SOURCE));
    a.server.stop().await;
    b.server.stop().await;
}
