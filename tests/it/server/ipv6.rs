//! IPv6 and dual-stack servers over [::1] and 127.0.0.1: RLPx and the
//! protocol over IPv6, discovery over IPv6, one node listening on both
//! families, its record, and the dialer choosing a family. Every test
//! prints SKIPPED (with the reason) and passes when the machine has no
//! IPv6 loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::support::*;
use bytes::Bytes;
use devp2p::node::{IpFamilies, Node};
use devp2p::Server;
use tokio::sync::mpsc;

fn v6_loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

/// Whether [::1] can be bound; prints SKIPPED with the reason when not.
fn have_ipv6(test: &str) -> bool {
    match devp2p_netutil::ipv6_loopback_available() {
        Ok(()) => true,
        Err(e) => {
            println!("SKIPPED {test}: cannot bind [::1] ({e})");
            false
        }
    }
}

/// A server for key `n` on [::1] only.
async fn start_v6(n: u32, discovery: bool, boot: Vec<Node>) -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel(1024);
    let mut c = config(n, tx);
    c.listen_addr = Some(v6_loopback(0));
    c.no_discovery = !discovery;
    c.bootstrap_nodes = boot;
    (Server::start(c).await.expect("server starts"), rx)
}

/// A dual-stack server for key `n`: 127.0.0.1 and [::1].
async fn start_dual(n: u32) -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel(1024);
    let mut c = config(n, tx);
    c.listen_addr_v6 = Some(v6_loopback(0));
    c.no_discovery = false;
    (Server::start(c).await.expect("server starts"), rx)
}

async fn greeting_from(seen: &mut mpsc::Receiver<Seen>, from: u32) {
    let (peer, _code, payload) = tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("a greeting in time")
        .expect("channel open");
    assert_eq!(peer, id(from));
    assert_eq!(payload, Bytes::from(alloy_rlp::encode("hi")));
}

#[tokio::test]
async fn two_servers_on_ipv6_loopback_run_a_protocol() {
    if !have_ipv6("two_servers_on_ipv6_loopback_run_a_protocol") {
        return;
    }
    let (a, mut seen_a) = start_v6(101, false, vec![]).await;
    let (b, mut seen_b) = start_v6(102, false, vec![]).await;
    let b_node = b.self_node();
    assert_eq!(b_node.ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(b.local_addr().unwrap().ip(), Ipv6Addr::LOCALHOST);
    let record = b.record();
    assert_eq!(record.ip6(), Some(Ipv6Addr::LOCALHOST));
    assert_eq!(record.ip4(), None);
    assert_eq!(record.tcp6(), Some(b.local_addr().unwrap().port()));
    assert!(b_node.to_string().contains("@[::1]:"), "{b_node}");

    a.add_peer(b_node).await.unwrap();
    wait_peers(&a, 1).await;
    wait_peers(&b, 1).await;
    greeting_from(&mut seen_a, 102).await;
    greeting_from(&mut seen_b, 101).await;
    let peers = b.peers().await;
    assert_eq!(peers[0].remote_addr().ip(), Ipv6Addr::LOCALHOST);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn discovery_over_ipv6_loopback_finds_peers() {
    if !have_ipv6("discovery_over_ipv6_loopback_finds_peers") {
        return;
    }
    let (a, _ra) = start_v6(111, true, vec![]).await;
    let boot = a.self_node();
    assert_eq!(boot.udp, a.local_addr().unwrap().port());
    assert_eq!(a.record().udp6(), Some(boot.udp));
    // Three nodes (see discovery_feeds_the_dialer): nobody calls add_peer.
    let (b, _rb) = start_v6(112, true, vec![boot.clone()]).await;
    let (c, _rc) = start_v6(113, true, vec![boot]).await;
    for s in [&a, &b, &c] {
        wait_peer_count(s, "a peer found by discovery over IPv6", |n| n >= 1).await;
    }
    let table = b.discovery().unwrap().table_nodes().await;
    assert!(table
        .iter()
        .all(|n| n.ip == Some(IpAddr::V6(Ipv6Addr::LOCALHOST))));
    for s in [a, b, c] {
        s.stop().await;
    }
}

#[tokio::test]
async fn dual_stack_server_accepts_both_families_and_records_both() {
    if !have_ipv6("dual_stack_server_accepts_both_families_and_records_both") {
        return;
    }
    let (dual, _rd) = start_dual(121).await;
    let record = dual.record();
    let tcp = dual.local_addr().unwrap().port();
    assert_eq!(record.ip4(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(record.ip6(), Some(Ipv6Addr::LOCALHOST));
    assert_eq!(record.tcp(), Some(tcp));
    let tcp6 = record.tcp6().expect("tcp6");
    let udp6 = record.udp6().expect("udp6");
    assert_eq!(record.udp(), Some(tcp), "UDP shares the TCP port");
    assert_eq!(udp6, tcp6, "IPv6 UDP shares the IPv6 TCP port");

    // An IPv4 peer and an IPv6 peer dial it, each on its own family.
    let (p4, mut seen4) = start(122).await;
    let (p6, mut seen6) = start_v6(123, false, vec![]).await;
    let only4 = IpFamilies::V4_ONLY;
    let only6 = IpFamilies::V6_ONLY;
    let via4 = Node::from_enr_reachable(&record, only4).unwrap();
    let via6 = Node::from_enr_reachable(&record, only6).unwrap();
    assert_eq!(via6.tcp_addr(), Some(v6_loopback(tcp6)));
    p4.add_peer(via4).await.unwrap();
    p6.add_peer(via6).await.unwrap();
    wait_peers(&dual, 2).await;
    greeting_from(&mut seen4, 121).await;
    greeting_from(&mut seen6, 121).await;
    let mut remotes: Vec<bool> = dual
        .peers()
        .await
        .iter()
        .map(|p| p.remote_addr().is_ipv6())
        .collect();
    remotes.sort();
    assert_eq!(remotes, vec![false, true], "one peer per family");

    // discv4 answers on the IPv6 socket too.
    let disc6 = devp2p_discover::v4::Discv4::bind(
        v6_loopback(0),
        key(124),
        devp2p::node::LocalNode::new(key(124), 1),
        Default::default(),
    )
    .await
    .unwrap();
    let disc_via6 = Node::new(
        record.node_id(),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        tcp6,
        udp6,
    );
    disc6.ping(&disc_via6).await.unwrap();
    assert_eq!(disc6.request_enr(&disc_via6).await.unwrap(), dual.record());
    disc6.shutdown().await;
    for s in [dual, p4, p6] {
        s.stop().await;
    }
}
