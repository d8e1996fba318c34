//! discv5 over 127.0.0.1: two of our nodes, the shared socket, one record.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use secp256k1::SecretKey;

use super::*;
use crate::node::Node;
use crate::v4::{Discv4, Discv4Config};

/// Bound of every awaited condition (a few round trips on 127.0.0.1 take
/// milliseconds; this only fails a broken test).
const WAIT: Duration = Duration::from_secs(10);
/// Re-check interval of [`wait_until`].
const POLL: Duration = Duration::from_millis(20);

fn key(n: u8) -> SecretKey {
    SecretKey::from_secret_bytes([n; 32]).unwrap()
}

fn local(n: u8) -> LocalNode {
    let ln = LocalNode::new(key(n), 1);
    ln.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    ln
}

fn any_port() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
}

async fn v5(n: u8, bootnodes: Vec<Enr>) -> Discv5 {
    let cfg = Discv5Config {
        bootnodes,
        ..Discv5Config::default()
    };
    Discv5::bind(any_port(), key(n), local(n), cfg)
        .await
        .unwrap()
}

/// Waits (bounded by [`WAIT`]) until `cond` holds.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(POLL).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// A discv4 + discv5 node on one socket.
async fn both(n: u8) -> (Discv5, Discv4, LocalNode) {
    let ln = local(n);
    let (d5, transport) =
        Discv5::bind_shared(any_port(), key(n), ln.clone(), Discv5Config::default())
            .await
            .unwrap();
    let d4 = Discv4::spawn(transport, key(n), ln.clone(), Discv4Config::default());
    (d5, d4, ln)
}

#[tokio::test]
async fn two_nodes_find_each_other() {
    let a = v5(1, vec![]).await;
    let a_enr = a.local_enr().unwrap();
    let b = v5(2, vec![a_enr.clone()]).await;
    let b_enr = b.local_enr().unwrap();
    assert_eq!(b.ping(&a_enr).await.unwrap(), a_enr.seq());
    wait_until("a has b in its table", || a.table_enrs().contains(&b_enr)).await;
    wait_until("b has a in its table", || b.table_enrs().contains(&a_enr)).await;
    assert_eq!(a.request_enr(&b_enr).await.unwrap(), b_enr);
    let mut nodes = b.random_nodes();
    let first = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut nodes))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, a_enr);
    a.shutdown().await;
    b.shutdown().await;
    assert!(
        tokio::time::timeout(WAIT, futures::StreamExt::next(&mut nodes))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn shared_socket_answers_discv4_and_discv5() {
    let (d5, d4, ln) = both(3).await;
    assert_eq!(d5.local_addr(), d4.local_addr());
    let record = ln.enr();
    assert_eq!(record.udp(), Some(d5.local_addr().port()));

    let v4_peer = Discv4::bind(any_port(), key(4), local(4), Discv4Config::default())
        .await
        .unwrap();
    let node = Node::from_enr(&record).unwrap();
    v4_peer.ping(&node).await.unwrap();
    let v5_peer = v5(5, vec![]).await;
    assert_eq!(v5_peer.ping(&record).await.unwrap(), record.seq());
    assert!(d5.stats().v4_frames_forwarded > 0);
    assert_eq!(d5.stats().v4_frames_dropped, 0);

    v4_peer.shutdown().await;
    v5_peer.shutdown().await;
    d4.shutdown().await;
    d5.shutdown().await;
}

#[tokio::test]
async fn one_record_for_both_protocols() {
    let (d5, d4, ln) = both(6).await;
    let before = ln.enr();
    let v4_peer = Discv4::bind(any_port(), key(7), local(7), Discv4Config::default())
        .await
        .unwrap();
    let v5_peer = v5(8, vec![]).await;
    let node = Node::from_enr(&before).unwrap();
    assert_eq!(v4_peer.request_enr(&node).await.unwrap(), before);
    assert_eq!(v5_peer.request_enr(&before).await.unwrap(), before);

    ln.set_raw("eth", crate::alloy_rlp::encode(b"fork".as_slice()))
        .unwrap();
    let after = ln.enr();
    assert_eq!(after.seq(), before.seq() + 1);
    wait_until("record copied into discv5", || {
        d5.stats().record_updates == 1
    })
    .await;
    assert_eq!(d5.local_enr().unwrap(), after);
    assert_eq!(v4_peer.request_enr(&node).await.unwrap(), after);
    assert_eq!(v5_peer.request_enr(&after).await.unwrap(), after);
    // An endpoint change (the TCP port, as the NAT mapper or the server
    // sets it) the same way.
    ln.set_tcp(4242);
    let moved = ln.enr();
    assert_eq!(moved.seq(), after.seq() + 1);
    wait_until("endpoint copied into discv5", || {
        d5.stats().record_updates == 2
    })
    .await;
    assert_eq!(v4_peer.request_enr(&node).await.unwrap(), moved);
    assert_eq!(v5_peer.request_enr(&moved).await.unwrap(), moved);
    // Nothing else (no PONG vote) moved the sequence number.
    assert_eq!(ln.seq(), moved.seq());

    v4_peer.shutdown().await;
    v5_peer.shutdown().await;
    d4.shutdown().await;
    d5.shutdown().await;
}

#[tokio::test]
async fn shutdown_releases_the_socket() {
    let (d5, d4, _ln) = both(9).await;
    let addr = d5.local_addr();
    d5.shutdown().await;
    d4.shutdown().await;
    assert!(d5.is_stopped());
    assert!(matches!(
        d5.lookup_random().await,
        Err(Discv5Error::Stopped)
    ));
    std::net::UdpSocket::bind(addr).expect("port free again after shutdown");
}

#[tokio::test]
async fn key_mismatch_is_an_error() {
    let err = Discv5::bind(any_port(), key(1), local(2), Discv5Config::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Discv5Error::KeyMismatch));
}

#[tokio::test]
async fn random_nodes_wait_for_table_entries() {
    let a = v5(10, vec![]).await;
    let b = v5(11, vec![]).await;
    let mut nodes = a.random_nodes();
    // Empty table: nothing, and no lookup (the stream only looks at the
    // table once per MIN_LOOKUP_INTERVAL).
    let idle = MIN_LOOKUP_INTERVAL + MIN_LOOKUP_INTERVAL / 2;
    assert!(
        tokio::time::timeout(idle, futures::StreamExt::next(&mut nodes))
            .await
            .is_err(),
        "no record while the table is empty"
    );
    let b_enr = b.local_enr().unwrap();
    a.add_enr(&b_enr).unwrap();
    let got = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut nodes))
        .await
        .expect("a record once the table has an entry")
        .unwrap();
    assert_eq!(got, b_enr);
    a.shutdown().await;
    b.shutdown().await;
}

/// A discv4 + discv5 node on an IPv4 and an IPv6 socket (127.0.0.1 and
/// [::1]), its record carrying both addresses; `None` (after printing
/// SKIPPED) without IPv6.
async fn dual(n: u8) -> Option<(Discv5, Discv4, LocalNode)> {
    if let Err(e) = devp2p_netutil::ipv6_loopback_available() {
        println!("SKIPPED: no IPv6 loopback ({e})");
        return None;
    }
    let ln = local(n);
    ln.set_ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
    let v4 = devp2p_netutil::bind_udp(any_port()).unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = devp2p_netutil::bind_udp((std::net::Ipv6Addr::LOCALHOST, port).into()).unwrap();
    let (d5, transport) = Discv5::start_shared_with_sockets(
        v4,
        Some(v6),
        key(n),
        ln.clone(),
        Discv5Config::default(),
    )
    .await
    .unwrap();
    let d4 = Discv4::spawn(transport, key(n), ln.clone(), Discv4Config::default());
    Some((d5, d4, ln))
}

#[tokio::test]
async fn dual_stack_node_answers_both_protocols_on_both_families() {
    let Some((d5, d4, ln)) = dual(11).await else {
        return;
    };
    let record = ln.enr();
    assert_eq!(record.ip4(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(record.ip6(), Some(std::net::Ipv6Addr::LOCALHOST));
    let v4_only = crate::node::IpFamilies {
        v4: true,
        v6: false,
    };
    let v6_only = crate::node::IpFamilies {
        v4: false,
        v6: true,
    };
    let node4 = Node::from_enr_reachable(&record, v4_only).unwrap();
    let node6 = Node::from_enr_reachable(&record, v6_only).unwrap();
    assert!(node6.ip.unwrap().is_ipv6());

    // discv4 peers of each family ping and fetch the record.
    let peer4 = Discv4::bind(any_port(), key(12), local(12), Discv4Config::default())
        .await
        .unwrap();
    let ln6 = LocalNode::new(key(13), 1);
    ln6.set_ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
    let peer6 = Discv4::bind(
        (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        key(13),
        ln6.clone(),
        Discv4Config::default(),
    )
    .await
    .unwrap();
    peer4.ping(&node4).await.unwrap();
    peer6.ping(&node6).await.unwrap();
    assert_eq!(peer6.request_enr(&node6).await.unwrap(), record);
    // And it pings back over each family.
    let p6 = Node::from_enr(&ln6.enr()).unwrap();
    assert_eq!(p6.udp_addr(), Some(peer6.local_addr()));
    d4.ping(&p6).await.unwrap();

    // A discv5 peer on [::1] only.
    let ln5 = LocalNode::new(key(14), 1);
    ln5.set_ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
    let v5_peer = Discv5::bind(
        (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        key(14),
        ln5,
        Discv5Config::default(),
    )
    .await
    .unwrap();
    assert_eq!(v5_peer.ping(&record).await.unwrap(), record.seq());
    let v5_peer4 = v5(15, vec![]).await;
    assert_eq!(v5_peer4.ping(&record).await.unwrap(), record.seq());

    for d in [peer4, peer6, d4] {
        d.shutdown().await;
    }
    for d in [v5_peer, v5_peer4, d5] {
        d.shutdown().await;
    }
}
