//! Record entries on a running server and the dial pipeline: a dial
//! filter that sees discv4 candidates' records (fetched in the background).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::support::*;
use devp2p::config::Config;
use devp2p::dial::{Candidate, DISCV4_SOURCE};
use devp2p::enr_entries::{EthEntry, ForkId};
use devp2p::node::{LocalNode, Node};
use devp2p::server::{RecordEntryError, Server};
use devp2p_discover::v4::{Discv4, Discv4Config};
use tokio::sync::mpsc;

const FORK_A: ForkId = ForkId {
    hash: [0xaa, 0, 0, 1],
    next: 0,
};
const FORK_B: ForkId = ForkId {
    hash: [0xbb, 0, 0, 2],
    next: 0,
};

/// The discv4 endpoint of `server` (listener and discovery share the port).
fn disc_node(server: &Server) -> Node {
    let tcp = server.local_addr().expect("listening");
    let udp = server.discovery().expect("discovery runs").local_addr();
    Node::new(server.self_node().id, tcp.ip(), tcp.port(), udp.port())
}

/// `config(n)` with discovery on 127.0.0.1.
fn disc_config(n: u32) -> Config {
    let (tx, _) = mpsc::channel(1);
    let mut c = config(n, tx);
    c.no_discovery = false;
    c
}

#[tokio::test]
async fn record_entry_bumps_seq_once_and_discv4_serves_it() {
    let server = Server::start(disc_config(51)).await.unwrap();
    let seq0 = server.record().seq();
    let entry = EthEntry::new(FORK_A);
    server.set_record_entry("eth", &entry).unwrap();
    assert_eq!(server.record().seq(), seq0 + 1, "one change, one bump");
    server.set_record_entry("eth", &entry).unwrap();
    assert_eq!(server.record().seq(), seq0 + 1, "same value: no bump");
    for key in ["id", "secp256k1", "ip", "tcp", "udp", "ip6"] {
        assert!(matches!(
            server.set_record_entry_raw(key, vec![0x01]),
            Err(RecordEntryError::Reserved { .. })
        ));
        assert!(matches!(
            server.remove_record_entry(key),
            Err(RecordEntryError::Reserved { .. })
        ));
    }
    assert!(matches!(
        server.set_record_entry_raw("x", vec![0x01, 0x02]),
        Err(RecordEntryError::Rejected { .. })
    ));
    assert!(matches!(
        server.set_record_entry_raw("big", alloy_rlp::encode(vec![7u8; 300].as_slice())),
        Err(RecordEntryError::Rejected { .. })
    ));
    assert_eq!(
        server.record().seq(),
        seq0 + 1,
        "refused changes change nothing"
    );

    // Another discv4 node asks for our record (EIP-868) and gets the entry.
    let key = key(52);
    let local = LocalNode::new(key, 1);
    local.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let asker = Discv4::bind(addr, key, local, Discv4Config::default())
        .await
        .unwrap();
    let record = tokio::time::timeout(WAIT, asker.request_enr(&disc_node(&server)))
        .await
        .expect("ENR response in time")
        .expect("ENR response");
    assert_eq!(record.seq(), seq0 + 1);
    assert_eq!(EthEntry::from_record(&record).unwrap(), Some(entry));

    assert!(server.remove_record_entry("eth").unwrap());
    assert_eq!(server.record().seq(), seq0 + 2);
    assert!(!server.remove_record_entry("eth").unwrap());
    assert_eq!(server.record().seq(), seq0 + 2);
    asker.shutdown().await;
    server.stop().await;
}

/// Three discv4 nodes announce fork ids in their records (two match ours);
/// our server only knows them as discv4 bootnodes, fetches their records in
/// the background and dials only the matching ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_filter_on_fetched_records_dials_only_matching_fork() {
    let mut others = Vec::new();
    for (n, fork) in [(61, FORK_A), (62, FORK_A), (63, FORK_B)] {
        let mut c = disc_config(n);
        c.no_dial = true; // only our server dials
        let s = Server::start(c).await.unwrap();
        s.set_record_entry("eth", &EthEntry::new(fork)).unwrap();
        others.push(s);
    }
    let mut c = disc_config(60);
    c.bootstrap_nodes = others.iter().map(disc_node).collect();
    c.dial_filter = Some(Arc::new(
        |cand: &Candidate| matches!(cand.eth_entry(), Some(Ok(e)) if e.fork_id == FORK_A),
    ));
    let ours = Server::start(c).await.unwrap();
    wait_peers(&ours, 2).await;
    let want: HashSet<_> = [id(61), id(62)].into();
    let have: HashSet<_> = ours.peers().await.iter().map(|p| p.id()).collect();
    assert_eq!(have, want);
    // The third node was offered and filtered out, never dialed; both dials
    // are counted as connected once they report back (just after the Add).
    let discv4 = || {
        ours.source_stats()
            .into_iter()
            .find(|s| s.name == DISCV4_SOURCE)
            .expect("the discv4 source is counted")
    };
    wait_until("the other fork filtered and 2 dials connected", || async {
        let s = discv4();
        s.skipped("filtered") > 0 && s.connected == 2
    })
    .await;
    assert_eq!(others[2].peer_count().await, 0);
    assert_eq!(others[2].setup_stats().serves.attempts, 0);
    let s = discv4();
    assert!(s.produced >= 3 && s.dialed == 2, "{s:?}");
    let body = ours.metrics().render();
    assert!(
        body.contains("p2p_dial_candidates_connected_total{source=\"discv4\"} 2"),
        "{body}"
    );
    ours.stop().await;
    for s in others {
        s.stop().await;
    }
}

/// A node in the middle of connecting to us (RLPx handshake done, Hello not
/// yet) is not dialed when a source offers it.
#[tokio::test]
async fn a_node_connecting_to_us_is_not_dialed() {
    use futures::StreamExt;
    let (tx, _) = mpsc::channel(1);
    let server = Server::start(config(71, tx)).await.unwrap();
    let mut conn = raw_connect(72, &server).await;
    // The server sends its Hello only after the post-handshake check, which
    // marks the connection as in progress.
    let hello = tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("server Hello in time");
    assert!(matches!(hello, Some(Ok(_))), "{hello:?}");
    let offered = Node::new(id(72), IpAddr::V4(Ipv4Addr::LOCALHOST), 9, 0);
    server
        .add_named_node_source("test", futures::stream::iter([offered]))
        .await
        .unwrap();
    wait_until("the candidate to be skipped", || async {
        server
            .source_stats()
            .iter()
            .any(|s| s.name == "test" && s.skipped("inbound_pending") == 1)
    })
    .await;
    assert_eq!(server.setup_stats().dials.attempts, 0);
    drop(conn);
    server.stop().await;
}
