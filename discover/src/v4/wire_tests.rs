use super::*;
use crate::vectors::eip8_vector;
use proptest::prelude::*;
use std::str::FromStr;

fn vector_key() -> SecretKey {
    SecretKey::from_secret_bytes(eip8_vector("discv4_key").try_into().unwrap()).unwrap()
}

fn decode_vector(name: &str) -> Packet {
    let bytes = eip8_vector(name);
    let packet = decode_packet(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        packet.sender,
        NodeId::from_secret_key(&vector_key()),
        "{name}: recovered id"
    );
    assert_eq!(packet.hash[..], bytes[..32]);
    packet
}

#[test]
fn eip8_ping_v4() {
    let Message::Ping(p) = decode_vector("discv4_ping_v4").message else {
        panic!("not a ping")
    };
    assert_eq!(p.version, 4);
    assert_eq!(p.from.ip, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!((p.from.udp, p.from.tcp), (3322, 5544));
    assert_eq!(p.to.ip, Some(IpAddr::from_str("::1").unwrap()));
    assert_eq!((p.to.udp, p.to.tcp), (2222, 3333));
    assert_eq!(p.expiration, 1136239445);
    assert_eq!(p.enr_seq, Some(1));
}

#[test]
fn eip8_ping_v555() {
    let Message::Ping(p) = decode_vector("discv4_ping_v555").message else {
        panic!("not a ping")
    };
    assert_eq!(p.version, 555);
    assert_eq!(
        p.from.ip,
        Some(IpAddr::from_str("2001:db8:3c4d:15::abcd:ef12").unwrap())
    );
    assert_eq!(p.to.udp, 2222);
    assert_eq!(p.to.tcp, 33338);
    // The fifth element is a list, so it is an EIP-8 extra, not an enr-seq.
    assert_eq!(p.enr_seq, None);
}

#[test]
fn eip8_pong() {
    let Message::Pong(p) = decode_vector("discv4_pong").message else {
        panic!("not a pong")
    };
    assert_eq!(
        p.to.ip,
        Some(IpAddr::from_str("2001:db8:85a3:8d3:1319:8a2e:370:7348").unwrap())
    );
    assert_eq!(
        hex::encode(p.reply_token),
        "fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954"
    );
    assert_eq!(p.expiration, 1136239445);
}

#[test]
fn eip8_findnode() {
    let Message::FindNode(p) = decode_vector("discv4_findnode").message else {
        panic!("not a findnode")
    };
    assert!(hex::encode(p.target.0).starts_with("ca634cae0d49acb4"));
    assert_eq!(p.expiration, 1136239445);
}

#[test]
fn eip8_neighbours() {
    let Message::Neighbors(p) = decode_vector("discv4_neighbours").message else {
        panic!("not neighbors")
    };
    assert_eq!(p.nodes.len(), 4);
    assert_eq!(p.nodes[0].ip, IpAddr::from([99, 33, 22, 55]));
    assert_eq!((p.nodes[0].udp, p.nodes[0].tcp), (4444, 4445));
    assert_eq!(p.nodes[1].ip, IpAddr::from([1, 2, 3, 4]));
    assert_eq!((p.nodes[1].udp, p.nodes[1].tcp), (1, 1));
    assert_eq!((p.nodes[3].udp, p.nodes[3].tcp), (999, 1000));
    assert_eq!(p.expiration, 1136239445);
}

fn sample_key() -> SecretKey {
    SecretKey::from_secret_bytes([0x42; 32]).unwrap()
}

fn round_trip(msg: Message) {
    let key = sample_key();
    let (bytes, hash) = encode_packet(&key, &msg);
    let p = decode_packet(&bytes).unwrap();
    assert_eq!(p.message, msg);
    assert_eq!(p.hash, hash);
    assert_eq!(p.sender, NodeId::from_secret_key(&key));
}

#[test]
fn all_types_round_trip() {
    let ep = Endpoint::new("10.0.0.1:30303".parse().unwrap(), 30303);
    round_trip(Message::Ping(Ping {
        version: 4,
        from: ep,
        to: Endpoint {
            ip: None,
            udp: 1,
            tcp: 0,
        },
        expiration: 99,
        enr_seq: Some(7),
    }));
    round_trip(Message::Pong(Pong {
        to: ep,
        reply_token: [3; 32],
        expiration: 5,
        enr_seq: None,
    }));
    round_trip(Message::FindNode(FindNode {
        target: NodeId([9; 64]),
        expiration: 1,
    }));
    round_trip(Message::EnrRequest(EnrRequest { expiration: 1 }));
    round_trip(Message::EnrResponse(EnrResponse {
        reply_token: [1; 32],
        record: Bytes::from_static(&[0xc2, 0x01, 0x02]),
    }));
}

#[test]
fn neighbors_fit() {
    // Worst case: IPv6 addresses and maximal ports.
    let rec = NodeRecord {
        ip: IpAddr::from([0xffffu16; 8]),
        udp: u16::MAX,
        tcp: u16::MAX,
        id: NodeId([0xff; 64]),
    };
    let msg = Message::Neighbors(Neighbors {
        nodes: vec![rec; MAX_NEIGHBORS],
        expiration: u64::MAX,
    });
    let (bytes, _) = encode_packet(&sample_key(), &msg);
    assert!(bytes.len() <= MAX_PACKET_SIZE, "{} bytes", bytes.len());
    let msg = Message::Neighbors(Neighbors {
        nodes: vec![rec; MAX_NEIGHBORS + 1],
        expiration: u64::MAX,
    });
    assert!(encode_packet(&sample_key(), &msg).0.len() > MAX_PACKET_SIZE);
    round_trip(Message::Neighbors(Neighbors {
        nodes: vec![rec; MAX_NEIGHBORS],
        expiration: 3,
    }));
}

#[test]
fn rejects_bad_packets() {
    let key = sample_key();
    let (mut bytes, _) = encode_packet(&key, &Message::EnrRequest(EnrRequest { expiration: 1 }));
    assert_eq!(decode_packet(&bytes[..97]), Err(WireError::TooSmall(97)));
    assert_eq!(decode_packet(&[0u8; 1281]), Err(WireError::TooLarge(1281)));
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(decode_packet(&bytes), Err(WireError::BadHash));
    // Unknown type with a valid hash and signature.
    let mut raw = vec![0u8; HEAD_LEN];
    raw.extend_from_slice(&[7, 0xc0]);
    let digest = keccak256(&raw[HEAD_LEN..]);
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        SecpMessage::from_digest(digest),
        &key,
    );
    let (recid, compact) = sig.serialize_compact();
    raw[32..96].copy_from_slice(&compact);
    raw[96] = recid.to_u8();
    let h = keccak256(&raw[32..]);
    raw[..32].copy_from_slice(&h);
    assert_eq!(decode_packet(&raw), Err(WireError::UnknownType(7)));
    // Bad recovery id.
    raw[96] = 9;
    let h = keccak256(&raw[32..]);
    raw[..32].copy_from_slice(&h);
    assert_eq!(decode_packet(&raw), Err(WireError::BadSignature));
}

#[test]
fn expiry() {
    assert!(is_expired(10, 11));
    assert!(!is_expired(11, 11));
    assert!(!is_expired(expiration_from_now(), unix_now()));
}

#[test]
fn expiration_with_top_bit_set_is_a_negative_time() {
    // go-ethereum's suite sends `-futureExpiration()` as uint64 (2^64 - t)
    // and expects it dropped: go-ethereum reads the field as int64.
    let now = unix_now();
    let minus_future = (now + EXPIRATION_SECS).wrapping_neg();
    assert!(is_expired(minus_future, now));
    assert!(is_expired(u64::MAX, now));
    assert!(is_expired(NEGATIVE_EXPIRATION, now));
    // The largest positive int64 is a (far) future time, as in go-ethereum.
    assert!(!is_expired(NEGATIVE_EXPIRATION - 1, now));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_packet(&data);
    }

    #[test]
    fn random_bodies_never_panic(t in 0u8..8, data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_body(t, &data);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(idx in 0usize..200, val in any::<u8>()) {
        let ping = eip8_vector("discv4_neighbours");
        let mut body = ping[HEAD_LEN + 1..].to_vec();
        let i = idx % body.len();
        body[i] = val;
        let _ = decode_body(ptype::NEIGHBORS, &body);
    }
}

#[test]
fn ports_with_leading_zero_bytes_are_accepted() {
    // ethereumjs writes every port as two bytes: 5 arrives as 0x0005, 0 as 0x0000.
    for (raw, want) in [
        (vec![0u8, 5], Some(5u16)),
        (vec![0, 0], Some(0)),
        (vec![1, 2], Some(258)),
        (vec![0, 1, 2], Some(258)),
        (vec![1, 0, 0], None),
    ] {
        let out = alloy_rlp::encode(raw.as_slice());
        let item = Item::exact(&out).unwrap();
        assert_eq!(lenient_port(&item).ok(), want, "{raw:?}");
    }
}
