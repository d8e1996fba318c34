//! go-ethereum discv4 conformance behaviour (cmd/devp2p/internal/v4test),
//! each case over real UDP on 127.0.0.1 (127.0.0.2 for wrong-IP cases).

mod v4_support;

use std::net::SocketAddr;
use std::time::Duration;

use devp2p_discover::node::NodeId;
use devp2p_discover::rlp_item::list_of_raw;
use devp2p_discover::v4::wire::{self, Endpoint, Message};
use devp2p_discover::v4::{DiscoverError, Discv4Config, Enr, Netlist, Node};
use v4_support::*;

fn pong_to(m: &Message) -> bool {
    matches!(m, Message::Pong(_))
}

#[tokio::test]
async fn ping_gets_pong_with_token_and_real_source() {
    let (d, local) = start(1, cfg()).await;
    let peer = Peer::new("127.0.0.1", 100).await;
    let hash = peer
        .send(d.local_addr(), &peer.ping_msg(d.local_addr()))
        .await;
    let (p, from) = peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let Message::Pong(pong) = p.message else {
        unreachable!()
    };
    assert_eq!(pong.reply_token, hash);
    assert_eq!(pong.to.udp_addr(), Some(peer.addr()));
    assert_eq!(pong.enr_seq, Some(local.seq()));
    assert_eq!(from, d.local_addr());
    assert_eq!(p.sender, d.local_id());
    // No proof on file: the service pings back.
    assert!(peer.answer_ping(REPLY_WAIT).await, "ping back");
    d.shutdown().await;
}

#[tokio::test]
async fn ping_with_wrong_from_to_and_extra_fields_is_answered() {
    let (d, _) = start(2, cfg()).await;
    let peer = Peer::new("127.0.0.1", 101).await;
    let bogus: SocketAddr = "1.2.3.4:9".parse().unwrap();
    let msg = Message::Ping(wire::Ping {
        version: 555,
        from: Endpoint::new(bogus, 7),
        to: Endpoint::new(bogus, 8),
        expiration: Peer::expiration(),
        enr_seq: Some(99),
    });
    let hash = peer.send(d.local_addr(), &msg).await;
    let (p, _) = peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let Message::Pong(pong) = p.message else {
        unreachable!()
    };
    assert_eq!(pong.reply_token, hash);
    assert_eq!(
        pong.to.udp_addr(),
        Some(peer.addr()),
        "real UDP source, not 'from'"
    );
    // The EIP-8 vector ping has extra list elements and trailing data; it is
    // signed by another key but the service must still answer it.
    let v555 = "577be4349c4dd26768081f58de4c6f375a7a22f3f7adda654d1428637412c3d7fe917cadc56d4e5e7ffae1dbe3efffb9849feb71b262de37977e7c7a44e677295680e9e38ab26bee2fcbae207fba3ff3d74069a50b902a82c9903ed37cc993c50001f83e82022bd79020010db83c4d001500000000abcdef12820cfa8215a8d79020010db885a308d313198a2e037073488208ae82823a8443b9a355c5010203040531b9019afde696e582a78fa8d95ea13ce3297d4afb8ba6433e4154caa5ac6431af1b80ba76023fa4090c408f6b4bc3701562c031041d4702971d102c9ab7fa5eed4cd6bab8f7af956f7d565ee1917084a95398b6a21eac920fe3dd1345ec0a7ef39367ee69ddf092cbfe5b93e5e568ebc491983c09c76d922dc3";
    // Its expiration (2006) is in the past, so it is dropped as expired:
    peer.send_raw(d.local_addr(), &hex::decode(v555).unwrap())
        .await;
    assert!(peer.recv_where(SILENCE_WAIT, pong_to).await.is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn expired_ping_gets_no_reply() {
    let (d, _) = start(3, cfg()).await;
    let peer = Peer::new("127.0.0.1", 102).await;
    let msg = Message::Ping(wire::Ping {
        version: 4,
        from: Endpoint::new(peer.addr(), 0),
        to: Endpoint::new(d.local_addr(), 0),
        expiration: wire::unix_now() - 20,
        enr_seq: None,
    });
    peer.send(d.local_addr(), &msg).await;
    assert!(peer.recv_any(SILENCE_WAIT).await.is_none());
    d.shutdown().await;
}

/// go-ethereum's `devp2p discv4 test` (Ping/PastExpiration,
/// Findnode/PastExpiration) sends the expiration `-(now + 20 s)` as a
/// uint64, which go-ethereum reads as a negative, past time. We drop it too.
fn negative_expiration() -> u64 {
    Peer::expiration().wrapping_neg()
}

#[tokio::test]
async fn ping_with_negative_expiration_gets_no_reply() {
    let (d, _) = start(24, cfg()).await;
    let peer = Peer::new("127.0.0.1", 117).await;
    let msg = Message::Ping(wire::Ping {
        version: 4,
        from: Endpoint::new(peer.addr(), 0),
        to: Endpoint::new(d.local_addr(), 0),
        expiration: negative_expiration(),
        enr_seq: None,
    });
    peer.send(d.local_addr(), &msg).await;
    assert!(peer.recv_any(SILENCE_WAIT).await.is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn findnode_with_negative_expiration_gets_no_reply() {
    let (d, _) = start(25, cfg()).await;
    let peer = Peer::new("127.0.0.1", 118).await;
    peer.bond(d.local_addr()).await;
    let msg = Message::FindNode(wire::FindNode {
        target: peer.id,
        expiration: negative_expiration(),
    });
    peer.send(d.local_addr(), &msg).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn unknown_type_and_garbage_get_no_reply() {
    let (d, _) = start(4, cfg()).await;
    let peer = Peer::new("127.0.0.1", 103).await;
    // A validly signed packet of type 7.
    let (mut bytes, _) = wire::encode_packet(&peer.key, &peer.ping_msg(d.local_addr()));
    bytes[wire::HEAD_LEN] = 7;
    let digest = devp2p_discover::node::keccak256(&bytes[wire::HEAD_LEN..]);
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(digest),
        &peer.key,
    );
    let (rid, compact) = sig.serialize_compact();
    bytes[32..96].copy_from_slice(&compact);
    bytes[96] = rid.to_u8();
    let h = devp2p_discover::node::keccak256(&bytes[32..]);
    bytes[..32].copy_from_slice(&h);
    peer.send_raw(d.local_addr(), &bytes).await;
    peer.send_raw(d.local_addr(), &[0u8; 97]).await;
    peer.send_raw(d.local_addr(), &[1u8; 1400]).await;
    assert!(peer.recv_any(SILENCE_WAIT).await.is_none());
    // Still alive afterwards.
    peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
        .await;
    assert!(peer.recv_where(REPLY_WAIT, pong_to).await.is_some());
    d.shutdown().await;
}

fn findnode(target: NodeId) -> Message {
    Message::FindNode(wire::FindNode {
        target,
        expiration: Peer::expiration(),
    })
}

fn is_neighbors(m: &Message) -> bool {
    matches!(m, Message::Neighbors(_))
}

#[tokio::test]
async fn findnode_without_endpoint_proof_is_ignored() {
    let (d, _) = start(5, cfg()).await;
    let peer = Peer::new("127.0.0.1", 104).await;
    peer.send(d.local_addr(), &findnode(peer.id)).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    // A ping alone (without answering the ping back) is not a proof either.
    peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
        .await;
    peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    peer.send(d.local_addr(), &findnode(peer.id)).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    d.shutdown().await;
}

/// A PONG that comes after the reply timeout (here 100 ms) still proves the
/// endpoint (`LATE_PONG_GRACE`), so the node's FINDNODE is answered; a late
/// PONG with a token we never sent proves nothing.
#[tokio::test]
async fn late_pong_still_proves_the_endpoint() {
    const TIMEOUT: Duration = Duration::from_millis(100);
    let (d, _) = start(
        11,
        Discv4Config {
            response_timeout: TIMEOUT,
            ..cfg()
        },
    )
    .await;
    let table_node = NodeId::from_secret_key(&key(220));
    d.seed_table(vec![Node::new(
        table_node,
        "127.0.1.1".parse().unwrap(),
        30303,
        30303,
    )])
    .await;
    for (seed, token_ok) in [(110, true), (111, false)] {
        let peer = Peer::new("127.0.0.1", seed).await;
        peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
            .await;
        let (ping_back, from) = peer
            .recv_where(REPLY_WAIT, |m| matches!(m, Message::Ping(_)))
            .await
            .expect("ping back");
        tokio::time::sleep(3 * TIMEOUT).await;
        let reply_token = if token_ok { ping_back.hash } else { [0xaa; 32] };
        peer.send(
            from,
            &Message::Pong(wire::Pong {
                to: Endpoint::new(from, 0),
                reply_token,
                expiration: Peer::expiration(),
                enr_seq: None,
            }),
        )
        .await;
        peer.send(d.local_addr(), &findnode(peer.id)).await;
        let wait = if token_ok { REPLY_WAIT } else { SILENCE_WAIT };
        let answered = peer.recv_where(wait, is_neighbors).await.is_some();
        assert_eq!(answered, token_ok, "token ok: {token_ok}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn bonded_findnode_gets_neighbors_split_in_chunks() {
    let (d, _) = start(6, cfg()).await;
    // 16 table nodes on LAN addresses (exempt from subnet limits).
    let nodes: Vec<_> = (0..16u8)
        .map(|i| {
            let id = NodeId::from_secret_key(&key(200 + i));
            devp2p_discover::v4::Node::new(
                id,
                format!("127.0.1.{}", i + 1).parse().unwrap(),
                30303,
                30303,
            )
        })
        .collect();
    d.seed_table(nodes.clone()).await;
    let peer = Peer::new("127.0.0.1", 105).await;
    peer.bond(d.local_addr()).await;
    peer.send(d.local_addr(), &findnode(peer.id)).await;
    let mut got = Vec::new();
    let mut chunks = Vec::new();
    while let Some((p, _)) = peer.recv_where(REPLY_WAIT, is_neighbors).await {
        let Message::Neighbors(n) = p.message else {
            unreachable!()
        };
        chunks.push(n.nodes.len());
        got.extend(n.nodes);
        if got.len() >= 16 {
            break;
        }
    }
    assert_eq!(chunks, vec![wire::MAX_NEIGHBORS, 16 - wire::MAX_NEIGHBORS]);
    let target = peer.id.hash();
    let sorted = got.windows(2).all(|w| {
        devp2p_discover::node::distance_cmp(&target, &w[0].id.hash(), &w[1].id.hash())
            != std::cmp::Ordering::Greater
    });
    assert!(sorted, "neighbors nearest first");
    d.shutdown().await;
}

#[tokio::test]
async fn expired_findnode_gets_no_reply() {
    let (d, _) = start(7, cfg()).await;
    let peer = Peer::new("127.0.0.1", 106).await;
    peer.bond(d.local_addr()).await;
    let msg = Message::FindNode(wire::FindNode {
        target: peer.id,
        expiration: wire::unix_now() - 1,
    });
    peer.send(d.local_addr(), &msg).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn endpoint_proof_is_per_ip() {
    let (d, _) = start(8, cfg()).await;
    let peer = Peer::new("127.0.0.1", 107).await;
    peer.bond(d.local_addr()).await;
    // Same key, other source IP: no proof from there (geth SpoofSanityCheck).
    let spoof = Peer::new("127.0.0.2", 107).await;
    spoof.send(d.local_addr(), &findnode(spoof.id)).await;
    assert!(spoof.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    // The bonded source still gets answers.
    peer.send(d.local_addr(), &findnode(peer.id)).await;
    assert!(peer.recv_where(REPLY_WAIT, is_neighbors).await.is_some());
    d.shutdown().await;
}

#[tokio::test]
async fn unsolicited_neighbors_and_pong_do_not_enter_table() {
    let (d, _) = start(9, cfg()).await;
    let peer = Peer::new("127.0.0.1", 108).await;
    let stranger = NodeId::from_secret_key(&key(150));
    peer.send(
        d.local_addr(),
        &Message::Neighbors(wire::Neighbors {
            nodes: vec![record("127.0.0.9", 30303, stranger)],
            expiration: Peer::expiration(),
        }),
    )
    .await;
    peer.send(
        d.local_addr(),
        &Message::Pong(wire::Pong {
            to: Endpoint::new(d.local_addr(), 0),
            reply_token: [7; 32],
            expiration: Peer::expiration(),
            enr_seq: None,
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let table = d.table_nodes().await;
    assert!(table.is_empty(), "table: {table:?}");
    // The unsolicited pong did not count as an endpoint proof.
    peer.send(d.local_addr(), &findnode(peer.id)).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_neighbors).await.is_none());
    d.shutdown().await;
}

#[tokio::test]
async fn pong_with_wrong_token_is_ignored() {
    let (d, _) = start(10, cfg()).await;
    let peer = Peer::new("127.0.0.1", 109).await;
    let node = peer.node();
    let pinger = {
        let d = d.clone();
        tokio::spawn(async move { d.ping(&node).await })
    };
    let (p, from) = peer
        .recv_where(REPLY_WAIT, |m| matches!(m, Message::Ping(_)))
        .await
        .expect("ping");
    peer.send(
        from,
        &Message::Pong(wire::Pong {
            to: Endpoint::new(from, 0),
            reply_token: [0xaa; 32],
            expiration: Peer::expiration(),
            enr_seq: None,
        }),
    )
    .await;
    let res = pinger.await.unwrap();
    assert!(matches!(res, Err(DiscoverError::Timeout)), "{res:?}");
    // The correct token completes a second ping.
    let node = peer.node();
    let pinger = {
        let d = d.clone();
        tokio::spawn(async move { d.ping(&node).await })
    };
    assert!(peer.answer_ping(REPLY_WAIT).await);
    let _ = p;
    assert!(pinger.await.unwrap().is_ok());
    d.shutdown().await;
}

#[tokio::test]
async fn enr_request_needs_proof_and_returns_current_record() {
    let (d, local) = start(11, cfg()).await;
    let peer = Peer::new("127.0.0.1", 110).await;
    let req = || {
        Message::EnrRequest(wire::EnrRequest {
            expiration: Peer::expiration(),
        })
    };
    let is_resp = |m: &Message| matches!(m, Message::EnrResponse(_));
    peer.send(d.local_addr(), &req()).await;
    assert!(peer.recv_where(SILENCE_WAIT, is_resp).await.is_none());
    peer.bond(d.local_addr()).await;
    let seq_before = local.seq();
    let hash = peer.send(d.local_addr(), &req()).await;
    let (p, _) = peer
        .recv_where(REPLY_WAIT, is_resp)
        .await
        .expect("enr response");
    let Message::EnrResponse(r) = p.message else {
        unreachable!()
    };
    assert_eq!(r.reply_token, hash);
    let seq_of = |raw: &[u8]| {
        let enr = Enr::decode(raw).expect("valid signed record");
        assert_eq!(enr.node_id(), d.local_id());
        enr.seq()
    };
    assert_eq!(seq_of(&r.record), seq_before);
    // A change to the record bumps the sequence number we serve.
    local.set_tcp(30399);
    let hash = peer.send(d.local_addr(), &req()).await;
    let (p, _) = peer
        .recv_where(REPLY_WAIT, is_resp)
        .await
        .expect("enr response");
    let Message::EnrResponse(r) = p.message else {
        unreachable!()
    };
    assert_eq!(r.reply_token, hash);
    assert!(seq_of(&r.record) > seq_before);
    d.shutdown().await;
}

#[tokio::test]
async fn per_ip_rate_limit_drops_floods() {
    let mut c = cfg();
    c.exempt_loopback_from_rate_limit = false;
    c.packet_rate_per_ip = 1;
    c.packet_burst_per_ip = 5;
    let (d, _) = start(12, c).await;
    let peer = Peer::new("127.0.0.1", 111).await;
    for _ in 0..30 {
        peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
            .await;
    }
    let mut pongs = 0;
    while peer.recv_where(SILENCE_WAIT, pong_to).await.is_some() {
        pongs += 1;
    }
    assert!((5..=7).contains(&pongs), "{pongs} pongs");
    d.shutdown().await;
}

#[tokio::test]
async fn pending_replies_are_bounded() {
    let mut c = cfg();
    c.max_pending_replies = 2;
    let (d, _) = start(13, c).await;
    // Peers that never answer.
    let silent: Vec<_> =
        futures::future::join_all((0..3u8).map(|i| Peer::new("127.0.0.1", 120 + i))).await;
    let targets: Vec<_> = silent.iter().map(|p| p.node()).collect();
    let results = futures::future::join_all(targets.iter().map(|n| d.ping(n))).await;
    let too_many = results
        .iter()
        .filter(|r| matches!(r, Err(DiscoverError::TooManyPending)))
        .count();
    let timeouts = results
        .iter()
        .filter(|r| matches!(r, Err(DiscoverError::Timeout)))
        .count();
    assert_eq!((too_many, timeouts), (1, 2), "{results:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn find_node_drops_nodes_outside_net_restrict() {
    let mut c = cfg();
    c.net_restrict = Some("127.0.0.0/8".parse::<Netlist>().unwrap());
    let (d, _) = start(14, c).await;
    let peer = Peer::new("127.0.0.1", 112).await;
    let node = peer.node();
    let target = NodeId::from_secret_key(&key(160));
    let finder = {
        let d = d.clone();
        tokio::spawn(async move { d.find_node(&node, target).await })
    };
    // The service bonds first: answer its ping, ping it back (it already
    // holds our proof so it does not ping again), then answer FindNode.
    assert!(peer.answer_ping(REPLY_WAIT).await);
    peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
        .await;
    peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let (p, from) = peer
        .recv_where(REPLY_WAIT, |m| matches!(m, Message::FindNode(_)))
        .await
        .expect("findnode");
    let _ = p;
    let inside = NodeId::from_secret_key(&key(161));
    let outside = NodeId::from_secret_key(&key(162));
    peer.send(
        from,
        &Message::Neighbors(wire::Neighbors {
            nodes: vec![
                record("127.0.0.5", 30303, inside),
                record("8.8.8.8", 30303, outside),
            ],
            expiration: Peer::expiration(),
        }),
    )
    .await;
    let found = finder.await.unwrap().expect("neighbors");
    let ids: Vec<_> = found.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![inside]);
    d.shutdown().await;
}

#[tokio::test]
async fn local_endpoint_follows_ten_agreeing_statements() {
    let (d, local) = start(15, cfg()).await;
    let external: SocketAddr = "203.0.113.7:40404".parse().unwrap();
    for i in 0..10u8 {
        let before = local.node().ip;
        assert_ne!(
            before,
            Some(external.ip()),
            "changed after only {i} statements"
        );
        let peer = Peer::new(&format!("127.0.0.{}", 10 + i), 130 + i).await;
        let msg = wire::Message::Ping(wire::Ping {
            version: 4,
            from: Endpoint::new(peer.addr(), 0),
            to: Endpoint::new(external, 0),
            expiration: Peer::expiration(),
            enr_seq: None,
        });
        peer.send(d.local_addr(), &msg).await;
        peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    }
    let me = local.node();
    assert_eq!(me.ip, Some(external.ip()));
    assert_eq!(me.udp, external.port());
    d.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_socket_and_fails_requests() {
    let (d, _) = start(16, Discv4Config::default()).await;
    let addr = d.local_addr();
    d.shutdown().await;
    // The port is free again.
    let s = tokio::net::UdpSocket::bind(addr).await;
    assert!(s.is_ok(), "socket still bound");
    let peer = Peer::new("127.0.0.1", 113).await;
    assert!(matches!(
        d.ping(&peer.node()).await,
        Err(DiscoverError::Closed)
    ));
}

#[tokio::test]
async fn request_enr_and_resolve_between_services() {
    let (a, _) = start(17, cfg()).await;
    let (b, local_b) = start(18, cfg()).await;
    let addr = b.local_addr();
    let node_b = Node::new(b.local_id(), addr.ip(), 0, addr.port());
    // Bonds first (ping, pong, ping back), then asks.
    let enr = a.request_enr(&node_b).await.expect("enr");
    assert_eq!(enr.node_id(), b.local_id());
    assert_eq!(enr.seq(), local_b.seq());
    assert_eq!(enr.udp(), Some(addr.port()));
    // A stale endpoint resolves to the one in the record.
    local_b.set_tcp(30311);
    let resolved = a.resolve(&node_b).await.expect("resolved");
    assert_eq!(resolved.udp_addr(), Some(addr));
    assert_eq!(resolved.tcp, 30311);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn bind_rejects_a_key_that_is_not_the_local_nodes() {
    let local = local_node(key(19));
    let r =
        devp2p_discover::v4::Discv4::bind("127.0.0.1:0".parse().unwrap(), key(20), local, cfg())
            .await;
    assert!(matches!(r, Err(DiscoverError::KeyMismatch)));
}

/// Signs an arbitrary body (for packets our encoder would never produce).
fn sign_raw(peer: &Peer, ptype: u8, body: &[u8]) -> Vec<u8> {
    use devp2p_discover::node::keccak256;
    let mut out = vec![0u8; wire::HEAD_LEN];
    out.push(ptype);
    out.extend_from_slice(body);
    let digest = keccak256(&out[wire::HEAD_LEN..]);
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(digest),
        &peer.key,
    );
    let (rid, compact) = sig.serialize_compact();
    out[32..96].copy_from_slice(&compact);
    out[96] = rid.to_u8();
    let h = keccak256(&out[32..]);
    out[..32].copy_from_slice(&h);
    out
}

#[tokio::test]
async fn ping_with_extra_list_elements_and_trailing_bytes_is_answered() {
    let (d, _) = start(21, cfg()).await;
    let peer = Peer::new("127.0.0.1", 114).await;
    let endpoint = |addr: SocketAddr| {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        list_of_raw(&[
            &alloy_rlp::encode(ip.as_slice()),
            &alloy_rlp::encode(addr.port()),
            &alloy_rlp::encode(addr.port()),
        ])
    };
    let mut body = list_of_raw(&[
        &alloy_rlp::encode(4u32),
        &endpoint(peer.addr()),
        &endpoint(d.local_addr()),
        &alloy_rlp::encode(Peer::expiration()),
        &alloy_rlp::encode(1u64), // enr-seq
        &list_of_raw(&[&alloy_rlp::encode(1u8), &alloy_rlp::encode(2u8)]), // unknown extra list
        &alloy_rlp::encode("future field"),
    ]);
    body.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // trailing bytes
    let packet = sign_raw(&peer, wire::ptype::PING, &body);
    peer.send_raw(d.local_addr(), &packet).await;
    let (p, _) = peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let Message::Pong(pong) = p.message else {
        unreachable!()
    };
    assert_eq!(pong.reply_token[..], packet[..32]);
    d.shutdown().await;
}

#[tokio::test]
async fn no_ping_back_once_the_endpoint_is_proven() {
    let (d, _) = start(22, cfg()).await;
    let peer = Peer::new("127.0.0.1", 115).await;
    peer.bond(d.local_addr()).await;
    // geth BondThenPingWithWrongFrom: a wrong `from` after bonding still gets a pong.
    let bogus: SocketAddr = "1.2.3.4:9".parse().unwrap();
    let msg = Message::Ping(wire::Ping {
        version: 4,
        from: Endpoint::new(bogus, 0),
        to: Endpoint::new(d.local_addr(), 0),
        expiration: Peer::expiration(),
        enr_seq: None,
    });
    peer.send(d.local_addr(), &msg).await;
    let (p, _) = peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let Message::Pong(pong) = p.message else {
        unreachable!()
    };
    assert_eq!(pong.to.udp_addr(), Some(peer.addr()));
    let ping_back = peer
        .recv_where(SILENCE_WAIT, |m| matches!(m, Message::Ping(_)))
        .await;
    assert!(ping_back.is_none(), "pinged back despite a fresh proof");
    // Bonded and pinged: the node is now in the table.
    let table = d.table_nodes().await;
    assert!(table.iter().any(|n| n.id == peer.id), "{table:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn revalidation_fetches_a_newer_record_and_updates_the_endpoint() {
    let mut c = cfg();
    // Slow list every 0–1 s so the test does not wait 30 s.
    c.ping_interval = Duration::from_millis(100);
    let (d, _) = start(23, c).await;
    let peer = Peer::new("127.0.0.1", 116).await;
    d.seed_table(vec![peer.node()]).await;
    let record = Enr::builder()
        .seq(5)
        .ip4(std::net::Ipv4Addr::LOCALHOST)
        .udp(40000)
        .tcp(40001)
        .sign(&peer.key)
        .unwrap();
    let mut served = false;
    for _ in 0..20 {
        let Some((p, from)) = peer.recv_any(REPLY_WAIT).await else {
            break;
        };
        match p.message {
            Message::Ping(_) => {
                peer.send(
                    from,
                    &Message::Pong(wire::Pong {
                        to: Endpoint::new(from, 0),
                        reply_token: p.hash,
                        expiration: Peer::expiration(),
                        enr_seq: Some(5),
                    }),
                )
                .await;
            }
            Message::EnrRequest(_) => {
                peer.send(
                    from,
                    &Message::EnrResponse(wire::EnrResponse {
                        reply_token: p.hash,
                        record: record.encode().into(),
                    }),
                )
                .await;
                served = true;
                break;
            }
            _ => {}
        }
    }
    assert!(served, "no ENR request after a pong with a newer seq");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let table = d.table_nodes().await;
    let entry = table
        .iter()
        .find(|n| n.id == peer.id)
        .expect("still in table");
    assert_eq!((entry.udp, entry.tcp), (40000, 40001));
    d.shutdown().await;
}

/// Two FindNode requests to one node at once: Neighbors replies carry no
/// request id, so the service sends the second only after the first ended,
/// and each caller gets the reply to its own request. A short reply (fewer
/// than 16 nodes, even none) ends a request without an error, as in geth.
#[tokio::test]
async fn concurrent_find_nodes_to_one_node_each_get_their_reply() {
    let (d, _) = start(16, cfg()).await;
    let peer = Peer::new("127.0.0.1", 113).await;
    let node = peer.node();
    let find = |target: NodeId| {
        let (d, node) = (d.clone(), node.clone());
        tokio::spawn(async move { d.find_node(&node, target).await })
    };
    let first = find(NodeId::from_secret_key(&key(170)));
    // Bond as in the test above, then answer the first FindNode.
    assert!(peer.answer_ping(REPLY_WAIT).await);
    peer.send(d.local_addr(), &peer.ping_msg(d.local_addr()))
        .await;
    peer.recv_where(REPLY_WAIT, pong_to).await.expect("pong");
    let (_, from) = peer
        .recv_where(REPLY_WAIT, |m| matches!(m, Message::FindNode(_)))
        .await
        .expect("first findnode");
    let second = find(NodeId::from_secret_key(&key(171)));
    // Not sent while the first is open.
    assert!(peer
        .recv_where(Duration::from_millis(100), |m| matches!(
            m,
            Message::FindNode(_)
        ))
        .await
        .is_none());
    let a = NodeId::from_secret_key(&key(172));
    let neighbors = |nodes| {
        Message::Neighbors(wire::Neighbors {
            nodes,
            expiration: Peer::expiration(),
        })
    };
    peer.send(from, &neighbors(vec![record("127.0.0.6", 30303, a)]))
        .await;
    // A packet shorter than MAX_NEIGHBORS is the last of a reply: the first
    // request ends with its one node, then the second is sent and answered
    // with nothing.
    let found = first.await.unwrap().expect("first reply");
    assert_eq!(found.iter().map(|n| n.id).collect::<Vec<_>>(), vec![a]);
    peer.recv_where(REPLY_WAIT, |m| matches!(m, Message::FindNode(_)))
        .await
        .expect("second findnode");
    peer.send(from, &neighbors(vec![])).await;
    let found = second.await.unwrap().expect("an empty reply is a reply");
    assert!(found.is_empty());
    d.shutdown().await;
}
